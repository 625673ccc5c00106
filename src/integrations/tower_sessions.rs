//! A [`SessionStore`] for tower-sessions 0.15 (axum and other tower services).
//!
//! tower-sessions keeps a session as a [`Record`]: its own 128-bit id, a map of
//! `serde_json::Value`s and an expiry date. [`TowerSessionStore`] stores each record as an
//! envelope under `prefix + hex(SHA-256(id))`, the same hashing as the crate's own ids, with
//! the record's expiry as the envelope's authenticated absolute expiry and as the TTL.
//!
//! The map is written with [`RecordBincode`]: bincode, with every value tagged by its kind,
//! since plain bincode and postcard are not self-describing and cannot decode
//! `serde_json::Value` (the save would succeed and every load fail). Records written as
//! JSON (by earlier versions of this adapter) are still read. A store with a codec, writer
//! or reader, that cannot round-trip such values is refused when the adapter is built (a
//! reader that cannot would refuse every record carrying its codec byte); [`Json`] is
//! accepted too.
//!
//! Rolling out over instances that still run a version writing JSON: those cannot read
//! [`RecordBincode`] records, so deploy first with a store that writes JSON and reads both,
//! `StoreBuilder::with_codec(backend, Json).also_read(RecordBincode).disable_ttl()
//! .no_absolute_lifetime()` (then the keyring and the rest), and switch to
//! [`TowerSessionStore::builder`] once no instance runs the older version. The same holds
//! backwards: an instance rolled back to a JSON-only version refuses the records written
//! since, so roll back to the JSON-writing step first. (`TowerSessionStore::builder`
//! already reads JSON, so `.codec(Json)` on it is refused when built, as two codecs for
//! one codec byte.)
//!
//! An application in which some crate switches on serde_json's `arbitrary_precision`
//! feature gets its numbers as text, which [`RecordBincode`] cannot always carry exactly;
//! the adapter then refuses it, and the store above (writing JSON) is the one to use.
//!
//! A stored value that is refused (tampered with, under an unknown or retired key, expired)
//! is "no session" for tower-sessions, with a `tracing` warning that names the rejection kind
//! and never the id; a backend failure is an error.
//!
//! Lifetimes are tower-sessions' business here: every save sets the record's expiry anew
//! (with `Expiry::OnInactivity` it slides), and the envelope carries that expiry. The store's
//! own absolute lifetime would slide with it and cap nothing, so the adapter refuses a store
//! that has one; bound sessions with `Expiry::AtDateTime`, or by checking a creation time
//! kept in the session, instead.
//!
//! Limitations, inherent to tower-sessions' interface: `save` of a session deleted meanwhile
//! writes nothing (so a log-out in another tab wins), but `Session::cycle_id` deletes the old
//! entry and creates a new one from the data in hand, so a request that cycles the id while
//! another logs out brings the session back under the new id. (`delete` must stay
//! idempotent: `cycle_id` also deletes ids that were never stored.) With tower-sessions'
//! `CachingSessionStore` in front, a save this adapter declined can still be served from
//! the cache on that node.
//!
//! # Concurrent requests
//!
//! tower-sessions loads a record when a request first touches its session and saves the
//! whole record when the request ends, if the request changed it (or after every request,
//! with `with_always_save(true)`). Two concurrent requests of one browser therefore both
//! save what they loaded, and by default the later save replaces the whole record: the
//! earlier request's changes are lost. tower-sessions' `SessionStore::save` has no way to
//! report a conflict to the handler, so the adapter cannot simply refuse.
//!
//! [`TowerSessionStore::merge_on_conflict`] resolves it entry by entry. Each loaded record
//! then carries one reserved entry, [`LOADED_ENTRY`]: a string naming the envelope the
//! record came from, with a keyed digest (HMAC under a key drawn when the adapter is built)
//! of each entry's key and value, authenticated as a whole. Handlers see it (`Session::get`)
//! and should leave it alone; the adapter takes it out before every write, so it is never
//! stored. A save is optimistic.
//! If another request saved the session since this one loaded it, the adapter loads what
//! that request saved and applies this request's own changes to it: every entry whose value
//! differs from the one loaded (or which is new) is written, every loaded entry that is gone
//! is removed, everything else stays as the other request left it. Then it saves again,
//! with the store's retries and back-off
//! ([`StoreBuilder::update_retries`](crate::StoreBuilder::update_retries)).
//!
//! What it resolves: requests that change different entries (a cart and a preference, a
//! flash message and a counter of another page) all keep their changes; a request that
//! changed nothing and lost the race writes nothing (what the other request saved already
//! holds everything), unless it moved the expiry more than a minute earlier than the stored
//! one; a request that saves twice (a handler that calls `Session::save`, then the end of
//! the request) merges its second save against its first, as long as the adapter still
//! remembers the first (the last 4,096 merging saves of sessions of up to 1,024 entries are
//! remembered; otherwise the second save merges against the load, and an entry added before
//! the first save and removed before the second stays).
//! What it cannot resolve:
//! - Two requests that change the same entry: the later save wins, as in a database
//!   without locks. A request that sets an entry back to the value it loaded has not
//!   changed it, so the other request's value stays. Keep independent facts in independent
//!   entries, or, for a read-modify-write of one entry (a counter), use
//!   [`Store::update_stored`](crate::Store::update_stored) with
//!   [`TowerSessionStore::storage_id`] from the handler.
//! - Values derived from other entries: a request that read `a` and wrote `b` from it
//!   writes that `b`, even if another request changed `a` meanwhile.
//! - A session the handler cleared (`Session::clear`, which removes the reserved entry
//!   too), or whose reserved entry it changed: the save is the plain one, last writer wins.
//! - Retries that all lose (heavy contention on one session): `save` fails with an error
//!   after the last attempt, and tower-sessions answers the request with a 500.
//! - tower-sessions' `CachingSessionStore` in front: its cache keeps records as requests
//!   saved them, before any merge, and hands them to later requests; do not combine the
//!   two.
//! - A log-out between the load and the save still wins: nothing is written.
//!
//! The cost with the option on: each load computes two HMAC digests per entry (of its key,
//! and of its value's JSON text), each save as many again, and a save that loses the race a
//! load and a save per attempt. A save that wins is one round trip, as without the option.
//! The adapter remembers what the last saves wrote (a small bounded map, like the owner
//! fields'). A store built with
//! [`StoreBuilder::optimistic_saves`](crate::StoreBuilder::optimistic_saves) changes
//! nothing here: that setting is for [`Store::save`](crate::Store::save).
//!
//! ```no_run
//! # async fn f() -> Result<(), sealed_session::Error> {
//! use sealed_session::integrations::tower_sessions::TowerSessionStore;
//! use sealed_session::{KeyMaterial, Keyring, MemoryBackend, Suite};
//!
//! let keyring = Keyring::single(1, Suite::Aes256Gcm, KeyMaterial::generate()?)?;
//! let store = TowerSessionStore::new(
//!     TowerSessionStore::builder(MemoryBackend::new()).keyring(keyring).build()?,
//! )?;
//! // let layer = tower_sessions::SessionManagerLayer::new(store);
//! # Ok(()) }
//! ```

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde_json::Value;
use time::OffsetDateTime;
use tower_sessions_core::session::{Id, Record};
use tower_sessions_core::session_store::{self, SessionStore};

