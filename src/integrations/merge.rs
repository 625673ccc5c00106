//! Re-applying one request's changes on top of what another request saved meanwhile, key by
//! key, for the adapters' opt-in (`merge_on_conflict`).
//!
//! A framework hands the adapter the whole session map at save time, not the changes. So
//! at load the adapter adds one reserved entry to the map it hands out, [`LOADED_ENTRY`]:
//! the identity of the envelope the map came from and, for every entry, a digest of its key
//! and one of its value. At save, an entry whose value digest differs from the loaded one
//! (or which was not loaded) is one the request set; a loaded key that is missing is one
//! the request removed. When the optimistic save finds another envelope stored, the adapter
//! loads that, applies exactly those sets and removals to it, and saves again.
//!
//! The reserved entry lives only in the request's memory: the adapters take it out before
//! every write.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use crate::store::Origin;

/// The reserved entry that carries what was loaded through the request, with
/// `merge_on_conflict` (see the module docs of each adapter). Never stored.
pub const LOADED_ENTRY: &str = "sealed-session.loaded";

/// Bytes of a digest kept per key and per value: 128 bits, so no two different values of a
/// key share one in practice.
const DIGEST_LEN: usize = 16;

type Digest16 = [u8; DIGEST_LEN];

/// The first byte of the encoding.
const VERSION: u8 = 1;

/// What a request loaded: the envelope, and each entry's key and value digests.
pub(crate) struct Loaded {
    origin: Origin,
    values: HashMap<Digest16, Digest16>,
}

fn digest(domain: u8, bytes: &[u8]) -> Digest16 {
    let full = Sha256::new()
        .chain_update([domain])
        .chain_update(bytes)
        .finalize();
    let mut out = [0u8; DIGEST_LEN];
    out.copy_from_slice(full.get(..DIGEST_LEN).unwrap_or(&[0; DIGEST_LEN]));
    out
}

fn key_digest(key: &str) -> Digest16 {
    digest(b'k', key.as_bytes())
}

fn value_digest(value: &[u8]) -> Digest16 {
    digest(b'v', value)
}

impl Loaded {
    /// The reserved entry's text for a map loaded from `origin`: `entries` yields each key
    /// and its value's bytes (reserved entries left out by the caller).
    pub(crate) fn describe<'a>(
        origin: &Origin,
        entries: impl Iterator<Item = (&'a str, Vec<u8>)>,
    ) -> String {
        let (at, bytes) = origin.parts();
        let mut out = Vec::with_capacity(9 + bytes.len());
        out.push(VERSION);
        out.extend_from_slice(&u32::try_from(at).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(bytes);
        for (key, value) in entries {
            out.extend_from_slice(&key_digest(key));
            out.extend_from_slice(&value_digest(&value));
        }
        URL_SAFE_NO_PAD.encode(out)
    }

    /// Reads the reserved entry's text; `None` for anything this module did not write.
    pub(crate) fn parse(text: &str) -> Option<Loaded> {
        let raw = URL_SAFE_NO_PAD.decode(text).ok()?;
        let (&version, rest) = raw.split_first()?;
        if version != VERSION {
            return None;
        }
        let (at, rest) = rest.split_at_checked(4)?;
        let (len, rest) = rest.split_at_checked(4)?;
        let at = usize::try_from(u32::from_be_bytes(at.try_into().ok()?)).ok()?;
        let len = usize::try_from(u32::from_be_bytes(len.try_into().ok()?)).ok()?;
        let (bytes, rest) = rest.split_at_checked(len)?;
        let origin = Origin::from_parts(at, bytes)?;
        if rest.len() % (2 * DIGEST_LEN) != 0 {
            return None;
        }
        let mut values = HashMap::with_capacity(rest.len() / (2 * DIGEST_LEN));
        for pair in rest.chunks_exact(2 * DIGEST_LEN) {
            let (key, value) = pair.split_at(DIGEST_LEN);
            values.insert(key.try_into().ok()?, value.try_into().ok()?);
        }
        Some(Loaded { origin, values })
    }

    /// The envelope the request's map came from.
    pub(crate) fn origin(&self) -> &Origin {
        &self.origin
    }

    /// The request's own changes, from the map it is saving: the entries it set (new, or
    /// with another value than it loaded) and the keys it loaded and removed, as digests
    /// (a removed key's name is not known, only its digest).
    pub(crate) fn changes<'a, V>(
        &self,
        request: &'a HashMap<String, V>,
        bytes: impl Fn(&V) -> Vec<u8>,
    ) -> Changes<'a, V> {
        let mut set = Vec::new();
        let mut kept = HashSet::with_capacity(request.len());
        for (key, value) in request {
            let k = key_digest(key);
            kept.insert(k);
            if self.values.get(&k) != Some(&value_digest(&bytes(value))) {
                set.push((key.as_str(), value));
            }
        }
        let removed = self
            .values
            .keys()
            .filter(|k| !kept.contains(*k))
            .copied()
            .collect();
        Changes { set, removed }
    }
}

