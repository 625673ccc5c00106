//! Keys, key material, session ids: validation and what `Debug` may show.

use sealed_session::{
    Argon2Params, ConfigError, Error, KeyMaterial, KeyState, Keyring, KeyringSealer, SessionId,
    Suite,
};

fn material(byte: u8) -> KeyMaterial {
    KeyMaterial::from_bytes(&mut [byte; 32])
}

#[test]
fn key_id_zero_is_refused() {
    let err = Keyring::single(0, Suite::Aes256Gcm, material(1)).unwrap_err();
    assert_eq!(err, ConfigError::ZeroKeyId);
    let err = Keyring::builder()
        .primary(1, Suite::Aes256Gcm, material(1))
        .retired(0)
        .build()
        .unwrap_err();
    assert_eq!(err, ConfigError::ZeroKeyId);
}

#[test]
fn duplicate_ids_are_refused() {
    let err = Keyring::builder()
        .primary(3, Suite::Aes256Gcm, material(1))
        .decrypt_only(3, Suite::Aes256Gcm, material(2))
        .build()
        .unwrap_err();
    assert_eq!(err, ConfigError::DuplicateKeyId { id: 3 });
    assert_eq!(
        err.to_string(),
        "key id 3 appears more than once; give each key its own id"
    );
}

#[test]
fn exactly_one_primary() {
    let none = Keyring::builder()
        .decrypt_only(1, Suite::Aes256Gcm, material(1))
        .build()
        .unwrap_err();
    assert_eq!(none, ConfigError::NoPrimary);
    let two = Keyring::builder()
        .primary(1, Suite::Aes256Gcm, material(1))
        .primary(2, Suite::Aes256Gcm, material(2))
        .build()
        .unwrap_err();
    assert_eq!(two, ConfigError::MultiplePrimaries { ids: vec![1, 2] });
}

#[test]
fn the_same_material_under_two_ids_is_refused() {
    let err = Keyring::builder()
        .primary(1, Suite::Aes256Gcm, material(9))
        .decrypt_only(2, Suite::ChaCha20Poly1305, material(9))
        .build()
        .unwrap_err();
    assert_eq!(
        err,
        ConfigError::DuplicateMaterial {
            first: 1,
            second: 2
        }
    );
}

#[test]
fn retired_keys_hold_no_material_and_report_their_state() {
    let keyring = Keyring::builder()
        .primary(3, Suite::Aes256Gcm, material(3))
        .decrypt_only(2, Suite::ChaCha20Poly1305, material(2))
        .key(1, Suite::Aes256Gcm, KeyState::Retired, material(1))
        .build()
        .unwrap();
    assert_eq!(keyring.primary_id(), 3);
    assert_eq!(keyring.state(1), Some(KeyState::Retired));
    assert_eq!(keyring.state(2), Some(KeyState::DecryptOnly));
    assert_eq!(keyring.state(4), None);
    assert_eq!(keyring.keys()[2].suite, None);
}

#[test]
fn material_must_be_32_bytes() {
    assert_eq!(
        KeyMaterial::from_slice(&[0; 31]).unwrap_err(),
        ConfigError::KeyLength { id: None, len: 31 }
    );
    assert!(KeyMaterial::from_slice(&[0; 33]).is_err());
    assert!(KeyMaterial::from_slice(&[7; 32]).is_ok());
}

#[test]
fn material_from_base64() {
    let key = KeyMaterial::generate().unwrap();
    let text = key.to_base64();
    let back = KeyMaterial::from_base64(&format!("  {}\n", text.as_str())).unwrap();
    assert_eq!(back.expose_secret(), key.expose_secret());
    // Unpadded is accepted too.
    let unpadded = text.trim_end_matches('=');
    assert!(KeyMaterial::from_base64(unpadded).is_ok());
    assert_eq!(
        KeyMaterial::from_base64("not base64!").unwrap_err(),
        ConfigError::KeyEncoding { id: None }
    );
    assert_eq!(
        KeyMaterial::from_base64("AAAA").unwrap_err(),
        ConfigError::KeyLength { id: None, len: 3 }
    );
}

#[test]
fn generated_material_differs_each_time() {
    let a = KeyMaterial::generate().unwrap();
    let b = KeyMaterial::generate().unwrap();
    assert_ne!(a.expose_secret(), b.expose_secret());
}

#[test]
fn from_bytes_zeroizes_the_callers_copy() {
    let mut bytes = [0x5Au8; 32];
    let key = KeyMaterial::from_bytes(&mut bytes);
    assert_eq!(bytes, [0u8; 32]);
    assert_eq!(key.expose_secret(), &[0x5Au8; 32]);
}

