//! The keyring configuration file: what it accepts, and the error a tired operator gets for
//! each mistake (naming the key id and the problem, never the material).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use sealed_session::config::{Environment, FilePermissions, KeyringConfig};
use sealed_session::rotation::Reloader;
use sealed_session::{ConfigError, KeyMaterial, KeyState, PermissionProblem, Suite};

const K1: &str = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="; // 32 × 0x01
const K2: &str = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="; // 32 × 0x02

fn env(pairs: &[(&str, &str)]) -> impl Environment + Send + Sync + 'static {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name: &str| map.get(name).cloned()
}

fn dir() -> PathBuf {
    // 16 hex digits of randomness: a 43-character base64 token in the path would look like
    // key material to the checks under test.
    let random = sealed_session::SessionId::generate().unwrap().hashed();
    let dir = std::env::temp_dir().join(format!(
        "sealed-session-config-{}-{}",
        std::process::id(),
        &random.as_str()[..16]
    ));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    dir
}

fn error_of(toml: &str) -> ConfigError {
    match KeyringConfig::parse_toml(toml) {
        Err(e) => e,
        Ok(config) => config
            .resolve_with(&env(&[("K1", K1), ("K2", K2)]))
            .unwrap_err(),
    }
}

const ISSUE_EXAMPLE: &str = r#"
[[keys]]
id = 3
suite = "aes-256-gcm"
state = "primary"
material = { env = "SESSION_KEY_3" }            # base64 of 32 random bytes
[[keys]]
id = 2
suite = "chacha20-poly1305"
state = "decrypt-only"
material = { file = "session-key-2" }
[[keys]]
id = 1
state = "retired"
"#;

#[test]
fn the_documented_example_loads_with_env_and_file_material() {
    let dir = dir();
    write(dir.join("session-key-2"), format!("{K2}\n")).unwrap();
    let keyring = KeyringConfig::parse_toml(ISSUE_EXAMPLE)
        .unwrap()
        .with_base_dir(&dir)
        .resolve_with(&env(&[("SESSION_KEY_3", K1)]))
        .unwrap();
    assert_eq!(keyring.primary_id(), 3);
    assert_eq!(keyring.state(2), Some(KeyState::DecryptOnly));
    assert_eq!(keyring.state(1), Some(KeyState::Retired));
    assert_eq!(
        format!("{keyring:?}"),
        "Keyring { primary: 3, keys: [3 primary aes-256-gcm, 2 decrypt-only chacha20-poly1305, 1 retired] }"
    );
}

#[test]
fn json_is_accepted_too() {
    let config = KeyringConfig::parse_json(
        r#"{"keys": [{"id": 3, "suite": "aes-256-gcm", "state": "primary",
                      "material": {"env": "K1"}},
                     {"id": 1, "state": "retired"}]}"#,
    )
    .unwrap();
    let keyring = config.resolve_with(&env(&[("K1", K1)])).unwrap();
    assert_eq!(keyring.primary_id(), 3);
}

#[test]
fn a_file_ending_in_json_is_read_as_json_and_relative_paths_follow_the_file() {
    let dir = dir();
    write(dir.join("k1"), K1).unwrap();
    write(
        dir.join("keys.json"),
        r#"{"keys": [{"id": 1, "suite": "aes-256-gcm", "state": "primary", "material": {"file": "k1"}}]}"#,
    )
    .unwrap();
    let keyring = sealed_session::load_keyring(dir.join("keys.json")).unwrap();
    assert_eq!(keyring.primary_id(), 1);
}

#[test]
fn exactly_one_primary() {
    let none = "[[keys]]\nid = 1\nsuite = \"aes-256-gcm\"\nstate = \"decrypt-only\"\nmaterial = { env = \"K1\" }\n";
    assert_eq!(error_of(none), ConfigError::NoPrimary);
    let two = format!(
        "{}[[keys]]\nid = 2\nsuite = \"aes-256-gcm\"\nstate = \"primary\"\nmaterial = {{ env = \"K2\" }}\n",
        none.replace("decrypt-only", "primary")
    );
    let err = error_of(&two);
    assert_eq!(err, ConfigError::MultiplePrimaries { ids: vec![1, 2] });
    assert_eq!(
        err.to_string(),
        "keys [1, 2] are all primary; exactly one must be"
    );
    assert_eq!(error_of("keys = []"), ConfigError::NoPrimary);
}

#[test]
fn ids_are_unique_and_never_zero() {
    let err = error_of(
        "[[keys]]\nid = 4\nsuite = \"aes-256-gcm\"\nstate = \"primary\"\nmaterial = { env = \"K1\" }\n\
         [[keys]]\nid = 4\nstate = \"retired\"\n",
    );
    assert_eq!(
        err.to_string(),
        "key id 4 appears more than once; give each key its own id"
    );
    assert_eq!(err.key_id(), Some(4));
    let err = error_of(
        "[[keys]]\nid = 0\nsuite = \"aes-256-gcm\"\nstate = \"primary\"\nmaterial = { env = \"K1\" }\n",
    );
    assert_eq!(err, ConfigError::ZeroKeyId);
}

#[test]
fn material_must_be_32_bytes_of_base64() {
    let short = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB"; // 27 bytes
    let config = KeyringConfig::parse_toml(
        "[[keys]]\nid = 7\nsuite = \"aes-256-gcm\"\nstate = \"primary\"\nmaterial = { env = \"K\" }\n",
    )
    .unwrap();
    let err = config.resolve_with(&env(&[("K", short)])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "key 7: key material is 27 bytes, it must be exactly 32"
    );
    let err = config
        .resolve_with(&env(&[("K", "not base64!")]))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "key 7: key material is not valid base64; give 32 bytes in standard base64 \
         (sealed-session keygen writes one)"
    );
    assert!(!err.to_string().contains("not base64!"));
}

