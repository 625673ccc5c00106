//! Keyring configuration files: the operator's side of key rotation.
//!
//! A file lists numbered keys, their state and where each key's material comes from; the
//! material itself never sits in the file (except under a name that says it is insecure).
//! See `docs/ROTATION.md` for the format and the rotation procedures.
//!
//! ```toml
//! [[keys]]
//! id = 3
//! suite = "aes-256-gcm"
//! state = "primary"
//! material = { env = "SESSION_KEY_3" }
//!
//! [[keys]]
//! id = 2
//! suite = "chacha20-poly1305"
//! state = "decrypt-only"
//! material = { file = "/run/secrets/session-key-2" }
//!
//! [[keys]]
//! id = 1
//! state = "retired"
//! ```
//!
//! Loading happens in two steps, so the structure can be checked before any secret is read:
//! [`KeyringConfig::parse_toml`] (or [`KeyringConfig::parse_json`], or
//! [`KeyringConfig::read`]) checks syntax, ids and states; [`KeyringConfig::resolve`] reads
//! the material and builds a [`Keyring`]. [`load_keyring`] does both.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::crypto::{Argon2Params, IndexKeys, KeyMaterial, KeyState, Keyring, Suite};
use crate::error::{ConfigError, PermissionProblem};

mod environment;
mod files;
mod sanitize;

pub use self::environment::{Environment, ProcessEnvironment};
pub use self::files::{FilePermissions, read_secret_file, read_secret_file_with};
use self::files::{Private, read_bounded, strip_one_newline};
use self::sanitize::{contains_key, line_of, sanitize, strip_json_position};

/// Largest configuration or secret file read, in bytes: a stray `/dev/zero` or log file is
/// refused instead of read into memory.
pub const MAX_FILE_LEN: u64 = 64 * 1024;

const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A parsed keyring configuration: ids, states, suites and material *sources*. Holds no
/// secret unless the file uses `insecure_inline`, and its `Debug` prints none.
///
/// It can also be deserialized as part of an application's own configuration (serde, any
/// format); that runs the same checks as [`KeyringConfig::parse_toml`], and
/// [`KeyringConfig::resolve`] runs them again before it reads any secret. The messages of
/// that deserializer are its own, though, and serde's usually quote the value they refused
/// (key material typed into `state`, say); [`KeyringConfig::parse_toml`] and
/// [`KeyringConfig::parse_json`] withhold it. Give them the keyring's text when it may hold a
/// secret in the wrong place.
#[derive(Clone, Deserialize)]
#[serde(try_from = "ConfigFile")]
pub struct KeyringConfig {
    keys: Vec<KeyEntry>,
    /// The keys that name owner indexes (`[[index_keys]]`), if any.
    index_keys: Vec<IndexKeyEntry>,
    /// Directory that relative secret-file paths are resolved against.
    base_dir: Option<PathBuf>,
    /// Whether secret files' permissions are checked when resolving.
    permissions: FilePermissions,
}

/// The configuration as written, before any check.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    keys: Vec<KeyEntry>,
    #[serde(default)]
    index_keys: Vec<IndexKeyEntry>,
}

impl TryFrom<ConfigFile> for KeyringConfig {
    type Error = ConfigError;

    fn try_from(file: ConfigFile) -> Result<Self, ConfigError> {
        let config = KeyringConfig {
            keys: file.keys,
            index_keys: file.index_keys,
            base_dir: None,
            permissions: FilePermissions::default(),
        };
        config.check()?;
        Ok(config)
    }
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyEntry {
    id: u32,
    state: StateName,
    suite: Option<SuiteName>,
    material: Option<MaterialSource>,
}

/// One `[[index_keys]]` entry: a key that names owner indexes.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct IndexKeyEntry {
    id: u32,
    state: IndexStateName,
    material: Option<MaterialSource>,
}

#[derive(Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum IndexStateName {
    /// Names every index written.
    Primary,
    /// Still read (listed, revoked) while the indexes written under it expire.
    Previous,
}

#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum StateName {
    Primary,
    DecryptOnly,
    Retired,
}

