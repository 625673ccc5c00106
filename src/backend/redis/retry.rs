//! Which failures a read may try again lives in one place, because writes must never come
//! through here: a write whose reply was lost may or may not have happened.

use super::RedisBackend;
use crate::error::{BackendError, BackendErrorKind};

impl RedisBackend {
    /// Runs a read, once more if it failed for want of a connection (dropped, refused, or
    /// none to the node that owns the key) or the server said to try again (a Cluster
    /// moving slots, `TRYAGAIN`, `LOADING`). The second attempt gets no deadline of its
    /// own: the caller's covers both.
    pub(super) async fn read<T, F, Fut>(&self, op: F) -> Result<T, BackendError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, BackendError>>,
    {
        match op().await {
            Err(e)
                if e.kind() == BackendErrorKind::Connection
                    || (e.kind() == BackendErrorKind::Server && e.is_retryable()) =>
            {
                op().await
            }
            other => other,
        }
    }
}
