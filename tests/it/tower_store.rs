//! tower-sessions on top of the store: the `SessionStore` contract on memory and a real
//! Redis, and the axum demo end to end over HTTP against a real Redis.

#[path = "../../examples/axum_demo/app.rs"]
#[allow(dead_code)]
pub(crate) mod app;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

#[cfg(feature = "postcard")]
use sealed_session::Postcard;
use sealed_session::envelope::Header;
use sealed_session::integrations::tower_sessions::{
    LOADED_ENTRY, RecordBincode, RecordData, TowerSessionStore,
};
use sealed_session::{
    Backend, Bincode, CodecId, Json, KeyMaterial, Keyring, MemoryBackend, RedisBackend, SetMode,
    StoreBuilder, Suite,
};
use serde_json::json;

use crate::support::http::request;
use crate::support::raw_get;
use crate::support::redis::RedisServer;
use time::OffsetDateTime;
use tower_sessions::SessionStore;
use tower_sessions::session::{Id, Record};

fn keyring() -> Keyring {
    Keyring::single(
        1,
        Suite::Aes256Gcm,
        KeyMaterial::from_slice(&[7; 32]).unwrap(),
    )
    .unwrap()
}

fn adapter<B: Backend>(backend: B) -> TowerSessionStore<B> {
    TowerSessionStore::new(
        TowerSessionStore::builder(backend)
            .keyring(keyring())
            .build()
            .unwrap(),
    )
    .unwrap()
}

fn record(counter: u64) -> Record {
    let mut data = HashMap::new();
    data.insert("counter".to_owned(), json!(counter));
    data.insert(
        "user".to_owned(),
        json!({"name": "alice", "roles": ["a", "b"]}),
    );
    Record {
        id: Id::default(),
        data,
        expiry_date: OffsetDateTime::now_utc() + Duration::from_secs(3600),
    }
}

/// What tower-sessions asks of a store, on `backend`.
async fn contract<B: Backend>(backend: B) {
    let store = adapter(backend);
    let mut rec = record(1);
    store.create(&mut rec).await.unwrap();
    // JSON values load back (bincode would have saved and then failed here).
    let loaded = store.load(&rec.id).await.unwrap().unwrap();
    assert_eq!(loaded.data, rec.data);
    assert_eq!(loaded.id, rec.id);
    // Expiry: whole seconds of the record's.
    assert_eq!(
        loaded.expiry_date.unix_timestamp(),
        rec.expiry_date.unix_timestamp()
    );
    // The storage key is the prefix and the hex SHA-256 of the cookie value.
    let key = store.storage_key(&rec.id);
    assert!(key.starts_with("sess:") && key.len() == 5 + 64, "{key}");
    let value = raw_get(store.store().backend(), &key).await.unwrap();
    assert_eq!(
        Header::parse(&value).unwrap().expires_at,
        u64::try_from(rec.expiry_date.unix_timestamp()).unwrap()
    );
    assert!(!String::from_utf8_lossy(&value).contains("alice"));

    // Save replaces.
    rec.data.insert("counter".into(), json!(2));
    store.save(&rec).await.unwrap();
    assert_eq!(
        store.load(&rec.id).await.unwrap().unwrap().data["counter"],
        json!(2)
    );

    // Create never overwrites: a taken id is replaced by a fresh one.
    let taken = rec.id;
    let mut other = record(9);
    other.id = taken;
    store.create(&mut other).await.unwrap();
    assert_ne!(other.id, taken);
    assert_eq!(
        store.load(&taken).await.unwrap().unwrap().data["counter"],
        json!(2)
    );
    assert_eq!(
        store.load(&other.id).await.unwrap().unwrap().data["counter"],
        json!(9)
    );

    // Delete, then a racing save does not bring it back.
    store.delete(&rec.id).await.unwrap();
    assert!(store.load(&rec.id).await.unwrap().is_none());
    store.save(&rec).await.unwrap();
    assert!(store.load(&rec.id).await.unwrap().is_none());

    // A tampered value is no session, not an error and not the data.
    let key = store.storage_key(&other.id);
    let mut value = raw_get(store.store().backend(), &key).await.unwrap();
    let last = value.len() - 1;
    value[last] ^= 1;
    store
        .store()
        .backend()
        .set(&key, &value, None, SetMode::Upsert)
        .await
        .unwrap();
    assert!(store.load(&other.id).await.unwrap().is_none());

    // An unknown id is no session.
    assert!(store.load(&Id::default()).await.unwrap().is_none());

    // A record whose expiry has passed is not stored.
    let mut old = record(3);
    old.expiry_date = OffsetDateTime::now_utc() - Duration::from_secs(5);
    store.create(&mut old).await.unwrap();
    assert!(
        raw_get(store.store().backend(), &store.storage_key(&old.id))
            .await
            .is_none()
    );
}

