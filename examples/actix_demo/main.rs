//! The actix-web demo: `cargo run --example actix_demo --features actix-session`.
//!
//! Sessions live in the embedded in-memory backend, or in Redis when `REDIS_URL` is set.
//! The session key and the cookie key are generated at start-up, so sessions do not survive
//! a restart; a real service loads its keyring from configuration (see `docs/ROTATION.md`).
//! `PORT` chooses the port (default: any free one). The address is printed on start.
//!
//! Log in under one name from two browsers: `/sessions` lists both (this device marked),
//! a revoke in one logs the other out at its next request, and "Log out everywhere" ends
//! them all.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod app;

use actix_web::cookie::Key;
use actix_web::{App, HttpServer};
use sealed_session::integrations::actix_session::ActixSessionStore;
use sealed_session::{
    Backend, IndexKeys, KeyMaterial, Keyring, MemoryBackend, Owners, RedisBackend, Store, Suite,
};

fn store<B: Backend>(backend: B) -> ActixSessionStore<B> {
    let keyring = Keyring::builder()
        .primary(1, Suite::Aes256Gcm, KeyMaterial::generate().unwrap())
        .index_keys(IndexKeys::new(1, KeyMaterial::generate().unwrap()))
        .build()
        .expect("a keyring with an index key");
    ActixSessionStore::new(
        Store::builder(backend)
            .keyring(keyring)
            .prefix("demo:actix:")
            .owners(Owners::new())
            .build()
            .expect("a valid store configuration"),
    )
    .expect("hashed storage keys")
    .owner_field(app::USER)
    .expect("the store has an owner index")
    .label_field(app::DEVICE)
    // Two requests of one browser that change different entries both keep their change.
    .merge_on_conflict()
}

async fn run<B: Backend + Clone>(
    store: ActixSessionStore<B>,
    backend: &str,
) -> std::io::Result<()> {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
    let addr = listener.local_addr()?;
    let cookie_key = Key::generate();
    println!("sealed-session actix-web demo on http://{addr}/ (sessions in {backend})");
    HttpServer::new(move || {
        App::new()
            .wrap(app::sessions(store.clone(), cookie_key.clone()))
            .app_data(actix_web::web::Data::new(store.clone()))
            .configure(app::routes)
            .configure(app::session_routes::<B>)
    })
    .listen(listener)?
    .run()
    .await
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    match std::env::var("REDIS_URL") {
        Ok(url) => {
            let backend = RedisBackend::connect(&url)
                .await
                .expect("connect to REDIS_URL");
            run(store(backend), "Redis").await
        }
        Err(_) => {
            run(
                store(std::sync::Arc::new(MemoryBackend::new())),
                "the in-memory backend",
            )
            .await
        }
    }
}
