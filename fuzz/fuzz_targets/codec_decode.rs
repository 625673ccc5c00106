//! Arbitrary bytes decoded by each built-in codec as a realistic session, by JSON as a
//! `serde_json::Value`, and by the tower-sessions adapter's `RecordBincode` as a record (a
//! map of `serde_json::Value`s, what that adapter stores).
//!
//! Oracles: no codec panics, overflows its stack or runs away with memory; whatever decodes
//! encodes again and decodes to the same value; a record that `RecordBincode` decodes
//! survives JSON too (the adapter reads records written either way).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealed_session::integrations::tower_sessions::{RecordBincode, RecordData};
use sealed_session::{Codec, Json};
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
    if let Ok(record) = Codec::<RecordData>::decode(&RecordBincode, data) {
        let mut again = Vec::new();
        RecordBincode
            .encode(&record, &mut again)
            .expect("a decoded record encodes");
        let back: RecordData = RecordBincode.decode(&again).expect("it decodes again");
        assert_eq!(
            back, record,
            "RecordBincode changed a record on a second trip"
        );
        let mut json = Vec::new();
        Json.encode(&record, &mut json)
            .expect("a record encodes as JSON");
        let via_json: RecordData = Json.decode(&json).expect("and decodes from it");
        assert_eq!(via_json, record, "a record changed through JSON");
    }
});
