//! Lazy migration: a request carrying a legacy cookie gets the same session, sealed in this
//! store under a fresh id, and the legacy record goes.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;
use zeroize::Zeroizing;

use super::compat::{self, Entry, Found};
use super::session::Lifetime;
use super::{ExpressCookies, LegacySession, LegacySid, LegacySource};
use crate::backend::{Backend, Conditional, Expect, SetMode};
use crate::error::{Error, LegacyError, RejectKind};
use crate::id::SessionId;
use crate::store::{DEFAULT_ABSOLUTE_LIFETIME, MAX_LIFETIME};
use crate::store::{Origin, Session, Store};

/// How long a legacy cookie keeps leading to the session it became, after its migration:
/// requests already under way with the legacy cookie (or a response lost on the way) find
/// the same session instead of none. Five minutes.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(300);

/// How often a resolution starts again after losing a race to another request.
const ATTEMPTS: usize = 4;

type Conversion<T> = dyn Fn(LegacySession) -> Result<T, LegacyError> + Send + Sync;

/// Moves Express sessions into a [`Store`] as their users come back.
///
/// Given a legacy cookie, [`Migrator::migrate_cookie`] verifies it, reads the legacy record
/// (or the entry a bulk import left for it), converts the session to the store's type,
/// stores it under a fresh [`SessionId`] keeping the legacy cookie's expiry (capped by the
/// store's absolute lifetime), and only then deletes the legacy record. The caller sets the
/// new session's cookie and expires the legacy one.
///
/// Concurrent requests with the same legacy cookie end in one session: the first to finish
/// leaves a sealed pointer under a hash of the legacy id for [`DEFAULT_GRACE`], and the
/// others follow it (their own copies are removed before they answer). A record that does
/// not verify is refused ([`Error::Legacy`]), left in place and counted.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), sealed_session::Error> {
/// use serde_json::{Map, Value};
/// use sealed_session::migrate::{ConnectRedis, ExpressCookies, LegacySid, LegacySource, Migrator};
/// use sealed_session::{
///     Backend, Json, KeyMaterial, Keyring, MemoryBackend, SetMode, Store, StoreBuilder, Suite,
/// };
///
/// // The Express application's Redis, holding one connect-redis record.
/// let legacy = MemoryBackend::new();
/// let record = br#"{"cookie":{"path":"/","expires":null},"user":"alice"}"#;
/// legacy.set("sess:r5QeXbdm3", record, None, SetMode::Upsert).await?;
///
/// // JSON: bincode and postcard cannot hold `serde_json::Value`s.
/// let keyring = Keyring::single(1, Suite::Aes256Gcm, KeyMaterial::generate()?)?;
/// let store: Store<Map<String, Value>, _> = StoreBuilder::with_codec(MemoryBackend::new(), Json)
///     .keyring(keyring)
///     .build()?;
/// let cookies = ExpressCookies::new(["keyboard cat"])?;
/// let migrator = Migrator::new(store.clone(), LegacySource::new(legacy, ConnectRedis), cookies.clone());
///
/// // The cookie the browser sends, as express-session signed it.
/// let cookie = cookies.sign(&LegacySid::from_stored("r5QeXbdm3"));
/// let migrated = migrator.migrate_cookie(&cookie).await?.expect("a session");
/// assert_eq!(migrated.session().data["user"], "alice");
/// // From now on the browser sends the new id.
/// let again = store.load(migrated.id()).await?.expect("stored");
/// assert_eq!(again.data["user"], "alice");
/// assert_eq!(migrator.stats().migrated, 1);
/// # Ok(())
/// # }
/// ```
pub struct Migrator<T, B, L> {
    inner: Arc<Inner<T, B, L>>,
}

struct Inner<T, B, L> {
    store: Store<T, B>,
    source: LegacySource<L>,
    cookies: ExpressCookies,
    convert: Box<Conversion<T>>,
    /// Seconds.
    grace: AtomicU64,
    /// Seconds from the migration that a migrated session may live at most.
    lifetime_cap: AtomicU64,
    /// See [`Migrator::rolling`].
    rolling: AtomicBool,
    counters: Counters,
}

impl<T, B, L> Clone for Migrator<T, B, L> {
    fn clone(&self) -> Self {
        Migrator {
            inner: Arc::clone(&self.inner),
        }
    }
}

/// A legacy session found in this store: its new id and the session.
pub struct Migrated<I, T> {
    id: I,
    session: Session<T>,
    fresh: bool,
    browser_session: bool,
}

impl<I, T> Migrated<I, T> {
    /// The session's new id: set it as the session cookie, and expire the legacy cookie.
    pub fn id(&self) -> &I {
        &self.id
    }

