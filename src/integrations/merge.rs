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
//! The digests are HMAC-SHA-256 under a key drawn when the adapter is built, and the entry
//! carries a MAC under it too: handlers see the entry, and neither a digest of a
//! low-entropy value (a role, a PIN) can be tested offline, nor a forged entry (from a
//! handler that copies client input into the session) be taken for one this adapter wrote.
//! Each load's entry carries its own number, under which the adapter remembers what a
//! save of that request wrote, so a request that saves twice merges its second save against
//! its first, not against its load.
//!
//! The reserved entry lives only in the request's memory: the adapters take it out before
//! every write.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::Rng as _;
use subtle::ConstantTimeEq;

use super::remembered::Remembered;
use zeroize::Zeroizing;

use crate::crypto::hmac_sha256;
use crate::store::Origin;

/// The reserved entry that carries what was loaded through the request, with
/// `merge_on_conflict` (see the module docs of each adapter). Never stored.
pub const LOADED_ENTRY: &str = "sealed-session.loaded";

/// Bytes of a digest kept per key and per value, and of the entry's MAC: 128 bits.
const DIGEST_LEN: usize = 16;

type Digest16 = [u8; DIGEST_LEN];

/// The first byte of the encoding.
const VERSION: u8 = 1;

/// Most written bases remembered (each about 50 bytes per session entry): the requests
/// saved most recently, among which any request between two saves of its own.
const WRITTEN: usize = 4096;

/// Largest map whose written base is remembered (entries), which bounds the memory of the
/// [`WRITTEN`] bases. A larger map's next save merges against its load instead: it conflicts
/// with its own first write and re-applies its changes since the load over what is stored,
/// so nothing another request saved is lost; only an entry it added before its first save
/// and removed before its second is not removed.
const WRITTEN_ENTRIES: usize = 1024;

/// What an adapter needs to describe loads and read them back: its digest key, the number
/// of the next load, and what the saves of recent loads wrote.
pub(crate) struct Merger {
    key: Zeroizing<[u8; 32]>,
    next: AtomicU64,
    written: Remembered<Loaded, u64>,
}

impl Merger {
    /// A merger with a fresh random key (from the thread-local generator, seeded by the
    /// operating system: the key only has to be unknown outside this process).
    pub(crate) fn new() -> Merger {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(key.as_mut());
        Merger {
            key,
            next: AtomicU64::new(rand::rng().next_u64()),
            written: Remembered::with_bound(WRITTEN),
        }
    }

    fn digest(&self, domain: &[u8], bytes: &[u8]) -> Digest16 {
        let full = hmac_sha256(&self.key, &[domain, bytes]);
        let mut out = [0u8; DIGEST_LEN];
        out.copy_from_slice(full.get(..DIGEST_LEN).unwrap_or(&[0; DIGEST_LEN]));
        out
    }

    fn key_digest(&self, key: &str) -> Digest16 {
        self.digest(b"key", key.as_bytes())
    }

    fn value_digest(&self, value: &[u8]) -> Digest16 {
        self.digest(b"value", value)
    }

    fn mac(&self, body: &[u8]) -> Digest16 {
        self.digest(b"entry", body)
    }

    /// The reserved entry's text for a map loaded from `origin`: `entries` yields each key
    /// and its value's bytes (reserved entries left out by the caller).
    pub(crate) fn describe<'a>(
        &self,
        origin: &Origin,
        entries: impl Iterator<Item = (&'a str, Vec<u8>)>,
    ) -> String {
        let (at, bytes) = origin.parts();
        let mut out = Vec::with_capacity(17 + bytes.len());
        out.push(VERSION);
        out.extend_from_slice(&self.next.fetch_add(1, Ordering::Relaxed).to_be_bytes());
        out.extend_from_slice(&u32::try_from(at).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(bytes);
        for (key, value) in entries {
            out.extend_from_slice(&self.key_digest(key));
            out.extend_from_slice(&self.value_digest(&value));
        }
        let mac = self.mac(&out);
        out.extend_from_slice(&mac);
        URL_SAFE_NO_PAD.encode(out)
    }

    /// What the request that carries `text` saves against: what its last save wrote, or
    /// else what it loaded. `None` for a text this adapter did not write (or that was
    /// changed).
    pub(crate) fn parse(&self, text: &str) -> Option<Loaded> {
        let raw = URL_SAFE_NO_PAD.decode(text).ok()?;
        let (body, mac) = raw.split_at_checked(raw.len().checked_sub(DIGEST_LEN)?)?;
        if !bool::from(self.mac(body).ct_eq(mac)) {
            return None;
        }
        let (&version, rest) = body.split_first()?;
        if version != VERSION {
            return None;
        }
        let (nonce, rest) = rest.split_at_checked(8)?;
        let nonce = u64::from_be_bytes(nonce.try_into().ok()?);
        if let Some(written) = self.written.get(&nonce) {
            return Some(written);
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
        Some(Loaded {
            nonce,
            origin,
            values,
            merged: false,
        })
    }

    /// Remembers that the request whose load was `loaded` saved its map `entries` (as it
    /// holds it, without what another request added) in the envelope `origin`, as it is
    /// (`merged` false) or merged with another request's save: its next save (tower-sessions
    /// saves a record again when a handler saved it itself) finds its own changes against
    /// that map, and applies them to what is stored if the save merged.
    pub(crate) fn wrote<'a>(
        &self,
        loaded: &Loaded,
        origin: Origin,
        entries: impl Iterator<Item = (&'a str, Vec<u8>)>,
        merged: bool,
    ) {
        let values: HashMap<Digest16, Digest16> = entries
            .take(WRITTEN_ENTRIES.saturating_add(1))
            .map(|(key, value)| (self.key_digest(key), self.value_digest(&value)))
            .collect();
        if values.len() > WRITTEN_ENTRIES {
            self.written.take(&loaded.nonce);
            return;
        }
        self.written.remember(
            loaded.nonce,
            Loaded {
                nonce: loaded.nonce,
                origin,
                values,
                merged,
            },
        );
    }

    /// The request's own changes, from the map it is saving: the entries it set (new, or
    /// with another value than it loaded) and the keys it loaded and removed, as digests
    /// (a removed key's name is not known, only its digest).
    pub(crate) fn changes<'a, V>(
        &'a self,
        loaded: &Loaded,
        request: &'a HashMap<String, V>,
        bytes: impl Fn(&V) -> Vec<u8>,
    ) -> Changes<'a, V> {
        let mut set = Vec::new();
        let mut kept = HashSet::with_capacity(request.len());
        for (key, value) in request {
            let k = self.key_digest(key);
            kept.insert(k);
            if loaded.values.get(&k) != Some(&self.value_digest(&bytes(value))) {
                set.push((key.as_str(), value));
            }
        }
        let removed = loaded
            .values
            .keys()
            .filter(|k| !kept.contains(*k))
            .copied()
            .collect();
        Changes {
            merger: self,
            set,
            removed,
        }
    }
}

