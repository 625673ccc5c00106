//! What the Redis backend puts in Redis, checked with a plain connection beside the store;
//! hostile values planted under session keys; faults (killed and frozen servers); load.

use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use sealed_session::{
    Backend, BackendErrorKind, Bincode, Codec, Error, Fetched, KeyMaterial, Keyring, RedisBackend,
    RejectKind, Session, SessionId, SetMode, Store, Suite, Swap,
};

use crate::support;
use crate::support::redis::RedisServer;
use crate::support::{WebSession, keyring, raw_get};

type RedisStore = Store<WebSession, RedisBackend>;

async fn store_on(
    server: &RedisServer,
    configure: impl FnOnce(StoreBuilder) -> StoreBuilder,
) -> RedisStore {
    let backend = RedisBackend::builder()
        .url(server.url())
        .connect_timeout(Duration::from_millis(500))
        .response_timeout(Duration::from_millis(300))
        .connect()
        .await
        .unwrap();
    configure(Store::builder(backend).keyring(keyring(1)))
        .build()
        .unwrap()
}

type StoreBuilder =
    sealed_session::StoreBuilder<WebSession, RedisBackend, sealed_session::WithKeyring>;

/// A plain connection beside the store, as an operator (or an attacker) would have.
async fn raw(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

// ---- what is in Redis ------------------------------------------------------------------

#[tokio::test]
async fn the_value_is_an_envelope_that_holds_no_plaintext() {
    let server = RedisServer::start();
    let store = store_on(&server, |b| b).await;
    let mut redis = raw(&server).await;
    let id = SessionId::generate().unwrap();
    let data = WebSession::sample(42);
    store
        .save(&id, &mut Session::new(data.clone()))
        .await
        .unwrap();

    let keys: Vec<String> = redis.keys("*").await.unwrap();
    assert_eq!(keys, vec![store.storage_key(&id)]);
    assert_eq!(keys[0], format!("sess:{}", id.hashed().as_str()));

    let value: Vec<u8> = redis.get(&keys[0]).await.unwrap();
    assert_eq!(
        &value[..7],
        &[0x01, 0x01, 0x01, 0, 0, 0, 1],
        "v1, AES-256-GCM, bincode, key 1"
    );
    let mut plaintext = Vec::new();
    Codec::<WebSession>::encode(&Bincode, &data, &mut plaintext).unwrap();
    assert_eq!(value.len(), plaintext.len() + 95);
    for window in plaintext.windows(6) {
        assert!(
            !value.windows(6).any(|w| w == window),
            "plaintext bytes {window:?} in Redis"
        );
    }
    assert!(!value.windows(43).any(|w| w == id.as_str().as_bytes()));
}

#[tokio::test]
async fn pttl_matches_the_idle_ttl_and_touch_moves_it() {
    let server = RedisServer::start();
    let store = store_on(&server, |b| b.idle_ttl(Duration::from_secs(600))).await;
    let mut redis = raw(&server).await;
    let id = SessionId::generate().unwrap();
    let mut session = Session::new(WebSession::sample(1));
    store.save(&id, &mut session).await.unwrap();
    let key = store.storage_key(&id);
    let pttl: i64 = redis.pttl(&key).await.unwrap();
    assert!((595_000..=600_000).contains(&pttl), "PTTL {pttl}");

    let _: () = redis.pexpire(&key, 5_000).await.unwrap();
    store.touch(&id, &session).await.unwrap();
    let pttl: i64 = redis.pttl(&key).await.unwrap();
    assert!(
        (595_000..=600_000).contains(&pttl),
        "PTTL after touch {pttl}"
    );
}

#[tokio::test]
async fn pttl_never_exceeds_the_remaining_absolute_lifetime() {
    let server = RedisServer::start();
    let store = store_on(&server, |b| {
        b.idle_ttl(Duration::from_secs(86_400))
            .absolute_lifetime(Duration::from_secs(120))
    })
    .await;
    let mut redis = raw(&server).await;
    let id = SessionId::generate().unwrap();
    store
        .save(&id, &mut Session::new(WebSession::sample(1)))
        .await
        .unwrap();
    let pttl: i64 = redis.pttl(store.storage_key(&id)).await.unwrap();
    assert!((115_000..=120_000).contains(&pttl), "PTTL {pttl}");
}

#[tokio::test]
async fn values_swapped_with_redis_commands_are_refused_for_both_sessions() {
    let server = RedisServer::start();
    let store = store_on(&server, |b| b).await;
    let mut redis = raw(&server).await;
    let alice = SessionId::generate().unwrap();
    let mallory = SessionId::generate().unwrap();
    store
        .save(&alice, &mut Session::new(WebSession::sample(1)))
        .await
        .unwrap();
    store
        .save(&mallory, &mut Session::new(WebSession::sample(666)))
        .await
        .unwrap();
    let (ka, km) = (store.storage_key(&alice), store.storage_key(&mallory));
    let va: Vec<u8> = redis.get(&ka).await.unwrap();
    let vm: Vec<u8> = redis.get(&km).await.unwrap();
    let _: () = redis.set(&ka, vm).await.unwrap();
    let _: () = redis.set(&km, va).await.unwrap();
    for id in [&alice, &mallory] {
        let err = store.load(id).await.unwrap_err();
        assert_eq!(err.rejection_kind(), Some(RejectKind::Authentication));
    }
}

// ---- hostile values --------------------------------------------------------------------

#[tokio::test]
async fn hostile_values_are_refused_with_the_right_kind() {
    let server = RedisServer::start();
    let store = store_on(&server, |b| b).await;
    let other_prefix = store_on(&server, |b| b.prefix("other:")).await;
    let mut redis = raw(&server).await;

    // Genuine envelopes to move around.
    let donor = SessionId::generate().unwrap();
    store
        .save(&donor, &mut Session::new(WebSession::sample(9)))
        .await
        .unwrap();
    let from_other_key: Vec<u8> = redis.get(store.storage_key(&donor)).await.unwrap();
    other_prefix
        .save(&donor, &mut Session::new(WebSession::sample(9)))
        .await
        .unwrap();
    let from_other_prefix: Vec<u8> = redis.get(other_prefix.storage_key(&donor)).await.unwrap();
    let stranger: RedisStore = Store::builder(store.backend().clone())
        .keyring(Keyring::single(9, Suite::Aes256Gcm, KeyMaterial::generate().unwrap()).unwrap())
        .prefix("stranger:")
        .build()
        .unwrap();
    let victim = SessionId::generate().unwrap();
    stranger
        .save(&victim, &mut Session::new(WebSession::sample(1)))
        .await
        .unwrap();
    let unknown_key: Vec<u8> = redis.get(stranger.storage_key(&victim)).await.unwrap();

    let mut random = vec![0x77u8; 300];
    for (i, b) in random.iter_mut().enumerate().skip(1) {
        *b = (i * 7919 % 251) as u8;
    }
    let json = serde_json::to_vec(&serde_json::json!({
        "user_id": 1, "roles": ["admin"], "csrf": "x".repeat(100)
    }))
    .unwrap();
    let cases: Vec<(&str, Vec<u8>, RejectKind)> = vec![
        ("empty", Vec::new(), RejectKind::Length),
        ("random bytes", random, RejectKind::Version),
        (
            "10 MB string",
            vec![b'A'; 10 * 1024 * 1024],
            RejectKind::Length,
        ),
        ("JSON text", json, RejectKind::Version),
        (
            "envelope of another key",
            from_other_key,
            RejectKind::Authentication,
        ),
        (
            "envelope of another prefix",
            from_other_prefix,
            RejectKind::Authentication,
        ),
        (
            "envelope under an unknown key id",
            unknown_key,
            RejectKind::UnknownKey,
        ),
    ];
    for (what, value, expected) in cases {
        let id = SessionId::generate().unwrap();
        let _: () = redis.set(store.storage_key(&id), value).await.unwrap();
        let err = store.load(&id).await.unwrap_err();
        assert_eq!(err.rejection_kind(), Some(expected), "{what}: {err}");
    }
}

#[tokio::test]
async fn a_huge_value_is_not_transferred() {
    let server = RedisServer::start();
    let store = store_on(&server, |b| b).await;
    let mut redis = raw(&server).await;
    let _: () = redis
        .set("sess:huge", vec![b'A'; 10 * 1024 * 1024])
        .await
        .unwrap();
    let before = network_bytes_out(&server);
    let fetched = store.backend().get("sess:huge", 64 * 1024).await.unwrap();
    assert_eq!(fetched, Fetched::TooLarge { len: 64 * 1024 + 1 });
    let sent = network_bytes_out(&server) - before;
    assert!(
        sent < 128 * 1024,
        "the server sent {sent} bytes for a bounded read"
    );
}

/// Bytes the server has written to clients so far (INFO stats).
fn network_bytes_out(server: &RedisServer) -> u64 {
    let info = support::redis::raw_command(server.port, "INFO stats").unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("total_net_output_bytes:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("total_net_output_bytes in INFO stats")
}

// ---- faults ----------------------------------------------------------------------------

const TIMEOUT: Duration = Duration::from_millis(300);
const MARGIN: Duration = Duration::from_millis(250);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_server_gives_errors_not_hangs_and_recovers_after_restart() {
    let mut server = RedisServer::start();
    let store = Arc::new(store_on(&server, |b| b).await);
    let stop_at = Instant::now() + Duration::from_millis(1500);
    let mut tasks = Vec::new();
    for t in 0..16u64 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let (mut ok, mut failed, mut slowest) = (0u32, 0u32, Duration::ZERO);
            while Instant::now() < stop_at {
                let id = SessionId::generate().unwrap();
                let started = Instant::now();
                let result = async {
                    store
                        .save(&id, &mut Session::new(WebSession::sample(t)))
                        .await?;
                    store.load(&id).await
                }
                .await;
                slowest = slowest.max(started.elapsed());
                match result {
                    Ok(Some(s)) => {
                        assert_eq!(s.data.user_id, t);
                        ok += 1;
                    }
                    Ok(None) => panic!("an acknowledged save was not found"),
                    Err(Error::Backend(_)) => failed += 1,
                    Err(other) => panic!("not a backend error: {other:?}"),
                }
            }
            (ok, failed, slowest)
        }));
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    server.kill();
    let mut total_failed = 0;
    for task in tasks {
        let (ok, failed, slowest) = task.await.expect("a task panicked");
        assert!(ok > 0, "no operation succeeded before the kill");
        // save + load: two operations, each bounded by the timeout.
        assert!(
            slowest <= 2 * TIMEOUT + MARGIN,
            "an operation pair took {slowest:?}"
        );
        total_failed += failed;
    }
    assert!(total_failed > 0, "the kill went unnoticed");

    server.restart();
    let restarted = Instant::now();
    loop {
        let id = SessionId::generate().unwrap();
        let attempt = async {
            store
                .save(&id, &mut Session::new(WebSession::sample(1)))
                .await?;
            store.load(&id).await
        }
        .await;
        if let Ok(Some(_)) = attempt {
            break;
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(2),
            "not recovered 2 s after the restart: {attempt:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The connection has no per-command timer of its own: the backend's one deadline per
/// operation is all that bounds a command. Every operation, single or batched, must end in
/// a timeout against a server that accepts connections but never answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_backend_operation_times_out_against_a_frozen_server() {
    let server = RedisServer::start();
    let backend = RedisBackend::builder()
        .url(server.url())
        .connect_timeout(Duration::from_millis(500))
        .response_timeout(TIMEOUT)
        .connect()
        .await
        .unwrap();
    assert!(
        backend
            .set("k", b"v", Some(Duration::from_secs(60)), SetMode::Upsert)
            .await
            .unwrap()
    );
    let keys = vec!["k".to_owned(), "other".to_owned()];
    let swaps = [Swap {
        key: "k",
        expected: b"v",
        new: b"w",
    }];
    server.freeze();
    macro_rules! times_out {
        ($name:literal, $op:expr) => {{
            let started = Instant::now();
            // An outer bound, so an operation without a deadline fails here, not hangs.
            let result = tokio::time::timeout(TIMEOUT * 4, $op).await;
            let took = started.elapsed();
            match result {
                Err(_) => panic!("{} had no deadline: still waiting after {took:?}", $name),
                Ok(Err(e)) => assert_eq!(e.kind(), BackendErrorKind::Timeout, "{}: {e:?}", $name),
                Ok(Ok(v)) => panic!("{} answered {v:?} against a frozen server", $name),
            }
            assert!(took >= TIMEOUT, "{} gave up after {took:?}", $name);
            assert!(took <= TIMEOUT + MARGIN, "{} took {took:?}", $name);
        }};
    }
    times_out!("set", backend.set("k", b"x", None, SetMode::Upsert));
    times_out!("get", backend.get("k", 1024));
    times_out!("delete", backend.delete("k"));
    times_out!("expire", backend.expire("k", Duration::from_secs(5)));
    times_out!(
        "compare_and_swap",
        backend.compare_and_swap("k", b"v", b"w")
    );
    times_out!(
        "scan",
        backend.scan("", sealed_session::ScanCursor::start(), 10)
    );
    times_out!("get_many", backend.get_many(&keys, 1024));
    times_out!("get_many_prefix", backend.get_many_prefix(&keys, 8));
    times_out!(
        "compare_and_swap_many",
        backend.compare_and_swap_many(&swaps)
    );
    times_out!("delete_many", backend.delete_many(&keys));
    server.thaw();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_server_gives_timeouts_and_recovers_when_thawed() {
    let server = RedisServer::start();
    let store = store_on(&server, |b| b).await;
    let id = SessionId::generate().unwrap();
    store
        .save(&id, &mut Session::new(WebSession::sample(1)))
        .await
        .unwrap();

    server.freeze();
    for _ in 0..3 {
        let started = Instant::now();
        let err = store.load(&id).await.unwrap_err();
        let took = started.elapsed();
        match &err {
            Error::Backend(e) => assert_eq!(e.kind(), BackendErrorKind::Timeout, "{err:?}"),
            other => panic!("expected a timeout, got {other:?}"),
        }
        assert!(err.is_retryable());
        assert!(
            took <= TIMEOUT + MARGIN,
            "a load took {took:?} against a frozen server"
        );
        let started = Instant::now();
        let err = store
            .save(
                &SessionId::generate().unwrap(),
                &mut Session::new(WebSession::sample(2)),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::Backend(ref e) if e.is_timeout()),
            "{err:?}"
        );
        assert!(started.elapsed() <= TIMEOUT + MARGIN);
    }

    server.thaw();
    let thawed = Instant::now();
    loop {
        if let Ok(Some(s)) = store.load(&id).await {
            assert_eq!(s.data.user_id, 1);
            break;
        }
        assert!(
            thawed.elapsed() < Duration::from_secs(2),
            "not recovered after SIGCONT"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn a_load_survives_the_connection_being_killed_under_it() {
    let server = RedisServer::start();
    let store = store_on(&server, |b| b).await;
    let id = SessionId::generate().unwrap();
    store
        .save(&id, &mut Session::new(WebSession::sample(5)))
        .await
        .unwrap();
    let killed = support::redis::raw_command(server.port, "CLIENT KILL TYPE normal").unwrap();
    assert!(killed.starts_with(':'), "{killed}");
    // The read is retried once on the reconnected connection.
    assert_eq!(store.load(&id).await.unwrap().unwrap().data.user_id, 5);
}

#[tokio::test]
async fn a_write_on_a_dropped_connection_is_reported_not_replayed() {
    let server = RedisServer::start();
    let store = store_on(&server, |b| b).await;
    let id = SessionId::generate().unwrap();
    store
        .save(&id, &mut Session::new(WebSession::sample(1)))
        .await
        .unwrap();
    let mut loaded = store.load(&id).await.unwrap().unwrap();
    loaded.data.user_id = 2;
    let killed = support::redis::raw_command(server.port, "CLIENT KILL TYPE normal").unwrap();
    assert!(killed.starts_with(':'), "{killed}");
    let err = store.save(&id, &mut loaded).await.unwrap_err();
    match &err {
        Error::Backend(e) => {
            assert_eq!(e.kind(), BackendErrorKind::Connection, "{err:?}");
            assert!(e.is_retryable());
        }
        other => panic!("expected a connection error, got {other:?}"),
    }
    // Not replayed behind the caller's back: the stored session is still the old one.
    assert_eq!(store.load(&id).await.unwrap().unwrap().data.user_id, 1);
    // The caller may retry; the reconnected connection takes it.
    store.save(&id, &mut loaded).await.unwrap();
    assert_eq!(store.load(&id).await.unwrap().unwrap().data.user_id, 2);
}

#[tokio::test]
async fn an_unreachable_server_fails_within_the_connect_timeout() {
    let port = {
        let server = RedisServer::start();
        server.port
    }; // dropped: nothing listens there any more
    let started = Instant::now();
    let err = RedisBackend::builder()
        .url(format!("redis://127.0.0.1:{port}/"))
        .connect_timeout(Duration::from_millis(300))
        .connect()
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert!(started.elapsed() < Duration::from_millis(300) + MARGIN);
}

#[tokio::test]
async fn a_non_string_under_a_session_key_is_refused_not_an_error() {
    let server = RedisServer::start();
    let store = store_on(&server, |b| b).await;
    let mut redis = raw(&server).await;
    let good = SessionId::generate().unwrap();
    store
        .save(&good, &mut Session::new(WebSession::sample(1)))
        .await
        .unwrap();
    let planted = SessionId::generate().unwrap();
    let _: () = redis
        .hset(store.storage_key(&planted), "field", "value")
        .await
        .unwrap();
    let err = store.load(&planted).await.unwrap_err();
    assert_eq!(err.rejection_kind(), Some(RejectKind::Length), "{err:?}");
    // In a listing, the planted key is reported and the real session still comes back.
    let all = store.all().await.unwrap();
    assert_eq!(all.len(), 2);
    let kinds: Vec<Option<RejectKind>> = all
        .iter()
        .map(|(_, r)| r.as_ref().err().map(|e| e.kind()))
        .collect();
    assert!(kinds.contains(&Some(RejectKind::Length)));
    assert!(kinds.contains(&None));
}

#[tokio::test]
async fn an_optimistic_save_sets_the_ttl_a_save_sets_and_leaves_other_types_alone() {
    let server = RedisServer::start();
    let mut redis = raw(&server).await;
    let store = store_on(&server, |b| {
        b.idle_ttl(Duration::from_secs(600)).optimistic_saves()
    })
    .await;
    let id = SessionId::generate().unwrap();
    store
        .create(&id, &mut Session::new(WebSession::sample(1)))
        .await
        .unwrap();
    let key = store.storage_key(&id);
    let mut session = store.load(&id).await.unwrap().unwrap();
    let _: () = redis.pexpire(&key, 5_000).await.unwrap();
    // The script is sent by hash; a server that lost it gets the text once.
    let _: () = redis::cmd("SCRIPT")
        .arg("FLUSH")
        .query_async(&mut redis)
        .await
        .unwrap();
    store.save(&id, &mut session).await.unwrap();
    let pttl: i64 = redis.pttl(&key).await.unwrap();
    assert!((595_000..=600_000).contains(&pttl), "PTTL {pttl}");

    // A store without TTL clears one, as its plain save does.
    let untimed = store_on(&server, |b| b.disable_ttl().optimistic_saves()).await;
    let mut session = untimed.load(&id).await.unwrap().unwrap();
    untimed.save(&id, &mut session).await.unwrap();
    let pttl: i64 = redis.pttl(&key).await.unwrap();
    let lifetime = store.absolute_lifetime().unwrap().as_millis() as i64;
    assert!(
        (lifetime - 5_000..=lifetime).contains(&pttl),
        "PTTL {pttl}: the rest of the absolute lifetime"
    );

    // A hash, a list or a set under the key: a conflict, and the key keeps its type.
    for (kind, plant) in [
        (
            "hash",
            redis::cmd("HSET").arg(&key).arg("f").arg("v").clone(),
        ),
        ("list", redis::cmd("RPUSH").arg(&key).arg("v").clone()),
        ("set", redis::cmd("SADD").arg(&key).arg("v").clone()),
    ] {
        let mut session = store.load(&id).await.unwrap().unwrap();
        let _: () = redis.del(&key).await.unwrap();
        let _: () = plant.query_async(&mut redis).await.unwrap();
        let err = store.save(&id, &mut session).await.unwrap_err();
        assert!(matches!(err, Error::Conflict), "{kind}: {err:?}");
        let found: String = redis::cmd("TYPE")
            .arg(&key)
            .query_async(&mut redis)
            .await
            .unwrap();
        assert_eq!(found, kind);
        let _: () = redis.del(&key).await.unwrap();
        store
            .create(&id, &mut Session::new(WebSession::sample(1)))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn glob_characters_in_the_prefix_match_literally() {
    let server = RedisServer::start();
    let odd = store_on(&server, |b| b.prefix("app[1]*?:")).await;
    let plain = store_on(&server, |b| b.prefix("app1x?:")).await;
    let id = SessionId::generate().unwrap();
    odd.save(&id, &mut Session::new(WebSession::sample(1)))
        .await
        .unwrap();
    plain
        .save(
            &SessionId::generate().unwrap(),
            &mut Session::new(WebSession::sample(2)),
        )
        .await
        .unwrap();
    assert_eq!(odd.ids().await.unwrap(), vec![odd.storage_id(&id)]);
    assert_eq!(odd.clear().await.unwrap(), 1);
    assert_eq!(plain.len().await.unwrap(), 1);
}

// ---- TLS ------------------------------------------------------------------------------

#[cfg(feature = "tls")]
#[tokio::test]
async fn rediss_round_trip_with_a_given_ca() {
    let (server, ca) = support::redis::RedisServer::start_tls();
    assert!(server.url().starts_with("rediss://"));
    let backend = RedisBackend::builder()
        .url(server.url())
        .tls_root_certificate_pem(ca)
        .connect()
        .await
        .unwrap();
    let store: RedisStore = Store::builder(backend).keyring(keyring(1)).build().unwrap();
    let id = SessionId::generate().unwrap();
    store
        .save(&id, &mut Session::new(WebSession::sample(3)))
        .await
        .unwrap();
    assert_eq!(store.load(&id).await.unwrap().unwrap().data.user_id, 3);
}

#[cfg(feature = "tls")]
#[tokio::test]
async fn rediss_refuses_a_server_it_cannot_verify_and_plain_redis_gets_no_answer() {
    let (server, _ca) = support::redis::RedisServer::start_tls();
    // System roots do not know the test CA.
    let err = RedisBackend::builder()
        .url(server.url())
        .connect_timeout(Duration::from_millis(500))
        .connect()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.kind(),
            BackendErrorKind::Connection | BackendErrorKind::Other | BackendErrorKind::Timeout
        ),
        "{err:?}"
    );
    // Plain text to a TLS port fails within the timeout instead of hanging.
    let started = Instant::now();
    let plain = RedisBackend::builder()
        .url(format!("redis://127.0.0.1:{}/", server.port))
        .connect_timeout(Duration::from_millis(500))
        .connect()
        .await;
    assert!(plain.is_err());
    assert!(started.elapsed() < Duration::from_millis(500) + MARGIN);
}

/// `#insecure` turns certificate checks off in the `redis` crate whenever any crate in the
/// build enables its `tls-rustls-insecure` feature (this test build does, through a
/// dev-dependency): such an address is refused on both paths, before connecting.
#[cfg(feature = "tls")]
#[tokio::test]
async fn rediss_with_certificate_checks_off_is_refused() {
    let (server, _ca) = RedisServer::start_tls();
    let insecure = format!("{}#insecure", server.url());
    let err = RedisBackend::builder()
        .url(insecure.as_str())
        .connect_timeout(Duration::from_millis(500))
        .connect()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("#insecure"), "{err}");
    let err = RedisBackend::builder()
        .cluster_nodes([insecure])
        .connect_timeout(Duration::from_millis(500))
        .connect()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("#insecure"), "{err}");
}

/// A CA given with `redis://` addresses would never be used: the connection would be plain
/// text. Refused on a Cluster as on a standalone server, and so are seeds that mix schemes.
#[cfg(feature = "tls")]
#[tokio::test]
async fn a_ca_with_plain_redis_addresses_is_refused_on_a_cluster_too() {
    let (tls, ca) = RedisServer::start_tls();
    let cluster = support::redis::RedisCluster::start();
    let err = RedisBackend::builder()
        .cluster_nodes(cluster.urls())
        .tls_root_certificate_pem(ca.clone())
        .connect()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not rediss://"), "{err}");
    assert!(!err.is_retryable());
    let err = RedisBackend::builder()
        .url(cluster.urls()[0].as_str())
        .tls_root_certificate_pem(ca.clone())
        .connect()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not rediss://"), "{err}");
    let err = RedisBackend::builder()
        .cluster_nodes([tls.url(), cluster.urls()[0].clone()])
        .connect()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("mix"), "{err}");
}

// ---- error text -----------------------------------------------------------------------

/// Redis error replies can quote a command's arguments: with `GETRANGE` renamed away (a
/// common hardening step), a load gets "unknown command 'getrange', with args beginning
/// with: 'sess:<id>' …", and in plain-id mode that is a live session id. Nothing printable in
/// the error may carry it: not `Display`, not `Debug`, not the `source()` chain.
#[tokio::test]
async fn backend_errors_never_print_what_the_server_quoted() {
    let server = RedisServer::start_with(&["--rename-command", "GETRANGE", ""]);
    let store = store_on(&server, |b| {
        b.storage_keys(sealed_session::StorageKeys::PlainIds)
    })
    .await;
    let id = SessionId::generate().unwrap();
    let err = store.load(&id).await.unwrap_err();
    let Error::Backend(backend) = &err else {
        panic!("{err}");
    };
    assert_eq!(
        (backend.kind(), backend.code()),
        (BackendErrorKind::Server, Some("ERR"))
    );
    // The reply did quote the id: the client's own error, asked for by name, shows it.
    let raw = backend.cause_unsafe_to_log().expect("the client's error");
    assert!(raw.to_string().contains(id.as_str()));

    let mut printed = vec![
        err.to_string(),
        format!("{err:#}"),
        format!("{err:?}"),
        format!("{err:#?}"),
    ];
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        printed.extend([
            cause.to_string(),
            format!("{cause:#}"),
            format!("{cause:?}"),
            format!("{cause:#?}"),
        ]);
        source = cause.source();
    }
    assert_eq!(printed[0], "session backend error: server error (ERR)");
    for text in &printed {
        assert!(!text.contains(id.as_str()), "{text}");
        assert!(!text.contains("getrange"), "{text}");
    }
}

