//! Index keys: what turns an owner (a user id) into the name of its index in the backend,
//! so the backend holds a keyed hash and never the user id.
//!
//! The tag of an owner is HMAC-SHA256 under the index key of a fixed label, the store's key
//! prefix (so stores sharing an index key do not share tags) and the owner's bytes. Without the key, a reader of the backend cannot tell which tag belongs to which
//! user, nor test a guess. Index keys are separate from the keys that seal envelopes: they
//! do not change when those rotate, and have a rotation of their own (`docs/ROTATION.md`).

use std::fmt;

use sha2::{Digest, Sha256};

use super::{KeyMaterial, wipe};
use crate::error::ConfigError;

/// Domain separation: the tag of an owner is never the MAC of anything else.
const TAG_LABEL: &[u8] = b"sealed-session v1 owner index\0";

/// The keys that name owner indexes: one primary, which every write uses, and previous ones
/// still read (listed and revoked) while the indexes written under them expire.
///
/// `Debug` prints the ids only.
///
/// ```
/// use sealed_session::{IndexKeys, KeyMaterial};
///
/// let keys = IndexKeys::new(2, KeyMaterial::generate()?)
///     .previous(1, KeyMaterial::generate()?)?;
/// assert_eq!(keys.primary_id(), 2);
/// assert_eq!(format!("{keys:?}"), "IndexKeys { primary: 2, previous: [1] }");
/// # Ok::<(), sealed_session::Error>(())
/// ```
pub struct IndexKeys {
    /// The primary first, then the previous ones in the order added.
    keys: Vec<IndexKey>,
}

struct IndexKey {
    id: u32,
    material: KeyMaterial,
}

impl IndexKeys {
    /// Index keys with one primary key.
    pub fn new(id: u32, material: KeyMaterial) -> IndexKeys {
        IndexKeys {
            keys: vec![IndexKey { id, material }],
        }
    }

    /// Adds a previous key: indexes named with it are still read, never written. Refused
    /// when the id is 0 or taken, or the material is already used by another index key.
    pub fn previous(mut self, id: u32, material: KeyMaterial) -> Result<IndexKeys, ConfigError> {
        self.keys.push(IndexKey { id, material });
        self.check()?;
        Ok(self)
    }

    /// The id of the key every index write uses.
    pub fn primary_id(&self) -> u32 {
        self.keys.first().map_or(0, |k| k.id)
    }

    /// Every id, the primary first.
    pub fn ids(&self) -> Vec<u32> {
        self.keys.iter().map(|k| k.id).collect()
    }

    /// No id 0, no id twice, no material twice.
    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        for (i, key) in self.keys.iter().enumerate() {
            if key.id == 0 {
                return Err(ConfigError::ZeroKeyId);
            }
            for earlier in self.keys.iter().take(i) {
                if earlier.id == key.id {
                    return Err(ConfigError::DuplicateKeyId { id: key.id });
                }
                if earlier.material.ct_eq(&key.material) {
                    return Err(ConfigError::DuplicateMaterial {
                        first: earlier.id,
                        second: key.id,
                    });
                }
            }
        }
        Ok(())
    }

    /// Whether an index key uses `material` (index keys must not double as sealing keys).
    pub(crate) fn uses(&self, material: &KeyMaterial) -> Option<u32> {
        self.keys
            .iter()
            .find(|k| k.material.ct_eq(material))
            .map(|k| k.id)
    }

    /// The first id that both hold with different material.
    #[cfg(feature = "config")]
    pub(crate) fn changed_in(&self, next: &IndexKeys) -> Option<u32> {
        self.keys.iter().find_map(|old| {
            next.keys
                .iter()
                .find(|new| new.id == old.id && !new.material.ct_eq(&old.material))
                .map(|_| old.id)
        })
    }

    /// The owner's tag in the store with key prefix `prefix`, under every key, the primary
    /// first: HMAC(key, label || u32(len(prefix)) || prefix || owner).
    pub(crate) fn tags<'a>(
        &'a self,
        prefix: &'a [u8],
        owner: &'a [u8],
    ) -> impl Iterator<Item = [u8; 32]> + 'a {
        let len = u32::try_from(prefix.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes();
        self.keys.iter().map(move |k| {
            hmac_sha256(
                k.material.expose_secret(),
                &[TAG_LABEL, &len, prefix, owner],
            )
        })
    }

    /// Whether `id` is one of these keys.
    #[cfg(feature = "config")]
    pub(crate) fn has(&self, id: u32) -> bool {
        self.keys.iter().any(|k| k.id == id)
    }
}

