use std::collections::BTreeMap;
use std::fmt;
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::{Backend, Conditional, Expect, Fetched, IndexEntry, ScanCursor, ScanPage, SetMode};
use crate::clock::{Clock, SystemClock};
use crate::error::{BackendError, BackendErrorKind};

/// The embedded backend: a sorted map in the process, with real expiry.
///
/// For development, demos, tests and single-process services. Expired entries are invisible
/// at once and their memory is reclaimed as writes go on (or by
/// [`MemoryBackend::purge_expired`]). Clones share the same map.
#[derive(Clone)]
pub struct MemoryBackend {
    state: Arc<Mutex<State>>,
    clock: Arc<dyn Clock>,
}

struct State {
    map: BTreeMap<String, Entry>,
    /// Writes left before the next full sweep of expired entries.
    writes_until_sweep: usize,
}

/// Fewest writes between two sweeps.
const MIN_SWEEP_INTERVAL: usize = 64;

impl State {
    /// Removes expired entries and schedules the next sweep after as many writes as there
    /// are live entries, so reclamation costs O(1) per write amortised.
    fn sweep(&mut self, now: u64) {
        self.map.retain(|_, e| e.live(now));
        self.writes_until_sweep = self.map.len().max(MIN_SWEEP_INTERVAL);
    }
}

struct Entry {
    value: Value,
    /// Unix milliseconds after which the entry is gone.
    expires_at: Option<u64>,
}

/// What a key holds: a value, or an owner index (storage id to when it was added and when
/// it expires).
enum Value {
    Bytes(Vec<u8>),
    Index(BTreeMap<String, Added>),
}

/// One index entry's times, Unix seconds.
#[derive(Clone, Copy)]
struct Added {
    added_at: u64,
    expires_at: u64,
}

impl Value {
    fn bytes(&self) -> Option<&Vec<u8>> {
        match self {
            Value::Bytes(b) => Some(b),
            Value::Index(_) => None,
        }
    }
}

/// What Redis answers for a command on a key of the wrong type.
fn wrong_type() -> BackendError {
    BackendError::from_kind(BackendErrorKind::Server)
        .with_code("WRONGTYPE")
        .with_detail("the key holds something other than an owner index")
}

impl Entry {
    fn live(&self, now: u64) -> bool {
        self.expires_at.is_none_or(|at| now < at)
    }
}

impl Default for MemoryBackend {
    fn default() -> Self {
        MemoryBackend::new()
    }
}

impl MemoryBackend {
    /// An empty backend on the system clock.
    pub fn new() -> Self {
        MemoryBackend::with_clock(SystemClock)
    }

    /// An empty backend on the given clock (use the store's clock).
    pub fn with_clock(clock: impl Clock) -> Self {
        MemoryBackend {
            state: Arc::new(Mutex::new(State {
                map: BTreeMap::new(),
                writes_until_sweep: MIN_SWEEP_INTERVAL,
            })),
            clock: Arc::new(clock),
        }
    }

    /// Drops every expired entry now.
    pub fn purge_expired(&self) {
        let now = self.clock.now_millis();
        self.lock().sweep(now);
    }

    /// Number of entries held, expired ones not yet reclaimed included.
    pub fn stored_entries(&self) -> usize {
        self.lock().map.len()
    }

    /// Remaining time to live of `key`, `None` if absent, expired or without expiry.
    pub fn ttl(&self, key: &str) -> Option<Duration> {
        let now = self.clock.now_millis();
        let state = self.lock();
        let entry = state.map.get(key).filter(|e| e.live(now))?;
        entry
            .expires_at
            .map(|at| Duration::from_millis(at.saturating_sub(now)))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // No code panics while holding the lock, and every update leaves the map valid, so
        // a poisoned lock still guards consistent data.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn deadline(&self, now: u64, ttl: Option<Duration>) -> Option<u64> {
        ttl.map(|ttl| now.saturating_add(u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)))
    }
}

