//! Keys and the cryptography of one envelope.
//!
//! # Nonce policy
//! Every envelope gets a fresh 32-byte random salt, and its AEAD key is derived from the root
//! key and that salt with HKDF-SHA256. Each derived key encrypts exactly one message, so the
//! nonce is the constant all-zero value: a nonce can never repeat under one key, and the
//! 2^32-messages limit of random 96-bit nonces under a long-lived AES-GCM key never applies.
//!
//! # Key commitment
//! AES-GCM and ChaCha20-Poly1305 are not key-committing: one ciphertext can be made to open
//! under several keys. HKDF also yields a 32-byte commitment from the same extraction; the
//! opener compares it in constant time before trying the AEAD, so an envelope opens under
//! at most one key.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{AeadInOut, KeyInit, Nonce, Tag};
use chacha20poly1305::ChaCha20Poly1305;
use zeroize::Zeroizing;

mod handle;
mod hkdf;
mod index;
pub(crate) mod keyring;
mod material;

pub use handle::KeyringHandle;
pub use index::IndexKeys;
#[cfg(any(feature = "tower-sessions", feature = "actix-session"))]
pub(crate) use index::hmac_sha256;
pub use keyring::{KeyInfo, KeyState, Keyring, KeyringBuilder};
pub use material::{Argon2Params, KeyMaterial};

use std::fmt;

use crate::error::ConfigError;

/// The AEAD suite of a key, recorded in byte 1 of every envelope it seals.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Suite {
    /// AES-256-GCM (suite byte `0x01`). Fastest where the CPU has AES instructions.
    Aes256Gcm,
    /// ChaCha20-Poly1305 (suite byte `0x02`). Constant-time in software everywhere.
    ChaCha20Poly1305,
}

impl Suite {
    /// The suite for an envelope byte; `None` if unknown.
    pub const fn from_byte(byte: u8) -> Option<Suite> {
        match byte {
            0x01 => Some(Suite::Aes256Gcm),
            0x02 => Some(Suite::ChaCha20Poly1305),
            _ => None,
        }
    }

    /// The envelope byte of this suite.
    pub const fn to_byte(self) -> u8 {
        match self {
            Suite::Aes256Gcm => 0x01,
            Suite::ChaCha20Poly1305 => 0x02,
        }
    }

    /// The configuration name: `aes-256-gcm` or `chacha20-poly1305`.
    pub const fn name(self) -> &'static str {
        match self {
            Suite::Aes256Gcm => "aes-256-gcm",
            Suite::ChaCha20Poly1305 => "chacha20-poly1305",
        }
    }
}

impl fmt::Display for Suite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Suite {
    type Err = ConfigError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "aes-256-gcm" => Ok(Suite::Aes256Gcm),
            "chacha20-poly1305" => Ok(Suite::ChaCha20Poly1305),
            _ => Err(ConfigError::UnknownSuite),
        }
    }
}

/// A byte buffer that is overwritten with zeros when dropped, best effort (see [`wipe`]).
///
/// Used for session plaintext on the save and load paths, where `zeroize`'s volatile byte
/// stores would cost about 0.2 µs per KiB on every save and every load. Key material and
/// key-derived state use `zeroize`.
pub(crate) struct WipeOnDrop(pub(crate) Vec<u8>);

impl Drop for WipeOnDrop {
    fn drop(&mut self) {
        wipe(&mut self.0);
    }
}

/// Overwrites `buf` with zeros, best effort: one `fill`, then `std::hint::black_box`, which
/// in practice keeps the optimiser from dropping the fill as a dead store, but which Rust
/// documents as a hint that guarantees nothing. Used on the hot path for the session
/// plaintext (which the decoded session value, never wiped, holds anyway) and for values
/// derived for a single envelope; key material, copies of it and Argon2id memory are
/// wiped with `zeroize`.
pub(crate) fn wipe(buf: &mut [u8]) {
    buf.fill(0);
    std::hint::black_box(&*buf);
}

const ENC_LABEL: &[u8] = b"sealed-session v1 enc";
const COMMIT_LABEL: &[u8] = b"sealed-session v1 commit";

/// The per-envelope secrets derived from a root key and a salt.
pub(crate) struct EnvelopeKeys {
    pub(crate) enc_key: Zeroizing<[u8; 32]>,
    pub(crate) commitment: [u8; 32],
}

/// HKDF-SHA256: one extraction with the salt, then two expansions whose info binds the
/// suite and the key id, so a key can't be reused under another suite or id.
///
/// `None` only if the fixed input sizes were exceeded, which the types rule out.
pub(crate) fn derive_envelope_keys(
    root: &KeyMaterial,
    salt: &[u8; 32],
    suite: Suite,
    key_id: u32,
) -> Option<EnvelopeKeys> {
    let prk = hkdf::extract(salt, root.expose_secret())?;
    let suite_byte = [suite.to_byte()];
    let id_bytes = key_id.to_be_bytes();
    let enc_key = Zeroizing::new(prk.expand32(&[ENC_LABEL, &suite_byte, &id_bytes])?);
    let commitment = prk.expand32(&[COMMIT_LABEL, &suite_byte, &id_bytes])?;
    Some(EnvelopeKeys {
        enc_key,
        commitment,
    })
}

/// Encrypts `buf` in place with the one-message key and returns the 16-byte tag.
pub(crate) fn aead_seal(
    suite: Suite,
    enc_key: &[u8; 32],
    aad: &[u8],
    buf: &mut [u8],
) -> Option<[u8; 16]> {
    match suite {
        Suite::Aes256Gcm => seal_with::<Aes256Gcm>(enc_key, aad, buf),
        Suite::ChaCha20Poly1305 => seal_with::<ChaCha20Poly1305>(enc_key, aad, buf),
    }
}

/// Authenticates and decrypts `buf` in place. On failure `buf` holds no plaintext: the
/// caller zeroes it anyway.
pub(crate) fn aead_open(
    suite: Suite,
    enc_key: &[u8; 32],
    aad: &[u8],
    buf: &mut [u8],
    tag: &[u8; 16],
) -> bool {
    match suite {
        Suite::Aes256Gcm => open_with::<Aes256Gcm>(enc_key, aad, buf, tag),
        Suite::ChaCha20Poly1305 => open_with::<ChaCha20Poly1305>(enc_key, aad, buf, tag),
    }
}

fn seal_with<A: AeadInOut + KeyInit>(
    key: &[u8; 32],
    aad: &[u8],
    buf: &mut [u8],
) -> Option<[u8; 16]> {
    let cipher = A::new_from_slice(key).ok()?;
    let nonce = Nonce::<A>::default();
    let tag = cipher
        .encrypt_inout_detached(&nonce, aad, buf.into())
        .ok()?;
    <[u8; 16]>::try_from(tag.as_slice()).ok()
}

fn open_with<A: AeadInOut + KeyInit>(
    key: &[u8; 32],
    aad: &[u8],
    buf: &mut [u8],
    tag: &[u8; 16],
) -> bool {
    let Ok(cipher) = A::new_from_slice(key) else {
        return false;
    };
    let Ok(tag) = Tag::<A>::try_from(&tag[..]) else {
        return false;
    };
    let nonce = Nonce::<A>::default();
    cipher
        .decrypt_inout_detached(&nonce, aad, buf.into(), &tag)
        .is_ok()
}
