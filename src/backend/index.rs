//! What the owner index needs from a backend: a sorted set per owner, whose members are
//! storage ids scored by the session's absolute expiry (Unix seconds), and two single-key
//! conditional operations on session values.

use std::fmt;

use crate::error::{BackendError, BackendErrorKind};

/// One member of an owner index. `Debug` prints the expiry only (in plain-id mode a member
/// is a session id).
#[derive(Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// The member: a storage id, as the store wrote it (anything, if someone planted it).
    pub member: String,
    /// Its score: the absolute expiry of the session, Unix seconds.
    pub expires_at: u64,
}

impl fmt::Debug for IndexEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IndexEntry")
            .field("member", &format_args!("[{} bytes]", self.member.len()))
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// The error of a backend that does not implement an owner-index method.
pub(crate) fn unsupported() -> BackendError {
    BackendError::from_kind(BackendErrorKind::Other)
        .with_detail("this backend does not implement the owner index")
}
