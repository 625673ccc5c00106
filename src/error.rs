//! The crate's one error type.
//!
//! Every fallible operation returns [`Error`]. Its parts are typed so a program can react
//! (retry a backend error, count rejections by kind, fix a configuration), and none of them
//! ever carries key bytes, a session id or session data: a codec failure, for example, keeps
//! only its category, because serde messages quote the input they choke on.

use std::error::Error as StdError;
use std::fmt;

use crate::codec::CodecId;

/// Everything that can go wrong in `sealed-session`.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The storage backend failed (network, timeout, server error).
    Backend(BackendError),
    /// A stored value was refused while opening it. The caller must treat the session as
    /// absent; [`Rejection::kind`] says which rule of the envelope format refused it.
    Rejected(Rejection),
    /// The configuration (keyring, key material, store settings) is invalid.
    Config(ConfigError),
    /// The session data could not be encoded on save.
    Encode(CodecError),
    /// The sealed session would exceed the store's maximum envelope size; nothing was written.
    TooLarge {
        /// Length the envelope would have, in bytes.
        len: usize,
        /// The configured maximum, in bytes.
        max: usize,
    },
    /// `create` (or `save` of a new session) found an entry under the storage key; nothing
    /// was written.
    AlreadyExists,
    /// `save`, `touch` or `cycle_id` found no entry: the session was destroyed or expired
    /// after it was loaded. Nothing was written, so a logged-out session cannot come back.
    SessionGone,
    /// The session's absolute lifetime is over, so it cannot be saved or touched.
    SessionExpired,
    /// A session id from untrusted input is not 43 characters of canonical base64url.
    InvalidSessionId,
    /// The operating system's random number generator failed.
    Rng,
    /// A user-supplied [`Sealer`](crate::Sealer) failed for a reason of its own (a KMS that
    /// cannot be reached, say). Implementations must not put secrets in it.
    Sealer(Box<dyn StdError + Send + Sync + 'static>),
}

impl Error {
    /// True when retrying the same operation later may succeed (a transient backend failure).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Backend(e) if e.is_retryable())
    }

    /// True when a stored value was refused: for the web layer this means "no session".
    pub fn is_rejected(&self) -> bool {
        matches!(self, Error::Rejected(_))
    }

    /// The rejection kind, when this error is a refused envelope.
    pub fn rejection_kind(&self) -> Option<RejectKind> {
        match self {
            Error::Rejected(r) => Some(r.kind()),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Backend(e) => write!(f, "session backend error: {e}"),
            Error::Rejected(r) => write!(f, "stored session refused: {r}"),
            Error::Config(e) => write!(f, "invalid configuration: {e}"),
            Error::Encode(e) => write!(f, "session data could not be encoded: {e}"),
            Error::TooLarge { len, max } => {
                write!(
                    f,
                    "sealed session of {len} bytes exceeds the maximum of {max} bytes"
                )
            }
            Error::AlreadyExists => f.write_str("a session already exists under that id"),
            Error::SessionGone => f.write_str("the session no longer exists"),
            Error::SessionExpired => f.write_str("the session's absolute lifetime is over"),
            Error::Rng => f.write_str("the operating system's random number generator failed"),
            Error::InvalidSessionId => f.write_str("malformed session id"),
            Error::Sealer(_) => f.write_str("the sealer failed"),
        }
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Error::Backend(e) => Some(e),
            Error::Rejected(r) => Some(r),
            Error::Config(e) => Some(e),
            Error::Encode(e) => Some(e),
            Error::Sealer(e) => Some(e.as_ref()),
            Error::TooLarge { .. }
            | Error::AlreadyExists
            | Error::SessionGone
            | Error::SessionExpired
            | Error::Rng
            | Error::InvalidSessionId => None,
        }
    }
}

impl From<BackendError> for Error {
    fn from(e: BackendError) -> Self {
        Error::Backend(e)
    }
}

impl From<Rejection> for Error {
    fn from(r: Rejection) -> Self {
        Error::Rejected(r)
    }
}

impl From<RejectKind> for Error {
    fn from(kind: RejectKind) -> Self {
        Error::Rejected(Rejection::new(kind))
    }
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(e)
    }
}

