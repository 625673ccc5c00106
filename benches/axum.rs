//! Load test of the axum demo's counter route (`GET /count`: load the session, increment,
//! save): our store on a real local `redis-server` against tower-sessions' own in-process
//! `MemoryStore`, in the same run, at 1, 16 and 64 concurrent keep-alive connections.
//!
//! Run: `cargo bench --bench axum --features tower-sessions`
//!
//! The server and the load generator share this process (and the two cores with
//! `redis-server`). The contenders alternate in rounds so that the machine's noise hits both;
//! each figure is the median over rounds.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(
    clippy::indexing_slicing,
    clippy::string_slice,
    clippy::unwrap_in_result,
    clippy::panic_in_result_fn,
    clippy::get_unwrap,
    clippy::cast_precision_loss
)]

#[path = "../tests/it/support/redis.rs"]
#[allow(dead_code)]
mod redis_support;

#[path = "../examples/axum_demo/app.rs"]
#[allow(dead_code)]
mod app;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use sealed_session::integrations::tower_sessions::TowerSessionStore;
use sealed_session::{KeyMaterial, Keyring, RedisBackend, Suite};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tower_sessions::MemoryStore;

const ROUNDS: usize = 5;
const ROUND_TIME: Duration = Duration::from_millis(1500);

/// A keep-alive HTTP/1.1 connection that carries one session cookie.
struct Client {
    stream: BufReader<TcpStream>,
    cookie: Option<String>,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        Client {
            stream: BufReader::new(stream),
            cookie: None,
        }
    }

    /// `GET /count`; returns the counter.
    async fn count(&mut self) -> u64 {
        let mut req = String::from("GET /count HTTP/1.1\r\nHost: bench\r\n");
        if let Some(c) = &self.cookie {
            req.push_str("Cookie: id=");
            req.push_str(c);
            req.push_str("\r\n");
        }
        req.push_str("\r\n");
        self.stream
            .get_mut()
            .write_all(req.as_bytes())
            .await
            .unwrap();
        let mut len = 0usize;
        let mut status = String::new();
        self.stream.read_line(&mut status).await.unwrap();
        assert!(status.starts_with("HTTP/1.1 200"), "{status}");
        loop {
            let mut line = String::new();
            self.stream.read_line(&mut line).await.unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').unwrap();
            if name.eq_ignore_ascii_case("content-length") {
                len = value.trim().parse().unwrap();
            } else if name.eq_ignore_ascii_case("set-cookie") {
                let pair = value.trim().split(';').next().unwrap();
                if let Some(id) = pair.strip_prefix("id=") {
                    self.cookie = Some(id.to_owned());
                }
            }
        }
        let mut body = vec![0; len];
        self.stream.read_exact(&mut body).await.unwrap();
        String::from_utf8(body).unwrap().parse().unwrap()
    }
}

async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

struct Round {
    requests: u64,
    elapsed: Duration,
    latencies_us: Vec<u32>,
}

async fn round(addr: SocketAddr, connections: usize) -> Round {
    let started = Instant::now();
    let stop = started + ROUND_TIME;
    let mut tasks = Vec::new();
    for _ in 0..connections {
        tasks.push(tokio::spawn(async move {
            let mut client = Client::connect(addr).await;
            let mut last = 0;
            let mut lat = Vec::with_capacity(20_000);
            while Instant::now() < stop {
                let s = Instant::now();
                let n = client.count().await;
                lat.push(u32::try_from(s.elapsed().as_micros()).unwrap_or(u32::MAX));
                // The counter goes up by one per request: the session really round-trips.
                assert_eq!(n, last + 1);
                last = n;
            }
            lat
        }));
    }
    let mut latencies_us = Vec::new();
    for t in tasks {
        latencies_us.extend(t.await.unwrap());
    }
    latencies_us.sort_unstable();
    Round {
        requests: latencies_us.len() as u64,
        elapsed: started.elapsed(),
        latencies_us,
    }
}

fn summary(rounds: &[Round]) -> (f64, u32, u32) {
    let mut rates: Vec<f64> = rounds
        .iter()
        .map(|r| r.requests as f64 / r.elapsed.as_secs_f64())
        .collect();
    rates.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| {
        let mut v: Vec<u32> = rounds
            .iter()
            .map(|r| r.latencies_us[((r.latencies_us.len() - 1) as f64 * p) as usize])
            .collect();
        v.sort_unstable();
        v[v.len() / 2]
    };
    (rates[rates.len() / 2], pct(0.5), pct(0.99))
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let server = redis_support::RedisServer::start();
    runtime.block_on(async {
        let backend = RedisBackend::connect(&server.url()).await.unwrap();
        let keyring =
            Keyring::single(1, Suite::Aes256Gcm, KeyMaterial::generate().unwrap()).unwrap();
        let ours = TowerSessionStore::new(
            TowerSessionStore::builder(backend)
                .keyring(keyring)
                .build()
                .unwrap(),
        )
        .unwrap();
        let sealed = serve(app::app(ours)).await;
        let memory = serve(app::app(MemoryStore::default())).await;
        println!(
            "{:>5}  {:>34}  {:>9}  {:>7}  {:>7}",
            "conns", "store", "req/s", "p50 µs", "p99 µs"
        );
        for connections in [1, 16, 64] {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            for _ in 0..ROUNDS {
                a.push(round(memory, connections).await);
                b.push(round(sealed, connections).await);
            }
            let (ra, pa50, pa99) = summary(&a);
            let (rb, pb50, pb99) = summary(&b);
            println!(
                "{connections:>5}  {:>34}  {ra:>9.0}  {pa50:>7}  {pa99:>7}",
                "tower-sessions MemoryStore"
            );
            println!(
                "{connections:>5}  {:>34}  {rb:>9.0}  {pb50:>7}  {pb99:>7}   ({:.0} % of MemoryStore)",
                "sealed-session on Redis (AES-GCM)",
                100.0 * rb / ra
            );
        }
    });
}