#[derive(Clone, Copy, Deserialize)]
enum SuiteName {
    #[serde(rename = "aes-256-gcm")]
    Aes256Gcm,
    #[serde(rename = "chacha20-poly1305")]
    ChaCha20Poly1305,
}

/// Where one key's material comes from. Exactly one source must be named.
#[derive(Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MaterialSource {
    /// An environment variable holding base64 of 32 bytes.
    env: Option<String>,
    /// A file holding base64 of 32 bytes.
    file: Option<PathBuf>,
    /// An environment variable holding a passphrase.
    passphrase_env: Option<String>,
    /// A file holding a passphrase (one trailing newline is ignored).
    passphrase_file: Option<PathBuf>,
    /// Argon2id cost, required with a passphrase.
    argon2: Option<Argon2Section>,
    /// Base64 Argon2id salt (at least 16 bytes), required with a passphrase.
    salt: Option<String>,
    /// Base64 material written in the file itself: for tests and demos only.
    insecure_inline: Option<InlineSecret>,
}

/// Key material written into the configuration itself; wiped when dropped.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
struct InlineSecret(String);

impl Drop for InlineSecret {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

#[derive(Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
struct Argon2Section {
    m_cost_kib: u32,
    t_cost: u32,
    p_cost: u32,
}

/// Where material comes from, once the entry is known to be well formed.
enum Source<'a> {
    Env(&'a str),
    File(&'a Path),
    Passphrase {
        from: PassphraseFrom<'a>,
        params: Argon2Params,
        salt: &'a str,
    },
    Inline(&'a str),
}

enum PassphraseFrom<'a> {
    Env(&'a str),
    File(&'a Path),
}

/// Public facts about one configured key, for `check` output and logs.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfiguredKey {
    /// The key id.
    pub id: u32,
    /// Its state.
    pub state: KeyState,
    /// Its suite (`None` for a retired key).
    pub suite: Option<Suite>,
    /// Where its material comes from, without the material: `env SESSION_KEY_3`,
    /// `file /run/secrets/k`, `passphrase from env PASS (argon2id m=19456 t=2 p=1)`,
    /// `insecure inline`, or `none` for a retired key.
    pub source: String,
}

impl KeyringConfig {
    /// Parses TOML and checks the structure (no secret is read).
    pub fn parse_toml(text: &str) -> Result<KeyringConfig, ConfigError> {
        let file: ConfigFile = toml::from_str(text).map_err(|e| {
            let line = e.span().map(|span| line_of(text, span.start));
            ConfigError::Syntax {
                format: "TOML",
                line,
                message: sanitize(e.message()),
            }
        })?;
        KeyringConfig::try_from(file)
    }

    /// Parses JSON (`{"keys": [{"id": 3, "state": "primary", ...}]}`) and checks the
    /// structure.
    pub fn parse_json(text: &str) -> Result<KeyringConfig, ConfigError> {
        let file: ConfigFile = serde_json::from_str(text).map_err(|e| ConfigError::Syntax {
            format: "JSON",
            line: Some(e.line()),
            message: sanitize(&strip_json_position(&e.to_string())),
        })?;
        KeyringConfig::try_from(file)
    }

    /// Reads a configuration file: JSON when its name ends in `.json`, TOML otherwise.
    /// Relative secret-file paths in it are resolved against the file's directory. The file
    /// and its directory must not be writable by group or others, nor, at
    /// [`KeyringConfig::resolve`], the secret files it names readable by them (see
    /// [`FilePermissions`]).
    pub fn read(path: impl AsRef<Path>) -> Result<KeyringConfig, ConfigError> {
        KeyringConfig::read_with(path, FilePermissions::Checked)
    }

    /// As [`KeyringConfig::read`], checking file permissions as `permissions` says, here
    /// and when resolving.
    pub fn read_with(
        path: impl AsRef<Path>,
        permissions: FilePermissions,
    ) -> Result<KeyringConfig, ConfigError> {
        let path = path.as_ref();
        let (bytes, mode) = read_bounded(path, Private::ConfigFile, permissions)
            .map_err(|e| e.config(path.to_path_buf()))?;
        let text = std::str::from_utf8(&bytes).map_err(|_| ConfigError::Syntax {
            format: "UTF-8",
            line: None,
            message: "the file is not valid UTF-8".into(),
        })?;
        let is_json = path
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("json"));
        let mut config = if is_json {
            KeyringConfig::parse_json(text)?
        } else {
            KeyringConfig::parse_toml(text)?
        };
        // Absolute (without resolving symlinks, so a mounted file that is swapped by
        // re-pointing a link keeps working), so secrets resolve the same at every reload
        // whatever the working directory.
        let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        config.base_dir = absolute.parent().map(Path::to_path_buf);
        config.permissions = permissions;
        // Key material written into the file makes the file a secret file.
        let inline_in = |m: Option<&MaterialSource>| m.is_some_and(|m| m.insecure_inline.is_some());
        let inline = config.keys.iter().any(|k| inline_in(k.material.as_ref()))
            || config
                .index_keys
                .iter()
                .any(|k| inline_in(k.material.as_ref()));
        if inline && permissions != FilePermissions::InsecureUnchecked && mode & 0o077 != 0 {
            return Err(ConfigError::FilePermissions {
                path: path.to_path_buf(),
                mode,
                problem: PermissionProblem::InlineSecretNotPrivate,
            });
        }
        Ok(config)
    }

    /// Sets how the permissions of secret files are checked when resolving (default
    /// [`FilePermissions::Checked`]).
    #[must_use]
    pub fn with_file_permissions(mut self, permissions: FilePermissions) -> Self {
        self.permissions = permissions;
        self
    }

    /// Sets the directory that relative secret-file paths are resolved against (by default
    /// the configuration file's directory, or the working directory for parsed text).
    #[must_use]
    pub fn with_base_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.base_dir = Some(dir.into());
        self
    }

    /// The configured keys, in file order, without material.
    pub fn keys(&self) -> Vec<ConfiguredKey> {
        self.keys
            .iter()
            .map(|k| ConfiguredKey {
                id: k.id,
                state: k.state.into(),
                suite: match k.state {
                    StateName::Retired => None,
                    _ => k.suite.map(Suite::from),
                },
                source: match k.source() {
                    Ok(Some(source)) => source.describe(),
                    _ => "none".into(),
                },
            })
            .collect()
    }

    /// The configured index keys (`[[index_keys]]`), in file order, without material. A
    /// previous index key is reported as [`KeyState::DecryptOnly`]: read, never written.
    pub fn index_keys(&self) -> Vec<ConfiguredKey> {
        self.index_keys
            .iter()
            .map(|k| ConfiguredKey {
                id: k.id,
                state: match k.state {
                    IndexStateName::Primary => KeyState::Primary,
                    IndexStateName::Previous => KeyState::DecryptOnly,
                },
                suite: None,
                source: match k.source() {
                    Ok(Some(source)) => source.describe(),
                    _ => "none".into(),
                },
            })
            .collect()
    }

    /// The id of the primary key.
    pub fn primary_id(&self) -> u32 {
        self.keys
            .iter()
            .find(|k| matches!(k.state, StateName::Primary))
            .map_or(0, |k| k.id)
    }

    /// Reads every key's material from the process environment and files and builds the
    /// keyring. Passphrase keys run Argon2id here, which is deliberately slow.
    pub fn resolve(&self) -> Result<Keyring, ConfigError> {
        self.resolve_with(&ProcessEnvironment)
    }

    /// As [`KeyringConfig::resolve`], looking environment variables up in `env`.
    pub fn resolve_with(&self, env: &dyn Environment) -> Result<Keyring, ConfigError> {
        // Every way to build a configuration checks it, but no secret is read from one that
        // has not passed: a name that is really a secret is refused here, not echoed later.
        self.check()?;
        let mut builder = Keyring::builder();
        for entry in &self.keys {
            let id = entry.id;
            match (entry.state, entry.source()?, entry.suite) {
                (StateName::Retired, _, _) => builder = builder.retired(id),
                (state, Some(source), Some(suite)) => {
                    let material = self
                        .material(&source, env)
                        .map_err(|e| ConfigError::in_key(id, e))?;
                    builder = builder.key(id, suite.into(), state.into(), material);
                }
                // `check` refuses both cases; kept as errors rather than panics.
                (_, None, _) => return Err(ConfigError::in_key(id, ConfigError::NoMaterial)),
                (_, _, None) => return Err(ConfigError::in_key(id, ConfigError::NoSuite)),
            }
        }
        if let Some(index) = self.resolve_index_keys(env)? {
            builder = builder.index_keys(index);
        }
        builder.build()
    }

    /// The index keys, primary first, when the configuration has any.
    fn resolve_index_keys(&self, env: &dyn Environment) -> Result<Option<IndexKeys>, ConfigError> {
        let in_index = |e| ConfigError::IndexKeys(Box::new(e));
        let mut ordered: Vec<&IndexKeyEntry> = self
            .index_keys
            .iter()
            .filter(|k| k.state == IndexStateName::Primary)
            .collect();
        ordered.extend(
            self.index_keys
                .iter()
                .filter(|k| k.state == IndexStateName::Previous),
        );
        let mut keys: Option<IndexKeys> = None;
        for entry in ordered {
            let id = entry.id;
            let Some(source) = entry.source().map_err(in_index)? else {
                return Err(in_index(ConfigError::in_key(id, ConfigError::NoMaterial)));
            };
            let material = self
                .material(&source, env)
                .map_err(|e| in_index(ConfigError::in_key(id, e)))?;
            keys = Some(match keys {
                None => IndexKeys::new(id, material),
                Some(keys) => keys.previous(id, material).map_err(in_index)?,
            });
        }
        Ok(keys)
    }

    /// The checks that need no secret: at least one key, ids unique and non-zero, exactly
    /// one primary, suites and material sources present where required and absent on
    /// retired keys, passphrase settings complete and strong enough.
    fn check(&self) -> Result<(), ConfigError> {
        self.check_index_keys()
            .map_err(|e| ConfigError::IndexKeys(Box::new(e)))?;
        if self.keys.is_empty() {
            return Err(ConfigError::NoPrimary);
        }
        let mut ids = BTreeSet::new();
        for entry in &self.keys {
            if entry.id == 0 {
                return Err(ConfigError::ZeroKeyId);
            }
            if !ids.insert(entry.id) {
                return Err(ConfigError::DuplicateKeyId { id: entry.id });
            }
        }
        let primaries: Vec<u32> = self
            .keys
            .iter()
            .filter(|k| matches!(k.state, StateName::Primary))
            .map(|k| k.id)
            .collect();
        match primaries.len() {
            0 => return Err(ConfigError::NoPrimary),
            1 => {}
            _ => return Err(ConfigError::MultiplePrimaries { ids: primaries }),
        }
        for entry in &self.keys {
            let id = entry.id;
            let source = entry.source()?;
            match entry.state {
                StateName::Retired => {
                    if entry.material.is_some() {
                        return Err(ConfigError::in_key(id, ConfigError::RetiredWithMaterial));
                    }
                }
                StateName::Primary | StateName::DecryptOnly => {
                    if entry.suite.is_none() {
                        return Err(ConfigError::in_key(id, ConfigError::NoSuite));
                    }
                    if let Some(source) = &source {
                        source
                            .check_names()
                            .map_err(|e| ConfigError::in_key(id, e))?;
                    }
                    match source {
                        None => return Err(ConfigError::in_key(id, ConfigError::NoMaterial)),
                        Some(Source::Passphrase { params, salt, .. }) => {
                            params.check().map_err(|e| ConfigError::in_key(id, e))?;
                            decode_salt(salt).map_err(|e| ConfigError::in_key(id, e))?;
                        }
                        Some(_) => {}
                    }
                }
            }
        }
        Ok(())
    }

    /// `[[index_keys]]`: none at all, or exactly one primary; ids unique and non-zero;
    /// every key with one well-formed material source.
    fn check_index_keys(&self) -> Result<(), ConfigError> {
        if self.index_keys.is_empty() {
            return Ok(());
        }
        let mut ids = BTreeSet::new();
        for entry in &self.index_keys {
            if entry.id == 0 {
                return Err(ConfigError::ZeroKeyId);
            }
            if !ids.insert(entry.id) {
                return Err(ConfigError::DuplicateKeyId { id: entry.id });
            }
        }
        let primaries: Vec<u32> = self
            .index_keys
            .iter()
            .filter(|k| k.state == IndexStateName::Primary)
            .map(|k| k.id)
            .collect();
        match primaries.len() {
            0 => return Err(ConfigError::NoPrimary),
            1 => {}
            _ => return Err(ConfigError::MultiplePrimaries { ids: primaries }),
        }
        for entry in &self.index_keys {
            let id = entry.id;
            match entry.source()? {
                None => return Err(ConfigError::in_key(id, ConfigError::NoMaterial)),
                Some(source) => {
                    source
                        .check_names()
                        .map_err(|e| ConfigError::in_key(id, e))?;
                    if let Source::Passphrase { params, salt, .. } = &source {
                        params.check().map_err(|e| ConfigError::in_key(id, e))?;
                        decode_salt(salt).map_err(|e| ConfigError::in_key(id, e))?;
                    }
                }
            }
        }
        Ok(())
    }

    fn path(&self, path: &Path) -> PathBuf {
        match &self.base_dir {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path.to_path_buf(),
        }
    }

    fn material(
        &self,
        source: &Source<'_>,
        env: &dyn Environment,
    ) -> Result<KeyMaterial, ConfigError> {
        match source {
            Source::Env(name) => {
                let value = env
                    .var(name)
                    .ok_or_else(|| ConfigError::missing_env(name, "env"))?;
                KeyMaterial::from_base64(&value)
            }
            Source::File(path) => {
                let path = self.path(path);
                let (bytes, _) = read_bounded(&path, Private::Secret, self.permissions)
                    .map_err(|e| e.secret(path))?;
                let text = std::str::from_utf8(&bytes)
                    .map_err(|_| ConfigError::KeyEncoding { id: None })?;
                KeyMaterial::from_base64(text)
            }
            Source::Passphrase { from, params, salt } => {
                let passphrase = match from {
                    PassphraseFrom::Env(name) => {
                        let value = env
                            .var(name)
                            .ok_or_else(|| ConfigError::missing_env(name, "passphrase_env"))?;
                        Zeroizing::new(value.as_bytes().to_vec())
                    }
                    PassphraseFrom::File(path) => {
                        let path = self.path(path);
                        let (mut bytes, _) = read_bounded(&path, Private::Secret, self.permissions)
                            .map_err(|e| e.secret(path))?;
                        strip_one_newline(&mut bytes);
                        bytes
                    }
                };
                if passphrase.is_empty() {
                    return Err(ConfigError::EmptyPassphrase);
                }
                let salt = decode_salt(salt)?;
                KeyMaterial::derive_argon2id(&passphrase, params, &salt)
            }
            Source::Inline(text) => KeyMaterial::from_base64(text),
        }
    }
}

impl IndexKeyEntry {
    /// The one material source this entry names, `None` if it names none.
    fn source(&self) -> Result<Option<Source<'_>>, ConfigError> {
        material_source(self.id, self.material.as_ref())
    }
}

