//! A [`SessionStore`] for actix-session 0.11 (actix-web).
//!
//! actix-session keeps a session as a map of strings under a session key it gets back from
//! the store. [`ActixSessionStore`] makes each key a fresh [`SessionId`] (256 random bits)
//! and stores the map as an envelope under `prefix + hex(SHA-256(key))`, exactly as the
//! crate's own ids are stored, with actix-session's TTL as the entry's idle TTL.
//!
//! actix-session's TTL slides: every `update` and `update_ttl` sets it again. The store's
//! absolute lifetime (seven days from creation by default; see
//! [`StoreBuilder::absolute_lifetime`](crate::StoreBuilder::absolute_lifetime)) still caps every session, authenticated inside the
//! envelope, so a session kept alive by activity ends anyway.
//!
//! A stored value that is refused (tampered with, under an unknown or retired key) is "no
//! session" for actix-session, with a `tracing` warning that names the rejection kind and
//! never the key (an expired one is logged at debug level: that is normal); a backend
//! failure is an error.
//!
//! A log-out wins races: `update` of a session deleted meanwhile writes nothing, and
//! `delete` of an entry that is already gone is an error, so a request that renews the
//! session key (actix-session deletes the old key, then saves the state under a new one)
//! while another request logs out fails instead of bringing the session back.
//!
//! `update` must keep the session's authenticated absolute expiry. `load` remembers it (in a
//! small bounded map shared by the clones of the adapter), so the `update` of the same
//! request writes at once; when it is not remembered (another instance loaded the session,
//! or the map was full and cleared), `update` reads the entry first, one more round trip.
//! Either way the write is update-only, so a log-out still wins.
//!
//! # Renewing keeps the lifetime
//!
//! actix-session renews a session key (`Session::renew`, at log-in) by deleting the old
//! entry and saving the same state as a new session. So that a renewal cannot restart the
//! absolute lifetime (whoever holds a cookie could otherwise keep a session alive forever by
//! renewing it before each deadline), `load` adds one reserved entry to the state it hands
//! to actix-session, [`EXPIRY_ENTRY`], holding the session's absolute expiry in Unix seconds
//! (a JSON number, `0` for none). `save` takes the expiry from it, capped by the store's
//! lifetime as for any session, and never stores the entry itself; `update` ignores it and
//! keeps the expiry of the stored envelope. The application sees the entry among
//! `Session::entries()` and should leave it alone. Only a state without it starts a new
//! lifetime: a session that was never stored, or one emptied by `Session::purge()` (or
//! `Session::clear()`) before being saved again. A forged entry gains nothing: the expiry it
//! names is capped at `now + lifetime`, what a new session gets anyway.
//!
//! # Concurrent requests
//!
//! actix-session hands the store the whole state of a request when it ends (`update`), so
//! two concurrent requests of one browser both write back what they loaded, and by default
//! the later `update` replaces the whole state: the earlier request's changes are lost.
//! `SessionStore::update` cannot report a conflict to the handler.
//!
//! [`ActixSessionStore::merge_on_conflict`] resolves it entry by entry. Each loaded state
//! then carries one more reserved entry, [`LOADED_ENTRY`]: a JSON string naming the
//! envelope the state came from, with a keyed digest (HMAC under a key drawn when the
//! adapter is built) of each entry's key and value, authenticated as a whole. Handlers see
//! it among `Session::entries()` and should leave it alone; it is never stored. An `update`
//! is optimistic. If another request saved the session since this one loaded it, the
//! adapter loads what that request saved and applies this request's own changes to it:
//! every entry whose value differs from the one loaded (or which is new) is written, every
//! loaded entry that is gone is removed, the rest stays as the other request left it. Then it
//! writes again, with the store's retries and back-off
//! ([`StoreBuilder::update_retries`](crate::StoreBuilder::update_retries)).
//!
//! What it resolves: requests that change different entries all keep their changes, and a
//! request that changed nothing and lost the race writes nothing. What it cannot resolve:
//! - Two requests that change the same entry: the later `update` wins, as in a database
//!   without locks (a request that sets an entry back to the value it loaded has not
//!   changed it). For a read-modify-write of one entry, use
//!   [`Store::update_stored`](crate::Store::update_stored) with the session's storage id
//!   ([`STORAGE_ID_ENTRY`], with an owner field).
//! - Values derived from other entries are not recomputed.
//! - A state the handler emptied (`Session::purge`, `Session::clear`, which remove the
//!   reserved entries too) or whose reserved entry it changed: the plain `update`, last
//!   writer wins.
//! - Retries that all lose: `update` fails with an error after the last attempt, which
//!   actix-web answers with a 500.
//! - A log-out between the load and the `update` still wins: nothing is written.
//!
//! The cost with the option on: two HMAC digests per entry at each load and each `update`;
//! an `update` that loses the race costs a load and a write per attempt. A store built with
//! [`StoreBuilder::optimistic_saves`](crate::StoreBuilder::optimistic_saves) changes
//! nothing here: that setting is for [`Store::save`](crate::Store::save).
//!
//! ```no_run
//! # fn f() -> Result<(), sealed_session::Error> {
//! use sealed_session::integrations::actix_session::ActixSessionStore;
//! use sealed_session::{KeyMaterial, Keyring, MemoryBackend, Store, Suite};
//!
//! let keyring = Keyring::single(1, Suite::Aes256Gcm, KeyMaterial::generate()?)?;
//! let store = ActixSessionStore::new(Store::builder(MemoryBackend::new()).keyring(keyring).build()?)?;
//! // App::new().wrap(SessionMiddleware::new(store.clone(), cookie_key.clone()))
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};

