//! The actix-web demo: `cargo run --example actix_demo --features actix-session`.
//!
//! Sessions live in the embedded in-memory backend, or in Redis when `REDIS_URL` is set.
//! The session key and the cookie key are generated at start-up, so sessions do not survive
//! a restart; a real service loads its keyring from configuration (see `docs/ROTATION.md`).
//! `PORT` chooses the port (default: any free one). The address is printed on start.

#![allow(clippy::expect_used, clippy::unwrap_used)]

mod app;

use actix_web::cookie::Key;
use actix_web::{App, HttpServer};
use sealed_session::integrations::actix_session::ActixSessionStore;
use sealed_session::{Backend, KeyMaterial, Keyring, MemoryBackend, RedisBackend, Store, Suite};

fn store<B: Backend>(backend: B) -> ActixSessionStore<B> {
    let keyring = Keyring::single(1, Suite::Aes256Gcm, KeyMaterial::generate().unwrap())
        .expect("a one-key keyring");
    ActixSessionStore::new(
        Store::builder(backend)
            .keyring(keyring)
            .prefix("demo:actix:")
            .build()
            .expect("a valid store configuration"),
    )
    .expect("hashed storage keys")
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
            .configure(app::routes)
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
