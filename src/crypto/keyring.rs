use std::fmt;

use super::{IndexKeys, KeyMaterial, Suite};
use crate::error::ConfigError;

/// What a key may be used for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyState {
    /// Seals every new envelope and opens old ones. Exactly one key is primary.
    Primary,
    /// Opens envelopes it sealed while it was primary; seals nothing. The state of a new key
    /// being rolled out, and of an old one whose envelopes are still live.
    DecryptOnly,
    /// Opens nothing: envelopes naming it are refused. Keeps its id from being reused.
    /// A retired key holds no material.
    Retired,
}

/// The public facts about one key: id, state, suite (absent for a retired key).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyInfo {
    /// The key id, never 0.
    pub id: u32,
    /// Its state.
    pub state: KeyState,
    /// Its AEAD suite; `None` for a retired key.
    pub suite: Option<Suite>,
}

pub(crate) struct ActiveKey {
    pub(crate) id: u32,
    pub(crate) suite: Suite,
    pub(crate) material: KeyMaterial,
}

/// The result of looking a key id up for opening.
pub(crate) enum Lookup<'a> {
    Usable(&'a ActiveKey),
    Retired,
    Unknown,
}

/// A set of numbered root keys: exactly one primary that seals, any number of decrypt-only
/// keys that still open, and retired ids that open nothing.
///
/// Opening uses exactly the key the envelope names; keys are never tried in turn.
///
/// ```
/// use sealed_session::{KeyMaterial, Keyring, Suite};
///
/// let keyring = Keyring::builder()
///     .primary(2, Suite::Aes256Gcm, KeyMaterial::generate()?)
///     .decrypt_only(1, Suite::ChaCha20Poly1305, KeyMaterial::generate()?)
///     .build()?;
/// assert_eq!(keyring.primary_id(), 2);
/// assert_eq!(
///     format!("{keyring:?}"),
///     "Keyring { primary: 2, keys: [2 primary aes-256-gcm, 1 decrypt-only chacha20-poly1305] }"
/// );
/// # Ok::<(), sealed_session::Error>(())
/// ```
pub struct Keyring {
    /// Active keys; `primary` indexes into it.
    active: Vec<ActiveKey>,
    primary: usize,
    states: Vec<KeyInfo>,
    /// The keys that name owner indexes, if the keyring has them.
    index: Option<IndexKeys>,
}

impl Keyring {
    /// Starts a keyring.
    pub fn builder() -> KeyringBuilder {
        KeyringBuilder::default()
    }

    /// A keyring of one primary key.
    pub fn single(id: u32, suite: Suite, material: KeyMaterial) -> Result<Keyring, ConfigError> {
        Keyring::builder().primary(id, suite, material).build()
    }

    /// The id of the key that seals.
    pub fn primary_id(&self) -> u32 {
        self.primary_key().map_or(0, |k| k.id)
    }

    /// Every key's id, state and suite, in the order they were added. No material.
    pub fn keys(&self) -> &[KeyInfo] {
        &self.states
    }

    /// The state of key `id`, if it is in the keyring.
    pub fn state(&self, id: u32) -> Option<KeyState> {
        self.states.iter().find(|k| k.id == id).map(|k| k.state)
    }

    /// The keys that name owner indexes, if any were added.
    pub fn index_keys(&self) -> Option<&IndexKeys> {
        self.index.as_ref()
    }

    /// The id of a sealing key whose material one of `index` uses, if any.
    pub(crate) fn shares_material_with(&self, index: &IndexKeys) -> Option<u32> {
        self.active
            .iter()
            .find(|k| index.uses(&k.material).is_some())
            .map(|k| k.id)
    }

    pub(crate) fn primary_key(&self) -> Option<&ActiveKey> {
        self.active.get(self.primary)
    }

    /// The first id for which `next` would change what this keyring does in a way that
    /// breaks live envelopes: an id active in both with different material or suite, or a
    /// retired id made active again.
    #[cfg(feature = "config")]
    pub(crate) fn incompatible_change(&self, next: &Keyring) -> Option<ConfigError> {
        match (&self.index, &next.index) {
            (Some(old), Some(new)) => {
                if let Some(id) = old.changed_in(new) {
                    return Some(ConfigError::IndexKeys(Box::new(ConfigError::KeyChanged {
                        id,
                    })));
                }
                // The primary names every index written until now: it must stay readable
                // (as a previous key) until those indexes have expired.
                let primary = old.primary_id();
                if !new.has(primary) {
                    return Some(ConfigError::IndexKeyDropped { id: primary });
                }
            }
            // A store with an owner index would refuse every owned session from then on.
            (Some(_), None) => {
                return Some(ConfigError::IndexKeys(Box::new(ConfigError::NoPrimary)));
            }
            _ => {}
        }
        for old in &self.active {
            if let Some(new) = next.active.iter().find(|n| n.id == old.id)
                && (new.suite != old.suite || !new.material.ct_eq(&old.material))
            {
                return Some(ConfigError::KeyChanged { id: old.id });
            }
        }
        self.states
            .iter()
            .filter(|k| k.state == KeyState::Retired)
            .find(|k| next.active.iter().any(|n| n.id == k.id))
            .map(|k| ConfigError::Unretired { id: k.id })
    }

