//! Writes the committed seed corpora under `corpus/<target>/`:
//! `cargo run --manifest-path fuzz/Cargo.toml --example make_seeds` (from the repository
//! root). Existing files of the same names are overwritten; others are left alone.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sealed_session::Codec;
use sealed_session_fuzz::{AuthState, BuiltinCodec, WebSession, hex};
use serde::Deserialize;

const VECTORS: &str = include_str!("../../tests/vectors/envelope-v1.json");

#[derive(Deserialize)]
struct Vector {
    name: String,
    envelope: String,
}

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    fs::create_dir_all(&dir).expect("corpus directory");
    fs::write(dir.join(name), bytes).expect("seed file");
}

fn session() -> WebSession {
    WebSession {
        user_id: 4_211_337,
        username: "alice@example.com".into(),
        roles: vec!["admin".into(), "billing".into()],
        csrf_token: [0x5a; 32],
        authenticated_at: 1_763_900_000,
        last_seen: Some(1_763_903_600),
        flash: Some("Saved ✓".into()),
        cart: BTreeMap::from([("sku-123".into(), 2), ("sku-9".into(), 1)]),
        auth: AuthState::MultiFactor {
            method: "totp".into(),
            verified_at: 1_763_900_030,
        },
        remember_me: true,
        locale: Some('é'),
        scratch: vec![0, 1, 2, 255],
    }
}

const TOML_CONFIG: &str = r#"# Three generations of keys, as during a rotation.
[[keys]]
id = 3
state = "primary"
suite = "aes-256-gcm"
material = { env = "SESSION_KEY_3" }

[[keys]]
id = 2
state = "decrypt-only"
suite = "chacha20-poly1305"
material = { insecure_inline = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" }

[[keys]]
id = 1
state = "retired"
"#;

const TOML_PASSPHRASE: &str = r#"[[keys]]
id = 7
state = "primary"
suite = "chacha20-poly1305"
material = { passphrase_env = "SESSION_PASSPHRASE", salt = "c2VhbGVkLXNlc3Npb24tc2FsdA==", argon2 = { m_cost_kib = 19456, t_cost = 2, p_cost = 1 } }

[[keys]]
id = 6
state = "decrypt-only"
suite = "aes-256-gcm"
material = { file = "secrets/key-6" }
"#;

const JSON_CONFIG: &str = r#"{"keys": [
  {"id": 5, "state": "primary", "suite": "aes-256-gcm", "material": {"env": "K5"}},
  {"id": 4, "state": "decrypt-only", "suite": "aes-256-gcm",
   "material": {"passphrase_file": "/run/secrets/pass", "salt": "c2FsdHNhbHRzYWx0c2FsdA==",
                "argon2": {"m_cost_kib": 19456, "t_cost": 2, "p_cost": 1}}},
  {"id": 1, "state": "retired"}
]}"#;

fn main() {
    let vectors: Vec<Vector> = serde_json::from_str(VECTORS).expect("vector file");
    for v in &vectors {
        let bytes = hex(&v.envelope);
        write("envelope_parse", &v.name, &bytes);
        write("open", &v.name, &bytes);
    }

    let session = session();
    for codec in BuiltinCodec::ALL {
        let mut bytes = Vec::new();
        codec
            .codec::<WebSession>()
            .encode(&session, &mut bytes)
            .expect("encodes");
        write(
            "codec_decode",
            &format!("session-{codec:?}").to_lowercase(),
            &bytes,
        );
    }
    write(
        "codec_decode",
        "tower-record-json",
        br#"{"id":"3dc0d9b6-1b5d-4e8e-9a43-8a1e1c1f2f11","data":{"counter":3,"user":{"name":"alice","roles":["admin"]}},"expiry_date":[2026,327,21,0,0,0,0,0,0]}"#,
    );

    let record: sealed_session::integrations::tower_sessions::RecordData = serde_json::from_str(
        r#"{"counter":3,"debt":-7,"ratio":0.25,"flag":true,"none":null,
            "user":{"name":"alice","roles":["admin",["nested",[]]]}}"#,
    )
    .expect("a record");
    let mut bytes = Vec::new();
    sealed_session::integrations::tower_sessions::RecordBincode
        .encode(&record, &mut bytes)
        .expect("encodes");
    write("codec_decode", "tower-record-bincode", &bytes);

    // The roundtrip target reads structured input; a few byte patterns start it off.
    write("roundtrip", "zeros", &[0u8; 128]);
    write("roundtrip", "ramp", &(0..=255u8).collect::<Vec<_>>());
    write("roundtrip", "ones", &[0xffu8; 200]);

    let id = URL_SAFE_NO_PAD.encode([0x42u8; 32]);
    write("session_id", "canonical", id.as_bytes());
    write("session_id", "padded", format!("{id}=").as_bytes());
    let mut loose = id.clone();
    loose.pop();
    loose.push('R'); // trailing bits set: not canonical
    write("session_id", "non-canonical", loose.as_bytes());
    write("session_id", "short", &id.as_bytes()[..42]);
    write(
        "session_id",
        "standard-alphabet",
        URL_SAFE_NO_PAD
            .encode([0xfbu8; 32])
            .replace('-', "+")
            .replace('_', "/")
            .as_bytes(),
    );

    write("keyring_config", "rotation.toml", TOML_CONFIG.as_bytes());
    write(
        "keyring_config",
        "passphrase.toml",
        TOML_PASSPHRASE.as_bytes(),
    );
    write("keyring_config", "rotation.json", JSON_CONFIG.as_bytes());
    write("keyring_config", "empty.toml", b"keys = []\n");
    println!("seed corpora written under fuzz/corpus/");
}
