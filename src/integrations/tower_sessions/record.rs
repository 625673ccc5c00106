//! [`RecordBincode`]: tower-sessions' map of `serde_json::Value`s in bincode.
//!
//! bincode is not self-describing, so it cannot decode a `serde_json::Value` as serde_json
//! defines it (that needs `deserialize_any`). This codec writes each value as an enum whose
//! variant names the value's kind, which bincode decodes without help:
//!
//! | variant | index | content |
//! |---|---:|---|
//! | `Null` | 0 | none |
//! | `Bool` | 1 | `bool` |
//! | `U64` | 2 | `u64` (every non-negative integer) |
//! | `I64` | 3 | `i64` (negative integers only) |
//! | `F64` | 4 | `f64` (finite) |
//! | `String` | 5 | `String` |
//! | `Array` | 6 | sequence of values |
//! | `Object` | 7 | map of `String` to values, in the map's order |
//!
//! Arrays and objects may nest [`MAX_NESTING`] deep inside a record's value, both ways:
//! exactly what serde_json's parser reads back in a record (it stops at 127 nested
//! containers, the record's own map included), so a record this codec saves can always be
//! written as JSON and read again, a deeper one fails to save instead of being stored
//! unreadable (the JSON codec itself would store it, and then fail to read it), and no
//! input can run the decoder's recursion further.
//!
//! Numbers are written only when they come back equal: with serde_json's
//! `arbitrary_precision` feature (which any crate in an application can switch on) a number
//! such as `1.50` or `18446744073709551617` has no exact `u64`, `i64` or `f64` form, and
//! saving it is an error rather than a silent change. [`TowerSessionStore::new`] probes
//! for that and refuses this codec then.
//!
//! [`TowerSessionStore::new`]: super::TowerSessionStore::new

use std::collections::HashMap;

use serde::de::{self, DeserializeSeed, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor};
use serde::ser::{self, SerializeMap, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Number, Value};

use crate::codec::CodecError;
use crate::codec::{Codec, CodecId, decode_serde, encode_serde};

/// How many arrays and objects may nest inside a record's value (a top-level array holding
/// an object is two): 126, since serde_json reads at most 127 nested containers and the
/// record's own map is one of them.
pub(crate) const MAX_NESTING: usize = 126;

/// bincode for tower-sessions records (`HashMap<String, serde_json::Value>`), each value
/// tagged with its kind (see the table in the module source); codec byte `0x01`, like
/// [`Bincode`](crate::Bincode), since the bytes are bincode 2's standard encoding of that
/// tagged form. About twice as fast as JSON for a typical record, and smaller.
///
/// Values may nest arrays and objects 126 deep (what JSON reads back); a deeper value, or
/// a number that would not come back equal, is refused when saved
/// ([`Error::Encode`](crate::Error::Encode)), not stored changed or unreadable.
///
/// [`TowerSessionStore::builder`](super::TowerSessionStore::builder) writes with it and
/// still reads records written as JSON.
#[derive(Clone, Copy, Debug, Default)]
pub struct RecordBincode;

type RecordData = HashMap<String, Value>;

impl Codec<RecordData> for RecordBincode {
    fn id(&self) -> CodecId {
        CodecId::BINCODE
    }

    fn encode(&self, value: &RecordData, out: &mut Vec<u8>) -> Result<(), CodecError> {
        encode_serde(&TaggedRecord(value), out)
    }

    fn decode(&self, bytes: &[u8]) -> Result<RecordData, CodecError> {
        decode_serde::<DecodedRecord>(bytes).map(|r| r.0)
    }
}

/// A record to encode: the map, with every value tagged.
struct TaggedRecord<'a>(&'a RecordData);

impl Serialize for TaggedRecord<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            map.serialize_entry(
                k,
                &Tagged {
                    value: v,
                    containers: 0,
                },
            )?;
        }
        map.end()
    }
}

/// One value to encode, inside `containers` arrays and objects of the record's value.
struct Tagged<'a> {
    value: &'a Value,
    containers: usize,
}

const NAME: &str = "Value";
const VARIANTS: &[&str] = &[
    "Null", "Bool", "U64", "I64", "F64", "String", "Array", "Object",
];

