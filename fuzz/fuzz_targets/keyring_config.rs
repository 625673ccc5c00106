//! Arbitrary text parsed as a keyring configuration, as TOML and as JSON.
//!
//! Oracles: parsing never panics; a configuration that parses names exactly one primary
//! and unique non-zero ids; resolving it (with a stand-in environment, and only for keys
//! whose material comes from the environment or the file itself, so the fuzzer neither
//! reads files nor runs Argon2) gives a keyring with the same ids, states and primary; and
//! no error message, `Debug` output or source description ever contains anything that
//! decodes as 32 bytes of base64, the shape of key material.
#![no_main]

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use libfuzzer_sys::fuzz_target;
use sealed_session::config::KeyringConfig;
use sealed_session::{KeyState, Keyring};
use sha2::{Digest, Sha256};

/// True when some word of `text` decodes as standard base64 (padded or not) to exactly 32
/// bytes: the shape of key material, which the configuration refuses to echo even where a
/// name or path was expected. Words are split where neither names nor paths have
/// characters (whitespace, quotes, brackets, commas, colons).
fn shows_material(text: &str) -> bool {
    text.split(|c: char| c.is_whitespace() || "\"'`()[]{}<>,;:".contains(c))
        .map(|word| word.trim_end_matches('.'))
        .filter(|word| (42..=46).contains(&word.len()))
        .any(|word| {
            STANDARD.decode(word).is_ok_and(|b| b.len() == 32)
                || STANDARD_NO_PAD.decode(word).is_ok_and(|b| b.len() == 32)
        })
}

/// Stand-in environment: every variable holds base64 of SHA-256 of its name, so distinct
/// names give distinct keys and a resolved keyring is deterministic.
fn environment(name: &str) -> Option<String> {
    Some(STANDARD.encode(Sha256::digest(name.as_bytes())))
}

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

    let cheap = keys.iter().all(|k| {
        k.source == "none" || k.source.starts_with("env ") || k.source == "insecure inline"
    });
    if !cheap {
        return;
    }
    match config.resolve_with(&environment) {
        Ok(keyring) => same_keys(config, &keyring),
        Err(err) => {
            let message = err.to_string();
            assert!(
                !shows_material(&message),
                "a resolve error shows material: {message}"
            );
            for key in &keys {
                if let Some(name) = key.source.strip_prefix("env ") {
                    let value = environment(name).unwrap_or_default();
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