/// One request's changes to a session map (see [`Loaded::changes`]).
pub(crate) struct Changes<'a, V> {
    set: Vec<(&'a str, &'a V)>,
    removed: HashSet<Digest16>,
}

impl<V: Clone> Changes<'_, V> {
    /// Applies the changes to `current`, the map another request saved: every set entry is
    /// written over it, every removed key taken out of it; other entries stay as they are.
    pub(crate) fn apply<K>(&self, current: &mut HashMap<K, V>)
    where
        K: Eq + Hash + AsRef<str> + for<'k> From<&'k str>,
    {
        if !self.removed.is_empty() {
            current.retain(|key, _| !self.removed.contains(&key_digest(key.as_ref())));
        }
        for (key, value) in &self.set {
            current.insert(K::from(key), (*value).clone());
        }
    }

    /// Whether the request changed nothing.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.set.is_empty() && self.removed.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(entries: &[(&str, &str)]) -> HashMap<String, String> {
        entries
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn bytes(v: &String) -> Vec<u8> {
        v.as_bytes().to_vec()
    }

    fn loaded(entries: &HashMap<String, String>) -> Loaded {
        let origin = Origin::of(&[7u8; 64], Some(15..47));
        let text = Loaded::describe(&origin, entries.iter().map(|(k, v)| (k.as_str(), bytes(v))));
        Loaded::parse(&text).expect("own text parses")
    }

    #[test]
    fn only_the_requests_own_sets_and_removals_are_reapplied() {
        let at_load = map(&[("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")]);
        let before = loaded(&at_load);
        // The request changes a, removes b, adds e; leaves c and d alone.
        let request = map(&[("a", "10"), ("c", "3"), ("d", "4"), ("e", "5")]);
        // Meanwhile another request changed c, removed d and added f.
        let mut current = map(&[("a", "1"), ("b", "2"), ("c", "30"), ("f", "6")]);
        let changes = before.changes(&request, bytes);
        changes.apply(&mut current);
        assert_eq!(
            current,
            map(&[("a", "10"), ("c", "30"), ("e", "5"), ("f", "6")])
        );
        assert!(!changes.is_empty());
        assert!(before.changes(&at_load, bytes).is_empty());
    }

    #[test]
    fn the_reserved_text_round_trips_and_refuses_anything_else() {
        let entries = map(&[("x", "1")]);
        let origin = Origin::of(&[9u8; 100], Some(15..47));
        let text = Loaded::describe(&origin, entries.iter().map(|(k, v)| (k.as_str(), bytes(v))));
        let back = Loaded::parse(&text).expect("parses");
        assert!(back.origin() == &origin);
        for bad in [
            "",
            "AQ",
            "not base64!",
            &text[..text.len() - 3],
            "AgAAAA8AAAABBw",
        ] {
            assert!(Loaded::parse(bad).is_none(), "{bad:?}");
        }
    }
}
