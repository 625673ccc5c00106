//! Invalid configurations: keyrings and key material, keyring files and their reloads. A
//! message names the fix, or the line or file to fix, and never repeats a value it refused,
//! which may be a secret typed in the wrong place; it shows only what the operator chose to
//! name (a key id, a path, a variable name that looks like one).

use std::error::Error as StdError;
use std::fmt;

use super::SettingError;

/// An invalid configuration. Each variant names what is wrong and, where there is one, the key
/// id, never key material.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// Key id 0 is reserved and never valid.
    ZeroKeyId,
    /// Two keys share an id.
    DuplicateKeyId {
        /// The repeated id.
        id: u32,
    },
    /// No key is in the `Primary` state.
    NoPrimary,
    /// More than one key is in the `Primary` state.
    MultiplePrimaries {
        /// The ids of the primary keys.
        ids: Vec<u32>,
    },
    /// The same key material is configured under two ids.
    DuplicateMaterial {
        /// The first id.
        first: u32,
        /// The second id.
        second: u32,
    },
    /// Key material is not exactly 32 bytes.
    KeyLength {
        /// The key id, when known.
        id: Option<u32>,
        /// The length found.
        len: usize,
    },
    /// Key material is not valid base64.
    KeyEncoding {
        /// The key id, when known.
        id: Option<u32>,
    },
    /// Argon2id parameters are below the OWASP minimum (19 MiB, t = 2, p = 1).
    WeakArgon2 {
        /// Memory cost in KiB.
        m_cost_kib: u32,
        /// Iterations.
        t_cost: u32,
        /// Parallelism.
        p_cost: u32,
    },
    /// The Argon2id salt is shorter than 16 bytes.
    Argon2Salt {
        /// The length found.
        len: usize,
    },
    /// Argon2id refused its parameters (for example a memory cost too large for the platform).
    Argon2,
    /// An unknown suite name or byte.
    UnknownSuite,
    /// A store or adapter setting is out of range or contradicts another; the
    /// [`SettingError`] says which rule.
    InvalidSetting(SettingError),
    /// A problem with one key of a keyring configuration: `error` says what.
    Key {
        /// The key id.
        id: u32,
        /// What is wrong with it.
        error: Box<ConfigError>,
    },
    /// A problem with the index keys (the keys that name owner indexes): `0` says what.
    IndexKeys(Box<ConfigError>),
    /// An index key has the same material as sealing key `id`. A key serves one purpose.
    SharedWithSealingKey {
        /// The sealing key's id.
        id: u32,
    },
    #[cfg(feature = "config")]
    /// The configuration text does not parse. Quoted values are removed from `message`, so
    /// material typed into the wrong field is not repeated.
    Syntax {
        /// `TOML` or `JSON`.
        format: &'static str,
        /// The 1-based line, when known.
        line: Option<usize>,
        /// What the parser says, without quoted values.
        message: String,
    },
    #[cfg(feature = "config")]
    /// The configuration file cannot be read.
    ConfigFile {
        /// Its path.
        path: std::path::PathBuf,
        /// Why (not found, permission denied, larger than 64 KiB...).
        kind: std::io::ErrorKind,
    },
    #[cfg(feature = "config")]
    /// A file named as a key's material source cannot be read. Its content is never shown.
    SecretFile {
        /// Its path.
        path: std::path::PathBuf,
        /// Why.
        kind: std::io::ErrorKind,
    },
    #[cfg(feature = "config")]
    /// An environment variable named as a material source is not set (or not Unicode).
    MissingEnv {
        /// The variable's name, when it looks like one (`[A-Z_][A-Z0-9_]*`). Anything else is
        /// not repeated: it may be a secret typed where its name belongs.
        name: Option<String>,
        /// The field that names it: `env` or `passphrase_env`.
        field: &'static str,
    },
    #[cfg(feature = "config")]
    /// A file is more open than what it holds allows (Unix mode bits): a secret that group
    /// or others can access, or a configuration file or directory they can write. See
    /// `config::FilePermissions` for the rules and the opt-out.
    FilePermissions {
        /// The file, or the configuration file's directory.
        path: std::path::PathBuf,
        /// Its mode bits (`0o644`...).
        mode: u32,
        /// What is wrong.
        problem: PermissionProblem,
    },
    #[cfg(feature = "config")]
    /// A reload names an id that an earlier configuration of this process had and a later
    /// one removed. A removed id is treated as retired for the life of the process, so it
    /// cannot come back with other material.
    RemovedIdReturned {
        /// The id.
        id: u32,
    },
    #[cfg(feature = "config")]
    /// An active key names no material source.
    NoMaterial,
    #[cfg(feature = "config")]
    /// An active key names no suite.
    NoSuite,
    #[cfg(feature = "config")]
    /// A retired key still names a material source; retired keys open nothing, so their
    /// material must be removed from the configuration (and destroyed).
    RetiredWithMaterial,
    #[cfg(feature = "config")]
    /// A material source must name exactly one of `env`, `file`, `passphrase_env`,
    /// `passphrase_file` and `insecure_inline`.
    MaterialSources {
        /// How many were named.
        named: usize,
    },
    #[cfg(feature = "config")]
    /// A passphrase source lacks its `argon2` parameters or its `salt`.
    PassphraseSettings,
    #[cfg(feature = "config")]
    /// `argon2` or `salt` given for material that is not a passphrase.
    Argon2WithoutPassphrase,
    #[cfg(feature = "config")]
    /// The passphrase is empty.
    EmptyPassphrase,
    #[cfg(feature = "config")]
    /// The Argon2id salt is not valid base64.
    SaltEncoding,
    /// Argon2id parameters above the accepted maximum (1 GiB, t = 64, p = 64): almost
    /// certainly a typo, and one that would stall or kill the process deriving the key.
    CostlyArgon2 {
        /// Memory cost in KiB.
        m_cost_kib: u32,
        /// Iterations.
        t_cost: u32,
        /// Parallelism.
        p_cost: u32,
    },
    #[cfg(feature = "config")]
    /// A configuration or secret path names something other than a regular file (a
    /// directory, a FIFO, a device), which could block or never end.
    NotAFile {
        /// Its path.
        path: std::path::PathBuf,
    },
    #[cfg(feature = "config")]
    /// An `env` or `passphrase_env` value is not a valid environment variable name (letters,
    /// digits, `_`, `.` and `-`, not starting with a digit, at most 128 characters). The value is not
    /// repeated: it may be a secret pasted in the wrong place.
    InvalidEnvName,
    #[cfg(feature = "config")]
    /// A variable name or file path contains what looks like key material (43 or 44 base64
    /// characters decoding to 32 bytes, anywhere in it): the secret itself was probably pasted
    /// where its name belongs. The value is not repeated. A directory named with such a
    /// random token is refused too: the two cannot be told apart.
    SecretInPlaceOfName,
    #[cfg(feature = "config")]
    /// A reload would give an id that stays active different material or a different suite:
    /// every envelope under it would be refused. Ids are never reused; give the new key a new
    /// id.
    KeyChanged {
        /// The id.
        id: u32,
    },
    #[cfg(feature = "config")]
    /// A reload would make a retired id open envelopes again. Retirement is final (it is how a
    /// compromised key is shut out); give a new key a new id.
    Unretired {
        /// The id.
        id: u32,
    },
    #[cfg(feature = "config")]
    /// A reload would drop the primary index key at once: every index written until now
    /// would become unreadable, and "log out everywhere" would miss their sessions. Keep it
    /// as a previous index key until its sessions have expired.
    IndexKeyDropped {
        /// The id.
        id: u32,
    },
    #[cfg(feature = "config")]
    /// A reload would promote a key with a lower id than the current primary. Key ids grow
    /// with age and re-sealing only moves envelopes to higher ids; give the new key an id
    /// above every id in use.
    PrimaryIdDecreased {
        /// The primary now.
        previous: u32,
        /// The primary the file names.
        next: u32,
    },
}

