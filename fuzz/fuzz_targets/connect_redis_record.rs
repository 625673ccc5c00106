//! Bytes read as a connect-redis record (`JSON.stringify(req.session)`).
//!
//! Oracles: no panic; a record is accepted only if serde_json, used here as the reference,
//! reads it as an object with a `cookie` object (or it has `\u` escapes, of which halves of
//! surrogate pairs are read as U+FFFD where serde_json refuses them), and then the
//! session's data is that object without `cookie`, its cookie is that object, and it has an
//! expiry exactly when `cookie.expires` is a string; other JSON that does not parse is
//! refused as `json`; `Debug` shows the number of members and the expiry only.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sealed_session::LegacyError;
use sealed_session::migrate::{ConnectRedis, LegacyFormat};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let decoded = ConnectRedis.decode(data);
    let reference: Option<Value> = serde_json::from_slice(data).ok();
    let Some(reference) = reference else {
        // Escapes of half a surrogate pair, which serde_json refuses, are read as U+FFFD, and
        // the record is then judged as any other; without `\u` escapes, JSON serde_json
        // refuses is refused as `json`.
        if !data.windows(2).any(|w| w == b"\\u") {
            assert_eq!(decoded, Err(LegacyError::MalformedRecord { part: "json" }));
        }
        return;
    };
    let Ok(session) = decoded else {
        return;
    };
    let Value::Object(mut object) = reference else {
        panic!("accepted a record that is not an object");
    };
    let Some(Value::Object(cookie)) = object.remove("cookie") else {
        panic!("accepted a record without a cookie object");
    };
    assert_eq!(session.data(), &object);
    assert_eq!(session.cookie(), &cookie);
    assert_eq!(
        session.expires_at().is_some(),
        matches!(cookie.get("expires"), Some(Value::String(_)))
    );
    // `Debug` shows the number of members and the expiry, nothing of the data.
    assert_eq!(
        format!("{session:?}"),
        format!(
            "LegacySession {{ members: {}, expires_at: {:?} }}",
            object.len(),
            session.expires_at()
        )
    );
});