// ---- ways to connect ------------------------------------------------------------------

async fn round_trip(backend: RedisBackend) {
    let store: RedisStore = Store::builder(backend).keyring(keyring(1)).build().unwrap();
    let id = SessionId::generate().unwrap();
    store
        .save(&id, &mut Session::new(WebSession::sample(8)))
        .await
        .unwrap();
    assert_eq!(store.load(&id).await.unwrap().unwrap().data.user_id, 8);
}

#[tokio::test]
async fn host_port_and_database_number() {
    let server = RedisServer::start();
    let backend = RedisBackend::builder()
        .host("127.0.0.1", server.port)
        .db(3)
        .connect()
        .await
        .unwrap();
    round_trip(backend).await;
    let mut redis = raw(&server).await;
    let in_db0: Vec<String> = redis.keys("sess:*").await.unwrap();
    assert!(in_db0.is_empty(), "written to database 0");
    let _: () = redis::cmd("SELECT")
        .arg(3)
        .query_async(&mut redis)
        .await
        .unwrap();
    let in_db3: Vec<String> = redis.keys("sess:*").await.unwrap();
    assert_eq!(in_db3.len(), 1);
}

#[tokio::test]
async fn acl_user_and_password() {
    let server = RedisServer::start_with(&[
        "--user",
        "sessions",
        "on",
        ">s3cret-pass",
        "~sess:*",
        "+@all",
        "--user",
        "default",
        "off",
    ]);
    let url = format!("redis://127.0.0.1:{}/", server.port);
    let backend = RedisBackend::builder()
        .url(&url)
        .username("sessions")
        .password("s3cret-pass")
        .connect()
        .await
        .unwrap();
    round_trip(backend).await;

    // Without credentials (or with wrong ones) every path fails with an error, no panic,
    // and the password never shows in it.
    let err = RedisBackend::builder()
        .url(&url)
        .username("sessions")
        .password("wrong-pass")
        .connect()
        .await
        .unwrap_err();
    assert!(!err.is_retryable(), "{err:?}");
    assert!(!format!("{err:?} {err}").contains("wrong-pass"));
    let builder = RedisBackend::builder().url(&url).password("s3cret-pass");
    assert!(!format!("{builder:?}").contains("s3cret"));
}