#[tokio::test]
async fn the_session_store_contract_on_memory() {
    contract(MemoryBackend::new()).await;
}

#[tokio::test]
async fn the_session_store_contract_on_redis() {
    let server = RedisServer::start();
    contract(RedisBackend::connect(&server.url()).await.unwrap()).await;
}

#[tokio::test]
async fn the_ttl_follows_the_record_expiry() {
    let server = RedisServer::start();
    let store = adapter(RedisBackend::connect(&server.url()).await.unwrap());
    let mut rec = record(1);
    rec.expiry_date = OffsetDateTime::now_utc() + Duration::from_secs(600);
    store.create(&mut rec).await.unwrap();
    let mut redis = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let pttl: i64 = redis::cmd("PTTL")
        .arg(store.storage_key(&rec.id))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!((595_000..=600_000).contains(&pttl), "PTTL {pttl}");
}

/// Plain bincode and postcard would save records that no load could decode; they are
/// refused when the adapter is built. The tagged bincode and JSON are accepted.
#[test]
fn a_store_that_cannot_decode_json_values_is_refused() {
    // Everything else as the adapter needs it, so only the codec decides.
    let build = |b: StoreBuilder<RecordData, MemoryBackend>| {
        let store = b.disable_ttl().no_absolute_lifetime().keyring(keyring());
        TowerSessionStore::new(store.build().unwrap())
    };
    let with = |codec| StoreBuilder::with_codec(MemoryBackend::new(), codec);
    assert!(build(with(Bincode)).is_err());
    #[cfg(feature = "postcard")]
    assert!(build(StoreBuilder::with_codec(MemoryBackend::new(), Postcard)).is_err());
    assert!(build(StoreBuilder::with_codec(MemoryBackend::new(), Json)).is_ok());
    assert!(
        build(StoreBuilder::with_codec(
            MemoryBackend::new(),
            RecordBincode
        ))
        .is_ok()
    );
    // A reader that cannot decode records would refuse every one with its codec byte: a
    // move back to JSON must keep reading with RecordBincode, not plain Bincode.
    let json = || StoreBuilder::with_codec(MemoryBackend::new(), Json);
    assert!(build(json().also_read(Bincode)).is_err());
    assert!(build(json().also_read(RecordBincode)).is_ok());
    // The adapter's builder already reads JSON, so writing JSON through it is a loud
    // configuration error, never a store that quietly stops reading RecordBincode.
    let switched = TowerSessionStore::builder(MemoryBackend::new())
        .codec(Json)
        .keyring(keyring())
        .build();
    assert!(switched.is_err());
}

fn codec_of(value: &[u8]) -> CodecId {
    Header::parse(value).unwrap().codec
}

/// Records written as JSON (by an earlier version, or during a rolling upgrade by an
/// instance built as the module docs say, writing JSON and reading both) load; the next
/// save writes the tagged bincode, which such an instance reads as well.
#[tokio::test]
async fn json_records_are_read_and_a_json_writer_reads_the_new_ones() {
    let backend = MemoryBackend::new();
    let json_writer = TowerSessionStore::new(
        StoreBuilder::with_codec(backend.clone(), Json)
            .also_read(RecordBincode)
            .disable_ttl()
            .no_absolute_lifetime()
            .keyring(keyring())
            .build()
            .unwrap(),
    )
    .unwrap();
    let current = adapter(backend.clone());

    let mut rec = record(1);
    rec.data.insert("ratio".into(), json!(0.1));
    rec.data.insert("debt".into(), json!(-3));
    json_writer.create(&mut rec).await.unwrap();
    let key = current.storage_key(&rec.id);
    let stored = |backend: &MemoryBackend| {
        let backend = backend.clone();
        let key = key.clone();
        async move {
            match backend.get(&key, 1 << 20).await.unwrap() {
                sealed_session::Fetched::Value(v) => v,
                other => panic!("{other:?}"),
            }
        }
    };
    assert_eq!(codec_of(&stored(&backend).await), CodecId::JSON);

    let loaded = current.load(&rec.id).await.unwrap().unwrap();
    assert_eq!(loaded.data, rec.data);
    current.save(&loaded).await.unwrap();
    assert_eq!(codec_of(&stored(&backend).await), CodecId::BINCODE);

    let back = json_writer.load(&rec.id).await.unwrap().unwrap();
    assert_eq!(back.data, rec.data);
}

