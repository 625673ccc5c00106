//! A session as the application holds it: its data and the absolute expiry the store keeps
//! with it. Whether it is new (never stored) decides how a save may write it.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A session's data and its absolute expiry.
///
/// A session made with [`Session::new`] is *new*: it has no expiry yet, its absolute
/// lifetime starts when it is first stored, and storing it never replaces an existing entry.
/// A session returned by [`Store::load`](super::Store::load) carries the expiry it was
/// created with; every save, touch and id change keeps it (or shortens it, if the store's
/// lifetime was shortened since), and saving it never recreates an entry that was destroyed
/// meanwhile.
/// A session stored without an expiry (by a store that had no absolute lifetime) gets one
/// when a store with a lifetime first loads it: `now + lifetime`, written back at once.
pub struct Session<T> {
    /// The application's session data.
    pub data: T,
    /// `None`: not yet stored; `Some(0)`: no absolute lifetime; `Some(t)`: Unix seconds.
    pub(super) expires_at: Option<u64>,
}

impl<T> Session<T> {
    /// A new session whose lifetime starts when it is first saved.
    pub fn new(data: T) -> Self {
        Session {
            data,
            expires_at: None,
        }
    }

    /// The absolute expiry, once the session has been stored under a store with an
    /// absolute lifetime.
    pub fn expires_at(&self) -> Option<SystemTime> {
        match self.expires_at {
            Some(secs) if secs != 0 => UNIX_EPOCH.checked_add(Duration::from_secs(secs)),
            _ => None,
        }
    }

    /// The data, dropping the expiry (a session built from it starts a new lifetime).
    pub fn into_data(self) -> T {
        self.data
    }
}

impl<T> fmt::Debug for Session<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Session {
            data: _,
            expires_at,
        } = self;
        f.debug_struct("Session")
            .field("data", &format_args!("[redacted]"))
            .field("expires_at", expires_at)
            .finish()
    }
}