#[tokio::test]
async fn unix_socket_url() {
    let (_server, socket) = RedisServer::start_unix();
    let backend = RedisBackend::connect(&format!("redis+unix://{}", socket.display()))
        .await
        .unwrap();
    round_trip(backend).await;
}

#[tokio::test]
async fn an_existing_client_or_connection_manager() {
    let server = RedisServer::start();
    let client = redis::Client::open(server.url()).unwrap();
    let backend = RedisBackend::from_client(
        client.clone(),
        Duration::from_secs(1),
        Duration::from_secs(1),
    )
    .await
    .unwrap();
    round_trip(backend).await;
    let manager = redis::aio::ConnectionManager::new(client).await.unwrap();
    round_trip(RedisBackend::from_connection_manager(
        manager,
        Duration::from_secs(1),
    ))
    .await;
}

#[tokio::test]
async fn all_and_clear_cover_many_scan_pages() {
    let server = RedisServer::start();
    let backend = RedisBackend::connect(&server.url()).await.unwrap();
    let store: RedisStore = Store::builder(backend)
        .keyring(keyring(1))
        .scan_count(100)
        .build()
        .unwrap();
    for n in 0..300 {
        store
            .save(
                &SessionId::generate().unwrap(),
                &mut Session::new(WebSession::sample(n)),
            )
            .await
            .unwrap();
    }
    let commands_before = stat(&server, "total_commands_processed");
    let all = store.all().await.unwrap();
    assert_eq!(all.len(), 300);
    assert!(all.iter().all(|(_, s)| s.is_ok()));
    assert_eq!(store.clear().await.unwrap(), 300);
    assert!(store.is_empty().await.unwrap());
    // 300 GETRANGE + 300 UNLINK + the SCANs (empty pages included) went through.
    let commands = stat(&server, "total_commands_processed") - commands_before;
    assert!(commands >= 600, "{commands} commands");
}

