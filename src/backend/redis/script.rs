//! A compare-and-swap must read and write its key with nothing in between; on a connection
//! multiplexed between every task, only a server-side script gives that (`WATCH`/`MULTI`
//! would need a connection of its own). The script and the ways it is sent (`EVAL` for one
//! swap and on a Cluster, `SCRIPT LOAD` then `EVALSHA` for a standalone batch) are kept
//! together, because what the script answers decides how its replies are read.

use redis::{Cmd, RedisError, Value};

use super::deadline::deadline_op;
use super::errors::{map_err, task_failed, unexpected};
use super::{Conn, RedisBackend};
use crate::backend::Swap;
use crate::error::BackendError;

/// Replaces `KEYS[1]` with `ARGV[2]` only while it holds exactly `ARGV[1]`, keeping its TTL.
/// A missing key or anything but a string under it (a hash, say) is left alone; any other
/// failure (an ACL refusing `GET` or `SET`, say) is an error, never a silent "changed".
/// Single swaps, and every swap on a Cluster, go out as `EVAL`; standalone batches load the
/// script and use `EVALSHA`.
const CAS_SCRIPT: &str = "if redis.call('TYPE', KEYS[1]).ok ~= 'string' then return 0 end \
if redis.call('GET', KEYS[1]) == ARGV[1] then \
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL') return 1 end return 0";

/// Largest payload of one compare-and-swap pipeline, so a page of large values does not
/// become one huge request under one deadline.
const CAS_PIPELINE_BYTES: usize = 4 * 1024 * 1024;

impl RedisBackend {
    /// `compare_and_swap`.
    pub(super) async fn swap(
        &self,
        key: &str,
        expected: &[u8],
        new: &[u8],
    ) -> Result<bool, BackendError> {
        // A write: one attempt, never replayed.
        let reply: Value = deadline_op(
            self.response_timeout,
            self.query(&cas_cmd(key, expected, new)),
        )
        .await?;
        cas_result(&reply)
    }

    /// `compare_and_swap_many`.
    pub(super) async fn swap_many(&self, swaps: &[Swap<'_>]) -> Result<Vec<bool>, BackendError> {
        if swaps.is_empty() {
            return Ok(Vec::new());
        }
        match &self.conn {
            Conn::Standalone(_) => {
                // Pipelines of at most about 4 MiB each, every one under its own deadline.
                // Replies are per command, so one refused script (OOM, NOPERM) is reported
                // as that server error rather than as a broken pipeline.
                let mut out = Vec::with_capacity(swaps.len());
                let mut rest = swaps;
                while !rest.is_empty() {
                    // At least one swap per chunk, then as many as fit in the byte budget.
                    let mut bytes = 0usize;
                    let mut take = 0usize;
                    for swap in rest {
                        bytes += swap.expected.len() + swap.new.len() + swap.key.len();
                        if take > 0 && bytes > CAS_PIPELINE_BYTES {
                            break;
                        }
                        take += 1;
                    }
                    // `take.min(rest.len())` keeps the split point in bounds.
                    let (chunk, tail) = rest.split_at(take.min(rest.len()));
                    rest = tail;
                    // SCRIPT LOAD first, in the same pipeline on the same connection, so the
                    // EVALSHAs after it find the script: Redis hashes the script once per
                    // page instead of once per key. (They do not when the load is refused and
                    // the script was not cached, or when another client flushes the script
                    // cache in between: then they answer NOSCRIPT and the page fails.)
                    let mut pipe = redis::pipe();
                    pipe.ignore_errors();
                    pipe.cmd("SCRIPT").arg("LOAD").arg(CAS_SCRIPT);
                    let hash = cas_script_hash();
                    for swap in chunk {
                        pipe.cmd("EVALSHA")
                            .arg(hash)
                            .arg(1)
                            .arg(swap.key)
                            .arg(swap.expected)
                            .arg(swap.new);
                    }
                    let replies: Vec<Value> =
                        deadline_op(self.response_timeout, self.query_pipeline(&pipe)).await?;
                    let Some((loaded, replies)) = replies.split_first() else {
                        return Err(unexpected("EVALSHA", &Value::Nil));
                    };
                    if replies.len() != chunk.len() {
                        return Err(unexpected("EVALSHA", &Value::Nil));
                    }
                    // A refused SCRIPT LOAD matters only if the script was not cached
                    // already: then the EVALSHAs answer NOSCRIPT, and the load's own error
                    // (NOPERM, say) is the one worth reporting.
                    let noscript = replies
                        .iter()
                        .any(|r| matches!(r, Value::ServerError(e) if e.code() == "NOSCRIPT"));
                    if let (Value::ServerError(e), true) = (loaded, noscript) {
                        let code = e.code().to_owned();
                        return Err(map_err(RedisError::from(e.clone())).with_code(&code));
                    }
                    for reply in replies {
                        out.push(cas_result(reply)?);
                    }
                }
                Ok(out)
            }
            Conn::Cluster(c) => {
                let mut out = vec![false; swaps.len()];
                let cmds = swaps
                    .iter()
                    .enumerate()
                    .map(|(i, swap)| (i, swap.key, cas_cmd(swap.key, swap.expected, swap.new)))
                    .collect();
                let (answered, rest) =
                    deadline_op(self.response_timeout, self.cluster_pipelines(c, cmds)).await?;
                for (i, reply) in answered {
                    if let Some(slot) = out.get_mut(i) {
                        *slot = cas_result(&reply)?;
                    }
                }
                // Swaps of a redirected pipeline, sent again one by one. Some of them may
                // have run already (only one key of the pipeline need have moved): a swap
                // replaces only the exact value it expects, so sending it again leaves any
                // other value alone, but one that did run now reports `false`.
                let mut set = tokio::task::JoinSet::new();
                for i in rest {
                    let Some(swap) = swaps.get(i) else { continue };
                    let this = self.clone();
                    let cmd = cas_cmd(swap.key, swap.expected, swap.new);
                    set.spawn(async move {
                        let reply: Result<Value, _> =
                            deadline_op(this.response_timeout, this.query(&cmd)).await;
                        (i, reply.and_then(|r| cas_result(&r)))
                    });
                }
                while let Some(done) = set.join_next().await {
                    let (i, swapped) = done.map_err(task_failed)?;
                    if let Some(slot) = out.get_mut(i) {
                        *slot = swapped?;
                    }
                }
                Ok(out)
            }
        }
    }
}

/// The SHA-1 of [`CAS_SCRIPT`], as `EVALSHA` wants it.
fn cas_script_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| redis::Script::new(CAS_SCRIPT).get_hash().to_owned())
}

fn cas_cmd(key: &str, expected: &[u8], new: &[u8]) -> Cmd {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(CAS_SCRIPT).arg(1).arg(key).arg(expected).arg(new);
    cmd
}

fn cas_result(reply: &Value) -> Result<bool, BackendError> {
    match reply {
        Value::Int(1) => Ok(true),
        Value::Int(0) => Ok(false),
        Value::ServerError(e) => Err(map_err(RedisError::from(e.clone()))),
        other => Err(unexpected("EVAL", other)),
    }
}