use crate::backend::Backend;
use crate::error::{ConfigError, Error, RejectKind, SettingError};
use crate::id::{SessionId, StorageId};
use crate::store::{
    MAX_LIFETIME, Owned, Session, StorageKeys, Store, WriteMode, adapter_record, backoff,
};

pub use super::merge::LOADED_ENTRY;
use super::merge::{Loaded, Merger};
use super::owner_field::{Bound, OwnerFields, label_of, owner_of};
use super::remembered::Remembered;

/// The session data actix-session keeps: a map of strings (each a JSON text).
pub type SessionState = HashMap<String, String>;

/// The reserved state entry in which a loaded session carries its absolute expiry through a
/// renewal (Unix seconds as a JSON number, `0` for none): see the module docs.
pub const EXPIRY_ENTRY: &str = "sealed-session.expires-at";

/// The reserved state entry in which a loaded session carries its own storage id (a JSON
/// string), when the adapter has an owner field: actix-session does not show handlers the
/// session key, and the storage id is what marks "this device" in the owner's session list
/// and what [`Store::revoke_all_except`] keeps. Never stored.
pub const STORAGE_ID_ENTRY: &str = "sealed-session.storage-id";

/// Takes the reserved entries out of `state`: the absolute expiry the expiry entry
/// carries, if it holds a whole number.
fn take_expiry(state: &mut SessionState) -> Option<u64> {
    state.remove(STORAGE_ID_ENTRY);
    state.remove(LOADED_ENTRY);
    state
        .remove(EXPIRY_ENTRY)
        .and_then(|text| text.trim().parse().ok())
}

/// How many fresh ids `save` tries when one is taken (256-bit ids: never, in practice).
const SAVE_ATTEMPTS: usize = 4;

/// What `load` remembers for the `update` of the same request: the absolute expiry (Unix
/// seconds, 0 for none), which never changes while the session lives (an update keeps it; a
/// new session gets a new id), and when the session was bound to its owner (0: unknown).
#[derive(Clone)]
struct Remember {
    expires_at: u64,
    bound: Option<Bound>,
}

impl Remember {
    fn of(session: &Session<SessionState>) -> Remember {
        Remember {
            expires_at: expiry_secs(session),
            bound: Bound::of(session),
        }
    }
}

/// actix-session's [`SessionStore`] over a [`Store`] of [`SessionState`]. Any codec works
/// (the state is strings); the default bincode is the fastest.
pub struct ActixSessionStore<B> {
    store: Store<SessionState, B>,
    loaded: Arc<Remembered<Remember>>,
    fields: OwnerFields,
    /// With `merge_on_conflict`: updates are optimistic and re-apply the request's changes.
    merge: Option<Arc<Merger>>,
}

impl<B> Clone for ActixSessionStore<B> {
    fn clone(&self) -> Self {
        ActixSessionStore {
            store: self.store.clone(),
            loaded: Arc::clone(&self.loaded),
            fields: self.fields.clone(),
            merge: self.merge.clone(),
        }
    }
}

impl<B: Backend> ActixSessionStore<B> {
    /// The adapter over `store`, which must hash ids into storage keys (the default). The
    /// store's prefix, keyring, codec and absolute lifetime apply; its idle TTL is replaced
    /// by actix-session's.
    pub fn new(store: Store<SessionState, B>) -> Result<Self, Error> {
        if store.storage_keys() != StorageKeys::Hashed {
            return Err(Error::Config(ConfigError::InvalidSetting(
                SettingError::PlainIdsWithAdapter,
            )));
        }
        Ok(ActixSessionStore {
            store,
            loaded: Arc::default(),
            fields: OwnerFields::default(),
            merge: None,
        })
    }

