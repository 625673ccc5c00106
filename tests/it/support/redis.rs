//! Real `redis-server` processes for tests: one standalone server or a 3-primary Cluster per
//! test, on free loopback ports, with `--save ''` and logs in a temporary directory, killed
//! and reaped on drop. A test that needs Redis and finds no `redis-server` fails loudly.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use sealed_session::backend::Swap;
use sealed_session::{
    Backend, BackendError, Fetched, IndexEntry, RedisBackend, ScanCursor, ScanPage, SetMode,
};

static NEXT_DIR: AtomicU32 = AtomicU32::new(0);

fn binary(name: &str) -> PathBuf {
    let path_var = std::env::var("PATH").unwrap_or_default();
    let dirs = path_var
        .split(':')
        .map(PathBuf::from)
        .chain(["/usr/bin", "/usr/local/bin", "/usr/sbin"].map(PathBuf::from));
    for dir in dirs {
        let path = dir.join(name);
        if path.is_file() {
            return path;
        }
    }
    panic!(
        "`{name}` not found: these tests need a real Redis. Run `bash scripts/test.sh`, which \
         installs redis-server and redis-tools with apt-get when they are missing."
    );
}

/// A free loopback port at most 55535: a Cluster node also listens on port + 10000.
fn free_port() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("no free loopback port");
        if port <= 55_535 {
            return port;
        }
    }
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "sealed-session-redis-{}-{}",
        std::process::id(),
        NEXT_DIR.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Sends one inline command over a fresh connection and returns the raw reply.