use crate::backend::Backend;
#[cfg(feature = "bincode")]
use crate::codec::Json;
use crate::error::{ConfigError, Error, SettingError};
use crate::id::StorageId;
#[cfg(feature = "bincode")]
use crate::store::StoreBuilder;
use crate::store::{Owned, StorageKeys, Store, WriteMode, adapter_record, backoff};

pub use super::merge::LOADED_ENTRY;
use super::merge::{Loaded, Merger};
use super::owner_field::{Bound, OwnerFields, label_of, owner_of};
use super::remembered::Remembered;
use crate::id::Owner;

#[cfg(feature = "express")]
mod legacy;
#[cfg(feature = "bincode")]
mod record;

#[cfg(feature = "express")]
pub use self::legacy::{DEFAULT_MAX_LIFETIME, ExpressMigration, ExpressMigrationLayer};

#[cfg(feature = "bincode")]
pub use self::record::RecordBincode;

/// The session data tower-sessions keeps: a map of JSON values.
pub type RecordData = HashMap<String, Value>;

/// How much later than a merging save's own expiry the stored one may be for that save
/// to count as changing nothing (two requests that slide the expiry a moment apart).
const EXPIRY_SLACK: u64 = 60;

/// How many fresh ids `create` tries when the one it was given is taken.
const CREATE_ATTEMPTS: usize = 8;

