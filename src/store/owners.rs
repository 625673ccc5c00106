//! Sessions that belong to users: the owner index and what it makes possible (listing an
//! owner's sessions, revoking one, all, or all but one, and a cap per owner).
//!
//! # The index
//! Each owner has one index per index key: a sorted set under `prefix + "owner." + hex tag`,
//! where the tag is HMAC-SHA256 of the owner under the index key. Its members are the
//! storage ids of the owner's sessions, scored by their absolute expiry; the set expires
//! with its latest member, and every index operation first drops members whose expiry has
//! passed. Every command names one key, so it works on a Cluster.
//!
//! # Order of writes
//! A session bound to an owner is added to the owner's index before it is written, so a
//! session never exists without its entry: a failure in between leaves an entry without a
//! session. Entries are removed only once their session is gone: by `destroy` and the
//! revocations, after they removed it, and by reads, for an entry whose session is missing
//! and which was added more than [`STALE_GRACE`] ago (a younger one may belong to a create
//! still in flight, between its two writes). An entry whose session exists but names another
//! owner, or none (unbound in place), is kept, and never listed nor revoked: a save racing
//! the unbinding may bind it again. Every entry goes at its session's absolute expiry.

use std::fmt;
use std::time::{Duration, SystemTime};

use super::record::{self, Record};
use super::session::secs;
use super::{MAX_LIFETIME, Store};
use crate::backend::{Backend, Fetched, IndexEntry};
use crate::crypto::IndexKeys;
use crate::error::Error;
use crate::id::{INDEX_INFIX, Owner, StorageId, hex_lower};

/// How old an index entry must be before a read that finds its session missing removes it:
/// far longer than a create takes between its index write and its session write.
pub const STALE_GRACE: Duration = Duration::from_secs(600);

/// The time index entries are pruned at: `STALE_GRACE` before `now`, so that a reader whose
/// clock runs ahead (an operator's shell, another host) never prunes an entry whose session
/// is still open to the application, and an index expires that much after its last entry.
/// Expired sessions are refused when opened anyway.
pub(crate) fn prune_time(now: u64) -> u64 {
    now.saturating_sub(STALE_GRACE.as_secs())
}

/// How many times a revocation reads the owner's indexes again while it still finds
/// sessions to remove (a concurrent `cycle_id` moves a session to an id the first read did
/// not see).
const REVOKE_PASSES: usize = 4;

/// Conditional removals tried per session before revoking gives up on one that keeps
/// changing under it.
const REVOKE_TRIES: usize = 8;

/// What a store does when a create would give an owner more sessions than its cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CapPolicy {
    /// Revoke the owner's oldest sessions (by [`OwnedSession::created_at`]) to make room.
    EvictOldest,
    /// Refuse the new session with [`Error::OwnerCapReached`].
    Refuse,
}

/// The owner index of a store ([`StoreBuilder::owners`](super::StoreBuilder::owners)).
///
/// ```
/// use sealed_session::{CapPolicy, Owners};
///
/// let owners = Owners::new().cap(10, CapPolicy::EvictOldest);
/// assert_eq!(format!("{owners:?}"), "Owners { cap: Some((10, EvictOldest)), index_keys: None }");
/// ```
#[derive(Default)]
pub struct Owners {
    cap: Option<(usize, CapPolicy)>,
    keys: Option<IndexKeys>,
}

impl Owners {
    /// An owner index without a cap, named with the keyring's index keys.
    pub fn new() -> Owners {
        Owners::default()
    }

    /// At most `max` sessions per owner (at least 1); `policy` says what a new session
    /// beyond it does. The cap is checked whenever a session joins an owner (created bound,
    /// moved by `cycle_id` without counting twice, or bound in place); eviction happens once
    /// the new session is stored. Concurrent log-ins of one owner may pass it together; the
    /// next one evicts (or refuses) again. Costs a read of the owner's index per log-in.
    #[must_use]
    pub fn cap(mut self, max: usize, policy: CapPolicy) -> Owners {
        self.cap = Some((max.max(1), policy));
        self
    }

    /// Index keys to use instead of the keyring's (for a store with a custom sealer).
    #[must_use]
    pub fn index_keys(mut self, keys: IndexKeys) -> Owners {
        self.keys = Some(keys);
        self
    }

    pub(super) fn has_keys(&self) -> bool {
        self.keys.is_some()
    }

    pub(super) fn keys(&self) -> Option<&IndexKeys> {
        self.keys.as_ref()
    }
}

impl fmt::Debug for Owners {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Owners { cap, keys } = self;
        f.debug_struct("Owners")
            .field("cap", cap)
            .field("index_keys", keys)
            .finish()
    }
}

