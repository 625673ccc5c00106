//! Building a store. What seals the envelopes is a type state, not a run-time check: `build`
//! exists only once a keyring (or a sealer of the application's own) has been given, and the
//! salt source can be chosen only for the built-in sealer, which is the one that uses it.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use crate::clock::Clock;
use crate::codec::Codec;
use crate::crypto::{Keyring, KeyringHandle};
use crate::error::{ConfigError, Error};
use crate::sealer::{KeyringSealer, SaltSource, Sealer};

use super::settings::{IdleTtl, Settings};
use super::{Inner, ResealCounters, StorageKeys, Store};

/// Configures a [`Store`]. Start with [`Store::builder`] (or [`StoreBuilder::with_codec`]),
/// name what seals the envelopes ([`keyring`](StoreBuilder::keyring),
/// [`keyring_handle`](StoreBuilder::keyring_handle) or [`sealer`](StoreBuilder::sealer)),
/// then [`build`](StoreBuilder::build).
///
/// The third parameter is the builder's state: [`WantsSealer`] until a keyring or sealer is
/// given, then [`WithKeyring`] or [`WithSealer`]:
///
/// ```
/// use sealed_session::{KeyMaterial, Keyring, KeyringSealer, MemoryBackend, SaltSource, Store, Suite};
///
/// let keyring = Keyring::single(1, Suite::Aes256Gcm, KeyMaterial::generate()?)?;
/// let store: Store<String, MemoryBackend> = Store::builder(MemoryBackend::new())
///     .keyring(keyring)
///     .salt_source(SaltSource::Os)
///     .build()?;
/// let keyring = Keyring::single(1, Suite::Aes256Gcm, KeyMaterial::generate()?)?;
/// let store: Store<String, MemoryBackend> = Store::builder(MemoryBackend::new())
///     .sealer(KeyringSealer::new(keyring))
///     .build()?;
/// # Ok::<(), sealed_session::Error>(())
/// ```
///
/// `build` is not there before, so a store without a keyring does not compile:
///
/// ```compile_fail,E0599
/// use sealed_session::{KeyMaterial, Keyring, KeyringSealer, MemoryBackend, SaltSource, Store, Suite};
///
/// let store: Store<String, MemoryBackend> = Store::builder(MemoryBackend::new()).build()?;
/// # Ok::<(), sealed_session::Error>(())
/// ```
///
/// and a salt source only applies to the built-in sealer:
///
/// ```compile_fail,E0599
/// use sealed_session::{KeyMaterial, Keyring, KeyringSealer, MemoryBackend, SaltSource, Store, Suite};
///
/// let keyring = Keyring::single(1, Suite::Aes256Gcm, KeyMaterial::generate()?)?;
/// let store: Store<String, MemoryBackend> = Store::builder(MemoryBackend::new())
///     .sealer(KeyringSealer::new(keyring))
///     .salt_source(SaltSource::ThreadLocal)
///     .build()?;
/// # Ok::<(), sealed_session::Error>(())
/// ```
///
/// Once chosen, the sealer stays: `keyring` and `sealer` exist only in the first state.
pub struct StoreBuilder<T, B, S = WantsSealer> {
    backend: B,
    state: S,
    settings: Settings<T>,
}

/// [`StoreBuilder`] state: nothing seals the envelopes yet, so there is no `build`.
pub struct WantsSealer(());

impl fmt::Debug for WantsSealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("WantsSealer")
    }
}

/// [`StoreBuilder`] state: the built-in envelope v1 sealer over a keyring handle.
pub struct WithKeyring {
    handle: KeyringHandle,
    salt: SaltSource,
}

impl fmt::Debug for WithKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let WithKeyring { handle, salt } = self;
        f.debug_struct("WithKeyring")
            .field("keyring", &*handle.current())
            .field("salt", salt)
            .finish()
    }
}

/// [`StoreBuilder`] state: a sealer of the application's own.
pub struct WithSealer(Box<dyn Sealer>);

impl fmt::Debug for WithSealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl<T, B> StoreBuilder<T, B, WantsSealer>
where
    T: Send + Sync + 'static,
    B: crate::backend::Backend,
{
    /// Starts a store on `backend` writing with `codec` (for session types that are not
    /// serde types, or to write with another codec from the start).
    pub fn with_codec(backend: B, codec: impl Codec<T>) -> Self {
        StoreBuilder {
            backend,
            state: WantsSealer(()),
            settings: Settings::new(Arc::new(codec)),
        }
    }

    /// Seals with the built-in envelope v1 sealer over `keyring`. The built store's
    /// [`Store::keyring_handle`] replaces it at run time.
    #[must_use]
    pub fn keyring(self, keyring: Keyring) -> StoreBuilder<T, B, WithKeyring> {
        self.keyring_handle(KeyringHandle::new(keyring))
    }

    /// Seals with the built-in envelope v1 sealer over a shared keyring handle (from a
    /// [`Reloader`](crate::rotation::Reloader), say): replacing its keyring re-keys the
    /// store at once.
    #[must_use]
    pub fn keyring_handle(self, handle: KeyringHandle) -> StoreBuilder<T, B, WithKeyring> {
        self.into_state(WithKeyring {
            handle,
            salt: SaltSource::default(),
        })
    }

    /// Seals with a sealer of your own; it chooses its own salts.
    #[must_use]
    pub fn sealer(self, sealer: impl Sealer) -> StoreBuilder<T, B, WithSealer> {
        self.into_state(WithSealer(Box::new(sealer)))
    }

    fn into_state<S>(self, state: S) -> StoreBuilder<T, B, S> {
        StoreBuilder {
            backend: self.backend,
            state,
            settings: self.settings,
        }
    }
}

