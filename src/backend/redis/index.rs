//! The owner index on Redis: one sorted set per owner, and the two conditional removals the
//! store needs on session values. Each is one script on one key, so it is atomic and works
//! on a Cluster, where an owner's index and their sessions live in different slots.

use redis::Value;

use super::RedisBackend;
use super::deadline::deadline_op;
use super::errors::unexpected;
use super::lua::{Lua, server_error};
use crate::backend::{Fetched, IndexEntry};
use crate::error::BackendError;

/// An entry is the member `id` scored by `expires_at + (added_at mod 2^20) / 2^20`: the
/// whole part is the session's absolute expiry, the fraction when the entry was written,
/// modulo 2^20 seconds (about twelve days). Below 2^32 a double holds 20 fractional bits
/// exactly, and Redis prints scores with enough digits to read them back exactly. Writes and
/// removals are then single `ZADD` and `ZREM` calls.
const ADDED_MODULUS: u64 = 1 << 20;

/// Functions every index script starts with. `settle` removes the entries expired at `now`
/// (whole part at most `now`) and sets the key to expire with its latest entry, counted from
/// `now` as the store's TTLs are (an index left empty no longer exists; a planted score that
/// is not a finite number sets no expiry, and a read removes it).
macro_rules! index_functions {
    () => {
        "local function settle(k, now) \
now = tonumber(now) \
redis.call('ZREMRANGEBYSCORE', k, '-inf', '(' .. (now + 1)) \
local top = redis.call('ZRANGE', k, -1, -1, 'WITHSCORES') \
local t = top[2] and tonumber(top[2]) \
if t and t == t and t < 4294967296 then \
local ttl = math.ceil(t) - now \
if ttl > 0 then redis.call('EXPIRE', k, ttl) end \
end \
end "
    };
}

/// `ARGV`: id, score, now. `ZADD` on a key of another type fails before anything is written;
/// `GT` keeps an entry's later expiry when two writes of one session race.
const ADD_SCRIPT: &str = concat!(
    index_functions!(),
    "redis.call('ZADD', KEYS[1], 'GT', ARGV[2], ARGV[1]) ",
    "settle(KEYS[1], ARGV[3]) ",
    "return 1"
);

/// `ARGV`: ids…, now.
const REMOVE_SCRIPT: &str = concat!(
    index_functions!(),
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end ",
    "if #ARGV > 1 then redis.call('ZREM', KEYS[1], unpack(ARGV, 1, #ARGV - 1)) end ",
    "settle(KEYS[1], ARGV[#ARGV]) ",
    "return 1"
);

/// `ARGV`: now. Removes what is not an entry of this shape (a member that is not of the
/// storage-id alphabet, a score that is not a number between 1 and 2^32) and returns the
/// entries left as a flat list of (id, score), earliest expiry first.
const READ_SCRIPT: &str = concat!(
    index_functions!(),
    "if redis.call('EXISTS', KEYS[1]) == 0 then return {} end ",
    "if redis.call('TYPE', KEYS[1]).ok ~= 'zset' then \
return redis.error_reply('WRONGTYPE the key holds something other than an owner index') end ",
    "settle(KEYS[1], ARGV[1]) ",
    "local all = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES') ",
    "local out = {} ",
    "for i = 1, #all, 2 do \
local s = tonumber(all[i + 1]) \
if #all[i] <= 128 and string.match(all[i], '^[%w_%-]+$') and s and s >= 1 and s < 4294967296 then \
out[#out + 1] = all[i] out[#out + 1] = all[i + 1] \
else redis.call('ZREM', KEYS[1], all[i]) end \
end ",
    "settle(KEYS[1], ARGV[1]) ",
    "return out"
);

/// `ARGV`: max_len. Removes the key whatever it holds; returns the value, its length when
/// longer than `max_len`, -1 for a key that held no string, nil for no key.
const TAKE_SCRIPT: &str = "local t = redis.call('TYPE', KEYS[1]).ok \
if t == 'none' then return false end \
if t ~= 'string' then redis.call('DEL', KEYS[1]) return -1 end \
local n = redis.call('STRLEN', KEYS[1]) \
if n > tonumber(ARGV[1]) then redis.call('DEL', KEYS[1]) return n end \
local v = redis.call('GET', KEYS[1]) \
redis.call('DEL', KEYS[1]) \
return v";