impl MemoryBackend {
    /// Runs `change` on the index under `key` (empty when absent) under the lock, then
    /// stores it pruned at `now` and expiring with its latest entry. A key holding a value
    /// is `WRONGTYPE`, left as it is.
    fn with_index(
        &self,
        key: &str,
        now: u64,
        change: impl FnOnce(&mut BTreeMap<String, Added>),
    ) -> Result<(), BackendError> {
        let mut state = self.lock();
        let now_ms = self.clock.now_millis();
        let mut index = match state.map.remove(key).filter(|e| e.live(now_ms)) {
            None => BTreeMap::new(),
            Some(Entry {
                value: Value::Index(index),
                ..
            }) => index,
            Some(other) => {
                state.map.insert(key.to_owned(), other);
                return Err(wrong_type());
            }
        };
        change(&mut index);
        index.retain(|_, a| a.expires_at > now);
        let Some(latest) = index.values().map(|a| a.expires_at).max() else {
            return Ok(());
        };
        // The index expires with its latest entry, measured from `now` as the store's TTLs
        // are.
        let ttl_ms = latest.saturating_sub(now).saturating_mul(1000);
        state.map.insert(
            key.to_owned(),
            Entry {
                value: Value::Index(index),
                expires_at: Some(now_ms.saturating_add(ttl_ms)),
            },
        );
        Ok(())
    }
}

impl Backend for MemoryBackend {
    async fn set(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
        mode: SetMode,
    ) -> Result<bool, BackendError> {
        if ttl.is_some_and(|t| t.is_zero()) {
            return Err(BackendError::from_kind(BackendErrorKind::Other)
                .with_detail("a TTL of zero is not a valid expiry"));
        }
        let now = self.clock.now_millis();
        let expires_at = self.deadline(now, ttl);
        let mut state = self.lock();
        let exists = state.map.get(key).is_some_and(|e| e.live(now));
        match mode {
            SetMode::CreateOnly if exists => return Ok(false),
            SetMode::UpdateOnly if !exists => return Ok(false),
            _ => {}
        }
        state.map.insert(
            key.to_owned(),
            Entry {
                value: Value::Bytes(value.to_vec()),
                expires_at,
            },
        );
        state.writes_until_sweep = state.writes_until_sweep.saturating_sub(1);
        if state.writes_until_sweep == 0 {
            state.sweep(now);
        }
        Ok(true)
    }

    async fn get(&self, key: &str, max_len: usize) -> Result<Fetched, BackendError> {
        let now = self.clock.now_millis();
        let state = self.lock();
        Ok(fetched(state.map.get(key).filter(|e| e.live(now)), max_len))
    }

    async fn delete(&self, key: &str) -> Result<bool, BackendError> {
        let now = self.clock.now_millis();
        let mut state = self.lock();
        Ok(state.map.remove(key).is_some_and(|e| e.live(now)))
    }