impl<T, B> StoreBuilder<T, B, WithKeyring>
where
    T: Send + Sync + 'static,
    B: crate::backend::Backend,
{
    /// Where the built-in sealer takes each envelope's 32-byte salt from (default
    /// [`SaltSource::Os`]: one system call per envelope, safe across `fork()` and virtual
    /// machine snapshots). [`SaltSource::ThreadLocal`] is faster but safe only in a process
    /// that is never forked after start-up nor restored from a snapshot; read its docs first.
    #[must_use]
    pub fn salt_source(mut self, source: SaltSource) -> Self {
        self.state.salt = source;
        self
    }

    /// Checks the settings and builds the store.
    pub fn build(self) -> Result<Store<T, B>, Error> {
        let WithKeyring { handle, salt } = self.state;
        let sealer = KeyringSealer::with_handle(handle.clone()).with_salt_source(salt);
        assemble(self.backend, Box::new(sealer), Some(handle), self.settings)
    }
}

impl<T, B> StoreBuilder<T, B, WithSealer>
where
    T: Send + Sync + 'static,
    B: crate::backend::Backend,
{
    /// Checks the settings and builds the store.
    pub fn build(self) -> Result<Store<T, B>, Error> {
        assemble(self.backend, self.state.0, None, self.settings)
    }
}

fn assemble<T: 'static, B>(
    backend: B,
    sealer: Box<dyn Sealer>,
    keyring: Option<KeyringHandle>,
    settings: Settings<T>,
) -> Result<Store<T, B>, Error> {
    let keyring_index_keys = keyring
        .as_ref()
        .is_some_and(|k| k.current().index_keys().is_some());
    settings
        .check(sealer.as_ref(), keyring_index_keys)
        .map_err(|e| Error::Config(ConfigError::InvalidSetting(e)))?;
    // Index keys given to the owner settings get the keyring's checks: well formed, and no
    // material shared with a sealing key.
    if let Some(keys) = settings.owners.as_ref().and_then(|o| o.keys()) {
        let index_error = |e| Error::Config(ConfigError::IndexKeys(Box::new(e)));
        keys.check().map_err(index_error)?;
        if let Some(id) = keyring
            .as_ref()
            .and_then(|k| k.current().shares_material_with(keys))
        {
            return Err(index_error(ConfigError::SharedWithSealingKey { id }));
        }
    }
    Ok(Store {
        inner: Arc::new(Inner {
            backend,
            sealer,
            keyring,
            settings,
            reseals: ResealCounters::default(),
            plaintext_hint: AtomicUsize::new(0),
        }),
    })
}

