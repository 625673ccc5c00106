//! Express migration on a real local `redis-server`: the bulk import rate and the cost of a
//! legacy cookie's first request against a normal load.
//!
//! Import: N copies of a connect-redis record and N copies of the connect-redis-crypto record
//! kruptein wrote (`tests/fixtures/express/`; a copy costs what any record costs: one
//! PBKDF2-SHA512 of 15,000 iterations, one HMAC-SHA512, one AES-256-GCM), each under its own
//! id, imported with `Importer::import_all`. Reported in records per second.
//!
//! First request: `Migrator::migrate_cookie` on a fresh legacy cookie (verify the cookie,
//! read and decode the record, create the session, claim, delete the record), for both
//! formats and for an imported entry, against `Store::load` of a migrated session. Reported
//! as the mean over M requests, one after another.
//!
//! Run: `cargo bench --bench migrate` (sizes: `BENCH_RECORDS`, default 2000; `BENCH_REQUESTS`,
//! default 300).

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

use sealed_session::migrate::{
    ConnectRedis, ConnectRedisCrypto, ExpressCookies, ImportOptions, LegacyFormat, LegacySid,
    LegacySource, Migrator,
};
use sealed_session::{
    Backend, Json, KeyMaterial, Keyring, RedisBackend, SetMode, Store, StoreBuilder, Suite,
};
use serde_json::{Map, Value};

const CRYPTO_RECORD: &[u8] = include_bytes!("../tests/fixtures/express/connect-redis-crypto.json");
const CRYPTO_SECRET: &str = "correct horse battery staple";
/// The plaintext of that record: what connect-redis stores for the same session.
const PLAIN_RECORD: &[u8] = include_bytes!("../tests/fixtures/express/session.json");

type Data = Map<String, Value>;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .map_or(default, |v| v.parse().unwrap())
}

fn store(backend: RedisBackend, prefix: &str) -> Store<Data, RedisBackend> {
    let keyring = Keyring::single(1, Suite::Aes256Gcm, KeyMaterial::generate().unwrap()).unwrap();
    StoreBuilder::with_codec(backend, Json)
        .keyring(keyring)
        .prefix(prefix)
        .build()
        .unwrap()
}

async fn fill(backend: &RedisBackend, prefix: &str, record: &[u8], n: usize) -> Vec<String> {
    let mut sids = Vec::with_capacity(n);
    for i in 0..n {
        let sid = format!("bench-{prefix}-{i:08}-aBcDeFgHiJkLmNoP");
        backend
            .set(&format!("{prefix}{sid}"), record, None, SetMode::Upsert)
            .await
            .unwrap();
        sids.push(sid);
    }
    sids
}

async fn import_rate(
    backend: &RedisBackend,
    format: impl LegacyFormat,
    record: &[u8],
    n: usize,
    label: &str,
) {
    let legacy_prefix = format!("{label}:");
    fill(backend, &legacy_prefix, record, n).await;
    let store = store(backend.clone(), &format!("rs-{label}:"));
    let source = LegacySource::new(backend.clone(), format).with_prefix(legacy_prefix);
    let importer = sealed_session::migrate::Importer::new(&store, &source);
    let started = Instant::now();
    let report = importer
        .import_all(&ImportOptions::default(), |_| {})
        .await
        .unwrap();
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(report.converted, n as u64);
    println!(
        "import {label:<22} {n:>6} records in {secs:>7.2} s: {:>9.0} records/s",
        n as f64 / secs
    );
}

async fn first_requests(backend: &RedisBackend, m: usize) {
    let cookies = ExpressCookies::new(["keyboard cat"]).unwrap();
    let sign = |sid: &str| cookies.sign(&LegacySid::from_stored(sid));
    let mut results = Vec::new();
    for (label, crypto, imported) in [
        ("connect-redis", false, false),
        ("connect-redis-crypto", true, false),
        ("connect-redis-crypto, imported", true, true),
    ] {
        let tag = label.replace([',', ' '], "");
        let legacy_prefix = format!("fr-{tag}:");
        let record = if crypto { CRYPTO_RECORD } else { PLAIN_RECORD };
        let sids = fill(backend, &legacy_prefix, record, m).await;
        let store = store(backend.clone(), &format!("rs-fr-{tag}:"));
        let source = if crypto {
            LegacySource::new(
                backend.clone(),
                ConnectRedisCrypto::new(CRYPTO_SECRET).unwrap(),
            )
        } else {
            LegacySource::new(backend.clone(), ConnectRedis)
        };
        let source = source.with_prefix(legacy_prefix);
        if imported {
            sealed_session::migrate::Importer::new(&store, &source)
                .import_all(&ImportOptions::default(), |_| {})
                .await
                .unwrap();
        }
        let migrator = Migrator::new(store.clone(), source, cookies.clone());
        let values: Vec<String> = sids.iter().map(|s| sign(s)).collect();
        let mut ids = Vec::with_capacity(m);
        let started = Instant::now();
        for cookie in &values {
            let moved = migrator.migrate_cookie(cookie).await.unwrap().unwrap();
            ids.push(moved.id().clone());
        }
        let migrate = started.elapsed() / u32::try_from(m).unwrap();
        let started = Instant::now();
        for id in &ids {
            store.load(id).await.unwrap().unwrap();
        }
        let load = started.elapsed() / u32::try_from(m).unwrap();
        results.push((label, migrate, load));
    }
    for (label, migrate, load) in results {
        println!(
            "first request {label:<32} {:>8.1} µs; a normal load {:>6.1} µs ({:.1}×)",
            migrate.as_secs_f64() * 1e6,
            load.as_secs_f64() * 1e6,
            migrate.as_secs_f64() / load.as_secs_f64()
        );
    }
}

fn main() {
    let n = env_usize("BENCH_RECORDS", 2000);
    let m = env_usize("BENCH_REQUESTS", 300);
    let server = redis_support::RedisServer::start();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let backend = RedisBackend::connect(&server.url()).await.unwrap();
        import_rate(
            &backend,
            ConnectRedis,
            PLAIN_RECORD,
            n * 10,
            "connect-redis",
        )
        .await;
        import_rate(
            &backend,
            ConnectRedisCrypto::new(CRYPTO_SECRET).unwrap(),
            CRYPTO_RECORD,
            n,
            "connect-redis-crypto",
        )
        .await;
        first_requests(&backend, m).await;
    });
}
