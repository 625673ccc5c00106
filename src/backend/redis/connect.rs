//! Dialling is where a connection's own policies are fixed for good (how it reconnects,
//! whether it retries, which CA it trusts), so they are chosen here, in one place, whether
//! the backend dials by itself or adopts a connection the application already has.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Client, ConnectionAddr, ConnectionInfo, IntoConnectionInfo};

use super::builder::Target;
use super::deadline::deadline;
use super::errors::map_err;
use super::{Conn, RedisBackend, RedisBackendBuilder};
use crate::error::{BackendError, BackendErrorKind};

/// Default time allowed to establish a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// Default time allowed for one command's reply.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(1);

impl RedisBackendBuilder {
    /// Connects, failing with a backend error if the server cannot be reached: within the
    /// connect timeout for a standalone server; for a Cluster, within twice the connect
    /// timeout plus the response timeout (seeds, slot map, then the nodes it names).
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
            Target::Cluster(urls) => Conn::Cluster(
                self.dial_cluster(urls, connect_timeout, response_timeout)
                    .await?,
            ),
            Target::Url(url) => {
                let info = url.as_str().into_connection_info().map_err(map_err)?;
                let client = self.client(self.server(info)?)?;
                Conn::Standalone(dial_standalone(client, connect_timeout).await?)
            }
            Target::Host(host, port) => {
                let info = ConnectionAddr::Tcp(host.clone(), *port)
                    .into_connection_info()
                    .map_err(map_err)?;
                let client = self.client(self.server(info)?)?;
                Conn::Standalone(dial_standalone(client, connect_timeout).await?)
            }
        };
        Ok(RedisBackend {
            conn,
            response_timeout,
        })
    }

    fn client(&self, info: ConnectionInfo) -> Result<Client, BackendError> {
        install_crypto_provider();
        #[cfg(feature = "tls")]
        if let Some(certs) = self.tls_certificates() {
            return Client::build_with_tls(info, certs).map_err(map_err);
        }
        Client::open(info).map_err(map_err)
    }

    async fn dial_cluster(
        &self,
        urls: &[String],
        connect_timeout: Duration,
        response_timeout: Duration,
    ) -> Result<ClusterConnection, BackendError> {
        let nodes = self.cluster_seeds(urls)?;
        #[allow(unused_mut)]
        // No retries inside the client: it would replay writes (SET NX/XX) whose
        // reply was lost. Reads are retried once by this backend instead.
        let mut builder = ClusterClientBuilder::new(nodes)
            .connection_timeout(connect_timeout)
            .response_timeout(response_timeout)
            .retries(0);
        install_crypto_provider();
        #[cfg(feature = "tls")]
        if let Some(certs) = self.tls_certificates() {
            builder = builder.certs(certs);
        }
        let client = builder.build().map_err(map_err)?;
        let connecting = client.get_async_connection();
        // Seeds are dialled in parallel, each within the connect timeout; then the slot map
        // is fetched and the nodes it names are dialled, again within the connect timeout:
        // allow for the three steps.
        let allowed = connect_timeout
            .saturating_mul(2)
            .saturating_add(response_timeout);
        deadline(allowed, connecting).await
    }
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
        let conn = dial_standalone(client, connect_timeout).await?;
        Ok(RedisBackend {
            conn: Conn::Standalone(conn),
            response_timeout,
        })
    }

    /// Shares a `ConnectionManager` the application already has. Operations are still
    /// bounded by `response_timeout`, as on a connection this backend makes (retries and
    /// follow-up commands included).
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
}

/// rustls needs a process-wide crypto provider; the `redis` crate builds its TLS
/// configuration from the default one. Install ring's unless the application already chose
/// one (then this does nothing), so a `rediss://` connection this builder makes never
/// panics for want of it. (A client given to [`RedisBackend::from_client`] relies on the
/// application's provider.)
fn install_crypto_provider() {
    #[cfg(feature = "tls")]
    {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

async fn dial_standalone(
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
/// sends runs inside [`deadline_op`](super::deadline::deadline_op) with the same limit, so
/// a second timer per command would only cost CPU. (A timed-out reply is not a reason for
/// the `redis` crate to reconnect either, so nothing else depends on it.)
fn manager_config(connect_timeout: Duration) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(connect_timeout))
        .set_response_timeout(None)
        .set_number_of_retries(3)
        .set_min_delay(Duration::from_millis(20))
        .set_max_delay(Duration::from_millis(500))
}