pub fn raw_command(port: u16, command: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .ok()?;
    stream.write_all(format!("{command}\r\n").as_bytes()).ok()?;
    let mut buf = [0u8; 4096];
    let n = stream.read(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

/// One `redis-server` process.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    dir: PathBuf,
    /// Whether dropping this server removes `dir` (not while a start is being retried in a
    /// directory that holds certificates or a socket).
    owns_dir: bool,
    extra: Vec<String>,
    tls: bool,
}

impl RedisServer {
    pub fn start() -> RedisServer {
        RedisServer::start_with(&[])
    }

    pub fn start_with(extra: &[&str]) -> RedisServer {
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        for _ in 0..5 {
            let mut server = RedisServer {
                child: None,
                port: free_port(),
                dir: temp_dir(),
                owns_dir: true,
                extra: extra.clone(),
                tls: false,
            };
            if server.spawn() {
                return server;
            }
        }
        panic!("redis-server did not start after 5 attempts");
    }

    /// Starts the process on `self.port`; true once it answers PING.
    fn spawn(&mut self) -> bool {
        let log = self.dir.join("redis.log");
        let child = Command::new(binary("redis-server"))
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1"])
            .args(["--save", ""])
            .args(["--appendonly", "no"])
            .args(["--dir", self.dir.to_str().expect("utf-8 temp dir")])
            .args(["--logfile", log.to_str().expect("utf-8 temp dir")])
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawning redis-server");
        self.child = Some(child);
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(5) {
            let ready = if self.tls {
                TcpStream::connect(("127.0.0.1", self.port)).is_ok()
            } else {
                // +PONG, or -NOAUTH from a server that requires a password: up either way.
                raw_command(self.port, "PING")
                    .is_some_and(|r| r.starts_with("+PONG") || r.starts_with("-NOAUTH"))
            };
            // The reply must come from our process, not from another test's server that
            // already held the port (ours then exits).
            if ready && self.is_ours() {
                return true;
            }
            if let Some(Ok(Some(_))) = self.child.as_mut().map(|c| c.try_wait()) {
                break; // exited: port taken, most likely
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.kill();
        false
    }

    fn is_ours(&mut self) -> bool {
        let Some(child) = self.child.as_mut() else {
            return false;
        };
        std::thread::sleep(Duration::from_millis(20));
        if !matches!(child.try_wait(), Ok(None)) {
            return false;
        }
        let pid = child.id();
        match raw_command(self.port, "INFO server") {
            Some(info) if info.contains("process_id:") => {
                info.contains(&format!("process_id:{pid}\r"))
            }
            // TLS-only or password-protected: the child is alive and the port answers.
            _ => true,
        }
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://127.0.0.1:{}/", self.port)
    }

    /// A server that speaks only TLS, with a certificate for 127.0.0.1 signed by a fresh
    /// test CA; returns the CA certificate (PEM) too.
    pub fn start_tls() -> (RedisServer, Vec<u8>) {
        let dir = temp_dir();
        let openssl = |args: &[&str]| {
            let out = Command::new(binary("openssl"))
                .args(args)
                .current_dir(&dir)
                .stdin(Stdio::null())
                .output()
                .expect("running openssl");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let mut ca = vec![
            "req", "-x509", "-days", "1", "-keyout", "ca.key", "-out", "ca.crt",
        ];
        ca.extend(ec);
        ca.extend(["-subj", "/CN=sealed-session test CA"]);
        openssl(&ca);
        let mut csr = vec!["req", "-keyout", "server.key", "-out", "server.csr"];
        csr.extend(ec);
        csr.extend(["-subj", "/CN=127.0.0.1"]);
        openssl(&csr);
        std::fs::write(
            dir.join("server.ext"),
            "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n\
             subjectAltName=IP:127.0.0.1,DNS:localhost\n",
        )
        .unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-out",
            "server.crt",
            "-extfile",
            "server.ext",
        ]);
        let path = |f: &str| dir.join(f).to_str().unwrap().to_owned();
        let extra = vec![
            "--port".to_owned(),
            "0".to_owned(),
            "--tls-cert-file".to_owned(),
            path("server.crt"),
            "--tls-key-file".to_owned(),
            path("server.key"),
            "--tls-ca-cert-file".to_owned(),
            path("ca.crt"),
            "--tls-auth-clients".to_owned(),
            "no".to_owned(),
        ];
        let ca_pem = std::fs::read(dir.join("ca.crt")).unwrap();
        for _ in 0..5 {
            let port = free_port();
            let mut args = extra.clone();
            args.extend(["--tls-port".to_owned(), port.to_string()]);
            let mut server = RedisServer {
                child: None,
                port,
                dir: dir.clone(),
                owns_dir: false,
                extra: args,
                tls: true,
            };
            if server.spawn() {
                server.owns_dir = true;
                return (server, ca_pem);
            }
        }
        panic!("redis-server with TLS did not start");
    }

    /// A server that also listens on a Unix socket; returns the socket's path.
    pub fn start_unix() -> (RedisServer, PathBuf) {
        let dir = temp_dir();
        let socket = dir.join("redis.sock");
        for _ in 0..5 {
            let mut server = RedisServer {
                child: None,
                port: free_port(),
                dir: dir.clone(),
                owns_dir: false,
                extra: vec![
                    "--unixsocket".to_owned(),
                    socket.to_str().unwrap().to_owned(),
                    "--unixsocketperm".to_owned(),
                    "700".to_owned(),
                ],
                tls: false,
            };
            if server.spawn() {
                server.owns_dir = true;
                return (server, socket);
            }
        }
        panic!("redis-server with a Unix socket did not start");
    }

    /// Kills the process (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port (after `kill`).
    pub fn restart(&mut self) {
        assert!(
            self.spawn(),
            "redis-server did not restart on port {}",
            self.port
        );
    }

    /// Sends a signal with the shell's `kill` builtin (no procps needed); true if sent.
    fn signal(&self, signal: &str) -> bool {
        let Some(child) = self.child.as_ref() else {
            return false;
        };
        Command::new("sh")
            .args(["-c", &format!("kill {signal} {}", child.id())])
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Freezes the process (SIGSTOP): connections stay open, nothing answers.
    pub fn freeze(&self) {
        assert!(self.signal("-STOP"), "SIGSTOP not delivered");
    }

    /// Thaws it (SIGCONT).
    pub fn thaw(&self) {
        assert!(self.signal("-CONT"), "SIGCONT not delivered");
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // A frozen process must be thawed to die promptly on some kernels.
        let _ = self.signal("-CONT");
        self.kill();
        if self.owns_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A local 3-primary Redis Cluster.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    pub fn start() -> RedisCluster {
        let nodes: Vec<RedisServer> = (0..3)
            .map(|_| {
                RedisServer::start_with(&[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-node-timeout",
                    "2000",
                    // A node that stops answering (the fault tests freeze one) must not take
                    // the slots of the others down with it.
                    "--cluster-require-full-coverage",
                    "no",
                    "--cluster-config-file",
                    "nodes.conf",
                ])
            })
            .collect();
        let addresses: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let output = Command::new(binary("redis-cli"))
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .expect("running redis-cli --cluster create");
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&output.stdout)
        );
        let cluster = RedisCluster { nodes };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            let ready = cluster.nodes.iter().all(|n| {
                raw_command(n.port, "CLUSTER INFO").is_some_and(|r| r.contains("cluster_state:ok"))
            });
            if ready {
                return cluster;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the cluster did not reach cluster_state:ok within 20 s");
    }

    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.url()).collect()
    }
}

/// A backend that owns the Redis process(es) it talks to, so they live as long as the test.
pub struct Served<S> {
    pub backend: RedisBackend,
    pub server: S,
}

impl Served<RedisServer> {
    pub async fn standalone() -> Self {
        let server = RedisServer::start();
        let backend = RedisBackend::connect(&server.url()).await.expect("connect");
        Served { backend, server }
    }
}

impl Served<RedisCluster> {
    pub async fn cluster() -> Self {
        let server = RedisCluster::start();
        let backend = RedisBackend::builder()
            .cluster_nodes(server.urls())
            .connect()
            .await
            .expect("connect to cluster");
        Served { backend, server }
    }
}

impl<S: Send + Sync + 'static> Backend for Served<S> {
    async fn set(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
        mode: SetMode,
    ) -> Result<bool, BackendError> {
        self.backend.set(key, value, ttl, mode).await
    }

    async fn get(&self, key: &str, max_len: usize) -> Result<Fetched, BackendError> {
        self.backend.get(key, max_len).await
    }

    async fn delete(&self, key: &str) -> Result<bool, BackendError> {
        self.backend.delete(key).await
    }

    async fn expire(&self, key: &str, ttl: Duration) -> Result<bool, BackendError> {
        self.backend.expire(key, ttl).await
    }

    async fn scan(
        &self,
        prefix: &str,
        cursor: ScanCursor,
        count: usize,
    ) -> Result<ScanPage, BackendError> {
        self.backend.scan(prefix, cursor, count).await
    }

    // The batched operations are delegated too, so the suites exercise Redis's own
    // pipelines rather than the trait's one-by-one defaults.
    async fn get_many(
        &self,
        keys: &[String],
        max_len: usize,
    ) -> Result<Vec<Fetched>, BackendError> {
        self.backend.get_many(keys, max_len).await
    }

    async fn delete_many(&self, keys: &[String]) -> Result<u64, BackendError> {
        self.backend.delete_many(keys).await
    }

    async fn get_many_prefix(
        &self,
        keys: &[String],
        len: usize,
    ) -> Result<Vec<Fetched>, BackendError> {
        self.backend.get_many_prefix(keys, len).await
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: &[u8],
        new: &[u8],
    ) -> Result<bool, BackendError> {
        self.backend.compare_and_swap(key, expected, new).await
    }

    async fn compare_and_swap_many(&self, swaps: &[Swap<'_>]) -> Result<Vec<bool>, BackendError> {
        self.backend.compare_and_swap_many(swaps).await
    }

    async fn index_add(
        &self,
        key: &str,
        id: &str,
        added_at: u64,
        expires_at: u64,
        now: u64,
    ) -> Result<(), BackendError> {
        self.backend
            .index_add(key, id, added_at, expires_at, now)
            .await
    }

    async fn index_remove(&self, key: &str, ids: &[String], now: u64) -> Result<(), BackendError> {
        self.backend.index_remove(key, ids, now).await
    }

    async fn index_read(&self, key: &str, now: u64) -> Result<Vec<IndexEntry>, BackendError> {
        self.backend.index_read(key, now).await
    }

    async fn take(&self, key: &str, max_len: usize) -> Result<Fetched, BackendError> {
        self.backend.take(key, max_len).await
    }

    async fn compare_and_delete(&self, key: &str, expected: &[u8]) -> Result<bool, BackendError> {
        self.backend.compare_and_delete(key, expected).await
    }

    async fn set_if(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
        expect: sealed_session::Expect<'_>,
    ) -> Result<sealed_session::Conditional, BackendError> {
        self.backend.set_if(key, value, ttl, expect).await
    }

    async fn delete_if(
        &self,
        key: &str,
        expect: sealed_session::Expect<'_>,
    ) -> Result<sealed_session::Conditional, BackendError> {
        self.backend.delete_if(key, expect).await
    }
}