impl Serialize for Tagged<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let inexact = || ser::Error::custom("number without an exact u64, i64 or f64 form");
        let nested = || {
            let containers = self.containers.saturating_add(1);
            if containers > MAX_NESTING {
                Err(ser::Error::custom("value nested too deeply"))
            } else {
                Ok(containers)
            }
        };
        match self.value {
            Value::Null => s.serialize_unit_variant(NAME, 0, "Null"),
            Value::Bool(b) => s.serialize_newtype_variant(NAME, 1, "Bool", b),
            // Each form is written only if it rebuilds the very same number.
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    if Number::from(u) != *n {
                        return Err(inexact());
                    }
                    s.serialize_newtype_variant(NAME, 2, "U64", &u)
                } else if let Some(i) = n.as_i64() {
                    if i >= 0 || Number::from(i) != *n {
                        return Err(inexact());
                    }
                    s.serialize_newtype_variant(NAME, 3, "I64", &i)
                } else if let Some(f) = n.as_f64() {
                    if Number::from_f64(f).as_ref() != Some(n) {
                        return Err(inexact());
                    }
                    s.serialize_newtype_variant(NAME, 4, "F64", &f)
                } else {
                    Err(inexact())
                }
            }
            Value::String(t) => s.serialize_newtype_variant(NAME, 5, "String", t),
            Value::Array(items) => {
                let containers = nested()?;
                s.serialize_newtype_variant(NAME, 6, "Array", &Items { items, containers })
            }
            Value::Object(map) => {
                let containers = nested()?;
                s.serialize_newtype_variant(NAME, 7, "Object", &Entries { map, containers })
            }
        }
    }
}

/// The elements of an array that is the `containers`-th around them.
struct Items<'a> {
    items: &'a [Value],
    containers: usize,
}

impl Serialize for Items<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let containers = self.containers;
        let mut seq = s.serialize_seq(Some(self.items.len()))?;
        for value in self.items {
            seq.serialize_element(&Tagged { value, containers })?;
        }
        seq.end()
    }
}

/// The entries of an object that is the `containers`-th around its values.
struct Entries<'a> {
    map: &'a Map<String, Value>,
    containers: usize,
}

impl Serialize for Entries<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let containers = self.containers;
        let mut map = s.serialize_map(Some(self.map.len()))?;
        for (k, value) in self.map {
            map.serialize_entry(k, &Tagged { value, containers })?;
        }
        map.end()
    }
}

/// A decoded record.
struct DecodedRecord(RecordData);

impl<'de> Deserialize<'de> for DecodedRecord {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(RecordVisitor).map(DecodedRecord)
    }
}

struct RecordVisitor;

/// The most entries or elements reserved up front from a length prefix: the prefix is
/// authenticated, but a map grows cheaply past this if it really is longer.
const MAX_RESERVE: usize = 256;

impl<'de> Visitor<'de> for RecordVisitor {
    type Value = RecordData;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a map of tagged values")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<RecordData, A::Error> {
        let mut out = HashMap::with_capacity(access.size_hint().unwrap_or(0).min(MAX_RESERVE));
        while let Some(key) = access.next_key::<String>()? {
            let value = access.next_value_seed(ValueSeed { containers: 0 })?;
            out.insert(key, value);
        }
        Ok(out)
    }
}

/// Decodes one tagged value inside `containers` arrays and objects.
#[derive(Clone, Copy)]
struct ValueSeed {
    containers: usize,
}

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_enum(NAME, VARIANTS, self)
    }
}

impl<'de> Visitor<'de> for ValueSeed {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a tagged JSON value")
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Value, A::Error> {
        let (kind, variant) = data.variant::<Kind>()?;
        // Checked before descending, so no input recurses past the limit.
        let nested = || {
            let containers = self.containers.saturating_add(1);
            if containers > MAX_NESTING {
                Err(de::Error::custom("value nested too deeply"))
            } else {
                Ok(ValueSeed { containers })
            }
        };
        match kind {
            Kind::Null => variant.unit_variant().map(|()| Value::Null),
            Kind::Bool => variant.newtype_variant::<bool>().map(Value::Bool),
            Kind::U64 => variant.newtype_variant::<u64>().map(Value::from),
            // Non-negative integers are U64: one encoding per value.
            Kind::I64 => match variant.newtype_variant::<i64>()? {
                i if i < 0 => Ok(Value::from(i)),
                i => Err(de::Error::invalid_value(
                    de::Unexpected::Signed(i),
                    &"a negative integer",
                )),
            },
            Kind::F64 => {
                let f = variant.newtype_variant::<f64>()?;
                Number::from_f64(f)
                    .map(Value::Number)
                    .ok_or_else(|| de::Error::custom("a number that is not finite"))
            }
            Kind::String => variant.newtype_variant::<String>().map(Value::String),
            Kind::Array => variant.newtype_variant_seed(ArraySeed(nested()?)),
            Kind::Object => variant.newtype_variant_seed(ObjectSeed(nested()?)),
        }
    }
}

