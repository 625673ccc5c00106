//! Arbitrary text parsed as a keyring configuration, as TOML and as JSON.
//!
//! Oracles: parsing never panics; a configuration that parses names exactly one primary
//! and unique non-zero ids; resolving it (with a stand-in environment where some variables
//! are unset, relative secret files under a directory that does not exist, and no
//! passphrase keys, so the fuzzer neither reads files nor runs Argon2) gives a keyring with
//! the same ids, states and primary, or an error; and no error message, `Debug` output or
//! source description ever contains 43 or 44 consecutive base64 characters that decode to
//! 32 bytes (the shape of key material), nor a variable's value.
#![no_main]

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use libfuzzer_sys::fuzz_target;
use sealed_session::config::KeyringConfig;
use sealed_session::{KeyState, Keyring};
use sha2::{Digest, Sha256};

/// True when `text` contains, anywhere, 43 (or 44, padded) consecutive standard base64
/// characters that decode to exactly 32 bytes: the shape of key material, which the
/// configuration must never repeat, even inside a name or path (`KEY.`, `/run/KEY`).
fn shows_material(text: &str) -> bool {
    let in_alphabet = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=');
    text.as_bytes()
        .split(|b| !in_alphabet(b))
        .filter(|run| run.len() >= 43)
        .any(|run| {
            run.windows(43)
                .any(|w| STANDARD_NO_PAD.decode(w).is_ok_and(|b| b.len() == 32))
                || run
                    .windows(44)
                    .any(|w| STANDARD.decode(w).is_ok_and(|b| b.len() == 32))
        })
}

/// Stand-in environment: a variable is set for about half of all names (by a bit of the
/// name's SHA-256, so the answer is deterministic) and then holds base64 of that digest, so
/// distinct names give distinct keys; the others are unset, which is an error naming them.
fn environment(name: &str) -> Option<String> {
    let digest = Sha256::digest(name.as_bytes());
    (digest[0] & 1 == 0).then(|| STANDARD.encode(digest))
}

/// Secret files are looked up under a directory that does not exist, so resolving them
/// takes the error path (which names the path) without reading anything.
const NO_SUCH_DIR: &str = "/nonexistent/sealed-session-fuzz";

fn check(config: &KeyringConfig) {
    let keys = config.keys();
    assert!(!keys.is_empty());
    let primaries: Vec<u32> = keys
        .iter()
        .filter(|k| k.state == KeyState::Primary)
        .map(|k| k.id)
        .collect();
    assert_eq!(primaries, [config.primary_id()], "exactly one primary");
    let mut ids: Vec<u32> = keys.iter().map(|k| k.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), keys.len(), "unique ids");
    assert!(!ids.contains(&0), "no id 0");

    assert!(
        !shows_material(&format!("{config:?}")),
        "Debug shows material"
    );
    for key in &keys {
        assert!(
            !shows_material(&key.source),
            "a source description shows material"
        );
    }

    // Argon2 (passphrases) is too slow to fuzz, and absolute paths would read real files.
    let cheap = keys.iter().all(|k| {
        k.source == "none"
            || k.source.starts_with("env ")
            || k.source == "insecure inline"
            || k.source
                .strip_prefix("file ")
                .is_some_and(|p| !p.starts_with('/'))
    });
    if !cheap {
        return;
    }
    let config = config.clone().with_base_dir(NO_SUCH_DIR);
    match config.resolve_with(&environment) {
        Ok(keyring) => same_keys(&config, &keyring),
        Err(err) => {
            let message = err.to_string();
            assert!(
                !shows_material(&message),
                "a resolve error shows material: {message}"
            );
            for key in &keys {
                if let Some(value) = key.source.strip_prefix("env ").and_then(environment) {
                    assert!(
                        !message.contains(&value),
                        "a resolve error shows a variable's value"
                    );
                }
            }
            assert!(
                !shows_material(&format!("{err:?}")),
                "a resolve error's Debug shows material"
            );
        }
    }
}

fn same_keys(config: &KeyringConfig, keyring: &Keyring) {
    assert_eq!(keyring.primary_id(), config.primary_id());
    let configured = config.keys();
    assert_eq!(keyring.keys().len(), configured.len());
    for key in configured {
        assert_eq!(keyring.state(key.id), Some(key.state));
    }
    assert!(
        !shows_material(&format!("{keyring:?}")),
        "the keyring's Debug shows material"
    );
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for parsed in [
        KeyringConfig::parse_toml(text),
        KeyringConfig::parse_json(text),
    ] {
        match parsed {
            Ok(config) => check(&config),
            Err(err) => {
                let message = err.to_string();
                assert!(
                    !shows_material(&message),
                    "a parse error shows material: {message}"
                );
                assert!(
                    !shows_material(&format!("{err:?}")),
                    "a parse error's Debug shows material"
                );
            }
        }
    }
});
