//! The store: the one place where codec, sealer and backend meet.
//!
//! Every operation follows the same path. Saving: encode with the write codec, check the
//! size, seal under the storage key with the session's absolute expiry, write with a TTL
//! that never outlives that expiry. Loading: read, check the size, open (which checks key,
//! commitment, tag, storage key and expiry), decode with the codec the envelope names.

use std::collections::{BTreeSet, HashSet};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::backend::{Backend, Fetched, ScanCursor, SetMode};
use crate::clock::{Clock, SystemClock};
use crate::codec::{Bincode, Codec, CodecId};
use crate::crypto::{Keyring, WipeOnDrop};
use crate::envelope::Header;
use crate::error::{ConfigError, Error, RejectKind, Rejection};
use crate::id::{SessionId, StorageId};
use crate::rotation::{self, KeyringHandle, RewrapOptions, RewrapReport};
use crate::sealer::{KeyringSealer, OpenContext, Opened, SaltSource, SealContext, Sealer};

/// Default key prefix, as in connect-redis.
pub const DEFAULT_PREFIX: &str = "sess:";
/// Default idle TTL: one day.
pub const DEFAULT_IDLE_TTL: Duration = Duration::from_secs(86_400);
/// Default absolute lifetime: seven days from creation, whatever the activity.
pub const DEFAULT_ABSOLUTE_LIFETIME: Duration = Duration::from_secs(7 * 86_400);
/// Default maximum size of a stored envelope: 64 KiB.
pub const DEFAULT_MAX_ENVELOPE_LEN: usize = 64 * 1024;
/// Default number of keys asked for per scan page.
pub const DEFAULT_SCAN_COUNT: usize = 100;
/// Largest accepted `max_envelope_len`: 1 MiB. A session is not a file store.
pub const MAX_ENVELOPE_LEN_LIMIT: usize = 1024 * 1024;
/// Longest accepted idle TTL or absolute lifetime: ten years.
pub const MAX_LIFETIME: Duration = Duration::from_secs(10 * 365 * 86_400);

/// Counts of lazy re-seals (see [`StoreBuilder::lazy_reseal`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResealStats {
    /// Sessions written back under the primary key.
    pub resealed: u64,
    /// Write-backs skipped because the stored value had changed since it was read (a save
    /// or another re-seal won): harmless.
    pub raced: u64,
    /// Write-backs that failed (backend error, or the sealer refused).
    pub failed: u64,
}

#[derive(Default)]
struct ResealCounters {
    resealed: AtomicU64,
    raced: AtomicU64,
    failed: AtomicU64,
}

/// How a session id becomes a storage key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StorageKeys {
    /// `prefix + lowercase hex(SHA-256(id))`: the backend never holds a live session id.
    /// The default.
    Hashed,
    /// `prefix + id`, the layout of connect-redis. Anyone who can list the backend's keys
    /// can then impersonate every user; choose it only for compatibility.
    PlainIds,
}

/// A session's data and its absolute expiry.
///
/// A session made with [`Session::new`] is *new*: it has no expiry yet, its absolute
/// lifetime starts when it is first stored, and storing it never replaces an existing entry.
/// A session returned by [`Store::load`] carries the expiry it was created with; every
/// save, touch and id change keeps it (or shortens it, if the store's lifetime was
/// shortened since), and saving it never recreates an entry that was destroyed meanwhile.
/// A session stored without an expiry (by a store that had no absolute lifetime) gets one
/// when a store with a lifetime first loads it: `now + lifetime`, written back at once.
pub struct Session<T> {
    /// The application's session data.
    pub data: T,
    /// `None`: not yet stored; `Some(0)`: no absolute lifetime; `Some(t)`: Unix seconds.
    expires_at: Option<u64>,
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

/// How long an entry lives in the backend after a save or touch.
enum IdleTtl<T> {
    Fixed(Duration),
    FromSession(Box<dyn Fn(&T) -> Duration + Send + Sync>),
    Disabled,
}

impl<T> fmt::Debug for IdleTtl<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdleTtl::Fixed(d) => write!(f, "Fixed({}s)", d.as_secs()),
            IdleTtl::FromSession(_) => f.write_str("FromSession"),
            IdleTtl::Disabled => f.write_str("Disabled"),
        }
    }
}

/// A session store for session data of type `T` on backend `B`.
///
/// Cheap to clone: clones share the same configuration and backend.
pub struct Store<T, B> {
    inner: Arc<Inner<T, B>>,
}

struct Inner<T, B> {
    backend: B,
    sealer: Box<dyn Sealer>,
    codec: Arc<dyn Codec<T>>,
    readers: Vec<Arc<dyn Codec<T>>>,
    clock: Arc<dyn Clock>,
    prefix: String,
    storage_keys: StorageKeys,
    idle_ttl: IdleTtl<T>,
    absolute_lifetime: Option<Duration>,
    touch: bool,
    max_envelope_len: usize,
    scan_count: usize,
    lazy_reseal: bool,
    reseals: ResealCounters,
    keyring: Option<KeyringHandle>,
    /// Largest plaintext encoded so far, to size the next encoding buffer.
    plaintext_hint: AtomicUsize,
}