/// tower-sessions sets the expiry on every save, so a store lifetime would slide and cap
/// nothing; plain storage keys would not match the hashed ids. Both are refused.
#[test]
fn a_store_lifetime_or_plain_keys_are_refused() {
    let with_lifetime = TowerSessionStore::builder(MemoryBackend::new())
        .keyring(keyring())
        .absolute_lifetime(Duration::from_secs(3600))
        .build()
        .unwrap();
    assert!(TowerSessionStore::new(with_lifetime).is_err());
    let plain = TowerSessionStore::builder(MemoryBackend::new())
        .keyring(keyring())
        .storage_keys(sealed_session::StorageKeys::PlainIds)
        .build()
        .unwrap();
    assert!(TowerSessionStore::new(plain).is_err());
}

#[test]
fn debug_shows_configuration_only() {
    let store = adapter(MemoryBackend::new());
    let text = format!("{store:?}");
    assert!(
        text.starts_with("TowerSessionStore { store: Store {"),
        "{text}"
    );
    assert!(text.contains("codec: bincode"), "{text}");
    assert!(text.contains("reads: [bincode, json]"), "{text}");
}

// ---- The axum demo over HTTP ----

async fn serve<S: SessionStore + Clone>(store: S) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app::app(store)).await.unwrap();
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_axum_demo_end_to_end_on_redis() {
    let mut server = RedisServer::start();
    let backend = RedisBackend::builder()
        .url(server.url())
        .response_timeout(Duration::from_millis(500))
        .connect_timeout(Duration::from_millis(500))
        .connect()
        .await
        .unwrap();
    let store = adapter(backend);
    let addr = serve(store.clone()).await;

    // The counter goes up through the cookie.
    let first = request(addr, "GET", "/count", None, None).await;
    assert_eq!((first.status, first.body.as_str()), (200, "1"));
    let cookie = first.cookie.expect("a session cookie");
    for n in 2..=4 {
        let next = request(addr, "GET", "/count", Some(&cookie), None).await;
        assert_eq!(next.body, n.to_string());
    }
    // In Redis: an envelope, without the counter's JSON.
    let id: Id = cookie.parse().unwrap();
    let key = store.storage_key(&id);
    let value = raw_get(store.store().backend(), &key).await.unwrap();
    assert_eq!(Header::parse(&value).unwrap().key_id, 1);
    let text = String::from_utf8_lossy(&value);
    assert!(
        !text.contains("counter") && !text.contains("\"4\""),
        "{text}"
    );

    // Log-in moves the session to a new id; the old one no longer loads.
    let login = request(addr, "POST", "/login", Some(&cookie), Some("user=alice")).await;
    assert_eq!(login.status, 303);
    let after = login.cookie.expect("a new cookie after log-in");
    assert_ne!(after, cookie);
    assert!(store.load(&id).await.unwrap().is_none());
    let page = request(addr, "GET", "/", Some(&after), None).await;
    assert!(
        page.body.contains("Logged in as <b>alice</b>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Visit 5"), "{}", page.body);

    // Log-out deletes the entry.
    let new_id: Id = after.parse().unwrap();
    let out = request(addr, "POST", "/logout", Some(&after), None).await;
    assert_eq!(out.status, 303);
    assert!(
        raw_get(store.store().backend(), &store.storage_key(&new_id))
            .await
            .is_none()
    );

    // A value tampered with in Redis gives a fresh session, not an error or its data.
    let fresh = request(addr, "GET", "/count", None, None).await;
    let cookie = fresh.cookie.unwrap();
    let key = store.storage_key(&cookie.parse().unwrap());
    let mut value = raw_get(store.store().backend(), &key).await.unwrap();
    value[100] ^= 0x40;
    store
        .store()
        .backend()
        .set(&key, &value, None, SetMode::Upsert)
        .await
        .unwrap();
    let again = request(addr, "GET", "/count", Some(&cookie), None).await;
    assert_eq!((again.status, again.body.as_str()), (200, "1"));

    // A stopped Redis: the framework's error response, in time, not a hang.
    server.kill();
    let started = std::time::Instant::now();
    let down = request(addr, "GET", "/count", Some(&cookie), None).await;
    assert_eq!(down.status, 500, "{}", down.body);
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// Collects what the `tracing` subscriber writes.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A refused envelope is logged with its rejection kind, never with the session id or key.
#[tokio::test]
async fn a_refused_envelope_is_a_warning_naming_the_kind_not_the_id() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let store = adapter(MemoryBackend::new());
    let mut rec = record(1);
    store.create(&mut rec).await.unwrap();
    let key = store.storage_key(&rec.id);
    let mut value = raw_get(store.store().backend(), &key).await.unwrap();
    value[3..7].copy_from_slice(&99u32.to_be_bytes()); // an unknown key id
    store
        .store()
        .backend()
        .set(&key, &value, None, SetMode::Upsert)
        .await
        .unwrap();
    assert!(store.load(&rec.id).await.unwrap().is_none());

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(log.contains("WARN"), "{log}");
    assert!(log.contains("rejection=\"unknown_key\""), "{log}");
    assert!(!log.contains(&rec.id.to_string()), "{log}");
    assert!(!log.contains(&key[5..]), "{log}");
}