/// One live session of an owner, as [`Store::sessions_of`] lists it. Never the data; its
/// `Debug` leaves the label out.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OwnedSession {
    /// The session's storage id: compare with [`Store::storage_id`] of the current session
    /// to mark "this device", and pass to [`Store::revoke`].
    pub storage_id: StorageId,
    /// When the session was first stored with this owner.
    pub created_at: Option<SystemTime>,
    /// When the session was last written.
    pub last_seen: Option<SystemTime>,
    /// Its absolute expiry.
    pub expires_at: Option<SystemTime>,
    /// The device label the application set ([`Session::set_label`](super::Session::set_label)).
    pub label: Option<String>,
}

impl fmt::Debug for OwnedSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let OwnedSession {
            storage_id,
            created_at,
            last_seen,
            expires_at,
            label,
        } = self;
        f.debug_struct("OwnedSession")
            .field("storage_id", storage_id)
            .field("created_at", created_at)
            .field("last_seen", last_seen)
            .field("expires_at", expires_at)
            .field("label", &label.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// What a revocation did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Revoked {
    /// Sessions removed.
    pub revoked: usize,
    /// Entries whose session could not be opened (a retired or unknown key, a damaged or
    /// oversized value): not provably this owner's, so left alone. Such a session cannot be
    /// loaded either, unless its key comes back into the keyring (or the store's size limit
    /// is raised).
    pub unverified: usize,
}

/// An index entry whose session was read and opened and names the owner.
pub(super) struct Found {
    storage_id: String,
    key: String,
    /// The stored envelope, as read: removals are conditional on it.
    value: Vec<u8>,
    record: Record,
    expires_at: u64,
}

/// What one read of an owner's indexes found.
struct OwnedCensus {
    found: Vec<Found>,
    unverified: usize,
}

