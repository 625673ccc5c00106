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
//! | list | `SCAN cursor MATCH prefix* COUNT n`, on every primary of a Cluster in turn |
//!
//! Every command touches one key, so nothing ever spans hash slots on a Cluster. `all` and
//! `clear` work page by page: on a standalone server each page's reads or deletions go out
//! as one pipeline; on a Cluster they go out as concurrent single-key commands.
//!
//! # Timeouts and retries
//!
//! Connecting and each operation have their own deadline (defaults: 1 s each). An
//! operation's deadline is one tokio timer around the whole operation (its retry and
//! follow-up commands included), so a frozen server or a stuck reconnect gives
//! [`BackendErrorKind::Timeout`] and never a hang. The standalone connection this backend
//! makes has no per-command timer of its own: it would expire with the operation's, and a
//! second timer on every command is measurable CPU at tens of thousands of commands a
//! second. A Cluster connection keeps the client's own response timeout as well.
//!
//! Reads (`load`, listing) are retried once when the connection dropped under them or the
//! server answered with a transient refusal (a Cluster moving slots, `TRYAGAIN`,
//! `LOADING`). Writes are never replayed: a write whose reply was lost may or may not have
//! happened, and replaying `SET … NX` would report a session it just created as taken. For
//! the same reason the Cluster client is built without internal retries.
//!
//! The standalone connection reconnects by itself after I/O errors (exponential back-off,
//! at most 500 ms between attempts), so a restarted server is used again within about a
//! second. A reconnect that fails for a non-I/O reason (the ACL user disabled during the
//! handshake, say) is not retried by the `redis` crate: build a new backend then.
//!
//! Errors are classified for [`BackendError::is_retryable`]: timeouts, dropped or refused
//! connections and transient server replies are retryable; `WRONGTYPE`, `NOAUTH`, `OOM`, a
//! TLS certificate that does not verify and malformed replies are not.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{
    Client, Cmd, ConnectionAddr, ConnectionInfo, FromRedisValue, IntoConnectionInfo, Pipeline,
    RedisConnectionInfo, RedisError, Value,
};

use super::{Backend, Fetched, ScanCursor, ScanPage, SetMode, Swap};
use crate::error::{BackendError, BackendErrorKind};

/// Default time allowed to establish a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// The largest string Redis stores.
const MAX_REDIS_STRING: usize = 512 * 1024 * 1024;

/// Default time allowed for one command's reply.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);

/// The Redis storage backend. Cheap to clone: clones share the connection.
///
/// # Panics
///
/// Like every tokio-based client, it must be used on a tokio runtime with its time and I/O
/// drivers (`#[tokio::main]`, or `Builder::enable_all()`): tokio panics when a timeout or
/// a connection task is started without them. [`RedisBackendBuilder::connect`] checks that
/// a runtime is current and returns an error instead.
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

/// Where to connect and how patiently.
///
/// ```no_run
/// # async fn f() -> Result<(), sealed_session::BackendError> {
/// use std::time::Duration;
/// use sealed_session::RedisBackend;
///
/// let standalone = RedisBackend::builder()
///     .url("redis://127.0.0.1:6379/0")
///     .response_timeout(Duration::from_millis(500))
///     .connect()
///     .await?;
///
/// let cluster = RedisBackend::builder()
///     .cluster_nodes(["redis://10.0.0.1:7000", "redis://10.0.0.2:7000"])
///     .username("sessions")
///     .password("from-your-secret-store")
///     .connect()
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
pub struct RedisBackendBuilder {
    target: Target,
    username: Option<String>,
    password: Option<String>,
    db: Option<i64>,
    connect_timeout: Option<Duration>,
    response_timeout: Option<Duration>,
    #[cfg(feature = "tls")]
    root_cert_pem: Option<Vec<u8>>,
}

#[derive(Clone, Default)]
enum Target {
    #[default]
    Unset,
    Url(String),
    Host(String, u16),
    Cluster(Vec<String>),
}

