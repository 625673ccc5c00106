//! actix-session on top of the store: the `SessionStore` contract on memory and a real
//! Redis, and the actix-web demo end to end over HTTP against a real Redis.

#[path = "../../examples/actix_demo/app.rs"]
#[allow(dead_code)]
mod app;

use std::collections::HashMap;
use std::time::Duration;

use actix_session::storage::{SessionKey, SessionStore};
use actix_web::cookie::Key;
use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::{App, HttpServer};
use sealed_session::envelope::Header;
use sealed_session::integrations::actix_session::{ActixSessionStore, EXPIRY_ENTRY, LOADED_ENTRY};
use sealed_session::{
    Backend, KeyMaterial, Keyring, ManualClock, MemoryBackend, RedisBackend, SetMode, Store, Suite,
};

use crate::support;
use crate::support::http::request;
use crate::support::raw_get;
use crate::support::redis::RedisServer;

fn adapter<B: Backend>(backend: B) -> ActixSessionStore<B> {
    let keyring = Keyring::single(
        1,
        Suite::Aes256Gcm,
        KeyMaterial::from_slice(&[5; 32]).unwrap(),
    )
    .unwrap();
    ActixSessionStore::new(Store::builder(backend).keyring(keyring).build().unwrap()).unwrap()
}

fn state(counter: u64) -> HashMap<String, String> {
    HashMap::from([
        ("counter".to_owned(), counter.to_string()),
        ("user".to_owned(), "\"alice\"".to_owned()),
    ])
}

/// A loaded state without the reserved entry that carries its absolute expiry, checked to
/// be a whole number.
fn app_entries(mut loaded: HashMap<String, String>) -> HashMap<String, String> {
    let expiry = loaded.remove(EXPIRY_ENTRY).expect("the expiry entry");
    expiry.parse::<u64>().expect("Unix seconds");
    loaded
}

/// What actix-session asks of a store, on `backend`.
async fn contract<B: Backend>(backend: B) {
    let store = adapter(backend);
    let ttl = CookieDuration::seconds(600);
    let key = store.save(state(1), &ttl).await.unwrap();
    // The key is a 256-bit session id; the entry is under its hash.
    assert_eq!(key.as_ref().len(), 43);
    let storage = store.storage_key(&key);
    assert!(storage.starts_with("sess:") && storage.len() == 5 + 64);
    let value = raw_get(store.store().backend(), &storage).await.unwrap();
    assert_eq!(Header::parse(&value).unwrap().key_id, 1);
    assert!(!String::from_utf8_lossy(&value).contains("alice"));
    assert_eq!(
        app_entries(store.load(&key).await.unwrap().unwrap()),
        state(1)
    );

    // Update keeps the key, replaces the state and keeps the absolute expiry, which the
    // loaded state carries in its reserved entry.
    let expires_at = Header::parse(&value).unwrap().expires_at;
    assert!(expires_at > 0, "the store's absolute lifetime applies");
    assert_eq!(
        store.load(&key).await.unwrap().unwrap()[EXPIRY_ENTRY],
        expires_at.to_string()
    );
    let same = store.update(key, state(2), &ttl).await.unwrap();
    assert_eq!(
        app_entries(store.load(&same).await.unwrap().unwrap()),
        state(2)
    );
    let value = raw_get(store.store().backend(), &storage).await.unwrap();
    assert_eq!(Header::parse(&value).unwrap().expires_at, expires_at);
    store.update_ttl(&same, &ttl).await.unwrap();

    // Delete; a racing update does not bring it back, a second delete is an error (so a
    // renewal racing a log-out fails rather than recreating the session).
    store.delete(&same).await.unwrap();
    assert!(store.load(&same).await.unwrap().is_none());
    assert!(store.delete(&same).await.is_err());
    let again = store.update(same, state(3), &ttl).await.unwrap();
    assert!(store.load(&again).await.unwrap().is_none());
    assert!(raw_get(store.store().backend(), &storage).await.is_none());

    // A tampered value is no session.
    let key = store.save(state(4), &ttl).await.unwrap();
    let storage = store.storage_key(&key);
    let mut value = raw_get(store.store().backend(), &storage).await.unwrap();
    value[90] ^= 1;
    store
        .store()
        .backend()
        .set(&storage, &value, None, SetMode::Upsert)
        .await
        .unwrap();
    assert!(store.load(&key).await.unwrap().is_none());

    // An unknown key is no session.
    let unknown = SessionKey::try_from("x".repeat(64)).unwrap();
    assert!(store.load(&unknown).await.unwrap().is_none());
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
async fn the_ttl_is_actix_sessions_and_slides() {
    let server = RedisServer::start();
    let store = adapter(RedisBackend::connect(&server.url()).await.unwrap());
    let key = store
        .save(state(1), &CookieDuration::seconds(300))
        .await
        .unwrap();
    let mut redis = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let storage = store.storage_key(&key);
    let pttl = |redis: &mut redis::aio::MultiplexedConnection| {
        let storage = storage.clone();
        let mut redis = redis.clone();
        async move {
            let ms: i64 = redis::cmd("PTTL")
                .arg(storage)
                .query_async(&mut redis)
                .await
                .unwrap();
            ms
        }
    };
    assert!((295_000..=300_000).contains(&pttl(&mut redis).await));
    store
        .update_ttl(&key, &CookieDuration::seconds(900))
        .await
        .unwrap();
    assert!((895_000..=900_000).contains(&pttl(&mut redis).await));
    let key = store
        .update(key, state(2), &CookieDuration::seconds(120))
        .await
        .unwrap();
    assert!((115_000..=120_000).contains(&pttl(&mut redis).await));
    assert_eq!(
        app_entries(store.load(&key).await.unwrap().unwrap()),
        state(2)
    );
}

/// `GETRANGE` calls the server has seen so far.
fn getrange_calls(port: u16) -> u64 {
    let info = support::redis::raw_command(port, "INFO commandstats").unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("cmdstat_getrange:calls="))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |n| n.parse().unwrap())
}

