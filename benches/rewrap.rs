//! Bulk re-seal throughput and memory on a real local `redis-server`.
//!
//! Fills Redis with N sessions of 1 KiB (bincode) sealed under key 1, promotes key 2, and
//! re-seals everything with `Store::rewrap`, a page at a time. Reports sessions per second
//! and the growth of the process's peak resident memory during the re-seal (the peak is
//! reset through `/proc/self/clear_refs` just before), for several N in one run: if memory
//! grows with N, it shows here.
//!
//! Run: `cargo bench --bench rewrap` (sizes: `BENCH_SESSIONS=10000,100000`, default both;
//! page size: `BENCH_BATCH`, default 500; `BENCH_CLUSTER=1` for a local 3-primary Cluster
//! instead of a standalone server).

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

use std::time::Instant;

use sealed_session::envelope::Header;
use sealed_session::{Backend, Fetched};
use sealed_session::{
    KeyMaterial, Keyring, KeyringHandle, RedisBackend, RewrapOptions, Session, SessionId, Store,
    Suite,
};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone)]
struct WebSession {
    user_id: u64,
    csrf_token: String,
    flash: Vec<String>,
    cart: Vec<(String, u32, u64)>,
}

/// 1,024 bytes of bincode.
fn session(n: u64) -> WebSession {
    WebSession {
        user_id: n,
        csrf_token: "q3Zf1xw9b0N2mJ7cR4tK8yL6pV5sA1dE0gH3jU2iO9".into(),
        flash: vec!["x".repeat(615)],
        cart: (0..8)
            .map(|i| {
                (
                    format!("SKU-{i:04}-XL-BLUE, organic cotton t-shirt"),
                    i,
                    1999,
                )
            })
            .collect(),
    }
}

fn status_kib(field: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").unwrap();
    text.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap()
}

fn main() {
    let sizes: Vec<usize> = std::env::var("BENCH_SESSIONS")
        .unwrap_or_else(|_| "10000,100000".into())
        .split(',')
        .map(|n| n.trim().parse().unwrap())
        .collect();
    let batch: usize = std::env::var("BENCH_BATCH")
        .ok()
        .map_or(500, |b| b.parse().unwrap());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let cluster = std::env::var("BENCH_CLUSTER").is_ok_and(|v| v == "1");
    let (_server, _cluster, urls) = if cluster {
        let c = redis_support::RedisCluster::start();
        let urls = c.urls();
        (None, Some(c), urls)
    } else {
        let s = redis_support::RedisServer::start();
        let urls = vec![s.url()];
        (Some(s), None, urls)
    };
    let encoded = bincode::serde::encode_to_vec(session(0), bincode::config::standard())
        .unwrap()
        .len();
    println!(
        "session: {encoded} bytes of bincode, envelope {} bytes; batch {batch}; {}",
        encoded + 95,
        if cluster {
            "3-primary Cluster"
        } else {
            "standalone"
        }
    );
    println!(
        "{:>9} {:>10} {:>12} {:>14} {:>14} {:>16}",
        "sessions", "fill s", "rewrap s", "sessions/s", "census/s", "peak growth MiB"
    );
    runtime.block_on(async {
        let k1 = KeyMaterial::generate().unwrap();
        let k2 = KeyMaterial::generate().unwrap();
        let k1_copy = KeyMaterial::from_slice(k1.expose_secret()).unwrap();
        let handle = KeyringHandle::new(Keyring::single(1, Suite::Aes256Gcm, k1).unwrap());
        let backend = if cluster {
            RedisBackend::builder()
                .cluster_nodes(urls.clone())
                .connect()
                .await
                .unwrap()
        } else {
            RedisBackend::connect(&urls[0]).await.unwrap()
        };
        let store: Store<WebSession, RedisBackend> = Store::builder(backend)
            .keyring_handle(handle.clone())
            .build()
            .unwrap();
        let promoted = || {
            Keyring::builder()
                .primary(
                    2,
                    Suite::Aes256Gcm,
                    KeyMaterial::from_slice(k2.expose_secret()).unwrap(),
                )
                .decrypt_only(
                    1,
                    Suite::Aes256Gcm,
                    KeyMaterial::from_slice(k1_copy.expose_secret()).unwrap(),
                )
                .build()
                .unwrap()
        };
        for &n in &sizes {
            store.clear().await.unwrap();
            handle.replace(
                Keyring::single(
                    1,
                    Suite::Aes256Gcm,
                    KeyMaterial::from_slice(k1_copy.expose_secret()).unwrap(),
                )
                .unwrap(),
            );
            // Fill with 16 concurrent writers.
            let fill = Instant::now();
            let mut tasks = Vec::new();
            for t in 0..16 {
                let store = store.clone();
                tasks.push(tokio::spawn(async move {
                    for i in (t..n).step_by(16) {
                        let id = SessionId::generate().unwrap();
                        store
                            .save(&id, &mut Session::new(session(i as u64)))
                            .await
                            .unwrap();
                    }
                }));
            }
            for task in tasks {
                task.await.unwrap();
            }
            let fill_s = fill.elapsed().as_secs_f64();

            handle.replace(promoted());
            let census_started = Instant::now();
            let census = store.census().await.unwrap();
            let census_s = census_started.elapsed().as_secs_f64();
            assert_eq!(census.count(1), n as u64);

            std::fs::write("/proc/self/clear_refs", "5").unwrap();
            let rss_before = status_kib("VmRSS:");
            let started = Instant::now();
            let report = store
                .rewrap(&RewrapOptions::default().batch(batch), |_| {})
                .await
                .unwrap();
            let secs = started.elapsed().as_secs_f64();
            let peak = status_kib("VmHWM:");
            assert_eq!(report.resealed, n as u64);
            let census = store.census().await.unwrap();
            assert_eq!((census.count(1), census.count(2)), (0, n as u64));
            // A spot check that a value is a real envelope under key 2.
            let id = store.ids().await.unwrap().swap_remove(0);
            let key = format!("sess:{}", id.as_str());
            let Fetched::Value(value) = store.backend().get(&key, 1 << 20).await.unwrap() else {
                panic!("no value under a listed key");
            };
            assert_eq!(Header::parse(&value).unwrap().key_id, 2);
            println!(
                "{n:>9} {fill_s:>10.2} {secs:>12.2} {:>14.0} {:>14.0} {:>16.1}",
                n as f64 / secs,
                n as f64 / census_s,
                peak.saturating_sub(rss_before) as f64 / 1024.0
            );
        }
    });
}
