//! An express-session session as its stores keep it: the JSON of `req.session`, whose
//! `cookie` member describes the cookie (`originalMaxAge`, `expires`, `httpOnly`, `path`,
//! …) and whose other members are the application's data.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::error::LegacyError;

/// A session read from a legacy store: the application's members and the `cookie` member
/// that express-session keeps with them.
///
/// `Debug` shows the members' names count, never their values.
#[derive(Clone, PartialEq)]
pub struct LegacySession {
    data: Map<String, Value>,
    cookie: Map<String, Value>,
    expires_at_ms: Option<u64>,
}

/// How long a legacy session lives, seen from now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lifetime {
    /// Its cookie has expired.
    Expired,
    /// A browser-session cookie: no expiry of its own.
    BrowserSession,
    /// Until this Unix second.
    Until(u64),
}

impl LegacySession {
    /// Parses the JSON text of a session, as `JSON.stringify(req.session)` wrote it: an
    /// object with a `cookie` object, whose `expires` is `null` (a browser-session cookie)
    /// (or `false`: a browser-session cookie) or a date in JavaScript's ISO-8601 form
    /// (`2026-12-04T21:20:16.123Z`; a date before 1970 reads as long expired).
    ///
    /// A string holding half of a UTF-16 surrogate pair (`"\ud83e"`, what `JSON.stringify`
    /// writes for a string cut inside an emoji, and `JSON.parse` reads back) cannot be a
    /// Rust string: each such half is read as U+FFFD instead of refusing the session.
    pub fn from_json(json: &[u8]) -> Result<LegacySession, LegacyError> {
        let malformed = || LegacyError::MalformedRecord { part: "json" };
        let value: Value = match serde_json::from_slice(json) {
            Ok(value) => value,
            Err(_) => {
                let fixed = lone_surrogates_replaced(json).ok_or_else(malformed)?;
                serde_json::from_slice(&fixed).map_err(|_| malformed())?
            }
        };
        LegacySession::from_value(value)
    }

    /// As [`LegacySession::from_json`], from parsed JSON.
    pub fn from_value(value: Value) -> Result<LegacySession, LegacyError> {
        let Value::Object(mut data) = value else {
            return Err(LegacyError::MalformedRecord { part: "session" });
        };
        let Some(Value::Object(cookie)) = data.remove("cookie") else {
            return Err(LegacyError::MalformedRecord { part: "cookie" });
        };
        // `null`, or `false` (what express-session's documentation suggests for a
        // browser-session cookie): no expiry.
        let expires_at_ms = match cookie.get("expires") {
            None | Some(Value::Null) | Some(Value::Bool(false)) => None,
            Some(Value::String(text)) => {
                Some(parse_js_date(text).ok_or(LegacyError::MalformedRecord {
                    part: "cookie.expires",
                })?)
            }
            Some(_) => {
                return Err(LegacyError::MalformedRecord {
                    part: "cookie.expires",
                });
            }
        };
        Ok(LegacySession {
            data,
            cookie,
            expires_at_ms,
        })
    }

    /// The application's members: everything but `cookie`.
    pub fn data(&self) -> &Map<String, Value> {
        &self.data
    }

    /// The application's members, owned.
    pub fn into_data(self) -> Map<String, Value> {
        self.data
    }

    /// The `cookie` member as stored.
    pub fn cookie(&self) -> &Map<String, Value> {
        &self.cookie
    }

    /// When the cookie expires (`cookie.expires`); `None` for a browser-session cookie.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.expires_at_ms
            .map(|ms| UNIX_EPOCH + Duration::from_millis(ms))
    }

    /// `cookie.expires` in whole Unix seconds, rounded down (never later than the cookie).
    pub(crate) fn expires_at_secs(&self) -> Option<u64> {
        self.expires_at_ms.map(|ms| ms / 1000)
    }

    /// `cookie.originalMaxAge` in whole seconds, when it is a positive number.
    fn max_age_secs(&self) -> Option<u64> {
        let ms = self.cookie.get("originalMaxAge")?.as_f64()?;
        // `as` saturates; a JavaScript number of milliseconds is finite.
        (ms >= 1000.0).then(|| (ms / 1000.0) as u64)
    }

    /// How long the session lives from `now` (Unix seconds).
    ///
    /// With `rolling` (express-session's `rolling: true`), the stored `cookie.expires` may
    /// be older than the browser's cookie: each response moves the cookie's expiry and the
    /// store's TTL (connect-redis's `touch`) without rewriting the record. Express then
    /// accepts the session for as long as its record exists, so a stored expiry in the past
    /// counts as `now + originalMaxAge`, as the next response would have set it.
    pub(crate) fn lifetime(&self, now: u64, rolling: bool) -> Lifetime {
        match (self.expires_at_secs(), self.max_age_secs()) {
            (None, _) => Lifetime::BrowserSession,
            (Some(at), _) if at > now => Lifetime::Until(at),
            (Some(_), Some(max_age)) if rolling => Lifetime::Until(now.saturating_add(max_age)),
            (Some(_), _) => Lifetime::Expired,
        }
    }

    /// The session as JSON again, `cookie` included (the form a compatibility entry keeps).
    pub(crate) fn to_value(&self) -> Value {
        let mut all = self.data.clone();
        all.insert("cookie".to_owned(), Value::Object(self.cookie.clone()));
        Value::Object(all)
    }
}

