//! Key rotation end to end on a real Redis (standalone and a local 3-primary Cluster), driven
//! the way an operator does it: by editing the keyring configuration file and reloading.
//!
//! 1,000 sessions under key 1 → key 2 added as decrypt-only and hot-reloaded → key 2
//! promoted → loads succeed and re-seal lazily (TTL and expiry kept) → bulk re-seal → the
//! census shows none left under key 1 → key 1 retired → an old key-1 envelope written back
//! by hand is refused → a broken configuration leaves the working keyring in place.

use std::path::Path;

use redis::aio::ConnectionLike;
use sealed_session::envelope::Header;
use sealed_session::rotation::Reloader;
use sealed_session::{
    KeyMaterial, RedisBackend, RejectKind, RewrapOptions, Session, SessionId, Store,
};

use crate::support;
use crate::support::WebSession;
use crate::support::redis::{RedisCluster, RedisServer};

const SESSIONS: usize = 1000;

fn write_config(dir: &Path, text: &str) {
    // Written beside and renamed, as a deployment tool would, so a reload never reads half.
    let tmp = dir.join("keys.toml.tmp");
    support::write_private(&tmp, text).unwrap();
    std::fs::rename(tmp, dir.join("keys.toml")).unwrap();
}

fn key_entry(id: u32, suite: &str, state: &str) -> String {
    format!(
        "[[keys]]\nid = {id}\nsuite = \"{suite}\"\nstate = \"{state}\"\nmaterial = {{ file = \"key-{id}\" }}\n\n"
    )
}

fn retired(id: u32) -> String {
    format!("[[keys]]\nid = {id}\nstate = \"retired\"\n\n")
}

async fn pttl(conn: &mut impl ConnectionLike, key: &str) -> i64 {
    redis::cmd("PTTL").arg(key).query_async(conn).await.unwrap()
}

async fn raw(conn: &mut impl ConnectionLike, key: &str) -> Vec<u8> {
    redis::cmd("GET").arg(key).query_async(conn).await.unwrap()
}

fn key_id(value: &[u8]) -> u32 {
    Header::parse(value).unwrap().key_id
}

