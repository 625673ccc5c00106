//! The crate's one error type.
//!
//! Every fallible operation returns [`Error`]. Its parts are typed so a program can react
//! (retry a backend error, count rejections by kind, fix a configuration), and none of them
//! ever carries key bytes, a session id or session data: a codec failure, for example, keeps
//! only its category, because serde messages quote the input they choke on.
//!
//! The typed parts live by domain: refusals of stored values in [`reject`], backend failures
//! in [`backend`], invalid configurations in [`config`] and invalid store settings in
//! [`setting`]; codec failures belong to the codec stage (`crate::codec::error`).

use std::error::Error as StdError;
use std::fmt;

mod backend;
mod config;
#[cfg(feature = "express")]
mod legacy;
mod reject;
mod setting;
#[cfg(test)]
mod tests;

pub use self::backend::{BackendError, BackendErrorKind};
pub use self::config::ConfigError;
#[cfg(feature = "config")]
pub use self::config::PermissionProblem;
#[cfg(feature = "config")]
pub(crate) use self::config::shown_env_name;
#[cfg(feature = "express")]
pub use self::legacy::LegacyError;
pub use self::reject::{RejectKind, Rejection};
pub use self::setting::SettingError;
use crate::codec::CodecError;

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
    /// An optimistic save ([`Store::save_if_unchanged`](crate::Store::save_if_unchanged),
    /// or [`Store::save`](crate::Store::save) and [`Store::cycle_id`](crate::Store::cycle_id)
    /// on a store with
    /// [`StoreBuilder::optimistic_saves`](crate::StoreBuilder::optimistic_saves)) found
    /// that the stored session is no longer the one that was loaded: another request saved
    /// it meanwhile, a key rotation re-sealed it, or something else now sits under its key.
    /// Nothing was written.
    /// Sending the same save again would fail the same way: load the session again and
    /// re-apply the change, as [`Store::update`](crate::Store::update) does.
    Conflict,
    /// A session id from untrusted input is not 43 characters of canonical base64url.
    InvalidSessionId,
    /// The operating system's random number generator failed.
    Rng,
    /// An owner given to [`Owner::new`](crate::Owner::new) is empty or longer than
    /// [`MAX_OWNER_LEN`](crate::MAX_OWNER_LEN) bytes.
    InvalidOwner,
    /// A session bound to an owner was to be written by a store without an owner index
    /// ([`StoreBuilder::owners`](crate::StoreBuilder::owners)); nothing was written.
    NoOwnerIndex,
    /// The owner already has as many sessions as the store's cap allows, and the store is
    /// set to refuse new ones ([`CapPolicy::Refuse`](crate::CapPolicy::Refuse)); nothing was
    /// written.
    OwnerCapReached {
        /// The cap.
        cap: usize,
    },
    /// A user-supplied [`Sealer`](crate::Sealer) failed for a reason of its own (a KMS that
    /// cannot be reached, say). Implementations must not put secrets in it.
    Sealer(Box<dyn StdError + Send + Sync + 'static>),
    /// A cookie or a record of an Express application was refused, or a legacy source is
    /// misconfigured (feature `express`). The web layer treats a refused cookie or record
    /// as "no session".
    #[cfg(feature = "express")]
    Legacy(LegacyError),
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
            Error::Conflict => f.write_str(
                "the session was saved by another request since it was loaded; nothing was \
                 written: load it again and re-apply the change",
            ),
            Error::Rng => f.write_str("the operating system's random number generator failed"),
            Error::InvalidSessionId => f.write_str("malformed session id"),
            Error::InvalidOwner => f.write_str("an owner must be 1 to 1024 bytes long"),
            Error::NoOwnerIndex => f.write_str(
                "the session has an owner but the store has no owner index; build the store \
                 with an owner index",
            ),
            Error::OwnerCapReached { cap } => write!(
                f,
                "the owner already has {cap} sessions, the most the store allows"
            ),
            Error::Sealer(_) => f.write_str("the sealer failed"),
            #[cfg(feature = "express")]
            Error::Legacy(e) => write!(f, "legacy session refused: {e}"),
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
            #[cfg(feature = "express")]
            Error::Legacy(e) => Some(e),
            Error::TooLarge { .. }
            | Error::AlreadyExists
            | Error::SessionGone
            | Error::SessionExpired
            | Error::Conflict
            | Error::Rng
            | Error::InvalidSessionId
            | Error::InvalidOwner
            | Error::NoOwnerIndex
            | Error::OwnerCapReached { .. } => None,
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

#[cfg(feature = "express")]
impl From<LegacyError> for Error {
    fn from(e: LegacyError) -> Self {
        Error::Legacy(e)
    }
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Config(e)
    }
}