#[cfg(feature = "config")]
/// What is wrong with a file's permissions ([`ConfigError::FilePermissions`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PermissionProblem {
    /// A file holding key material or a passphrase gives group or others some access.
    SecretNotPrivate,
    /// The configuration file is writable by group or others.
    ConfigWritable,
    /// The directory of the configuration file is writable by group or others.
    DirectoryWritable,
    /// The configuration file holds `insecure_inline` key material and group or others can
    /// read it.
    InlineSecretNotPrivate,
}

/// `name` if it looks like an environment variable name (`[A-Z_][A-Z0-9_]*`, at most 128
/// characters, words of at most 24 characters between underscores): only such a name is ever
/// repeated in a message. The last rule keeps out secrets in upper-case hex or base32, which
/// match the first.
#[cfg(feature = "config")]
pub(crate) fn shown_env_name(name: &str) -> Option<&str> {
    let mut bytes = name.bytes();
    let first = bytes.next()?;
    let looks_like_one = name.len() <= 128
        && (first.is_ascii_uppercase() || first == b'_')
        && bytes.all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        && name.split('_').all(|word| word.len() <= 24);
    looks_like_one.then_some(name)
}

impl ConfigError {
    /// [`ConfigError::MissingEnv`] for the variable `name` named by `field`, keeping the
    /// name only if it looks like a variable name.
    #[cfg(feature = "config")]
    pub fn missing_env(name: &str, field: &'static str) -> ConfigError {
        ConfigError::MissingEnv {
            name: shown_env_name(name).map(str::to_owned),
            field,
        }
    }

