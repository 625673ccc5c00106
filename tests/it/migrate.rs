//! Lazy migration and bulk import from connect-redis and connect-redis-crypto records, on the
//! memory backend and a real `redis-server`. (Records written by the real Node packages are
//! in `express.rs`.)

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use sealed_session::migrate::{
    ConnectRedis, ConnectRedisCrypto, ExpressCookies, ImportOptions, Imported, LegacyFormat,
    LegacySid, LegacySource, Migrator, Skip,
};
use sealed_session::{
    Backend, Error, Fetched, Json, KeyMaterial, Keyring, LegacyError, ManualClock, MemoryBackend,
    RedisBackend, ScanCursor, SetMode, Store, StoreBuilder, Suite,
};

use crate::support::redis::{RedisServer, raw_command};

type Data = Map<String, Value>;

const SECRET: &str = "keyboard cat";
/// The record kruptein wrote for `session.json` under this passphrase.
const CRYPTO_RECORD: &[u8] = include_bytes!("../fixtures/express/connect-redis-crypto.json");
const CRYPTO_SESSION: &[u8] = include_bytes!("../fixtures/express/session.json");
const CRYPTO_SECRET: &str = "correct horse battery staple";

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn js_date(unix_secs: u64) -> String {
    // Days to a civil date, for cookie.expires in the form JavaScript writes.
    let days = unix_secs / 86_400;
    let rem = unix_secs % 86_400;
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.000Z",
        rem / 3_600,
        rem % 3_600 / 60,
        rem % 60
    )
}

/// A connect-redis record: the session JSON with its cookie expiring at `expires`.
fn plain_record(user: &str, expires: Option<u64>) -> Vec<u8> {
    let expires = expires.map_or(Value::Null, |at| Value::String(js_date(at)));
    serde_json::to_vec(&json!({
        "cookie": {"originalMaxAge": 3_600_000, "expires": expires, "httpOnly": true, "path": "/"},
        "user": user,
        "visits": 3,
        "cart": {"items": ["book", "pen"], "total": 12.5},
    }))
    .unwrap()
}

fn keyring() -> Keyring {
    Keyring::single(1, Suite::Aes256Gcm, KeyMaterial::generate().unwrap()).unwrap()
}

fn store_on<B: Backend>(backend: B, lifetime: Duration) -> Store<Data, B> {
    StoreBuilder::with_codec(backend, Json)
        .keyring(keyring())
        .prefix("app:")
        .absolute_lifetime(lifetime)
        .build()
        .unwrap()
}

fn cookies() -> ExpressCookies {
    ExpressCookies::new([SECRET]).unwrap()
}

fn cookie_for(sid: &str) -> String {
    cookies().sign(&LegacySid::from_stored(sid))
}

async fn keys<B: Backend>(backend: &B, prefix: &str) -> Vec<String> {
    let mut all = Vec::new();
    let mut cursor = ScanCursor::start();
    loop {
        let page = backend.scan(prefix, cursor, 100).await.unwrap();
        all.extend(page.keys);
        match page.next {
            Some(next) => cursor = next,
            None => break,
        }
    }
    all.sort();
    all.dedup();
    all
}

/// Sessions of the store (64-hex names), without the migration's entries.
async fn sessions<B: Backend>(backend: &B) -> usize {
    keys(backend, "app:")
        .await
        .iter()
        .filter(|k| k.len() == "app:".len() + 64)
        .count()
}

async fn redis() -> (RedisServer, RedisBackend) {
    let server = RedisServer::start();
    let backend = RedisBackend::connect(&server.url()).await.unwrap();
    (server, backend)
}