fn stat(server: &RedisServer, field: &str) -> u64 {
    let info = support::redis::raw_command(server.port, "INFO stats").unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in INFO stats"))
}

#[tokio::test]
async fn a_cluster_with_a_database_number_is_refused_before_connecting() {
    let err = RedisBackend::builder()
        .cluster_nodes(["redis://127.0.0.1:1/"])
        .db(2)
        .connect()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), BackendErrorKind::Other);
    assert!(!err.is_retryable());
}

/// A session stored without an expiry must get one written back at its first load under a
/// store with a lifetime. Where that write is refused for good (an ACL without `EVAL`), the
/// session is refused as expired: "no session", not an error on every request.
#[tokio::test]
async fn an_expiry_that_cannot_be_written_back_refuses_the_session() {
    let server = RedisServer::start_with(&[
        "--user",
        "sessions",
        "on",
        ">s3cret-pass",
        "~sess:*",
        "+@all",
        "-eval",
        "-evalsha",
        "--user",
        "default",
        "off",
    ]);
    let backend = RedisBackend::builder()
        .url(format!("redis://127.0.0.1:{}/", server.port))
        .username("sessions")
        .password("s3cret-pass")
        .connect()
        .await
        .unwrap();
    let unlimited: RedisStore = Store::builder(backend.clone())
        .keyring(keyring(1))
        .no_absolute_lifetime()
        .build()
        .unwrap();
    let id = SessionId::generate().unwrap();
    unlimited
        .save(&id, &mut Session::new(WebSession::sample(4)))
        .await
        .unwrap();
    let limited: RedisStore = Store::builder(backend).keyring(keyring(1)).build().unwrap();
    // A session that is not there is no session, without scripts too.
    let unknown = SessionId::generate().unwrap();
    assert!(limited.load(&unknown).await.unwrap().is_none());
    let err = limited.load(&id).await.unwrap_err();
    assert_eq!(err.rejection_kind(), Some(RejectKind::Expired), "{err:?}");
    assert_eq!(limited.reseal_stats().failed, 1);
    // The store without a lifetime still reads it as it is.
    assert!(unlimited.load(&id).await.unwrap().is_some());
}