/// Which rule of the envelope format refused a stored value.
///
/// The variants follow the opening steps of `docs/FORMAT.md` in order; [`RejectKind::step`]
/// gives the step number. Use them for logs and metrics; show a remote party only "no session".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectKind {
    /// Step 1: shorter than the 95-byte minimum or longer than the configured maximum.
    Length,
    /// Step 2: the version byte is not 1.
    Version,
    /// Step 2: the suite byte names no known AEAD suite.
    Suite,
    /// Step 2: the codec byte is unassigned.
    Codec,
    /// Step 3: no key with that id in the keyring (this includes the invalid id 0).
    UnknownKey,
    /// Step 3: the key exists but is retired.
    RetiredKey,
    /// Step 4: the suite byte differs from the suite configured for that key.
    SuiteMismatch,
    /// Step 5: the key commitment does not match.
    Commitment,
    /// Step 6: the AEAD refused the ciphertext, tag, header or storage key.
    Authentication,
    /// Step 7: the authenticated absolute expiry has passed.
    Expired,
    /// Step 8: the codec byte is valid but this store has no reader for it (add one with
    /// `StoreBuilder::also_read`).
    NoReader,
    /// Step 8: the plaintext did not decode with its codec.
    Decode,
}

impl RejectKind {
    /// The opening step (1 to 8) that refuses with this kind.
    pub fn step(self) -> u8 {
        match self {
            RejectKind::Length => 1,
            RejectKind::Version | RejectKind::Suite | RejectKind::Codec => 2,
            RejectKind::UnknownKey | RejectKind::RetiredKey => 3,
            RejectKind::SuiteMismatch => 4,
            RejectKind::Commitment => 5,
            RejectKind::Authentication => 6,
            RejectKind::Expired => 7,
            RejectKind::NoReader | RejectKind::Decode => 8,
        }
    }

    /// A stable lowercase name, for log fields and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectKind::Length => "length",
            RejectKind::Version => "version",
            RejectKind::Suite => "suite",
            RejectKind::Codec => "codec",
            RejectKind::UnknownKey => "unknown_key",
            RejectKind::RetiredKey => "retired_key",
            RejectKind::SuiteMismatch => "suite_mismatch",
            RejectKind::Commitment => "commitment",
            RejectKind::Authentication => "authentication",
            RejectKind::Expired => "expired",
            RejectKind::NoReader => "no_reader",
            RejectKind::Decode => "decode",
        }
    }
}

impl fmt::Display for RejectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored value that was refused while opening. Carries the kind and, for decoding
/// failures, the codec error's category (never its message).
#[derive(Debug)]
pub struct Rejection {
    kind: RejectKind,
    codec: Option<CodecError>,
}

impl Rejection {
    /// A rejection of the given kind.
    pub fn new(kind: RejectKind) -> Self {
        Rejection { kind, codec: None }
    }

    pub(crate) fn decode(err: CodecError) -> Self {
        Rejection {
            kind: RejectKind::Decode,
            codec: Some(err),
        }
    }

    /// Which rule refused the value.
    pub fn kind(&self) -> RejectKind {
        self.kind
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (opening step {})", self.kind, self.kind.step())
    }
}

impl StdError for Rejection {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.codec.as_ref().map(|c| c as &(dyn StdError + 'static))
    }
}

impl From<RejectKind> for Rejection {
    fn from(kind: RejectKind) -> Self {
        Rejection::new(kind)
    }
}

/// What kind of failure a backend reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BackendErrorKind {
    /// The connection failed or was dropped.
    Connection,
    /// The server did not answer within the configured time.
    Timeout,
    /// The server answered with an error or something unexpected.
    Server,
    /// Anything else.
    Other,
}

/// A failure of the storage backend: its kind, whether to retry, the server's error code
/// and, where this crate wrote one, a fixed description.
///
/// Nothing printable carries the underlying client's error: `Display`, `Debug` and the
/// `source()` chain show only the fields above, because a Redis client's error text can
/// quote the server's reply (keys, and so session ids in plain-id mode) or a connection URL.
/// The underlying error stays reachable through [`BackendError::cause_unsafe_to_log`], for a
/// program that inspects it in code.
///
/// ```
/// use sealed_session::{BackendError, BackendErrorKind};
///
/// let e = BackendError::new(BackendErrorKind::Server, "ERR no such key sess:AAAA")
///     .with_code("ERR");
/// assert_eq!(e.to_string(), "server error (ERR)");
/// assert_eq!(
///     format!("{e:?}"),
///     "BackendError { kind: Server, retryable: false, code: Some(\"ERR\"), detail: None, cause: [withheld] }"
/// );
/// assert!(std::error::Error::source(&e).is_none());
/// ```
pub struct BackendError {
    kind: BackendErrorKind,
    retryable: bool,
    code: Option<String>,
    detail: Option<&'static str>,
    cause: Option<Box<dyn StdError + Send + Sync + 'static>>,
}

