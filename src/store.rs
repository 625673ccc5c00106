//! The store: the one place where codec, sealer and backend meet.
//!
//! Every operation follows the same path. Saving: encode with the write codec, check the
//! size, seal under the storage key with the session's absolute expiry, write with a TTL
//! that never outlives that expiry. Loading: read, check the size, open (which checks key,
//! commitment, tag, storage key and expiry), decode with the codec the envelope names.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::backend::{Backend, Conditional, Fetched, SetMode};
#[cfg(feature = "bincode")]
use crate::codec::Bincode;
use crate::codec::CodecId;
use crate::crypto::{KeyringHandle, WipeOnDrop};
use crate::envelope::Header;
use crate::error::{ConfigError, Error, RejectKind, Rejection, SettingError};
use crate::id::{SessionId, StorageId};
use crate::rotation;
use crate::sealer::{OpenContext, Opened, SealContext, Sealer};

mod builder;
#[cfg(feature = "express")]
mod entries;
mod listing;
mod optimistic;
mod owners;
mod record;
mod reseal;
mod session;
mod settings;

pub use self::builder::{StoreBuilder, WantsSealer, WithKeyring, WithSealer};
pub(crate) use self::optimistic::Origin;
pub use self::optimistic::Retries;
#[cfg(any(feature = "tower-sessions", feature = "actix-session"))]
pub(crate) use self::optimistic::backoff;
pub use self::owners::{CapPolicy, OwnedSession, Owners, Revoked, STALE_GRACE};
pub use self::record::MAX_LABEL_LEN;
use self::record::Record;
use self::reseal::ResealCounters;
pub use self::reseal::ResealStats;
pub use self::session::Session;
use self::settings::{IdleTtl, Settings};
pub use crate::envelope::{DEFAULT_MAX_ENVELOPE_LEN, MAX_ENVELOPE_LEN_LIMIT};

/// Default key prefix, as in connect-redis.
pub const DEFAULT_PREFIX: &str = "sess:";
/// Default idle TTL: one day.
pub const DEFAULT_IDLE_TTL: Duration = Duration::from_secs(86_400);
/// Default absolute lifetime: seven days from creation, whatever the activity.
pub const DEFAULT_ABSOLUTE_LIFETIME: Duration = Duration::from_secs(7 * 86_400);
/// Default number of keys asked for per scan page.
pub const DEFAULT_SCAN_COUNT: usize = 100;
/// Longest accepted idle TTL or absolute lifetime: ten years.
pub const MAX_LIFETIME: Duration = Duration::from_secs(10 * 365 * 86_400);

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

/// A session store for session data of type `T` on backend `B`.
///
/// Cheap to clone: clones share the same configuration and backend.
pub struct Store<T, B> {
    inner: Arc<Inner<T, B>>,
}