impl<T, B> Store<T, B>
where
    T: Send + Sync + 'static,
    B: Backend,
{
    /// Lists the owner's live sessions, oldest first (by when they were bound). Costs one
    /// index read per index key and one batched read of the sessions (pipelined on Redis),
    /// plus one write per index key that had stale entries to prune.
    pub async fn sessions_of(&self, owner: &Owner) -> Result<Vec<OwnedSession>, Error> {
        let census = self.owned_census(owner).await?;
        let mut out: Vec<OwnedSession> = census
            .found
            .into_iter()
            .map(|f| OwnedSession {
                storage_id: StorageId::from_stored(&f.storage_id, self.hashed()),
                created_at: secs(f.record.created_at),
                last_seen: secs(f.record.last_seen),
                expires_at: secs(f.expires_at),
                label: f.record.label,
            })
            .collect();
        out.sort_by(|a, b| {
            (a.created_at, a.storage_id.as_str()).cmp(&(b.created_at, b.storage_id.as_str()))
        });
        Ok(out)
    }

    /// Revokes one session of the owner by its storage id. `Ok(false)` when no session of
    /// this owner is stored under that id (none at all, or another owner's, which is left
    /// alone and not revealed).
    pub async fn revoke(&self, owner: &Owner, id: &StorageId) -> Result<bool, Error> {
        let key = self.key_of(id);
        let max = self.inner.settings.max_envelope_len;
        let value = match self.inner.backend.get(&key, max).await? {
            Fetched::Value(value) => value,
            _ => return Ok(false),
        };
        let Some(found) = self.verify(owner, id.as_str(), key, value)? else {
            return Ok(false);
        };
        let revoked = self.remove_verified(owner, found).await?;
        if revoked {
            self.forget(owner, &[id.as_str().to_owned()]).await;
        }
        Ok(revoked)
    }

    /// Revokes every session of the owner ("log out everywhere"). Every session whose
    /// creation completed before this call started cannot be loaded once it returns; so is
    /// one moved to a new id meanwhile (`cycle_id`), within a few passes.
    pub async fn revoke_all(&self, owner: &Owner) -> Result<Revoked, Error> {
        self.revoke_where(owner, None).await
    }

    /// Revokes every session of the owner but `keep` (the password-change recipe: keep the
    /// session that changed it).
    pub async fn revoke_all_except(
        &self,
        owner: &Owner,
        keep: &StorageId,
    ) -> Result<Revoked, Error> {
        self.revoke_where(owner, Some(keep.as_str())).await
    }

    async fn revoke_where(&self, owner: &Owner, keep: Option<&str>) -> Result<Revoked, Error> {
        let mut report = Revoked::default();
        for _ in 0..REVOKE_PASSES {
            let census = self.owned_census(owner).await?;
            report.unverified = census.unverified;
            let targets: Vec<Found> = census
                .found
                .into_iter()
                .filter(|f| keep != Some(f.storage_id.as_str()))
                .collect();
            // Found nothing left to end: done. Otherwise another pass, since a session found
            // here may have moved to a new id (cycle_id) before it could be removed.
            if targets.is_empty() {
                break;
            }
            let mut gone = Vec::new();
            for found in targets {
                let id = found.storage_id.clone();
                if self.remove_verified(owner, found).await? {
                    report.revoked += 1;
                    gone.push(id);
                }
            }
            self.forget(owner, &gone).await;
        }
        Ok(report)
    }

    /// Removes a verified session only while it is the value that was verified; if it
    /// changed (a save raced), reads and verifies it again. Returns whether it removed.
    /// After [`REVOKE_TRIES`] changes (a client saving without pause), the value last
    /// verified as this owner's is removed whatever it became since.
    async fn remove_verified(&self, owner: &Owner, found: Found) -> Result<bool, Error> {
        let backend = &self.inner.backend;
        let max = self.inner.settings.max_envelope_len;
        let Found {
            storage_id,
            key,
            mut value,
            ..
        } = found;
        for _ in 0..REVOKE_TRIES {
            if backend.compare_and_delete(&key, &value).await? {
                return Ok(true);
            }
            let Fetched::Value(now) = backend.get(&key, max).await? else {
                return Ok(false);
            };
            match self.verify(owner, &storage_id, key.clone(), now.clone())? {
                Some(_) => value = now,
                None => return Ok(false),
            }
        }
        Ok(backend.delete(&key).await?)
    }

    /// Opens `value` (stored under `key`) and returns it if it names `owner`; `None` for a
    /// value that opens but names no or another owner, or is refused. Other failures (a
    /// backend, a custom sealer) are errors.
    fn verify(
        &self,
        owner: &Owner,
        storage_id: &str,
        key: String,
        value: Vec<u8>,
    ) -> Result<Option<Found>, Error> {
        match self.open_owned(&key, value.clone()) {
            Ok((record, expires_at)) if record.owner.as_ref().is_some_and(|o| o == owner) => {
                Ok(Some(Found {
                    storage_id: storage_id.to_owned(),
                    key,
                    value,
                    record,
                    expires_at,
                }))
            }
            Ok(_) => Ok(None),
            Err(e) if e.is_rejected() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Opens an envelope and reads its owner record, without decoding the data.
    fn open_owned(&self, key: &str, value: Vec<u8>) -> Result<(Record, u64), Error> {
        let now = self.inner.settings.clock.now_secs();
        let opened = self.open_envelope(key, value, now)?;
        let (_, record) = record::split(opened.plaintext())?;
        Ok((record, opened.expires_at))
    }

    /// Reads every index of the owner, opens the sessions it names and keeps those that
    /// name the owner. Prunes, as the module docs say: entries that are no storage id or
    /// expire later than any session can, and entries added more than [`STALE_GRACE`] ago
    /// whose session is missing. Entries whose session names another owner, or does not
    /// open, are left.
    async fn owned_census(&self, owner: &Owner) -> Result<OwnedCensus, Error> {
        let backend = &self.inner.backend;
        let now = self.inner.settings.clock.now_secs();
        let max = self.inner.settings.max_envelope_len;
        // Writers clamp entries at their `now` plus ten years; another host's clock may run
        // a little ahead.
        let latest = now
            .saturating_add(MAX_LIFETIME.as_secs())
            .saturating_add(STALE_GRACE.as_secs());
        let mut census = OwnedCensus {
            found: Vec::new(),
            unverified: 0,
        };
        for index in self.index_names(owner)? {
            let entries = backend.index_read(&index, prune_time(now)).await?;
            let mut prune = Vec::new();
            let mut fresh: Vec<IndexEntry> = Vec::new();
            for entry in entries {
                if !self.is_storage_id(&entry.id) || entry.expires_at > latest {
                    prune.push(entry.id);
                } else if entry.expires_at <= now {
                    // Its session has expired (the index keeps it a little longer).
                } else if !census.found.iter().any(|f| f.storage_id == entry.id)
                    && !fresh.iter().any(|f| f.id == entry.id)
                {
                    fresh.push(entry);
                }
            }
            let keys: Vec<String> = fresh
                .iter()
                .map(|e| format!("{}{}", self.inner.settings.prefix, e.id))
                .collect();
            let values = if keys.is_empty() {
                Vec::new()
            } else {
                backend.get_many(&keys, max).await?
            };
            for ((entry, key), fetched) in fresh.into_iter().zip(keys).zip(values) {
                match fetched {
                    Fetched::Value(value) => match self.open_owned(&key, value.clone()) {
                        Ok((record, expires_at))
                            if record.owner.as_ref().is_some_and(|o| o == owner) =>
                        {
                            census.found.push(Found {
                                storage_id: entry.id,
                                key,
                                value,
                                record,
                                expires_at,
                            });
                        }
                        // Another owner's, or unbound: left in the index, never listed.
                        Ok(_) => {}
                        Err(e) if e.is_rejected() => census.unverified += 1,
                        Err(e) => return Err(e),
                    },
                    Fetched::Missing => {
                        if entry.added_at.saturating_add(STALE_GRACE.as_secs()) <= now {
                            prune.push(entry.id);
                        }
                    }
                    Fetched::NotBytes | Fetched::TooLarge { .. } => census.unverified += 1,
                }
            }
            // Best effort: what is left is pruned by a later read.
            if !prune.is_empty() {
                let _ = backend.index_remove(&index, &prune, prune_time(now)).await;
            }
        }
        Ok(census)
    }

    /// Removes entries from every index of the owner, after their sessions are gone. Best
    /// effort: an entry left behind names a missing session, which a later read prunes.
    pub(super) async fn forget(&self, owner: &Owner, ids: &[String]) {
        if ids.is_empty() {
            return;
        }
        let now = self.inner.settings.clock.now_secs();
        let Ok(names) = self.index_names(owner) else {
            return;
        };
        for index in names {
            let _ = self
                .inner
                .backend
                .index_remove(&index, ids, prune_time(now))
                .await;
        }
    }

    /// The names of the owner's indexes, the primary index key's first.
    pub(super) fn index_names(&self, owner: &Owner) -> Result<Vec<String>, Error> {
        let owners = self
            .inner
            .settings
            .owners
            .as_ref()
            .ok_or(Error::NoOwnerIndex)?;
        let name = |tag: [u8; 32]| {
            format!(
                "{}{INDEX_INFIX}{}",
                self.inner.settings.prefix,
                hex_lower(&tag)
            )
        };
        let prefix = self.inner.settings.prefix.as_bytes();
        if let Some(keys) = &owners.keys {
            return Ok(keys.tags(prefix, owner.as_bytes()).map(name).collect());
        }
        let ring = self
            .inner
            .keyring
            .as_ref()
            .ok_or(Error::NoOwnerIndex)?
            .current();
        let keys = ring.index_keys().ok_or(Error::NoOwnerIndex)?;
        Ok(keys.tags(prefix, owner.as_bytes()).map(name).collect())
    }

    /// Whether the cap leaves room for one more session of `owner`: `Ok` with the sessions to
    /// evict once it is stored (the oldest, by when they were bound), or
    /// [`Error::OwnerCapReached`]. `except`: the storage ids that do not count, the one
    /// about to be written and, for `cycle_id`, the one it moves from. A session already
    /// among the owner's (a save that re-indexes it) needs no room.
    pub(super) async fn check_cap(
        &self,
        owner: &Owner,
        except: &[&str],
    ) -> Result<Vec<Found>, Error> {
        let Some((cap, policy)) = self.inner.settings.owners.as_ref().and_then(|o| o.cap) else {
            return Ok(Vec::new());
        };
        let census = self.owned_census(owner).await?;
        if census
            .found
            .iter()
            .any(|f| except.first() == Some(&f.storage_id.as_str()))
        {
            return Ok(Vec::new());
        }
        let mut others: Vec<Found> = census
            .found
            .into_iter()
            .filter(|f| !except.contains(&f.storage_id.as_str()))
            .collect();
        if others.len() < cap {
            return Ok(Vec::new());
        }
        if policy == CapPolicy::Refuse {
            return Err(Error::OwnerCapReached { cap });
        }
        others.sort_by_key(|f| f.record.created_at);
        let excess = others.len() + 1 - cap;
        others.truncate(excess);
        Ok(others)
    }

    /// Revokes the sessions [`Store::check_cap`] chose, once the new one is stored.
    pub(super) async fn evict(&self, owner: &Owner, victims: Vec<Found>) -> Result<(), Error> {
        let mut gone = Vec::new();
        for found in victims {
            let id = found.storage_id.clone();
            if self.remove_verified(owner, found).await? {
                gone.push(id);
            }
        }
        self.forget(owner, &gone).await;
        Ok(())
    }

    fn hashed(&self) -> bool {
        self.inner.settings.storage_keys == super::StorageKeys::Hashed
    }
}