impl<T, B> Clone for Store<T, B> {
    fn clone(&self) -> Self {
        Store {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T, B> Store<T, B>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
    B: Backend,
{
    /// Starts a store on `backend`, writing with bincode. Give it a keyring (or a sealer),
    /// then [`StoreBuilder::build`].
    pub fn builder(backend: B) -> StoreBuilder<T, B> {
        StoreBuilder::with_codec(backend, Bincode)
    }
}

impl<T, B> Store<T, B>
where
    T: Send + Sync + 'static,
    B: Backend,
{
    /// The backend, for operations the store does not offer.
    pub fn backend(&self) -> &B {
        &self.inner.backend
    }

    /// How session ids become storage keys in this store.
    pub fn storage_keys(&self) -> StorageKeys {
        self.inner.storage_keys
    }

    /// The absolute lifetime of new sessions, if the store has one.
    pub fn absolute_lifetime(&self) -> Option<Duration> {
        self.inner.absolute_lifetime
    }

    /// The storage key of a session id: the exact key its value is stored under.
    pub fn storage_key(&self, id: &SessionId) -> String {
        let inner = &self.inner;
        match inner.storage_keys {
            StorageKeys::Hashed => {
                // prefix + 64 hex digits, built in place: one allocation per key.
                let mut key = String::with_capacity(inner.prefix.len().saturating_add(64));
                key.push_str(&inner.prefix);
                id.push_hashed(&mut key);
                key
            }
            StorageKeys::PlainIds => format!("{}{}", inner.prefix, id.as_str()),
        }
    }

    /// The storage id of a session id: what [`Store::ids`] lists for it.
    pub fn storage_id(&self, id: &SessionId) -> StorageId {
        match self.inner.storage_keys {
            StorageKeys::Hashed => id.hashed(),
            StorageKeys::PlainIds => StorageId::from_stored(id.as_str(), false),
        }
    }

    /// The codec new sessions are written with.
    pub fn write_codec(&self) -> CodecId {
        self.inner.codec.id()
    }

    pub(crate) fn key_of(&self, id: &StorageId) -> String {
        format!("{}{}", self.inner.prefix, id.as_str())
    }

    /// Loads a session. `Ok(None)` when there is none; [`Error::Rejected`] when the stored
    /// value was refused, which the web layer must treat as "no session" too.
    pub async fn load(&self, id: &SessionId) -> Result<Option<Session<T>>, Error> {
        self.load_key(&self.storage_key(id)).await
    }

    /// Saves a session.
    ///
    /// A loaded session replaces its entry, keeping its absolute expiry; if the entry was
    /// destroyed or expired since the load, nothing is written and the result is
    /// [`Error::SessionGone`] (a request that raced a log-out cannot bring the session back).
    /// A new session ([`Session::new`]) is created as by [`Store::create`]. The session
    /// records the expiry it was stored with, which is why it is `&mut`.
    pub async fn save(&self, id: &SessionId, session: &mut Session<T>) -> Result<(), Error> {
        let mode = match session.expires_at {
            None => SetMode::CreateOnly,
            Some(_) => SetMode::UpdateOnly,
        };
        self.write_checked(&self.storage_key(id), session, mode)
            .await
    }

    /// Stores a session under an id that must be unused, refusing with
    /// [`Error::AlreadyExists`] otherwise.
    pub async fn create(&self, id: &SessionId, session: &mut Session<T>) -> Result<(), Error> {
        self.write_checked(&self.storage_key(id), session, SetMode::CreateOnly)
            .await
    }

    async fn write_checked(
        &self,
        key: &str,
        session: &mut Session<T>,
        mode: SetMode,
    ) -> Result<(), Error> {
        match (self.write(key, session, mode).await?, mode) {
            (true, _) => Ok(()),
            (false, SetMode::UpdateOnly) => Err(Error::SessionGone),
            (false, _) => Err(Error::AlreadyExists),
        }
    }

    /// Removes a session; returns whether it existed.
    pub async fn destroy(&self, id: &SessionId) -> Result<bool, Error> {
        Ok(self.inner.backend.delete(&self.storage_key(id)).await?)
    }

    /// Resets the entry's TTL without rewriting it (connect-redis's `touch`), never past
    /// the session's absolute expiry. [`Error::SessionGone`] if the entry no longer exists.
    /// Does nothing when touching is disabled, when the store keeps no TTL, or for a new
    /// session that was never stored.
    pub async fn touch(&self, id: &SessionId, session: &Session<T>) -> Result<(), Error> {
        let Some(stored) = session.expires_at else {
            return Ok(());
        };
        if !self.inner.touch {
            return Ok(());
        }
        let now = self.inner.clock.now_secs();
        let expires_at = self.effective_expiry(Some(stored), now);
        if let Some(ttl) = self.ttl_for(&session.data, expires_at, now, None)?
            && !self
                .inner
                .backend
                .expire(&self.storage_key(id), ttl)
                .await?
        {
            return Err(Error::SessionGone);
        }
        Ok(())
    }

    /// Moves a session to a fresh id and removes the old entry: call it whenever the
    /// privilege level changes (log-in), against session fixation.
    ///
    /// The new entry keeps `session`'s absolute expiry; pass `Session::new(data)` instead to
    /// start a new lifetime. The old entry must still exist: if it was destroyed meanwhile
    /// (a log-out in another tab, an administrator revoking it) the new entry is removed
    /// again and the result is [`Error::SessionGone`]. If removing the old entry fails, the
    /// new one is removed again (best effort) and the error returned, so the old id stays
    /// the valid one. (A timeout is ambiguous: the old entry may in fact be gone, and then
    /// the user must log in again; if the clean-up fails too, the unused new entry expires.)
    pub async fn cycle_id(
        &self,
        old: &SessionId,
        session: &mut Session<T>,
    ) -> Result<SessionId, Error> {
        let new = SessionId::generate()?;
        let new_key = self.storage_key(&new);
        let original = session.expires_at;
        let restore = |session: &mut Session<T>, e: Error| {
            session.expires_at = original;
            Err(e)
        };
        match self.write(&new_key, session, SetMode::CreateOnly).await {
            Ok(true) => {}
            Ok(false) => return restore(session, Error::AlreadyExists),
            Err(e) => return restore(session, e),
        }
        let removed = self.inner.backend.delete(&self.storage_key(old)).await;
        if !matches!(removed, Ok(true)) {
            let _ = self.inner.backend.delete(&new_key).await;
        }
        match removed {
            Ok(true) => Ok(new),
            Ok(false) => restore(session, Error::SessionGone),
            Err(e) => restore(session, e.into()),
        }
    }

    fn is_storage_id(&self, rest: &str) -> bool {
        match self.inner.storage_keys {
            StorageKeys::Hashed => {
                rest.len() == 64 && rest.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            }
            StorageKeys::PlainIds => SessionId::parse(rest).is_ok(),
        }
    }

    /// Every storage id under the prefix, each once: keys of the form this store writes
    /// (prefix + 64 lowercase hex digits, or prefix + a session id in plain mode). Holds
    /// every id in memory: use [`Store::len`] or [`Store::is_empty`] to count.
    pub async fn ids(&self) -> Result<Vec<StorageId>, Error> {
        let mut seen = BTreeSet::new();
        let mut cursor = ScanCursor::start();
        loop {
            let (page, next) = self.scan_page(cursor).await?;
            seen.extend(page);
            match next {
                Some(c) => cursor = c,
                None => break,
            }
        }
        Ok(seen.into_iter().collect())
    }

    /// Number of entries under the prefix, counted a scan page at a time: memory holds the
    /// ids of the last two pages only, whatever the number of sessions. Like the listing it
    /// rests on, the count is of a moving set: entries created or removed while it runs may
    /// or may not be counted, and a key the backend lists again after more than a page (Redis
    /// can, when it resizes its table during the scan) is counted again.
    pub async fn len(&self) -> Result<usize, Error> {
        let mut count = 0usize;
        let mut recent: [HashSet<StorageId>; 2] = Default::default();
        let mut cursor = ScanCursor::start();
        loop {
            let (page, next) = self.scan_page(cursor).await?;
            let fresh: HashSet<StorageId> = page
                .into_iter()
                .filter(|id| !recent.iter().any(|r| r.contains(id)))
                .collect();
            count = count.saturating_add(fresh.len());
            recent = [std::mem::take(&mut recent[1]), fresh];
            match next {
                Some(c) => cursor = c,
                None => return Ok(count),
            }
        }
    }

    /// True when no entry is under the prefix. Stops at the first entry found.
    pub async fn is_empty(&self) -> Result<bool, Error> {
        let mut cursor = ScanCursor::start();
        loop {
            let (page, next) = self.scan_page(cursor).await?;
            if !page.is_empty() {
                return Ok(false);
            }
            match next {
                Some(c) => cursor = c,
                None => return Ok(true),
            }
        }
    }

    /// Every session under the prefix, each with the result of opening it: one corrupt or
    /// retired entry does not hide the others. A backend error aborts the listing. Reads go
    /// out a scan page at a time (pipelined where the backend can).
    #[allow(clippy::type_complexity)]
    pub async fn all(&self) -> Result<Vec<(StorageId, Result<Session<T>, Rejection>)>, Error> {
        let max = self.inner.max_envelope_len;
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        let mut cursor = ScanCursor::start();
        loop {
            let (page, next) = self.scan_page(cursor).await?;
            let page: Vec<StorageId> = page
                .into_iter()
                .filter(|id| seen.insert(id.clone()))
                .collect();
            let keys: Vec<String> = page.iter().map(|id| self.key_of(id)).collect();
            let values = self.inner.backend.get_many(&keys, max).await?;
            for ((id, key), fetched) in page.into_iter().zip(&keys).zip(values) {
                let opened = match fetched {
                    Fetched::Missing => continue,
                    Fetched::TooLarge { .. } | Fetched::NotBytes => Err(RejectKind::Length.into()),
                    Fetched::Value(value) => self.open(key, value).map(|(session, _)| session),
                };
                match opened {
                    Ok(session) => out.push((id, Ok(session))),
                    Err(Error::Rejected(r)) => out.push((id, Err(r))),
                    Err(e) => return Err(e),
                }
            }
            match next {
                Some(c) => cursor = c,
                None => break,
            }
        }
        Ok(out)
    }

    /// Removes every entry under the prefix; returns how many were removed. Deletions go
    /// out a scan page at a time (pipelined where the backend can), and memory holds one
    /// page whatever the number of sessions (a key listed twice is removed once).
    pub async fn clear(&self) -> Result<usize, Error> {
        let mut removed = 0u64;
        let mut cursor = ScanCursor::start();
        loop {
            let (page, next) = self.scan_page(cursor).await?;
            let keys: Vec<String> = page.iter().map(|id| self.key_of(id)).collect();
            removed = removed.saturating_add(self.inner.backend.delete_many(&keys).await?);
            match next {
                Some(c) => cursor = c,
                None => break,
            }
        }
        Ok(usize::try_from(removed).unwrap_or(usize::MAX))
    }

    /// One scan page of storage ids (a later page may list one again), and the next cursor.
    async fn scan_page(
        &self,
        cursor: ScanCursor,
    ) -> Result<(Vec<StorageId>, Option<ScanCursor>), Error> {
        let hashed = self.inner.storage_keys == StorageKeys::Hashed;
        let page = self
            .inner
            .backend
            .scan(&self.inner.prefix, cursor, self.inner.scan_count)
            .await?;
        let mut ids = Vec::new();
        for key in page.keys {
            // Only keys this store could have written: another store whose prefix merely
            // starts with ours ("sess:" and "sess:admin:") is left alone.
            if let Some(rest) = key.strip_prefix(self.inner.prefix.as_str())
                && self.is_storage_id(rest)
            {
                ids.push(StorageId::from_stored(rest, hashed));
            }
        }
        Ok((ids, page.next))
    }

    /// The handle through which this store's keyring can be replaced at run time, when the
    /// store was built with [`StoreBuilder::keyring`] or [`StoreBuilder::keyring_handle`]
    /// (`None` with a custom sealer).
    pub fn keyring_handle(&self) -> Option<&KeyringHandle> {
        self.inner.keyring.as_ref()
    }

    /// Re-seals under the primary key every session of this store that is under an older
    /// key: the library side of `sealed-session rewrap`. See [`rotation::rewrap`]; only keys
    /// this store writes (its prefix followed by a storage id) are visited, and the store's
    /// clock, maximum envelope size and absolute lifetime apply (the lifetime in `options`
    /// is replaced by the store's). `progress` sees the totals after each page.
    pub async fn rewrap(
        &self,
        options: &RewrapOptions,
        progress: impl FnMut(&RewrapReport),
    ) -> Result<RewrapReport, Error> {
        let inner = &self.inner;
        let mut options = options.clone().max_envelope_len(inner.max_envelope_len);
        options.absolute_lifetime = inner.absolute_lifetime;
        let keep = |key: &str| {
            key.strip_prefix(inner.prefix.as_str())
                .is_some_and(|rest| self.is_storage_id(rest))
        };
        rotation::rewrap_filtered(
            &inner.backend,
            inner.sealer.as_ref(),
            &inner.prefix,
            &keep,
            inner.clock.as_ref(),
            &options,
            progress,
        )
        .await
    }

    /// Counts this store's envelopes by key id, from their headers alone (see
    /// [`rotation::census`]; every key under the prefix is counted).
    pub async fn census(&self) -> Result<rotation::Census, Error> {
        let options = RewrapOptions::default().batch(self.inner.scan_count);
        rotation::census(&self.inner.backend, &self.inner.prefix, &options, |_| {}).await
    }

    /// Loads a session by its storage id (from [`Store::ids`]).
    pub async fn load_stored(&self, id: &StorageId) -> Result<Option<Session<T>>, Error> {
        self.load_key(&self.key_of(id)).await
    }

    /// Removes a session by its storage id; returns whether it existed.
    pub async fn destroy_stored(&self, id: &StorageId) -> Result<bool, Error> {
        Ok(self.inner.backend.delete(&self.key_of(id)).await?)
    }

    async fn load_key(&self, key: &str) -> Result<Option<Session<T>>, Error> {
        let inner = &self.inner;
        let value = match inner.backend.get(key, inner.max_envelope_len).await? {
            Fetched::Value(value) => value,
            Fetched::TooLarge { .. } | Fetched::NotBytes => return Err(RejectKind::Length.into()),
            Fetched::Missing => return Ok(None),
        };
        // A value that may have to be written back (under an older key, or without an
        // expiry in a store that has a lifetime) is copied before opening, which decrypts in
        // place, so the write-back can check that it is still what is stored. The header
        // is not authenticated yet: it only decides whether to copy.
        let rekey = inner.lazy_reseal && inner.sealer.needs_reseal(&value);
        let unlimited = inner.absolute_lifetime.is_some()
            && Header::parse(&value).is_ok_and(|h| h.expires_at == 0);
        let stored = (rekey || unlimited).then(|| value.clone());
        let (session, opened) = self.open(key, value)?;
        let Some(stored) = stored else {
            return Ok(Some(session));
        };
        // `session.expires_at` is the expiry to keep: the stored one, capped by the store's
        // lifetime now, and `now + lifetime` for an envelope stored without one.
        let expires_at = session.expires_at.unwrap_or(opened.expires_at);
        let fix_expiry = opened.expires_at == 0 && expires_at != 0;
        if !rekey && !fix_expiry {
            return Ok(Some(session));
        }
        // Sealed before the await, so the plaintext is wiped before the round trip.
        let ctx = SealContext::new(key.as_bytes(), opened.codec, expires_at);
        let sealed = inner.sealer.seal(&ctx, opened.plaintext());
        drop(opened);
        let outcome = self.reseal(key, &stored, sealed).await;
        match outcome {
            // An envelope without an expiry would open forever, and a touch would slide the
            // TTL it is given: it is written back with its cap or not returned at all. A
            // transient failure is an error (the next load tries again); one that will not
            // go away (an ACL without EVAL, say) refuses the session as expired, so the user
            // logs in again instead of getting an error on every request.
            Err(e) if fix_expiry && e.is_retryable() => Err(e),
            Err(_) if fix_expiry => Err(RejectKind::Expired.into()),
            _ => Ok(Some(session)),
        }
    }

    /// Writes a re-sealed session back if the stored value is still the one that was read,
    /// keeping its TTL; returns whether it replaced it. The outcome is counted in
    /// [`Store::reseal_stats`]. For a lazy re-seal under the primary key this is best effort:
    /// the load has succeeded whatever happens here, and a failure only leaves the value
    /// under its old key for the next load or a bulk re-seal.
    async fn reseal(
        &self,
        key: &str,
        stored: &[u8],
        sealed: Result<Vec<u8>, Error>,
    ) -> Result<bool, Error> {
        let inner = &self.inner;
        let outcome = match sealed {
            Ok(sealed) if sealed.len() > inner.max_envelope_len => Err(Error::TooLarge {
                len: sealed.len(),
                max: inner.max_envelope_len,
            }),
            Ok(sealed) => inner
                .backend
                .compare_and_swap(key, stored, &sealed)
                .await
                .map_err(Error::from),
            Err(e) => Err(e),
        };
        let counter = match outcome {
            Ok(true) => &inner.reseals.resealed,
            Ok(false) => &inner.reseals.raced,
            Err(_) => &inner.reseals.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        outcome
    }

    /// How lazy re-seals have gone since the store was built. A growing `failed` count
    /// means loads keep paying a round trip for nothing: a Redis ACL without `EVAL`, a
    /// Redis older than 6.0 (no `KEEPTTL`), or a sealer that fails.
    pub fn reseal_stats(&self) -> ResealStats {
        let r = &self.inner.reseals;
        ResealStats {
            resealed: r.resealed.load(Ordering::Relaxed),
            raced: r.raced.load(Ordering::Relaxed),
            failed: r.failed.load(Ordering::Relaxed),
        }
    }

    /// Opens and decodes a stored value. The session carries the expiry this store keeps
    /// for it ([`Store::effective_expiry`] of the stored one); the opened envelope, the
    /// stored expiry.
    fn open(&self, key: &str, value: Vec<u8>) -> Result<(Session<T>, Opened), Error> {
        let now = self.inner.clock.now_secs();
        let opened = self.open_envelope(key, value, now)?;
        let data = self.decode(&opened)?;
        let session = Session {
            data,
            expires_at: Some(self.effective_expiry(Some(opened.expires_at), now)),
        };
        Ok((session, opened))
    }

    /// Opening steps 1 to 7 in the sealer. The size and the expiry are checked here as
    /// well, so a custom sealer that forgets them cannot let such a value through.
    fn open_envelope(&self, key: &str, value: Vec<u8>, now: u64) -> Result<Opened, Error> {
        let inner = &self.inner;
        if value.len() > inner.max_envelope_len {
            return Err(RejectKind::Length.into());
        }
        let ctx = OpenContext::new(key.as_bytes(), now, inner.max_envelope_len);
        let opened = inner.sealer.open(&ctx, value)?;
        if opened.expires_at != 0 && opened.expires_at <= now {
            return Err(RejectKind::Expired.into());
        }
        Ok(opened)
    }

    /// Opening step 8: decode with the codec the envelope names.
    fn decode(&self, opened: &Opened) -> Result<T, Error> {
        let codec = self
            .inner
            .readers
            .iter()
            .find(|c| c.id() == opened.codec)
            .ok_or(RejectKind::NoReader)?;
        Ok(codec
            .decode(opened.plaintext())
            .map_err(Rejection::decode)?)
    }

    /// The expiry to store a session with: a new session starts the store's lifetime; a
    /// stored one keeps its expiry, capped by the store's current lifetime (so turning the
    /// lifetime on or shortening it applies to live sessions too, at their next save or
    /// re-seal, and nothing is extended). See [`rotation::capped_expiry`].
    fn effective_expiry(&self, stored: Option<u64>, now: u64) -> u64 {
        match self.inner.absolute_lifetime {
            Some(lifetime) => rotation::capped_expiry(stored.unwrap_or(0), now, lifetime),
            None => stored.unwrap_or(0),
        }
    }

    /// Encodes, seals and writes with the store's idle TTL; returns whether the backend
    /// wrote (create-only may not) and records the expiry written with in `session`.
    async fn write(
        &self,
        key: &str,
        session: &mut Session<T>,
        mode: SetMode,
    ) -> Result<bool, Error> {
        let written = self
            .write_data(key, &session.data, session.expires_at, mode, None)
            .await?;
        if let Some(expires_at) = written {
            session.expires_at = Some(expires_at);
        }
        Ok(written.is_some())
    }

    /// Whether `sample` survives every codec of the store (the write codec and each
    /// reader) there and back: for adapters whose data type only some codecs can decode,
    /// such as maps of `serde_json::Value`. A reader that cannot would refuse every value
    /// written with its codec byte. (Readers must encode too for this check.)
    #[cfg_attr(not(feature = "tower-sessions"), allow(dead_code))]
    pub(crate) fn codecs_round_trip(&self, sample: &T) -> bool
    where
        T: PartialEq,
    {
        // readers[0] is the write codec.
        self.inner.readers.iter().all(|codec| {
            let mut bytes = Vec::new();
            codec.encode(sample, &mut bytes).is_ok()
                && codec.decode(&bytes).is_ok_and(|back| back == *sample)
        })
    }

    /// Encodes, seals and writes `data` under an exact storage key: the one write path, for
    /// [`Store::write`] and for framework adapters (whose ids are not [`SessionId`]s and
    /// whose data they hold by reference). `stored` is the expiry as [`Session`] keeps it;
    /// `idle` a framework's own idle TTL, used instead of the store's (the absolute expiry
    /// still caps it). Returns the expiry written with, or `None` when the mode forbade the
    /// write.
    pub(crate) async fn write_data(
        &self,
        key: &str,
        data: &T,
        stored: Option<u64>,
        mode: SetMode,
        idle: Option<Duration>,
    ) -> Result<Option<u64>, Error> {
        let inner = &self.inner;
        let now = inner.clock.now_secs();
        let expires_at = self.effective_expiry(stored, now);
        let ttl = self.ttl_for(data, expires_at, now, idle)?;

        // The session is encoded straight into the buffer that becomes the sealed value,
        // after the room the sealer reserves for its header: no second buffer, no copy.
        // Capacity is what the largest session so far needed plus a quarter, so the encoder
        // seldom has to grow it (codecs grow it through a `WipingWriter`, which wipes the
        // old allocation, but a copy is a copy). Reserving the 64 KiB maximum instead costs
        // about 1 µs per save: glibc consolidates its heap when a chunk that large is freed.
        let sealer = &inner.sealer;
        let overhead = sealer.overhead().unwrap_or(0);
        let prefix = sealer.reserved_prefix();
        let max = inner.max_envelope_len;
        let room = max.saturating_sub(overhead);
        let hint = inner.plaintext_hint.load(Ordering::Relaxed);
        let reserve = hint
            .saturating_add(hint / 4)
            // clamp panics if min > max: room.max(256) is at least 256.
            .clamp(256, room.max(256))
            .saturating_add(overhead);
        let mut buf = WipeOnDrop(Vec::with_capacity(reserve));
        buf.0.resize(prefix, 0);
        inner
            .codec
            .encode(data, &mut buf.0)
            .map_err(Error::Encode)?;
        let plaintext_len = buf.0.len().saturating_sub(prefix);
        inner
            .plaintext_hint
            .fetch_max(plaintext_len.min(room), Ordering::Relaxed);
        let expected = plaintext_len.saturating_add(overhead);
        if expected > max {
            return Err(Error::TooLarge { len: expected, max });
        }
        let ctx = SealContext::new(key.as_bytes(), inner.codec.id(), expires_at);
        sealer.seal_in_place(&ctx, &mut buf.0)?;
        let value = &buf.0;
        if value.len() > max {
            return Err(Error::TooLarge {
                len: value.len(),
                max,
            });
        }
        let written = inner.backend.set(key, value, ttl, mode).await?;
        Ok(written.then_some(expires_at))
    }

    /// The TTL to store with: the idle TTL, capped by the time left until `expires_at`.
    /// `None` when neither applies.
    fn ttl_for(
        &self,
        data: &T,
        expires_at: u64,
        now: u64,
        idle: Option<Duration>,
    ) -> Result<Option<Duration>, Error> {
        let remaining = match expires_at {
            0 => None,
            at if at > now => Some(Duration::from_secs(at - now)),
            _ => return Err(Error::SessionExpired),
        };
        let idle = match (idle, &self.inner.idle_ttl) {
            (Some(d), _) => Some(d.min(MAX_LIFETIME)),
            (None, IdleTtl::Fixed(d)) => Some(*d),
            (None, IdleTtl::FromSession(f)) => Some(f(data).min(MAX_LIFETIME)),
            (None, IdleTtl::Disabled) => None,
        };
        let ttl = match (idle, remaining) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        // Whole seconds (what Redis's EX takes), at least one.
        Ok(ttl.map(|d| Duration::from_secs(d.as_secs().max(1))))
    }
}

impl<T: 'static, B> fmt::Debug for Store<T, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Inner {
            backend: _,
            sealer,
            codec,
            readers,
            clock: _,
            prefix,
            storage_keys,
            idle_ttl,
            absolute_lifetime,
            touch,
            max_envelope_len,
            scan_count,
            lazy_reseal,
            reseals: _,
            keyring: _,
            plaintext_hint: _,
        } = &*self.inner;
        let reads: Vec<CodecId> = readers.iter().map(|c| c.id()).collect();
        f.debug_struct("Store")
            .field("prefix", prefix)
            .field("storage_keys", storage_keys)
            .field("codec", &codec.id())
            .field("reads", &reads)
            .field("sealer", sealer)
            .field("idle_ttl", idle_ttl)
            .field("absolute_lifetime", &absolute_lifetime.map(|d| d.as_secs()))
            .field("touch", touch)
            .field("max_envelope_len", max_envelope_len)
            .field("scan_count", scan_count)
            .field("lazy_reseal", lazy_reseal)
            .finish_non_exhaustive()
    }
}

/// What seals a store's envelopes, as the builder was told.
enum SealerChoice {
    /// The built-in envelope v1 sealer over this keyring.
    Keyring(KeyringHandle),
    /// The application's own.
    Custom(Box<dyn Sealer>),
}

impl fmt::Debug for SealerChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SealerChoice::Keyring(handle) => fmt::Debug::fmt(handle, f),
            SealerChoice::Custom(sealer) => fmt::Debug::fmt(sealer, f),
        }
    }
}

