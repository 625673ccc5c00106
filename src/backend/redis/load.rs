//! A load must never pull a whole oversized value over the network (a planted 500 MiB
//! string would otherwise cost that much memory per read), and GETRANGE, which bounds the
//! transfer, cannot tell a missing key from an empty value: the bounded reads, single and
//! batched, and the follow-up `EXISTS` that settles that question live together here.

use redis::{Cmd, Value};

use super::deadline::deadline_op;
use super::errors::{map_err, task_failed, unexpected};
use super::lua::{Lua, server_error};
use super::{Conn, RedisBackend};
use crate::backend::Fetched;
use crate::error::{BackendError, BackendErrorKind};

/// The largest string a Redis server stores by default (`proto-max-bulk-len`, which the
/// server's configuration can raise). It also keeps GETRANGE's end well inside the signed
/// 64-bit range the server parses it in.
const MAX_REDIS_STRING: usize = 512 * 1024 * 1024;

/// `ARGV`: the range's end. GETRANGE and, when that reads "", EXISTS, in one step: the
/// value read (never empty), or 0 for no key, 1 for an empty value, -1 for a key of another
/// type.
const EMPTY_OR_MISSING_SCRIPT: &str = "local v = redis.pcall('GETRANGE', KEYS[1], 0, ARGV[1]) \
if type(v) == 'table' then return -1 end \
if v ~= '' then return v end \
return redis.call('EXISTS', KEYS[1])";

static EMPTY_OR_MISSING: Lua = Lua::new(EMPTY_OR_MISSING_SCRIPT);

impl RedisBackend {
    /// `get`: one deadline for the whole operation, retry and follow-up included.
    pub(super) async fn get_value(
        &self,
        key: &str,
        max_len: usize,
    ) -> Result<Fetched, BackendError> {
        deadline_op(self.response_timeout, self.get_unbounded(key, max_len)).await
    }

    /// `get` without its overall deadline: GETRANGE, and EXISTS when that returns nothing.
    async fn get_unbounded(&self, key: &str, max_len: usize) -> Result<Fetched, BackendError> {
        // Bounds past the largest default string mean "all of it". (On a server configured
        // for longer strings, a bound past 512 MiB would read such a value cut short.)
        self.get_range(key, max_len.min(MAX_REDIS_STRING), max_len)
            .await
    }

    /// `get_many`: each value in full, up to `max_len` bytes.
    pub(super) async fn get_many_bounded(
        &self,
        keys: &[String],
        max_len: usize,
    ) -> Result<Vec<Fetched>, BackendError> {
        self.get_many_range(keys, max_len.min(MAX_REDIS_STRING), max_len)
            .await
    }

    /// `get_many_prefix`: the first `len` bytes of each value, never reported as too large.
    pub(super) async fn get_many_prefixes(
        &self,
        keys: &[String],
        len: usize,
    ) -> Result<Vec<Fetched>, BackendError> {
        if len == 0 {
            // GETRANGE's end is inclusive, so no range reads nothing: read one byte and
            // drop it, which still tells missing keys and non-strings apart.
            let mut out = self.get_many_range(keys, 0, usize::MAX).await?;
            for fetched in &mut out {
                if let Fetched::Value(value) = fetched {
                    value.clear();
                }
            }
            return Ok(out);
        }
        // Bytes 0..len, never reported as too large.
        self.get_many_range(keys, (len - 1).min(MAX_REDIS_STRING), usize::MAX)
            .await
    }

    /// Bytes `0..=end` of the value under `key`; longer than `max_len` is `TooLarge`.
    ///
    /// GETRANGE answers "" both for a missing key and for an empty value. An EXISTS sent
    /// after it could see a key another client created in between, and report a value
    /// that was never stored; so an empty answer is settled by one script that reads the
    /// range again and asks EXISTS in the same step (a round trip on this path only).
    async fn get_range(
        &self,
        key: &str,
        end: usize,
        max_len: usize,
    ) -> Result<Fetched, BackendError> {
        // Sized up front: the name, the key and two numbers of at most 20 digits.
        let mut getrange = Cmd::with_capacity(4, key.len().saturating_add(48));
        getrange.arg("GETRANGE").arg(key).arg(0).arg(end);
        let mut value: Vec<u8> = match self.read(|| self.query(&getrange)).await {
            Err(e) if is_wrong_type(&e) => return Ok(Fetched::NotBytes),
            other => other?,
        };
        if value.is_empty() {
            let script = self
                .read(|| {
                    self.run_script(&EMPTY_OR_MISSING, key, |cmd| {
                        cmd.arg(end);
                    })
                })
                .await;
            let reply = match script {
                Ok(reply) => reply,
                // A user whose ACL refuses scripts gets the two-step answer, in which a key
                // created between the two reads looks empty (and is then refused).
                Err(e) if e.kind() == BackendErrorKind::Server => {
                    let mut exists = redis::cmd("EXISTS");
                    exists.arg(key);
                    let found: i64 = self.read(|| self.query(&exists)).await?;
                    Value::Int(found.min(1))
                }
                Err(e) => return Err(e),
            };
            match reply {
                Value::Int(0) => return Ok(Fetched::Missing),
                Value::Int(1) => return Ok(Fetched::Value(Vec::new())),
                Value::Int(-1) => return Ok(Fetched::NotBytes),
                Value::BulkString(bytes) => value = bytes,
                other => {
                    return Err(
                        server_error(&other).unwrap_or_else(|| unexpected("GETRANGE", &other))
                    );
                }
            }
        }
        if value.len() > max_len {
            // Only max_len + 1 bytes were transferred; the rest stays on the server.
            value.clear();
            return Ok(Fetched::TooLarge {
                len: max_len.saturating_add(1),
            });
        }
        Ok(Fetched::Value(value))
    }

