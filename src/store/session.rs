//! A session as the application holds it: its data and the absolute expiry the store keeps
//! with it. Whether it is new (never stored) decides how a save may write it.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::Origin;
use super::record::{Record, bounded_label};
use crate::id::Owner;

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
///
/// A session can belong to an owner (the application's user id): see
/// [`Session::bind_owner`] and the store's owner operations ([`Store::sessions_of`],
/// [`Store::revoke_all`](super::Store::revoke_all)). The owner, the time it was bound, the
/// time of the last save and a device label are sealed with the data.
///
/// [`Store::sessions_of`]: super::Store::sessions_of
pub struct Session<T> {
    /// The application's session data.
    pub data: T,
    /// `None`: not yet stored; `Some(0)`: no absolute lifetime; `Some(t)`: Unix seconds.
    pub(super) expires_at: Option<u64>,
    /// The owner and metadata to write.
    pub(super) record: Record,
    /// The owner the stored envelope names, as loaded or last written.
    pub(super) stored_owner: Option<Owner>,
    /// Which stored envelope the session was loaded from or last written as (`None` for a
    /// new session): what an optimistic save compares.
    pub(super) origin: Option<Origin>,
}

impl<T> Session<T> {
    /// A new session whose lifetime starts when it is first saved.
    pub fn new(data: T) -> Self {
        Session {
            data,
            expires_at: None,
            record: Record::default(),
            stored_owner: None,
            origin: None,
        }
    }

    /// Binds the session to `owner` (at log-in, before [`Store::cycle_id`] or the first
    /// save). The store adds the session to the owner's index before it writes the session.
    /// Binding a different owner restarts [`Session::created_at`].
    ///
    /// [`Store::cycle_id`]: super::Store::cycle_id
    pub fn bind_owner(&mut self, owner: Owner) {
        if self.record.owner.as_ref() != Some(&owner) {
            self.record.created_at = 0;
        }
        self.record.owner = Some(owner);
    }

    /// Unbinds the session from its owner (at log-out, for an application that keeps an
    /// anonymous session); once saved, it is no longer listed nor revoked as the owner's.
    /// (Its index entry stays until the session's expiry: a save racing the log-out may bind
    /// it again, and must find it indexed.)
    pub fn unbind_owner(&mut self) {
        self.record.owner = None;
        self.record.created_at = 0;
    }

    /// The owner, if the session is bound to one.
    pub fn owner(&self) -> Option<&Owner> {
        self.record.owner.as_ref()
    }

    /// Sets a device label for the owner's session list, such as a summary of the
    /// user agent: at most 256 bytes are kept (cut at a character boundary). Sealed with
    /// the session; written only for a session with an owner.
    pub fn set_label(&mut self, label: &str) {
        self.record.label = (!label.is_empty()).then(|| bounded_label(label));
    }

    /// The device label, if one was set.
    pub fn label(&self) -> Option<&str> {
        self.record.label.as_deref()
    }

    /// When the session was first stored with its current owner.
    pub fn created_at(&self) -> Option<SystemTime> {
        secs(self.record.created_at)
    }

    /// When the session was last written (a touch does not count).
    pub fn last_seen(&self) -> Option<SystemTime> {
        secs(self.record.last_seen)
    }

    /// The absolute expiry, once the session has been stored under a store with an
    /// absolute lifetime.
    pub fn expires_at(&self) -> Option<SystemTime> {
        secs(self.expires_at.unwrap_or(0))
    }

    /// The data, dropping the expiry (a session built from it starts a new lifetime).
    pub fn into_data(self) -> T {
        self.data
    }

    /// Which stored envelope the session came from, for adapters.
    #[cfg_attr(
        not(any(feature = "tower-sessions", feature = "actix-session")),
        allow(dead_code)
    )]
    pub(crate) fn origin(&self) -> Option<&Origin> {
        self.origin.as_ref()
    }
}

/// Unix seconds as a time; `None` for 0.
pub(super) fn secs(at: u64) -> Option<SystemTime> {
    match at {
        0 => None,
        at => UNIX_EPOCH.checked_add(Duration::from_secs(at)),
    }
}

impl<T> fmt::Debug for Session<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Session {
            data: _,
            expires_at,
            record,
            stored_owner: _,
            origin: _,
        } = self;
        f.debug_struct("Session")
            .field("data", &format_args!("[redacted]"))
            .field("expires_at", expires_at)
            .field("owner", &record.owner)
            .field("created_at", &record.created_at)
            .field("last_seen", &record.last_seen)
            .field("label", &record.label.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}