impl KeyEntry {
    /// The one material source this entry names, `None` if it names none.
    fn source(&self) -> Result<Option<Source<'_>>, ConfigError> {
        material_source(self.id, self.material.as_ref())
    }
}

/// The one material source `material` names, `None` if it names none.
fn material_source(
    id: u32,
    material: Option<&MaterialSource>,
) -> Result<Option<Source<'_>>, ConfigError> {
    let Some(m) = material else {
        return Ok(None);
    };
    let named = [
        m.env.is_some(),
        m.file.is_some(),
        m.passphrase_env.is_some(),
        m.passphrase_file.is_some(),
        m.insecure_inline.is_some(),
    ]
    .iter()
    .filter(|named| **named)
    .count();
    if named != 1 {
        return Err(ConfigError::in_key(
            id,
            ConfigError::MaterialSources { named },
        ));
    }
    let passphrase = m.passphrase_env.is_some() || m.passphrase_file.is_some();
    if !passphrase && (m.argon2.is_some() || m.salt.is_some()) {
        return Err(ConfigError::in_key(
            id,
            ConfigError::Argon2WithoutPassphrase,
        ));
    }
    let source = if let Some(name) = &m.env {
        Source::Env(name)
    } else if let Some(path) = &m.file {
        Source::File(path)
    } else if let Some(text) = &m.insecure_inline {
        Source::Inline(&text.0)
    } else {
        let from = match (&m.passphrase_env, &m.passphrase_file) {
            (Some(name), _) => PassphraseFrom::Env(name),
            (None, Some(path)) => PassphraseFrom::File(path),
            (None, None) => return Ok(None),
        };
        let (Some(a), Some(salt)) = (m.argon2, &m.salt) else {
            return Err(ConfigError::in_key(id, ConfigError::PassphraseSettings));
        };
        Source::Passphrase {
            from,
            params: Argon2Params {
                m_cost_kib: a.m_cost_kib,
                t_cost: a.t_cost,
                p_cost: a.p_cost,
            },
            salt,
        }
    };
    Ok(Some(source))
}