impl RedisBackendBuilder {
    /// A standalone server by URL: `redis://[user[:password]@]host[:port][/db]`,
    /// `rediss://…` for TLS (feature `tls`), `redis+unix:///path/to/socket[?db=N]`.
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.target = Target::Url(url.into());
        self
    }

    /// A standalone server by host and port.
    pub fn host(mut self, host: impl Into<String>, port: u16) -> Self {
        self.target = Target::Host(host.into(), port);
        self
    }

    /// A Redis Cluster, given the URLs of some of its nodes (the rest are discovered).
    pub fn cluster_nodes<S: Into<String>>(mut self, urls: impl IntoIterator<Item = S>) -> Self {
        self.target = Target::Cluster(urls.into_iter().map(Into::into).collect());
        self
    }

    /// ACL user name (overrides one given in a URL).
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// Password (overrides one given in a URL). Never printed by `Debug`.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// Database number (standalone only; a Cluster has only database 0).
    pub fn db(mut self, db: i64) -> Self {
        self.db = Some(db);
        self
    }

    /// Time allowed to establish a connection (default 1 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Time allowed for each operation (default 1 s): its command's reply, or, for a load,
    /// its retry and follow-up command as well.
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = Some(timeout);
        self
    }

    /// Trusts this CA (PEM) for `rediss://` instead of the system's roots (feature `tls`).
    #[cfg(feature = "tls")]
    pub fn tls_root_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.root_cert_pem = Some(pem.into());
        self
    }

    fn client(&self, info: ConnectionInfo) -> Result<Client, BackendError> {
        install_crypto_provider();
        #[cfg(feature = "tls")]
        if let Some(pem) = &self.root_cert_pem {
            let certs = redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(pem.clone()),
            };
            return Client::build_with_tls(info, certs).map_err(map_err);
        }
        Client::open(info).map_err(map_err)
    }

    /// Connects, failing with a backend error (within the connect timeout) if the server
    /// cannot be reached.
    pub async fn connect(self) -> Result<RedisBackend, BackendError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(BackendError::from_kind(BackendErrorKind::Other)
                .with_detail("the Redis backend needs a tokio runtime"));
        }
        let connect_timeout = self.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT);
        let response_timeout = self.response_timeout.unwrap_or(DEFAULT_RESPONSE_TIMEOUT);
        let conn = match &self.target {
            Target::Unset => {
                return Err(BackendError::from_kind(BackendErrorKind::Other)
                    .with_detail("no Redis URL, host or cluster nodes given"));
            }
            Target::Cluster(_) if self.db.is_some_and(|db| db != 0) => {
                return Err(BackendError::from_kind(BackendErrorKind::Other)
                    .with_detail("a Redis Cluster has only database 0"));
            }
            Target::Cluster(urls) => {
                let mut nodes = Vec::with_capacity(urls.len());
                for url in urls {
                    let info = url.as_str().into_connection_info().map_err(map_err)?;
                    self.check_tls(&info)?;
                    nodes.push(self.with_auth(info));
                }
                let tls =
                    |info: &ConnectionInfo| matches!(info.addr(), ConnectionAddr::TcpTls { .. });
                if nodes.iter().any(tls) && !nodes.iter().all(tls) {
                    return Err(
                        BackendError::from_kind(BackendErrorKind::Other).with_detail(
                            "the cluster seed URLs mix rediss:// and redis://; give every node the \
                         same scheme",
                        ),
                    );
                }
                #[allow(unused_mut)]
                // No retries inside the client: it would replay writes (SET NX/XX) whose
                // reply was lost. Reads are retried once by this backend instead.
                let mut builder = ClusterClientBuilder::new(nodes)
                    .connection_timeout(connect_timeout)
                    .response_timeout(response_timeout)
                    .retries(0);
                install_crypto_provider();
                #[cfg(feature = "tls")]
                if let Some(pem) = &self.root_cert_pem {
                    builder = builder.certs(redis::TlsCertificates {
                        client_tls: None,
                        root_cert: Some(pem.clone()),
                    });
                }
                let client = builder.build().map_err(map_err)?;
                let connecting = client.get_async_connection();
                // Seeds are dialled in parallel, each within the connect timeout, then the
                // slot map is fetched: allow for both.
                let allowed = connect_timeout
                    .saturating_mul(2)
                    .saturating_add(response_timeout);
                let conn = deadline(allowed, connecting).await?;
                Conn::Cluster(conn)
            }
            Target::Url(url) => {
                let info = url.as_str().into_connection_info().map_err(map_err)?;
                self.check_tls(&info)?;
                let client = self.client(self.with_auth(info))?;
                Conn::Standalone(standalone(client, connect_timeout).await?)
            }
            Target::Host(host, port) => {
                let info = ConnectionAddr::Tcp(host.clone(), *port)
                    .into_connection_info()
                    .map_err(map_err)?;
                self.check_tls(&info)?;
                let client = self.client(self.with_auth(info))?;
                Conn::Standalone(standalone(client, connect_timeout).await?)
            }
        };
        Ok(RedisBackend {
            conn,
            response_timeout,
        })
    }

    /// Refuses what would connect with less protection than asked for: certificate checks
    /// turned off (`rediss://…#insecure`; what it does depends on features of the `redis`
    /// crate that any crate in the build can turn on, so it is refused whatever they are),
    /// and a CA given for an address that is not `rediss://` (which would connect in plain
    /// text and never use it).
    fn check_tls(&self, info: &ConnectionInfo) -> Result<(), BackendError> {
        let refused =
            |detail| Err(BackendError::from_kind(BackendErrorKind::Other).with_detail(detail));
        match info.addr() {
            ConnectionAddr::TcpTls { insecure: true, .. } => refused(
                "rediss:// with #insecure turns certificate checks off; give the server's CA \
                 with tls_root_certificate_pem instead",
            ),
            ConnectionAddr::TcpTls { .. } => Ok(()),
            _ if self.ca_given() => {
                refused("a TLS root certificate was given, but the address is not rediss://")
            }
            _ => Ok(()),
        }
    }

    fn ca_given(&self) -> bool {
        #[cfg(feature = "tls")]
        {
            self.root_cert_pem.is_some()
        }
        #[cfg(not(feature = "tls"))]
        {
            false
        }
    }

    fn with_auth(&self, info: ConnectionInfo) -> ConnectionInfo {
        let mut redis: RedisConnectionInfo = info.redis_settings().clone();
        if let Some(user) = &self.username {
            redis = redis.set_username(user);
        }
        if let Some(password) = &self.password {
            redis = redis.set_password(password);
        }
        if let Some(db) = self.db {
            redis = redis.set_db(db);
        }
        info.set_redis_settings(redis)
    }
}

