//! The byte layout of envelope v1 (see `docs/FORMAT.md`).
//!
//! ```text
//! offset  len  field
//!      0    1  version      0x01
//!      1    1  suite        0x01 AES-256-GCM, 0x02 ChaCha20-Poly1305
//!      2    1  codec        0x01 bincode, 0x02 JSON, 0x03 postcard, 0x80..=0xFF user-defined
//!      3    4  key_id       u32 big-endian, never 0
//!      7    8  expires_at   u64 big-endian Unix seconds, 0 = no absolute lifetime
//!     15   32  salt         fresh per envelope
//!     47   32  commitment   HKDF output binding the derived key
//!     79    n  ciphertext
//!   79+n   16  tag
//! ```
//!
//! This module only reads and writes those fields. It knows nothing of keys: the header it
//! parses is *unauthenticated* until the sealer has opened the whole envelope, which is why
//! [`Header`] is only offered for inspection and statistics.

use crate::codec::CodecId;
use crate::crypto::Suite;
use crate::error::{RejectKind, Rejection};

/// The only version this crate reads or writes.
pub const VERSION: u8 = 0x01;
/// Length of the header: version, suite, codec, key id, expiry, salt.
pub const HEADER_LEN: usize = 47;
/// End of the commitment, where the ciphertext starts.
pub const CIPHERTEXT_OFFSET: usize = 79;
/// Length of the AEAD tag at the end.
pub const TAG_LEN: usize = 16;
/// Fixed overhead of an envelope over its plaintext: 79 + 16 = 95 bytes.
pub const OVERHEAD: usize = CIPHERTEXT_OFFSET + TAG_LEN;
/// Default maximum size of a stored envelope: 64 KiB.
pub const DEFAULT_MAX_ENVELOPE_LEN: usize = 64 * 1024;
/// Largest accepted maximum envelope size: 1 MiB. A session is not a file store.
pub const MAX_ENVELOPE_LEN_LIMIT: usize = 1024 * 1024;

pub(crate) const SALT_RANGE: std::ops::Range<usize> = 15..47;
pub(crate) const COMMITMENT_RANGE: std::ops::Range<usize> = 47..79;
const AAD_LABEL: &[u8] = b"sealed-session v1 aad";

/// The clear-text header fields of an envelope, read without any key.
///
/// Nothing here is authenticated until the envelope has been opened: use it to count
/// envelopes per key id or to inspect a stored value, never to decide what a session may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Header {
    /// The AEAD suite byte, decoded.
    pub suite: Suite,
    /// The codec byte.
    pub codec: CodecId,
    /// The key id (non-zero is not checked here; the keyring refuses 0 as unknown).
    pub key_id: u32,
    /// Absolute expiry in Unix seconds, 0 for none.
    pub expires_at: u64,
}

impl Header {
    /// Reads the header, applying opening steps 1 (minimum length only) and 2.
    pub fn parse(envelope: &[u8]) -> Result<Header, Rejection> {
        let fixed = envelope
            .get(..HEADER_LEN)
            .filter(|_| envelope.len() >= OVERHEAD)
            .ok_or(RejectKind::Length)?;
        let mut key_id = [0u8; 4];
        let mut expires_at = [0u8; 8];
        // The ranges are 4 and 8 bytes long, the lengths of the arrays they fill.
        key_id.copy_from_slice(fixed.get(3..7).ok_or(RejectKind::Length)?);
        expires_at.copy_from_slice(fixed.get(7..15).ok_or(RejectKind::Length)?);
        match fixed {
            [VERSION, suite, codec, ..] => Ok(Header {
                suite: Suite::from_byte(*suite).ok_or(RejectKind::Suite)?,
                codec: CodecId::from_byte(*codec).ok_or(RejectKind::Codec)?,
                key_id: u32::from_be_bytes(key_id),
                expires_at: u64::from_be_bytes(expires_at),
            }),
            _ => Err(RejectKind::Version.into()),
        }
    }

    /// The first 15 bytes: version, suite, codec, key id, expiry.
    pub(crate) fn fixed_bytes(&self) -> [u8; 15] {
        let mut out = [0u8; 15];
        let id = self.key_id.to_be_bytes();
        let exp = self.expires_at.to_be_bytes();
        let bytes = [VERSION, self.suite.to_byte(), self.codec.to_byte()]
            .into_iter()
            .chain(id)
            .chain(exp);
        for (dst, b) in out.iter_mut().zip(bytes) {
            *dst = b;
        }
        out
    }
}

/// Room for the associated data on the stack: label, 79 bytes, length and a storage key of
/// up to 152 bytes (a hashed key with the default prefix takes 69). Longer keys use the heap.
const AAD_INLINE: usize = 256;

/// The associated data of an envelope: label, the first 79 envelope bytes, then the storage
/// key with its length, so neither the header nor the key the value is stored under can
/// change.
pub(crate) struct AssociatedData {
    inline: [u8; AAD_INLINE],
    len: usize,
    heap: Vec<u8>,
}

impl AssociatedData {
    pub(crate) fn new(prefix79: &[u8], storage_key: &[u8]) -> Self {
        // A storage key longer than 4 GiB cannot be stored anywhere; saturating keeps this
        // total (and such a key could not be opened under its true length anyway).
        let key_len = u32::try_from(storage_key.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes();
        let parts: [&[u8]; 4] = [AAD_LABEL, prefix79, &key_len, storage_key];
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let mut aad = AssociatedData {
            inline: [0u8; AAD_INLINE],
            len: 0,
            heap: Vec::new(),
        };
        match aad.inline.get_mut(..total) {
            Some(dst) => {
                let mut at = 0;
                for part in parts {
                    if let Some(d) = dst.get_mut(at..at + part.len()) {
                        // `d` was taken as exactly part.len() bytes.
                        d.copy_from_slice(part);
                    }
                    at += part.len();
                }
                aad.len = total;
            }
            None => {
                aad.heap.reserve_exact(total);
                for part in parts {
                    aad.heap.extend_from_slice(part);
                }
            }
        }
        aad
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        if self.heap.is_empty() {
            self.inline.get(..self.len).unwrap_or_default()
        } else {
            &self.heap
        }
    }
}
