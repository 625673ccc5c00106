//! The envelope rules of `docs/FORMAT.md`, one test each, plus the frozen test vectors.

use serde::Deserialize;

use super::*;
use crate::crypto::{KeyMaterial, Keyring, Suite};
use crate::error::RejectKind;

const MAX: usize = 64 * 1024;
const NOW: u64 = 1_800_000_000;
const EXPIRES: u64 = 1_900_000_000;
const KEY_A: &[u8] = b"sess:aaaa";
const KEY_B: &[u8] = b"sess:bbbb";

fn material(byte: u8) -> KeyMaterial {
    KeyMaterial::from_bytes(&mut [byte; 32])
}

fn sealer(suite: Suite) -> KeyringSealer {
    KeyringSealer::new(Keyring::single(7, suite, material(7)).unwrap())
}

fn seal(s: &KeyringSealer, key: &[u8], plaintext: &[u8], expires_at: u64) -> Vec<u8> {
    s.seal(
        &SealContext::new(key, CodecId::BINCODE, expires_at),
        plaintext,
    )
    .unwrap()
}

fn open_at(s: &KeyringSealer, key: &[u8], value: Vec<u8>, now: u64) -> Result<Opened, Error> {
    s.open(&OpenContext::new(key, now, MAX), value)
}

fn kind(r: Result<Opened, Error>) -> RejectKind {
    match r {
        Ok(_) => panic!("opened a value that must be refused"),
        Err(e) => e
            .rejection_kind()
            .unwrap_or_else(|| panic!("not a rejection: {e}")),
    }
}

const SUITES: [Suite; 2] = [Suite::Aes256Gcm, Suite::ChaCha20Poly1305];

#[test]
fn round_trip_every_suite() {
    for suite in SUITES {
        let s = sealer(suite);
        let env = seal(&s, KEY_A, b"hello session", EXPIRES);
        assert_eq!(env.len(), OVERHEAD + 13);
        assert_eq!(env[0], 1);
        assert_eq!(env[1], suite.to_byte());
        assert_eq!(env[2], CodecId::BINCODE.to_byte());
        assert_eq!(&env[3..7], &7u32.to_be_bytes());
        assert_eq!(&env[7..15], &EXPIRES.to_be_bytes());
        let opened = open_at(&s, KEY_A, env, NOW).unwrap();
        assert_eq!(opened.plaintext(), b"hello session");
        assert_eq!(opened.key_id, 7);
        assert_eq!(opened.expires_at, EXPIRES);
        assert_eq!(opened.codec, CodecId::BINCODE);
    }
}

#[test]
fn fresh_salt_for_every_envelope() {
    let s = sealer(Suite::Aes256Gcm);
    let a = seal(&s, KEY_A, b"same", EXPIRES);
    let b = seal(&s, KEY_A, b"same", EXPIRES);
    assert_ne!(a[SALT_RANGE], b[SALT_RANGE]);
    assert_ne!(a[CIPHERTEXT_OFFSET..], b[CIPHERTEXT_OFFSET..]);
}

#[test]
fn ciphertext_does_not_contain_plaintext() {
    let s = sealer(Suite::ChaCha20Poly1305);
    let secret = b"user=alice;role=admin;csrf=0123456789";
    let env = seal(&s, KEY_A, secret, EXPIRES);
    assert!(!env.windows(8).any(|w| secret.windows(8).any(|p| p == w)));
}

#[test]
fn every_single_bit_flip_is_refused() {
    for suite in SUITES {
        let s = sealer(suite);
        let env = seal(&s, KEY_A, b"a small but real session payload", EXPIRES);
        for byte in 0..env.len() {
            for bit in 0..8 {
                let mut tampered = env.clone();
                tampered[byte] ^= 1 << bit;
                let result = open_at(&s, KEY_A, tampered, NOW);
                assert!(
                    result.as_ref().is_err_and(Error::is_rejected),
                    "{suite} byte {byte} bit {bit} was not refused"
                );
            }
        }
    }
}

#[test]
fn value_under_another_storage_key_is_refused() {
    let s = sealer(Suite::Aes256Gcm);
    let env = seal(&s, KEY_A, b"session of A", EXPIRES);
    assert_eq!(
        kind(open_at(&s, KEY_B, env, NOW)),
        RejectKind::Authentication
    );
}

#[test]
fn value_under_another_prefix_is_refused() {
    let s = sealer(Suite::Aes256Gcm);
    let env = seal(&s, b"sess:abc", b"data", EXPIRES);
    assert_eq!(
        kind(open_at(&s, b"other:abc", env, NOW)),
        RejectKind::Authentication
    );
}