/// A user whose ACL refuses what the compare-and-swap script needs gets a server error with
/// its code, on the single and the batched path: never a silent "value changed".
#[tokio::test]
async fn compare_and_swap_refused_by_an_acl_is_an_error_with_its_code() {
    let server = RedisServer::start_with(&[
        "--user",
        "admin",
        "on",
        ">admin-pass",
        "~*",
        "+@all",
        "--user",
        "sessions",
        "on",
        ">s3cret-pass",
        "~sess:*",
        "+@all",
        "-get",
        "--user",
        "default",
        "off",
    ]);
    let url = format!("redis://127.0.0.1:{}/", server.port);
    let backend = RedisBackend::builder()
        .url(&url)
        .username("sessions")
        .password("s3cret-pass")
        .connect()
        .await
        .unwrap();
    assert!(
        backend
            .set("sess:a", b"old", None, SetMode::Upsert)
            .await
            .unwrap()
    );
    let err = backend
        .compare_and_swap("sess:a", b"old", b"new")
        .await
        .unwrap_err();
    // Redis 7.0 reports an ACL refusal inside a script as `ERR`; later versions may say
    // `NOPERM`. Either way it is a server error with its code, not `Ok(false)`.
    assert_eq!(err.kind(), BackendErrorKind::Server, "{err:?}");
    let code = err.code().expect("a server error code").to_owned();
    assert!(err.to_string().contains(&format!("({code})")), "{err}");
    let swaps = [Swap {
        key: "sess:a",
        expected: b"old",
        new: b"new",
    }];
    let err = backend.compare_and_swap_many(&swaps).await.unwrap_err();
    assert_eq!(err.kind(), BackendErrorKind::Server, "{err:?}");
    assert!(err.code().is_some(), "{err:?}");
    assert_eq!(raw_get(&backend, "sess:a").await.unwrap(), b"old");
}