/// `ARGV`: expected. Removes the key only while it holds exactly that string.
const CAD_SCRIPT: &str = "if redis.call('TYPE', KEYS[1]).ok ~= 'string' then return 0 end \
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) return 1 end \
return 0";

/// Ids removed per script call (`unpack` has a stack limit).
const REMOVE_CHUNK: usize = 1000;

static ADD: Lua = Lua::new(ADD_SCRIPT);
static REMOVE: Lua = Lua::new(REMOVE_SCRIPT);
static READ: Lua = Lua::new(READ_SCRIPT);
static TAKE: Lua = Lua::new(TAKE_SCRIPT);
static CAD: Lua = Lua::new(CAD_SCRIPT);

impl RedisBackend {
    /// `index_add`: a write, one attempt.
    pub(super) async fn index_add_entry(
        &self,
        key: &str,
        id: &str,
        added_at: u64,
        expires_at: u64,
        now: u64,
    ) -> Result<(), BackendError> {
        let reply = deadline_op(
            self.response_timeout,
            self.run_script(&ADD, key, |cmd| {
                cmd.arg(id).arg(score(added_at, expires_at)).arg(now);
            }),
        )
        .await?;
        match reply {
            Value::Int(1) => Ok(()),
            other => Err(server_error(&other).unwrap_or_else(|| unexpected("EVAL", &other))),
        }
    }

    /// `index_remove`: a write, one attempt per chunk of ids.
    pub(super) async fn index_remove_entries(
        &self,
        key: &str,
        ids: &[String],
        now: u64,
    ) -> Result<(), BackendError> {
        for chunk in ids.chunks(REMOVE_CHUNK) {
            let reply = deadline_op(
                self.response_timeout,
                self.run_script(&REMOVE, key, |cmd| {
                    for id in chunk {
                        cmd.arg(id);
                    }
                    cmd.arg(now);
                }),
            )
            .await?;
            match reply {
                Value::Int(0 | 1) => {}
                other => {
                    return Err(server_error(&other).unwrap_or_else(|| unexpected("EVAL", &other)));
                }
            }
        }
        Ok(())
    }

    /// `index_read`: prunes and reads; retried once like a read (pruning twice is pruning).
    pub(super) async fn index_entries(
        &self,
        key: &str,
        now: u64,
    ) -> Result<Vec<IndexEntry>, BackendError> {
        let reply = deadline_op(
            self.response_timeout,
            self.read(|| {
                self.run_script(&READ, key, |cmd| {
                    cmd.arg(now);
                })
            }),
        )
        .await?;
        let Value::Array(items) = reply else {
            return Err(server_error(&reply).unwrap_or_else(|| unexpected("EVAL", &reply)));
        };
        let text = |v: &Value| match v {
            Value::BulkString(b) => std::str::from_utf8(b).ok().map(str::to_owned),
            Value::SimpleString(s) => Some(s.clone()),
            Value::Int(n) => Some(n.to_string()),
            _ => None,
        };
        let mut out = Vec::with_capacity(items.len() / 2);
        for pair in items.chunks(2) {
            let entry = match pair {
                [id, score] => text(id).zip(text(score).and_then(|s| s.parse::<f64>().ok())),
                _ => None,
            };
            let (id, score) = entry.ok_or_else(|| unexpected("EVAL", &Value::Nil))?;
            // Scores the script returns are finite, from 1 to 2^32; one with a fraction that is
            // not a multiple of 2^-20 was not written by this backend and reads as just added
            // (kept, never pruned as stale, until it expires).
            let (expires_at, added_at) = entry_times(score, now);
            out.push(IndexEntry {
                id,
                added_at,
                expires_at,
            });
        }
        Ok(out)
    }

