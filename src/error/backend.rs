//! Backend failures: typed enough to decide on a retry, and careful with the server's own
//! text, which can quote the keys and values a command carried.

use std::error::Error as StdError;
use std::fmt;

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
    #[must_use]
    pub fn with_detail(mut self, detail: &'static str) -> Self {
        self.detail = Some(detail);
        self
    }

    /// Records the server's error code (`NOPERM`, `WRONGPASS`, `OOM`...): a single word of
    /// letters, never data. Anything else is ignored.
    #[must_use]
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
    #[must_use]
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