/// The legacy cookie becomes a session under a fresh id with the same data and the cookie's
/// expiry; the legacy record goes only after; the same cookie again within the grace period
/// finds the same session.
async fn a_legacy_cookie_becomes_a_sealed_session<B: Backend + Clone>(backend: B) {
    let store = store_on(backend.clone(), Duration::from_secs(7 * 86_400));
    let expires = now_secs() + 3_600;
    let record = plain_record("alice", Some(expires));
    backend
        .set("sess:abc123", &record, None, SetMode::Upsert)
        .await
        .unwrap();
    let migrator = Migrator::new(
        store.clone(),
        LegacySource::new(backend.clone(), ConnectRedis),
        cookies(),
    );
    let migrated = migrator
        .migrate_cookie(&cookie_for("abc123"))
        .await
        .unwrap()
        .expect("migrated");
    assert!(migrated.is_fresh());
    let mut expected = serde_json::from_slice::<Data>(&record).unwrap();
    expected.remove("cookie");
    assert_eq!(migrated.session().data, expected);
    assert_eq!(
        migrated.session().expires_at(),
        Some(UNIX_EPOCH + Duration::from_secs(expires))
    );
    let loaded = store.load(migrated.id()).await.unwrap().expect("stored");
    assert_eq!(loaded.data, expected);
    assert_eq!(
        backend.get("sess:abc123", 1 << 20).await.unwrap(),
        Fetched::Missing
    );
    // A request that was already under way with the legacy cookie.
    let again = migrator
        .migrate_cookie(&cookie_for("abc123"))
        .await
        .unwrap()
        .expect("followed");
    assert!(!again.is_fresh());
    assert_eq!(again.id(), migrated.id());
    assert_eq!(sessions(&backend).await, 1);
    let stats = migrator.stats();
    assert_eq!((stats.migrated, stats.followed), (1, 1));
    // No legacy id is stored by the store: its keys are hashes.
    for key in keys(&backend, "app:").await {
        assert!(!key.contains("abc123"), "{key}");
    }
}

#[tokio::test]
async fn a_legacy_cookie_becomes_a_sealed_session_in_memory() {
    a_legacy_cookie_becomes_a_sealed_session(MemoryBackend::new()).await;
}

#[tokio::test]
async fn a_legacy_cookie_becomes_a_sealed_session_in_redis() {
    let (_server, backend) = redis().await;
    a_legacy_cookie_becomes_a_sealed_session(backend).await;
}