/// What a request saves against: the envelope it loaded (or last wrote), and each entry's
/// key and value digests.
#[derive(Clone)]
pub(crate) struct Loaded {
    nonce: u64,
    origin: Origin,
    values: HashMap<Digest16, Digest16>,
    /// The stored map is not the request's: its last save merged another request's.
    merged: bool,
}

impl Loaded {
    /// The envelope the request's map came from, or that its last save wrote.
    pub(crate) fn origin(&self) -> &Origin {
        &self.origin
    }

    /// Whether the envelope holds more than the request's map (its last save merged), so
    /// the map must never be written as it is.
    pub(crate) fn merged(&self) -> bool {
        self.merged
    }
}

/// One request's changes to a session map (see [`Merger::changes`]).
pub(crate) struct Changes<'a, V> {
    merger: &'a Merger,
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
            current.retain(|key, _| !self.removed.contains(&self.merger.key_digest(key.as_ref())));
        }
        for (key, value) in &self.set {
            current.insert(K::from(key), (*value).clone());
        }
    }

    /// Whether the request changed nothing: then what another request saved already holds
    /// everything this one would write.
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

    fn origin(byte: u8) -> Origin {
        Origin::of(&[byte; 100], Some(15..47))
    }

    fn describe(merger: &Merger, entries: &HashMap<String, String>) -> String {
        merger.describe(
            &origin(7),
            entries.iter().map(|(k, v)| (k.as_str(), bytes(v))),
        )
    }

    #[test]
    fn only_the_requests_own_sets_and_removals_are_reapplied() {
        let merger = Merger::new();
        let at_load = map(&[("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")]);
        let before = merger
            .parse(&describe(&merger, &at_load))
            .expect("own text");
        // The request changes a, removes b, adds e; leaves c and d alone.
        let request = map(&[("a", "10"), ("c", "3"), ("d", "4"), ("e", "5")]);
        // Meanwhile another request changed c, removed d and added f.
        let mut current = map(&[("a", "1"), ("b", "2"), ("c", "30"), ("f", "6")]);
        let changes = merger.changes(&before, &request, bytes);
        changes.apply(&mut current);
        assert_eq!(
            current,
            map(&[("a", "10"), ("c", "30"), ("e", "5"), ("f", "6")])
        );
        assert!(!changes.is_empty());
        assert!(merger.changes(&before, &at_load, bytes).is_empty());
    }

    #[test]
    fn a_second_save_compares_against_the_first() {
        let merger = Merger::new();
        let text = describe(&merger, &map(&[("a", "1")]));
        let loaded = merger.parse(&text).expect("own text");
        // The first save wrote a and pending; the second removes pending.
        let first = map(&[("a", "1"), ("pending", "x")]);
        merger.wrote(
            &loaded,
            origin(8),
            first.iter().map(|(k, v)| (k.as_str(), bytes(v))),
            false,
        );
        let base = merger.parse(&text).expect("remembered");
        assert!(base.origin() == &origin(8));
        let second = map(&[("a", "1")]);
        let changes = merger.changes(&base, &second, bytes);
        let mut current = map(&[("a", "1"), ("pending", "x"), ("other", "y")]);
        changes.apply(&mut current);
        assert_eq!(current, map(&[("a", "1"), ("other", "y")]));
    }

    #[test]
    fn the_reserved_text_is_refused_when_changed_or_from_another_adapter() {
        let merger = Merger::new();
        let text = describe(&merger, &map(&[("x", "1")]));
        assert!(merger.parse(&text).is_some());
        assert!(
            Merger::new().parse(&text).is_none(),
            "another adapter's key"
        );
        let mut raw = URL_SAFE_NO_PAD.decode(&text).unwrap_or_default();
        for i in 0..raw.len() {
            raw[i] ^= 1;
            assert!(
                merger.parse(&URL_SAFE_NO_PAD.encode(&raw)).is_none(),
                "byte {i}"
            );
            raw[i] ^= 1;
        }
        for bad in ["", "AQ", "not base64!", &text[..text.len() - 3]] {
            assert!(merger.parse(bad).is_none(), "{bad:?}");
        }
        // Two loads of the same map are told apart.
        assert_ne!(text, describe(&merger, &map(&[("x", "1")])));
    }
}
