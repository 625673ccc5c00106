//! Load against one store on a real `redis-server`: in its own test binary, so it does not
//! share the machine with the timing-sensitive fault tests.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice,
    clippy::unwrap_in_result,
    clippy::panic_in_result_fn,
    clippy::get_unwrap
)]
#![cfg(feature = "redis")]

#[path = "it/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use sealed_session::{RedisBackend, Session, SessionId, Store};
use support::redis::RedisServer;
use support::{WebSession, keyring};

type RedisStore = Store<WebSession, RedisBackend>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_tasks_of_two_thousand_operations_without_an_error() {
    let server = RedisServer::start();
    let backend = RedisBackend::builder()
        .url(server.url())
        .response_timeout(Duration::from_secs(5))
        .connect()
        .await
        .unwrap();
    let store: Arc<RedisStore> =
        Arc::new(Store::builder(backend).keyring(keyring(1)).build().unwrap());
    let mut tasks = Vec::new();
    for t in 0..64u64 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let mut ops = 0u32;
            // 500 rounds of save, load, touch, destroy (+ a load that must miss).
            for round in 0..500u64 {
                let id = SessionId::generate().unwrap();
                let mut data = WebSession::sample(t);
                data.flash = vec![format!("task {t} round {round}")];
                let mut session = Session::new(data.clone());
                store.save(&id, &mut session).await.unwrap();
                let loaded = store.load(&id).await.unwrap().expect("acknowledged save");
                assert_eq!(loaded.data, data);
                store.touch(&id, &loaded).await.unwrap();
                assert!(store.destroy(&id).await.unwrap());
                ops += 4;
            }
            ops
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await.expect("a task failed");
    }
    assert_eq!(total, 64 * 2000);
    assert_eq!(store.len().await.unwrap(), 0);
}