/// The update of a session this adapter loaded writes at once (the absolute expiry is
/// remembered from the load); an adapter that did not load it reads it first; both keep
/// the absolute expiry, and neither brings back a session deleted in between.
#[tokio::test]
async fn an_update_after_a_load_needs_no_second_read() {
    let server = RedisServer::start();
    let backend = RedisBackend::connect(&server.url()).await.unwrap();
    let store = adapter(backend.clone());
    let ttl = CookieDuration::seconds(600);
    let key = store.save(state(1), &ttl).await.unwrap();
    let storage = store.storage_key(&key);
    let expires_at = Header::parse(&raw_get(&backend, &storage).await.unwrap())
        .unwrap()
        .expires_at;
    assert!(expires_at > 0);

    let before = getrange_calls(server.port);
    assert_eq!(
        app_entries(store.load(&key).await.unwrap().unwrap()),
        state(1)
    );
    let key = store.update(key, state(2), &ttl).await.unwrap();
    assert_eq!(
        getrange_calls(server.port) - before,
        1,
        "one read: the load"
    );
    let value = raw_get(&backend, &storage).await.unwrap();
    assert_eq!(Header::parse(&value).unwrap().expires_at, expires_at);

    // Another instance (nothing remembered) reads first, and keeps the expiry too.
    let other = adapter(backend.clone());
    let before = getrange_calls(server.port);
    let key = other.update(key, state(3), &ttl).await.unwrap();
    assert_eq!(
        getrange_calls(server.port) - before,
        1,
        "the update's own read"
    );
    let value = raw_get(&backend, &storage).await.unwrap();
    assert_eq!(Header::parse(&value).unwrap().expires_at, expires_at);
    assert_eq!(
        app_entries(store.load(&key).await.unwrap().unwrap()),
        state(3)
    );

    // Loaded here, logged out elsewhere, then updated here: not recreated.
    other.delete(&key).await.unwrap();
    let key = store.update(key, state(4), &ttl).await.unwrap();
    assert!(raw_get(&backend, &storage).await.is_none());
    assert!(store.load(&key).await.unwrap().is_none());
}