/// The variant of a tagged value, by index (what bincode sends) or by name.
enum Kind {
    Null,
    Bool,
    U64,
    I64,
    F64,
    String,
    Array,
    Object,
}

impl<'de> Deserialize<'de> for Kind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_identifier(KindVisitor)
    }
}

struct KindVisitor;

impl Visitor<'_> for KindVisitor {
    type Value = Kind;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a value kind")
    }

    fn visit_u64<E: de::Error>(self, index: u64) -> Result<Kind, E> {
        Ok(match index {
            0 => Kind::Null,
            1 => Kind::Bool,
            2 => Kind::U64,
            3 => Kind::I64,
            4 => Kind::F64,
            5 => Kind::String,
            6 => Kind::Array,
            7 => Kind::Object,
            _ => {
                return Err(de::Error::invalid_value(
                    de::Unexpected::Unsigned(index),
                    &"a variant index below 8",
                ));
            }
        })
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Kind, E> {
        match VARIANTS.iter().position(|v| *v == name) {
            // At most 8 variants: the index fits any integer type.
            Some(index) => self.visit_u64(u64::try_from(index).unwrap_or(u64::MAX)),
            None => Err(de::Error::unknown_variant(name, VARIANTS)),
        }
    }
}

struct ArraySeed(ValueSeed);

impl<'de> DeserializeSeed<'de> for ArraySeed {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ArraySeed {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a sequence of tagged values")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(access.size_hint().unwrap_or(0).min(MAX_RESERVE));
        while let Some(item) = access.next_element_seed(self.0)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
}

struct ObjectSeed(ValueSeed);

impl<'de> DeserializeSeed<'de> for ObjectSeed {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ObjectSeed {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a map of tagged values")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let value = access.next_value_seed(self.0)?;
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::Json;
    use crate::codec::CodecErrorKind;

