//! A write whose reply was lost may or may not have happened, so the writes here get
//! exactly one attempt: they are kept apart from the reads, which `retry.rs` may repeat.
//! (Compare-and-swap, which a Cluster batch may send again, is in `script.rs`.)

use std::time::Duration;

use redis::{Cmd, Value};

use super::deadline::deadline_op;
use super::errors::{task_failed, unexpected};
use super::{Conn, RedisBackend};
use crate::backend::SetMode;
use crate::error::{BackendError, BackendErrorKind};

impl RedisBackend {
    /// `set`: `SET key value [EX ttl] [NX|XX]`.
    pub(super) async fn set_value(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
        mode: SetMode,
    ) -> Result<bool, BackendError> {
        // Sized up front (name, key, value, EX and up to 20 digits, NX/XX): `Cmd` keeps the
        // arguments' bytes back to back, so pushing the value does not grow the buffer, and
        // a grown buffer past 1 KiB costs the system allocator far more than its size
        // suggests.
        let mut cmd =
            Cmd::with_capacity(6, key.len().saturating_add(value.len()).saturating_add(32));
        cmd.arg("SET").arg(key).arg(value);
        if let Some(ttl) = ttl {
            let secs = ttl.as_secs();
            if secs == 0 {
                return Err(BackendError::from_kind(BackendErrorKind::Other)
                    .with_detail("a TTL below one second cannot be stored with EX"));
            }
            cmd.arg("EX").arg(secs);
        }
        match mode {
            SetMode::Upsert => {}
            SetMode::CreateOnly => {
                cmd.arg("NX");
            }
            SetMode::UpdateOnly => {
                cmd.arg("XX");
            }
        }
        let reply: Value = deadline_op(self.response_timeout, self.query(&cmd)).await?;
        match reply {
            Value::Okay => Ok(true),
            Value::Nil => Ok(false),
            other => Err(unexpected("SET", &other)),
        }
    }

    /// `delete`: `UNLINK key`.
    pub(super) async fn unlink(&self, key: &str) -> Result<bool, BackendError> {
        let removed: u64 = deadline_op(
            self.response_timeout,
            self.query(redis::cmd("UNLINK").arg(key)),
        )
        .await?;
        Ok(removed > 0)
    }

    /// `expire`: `EXPIRE key ttl`.
    pub(super) async fn set_expiry(&self, key: &str, ttl: Duration) -> Result<bool, BackendError> {
        let secs = ttl.as_secs();
        if secs == 0 {
            return Err(BackendError::from_kind(BackendErrorKind::Other)
                .with_detail("a TTL below one second cannot be stored with EXPIRE"));
        }
        let mut cmd = redis::cmd("EXPIRE");
        cmd.arg(key).arg(secs);
        let set: u64 = deadline_op(self.response_timeout, self.query(&cmd)).await?;
        Ok(set == 1)
    }

    /// `delete_many`: one pipeline of `UNLINK`s (standalone) or concurrent single-key
    /// `UNLINK`s, each under its own deadline (Cluster).
    pub(super) async fn unlink_many(&self, keys: &[String]) -> Result<u64, BackendError> {
        if keys.is_empty() {
            return Ok(0);
        }
        match &self.conn {
            Conn::Standalone(_) => {
                let mut pipe = redis::pipe();
                for key in keys {
                    pipe.cmd("UNLINK").arg(key);
                }
                let removed: Vec<u64> =
                    deadline_op(self.response_timeout, self.query_pipeline(&pipe)).await?;
                // Each reply is 0 or 1; a server that says otherwise cannot overflow the count.
                Ok(removed
                    .iter()
                    .fold(0u64, |total, n| total.saturating_add((*n).min(1))))
            }
            Conn::Cluster(_) => {
                let mut set = tokio::task::JoinSet::new();
                for key in keys {
                    let (this, key) = (self.clone(), key.clone());
                    set.spawn(async move { this.unlink(&key).await });
                }
                let mut removed = 0;
                while let Some(done) = set.join_next().await {
                    if done.map_err(task_failed)?? {
                        removed += 1;
                    }
                }
                Ok(removed)
            }
        }
    }
}
