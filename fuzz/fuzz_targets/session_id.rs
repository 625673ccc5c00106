//! Arbitrary strings parsed as session ids (what arrives in a cookie).
//!
//! Oracle: a string is accepted exactly when it is the canonical unpadded base64url form of
//! 32 bytes; an accepted id keeps its text, and its storage id is the lowercase hex SHA-256
//! of that text.
#![no_main]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use sealed_session::{SESSION_ID_LEN, SessionId};
use sha2::{Digest, Sha256};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let canonical = URL_SAFE_NO_PAD
        .decode(text)
        .is_ok_and(|raw| raw.len() == 32 && URL_SAFE_NO_PAD.encode(&raw) == text);
    match SessionId::parse(text) {
        Ok(id) => {
            assert!(canonical, "accepted a non-canonical id");
            assert_eq!(id.as_str(), text);
            assert_eq!(text.len(), SESSION_ID_LEN);
            let hashed = id.hashed();
            let expected: String = Sha256::digest(text.as_bytes())
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(hashed.as_str(), expected);
            assert_eq!(
                SessionId::parse(id.as_str())
                    .map(|again| again.hashed())
                    .ok(),
                Some(hashed)
            );
        }
        Err(err) => {
            assert!(!canonical, "refused a canonical id");
            assert!(matches!(err, sealed_session::Error::InvalidSessionId));
            // The message is fixed: the refused text (a secret, if mistyped) is never echoed.
            assert_eq!(err.to_string(), "malformed session id");
        }
    }
});