    fn record(pairs: &[(&str, Value)]) -> RecordData {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    fn encode(r: &RecordData) -> Result<Vec<u8>, CodecError> {
        let mut out = Vec::new();
        RecordBincode.encode(r, &mut out).map(|()| out)
    }

    /// The table in the module docs, byte for byte: bincode's varint lengths and variant
    /// indices, then the content.
    #[test]
    fn each_kind_is_encoded_as_its_documented_variant() {
        let cases: [(Value, &[u8]); 14] = [
            (json!(null), &[0]),
            (json!(true), &[1, 1]),
            (json!(7), &[2, 7]),
            (
                json!(u64::MAX),
                &[2, 253, 255, 255, 255, 255, 255, 255, 255, 255],
            ),
            (json!(-2), &[3, 3]), // zigzag: -2 is 3
            (json!(0.5), &[4, 0, 0, 0, 0, 0, 0, 0xe0, 0x3f]),
            (json!(1.0), &[4, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f]), // a float, not the integer 1
            (json!(-0.0), &[4, 0, 0, 0, 0, 0, 0, 0, 0x80]),
            (json!(5e-324), &[4, 1, 0, 0, 0, 0, 0, 0, 0]),
            (json!(1e300), &[4, 156, 117, 0, 136, 60, 228, 55, 126]),
            (json!("hé"), &[5, 3, b'h', 0xc3, 0xa9]),
            (json!([]), &[6, 0]),
            (json!([false]), &[6, 1, 1, 0]),
            (json!({"k": null}), &[7, 1, 1, b'k', 0]),
        ];
        for (value, tagged) in cases {
            let bytes = encode(&record(&[("a", value.clone())])).unwrap();
            // A map of one entry: its length, the key "a", then the tagged value.
            let mut expected = vec![1, 1, b'a'];
            expected.extend_from_slice(tagged);
            assert_eq!(bytes, expected, "{value}");
            let back = RecordBincode.decode(&bytes).unwrap().remove("a").unwrap();
            assert_eq!(back, value);
            // Equal as serde_json sees it, and the same kind and bits.
            assert_eq!(back.is_f64(), value.is_f64(), "{value}");
            if let (Some(a), Some(b)) = (back.as_f64(), value.as_f64()) {
                assert_eq!(a.to_bits(), b.to_bits(), "{value}");
            }
        }
    }

    #[test]
    fn a_typical_record_round_trips_and_is_smaller_than_json() {
        let r = record(&[
            ("user_id", json!(42)),
            ("balance", json!(-17)),
            ("ratio", json!(0.1)),
            ("email", json!("alice@example.com")),
            ("roles", json!(["admin", "editor"])),
            (
                "cart",
                json!([{"sku": "A-1", "qty": 2, "gift": false, "note": null}]),
            ),
        ]);
        let bytes = encode(&r).unwrap();
        assert_eq!(RecordBincode.decode(&bytes).unwrap(), r);
        let mut json = Vec::new();
        Json.encode(&r, &mut json).unwrap();
        assert!(
            bytes.len() < json.len(),
            "{} vs {}",
            bytes.len(),
            json.len()
        );
    }

    /// `containers` arrays, one inside the other, around `null`.
    fn nested(containers: usize) -> Value {
        (0..containers).fold(Value::Null, |inner, _| Value::Array(vec![inner]))
    }

    /// The tagged bytes of a record `{"v": nested(containers)}`.
    fn nested_bytes(containers: usize) -> Vec<u8> {
        let mut bytes = vec![1, 1, b'v'];
        for _ in 0..containers {
            bytes.extend_from_slice(&[6, 1]);
        }
        bytes.push(0);
        bytes
    }

    /// The limit is JSON's: what saves here also reads back as JSON, one level more fails
    /// both ways, and hand-made input far deeper is refused, not followed down the stack.
    #[test]
    fn nesting_is_bounded_where_json_stops() {
        let deepest = record(&[("v", nested(MAX_NESTING))]);
        let bytes = encode(&deepest).unwrap();
        assert_eq!(bytes, nested_bytes(MAX_NESTING));
        assert_eq!(RecordBincode.decode(&bytes).unwrap(), deepest);
        let mut json = Vec::new();
        Json.encode(&deepest, &mut json).unwrap();
        assert_eq!(Json.decode(&json).ok(), Some(deepest));

        let too_deep = record(&[("v", nested(MAX_NESTING + 1))]);
        assert_eq!(
            encode(&too_deep).unwrap_err().kind(),
            CodecErrorKind::Unsupported
        );
        let err = RecordBincode
            .decode(&nested_bytes(MAX_NESTING + 1))
            .unwrap_err();
        assert_eq!(err.kind(), CodecErrorKind::Data);
        let mut json = Vec::new();
        Json.encode(&too_deep, &mut json).unwrap();
        assert!(Codec::<RecordData>::decode(&Json, &json).is_err());

        assert!(RecordBincode.decode(&nested_bytes(100_000)).is_err());
    }

    #[test]
    fn malformed_input_is_a_typed_error() {
        use CodecErrorKind::{Data, Syntax, TrailingBytes, UnexpectedEnd};
        let cases: [(&[u8], CodecErrorKind); 8] = [
            (&[1, 1, b'a', 8], Data),                               // no variant 8
            (&[1, 1, b'a', 4, 0, 0, 0, 0, 0, 0, 0xf0, 0x7f], Data), // +infinity
            (&[1, 1, b'a', 4, 1, 0, 0, 0, 0, 0, 0xf8, 0x7f], Data), // NaN
            (&[1, 1, b'a', 3, 4], Data),                            // I64 holding 2
            (&[1, 1, b'a', 5, 2, 0xff, 0xfe], Syntax),              // not UTF-8
            (&[1, 1, b'a', 0, 0], TrailingBytes),
            (&[2, 1, b'a', 0], UnexpectedEnd), // second entry missing
            (&[0xfc, 0xff, 0xff, 0xff, 0xff], UnexpectedEnd), // huge length, no entries
        ];
        for (bytes, kind) in cases {
            let err = RecordBincode.decode(bytes).unwrap_err();
            assert_eq!(err.kind(), kind, "{bytes:?}");
        }
    }

    fn any_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<u64>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter_map("finite", Number::from_f64)
                .prop_map(Value::Number),
            ".{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(6, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(".{0,6}", inner, 0..6)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        /// Whatever tower-sessions can hold comes back equal.
        #[test]
        fn any_record_round_trips(
            entries in prop::collection::hash_map(".{0,8}", any_value(), 0..8)
        ) {
            let bytes = encode(&entries).unwrap();
            let back = RecordBincode.decode(&bytes).unwrap();
            prop_assert_eq!(&back, &entries);
        }
    }
}