    pub(crate) fn lookup(&self, id: u32) -> Lookup<'_> {
        if let Some(key) = self.active.iter().find(|k| k.id == id) {
            return Lookup::Usable(key);
        }
        if self
            .states
            .iter()
            .any(|k| k.id == id && k.state == KeyState::Retired)
        {
            return Lookup::Retired;
        }
        Lookup::Unknown
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Keys<'a>(&'a [KeyInfo]);
        impl fmt::Debug for Keys<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("[")?;
                for (i, KeyInfo { id, state, suite }) in self.0.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    let state = match state {
                        KeyState::Primary => "primary",
                        KeyState::DecryptOnly => "decrypt-only",
                        KeyState::Retired => "retired",
                    };
                    write!(f, "{id} {state}")?;
                    if let Some(suite) = suite {
                        write!(f, " {suite}")?;
                    }
                }
                f.write_str("]")
            }
        }
        // Destructured so that a new field fails to compile until someone decides how it
        // is printed.
        let Keyring {
            active: _,
            primary: _,
            states,
            index,
        } = self;
        let mut d = f.debug_struct("Keyring");
        d.field("primary", &self.primary_id())
            .field("keys", &Keys(states));
        if let Some(index) = index {
            d.field("index_keys", index);
        }
        d.finish()
    }
}

/// Collects keys and checks them as a whole in [`KeyringBuilder::build`].
#[derive(Default)]
pub struct KeyringBuilder {
    entries: Vec<PendingKey>,
    index: Option<IndexKeys>,
}

/// A key as added: retired keys carry no suite or material.
type PendingKey = (u32, KeyState, Option<(Suite, KeyMaterial)>);

impl KeyringBuilder {
    /// Adds a key in any state. For [`KeyState::Retired`] the suite and material are dropped.
    #[must_use]
    pub fn key(mut self, id: u32, suite: Suite, state: KeyState, material: KeyMaterial) -> Self {
        let keep = (state != KeyState::Retired).then_some((suite, material));
        self.entries.push((id, state, keep));
        self
    }

    /// Adds the primary key.
    #[must_use]
    pub fn primary(self, id: u32, suite: Suite, material: KeyMaterial) -> Self {
        self.key(id, suite, KeyState::Primary, material)
    }

    /// Adds a key that opens but never seals.
    #[must_use]
    pub fn decrypt_only(self, id: u32, suite: Suite, material: KeyMaterial) -> Self {
        self.key(id, suite, KeyState::DecryptOnly, material)
    }

    /// Adds a retired id: envelopes naming it are refused as retired, not unknown.
    #[must_use]
    pub fn retired(mut self, id: u32) -> Self {
        self.entries.push((id, KeyState::Retired, None));
        self
    }

    /// Sets the keys that name owner indexes (see [`IndexKeys`]).
    #[must_use]
    pub fn index_keys(mut self, keys: IndexKeys) -> Self {
        self.index = Some(keys);
        self
    }

    /// Checks the keys: no id 0, no id twice, exactly one primary, no material under two ids
    /// (index keys included: a key that seals never doubles as an index key).
    pub fn build(self) -> Result<Keyring, ConfigError> {
        let mut states = Vec::with_capacity(self.entries.len());
        let mut active: Vec<ActiveKey> = Vec::with_capacity(self.entries.len());
        let mut primaries = Vec::new();
        for (id, state, key) in self.entries {
            if id == 0 {
                return Err(ConfigError::ZeroKeyId);
            }
            if states.iter().any(|k: &KeyInfo| k.id == id) {
                return Err(ConfigError::DuplicateKeyId { id });
            }
            if state == KeyState::Primary {
                primaries.push(id);
            }
            let suite = key.as_ref().map(|(suite, _)| *suite);
            states.push(KeyInfo { id, state, suite });
            if let Some((suite, material)) = key {
                if let Some(twin) = active.iter().find(|k| k.material.ct_eq(&material)) {
                    return Err(ConfigError::DuplicateMaterial {
                        first: twin.id,
                        second: id,
                    });
                }
                active.push(ActiveKey {
                    id,
                    suite,
                    material,
                });
            }
        }
        let primary_id = match primaries.as_slice() {
            [] => return Err(ConfigError::NoPrimary),
            [one] => *one,
            _ => return Err(ConfigError::MultiplePrimaries { ids: primaries }),
        };
        let primary = active
            .iter()
            .position(|k| k.id == primary_id)
            .ok_or(ConfigError::NoPrimary)?;
        if let Some(index) = &self.index {
            index
                .check()
                .map_err(|e| ConfigError::IndexKeys(Box::new(e)))?;
            if let Some(key) = active.iter().find(|k| index.uses(&k.material).is_some()) {
                return Err(ConfigError::IndexKeys(Box::new(
                    ConfigError::SharedWithSealingKey { id: key.id },
                )));
            }
        }
        Ok(Keyring {
            active,
            primary,
            states,
            index: self.index,
        })
    }
}

impl fmt::Debug for KeyringBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyringBuilder")
            .field("keys", &self.entries.len())
            .field("index_keys", &self.index)
            .finish_non_exhaustive()
    }
}
