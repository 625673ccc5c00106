//! What an adapter remembers between a request's load and its save: facts about a stored
//! session that the framework's record does not carry (its absolute expiry, when it was
//! bound to its owner, what a request's last save wrote), by key, in a small bounded map
//! shared by the adapter's clones. Load and save of one request run on one instance, so the
//! map nearly always has the answer; when it does not, the adapter falls back (reads the
//! entry, or leaves the fact unknown).

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::sync::{Mutex, PoisonError};

use crate::id::StorageId;

/// Most facts remembered by default (about 100 bytes each). Past the bound the oldest
/// go first: a request between its load and its save is recent.
const REMEMBERED: usize = 16_384;

pub(crate) struct Remembered<V, K = StorageId> {
    bound: usize,
    state: Mutex<State<K, V>>,
}

struct State<K, V> {
    /// Each key's value and when it was remembered (a sequence number).
    map: HashMap<K, (u64, V)>,
    /// Keys in the order they were remembered, with that number: a key remembered again
    /// leaves a stale place behind, skipped when it comes up.
    order: VecDeque<(u64, K)>,
    next: u64,
}

impl<V, K> Default for Remembered<V, K> {
    fn default() -> Self {
        Remembered::with_bound(REMEMBERED)
    }
}

impl<V, K> Remembered<V, K> {
    /// A map of at most `bound` facts (at least one).
    pub(crate) fn with_bound(bound: usize) -> Self {
        Remembered {
            bound: bound.max(1),
            state: Mutex::new(State {
                map: HashMap::new(),
                order: VecDeque::new(),
                next: 0,
            }),
        }
    }
}

impl<V, K: Eq + Hash + Clone> Remembered<V, K> {
    pub(crate) fn remember(&self, id: K, value: V) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let State { map, order, next } = &mut *state;
        let seq = *next;
        *next = next.wrapping_add(1);
        map.insert(id.clone(), (seq, value));
        order.push_back((seq, id));
        while map.len() > self.bound {
            let Some((seq, key)) = order.pop_front() else {
                break;
            };
            if map.get(&key).is_some_and(|(s, _)| *s == seq) {
                map.remove(&key);
            }
        }
        // Stale places of keys remembered again: dropped once they outnumber the live ones.
        if order.len() > self.bound.saturating_mul(2) {
            order.retain(|(seq, key)| map.get(key).is_some_and(|(s, _)| s == seq));
        }
    }

    /// The value remembered for `id`, left in place (concurrent requests of one session may
    /// each need it).
    pub(crate) fn get(&self, id: &K) -> Option<V>
    where
        V: Clone,
    {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map
            .get(id)
            .map(|(_, v)| v.clone())
    }

    pub(crate) fn take(&self, id: &K) -> Option<V> {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map
            .remove(id)
            .map(|(_, v)| v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_facts_go_first_and_a_fact_remembered_again_is_young() {
        let map: Remembered<u32, u32> = Remembered::with_bound(3);
        for k in 0..3 {
            map.remember(k, k);
        }
        map.remember(0, 10); // 0 is young again
        map.remember(3, 3); // 1 goes
        assert_eq!(map.get(&1), None);
        assert_eq!(map.get(&0), Some(10));
        map.remember(4, 4); // 2 goes
        assert_eq!(map.get(&2), None);
        assert_eq!((map.get(&3), map.get(&4)), (Some(3), Some(4)));
        for k in 0..1000 {
            map.remember(k % 2, k);
        }
        let state = map.state.lock().unwrap_or_else(PoisonError::into_inner);
        assert!(
            state.map.len() <= 3 && state.order.len() <= 7,
            "{}",
            state.order.len()
        );
    }
}
