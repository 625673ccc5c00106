//! Reloading a keyring configuration file into a [`KeyringHandle`].

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use crate::config::{Environment, FilePermissions, KeyringConfig, ProcessEnvironment};
use crate::crypto::KeyringHandle;
use crate::crypto::{KeyInfo, KeyState};
use crate::error::ConfigError;

/// Reloads a keyring configuration file into a [`KeyringHandle`] on demand.
///
/// A reload reads and checks the whole file and resolves every key's material first; only
/// a keyring that passed every check replaces the current one. On any error the working
/// keyring stays in place and the error is returned.
///
/// ```no_run
/// use sealed_session::rotation::Reloader;
///
/// // At start-up: the initial keyring, and the reloader that keeps it current.
/// let reloader = Reloader::open("/etc/myapp/session-keys.toml")?;
/// let handle = reloader.handle().clone(); // give it to StoreBuilder::keyring_handle
/// // Later, from an admin endpoint or a signal handler:
/// match reloader.reload() {
///     Ok(done) => println!("keyring reloaded, primary key {}", done.primary),
///     Err(e) => eprintln!("keyring reload failed, keeping the current one: {e}"),
/// }
/// # Ok::<(), sealed_session::ConfigError>(())
/// ```
pub struct Reloader {
    path: PathBuf,
    handle: KeyringHandle,
    env: Box<dyn Environment + Send + Sync>,
    /// Serialises reloads, so two of them cannot interleave their swaps; holds the ids
    /// this process must never open again.
    lock: Mutex<Gone>,
    /// How the permissions of the files read are checked.
    permissions: FilePermissions,
}

/// Ids that never open again in this process, whatever a later file says.
#[derive(Default)]
struct Gone {
    /// Seen retired.
    retired: BTreeSet<u32>,
    /// Active once, then left out of the file: treated as retired, so the id cannot come
    /// back with other material (the process no longer knows the old material to compare).
    removed: BTreeSet<u32>,
}

impl Gone {
    fn from_keyring(keyring: &crate::Keyring) -> Gone {
        Gone {
            retired: retired_ids(keyring),
            removed: BTreeSet::new(),
        }
    }
}

/// What a successful reload put in place.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reloaded {
    /// The primary key id before the reload.
    pub previous_primary: u32,
    /// The primary key id now.
    pub primary: u32,
    /// Every key of the new keyring (no material).
    pub keys: Vec<KeyInfo>,
    /// Ids that could open envelopes before and no longer can (retired or removed): their
    /// sessions are now refused. Expected when retiring a key; a surprise otherwise.
    pub lost: Vec<u32>,
    /// The primary key was not in the previous keyring: instances that have not loaded it yet
    /// refuse what it seals. Expected only in the compromise procedure; the routine one adds
    /// a key as decrypt-only everywhere first.
    pub primary_was_new: bool,
}

impl Reloader {
    /// Loads the keyring from `path` (TOML, or JSON for `.json`) with the process
    /// environment, and returns a reloader over a new handle holding it.
    pub fn open(path: impl Into<PathBuf>) -> Result<Reloader, ConfigError> {
        Reloader::open_with(path, ProcessEnvironment)
    }

    /// As [`Reloader::open`], looking environment variables up in `env`.
    pub fn open_with(
        path: impl Into<PathBuf>,
        env: impl Environment + Send + Sync + 'static,
    ) -> Result<Reloader, ConfigError> {
        Reloader::open_with_permissions(path, env, FilePermissions::Checked)
    }

    /// As [`Reloader::open_with`], checking the permissions of the files read, now and at
    /// every reload, as `permissions` says (see [`FilePermissions`] before relaxing them).
    pub fn open_with_permissions(
        path: impl Into<PathBuf>,
        env: impl Environment + Send + Sync + 'static,
        permissions: FilePermissions,
    ) -> Result<Reloader, ConfigError> {
        let path = absolute(path.into());
        let keyring = KeyringConfig::read_with(&path, permissions)?.resolve_with(&env)?;
        let gone = Gone::from_keyring(&keyring);
        Ok(Reloader {
            path,
            handle: KeyringHandle::new(keyring),
            env: Box::new(env),
            lock: Mutex::new(gone),
            permissions,
        })
    }

    /// A reloader that replaces the keyring of an existing `handle` from `path`. Nothing is
    /// read until [`Reloader::reload`].
    pub fn new(path: impl Into<PathBuf>, handle: KeyringHandle) -> Reloader {
        let gone = Gone::from_keyring(&handle.current());
        Reloader {
            path: absolute(path.into()),
            handle,
            env: Box::new(ProcessEnvironment),
            lock: Mutex::new(gone),
            permissions: FilePermissions::Checked,
        }
    }

    /// Looks environment variables up in `env` instead of the process environment.
    #[must_use]
    pub fn with_environment(mut self, env: impl Environment + Send + Sync + 'static) -> Self {
        self.env = Box::new(env);
        self
    }

    /// Checks the permissions of the files later reloads read as `permissions` says
    /// (default [`FilePermissions::Checked`]).
    #[must_use]
    pub fn with_file_permissions(mut self, permissions: FilePermissions) -> Self {
        self.permissions = permissions;
        self
    }