#[test]
fn the_same_material_under_two_ids_is_refused() {
    let err = KeyringConfig::parse_toml(
        "[[keys]]\nid = 2\nsuite = \"aes-256-gcm\"\nstate = \"primary\"\nmaterial = { env = \"A\" }\n\
         [[keys]]\nid = 1\nsuite = \"aes-256-gcm\"\nstate = \"decrypt-only\"\nmaterial = { env = \"B\" }\n",
    )
    .unwrap()
    .resolve_with(&env(&[("A", K1), ("B", K1)]))
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "keys 2 and 1 have the same key material; every key needs its own"
    );
}

#[test]
fn a_missing_variable_or_file_is_named_never_read_out() {
    let err = error_of(
        "[[keys]]\nid = 3\nsuite = \"aes-256-gcm\"\nstate = \"primary\"\nmaterial = { env = \"SESSION_KEY_3\" }\n",
    );
    assert_eq!(
        err.to_string(),
        "key 3: environment variable SESSION_KEY_3 is not set (or not valid UTF-8); set it in the \
         environment of the process"
    );
    let err = error_of(
        "[[keys]]\nid = 2\nsuite = \"aes-256-gcm\"\nstate = \"primary\"\nmaterial = { file = \"/nonexistent/key-2\" }\n",
    );
    assert_eq!(
        err.to_string(),
        "key 2: cannot read secret file /nonexistent/key-2: entity not found"
    );
    // A file of the wrong content: its content is not repeated.
    let dir = dir();
    write(dir.join("wrong"), "hunter2-is-not-a-key").unwrap();
    let err = KeyringConfig::parse_toml(
        "[[keys]]\nid = 2\nsuite = \"aes-256-gcm\"\nstate = \"primary\"\nmaterial = { file = \"wrong\" }\n",
    )
    .unwrap()
    .with_base_dir(&dir)
    .resolve()
    .unwrap_err();
    assert!(!format!("{err} {err:?}").contains("hunter2"), "{err}");
    assert_eq!(err.key_id(), Some(2));
}

#[test]
fn an_oversized_secret_file_is_refused_without_reading_it_all() {
    let dir = dir();
    write(dir.join("big"), vec![b'A'; 100_000]).unwrap();
    let err = KeyringConfig::parse_toml(
        "[[keys]]\nid = 2\nsuite = \"aes-256-gcm\"\nstate = \"primary\"\nmaterial = { file = \"big\" }\n",
    )
    .unwrap()
    .with_base_dir(&dir)
    .resolve()
    .unwrap_err();
    assert!(
        matches!(&err, ConfigError::Key { id: 2, error }
            if matches!(**error, ConfigError::SecretFile { kind: std::io::ErrorKind::FileTooLarge, .. })),
        "{err:?}"
    );
}

const PASSPHRASE: &str = "[[keys]]\nid = 5\nsuite = \"aes-256-gcm\"\nstate = \"primary\"\n\
    material = { passphrase_env = \"PASS\", salt = \"c2FsdHNhbHRzYWx0c2FsdA==\", argon2 = { m_cost_kib = M, t_cost = 2, p_cost = 1 } }\n";

#[test]
fn a_passphrase_derives_the_same_key_as_the_library() {
    let config = KeyringConfig::parse_toml(&PASSPHRASE.replace("M", "19456")).unwrap();
    let keyring = config
        .resolve_with(&env(&[("PASS", "correct horse battery staple")]))
        .unwrap();
    // The same derivation through the library opens what the configured key sealed.
    let direct = KeyMaterial::derive_argon2id(
        b"correct horse battery staple",
        &sealed_session::Argon2Params::OWASP_MINIMUM,
        b"saltsaltsaltsalt",
    )
    .unwrap();
    let same = sealed_session::Keyring::builder()
        .primary(5, Suite::Aes256Gcm, direct)
        .build()
        .unwrap();
    let sealer_a = sealed_session::KeyringSealer::new(keyring);
    let sealer_b = sealed_session::KeyringSealer::new(same);
    use sealed_session::{CodecId, OpenContext, SealContext, Sealer};
    let sealed = sealer_a
        .seal(&SealContext::new(b"k", CodecId::JSON, 0), b"{}")
        .unwrap();
    let opened = sealer_b
        .open(&OpenContext::new(b"k", 1, 1 << 16), sealed)
        .unwrap();
    assert_eq!(opened.plaintext(), b"{}");
}

#[test]
fn weak_argon2_parameters_are_refused_before_any_secret_is_read() {
    let err = KeyringConfig::parse_toml(&PASSPHRASE.replace("M", "4096")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "key 5: Argon2id parameters m=4096 KiB, t=2, p=1 are below the minimum of m=19456 KiB, t=2, p=1"
    );
    let err = KeyringConfig::parse_toml(
        &PASSPHRASE
            .replace("M", "19456")
            .replace("c2FsdHNhbHRzYWx0c2FsdA==", "c2FsdA=="),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "key 5: Argon2id salt is 4 bytes; it must be at least 16"
    );
    let err = KeyringConfig::parse_toml(
        "[[keys]]\nid = 5\nsuite = \"aes-256-gcm\"\nstate = \"primary\"\nmaterial = { passphrase_env = \"P\" }\n",
    )
    .unwrap_err();
    assert_eq!(
        err,
        ConfigError::Key {
            id: 5,
            error: Box::new(ConfigError::PassphraseSettings)
        }
    );
}

