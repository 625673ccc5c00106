//! What the owner index needs from a backend: one index per owner, holding for each of the
//! owner's sessions its storage id, when the entry was added and the session's absolute
//! expiry (Unix seconds), and two single-key conditional operations on session values.

use crate::error::{BackendError, BackendErrorKind};

/// One entry of an owner index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    /// The session's storage id, as the store wrote it (anything of the storage-id alphabet,
    /// if someone planted it).
    pub id: String,
    /// When the entry was written, Unix seconds: a read that finds no session for a fresh
    /// entry cannot tell it from a create still in flight, and keeps it.
    pub added_at: u64,
    /// The session's absolute expiry, Unix seconds: the entry goes then.
    pub expires_at: u64,
}

/// Whether `id` is made of the characters a storage id can hold (lowercase hex of a hashed
/// id, or base64url): what a backend may store and hand back as an entry's id.
pub fn is_index_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The error of a backend that does not implement an owner-index method.
pub(crate) fn unsupported() -> BackendError {
    BackendError::from_kind(BackendErrorKind::Other)
        .with_detail("this backend does not implement the owner index")
}
