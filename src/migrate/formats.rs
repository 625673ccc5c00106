//! The record formats of the legacy stores: how a value under `prefix + sid` becomes a
//! [`LegacySession`].

use std::fmt;

use aes_gcm::aead::AeadInOut;
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Map, Value};
use sha2::Sha512;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::LegacySession;
use crate::error::{Error, LegacyError};

/// A legacy store's record format. The built-in ones are [`ConnectRedis`] and
/// [`ConnectRedisCrypto`]; another store (a custom express-session serializer, say) is a
/// type of your own.
pub trait LegacyFormat: Send + Sync + 'static {
    /// The store's name, as the command line spells it (`connect-redis`).
    fn name(&self) -> &'static str;

    /// Reads one record. Must refuse, never guess: a record that does not verify or parse
    /// is an error naming the rule, and never comes back as a session.
    fn decode(&self, record: &[u8]) -> Result<LegacySession, LegacyError>;
}

/// connect-redis (every version): the record is `JSON.stringify(req.session)`.
///
/// Plain JSON carries no integrity: whoever can write to the legacy Redis can put any
/// session under any key, and this format cannot tell. That is the legacy store's own
/// weakness, which migrating ends.
#[derive(Clone, Copy, Debug, Default)]
pub struct ConnectRedis;

impl LegacyFormat for ConnectRedis {
    fn name(&self) -> &'static str {
        "connect-redis"
    }

    fn decode(&self, record: &[u8]) -> Result<LegacySession, LegacyError> {
        LegacySession::from_json(record)
    }
}

/// Iterations of PBKDF2 in kruptein 2.x.
const PBKDF2_ROUNDS: u32 = 15_000;
/// kruptein's defaults for AES-256-GCM.
const KEY_LEN: usize = 32;
const IV_LEN: usize = 12;
const TAG_LEN: usize = 16;
/// HMAC-SHA512 output.
const HMAC_LEN: usize = 64;
/// Longest salt read (kruptein writes 128 bytes): a bound on the work a record can ask for.
const MAX_SALT_LEN: usize = 1024;

/// connect-redis-crypto 4.x: the session JSON sealed by kruptein 2.x with its defaults
/// (AES-256-GCM, HMAC-SHA512, PBKDF2-SHA512 with 15,000 iterations, latin1 strings).
///
/// The record is a JSON object:
///
/// | member | content |
/// |---|---|
/// | `hmac` | HMAC-SHA512(key, UTF-8 of the `ct` string), one character per byte |
/// | `ct` | the AES-256-GCM ciphertext, one character per byte |
/// | `iv` | 12 bytes: `{"type":"Buffer","data":[…]}` or one character per byte |
/// | `salt` | 128 bytes: `{"type":"Buffer","data":[…]}`, or a string (its UTF-8 bytes) |
/// | `aad` | the associated data, one character per byte |
/// | `at` | the 16-byte tag: `{"type":"Buffer","data":[…]}` or one character per byte |
///
/// The key is PBKDF2-HMAC-SHA512(secret, salt, 15,000 iterations, 32 bytes). The HMAC is
/// checked, in constant time, before anything is decrypted; a record whose HMAC does not
/// match is [`LegacyError::Tampered`], never handed back as a session (connect-redis-crypto
/// itself then returns the record as the session). Key derivation costs milliseconds per
/// record, paid once per session by a migration.
#[derive(Clone)]
pub struct ConnectRedisCrypto {
    secret: Zeroizing<Vec<u8>>,
}

impl ConnectRedisCrypto {
    /// The format with the store's `secret` option (as its UTF-8 bytes).
    /// [`LegacyError::NoSecret`] when it is empty (connect-redis-crypto then does not
    /// encrypt: read such records with [`ConnectRedis`]).
    pub fn new(secret: impl AsRef<[u8]>) -> Result<ConnectRedisCrypto, Error> {
        let secret = secret.as_ref();
        if secret.is_empty() {
            return Err(LegacyError::NoSecret.into());
        }
        Ok(ConnectRedisCrypto {
            secret: Zeroizing::new(secret.to_vec()),
        })
    }

