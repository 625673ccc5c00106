//! express-session's signed cookie: `s:` + session id + `.` + signature, percent-encoded.
//!
//! express-session sets `name=` followed by the `encodeURIComponent` of `s:<sid>.<sig>`,
//! where `sig` is the standard base64 of HMAC-SHA256(secret, sid) with its `=` padding
//! removed (43 characters), and the secret is the first of the application's list. It
//! accepts a cookie when any secret of the list produced the signature. The verifier here
//! does the same, comparing in constant time, and refuses before any lookup: a value without
//! `s:`, without a signature, too long, or signed by none of the secrets.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::{Error, LegacyError};

/// express-session's default cookie name.
pub const DEFAULT_COOKIE_NAME: &str = "connect.sid";
/// Longest session id accepted by default, in bytes. express-session's own ids are 32
/// characters; applications with their own generator may use longer ones
/// ([`ExpressCookies::max_sid_len`]).
pub const DEFAULT_MAX_SID_LEN: usize = 256;
/// Longest cookie value read, in bytes (what browsers store for a whole cookie).
pub const MAX_COOKIE_VALUE_LEN: usize = 4096;
/// Length of the signature: 32 bytes of HMAC-SHA256 in unpadded base64.
const SIGNATURE_LEN: usize = 43;

type HmacSha256 = Hmac<Sha256>;

/// A session id taken from a verified express-session cookie: the name of the legacy
/// record (`prefix + sid`). A bearer secret like the cookie itself: `Debug` redacts it,
/// comparison is constant-time, and it is wiped on drop.
#[derive(Clone)]
pub struct LegacySid(Zeroizing<String>);

impl LegacySid {
    /// A session id read elsewhere (a key listed under the legacy prefix, by the import).
    /// No signature is involved: only for ids that come from the legacy store itself.
    pub fn from_stored(sid: &str) -> LegacySid {
        LegacySid(Zeroizing::new(sid.to_owned()))
    }

    /// The session id as express-session generated it. Keep it out of logs.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl PartialEq for LegacySid {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for LegacySid {}

impl fmt::Debug for LegacySid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LegacySid([redacted])")
    }
}

/// The verifier of express-session cookies: a cookie name and the application's list of
/// secrets (the first signs; every one verifies, as express-session rotates them).
///
/// ```
/// use sealed_session::migrate::ExpressCookies;
///
/// let cookies = ExpressCookies::new(["new secret", "retired secret"])?;
/// // What express-session set, signed with the retired secret (cookie-signature's output).
/// let old = ExpressCookies::new(["retired secret"])?;
/// let sid = sealed_session::migrate::LegacySid::from_stored("gR3vKx1yrWk9p0QnLmZ-aBcDeFgHiJ_k");
/// let value = old.sign(&sid);
/// assert!(value.starts_with("s%3AgR3vKx1yrWk9p0QnLmZ-aBcDeFgHiJ_k."));
/// assert_eq!(cookies.verify(&value)?, sid);
/// assert!(ExpressCookies::new(["other"])?.verify(&value).is_err());
/// # Ok::<(), sealed_session::Error>(())
/// ```
#[derive(Clone)]
pub struct ExpressCookies {
    name: String,
    secrets: Vec<Zeroizing<Vec<u8>>>,
    max_sid_len: usize,
}

impl ExpressCookies {
    /// A verifier for the cookie `connect.sid` with these secrets, in express-session's
    /// order (the first signs). Each secret is the string given to express-session (as its
    /// UTF-8 bytes). [`LegacyError::NoSecret`] when the list, or one of its secrets, is
    /// empty.
    pub fn new<I, S>(secrets: I) -> Result<ExpressCookies, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<[u8]>,
    {
        let secrets: Vec<_> = secrets
            .into_iter()
            .map(|s| Zeroizing::new(s.as_ref().to_vec()))
            .collect();
        if secrets.is_empty() || secrets.iter().any(|s| s.is_empty()) {
            return Err(LegacyError::NoSecret.into());
        }
        Ok(ExpressCookies {
            name: DEFAULT_COOKIE_NAME.to_owned(),
            secrets,
            max_sid_len: DEFAULT_MAX_SID_LEN,
        })
    }

    /// Reads the cookie of this name instead of `connect.sid` (express-session's `name`).
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// Accepts session ids up to `len` bytes (default [`DEFAULT_MAX_SID_LEN`]).
    pub fn max_sid_len(mut self, len: usize) -> Self {
        self.max_sid_len = len;
        self
    }