    /// The session as stored.
    pub fn session(&self) -> &Session<T> {
        &self.session
    }

    /// Whether this call moved the session; `false` when it followed a move made by an
    /// earlier request within the grace period.
    pub fn is_fresh(&self) -> bool {
        self.fresh
    }

    /// Whether the legacy cookie had no expiry (a browser-session cookie): set the new
    /// cookie without one too. The session itself still expires on the server
    /// ([`Migrator::max_lifetime`]).
    pub fn is_browser_session(&self) -> bool {
        self.browser_session
    }

    /// The id and the session.
    pub fn into_parts(self) -> (I, Session<T>) {
        (self.id, self.session)
    }
}

impl<I, T> fmt::Debug for Migrated<I, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Migrated")
            .field("fresh", &self.fresh)
            .finish_non_exhaustive()
    }
}

/// What a [`Migrator`] did since it was built.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MigrationStats {
    /// Legacy sessions moved into the store.
    pub migrated: u64,
    /// Requests that followed a move made by an earlier request.
    pub followed: u64,
    /// Records refused (did not verify, did not parse, too large, or did not convert to
    /// the store's type); each was left in place.
    pub refused: u64,
    /// Legacy sessions whose cookie had expired.
    pub expired: u64,
    /// Verified cookies with no record (and no entry) behind them.
    pub missing: u64,
    /// Moves after which the legacy record could not be deleted (it is then left to its
    /// TTL; the pointer to the new session outlives none of it).
    pub cleanup_failed: u64,
}

