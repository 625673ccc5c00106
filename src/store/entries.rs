//! Sealed values that are not sessions of the store's type: what a migration keeps under
//! its own keys (a legacy session imported ahead of its first request, a pointer from a
//! legacy id to the session it became). Sealed with the store's sealer and bound to their
//! key like every envelope. `sealed-session rewrap` (`rotation::rewrap`, which re-seals
//! every envelope under the prefix) re-seals them with the sessions; `Store::rewrap` visits
//! sessions only. An entry that no longer opens is treated as absent by the migration.

use std::time::Duration;

use super::session::Session;
use super::{Error, Origin, Store, WriteMode};
use crate::backend::Backend;
use crate::codec::CodecId;
use crate::sealer::{Opened, SealContext};

impl<T, B> Store<T, B>
where
    T: Send + Sync + 'static,
    B: Backend,
{
    /// The key prefix.
    pub(crate) fn prefix(&self) -> &str {
        &self.inner.settings.prefix
    }

    /// Now, in Unix seconds, by the store's clock.
    pub(crate) fn now_secs(&self) -> u64 {
        self.inner.settings.clock.now_secs()
    }

    /// The TTL of an entry that lasts until `expires_at` (0: no absolute expiry), capped by
    /// `cap`. `None` (no TTL at all) only when there is neither: callers give every entry
    /// one or the other. [`Error::SessionExpired`] when `expires_at` has passed.
    pub(crate) fn entry_ttl(
        &self,
        expires_at: u64,
        cap: Option<Duration>,
    ) -> Result<Option<Duration>, Error> {
        let now = self.now_secs();
        let remaining = match expires_at {
            0 => None,
            at if at > now => Some(Duration::from_secs(at - now)),
            _ => return Err(Error::SessionExpired),
        };
        let ttl = match (cap, remaining) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Ok(ttl.map(|d| Duration::from_secs(d.as_secs().max(1))))
    }

    /// Seals `plaintext` (JSON) under `key` with absolute expiry `expires_at`; returns the
    /// value and its identity (what an optimistic write of it compares).
    pub(crate) fn seal_entry(
        &self,
        key: &str,
        expires_at: u64,
        plaintext: &[u8],
    ) -> Result<(Vec<u8>, Origin), Error> {
        let ctx = SealContext::new(key.as_bytes(), CodecId::JSON, expires_at);
        let value = self.inner.sealer.seal(&ctx, plaintext)?;
        let max = self.inner.settings.max_envelope_len;
        if value.len() > max {
            return Err(Error::TooLarge {
                len: value.len(),
                max,
            });
        }
        let origin = self.origin_of(&value);
        Ok((value, origin))
    }

    /// Opens an entry read from under `key` (the opening steps of every envelope, expiry
    /// included).
    pub(crate) fn open_entry(&self, key: &str, value: Vec<u8>) -> Result<Opened, Error> {
        self.open_envelope(key, value, self.now_secs())
    }

    /// The identity of a stored value, as an optimistic write of it compares.
    pub(crate) fn identity_of(&self, value: &[u8]) -> Origin {
        self.origin_of(value)
    }

    /// Loads the session under an exact key.
    pub(crate) async fn load_at(&self, key: &str) -> Result<Option<Session<T>>, Error> {
        self.load_key(key).await
    }

    /// Stores `data` as a new session under `key`, which must be unused, expiring at
    /// `expires_at` (capped by the store's lifetime; `None`: the lifetime from now).
    /// [`Error::AlreadyExists`] when the key is taken.
    pub(crate) async fn create_at(
        &self,
        key: &str,
        data: T,
        expires_at: Option<u64>,
    ) -> Result<Session<T>, Error> {
        self.write_at(key, data, expires_at, WriteMode::CreateOnly)
            .await?
            .ok_or(Error::AlreadyExists)
    }

    /// Replaces the session under `key` with `data`, expiring at `expires_at` as
    /// [`Store::create_at`] does; `None` when there is no session under `key` any more.
    pub(crate) async fn replace_at(
        &self,
        key: &str,
        data: T,
        expires_at: Option<u64>,
    ) -> Result<Option<Session<T>>, Error> {
        self.write_at(key, data, expires_at, WriteMode::UpdateOnly)
            .await
    }

    async fn write_at(
        &self,
        key: &str,
        data: T,
        expires_at: Option<u64>,
        mode: WriteMode,
    ) -> Result<Option<Session<T>>, Error> {
        let Some(written) = self
            .write_data(key, &data, expires_at, mode, None, None)
            .await?
        else {
            return Ok(None);
        };
        let mut session = Session::new(data);
        session.expires_at = Some(written.expires_at);
        session.origin = Some(written.origin);
        Ok(Some(session))
    }
}

impl<T> Session<T> {
    /// The absolute expiry as stored (0: none), for a session that was stored.
    pub(crate) fn expires_at_secs(&self) -> u64 {
        self.expires_at.unwrap_or(0)
    }
}
