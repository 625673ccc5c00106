//! The runtime slot a sealer reads its keyring from: one atomic pointer swap replaces the
//! keyring for every clone, and each seal or open keeps the keyring it started with.

use std::fmt;
use std::sync::Arc;

use arc_swap::{ArcSwap, Guard};

use super::Keyring;

/// A shared, atomically replaceable [`Keyring`].
///
/// Clones share the same slot: the application keeps one clone, the store's sealer another,
/// and [`KeyringHandle::replace`] switches both at once. Readers never block, and an
/// operation that started with the old keyring finishes with it.
///
/// ```
/// use sealed_session::crypto::KeyringHandle;
/// use sealed_session::{KeyMaterial, Keyring, Suite};
///
/// let handle = KeyringHandle::new(Keyring::single(1, Suite::Aes256Gcm, KeyMaterial::generate()?)?);
/// let next = Keyring::builder()
///     .primary(2, Suite::Aes256Gcm, KeyMaterial::generate()?)
///     .decrypt_only(1, Suite::Aes256Gcm, KeyMaterial::generate()?)
///     .build()?;
/// let old = handle.replace(next);
/// assert_eq!((old.primary_id(), handle.current().primary_id()), (1, 2));
/// # Ok::<(), sealed_session::Error>(())
/// ```
#[derive(Clone)]
pub struct KeyringHandle {
    slot: Arc<ArcSwap<Keyring>>,
}

impl KeyringHandle {
    /// A handle holding `keyring`.
    pub fn new(keyring: Keyring) -> Self {
        KeyringHandle {
            slot: Arc::new(ArcSwap::from_pointee(keyring)),
        }
    }

    /// The keyring in use now.
    pub fn current(&self) -> Arc<Keyring> {
        self.slot.load_full()
    }

    /// A cheap short-lived reference to the current keyring, for one operation.
    pub(crate) fn snapshot(&self) -> Guard<Arc<Keyring>> {
        self.slot.load()
    }

    /// Puts `keyring` in use and returns the one it replaces. Operations already under way
    /// finish with the old one.
    pub fn replace(&self, keyring: Keyring) -> Arc<Keyring> {
        self.slot.swap(Arc::new(keyring))
    }
}

impl fmt::Debug for KeyringHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("KeyringHandle")
            .field(&*self.snapshot())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::{KeyMaterial, Suite};

    #[test]
    fn handle_debug_shows_the_keyring_without_material() {
        let handle = KeyringHandle::new(
            Keyring::single(
                7,
                Suite::Aes256Gcm,
                KeyMaterial::from_slice(&[9; 32]).unwrap(),
            )
            .unwrap(),
        );
        assert_eq!(
            format!("{handle:?}"),
            "KeyringHandle(Keyring { primary: 7, keys: [7 primary aes-256-gcm] })"
        );
    }
}
