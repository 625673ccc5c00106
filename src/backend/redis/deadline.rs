//! A frozen server or a stuck reconnect must give a timeout, never a hang, and the standalone
//! connection has no timer of its own (see `manager_config` in `connect.rs`): every await on
//! the server goes through one of these two.

use std::time::Duration;

use redis::RedisError;

use super::errors::map_err;
use crate::error::{BackendError, BackendErrorKind};

/// Bounds one call into the `redis` crate (dialling, mostly) by `limit`.
pub(super) async fn deadline<T>(
    limit: Duration,
    call: impl Future<Output = Result<T, RedisError>>,
) -> Result<T, BackendError> {
    match tokio::time::timeout(limit, call).await {
        Ok(result) => result.map_err(map_err),
        Err(_) => Err(BackendError::from_kind(BackendErrorKind::Timeout)),
    }
}

/// Bounds a backend operation (several round trips, a retry), or one step of a batch, by
/// one deadline.
pub(super) async fn deadline_op<T>(
    limit: Duration,
    op: impl Future<Output = Result<T, BackendError>>,
) -> Result<T, BackendError> {
    match tokio::time::timeout(limit, op).await {
        Ok(result) => result,
        Err(_) => Err(BackendError::from_kind(BackendErrorKind::Timeout)),
    }
}