/// An adapter over a store with an owner index (index key 1, material `0x08`), bound by
/// the fields `owner` and `label`, on `clock` when given.
fn owned<B: Backend>(
    backend: B,
    clock: Option<&sealed_session::ManualClock>,
    owner: &str,
    label: &str,
) -> TowerSessionStore<B> {
    let keyring = Keyring::builder()
        .primary(
            1,
            Suite::Aes256Gcm,
            KeyMaterial::from_slice(&[7; 32]).unwrap(),
        )
        .index_keys(sealed_session::IndexKeys::new(
            1,
            KeyMaterial::from_slice(&[8; 32]).unwrap(),
        ))
        .build()
        .unwrap();
    let builder = TowerSessionStore::builder(backend)
        .keyring(keyring)
        .owners(sealed_session::Owners::new());
    let builder = match clock {
        Some(clock) => builder.clock(clock.clone()),
        None => builder,
    };
    TowerSessionStore::new(builder.build().unwrap())
        .unwrap()
        .owner_field(owner)
        .unwrap()
        .label_field(label)
}

fn owned_adapter<B: Backend>(
    backend: B,
    clock: &sealed_session::ManualClock,
) -> TowerSessionStore<B> {
    owned(backend, Some(clock), "user_id", "device")
}

fn signed_in(user: serde_json::Value, device: &str) -> Record {
    let mut record = record(1);
    record.data.insert("user_id".to_owned(), user);
    record.data.insert("device".to_owned(), json!(device));
    record
}