#[test]
fn storage_key_length_is_bound_not_just_its_bytes() {
    // The AAD ends with u32(len) || key, so a key that is a prefix of another never collides.
    let s = sealer(Suite::Aes256Gcm);
    let env = seal(&s, b"sess:ab", b"data", EXPIRES);
    assert_eq!(
        kind(open_at(&s, b"sess:a", env, NOW)),
        RejectKind::Authentication
    );
}

#[test]
fn shorter_than_95_bytes_is_refused_as_length() {
    let s = sealer(Suite::Aes256Gcm);
    let env = seal(&s, KEY_A, b"", EXPIRES);
    assert_eq!(env.len(), 95);
    assert!(open_at(&s, KEY_A, env.clone(), NOW).is_ok());
    assert_eq!(
        kind(open_at(&s, KEY_A, env[..94].to_vec(), NOW)),
        RejectKind::Length
    );
    assert_eq!(
        kind(open_at(&s, KEY_A, Vec::new(), NOW)),
        RejectKind::Length
    );
}

#[test]
fn longer_than_the_maximum_is_refused_as_length_before_anything_else() {
    let s = sealer(Suite::Aes256Gcm);
    let env = seal(&s, KEY_A, &[0u8; 200], EXPIRES);
    let ctx = OpenContext::new(KEY_A, NOW, 200);
    assert_eq!(kind(s.open(&ctx, env)), RejectKind::Length);
    // Even garbage with an unknown version is refused for its length first.
    let garbage = vec![0xFFu8; 300];
    assert_eq!(kind(s.open(&ctx, garbage)), RejectKind::Length);
}

#[test]
fn truncated_and_extended_are_refused() {
    let s = sealer(Suite::Aes256Gcm);
    let env = seal(&s, KEY_A, b"0123456789", EXPIRES);
    let mut truncated = env.clone();
    truncated.pop();
    assert_eq!(
        kind(open_at(&s, KEY_A, truncated, NOW)),
        RejectKind::Authentication
    );
    let mut extended = env;
    extended.push(0);
    assert_eq!(
        kind(open_at(&s, KEY_A, extended, NOW)),
        RejectKind::Authentication
    );
}

#[test]
fn unknown_version_suite_and_codec_bytes_are_refused() {
    let s = sealer(Suite::Aes256Gcm);
    let env = seal(&s, KEY_A, b"x", EXPIRES);
    for (offset, byte, expected) in [
        (0, 0x00, RejectKind::Version),
        (0, 0x02, RejectKind::Version),
        (1, 0x00, RejectKind::Suite),
        (1, 0x03, RejectKind::Suite),
        (2, 0x00, RejectKind::Codec),
        (2, 0x04, RejectKind::Codec),
        (2, 0x7F, RejectKind::Codec),
    ] {
        let mut v = env.clone();
        v[offset] = byte;
        assert_eq!(
            kind(open_at(&s, KEY_A, v, NOW)),
            expected,
            "byte {offset} = {byte:#x}"
        );
    }
}

#[test]
fn user_defined_codec_bytes_are_accepted() {
    let s = sealer(Suite::Aes256Gcm);
    let codec = CodecId::user_defined(0x80).unwrap();
    let env = s
        .seal(&SealContext::new(KEY_A, codec, EXPIRES), b"custom")
        .unwrap();
    assert_eq!(open_at(&s, KEY_A, env, NOW).unwrap().codec, codec);
}

#[test]
fn unknown_key_is_refused_and_no_other_key_is_tried() {
    let old = KeyringSealer::new(Keyring::single(1, Suite::Aes256Gcm, material(1)).unwrap());
    let env = seal(&old, KEY_A, b"x", EXPIRES);
    // Same material, another id: the envelope names key 1, which this keyring lacks.
    let other = KeyringSealer::new(Keyring::single(2, Suite::Aes256Gcm, material(1)).unwrap());
    assert_eq!(
        kind(open_at(&other, KEY_A, env.clone(), NOW)),
        RejectKind::UnknownKey
    );
    let mut zero = env;
    zero[3..7].copy_from_slice(&[0; 4]);
    assert_eq!(
        kind(open_at(&old, KEY_A, zero, NOW)),
        RejectKind::UnknownKey
    );
}

