//! Arbitrary bytes decoded by each built-in codec as a realistic session, and by JSON as a
//! `serde_json::Value` (what the tower-sessions adapter stores).
//!
//! Oracles: no codec panics or runs away with memory; whatever decodes encodes again and
//! decodes to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealed_session::Codec;
use sealed_session_fuzz::{BuiltinCodec, WebSession};

fn stable<T>(codec: BuiltinCodec, data: &[u8])
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug + 'static,
{
    let codec_t = codec.codec::<T>();
    if let Ok(value) = codec_t.decode(data) {
        let mut again = Vec::new();
        codec_t
            .encode(&value, &mut again)
            .expect("a decoded value encodes");
        let back = codec_t.decode(&again).expect("an encoded value decodes");
        assert_eq!(back, value, "{codec:?} changed the value on a second trip");
    }
}

fuzz_target!(|data: &[u8]| {
    for codec in BuiltinCodec::ALL {
        stable::<WebSession>(codec, data);
    }
    stable::<serde_json::Value>(BuiltinCodec::Json, data);
});