impl Source<'_> {
    /// Names and paths must look like names and paths, not like the secret they point to:
    /// an error about them is printed and logged, so the value is never echoed.
    fn check_names(&self) -> Result<(), ConfigError> {
        let env = |name: &str| {
            // POSIX names, plus `.` and `-`, which container platforms allow.
            let valid = !name.is_empty()
                && name.len() <= 128
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
                && !name.as_bytes().first().is_some_and(u8::is_ascii_digit);
            if contains_key(name) {
                Err(ConfigError::SecretInPlaceOfName)
            } else if valid {
                Ok(())
            } else {
                Err(ConfigError::InvalidEnvName)
            }
        };
        let path = |path: &Path| {
            if contains_key(&path.to_string_lossy()) {
                Err(ConfigError::SecretInPlaceOfName)
            } else {
                Ok(())
            }
        };
        match self {
            Source::Env(name)
            | Source::Passphrase {
                from: PassphraseFrom::Env(name),
                ..
            } => env(name),
            Source::File(p)
            | Source::Passphrase {
                from: PassphraseFrom::File(p),
                ..
            } => path(p),
            Source::Inline(_) => Ok(()),
        }
    }

    fn describe(&self) -> String {
        let env = |name: &str| match crate::error::shown_env_name(name) {
            Some(name) => format!("env {name}"),
            None => "env (a name that does not look like one; not shown)".to_owned(),
        };
        match self {
            Source::Env(name) => env(name),
            Source::File(path) => format!("file {}", path.display()),
            Source::Passphrase { from, params, .. } => {
                let from = match from {
                    PassphraseFrom::Env(name) => env(name),
                    PassphraseFrom::File(path) => format!("file {}", path.display()),
                };
                format!(
                    "passphrase from {from} (argon2id m={} t={} p={})",
                    params.m_cost_kib, params.t_cost, params.p_cost
                )
            }
            Source::Inline(_) => "insecure inline".into(),
        }
    }
}