/// One batched read over every kind of entry keeps each reply with its key: values, a missing
/// key, an empty value, a hash, a value over the limit.
#[tokio::test]
async fn a_batched_read_keeps_each_kind_of_entry_in_its_place() {
    let server = RedisServer::start();
    let backend = RedisBackend::connect(&server.url()).await.unwrap();
    let client = redis::Client::open(server.url()).unwrap();
    let mut redis = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis.set("k:1", b"first").await.unwrap();
    let _: () = redis.set("k:3", b"").await.unwrap();
    let _: () = redis.hset("k:4", "f", "v").await.unwrap();
    let _: () = redis.set("k:5", vec![b'x'; 100]).await.unwrap();
    let _: () = redis.set("k:6", b"last").await.unwrap();
    let keys: Vec<String> = (1..=6).map(|n| format!("k:{n}")).collect();
    let got = backend.get_many(&keys, 50).await.unwrap();
    assert_eq!(
        got,
        vec![
            Fetched::Value(b"first".to_vec()),
            Fetched::Missing,
            Fetched::Value(Vec::new()),
            Fetched::NotBytes,
            Fetched::TooLarge { len: 51 },
            Fetched::Value(b"last".to_vec()),
        ]
    );
    let heads = backend.get_many_prefix(&keys, 3).await.unwrap();
    assert_eq!(heads[0], Fetched::Value(b"fir".to_vec()));
    assert_eq!(heads[1], Fetched::Missing);
    assert_eq!(heads[4], Fetched::Value(b"xxx".to_vec()));
}