/// The application keeps writing its user id into the session; the adapter keeps the
/// owner index in step, and handlers list and revoke through the store they hold.
async fn owner_field_contract<B: Backend>(backend: B) {
    use sealed_session::Owner;

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let clock = sealed_session::ManualClock::at_secs(now);
    let store = owned_adapter(backend, &clock);
    let alice = Owner::new("alice").unwrap();
    let mut laptop = signed_in(json!("alice"), "laptop");
    store.create(&mut laptop).await.unwrap();
    let mut phone = signed_in(json!("alice"), "phone");
    store.create(&mut phone).await.unwrap();
    let mut numeric = signed_in(json!(42), "numeric");
    store.create(&mut numeric).await.unwrap();
    let mut anonymous = record(2);
    store.create(&mut anonymous).await.unwrap();

    let listed = store.store().sessions_of(&alice).await.unwrap();
    assert_eq!(listed.len(), 2);
    let ids: Vec<_> = listed.iter().map(|s| s.storage_id.clone()).collect();
    assert!(ids.contains(&store.storage_id(&laptop.id)));
    assert!(ids.contains(&store.storage_id(&phone.id)));
    let labels: Vec<_> = listed.iter().filter_map(|s| s.label.clone()).collect();
    assert!(labels.contains(&"laptop".to_owned()), "{labels:?}");
    let created = listed[0].created_at;
    assert!(created.is_some());
    assert_eq!(
        store
            .store()
            .sessions_of(&Owner::new("42").unwrap())
            .await
            .unwrap()
            .len(),
        1
    );

    // A load and save keep "created"; the data comes back as the application wrote it.
    clock.advance(Duration::from_secs(100));
    let loaded = store.load(&laptop.id).await.unwrap().unwrap();
    assert_eq!(loaded.data.get("user_id"), Some(&json!("alice")));
    store.save(&loaded).await.unwrap();
    let again = store.store().sessions_of(&alice).await.unwrap();
    let entry = again
        .iter()
        .find(|s| s.storage_id == store.storage_id(&laptop.id))
        .unwrap();
    assert_eq!(entry.created_at, created, "a save restarted \"created\"");

    // Log-out everywhere but here, from a handler holding the adapter.
    let report = store
        .store()
        .revoke_all_except(&alice, &store.storage_id(&laptop.id))
        .await
        .unwrap();
    assert_eq!(report.revoked, 1);
    assert!(store.load(&phone.id).await.unwrap().is_none());
    assert!(store.load(&laptop.id).await.unwrap().is_some());
    assert!(store.load(&anonymous.id).await.unwrap().is_some());

    // Removing the field unbinds the session at its next save.
    let mut out = store.load(&laptop.id).await.unwrap().unwrap();
    out.data.remove("user_id");
    store.save(&out).await.unwrap();
    assert_eq!(store.store().sessions_of(&alice).await.unwrap(), []);
}

#[tokio::test]
async fn the_owner_field_keeps_the_index_in_step_on_memory() {
    owner_field_contract(MemoryBackend::new()).await;
}

#[tokio::test]
async fn the_owner_field_keeps_the_index_in_step_on_redis() {
    let server = RedisServer::start();
    owner_field_contract(RedisBackend::connect(&server.url()).await.unwrap()).await;
}

#[test]
fn an_owner_field_needs_a_store_with_an_owner_index() {
    let err = adapter(MemoryBackend::new())
        .owner_field("user_id")
        .unwrap_err();
    assert!(
        matches!(err, sealed_session::Error::NoOwnerIndex),
        "{err:?}"
    );
}

fn owned_demo_store<B: Backend>(backend: B) -> TowerSessionStore<B> {
    owned(backend, None, app::USER, app::DEVICE)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_axum_demo_sessions_of_a_user_with_two_browsers_on_redis() {
    let server = RedisServer::start();
    let store = owned_demo_store(RedisBackend::connect(&server.url()).await.unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app::app_with_sessions(store))
            .await
            .unwrap();
    });
    crate::support::http::two_browsers(addr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_axum_demo_sessions_of_a_user_with_two_browsers_on_memory() {
    let store = owned_demo_store(MemoryBackend::new());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, app::app_with_sessions(store))
            .await
            .unwrap();
    });
    crate::support::http::two_browsers(addr).await;
}

// ---- Concurrent requests: merge_on_conflict ----