#[test]
fn retired_key_is_refused() {
    let old = KeyringSealer::new(Keyring::single(1, Suite::Aes256Gcm, material(1)).unwrap());
    let env = seal(&old, KEY_A, b"x", EXPIRES);
    let rotated = KeyringSealer::new(
        Keyring::builder()
            .primary(2, Suite::Aes256Gcm, material(2))
            .retired(1)
            .build()
            .unwrap(),
    );
    assert_eq!(
        kind(open_at(&rotated, KEY_A, env, NOW)),
        RejectKind::RetiredKey
    );
}

#[test]
fn decrypt_only_key_opens_but_primary_seals() {
    let old = KeyringSealer::new(Keyring::single(1, Suite::Aes256Gcm, material(1)).unwrap());
    let env = seal(&old, KEY_A, b"x", EXPIRES);
    let rotated = KeyringSealer::new(
        Keyring::builder()
            .primary(2, Suite::ChaCha20Poly1305, material(2))
            .decrypt_only(1, Suite::Aes256Gcm, material(1))
            .build()
            .unwrap(),
    );
    assert_eq!(open_at(&rotated, KEY_A, env, NOW).unwrap().key_id, 1);
    let new_env = seal(&rotated, KEY_A, b"x", EXPIRES);
    assert_eq!(&new_env[3..7], &2u32.to_be_bytes());
    assert_eq!(new_env[1], Suite::ChaCha20Poly1305.to_byte());
}

#[test]
fn suite_byte_differing_from_the_key_suite_is_refused() {
    // A genuine ChaCha envelope under key 7, opened by a keyring where key 7 is AES.
    let chacha = sealer(Suite::ChaCha20Poly1305);
    let env = seal(&chacha, KEY_A, b"x", EXPIRES);
    let aes = sealer(Suite::Aes256Gcm);
    assert_eq!(
        kind(open_at(&aes, KEY_A, env.clone(), NOW)),
        RejectKind::SuiteMismatch
    );
    // And flipping the suite byte of an AES envelope is refused before any AEAD work.
    let mut flipped = seal(&aes, KEY_A, b"x", EXPIRES);
    flipped[1] = Suite::ChaCha20Poly1305.to_byte();
    assert_eq!(
        kind(open_at(&aes, KEY_A, flipped, NOW)),
        RejectKind::SuiteMismatch
    );
}

#[test]
fn commitment_mismatch_is_refused_before_the_aead() {
    let s = sealer(Suite::Aes256Gcm);
    let env = seal(&s, KEY_A, b"x", EXPIRES);
    let mut bad_commitment = env.clone();
    bad_commitment[60] ^= 0x10;
    assert_eq!(
        kind(open_at(&s, KEY_A, bad_commitment, NOW)),
        RejectKind::Commitment
    );
    let mut bad_salt = env;
    bad_salt[20] ^= 0x01;
    assert_eq!(
        kind(open_at(&s, KEY_A, bad_salt, NOW)),
        RejectKind::Commitment
    );
}

#[test]
fn same_id_different_material_fails_the_commitment() {
    let a = sealer(Suite::Aes256Gcm);
    let env = seal(&a, KEY_A, b"x", EXPIRES);
    let b = KeyringSealer::new(Keyring::single(7, Suite::Aes256Gcm, material(8)).unwrap());
    assert_eq!(kind(open_at(&b, KEY_A, env, NOW)), RejectKind::Commitment);
}

#[test]
fn expired_envelope_is_refused_and_expiry_zero_never_expires() {
    let s = sealer(Suite::Aes256Gcm);
    let env = seal(&s, KEY_A, b"x", EXPIRES);
    assert!(open_at(&s, KEY_A, env.clone(), EXPIRES - 1).is_ok());
    assert_eq!(
        kind(open_at(&s, KEY_A, env.clone(), EXPIRES)),
        RejectKind::Expired
    );
    assert_eq!(
        kind(open_at(&s, KEY_A, env, EXPIRES + 1)),
        RejectKind::Expired
    );
    let forever = seal(&s, KEY_A, b"x", 0);
    assert!(open_at(&s, KEY_A, forever, u64::MAX).is_ok());
}

#[test]
fn raising_the_expiry_in_the_header_is_refused() {
    let s = sealer(Suite::Aes256Gcm);
    let mut env = seal(&s, KEY_A, b"x", NOW - 10);
    env[7..15].copy_from_slice(&u64::MAX.to_be_bytes());
    assert_eq!(
        kind(open_at(&s, KEY_A, env, NOW)),
        RejectKind::Authentication
    );
}