impl fmt::Debug for RedisBackendBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let RedisBackendBuilder {
            target,
            username,
            password,
            db,
            connect_timeout,
            response_timeout,
            #[cfg(feature = "tls")]
                root_cert_pem: _,
        } = self;
        // URLs may carry a password: print only the kind of target.
        let target = match target {
            Target::Unset => "unset",
            Target::Url(_) => "url",
            Target::Host(..) => "host",
            Target::Cluster(_) => "cluster",
        };
        f.debug_struct("RedisBackendBuilder")
            .field("target", &target)
            .field("username", &username.as_ref().map(|_| "[set]"))
            .field("password", &password.as_ref().map(|_| "[redacted]"))
            .field("db", db)
            .field("connect_timeout", connect_timeout)
            .field("response_timeout", response_timeout)
            .finish()
    }
}

/// rustls needs a process-wide crypto provider; the `redis` crate builds its TLS
/// configuration from the default one. Install ring's unless the application already chose
/// one (then this does nothing), so a `rediss://` connection never panics for want of it.
fn install_crypto_provider() {
    #[cfg(feature = "tls")]
    {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

async fn standalone(
    client: Client,
    connect_timeout: Duration,
) -> Result<ConnectionManager, BackendError> {
    let config = manager_config(connect_timeout);
    deadline(
        connect_timeout,
        ConnectionManager::new_with_config(client, config),
    )
    .await
}

/// The reconnecting connection's settings. No response timeout: every command this backend
/// sends runs inside [`deadline_op`] with the same limit, so a second timer per command
/// would only cost CPU. (A timed-out reply is not a reason for the `redis` crate to
/// reconnect either, so nothing else hangs on it.)
fn manager_config(connect_timeout: Duration) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(connect_timeout))
        .set_response_timeout(None)
        .set_number_of_retries(3)
        .set_min_delay(Duration::from_millis(20))
        .set_max_delay(Duration::from_millis(500))
}

