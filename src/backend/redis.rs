//! Redis, standalone or Cluster, through the `redis` crate on tokio.
//!
//! # Commands
//!
//! | operation | command |
//! |---|---|
//! | save | `SET key value EX ttl` (+ `NX` for create, `XX` for update; no `EX` without a TTL) |
//! | load | `GETRANGE key 0 max`: at most `max + 1` bytes travel, however large the stored value (plus `EXISTS key` when that returns nothing, to tell a missing key from an empty value) |
//! | destroy | `UNLINK key` |
//! | touch | `EXPIRE key ttl` |
//! | swap | `EVAL` of a compare-and-swap script (`SCRIPT LOAD` then `EVALSHA` in a standalone batch) |
//! | list | `SCAN cursor MATCH prefix* COUNT n`, on every primary of a Cluster in turn |
//! | owner index | `EVALSHA` (`EVAL` when the server has not cached it) of one script per operation on the owner's sorted set: members are storage ids, scored by expiry plus the write time in the fraction; `ZADD`, `ZREM` or `ZRANGE`, with `ZREMRANGEBYSCORE` and `EXPIRE` in each |
//! | destroy in a store with an owner index, revoke | `EVALSHA` of a take (`GET` + `DEL`) or compare-and-delete script on the session's key |
//!
//! Every command that names a key names one, so nothing ever spans hash slots on a Cluster.
//! `all` and `clear` work page by page: on a standalone server each page's reads or
//! deletions go out as one pipeline; on a Cluster a page's reads go out as one pipeline per
//! primary and its deletions as concurrent single-key commands.
//!
//! # Timeouts and retries
//!
//! Connecting and each operation have their own deadline (defaults: 1 s each). A
//! single-key operation's deadline is one tokio timer around the whole operation (its
//! retry and follow-up commands included). A batch may run several in turn: a standalone
//! `compare_and_swap_many` gets one per pipeline of about 4 MiB, and on a Cluster the keys
//! sent again one by one after the per-primary pipelines get one each, so a batch can take
//! longer than the limit in all. Either way a frozen server or a stuck reconnect gives
//! [`BackendErrorKind::Timeout`](crate::BackendErrorKind::Timeout) and never a hang.
//!
//! The standalone connection this backend makes has no per-command timer of its own: it
//! would expire with the operation's, and a second timer on every command is measurable CPU
//! at tens of thousands of commands a second. A Cluster connection keeps the client's own
//! response timeout as well.
//!
//! Reads (`load`, listing) are retried once when the connection dropped under them or the
//! server answered with a transient refusal (a Cluster moving slots, `TRYAGAIN`,
//! `LOADING`); on a Cluster, the per-primary pipeline of a batch read is not, though its
//! redirected keys are read again one by one. Writes are not replayed: a write whose reply
//! was lost may or may not have happened, and replaying `SET … NX` would report a session
//! it just created as taken. For the same reason the Cluster client is built without
//! internal retries. The one exception is a Cluster's compare-and-swap batch, whose
//! redirected swaps are sent again one by one: a swap replaces only the exact value it
//! expects, so sending it again leaves any other value alone, but one that had already run
//! reports "not swapped" the second time.
//!
//! The standalone connection reconnects by itself after I/O errors, with exponential
//! back-off (at most 500 ms between attempts, three retries); when those run out, the next
//! operation fails and starts another reconnect, so a restarted server is used again by the
//! operations that follow. A reconnect that fails for a non-I/O reason (the ACL user
//! disabled during the handshake, say) is not retried by the `redis` crate: build a new
//! backend then.
//!
//! Errors are classified for [`BackendError::is_retryable`]: timeouts, dropped or refused
//! connections and transient server replies are retryable; `WRONGTYPE`, `NOAUTH`, `OOM`, a
//! TLS certificate that does not verify and malformed replies are not.

use std::fmt;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, FromRedisValue, Pipeline};

use crate::backend::{
    Backend, Conditional, Expect, Fetched, IndexEntry, ScanCursor, ScanPage, SetMode, Swap,
};
use crate::error::BackendError;

// How a backend comes to be.
mod builder;
mod connect;

// What bounds and repeats the commands of one operation.
mod deadline;
mod retry;

// The operations, each with its standalone and Cluster form.
mod index;
mod load;
mod lua;
mod optimistic;
mod scan;
mod script;
mod write;

// Shared by the operations.
mod cluster;
mod errors;

pub use builder::RedisBackendBuilder;
pub use connect::{DEFAULT_CONNECT_TIMEOUT, DEFAULT_RESPONSE_TIMEOUT};