/// Many requests at once with one legacy cookie: one session, all of them in it.
async fn concurrent_requests_end_in_one_session<B: Backend + Clone>(
    backend: B,
    format: impl LegacyFormat,
    record: &[u8],
    secret_sid: &str,
) {
    let store = store_on(backend.clone(), Duration::from_secs(7 * 86_400));
    backend
        .set(&format!("sess:{secret_sid}"), record, None, SetMode::Upsert)
        .await
        .unwrap();
    let migrator = Migrator::new(
        store.clone(),
        LegacySource::new(backend.clone(), format),
        cookies(),
    );
    let cookie = Arc::new(cookie_for(secret_sid));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let migrator = migrator.clone();
            let cookie = Arc::clone(&cookie);
            tokio::spawn(async move { migrator.migrate_cookie(&cookie).await })
        })
        .collect();
    let mut ids = Vec::new();
    let mut fresh = 0;
    for task in tasks {
        let migrated = task.await.unwrap().unwrap().expect("a session");
        fresh += usize::from(migrated.is_fresh());
        ids.push(migrated.id().as_str().to_owned());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "every request ends in the same session");
    assert_eq!(fresh, 1);
    assert_eq!(sessions(&backend).await, 1, "no second live copy");
    assert_eq!(migrator.stats().migrated, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_with_one_legacy_cookie_end_in_one_session() {
    let record = plain_record("alice", Some(now_secs() + 3_600));
    concurrent_requests_end_in_one_session(MemoryBackend::new(), ConnectRedis, &record, "abc")
        .await;
    let (_server, backend) = redis().await;
    concurrent_requests_end_in_one_session(backend, ConnectRedis, &record, "abc").await;
    // Encrypted records take milliseconds to derive their key: a wide window for the race.
    let (_server, backend) = redis().await;
    let format = ConnectRedisCrypto::new(CRYPTO_SECRET).unwrap();
    concurrent_requests_end_in_one_session(backend, format, CRYPTO_RECORD, "crypto").await;
}

#[tokio::test]
async fn the_cookies_expiry_is_kept_but_capped_by_the_stores_lifetime() {
    let backend = MemoryBackend::new();
    let store = store_on(backend.clone(), Duration::from_secs(86_400));
    let in_a_month = now_secs() + 30 * 86_400;
    backend
        .set(
            "sess:m",
            &plain_record("a", Some(in_a_month)),
            None,
            SetMode::Upsert,
        )
        .await
        .unwrap();
    backend
        .set("sess:s", &plain_record("b", None), None, SetMode::Upsert)
        .await
        .unwrap();
    let migrator = Migrator::new(
        store,
        LegacySource::new(backend.clone(), ConnectRedis),
        cookies(),
    );
    for sid in ["m", "s"] {
        let before = now_secs();
        let migrated = migrator
            .migrate_cookie(&cookie_for(sid))
            .await
            .unwrap()
            .unwrap();
        let at = migrated
            .session()
            .expires_at()
            .unwrap()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(
            (before + 86_400..=now_secs() + 86_400).contains(&at),
            "{sid}"
        );
    }
}

#[tokio::test]
async fn an_expired_or_missing_legacy_session_is_no_session() {
    let backend = MemoryBackend::new();
    let store = store_on(backend.clone(), Duration::from_secs(86_400));
    backend
        .set(
            "sess:old",
            &plain_record("a", Some(now_secs() - 10)),
            None,
            SetMode::Upsert,
        )
        .await
        .unwrap();
    let migrator = Migrator::new(
        store,
        LegacySource::new(backend.clone(), ConnectRedis),
        cookies(),
    );
    assert!(
        migrator
            .migrate_cookie(&cookie_for("old"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        migrator
            .migrate_cookie(&cookie_for("none"))
            .await
            .unwrap()
            .is_none()
    );
    let stats = migrator.stats();
    assert_eq!((stats.expired, stats.missing, stats.migrated), (1, 1, 0));
    assert_eq!(sessions(&backend).await, 0);
}

/// A cookie that does not verify is refused before Redis is asked anything.
#[tokio::test]
async fn a_bad_cookie_is_refused_without_a_lookup() {
    let (server, backend) = redis().await;
    let store = store_on(backend.clone(), Duration::from_secs(86_400));
    backend
        .set("sess:abc", &plain_record("a", None), None, SetMode::Upsert)
        .await
        .unwrap();
    let migrator = Migrator::new(
        store,
        LegacySource::new(backend.clone(), ConnectRedis),
        cookies(),
    );
    let gets = || {
        let stats = raw_command(server.port, "INFO commandstats").unwrap();
        stats
            .lines()
            .find_map(|l| l.strip_prefix("cmdstat_get:calls="))
            .and_then(|rest| rest.split(',').next())
            .map_or(0, |n| n.parse::<u64>().unwrap())
    };
    let before = gets();
    let retired = ExpressCookies::new(["an old secret"]).unwrap();
    let good = cookie_for("abc");
    for (cookie, refusal) in [
        (
            retired.sign(&LegacySid::from_stored("abc")),
            LegacyError::BadSignature,
        ),
        (good.replacen("abc", "abd", 1), LegacyError::BadSignature),
        (good.replacen("s%3A", "", 1), LegacyError::UnsignedCookie),
        ("s%3Aabc".to_owned(), LegacyError::MalformedCookie),
        (
            format!("s%3A{}.x", "a".repeat(300)),
            LegacyError::CookieTooLong,
        ),
    ] {
        match migrator.migrate_cookie(&cookie).await {
            Err(Error::Legacy(e)) => assert_eq!(e, refusal),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(gets(), before, "a refused cookie made no lookup");
    // The application's retired secret, kept in the list, still verifies.
    let rotated = Migrator::new(
        store_on(backend.clone(), Duration::from_secs(86_400)),
        LegacySource::new(backend.clone(), ConnectRedis),
        ExpressCookies::new(["a new secret", "an old secret"]).unwrap(),
    );
    let signed_before = retired.sign(&LegacySid::from_stored("abc"));
    assert!(
        rotated
            .migrate_cookie(&signed_before)
            .await
            .unwrap()
            .is_some()
    );
}

/// A record that fails verification is refused, counted and left for the operator.
#[tokio::test]
async fn a_tampered_record_is_refused_and_left_in_place() {
    let (_server, backend) = redis().await;
    let store = store_on(backend.clone(), Duration::from_secs(7 * 86_400));
    let mut record: Map<String, Value> = serde_json::from_slice(CRYPTO_RECORD).unwrap();
    let mut hmac: Vec<char> = record["hmac"].as_str().unwrap().chars().collect();
    hmac[0] = char::from(u8::try_from(u32::from(hmac[0])).unwrap() ^ 0x01);
    record.insert("hmac".into(), Value::String(hmac.into_iter().collect()));
    let tampered = serde_json::to_vec(&record).unwrap();
    backend
        .set("sess:t", &tampered, None, SetMode::Upsert)
        .await
        .unwrap();
    let migrator = Migrator::new(
        store,
        LegacySource::new(
            backend.clone(),
            ConnectRedisCrypto::new(CRYPTO_SECRET).unwrap(),
        ),
        cookies(),
    );
    match migrator.migrate_cookie(&cookie_for("t")).await {
        Err(Error::Legacy(LegacyError::Tampered)) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(
        backend.get("sess:t", 1 << 20).await.unwrap(),
        Fetched::Value(tampered)
    );
    assert_eq!(migrator.stats().refused, 1);
    assert_eq!(keys(&backend, "app:").await.len(), 0);
    // An oversized record is refused without being read.
    let small = Migrator::new(
        store_on(backend.clone(), Duration::from_secs(86_400)),
        LegacySource::new(backend.clone(), ConnectRedis).max_record_len(100),
        cookies(),
    );
    backend
        .set(
            "sess:big",
            &plain_record(&"x".repeat(200), None),
            None,
            SetMode::Upsert,
        )
        .await
        .unwrap();
    match small.migrate_cookie(&cookie_for("big")).await {
        Err(Error::Legacy(LegacyError::RecordTooLarge)) => {}
        other => panic!("{other:?}"),
    }
}

/// The bulk import seals every record under the entry of its legacy id, re-runs as a no-op,
/// and a later request uses the entry (here: with a secret that could no longer read the
/// record) as long as the record is the one imported.
#[tokio::test]
async fn the_import_is_safe_to_rerun_and_requests_use_what_it_sealed() {
    let (server, backend) = redis().await;
    let store = store_on(backend.clone(), Duration::from_secs(7 * 86_400));
    backend
        .set("sess:crypto", CRYPTO_RECORD, None, SetMode::Upsert)
        .await
        .unwrap();
    backend
        .set("sess:copy", CRYPTO_RECORD, None, SetMode::Upsert)
        .await
        .unwrap();
    let mut bad: Map<String, Value> = serde_json::from_slice(CRYPTO_RECORD).unwrap();
    bad.insert("ct".into(), Value::String("x".into()));
    backend
        .set(
            "sess:bad",
            &serde_json::to_vec(&bad).unwrap(),
            None,
            SetMode::Upsert,
        )
        .await
        .unwrap();
    let format = ConnectRedisCrypto::new(CRYPTO_SECRET).unwrap();
    let migrator = Migrator::new(
        store.clone(),
        LegacySource::new(backend.clone(), format),
        cookies(),
    );

    let mut dry_run = ImportOptions::default();
    dry_run.dry_run = true;
    let dry = migrator
        .importer()
        .import_all(&dry_run, |_| {})
        .await
        .unwrap();
    assert_eq!(
        (dry.scanned, dry.converted, dry.refused, dry.tampered),
        (3, 2, 1, 1)
    );
    assert_eq!(
        keys(&backend, "app:").await.len(),
        0,
        "a dry run writes nothing"
    );

    let mut pages = 0;
    let report = migrator
        .importer()
        .import_all(&ImportOptions::default(), |_| pages += 1)
        .await
        .unwrap();
    assert!(pages >= 1);
    assert_eq!(
        (report.converted, report.refused, report.already_migrated),
        (2, 1, 0)
    );
    let entries = keys(&backend, "app:legacy.").await;
    assert_eq!(entries.len(), 2);
    // Each entry lives as long as its session may: the cookie's expiry (2099 here) capped by
    // the store's seven days, not the store's one-day idle TTL.
    for entry in &entries {
        let ttl = raw_command(server.port, &format!("TTL {entry}")).unwrap();
        let secs: u64 = ttl.trim().trim_start_matches(':').parse().unwrap();
        assert!((7 * 86_400 - 60..=7 * 86_400).contains(&secs), "{ttl}");
    }
    // Every legacy record is still there: the import changes nothing the legacy app reads.
    assert_eq!(keys(&backend, "sess:").await.len(), 3);
    let again = migrator
        .importer()
        .import_all(&ImportOptions::default(), |_| {})
        .await
        .unwrap();
    assert_eq!(
        (again.converted, again.already_migrated, again.refused),
        (0, 2, 1)
    );

    // A request with the legacy cookie uses the imported entry: a migrator whose secret
    // cannot read the record still finds the session, because the record is unchanged.
    let wrong = ConnectRedisCrypto::new("not the secret").unwrap();
    let later = Migrator::new(
        store.clone(),
        LegacySource::new(backend.clone(), wrong),
        cookies(),
    );
    let migrated = later
        .migrate_cookie(&cookie_for("crypto"))
        .await
        .unwrap()
        .expect("from the imported entry");
    let mut expected: Data = serde_json::from_slice(CRYPTO_SESSION).unwrap();
    expected.remove("cookie");
    assert_eq!(migrated.session().data, expected);
    assert_eq!(
        backend.get("sess:crypto", 1 << 20).await.unwrap(),
        Fetched::Missing
    );
    assert_eq!(
        migrator
            .importer()
            .import(&LegacySid::from_stored("crypto"), &ImportOptions::default())
            .await
            .unwrap(),
        Imported::Skipped(Skip::Gone)
    );
}

/// An imported entry never outranks the legacy record: a newer record wins, and a record
/// the legacy application destroyed is not brought back.
#[tokio::test]
async fn the_legacy_record_outranks_an_imported_entry() {
    let backend = MemoryBackend::new();
    let store = store_on(backend.clone(), Duration::from_secs(7 * 86_400));
    let migrator = Migrator::new(
        store,
        LegacySource::new(backend.clone(), ConnectRedis),
        cookies(),
    );
    let expires = Some(now_secs() + 3_600);
    for sid in ["changed", "destroyed"] {
        backend
            .set(
                &format!("sess:{sid}"),
                &plain_record("before", expires),
                None,
                SetMode::Upsert,
            )
            .await
            .unwrap();
    }
    let report = migrator
        .importer()
        .import_all(&ImportOptions::default(), |_| {})
        .await
        .unwrap();
    assert_eq!(report.converted, 2);
    // The legacy application keeps serving after the import.
    backend
        .set(
            "sess:changed",
            &plain_record("after", expires),
            None,
            SetMode::Upsert,
        )
        .await
        .unwrap();
    backend.delete("sess:destroyed").await.unwrap();

    let changed = migrator
        .migrate_cookie(&cookie_for("changed"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(changed.session().data["user"], "after");
    assert!(
        migrator
            .migrate_cookie(&cookie_for("destroyed"))
            .await
            .unwrap()
            .is_none()
    );
    // The stale entry is gone with it.
    assert_eq!(keys(&backend, "app:legacy.").await.len(), 1);
    assert_eq!(sessions(&backend).await, 1);
}

/// After the grace period the legacy cookie leads nowhere; the new id stays valid.
#[tokio::test]
async fn after_the_grace_period_the_legacy_cookie_is_dead() {
    let clock = ManualClock::at_secs(now_secs());
    let backend = MemoryBackend::with_clock(clock.clone());
    let store: Store<Data, _> = StoreBuilder::with_codec(backend.clone(), Json)
        .keyring(keyring())
        .prefix("app:")
        .clock(clock.clone())
        .build()
        .unwrap();
    backend
        .set("sess:g", &plain_record("a", None), None, SetMode::Upsert)
        .await
        .unwrap();
    let migrator = Migrator::new(
        store.clone(),
        LegacySource::new(backend.clone(), ConnectRedis),
        cookies(),
    )
    .grace(Duration::from_secs(60));
    let first = migrator
        .migrate_cookie(&cookie_for("g"))
        .await
        .unwrap()
        .unwrap();
    clock.advance(Duration::from_secs(59));
    let within = migrator
        .migrate_cookie(&cookie_for("g"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(within.id(), first.id());
    clock.advance(Duration::from_secs(2));
    assert!(
        migrator
            .migrate_cookie(&cookie_for("g"))
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.load(first.id()).await.unwrap().is_some());
    // A session logged out after its move takes the legacy cookie with it.
    let backend2 = MemoryBackend::new();
    let store2 = store_on(backend2.clone(), Duration::from_secs(86_400));
    backend2
        .set("sess:h", &plain_record("a", None), None, SetMode::Upsert)
        .await
        .unwrap();
    let m2 = Migrator::new(
        store2.clone(),
        LegacySource::new(backend2, ConnectRedis),
        cookies(),
    );
    let moved = m2.migrate_cookie(&cookie_for("h")).await.unwrap().unwrap();
    store2.destroy(moved.id()).await.unwrap();
    assert!(m2.migrate_cookie(&cookie_for("h")).await.unwrap().is_none());
}

/// The application maps the legacy JSON onto its own type; a record that does not fit is
/// refused and left in place.
#[tokio::test]
async fn the_application_chooses_its_session_type() {
    #[derive(serde::Deserialize, serde::Serialize, Debug, PartialEq)]
    struct Visit {
        user: String,
        visits: u32,
    }
    let backend = MemoryBackend::new();
    let store: Store<Visit, _> = StoreBuilder::with_codec(backend.clone(), Json)
        .keyring(keyring())
        .prefix("app:")
        .build()
        .unwrap();
    backend
        .set("sess:v", &plain_record("zoë", None), None, SetMode::Upsert)
        .await
        .unwrap();
    backend
        .set(
            "sess:w",
            br#"{"cookie":{},"user":7}"#,
            None,
            SetMode::Upsert,
        )
        .await
        .unwrap();
    let migrator = Migrator::new(
        store,
        LegacySource::new(backend.clone(), ConnectRedis),
        cookies(),
    );
    let migrated = migrator
        .migrate_cookie(&cookie_for("v"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        migrated.session().data,
        Visit {
            user: "zoë".into(),
            visits: 3
        }
    );
    match migrator.migrate_cookie(&cookie_for("w")).await {
        Err(Error::Legacy(LegacyError::MalformedRecord { part: "data" })) => {}
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        backend.get("sess:w", 1 << 20).await.unwrap(),
        Fetched::Value(_)
    ));
}

type Hook =
    Arc<dyn Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Send + Sync>;

/// The legacy application's Redis, seen by one request: the first read of `key` runs
/// `before` (another request, say) and then `after` (the legacy application writing) around
/// the real read, to play an interleaving deterministically.
#[derive(Clone)]
struct Interleaved {
    inner: MemoryBackend,
    key: &'static str,
    before: Option<Hook>,
    after: Option<Hook>,
    fired: Arc<std::sync::atomic::AtomicBool>,
}

impl Interleaved {
    fn new(inner: MemoryBackend, key: &'static str) -> Self {
        Interleaved {
            inner,
            key,
            before: None,
            after: None,
            fired: Arc::default(),
        }
    }
}

impl Backend for Interleaved {
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
    ) -> Result<Fetched, sealed_session::BackendError> {
        let first = key == self.key && !self.fired.swap(true, std::sync::atomic::Ordering::SeqCst);
        if first && let Some(hook) = &self.before {
            hook().await;
        }
        let fetched = self.inner.get(key, max_len).await;
        if first && let Some(hook) = &self.after {
            hook().await;
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

    async fn set_if(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
        expect: sealed_session::Expect<'_>,
    ) -> Result<sealed_session::Conditional, sealed_session::BackendError> {
        self.inner.set_if(key, value, ttl, expect).await
    }

    async fn delete_if(
        &self,
        key: &str,
        expect: sealed_session::Expect<'_>,
    ) -> Result<sealed_session::Conditional, sealed_session::BackendError> {
        self.inner.delete_if(key, expect).await
    }

    async fn scan(
        &self,
        prefix: &str,
        cursor: ScanCursor,
        count: usize,
    ) -> Result<sealed_session::ScanPage, sealed_session::BackendError> {
        self.inner.scan(prefix, cursor, count).await
    }
}

/// A request that found no entry, then no record, because another request moved the
/// session in between (claimed it and deleted the record): it follows that move instead of
/// ending without a session.
#[tokio::test]
async fn a_request_overtaken_between_its_two_reads_follows_the_move() {
    let backend = MemoryBackend::new();
    let store = store_on(backend.clone(), Duration::from_secs(86_400));
    backend
        .set(
            "sess:r",
            &plain_record("alice", None),
            None,
            SetMode::Upsert,
        )
        .await
        .unwrap();
    let first = Migrator::new(
        store.clone(),
        LegacySource::new(backend.clone(), ConnectRedis),
        cookies(),
    );
    let moved_to = Arc::new(std::sync::Mutex::new(None));
    let mut legacy = Interleaved::new(backend.clone(), "sess:r");
    let (first_run, moved) = (first.clone(), Arc::clone(&moved_to));
    legacy.before = Some(Arc::new(move || {
        let (first, moved) = (first_run.clone(), Arc::clone(&moved));
        Box::pin(async move {
            let m = first
                .migrate_cookie(&cookie_for("r"))
                .await
                .unwrap()
                .unwrap();
            *moved.lock().unwrap() = Some(m.id().clone());
        })
    }));
    let second = Migrator::new(store, LegacySource::new(legacy, ConnectRedis), cookies());
    let followed = second
        .migrate_cookie(&cookie_for("r"))
        .await
        .unwrap()
        .expect("the session the other request moved");
    assert!(!followed.is_fresh());
    assert_eq!(Some(followed.id().clone()), *moved_to.lock().unwrap());
    assert_eq!(sessions(&backend).await, 1);
}

/// The legacy application logs the user out (destroys the record) or saves the session
/// while a request migrates it: the legacy application's newer state wins.
#[tokio::test]
async fn a_legacy_write_during_the_move_wins_over_it() {
    for destroy in [true, false] {
        let backend = MemoryBackend::new();
        let store = store_on(backend.clone(), Duration::from_secs(86_400));
        backend
            .set(
                "sess:w",
                &plain_record("before", None),
                None,
                SetMode::Upsert,
            )
            .await
            .unwrap();
        let mut legacy = Interleaved::new(backend.clone(), "sess:w");
        let express = backend.clone();
        legacy.after = Some(Arc::new(move || {
            let express = express.clone();
            Box::pin(async move {
                if destroy {
                    express.delete("sess:w").await.unwrap();
                } else {
                    let record = plain_record("after", None);
                    express
                        .set("sess:w", &record, None, SetMode::Upsert)
                        .await
                        .unwrap();
                }
            })
        }));
        let migrator = Migrator::new(store, LegacySource::new(legacy, ConnectRedis), cookies());
        let outcome = migrator.migrate_cookie(&cookie_for("w")).await.unwrap();
        if destroy {
            assert!(outcome.is_none(), "a logged-out session came back");
            assert_eq!(sessions(&backend).await, 0);
            assert!(keys(&backend, "app:legacy.").await.is_empty());
        } else {
            assert_eq!(outcome.unwrap().session().data["user"], "after");
            assert_eq!(sessions(&backend).await, 1);
        }
    }
}

/// express-session with `rolling: true` and `resave: false` leaves the stored
/// `cookie.expires` behind the browser's cookie: such a session moves only when the
/// migrator is told, and then lives `originalMaxAge` from now.
#[tokio::test]
async fn rolling_sessions_move_when_the_migrator_is_told() {
    let backend = MemoryBackend::new();
    let store = store_on(backend.clone(), Duration::from_secs(7 * 86_400));
    let stale = plain_record("alice", Some(now_secs() - 600));
    for sid in ["a", "b"] {
        backend
            .set(&format!("sess:{sid}"), &stale, None, SetMode::Upsert)
            .await
            .unwrap();
    }
    let strict = Migrator::new(
        store.clone(),
        LegacySource::new(backend.clone(), ConnectRedis),
        cookies(),
    );
    assert!(
        strict
            .migrate_cookie(&cookie_for("a"))
            .await
            .unwrap()
            .is_none()
    );
    let rolling = Migrator::new(
        store,
        LegacySource::new(backend.clone(), ConnectRedis),
        cookies(),
    )
    .rolling(true);
    let before = now_secs();
    let moved = rolling
        .migrate_cookie(&cookie_for("b"))
        .await
        .unwrap()
        .unwrap();
    let at = moved
        .session()
        .expires_at()
        .unwrap()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // originalMaxAge is an hour.
    assert!((before + 3_600..=now_secs() + 3_600).contains(&at), "{at}");
}

/// A browser-session legacy cookie: the move says so (to every follower too), and the
/// session still expires on the server, even in a store without a lifetime of its own.
#[tokio::test]
async fn a_browser_session_cookie_moves_as_one_and_still_expires() {
    let backend = MemoryBackend::new();
    let store: Store<Data, _> = StoreBuilder::with_codec(backend.clone(), Json)
        .keyring(keyring())
        .prefix("app:")
        .no_absolute_lifetime()
        .disable_ttl()
        .build()
        .unwrap();
    backend
        .set("sess:b", &plain_record("a", None), None, SetMode::Upsert)
        .await
        .unwrap();
    let migrator = Migrator::new(
        store,
        LegacySource::new(backend.clone(), ConnectRedis),
        cookies(),
    );
    let before = now_secs();
    let moved = migrator
        .migrate_cookie(&cookie_for("b"))
        .await
        .unwrap()
        .unwrap();
    assert!(moved.is_browser_session());
    let at = moved
        .session()
        .expires_at()
        .unwrap()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        (before + 7 * 86_400..=now_secs() + 7 * 86_400).contains(&at),
        "{at}"
    );
    let again = migrator
        .migrate_cookie(&cookie_for("b"))
        .await
        .unwrap()
        .unwrap();
    assert!(again.is_browser_session() && !again.is_fresh());
}

/// An entry that no longer opens (sealed under a key since retired, or damaged) is read as
/// no entry: the legacy record is migrated over it, and the import replaces it.
#[tokio::test]
async fn an_entry_that_no_longer_opens_does_not_block_the_move() {
    let backend = MemoryBackend::new();
    let store = store_on(backend.clone(), Duration::from_secs(86_400));
    backend
        .set(
            "sess:e",
            &plain_record("alice", None),
            None,
            SetMode::Upsert,
        )
        .await
        .unwrap();
    let migrator = Migrator::new(
        store,
        LegacySource::new(backend.clone(), ConnectRedis),
        cookies(),
    );
    let report = migrator
        .importer()
        .import_all(&ImportOptions::default(), |_| {})
        .await
        .unwrap();
    assert_eq!(report.converted, 1);
    let entry = keys(&backend, "app:legacy.").await.remove(0);
    backend
        .set(&entry, b"not an envelope", None, SetMode::Upsert)
        .await
        .unwrap();
    let again = migrator
        .importer()
        .import_all(&ImportOptions::default(), |_| {})
        .await
        .unwrap();
    assert_eq!(again.converted, 1, "the damaged entry is replaced");
    backend
        .set(&entry, b"not an envelope", None, SetMode::Upsert)
        .await
        .unwrap();
    let moved = migrator
        .migrate_cookie(&cookie_for("e"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(moved.session().data["user"], "alice");
}

/// A session too large for the store's envelopes is refused by the import, which goes on
/// with the others.
#[tokio::test]
async fn a_session_too_large_for_the_store_does_not_stop_the_import() {
    let backend = MemoryBackend::new();
    let store: Store<Data, _> = StoreBuilder::with_codec(backend.clone(), Json)
        .keyring(keyring())
        .prefix("app:")
        .max_envelope_len(1024)
        .build()
        .unwrap();
    backend
        .set(
            "sess:big",
            &plain_record(&"x".repeat(4096), None),
            None,
            SetMode::Upsert,
        )
        .await
        .unwrap();
    backend
        .set(
            "sess:small",
            &plain_record("a", None),
            None,
            SetMode::Upsert,
        )
        .await
        .unwrap();
    let source = LegacySource::new(backend.clone(), ConnectRedis);
    let report = sealed_session::migrate::Importer::new(&store, &source)
        .import_all(&ImportOptions::default(), |_| {})
        .await
        .unwrap();
    assert_eq!((report.converted, report.refused), (1, 1));
}