/// tower-sessions' [`SessionStore`] over a [`Store`] of [`RecordData`].
pub struct TowerSessionStore<B> {
    store: Store<RecordData, B>,
    fields: OwnerFields,
    /// Each loaded session's owner and when it was bound, for the saves of the same session.
    bound: Arc<Remembered<Bound>>,
    /// With `merge_on_conflict`: saves are optimistic and re-apply the request's changes.
    merge: Option<Arc<Merger>>,
}

impl<B> Clone for TowerSessionStore<B> {
    fn clone(&self) -> Self {
        TowerSessionStore {
            store: self.store.clone(),
            fields: self.fields.clone(),
            bound: Arc::clone(&self.bound),
            merge: self.merge.clone(),
        }
    }
}

impl<B: Backend> TowerSessionStore<B> {
    /// (Feature `bincode`, on by default.) A store builder set up for the adapter: writes
    /// [`RecordBincode`] and also reads
    /// [`Json`]; no idle TTL and no absolute lifetime of its own, since every record
    /// carries its expiry (the TTL then runs until that expiry). Give it a keyring, change
    /// the prefix or size limit as needed, build, and pass the store to
    /// [`TowerSessionStore::new`].
    #[cfg(feature = "bincode")]
    pub fn builder(backend: B) -> StoreBuilder<RecordData, B> {
        StoreBuilder::with_codec(backend, RecordBincode)
            .also_read(Json)
            .disable_ttl()
            .no_absolute_lifetime()
            .expiry_per_write()
    }

    /// The adapter over `store`, whose codecs (writer and readers) must round-trip maps of
    /// `serde_json::Value` ([`RecordBincode`] and [`Json`] do), which must hash ids into
    /// storage keys and have no absolute lifetime of its own ([`TowerSessionStore::builder`]
    /// sets all three).
    pub fn new(store: Store<RecordData, B>) -> Result<Self, Error> {
        let invalid = |e| Err(Error::Config(ConfigError::InvalidSetting(e)));
        if !store.codecs_round_trip(&codec_probe()) {
            return invalid(SettingError::CodecCannotHoldRecords);
        }
        if store.storage_keys() != StorageKeys::Hashed {
            return invalid(SettingError::PlainIdsWithAdapter);
        }
        if store.absolute_lifetime().is_some() {
            return invalid(SettingError::LifetimeWithTowerSessions);
        }
        Ok(TowerSessionStore {
            store,
            fields: OwnerFields::default(),
            bound: Arc::default(),
            merge: None,
        })
    }

    /// Saves optimistically and, when another request saved the same session since this
    /// request loaded it, re-applies this request's own changes to what that request saved,
    /// key by key, and saves again (see the module docs, "Concurrent requests"). The
    /// retries and their back-off are the store's
    /// ([`StoreBuilder::update_retries`](crate::StoreBuilder::update_retries)). Off by
    /// default: the last save then replaces the whole record.
    #[must_use]
    pub fn merge_on_conflict(mut self) -> Self {
        self.merge = Some(Arc::new(Merger::new()));
        self
    }

    /// Keeps the store's owner index in step: every record saved with a field `field` is
    /// bound to the owner its value names (a string's text, or a number's decimal text; see
    /// [`Owner`]), and unbound when the field is gone. Each save of a bound
    /// record also updates its index entry, since tower-sessions may have moved its expiry
    /// (one more round trip). [`Error::NoOwnerIndex`] unless the store has an owner index
    /// ([`StoreBuilder::owners`]).
    pub fn owner_field(mut self, field: impl Into<String>) -> Result<Self, Error> {
        if !self.store.has_owner_index() {
            return Err(Error::NoOwnerIndex);
        }
        self.fields.owner = Some(field.into());
        Ok(self)
    }

