//! Every operation must classify failures alike (the store and its callers go by
//! [`BackendError::is_retryable`] and the kind), and a [`BackendError`] may print only its
//! kind, the server's error code and a fixed description, never the rest of what the server
//! sent: so a `redis::RedisError` becomes one here, and replies of the wrong shape are
//! described here, for every operation.

use redis::{RedisError, Value};

use crate::error::{BackendError, BackendErrorKind};

pub(super) fn map_err(e: RedisError) -> BackendError {
    use redis::RetryMethod;
    if e.is_timeout() {
        return BackendError::new(BackendErrorKind::Timeout, e);
    }
    if e.is_connection_refusal() {
        return BackendError::new(BackendErrorKind::Connection, e)
            .with_detail("the server refused the connection");
    }
    if e.is_connection_dropped() {
        return BackendError::new(BackendErrorKind::Connection, e)
            .with_detail("the connection was dropped");
    }
    if matches!(e.kind(), redis::ErrorKind::ClusterConnectionNotFound) {
        return BackendError::new(BackendErrorKind::Connection, e)
            .with_detail("no connection to the cluster node that owns the key");
    }
    if matches!(
        e.kind(),
        redis::ErrorKind::Server(_) | redis::ErrorKind::Extension
    ) || e.code().is_some()
    {
        // A reply from the server. Transient ones (cluster reconfiguring, loading, a
        // failover in progress) may be retried; the rest (WRONGTYPE, NOAUTH, OOM) not.
        let transient = matches!(
            e.retry_method(),
            RetryMethod::WaitAndRetry
                | RetryMethod::AskRedirect
                | RetryMethod::MovedRedirect
                | RetryMethod::RefreshSlotsAndRetry
                | RetryMethod::RetryImmediately
        );
        let code = e.code().unwrap_or_default().to_owned();
        return BackendError::new(BackendErrorKind::Server, e)
            .with_retryable(transient)
            .with_code(&code);
    }
    // Anything else, a failed TLS handshake or certificate check included, is not fixed by
    // trying again.
    let detail = match e.kind() {
        redis::ErrorKind::AuthenticationFailed => "authentication failed",
        redis::ErrorKind::InvalidClientConfig => "invalid client configuration",
        redis::ErrorKind::Io => "I/O error (a TLS handshake or certificate check among them)",
        redis::ErrorKind::Parse | redis::ErrorKind::UnexpectedReturnType => {
            "malformed reply from the server"
        }
        _ => "client error",
    };
    BackendError::new(BackendErrorKind::Other, e).with_detail(detail)
}

/// A reply that did not have the expected shape. The parser's message may quote the reply
/// (keys, in plain-id mode session ids), so only the fact is kept.
pub(super) fn map_parse(_: redis::ParsingError) -> BackendError {
    BackendError::from_kind(BackendErrorKind::Server).with_detail("malformed reply from the server")
}

pub(super) fn unexpected(command: &'static str, reply: &Value) -> BackendError {
    let what = match reply {
        Value::Int(_) => "an integer",
        Value::BulkString(_) => "a string",
        Value::Array(_) => "an array",
        Value::ServerError(_) => "an error",
        _ => "something else",
    };
    BackendError::new(
        BackendErrorKind::Server,
        format!("unexpected reply to {command}: {what}"),
    )
    .with_detail("a reply of an unexpected shape")
}

/// A spawned request task that panicked or was cancelled.
pub(super) fn task_failed(e: tokio::task::JoinError) -> BackendError {
    BackendError::new(BackendErrorKind::Other, e).with_detail("a request task failed")
}
