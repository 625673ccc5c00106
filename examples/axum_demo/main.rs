//! The axum demo: `cargo run --example axum_demo --features tower-sessions`.
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
//! Log in under one name from two browsers: `/sessions` lists both (this device marked),
//! a revoke in one logs the other out at its next request, and "Log out everywhere" ends
//! them all.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod app;

use sealed_session::integrations::tower_sessions::TowerSessionStore;
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
            (app::app_with_sessions(store(backend)), "Redis")
        }
        Err(_) => (
            app::app_with_sessions(store(MemoryBackend::new())),
            "the in-memory backend",
        ),
    };
    println!("sealed-session axum demo on http://{addr}/ (sessions in {backend})");
    axum::serve(listener, router).await.expect("serve");
}