/// Configures a [`Store`].
pub struct StoreBuilder<T, B> {
    backend: B,
    sealer: Option<SealerChoice>,
    salt_source: Option<SaltSource>,
    codec: Arc<dyn Codec<T>>,
    readers: Vec<Arc<dyn Codec<T>>>,
    clock: Arc<dyn Clock>,
    prefix: String,
    storage_keys: StorageKeys,
    idle_ttl: IdleTtl<T>,
    absolute_lifetime: Option<Duration>,
    touch: bool,
    max_envelope_len: usize,
    scan_count: usize,
    lazy_reseal: bool,
}

impl<T, B> StoreBuilder<T, B>
where
    T: Send + Sync + 'static,
    B: Backend,
{
    /// Starts a store on `backend` writing with `codec` (for session types that are not
    /// serde types, or to write with another codec from the start).
    pub fn with_codec(backend: B, codec: impl Codec<T>) -> Self {
        StoreBuilder {
            backend,
            sealer: None,
            salt_source: None,
            codec: Arc::new(codec),
            readers: Vec::new(),
            clock: Arc::new(SystemClock),
            prefix: DEFAULT_PREFIX.to_owned(),
            storage_keys: StorageKeys::Hashed,
            idle_ttl: IdleTtl::Fixed(DEFAULT_IDLE_TTL),
            absolute_lifetime: Some(DEFAULT_ABSOLUTE_LIFETIME),
            touch: true,
            max_envelope_len: DEFAULT_MAX_ENVELOPE_LEN,
            scan_count: DEFAULT_SCAN_COUNT,
            lazy_reseal: true,
        }
    }

    /// Seals with the built-in envelope v1 sealer over `keyring`. The built store's
    /// [`Store::keyring_handle`] replaces it at run time.
    pub fn keyring(self, keyring: Keyring) -> Self {
        self.keyring_handle(KeyringHandle::new(keyring))
    }

    /// Seals with the built-in envelope v1 sealer over a shared keyring handle (from a
    /// [`Reloader`](crate::rotation::Reloader), say): replacing its keyring re-keys the
    /// store at once.
    pub fn keyring_handle(mut self, handle: KeyringHandle) -> Self {
        self.sealer = Some(SealerChoice::Keyring(handle));
        self
    }

    /// Seals with a sealer of your own.
    pub fn sealer(mut self, sealer: impl Sealer) -> Self {
        self.sealer = Some(SealerChoice::Custom(Box::new(sealer)));
        self
    }

    /// Where the built-in sealer takes each envelope's 32-byte salt from (default
    /// [`SaltSource::Os`]: one system call per envelope, safe across `fork()` and virtual
    /// machine snapshots). [`SaltSource::ThreadLocal`] is faster but safe only in a process
    /// that is never forked after start-up nor restored from a snapshot; read its docs first.
    /// With a custom sealer ([`StoreBuilder::sealer`]) the sealer chooses its salts, and
    /// setting this is refused at [`StoreBuilder::build`].
    pub fn salt_source(mut self, source: SaltSource) -> Self {
        self.salt_source = Some(source);
        self
    }

    /// Whether a load that opens an envelope under an older (decrypt-only) key writes the
    /// session back under the primary key, with a compare-and-swap that keeps the entry's
    /// TTL (default on). Costs one extra round trip on such loads only. Values under
    /// retired keys are never opened, so never re-sealed.
    pub fn lazy_reseal(mut self, enabled: bool) -> Self {
        self.lazy_reseal = enabled;
        self
    }

    /// Writes with `codec`; values it wrote stay readable. The write codec it replaces is
    /// not kept as a reader: add it with [`StoreBuilder::also_read`] to keep reading the
    /// values it wrote.
    pub fn codec(mut self, codec: impl Codec<T>) -> Self {
        self.codec = Arc::new(codec);
        self
    }

    /// Also reads values written by `codec` (for moving from one codec to another).
    pub fn also_read(mut self, codec: impl Codec<T>) -> Self {
        self.readers.push(Arc::new(codec));
        self
    }

    /// The key prefix (default `sess:`).
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How session ids become storage keys (default [`StorageKeys::Hashed`]).
    pub fn storage_keys(mut self, mode: StorageKeys) -> Self {
        self.storage_keys = mode;
        self
    }

    /// Entries expire this long after their last save or touch (default one day).
    pub fn idle_ttl(mut self, ttl: Duration) -> Self {
        self.idle_ttl = IdleTtl::Fixed(ttl);
        self
    }

    /// Computes the idle TTL from the session at each save and touch (connect-redis's `ttl`
    /// function). Rounded down to whole seconds, at least one.
    pub fn idle_ttl_from(mut self, ttl: impl Fn(&T) -> Duration + Send + Sync + 'static) -> Self {
        self.idle_ttl = IdleTtl::FromSession(Box::new(ttl));
        self
    }

    /// No idle TTL (connect-redis's `disableTTL`): entries live until their absolute
    /// expiry, or forever if the store has no absolute lifetime.
    pub fn disable_ttl(mut self) -> Self {
        self.idle_ttl = IdleTtl::Disabled;
        self
    }

    /// Makes [`Store::touch`] a no-op (connect-redis's `disableTouch`).
    pub fn disable_touch(mut self) -> Self {
        self.touch = false;
        self
    }

    /// Sessions end this long after they were first stored, whatever the activity
    /// (default seven days). Authenticated inside every envelope.
    pub fn absolute_lifetime(mut self, lifetime: Duration) -> Self {
        self.absolute_lifetime = Some(lifetime);
        self
    }

    /// No absolute lifetime: envelopes record expiry 0 and live as long as the idle TTL
    /// keeps being renewed.
    pub fn no_absolute_lifetime(mut self) -> Self {
        self.absolute_lifetime = None;
        self
    }

    /// The largest envelope written or read (default 64 KiB), checked before any crypto.
    pub fn max_envelope_len(mut self, len: usize) -> Self {
        self.max_envelope_len = len;
        self
    }

    /// Keys asked for per scan page by `ids`, `len`, `all`, `clear` (default 100).
    pub fn scan_count(mut self, count: usize) -> Self {
        self.scan_count = count;
        self
    }

    /// The clock for expiry (default the system clock). Give a
    /// [`MemoryBackend`](crate::MemoryBackend) the same clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// Checks the settings and builds the store.
    pub fn build(self) -> Result<Store<T, B>, Error> {
        let invalid = |what| Error::Config(ConfigError::InvalidSetting(what));
        let (sealer, keyring): (Box<dyn Sealer>, _) = match (self.sealer, self.salt_source) {
            (None, _) => return Err(invalid("a keyring or a sealer is required")),
            (Some(SealerChoice::Keyring(handle)), salt) => (
                Box::new(
                    KeyringSealer::with_handle(handle.clone())
                        .with_salt_source(salt.unwrap_or_default()),
                ),
                Some(handle),
            ),
            (Some(SealerChoice::Custom(_)), Some(_)) => {
                return Err(invalid(
                    "a salt source applies to the built-in sealer only; a custom sealer \
                     chooses its own salts",
                ));
            }
            (Some(SealerChoice::Custom(sealer)), None) => (sealer, None),
        };
        let in_range = |d: Duration| (1..=MAX_LIFETIME.as_secs()).contains(&d.as_secs());
        if let IdleTtl::Fixed(ttl) = self.idle_ttl
            && !in_range(ttl)
        {
            return Err(invalid("idle TTL must be between one second and ten years"));
        }
        if self.absolute_lifetime.is_some_and(|d| !in_range(d)) {
            return Err(invalid(
                "absolute lifetime must be between one second and ten years",
            ));
        }
        if !(crate::envelope::OVERHEAD..=MAX_ENVELOPE_LEN_LIMIT).contains(&self.max_envelope_len) {
            return Err(invalid(
                "maximum envelope length must be between 95 bytes and 1 MiB",
            ));
        }
        // A custom sealer's sizes are trusted for buffer reservations: bound them here, so an
        // absurd value (`usize::MAX` for "unknown") is a configuration error, not an
        // allocation failure on the first save.
        if sealer.overhead().unwrap_or(0) > self.max_envelope_len
            || sealer.reserved_prefix() > self.max_envelope_len
        {
            return Err(invalid(
                "the sealer's overhead and reserved prefix must fit in the maximum envelope length",
            ));
        }
        if self.prefix.is_empty() {
            return Err(invalid("the key prefix must not be empty"));
        }
        if self.scan_count == 0 {
            return Err(invalid("scan count must be at least 1"));
        }
        let mut readers = vec![Arc::clone(&self.codec)];
        for reader in self.readers {
            if readers.iter().any(|r| r.id() == reader.id()) {
                return Err(invalid(
                    "two codecs share a codec id (the write codec reads its own values: \
                     list no reader with its id)",
                ));
            }
            readers.push(reader);
        }
        Ok(Store {
            inner: Arc::new(Inner {
                backend: self.backend,
                sealer,
                codec: self.codec,
                readers,
                clock: self.clock,
                prefix: self.prefix,
                storage_keys: self.storage_keys,
                idle_ttl: self.idle_ttl,
                absolute_lifetime: self.absolute_lifetime,
                touch: self.touch,
                max_envelope_len: self.max_envelope_len,
                scan_count: self.scan_count,
                lazy_reseal: self.lazy_reseal,
                reseals: ResealCounters::default(),
                keyring,
                plaintext_hint: AtomicUsize::new(0),
            }),
        })
    }
}

impl<T: 'static, B> fmt::Debug for StoreBuilder<T, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let StoreBuilder {
            backend: _,
            sealer,
            salt_source,
            codec,
            readers,
            clock: _,
            prefix,
            storage_keys,
            idle_ttl,
            absolute_lifetime,
            touch,
            max_envelope_len,
            scan_count,
            lazy_reseal,
        } = self;
        let reads: Vec<CodecId> = readers.iter().map(|c| c.id()).collect();
        f.debug_struct("StoreBuilder")
            .field("prefix", prefix)
            .field("storage_keys", storage_keys)
            .field("codec", &codec.id())
            .field("also_reads", &reads)
            .field("sealer", sealer)
            .field("salt_source", salt_source)
            .field("idle_ttl", idle_ttl)
            .field("absolute_lifetime", &absolute_lifetime.map(|d| d.as_secs()))
            .field("touch", touch)
            .field("max_envelope_len", max_envelope_len)
            .field("scan_count", scan_count)
            .field("lazy_reseal", lazy_reseal)
            .finish_non_exhaustive()
    }
}