    /// Attaches a key id to an error about that key (unless it already names one).
    #[cfg(feature = "config")]
    pub(crate) fn in_key(id: u32, error: ConfigError) -> ConfigError {
        match error {
            ConfigError::Key { .. }
            | ConfigError::KeyLength { id: Some(_), .. }
            | ConfigError::KeyEncoding { id: Some(_) } => error,
            other => ConfigError::Key {
                id,
                error: Box::new(other),
            },
        }
    }

    /// The key id this error is about, if any.
    pub fn key_id(&self) -> Option<u32> {
        match self {
            ConfigError::Key { id, .. }
            | ConfigError::DuplicateKeyId { id }
            | ConfigError::KeyLength { id: Some(id), .. }
            | ConfigError::KeyEncoding { id: Some(id) } => Some(*id),
            #[cfg(feature = "config")]
            ConfigError::KeyChanged { id }
            | ConfigError::Unretired { id }
            | ConfigError::RemovedIdReturned { id } => Some(*id),
            ConfigError::DuplicateMaterial { second, .. } => Some(*second),
            _ => None,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::ZeroKeyId => {
                f.write_str("key id 0 is reserved; give the key an id of 1 or more")
            }
            ConfigError::DuplicateKeyId { id } => write!(
                f,
                "key id {id} appears more than once; give each key its own id"
            ),
            ConfigError::NoPrimary => f.write_str("no key is primary; exactly one must be"),
            ConfigError::MultiplePrimaries { ids } => {
                write!(f, "keys {ids:?} are all primary; exactly one must be")
            }
            ConfigError::DuplicateMaterial { first, second } => write!(
                f,
                "keys {first} and {second} have the same key material; every key needs its own"
            ),
            ConfigError::KeyLength { id: Some(id), len } => {
                write!(
                    f,
                    "key {id}: material is {len} bytes, it must be exactly 32"
                )
            }
            ConfigError::KeyLength { id: None, len } => {
                write!(f, "key material is {len} bytes, it must be exactly 32")
            }
            ConfigError::KeyEncoding { id: Some(id) } => {
                write!(
                    f,
                    "key {id}: material is not valid base64; give 32 bytes in standard base64 \
                     (sealed-session keygen writes one)"
                )
            }
            ConfigError::KeyEncoding { id: None } => f.write_str(
                "key material is not valid base64; give 32 bytes in standard base64 \
                 (sealed-session keygen writes one)",
            ),
            ConfigError::WeakArgon2 {
                m_cost_kib,
                t_cost,
                p_cost,
            } => write!(
                f,
                "Argon2id parameters m={m_cost_kib} KiB, t={t_cost}, p={p_cost} are below the \
                 minimum of m=19456 KiB, t=2, p=1"
            ),
            ConfigError::Argon2Salt { len } => {
                write!(f, "Argon2id salt is {len} bytes; it must be at least 16")
            }
            ConfigError::Argon2 => f.write_str(
                "Argon2id refused its parameters; lower the memory cost or the parallelism to \
                 what this platform allows",
            ),
            ConfigError::UnknownSuite => {
                f.write_str("unknown AEAD suite; name aes-256-gcm or chacha20-poly1305")
            }
            ConfigError::InvalidSetting(e) => write!(f, "invalid store setting: {e}"),
            ConfigError::Key { id, error } => write!(f, "key {id}: {error}"),
            ConfigError::IndexKeys(error) => write!(f, "index keys: {error}"),
            ConfigError::SharedWithSealingKey { id } => write!(
                f,
                "an index key has the same material as sealing key {id}; give the index key \
                 material of its own"
            ),
            #[cfg(feature = "config")]
            ConfigError::Syntax {
                format,
                line: Some(line),
                message,
            } => write!(f, "{format} syntax error at line {line}: {message}"),
            #[cfg(feature = "config")]
            ConfigError::Syntax {
                format,
                line: None,
                message,
            } => write!(f, "{format} syntax error: {message}"),
            #[cfg(feature = "config")]
            ConfigError::ConfigFile { path, kind } => {
                write!(
                    f,
                    "cannot read configuration file {}: {kind}",
                    path.display()
                )
            }
            #[cfg(feature = "config")]
            ConfigError::SecretFile { path, kind } => {
                write!(f, "cannot read secret file {}: {kind}", path.display())
            }
            #[cfg(feature = "config")]
            ConfigError::MissingEnv {
                name: Some(name),
                field: _,
            } => write!(
                f,
                "environment variable {name} is not set (or not valid UTF-8); set it in the \
                 environment of the process"
            ),
            #[cfg(feature = "config")]
            ConfigError::MissingEnv { name: None, field } => write!(
                f,
                "the environment variable named by `{field}` is not set (or not valid UTF-8); \
                 its name is not shown because it does not look like one (A-Z, 0-9 and _): if \
                 a secret was typed there, move it into the variable and name the variable"
            ),
            #[cfg(feature = "config")]
            ConfigError::FilePermissions {
                path,
                mode,
                problem,
            } => {
                let path = path.display();
                match problem {
                    PermissionProblem::SecretNotPrivate => write!(
                        f,
                        "secret file {path} has mode {mode:04o}: group or others can access it; \
                         run chmod 600 on it (or see FilePermissions for the opt-out)"
                    ),
                    PermissionProblem::ConfigWritable => write!(
                        f,
                        "configuration file {path} has mode {mode:04o}: group or others can \
                         write it; run chmod go-w on it (or see FilePermissions for the opt-out)"
                    ),
                    PermissionProblem::InlineSecretNotPrivate => write!(
                        f,
                        "configuration file {path} holds insecure_inline key material and has \
                         mode {mode:04o}: group or others can read it; run chmod 600 on it, or \
                         move the keys into secret files (or see FilePermissions for the opt-out)"
                    ),
                    PermissionProblem::DirectoryWritable => write!(
                        f,
                        "the directory {path} of the configuration file has mode {mode:04o}: \
                         group or others can write it; run chmod go-w on it, or move the file \
                         (or see FilePermissions for the opt-out)"
                    ),
                }
            }
            #[cfg(feature = "config")]
            ConfigError::RemovedIdReturned { id } => write!(
                f,
                "key {id} was removed from the configuration earlier in this process's life; \
                 a removed id counts as retired and never opens again, so give the key a new id \
                 (to retire a key, mark it state = \"retired\" rather than deleting it)"
            ),
            ConfigError::CostlyArgon2 {
                m_cost_kib,
                t_cost,
                p_cost,
            } => write!(
                f,
                "Argon2id parameters m={m_cost_kib} KiB, t={t_cost}, p={p_cost} are above the \
                 maximum of m=1048576 KiB, t=64, p=64"
            ),
            #[cfg(feature = "config")]
            ConfigError::NotAFile { path } => {
                write!(
                    f,
                    "{} is not a regular file; name the file itself, not a directory, FIFO or \
                     device",
                    path.display()
                )
            }
            #[cfg(feature = "config")]
            ConfigError::InvalidEnvName => f.write_str(
                "not a valid environment variable name (letters, digits, _ . -, at most 128)",
            ),
            #[cfg(feature = "config")]
            ConfigError::SecretInPlaceOfName => f.write_str(
                "a variable name or path contains what looks like base64 key material (43 or 44 \
                 base64 characters that decode to 32 bytes); put the secret in the variable or \
                 file and its name here, or rename a directory whose name is such a token",
            ),
            #[cfg(feature = "config")]
            ConfigError::IndexKeyDropped { id } => write!(
                f,
                "index key {id} names the indexes written so far; keep it with state = \
                 \"previous\" until the sessions created before the change have expired, then \
                 remove it"
            ),
            #[cfg(feature = "config")]
            ConfigError::PrimaryIdDecreased { previous, next } => write!(
                f,
                "key {next} would replace key {previous} as primary, but key ids grow with age \
                 and envelopes are only re-sealed to higher ids; give the new key an id above \
                 {previous}"
            ),
            #[cfg(feature = "config")]
            ConfigError::Unretired { id } => write!(
                f,
                "key {id} is retired in the keyring in use; a retired id never opens again, \
                 give the key a new id"
            ),
            #[cfg(feature = "config")]
            ConfigError::KeyChanged { id } => write!(
                f,
                "key {id} has different material or suite than the keyring in use; ids are \
                 never reused, give the new key a new id"
            ),
            #[cfg(feature = "config")]
            ConfigError::NoMaterial => f.write_str(
                "no material source; add material = { env = \"...\" } or { file = \"...\" }",
            ),
            #[cfg(feature = "config")]
            ConfigError::NoSuite => {
                f.write_str("no suite; add suite = \"aes-256-gcm\" or \"chacha20-poly1305\"")
            }
            #[cfg(feature = "config")]
            ConfigError::RetiredWithMaterial => f.write_str(
                "a retired key opens nothing, so it must not name material; remove the \
                 material line and destroy the secret",
            ),
            #[cfg(feature = "config")]
            ConfigError::MaterialSources { named } => write!(
                f,
                "material names {named} sources; name exactly one of env, file, \
                 passphrase_env, passphrase_file, insecure_inline"
            ),
            #[cfg(feature = "config")]
            ConfigError::PassphraseSettings => f.write_str(
                "a passphrase needs argon2 = { m_cost_kib, t_cost, p_cost } and a base64 salt",
            ),
            #[cfg(feature = "config")]
            ConfigError::Argon2WithoutPassphrase => {
                f.write_str("argon2 and salt apply only to passphrase_env or passphrase_file")
            }
            #[cfg(feature = "config")]
            ConfigError::EmptyPassphrase => f.write_str(
                "the passphrase is empty; put the passphrase in the variable or file named",
            ),
            #[cfg(feature = "config")]
            ConfigError::SaltEncoding => f.write_str(
                "the Argon2id salt is not valid base64; write at least 16 bytes in standard base64",
            ),
        }
    }
}

impl StdError for ConfigError {}
