//! Every suite × codec through the store, strict decoding, and moving between codecs.

use std::collections::BTreeMap;

use sealed_session::{
    Bincode, Codec, CodecErrorKind, CodecId, Error, Json, ManualClock, MemoryBackend, RejectKind,
    Session, SessionId, Store, Suite,
};

use crate::support;
use crate::support::{T0, WebSession, material, raw_get};

fn store_with(
    suite: Suite,
    codec: impl Codec<WebSession>,
    clock: &ManualClock,
    backend: MemoryBackend,
) -> Store<WebSession, MemoryBackend> {
    Store::builder(backend)
        .keyring(sealed_session::Keyring::single(4, suite, material(4)).unwrap())
        .codec(codec)
        .clock(clock.clone())
        .build()
        .unwrap()
}

/// Every built-in codec, boxed so one loop covers them all.
fn codecs() -> Vec<Box<dyn Codec<WebSession>>> {
    #[cfg_attr(not(feature = "postcard"), allow(unused_mut))]
    let mut v: Vec<Box<dyn Codec<WebSession>>> = vec![Box::new(Bincode), Box::new(Json)];
    #[cfg(feature = "postcard")]
    v.push(Box::new(sealed_session::Postcard));
    v
}

#[tokio::test]
async fn round_trip_for_every_suite_and_codec() {
    let clock = ManualClock::at_secs(T0);
    for suite in [Suite::Aes256Gcm, Suite::ChaCha20Poly1305] {
        for codec in codecs() {
            let id = codec.id();
            let store = store_with(suite, codec, &clock, MemoryBackend::new());
            let sid = SessionId::generate().unwrap();
            store
                .save(&sid, &mut Session::new(WebSession::sample(9)))
                .await
                .unwrap();
            let raw = raw_get(store.backend(), &store.storage_key(&sid))
                .await
                .unwrap();
            assert_eq!(raw[1], suite.to_byte());
            assert_eq!(raw[2], id.to_byte());
            let loaded = store.load(&sid).await.unwrap().unwrap();
            assert_eq!(loaded.data, WebSession::sample(9), "{suite} {id}");
        }
    }
}

#[test]
fn decoding_refuses_trailing_bytes() {
    for codec in codecs() {
        let id = codec.id();
        let mut bytes = Vec::new();
        codec.encode(&WebSession::sample(1), &mut bytes).unwrap();
        assert!(codec.decode(&bytes).is_ok());
        for extra in [&b"\0"[..], b" ", b"\n", b"x"] {
            let mut longer = bytes.clone();
            longer.extend_from_slice(extra);
            let err = codec.decode(&longer).unwrap_err();
            assert_eq!(
                err.kind(),
                CodecErrorKind::TrailingBytes,
                "{id} + {extra:?}"
            );
        }
        let err = codec.decode(&bytes[..bytes.len() - 1]).unwrap_err();
        assert_ne!(err.kind(), CodecErrorKind::TrailingBytes, "{id}");
    }
}

