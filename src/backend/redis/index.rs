//! The owner index on Redis: one sorted set per owner, and the two conditional removals the
//! store needs on session values. Each is one script on one key, so it is atomic and works
//! on a Cluster, where an owner's index and their sessions live in different slots.

use redis::{Cmd, RedisError, Value};

use super::RedisBackend;
use super::deadline::deadline_op;
use super::errors::{map_err, unexpected};
use crate::backend::{Fetched, IndexEntry};
use crate::error::BackendError;

/// The tail every index script shares: drop members scored at or before `now` (the last
/// argument), then expire the key with its highest score (an empty set no longer exists).
macro_rules! prune_and_expire {
    () => {
        "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[#ARGV]) \
local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES') \
if top[2] then redis.call('EXPIREAT', KEYS[1], top[2]) end "
    };
}

/// `ARGV`: member, score, now. `ZADD` on a key of another type fails before anything is
/// written.
const ADD_SCRIPT: &str = concat!(
    "redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1]) ",
    prune_and_expire!(),
    "return 1"
);

/// `ARGV`: members…, now.
const REMOVE_SCRIPT: &str = concat!(
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end ",
    "if #ARGV > 1 then redis.call('ZREM', KEYS[1], unpack(ARGV, 1, #ARGV - 1)) end ",
    prune_and_expire!(),
    "return 1"
);

/// `ARGV`: members…, until, now.
const SHORTEN_SCRIPT: &str = concat!(
    "if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end ",
    "local limit = tonumber(ARGV[#ARGV - 1]) ",
    "for i = 1, #ARGV - 2 do \
local s = redis.call('ZSCORE', KEYS[1], ARGV[i]) \
if s and tonumber(s) > limit then redis.call('ZADD', KEYS[1], 'XX', limit, ARGV[i]) end end ",
    prune_and_expire!(),
    "return 1"
);

/// `ARGV`: now. Returns the members left, with their scores, lowest score first.
const READ_SCRIPT: &str = concat!(
    "if redis.call('EXISTS', KEYS[1]) == 0 then return {} end ",
    "if redis.call('TYPE', KEYS[1]).ok ~= 'zset' then \
return redis.error_reply('WRONGTYPE the key holds something other than an owner index') end ",
    prune_and_expire!(),
    "return redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')"
);

/// `ARGV`: max_len. Removes the key whatever it holds; returns the value, its length when
/// longer than `max_len`, -1 for a key that held no string, nil for no key.
const TAKE_SCRIPT: &str = "local t = redis.call('TYPE', KEYS[1]).ok \
if t == 'none' then return false end \
if t ~= 'string' then redis.call('DEL', KEYS[1]) return -1 end \
local n = redis.call('STRLEN', KEYS[1]) \
if n > tonumber(ARGV[1]) then redis.call('DEL', KEYS[1]) return n end \
return redis.call('GETDEL', KEYS[1])";

/// `ARGV`: expected. Removes the key only while it holds exactly that string.
const CAD_SCRIPT: &str = "if redis.call('TYPE', KEYS[1]).ok ~= 'string' then return 0 end \
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) return 1 end \
return 0";

/// Members removed per script call: `unpack` has a stack limit.
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
    pub(super) async fn index_add_member(
        &self,
        key: &str,
        member: &str,
        expires_at: u64,
        now: u64,
    ) -> Result<(), BackendError> {
        let mut cmd = eval(ADD_SCRIPT, key);
        cmd.arg(member).arg(expires_at).arg(now);
        let reply: Value = deadline_op(self.response_timeout, self.query(&cmd)).await?;
        match reply {
            Value::Int(1) => Ok(()),
            other => Err(server_error(&other).unwrap_or_else(|| unexpected("EVAL", &other))),
        }
    }

    /// `index_remove`: a write, one attempt per chunk of members.
    pub(super) async fn index_remove_members(
        &self,
        key: &str,
        members: &[String],
        now: u64,
    ) -> Result<(), BackendError> {
        let mut chunks: Vec<&[String]> = members.chunks(REMOVE_CHUNK).collect();
        if chunks.is_empty() {
            chunks.push(&[]);
        }
        for chunk in chunks {
            let mut cmd = eval(REMOVE_SCRIPT, key);
            for member in chunk {
                cmd.arg(member);
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

    /// `index_shorten`: a write (lowering a score twice is lowering it once), one attempt.
    pub(super) async fn index_shorten_members(
        &self,
        key: &str,
        members: &[String],
        until: u64,
        now: u64,
    ) -> Result<(), BackendError> {
        for chunk in members.chunks(REMOVE_CHUNK) {
            let mut cmd = eval(SHORTEN_SCRIPT, key);
            for member in chunk {
                cmd.arg(member);
            }
            cmd.arg(until).arg(now);
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
    pub(super) async fn index_members(
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
        let mut out = Vec::with_capacity(items.len() / 2);
        for pair in items.chunks(2) {
            let [member, score] = pair else {
                return Err(unexpected("EVAL", &Value::Nil));
            };
            let member = match member {
                Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
                Value::SimpleString(s) => s.clone(),
                other => return Err(unexpected("EVAL", other)),
            };
            let score = match score {
                Value::BulkString(b) => std::str::from_utf8(b).ok().and_then(parse_score),
                Value::SimpleString(s) => parse_score(s),
                Value::Int(n) => u64::try_from(*n).ok(),
                _ => None,
            };
            // A planted member with a score that is no Unix time (negative, fractional, inf)
            // is returned with score 0: the store then treats it as expired.
            out.push(IndexEntry {
                member,
                expires_at: score.unwrap_or(0),
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

/// A score as Redis prints it, when it is a whole number of seconds.
fn parse_score(text: &str) -> Option<u64> {
    text.parse::<u64>().ok()
}
