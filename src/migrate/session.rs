//! An express-session session as its stores keep it: the JSON of `req.session`, whose
//! `cookie` member describes the cookie (`originalMaxAge`, `expires`, `httpOnly`, `path`,
//! …) and whose other members are the application's data.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

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

impl LegacySession {
    /// Parses the JSON text of a session, as `JSON.stringify(req.session)` wrote it: an
    /// object with a `cookie` object, whose `expires` is `null` (a browser-session cookie)
    /// or a date in JavaScript's ISO-8601 form (`2026-12-04T21:20:16.123Z`).
    pub fn from_json(json: &[u8]) -> Result<LegacySession, LegacyError> {
        let value: Value = serde_json::from_slice(json)
            .map_err(|_| LegacyError::MalformedRecord { part: "json" })?;
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
        let expires_at_ms = match cookie.get("expires") {
            None | Some(Value::Null) => None,
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
/// writes it: `YYYY-MM-DDTHH:MM:SS.sssZ` (also without the milliseconds), years 1970 to
/// 9999. `None` for anything else.
fn parse_js_date(text: &str) -> Option<u64> {
    let b = text.as_bytes();
    let (date, millis) = match b.len() {
        24 if b.get(19) == Some(&b'.') && b.get(23) == Some(&b'Z') => {
            (b.get(..19)?, digits(b.get(20..23)?)?)
        }
        20 if b.get(19) == Some(&b'Z') => (b.get(..19)?, 0),
        _ => return None,
    };
    let sep = |i: usize, c: u8| date.get(i) == Some(&c);
    if !(sep(4, b'-') && sep(7, b'-') && sep(10, b'T') && sep(13, b':') && sep(16, b':')) {
        return None;
    }
    let year = digits(date.get(0..4)?)?;
    let month = digits(date.get(5..7)?)?;
    let day = digits(date.get(8..10)?)?;
    let hour = digits(date.get(11..13)?)?;
    let minute = digits(date.get(14..16)?)?;
    let second = digits(date.get(17..19)?)?;
    if year < 1970
        || !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3_600 + minute * 60 + second;
    secs.checked_mul(1000)?.checked_add(millis)
}

/// The value of ASCII decimal digits (at most four here, so no overflow).
fn digits(b: &[u8]) -> Option<u64> {
    b.iter().try_fold(0u64, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u64::from(c - b'0'))
    })
}

fn days_in_month(year: u64, month: u64) -> u64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
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
        for bad in [
            "2026-12-04T21:20:16.123",
            "2026-12-04 21:20:16.123Z",
            "2026-02-29T00:00:00.000Z",
            "2026-13-01T00:00:00.000Z",
            "1969-12-31T23:59:59.999Z",
            "+02026-12-04T21:20:16.12Z",
            "2026-12-04T24:00:00.000Z",
            "２026-12-04T21:20:16.123Z",
            "",
        ] {
            assert_eq!(parse_js_date(bad), None, "{bad}");
        }
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
        let session_cookie =
            LegacySession::from_json(br#"{"cookie":{"expires":null},"a":1}"#).unwrap();
        assert_eq!(session_cookie.expires_at(), None);
        for (bad, part) in [
            (&b"[1]"[..], "session"),
            (b"{\"a\":1}", "cookie"),
            (b"{\"cookie\":1}", "cookie"),
            (b"{\"cookie\":{\"expires\":5}}", "cookie.expires"),
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