    /// The field holding the device label shown in the owner's session list (a string, such
    /// as a summary of the user agent).
    #[must_use]
    pub fn label_field(mut self, field: impl Into<String>) -> Self {
        self.fields.label = Some(field.into());
        self
    }

    /// The storage id of a tower-sessions id: what the owner's session list names it by
    /// (compare it with [`OwnedSession::storage_id`](crate::OwnedSession::storage_id) to
    /// mark the current session).
    pub fn storage_id(&self, id: &Id) -> StorageId {
        storage_id(id)
    }

    /// The underlying store (for `rewrap`, `census`, `clear`...).
    pub fn store(&self) -> &Store<RecordData, B> {
        &self.store
    }

    /// The storage key of a tower-sessions id.
    pub fn storage_key(&self, id: &Id) -> String {
        self.store.key_of(&storage_id(id))
    }

    /// Writes `data` as the record `id`, expiring at `expiry_date`.
    async fn write(
        &self,
        id: &Id,
        data: &RecordData,
        expiry_date: OffsetDateTime,
        mode: WriteMode,
    ) -> Result<WriteOutcome, Error> {
        let expires_at = unix_secs(expiry_date);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if expires_at <= now {
            // Already over: nothing worth storing, and nothing left to save into.
            self.store.destroy_stored(&storage_id(id)).await?;
            return Ok(WriteOutcome::Expired);
        }
        let key = self.storage_key(id);
        let field = |name: &Option<String>| name.as_ref().and_then(|n| data.get(n));
        let owner = field(&self.fields.owner).and_then(owner_of);
        let since = match (&owner, &mode) {
            (Some(_), WriteMode::CreateOnly) | (None, _) => 0,
            (Some(owner), _) => self.bound_since(id, owner).await?,
        };
        let mut owned = adapter_record(owner, since, field(&self.fields.label).and_then(label_of));
        let index = owned.owner.is_some();
        // Written from the map as it is: no copy of it.
        let written = self
            .store
            .write_data(
                &key,
                data,
                Some(expires_at),
                mode,
                None,
                Some(Owned {
                    record: &mut owned,
                    index,
                    moving_from: None,
                }),
            )
            .await;
        match written {
            Ok(Some(written)) => Ok(WriteOutcome::Written(written.origin)),
            Ok(None) => Ok(WriteOutcome::Refused),
            Err(Error::SessionExpired) => Ok(WriteOutcome::Expired),
            Err(e) => Err(e),
        }
    }

