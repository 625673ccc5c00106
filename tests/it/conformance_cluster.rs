//! The store conformance suite on a real local 3-primary Redis Cluster, one per test.

#[cfg(feature = "conformance")]
use sealed_session::ManualClock;

#[cfg(feature = "conformance")]
use crate::support::redis::Served;

#[cfg(feature = "conformance")]
sealed_session::store_conformance!(async |_clock: &ManualClock| Served::cluster().await);

mod faults {
    use std::time::{Duration, Instant};

    use sealed_session::{Error, RedisBackend, Session, SessionId, Store};

    use crate::support::redis::RedisCluster;
    use crate::support::{WebSession, keyring};

    /// A frozen primary: sessions in its slots time out within the deadline (never hang),
    /// sessions elsewhere keep working, and all work again once it is thawed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_frozen_primary_times_out_its_slots_only_and_recovers() {
        let cluster = RedisCluster::start();
        let backend = RedisBackend::builder()
            .cluster_nodes(cluster.urls())
            .response_timeout(Duration::from_millis(300))
            .connect()
            .await
            .unwrap();
        let store: Store<WebSession, RedisBackend> =
            Store::builder(backend).keyring(keyring(1)).build().unwrap();
        let mut ids = Vec::new();
        for n in 0..30 {
            let id = SessionId::generate().unwrap();
            store
                .save(&id, &mut Session::new(WebSession::sample(n)))
                .await
                .unwrap();
            ids.push(id);
        }

        cluster.nodes[0].freeze();
        let (mut ok, mut timed_out) = (0, 0);
        for id in &ids {
            let started = Instant::now();
            match store.load(id).await {
                Ok(Some(_)) => ok += 1,
                Err(Error::Backend(e)) if e.is_timeout() => timed_out += 1,
                other => panic!("unexpected: {other:?}"),
            }
            let took = started.elapsed();
            assert!(took < Duration::from_millis(600), "a load took {took:?}");
        }
        assert!(ok > 0, "sessions on the healthy primaries must still load");
        assert!(
            timed_out > 0,
            "30 random keys all missed a third of the slots?"
        );

        cluster.nodes[0].thaw();
        let thawed = Instant::now();
        for id in &ids {
            loop {
                match store.load(id).await {
                    Ok(Some(_)) => break,
                    other => {
                        assert!(
                            thawed.elapsed() < Duration::from_secs(3),
                            "not recovered after SIGCONT: {other:?}"
                        );
                        tokio::time::sleep(Duration::from_millis(25)).await;
                    }
                }
            }
        }
    }
}
