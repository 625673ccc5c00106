//! A tour of the pipeline: store a session, look at what the backend holds, load it back,
//! and watch a tampered copy and a copy moved to another session's key being refused.
//!
//! Run: `cargo run --example demo` (embedded in-memory backend), or with a Redis server:
//! `REDIS_URL=redis://127.0.0.1:6379/ cargo run --example demo`

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use sealed_session::envelope::Header;
use sealed_session::{
    Backend, Fetched, KeyMaterial, Keyring, MemoryBackend, RedisBackend, Session, SessionId,
    SetMode, Store, Suite,
};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
struct Cart {
    user: String,
    items: Vec<String>,
    visits: u32,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), sealed_session::Error> {
    // A fresh random key for this run; a real deployment loads its keys from configuration.
    let keyring = Keyring::single(1, Suite::Aes256Gcm, KeyMaterial::generate()?)?;
    println!("keyring: {keyring:?}");
    match std::env::var("REDIS_URL") {
        Ok(url) => {
            // Print the address only: a URL may carry a password.
            println!("backend: Redis at {}", url.rsplit('@').next().unwrap_or(""));
            let backend = RedisBackend::connect(&url).await?;
            // A prefix of its own, so the tour never touches anything else in that database.
            let store = Store::builder(backend)
                .keyring(keyring)
                .prefix("sealed-session-demo:")
                .build()?;
            tour(store).await
        }
        Err(_) => {
            println!("backend: embedded, in memory (set REDIS_URL to use Redis)");
            let store = Store::builder(MemoryBackend::new())
                .keyring(keyring)
                .build()?;
            tour(store).await
        }
    }
}

async fn tour<B: Backend>(store: Store<Cart, B>) -> Result<(), sealed_session::Error> {
    // 1. Save a session under a new id.
    let id = SessionId::generate()?;
    let mut session = Session::new(Cart {
        user: "alice".into(),
        items: vec!["rust-book".into(), "ferris-mug".into()],
        visits: 1,
    });
    store.create(&id, &mut session).await?;
    println!("\nsession id (the cookie value, a secret): {}", id.as_str());

    // 2. What the backend holds: a hashed key and an envelope.
    let key = store.storage_key(&id);
    let value = raw(&store, &key).await?;
    println!("storage key (prefix + SHA-256 of the id): {key}");
    let header = Header::parse(&value).map_err(sealed_session::Error::Rejected)?;
    println!("stored value: {} bytes", value.len());
    println!(
        "  header: version 1, suite {}, codec {}, key id {}, expires_at {}",
        header.suite, header.codec, header.key_id, header.expires_at
    );
    println!("  salt:       {}", hex(&value[15..47]));
    println!("  commitment: {}", hex(&value[47..79]));
    println!("  ciphertext: {}", hex(&value[79..value.len() - 16]));
    println!("  tag:        {}", hex(&value[value.len() - 16..]));
    let readable = value.windows(5).any(|w| w == b"alice");
    println!("  does the stored value contain \"alice\"? {readable}");

    // 3. Load it back.
    let mut loaded = store.load(&id).await?.expect("present");
    println!("\nloaded: {:?}", loaded.data);
    loaded.data.visits += 1;
    store.save(&id, &mut loaded).await?;

    // 4. Tamper with one bit of the stored value: refused, never returned.
    let mut tampered = raw(&store, &key).await?;
    let last = tampered.len() - 1;
    tampered[last] ^= 0x01;
    store
        .backend()
        .set(&key, &tampered, None, SetMode::Upsert)
        .await?;
    match store.load(&id).await {
        Err(e) if e.is_rejected() => println!("\ntampered copy refused: {e}"),
        other => panic!("tampering went unnoticed: {other:?}"),
    }

    // 5. Copy a valid value from one session's key to another's: refused too.
    let mallory = SessionId::generate()?;
    store
        .save(
            &mallory,
            &mut Session::new(Cart {
                user: "mallory".into(),
                items: vec![],
                visits: 1,
            }),
        )
        .await?;
    let mallory_value = raw(&store, &store.storage_key(&mallory)).await?;
    store
        .backend()
        .set(&key, &mallory_value, None, SetMode::Upsert)
        .await?;
    match store.load(&id).await {
        Err(e) if e.is_rejected() => println!("value moved from another session refused: {e}"),
        other => panic!("swapped value accepted: {other:?}"),
    }

    // 6. Cycle the id (as after a log-in) and clean up.
    let mut fresh = store.load(&mallory).await?.expect("present");
    let new_id = store.cycle_id(&mallory, &mut fresh).await?;
    println!(
        "\nafter cycle_id: old id loads {:?}, new id loads {}",
        store.load(&mallory).await?.map(|s| s.data.user),
        store.load(&new_id).await?.expect("present").data.user
    );
    println!("sessions stored: {}", store.len().await?);
    println!("removed by clear(): {}", store.clear().await?);
    Ok(())
}

/// The bytes the backend holds under `key`, as someone reading the database sees them.
async fn raw<B: Backend>(
    store: &Store<Cart, B>,
    key: &str,
) -> Result<Vec<u8>, sealed_session::Error> {
    match store.backend().get(key, usize::MAX).await? {
        Fetched::Value(value) => Ok(value),
        other => panic!("expected a stored value, found {other:?}"),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
