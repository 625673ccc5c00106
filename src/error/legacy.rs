//! Why a cookie or a record of an Express application was refused, or a legacy source could
//! not be configured (feature `express`).

use std::error::Error as StdError;
use std::fmt;

/// What refused an express-session cookie or a connect-redis / connect-redis-crypto record.
///
/// A refusal never names the cookie, the session id, the record or the secret: only which
/// rule failed (and for a malformed record, which member), so it can go to logs and metrics
/// as it is. [`LegacyError::as_str`] gives a stable label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LegacyError {
    /// The cookie value does not start with `s:` (after percent-decoding): express-session
    /// signs every cookie it sets, so an unsigned one is not its own.
    UnsignedCookie,
    /// The cookie value, or the session id in it, is longer than the verifier accepts.
    CookieTooLong,
    /// The cookie value has no signature after a `.`, or an empty session id.
    MalformedCookie,
    /// No secret of the list produced the cookie's signature.
    BadSignature,
    /// The record is longer than the source accepts; it was not read.
    RecordTooLarge,
    /// The record is not what the legacy store writes; `part` names the member (or `json`
    /// for the syntax) that is missing, of the wrong type or out of range.
    MalformedRecord {
        /// The member or rule that failed, such as `json`, `ct`, `iv` or `cookie.expires`.
        part: &'static str,
    },
    /// connect-redis-crypto: the record's HMAC does not match its ciphertext under the
    /// secret (tampered, or written under another secret). Checked before decrypting.
    Tampered,
    /// connect-redis-crypto: AES-256-GCM refused the ciphertext, IV, AAD or tag.
    Undecryptable,
    /// The session's own cookie expired before now (`cookie.expires`).
    Expired,
    /// The legacy store was configured with an option this crate does not read; `option`
    /// names it (a kruptein option such as `algorithm`, `use_asn1` or `use_scrypt`).
    UnsupportedOption {
        /// The option's name in the legacy store's configuration.
        option: &'static str,
    },
    /// The verifier or decoder needs a secret and was given none (or an empty one).
    NoSecret,
}

impl LegacyError {
    /// A stable lowercase name, for log fields and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            LegacyError::UnsignedCookie => "unsigned_cookie",
            LegacyError::CookieTooLong => "cookie_too_long",
            LegacyError::MalformedCookie => "malformed_cookie",
            LegacyError::BadSignature => "bad_signature",
            LegacyError::RecordTooLarge => "record_too_large",
            LegacyError::MalformedRecord { .. } => "malformed_record",
            LegacyError::Tampered => "tampered",
            LegacyError::Undecryptable => "undecryptable",
            LegacyError::Expired => "expired",
            LegacyError::UnsupportedOption { .. } => "unsupported_option",
            LegacyError::NoSecret => "no_secret",
        }
    }

    /// True for refusals of a cookie (no record was looked up).
    pub fn is_cookie(self) -> bool {
        matches!(
            self,
            LegacyError::UnsignedCookie
                | LegacyError::CookieTooLong
                | LegacyError::MalformedCookie
                | LegacyError::BadSignature
        )
    }
}

impl fmt::Display for LegacyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LegacyError::UnsignedCookie => {
                f.write_str("the session cookie is not signed (no `s:` prefix)")
            }
            LegacyError::CookieTooLong => {
                f.write_str("the session cookie or its session id is too long")
            }
            LegacyError::MalformedCookie => {
                f.write_str("the session cookie has no signature or no session id")
            }
            LegacyError::BadSignature => {
                f.write_str("the session cookie's signature matches none of the secrets")
            }
            LegacyError::RecordTooLarge => {
                f.write_str("the legacy session record is longer than the maximum accepted")
            }
            LegacyError::MalformedRecord { part } => {
                write!(f, "the legacy session record is malformed ({part})")
            }
            LegacyError::Tampered => f.write_str(
                "the legacy session record's HMAC does not match: it was changed, or sealed \
                 under another secret",
            ),
            LegacyError::Undecryptable => {
                f.write_str("the legacy session record did not decrypt (AES-256-GCM refused it)")
            }
            LegacyError::Expired => f.write_str("the legacy session's cookie has expired"),
            LegacyError::UnsupportedOption { option } => write!(
                f,
                "the legacy store option `{option}` is not supported; only kruptein's \
                 defaults are read"
            ),
            LegacyError::NoSecret => f.write_str("a legacy secret is required and none was given"),
        }
    }
}

impl StdError for LegacyError {}