    /// Checks the options object the Express application gives connect-redis-crypto
    /// (`new RedisStore({ … })`, which passes it on to kruptein): the kruptein options must
    /// be absent or mean kruptein's defaults, as kruptein reads them (a value JavaScript
    /// counts as false, such as `null`, `0` or `""`, means the default). Anything else is
    /// refused naming the option: `algorithm` other than `aes-256-gcm`, `hashing` other than
    /// `sha512`, `encodeas` other than `binary`/`latin1`, `use_scrypt` or `use_asn1` set, a
    /// changed `_at_size`, `_iv_size` or `_key_size`, or a `serializer` of the store's own
    /// (which changes the record's outer format). The store's other options (`prefix`,
    /// `ttl`, …) are ignored.
    pub fn check_options(options: &Map<String, Value>) -> Result<(), Error> {
        // What `options.name || default` leaves to the default in JavaScript.
        let falsy = |v: &Value| match v {
            Value::Null => true,
            Value::Bool(b) => !b,
            Value::Number(n) => n.as_f64() == Some(0.0),
            Value::String(s) => s.is_empty(),
            Value::Array(_) | Value::Object(_) => false,
        };
        // Node names hashes and encodings in any case.
        let named = |v: &Value, names: &[&str]| {
            v.as_str()
                .is_some_and(|s| names.iter().any(|n| s.eq_ignore_ascii_case(n)))
        };
        type IsDefault<'a> = &'a dyn Fn(&Value) -> bool;
        let checks: [(&'static str, IsDefault<'_>); 9] = [
            ("algorithm", &|v| named(v, &["aes-256-gcm"])),
            ("hashing", &|v| named(v, &["sha512"])),
            ("encodeas", &|v| named(v, &["binary", "latin1"])),
            ("use_scrypt", &|_| false),
            ("use_asn1", &|_| false),
            ("_at_size", &|v| v.as_f64() == Some(16.0)),
            ("_iv_size", &|v| v.as_f64() == Some(12.0)),
            ("_key_size", &|v| v.as_f64() == Some(32.0)),
            ("serializer", &|_| false),
        ];
        for (option, default) in checks {
            if let Some(value) = options.get(option)
                && !falsy(value)
                && !default(value)
            {
                return Err(LegacyError::UnsupportedOption { option }.into());
            }
        }
        Ok(())
    }
}

impl fmt::Debug for ConnectRedisCrypto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConnectRedisCrypto { secret: [redacted] }")
    }
}

impl LegacyFormat for ConnectRedisCrypto {
    fn name(&self) -> &'static str {
        "connect-redis-crypto"
    }

    fn decode(&self, record: &[u8]) -> Result<LegacySession, LegacyError> {
        let malformed = |part| LegacyError::MalformedRecord { part };
        let Value::Object(fields) =
            serde_json::from_slice::<Value>(record).map_err(|_| malformed("json"))?
        else {
            return Err(malformed("json"));
        };
        let text = |name: &'static str| match fields.get(name) {
            Some(Value::String(s)) => Ok(s.as_str()),
            _ => Err(malformed(name)),
        };
        let ct = text("ct")?;
        let hmac = latin1(text("hmac")?).ok_or(malformed("hmac"))?;
        let salt = bytes(fields.get("salt"), Strings::Utf8).ok_or(malformed("salt"))?;
        if hmac.len() != HMAC_LEN {
            return Err(malformed("hmac"));
        }
        if salt.is_empty() || salt.len() > MAX_SALT_LEN {
            return Err(malformed("salt"));
        }
        let iv: [u8; IV_LEN] = bytes(fields.get("iv"), Strings::Latin1)
            .and_then(|b| b.try_into().ok())
            .ok_or(malformed("iv"))?;
        let at: [u8; TAG_LEN] = bytes(fields.get("at"), Strings::Latin1)
            .and_then(|b| b.try_into().ok())
            .ok_or(malformed("at"))?;
        let aad = latin1(text("aad")?).ok_or(malformed("aad"))?;
        let mut ciphertext = Zeroizing::new(latin1(ct).ok_or(malformed("ct"))?);

        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        pbkdf2::pbkdf2_hmac::<Sha512>(&self.secret, &salt, PBKDF2_ROUNDS, key.as_mut_slice());
        // kruptein hashes the ciphertext string as Node writes a string by default: UTF-8.
        let mut mac = <Hmac<Sha512> as KeyInit>::new_from_slice(key.as_slice())
            .map_err(|_| LegacyError::Tampered)?;
        mac.update(ct.as_bytes());
        let expected = mac.finalize().into_bytes();
        if !bool::from(expected.as_slice().ct_eq(&hmac)) {
            return Err(LegacyError::Tampered);
        }

        let cipher =
            Aes256Gcm::new_from_slice(key.as_slice()).map_err(|_| LegacyError::Undecryptable)?;
        cipher
            .decrypt_inout_detached(
                &Nonce::from(iv),
                &aad,
                ciphertext.as_mut_slice().into(),
                &Tag::from(at),
            )
            .map_err(|_| LegacyError::Undecryptable)?;
        LegacySession::from_json(&ciphertext).map_err(|e| match e {
            LegacyError::MalformedRecord { part: "json" } => malformed("plaintext"),
            other => other,
        })
    }
}