    /// `take`: a write, one attempt.
    pub(super) async fn take_value(
        &self,
        key: &str,
        max_len: usize,
    ) -> Result<Fetched, BackendError> {
        let reply = deadline_op(
            self.response_timeout,
            self.run_script(&TAKE, key, |cmd| {
                cmd.arg(max_len);
            }),
        )
        .await?;
        match reply {
            Value::Nil => Ok(Fetched::Missing),
            Value::BulkString(v) if v.len() <= max_len => Ok(Fetched::Value(v)),
            Value::BulkString(v) => Ok(Fetched::TooLarge { len: v.len() }),
            Value::Int(-1) => Ok(Fetched::NotBytes),
            Value::Int(n) => Ok(Fetched::TooLarge {
                len: usize::try_from(n).unwrap_or(usize::MAX),
            }),
            other => Err(server_error(&other).unwrap_or_else(|| unexpected("EVAL", &other))),
        }
    }

    /// `compare_and_delete`: a write, one attempt.
    pub(super) async fn delete_if(&self, key: &str, expected: &[u8]) -> Result<bool, BackendError> {
        let reply = deadline_op(
            self.response_timeout,
            self.run_script(&CAD, key, |cmd| {
                cmd.arg(expected);
            }),
        )
        .await?;
        match reply {
            Value::Int(1) => Ok(true),
            Value::Int(0) => Ok(false),
            other => Err(server_error(&other).unwrap_or_else(|| unexpected("EVAL", &other))),
        }
    }
}

/// The score of an entry: see [`ADDED_MODULUS`].
fn score(added_at: u64, expires_at: u64) -> String {
    // Whole seconds below 2^32 and a fraction of 20 bits: the sum is exact in an f64, and
    // `Display` prints the shortest text that reads back as the same number.
    let fraction = (added_at % ADDED_MODULUS) as f64 / ADDED_MODULUS as f64;
    format!("{}", expires_at.min(u64::from(u32::MAX)) as f64 + fraction)
}

/// The expiry and the time written of a score, read near `now`: the time within six days of
/// `now` (before or after it: the caller's `now` may be a pruning time, and a writer's clock
/// may run ahead) with the score's `added_at mod 2^20`. Exact for entries written within six
/// days of `now`; an older one reads as younger than it is, which only keeps it longer.
fn entry_times(score: f64, now: u64) -> (u64, u64) {
    let whole = score.floor();
    let scaled = (score - whole) * ADDED_MODULUS as f64;
    let expires_at = whole as u64;
    if scaled != scaled.floor() {
        return (expires_at, now);
    }
    let added_mod = scaled as u64 % ADDED_MODULUS;
    let ahead = (added_mod + ADDED_MODULUS - now % ADDED_MODULUS) % ADDED_MODULUS;
    let added_at = if ahead <= ADDED_MODULUS / 2 {
        now.saturating_add(ahead)
    } else {
        now.saturating_sub(ADDED_MODULUS - ahead)
    };
    (expires_at, added_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_carry_expiry_and_write_time_exactly() {
        let now = 1_800_000_000;
        for (added, expires) in [
            (now, now + 604_800),
            (now - 599, now + 1),
            (now - 1, now + 10 * 365 * 86_400),
            (now - (ADDED_MODULUS - 1), now + 5),
            (0, 1),
        ] {
            let text = score(added, expires);
            let back: f64 = text.parse().unwrap_or(f64::NAN);
            let (e, a) = entry_times(back, now);
            assert_eq!(e, expires, "{text}");
            if now - added <= ADDED_MODULUS / 2 {
                assert_eq!(a, added, "{text}");
            } else {
                // Older than six days: never read as older than it is.
                assert!(a >= added, "{text}");
            }
            // What Redis prints (17 significant digits) reads back to the same score.
            let printed = format!("{:.*e}", 16, back);
            assert_eq!(printed.parse::<f64>().ok(), Some(back), "{printed}");
        }
        // A fraction this backend never writes reads as just added.
        assert_eq!(
            entry_times(1_800_000_000.1, 1_800_000_000),
            (1_800_000_000, 1_800_000_000)
        );
    }
}
