//! The store: the one place where codec, sealer and backend meet.
//!
//! Every operation follows the same path. Saving: encode with the write codec, check the
//! size, seal under the storage key with the session's absolute expiry, write with a TTL
//! that never outlives that expiry. Loading: read, check the size, open (which checks key,
//! commitment, tag, storage key and expiry), decode with the codec the envelope names.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::backend::{Backend, ScanCursor, SetMode};
use crate::clock::{Clock, SystemClock};
use crate::codec::{Bincode, Codec, CodecId};
use crate::crypto::Keyring;
use crate::error::{ConfigError, Error, RejectKind, Rejection};
use crate::id::{SessionId, StorageId};
use crate::sealer::{KeyringSealer, OpenContext, SealContext, Sealer};

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
/// A session made with [`Session::new`] has no expiry yet: its absolute lifetime starts at
/// the first save. A session returned by [`Store::load`] carries the expiry it was created
/// with, and every save, touch and id change keeps it.
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

    /// The storage key of a session id: the exact key its value is stored under.
    pub fn storage_key(&self, id: &SessionId) -> String {
        let inner = &self.inner;
        match inner.storage_keys {
            StorageKeys::Hashed => format!("{}{}", inner.prefix, id.hashed().as_str()),
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

    fn key_of(&self, id: &StorageId) -> String {
        format!("{}{}", self.inner.prefix, id.as_str())
    }

    /// Loads a session. `Ok(None)` when there is none; [`Error::Rejected`] when the stored
    /// value was refused, which the web layer must treat as "no session" too.
    pub async fn load(&self, id: &SessionId) -> Result<Option<Session<T>>, Error> {
        self.load_key(&self.storage_key(id)).await
    }

    /// Saves a session, creating or replacing it. A session without an expiry yet gets
    /// one now (that is why it is `&mut`); a loaded session keeps its own.
    pub async fn save(&self, id: &SessionId, session: &mut Session<T>) -> Result<(), Error> {
        self.write(&self.storage_key(id), session, SetMode::Upsert)
            .await
            .map(|_| ())
    }

    /// Stores a new session, refusing with [`Error::AlreadyExists`] if the id is taken.
    pub async fn create(&self, id: &SessionId, session: &mut Session<T>) -> Result<(), Error> {
        match self
            .write(&self.storage_key(id), session, SetMode::CreateOnly)
            .await?
        {
            true => Ok(()),
            false => Err(Error::AlreadyExists),
        }
    }

    /// Removes a session; returns whether it existed.
    pub async fn destroy(&self, id: &SessionId) -> Result<bool, Error> {
        Ok(self.inner.backend.delete(&self.storage_key(id)).await?)
    }

    /// Resets the entry's TTL without rewriting it (connect-redis's `touch`). Never extends
    /// it past the session's absolute expiry. Does nothing when touching is disabled, when
    /// the store keeps no TTL, or for a session that was never stored.
    pub async fn touch(&self, id: &SessionId, session: &Session<T>) -> Result<(), Error> {
        let Some(expires_at) = session.expires_at else {
            return Ok(());
        };
        if !self.inner.touch {
            return Ok(());
        }
        let now = self.inner.clock.now_secs();
        if let Some(ttl) = self.ttl_for(&session.data, expires_at, now)? {
            self.inner
                .backend
                .expire(&self.storage_key(id), ttl)
                .await?;
        }
        Ok(())
    }

    /// Moves a session to a fresh id and removes the old entry: call it whenever the
    /// privilege level changes (log-in), against session fixation.
    ///
    /// The new entry keeps `session`'s absolute expiry; pass `Session::new(data)` instead to
    /// start a new lifetime. If the old entry cannot be removed, the new one is removed
    /// again (best effort) and the error returned, so the old id stays the valid one.
    pub async fn cycle_id(
        &self,
        old: &SessionId,
        session: &mut Session<T>,
    ) -> Result<SessionId, Error> {
        let new = SessionId::generate()?;
        let new_key = self.storage_key(&new);
        if !self.write(&new_key, session, SetMode::CreateOnly).await? {
            return Err(Error::AlreadyExists);
        }
        if let Err(e) = self.inner.backend.delete(&self.storage_key(old)).await {
            let _ = self.inner.backend.delete(&new_key).await;
            return Err(e.into());
        }
        Ok(new)
    }

    /// Every storage id under the prefix, each once.
    pub async fn ids(&self) -> Result<Vec<StorageId>, Error> {
        let hashed = self.inner.storage_keys == StorageKeys::Hashed;
        let mut seen = BTreeSet::new();
        let mut cursor = ScanCursor::start();
        loop {
            let page = self
                .inner
                .backend
                .scan(&self.inner.prefix, cursor, self.inner.scan_count)
                .await?;
            for key in page.keys {
                if let Some(rest) = key.strip_prefix(self.inner.prefix.as_str()) {
                    seen.insert(StorageId::from_stored(rest, hashed));
                }
            }
            match page.next {
                Some(next) => cursor = next,
                None => break,
            }
        }
        Ok(seen.into_iter().collect())
    }

    /// Number of entries under the prefix.
    pub async fn len(&self) -> Result<usize, Error> {
        Ok(self.ids().await?.len())
    }

    /// True when no entry is under the prefix.
    pub async fn is_empty(&self) -> Result<bool, Error> {
        Ok(self.len().await? == 0)
    }

    /// Every session under the prefix, each with the result of opening it: one corrupt or
    /// retired entry does not hide the others. A backend error aborts the listing.
    #[allow(clippy::type_complexity)]
    pub async fn all(&self) -> Result<Vec<(StorageId, Result<Session<T>, Rejection>)>, Error> {
        let mut out = Vec::new();
        for id in self.ids().await? {
            match self.load_key(&self.key_of(&id)).await {
                Ok(Some(session)) => out.push((id, Ok(session))),
                Ok(None) => {}
                Err(Error::Rejected(r)) => out.push((id, Err(r))),
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Removes every entry under the prefix; returns how many were removed.
    pub async fn clear(&self) -> Result<usize, Error> {
        let mut removed = 0;
        for id in self.ids().await? {
            if self.inner.backend.delete(&self.key_of(&id)).await? {
                removed += 1;
            }
        }
        Ok(removed)
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
        match self.inner.backend.get(key).await? {
            Some(value) => self.open(key, value).map(Some),
            None => Ok(None),
        }
    }

    /// Opening steps 1 to 7 in the sealer, step 8 here.
    fn open(&self, key: &str, value: Vec<u8>) -> Result<Session<T>, Error> {
        let inner = &self.inner;
        if value.len() > inner.max_envelope_len {
            return Err(Rejection::new(RejectKind::Length).into());
        }
        let ctx = OpenContext::new(
            key.as_bytes(),
            inner.clock.now_secs(),
            inner.max_envelope_len,
        );
        let opened = inner.sealer.open(&ctx, value)?;
        let codec = inner
            .readers
            .iter()
            .find(|c| c.id() == opened.codec)
            .ok_or(RejectKind::Codec)?;
        let data = codec
            .decode(opened.plaintext())
            .map_err(Rejection::decode)?;
        Ok(Session {
            data,
            expires_at: Some(opened.expires_at),
        })
    }

    /// Encodes, seals and writes; returns whether the backend wrote (create-only may not).
    async fn write(
        &self,
        key: &str,
        session: &mut Session<T>,
        mode: SetMode,
    ) -> Result<bool, Error> {
        let inner = &self.inner;
        let now = inner.clock.now_secs();
        let expires_at = match session.expires_at {
            Some(at) => at,
            None => match inner.absolute_lifetime {
                Some(life) => now.saturating_add(life.as_secs()),
                None => 0,
            },
        };
        let ttl = self.ttl_for(&session.data, expires_at, now)?;

        let mut plaintext = zeroize::Zeroizing::new(Vec::new());
        inner
            .codec
            .encode(&session.data, &mut plaintext)
            .map_err(Error::Encode)?;
        let max = inner.max_envelope_len;
        let expected = plaintext.len() + inner.sealer.overhead().unwrap_or(0);
        if expected > max {
            return Err(Error::TooLarge { len: expected, max });
        }
        let ctx = SealContext::new(key.as_bytes(), inner.codec.id(), expires_at);
        let value = inner.sealer.seal(&ctx, &plaintext)?;
        if value.len() > max {
            return Err(Error::TooLarge {
                len: value.len(),
                max,
            });
        }
        let written = inner.backend.set(key, &value, ttl, mode).await?;
        if written {
            session.expires_at = Some(expires_at);
        }
        Ok(written)
    }

    /// The TTL to store with: the idle TTL, capped by the time left until `expires_at`.
    /// `None` when neither applies.
    fn ttl_for(&self, data: &T, expires_at: u64, now: u64) -> Result<Option<Duration>, Error> {
        let remaining = match expires_at {
            0 => None,
            at if at > now => Some(Duration::from_secs(at - now)),
            _ => return Err(Error::SessionExpired),
        };
        let idle = match &self.inner.idle_ttl {
            IdleTtl::Fixed(d) => Some(*d),
            IdleTtl::FromSession(f) => Some(f(data)),
            IdleTtl::Disabled => None,
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
            .finish_non_exhaustive()
    }
}

/// Configures a [`Store`].
pub struct StoreBuilder<T, B> {
    backend: B,
    sealer: Option<Box<dyn Sealer>>,
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
        }
    }

    /// Seals with the built-in envelope v1 sealer over `keyring`.
    pub fn keyring(self, keyring: Keyring) -> Self {
        self.sealer(KeyringSealer::new(keyring))
    }

    /// Seals with a sealer of your own.
    pub fn sealer(mut self, sealer: impl Sealer) -> Self {
        self.sealer = Some(Box::new(sealer));
        self
    }

    /// Writes with `codec`; values it wrote stay readable.
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
        let sealer = self
            .sealer
            .ok_or_else(|| invalid("a keyring or a sealer is required"))?;
        if let IdleTtl::Fixed(ttl) = self.idle_ttl
            && ttl.as_secs() == 0
        {
            return Err(invalid("idle TTL must be at least one second"));
        }
        if self.absolute_lifetime.is_some_and(|d| d.as_secs() == 0) {
            return Err(invalid("absolute lifetime must be at least one second"));
        }
        if self.max_envelope_len < crate::envelope::OVERHEAD {
            return Err(invalid(
                "maximum envelope length is below the 95-byte overhead",
            ));
        }
        if self.scan_count == 0 {
            return Err(invalid("scan count must be at least 1"));
        }
        let mut readers = vec![Arc::clone(&self.codec)];
        for reader in self.readers {
            if readers.iter().any(|r| r.id() == reader.id()) {
                return Err(invalid("two codecs share a codec id"));
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
            }),
        })
    }
}

impl<T, B> fmt::Debug for StoreBuilder<T, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreBuilder")
            .field("prefix", &self.prefix)
            .field("storage_keys", &self.storage_keys)
            .finish_non_exhaustive()
    }
}