impl RedisBackend {
    /// Configures a connection.
    pub fn builder() -> RedisBackendBuilder {
        RedisBackendBuilder::default()
    }

    /// Connects to a standalone server by URL with the default timeouts.
    pub async fn connect(url: &str) -> Result<RedisBackend, BackendError> {
        RedisBackend::builder().url(url).connect().await
    }

    /// Uses a `redis::Client` the application already has (connect-redis's `client`
    /// option); a reconnecting connection is made from it with the given timeouts.
    pub async fn from_client(
        client: Client,
        connect_timeout: Duration,
        response_timeout: Duration,
    ) -> Result<RedisBackend, BackendError> {
        let config = manager_config(connect_timeout);
        let conn = deadline(
            connect_timeout,
            ConnectionManager::new_with_config(client, config),
        )
        .await?;
        Ok(RedisBackend {
            conn: Conn::Standalone(conn),
            response_timeout,
        })
    }

    /// Shares a `ConnectionManager` the application already has. Every operation is still
    /// bounded by `response_timeout`, retries and follow-up commands included.
    pub fn from_connection_manager(conn: ConnectionManager, response_timeout: Duration) -> Self {
        RedisBackend {
            conn: Conn::Standalone(conn),
            response_timeout,
        }
    }

    /// Shares a Cluster connection the application already has. Build its client with
    /// `retries(0)`: the cluster client otherwise replays commands whose reply was lost,
    /// writes included.
    pub fn from_cluster_connection(conn: ClusterConnection, response_timeout: Duration) -> Self {
        RedisBackend {
            conn: Conn::Cluster(conn),
            response_timeout,
        }
    }