impl BackendError {
    /// A backend error of `kind` caused by `cause`; connection and timeout errors are
    /// retryable. The cause is kept but never printed: see
    /// [`BackendError::cause_unsafe_to_log`].
    pub fn new(
        kind: BackendErrorKind,
        cause: impl Into<Box<dyn StdError + Send + Sync + 'static>>,
    ) -> Self {
        BackendError {
            cause: Some(cause.into()),
            ..BackendError::from_kind(kind)
        }
    }

    /// A backend error without an underlying cause.
    pub fn from_kind(kind: BackendErrorKind) -> Self {
        BackendError {
            kind,
            retryable: matches!(
                kind,
                BackendErrorKind::Connection | BackendErrorKind::Timeout
            ),
            code: None,
            detail: None,
            cause: None,
        }
    }

    /// Adds a fixed description (`"a Redis Cluster has only database 0"`), printed after the
    /// kind. Being `'static`, it cannot hold anything read at run time.
    pub fn with_detail(mut self, detail: &'static str) -> Self {
        self.detail = Some(detail);
        self
    }

    /// Records the server's error code (`NOPERM`, `WRONGPASS`, `OOM`...): a single word of
    /// letters, never data. Anything else is ignored.
    pub fn with_code(mut self, code: &str) -> Self {
        if !code.is_empty()
            && code.len() <= 32
            && code.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
        {
            self.code = Some(code.to_owned());
        }
        self
    }

    /// The server's error code, when the server answered with one.
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// The fixed description, when there is one.
    pub fn detail(&self) -> Option<&'static str> {
        self.detail
    }

    /// Overrides whether the operation may be retried.
    pub fn with_retryable(mut self, retryable: bool) -> Self {
        self.retryable = retryable;
        self
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> BackendErrorKind {
        self.kind
    }

    /// True when retrying later may succeed.
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }

    /// True when the server did not answer in time.
    pub fn is_timeout(&self) -> bool {
        self.kind == BackendErrorKind::Timeout
    }

    /// The underlying error (for Redis, a `redis::RedisError`), to inspect in code: match on
    /// it, downcast it.
    ///
    /// **Unsafe to log or display**: its text may quote the server's reply or the client's
    /// configuration, that is storage keys (session ids, in plain-id mode), stored values or
    /// a password in a URL. That is why nothing printable in this error reaches it.
    pub fn cause_unsafe_to_log(&self) -> Option<&(dyn StdError + Send + Sync + 'static)> {
        self.cause.as_deref()
    }
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.kind {
            BackendErrorKind::Connection => "connection failed",
            BackendErrorKind::Timeout => "timed out",
            BackendErrorKind::Server => "server error",
            BackendErrorKind::Other => "backend failure",
        };
        f.write_str(what)?;
        if let Some(detail) = self.detail {
            write!(f, ": {detail}")?;
        }
        if let Some(code) = &self.code {
            write!(f, " ({code})")?;
        }
        Ok(())
    }
}

impl fmt::Debug for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let BackendError {
            kind,
            retryable,
            code,
            detail,
            cause,
        } = self;
        f.debug_struct("BackendError")
            .field("kind", kind)
            .field("retryable", retryable)
            .field("code", code)
            .field("detail", detail)
            .field(
                "cause",
                &format_args!(
                    "{}",
                    if cause.is_some() {
                        "[withheld]"
                    } else {
                        "None"
                    }
                ),
            )
            .finish()
    }
}

/// No `source()`: the cause may quote keys or values (see [`BackendError`]).
impl StdError for BackendError {}

/// Whether a codec was encoding or decoding when it failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodecOp {
    /// Turning session data into bytes.
    Encode,
    /// Turning bytes back into session data.
    Decode,
}

/// The category of a codec failure. Deliberately without the serializer's message, which
/// may quote session data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodecErrorKind {
    /// The input ended early.
    UnexpectedEnd,
    /// Bytes were left over after a complete value.
    TrailingBytes,
    /// The input is not well-formed for this format.
    Syntax,
    /// Well-formed, but does not match the session type (wrong type, missing field, bad variant).
    Data,
    /// The codec's size limit was exceeded.
    Limit,
    /// The value cannot be represented in this format (e.g. a map key JSON cannot express).
    Unsupported,
    /// Any other failure.
    Other,
}

/// A codec failure: which codec, which direction, and what kind. No message text is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodecError {
    codec: CodecId,
    op: CodecOp,
    kind: CodecErrorKind,
}

impl CodecError {
    /// A codec error; custom codecs build theirs with this.
    pub fn new(codec: CodecId, op: CodecOp, kind: CodecErrorKind) -> Self {
        CodecError { codec, op, kind }
    }