    /// Bytes `0..=end` of each key's value, one pipeline (standalone) or one pipeline per
    /// primary (Cluster); values longer than `max_len` are `TooLarge`.
    async fn get_many_range(
        &self,
        keys: &[String],
        end: usize,
        max_len: usize,
    ) -> Result<Vec<Fetched>, BackendError> {
        if keys.is_empty() {
            return Ok(Vec::new()); // the `redis` crate refuses an empty pipeline
        }
        match &self.conn {
            // One pipeline of single-key commands: one round trip for the whole batch.
            Conn::Standalone(_) => {
                let batch = async {
                    let mut pipe = redis::pipe();
                    // Per-command replies, so one odd key (a hash planted under a session
                    // key) does not fail the whole page.
                    pipe.ignore_errors();
                    for key in keys {
                        pipe.cmd("GETRANGE").arg(key).arg(0).arg(end);
                    }
                    let ranges: Vec<Value> = self.read(|| self.query_pipeline(&pipe)).await?;
                    if ranges.len() != keys.len() {
                        return Err(unexpected("GETRANGE", &Value::Nil));
                    }
                    // GETRANGE answers "" for a missing key and for an empty value alike:
                    // only those keys (normally none) are asked EXISTS, in a second pipeline.
                    let empty: Vec<usize> = ranges
                        .iter()
                        .enumerate()
                        .filter(|(_, r)| matches!(r, Value::BulkString(b) if b.is_empty()))
                        .map(|(i, _)| i)
                        .collect();
                    let mut exists = vec![Value::Int(1); keys.len()];
                    if !empty.is_empty() {
                        let mut pipe = redis::pipe();
                        pipe.ignore_errors();
                        for key in empty.iter().filter_map(|&i| keys.get(i)) {
                            pipe.cmd("EXISTS").arg(key);
                        }
                        let found: Vec<Value> = self.read(|| self.query_pipeline(&pipe)).await?;
                        if found.len() != empty.len() {
                            return Err(unexpected("EXISTS", &Value::Nil));
                        }
                        for (&i, reply) in empty.iter().zip(found) {
                            if let Some(slot) = exists.get_mut(i) {
                                *slot = reply;
                            }
                        }
                    }
                    let mut out: Vec<Fetched> = ranges
                        .iter()
                        .zip(&exists)
                        .map(|(range, exists)| fetched_from(range, exists, max_len))
                        .collect::<Result<_, _>>()?;
                    // Read "" yet existing: created between the two pipelines (or truly
                    // empty), settled one by one as a single read settles it.
                    for i in empty {
                        if let (Some(slot @ Fetched::Value(_)), Some(key)) =
                            (out.get_mut(i), keys.get(i))
                        {
                            *slot = self.get_range(key, end, max_len).await?;
                        }
                    }
                    Ok(out)
                };
                deadline_op(self.response_timeout, batch).await
            }
            // Keys of a batch live in different hash slots: single-key commands, pipelined
            // per primary, never one multi-key command.
            Conn::Cluster(c) => {
                let mut out: Vec<Fetched> = vec![Fetched::Missing; keys.len()];
                let cmds = keys
                    .iter()
                    .enumerate()
                    .map(|(i, key)| {
                        let mut cmd = redis::cmd("GETRANGE");
                        cmd.arg(key).arg(0).arg(end);
                        (i, key.as_str(), cmd)
                    })
                    .collect();
                let (answered, mut rest) =
                    deadline_op(self.response_timeout, self.cluster_pipelines(c, cmds)).await?;
                for (i, range) in answered {
                    match &range {
                        // Missing or empty: told apart one by one below, as are redirects.
                        Value::BulkString(bytes) if bytes.is_empty() => rest.push(i),
                        _ => {
                            if let Some(slot) = out.get_mut(i) {
                                *slot = fetched_from(&range, &Value::Int(1), max_len)?;
                            }
                        }
                    }
                }
                let mut set = tokio::task::JoinSet::new();
                // Each task carries its own deadline.
                for i in rest {
                    let Some(key) = keys.get(i) else { continue };
                    let (this, key) = (self.clone(), key.clone());
                    set.spawn(async move {
                        let fetched =
                            deadline_op(this.response_timeout, this.get_range(&key, end, max_len))
                                .await;
                        (i, fetched)
                    });
                }
                while let Some(done) = set.join_next().await {
                    let (i, fetched) = done.map_err(task_failed)?;
                    if let Some(slot) = out.get_mut(i) {
                        *slot = fetched?;
                    }
                }
                Ok(out)
            }
        }
    }
}

/// True for a WRONGTYPE reply: the key holds something other than a string (a hash, a
/// list, a set…).
fn is_wrong_type(e: &BackendError) -> bool {
    e.code() == Some("WRONGTYPE")
}

/// One key's outcome from a pipelined `GETRANGE` + `EXISTS` pair.
fn fetched_from(range: &Value, exists: &Value, max_len: usize) -> Result<Fetched, BackendError> {
    match (range, exists) {
        (Value::ServerError(e), _) if e.code() == "WRONGTYPE" => Ok(Fetched::NotBytes),
        (Value::ServerError(e), _) | (_, Value::ServerError(e)) => {
            let code = e.code().to_owned();
            Err(map_err(redis::RedisError::from(e.clone())).with_code(&code))
        }
        (_, Value::Int(0)) => Ok(Fetched::Missing),
        (Value::BulkString(bytes), _) if bytes.len() > max_len => Ok(Fetched::TooLarge {
            len: max_len.saturating_add(1),
        }),
        (Value::BulkString(bytes), _) => Ok(Fetched::Value(bytes.clone())),
        (other, _) => Err(unexpected("GETRANGE", other)),
    }
}