#[derive(Default)]
struct Counters {
    migrated: AtomicU64,
    followed: AtomicU64,
    refused: AtomicU64,
    expired: AtomicU64,
    missing: AtomicU64,
    cleanup_failed: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// How new session ids are made, parsed and stored: [`SessionId`]s for the store's own
/// API, framework ids for an adapter.
pub(crate) trait NewIds<T, B> {
    type Id;
    /// A fresh id and its cookie text.
    fn mint(&self) -> Result<(Self::Id, Zeroizing<String>), Error>;
    /// The id a cookie text names, if it is one.
    fn parse(&self, text: &str) -> Option<Self::Id>;
    /// The exact key the store keeps the id's session under.
    fn key(&self, store: &Store<T, B>, id: &Self::Id) -> String;
}

/// The store's own ids.
struct SessionIds;

impl<T, B> NewIds<T, B> for SessionIds
where
    T: Send + Sync + 'static,
    B: Backend,
{
    type Id = SessionId;

    fn mint(&self) -> Result<(SessionId, Zeroizing<String>), Error> {
        let id = SessionId::generate()?;
        let text = Zeroizing::new(id.as_str().to_owned());
        Ok((id, text))
    }

    fn parse(&self, text: &str) -> Option<SessionId> {
        SessionId::parse(text).ok()
    }

    fn key(&self, store: &Store<T, B>, id: &SessionId) -> String {
        store.storage_key(id)
    }
}

impl<T, B, L> Migrator<T, B, L>
where
    T: DeserializeOwned + Send + Sync + 'static,
    B: Backend,
    L: Backend,
{
    /// A migrator into `store` from `source`, accepting cookies `cookies` verifies. The
    /// legacy session's members (all but `cookie`) become the store's type through serde:
    /// a `serde_json::Map` takes them as they are, a struct takes its fields from them.
    /// [`Migrator::with_conversion`] sets another mapping.
    pub fn new(store: Store<T, B>, source: LegacySource<L>, cookies: ExpressCookies) -> Self {
        let convert = |session: LegacySession| {
            serde_json::from_value(Value::Object(session.into_data()))
                .map_err(|_| LegacyError::MalformedRecord { part: "data" })
        };
        Migrator::with_conversion(store, source, cookies, convert)
    }
}

impl<T, B, L> Migrator<T, B, L>
where
    T: Send + Sync + 'static,
    B: Backend,
    L: Backend,
{
    /// A migrator that turns each legacy session into the store's type with `convert`. A
    /// conversion that fails refuses the record (left in place, counted); return
    /// [`LegacyError::MalformedRecord`] naming what did not fit.
    pub fn with_conversion(
        store: Store<T, B>,
        source: LegacySource<L>,
        cookies: ExpressCookies,
        convert: impl Fn(LegacySession) -> Result<T, LegacyError> + Send + Sync + 'static,
    ) -> Self {
        Migrator {
            inner: Arc::new(Inner {
                store,
                source,
                cookies,
                convert: Box::new(convert),
                grace: AtomicU64::new(DEFAULT_GRACE.as_secs()),
                lifetime_cap: AtomicU64::new(DEFAULT_ABSOLUTE_LIFETIME.as_secs()),
                rolling: AtomicBool::new(false),
                counters: Counters::default(),
            }),
        }
    }

    /// How long a legacy cookie keeps leading to its new session after the move, in whole
    /// seconds, at least one (default [`DEFAULT_GRACE`]). Applies to clones too.
    pub fn grace(self, grace: Duration) -> Self {
        self.inner
            .grace
            .store(grace.as_secs().max(1), Ordering::Relaxed);
        self
    }

    /// Caps a migrated session's life at `lifetime` from its migration, whatever its
    /// legacy cookie said, and gives a session whose legacy cookie had no expiry (a
    /// browser-session cookie) that lifetime. Default [`DEFAULT_ABSOLUTE_LIFETIME`], so a
    /// migrated session always expires, even in a store without an absolute lifetime of
    /// its own (tower-sessions' store, where every record carries its expiry); a store's
    /// own lifetime applies as well. At most [`MAX_LIFETIME`]. Applies to clones too.
    pub fn max_lifetime(self, lifetime: Duration) -> Self {
        let secs = lifetime.min(MAX_LIFETIME).as_secs().max(1);
        self.inner.lifetime_cap.store(secs, Ordering::Relaxed);
        self
    }

    /// The expiry to migrate a session with: its cookie's (`None` for a browser-session
    /// cookie), capped by `max_lifetime` from now.
    fn capped(&self, expires_at: Option<u64>) -> Option<u64> {
        let cap = self
            .inner
            .store
            .now_secs()
            .saturating_add(self.inner.lifetime_cap.load(Ordering::Relaxed));
        Some(expires_at.map_or(cap, |at| at.min(cap)))
    }

    /// Reads the legacy sessions as express-session's `rolling: true` leaves them: a stored
    /// `cookie.expires` in the past does not mean the session ended (the browser's cookie
    /// and the record's TTL moved on without the record being rewritten), so such a
    /// session lives `originalMaxAge` from now. Without it (the default), the stored
    /// expiry is trusted and a session past it is not migrated. Turn it on when the Express
    /// application sets `rolling: true` without `resave: true`. Applies to clones too.
    pub fn rolling(self, rolling: bool) -> Self {
        self.inner.rolling.store(rolling, Ordering::Relaxed);
        self
    }

    pub(crate) fn is_rolling(&self) -> bool {
        self.inner.rolling.load(Ordering::Relaxed)
    }

    fn grace_period(&self) -> Duration {
        Duration::from_secs(self.inner.grace.load(Ordering::Relaxed))
    }

    /// The cookie verifier.
    pub fn cookies(&self) -> &ExpressCookies {
        &self.inner.cookies
    }

    /// The legacy source.
    pub fn source(&self) -> &LegacySource<L> {
        &self.inner.source
    }

    /// The store sessions move into.
    pub fn store(&self) -> &Store<T, B> {
        &self.inner.store
    }

    /// What this migrator (and its clones) did so far.
    pub fn stats(&self) -> MigrationStats {
        let c = &self.inner.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        MigrationStats {
            migrated: get(&c.migrated),
            followed: get(&c.followed),
            refused: get(&c.refused),
            expired: get(&c.expired),
            missing: get(&c.missing),
            cleanup_failed: get(&c.cleanup_failed),
        }
    }

    /// Verifies a legacy cookie value (as sent, percent-encoded) and migrates its session.
    /// `Ok(None)`: the cookie is valid but its session is gone (destroyed, expired, or
    /// migrated longer ago than the grace period). A cookie that does not verify is
    /// [`Error::Legacy`] and nothing is looked up.
    pub async fn migrate_cookie(
        &self,
        cookie_value: &str,
    ) -> Result<Option<Migrated<SessionId, T>>, Error> {
        let sid = self.inner.cookies.verify(cookie_value)?;
        self.migrate(&sid).await
    }

    /// Migrates the session of a verified legacy id (see [`Migrator::migrate_cookie`]).
    pub async fn migrate(&self, sid: &LegacySid) -> Result<Option<Migrated<SessionId, T>>, Error> {
        self.resolve(sid, &SessionIds).await
    }

    /// The key of `sid`'s entry in the store.
    fn entry_key(&self, sid: &LegacySid) -> String {
        format!("{}{}", self.inner.store.prefix(), compat::name_of(sid))
    }

    /// The migration proper, for any kind of new id.
    pub(crate) async fn resolve<I: NewIds<T, B>>(
        &self,
        sid: &LegacySid,
        ids: &I,
    ) -> Result<Option<Migrated<I::Id, T>>, Error> {
        let inner = &*self.inner;
        let store = &inner.store;
        let counters = &inner.counters;
        let entry_key = self.entry_key(sid);
        let mut rechecked = false;
        // A pointer whose session was found missing: seen again, the session really is gone.
        let mut dead_pointer: Option<Origin> = None;
        for _ in 0..ATTEMPTS {
            let found = compat::read(store, &entry_key).await?;
            if let Some(Found {
                entry:
                    Some(Entry::Moved {
                        id: text,
                        browser_session,
                        ..
                    }),
                origin,
            }) = &found
            {
                // Moved by an earlier request: the same session, as long as it lives.
                let id = ids.parse(text).ok_or(RejectKind::Decode)?;
                let Some(session) = store.load_at(&ids.key(store, &id)).await? else {
                    // Logged out of meanwhile, or being undone by the request that moved
                    // it (the legacy application changed the record): look once more.
                    if dead_pointer.as_ref() == Some(origin) {
                        bump(&counters.missing);
                        return Ok(None);
                    }
                    dead_pointer = Some(origin.clone());
                    continue;
                };
                bump(&counters.followed);
                return Ok(Some(Migrated {
                    id,
                    session,
                    fresh: false,
                    browser_session: *browser_session,
                }));
            }
            // The legacy record decides: an imported entry stands for it only while it is
            // the record the entry was made from.
            let Some(record) = self.fetch(sid).await? else {
                match found {
                    Some(Found { origin, .. }) => {
                        // The legacy store destroyed or expired the session after the
                        // import: the entry must not bring it back.
                        match store
                            .backend()
                            .delete_if(&entry_key, origin.expect())
                            .await?
                        {
                            Conditional::Changed => continue,
                            Conditional::Done | Conditional::Missing => {
                                bump(&counters.missing);
                                return Ok(None);
                            }
                        }
                    }
                    // Another request may have moved it between our two reads (claimed,
                    // then deleted the record): look at the entry once more.
                    None if !rechecked => {
                        rechecked = true;
                        continue;
                    }
                    None => {
                        bump(&counters.missing);
                        return Ok(None);
                    }
                }
            };
            let (expect, imported) = match found {
                Some(Found {
                    entry:
                        Some(Entry::Imported {
                            session,
                            record: digest,
                        }),
                    origin,
                }) if digest == compat::record_digest(&record) => (Some(origin), Some(session)),
                Some(Found { origin, .. }) => (Some(origin), None),
                None => (None, None),
            };
            let legacy = match imported {
                Some(session) => session,
                None => self.decode(&record)?,
            };
            let Some((expires_at, browser_session)) = self.lifetime_of(&legacy) else {
                bump(&counters.expired);
                return Ok(None);
            };
            let data = self.convert(legacy)?;
            let (id, text) = ids.mint()?;
            let new_key = ids.key(store, &id);
            let session = store.create_at(&new_key, data, expires_at).await?;
            // The pointer never outlives the session it names. A claim that failed may
            // still have been written (a reply lost on the way): the new session then stays,
            // for the pointer's followers; if the claim was not written, nothing names it
            // and it expires unused.
            let digest = compat::record_digest(&record);
            let Some(pointer) = self
                .claim(&entry_key, &text, &session, browser_session, digest, expect)
                .await?
            else {
                // Another request moved it first: follow its move instead.
                let _ = store.backend().delete(&new_key).await;
                continue;
            };
            return match self
                .settle(sid, &entry_key, &pointer, &new_key, session, record)
                .await?
            {
                Some(session) => {
                    bump(&counters.migrated);
                    Ok(Some(Migrated {
                        id,
                        session,
                        fresh: true,
                        browser_session,
                    }))
                }
                None => {
                    bump(&counters.missing);
                    Ok(None)
                }
            };
        }
        Err(Error::Conflict)
    }

    /// Reads the legacy record, counting a refusal.
    async fn fetch(&self, sid: &LegacySid) -> Result<Option<Vec<u8>>, Error> {
        self.inner.source.fetch(sid).await.inspect_err(|e| {
            if matches!(e, Error::Legacy(_)) {
                bump(&self.inner.counters.refused);
            }
        })
    }

    /// Decodes a legacy record, counting a refusal.
    fn decode(&self, record: &[u8]) -> Result<LegacySession, Error> {
        self.inner.source.decode(record).map_err(|e| {
            bump(&self.inner.counters.refused);
            e.into()
        })
    }

    /// Converts a legacy session to the store's type, counting a refusal.
    fn convert(&self, legacy: LegacySession) -> Result<T, Error> {
        (self.inner.convert)(legacy).map_err(|e| {
            bump(&self.inner.counters.refused);
            e.into()
        })
    }

    /// The expiry to migrate a session with and whether its cookie is a browser-session
    /// one; `None` when it has expired.
    fn lifetime_of(&self, legacy: &LegacySession) -> Option<(Option<u64>, bool)> {
        match legacy.lifetime(self.inner.store.now_secs(), self.is_rolling()) {
            Lifetime::Expired => None,
            Lifetime::BrowserSession => Some((self.capped(None), true)),
            Lifetime::Until(at) => Some((self.capped(Some(at)), false)),
        }
    }

    /// Deletes the legacy record the move was made from, if it is still the record that was
    /// read. If the legacy application saved the session meanwhile, the new session takes
    /// the newer data under the same id (requests may already have followed the move to
    /// it); if it destroyed it (a log-out), the move is undone and there is no session.
    async fn settle(
        &self,
        sid: &LegacySid,
        entry_key: &str,
        pointer: &Origin,
        new_key: &str,
        mut session: Session<T>,
        mut record: Vec<u8>,
    ) -> Result<Option<Session<T>>, Error> {
        let inner = &*self.inner;
        let legacy_key = inner.source.key(sid);
        for _ in 0..ATTEMPTS {
            let still = Expect {
                at: 0,
                bytes: &record,
            };
            match inner.source.backend().delete_if(&legacy_key, still).await {
                Ok(Conditional::Done) => return Ok(Some(session)),
                // The move stands; the record is left to its TTL.
                Err(_) => {
                    bump(&inner.counters.cleanup_failed);
                    return Ok(Some(session));
                }
                Ok(Conditional::Missing) => break,
                Ok(Conditional::Changed) => {}
            }
            let Some(newer) = self.fetch(sid).await? else {
                break;
            };
            let legacy = match self.decode(&newer) {
                Ok(legacy) => legacy,
                Err(e) => {
                    self.undo(entry_key, pointer, new_key).await?;
                    return Err(e);
                }
            };
            let Some((expires_at, _)) = self.lifetime_of(&legacy) else {
                break;
            };
            let data = match self.convert(legacy) {
                Ok(data) => data,
                Err(e) => {
                    self.undo(entry_key, pointer, new_key).await?;
                    return Err(e);
                }
            };
            match inner.store.replace_at(new_key, data, expires_at).await? {
                Some(replaced) => session = replaced,
                // Logged out of already: nothing left to update.
                None => return Ok(None),
            }
            record = newer;
        }
        self.undo(entry_key, pointer, new_key).await?;
        Ok(None)
    }

    /// Removes the pointer (if it is still this one) and then the new session.
    async fn undo(&self, entry_key: &str, pointer: &Origin, new_key: &str) -> Result<(), Error> {
        let backend = self.inner.store.backend();
        backend.delete_if(entry_key, pointer.expect()).await?;
        backend.delete(new_key).await?;
        Ok(())
    }

    /// Writes the pointer to the new session under the entry's key: only if there is none
    /// (`expect` `None`) or it is still the value that was read. Returns the pointer's
    /// identity when this request won.
    async fn claim(
        &self,
        entry_key: &str,
        text: &Zeroizing<String>,
        session: &Session<T>,
        browser_session: bool,
        record: String,
        expect: Option<Origin>,
    ) -> Result<Option<Origin>, Error> {
        let store = &self.inner.store;
        let expires_at = session.expires_at_secs();
        let plaintext = Entry::Moved {
            id: text.clone(),
            browser_session,
            record,
        }
        .to_json();
        let (value, pointer) = store.seal_entry(entry_key, expires_at, &plaintext)?;
        let ttl = store.entry_ttl(expires_at, Some(self.grace_period()))?;
        let backend = store.backend();
        let written = match expect {
            None => {
                backend
                    .set(entry_key, &value, ttl, SetMode::CreateOnly)
                    .await?
            }
            Some(origin) => matches!(
                backend
                    .set_if(entry_key, &value, ttl, origin.expect())
                    .await?,
                Conditional::Done
            ),
        };
        Ok(written.then_some(pointer))
    }
}

impl<T, B, L> fmt::Debug for Migrator<T, B, L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Migrator")
            .field("source", &self.inner.source)
            .field("cookies", &self.inner.cookies)
            .field(
                "grace",
                &Duration::from_secs(self.inner.grace.load(Ordering::Relaxed)),
            )
            .finish_non_exhaustive()
    }
}