    /// Updates optimistically and, when another request saved the same session since this
    /// request loaded it, re-applies this request's own changes to what that request saved,
    /// key by key, and updates again (see the module docs, "Concurrent requests"). The
    /// retries and their back-off are the store's
    /// ([`StoreBuilder::update_retries`](crate::StoreBuilder::update_retries)). Off by
    /// default: the last update then replaces the whole state.
    #[must_use]
    pub fn merge_on_conflict(mut self) -> Self {
        self.merge = Some(Arc::new(Merger::new()));
        self
    }

    /// Keeps the store's owner index in step: every session saved with a state entry
    /// `field` is bound to the owner its value names (a JSON string's text, or a number's
    /// decimal text; see [`Owner`](crate::Owner)), and unbound when the entry is gone.
    /// [`Error::NoOwnerIndex`] unless the store has an owner index
    /// ([`StoreBuilder::owners`](crate::StoreBuilder::owners)).
    pub fn owner_field(mut self, field: impl Into<String>) -> Result<Self, Error> {
        if !self.store.has_owner_index() {
            return Err(Error::NoOwnerIndex);
        }
        self.fields.owner = Some(field.into());
        Ok(self)
    }

    /// The state entry holding the device label shown in the owner's session list (a JSON
    /// string, such as a summary of the user agent).
    #[must_use]
    pub fn label_field(mut self, field: impl Into<String>) -> Self {
        self.fields.label = Some(field.into());
        self
    }

    /// The storage id of an actix-session key: what the owner's session list names it by.
    pub fn storage_id(&self, key: &SessionKey) -> StorageId {
        storage_id(key)
    }

    /// The underlying store (for `rewrap`, `census`, `clear`...).
    pub fn store(&self) -> &Store<SessionState, B> {
        &self.store
    }

    /// The storage key of an actix-session key.
    pub fn storage_key(&self, key: &SessionKey) -> String {
        self.store.key_of(&storage_id(key))
    }

    /// Writes `state` under `key`; `stored` is the absolute expiry it keeps (`None` for a
    /// new session). Returns whether the mode let it write.
    /// `bound`: the stored session's owner and when it was bound (`None` for a new one).
    async fn write(
        &self,
        key: &str,
        state: &SessionState,
        stored: Option<u64>,
        bound: Option<&Bound>,
        mode: WriteMode,
        ttl: &time::Duration,
    ) -> Result<bool, Error> {
        let field = |name: &Option<String>| {
            name.as_ref()
                .and_then(|n| state.get(n))
                .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
        };
        let owner = field(&self.fields.owner).as_ref().and_then(owner_of);
        let label = field(&self.fields.label);
        let since = Bound::since_for(bound, owner.as_ref());
        let mut record = adapter_record(owner, since, label.as_ref().and_then(label_of));
        let index = record.owner.is_some();
        self.store
            .write_data(
                key,
                state,
                stored,
                mode,
                Some(std_ttl(ttl)),
                Some(Owned {
                    record: &mut record,
                    index,
                    moving_from: None,
                }),
            )
            .await
            .map(|written| written.is_some())
    }
}

impl<B: Backend> ActixSessionStore<B> {
    /// `update` with [`ActixSessionStore::merge_on_conflict`]: an optimistic write of the
    /// state as it is; on a conflict, the stored state again with this request's changes
    /// applied, until one write wins, the session is gone, or the retries run out.
    async fn update_merging(
        &self,
        key: &str,
        id: &StorageId,
        request: &SessionState,
        mut remembered: Remember,
        (merger, loaded): (&Merger, &Loaded),
        ttl: &time::Duration,
    ) -> Result<bool, Error> {
        let changes = merger.changes(loaded, request, |v: &String| v.as_bytes().to_vec());
        let retries = self.store.update_retries();
        let mut origin = loaded.origin().clone();
        let mut merged: Option<SessionState> = None;
        let mut retry: u32 = 0;
        loop {
            let state = merged.as_ref().unwrap_or(request);
            let written = self
                .write(
                    key,
                    state,
                    Some(remembered.expires_at),
                    remembered.bound.as_ref(),
                    WriteMode::IfUnchanged(origin),
                    ttl,
                )
                .await;
            match written {
                // What another request saved already holds everything this one would
                // write: nothing to re-apply.
                Err(Error::Conflict) if changes.is_empty() => return Ok(true),
                Err(Error::Conflict) if retry.saturating_add(1) < retries.attempts() => {}
                other => return other,
            }
            tracing::debug!("session saved by another request meanwhile; re-applying changes");
            backoff(retries.delay(retry)).await;
            retry += 1;
            match self.store.load_stored(id).await {
                Ok(Some(current)) => {
                    let Some(current_origin) = current.origin().cloned() else {
                        return Err(Error::Conflict);
                    };
                    origin = current_origin;
                    remembered = Remember::of(&current);
                    let mut state = current.into_data();
                    changes.apply(&mut state);
                    merged = Some(state);
                }
                // Gone (a log-out won) or no longer a session of this store: left alone.
                Ok(None) | Err(Error::Rejected(_)) => return Ok(false),
                Err(e) => return Err(e),
            }
        }
    }
}