#[test]
fn material_names_exactly_one_source() {
    let err = error_of(
        "[[keys]]\nid = 6\nsuite = \"aes-256-gcm\"\nstate = \"primary\"\nmaterial = { env = \"K1\", file = \"x\" }\n",
    );
    assert_eq!(
        err.to_string(),
        "key 6: material names 2 sources; name exactly one of env, file, passphrase_env, passphrase_file, insecure_inline"
    );
    let err = error_of("[[keys]]\nid = 6\nsuite = \"aes-256-gcm\"\nstate = \"primary\"\n");
    assert_eq!(err.key_id(), Some(6));
    assert!(err.to_string().contains("no material source"), "{err}");
    let err = error_of("[[keys]]\nid = 6\nstate = \"primary\"\nmaterial = { env = \"K1\" }\n");
    assert!(err.to_string().starts_with("key 6: no suite"), "{err}");
}

#[test]
fn a_retired_key_must_not_keep_material() {
    let err = error_of(
        "[[keys]]\nid = 2\nsuite = \"aes-256-gcm\"\nstate = \"primary\"\nmaterial = { env = \"K2\" }\n\
         [[keys]]\nid = 1\nstate = \"retired\"\nmaterial = { env = \"K1\" }\n",
    );
    assert_eq!(err.key_id(), Some(1));
    assert!(
        err.to_string().contains("retired key opens nothing"),
        "{err}"
    );
}

#[test]
fn typos_are_errors_not_silently_ignored() {
    let err = error_of("[[keys]]\nid = 1\nstate = \"primry\"\n");
    assert!(
        matches!(err, ConfigError::Syntax { line: Some(3), .. }),
        "{err:?}"
    );
    let err = error_of("[[keys]]\nid = 1\nstat = \"primary\"\n");
    assert!(
        err.to_string()
            .contains("unknown field …, expected one of `id`, `state`, `suite`, `material`"),
        "{err}"
    );
}