/// The whole procedure against `backend`, with `conn` a raw connection to the same Redis.
async fn rotate(backend: RedisBackend, mut conn: impl ConnectionLike + Send) {
    let dir = support::temp_dir("rotation");
    for id in [1u32, 2] {
        let key = KeyMaterial::generate().unwrap();
        support::write_private(dir.join(format!("key-{id}")), key.to_base64().as_str()).unwrap();
    }

    // Key 1 alone.
    write_config(&dir, &key_entry(1, "aes-256-gcm", "primary"));
    let reloader = Reloader::open(dir.join("keys.toml")).unwrap();
    let store: Store<WebSession, RedisBackend> = Store::builder(backend)
        .keyring_handle(reloader.handle().clone())
        .scan_count(250)
        .build()
        .unwrap();
    let mut ids = Vec::with_capacity(SESSIONS);
    for n in 0..SESSIONS {
        let id = SessionId::generate().unwrap();
        store
            .save(&id, &mut Session::new(WebSession::sample(n as u64)))
            .await
            .unwrap();
        ids.push(id);
    }
    let first_key = store.storage_key(&ids[0]);
    let old_envelope = raw(&mut conn, &first_key).await;
    assert_eq!(key_id(&old_envelope), 1);

    // Key 2 rolled out as decrypt-only: nothing changes for the sessions.
    write_config(
        &dir,
        &(key_entry(1, "aes-256-gcm", "primary")
            + &key_entry(2, "chacha20-poly1305", "decrypt-only")),
    );
    let done = reloader.reload().unwrap();
    assert_eq!((done.previous_primary, done.primary), (1, 1));
    assert!(done.lost.is_empty());
    assert_eq!(store.census().await.unwrap().count(1), SESSIONS as u64);

    // Key 2 promoted: loads still succeed, and re-seal lazily.
    write_config(
        &dir,
        &(key_entry(2, "chacha20-poly1305", "primary")
            + &key_entry(1, "aes-256-gcm", "decrypt-only")),
    );
    let done = reloader.reload().unwrap();
    assert_eq!((done.previous_primary, done.primary), (1, 2));
    let lazy = 100;
    // A distinctive TTL on the first entry, to see that the write-back keeps it.
    let _: () = redis::cmd("PEXPIRE")
        .arg(&first_key)
        .arg(4_000_000)
        .query_async(&mut conn)
        .await
        .unwrap();
    for (n, id) in ids.iter().enumerate().take(lazy) {
        let loaded = store.load(id).await.unwrap().unwrap();
        assert_eq!(loaded.data, WebSession::sample(n as u64));
    }
    let resealed = raw(&mut conn, &first_key).await;
    assert_eq!(key_id(&resealed), 2);
    assert_eq!(
        Header::parse(&resealed).unwrap().expires_at,
        Header::parse(&old_envelope).unwrap().expires_at
    );
    assert_eq!(store.reseal_stats().resealed, lazy as u64);
    let left = pttl(&mut conn, &first_key).await;
    assert!(
        (3_900_000..=4_000_000).contains(&left),
        "TTL kept: {left} ms"
    );
    let census = store.census().await.unwrap();
    assert_eq!(
        (census.count(1), census.count(2)),
        ((SESSIONS - lazy) as u64, lazy as u64)
    );

    // Bulk re-seal of the rest, then again (idempotent).
    let report = store
        .rewrap(&RewrapOptions::default(), |_| {})
        .await
        .unwrap();
    assert_eq!(report.resealed, (SESSIONS - lazy) as u64);
    assert_eq!(report.skipped, lazy as u64);
    assert_eq!(report.refused_total(), 0);
    let census = store.census().await.unwrap();
    assert_eq!((census.count(1), census.count(2)), (0, SESSIONS as u64));
    let again = store
        .rewrap(&RewrapOptions::default(), |_| {})
        .await
        .unwrap();
    assert_eq!(again.resealed, 0);

    // Key 1 retired.
    write_config(
        &dir,
        &(key_entry(2, "chacha20-poly1305", "primary") + &retired(1)),
    );
    let done = reloader.reload().unwrap();
    assert_eq!(done.lost, vec![1]);
    for (n, id) in ids.iter().enumerate() {
        let loaded = store.load(id).await.unwrap().unwrap();
        assert_eq!(loaded.data.user_id, n as u64);
    }
    // An old key-1 envelope written back by hand (a restored backup, say) is refused.
    let _: () = redis::cmd("SET")
        .arg(&first_key)
        .arg(&old_envelope)
        .query_async(&mut conn)
        .await
        .unwrap();
    let err = store.load(&ids[0]).await.unwrap_err();
    assert_eq!(err.rejection_kind(), Some(RejectKind::RetiredKey));
    let report = store
        .rewrap(&RewrapOptions::default(), |_| {})
        .await
        .unwrap();
    assert_eq!((report.resealed, report.found.count(1)), (0, 1));
    assert_eq!(
        raw(&mut conn, &first_key).await,
        old_envelope,
        "never re-sealed"
    );

    // A broken configuration: the reload fails, the working keyring stays.
    write_config(&dir, &key_entry(3, "aes-256-gcm", "primary"));
    let err = reloader.reload().unwrap_err();
    assert!(err.to_string().contains("key 3"), "{err}");
    assert_eq!(reloader.handle().current().primary_id(), 2);
    write_config(
        &dir,
        "[[keys]]\nid = 2\nstate = \"primary\"\nmaterial = { file = ",
    );
    assert!(matches!(
        reloader.reload().unwrap_err(),
        sealed_session::ConfigError::Syntax { .. }
    ));
    assert_eq!(store.load(&ids[1]).await.unwrap().unwrap().data.user_id, 1);
    let mut fresh = Session::new(WebSession::sample(5000));
    let id = SessionId::generate().unwrap();
    store.save(&id, &mut fresh).await.unwrap();
    assert_eq!(key_id(&raw(&mut conn, &store.storage_key(&id)).await), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_end_to_end_on_standalone_redis() {
    let server = RedisServer::start();
    let backend = RedisBackend::connect(&server.url()).await.unwrap();
    let conn = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    rotate(backend, conn).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_end_to_end_on_a_cluster() {
    let cluster = RedisCluster::start();
    let backend = RedisBackend::builder()
        .cluster_nodes(cluster.urls())
        .connect()
        .await
        .unwrap();
    let conn = redis::cluster::ClusterClient::new(cluster.urls())
        .unwrap()
        .get_async_connection()
        .await
        .unwrap();
    rotate(backend, conn).await;
}