/// Two requests that load one record and save it one after the other, as tower-sessions
/// does for two concurrent requests of one browser.
async fn merge_contract<B: Backend>(backend: B) {
    let store = adapter(backend).merge_on_conflict();
    let mut first = record(1);
    first.data.insert("x".to_owned(), json!("to be removed"));
    store.create(&mut first).await.unwrap();
    let id = first.id;

    // Different entries: both requests' changes survive, each applied key by key.
    let mut a = store.load(&id).await.unwrap().unwrap();
    let mut b = store.load(&id).await.unwrap().unwrap();
    assert!(
        a.data.contains_key(LOADED_ENTRY),
        "the load carries what it loaded"
    );
    a.data.insert("a".to_owned(), json!(1));
    a.data.remove("x");
    b.data.insert("b".to_owned(), json!(2));
    b.data.insert("counter".to_owned(), json!(5));
    store.save(&a).await.unwrap();
    store.save(&b).await.unwrap();
    let stored = store.store().load_stored(&store.storage_id(&id)).await;
    let data = stored.unwrap().unwrap().into_data();
    assert_eq!(data.get("a"), Some(&json!(1)), "a's insert kept");
    assert!(!data.contains_key("x"), "a's removal kept");
    assert_eq!(data.get("b"), Some(&json!(2)));
    assert_eq!(data.get("counter"), Some(&json!(5)));
    assert_eq!(
        data.get("user"),
        record(1).data.get("user"),
        "untouched entry kept"
    );
    assert!(
        !data.contains_key(LOADED_ENTRY),
        "the reserved entry is never stored"
    );

    // The same entry: the later save wins, as in a database without locks.
    let mut c = store.load(&id).await.unwrap().unwrap();
    let mut d = store.load(&id).await.unwrap().unwrap();
    c.data.insert("counter".to_owned(), json!(10));
    d.data.insert("counter".to_owned(), json!(20));
    store.save(&c).await.unwrap();
    store.save(&d).await.unwrap();
    let now = store.load(&id).await.unwrap().unwrap();
    assert_eq!(now.data.get("counter"), Some(&json!(20)));
    assert_eq!(now.data.get("a"), Some(&json!(1)));

    // A log-out between the load and the save still wins.
    let mut e = store.load(&id).await.unwrap().unwrap();
    let mut f = store.load(&id).await.unwrap().unwrap();
    f.data.insert("f".to_owned(), json!(true));
    store.save(&f).await.unwrap();
    store.delete(&id).await.unwrap();
    e.data.insert("e".to_owned(), json!(true));
    store.save(&e).await.unwrap();
    assert!(store.load(&id).await.unwrap().is_none(), "not brought back");

    // A record moved to a new id carries the reserved entry; it is not stored either.
    let mut moved = record(7);
    store.create(&mut moved).await.unwrap();
    let mut loaded = store.load(&moved.id).await.unwrap().unwrap();
    store.delete(&loaded.id).await.unwrap();
    loaded.id = Id::default();
    store.create(&mut loaded).await.unwrap();
    let stored = store
        .store()
        .load_stored(&store.storage_id(&loaded.id))
        .await;
    assert!(!stored.unwrap().unwrap().data.contains_key(LOADED_ENTRY));

    // A reserved entry the handler spoiled: the save is the plain one.
    let mut g = store.load(&loaded.id).await.unwrap().unwrap();
    g.data.insert(LOADED_ENTRY.to_owned(), json!("spoiled"));
    g.data.insert("g".to_owned(), json!(1));
    store.save(&g).await.unwrap();
    let stored = store.store().load_stored(&store.storage_id(&g.id)).await;
    let data = stored.unwrap().unwrap().into_data();
    assert_eq!(data.get("g"), Some(&json!(1)));
    assert!(!data.contains_key(LOADED_ENTRY));
}

#[tokio::test]
async fn merge_on_conflict_keeps_both_requests_changes_on_memory() {
    merge_contract(MemoryBackend::new()).await;
}

#[tokio::test]
async fn merge_on_conflict_keeps_both_requests_changes_on_redis() {
    let server = RedisServer::start();
    merge_contract(RedisBackend::connect(&server.url()).await.unwrap()).await;
}

#[tokio::test]
async fn without_merge_on_conflict_the_last_save_wins() {
    let store = adapter(MemoryBackend::new());
    let mut first = record(1);
    store.create(&mut first).await.unwrap();
    let mut a = store.load(&first.id).await.unwrap().unwrap();
    let mut b = store.load(&first.id).await.unwrap().unwrap();
    assert!(
        !a.data.contains_key(LOADED_ENTRY),
        "no reserved entry without the opt-in"
    );
    a.data.insert("a".to_owned(), json!(1));
    b.data.insert("b".to_owned(), json!(2));
    store.save(&a).await.unwrap();
    store.save(&b).await.unwrap();
    let now = store.load(&first.id).await.unwrap().unwrap();
    assert_eq!(now.data.get("b"), Some(&json!(2)));
    assert!(!now.data.contains_key("a"), "the earlier change is lost");
}

/// A backend that holds the next `n` loads until `n` loads have arrived: as many requests
/// then load the same session before any of them saves, however fast they run.
struct HeldLoads<B> {
    inner: B,
    held: std::sync::atomic::AtomicUsize,
    barrier: tokio::sync::Barrier,
}

impl<B> HeldLoads<B> {
    fn new(inner: B, n: usize) -> Self {
        HeldLoads {
            inner,
            held: std::sync::atomic::AtomicUsize::new(0),
            barrier: tokio::sync::Barrier::new(n),
        }
    }

    fn hold(&self, n: usize) {
        self.held.store(n, std::sync::atomic::Ordering::SeqCst);
    }
}