#[test]
fn failed_authentication_releases_no_plaintext() {
    // The Opened type is only built after step 6; check that the error carries nothing but
    // the kind, and that its text is the same for every tampered value.
    let s = sealer(Suite::Aes256Gcm);
    let mut env = seal(&s, KEY_A, b"secret-data", EXPIRES);
    let last = env.len() - 1;
    env[last] ^= 1;
    let err = open_at(&s, KEY_A, env, NOW).unwrap_err();
    assert_eq!(
        err.to_string(),
        "stored session refused: authentication (opening step 6)"
    );
    assert!(!format!("{err:?}").contains("secret"));
}

// ---- frozen vectors -------------------------------------------------------------------

#[derive(Deserialize)]
struct Vector {
    name: String,
    suite: u8,
    codec: u8,
    key_id: u32,
    key: String,
    storage_key: String,
    expires_at: u64,
    salt: String,
    plaintext: String,
    envelope: String,
    valid: bool,
    reason: String,
}

#[derive(serde::Serialize, Deserialize, PartialEq, Debug)]
struct VectorSession {
    user_id: u64,
    name: String,
    admin: bool,
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn vectors() -> Vec<Vector> {
    serde_json::from_str(include_str!("../../tests/vectors/envelope-v1.json")).unwrap()
}

#[test]
fn vectors_cover_what_the_spec_requires() {
    let names: Vec<String> = vectors().into_iter().map(|v| v.name).collect();
    for required in [
        "valid_aes_bincode",
        "valid_chacha_bincode",
        "valid_aes_json",
        "valid_chacha_json",
        "valid_aes_postcard",
        "valid_chacha_postcard",
        "tag_bit_flipped",
        "header_bit_flipped",
        "swapped_storage_key",
        "suite_mismatch",
        "truncated_to_94",
        "unknown_version",
        "expired",
    ] {
        assert!(
            names.iter().any(|n| n == required),
            "missing vector {required}"
        );
    }
}

#[test]
fn every_vector_matches_the_implementation() {
    let vectors = vectors();
    assert!(vectors.len() >= 20);
    for v in vectors {
        let suite = Suite::from_byte(v.suite).unwrap();
        let key: [u8; 32] = unhex(&v.key).try_into().unwrap();
        let sealer = KeyringSealer::new(
            Keyring::single(v.key_id, suite, KeyMaterial::from_bytes(&mut key.clone())).unwrap(),
        );
        let envelope = unhex(&v.envelope);
        let storage_key = v.storage_key.as_bytes();
        let now = if v.reason == "expired" {
            v.expires_at
        } else if v.expires_at == 0 {
            NOW
        } else {
            v.expires_at - 1
        };
        let result = open_at(&sealer, storage_key, envelope.clone(), now);
        if v.valid {
            let opened = result.unwrap_or_else(|e| panic!("{}: {e}", v.name));
            assert_eq!(opened.plaintext(), unhex(&v.plaintext), "{}", v.name);
            assert_eq!(opened.codec.to_byte(), v.codec, "{}", v.name);
            assert_eq!(opened.expires_at, v.expires_at, "{}", v.name);
            let salt: [u8; 32] = unhex(&v.salt).try_into().unwrap();
            let ctx = SealContext::new(
                storage_key,
                CodecId::from_byte(v.codec).unwrap(),
                v.expires_at,
            );
            let resealed = sealer
                .seal_with_salt(&ctx, &unhex(&v.plaintext), &salt)
                .unwrap();
            assert_eq!(resealed, envelope, "{}: re-seal differs", v.name);
            check_plaintext_decodes(&v);
        } else {
            let got = kind(result);
            assert_eq!(got.as_str(), v.reason, "{}", v.name);
        }
    }
}

/// The valid vectors' plaintexts are real codec output of one session value.
fn check_plaintext_decodes(v: &Vector) {
    use crate::codec::{Codec, Json};
    let expected = VectorSession {
        user_id: 300,
        name: "alice".into(),
        admin: true,
    };
    let bytes = unhex(&v.plaintext);
    let codec: &dyn Codec<VectorSession> = match v.codec {
        #[cfg(feature = "bincode")]
        1 => &crate::codec::Bincode,
        2 => &Json,
        #[cfg(feature = "postcard")]
        3 => &crate::codec::Postcard,
        _ => return,
    };
    assert_eq!(codec.decode(&bytes).unwrap(), expected, "{}", v.name);
    let mut encoded = Vec::new();
    codec.encode(&expected, &mut encoded).unwrap();
    assert_eq!(encoded, bytes, "{}: codec output differs", v.name);
}