    /// The codec that failed.
    pub fn codec(&self) -> CodecId {
        self.codec
    }

    /// Encoding or decoding.
    pub fn op(&self) -> CodecOp {
        self.op
    }

    /// What went wrong.
    pub fn kind(&self) -> CodecErrorKind {
        self.kind
    }
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            CodecOp::Encode => "encoding",
            CodecOp::Decode => "decoding",
        };
        let kind = match self.kind {
            CodecErrorKind::UnexpectedEnd => "input ended early",
            CodecErrorKind::TrailingBytes => "trailing bytes after the value",
            CodecErrorKind::Syntax => "malformed input",
            CodecErrorKind::Data => "data does not match the session type",
            CodecErrorKind::Limit => "size limit exceeded",
            CodecErrorKind::Unsupported => "value not representable in this format",
            CodecErrorKind::Other => "codec failure",
        };
        write!(f, "{} {op} failed: {kind}", self.codec)
    }
}

impl StdError for CodecError {}

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
    /// A store setting is out of range; the string says which and why.
    InvalidSetting(&'static str),
    /// A problem with one key of a keyring configuration: `error` says what.
    Key {
        /// The key id.
        id: u32,
        /// What is wrong with it.
        error: Box<ConfigError>,
    },
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
    /// The configuration file cannot be read.
    ConfigFile {
        /// Its path.
        path: std::path::PathBuf,
        /// Why (not found, permission denied, larger than 64 KiB...).
        kind: std::io::ErrorKind,
    },
    /// A file named as a key's material source cannot be read. Its content is never shown.
    SecretFile {
        /// Its path.
        path: std::path::PathBuf,
        /// Why.
        kind: std::io::ErrorKind,
    },
    /// An environment variable named as a material source is not set (or not Unicode).
    MissingEnv {
        /// The variable's name, when it looks like one (`[A-Z_][A-Z0-9_]*`). Anything else is
        /// not repeated: it may be a secret typed where its name belongs.
        name: Option<String>,
        /// The field that names it: `env` or `passphrase_env`.
        field: &'static str,
    },
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
    /// A reload names an id that an earlier configuration of this process had and a later
    /// one removed. A removed id is treated as retired for the life of the process, so it
    /// cannot come back with other material.
    RemovedIdReturned {
        /// The id.
        id: u32,
    },
    /// An active key names no material source.
    NoMaterial,
    /// An active key names no suite.
    NoSuite,
    /// A retired key still names a material source; retired keys open nothing, so their
    /// material must be removed from the configuration (and destroyed).
    RetiredWithMaterial,
    /// A material source must name exactly one of `env`, `file`, `passphrase_env`,
    /// `passphrase_file` and `insecure_inline`.
    MaterialSources {
        /// How many were named.
        named: usize,
    },
    /// A passphrase source lacks its `argon2` parameters or its `salt`.
    PassphraseSettings,
    /// `argon2` or `salt` given for material that is not a passphrase.
    Argon2WithoutPassphrase,
    /// The passphrase is empty.
    EmptyPassphrase,
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
    /// A configuration or secret path names something other than a regular file (a
    /// directory, a FIFO, a device), which could block or never end.
    NotAFile {
        /// Its path.
        path: std::path::PathBuf,
    },
    /// An `env` or `passphrase_env` value is not a valid environment variable name (letters,
    /// digits, `_`, `.` and `-`, not starting with a digit, at most 128 characters). The value is not
    /// repeated: it may be a secret pasted in the wrong place.
    InvalidEnvName,
    /// A variable name or file path contains what looks like key material (43 or 44 base64
    /// characters decoding to 32 bytes, anywhere in it): the secret itself was probably pasted
    /// where its name belongs. The value is not repeated. A directory named with such a
    /// random token is refused too: the two cannot be told apart.
    SecretInPlaceOfName,
    /// A reload would give an id that stays active different material or a different suite:
    /// every envelope under it would be refused. Ids are never reused; give the new key a new
    /// id.
    KeyChanged {
        /// The id.
        id: u32,
    },
    /// A reload would make a retired id open envelopes again. Retirement is final (it is how a
    /// compromised key is shut out); give a new key a new id.
    Unretired {
        /// The id.
        id: u32,
    },
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
    pub fn missing_env(name: &str, field: &'static str) -> ConfigError {
        ConfigError::MissingEnv {
            name: shown_env_name(name).map(str::to_owned),
            field,
        }
    }

    /// Attaches a key id to an error about that key (unless it already names one).
    #[cfg_attr(not(feature = "config"), allow(dead_code))]
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
            | ConfigError::KeyChanged { id }
            | ConfigError::Unretired { id }
            | ConfigError::RemovedIdReturned { id }
            | ConfigError::DuplicateKeyId { id }
            | ConfigError::KeyLength { id: Some(id), .. }
            | ConfigError::KeyEncoding { id: Some(id) } => Some(*id),
            ConfigError::DuplicateMaterial { second, .. } => Some(*second),
            _ => None,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::ZeroKeyId => f.write_str("key id 0 is reserved; ids start at 1"),
            ConfigError::DuplicateKeyId { id } => write!(f, "key id {id} appears more than once"),
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
                write!(f, "key {id}: material is not valid base64")
            }
            ConfigError::KeyEncoding { id: None } => {
                f.write_str("key material is not valid base64")
            }
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
            ConfigError::Argon2 => f.write_str("Argon2id refused its parameters"),
            ConfigError::UnknownSuite => f.write_str("unknown AEAD suite"),
            ConfigError::InvalidSetting(what) => write!(f, "invalid store setting: {what}"),
            ConfigError::Key { id, error } => write!(f, "key {id}: {error}"),
            ConfigError::Syntax {
                format,
                line: Some(line),
                message,
            } => write!(f, "{format} syntax error at line {line}: {message}"),
            ConfigError::Syntax {
                format,
                line: None,
                message,
            } => write!(f, "{format} syntax error: {message}"),
            ConfigError::ConfigFile { path, kind } => {
                write!(
                    f,
                    "cannot read configuration file {}: {kind}",
                    path.display()
                )
            }
            ConfigError::SecretFile { path, kind } => {
                write!(f, "cannot read secret file {}: {kind}", path.display())
            }
            ConfigError::MissingEnv {
                name: Some(name),
                field: _,
            } => write!(
                f,
                "environment variable {name} is not set (or not valid UTF-8)"
            ),
            ConfigError::MissingEnv { name: None, field } => write!(
                f,
                "the environment variable named by `{field}` is not set (or not valid UTF-8); \
                 its name is not shown because it does not look like one (A-Z, 0-9 and _): if \
                 a secret was typed there, move it into the variable and name the variable"
            ),
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
            ConfigError::NotAFile { path } => {
                write!(f, "{} is not a regular file", path.display())
            }
            ConfigError::InvalidEnvName => f.write_str(
                "not a valid environment variable name (letters, digits, _ . -, at most 128)",
            ),
            ConfigError::SecretInPlaceOfName => f.write_str(
                "a variable name or path contains what looks like base64 key material (43 or 44 \
                 base64 characters that decode to 32 bytes); put the secret in the variable or \
                 file and its name here, or rename a directory whose name is such a token",
            ),
            ConfigError::PrimaryIdDecreased { previous, next } => write!(
                f,
                "key {next} would replace key {previous} as primary, but key ids grow with age \
                 and envelopes are only re-sealed to higher ids; give the new key an id above \
                 {previous}"
            ),
            ConfigError::Unretired { id } => write!(
                f,
                "key {id} is retired in the keyring in use; a retired id never opens again, \
                 give the key a new id"
            ),
            ConfigError::KeyChanged { id } => write!(
                f,
                "key {id} has different material or suite than the keyring in use; ids are \
                 never reused, give the new key a new id"
            ),
            ConfigError::NoMaterial => f.write_str(
                "no material source; add material = { env = \"...\" } or { file = \"...\" }",
            ),
            ConfigError::NoSuite => {
                f.write_str("no suite; add suite = \"aes-256-gcm\" or \"chacha20-poly1305\"")
            }
            ConfigError::RetiredWithMaterial => f.write_str(
                "a retired key opens nothing, so it must not name material; remove the \
                 material line and destroy the secret",
            ),
            ConfigError::MaterialSources { named } => write!(
                f,
                "material names {named} sources; name exactly one of env, file, \
                 passphrase_env, passphrase_file, insecure_inline"
            ),
            ConfigError::PassphraseSettings => f.write_str(
                "a passphrase needs argon2 = { m_cost_kib, t_cost, p_cost } and a base64 salt",
            ),
            ConfigError::Argon2WithoutPassphrase => {
                f.write_str("argon2 and salt apply only to passphrase_env or passphrase_file")
            }
            ConfigError::EmptyPassphrase => f.write_str("the passphrase is empty"),
            ConfigError::SaltEncoding => f.write_str("the Argon2id salt is not valid base64"),
        }
    }
}

impl StdError for ConfigError {}