/// The Redis storage backend. Cheap to clone: clones share the connection.
///
/// # Panics
///
/// Like every tokio-based client, it must be used on a tokio runtime with its time and I/O
/// drivers (`#[tokio::main]`, or `Builder::enable_all()`): tokio panics when a timeout or
/// a connection task is started without them. [`RedisBackendBuilder::connect`] returns an
/// error when no runtime is current, but cannot tell whether the current one has its
/// drivers.
#[derive(Clone)]
pub struct RedisBackend {
    conn: Conn,
    response_timeout: Duration,
}

#[derive(Clone)]
enum Conn {
    Standalone(ConnectionManager),
    Cluster(ClusterConnection),
}

impl RedisBackend {
    /// True when talking to a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.conn, Conn::Cluster(_))
    }

    /// One command, without a deadline of its own: the operation that sends it bounds it
    /// (see [`deadline`]).
    async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, BackendError> {
        match &self.conn {
            Conn::Standalone(c) => cmd.query_async::<T>(&mut c.clone()).await,
            Conn::Cluster(c) => cmd.query_async::<T>(&mut c.clone()).await,
        }
        .map_err(errors::map_err)
    }

    /// One pipeline, without a deadline of its own, like [`RedisBackend::query`].
    async fn query_pipeline<T: FromRedisValue>(&self, pipe: &Pipeline) -> Result<T, BackendError> {
        match &self.conn {
            Conn::Standalone(c) => pipe.query_async::<T>(&mut c.clone()).await,
            Conn::Cluster(c) => pipe.query_async::<T>(&mut c.clone()).await,
        }
        .map_err(errors::map_err)
    }
}

impl fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let RedisBackend {
            conn,
            response_timeout,
        } = self;
        let mode = match conn {
            Conn::Standalone(_) => "standalone",
            Conn::Cluster(_) => "cluster",
        };
        f.debug_struct("RedisBackend")
            .field("mode", &mode)
            .field("response_timeout", response_timeout)
            .finish()
    }
}

impl Backend for RedisBackend {
    async fn set(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
        mode: SetMode,
    ) -> Result<bool, BackendError> {
        self.set_value(key, value, ttl, mode).await
    }

    async fn get(&self, key: &str, max_len: usize) -> Result<Fetched, BackendError> {
        self.get_value(key, max_len).await
    }

    async fn delete(&self, key: &str) -> Result<bool, BackendError> {
        self.unlink(key).await
    }

    async fn expire(&self, key: &str, ttl: Duration) -> Result<bool, BackendError> {
        self.set_expiry(key, ttl).await
    }

    async fn get_many(
        &self,
        keys: &[String],
        max_len: usize,
    ) -> Result<Vec<Fetched>, BackendError> {
        self.get_many_bounded(keys, max_len).await
    }

    async fn get_many_prefix(
        &self,
        keys: &[String],
        len: usize,
    ) -> Result<Vec<Fetched>, BackendError> {
        self.get_many_prefixes(keys, len).await
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: &[u8],
        new: &[u8],
    ) -> Result<bool, BackendError> {
        self.swap(key, expected, new).await
    }

    async fn set_if(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
        expect: Expect<'_>,
    ) -> Result<Conditional, BackendError> {
        self.set_if_unchanged(key, value, ttl, expect).await
    }

    async fn delete_if(&self, key: &str, expect: Expect<'_>) -> Result<Conditional, BackendError> {
        self.delete_if_unchanged(key, expect).await
    }

    async fn compare_and_swap_many(&self, swaps: &[Swap<'_>]) -> Result<Vec<bool>, BackendError> {
        self.swap_many(swaps).await
    }

    async fn delete_many(&self, keys: &[String]) -> Result<u64, BackendError> {
        self.unlink_many(keys).await
    }

    async fn scan(
        &self,
        prefix: &str,
        cursor: ScanCursor,
        count: usize,
    ) -> Result<ScanPage, BackendError> {
        self.scan_page(prefix, cursor, count).await
    }

    async fn index_add(
        &self,
        key: &str,
        id: &str,
        added_at: u64,
        expires_at: u64,
        now: u64,
    ) -> Result<(), BackendError> {
        self.index_add_entry(key, id, added_at, expires_at, now)
            .await
    }

    async fn index_remove(&self, key: &str, ids: &[String], now: u64) -> Result<(), BackendError> {
        self.index_remove_entries(key, ids, now).await
    }

    async fn index_read(&self, key: &str, now: u64) -> Result<Vec<IndexEntry>, BackendError> {
        self.index_entries(key, now).await
    }

    async fn take(&self, key: &str, max_len: usize) -> Result<Fetched, BackendError> {
        self.take_value(key, max_len).await
    }

    async fn compare_and_delete(&self, key: &str, expected: &[u8]) -> Result<bool, BackendError> {
        self.delete_if(key, expected).await
    }
}