    /// The handle this reloader replaces the keyring of.
    pub fn handle(&self) -> &KeyringHandle {
        &self.handle
    }

    /// The configuration file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the file again and, if it is valid, puts its keyring in use. Blocking (file
    /// reads, and Argon2id for passphrase keys): from async code, call it through
    /// `spawn_blocking`. On error the current keyring is kept.
    ///
    /// Besides the checks of the file itself, a reload is refused if it would change the
    /// material or suite of an id that stays active ([`ConfigError::KeyChanged`]), make an
    /// id this reloader has ever seen retired open again ([`ConfigError::Unretired`]), bring
    /// back an id that an earlier file had and a later one left out
    /// ([`ConfigError::RemovedIdReturned`]: a removed id counts as retired), or promote a
    /// key with a lower id than the current primary ([`ConfigError::PrimaryIdDecreased`]:
    /// re-sealing only moves envelopes to higher ids, so those under the old primary would
    /// stay there). The first would silently log users out; the next two could undo a
    /// compromise response, or let an id open envelopes under material other than the one
    /// that sealed them.
    pub fn reload(&self) -> Result<Reloaded, ConfigError> {
        let mut gone = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        let keyring = KeyringConfig::read_with(&self.path, self.permissions)?
            .resolve_with(self.env.as_ref())?;
        let current = self.handle.current();
        if let Some(e) = current.incompatible_change(&keyring) {
            return Err(e);
        }
        // Coming back as retired is fine: that is how a key should have been retired.
        for key in keyring
            .keys()
            .iter()
            .filter(|k| k.state != KeyState::Retired)
        {
            if gone.removed.contains(&key.id) {
                return Err(ConfigError::RemovedIdReturned { id: key.id });
            }
            if gone.retired.contains(&key.id) {
                return Err(ConfigError::Unretired { id: key.id });
            }
        }
        let (previous, next) = (current.primary_id(), keyring.primary_id());
        if next < previous {
            return Err(ConfigError::PrimaryIdDecreased { previous, next });
        }
        gone.retired.extend(retired_ids(&keyring));
        let removed: Vec<u32> = current
            .keys()
            .iter()
            .filter(|k| k.state != KeyState::Retired)
            .filter(|k| !keyring.keys().iter().any(|n| n.id == k.id))
            .map(|k| k.id)
            .collect();
        gone.removed.extend(removed);
        let keys = keyring.keys().to_vec();
        let primary = keyring.primary_id();
        let old = self.handle.replace(keyring);
        let primary_was_new = !old
            .keys()
            .iter()
            .any(|k| k.id == primary && k.state != KeyState::Retired);
        let opens = |k: &KeyInfo| k.state != KeyState::Retired;
        let lost = old
            .keys()
            .iter()
            .filter(|k| opens(k))
            .filter(|k| !keys.iter().any(|n| n.id == k.id && opens(n)))
            .map(|k| k.id)
            .collect();
        Ok(Reloaded {
            previous_primary: old.primary_id(),
            primary,
            keys,
            lost,
            primary_was_new,
        })
    }
}

fn retired_ids(keyring: &crate::Keyring) -> BTreeSet<u32> {
    keyring
        .keys()
        .iter()
        .filter(|k| k.state == KeyState::Retired)
        .map(|k| k.id)
        .collect()
}

/// The path made absolute against the working directory now, so later reloads read the same
/// file wherever the process has moved (symlinks are kept, so a mounted file that is updated
/// by re-pointing a link is followed).
fn absolute(path: PathBuf) -> PathBuf {
    std::path::absolute(&path).unwrap_or(path)
}

impl fmt::Debug for Reloader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Reloader {
            path,
            handle,
            env: _,
            lock: _,
            permissions,
        } = self;
        f.debug_struct("Reloader")
            .field("path", path)
            .field("handle", handle)
            .field("permissions", permissions)
            .finish_non_exhaustive()
    }
}

/// Reloads `reloader` every time the process receives SIGHUP, reporting each outcome to
/// `report` (log it: a failed reload keeps the old keyring, and nothing else tells the
/// operator). Runs on the current tokio runtime until the returned task is aborted; the
/// file is read on the blocking pool.
///
/// Fails if there is no current tokio runtime or the signal handler cannot be installed.
///
/// # Panics
///
/// tokio panics when the current runtime was built without its I/O driver (a runtime
/// from `Builder` without `enable_io()` or `enable_all()`); `#[tokio::main]` has it.
#[cfg(all(feature = "signal", unix))]
pub fn reload_on_sighup(
    reloader: std::sync::Arc<Reloader>,
    report: impl Fn(Result<Reloaded, ConfigError>) + Send + Sync + 'static,
) -> std::io::Result<tokio::task::JoinHandle<()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let runtime = tokio::runtime::Handle::try_current().map_err(std::io::Error::other)?;
    let mut hangups = signal(SignalKind::hangup())?;
    Ok(runtime.spawn(async move {
        while hangups.recv().await.is_some() {
            let reloader = std::sync::Arc::clone(&reloader);
            if let Ok(outcome) = tokio::task::spawn_blocking(move || reloader.reload()).await {
                report(outcome);
            }
        }
    }))
}
