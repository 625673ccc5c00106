//! Shared fixtures of the fuzz targets: the keyring of the spec's test vectors, a realistic
//! session type, and the built-in codecs by number.
//!
//! The targets live in `fuzz_targets/`; see `README.md` for how to run them.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use sealed_session::{
    Bincode, Codec, CodecId, Json, KeyMaterial, Keyring, KeyringSealer, Postcard, Suite,
};
use serde::{Deserialize, Serialize};

/// The storage key most vector envelopes are bound to; the `open` target opens under it.
pub const VECTOR_STORAGE_KEY: &[u8] =
    b"sess:57994b4cec934b7d23e86160baaa20178ce69b25bff47e4868a0d7f09ea4f639";

/// "Now" for opening: after the vector marked `expired` (1,700,000,000), before the others'
/// expiry (1,900,000,000).
pub const VECTOR_NOW: u64 = 1_800_000_000;

/// Largest envelope the targets accept, as a store configured with the default.
pub const MAX_ENVELOPE: usize = 1024 * 1024;

const VECTORS: &str = include_str!("../../tests/vectors/envelope-v1.json");

/// One key of the vector file.
#[derive(Clone, Debug)]
pub struct VectorKey {
    /// Its id.
    pub id: u32,
    /// Its suite.
    pub suite: Suite,
    /// Its 32 bytes of material.
    pub material: [u8; 32],
}

/// The spec's test vectors, parsed once.
fn vectors() -> &'static [Vector] {
    static VECTORS_PARSED: OnceLock<Vec<Vector>> = OnceLock::new();
    VECTORS_PARSED.get_or_init(|| serde_json::from_str(VECTORS).expect("the vector file parses"))
}

#[derive(Deserialize)]
struct Vector {
    suite: u8,
    key_id: u32,
    key: String,
    envelope: String,
}

/// True when `data` is an envelope the spec's vectors show was genuinely sealed: one of the
/// vector envelopes themselves (several refused vectors hold a genuine envelope presented
/// under another storage key or at another time), or the original that a refused vector
/// was made from by flipping one bit. Nothing else can open without a forgery, which is
/// what the `open` target checks independently of the sealing code.
pub fn is_vector_envelope(data: &[u8]) -> bool {
    static ENVELOPES: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    let envelopes = ENVELOPES.get_or_init(|| vectors().iter().map(|v| hex(&v.envelope)).collect());
    let within_one_bit = |v: &Vec<u8>| {
        v.len() == data.len()
            && v.iter()
                .zip(data)
                .map(|(a, b)| (a ^ b).count_ones())
                .sum::<u32>()
                <= 1
    };
    envelopes.iter().any(within_one_bit)
}

/// Every distinct key named by the spec's test vectors.
pub fn vector_keys() -> &'static [VectorKey] {
    static KEYS: OnceLock<Vec<VectorKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let mut keys: Vec<VectorKey> = Vec::new();
        for v in vectors() {
            if v.key_id == 0 || keys.iter().any(|k| k.id == v.key_id) {
                continue;
            }
            let material: [u8; 32] = hex(&v.key).try_into().expect("32-byte vector keys");
            let suite = Suite::from_byte(v.suite).expect("vector suites are known");
            keys.push(VectorKey {
                id: v.key_id,
                suite,
                material,
            });
        }
        keys
    })
}

/// A sealer holding every vector key: the highest id is primary, the others decrypt-only,
/// plus one retired id (8) so the retired path is reachable.
pub fn vector_sealer() -> &'static KeyringSealer {
    static SEALER: OnceLock<KeyringSealer> = OnceLock::new();
    SEALER.get_or_init(|| {
        let keys = vector_keys();
        let primary = keys.iter().map(|k| k.id).max().expect("at least one key");
        let mut builder = Keyring::builder().retired(8);
        for k in keys {
            let mut material = k.material;
            let material = KeyMaterial::from_bytes(&mut material);
            builder = if k.id == primary {
                builder.primary(k.id, k.suite, material)
            } else {
                builder.decrypt_only(k.id, k.suite, material)
            };
        }
        KeyringSealer::new(builder.build().expect("the vector keyring is valid"))
    })
}

/// A sealer whose only (primary) key is the vector key `id`: re-seals what opened under
/// that key, to check the opened value byte for byte.
pub fn single_key_sealer(id: u32) -> Option<KeyringSealer> {
    let k = vector_keys().iter().find(|k| k.id == id)?;
    let mut material = k.material;
    let keyring = Keyring::single(k.id, k.suite, KeyMaterial::from_bytes(&mut material)).ok()?;
    Some(KeyringSealer::new(keyring))
}

/// Decodes lowercase or uppercase hex (panics on bad input: fixtures only).
pub fn hex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

/// What a web application typically keeps in a session: ids, names, flags, a CSRF token,
/// optional values, a small map and an enum with data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Arbitrary)]
pub struct WebSession {
    pub user_id: u64,
    pub username: String,
    pub roles: Vec<String>,
    pub csrf_token: [u8; 32],
    pub authenticated_at: i64,
    pub last_seen: Option<u64>,
    pub flash: Option<String>,
    pub cart: BTreeMap<String, u32>,
    pub auth: AuthState,
    pub remember_me: bool,
    pub locale: Option<char>,
    pub scratch: Vec<u8>,
}

/// An enum with unit, newtype and struct variants.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Arbitrary)]
pub enum AuthState {
    Anonymous,
    PasswordOnly(u32),
    MultiFactor { method: String, verified_at: u64 },
}

/// The built-in codecs, in codec-byte order.
#[derive(Clone, Copy, Debug, Arbitrary)]
pub enum BuiltinCodec {
    Bincode,
    Json,
    Postcard,
}

impl BuiltinCodec {
    /// All of them.
    pub const ALL: [BuiltinCodec; 3] = [
        BuiltinCodec::Bincode,
        BuiltinCodec::Json,
        BuiltinCodec::Postcard,
    ];

    /// Its codec byte.
    pub fn id(self) -> CodecId {
        match self {
            BuiltinCodec::Bincode => CodecId::BINCODE,
            BuiltinCodec::Json => CodecId::JSON,
            BuiltinCodec::Postcard => CodecId::POSTCARD,
        }
    }

    /// The codec as a trait object for `T`.
    pub fn codec<T>(self) -> Box<dyn Codec<T>>
    where
        T: Serialize + serde::de::DeserializeOwned + 'static,
    {
        match self {
            BuiltinCodec::Bincode => Box::new(Bincode),
            BuiltinCodec::Json => Box::new(Json),
            BuiltinCodec::Postcard => Box::new(Postcard),
        }
    }
}