/// How a byte field written as a string is read.
#[derive(Clone, Copy)]
enum Strings {
    /// One character per byte (`Buffer.from(s, "binary")`).
    Latin1,
    /// The string's UTF-8 bytes (`Buffer.from(s)`, how kruptein reads a string salt).
    Utf8,
}

/// A byte field: Node's JSON form of a Buffer (`{"type":"Buffer","data":[…]}`, nothing
/// else in the object, every element 0 to 255), or a string read as `strings` says.
fn bytes(value: Option<&Value>, strings: Strings) -> Option<Vec<u8>> {
    match value? {
        Value::String(s) => match strings {
            Strings::Latin1 => latin1(s),
            Strings::Utf8 => Some(s.as_bytes().to_vec()),
        },
        Value::Object(buffer) => {
            if buffer.len() != 2 || buffer.get("type")? != "Buffer" {
                return None;
            }
            buffer
                .get("data")?
                .as_array()?
                .iter()
                .map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                .collect()
        }
        _ => None,
    }
}

/// The bytes of a string of one character per byte; `None` if a character is above U+00FF
/// (kruptein never writes one; Node would silently keep only its low byte).
fn latin1(text: &str) -> Option<Vec<u8>> {
    text.chars()
        .map(|c| u8::try_from(u32::from(c)).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_fields_take_nodes_buffer_json_or_strings() {
        let buffer = serde_json::json!({"type": "Buffer", "data": [0, 127, 255]});
        assert_eq!(
            bytes(Some(&buffer), Strings::Latin1),
            Some(vec![0, 127, 255])
        );
        let text = Value::String("\u{0}\u{7f}\u{ff}".to_owned());
        assert_eq!(bytes(Some(&text), Strings::Latin1), Some(vec![0, 127, 255]));
        assert_eq!(
            bytes(Some(&text), Strings::Utf8),
            Some(vec![0, 127, 0xc3, 0xbf])
        );
        for bad in [
            serde_json::json!({"type": "Buffer", "data": [256]}),
            serde_json::json!({"type": "Buffer", "data": [-1]}),
            serde_json::json!({"type": "Buffer", "data": [1.5]}),
            serde_json::json!({"type": "Buf", "data": [1]}),
            serde_json::json!({"type": "Buffer", "data": [1], "x": 1}),
            serde_json::json!([1, 2]),
            Value::String("\u{100}".to_owned()),
        ] {
            assert_eq!(bytes(Some(&bad), Strings::Latin1), None, "{bad}");
        }
        assert_eq!(bytes(None, Strings::Latin1), None);
    }

    #[test]
    fn only_krupteins_defaults_are_accepted_and_a_refusal_names_the_option() {
        let options = |v: Value| v.as_object().cloned().unwrap();
        assert!(
            ConnectRedisCrypto::check_options(&options(serde_json::json!({
                "prefix": "app:", "ttl": 3600, "algorithm": "aes-256-gcm", "hashing": "SHA512",
                "encodeas": "latin1", "use_scrypt": false, "use_asn1": null, "_at_size": 0,
                "_iv_size": 12, "_key_size": "", "serializer": null
            })))
            .is_ok()
        );
        for (bad, option) in [
            (serde_json::json!({"algorithm": "aes-256-cbc"}), "algorithm"),
            (serde_json::json!({"hashing": "sha384"}), "hashing"),
            (serde_json::json!({"encodeas": "hex"}), "encodeas"),
            (serde_json::json!({"use_scrypt": true}), "use_scrypt"),
            (serde_json::json!({"use_asn1": true}), "use_asn1"),
            (serde_json::json!({"_iv_size": 16}), "_iv_size"),
            (serde_json::json!({"use_scrypt": 1}), "use_scrypt"),
            (serde_json::json!({"serializer": {}}), "serializer"),
        ] {
            assert!(matches!(
                ConnectRedisCrypto::check_options(&options(bad)),
                Err(Error::Legacy(LegacyError::UnsupportedOption { option: o })) if o == option
            ));
        }
    }

    /// A record kruptein 2.2.3 wrote (through connect-redis-crypto 4.0.5's round trip of
    /// `JSON.parse` and `JSON.stringify`) for `session.json` under this secret.
    const RECORD: &[u8] = include_bytes!("../../tests/fixtures/express/connect-redis-crypto.json");
    const SESSION: &[u8] = include_bytes!("../../tests/fixtures/express/session.json");
    const SECRET: &str = "correct horse battery staple";

    fn record_with(change: impl FnOnce(&mut Map<String, Value>)) -> Vec<u8> {
        let mut record: Map<String, Value> = serde_json::from_slice(RECORD).unwrap();
        change(&mut record);
        serde_json::to_vec(&record).unwrap()
    }

    /// Changes one byte of a latin1 string member or of a Buffer member.
    fn flip(record: &mut Map<String, Value>, member: &str) {
        match record.get_mut(member).unwrap() {
            Value::String(s) => {
                let mut chars: Vec<char> = s.chars().collect();
                chars[5] = char::from(u8::try_from(u32::from(chars[5])).unwrap() ^ 1);
                *s = chars.into_iter().collect();
            }
            Value::Object(buffer) => {
                let data = buffer.get_mut("data").unwrap().as_array_mut().unwrap();
                data[5] = Value::from(data[5].as_u64().unwrap() ^ 1);
            }
            other => panic!("{member} is {other}"),
        }
    }

    #[test]
    fn a_record_written_by_kruptein_reads_back_as_its_session() {
        let format = ConnectRedisCrypto::new(SECRET).unwrap();
        let session = format.decode(RECORD).unwrap();
        assert_eq!(session, LegacySession::from_json(SESSION).unwrap());
        assert_eq!(session.data()["greeting"], "Grüße, 世界 🦀");
        // Buffers written as latin1 strings, as one kruptein release did, read the same.
        let as_strings = record_with(|r| {
            for member in ["iv", "at"] {
                let data = bytes(r.get(member), Strings::Latin1).unwrap();
                let text: String = data.into_iter().map(char::from).collect();
                r.insert(member.to_owned(), Value::String(text));
            }
        });
        assert_eq!(format.decode(&as_strings).unwrap(), session);
    }

    #[test]
    fn one_changed_byte_anywhere_is_refused_and_the_hmac_is_checked_first() {
        let format = ConnectRedisCrypto::new(SECRET).unwrap();
        for (member, refusal) in [
            ("ct", LegacyError::Tampered),
            ("hmac", LegacyError::Tampered),
            ("salt", LegacyError::Tampered),
            ("iv", LegacyError::Undecryptable),
            ("at", LegacyError::Undecryptable),
            ("aad", LegacyError::Undecryptable),
        ] {
            let record = record_with(|r| flip(r, member));
            assert_eq!(format.decode(&record), Err(refusal), "{member}");
        }
        let other = ConnectRedisCrypto::new("another secret").unwrap();
        assert_eq!(other.decode(RECORD), Err(LegacyError::Tampered));
    }

    #[test]
    fn a_malformed_record_names_the_member() {
        let format = ConnectRedisCrypto::new(SECRET).unwrap();
        for member in ["hmac", "ct", "iv", "salt", "aad", "at"] {
            let missing = record_with(|r| {
                r.remove(member);
            });
            let wrong = record_with(|r| {
                r.insert(member.to_owned(), Value::from(7));
            });
            for record in [missing, wrong] {
                assert_eq!(
                    format.decode(&record),
                    Err(LegacyError::MalformedRecord { part: member }),
                    "{member}"
                );
            }
        }
        let short_iv = record_with(|r| {
            r["iv"]["data"].as_array_mut().unwrap().pop();
        });
        assert_eq!(
            format.decode(&short_iv),
            Err(LegacyError::MalformedRecord { part: "iv" })
        );
        for bad in [&b""[..], b"[]", b"{", b"null", &RECORD[..RECORD.len() - 1]] {
            assert_eq!(
                format.decode(bad),
                Err(LegacyError::MalformedRecord { part: "json" })
            );
        }
        // Plain connect-redis records are not this format, and the other way round.
        assert_eq!(
            format.decode(SESSION),
            Err(LegacyError::MalformedRecord { part: "ct" })
        );
        assert_eq!(
            ConnectRedis.decode(RECORD),
            Err(LegacyError::MalformedRecord { part: "cookie" })
        );
    }

    #[test]
    fn the_secret_is_never_shown() {
        let format = ConnectRedisCrypto::new("hunter2").unwrap();
        assert!(!format!("{format:?}").contains("hunter2"));
        assert!(ConnectRedisCrypto::new("").is_err());
    }
}