/// A GET through the service with the cookie in `jar`, keeping the cookie it sets; the body.
macro_rules! browse {
    ($app:expr, $jar:expr, $path:expr) => {{
        let mut request = actix_web::test::TestRequest::get().uri($path);
        if let Some(cookie) = &$jar {
            request = request.cookie(cookie.clone());
        }
        let response = actix_web::test::call_service(&$app, request.to_request()).await;
        assert!(response.status().is_success(), "{}", response.status());
        if let Some(cookie) = response.response().cookies().find(|c| c.name() == "id") {
            $jar = Some(cookie.into_owned());
        }
        let body = actix_web::test::read_body(response).await;
        String::from_utf8(body.to_vec()).unwrap()
    }};
}

/// The adapter on the memory backend, on `clock`, with a one-hour absolute lifetime.
fn one_hour_store(clock: &ManualClock) -> ActixSessionStore<MemoryBackend> {
    ActixSessionStore::new(
        Store::builder(MemoryBackend::with_clock(clock.clone()))
            .keyring(support::keyring(1))
            .clock(clock.clone())
            .absolute_lifetime(Duration::from_secs(3600))
            .build()
            .unwrap(),
    )
    .unwrap()
}

/// actix-session renews a session key as a delete and a save of the same state. Renewing
/// every 25 minutes must not keep a session alive past its one-hour absolute lifetime.
#[actix_web::test]
async fn renewing_the_session_key_keeps_the_absolute_lifetime() {
    use actix_session::Session;
    use actix_web::web;

    let clock = ManualClock::at_secs(support::T0);
    let store = one_hour_store(&clock);
    let whoami = |session: &Session| {
        session
            .get::<String>("user")
            .unwrap()
            .unwrap_or_else(|| "anonymous".to_owned())
    };
    let app = actix_web::test::init_service(
        App::new()
            .wrap(app::sessions(store.clone(), Key::generate()))
            .route(
                "/login",
                web::get().to(move |session: Session| async move {
                    session.insert("user", "alice").unwrap();
                    session.renew();
                    whoami(&session)
                }),
            )
            .route(
                "/renew",
                web::get().to(move |session: Session| async move {
                    session.renew();
                    whoami(&session)
                }),
            )
            .route(
                "/whoami",
                web::get().to(move |session: Session| async move { whoami(&session) }),
            ),
    )
    .await;
    let mut jar: Option<actix_web::cookie::Cookie<'static>> = None;
    assert_eq!(browse!(app, jar, "/login"), "alice");

    let mut seen = Vec::new();
    for _ in 0..10 {
        clock.advance(Duration::from_secs(25 * 60));
        seen.push(browse!(app, jar, "/renew"));
    }
    // 25 and 50 minutes in, the renewed session is the same session; 75 minutes in, its
    // hour is over whatever the renewals did.
    assert_eq!(seen[..2], ["alice", "alice"]);
    assert!(seen[2..].iter().all(|who| who == "anonymous"), "{seen:?}");
    assert_eq!(browse!(app, jar, "/whoami"), "anonymous");
    assert!(store.store().is_empty().await.unwrap());

    // Only a real new session starts a new lifetime.
    assert_eq!(browse!(app, jar, "/login"), "alice");
    clock.advance(Duration::from_secs(59 * 60));
    assert_eq!(browse!(app, jar, "/whoami"), "alice");
    assert!(jar.is_some());
}

/// The state a renewal saves carries the old expiry; a state without the reserved entry
/// (a purged or new session) starts a new lifetime; the entry is never stored as data.
#[tokio::test]
async fn save_takes_the_absolute_expiry_from_the_reserved_entry() {
    let clock = ManualClock::at_secs(support::T0);
    let store = one_hour_store(&clock);
    let ttl = CookieDuration::seconds(600);
    let expiry_of = |key: &SessionKey| {
        let storage = store.storage_key(key);
        let backend = store.store().backend().clone();
        async move {
            Header::parse(&raw_get(&backend, &storage).await.unwrap())
                .unwrap()
                .expires_at
        }
    };
    let first = store.save(state(1), &ttl).await.unwrap();
    assert_eq!(expiry_of(&first).await, support::T0 + 3600);

    clock.advance(Duration::from_secs(300));
    let loaded = store.load(&first).await.unwrap().unwrap();
    store.delete(&first).await.unwrap();
    let renewed = store.save(loaded, &ttl).await.unwrap();
    assert_eq!(expiry_of(&renewed).await, support::T0 + 3600);
    let stored = store.load(&renewed).await.unwrap().unwrap();
    assert_eq!(app_entries(stored), state(1));

    // A forged later expiry gains nothing over a new session.
    let mut forged = state(2);
    forged.insert(EXPIRY_ENTRY.to_owned(), u64::MAX.to_string());
    let key = store.save(forged, &ttl).await.unwrap();
    assert_eq!(expiry_of(&key).await, support::T0 + 300 + 3600);

    // Past its expiry, a renewal writes nothing.
    let mut late = state(3);
    late.insert(EXPIRY_ENTRY.to_owned(), (support::T0 + 300).to_string());
    let key = store.save(late, &ttl).await.unwrap();
    assert!(store.load(&key).await.unwrap().is_none());
}