impl From<StateName> for KeyState {
    fn from(state: StateName) -> KeyState {
        match state {
            StateName::Primary => KeyState::Primary,
            StateName::DecryptOnly => KeyState::DecryptOnly,
            StateName::Retired => KeyState::Retired,
        }
    }
}

impl From<SuiteName> for Suite {
    fn from(suite: SuiteName) -> Suite {
        match suite {
            SuiteName::Aes256Gcm => Suite::Aes256Gcm,
            SuiteName::ChaCha20Poly1305 => Suite::ChaCha20Poly1305,
        }
    }
}

impl fmt::Debug for KeyringConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let KeyringConfig {
            keys: _,
            index_keys: _,
            base_dir,
            permissions,
        } = self;
        f.debug_struct("KeyringConfig")
            .field("keys", &self.keys())
            .field("index_keys", &self.index_keys())
            .field("base_dir", base_dir)
            .field("permissions", permissions)
            .finish()
    }
}

/// Reads and resolves a keyring configuration file in one step.
pub fn load_keyring(path: impl AsRef<Path>) -> Result<Keyring, ConfigError> {
    KeyringConfig::read(path)?.resolve()
}

fn decode_salt(text: &str) -> Result<Vec<u8>, ConfigError> {
    let salt = BASE64
        .decode(text.trim())
        .map_err(|_| ConfigError::SaltEncoding)?;
    if salt.len() < 16 {
        return Err(ConfigError::Argon2Salt { len: salt.len() });
    }
    Ok(salt)
}