#[test]
fn syntax_errors_do_not_repeat_quoted_values() {
    let err = error_of(&format!("[[keys]]\nid = \"{K1}\"\n"));
    let text = format!("{err} {err:?}");
    assert!(!text.contains(K1), "{text}");
    assert!(text.contains("line 2"), "{text}");
    let err = KeyringConfig::parse_json(&format!(r#"{{"keys": [{{"id": "{K1}"}}]}}"#)).unwrap_err();
    assert!(!format!("{err} {err:?}").contains(K1), "{err}");
}

#[test]
fn inline_material_works_under_its_insecure_name_and_never_prints() {
    let config = KeyringConfig::parse_toml(&format!(
        "[[keys]]\nid = 9\nsuite = \"aes-256-gcm\"\nstate = \"primary\"\nmaterial = {{ insecure_inline = \"{K1}\" }}\n"
    ))
    .unwrap();
    let debug = format!("{config:?}");
    assert!(!debug.contains(K1), "{debug}");
    assert!(debug.contains("insecure inline"), "{debug}");
    assert_eq!(config.resolve().unwrap().primary_id(), 9);
    let keys = config.keys();
    assert_eq!(
        (keys[0].id, keys[0].state, keys[0].suite),
        (9, KeyState::Primary, Some(Suite::Aes256Gcm))
    );
}

#[test]
fn a_missing_config_file_is_named() {
    let err = KeyringConfig::read("/nonexistent/keys.toml").unwrap_err();
    assert_eq!(
        err.to_string(),
        "cannot read configuration file /nonexistent/keys.toml: entity not found"
    );
}

#[test]
fn a_failed_reload_keeps_the_working_keyring() {
    let dir = dir();
    let path = dir.join("keys.toml");
    let one = "[[keys]]\nid = 1\nsuite = \"aes-256-gcm\"\nstate = \"primary\"\nmaterial = { env = \"K1\" }\n";
    write(&path, one).unwrap();
    let reloader = Reloader::open_with(&path, env(&[("K1", K1), ("K2", K2)])).unwrap();
    assert_eq!(reloader.handle().current().primary_id(), 1);
    write(&path, "[[keys]]\nid = 1\n").unwrap();
    assert!(reloader.reload().is_err());
    assert_eq!(reloader.handle().current().primary_id(), 1);
    write(
        &path,
        "[[keys]]\nid = 2\nsuite = \"aes-256-gcm\"\nstate = \"primary\"\nmaterial = { env = \"K3\" }\n",
    )
    .unwrap();
    let err = reloader.reload().unwrap_err();
    assert_eq!(
        err.to_string(),
        "key 2: environment variable K3 is not set (or not valid UTF-8); set it in the \
         environment of the process"
    );
    assert_eq!(reloader.handle().current().primary_id(), 1);
    write(
        &path,
        "[[keys]]\nid = 2\nsuite = \"aes-256-gcm\"\nstate = \"primary\"\nmaterial = { env = \"K2\" }\n",
    )
    .unwrap();
    let done = reloader.reload().unwrap();
    assert_eq!(
        (done.previous_primary, done.primary, done.lost.clone()),
        (1, 2, vec![1])
    );
    assert!(done.primary_was_new);
    assert_eq!(reloader.handle().current().primary_id(), 2);
}

#[test]
fn a_secret_pasted_in_place_of_its_name_is_refused_without_being_repeated() {
    for field in ["env", "passphrase_env", "file"] {
        let extra = if field == "passphrase_env" {
            ", salt = \"c2FsdHNhbHRzYWx0c2FsdA==\", argon2 = { m_cost_kib = 19456, t_cost = 2, p_cost = 1 }"
        } else {
            ""
        };
        let text = format!(
            "[[keys]]\nid = 3\nsuite = \"aes-256-gcm\"\nstate = \"primary\"\nmaterial = {{ {field} = \"{K1}\"{extra} }}\n"
        );
        let err = KeyringConfig::parse_toml(&text).unwrap_err();
        assert_eq!(
            err,
            ConfigError::Key {
                id: 3,
                error: Box::new(ConfigError::SecretInPlaceOfName)
            },
            "{field}"
        );
        assert!(!format!("{err} {err:?}").contains(K1));
    }
    // With something around it: found by a review, caught anywhere in the name or path.
    let unpadded = K1.trim_end_matches('=');
    for (field, value) in [
        ("env", format!("{unpadded}.")),
        ("env", format!("X_{unpadded}")),
        ("file", format!("{K1}.")),
        ("file", format!("./{K1}")),
        ("file", format!("/run/secrets/{K1}")),
        ("file", format!("/run/secrets/{unpadded}.txt")),
    ] {
        let text = format!(
            "[[keys]]\nid = 3\nsuite = \"aes-256-gcm\"\nstate = \"primary\"\nmaterial = {{ {field} = \"{value}\" }}\n"
        );
        let err = KeyringConfig::parse_toml(&text).unwrap_err();
        assert_eq!(
            err,
            ConfigError::Key {
                id: 3,
                error: Box::new(ConfigError::SecretInPlaceOfName)
            },
            "{field} = {value}"
        );
        assert!(!format!("{err} {err:?}").contains(unpadded));
    }
    let err = KeyringConfig::parse_toml(
        "[[keys]]\nid = 3\nsuite = \"aes-256-gcm\"\nstate = \"primary\"\nmaterial = { env = \"correct horse\" }\n",
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("key 3: not a valid environment variable name"),
        "{err}"
    );
    assert!(!err.to_string().contains("horse"));
}

#[test]
fn a_secret_typed_into_an_enum_field_is_not_repeated() {
    for field in ["suite", "state"] {
        let text = format!("[[keys]]\nid = 3\n{field} = \"{K1}\"\n");
        let err = KeyringConfig::parse_toml(&text).unwrap_err();
        let shown = format!("{err} {err:?}");
        assert!(!shown.contains(K1), "{shown}");
        assert!(!shown.contains("AQEBAQ"), "{shown}");
        assert!(
            matches!(err, ConfigError::Syntax { line: Some(3), .. }),
            "{err:?}"
        );
        let json = format!(r#"{{"keys": [{{"id": 3, "{field}": "{K1}"}}]}}"#);
        let err = KeyringConfig::parse_json(&json).unwrap_err();
        assert!(!format!("{err} {err:?}").contains("AQEBAQ"), "{err}");
    }
    // Schema words stay, so the message still helps.
    let err = KeyringConfig::parse_toml("[[keys]]\nid = 3\nstate = \"primry\"\n").unwrap_err();
    assert!(
        err.to_string()
            .contains("`primary`, `decrypt-only`, `retired`"),
        "{err}"
    );
    assert!(!err.to_string().contains("primry"), "{err}");
}

#[test]
fn argon2_parameters_above_the_maximum_are_refused() {
    let err = KeyringConfig::parse_toml(&PASSPHRASE.replace("M", "19456000")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "key 5: Argon2id parameters m=19456000 KiB, t=2, p=1 are above the maximum of m=1048576 KiB, t=64, p=64"
    );
}

#[test]
fn a_secret_path_that_is_not_a_regular_file_is_refused() {
    let dir = dir();
    let err = KeyringConfig::parse_toml(
        "[[keys]]\nid = 2\nsuite = \"aes-256-gcm\"\nstate = \"primary\"\nmaterial = { file = \".\" }\n",
    )
    .unwrap()
    .with_base_dir(&dir)
    .resolve()
    .unwrap_err();
    assert!(
        matches!(&err, ConfigError::Key { id: 2, error } if matches!(**error, ConfigError::NotAFile { .. })),
        "{err:?}"
    );
}

#[test]
fn a_reload_never_changes_the_material_of_a_live_id_nor_unretires_one() {
    let dir = dir();
    let path = dir.join("keys.toml");
    write(&path, entry(1, "primary", "K1")).unwrap();
    let reloader = Reloader::open_with(&path, env(&[("K1", K1), ("K2", K2)])).unwrap();
    // Id 1 re-issued with other material.
    write(&path, entry(1, "primary", "K2")).unwrap();
    assert_eq!(
        reloader.reload().unwrap_err(),
        ConfigError::KeyChanged { id: 1 }
    );
    // A new key promoted at once is accepted, and flagged.
    write(
        &path,
        entry(2, "primary", "K2") + &entry(1, "decrypt-only", "K1"),
    )
    .unwrap();
    let done = reloader.reload().unwrap();
    assert!(done.primary_was_new);
    write(
        &path,
        entry(2, "primary", "K2") + "[[keys]]\nid = 1\nstate = \"retired\"\n",
    )
    .unwrap();
    let done = reloader.reload().unwrap();
    assert!(!done.primary_was_new);
    assert_eq!(done.lost, vec![1]);
    // Retirement is final.
    write(
        &path,
        entry(2, "primary", "K2") + &entry(1, "decrypt-only", "K1"),
    )
    .unwrap();
    assert_eq!(
        reloader.reload().unwrap_err(),
        ConfigError::Unretired { id: 1 }
    );
    assert_eq!(
        reloader.handle().current().state(1),
        Some(KeyState::Retired)
    );
}

#[test]
fn a_reload_never_lowers_the_primary_id_nor_forgets_a_retirement() {
    let dir = dir();
    let path = dir.join("keys.toml");
    let k3 = "AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=";
    write(
        &path,
        entry(2, "primary", "K2") + "[[keys]]\nid = 1\nstate = \"retired\"\n",
    )
    .unwrap();
    let reloader = Reloader::open_with(&path, env(&[("K1", K1), ("K2", K2), ("K3", k3)])).unwrap();
    // Key 1 leaves the file altogether, then comes back active: still refused.
    write(&path, entry(2, "primary", "K2")).unwrap();
    assert!(reloader.reload().unwrap().lost.is_empty());
    write(
        &path,
        entry(2, "primary", "K2") + &entry(1, "decrypt-only", "K1"),
    )
    .unwrap();
    assert_eq!(
        reloader.reload().unwrap_err(),
        ConfigError::Unretired { id: 1 }
    );
    // A lower id promoted over the primary.
    write(
        &path,
        entry(3, "decrypt-only", "K3") + &entry(2, "primary", "K2"),
    )
    .unwrap();
    reloader.reload().unwrap();
    write(
        &path,
        entry(3, "primary", "K3") + &entry(2, "decrypt-only", "K2"),
    )
    .unwrap();
    assert_eq!(reloader.reload().unwrap().primary, 3);
    write(
        &path,
        entry(3, "decrypt-only", "K3") + &entry(2, "primary", "K2"),
    )
    .unwrap();
    let err = reloader.reload().unwrap_err();
    assert_eq!(
        err,
        ConfigError::PrimaryIdDecreased {
            previous: 3,
            next: 2
        }
    );
    assert_eq!(reloader.handle().current().primary_id(), 3);
}

#[cfg(unix)]
#[test]
fn a_fifo_in_place_of_a_secret_file_is_refused_without_blocking() {
    let dir = dir();
    let fifo = dir.join("fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let err = sealed_session::config::read_secret_file(&fifo).unwrap_err();
    assert!(matches!(err, ConfigError::NotAFile { .. }), "{err:?}");
}

/// One `[[keys]]` entry whose material comes from the environment variable `var`.
fn entry(id: u32, state: &str, var: &str) -> String {
    format!(
        "[[keys]]\nid = {id}\nsuite = \"aes-256-gcm\"\nstate = \"{state}\"\nmaterial = {{ env = \"{var}\" }}\n"
    )
}

/// Found by the `keyring_config` fuzz target: a field name containing backticks made its own
/// text look like unquoted parser prose, so the "unknown field" message repeated it.
#[test]
fn a_field_name_with_backticks_is_not_repeated_either() {
    let secret = "SES9999990000099999999999990000099999999900";
    let text = format!(r#"{{"keys`s[[{secret}:0[[sV`{{"k"#);
    let Err(err) = KeyringConfig::parse_json(&text) else {
        panic!("refused")
    };
    let message = err.to_string();
    assert!(!message.contains(secret), "{message}");
    assert!(!format!("{err:?}").contains(secret));

    let toml = format!("[[keys]]\nid = 1\n\"s`{secret}`{{\" = 2\n");
    let Err(err) = KeyringConfig::parse_toml(&toml) else {
        panic!("refused")
    };
    assert!(!err.to_string().contains(secret), "{err}");
}

/// Writes a file only its owner can access (0600), whatever the umask: secret files must be.
fn write(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path.as_ref(), contents)?;
    std::fs::set_permissions(path.as_ref(), std::fs::Permissions::from_mode(0o600))
}

/// A `KeyringConfig` deserialized inside an application's own configuration (any serde
/// format) is checked like a parsed one: a key pasted where a variable name belongs is
/// refused there, and never reaches "variable … is not set" at resolve time.
#[test]
fn a_deserialized_configuration_is_checked_before_anything_is_resolved() {
    let pasted = format!(
        r#"{{"keys": [{{"id": 1, "state": "primary", "suite": "aes-256-gcm", "material": {{"env": "{K1}"}}}}]}}"#
    );
    let outcome = serde_json::from_str::<KeyringConfig>(&pasted).map(|c| c.resolve());
    let text = match outcome {
        Err(e) => e.to_string(),
        Ok(resolved) => panic!(
            "deserialized without its checks; resolving said: {}",
            resolved
                .map(|_| "ok".to_owned())
                .unwrap_or_else(|e| e.to_string())
        ),
    };
    assert!(!text.contains(K1), "{text}");
    assert!(text.contains("key material"), "{text}");

    let two_primaries = entry(1, "primary", "K1") + &entry(2, "primary", "K2");
    let err = toml::from_str::<KeyringConfig>(&two_primaries)
        .expect_err("two primaries refused when deserialized");
    assert!(err.to_string().contains("are all primary"), "{err}");
}

/// Only a name that looks like an environment variable (`[A-Z_][A-Z0-9_]*`) is repeated in
/// errors, `check` output and `Debug`: a passphrase typed into `env` is not printed.
#[test]
fn names_that_do_not_look_like_variables_are_never_repeated() {
    let phrase = "correct-horse-battery-staple";
    for field in ["env", "passphrase_env"] {
        let extra = if field == "passphrase_env" {
            r#", argon2 = { m_cost_kib = 19456, t_cost = 2, p_cost = 1 }, salt = "c2FsdHNhbHRzYWx0c2FsdA==""#
        } else {
            ""
        };
        let config = KeyringConfig::parse_toml(&format!(
            "[[keys]]\nid = 1\nsuite = \"aes-256-gcm\"\nstate = \"primary\"\nmaterial = {{ {field} = \"{phrase}\"{extra} }}\n"
        ))
        .unwrap();
        let err = config.resolve_with(&env(&[])).unwrap_err();
        let printed = [
            err.to_string(),
            format!("{err:?}"),
            format!("{config:?}"),
            config.keys()[0].source.clone(),
        ];
        for text in &printed {
            assert!(!text.contains(phrase), "{text}");
        }
        assert!(
            printed[0].contains(&format!("named by `{field}`")),
            "{}",
            printed[0]
        );
    }
    // A real variable name is still named, in errors and in the source description.
    let config = KeyringConfig::parse_toml(&entry(1, "primary", "SESSION_KEY_1")).unwrap();
    assert!(
        config
            .resolve_with(&env(&[]))
            .unwrap_err()
            .to_string()
            .contains("SESSION_KEY_1")
    );
    assert_eq!(config.keys()[0].source, "env SESSION_KEY_1");
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn permission_problem(err: &ConfigError) -> Option<(PermissionProblem, u32)> {
    match err {
        ConfigError::FilePermissions { problem, mode, .. } => Some((*problem, *mode)),
        ConfigError::Key { error, .. } => permission_problem(error),
        _ => None,
    }
}

/// Secret files must give group and others no access, as OpenSSH requires of private keys;
/// the error names the file, its mode and the fix. The opt-out reads them anyway.
#[test]
fn a_secret_file_others_can_read_is_refused() {
    let dir = dir();
    let path = dir.join("keys.toml");
    write(
        &path,
        "[[keys]]\nid = 1\nsuite = \"aes-256-gcm\"\nstate = \"primary\"\nmaterial = { file = \"k1\" }\n",
    )
    .unwrap();
    let key = dir.join("k1");
    write(&key, K1).unwrap();
    for mode in [0o600, 0o400] {
        chmod(&key, mode);
        KeyringConfig::read(&path).unwrap().resolve().unwrap();
    }
    for mode in [0o644, 0o640, 0o604, 0o620, 0o660] {
        chmod(&key, mode);
        let err = KeyringConfig::read(&path).unwrap().resolve().unwrap_err();
        assert_eq!(
            permission_problem(&err),
            Some((PermissionProblem::SecretNotPrivate, mode)),
            "{err:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains(&format!("{mode:04o}")) && text.contains("chmod 600"),
            "{text}"
        );
        assert!(text.contains(&key.display().to_string()), "{text}");
        assert!(!text.contains(K1), "{text}");
        // The explicit opt-out, on reading or afterwards.
        KeyringConfig::read_with(&path, FilePermissions::InsecureUnchecked)
            .unwrap()
            .resolve()
            .unwrap();
        KeyringConfig::read(&path)
            .unwrap()
            .with_file_permissions(FilePermissions::InsecureUnchecked)
            .resolve()
            .unwrap();
    }
    // A passphrase file too.
    let phrase = dir.join("phrase");
    write(&phrase, "a long and secret passphrase\n").unwrap();
    chmod(&phrase, 0o644);
    write(
        &path,
        "[[keys]]\nid = 1\nsuite = \"aes-256-gcm\"\nstate = \"primary\"\nmaterial = { passphrase_file = \"phrase\", argon2 = { m_cost_kib = 19456, t_cost = 2, p_cost = 1 }, salt = \"c2FsdHNhbHRzYWx0c2FsdA==\" }\n",
    )
    .unwrap();
    let err = KeyringConfig::read(&path).unwrap().resolve().unwrap_err();
    assert_eq!(
        permission_problem(&err),
        Some((PermissionProblem::SecretNotPrivate, 0o644))
    );
    assert!(sealed_session::config::read_secret_file(&phrase).is_err());
}

/// Whoever can write the configuration, or its directory, chooses the keys: refused when
/// group or others can, with the explicit opt-out.
#[test]
fn a_configuration_others_can_write_is_refused() {
    let dir = dir();
    let path = dir.join("keys.toml");
    write(&path, entry(1, "primary", "K1")).unwrap();
    chmod(&path, 0o644);
    KeyringConfig::read(&path).unwrap();
    for mode in [0o664, 0o646, 0o666] {
        chmod(&path, mode);
        let err = KeyringConfig::read(&path).unwrap_err();
        assert_eq!(
            permission_problem(&err),
            Some((PermissionProblem::ConfigWritable, mode))
        );
        assert!(err.to_string().contains("chmod go-w"), "{err}");
        KeyringConfig::read_with(&path, FilePermissions::InsecureUnchecked).unwrap();
    }
    chmod(&path, 0o600);
    for mode in [0o770, 0o707, 0o1777] {
        chmod(&dir, mode);
        let err = KeyringConfig::read(&path).unwrap_err();
        assert_eq!(
            permission_problem(&err),
            Some((PermissionProblem::DirectoryWritable, mode)),
            "{err:?}"
        );
        assert!(Reloader::open_with(&path, env(&[("K1", K1)])).is_err());
        KeyringConfig::read_with(&path, FilePermissions::InsecureUnchecked).unwrap();
    }
    chmod(&dir, 0o755);
    KeyringConfig::read(&path).unwrap();
}

/// A configuration reached through a symlink is checked in the directory it really is in
/// too; one that holds `insecure_inline` keys must be private like a secret file; the
/// opt-out for a configuration mounted read-only still checks secret files.
#[test]
fn symlinks_inline_keys_and_the_partial_opt_out() {
    let dir = dir();
    let shared = dir.join("shared");
    std::fs::create_dir(&shared).unwrap();
    let real = shared.join("keys.toml");
    write(&real, entry(1, "primary", "K1")).unwrap();
    let link = dir.join("keys.toml");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    chmod(&shared, 0o700);
    KeyringConfig::read(&link).unwrap();
    chmod(&shared, 0o777);
    let err = KeyringConfig::read(&link).unwrap_err();
    assert_eq!(
        permission_problem(&err),
        Some((PermissionProblem::DirectoryWritable, 0o777))
    );
    assert!(
        err.to_string().contains(&shared.display().to_string()),
        "{err}"
    );
    // Read-only mounts can look like this: the configuration's own checks can be skipped
    // alone, in `read_with` and in a reloader.
    let config = KeyringConfig::read_with(&link, FilePermissions::InsecureWritableConfig).unwrap();
    config.resolve_with(&env(&[("K1", K1)])).unwrap();
    assert!(Reloader::open_with(&link, env(&[("K1", K1)])).is_err());
    let reloader = Reloader::open_with_permissions(
        &link,
        env(&[("K1", K1)]),
        FilePermissions::InsecureWritableConfig,
    )
    .unwrap();
    reloader.reload().unwrap();

    // Secret files are still checked under that opt-out.
    let key = dir.join("k1");
    write(&key, K1).unwrap();
    chmod(&key, 0o644);
    write(
        &real,
        "[[keys]]\nid = 1\nsuite = \"aes-256-gcm\"\nstate = \"primary\"\nmaterial = { file = \"k1\" }\n",
    )
    .unwrap();
    let err = KeyringConfig::read_with(&link, FilePermissions::InsecureWritableConfig)
        .unwrap()
        .resolve()
        .unwrap_err();
    assert_eq!(
        permission_problem(&err),
        Some((PermissionProblem::SecretNotPrivate, 0o644))
    );
    chmod(&shared, 0o700);

    // Key material in the configuration makes it a secret file.
    let inline = dir.join("inline.toml");
    write(
        &inline,
        format!(
            "[[keys]]\nid = 1\nsuite = \"aes-256-gcm\"\nstate = \"primary\"\nmaterial = {{ insecure_inline = \"{K1}\" }}\n"
        ),
    )
    .unwrap();
    KeyringConfig::read(&inline).unwrap();
    chmod(&inline, 0o644);
    let err = KeyringConfig::read(&inline).unwrap_err();
    assert_eq!(
        permission_problem(&err),
        Some((PermissionProblem::InlineSecretNotPrivate, 0o644))
    );
    assert!(!err.to_string().contains(K1));
    KeyringConfig::read_with(&inline, FilePermissions::InsecureUnchecked).unwrap();
}

/// A name is repeated only if it looks like a variable name: upper-case letters, digits and
/// underscores, in words of at most 24 characters (a secret in upper-case hex or base32
/// would otherwise pass).
#[test]
fn an_upper_case_secret_in_place_of_a_name_is_not_repeated_either() {
    // 20 random bytes in base32: too short to look like base64 key material.
    let secret = "JBSWY3DPEHPK3PXPMZXW6YTBOI2DK4ZQ";
    let config = KeyringConfig::parse_toml(&entry(1, "primary", secret)).unwrap();
    let err = config.resolve_with(&env(&[])).unwrap_err();
    assert!(!err.to_string().contains(secret), "{err}");
    assert!(!config.keys()[0].source.contains(secret));
    let named = "SESSION_KEY_FOR_THE_PRIMARY_REGION";
    let config = KeyringConfig::parse_toml(&entry(1, "primary", named)).unwrap();
    assert!(
        config
            .resolve_with(&env(&[]))
            .unwrap_err()
            .to_string()
            .contains(named)
    );
}

/// A key id left out of the file is treated as retired for the life of the process: it
/// cannot come back active, least of all with other material (the process no longer has the
/// old material to compare). Coming back as retired is how it should have been retired.
#[test]
fn a_removed_id_never_comes_back_active() {
    let dir = dir();
    let path = dir.join("keys.toml");
    let k3 = "AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=";
    write(
        &path,
        entry(2, "primary", "K2") + &entry(1, "decrypt-only", "K1"),
    )
    .unwrap();
    let reloader = Reloader::open_with(&path, env(&[("K1", K1), ("K2", K2), ("K3", k3)])).unwrap();
    write(&path, entry(2, "primary", "K2")).unwrap();
    assert_eq!(reloader.reload().unwrap().lost, vec![1]);
    for material in ["K3", "K1"] {
        write(
            &path,
            entry(2, "primary", "K2") + &entry(1, "decrypt-only", material),
        )
        .unwrap();
        let err = reloader.reload().unwrap_err();
        assert_eq!(err, ConfigError::RemovedIdReturned { id: 1 });
        assert!(err.to_string().contains("state = \"retired\""), "{err}");
        assert_eq!(reloader.handle().current().state(1), None);
    }
    write(
        &path,
        entry(2, "primary", "K2") + "[[keys]]\nid = 1\nstate = \"retired\"\n",
    )
    .unwrap();
    reloader.reload().unwrap();
    assert_eq!(
        reloader.handle().current().state(1),
        Some(KeyState::Retired)
    );
}

const K3: &str = "AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM="; // 32 × 0x03
const K4: &str = "BAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQ="; // 32 × 0x04

fn index_entry(id: u32, state: &str, var: &str) -> String {
    format!("[[index_keys]]\nid = {id}\nstate = \"{state}\"\nmaterial = {{ env = \"{var}\" }}\n")
}

fn index_env() -> impl Environment + Send + Sync + 'static {
    env(&[("K1", K1), ("K2", K2), ("K3", K3), ("K4", K4)])
}

#[test]
fn index_keys_are_read_with_the_primary_first() {
    let text = entry(1, "primary", "K1")
        + &index_entry(3, "previous", "K3")
        + &index_entry(4, "primary", "K4");
    let config = KeyringConfig::parse_toml(&text).unwrap();
    let listed = config.index_keys();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[1].state, KeyState::Primary);
    assert_eq!(listed[1].source, "env K4");
    assert_eq!(listed[0].state, KeyState::DecryptOnly);
    let keyring = config.resolve_with(&index_env()).unwrap();
    let index = keyring.index_keys().expect("index keys");
    assert_eq!(index.ids(), [4, 3]);
    assert!(!format!("{keyring:?}").contains(K4));
    // Without [[index_keys]] there are none.
    let plain = KeyringConfig::parse_toml(&entry(1, "primary", "K1")).unwrap();
    assert!(
        plain
            .resolve_with(&index_env())
            .unwrap()
            .index_keys()
            .is_none()
    );
}

#[test]
fn index_key_mistakes_are_refused_and_named() {
    let base = entry(1, "primary", "K1");
    let index_error = |text: String| match error_of_with(&text) {
        ConfigError::IndexKeys(inner) => *inner,
        other => panic!("not an index-key error: {other:?}"),
    };
    assert_eq!(
        index_error(base.clone() + &index_entry(3, "previous", "K3")),
        ConfigError::NoPrimary
    );
    assert_eq!(
        index_error(
            base.clone() + &index_entry(3, "primary", "K3") + &index_entry(4, "primary", "K4")
        ),
        ConfigError::MultiplePrimaries { ids: vec![3, 4] }
    );
    assert_eq!(
        index_error(
            base.clone() + &index_entry(3, "primary", "K3") + &index_entry(3, "previous", "K4")
        ),
        ConfigError::DuplicateKeyId { id: 3 }
    );
    assert_eq!(
        index_error(base.clone() + &index_entry(0, "primary", "K3")),
        ConfigError::ZeroKeyId
    );
    assert!(matches!(
        index_error(base.clone() + "[[index_keys]]\nid = 3\nstate = \"primary\"\n"),
        ConfigError::Key { id: 3, .. }
    ));
    // Two index keys with one material, and an index key that is also a sealing key.
    assert!(matches!(
        index_error(
            base.clone() + &index_entry(3, "primary", "K3") + &index_entry(4, "previous", "K3")
        ),
        ConfigError::DuplicateMaterial { .. }
    ));
    assert_eq!(
        index_error(base.clone() + &index_entry(3, "primary", "K1")),
        ConfigError::SharedWithSealingKey { id: 1 }
    );
    let message = error_of_with(&(base + &index_entry(3, "primary", "K1"))).to_string();
    assert!(!message.contains(K1), "{message}");
}

fn error_of_with(toml: &str) -> ConfigError {
    match KeyringConfig::parse_toml(toml) {
        Err(e) => e,
        Ok(config) => config.resolve_with(&index_env()).unwrap_err(),
    }
}

#[test]
fn a_reload_never_changes_an_index_key_nor_drops_them_all() {
    let dir = dir();
    let path = dir.join("keys.toml");
    let sealing = entry(1, "primary", "K1");
    write(&path, sealing.clone() + &index_entry(3, "primary", "K3")).unwrap();
    let reloader = Reloader::open_with(&path, index_env()).unwrap();
    write(&path, sealing.clone() + &index_entry(3, "primary", "K4")).unwrap();
    assert_eq!(
        reloader.reload().unwrap_err(),
        ConfigError::IndexKeys(Box::new(ConfigError::KeyChanged { id: 3 }))
    );
    write(&path, sealing.clone()).unwrap();
    assert_eq!(
        reloader.reload().unwrap_err(),
        ConfigError::IndexKeys(Box::new(ConfigError::NoPrimary))
    );
    // The rotation: a new primary index key, the old one kept as previous.
    write(
        &path,
        sealing + &index_entry(4, "primary", "K4") + &index_entry(3, "previous", "K3"),
    )
    .unwrap();
    reloader.reload().unwrap();
    let current = reloader.handle().current();
    assert_eq!(current.index_keys().unwrap().ids(), [4, 3]);
    // A previous key may go; the primary may not go at once.
    write(
        &path,
        entry(1, "primary", "K1") + &index_entry(4, "primary", "K4"),
    )
    .unwrap();
    reloader.reload().unwrap();
    write(
        &path,
        entry(1, "primary", "K1") + &index_entry(3, "primary", "K3"),
    )
    .unwrap();
    assert_eq!(
        reloader.reload().unwrap_err(),
        ConfigError::IndexKeyDropped { id: 4 }
    );
}
