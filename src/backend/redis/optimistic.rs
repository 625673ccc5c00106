//! The optimistic save: one script compares the stored value's identifying bytes (an
//! envelope's salt) and writes only while they are still the ones the session was loaded
//! from. Only those bytes cross the network for the comparison, not the whole stored value.

use std::time::Duration;

use redis::Value;

use super::RedisBackend;
use super::deadline::deadline_op;
use super::errors::unexpected;
use super::lua::{Lua, server_error};
use crate::backend::{Conditional, Expect};
use crate::error::{BackendError, BackendErrorKind};

/// `ARGV`: offset, expected bytes, new value, TTL in seconds (0: none). Returns 1 when it
/// wrote, 0 for no key, 2 when something else is stored (a value without the expected bytes
/// there, or a key of another type). The common case costs two calls (`GETRANGE`, `SET`);
/// `GETRANGE` on a key of another type is an error, which `pcall` turns into a table, and
/// on a missing key an empty string, which only `EXISTS` tells from a short value. `SET`
/// without `EX` clears a TTL, as a plain save without one does.
const SET_IF_SCRIPT: &str = "local n = #ARGV[2] \
if n == 0 then return 2 end \
local at = tonumber(ARGV[1]) \
local found = redis.pcall('GETRANGE', KEYS[1], at, at + n - 1) \
if found == ARGV[2] then \
if ARGV[4] == '0' then redis.call('SET', KEYS[1], ARGV[3]) \
else redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[4]) end \
return 1 end \
if type(found) == 'table' then return 2 end \
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end \
return 2";

static SET_IF: Lua = Lua::new(SET_IF_SCRIPT);

/// `ARGV`: offset, expected bytes. Removes the key only while it holds them; answers as
/// [`SET_IF_SCRIPT`] does.
const DELETE_IF_SCRIPT: &str = "local t = redis.call('TYPE', KEYS[1]).ok \
if t == 'none' then return 0 end \
if t ~= 'string' then return 2 end \
local at = tonumber(ARGV[1]) \
if #ARGV[2] == 0 or redis.call('GETRANGE', KEYS[1], at, at + #ARGV[2] - 1) ~= ARGV[2] then \
return 2 end \
redis.call('DEL', KEYS[1]) \
return 1";

static DELETE_IF: Lua = Lua::new(DELETE_IF_SCRIPT);

impl RedisBackend {
    /// `set_if`: a write, one attempt.
    pub(super) async fn set_if_unchanged(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
        expect: Expect<'_>,
    ) -> Result<Conditional, BackendError> {
        let secs = match ttl {
            None => 0,
            Some(ttl) if ttl.as_secs() == 0 => {
                return Err(BackendError::from_kind(BackendErrorKind::Other)
                    .with_detail("a TTL below one second cannot be stored with EX"));
            }
            Some(ttl) => ttl.as_secs(),
        };
        if expect.bytes.is_empty() {
            return Err(BackendError::from_kind(BackendErrorKind::Other)
                .with_detail("an optimistic write needs bytes to compare"));
        }
        let reply = deadline_op(
            self.response_timeout,
            self.run_script(&SET_IF, key, |cmd| {
                cmd.arg(expect.at).arg(expect.bytes).arg(value).arg(secs);
            }),
        )
        .await?;
        conditional(reply)
    }

    /// `delete_if`: a write, one attempt.
    pub(super) async fn delete_if_unchanged(
        &self,
        key: &str,
        expect: Expect<'_>,
    ) -> Result<Conditional, BackendError> {
        if expect.bytes.is_empty() {
            return Err(BackendError::from_kind(BackendErrorKind::Other)
                .with_detail("a conditional removal needs bytes to compare"));
        }
        let reply = deadline_op(
            self.response_timeout,
            self.run_script(&DELETE_IF, key, |cmd| {
                cmd.arg(expect.at).arg(expect.bytes);
            }),
        )
        .await?;
        conditional(reply)
    }
}

fn conditional(reply: Value) -> Result<Conditional, BackendError> {
    match reply {
        Value::Int(1) => Ok(Conditional::Done),
        Value::Int(0) => Ok(Conditional::Missing),
        Value::Int(2) => Ok(Conditional::Changed),
        other => Err(server_error(&other).unwrap_or_else(|| unexpected("EVAL", &other))),
    }
}