/// actix-session's TTL as a whole number of seconds between one second and the store's
/// longest lifetime.
fn std_ttl(ttl: &time::Duration) -> Duration {
    let secs = u64::try_from(ttl.whole_seconds()).unwrap_or(0);
    // MAX_LIFETIME is ten years, above the minimum of 1 s, so clamp cannot panic.
    Duration::from_secs(secs.clamp(1, MAX_LIFETIME.as_secs()))
}

fn storage_id(key: &SessionKey) -> StorageId {
    StorageId::hash_of(key.as_ref())
}

/// Keys this store hands out are [`SessionId`]s; anything else came from a client and names
/// no session, so it is answered without a backend round trip.
fn well_formed(key: &SessionKey) -> bool {
    SessionId::parse(key.as_ref()).is_ok()
}

/// A stored session's absolute expiry in Unix seconds, 0 for none.
fn expiry_secs(session: &Session<SessionState>) -> u64 {
    session
        .expires_at()
        .and_then(|at| at.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

fn other(e: Error) -> anyhow::Error {
    // The crate's errors never hold ids, keys or session data.
    anyhow::Error::new(e)
}

impl<B: Backend> SessionStore for ActixSessionStore<B> {
    async fn load(&self, session_key: &SessionKey) -> Result<Option<SessionState>, LoadError> {
        if !well_formed(session_key) {
            tracing::debug!("malformed session key; no session");
            return Ok(None);
        }
        let id = storage_id(session_key);
        match self.store.load_stored(&id).await {
            Ok(Some(session)) => {
                let remember = Remember::of(&session);
                let expires_at = remember.expires_at;
                self.loaded.remember(id, remember);
                let origin = session.origin().cloned();
                let mut state = session.into_data();
                if let (Some(merger), Some(origin)) = (&self.merge, origin) {
                    let text = merger.describe(
                        &origin,
                        state
                            .iter()
                            .map(|(k, v)| (k.as_str(), v.as_bytes().to_vec())),
                    );
                    state.insert(
                        LOADED_ENTRY.to_owned(),
                        serde_json::Value::from(text).to_string(),
                    );
                }
                state.insert(EXPIRY_ENTRY.to_owned(), expires_at.to_string());
                if self.fields.owner.is_some() {
                    state.insert(
                        STORAGE_ID_ENTRY.to_owned(),
                        serde_json::Value::from(storage_id(session_key).as_str()).to_string(),
                    );
                }
                Ok(Some(state))
            }
            Ok(None) => Ok(None),
            Err(Error::Rejected(r)) if r.kind() == RejectKind::Expired => {
                tracing::debug!("stored session past its absolute expiry; no session");
                Ok(None)
            }
            Err(Error::Rejected(r)) => {
                tracing::warn!(
                    rejection = r.kind().as_str(),
                    step = r.kind().step(),
                    "stored session refused; treated as no session"
                );
                Ok(None)
            }
            Err(e) => Err(LoadError::Other(other(e))),
        }
    }

    /// A new session under a fresh 256-bit id, created only if the id is unused. A state
    /// that carries [`EXPIRY_ENTRY`] (a renewal) keeps that absolute expiry; if it has
    /// passed, nothing is written and the key returned names no session.
    async fn save(
        &self,
        session_state: SessionState,
        ttl: &time::Duration,
    ) -> Result<SessionKey, SaveError> {
        let mut state = session_state;
        let carried = take_expiry(&mut state);
        for _ in 0..SAVE_ATTEMPTS {
            let id = SessionId::generate().map_err(|e| SaveError::Other(other(e)))?;
            let key = self.store.key_of(&StorageId::hash_of(id.as_str()));
            let session_key = || {
                SessionKey::try_from(id.as_str().to_owned())
                    .map_err(|e| SaveError::Other(anyhow::Error::new(e)))
            };
            match self
                .write(&key, &state, carried, None, WriteMode::CreateOnly, ttl)
                .await
            {
                Ok(true) => return session_key(),
                Ok(false) => continue,
                Err(Error::SessionExpired) => {
                    tracing::debug!("renewed session past its absolute expiry; not saved");
                    return session_key();
                }
                Err(e) => return Err(SaveError::Other(other(e))),
            }
        }
        Err(SaveError::Other(anyhow::anyhow!(
            "no free session id after several attempts"
        )))
    }

    /// Replaces the state of an existing session, keeping its absolute expiry. If the entry
    /// was destroyed or expired since it was loaded (a log-out in another tab), nothing is
    /// written and the key is returned as it is: the next request finds no session. (The
    /// Redis store of actix-session would create a new session holding the old state; a
    /// logged-out session must not come back, even under a new key.)
    async fn update(
        &self,
        session_key: SessionKey,
        session_state: SessionState,
        ttl: &time::Duration,
    ) -> Result<SessionKey, UpdateError> {
        if !well_formed(&session_key) {
            return Ok(session_key);
        }
        // The stored envelope's expiry is kept, whatever the state claims.
        let mut state = session_state;
        let merging = match (state.get(LOADED_ENTRY), &self.merge) {
            (Some(text), Some(merger)) => serde_json::from_str::<String>(text)
                .ok()
                .and_then(|text| merger.parse(&text))
                .map(|loaded| (merger, loaded)),
            _ => None,
        };
        take_expiry(&mut state);
        let key = self.storage_key(&session_key);
        // The absolute expiry stored in the envelope must be kept: remembered from this
        // adapter's load, or read from the current entry.
        let id = storage_id(&session_key);
        let remembered = match self.loaded.take(&id) {
            Some(remembered) => remembered,
            None => match self.store.load_stored(&id).await {
                Ok(Some(current)) => Remember::of(&current),
                Ok(None) | Err(Error::Rejected(_)) => {
                    tracing::debug!("session entry gone before update; not recreated");
                    return Ok(session_key);
                }
                Err(e) => return Err(UpdateError::Other(other(e))),
            },
        };
        let written = match &merging {
            Some((merger, loaded)) => {
                self.update_merging(&key, &id, &state, remembered, (merger, loaded), ttl)
                    .await
            }
            None => {
                self.write(
                    &key,
                    &state,
                    Some(remembered.expires_at),
                    remembered.bound.as_ref(),
                    WriteMode::UpdateOnly,
                    ttl,
                )
                .await
            }
        };
        match written {
            Ok(_) | Err(Error::SessionExpired) => Ok(session_key),
            Err(e) => Err(UpdateError::Other(other(e))),
        }
    }

    /// Sets the entry's TTL again. It may outlast the envelope's absolute expiry, which
    /// still refuses the value once it has passed.
    async fn update_ttl(
        &self,
        session_key: &SessionKey,
        ttl: &time::Duration,
    ) -> anyhow::Result<()> {
        if !well_formed(session_key) {
            return Ok(());
        }
        self.store
            .backend()
            .expire(&self.storage_key(session_key), std_ttl(ttl))
            .await
            .map(drop)
            .map_err(|e| other(e.into()))
    }

    /// Removes the entry; an entry that is already gone is an error (see the module docs:
    /// a renewal racing a log-out must not recreate the session).
    async fn delete(&self, session_key: &SessionKey) -> anyhow::Result<()> {
        if !well_formed(session_key) {
            return Err(anyhow::anyhow!("no such session"));
        }
        let id = storage_id(session_key);
        self.loaded.take(&id);
        match self.store.destroy_stored(&id).await {
            Ok(true) => Ok(()),
            Ok(false) => Err(anyhow::anyhow!("the session was already gone")),
            Err(e) => Err(other(e)),
        }
    }
}

impl<B> fmt::Debug for ActixSessionStore<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The remembered expiries are per-session state, not configuration.
        let ActixSessionStore {
            store,
            loaded: _,
            fields,
            merge,
        } = self;
        f.debug_struct("ActixSessionStore")
            .field("store", store)
            .field("merge_on_conflict", &merge.is_some())
            .field("owner_field", &fields.owner)
            .field("label_field", &fields.label)
            .finish()
    }
}
