//! Session ids and the ids sessions are stored under.
//!
//! A [`SessionId`] is a bearer secret: 256 bits from the operating system's CSPRNG, written
//! as 43 characters of unpadded base64url. It is compared in constant time, zeroized on drop
//! and never printed by `Debug`.
//!
//! By default the store never writes a session id to the backend: the storage key is the
//! prefix followed by the lowercase hex SHA-256 of the id, so whoever can read the backend
//! learns no live id. Administrative listings therefore name sessions by [`StorageId`].

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use crate::error::Error;

mod owner;

pub use self::owner::{MAX_OWNER_LEN, Owner};

/// Length of a session id in characters.
pub const SESSION_ID_LEN: usize = 43;

/// A session id: 32 random bytes as unpadded base64url.
///
/// ```
/// use sealed_session::SessionId;
///
/// let id = SessionId::generate()?;
/// assert_eq!(id.as_str().len(), 43);
/// assert_eq!(format!("{id:?}"), "SessionId([redacted])");
/// let same: SessionId = id.as_str().parse()?;
/// assert_eq!(id, same);
/// assert!("not-a-session-id".parse::<SessionId>().is_err());
/// # Ok::<(), sealed_session::Error>(())
/// ```
#[derive(Clone)]
pub struct SessionId {
    text: [u8; SESSION_ID_LEN],
}

impl SessionId {
    /// A fresh id from the operating system's CSPRNG.
    pub fn generate() -> Result<SessionId, Error> {
        let mut raw = [0u8; 32];
        getrandom::fill(&mut raw).map_err(|_| Error::Rng)?;
        let mut text = [0u8; SESSION_ID_LEN];
        let written = URL_SAFE_NO_PAD.encode_slice(raw, &mut text);
        raw.zeroize();
        match written {
            Ok(SESSION_ID_LEN) => Ok(SessionId { text }),
            _ => Err(Error::Rng),
        }
    }

    /// Parses untrusted input strictly: exactly 43 characters of the base64url alphabet that
    /// decode to 32 bytes in canonical form. Anything else is [`Error::InvalidSessionId`].
    pub fn parse(input: &str) -> Result<SessionId, Error> {
        let bytes = input.as_bytes();
        let text: [u8; SESSION_ID_LEN] = bytes.try_into().map_err(|_| Error::InvalidSessionId)?;
        let mut raw = [0u8; 33];
        let decoded = URL_SAFE_NO_PAD.decode_slice(text, &mut raw);
        raw.zeroize();
        match decoded {
            Ok(32) => Ok(SessionId { text }),
            _ => Err(Error::InvalidSessionId),
        }
    }

    /// The id as sent in a cookie. This is the secret: keep it out of logs.
    pub fn as_str(&self) -> &str {
        // The text is always 43 ASCII characters of the base64url alphabet.
        std::str::from_utf8(&self.text).unwrap_or_default()
    }

    /// The storage id of this session in hashed mode: lowercase hex SHA-256 of the id.
    pub fn hashed(&self) -> StorageId {
        let mut text = String::with_capacity(64);
        self.push_hashed(&mut text);
        StorageId { text, hashed: true }
    }

    /// Appends the hashed storage id to `out` (a storage key in one allocation).
    pub(crate) fn push_hashed(&self, out: &mut String) {
        push_hex_lower(out, &Sha256::digest(self.text));
    }
}

impl PartialEq for SessionId {
    fn eq(&self, other: &Self) -> bool {
        self.text.ct_eq(&other.text).into()
    }
}

impl Eq for SessionId {}

impl FromStr for SessionId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SessionId::parse(s)
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionId([redacted])")
    }
}

impl Drop for SessionId {
    fn drop(&mut self) {
        self.text.zeroize();
    }
}

/// The part of a storage key after the prefix: the hex SHA-256 of the session id in hashed
/// mode (not a secret), the session id itself in plain mode (a secret, so then `Debug`
/// redacts it).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StorageId {
    text: String,
    hashed: bool,
}

impl StorageId {
    /// The hashed storage id of a session id generated elsewhere (a framework's own ids):
    /// lowercase hex SHA-256 of its text, exactly as for [`SessionId::hashed`].
    #[cfg_attr(
        not(any(feature = "tower-sessions", feature = "actix-session")),
        allow(dead_code)
    )]
    pub(crate) fn hash_of(external: &str) -> Self {
        StorageId {
            text: hex_lower(&Sha256::digest(external.as_bytes())),
            hashed: true,
        }
    }

    /// A hashed storage id from text (a form field, a command-line argument): exactly 64
    /// lowercase hex digits, as [`StorageId::as_str`] gives them; `None` otherwise.
    ///
    /// ```
    /// use sealed_session::{SessionId, StorageId};
    ///
    /// let id = SessionId::generate()?.hashed();
    /// assert_eq!(StorageId::from_hex(id.as_str()), Some(id));
    /// assert_eq!(StorageId::from_hex("ABC"), None);
    /// # Ok::<(), sealed_session::Error>(())
    /// ```
    pub fn from_hex(text: &str) -> Option<StorageId> {
        let valid =
            text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        valid.then(|| StorageId {
            text: text.to_owned(),
            hashed: true,
        })
    }

    pub(crate) fn from_stored(text: &str, hashed: bool) -> Self {
        StorageId {
            text: text.to_owned(),
            hashed,
        }
    }

    /// The text stored after the prefix.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Debug for StorageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.hashed {
            write!(f, "StorageId({})", self.text)
        } else {
            f.write_str("StorageId([redacted])")
        }
    }
}

impl Drop for StorageId {
    fn drop(&mut self) {
        if !self.hashed {
            self.text.zeroize();
        }
    }
}

/// What separates an owner index's name from session keys under a store's prefix.
pub(crate) const INDEX_INFIX: &str = "owner.";

/// Whether the part of a key after the prefix names an owner index: `owner.` and 64
/// lowercase hex digits.
pub(crate) fn is_index_name(rest: &str) -> bool {
    rest.strip_prefix(INDEX_INFIX).is_some_and(|tag| {
        tag.len() == 64 && tag.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().saturating_mul(2));
    push_hex_lower(&mut out, bytes);
    out
}

/// Appends the lowercase hex digits of `bytes` to `out`.
fn push_hex_lower(out: &mut String, bytes: &[u8]) {
    // A nibble is below 16: '0'..='9' or 'a'..='f', never past a byte.
    let digit = |n: u8| char::from(if n < 10 { b'0' + n } else { b'a' + (n - 10) });
    for b in bytes {
        out.push(digit(b >> 4));
        out.push(digit(b & 0x0f));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The hashed storage id is lowercase hex SHA-256 of the id's text (the expected value
    /// is Python's `hashlib.sha256(b"AAEC…Hh8").hexdigest()`).
    #[test]
    fn a_hashed_storage_id_is_lowercase_hex_sha256_of_the_id_text() {
        let id = SessionId::parse("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8").unwrap();
        let expected = "ea866a757e4c38babfa8127cbe9a409d3e1f93a00ff1488ff735fcf917afffd0";
        assert_eq!(id.hashed().as_str(), expected);
        let mut key = String::from("sess:");
        id.push_hashed(&mut key);
        assert_eq!(key, format!("sess:{expected}"));
        assert_eq!(hex_lower(&[0x00, 0x09, 0x0a, 0xf0, 0xff]), "00090af0ff");
    }
}
