//! What the application asks for is checked here, before anything is dialled: an address
//! that would connect with less protection than asked for is refused, and credentials are
//! kept out of `Debug`. Dialling itself is in `connect.rs`, so these refusals and
//! redactions can be read in one place.

use std::fmt;
use std::time::Duration;

use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, RedisConnectionInfo};

use super::errors::map_err;
use crate::error::{BackendError, BackendErrorKind};

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
    pub(super) target: Target,
    username: Option<String>,
    password: Option<String>,
    pub(super) db: Option<i64>,
    pub(super) connect_timeout: Option<Duration>,
    pub(super) response_timeout: Option<Duration>,
    #[cfg(feature = "tls")]
    root_cert_pem: Option<Vec<u8>>,
}

#[derive(Clone, Default)]
pub(super) enum Target {
    #[default]
    Unset,
    Url(String),
    Host(String, u16),
    Cluster(Vec<String>),
}

impl RedisBackendBuilder {
    /// A standalone server by URL: `redis://[user[:password]@]host[:port][/db]`,
    /// `rediss://…` for TLS (feature `tls`), `redis+unix:///path/to/socket[?db=N]`.
    #[must_use]
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.target = Target::Url(url.into());
        self
    }

    /// A standalone server by host and port.
    #[must_use]
    pub fn host(mut self, host: impl Into<String>, port: u16) -> Self {
        self.target = Target::Host(host.into(), port);
        self
    }

    /// A Redis Cluster, given the URLs of some of its nodes (the rest are discovered).
    #[must_use]
    pub fn cluster_nodes<S: Into<String>>(mut self, urls: impl IntoIterator<Item = S>) -> Self {
        self.target = Target::Cluster(urls.into_iter().map(Into::into).collect());
        self
    }

    /// ACL user name (overrides one given in a URL).
    #[must_use]
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// Password (overrides one given in a URL). Never printed by `Debug`.
    #[must_use]
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// Database number (standalone only; a Cluster has only database 0).
    #[must_use]
    pub fn db(mut self, db: i64) -> Self {
        self.db = Some(db);
        self
    }

    /// Time allowed to establish a connection (default 1 s).
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Time allowed for each operation (default 1 s): its command's reply, or, for a load,
    /// its retry and follow-up command as well. A batch can take it more than once, one
    /// step after another (see [timeouts](crate::backend::redis#timeouts-and-retries)).
    #[must_use]
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = Some(timeout);
        self
    }

    /// Trusts this CA (PEM) for `rediss://` instead of the system's roots (feature `tls`).
    #[cfg(feature = "tls")]
    #[must_use]
    pub fn tls_root_certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.root_cert_pem = Some(pem.into());
        self
    }

    /// The CA to trust instead of the system's roots, as the `redis` crate takes it.
    #[cfg(feature = "tls")]
    pub(super) fn tls_certificates(&self) -> Option<redis::TlsCertificates> {
        self.root_cert_pem
            .as_ref()
            .map(|pem| redis::TlsCertificates {
                client_tls: None,
                root_cert: Some(pem.clone()),
            })
    }

    /// A standalone server's address, refused or completed with the credentials and
    /// database given to the builder.
    pub(super) fn server(&self, info: ConnectionInfo) -> Result<ConnectionInfo, BackendError> {
        self.check_tls(&info)?;
        Ok(self.with_auth(info))
    }

    /// The Cluster seed addresses, each checked like a standalone server's; mixing
    /// `rediss://` and `redis://` seeds is refused too.
    pub(super) fn cluster_seeds(
        &self,
        urls: &[String],
    ) -> Result<Vec<ConnectionInfo>, BackendError> {
        let mut nodes = Vec::with_capacity(urls.len());
        for url in urls {
            let info = url.as_str().into_connection_info().map_err(map_err)?;
            nodes.push(self.server(info)?);
        }
        let tls = |info: &ConnectionInfo| matches!(info.addr(), ConnectionAddr::TcpTls { .. });
        if nodes.iter().any(tls) && !nodes.iter().all(tls) {
            return Err(
                BackendError::from_kind(BackendErrorKind::Other).with_detail(
                    "the cluster seed URLs mix rediss:// and redis://; give every node the same \
                 scheme",
                ),
            );
        }
        Ok(nodes)
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