impl fmt::Debug for IndexKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let previous: Vec<u32> = self.keys.iter().skip(1).map(|k| k.id).collect();
        f.debug_struct("IndexKeys")
            .field("primary", &self.primary_id())
            .field("previous", &previous)
            .finish()
    }
}

/// HMAC-SHA256 (RFC 2104) of the concatenation of `parts` under a 32-byte key.
pub(crate) fn hmac_sha256(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    let mut pad = [0x36u8; 64];
    for (p, k) in pad.iter_mut().zip(key) {
        *p ^= k;
    }
    let mut inner = Sha256::new();
    inner.update(pad);
    for part in parts {
        inner.update(part);
    }
    let mut inner_hash: [u8; 32] = inner.finalize().into();
    for p in pad.iter_mut() {
        *p ^= 0x36 ^ 0x5c;
    }
    let mut outer = Sha256::new();
    outer.update(pad);
    outer.update(inner_hash);
    wipe(&mut pad);
    wipe(&mut inner_hash);
    outer.finalize().into()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use hmac::{KeyInit, Mac};

    use super::*;

    #[test]
    fn hmac_matches_the_hmac_crate() {
        let key = [7u8; 32];
        for len in [0usize, 1, 31, 55, 56, 63, 64, 65, 200, 1024] {
            let message: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let mut reference = hmac::Hmac::<Sha256>::new_from_slice(&key).unwrap();
            reference.update(&message);
            let expected: [u8; 32] = reference.finalize().into_bytes().into();
            let (a, b) = message.split_at(len / 2);
            assert_eq!(hmac_sha256(&key, &[a, b]), expected, "length {len}");
        }
    }

    #[test]
    fn tags_depend_on_key_and_owner_and_previous_keys_are_refused_when_reused() {
        let mut one = [1u8; 32];
        let mut two = [2u8; 32];
        let keys = IndexKeys::new(2, KeyMaterial::from_bytes(&mut two))
            .previous(1, KeyMaterial::from_bytes(&mut one))
            .unwrap();
        let tags: Vec<[u8; 32]> = keys.tags(b"sess:", b"alice").collect();
        assert_eq!(tags.len(), 2);
        assert_ne!(tags[0], tags[1]);
        let other: Vec<[u8; 32]> = keys.tags(b"sess:", b"alicf").collect();
        assert_ne!(tags[0], other[0]);
        let elsewhere: Vec<[u8; 32]> = keys.tags(b"other:", b"alice").collect();
        assert_ne!(tags[0], elsewhere[0]);
        // The prefix and the owner are delimited: moving a byte between them changes the tag.
        let shifted: Vec<[u8; 32]> = keys.tags(b"sess:a", b"lice").collect();
        assert_ne!(tags[0], shifted[0]);

        let again = IndexKeys::new(2, KeyMaterial::from_bytes(&mut [2u8; 32]));
        assert!(matches!(
            again.previous(2, KeyMaterial::from_bytes(&mut [3u8; 32])),
            Err(ConfigError::DuplicateKeyId { id: 2 })
        ));
        let again = IndexKeys::new(2, KeyMaterial::from_bytes(&mut [2u8; 32]));
        assert!(matches!(
            again.previous(3, KeyMaterial::from_bytes(&mut [2u8; 32])),
            Err(ConfigError::DuplicateMaterial {
                first: 2,
                second: 3
            })
        ));
        let zero = IndexKeys::new(0, KeyMaterial::from_bytes(&mut [2u8; 32]));
        assert!(matches!(zero.check(), Err(ConfigError::ZeroKeyId)));
    }
}
