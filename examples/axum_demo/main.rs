//! The axum demo: `cargo run --example axum_demo --features tower-sessions,express`.
//!
//! Sessions live in the embedded in-memory backend, or in Redis when `REDIS_URL` is set
//! (`REDIS_URL=redis://127.0.0.1:6379/`). The key is generated at start-up, so sessions do
//! not survive a restart; a real service loads its keyring from configuration (see
//! `docs/ROTATION.md`). `PORT` chooses the port (default: any free one). The address is
//! printed on start.
//!
//! Concurrent requests of one browser keep each other's changes (`merge_on_conflict`):
//! two `POST /prefs` at once, with different names, both stick.
//!
//! Migration from Express: with `LEGACY_SECRET` set (express-session's secret, or a JSON
//! array of them, first one signing), a request carrying express-session's cookie
//! (`connect.sid`, or `LEGACY_COOKIE`) has its session moved from the Express app's Redis
//! (`LEGACY_REDIS_URL`, else `REDIS_URL`) into this app, and gets this app's cookie.
//! Records are connect-redis's, or connect-redis-crypto's when `LEGACY_CRYPTO_SECRET` (its
//! store secret) is set; `LEGACY_PREFIX` is their prefix (default `sess:`). `GET
//! /entry/{name}` shows one entry of the session as JSON.
//!
//! Log in under one name from two browsers: `/sessions` lists both (this device marked),
//! a revoke in one logs the other out at its next request, and "Log out everywhere" ends
//! them all.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod app;

use axum::Router;
use sealed_session::integrations::tower_sessions::{ExpressMigrationLayer, TowerSessionStore};
use sealed_session::migrate::{ConnectRedis, ConnectRedisCrypto, ExpressCookies, LegacySource};
use sealed_session::{
    Backend, IndexKeys, KeyMaterial, Keyring, MemoryBackend, Owners, RedisBackend, Suite,
};

fn store<B: Backend>(backend: B) -> TowerSessionStore<B> {
    let keyring = Keyring::builder()
        .primary(1, Suite::Aes256Gcm, KeyMaterial::generate().unwrap())
        .index_keys(IndexKeys::new(1, KeyMaterial::generate().unwrap()))
        .build()
        .expect("a keyring with an index key");
    let store = TowerSessionStore::builder(backend)
        .keyring(keyring)
        .prefix("demo:sess:")
        .owners(Owners::new())
        .build()
        .expect("a valid store configuration");
    TowerSessionStore::new(store)
        .expect("a store set up by TowerSessionStore::builder")
        .owner_field(app::USER)
        .expect("the store has an owner index")
        .label_field(app::DEVICE)
        // Two requests of one browser that change different entries both keep their change.
        .merge_on_conflict()
}

/// The router over `store`, with the Express migration in front when `LEGACY_SECRET` is set.
async fn router<B: Backend>(store: TowerSessionStore<B>) -> Router {
    let Ok(secret) = std::env::var("LEGACY_SECRET") else {
        return app::app_with_sessions(store);
    };
    let secrets: Vec<String> = if secret.starts_with('[') {
        serde_json::from_str(&secret).expect("LEGACY_SECRET: a JSON array of strings")
    } else {
        vec![secret]
    };
    let mut cookies = ExpressCookies::new(secrets).expect("LEGACY_SECRET: not empty");
    if let Ok(name) = std::env::var("LEGACY_COOKIE") {
        cookies = cookies.with_name(name);
    }
    let url = std::env::var("LEGACY_REDIS_URL")
        .or_else(|_| std::env::var("REDIS_URL"))
        .expect("LEGACY_REDIS_URL or REDIS_URL: the Express app's Redis");
    let legacy = RedisBackend::connect(&url)
        .await
        .expect("connect to the Express app's Redis");
    let prefix = std::env::var("LEGACY_PREFIX").unwrap_or_else(|_| "sess:".to_owned());
    let source = match std::env::var("LEGACY_CRYPTO_SECRET") {
        Ok(secret) => LegacySource::new(
            legacy,
            ConnectRedisCrypto::new(secret).expect("LEGACY_CRYPTO_SECRET: not empty"),
        ),
        Err(_) => LegacySource::new(legacy, ConnectRedis),
    }
    .with_prefix(prefix);
    let migration = ExpressMigrationLayer::new(&store, source, cookies)
        // As the demo's SessionManagerLayer: plain HTTP on localhost.
        .with_secure(false);
    println!("migrating express-session cookies from {url}");
    app::app_with_sessions(store).layer(migration)
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt().init();
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind 127.0.0.1");
    let addr = listener.local_addr().expect("a local address");
    let (router, backend) = match std::env::var("REDIS_URL") {
        Ok(url) => {
            let backend = RedisBackend::connect(&url)
                .await
                .expect("connect to REDIS_URL");
            (router(store(backend)).await, "Redis")
        }
        Err(_) => (
            router(store(MemoryBackend::new())).await,
            "the in-memory backend",
        ),
    };
    println!("sealed-session axum demo on http://{addr}/ (sessions in {backend})");
    axum::serve(listener, router).await.expect("serve");
}