impl fmt::Debug for LegacySession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LegacySession")
            .field("members", &self.data.len())
            .field("expires_at", &self.expires_at())
            .finish()
    }
}

/// Milliseconds since the Unix epoch of a date as JavaScript's `Date.prototype.toJSON`
/// writes it: `YYYY-MM-DDTHH:MM:SS.sssZ` (also without the milliseconds), with the year as
/// four digits or, outside 0 to 9999, as a sign and six digits (`+010000`, `-000001`). A
/// date before 1970 is 0 (long expired). `None` for anything else.
fn parse_js_date(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    let (negative, year, rest) = match b.first()? {
        sign @ (b'+' | b'-') => (*sign == b'-', digits(b.get(1..7)?)?, b.get(7..)?),
        _ => (false, digits(b.get(..4)?)?, b.get(4..)?),
    };
    let (time, millis) = match rest.len() {
        20 if rest.get(15) == Some(&b'.') && rest.get(19) == Some(&b'Z') => {
            (rest.get(..15)?, digits(rest.get(16..19)?)?)
        }
        16 if rest.get(15) == Some(&b'Z') => (rest.get(..15)?, 0),
        _ => return None,
    };
    let sep = |i: usize, c: u8| time.get(i) == Some(&c);
    if !(sep(0, b'-') && sep(3, b'-') && sep(6, b'T') && sep(9, b':') && sep(12, b':')) {
        return None;
    }
    let month = digits(time.get(1..3)?)?;
    let day = digits(time.get(4..6)?)?;
    let hour = digits(time.get(7..9)?)?;
    let minute = digits(time.get(10..12)?)?;
    let second = digits(time.get(13..15)?)?;
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    if negative || year < 1970 {
        return Some(0);
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3_600 + minute * 60 + second;
    secs.checked_mul(1000)?.checked_add(millis)
}

/// `json` with every `\uXXXX` escape of an unpaired UTF-16 surrogate replaced by
/// `\ufffd`; `None` when it has none (so replacing cannot help). Every other byte, and
/// every other escape, is kept as it is.
fn lone_surrogates_replaced(json: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    /// The code unit of a `\uXXXX` escape at the start of `b`.
    fn unit(b: &[u8]) -> Option<u16> {
        let hex = b.strip_prefix(b"\\u")?.get(..4)?;
        let text = std::str::from_utf8(hex).ok()?;
        if !text.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        u16::from_str_radix(text, 16).ok()
    }
    const HIGH: std::ops::RangeInclusive<u16> = 0xD800..=0xDBFF;
    const LOW: std::ops::RangeInclusive<u16> = 0xDC00..=0xDFFF;
    let mut out = Zeroizing::new(Vec::with_capacity(json.len()));
    let mut changed = false;
    let mut rest = json;
    while let Some((&first, tail)) = rest.split_first() {
        if first != b'\\' {
            out.push(first);
            rest = tail;
            continue;
        }
        match unit(rest) {
            Some(high) if HIGH.contains(&high) => {
                let after = rest.get(6..).unwrap_or_default();
                match unit(after) {
                    // A pair: both halves as they are.
                    Some(low) if LOW.contains(&low) => {
                        out.extend_from_slice(rest.get(..12).unwrap_or_default());
                        rest = rest.get(12..).unwrap_or_default();
                    }
                    _ => {
                        out.extend_from_slice(b"\\ufffd");
                        changed = true;
                        rest = after;
                    }
                }
            }
            Some(low) if LOW.contains(&low) => {
                out.extend_from_slice(b"\\ufffd");
                changed = true;
                rest = rest.get(6..).unwrap_or_default();
            }
            // Any other escape: the backslash and the character it escapes.
            _ => {
                out.extend_from_slice(rest.get(..2).unwrap_or(rest));
                rest = rest.get(2..).unwrap_or_default();
            }
        }
    }
    changed.then_some(out)
}

/// The value of ASCII decimal digits (at most six here, so no overflow).
fn digits(b: &[u8]) -> Option<u64> {
    b.iter().try_fold(0u64, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u64::from(c - b'0'))
    })
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a valid date of year 1970 or later (proleptic Gregorian).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    // Years start in March, so the leap day is the last day of the year.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    // 719_468 days from 0000-03-01 to 1970-01-01; a date from 1970 on is never before.
    (era * 146_097 + doe).saturating_sub(719_468)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn javascript_dates_parse_to_their_milliseconds() {
        // `new Date("2026-12-04T21:20:16.123Z").getTime()` in Node.
        assert_eq!(
            parse_js_date("2026-12-04T21:20:16.123Z"),
            Some(1_796_419_216_123)
        );
        assert_eq!(parse_js_date("1970-01-01T00:00:00.000Z"), Some(0));
        assert_eq!(parse_js_date("2000-02-29T23:59:59Z"), Some(951_868_799_000));
        // `new Date(8.64e15).toJSON()`, the latest date JavaScript has, and years past 9999.
        assert_eq!(
            parse_js_date("+275760-09-13T00:00:00.000Z"),
            Some(8_640_000_000_000_000)
        );
        assert_eq!(
            parse_js_date("+010000-01-01T00:00:00.000Z"),
            Some(253_402_300_800_000)
        );
        // Before 1970: long expired, not malformed.
        for old in [
            "1969-12-31T23:59:59.999Z",
            "0000-01-01T00:00:00.000Z",
            "-000001-01-01T00:00:00.000Z",
        ] {
            assert_eq!(parse_js_date(old), Some(0), "{old}");
        }
        for bad in [
            "2026-12-04T21:20:16.123",
            "2026-12-04 21:20:16.123Z",
            "2026-02-29T00:00:00.000Z",
            "2026-13-01T00:00:00.000Z",
            "+02026-12-04T21:20:16.12Z",
            "+2026-12-04T21:20:16.123Z",
            "2026-12-04T24:00:00.000Z",
            "２026-12-04T21:20:16.123Z",
            "",
        ] {
            assert_eq!(parse_js_date(bad), None, "{bad}");
        }
    }

    /// `JSON.stringify({cookie: {expires: null}, name: "ab🦀".slice(0, 3)})` in Node, and
    /// a lone low half; a whole pair is kept.
    #[test]
    fn half_a_surrogate_pair_reads_as_the_replacement_character() {
        let cut = br#"{"cookie":{"expires":null},"name":"ab\ud83e","low":"\udd80x","pair":"\ud83e\udd80","esc":"\\ud83e"}"#;
        assert!(serde_json::from_slice::<Value>(cut).is_err());
        let s = LegacySession::from_json(cut).unwrap();
        assert_eq!(s.data()["name"], "ab\u{fffd}");
        assert_eq!(s.data()["low"], "\u{fffd}x");
        assert_eq!(s.data()["pair"], "🦀");
        assert_eq!(s.data()["esc"], "\\ud83e");
        assert_eq!(
            LegacySession::from_json(br#"{"cookie":{},"a":"\ud83e"#),
            Err(LegacyError::MalformedRecord { part: "json" })
        );
    }

    #[test]
    fn a_rolling_session_lives_as_long_as_its_record() {
        let at = |expires: &str, max_age: &str| {
            LegacySession::from_json(
                format!(r#"{{"cookie":{{"expires":{expires},"originalMaxAge":{max_age}}}}}"#)
                    .as_bytes(),
            )
            .unwrap()
        };
        // 1970-01-01T00:16:40Z is Unix second 1,000.
        let stale = at(r#""1970-01-01T00:16:40.000Z""#, "3600000");
        assert_eq!(stale.lifetime(999, false), Lifetime::Until(1_000));
        assert_eq!(stale.lifetime(1_000, false), Lifetime::Expired);
        assert_eq!(stale.lifetime(5_000, true), Lifetime::Until(8_600));
        let no_max_age = at(r#""1970-01-01T00:16:40.000Z""#, "null");
        assert_eq!(no_max_age.lifetime(5_000, true), Lifetime::Expired);
        assert_eq!(
            at("null", "null").lifetime(5_000, false),
            Lifetime::BrowserSession
        );
    }

    #[test]
    fn a_session_is_an_object_with_a_cookie_object() {
        let s = LegacySession::from_json(
            r#"{"cookie":{"originalMaxAge":3600000,"expires":"2026-12-04T21:20:16.123Z","httpOnly":true,"path":"/"},"name":"Zoë","n":1}"#
                .as_bytes(),
        )
        .unwrap();
        assert_eq!(s.data().len(), 2);
        assert_eq!(s.data()["name"], "Zoë");
        assert_eq!(s.expires_at_secs(), Some(1_796_419_216));
        assert_eq!(s.cookie()["path"], "/");
        for browser_session in [
            &br#"{"cookie":{"expires":null},"a":1}"#[..],
            br#"{"cookie":{"expires":false},"a":1}"#,
            br#"{"cookie":{},"a":1}"#,
        ] {
            let s = LegacySession::from_json(browser_session).unwrap();
            assert_eq!(s.expires_at(), None);
        }
        for (bad, part) in [
            (&b"[1]"[..], "session"),
            (b"{\"a\":1}", "cookie"),
            (b"{\"cookie\":1}", "cookie"),
            (b"{\"cookie\":{\"expires\":5}}", "cookie.expires"),
            (b"{\"cookie\":{\"expires\":true}}", "cookie.expires"),
            (b"{\"cookie\":{\"expires\":\"soon\"}}", "cookie.expires"),
            (b"{\"cookie\":{}", "json"),
        ] {
            assert_eq!(
                LegacySession::from_json(bad),
                Err(LegacyError::MalformedRecord { part })
            );
        }
        assert!(!format!("{s:?}").contains("Zoë"));
    }
}