/// Swaps larger than one pipeline's byte budget go out in several pipelines, every result
/// in its place.
#[tokio::test]
async fn batched_swaps_over_several_pipelines_keep_their_order() {
    let server = RedisServer::start();
    let backend = RedisBackend::connect(&server.url()).await.unwrap();
    let big = |n: u8| vec![n; 1024 * 1024];
    let keys: Vec<String> = (0..6).map(|n| format!("big:{n}")).collect();
    for (n, key) in keys.iter().enumerate() {
        let n = u8::try_from(n).unwrap();
        backend
            .set(key, &big(n), None, SetMode::Upsert)
            .await
            .unwrap();
    }
    // The fourth entry changed meanwhile.
    backend
        .set(&keys[3], b"changed", None, SetMode::Upsert)
        .await
        .unwrap();
    let old: Vec<Vec<u8>> = (0..6).map(big).collect();
    let new: Vec<Vec<u8>> = (0..6).map(|n| big(n + 100)).collect();
    let swaps: Vec<Swap<'_>> = (0..6)
        .map(|i| Swap {
            key: &keys[i],
            expected: &old[i],
            new: &new[i],
        })
        .collect();
    let done = backend.compare_and_swap_many(&swaps).await.unwrap();
    assert_eq!(done, vec![true, true, true, false, true, true]);
    assert_eq!(raw_get(&backend, &keys[5]).await.unwrap(), new[5]);
    assert_eq!(raw_get(&backend, &keys[3]).await.unwrap(), b"changed");
}

// ---- the owner index on a server killed between its two writes ------------------------

/// A Redis backend whose server is killed right after an owner-index write, once armed: the
/// session write that follows meets a dead server, as in a crash between the two.
struct KillAfterIndex {
    inner: RedisBackend,
    server: std::sync::Mutex<RedisServer>,
    armed: std::sync::atomic::AtomicBool,
}