#[test]
fn codec_errors_never_quote_the_input() {
    // serde_json's own message would quote the string it found.
    let err = Codec::<u64>::decode(&Json, br#""top-secret-token""#).unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains("top-secret"), "{text}");
    assert_eq!(err.kind(), CodecErrorKind::Data);
}

#[test]
fn bincode_refuses_length_prefixes_beyond_its_limit() {
    // A Vec<u8> claiming 2^40 elements in 9 bytes.
    let claim = [0xFD, 0, 0, 0, 0, 0x01, 0, 0, 0];
    let err = Codec::<Vec<u8>>::decode(&Bincode, &claim).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            CodecErrorKind::Limit | CodecErrorKind::UnexpectedEnd
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn json_decodes_self_describing_values_that_bincode_cannot() {
    let clock = ManualClock::at_secs(T0);
    type Map = BTreeMap<String, serde_json::Value>;
    let mut data = Map::new();
    data.insert("counter".into(), serde_json::json!(3));
    data.insert("user".into(), serde_json::json!({"name": "alice"}));

    let json: Store<Map, MemoryBackend> = Store::builder(MemoryBackend::new())
        .keyring(support::keyring(1))
        .codec(Json)
        .clock(clock.clone())
        .build()
        .unwrap();
    let id = SessionId::generate().unwrap();
    json.save(&id, &mut Session::new(data.clone()))
        .await
        .unwrap();
    assert_eq!(json.load(&id).await.unwrap().unwrap().data, data);

    let bincode: Store<Map, MemoryBackend> = Store::builder(MemoryBackend::new())
        .keyring(support::keyring(1))
        .clock(clock.clone())
        .build()
        .unwrap();
    bincode.save(&id, &mut Session::new(data)).await.unwrap();
    let err = bincode.load(&id).await.unwrap_err();
    assert_eq!(err.rejection_kind(), Some(RejectKind::Decode));
}

#[tokio::test]
async fn a_store_can_move_from_json_to_bincode_without_dropping_sessions() {
    let clock = ManualClock::at_secs(T0);
    let backend = MemoryBackend::with_clock(clock.clone());
    let before = store_with(Suite::Aes256Gcm, Json, &clock, backend.clone());
    let id = SessionId::generate().unwrap();
    before
        .save(&id, &mut Session::new(WebSession::sample(5)))
        .await
        .unwrap();

    // Without the JSON reader the old value is refused as an unread codec...
    let strict = store_with(Suite::Aes256Gcm, Bincode, &clock, backend.clone());
    let err = strict.load(&id).await.unwrap_err();
    assert_eq!(err.rejection_kind(), Some(RejectKind::NoReader));

    // ...with it, it loads, and the next save writes bincode.
    let after: Store<WebSession, MemoryBackend> = Store::builder(backend)
        .keyring(sealed_session::Keyring::single(4, Suite::Aes256Gcm, material(4)).unwrap())
        .also_read(Json)
        .clock(clock.clone())
        .build()
        .unwrap();
    let mut loaded = after.load(&id).await.unwrap().unwrap();
    assert_eq!(loaded.data, WebSession::sample(5));
    after.save(&id, &mut loaded).await.unwrap();
    let raw = raw_get(after.backend(), &after.storage_key(&id))
        .await
        .unwrap();
    assert_eq!(raw[2], CodecId::BINCODE.to_byte());
}

#[test]
fn two_readers_with_one_codec_id_are_refused() {
    let result: Result<Store<WebSession, MemoryBackend>, Error> =
        Store::builder(MemoryBackend::new())
            .keyring(support::keyring(1))
            .also_read(Bincode)
            .build();
    assert!(matches!(result.unwrap_err(), Error::Config(_)));
}

/// Found by the `codec_decode` fuzz target: serde_json's default float parser is not
/// correctly rounded, so a float that JSON wrote could read back one unit in the last place
/// off, and drift on every save. Every codec must give back the exact bits of every finite
/// `f64` (and the JSON codec the exact value of a long integer literal read as a float).
#[test]
fn floats_survive_every_codec_bit_for_bit() {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut floats = vec![
        8.888888799999998e46,
        8.888888799999999e46,
        1e23,
        5e-324,
        f64::MAX,
    ];
    while floats.len() < 20_000 {
        // xorshift64: spread over every exponent, both signs.
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let x = f64::from_bits(state);
        if x.is_finite() {
            floats.push(x);
        }
    }
    let codecs: Vec<Box<dyn Codec<Vec<f64>>>> = {
        #[cfg_attr(not(feature = "postcard"), allow(unused_mut))]
        let mut v: Vec<Box<dyn Codec<Vec<f64>>>> = vec![Box::new(Bincode), Box::new(Json)];
        #[cfg(feature = "postcard")]
        v.push(Box::new(sealed_session::Postcard));
        v
    };
    for codec in codecs {
        let mut bytes = Vec::new();
        codec.encode(&floats, &mut bytes).unwrap();
        let back = codec.decode(&bytes).unwrap();
        let changed = floats
            .iter()
            .zip(&back)
            .filter(|(a, b)| a.to_bits() != b.to_bits())
            .count();
        assert_eq!(changed, 0, "{:?} changed {changed} floats", codec.id());
    }

    // The literal from the fuzzer's finding: read, written, read again, unchanged.
    let literal = b"8888888800000000000014710992060452933888888888889";
    let once: f64 = Codec::<f64>::decode(&Json, literal).unwrap();
    let mut written = Vec::new();
    Json.encode(&once, &mut written).unwrap();
    let twice: f64 = Codec::<f64>::decode(&Json, &written).unwrap();
    assert_eq!(once.to_bits(), twice.to_bits());
    assert_eq!(once, 8888888800000000000014710992060452933888888888889f64);
}
