//! What an adapter remembers between a request's load and its save: facts about a stored
//! session that the framework's record does not carry (its absolute expiry, when it was
//! bound to its owner), by storage id, in a small bounded map shared by the adapter's
//! clones. Load and save of one request run on one instance, so the map nearly always has
//! the answer; when it does not, the adapter falls back (reads the entry, or leaves the
//! fact unknown).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, PoisonError};

use crate::id::StorageId;

/// Most sessions remembered (about 100 bytes each); past it the map is cleared.
const REMEMBERED: usize = 16_384;

pub(crate) struct Remembered<V, K = StorageId>(Mutex<HashMap<K, V>>);

impl<V, K> Default for Remembered<V, K> {
    fn default() -> Self {
        Remembered(Mutex::new(HashMap::new()))
    }
}

impl<V, K: Eq + Hash> Remembered<V, K> {
    pub(crate) fn remember(&self, id: K, value: V) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= REMEMBERED {
            map.clear();
        }
        map.insert(id, value);
    }

    /// The value remembered for `id`, left in place (concurrent requests of one session may
    /// each need it).
    pub(crate) fn get(&self, id: &K) -> Option<V>
    where
        V: Clone,
    {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(id)
            .cloned()
    }

    pub(crate) fn take(&self, id: &K) -> Option<V> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id)
    }
}