    /// `save` with [`TowerSessionStore::merge_on_conflict`]: an optimistic save of the
    /// record as it is; on a conflict, the stored record again with this request's changes
    /// applied, until one save wins, the session is gone, or the retries run out.
    async fn save_merging(
        &self,
        record: &Record,
        merger: &Merger,
        loaded: &Loaded,
    ) -> Result<WriteOutcome, Error> {
        let request = Self::without_reserved(&record.data);
        let changes = merger.changes(loaded, &request, value_bytes);
        let retries = self.store.update_retries();
        let mut origin = loaded.origin().clone();
        // The map to write instead of the request's: the stored one with the changes
        // applied. A request whose last save merged starts there: what is stored holds
        // another request's entries, which its own map lacks.
        let mut merged: Option<RecordData> = None;
        let mut retry: u32 = 0;
        let mut reload = loaded.merged();
        loop {
            if reload {
                let current = match self.store.load_stored(&storage_id(&record.id)).await {
                    Ok(Some(current)) => current,
                    // Gone (a log-out won) or no longer a session of this store: left alone.
                    Ok(None) | Err(Error::Rejected(_)) => return Ok(WriteOutcome::Refused),
                    Err(e) => return Err(e),
                };
                let Some(current_origin) = current.origin().cloned() else {
                    return Err(Error::Conflict);
                };
                // What is stored already holds everything this request would write, and
                // its expiry is not later than this request's by more than the slack of
                // two requests sliding it at about the same time: nothing to write. (A
                // request that shortened the expiry did change something.)
                let stored_until = current
                    .expires_at()
                    .and_then(|at| at.duration_since(UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_secs());
                let wanted = unix_secs(record.expiry_date).saturating_add(EXPIRY_SLACK);
                if changes.is_empty() && stored_until <= wanted {
                    return Ok(WriteOutcome::Superseded);
                }
                origin = current_origin;
                let mut data = current.into_data();
                changes.apply(&mut data);
                merged = Some(data);
            }
            let data = merged.as_ref().unwrap_or(&request);
            let mode = WriteMode::IfUnchanged(origin.clone());
            match self.write(&record.id, data, record.expiry_date, mode).await {
                Ok(WriteOutcome::Written(written)) => {
                    // A second save of this request finds its changes against its map as
                    // it is now.
                    merger.wrote(
                        loaded,
                        written.clone(),
                        request.iter().map(|(k, v)| (k.as_str(), value_bytes(v))),
                        merged.is_some(),
                    );
                    return Ok(WriteOutcome::Written(written));
                }
                Err(Error::Conflict) if retry.saturating_add(1) < retries.attempts() => {}
                other => return other,
            }
            tracing::debug!("session saved by another request meanwhile; re-applying changes");
            backoff(retries.delay(retry)).await;
            retry += 1;
            reload = true;
        }
    }

    /// The record's map without the reserved entry: a copy only when it has one.
    fn without_reserved(data: &RecordData) -> Cow<'_, RecordData> {
        if !data.contains_key(LOADED_ENTRY) {
            return Cow::Borrowed(data);
        }
        Cow::Owned(
            data.iter()
                .filter(|(k, _)| k.as_str() != LOADED_ENTRY)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    }
}

/// The bytes a value's digest is taken over: its JSON text.
fn value_bytes(value: &Value) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

impl<B: Backend> TowerSessionStore<B> {
    /// When the stored session was bound to `owner`: remembered from its load, or read from
    /// the entry when this instance did not load it; 0 (now) for a new owner.
    async fn bound_since(&self, id: &Id, owner: &Owner) -> Result<u64, Error> {
        let sid = storage_id(id);
        if let Some(bound) = self.bound.get(&sid) {
            return Ok(Bound::since_for(Some(&bound), Some(owner)));
        }
        Ok(match self.store.load_stored(&sid).await {
            Ok(Some(current)) => Bound::since_for(Bound::of(&current).as_ref(), Some(owner)),
            Ok(None) | Err(Error::Rejected(_)) => 0,
            Err(e) => return Err(e),
        })
    }
}

enum WriteOutcome {
    /// Written: the envelope's identity.
    Written(crate::store::Origin),
    /// The mode forbade the write: the id is taken (create) or gone (save).
    Refused,
    /// Another request saved meanwhile, and this one changed nothing it had not.
    Superseded,
    Expired,
}

/// A record with every kind of value, nested, and numbers as parsed from JSON text (which
/// keep their text under serde_json's `arbitrary_precision`): what every codec of the
/// store must round-trip.
fn codec_probe() -> RecordData {
    let mut value = serde_json::json!({
        "null": null, "bool": true, "u64": u64::MAX, "i64": i64::MIN, "f64": 0.1,
        "string": "text", "array": [1, "two", [3.5], {}], "object": { "nested": { "deep": [] } }
    });
    for (name, text) in [("decimal", "1.50"), ("big", "18446744073709551617")] {
        if let (Some(map), Ok(n)) = (value.as_object_mut(), serde_json::from_str(text)) {
            map.insert(name.to_owned(), n);
        }
    }
    HashMap::from([("probe".to_owned(), value)])
}

fn storage_id(id: &Id) -> StorageId {
    StorageId::hash_of(&id.to_string())
}

fn unix_secs(at: OffsetDateTime) -> u64 {
    u64::try_from(at.unix_timestamp()).unwrap_or(0)
}

fn backend_error(e: Error) -> session_store::Error {
    // The crate's errors never hold ids, keys or session data.
    session_store::Error::Backend(e.to_string())
}

#[async_trait]
impl<B: Backend> SessionStore for TowerSessionStore<B> {
    /// Stores a new record with create-only semantics; if its id is taken, tries fresh ids.
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        // A record that moves to a new id (`cycle_id`) carries the reserved entry: it is
        // never stored, and the record goes on without it (a new id is one no other
        // request has loaded).
        record.data.remove(LOADED_ENTRY);
        for _ in 0..CREATE_ATTEMPTS {
            match self
                .write(
                    &record.id,
                    &record.data,
                    record.expiry_date,
                    WriteMode::CreateOnly,
                )
                .await
            {
                Ok(WriteOutcome::Written(_) | WriteOutcome::Expired | WriteOutcome::Superseded) => {
                    return Ok(());
                }
                Ok(WriteOutcome::Refused) => record.id = Id::default(),
                Err(e) => return Err(backend_error(e)),
            }
        }
        Err(session_store::Error::Backend(
            "no free session id after several attempts".into(),
        ))
    }

