//! Bytes read as a connect-redis-crypto record under the secret the seeds were sealed with
//! (by kruptein, in Node).
//!
//! Oracles: no panic; nothing is accepted but the sessions Node sealed under that secret
//! (the plaintexts are the `connect_redis_record` seeds of the same names, and the test
//! fixture): without the secret a record cannot be forged, so any other session coming out
//! is a hole in the checks; a refusal is one of the kinds this format gives.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sealed_session::LegacyError;
use sealed_session::migrate::{ConnectRedisCrypto, LegacyFormat, LegacySession};

const SECRET: &str = "correct horse battery staple";

const PLAINTEXTS: [&[u8]; 6] = [
    include_bytes!("../corpus/connect_redis_record/node-login"),
    include_bytes!("../corpus/connect_redis_record/node-browser-session"),
    include_bytes!("../corpus/connect_redis_record/node-empty"),
    include_bytes!("../corpus/connect_redis_record/node-nested"),
    include_bytes!("../corpus/connect_redis_record/node-control"),
    include_bytes!("../../tests/fixtures/express/session.json"),
];

fn known() -> &'static [LegacySession] {
    static KNOWN: OnceLock<Vec<LegacySession>> = OnceLock::new();
    KNOWN.get_or_init(|| {
        PLAINTEXTS
            .iter()
            .map(|p| LegacySession::from_json(p).unwrap())
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let format = ConnectRedisCrypto::new(SECRET).unwrap();
    match format.decode(data) {
        Ok(session) => assert!(
            known().contains(&session),
            "accepted a session that was never sealed under the secret"
        ),
        Err(
            LegacyError::MalformedRecord { .. }
            | LegacyError::Tampered
            | LegacyError::Undecryptable,
        ) => {}
        Err(other) => panic!("unexpected refusal {other:?}"),
    }
});