#[test]
fn plain_storage_keys_are_refused() {
    let store = Store::<HashMap<String, String>, _>::builder(MemoryBackend::new())
        .keyring(
            Keyring::single(
                1,
                Suite::Aes256Gcm,
                KeyMaterial::from_slice(&[5; 32]).unwrap(),
            )
            .unwrap(),
        )
        .storage_keys(sealed_session::StorageKeys::PlainIds)
        .build()
        .unwrap();
    assert!(ActixSessionStore::new(store).is_err());
}

#[test]
fn debug_shows_configuration_only() {
    let text = format!("{:?}", adapter(MemoryBackend::new()));
    assert!(
        text.starts_with("ActixSessionStore { store: Store {"),
        "{text}"
    );
}

// ---- The actix-web demo over HTTP ----

#[actix_web::test]
async fn the_actix_demo_end_to_end_on_redis() {
    let mut server = RedisServer::start();
    let backend = RedisBackend::builder()
        .url(server.url())
        .response_timeout(Duration::from_millis(500))
        .connect_timeout(Duration::from_millis(500))
        .connect()
        .await
        .unwrap();
    let store = adapter(backend);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let cookie_key = Key::generate();
    let app_store = store.clone();
    let http = HttpServer::new(move || {
        App::new()
            .wrap(app::sessions(app_store.clone(), cookie_key.clone()))
            .configure(app::routes)
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    let handle = http.handle();
    actix_web::rt::spawn(http);

    // The counter goes up through the cookie.
    let first = request(addr, "GET", "/count", None, None).await;
    assert_eq!((first.status, first.body.as_str()), (200, "1"));
    let mut cookie = first.cookie.expect("a session cookie");
    for n in 2..=4 {
        let next = request(addr, "GET", "/count", Some(&cookie), None).await;
        assert_eq!(next.body, n.to_string());
        if let Some(c) = next.cookie {
            cookie = c;
        }
    }
    // In Redis: one envelope, without the counter.
    let ids = store.store().ids().await.unwrap();
    assert_eq!(ids.len(), 1);
    let before = ids[0].clone();
    let key = format!("sess:{}", before.as_str());
    let value = raw_get(store.store().backend(), &key).await.unwrap();
    assert_eq!(Header::parse(&value).unwrap().key_id, 1);
    assert!(!String::from_utf8_lossy(&value).contains("counter"));

    // Log-in moves the session to a new key; the old entry is gone.
    let login = request(addr, "POST", "/login", Some(&cookie), Some("user=alice")).await;
    assert_eq!(login.status, 303);
    let after = login.cookie.expect("a new cookie after log-in");
    assert_ne!(after, cookie);
    let ids = store.store().ids().await.unwrap();
    assert_eq!(ids.len(), 1);
    assert_ne!(ids[0], before, "the old key no longer loads");
    let page = request(addr, "GET", "/", Some(&after), None).await;
    assert!(
        page.body.contains("Logged in as <b>alice</b>"),
        "{}",
        page.body
    );

    // Log-out deletes the entry.
    let out = request(addr, "POST", "/logout", Some(&after), None).await;
    assert_eq!(out.status, 303);
    assert!(store.store().ids().await.unwrap().is_empty());

    // A value tampered with in Redis gives a fresh session.
    let fresh = request(addr, "GET", "/count", None, None).await;
    let cookie = fresh.cookie.unwrap();
    let ids = store.store().ids().await.unwrap();
    let key = format!("sess:{}", ids[0].as_str());
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

    // A stopped Redis: the framework's error response, in time.
    server.kill();
    let started = std::time::Instant::now();
    let down = request(addr, "GET", "/count", Some(&cookie), None).await;
    assert_eq!(down.status, 500, "{}", down.body);
    assert!(started.elapsed() < Duration::from_secs(5));
    handle.stop(false).await;
}

/// An adapter over a store with an owner index (index key 1, material `0x06`), bound by
/// the entries `owner` and `label`, on `clock` when given.
fn owned<B: Backend>(
    backend: B,
    clock: Option<&ManualClock>,
    owner: &str,
    label: &str,
) -> ActixSessionStore<B> {
    let keyring = Keyring::builder()
        .primary(
            1,
            Suite::Aes256Gcm,
            KeyMaterial::from_slice(&[5; 32]).unwrap(),
        )
        .index_keys(sealed_session::IndexKeys::new(
            1,
            KeyMaterial::from_slice(&[6; 32]).unwrap(),
        ))
        .build()
        .unwrap();
    let builder = Store::builder(backend)
        .keyring(keyring)
        .owners(sealed_session::Owners::new());
    let builder = match clock {
        Some(clock) => builder.clock(clock.clone()),
        None => builder,
    };
    ActixSessionStore::new(builder.build().unwrap())
        .unwrap()
        .owner_field(owner)
        .unwrap()
        .label_field(label)
}

fn owned_adapter<B: Backend>(backend: B, clock: &ManualClock) -> ActixSessionStore<B> {
    owned(backend, Some(clock), "user_id", "device")
}

/// The application keeps writing its user id into the session state; the adapter keeps
/// the owner index in step, and handlers list and revoke through the store they hold.
async fn owner_field_contract<B: Backend>(backend: B) {
    use sealed_session::Owner;

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let clock = sealed_session::ManualClock::at_secs(now);
    let store = owned_adapter(backend, &clock);
    let ttl = CookieDuration::hours(1);
    let alice = Owner::new("alice").unwrap();
    let mut signed_in = state(1);
    signed_in.insert("user_id".to_owned(), "\"alice\"".to_owned());
    signed_in.insert("device".to_owned(), "\"laptop\"".to_owned());
    let laptop = store.save(signed_in.clone(), &ttl).await.unwrap();
    signed_in.insert("device".to_owned(), "\"phone\"".to_owned());
    let phone = store.save(signed_in, &ttl).await.unwrap();
    let anonymous = store.save(state(2), &ttl).await.unwrap();

    let listed = store.store().sessions_of(&alice).await.unwrap();
    assert_eq!(listed.len(), 2);
    let laptop_entry = listed
        .iter()
        .find(|s| s.storage_id == store.storage_id(&laptop))
        .expect("the laptop is listed");
    assert_eq!(laptop_entry.label.as_deref(), Some("laptop"));
    let created = laptop_entry.created_at;
    assert!(created.is_some());

    // Load then update (one request) keeps "created".
    clock.advance(Duration::from_secs(100));
    let loaded = store.load(&laptop).await.unwrap().unwrap();
    let laptop = store.update(laptop, loaded, &ttl).await.unwrap();
    let listed = store.store().sessions_of(&alice).await.unwrap();
    let entry = listed
        .iter()
        .find(|s| s.storage_id == store.storage_id(&laptop))
        .unwrap();
    assert_eq!(entry.created_at, created);

    let report = store.store().revoke_all(&alice).await.unwrap();
    assert_eq!(report.revoked, 2);
    assert!(store.load(&laptop).await.unwrap().is_none());
    assert!(store.load(&phone).await.unwrap().is_none());
    assert!(store.load(&anonymous).await.unwrap().is_some());
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

fn owned_demo_store<B: Backend>(backend: B) -> ActixSessionStore<B> {
    owned(backend, None, app::USER, app::DEVICE)
}

/// The demo's pages of a user's sessions, through HTTP with two cookie jars (the same flow
/// as the axum demo's).
#[actix_web::test]
async fn the_actix_demo_sessions_of_a_user_with_two_browsers_on_redis() {
    let server = RedisServer::start();
    let store = owned_demo_store(RedisBackend::connect(&server.url()).await.unwrap());
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let cookie_key = Key::generate();
    let http = HttpServer::new(move || {
        App::new()
            .wrap(app::sessions(store.clone(), cookie_key.clone()))
            .app_data(actix_web::web::Data::new(store.clone()))
            .configure(app::routes)
            .configure(app::session_routes::<RedisBackend>)
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    let handle = http.handle();
    actix_web::rt::spawn(http);
    crate::support::http::two_browsers(addr).await;
    handle.stop(true).await;
}

// ---- Concurrent requests: merge_on_conflict ----

/// Two requests that load one state and update it one after the other, as actix-session
/// does for two concurrent requests of one browser.
async fn merge_contract<B: Backend>(backend: B) {
    let store = adapter(backend).merge_on_conflict();
    let ttl = CookieDuration::seconds(600);
    let mut first = state(1);
    first.insert("x".to_owned(), "\"to be removed\"".to_owned());
    let key = store.save(first, &ttl).await.unwrap();
    let again = || SessionKey::try_from(key.as_ref().to_owned()).unwrap();

    let mut a = store.load(&key).await.unwrap().unwrap();
    let mut b = store.load(&key).await.unwrap().unwrap();
    assert!(
        a.contains_key(LOADED_ENTRY),
        "the load carries what it loaded"
    );
    a.insert("a".to_owned(), "1".to_owned());
    a.remove("x");
    b.insert("b".to_owned(), "2".to_owned());
    b.insert("counter".to_owned(), "5".to_owned());
    store.update(again(), a, &ttl).await.unwrap();
    store.update(again(), b, &ttl).await.unwrap();
    let id = store.storage_id(&key);
    let data = store
        .store()
        .load_stored(&id)
        .await
        .unwrap()
        .unwrap()
        .into_data();
    let mut expected = state(5);
    expected.insert("a".to_owned(), "1".to_owned());
    expected.insert("b".to_owned(), "2".to_owned());
    assert_eq!(
        data, expected,
        "both changes, the removal too, and nothing reserved"
    );

    // The same entry: the later update wins.
    let mut c = store.load(&key).await.unwrap().unwrap();
    let mut d = store.load(&key).await.unwrap().unwrap();
    c.insert("counter".to_owned(), "10".to_owned());
    d.insert("counter".to_owned(), "20".to_owned());
    store.update(again(), c, &ttl).await.unwrap();
    store.update(again(), d, &ttl).await.unwrap();
    let now = app_entries(store.load(&key).await.unwrap().unwrap());
    assert_eq!(now.get("counter").map(String::as_str), Some("20"));

    // A log-out between the load and the update still wins.
    let mut e = store.load(&key).await.unwrap().unwrap();
    store.delete(&key).await.unwrap();
    e.insert("e".to_owned(), "true".to_owned());
    store.update(again(), e, &ttl).await.unwrap();
    assert!(
        store.load(&key).await.unwrap().is_none(),
        "not brought back"
    );

    // A renewal (the state saved under a new key) does not store the reserved entry.
    let key = store.save(state(3), &ttl).await.unwrap();
    let loaded = store.load(&key).await.unwrap().unwrap();
    let renewed = store.save(loaded, &ttl).await.unwrap();
    let data = store
        .store()
        .load_stored(&store.storage_id(&renewed))
        .await
        .unwrap()
        .unwrap()
        .into_data();
    assert_eq!(data, state(3));
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
async fn without_merge_on_conflict_the_last_update_wins() {
    let store = adapter(MemoryBackend::new());
    let ttl = CookieDuration::seconds(600);
    let key = store.save(state(1), &ttl).await.unwrap();
    let again = || SessionKey::try_from(key.as_ref().to_owned()).unwrap();
    let mut a = store.load(&key).await.unwrap().unwrap();
    let mut b = store.load(&key).await.unwrap().unwrap();
    assert!(!a.contains_key(LOADED_ENTRY));
    a.insert("a".to_owned(), "1".to_owned());
    b.insert("b".to_owned(), "2".to_owned());
    store.update(again(), a, &ttl).await.unwrap();
    store.update(again(), b, &ttl).await.unwrap();
    let now = app_entries(store.load(&key).await.unwrap().unwrap());
    assert!(
        now.contains_key("b") && !now.contains_key("a"),
        "the earlier change is lost"
    );
}