    async fn expire(&self, key: &str, ttl: Duration) -> Result<bool, BackendError> {
        if ttl.is_zero() {
            return Err(BackendError::from_kind(BackendErrorKind::Other)
                .with_detail("a TTL of zero is not a valid expiry"));
        }
        let now = self.clock.now_millis();
        let expires_at = self.deadline(now, Some(ttl));
        let mut state = self.lock();
        match state.map.get_mut(key).filter(|e| e.live(now)) {
            Some(entry) => {
                entry.expires_at = expires_at;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: &[u8],
        new: &[u8],
    ) -> Result<bool, BackendError> {
        let now = self.clock.now_millis();
        let mut state = self.lock();
        match state.map.get_mut(key).filter(|e| e.live(now)) {
            Some(entry) if entry.value.bytes().is_some_and(|v| v == expected) => {
                entry.value = Value::Bytes(new.to_vec());
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn set_if(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
        expect: Expect<'_>,
    ) -> Result<Conditional, BackendError> {
        if ttl.is_some_and(|t| t.is_zero()) {
            return Err(BackendError::from_kind(BackendErrorKind::Other)
                .with_detail("a TTL of zero is not a valid expiry"));
        }
        let now = self.clock.now_millis();
        let expires_at = self.deadline(now, ttl);
        // One lock around the comparison and the write.
        let mut state = self.lock();
        let Some(entry) = state.map.get_mut(key).filter(|e| e.live(now)) else {
            return Ok(Conditional::Missing);
        };
        if !entry.value.bytes().is_some_and(|v| expect.matches(v)) {
            return Ok(Conditional::Changed);
        }
        *entry = Entry {
            value: Value::Bytes(value.to_vec()),
            expires_at,
        };
        state.writes_until_sweep = state.writes_until_sweep.saturating_sub(1);
        if state.writes_until_sweep == 0 {
            state.sweep(now);
        }
        Ok(Conditional::Done)
    }

    async fn delete_if(&self, key: &str, expect: Expect<'_>) -> Result<Conditional, BackendError> {
        let now = self.clock.now_millis();
        let mut state = self.lock();
        let Some(entry) = state.map.get(key).filter(|e| e.live(now)) else {
            return Ok(Conditional::Missing);
        };
        if !entry.value.bytes().is_some_and(|v| expect.matches(v)) {
            return Ok(Conditional::Changed);
        }
        state.map.remove(key);
        Ok(Conditional::Done)
    }

    async fn index_add(
        &self,
        key: &str,
        id: &str,
        added_at: u64,
        expires_at: u64,
        now: u64,
    ) -> Result<(), BackendError> {
        self.with_index(key, now, |index| {
            let new = Added {
                added_at,
                expires_at,
            };
            // The later expiry wins, as `ZADD GT` on Redis.
            let entry = index.entry(id.to_owned()).or_insert(new);
            if (new.expires_at, new.added_at) > (entry.expires_at, entry.added_at) {
                *entry = new;
            }
        })
    }

    async fn index_remove(&self, key: &str, ids: &[String], now: u64) -> Result<(), BackendError> {
        self.with_index(key, now, |index| {
            for id in ids {
                index.remove(id);
            }
        })
    }

    async fn index_read(&self, key: &str, now: u64) -> Result<Vec<IndexEntry>, BackendError> {
        let mut entries = Vec::new();
        self.with_index(key, now, |index| {
            entries = index
                .iter()
                .filter(|(_, a)| a.expires_at > now)
                .map(|(id, a)| IndexEntry {
                    id: id.clone(),
                    added_at: a.added_at,
                    expires_at: a.expires_at,
                })
                .collect();
        })?;
        entries.sort_by(|a, b| (a.expires_at, &a.id).cmp(&(b.expires_at, &b.id)));
        Ok(entries)
    }

    async fn take(&self, key: &str, max_len: usize) -> Result<Fetched, BackendError> {
        let now = self.clock.now_millis();
        let mut state = self.lock();
        let entry = state.map.remove(key).filter(|e| e.live(now));
        Ok(fetched(entry.as_ref(), max_len))
    }

    async fn compare_and_delete(&self, key: &str, expected: &[u8]) -> Result<bool, BackendError> {
        let now = self.clock.now_millis();
        let mut state = self.lock();
        let matches = state
            .map
            .get(key)
            .filter(|e| e.live(now))
            .and_then(|e| e.value.bytes())
            .is_some_and(|v| v == expected);
        if matches {
            state.map.remove(key);
        }
        Ok(matches)
    }

    async fn scan(
        &self,
        prefix: &str,
        cursor: ScanCursor,
        count: usize,
    ) -> Result<ScanPage, BackendError> {
        let now = self.clock.now_millis();
        let count = count.max(1);
        // A cursor is ">" followed by the last key returned; a cursor that sorts below the
        // prefix (hand-made, or from another prefix) starts at the prefix.
        let lower = match cursor.as_str().strip_prefix('>') {
            Some(last) if last >= prefix => Bound::Excluded(last.to_owned()),
            _ => Bound::Included(prefix.to_owned()),
        };
        let state = self.lock();
        let mut keys = Vec::new();
        let mut more = false;
        for (key, entry) in state.map.range((lower, Bound::Unbounded)) {
            if !key.starts_with(prefix) {
                break;
            }
            if !entry.live(now) {
                continue;
            }
            if keys.len() == count {
                more = true;
                break;
            }
            keys.push(key.clone());
        }
        let next = match keys.last() {
            Some(last) if more => Some(ScanCursor::new(format!(">{last}"))),
            _ => None,
        };
        Ok(ScanPage { keys, next })
    }
}

/// What `get` answers for an entry.
fn fetched(entry: Option<&Entry>, max_len: usize) -> Fetched {
    match entry.map(|e| &e.value) {
        None => Fetched::Missing,
        Some(Value::Index(_)) => Fetched::NotBytes,
        Some(Value::Bytes(v)) if v.len() > max_len => Fetched::TooLarge { len: v.len() },
        Some(Value::Bytes(v)) => Fetched::Value(v.clone()),
    }
}

impl fmt::Debug for MemoryBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let MemoryBackend { state: _, clock: _ } = self;
        f.debug_struct("MemoryBackend")
            .field("entries", &self.stored_entries())
            .finish_non_exhaustive()
    }
}