impl<T, B, S> StoreBuilder<T, B, S>
where
    T: Send + Sync + 'static,
{
    /// Keeps an owner index: sessions bound to an owner ([`Session::bind_owner`]) can be
    /// listed and revoked by owner ([`Store::sessions_of`], [`Store::revoke_all`]). Needs an
    /// absolute lifetime, and index keys (from the keyring, or [`Owners::index_keys`]).
    ///
    /// [`Session::bind_owner`]: super::Session::bind_owner
    /// [`Store::sessions_of`]: super::Store::sessions_of
    /// [`Store::revoke_all`]: super::Store::revoke_all
    /// [`Owners::index_keys`]: super::Owners::index_keys
    #[must_use]
    pub fn owners(mut self, owners: super::Owners) -> Self {
        self.settings.owners = Some(owners);
        self
    }

    /// For adapters whose every write carries its own absolute expiry (tower-sessions).
    #[cfg_attr(
        not(all(feature = "tower-sessions", feature = "bincode")),
        allow(dead_code)
    )]
    pub(crate) fn expiry_per_write(mut self) -> Self {
        self.settings.expiry_per_write = true;
        self
    }

    /// Makes [`Store::save`](super::Store::save) of a loaded session optimistic: it writes
    /// only if the stored envelope is still the one the session was loaded from, and
    /// returns [`Error::Conflict`](crate::Error::Conflict) otherwise, writing nothing (see
    /// [`Store::save_if_unchanged`](super::Store::save_if_unchanged), which is optimistic
    /// whatever this setting); [`Store::cycle_id`](super::Store::cycle_id) then removes the
    /// old entry only if it is still the one the session was loaded from. Off by default: a
    /// save then replaces what it finds, as connect-redis does, and sends the same single
    /// `SET … XX` as always. The framework adapters do not read this setting; they have
    /// `merge_on_conflict` instead.
    #[must_use]
    pub fn optimistic_saves(mut self) -> Self {
        self.settings.optimistic = true;
        self
    }

    /// How [`Store::update`](super::Store::update) retries after a conflict (default
    /// [`Retries::default`](super::Retries::default): 10 attempts, back-off from 1 ms to
    /// 50 ms).
    #[must_use]
    pub fn update_retries(mut self, retries: super::Retries) -> Self {
        self.settings.update_retries = retries;
        self
    }

    /// Whether a load that opens an envelope under an older (decrypt-only) key writes the
    /// session back under the primary key, with a compare-and-swap that keeps the entry's
    /// TTL (default on). Costs one extra round trip on such loads only. Values under
    /// retired keys are never opened, so never re-sealed.
    #[must_use]
    pub fn lazy_reseal(mut self, enabled: bool) -> Self {
        self.settings.lazy_reseal = enabled;
        self
    }

    /// Writes with `codec`; values it wrote stay readable. The write codec it replaces is
    /// not kept as a reader: add it with [`StoreBuilder::also_read`] to keep reading the
    /// values it wrote.
    #[must_use]
    pub fn codec(mut self, codec: impl Codec<T>) -> Self {
        self.settings.codec = Arc::new(codec);
        self
    }

    /// Also reads values written by `codec` (for moving from one codec to another).
    #[must_use]
    pub fn also_read(mut self, codec: impl Codec<T>) -> Self {
        self.settings.also_read.push(Arc::new(codec));
        self
    }

    /// The key prefix (default `sess:`).
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.settings.prefix = prefix.into();
        self
    }

    /// How session ids become storage keys (default [`StorageKeys::Hashed`]).
    #[must_use]
    pub fn storage_keys(mut self, mode: StorageKeys) -> Self {
        self.settings.storage_keys = mode;
        self
    }

    /// Entries expire this long after their last save or touch (default one day).
    #[must_use]
    pub fn idle_ttl(mut self, ttl: Duration) -> Self {
        self.settings.idle_ttl = IdleTtl::Fixed(ttl);
        self
    }

    /// Computes the idle TTL from the session at each save and touch (connect-redis's `ttl`
    /// function). Rounded down to whole seconds, at least one.
    #[must_use]
    pub fn idle_ttl_from(mut self, ttl: impl Fn(&T) -> Duration + Send + Sync + 'static) -> Self {
        self.settings.idle_ttl = IdleTtl::FromSession(Box::new(ttl));
        self
    }

    /// No idle TTL (connect-redis's `disableTTL`): entries live until their absolute
    /// expiry, or forever if the store has no absolute lifetime.
    #[must_use]
    pub fn disable_ttl(mut self) -> Self {
        self.settings.idle_ttl = IdleTtl::Disabled;
        self
    }

    /// Makes [`Store::touch`] a no-op (connect-redis's `disableTouch`).
    #[must_use]
    pub fn disable_touch(mut self) -> Self {
        self.settings.touch = false;
        self
    }

    /// Sessions end this long after they were first stored, whatever the activity
    /// (default seven days). Authenticated inside every envelope.
    #[must_use]
    pub fn absolute_lifetime(mut self, lifetime: Duration) -> Self {
        self.settings.absolute_lifetime = Some(lifetime);
        self
    }

    /// No absolute lifetime: envelopes record expiry 0 and live as long as the idle TTL
    /// keeps being renewed.
    #[must_use]
    pub fn no_absolute_lifetime(mut self) -> Self {
        self.settings.absolute_lifetime = None;
        self
    }

    /// The largest envelope written or read (default 64 KiB), checked before any crypto.
    #[must_use]
    pub fn max_envelope_len(mut self, len: usize) -> Self {
        self.settings.max_envelope_len = len;
        self
    }

    /// Keys asked for per scan page by `ids`, `len`, `all`, `clear` (default 100).
    #[must_use]
    pub fn scan_count(mut self, count: usize) -> Self {
        self.settings.scan_count = count;
        self
    }

    /// The clock for expiry (default the system clock). Give a
    /// [`MemoryBackend`](crate::MemoryBackend) the same clock.
    #[must_use]
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.settings.clock = Arc::new(clock);
        self
    }
}

impl<T: 'static, B, S: fmt::Debug> fmt::Debug for StoreBuilder<T, B, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let StoreBuilder {
            backend: _,
            state,
            settings,
        } = self;
        let mut d = f.debug_struct("StoreBuilder");
        d.field("sealer", state);
        settings.debug_fields(&mut d);
        d.finish_non_exhaustive()
    }
}
