//! The owner index on Redis: one sorted set per owner, and the two conditional removals the
//! store needs on session values. Each is one script on one key, so it is atomic and works
//! on a Cluster, where an owner's index and their sessions live in different slots.

use redis::{Cmd, RedisError, Value};

use super::RedisBackend;
use super::deadline::deadline_op;
use super::errors::{map_err, unexpected};
use crate::backend::{Fetched, IndexEntry};
use crate::error::BackendError;

/// Functions every index script starts with. An entry is the member `id:added_at` scored
/// by the session's absolute expiry. `drop` removes the entries of one storage id (ids hold
/// no glob characters: the store checks them with `is_index_id`); `settle` removes the
/// entries expired at `now` and sets the key to expire with its latest entry, counted from
/// `now` as the store's TTLs are (an index left empty no longer exists; a planted score that
/// is not a finite number sets no expiry, and a read removes it).
macro_rules! index_functions {
    () => {
        "local function drop(k, id) \
local cursor = '0' \
repeat \
local r = redis.call('ZSCAN', k, cursor, 'MATCH', id .. ':*', 'COUNT', 1000) \
cursor = r[1] \
for i = 1, #r[2], 2 do redis.call('ZREM', k, r[2][i]) end \
until cursor == '0' \
end \
local function settle(k, now) \
redis.call('ZREMRANGEBYSCORE', k, '-inf', now) \
local top = redis.call('ZRANGE', k, -1, -1, 'WITHSCORES') \
local t = top[2] and tonumber(top[2]) \
if t and t == t and t < 9007199254740992 then \
local ttl = math.ceil(t) - tonumber(now) \
if ttl > 0 then redis.call('EXPIRE', k, ttl) end \
end \
end "
    };
}

/// `ARGV`: id, added_at, expires_at, now. `ZSCAN` on a key of another type fails before
/// anything is written.
const ADD_SCRIPT: &str = concat!(
    index_functions!(),
    "drop(KEYS[1], ARGV[1]) ",
    "redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1] .. ':' .. ARGV[2]) ",
    "settle(KEYS[1], ARGV[4]) ",
    "return 1"
);

/// `ARGV`: ids…, now.
const REMOVE_SCRIPT: &str = concat!(
    index_functions!(),
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end ",
    "for i = 1, #ARGV - 1 do drop(KEYS[1], ARGV[i]) end ",
    "settle(KEYS[1], ARGV[#ARGV]) ",
    "return 1"
);

/// `ARGV`: now. Removes what is not an entry of this shape (a member that is not
/// `id:digits`, a score that is not a whole number below 2^53) and returns the entries
/// left as a flat list of (id, added_at, expires_at), earliest expiry first.
const READ_SCRIPT: &str = concat!(
    index_functions!(),
    "if redis.call('EXISTS', KEYS[1]) == 0 then return {} end ",
    "if redis.call('TYPE', KEYS[1]).ok ~= 'zset' then \
return redis.error_reply('WRONGTYPE the key holds something other than an owner index') end ",
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1]) ",
    "local all = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES') ",
    "local out = {} ",
    "for i = 1, #all, 2 do \
local id, added = string.match(all[i], '^([%w_%-]+):(%d+)$') \
local s = tonumber(all[i + 1]) \
if id and #id <= 128 and #added <= 15 and s and s == math.floor(s) and s < 9007199254740992 then \
out[#out + 1] = id out[#out + 1] = added out[#out + 1] = all[i + 1] \
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

/// Ids removed per script call, so one call stays short.
const REMOVE_CHUNK: usize = 1000;

fn eval(script: &str, key: &str) -> Cmd {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(script).arg(1).arg(key);
    cmd
}

fn server_error(reply: &Value) -> Option<BackendError> {
    match reply {
        Value::ServerError(e) => Some(map_err(RedisError::from(e.clone()))),
        _ => None,
    }
}

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
        let mut cmd = eval(ADD_SCRIPT, key);
        cmd.arg(id).arg(added_at).arg(expires_at).arg(now);
        let reply: Value = deadline_op(self.response_timeout, self.query(&cmd)).await?;
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
            let mut cmd = eval(REMOVE_SCRIPT, key);
            for id in chunk {
                cmd.arg(id);
            }
            cmd.arg(now);
            let reply: Value = deadline_op(self.response_timeout, self.query(&cmd)).await?;
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
        let mut cmd = eval(READ_SCRIPT, key);
        cmd.arg(now);
        let reply: Value = deadline_op(
            self.response_timeout,
            self.read(|| self.query::<Value>(&cmd)),
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
        let mut out = Vec::with_capacity(items.len() / 3);
        for triple in items.chunks(3) {
            let entry = match triple {
                [id, added, expires] => (|| {
                    Some(IndexEntry {
                        id: text(id)?,
                        added_at: text(added)?.parse().ok()?,
                        expires_at: text(expires)?.parse().ok()?,
                    })
                })(),
                _ => None,
            };
            out.push(entry.ok_or_else(|| unexpected("EVAL", &Value::Nil))?);
        }
        Ok(out)
    }

    /// `take`: a write, one attempt.
    pub(super) async fn take_value(
        &self,
        key: &str,
        max_len: usize,
    ) -> Result<Fetched, BackendError> {
        let mut cmd = eval(TAKE_SCRIPT, key);
        cmd.arg(max_len);
        let reply: Value = deadline_op(self.response_timeout, self.query(&cmd)).await?;
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
        let mut cmd = eval(CAD_SCRIPT, key);
        cmd.arg(expected);
        let reply: Value = deadline_op(self.response_timeout, self.query(&cmd)).await?;
        match reply {
            Value::Int(1) => Ok(true),
            Value::Int(0) => Ok(false),
            other => Err(server_error(&other).unwrap_or_else(|| unexpected("EVAL", &other))),
        }
    }
}