impl Backend for KillAfterIndex {
    async fn set(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
        mode: SetMode,
    ) -> Result<bool, sealed_session::BackendError> {
        self.inner.set(key, value, ttl, mode).await
    }
    async fn get(&self, key: &str, max: usize) -> Result<Fetched, sealed_session::BackendError> {
        self.inner.get(key, max).await
    }
    async fn delete(&self, key: &str) -> Result<bool, sealed_session::BackendError> {
        self.inner.delete(key).await
    }
    async fn expire(&self, key: &str, ttl: Duration) -> Result<bool, sealed_session::BackendError> {
        self.inner.expire(key, ttl).await
    }
    async fn compare_and_swap(
        &self,
        key: &str,
        expected: &[u8],
        new: &[u8],
    ) -> Result<bool, sealed_session::BackendError> {
        self.inner.compare_and_swap(key, expected, new).await
    }
    async fn scan(
        &self,
        prefix: &str,
        cursor: sealed_session::ScanCursor,
        count: usize,
    ) -> Result<sealed_session::ScanPage, sealed_session::BackendError> {
        self.inner.scan(prefix, cursor, count).await
    }
    async fn get_many(
        &self,
        keys: &[String],
        max: usize,
    ) -> Result<Vec<Fetched>, sealed_session::BackendError> {
        self.inner.get_many(keys, max).await
    }
    async fn index_add(
        &self,
        key: &str,
        id: &str,
        added_at: u64,
        expires_at: u64,
        now: u64,
    ) -> Result<(), sealed_session::BackendError> {
        self.inner
            .index_add(key, id, added_at, expires_at, now)
            .await?;
        if self.armed.swap(false, std::sync::atomic::Ordering::SeqCst) {
            self.server.lock().unwrap().kill();
        }
        Ok(())
    }
    async fn index_remove(
        &self,
        key: &str,
        ids: &[String],
        now: u64,
    ) -> Result<(), sealed_session::BackendError> {
        self.inner.index_remove(key, ids, now).await
    }
    async fn index_read(
        &self,
        key: &str,
        now: u64,
    ) -> Result<Vec<sealed_session::IndexEntry>, sealed_session::BackendError> {
        self.inner.index_read(key, now).await
    }
    async fn take(&self, key: &str, max: usize) -> Result<Fetched, sealed_session::BackendError> {
        self.inner.take(key, max).await
    }
    async fn compare_and_delete(
        &self,
        key: &str,
        expected: &[u8],
    ) -> Result<bool, sealed_session::BackendError> {
        self.inner.compare_and_delete(key, expected).await
    }
}

/// The server dies between the index write and the session write of a log-in (and comes
/// back with its append-only file): the create fails, no session exists without its entry,
/// the orphan entry is never listed, and "log out everywhere" still ends every session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_between_index_and_session_write_leaves_no_unindexed_session() {
    use sealed_session::{IndexKeys, Owner, Owners};

    let server = RedisServer::start_with(&["--appendonly", "yes", "--appendfsync", "always"]);
    let url = server.url();
    let backend = RedisBackend::builder()
        .url(url)
        .connect_timeout(Duration::from_millis(500))
        .response_timeout(Duration::from_millis(500))
        .connect()
        .await
        .unwrap();
    let keyring = Keyring::builder()
        .primary(
            1,
            Suite::Aes256Gcm,
            KeyMaterial::from_slice(&[1; 32]).unwrap(),
        )
        .index_keys(IndexKeys::new(
            1,
            KeyMaterial::from_slice(&[2; 32]).unwrap(),
        ))
        .build()
        .unwrap();
    let store: Store<WebSession, KillAfterIndex> = Store::builder(KillAfterIndex {
        inner: backend,
        server: std::sync::Mutex::new(server),
        armed: std::sync::atomic::AtomicBool::new(false),
    })
    .keyring(keyring)
    .owners(Owners::new())
    .build()
    .unwrap();
    let alice = Owner::new("alice").unwrap();
    let sign_in = |id: &SessionId| {
        let mut session = Session::new(WebSession::sample(1));
        session.bind_owner(alice.clone());
        let (store, id) = (&store, id.clone());
        async move { store.create(&id, &mut session).await }
    };
    let earlier = SessionId::generate().unwrap();
    sign_in(&earlier).await.unwrap();

    store
        .backend()
        .armed
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let crashed = SessionId::generate().unwrap();
    let err = sign_in(&crashed).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");

    store.backend().server.lock().unwrap().restart();
    let restarted = Instant::now();
    let index = loop {
        match store
            .backend()
            .scan("sess:owner.", sealed_session::ScanCursor::start(), 10)
            .await
        {
            Ok(page) if !page.keys.is_empty() => break page.keys[0].clone(),
            other => assert!(
                restarted.elapsed() < Duration::from_secs(5),
                "no recovery after the restart: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // The entry written before the crash survived it (append-only file), without its
    // session: never the other way round.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let members: Vec<String> = store
        .backend()
        .index_read(&index, now)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert!(members.contains(&store.storage_id(&crashed).as_str().to_owned()));
    assert!(store.load(&crashed).await.unwrap().is_none());
    let listed = store.sessions_of(&alice).await.unwrap();
    assert_eq!(listed.len(), 1, "the orphan entry was listed");
    assert_eq!(listed[0].storage_id, store.storage_id(&earlier));
    assert_eq!(store.revoke_all(&alice).await.unwrap().revoked, 1);
    assert!(store.load(&earlier).await.unwrap().is_none());
}

/// A key created while it is read is read as missing or as its value, never as an empty
/// value: the bounded read's `GETRANGE` answers "" for a missing key, and the `EXISTS` that
/// tells that apart from an empty value may come after another client's `SET`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_created_during_a_read_is_never_read_as_an_empty_value() {
    let server = RedisServer::start();
    let backend = RedisBackend::connect(&server.url()).await.unwrap();
    let writer = {
        let backend = backend.clone();
        tokio::spawn(async move {
            for _ in 0..3_000 {
                backend
                    .set("flip", b"a value", None, SetMode::Upsert)
                    .await
                    .unwrap();
                backend.delete("flip").await.unwrap();
            }
        })
    };
    let mut reads = 0;
    while !writer.is_finished() {
        for fetched in [
            backend.get("flip", 1024).await.unwrap(),
            backend
                .get_many(&["flip".to_owned()], 1024)
                .await
                .unwrap()
                .remove(0),
        ] {
            assert!(
                matches!(&fetched, Fetched::Missing)
                    || fetched == Fetched::Value(b"a value".to_vec()),
                "read as {fetched:?}"
            );
            reads += 1;
        }
    }
    writer.await.unwrap();
    assert!(reads > 100);
}