    /// The cookie's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value of this verifier's cookie in a `Cookie` request header, as express-session
    /// finds it (the `cookie` package's rules): pairs split at `;`, the first pair of that
    /// name wins, spaces and tabs around the value and one pair of surrounding double quotes
    /// are removed. The value is still percent-encoded: give it to
    /// [`ExpressCookies::verify`].
    pub fn find<'h>(&self, header: &'h str) -> Option<&'h str> {
        cookie_values(header, &self.name).next()
    }

    /// Verifies a cookie value as express-session would and returns the session id in it.
    ///
    /// The value is percent-decoded as `decodeURIComponent` does (kept as it is when that
    /// fails, as the `cookie` package does), must start with `s:`, and must end with `.`
    /// and the signature of everything between, by one of the secrets. Refusals, before any
    /// lookup: [`LegacyError::CookieTooLong`], [`LegacyError::UnsignedCookie`],
    /// [`LegacyError::MalformedCookie`], [`LegacyError::BadSignature`].
    pub fn verify(&self, value: &str) -> Result<LegacySid, LegacyError> {
        if value.len() > MAX_COOKIE_VALUE_LEN {
            return Err(LegacyError::CookieTooLong);
        }
        let decoded = percent_decode(value);
        let text: &str = decoded.as_deref().map_or(value, |d| d.as_str());
        let signed = text.strip_prefix("s:").ok_or(LegacyError::UnsignedCookie)?;
        let (sid, signature) = signed
            .rsplit_once('.')
            .ok_or(LegacyError::MalformedCookie)?;
        if sid.is_empty() {
            return Err(LegacyError::MalformedCookie);
        }
        if sid.len() > self.max_sid_len {
            return Err(LegacyError::CookieTooLong);
        }
        if signature.len() != SIGNATURE_LEN {
            return Err(LegacyError::BadSignature);
        }
        // Every secret is tried, so the time taken does not tell which one matched.
        let mut matched = subtle::Choice::from(0);
        for secret in &self.secrets {
            let expected = signature_of(secret, sid);
            matched |= expected.as_bytes().ct_eq(signature.as_bytes());
        }
        if bool::from(matched) {
            Ok(LegacySid(Zeroizing::new(sid.to_owned())))
        } else {
            Err(LegacyError::BadSignature)
        }
    }

    /// The cookie value express-session sets for `sid` with the first secret:
    /// `s%3A<sid>.<signature>`, percent-encoded as `encodeURIComponent` does. For tests and
    /// tools; a migrated application sets its own cookie instead.
    pub fn sign(&self, sid: &LegacySid) -> String {
        let secret = self.secrets.first().map_or(&[][..], |s| s.as_slice());
        let signed = Zeroizing::new(format!(
            "s:{}.{}",
            sid.as_str(),
            signature_of(secret, sid.as_str()).as_str()
        ));
        encode_uri_component(&signed)
    }
}

impl fmt::Debug for ExpressCookies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExpressCookies")
            .field("name", &self.name)
            .field("secrets", &self.secrets.len())
            .field("max_sid_len", &self.max_sid_len)
            .finish()
    }
}

/// Every value of cookie `name` in a `Cookie` header, in order, by the `cookie` package's
/// rules: pairs split at `;`, names and values trimmed of spaces and tabs, one pair of
/// double quotes around a value removed. (The first pair of a `Set-Cookie` header reads the
/// same way.)
pub(crate) fn cookie_values<'h, 'n>(
    header: &'h str,
    name: &'n str,
) -> impl Iterator<Item = &'h str> + use<'h, 'n> {
    header.split(';').filter_map(move |pair| {
        let (n, value) = pair.split_once('=')?;
        if n.trim_matches([' ', '\t']) != name {
            return None;
        }
        let value = value.trim_matches([' ', '\t']);
        Some(
            value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value),
        )
    })
}

/// cookie-signature's signature: unpadded standard base64 of HMAC-SHA256(secret, sid). A
/// part of a bearer cookie, so wiped when dropped.
fn signature_of(secret: &[u8], sid: &str) -> Zeroizing<String> {
    // HMAC takes keys of any length.
    let mut mac = match HmacSha256::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => return Zeroizing::new(String::new()),
    };
    mac.update(sid.as_bytes());
    let mut out = Zeroizing::new(String::with_capacity(SIGNATURE_LEN));
    STANDARD_NO_PAD.encode_string(mac.finalize().into_bytes(), &mut out);
    out
}