impl<B: Backend> Backend for HeldLoads<B> {
    async fn set(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
        mode: SetMode,
    ) -> Result<bool, sealed_session::BackendError> {
        self.inner.set(key, value, ttl, mode).await
    }
    async fn get(
        &self,
        key: &str,
        max_len: usize,
    ) -> Result<sealed_session::Fetched, sealed_session::BackendError> {
        let fetched = self.inner.get(key, max_len).await;
        let take = self.held.fetch_update(
            std::sync::atomic::Ordering::SeqCst,
            std::sync::atomic::Ordering::SeqCst,
            |n| n.checked_sub(1),
        );
        if take.is_ok() {
            self.barrier.wait().await;
        }
        fetched
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
    async fn set_if(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
        expect: sealed_session::Expect<'_>,
    ) -> Result<sealed_session::Conditional, sealed_session::BackendError> {
        self.inner.set_if(key, value, ttl, expect).await
    }
}

/// Two concurrent `POST /prefs` of one browser through the axum demo's router, one setting
/// `a` and the other `b`, both loading before either saves. Returns which are set after.
async fn two_concurrent_prefs(merge: bool) -> (bool, bool) {
    let server = RedisServer::start();
    let backend = Arc::new(HeldLoads::new(
        RedisBackend::connect(&server.url()).await.unwrap(),
        2,
    ));
    let mut store = adapter(Arc::clone(&backend));
    if merge {
        store = store.merge_on_conflict();
    }
    let addr = serve(store).await;
    let first = request(addr, "GET", "/count", None, None).await;
    let cookie = first.cookie.expect("a session cookie");
    backend.hold(2);
    let (a, b) = tokio::join!(
        request(
            addr,
            "POST",
            "/prefs",
            Some(&cookie),
            Some("name=a&value=1")
        ),
        request(
            addr,
            "POST",
            "/prefs",
            Some(&cookie),
            Some("name=b&value=2")
        ),
    );
    assert_eq!((a.status, b.status), (200, 200), "{} / {}", a.body, b.body);
    let a = request(addr, "GET", "/prefs/a", Some(&cookie), None).await;
    let b = request(addr, "GET", "/prefs/b", Some(&cookie), None).await;
    if a.status == 200 {
        assert_eq!(a.body, "1");
    }
    if b.status == 200 {
        assert_eq!(b.body, "2");
    }
    (a.status == 200, b.status == 200)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_axum_demo_keeps_both_of_two_concurrent_changes_with_merge_on_conflict() {
    assert_eq!(two_concurrent_prefs(true).await, (true, true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_axum_demo_without_merge_on_conflict_keeps_the_last_writer_only() {
    let (a, b) = two_concurrent_prefs(false).await;
    assert!(
        a != b,
        "exactly one of the two changes survives: a {a}, b {b}"
    );
}

/// A request that saves its session itself and is saved again at its end (tower-sessions
/// does both when a handler calls `Session::save`): the second save compares against the
/// first, so an entry the request added and then removed does not come back.
async fn saving_twice_in_one_request<B: Backend>(backend: B) {
    let store = adapter(backend).merge_on_conflict();
    let mut first = record(1);
    store.create(&mut first).await.unwrap();
    let mut request = store.load(&first.id).await.unwrap().unwrap();
    request.data.insert("pending".to_owned(), json!(true));
    store.save(&request).await.unwrap();
    // Another request saves a change of its own between the two saves.
    let mut other = store.load(&first.id).await.unwrap().unwrap();
    other.data.insert("other".to_owned(), json!(1));
    store.save(&other).await.unwrap();
    request.data.remove("pending");
    store.save(&request).await.unwrap();
    let now = store.load(&first.id).await.unwrap().unwrap();
    assert!(
        !now.data.contains_key("pending"),
        "removed by its second save"
    );
    assert_eq!(
        now.data.get("other"),
        Some(&json!(1)),
        "the other request's change kept"
    );

    // The first save merged (another request saved since the load): the second must not
    // write the request's map as it holds it, which lacks the other request's entry.
    let mut x = store.load(&first.id).await.unwrap().unwrap();
    let mut y = store.load(&first.id).await.unwrap().unwrap();
    y.data.insert("pref".to_owned(), json!("dark"));
    store.save(&y).await.unwrap();
    x.data.insert("cart".to_owned(), json!(["book"]));
    store.save(&x).await.unwrap();
    x.data.insert("flash".to_owned(), json!("added"));
    store.save(&x).await.unwrap();
    let now = store.load(&first.id).await.unwrap().unwrap();
    assert_eq!(
        now.data.get("pref"),
        Some(&json!("dark")),
        "y's entry survives x's second save"
    );
    assert_eq!(now.data.get("cart"), Some(&json!(["book"])));
    assert_eq!(now.data.get("flash"), Some(&json!("added")));
}

#[tokio::test]
async fn a_second_save_of_one_request_merges_against_its_first_on_memory() {
    saving_twice_in_one_request(MemoryBackend::new()).await;
}

#[tokio::test]
async fn a_second_save_of_one_request_merges_against_its_first_on_redis() {
    let server = RedisServer::start();
    saving_twice_in_one_request(RedisBackend::connect(&server.url()).await.unwrap()).await;
}

#[tokio::test]
async fn a_merging_save_writes_nothing_over_what_it_did_not_load() {
    let server = RedisServer::start();
    let store = adapter(RedisBackend::connect(&server.url()).await.unwrap()).merge_on_conflict();
    let mut first = record(1);
    store.create(&mut first).await.unwrap();
    let key = store.storage_key(&first.id);
    let another = {
        let mut other = record(2);
        store.create(&mut other).await.unwrap();
        raw_get(store.store().backend(), &store.storage_key(&other.id))
            .await
            .unwrap()
    };
    for planted in [b"garbage".to_vec(), another] {
        let mut request = store.load(&first.id).await.unwrap().unwrap();
        let loaded = raw_get(store.store().backend(), &key).await.unwrap();
        store
            .store()
            .backend()
            .set(&key, &planted, None, SetMode::Upsert)
            .await
            .unwrap();
        request.data.insert("a".to_owned(), json!(1));
        store.save(&request).await.unwrap();
        assert_eq!(
            raw_get(store.store().backend(), &key).await.unwrap(),
            planted
        );
        store
            .store()
            .backend()
            .set(&key, &loaded, None, SetMode::Upsert)
            .await
            .unwrap();
    }
    // A hash under the key: left as it is.
    let mut request = store.load(&first.id).await.unwrap().unwrap();
    let mut redis = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: () = redis::cmd("DEL")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .unwrap();
    let _: () = redis::cmd("HSET")
        .arg(&key)
        .arg("f")
        .arg("v")
        .query_async(&mut redis)
        .await
        .unwrap();
    request.data.insert("a".to_owned(), json!(1));
    store.save(&request).await.unwrap();
    let kind: String = redis::cmd("TYPE")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .unwrap();
    assert_eq!(kind, "hash");
}

#[tokio::test]
async fn a_request_that_changed_nothing_writes_nothing_after_losing_a_race() {
    let store = adapter(MemoryBackend::new()).merge_on_conflict();
    let mut first = record(1);
    store.create(&mut first).await.unwrap();
    let key = store.storage_key(&first.id);
    let idle = store.load(&first.id).await.unwrap().unwrap();
    let mut busy = store.load(&first.id).await.unwrap().unwrap();
    busy.data.insert("b".to_owned(), json!(2));
    store.save(&busy).await.unwrap();
    let after_busy = raw_get(store.store().backend(), &key).await.unwrap();
    store.save(&idle).await.unwrap();
    assert_eq!(
        raw_get(store.store().backend(), &key).await.unwrap(),
        after_busy,
        "not written again"
    );

    // A request that only shortened the expiry did change something: it is written.
    let mut shorter = store.load(&first.id).await.unwrap().unwrap();
    let mut busy = store.load(&first.id).await.unwrap().unwrap();
    busy.data.insert("c".to_owned(), json!(3));
    store.save(&busy).await.unwrap();
    shorter.expiry_date = OffsetDateTime::now_utc() + Duration::from_secs(60);
    store.save(&shorter).await.unwrap();
    let value = raw_get(store.store().backend(), &key).await.unwrap();
    let until = Header::parse(&value).unwrap().expires_at;
    assert_eq!(
        until,
        u64::try_from(shorter.expiry_date.unix_timestamp()).unwrap()
    );
    let now = store.load(&first.id).await.unwrap().unwrap();
    assert_eq!(
        now.data.get("c"),
        Some(&json!(3)),
        "and the other change is kept"
    );
}