    /// True when talking to a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.conn, Conn::Cluster(_))
    }

    /// One command, without a deadline of its own: every public operation puts one
    /// deadline around all of its commands.
    async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, BackendError> {
        match &self.conn {
            Conn::Standalone(c) => cmd.query_async::<T>(&mut c.clone()).await,
            Conn::Cluster(c) => cmd.query_async::<T>(&mut c.clone()).await,
        }
        .map_err(map_err)
    }

    /// `get` without its overall deadline: GETRANGE, and EXISTS when that returns nothing.
    async fn get_unbounded(&self, key: &str, max_len: usize) -> Result<Fetched, BackendError> {
        // A Redis string holds at most 512 MiB; larger bounds mean "all of it".
        self.get_range(key, max_len.min(MAX_REDIS_STRING), max_len)
            .await
    }

    /// Bytes `0..=end` of the value under `key`; longer than `max_len` is `TooLarge`.
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
            // GETRANGE answers "" both for a missing key and for an empty value; only the
            // latter is a (refused) stored value. One more round trip, on this path only.
            let mut exists = redis::cmd("EXISTS");
            exists.arg(key);
            let found: u64 = self.read(|| self.query(&exists)).await?;
            return Ok(if found == 0 {
                Fetched::Missing
            } else {
                Fetched::Value(value)
            });
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

    /// Bytes `0..=end` of each key's value, one pipeline (standalone) or concurrent
    /// single-key commands (Cluster); values longer than `max_len` are `TooLarge`.
    async fn get_many_range(
        &self,
        keys: &[String],
        end: usize,
        max_len: usize,
    ) -> Result<Vec<Fetched>, BackendError> {
        if keys.is_empty() {
            return Ok(Vec::new()); // Redis refuses an empty pipeline
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
                    ranges
                        .iter()
                        .zip(&exists)
                        .map(|(range, exists)| fetched_from(range, exists, max_len))
                        .collect()
                };
                deadline_op(self.response_timeout, batch).await
            }
            // Keys of a batch live in different hash slots: concurrent single-key commands,
            // never one multi-key command.
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

    /// On a Cluster, sends one single-key command per key as one pipeline per primary,
    /// concurrently: keys are grouped by the node that `CLUSTER SLOTS` says owns their slot
    /// (the keys of one scan page all live on one node, so a page normally costs one round
    /// trip). A group whose pipeline is redirected as a whole (`MOVED`, `ASK`: the topology
    /// changed meanwhile) is returned by index for the caller to send one by one through the
    /// client's own routing; its commands may or may not have run, so callers only use this
    /// for reads and for compare-and-swaps, which are safe to send again.
    async fn cluster_pipelines(
        &self,
        conn: &ClusterConnection,
        todo: Vec<(usize, &str, Cmd)>,
    ) -> Result<(Vec<(usize, Value)>, Vec<usize>), BackendError> {
        let ranges = self.read(|| self.slot_ranges()).await?;
        let mut groups: BTreeMap<(String, u16), (Vec<usize>, Pipeline)> = BTreeMap::new();
        let mut rest = Vec::new();
        for (i, key, cmd) in todo {
            let slot = key_slot(key.as_bytes());
            match ranges
                .iter()
                .find(|(lo, hi, _, _)| (*lo..=*hi).contains(&slot))
            {
                Some((_, _, host, port)) => {
                    let (indices, pipe) =
                        groups.entry((host.clone(), *port)).or_insert_with(|| {
                            let mut pipe = redis::pipe();
                            pipe.ignore_errors();
                            (Vec::new(), pipe)
                        });
                    indices.push(i);
                    pipe.add_command(cmd);
                }
                None => rest.push(i),
            }
        }
        let mut set = tokio::task::JoinSet::new();
        for ((host, port), (indices, pipe)) in groups {
            let mut conn = conn.clone();
            set.spawn(async move {
                let count = indices.len();
                let routing = SingleNodeRoutingInfo::ByAddress { host, port };
                let replies = conn.route_pipeline(pipe, 0, count, routing).await;
                (indices, replies)
            });
        }
        let mut answered = Vec::new();
        while let Some(done) = set.join_next().await {
            let (indices, replies) = done.map_err(task_failed)?;
            match replies {
                Ok(replies) if replies.len() == indices.len() => {
                    answered.extend(indices.into_iter().zip(replies));
                }
                Ok(_) => return Err(unexpected("pipeline", &Value::Nil)),
                Err(e) if matches!(e.code(), Some("MOVED" | "ASK")) => rest.extend(indices),
                Err(e) => return Err(map_err(e)),
            }
        }
        Ok((answered, rest))
    }

    /// Runs a read, once more if the connection dropped under it or the server said to try
    /// again (a Cluster moving slots).
    async fn query_pipeline<T: FromRedisValue>(&self, pipe: &Pipeline) -> Result<T, BackendError> {
        match &self.conn {
            Conn::Standalone(c) => pipe.query_async::<T>(&mut c.clone()).await,
            Conn::Cluster(c) => pipe.query_async::<T>(&mut c.clone()).await,
        }
        .map_err(map_err)
    }

    async fn read<T, F, Fut>(&self, op: F) -> Result<T, BackendError>
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

    async fn scan_node(
        &self,
        node: Option<&str>,
        cursor: u64,
        pattern: &str,
        count: usize,
    ) -> Result<(u64, Vec<String>), BackendError> {
        let mut cmd = redis::cmd("SCAN");
        cmd.arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(count);
        let (next, keys): (u64, Vec<Vec<u8>>) = match (&self.conn, node) {
            (Conn::Cluster(c), Some(node)) => {
                let (host, port) = node
                    .rsplit_once(':')
                    .and_then(|(h, p)| Some((h.to_owned(), p.parse::<u16>().ok()?)))
                    .ok_or_else(bad_cursor)?;
                let routing =
                    RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host, port });
                let value = c
                    .clone()
                    .route_command(cmd, routing)
                    .await
                    .map_err(map_err)?;
                redis::from_redis_value(value).map_err(map_parse)?
            }
            _ => self.query(&cmd).await?,
        };
        // Keys that are not UTF-8 were not written by a store; skip them.
        let keys = keys
            .into_iter()
            .filter_map(|k| String::from_utf8(k).ok())
            .collect();
        Ok((next, keys))
    }

    /// The primaries of the Cluster as `host:port`, sorted, from `CLUSTER SLOTS`. An empty
    /// map or a primary without a routable endpoint is an error: a listing must not pass
    /// over a node in silence.
    async fn primaries(&self) -> Result<Vec<String>, BackendError> {
        let mut nodes: Vec<String> = self
            .slot_ranges()
            .await?
            .into_iter()
            .map(|(_, _, host, port)| format!("{host}:{port}"))
            .collect();
        nodes.sort();
        nodes.dedup();
        Ok(nodes)
    }

    /// The slot ranges of the Cluster and the primary serving each, from `CLUSTER SLOTS`.
    async fn slot_ranges(&self) -> Result<Vec<(u16, u16, String, u16)>, BackendError> {
        let slots: Vec<Value> = self
            .query(&redis::cmd("CLUSTER").arg("SLOTS").clone())
            .await?;
        let mut nodes = Vec::new();
        for range in slots {
            // [start, end, [host, port, id, ...], replicas...]
            let Value::Array(items) = range else {
                return Err(unexpected("CLUSTER SLOTS", &range));
            };
            let bound = |i: usize| match items.get(i) {
                Some(Value::Int(n)) => u16::try_from(*n).ok(),
                _ => None,
            };
            let (Some(lo), Some(hi)) = (bound(0), bound(1)) else {
                return Err(unexpected("CLUSTER SLOTS", &Value::Nil));
            };
            let Some(Value::Array(primary)) = items.get(2) else {
                return Err(unexpected("CLUSTER SLOTS", &Value::Nil));
            };
            let host = match primary.first() {
                Some(Value::BulkString(h)) => String::from_utf8_lossy(h).into_owned(),
                _ => String::new(),
            };
            let port = match primary.get(1) {
                Some(Value::Int(p)) => u16::try_from(*p).ok(),
                _ => None,
            };
            match port {
                Some(port) if !host.is_empty() && host != "?" => {
                    nodes.push((lo, hi, host, port));
                }
                _ => {
                    return Err(BackendError::from_kind(BackendErrorKind::Server)
                        .with_detail("a cluster primary has no routable endpoint"));
                }
            }
        }
        if nodes.is_empty() {
            return Err(BackendError::from_kind(BackendErrorKind::Server)
                .with_detail("the cluster reports no slots"));
        }
        Ok(nodes)
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
        // Sized up front (name, key, value, EX and up to 20 digits, NX/XX), so pushing the
        // value never reallocates: a grown buffer past 1 KiB costs the system allocator
        // far more than its size suggests.
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

    async fn get(&self, key: &str, max_len: usize) -> Result<Fetched, BackendError> {
        // One deadline for the whole operation, retry and follow-up included.
        deadline_op(self.response_timeout, self.get_unbounded(key, max_len)).await
    }

    async fn delete(&self, key: &str) -> Result<bool, BackendError> {
        let removed: u64 = deadline_op(
            self.response_timeout,
            self.query(redis::cmd("UNLINK").arg(key)),
        )
        .await?;
        Ok(removed > 0)
    }

    async fn expire(&self, key: &str, ttl: Duration) -> Result<bool, BackendError> {
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

    async fn get_many(
        &self,
        keys: &[String],
        max_len: usize,
    ) -> Result<Vec<Fetched>, BackendError> {
        self.get_many_range(keys, max_len.min(MAX_REDIS_STRING), max_len)
            .await
    }

    async fn get_many_prefix(
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

    async fn compare_and_swap(
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

    async fn compare_and_swap_many(&self, swaps: &[Swap<'_>]) -> Result<Vec<bool>, BackendError> {
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
                    // EVALSHAs after it always find the script: Redis hashes the script once
                    // per page instead of once per key.
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
                // Redirected swaps were not executed: safe to send again, one by one.
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

    async fn delete_many(&self, keys: &[String]) -> Result<u64, BackendError> {
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
                    set.spawn(async move { this.delete(&key).await });
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

    async fn scan(
        &self,
        prefix: &str,
        cursor: ScanCursor,
        count: usize,
    ) -> Result<ScanPage, BackendError> {
        let pattern = format!("{}*", glob_escape(prefix));
        let count = count.max(1);
        match &self.conn {
            Conn::Standalone(_) => {
                let start = if cursor.is_start() {
                    0
                } else {
                    cursor.as_str().parse().map_err(|_| bad_cursor())?
                };
                let (next, keys) = deadline_op(
                    self.response_timeout,
                    self.read(|| self.scan_node(None, start, &pattern, count)),
                )
                .await?;
                let next = (next != 0).then(|| ScanCursor::new(next.to_string()));
                Ok(ScanPage { keys, next })
            }
            Conn::Cluster(_) => {
                // Cursor: "host:port#cursor" of the primary being scanned. Primaries are
                // visited in sorted order. If that primary is gone (a failover), the scan
                // goes on from the next one in order; like SCAN itself across changes, it
                // may then miss or repeat keys, never loop.
                let page = async {
                    let primaries = self.read(|| self.primaries()).await?;
                    let (index, start) = if cursor.is_start() {
                        (0, 0)
                    } else {
                        let (node, at) = cursor.as_str().rsplit_once('#').ok_or_else(bad_cursor)?;
                        let at: u64 = at.parse().map_err(|_| bad_cursor())?;
                        match primaries.iter().position(|p| p == node) {
                            Some(i) => (i, at),
                            None => (primaries.partition_point(|p| p.as_str() < node), 0),
                        }
                    };
                    let Some(node) = primaries.get(index) else {
                        return Ok(ScanPage::default());
                    };
                    let (next, keys) = self
                        .read(|| self.scan_node(Some(node), start, &pattern, count))
                        .await?;
                    let next = if next != 0 {
                        Some(ScanCursor::new(format!("{node}#{next}")))
                    } else {
                        primaries
                            .get(index + 1)
                            .map(|p| ScanCursor::new(format!("{p}#0")))
                    };
                    Ok(ScanPage { keys, next })
                };
                deadline_op(self.response_timeout, page).await
            }
        }
    }
}

/// Replaces `KEYS[1]` with `ARGV[2]` only while it holds exactly `ARGV[1]`, keeping its TTL.
/// A missing key or anything but a string under it (a hash, say) is left alone; any other
/// failure (an ACL refusing `GET` or `SET`, say) is an error, never a silent "changed".
/// Single swaps go out as `EVAL`; batches load the script and use `EVALSHA`.
const CAS_SCRIPT: &str = "if redis.call('TYPE', KEYS[1]).ok ~= 'string' then return 0 end \
if redis.call('GET', KEYS[1]) == ARGV[1] then \
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL') return 1 end return 0";

/// Largest payload of one compare-and-swap pipeline, so a page of large values does not
/// become one huge request under one deadline.
const CAS_PIPELINE_BYTES: usize = 4 * 1024 * 1024;

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

/// The Cluster hash slot of a key: CRC-16/XMODEM of the key, or of its hash tag (the text
/// between the first `{` and the next `}`, when not empty), modulo 16384.
fn key_slot(key: &[u8]) -> u16 {
    let tagged = key
        .iter()
        .position(|&b| b == b'{')
        .and_then(|open| {
            let after = key.get(open + 1..)?;
            let close = after.iter().position(|&b| b == b'}')?;
            after.get(..close).filter(|tag| !tag.is_empty())
        })
        .unwrap_or(key);
    let mut crc: u16 = 0;
    for &byte in tagged {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc % 16_384
}

/// Escapes the glob characters of `MATCH` patterns so a prefix matches literally.
fn glob_escape(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len() + 4);
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

async fn deadline<T>(
    limit: Duration,
    call: impl Future<Output = Result<T, RedisError>>,
) -> Result<T, BackendError> {
    match tokio::time::timeout(limit, call).await {
        Ok(result) => result.map_err(map_err),
        Err(_) => Err(BackendError::from_kind(BackendErrorKind::Timeout)),
    }
}

/// Bounds a whole backend operation (several round trips, a retry) by one deadline.
async fn deadline_op<T>(
    limit: Duration,
    op: impl Future<Output = Result<T, BackendError>>,
) -> Result<T, BackendError> {
    match tokio::time::timeout(limit, op).await {
        Ok(result) => result,
        Err(_) => Err(BackendError::from_kind(BackendErrorKind::Timeout)),
    }
}

/// True for a WRONGTYPE reply: the key holds a hash, list or set, not a string.
fn is_wrong_type(e: &BackendError) -> bool {
    e.code() == Some("WRONGTYPE")
}

/// One key's outcome from a pipelined `GETRANGE` + `EXISTS` pair.
fn fetched_from(range: &Value, exists: &Value, max_len: usize) -> Result<Fetched, BackendError> {
    match (range, exists) {
        (Value::ServerError(e), _) if e.code() == "WRONGTYPE" => Ok(Fetched::NotBytes),
        (Value::ServerError(e), _) | (_, Value::ServerError(e)) => {
            let code = e.code().to_owned();
            Err(map_err(RedisError::from(e.clone())).with_code(&code))
        }
        (_, Value::Int(0)) => Ok(Fetched::Missing),
        (Value::BulkString(bytes), _) if bytes.len() > max_len => Ok(Fetched::TooLarge {
            len: max_len.saturating_add(1),
        }),
        (Value::BulkString(bytes), _) => Ok(Fetched::Value(bytes.clone())),
        (other, _) => Err(unexpected("GETRANGE", other)),
    }
}

fn map_err(e: RedisError) -> BackendError {
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
fn map_parse(_: redis::ParsingError) -> BackendError {
    BackendError::from_kind(BackendErrorKind::Server).with_detail("malformed reply from the server")
}

fn unexpected(command: &'static str, reply: &Value) -> BackendError {
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
fn task_failed(e: tokio::task::JoinError) -> BackendError {
    BackendError::new(BackendErrorKind::Other, e).with_detail("a request task failed")
}

fn bad_cursor() -> BackendError {
    BackendError::from_kind(BackendErrorKind::Other).with_detail("malformed scan cursor")
}

#[cfg(test)]
mod tests {
    use super::key_slot;

    /// Expected values from `CLUSTER KEYSLOT` on redis-server 7.0.15.
    #[test]
    fn key_slots_match_the_server() {
        for (key, slot) in [
            ("123456789", 12739),
            ("foo", 12182),
            ("bar", 5061),
            ("{user1000}.following", 3443),
            ("foo{}{bar}", 8363),
            ("foo{{bar}}zap", 4015),
            (
                "sess:0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9",
                10986,
            ),
        ] {
            assert_eq!(key_slot(key.as_bytes()), slot, "{key}");
        }
    }
}