/// `decodeURIComponent`: `None` when there is nothing to decode or it fails (a `%` not
/// followed by two hex digits, or escapes that are not UTF-8), in which case the `cookie`
/// package keeps the value as it is.
fn percent_decode(value: &str) -> Option<Zeroizing<String>> {
    if !value.contains('%') {
        return None;
    }
    let mut out = Zeroizing::new(Vec::with_capacity(value.len()));
    let mut bytes = value.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hi = hex_value(bytes.next()?)?;
            let lo = hex_value(bytes.next()?)?;
            out.push((hi << 4) | lo);
        } else {
            out.push(b);
        }
    }
    let text = std::str::from_utf8(&out).ok()?;
    Some(Zeroizing::new(text.to_owned()))
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// `encodeURIComponent`: every byte but ASCII letters, digits and `-_.!~*'()` as `%XX`.
fn encode_uri_component(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(char::from(b));
        } else {
            // A nibble is below 16: always a digit of HEX.
            let digit = |n: u8| char::from(HEX.get(usize::from(n)).copied().unwrap_or(b'0'));
            out.push('%');
            out.push(digit(b >> 4));
            out.push(digit(b & 0x0f));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A vector worked out with Python
    /// (`base64.b64encode(hmac.new(b"keyboard cat", b"abc", hashlib.sha256).digest())`
    /// without its `=`) and matching cookie-signature's `sign("abc", "keyboard cat")`.
    #[test]
    fn the_signature_is_unpadded_base64_of_hmac_sha256() {
        let sig = signature_of(b"keyboard cat", "abc");
        assert_eq!(sig.as_str(), "BpxCrWRpvZMh/wk/djl34N+m+VQEU7K/5WenLwJCgFU");
        let c = ExpressCookies::new(["keyboard cat"]).unwrap();
        assert_eq!(
            c.sign(&LegacySid::from_stored("abc")),
            "s%3Aabc.BpxCrWRpvZMh%2Fwk%2Fdjl34N%2Bm%2BVQEU7K%2F5WenLwJCgFU"
        );
    }

    #[test]
    fn the_first_secret_signs_and_every_secret_verifies() {
        let sid = LegacySid::from_stored("abc");
        let old = ExpressCookies::new(["old"]).unwrap();
        let both = ExpressCookies::new(["new", "old"]).unwrap();
        assert_eq!(both.verify(&old.sign(&sid)).unwrap(), sid);
        assert_eq!(both.verify(&both.sign(&sid)).unwrap(), sid);
        assert_eq!(old.verify(&both.sign(&sid)), Err(LegacyError::BadSignature));
    }

    #[test]
    fn refusals_come_before_any_lookup_and_name_the_rule() {
        let c = ExpressCookies::new(["k"]).unwrap();
        let good = c.sign(&LegacySid::from_stored("abc"));
        assert_eq!(c.verify("abc.def"), Err(LegacyError::UnsignedCookie));
        assert_eq!(c.verify("s:abcdef"), Err(LegacyError::MalformedCookie));
        assert_eq!(
            c.verify(&good.replacen("abc", "", 1)),
            Err(LegacyError::MalformedCookie)
        );
        assert_eq!(
            c.verify(&good.replacen("abc", "abd", 1)),
            Err(LegacyError::BadSignature)
        );
        assert_eq!(
            c.verify(&good[..good.len() - 1]),
            Err(LegacyError::BadSignature)
        );
        assert_eq!(
            c.verify(&format!("{good}=")),
            Err(LegacyError::BadSignature)
        );
        let long = c.sign(&LegacySid::from_stored(
            &"a".repeat(DEFAULT_MAX_SID_LEN + 1),
        ));
        assert_eq!(c.verify(&long), Err(LegacyError::CookieTooLong));
        let huge = "s".repeat(MAX_COOKIE_VALUE_LEN + 1);
        assert_eq!(c.verify(&huge), Err(LegacyError::CookieTooLong));
        // Not percent-decoded at all: `s:` as sent raw is accepted too, as express does.
        let raw = good.replace("%3A", ":");
        assert_eq!(c.verify(&raw).unwrap().as_str(), "abc");
        // A bad escape keeps the raw value, which then lacks the `s:` prefix.
        assert_eq!(c.verify("s%3Aabc.%zz"), Err(LegacyError::UnsignedCookie));
    }

    #[test]
    fn the_cookie_is_found_as_the_cookie_package_finds_it() {
        let c = ExpressCookies::new(["k"]).unwrap();
        assert_eq!(
            c.find("a=1; connect.sid=s%3Ax.y; connect.sid=2"),
            Some("s%3Ax.y")
        );
        assert_eq!(c.find("connect.sid=\"quoted\""), Some("quoted"));
        assert_eq!(c.find(" connect.sid =\t v \t;b=2"), Some("v"));
        assert_eq!(c.find("other=1; sid=2"), None);
        let named = ExpressCookies::new(["k"]).unwrap().with_name("app.sid");
        assert_eq!(named.find("connect.sid=1; app.sid=2"), Some("2"));
    }

    #[test]
    fn debug_never_shows_secrets_or_ids() {
        let c = ExpressCookies::new(["hunter2"]).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
        assert_eq!(
            format!("{:?}", LegacySid::from_stored("abc")),
            "LegacySid([redacted])"
        );
        assert!(matches!(
            ExpressCookies::new(Vec::<String>::new()),
            Err(Error::Legacy(LegacyError::NoSecret))
        ));
        assert!(ExpressCookies::new([""]).is_err());
    }
}