    /// Replaces an existing record. If the entry was destroyed or expired since it was
    /// loaded (a log-out in another tab), nothing is written: a racing request cannot bring
    /// a logged-out session back. tower-sessions then simply has no session next time.
    async fn save(&self, record: &Record) -> session_store::Result<()> {
        let merging = match (record.data.get(LOADED_ENTRY), &self.merge) {
            (Some(Value::String(text)), Some(merger)) => {
                merger.parse(text).map(|loaded| (merger, loaded))
            }
            _ => None,
        };
        let outcome = match &merging {
            Some((merger, loaded)) => self.save_merging(record, merger, loaded).await,
            None => {
                let data = Self::without_reserved(&record.data);
                self.write(&record.id, &data, record.expiry_date, WriteMode::UpdateOnly)
                    .await
            }
        };
        match outcome {
            Ok(WriteOutcome::Refused) => {
                tracing::debug!("session entry gone before save; not recreated");
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(e) => Err(backend_error(e)),
        }
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        match self.store.load_stored(&storage_id(id)).await {
            Ok(Some(session)) => {
                if let Some(bound) = Bound::of(&session) {
                    self.bound.remember(storage_id(id), bound);
                }
                let expiry_date = session
                    .expires_at()
                    .and_then(|at| at.duration_since(UNIX_EPOCH).ok())
                    .and_then(|d| i64::try_from(d.as_secs()).ok())
                    .and_then(|secs| OffsetDateTime::from_unix_timestamp(secs).ok())
                    .unwrap_or_else(|| {
                        OffsetDateTime::now_utc().saturating_add(time::Duration::DAY)
                    });
                let origin = session.origin().cloned();
                let mut data = session.into_data();
                if let (Some(merger), Some(origin)) = (&self.merge, origin) {
                    let text = merger.describe(
                        &origin,
                        data.iter().map(|(k, v)| (k.as_str(), value_bytes(v))),
                    );
                    data.insert(LOADED_ENTRY.to_owned(), Value::String(text));
                }
                Ok(Some(Record {
                    id: *id,
                    data,
                    expiry_date,
                }))
            }
            Ok(None) => Ok(None),
            Err(Error::Rejected(r)) => {
                tracing::warn!(
                    rejection = r.kind().as_str(),
                    step = r.kind().step(),
                    "stored session refused; treated as no session"
                );
                Ok(None)
            }
            Err(e) => Err(backend_error(e)),
        }
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.bound.take(&storage_id(id));
        self.store
            .destroy_stored(&storage_id(id))
            .await
            .map(drop)
            .map_err(backend_error)
    }
}

impl<B> fmt::Debug for TowerSessionStore<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let TowerSessionStore {
            store,
            fields,
            bound: _,
            merge,
        } = self;
        f.debug_struct("TowerSessionStore")
            .field("store", store)
            .field("merge_on_conflict", &merge.is_some())
            .field("owner_field", &fields.owner)
            .field("label_field", &fields.label)
            .finish()
    }
}