#[test]
fn argon2id_derivation_is_reproducible_from_parameters_and_salt() {
    let params = Argon2Params::OWASP_MINIMUM;
    let salt = b"sixteen byte salt";
    let a = KeyMaterial::derive_argon2id(b"correct horse battery staple", &params, salt).unwrap();
    let b = KeyMaterial::derive_argon2id(b"correct horse battery staple", &params, salt).unwrap();
    assert_eq!(a.expose_secret(), b.expose_secret());
    let other_salt = KeyMaterial::derive_argon2id(
        b"correct horse battery staple",
        &params,
        b"another 16b salt",
    )
    .unwrap();
    assert_ne!(a.expose_secret(), other_salt.expose_secret());
    let other_params = Argon2Params {
        t_cost: 3,
        ..params
    };
    let c =
        KeyMaterial::derive_argon2id(b"correct horse battery staple", &other_params, salt).unwrap();
    assert_ne!(a.expose_secret(), c.expose_secret());
}

#[test]
fn argon2id_known_answer() {
    // Argon2id v0x13, m=19456 KiB, t=2, p=1, 32-byte output; computed independently with
    // the Python `argon2-cffi` low-level API (see docs/FORMAT.md).
    let key = KeyMaterial::derive_argon2id(
        b"password",
        &Argon2Params::OWASP_MINIMUM,
        b"somesaltsomesalt",
    )
    .unwrap();
    assert_eq!(hex(key.expose_secret()), ARGON2_KAT);
}

const ARGON2_KAT: &str = include_str!("../vectors/argon2id-owasp-minimum.hex");

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn argon2id_below_the_owasp_minimum_is_refused() {
    let min = Argon2Params::OWASP_MINIMUM;
    for weak in [
        Argon2Params {
            m_cost_kib: 19 * 1024 - 1,
            ..min
        },
        Argon2Params { t_cost: 1, ..min },
        Argon2Params { p_cost: 0, ..min },
    ] {
        let err = KeyMaterial::derive_argon2id(b"pw", &weak, b"0123456789abcdef").unwrap_err();
        assert!(matches!(err, ConfigError::WeakArgon2 { .. }), "{err:?}");
    }
    let err = KeyMaterial::derive_argon2id(b"pw", &min, b"short").unwrap_err();
    assert_eq!(err, ConfigError::Argon2Salt { len: 5 });
}

// ---- Debug never shows a secret -------------------------------------------------------

#[test]
fn debug_of_key_material_is_redacted() {
    let key = material(0x41);
    assert_eq!(format!("{key:?}"), "KeyMaterial([redacted])");
    assert_eq!(format!("{key:#?}"), "KeyMaterial([redacted])");
}

#[test]
fn debug_of_keyring_shows_ids_states_and_suites_only() {
    let keyring = Keyring::builder()
        .primary(3, Suite::Aes256Gcm, material(0x41))
        .decrypt_only(2, Suite::ChaCha20Poly1305, material(0x42))
        .retired(1)
        .build()
        .unwrap();
    assert_eq!(
        format!("{keyring:?}"),
        "Keyring { primary: 3, keys: [3 primary aes-256-gcm, 2 decrypt-only chacha20-poly1305, 1 retired] }"
    );
    let sealer = KeyringSealer::new(keyring);
    assert_eq!(
        format!("{sealer:?}"),
        "KeyringSealer { keyring: Keyring { primary: 3, keys: [3 primary aes-256-gcm, 2 decrypt-only chacha20-poly1305, 1 retired] }, salt: Os }"
    );
}

#[test]
fn debug_of_session_id_is_redacted_and_equality_works() {
    let id = SessionId::generate().unwrap();
    assert_eq!(format!("{id:?}"), "SessionId([redacted])");
    let copy = SessionId::parse(id.as_str()).unwrap();
    assert_eq!(id, copy);
    assert_ne!(id, SessionId::generate().unwrap());
}

#[test]
fn session_id_parsing_is_strict() {
    let id = SessionId::generate().unwrap();
    let text = id.as_str().to_owned();
    assert_eq!(text.len(), 43);
    assert!(
        text.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    let refuse = |s: &str| matches!(SessionId::parse(s), Err(Error::InvalidSessionId));
    assert!(refuse(""));
    assert!(refuse(&text[..42]));
    assert!(refuse(&format!("{text}A")));
    assert!(refuse(&format!("{text}=")));
    assert!(refuse(
        &text.replace(|c: char| c.is_ascii_alphanumeric(), "+")
    ));
    assert!(refuse(&format!("{}/", &text[..42])));
    assert!(refuse(&format!("{} ", &text[..42])));
    assert!(refuse(&format!("{}é", &text[..41])));
    // The 43rd character carries 2 unused bits: a non-canonical spelling is refused.
    assert!(SessionId::parse("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").is_ok());
    assert!(refuse("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB"));
}

#[test]
fn error_messages_never_contain_key_bytes() {
    let err = KeyMaterial::from_base64("c2VjcmV0LXNlY3JldC1zZWNyZXQ=").unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains("c2VjcmV0"));
    assert!(!text.contains("secret"));
}