struct Inner<T, B> {
    backend: B,
    sealer: Box<dyn Sealer>,
    /// The handle of the built-in sealer's keyring, when the store was built with one.
    keyring: Option<KeyringHandle>,
    settings: Settings<T>,
    reseals: ResealCounters,
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

#[cfg(feature = "bincode")]
impl<T, B> Store<T, B>
where
    T: serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
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
        self.inner.settings.storage_keys
    }

    /// The absolute lifetime of new sessions, if the store has one.
    pub fn absolute_lifetime(&self) -> Option<Duration> {
        self.inner.settings.absolute_lifetime
    }

    /// The storage key of a session id: the exact key its value is stored under.
    pub fn storage_key(&self, id: &SessionId) -> String {
        let inner = &self.inner;
        match inner.settings.storage_keys {
            StorageKeys::Hashed => {
                // prefix + 64 hex digits, built in place: one allocation per key.
                let mut key = String::with_capacity(inner.settings.prefix.len().saturating_add(64));
                key.push_str(&inner.settings.prefix);
                id.push_hashed(&mut key);
                key
            }
            StorageKeys::PlainIds => format!("{}{}", inner.settings.prefix, id.as_str()),
        }
    }

    /// The storage id of a session id: what [`Store::ids`] lists for it.
    pub fn storage_id(&self, id: &SessionId) -> StorageId {
        match self.inner.settings.storage_keys {
            StorageKeys::Hashed => id.hashed(),
            StorageKeys::PlainIds => StorageId::from_stored(id.as_str(), false),
        }
    }

    /// Whether the store keeps an owner index ([`StoreBuilder::owners`]).
    pub fn has_owner_index(&self) -> bool {
        self.inner.settings.owners.is_some()
    }

    /// The codec new sessions are written with.
    pub fn write_codec(&self) -> CodecId {
        self.inner.settings.codec.id()
    }

    pub(crate) fn key_of(&self, id: &StorageId) -> String {
        format!("{}{}", self.inner.settings.prefix, id.as_str())
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
    /// records the expiry and the envelope it was stored with, which is why it is `&mut`.
    ///
    /// By default the save replaces whatever another request saved since the load (the
    /// last save wins). In a store built with
    /// [`StoreBuilder::optimistic_saves`] it is [`Store::save_if_unchanged`] instead, and
    /// such a race is [`Error::Conflict`].
    pub async fn save(&self, id: &SessionId, session: &mut Session<T>) -> Result<(), Error> {
        let mode = self.save_mode(session, self.inner.settings.optimistic);
        self.write_checked(&self.storage_key(id), session, mode)
            .await
    }

    /// Stores a session under an id that must be unused, refusing with
    /// [`Error::AlreadyExists`] otherwise.
    pub async fn create(&self, id: &SessionId, session: &mut Session<T>) -> Result<(), Error> {
        self.write_checked(&self.storage_key(id), session, WriteMode::CreateOnly)
            .await
    }

    async fn write_checked(
        &self,
        key: &str,
        session: &mut Session<T>,
        mode: WriteMode,
    ) -> Result<(), Error> {
        let create = mode == WriteMode::CreateOnly;
        match (
            self.write(key, session, mode, None).await?.is_some(),
            create,
        ) {
            (true, _) => Ok(()),
            (false, false) => Err(Error::SessionGone),
            (false, true) => Err(Error::AlreadyExists),
        }
    }

    /// Removes a session; returns whether it existed. In a store with an owner index, the
    /// value is read as it is removed (one command) and an owned session leaves its
    /// owner's index too (one more round trip).
    pub async fn destroy(&self, id: &SessionId) -> Result<bool, Error> {
        self.destroy_key(&self.storage_key(id)).await
    }

    async fn destroy_key(&self, key: &str) -> Result<bool, Error> {
        let inner = &self.inner;
        if inner.settings.owners.is_none() {
            return Ok(inner.backend.delete(key).await?);
        }
        let value = match inner
            .backend
            .take(key, inner.settings.max_envelope_len)
            .await?
        {
            Fetched::Missing => return Ok(false),
            Fetched::Value(value) => value,
            Fetched::TooLarge { .. } | Fetched::NotBytes => return Ok(true),
        };
        let now = inner.settings.clock.now_secs();
        // A value that does not open names no owner this store can act on.
        if let Ok(opened) = self.open_envelope(key, value, now)
            && let Ok((_, record)) = record::split(opened.plaintext())
            && let Some(owner) = record.owner
        {
            self.forget(&owner, &[self.member_of(key)]).await;
        }
        Ok(true)
    }

    /// Resets the entry's TTL without rewriting it (connect-redis's `touch`), never past
    /// the session's absolute expiry. [`Error::SessionGone`] if the entry no longer exists.
    /// Does nothing when touching is disabled, when the store keeps no TTL, or for a new
    /// session that was never stored.
    pub async fn touch(&self, id: &SessionId, session: &Session<T>) -> Result<(), Error> {
        let Some(stored) = session.expires_at else {
            return Ok(());
        };
        if !self.inner.settings.touch {
            return Ok(());
        }
        let now = self.inner.settings.clock.now_secs();
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
    /// the valid one. A session bound to an owner is added to the owner's index under its
    /// new id first; the entry of the old id is pruned by a read of the index once it is
    /// older than [`STALE_GRACE`]. (A timeout is ambiguous: the old entry may in fact be gone, and then
    /// the user must log in again; if the clean-up fails too, the unused new entry expires.)
    ///
    /// On a store with [`StoreBuilder::optimistic_saves`], the old entry is removed only if
    /// it is still the envelope the session was loaded from; if another request saved it
    /// meanwhile, the new entry is removed again and the result is [`Error::Conflict`]
    /// (load again and repeat the log-in step). Otherwise another request's save since the
    /// load is dropped with the old entry.
    pub async fn cycle_id(
        &self,
        old: &SessionId,
        session: &mut Session<T>,
    ) -> Result<SessionId, Error> {
        let new = SessionId::generate()?;
        let new_key = self.storage_key(&new);
        let original = session.expires_at;
        let original_owner = session.stored_owner.clone();
        let original_record = session.record.clone();
        let original_origin = session.origin.clone();
        let restore = |session: &mut Session<T>, e: Error| {
            session.expires_at = original;
            session.stored_owner = original_owner.clone();
            session.record = original_record.clone();
            session.origin = original_origin.clone();
            Err(e)
        };
        let moving_from = self.member_of(&self.storage_key(old));
        // Sessions the owner's cap evicts go only once the move has succeeded.
        let evict = match self
            .write(&new_key, session, WriteMode::CreateOnly, Some(&moving_from))
            .await
        {
            Ok(Some(evict)) => evict,
            Ok(None) => return restore(session, Error::AlreadyExists),
            Err(e) => return restore(session, e),
        };
        // On a store with optimistic saves the old entry goes only if it is still the one
        // the session was loaded from: a save that raced the move must not be dropped.
        let old_key = self.storage_key(old);
        let removed = match (&original_origin, self.inner.settings.optimistic) {
            (Some(origin), true) => self
                .inner
                .backend
                .delete_if(&old_key, origin.expect())
                .await
                .map(|outcome| match outcome {
                    Conditional::Done => Ok(()),
                    Conditional::Missing => Err(Error::SessionGone),
                    Conditional::Changed => Err(Error::Conflict),
                }),
            _ => self.inner.backend.delete(&old_key).await.map(|existed| {
                if existed {
                    Ok(())
                } else {
                    Err(Error::SessionGone)
                }
            }),
        };
        if !matches!(removed, Ok(Ok(()))) {
            let _ = self.inner.backend.delete(&new_key).await;
        }
        match removed {
            Ok(Ok(())) => {
                // The move is complete: an eviction that fails leaves the owner over the
                // cap until the next session joins, which checks it again.
                if let Some((owner, victims)) = evict {
                    let _ = self.evict(&owner, victims).await;
                }
                Ok(new)
            }
            Ok(Err(e)) => restore(session, e),
            Err(e) => restore(session, e.into()),
        }
    }

    /// Loads a session by its storage id (from [`Store::ids`]).
    pub async fn load_stored(&self, id: &StorageId) -> Result<Option<Session<T>>, Error> {
        self.load_key(&self.key_of(id)).await
    }

    /// Removes a session by its storage id; returns whether it existed. Keeps the owner
    /// index in step as [`Store::destroy`] does.
    pub async fn destroy_stored(&self, id: &StorageId) -> Result<bool, Error> {
        self.destroy_key(&self.key_of(id)).await
    }

    async fn load_key(&self, key: &str) -> Result<Option<Session<T>>, Error> {
        let inner = &self.inner;
        let value = match inner
            .backend
            .get(key, inner.settings.max_envelope_len)
            .await?
        {
            Fetched::Value(value) => value,
            Fetched::TooLarge { .. } | Fetched::NotBytes => return Err(RejectKind::Length.into()),
            Fetched::Missing => return Ok(None),
        };
        // A value that may have to be written back (under an older key, or without an
        // expiry in a store that has a lifetime) is copied before opening, which decrypts in
        // place, so the write-back can check that it is still what is stored. The header
        // is not authenticated yet: it only decides whether to copy.
        let rekey = inner.settings.lazy_reseal && inner.sealer.needs_reseal(&value);
        let unlimited = inner.settings.absolute_lifetime.is_some()
            && Header::parse(&value).is_ok_and(|h| h.expires_at == 0);
        let stored = (rekey || unlimited).then(|| value.clone());
        let (mut session, opened) = self.open(key, value)?;
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
        // Written back, the session comes from the re-sealed envelope.
        let resealed = sealed.as_ref().ok().map(|v| self.origin_of(v));
        let outcome = self.reseal(key, &stored, sealed).await;
        if let (Ok(true), Some(origin)) = (&outcome, resealed) {
            session.origin = Some(origin);
        }
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

    /// Opens and decodes a stored value. The session carries the expiry this store keeps
    /// for it ([`Store::effective_expiry`] of the stored one); the opened envelope, the
    /// stored expiry.
    fn open(&self, key: &str, value: Vec<u8>) -> Result<(Session<T>, Opened), Error> {
        let now = self.inner.settings.clock.now_secs();
        let origin = self.origin_of(&value);
        let opened = self.open_envelope(key, value, now)?;
        let (data, record) = record::split(opened.plaintext())?;
        let data = self.decode(opened.codec, data)?;
        let session = Session {
            data,
            expires_at: Some(self.effective_expiry(Some(opened.expires_at), now)),
            stored_owner: record.owner.clone(),
            record,
            origin: Some(origin),
        };
        Ok((session, opened))
    }

    /// Which stored value `value` is, as the sealer identifies it.
    fn origin_of(&self, value: &[u8]) -> Origin {
        Origin::of(value, self.inner.sealer.identity(value))
    }

    /// Opening steps 1 to 7 in the sealer. The size and the expiry are checked here as
    /// well, so a custom sealer that forgets them cannot let such a value through.
    fn open_envelope(&self, key: &str, value: Vec<u8>, now: u64) -> Result<Opened, Error> {
        let inner = &self.inner;
        if value.len() > inner.settings.max_envelope_len {
            return Err(RejectKind::Length.into());
        }
        let ctx = OpenContext::new(key.as_bytes(), now, inner.settings.max_envelope_len);
        let opened = inner.sealer.open(&ctx, value)?;
        if opened.expires_at != 0 && opened.expires_at <= now {
            return Err(RejectKind::Expired.into());
        }
        Ok(opened)
    }

    /// Opening step 8: decode the data (the plaintext before any owner record) with the
    /// codec the envelope names.
    fn decode(&self, codec: CodecId, data: &[u8]) -> Result<T, Error> {
        let codec = self
            .inner
            .settings
            .readers()
            .find(|c| c.id() == codec)
            .ok_or(RejectKind::NoReader)?;
        Ok(codec.decode(data).map_err(Rejection::decode)?)
    }

    /// The expiry to store a session with: a new session starts the store's lifetime; a
    /// stored one keeps its expiry, capped by the store's current lifetime (so turning the
    /// lifetime on or shortening it applies to live sessions too, at their next save or
    /// re-seal, and nothing is extended). See [`rotation::capped_expiry`].
    fn effective_expiry(&self, stored: Option<u64>, now: u64) -> u64 {
        match self.inner.settings.absolute_lifetime {
            Some(lifetime) => rotation::capped_expiry(stored.unwrap_or(0), now, lifetime),
            None => stored.unwrap_or(0),
        }
    }

    /// Encodes, seals and writes with the store's idle TTL; returns whether the backend
    /// wrote (create-only may not) and records the expiry written with in `session`.
    ///
    /// A session bound to an owner is added to the owner's index first when it is written
    /// under a new key or its owner changed (`moving_from`: the storage id `cycle_id` moves
    /// it from, which the cap does not count). An owner it no longer has keeps its entry,
    /// which is never listed: a save racing the change could bind it again.
    ///
    /// `None` when the mode forbade the write. With `moving_from` (`cycle_id`), the
    /// sessions the owner's cap evicts are returned, not evicted: the move may still fail.
    async fn write(
        &self,
        key: &str,
        session: &mut Session<T>,
        mode: WriteMode,
        moving_from: Option<&str>,
    ) -> Result<Option<Deferred>, Error> {
        let in_place = mode != WriteMode::CreateOnly;
        let changed = session.record.owner != session.stored_owner;
        let index = session.record.owner.is_some() && (!in_place || changed);
        let written = self
            .write_data(
                key,
                &session.data,
                session.expires_at,
                mode,
                None,
                Some(Owned {
                    record: &mut session.record,
                    index,
                    moving_from,
                }),
            )
            .await?;
        let Some(written) = written else {
            return Ok(None);
        };
        session.expires_at = Some(written.expires_at);
        session.origin = Some(written.origin);
        session.stored_owner = session.record.owner.clone();
        Ok(Some(written.deferred))
    }

    /// The index member of a storage key: the storage id.
    fn member_of(&self, key: &str) -> String {
        key.strip_prefix(self.inner.settings.prefix.as_str())
            .unwrap_or(key)
            .to_owned()
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
        self.inner.settings.readers().all(|codec| {
            let mut bytes = Vec::new();
            codec.encode(sample, &mut bytes).is_ok()
                && codec.decode(&bytes).is_ok_and(|back| back == *sample)
        })
    }

    /// Encodes, seals and writes `data` under an exact storage key: the one write path, for
    /// [`Store::write`] and for framework adapters (whose ids are not [`SessionId`]s and
    /// whose data they hold by reference). `stored` is the expiry as [`Session`] keeps it;
    /// `idle` a framework's own idle TTL, used instead of the store's (the absolute expiry
    /// still caps it). Returns the expiry and identity written with, or `None` when the mode
    /// forbade the write (for [`WriteMode::IfUnchanged`]: the key was gone). A value found
    /// changed by an optimistic write is [`Error::Conflict`].
    ///
    /// `owned` carries the session's owner record, updated here (last seen, and created at
    /// on its first write), and whether to add the session to its owner's index before the
    /// write. Without it, or without an owner, the plaintext is the codec output alone.
    pub(crate) async fn write_data(
        &self,
        key: &str,
        data: &T,
        stored: Option<u64>,
        mode: WriteMode,
        idle: Option<Duration>,
        owned: Option<Owned<'_>>,
    ) -> Result<Option<Written>, Error> {
        let inner = &self.inner;
        let now = inner.settings.clock.now_secs();
        let expires_at = self.effective_expiry(stored, now);
        let ttl = self.ttl_for(data, expires_at, now, idle)?;
        let empty = Record::default();
        let (record, index, moving_from) = match owned {
            Some(Owned {
                record,
                index,
                moving_from,
            }) => {
                if record.owner.is_some() {
                    if inner.settings.owners.is_none() {
                        return Err(Error::NoOwnerIndex);
                    }
                    // An entry is kept until its session's absolute expiry: without one it
                    // would never go.
                    if expires_at == 0 {
                        return Err(ConfigError::InvalidSetting(
                            SettingError::OwnersWithoutLifetime,
                        )
                        .into());
                    }
                    record.last_seen = now;
                    if record.created_at == 0 {
                        record.created_at = now;
                    }
                }
                (&*record, index, moving_from)
            }
            None => (&empty, false, None),
        };

        // The session is encoded straight into the buffer that becomes the sealed value,
        // after the room the sealer reserves for its header: no second buffer, no copy.
        // Capacity is what the largest session so far needed plus a quarter, so the encoder
        // seldom has to grow it (codecs grow it through a `WipingWriter`, which wipes the
        // old allocation, but a copy is a copy). Reserving the 64 KiB maximum instead costs
        // about 1 µs per save: glibc consolidates its heap when a chunk that large is freed.
        let sealer = &inner.sealer;
        let overhead = sealer.overhead().unwrap_or(0);
        let prefix = sealer.reserved_prefix();
        let max = inner.settings.max_envelope_len;
        let room = max.saturating_sub(overhead);
        let hint = inner.plaintext_hint.load(Ordering::Relaxed);
        let reserve = hint
            .saturating_add(hint / 4)
            // clamp panics if min > max: room.max(256) is at least 256.
            .clamp(256, room.max(256))
            .saturating_add(overhead)
            .saturating_add(record.len_hint());
        let mut buf = WipeOnDrop(Vec::with_capacity(reserve));
        buf.0.resize(prefix, 0);
        inner
            .settings
            .codec
            .encode(data, &mut buf.0)
            .map_err(Error::Encode)?;
        record.append(&mut buf.0, prefix);
        let plaintext_len = buf.0.len().saturating_sub(prefix);
        inner
            .plaintext_hint
            .fetch_max(plaintext_len.min(room), Ordering::Relaxed);
        let expected = plaintext_len.saturating_add(overhead);
        if expected > max {
            return Err(Error::TooLarge { len: expected, max });
        }
        let ctx = SealContext::new(key.as_bytes(), inner.settings.codec.id(), expires_at);
        sealer.seal_in_place(&ctx, &mut buf.0)?;
        let value = &buf.0;
        if value.len() > max {
            return Err(Error::TooLarge {
                len: value.len(),
                max,
            });
        }
        // Index first, session second: a failure in between leaves an entry without a
        // session, never the other way round. Only once the value is ready, so a session
        // that cannot be written (too large, say) evicts nothing and adds no entry.
        let mut evict = Vec::new();
        if index && let Some(owner) = &record.owner {
            let member = self.member_of(key);
            let mut except = vec![member.as_str()];
            except.extend(moving_from);
            evict = self.check_cap(owner, &except).await?;
            let names = self.index_names(owner)?;
            let primary = names.first().ok_or(Error::NoOwnerIndex)?;
            // The entry goes at the session's expiry, or ten years from now for a session
            // that would outlive that (a reader prunes entries beyond it as planted).
            let until = expires_at.min(now.saturating_add(MAX_LIFETIME.as_secs()));
            inner
                .backend
                .index_add(primary, &member, now, until, owners::prune_time(now))
                .await?;
        }
        let written = match &mode {
            WriteMode::CreateOnly => {
                inner
                    .backend
                    .set(key, value, ttl, SetMode::CreateOnly)
                    .await?
            }
            WriteMode::UpdateOnly => {
                inner
                    .backend
                    .set(key, value, ttl, SetMode::UpdateOnly)
                    .await?
            }
            WriteMode::IfUnchanged(origin) => {
                match inner
                    .backend
                    .set_if(key, value, ttl, origin.expect())
                    .await?
                {
                    Conditional::Done => true,
                    Conditional::Missing => false,
                    Conditional::Changed => return Err(Error::Conflict),
                }
            }
        };
        // Room under the cap is made only once the new session is stored: a write that
        // fails evicts nothing. A move (`cycle_id`) leaves it to its caller, which evicts
        // only once the old entry is gone.
        let mut deferred = None;
        if written && let Some(owner) = &record.owner {
            if moving_from.is_some() {
                deferred = Some((owner.clone(), evict));
            } else {
                // Best effort: the session is stored, and an error now would tell the
                // caller it was not. The next session to join the owner checks the cap
                // again.
                let _ = self.evict(owner, evict).await;
            }
        }
        Ok(written.then(|| Written {
            expires_at,
            origin: self.origin_of(value),
            deferred,
        }))
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
        let idle = match (idle, &self.inner.settings.idle_ttl) {
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

/// How [`Store::write_data`] may write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum WriteMode {
    /// Only if the key is unused (a new session).
    CreateOnly,
    /// Only if the key exists, whatever it holds (today's save of a loaded session).
    UpdateOnly,
    /// Only if the key holds the envelope the session came from (an optimistic save).
    IfUnchanged(Origin),
}

/// What [`Store::write_data`] wrote: the absolute expiry, which envelope it is, and (for a
/// move) the owner's sessions to evict once the move is complete.
pub(crate) struct Written {
    pub(crate) expires_at: u64,
    pub(crate) origin: Origin,
    deferred: Deferred,
}

/// Sessions an owner's cap evicts, left to the caller of a move.
type Deferred = Option<(crate::id::Owner, Vec<self::owners::Found>)>;

/// A session's owner record on its way to [`Store::write_data`].
pub(crate) struct Owned<'a> {
    pub(crate) record: &'a mut Record,
    /// Whether to add the session to its owner's index before writing it.
    pub(crate) index: bool,
    /// The storage id the session moves from (`cycle_id`), which the cap does not count.
    pub(crate) moving_from: Option<&'a str>,
}

/// What a framework adapter knows of a session's owner at a write: who (from the field it
/// was told), since when (from the load, `0` when unknown) and its device label.
#[cfg_attr(
    not(any(feature = "tower-sessions", feature = "actix-session")),
    allow(dead_code)
)]
pub(crate) fn adapter_record(
    owner: Option<crate::id::Owner>,
    created_at: u64,
    label: Option<&str>,
) -> Record {
    Record {
        owner,
        created_at,
        last_seen: 0,
        label: label.map(record::bounded_label),
    }
}

impl<T: 'static, B> fmt::Debug for Store<T, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Inner {
            backend: _,
            sealer,
            keyring: _,
            settings,
            reseals: _,
            plaintext_hint: _,
        } = &*self.inner;
        let mut d = f.debug_struct("Store");
        d.field("sealer", sealer);
        settings.debug_fields(&mut d);
        d.finish_non_exhaustive()
    }
}
