//! A cookie value as a browser sends it, verified as express-session's signed cookie under
//! two secrets (the seeds, set by Node, verify through the second, as after a rotation).
//!
//! Oracles: no panic; whatever is accepted is, decoded the way `decodeURIComponent` decodes
//! (kept raw when that fails), exactly `s:` + the id + `.` + the unpadded standard base64 of
//! HMAC-SHA256 under one of the secrets, computed here independently, with an id of 1 to 256
//! bytes; any 1-to-256-byte string signed by the verifier's `sign` verifies back to itself;
//! a refusal is one of the cookie kinds.
#![no_main]

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use libfuzzer_sys::fuzz_target;
use sealed_session::migrate::{ExpressCookies, LegacySid};
use sha2::Sha256;

const SECRETS: [&str; 2] = ["a newer secret", "keyboard cat"];

/// `decodeURIComponent`, or `None` where it throws.
fn decode_uri_component(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn reference_signature(secret: &str, sid: &str) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(sid.as_bytes());
    STANDARD_NO_PAD.encode(mac.finalize().into_bytes())
}

fuzz_target!(|data: &[u8]| {
    let Ok(value) = std::str::from_utf8(data) else {
        return;
    };
    let cookies = ExpressCookies::new(SECRETS).unwrap();
    match cookies.verify(value) {
        Ok(sid) => {
            let sid = sid.as_str();
            assert!(!sid.is_empty() && sid.len() <= 256);
            let decoded = decode_uri_component(value).unwrap_or_else(|| value.to_owned());
            assert!(
                SECRETS
                    .iter()
                    .any(|s| decoded == format!("s:{sid}.{}", reference_signature(s, sid))),
                "accepted a cookie no secret signed"
            );
        }
        // A refusal is a `Copy` kind without the input (its type holds no string but
        // `'static` names), so there is nothing of the cookie to leak.
        Err(e) => assert!(e.is_cookie(), "a cookie refused as {e:?}"),
    }
    if !value.is_empty() && value.len() <= 256 {
        let sid = LegacySid::from_stored(value);
        assert_eq!(cookies.verify(&cookies.sign(&sid)).as_ref(), Ok(&sid));
    }
});
