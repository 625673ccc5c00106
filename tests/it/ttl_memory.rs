//! TTL rules of the store, observed through the in-memory backend and an injected clock.

use std::time::Duration;

use sealed_session::{
    Backend, ManualClock, MemoryBackend, ScanCursor, Session, SessionId, SetMode, Store,
};

use crate::support::{T0, WebSession, keyring, raw_get};

fn setup(
    configure: impl FnOnce(
        sealed_session::StoreBuilder<WebSession, MemoryBackend, sealed_session::WithKeyring>,
    ) -> sealed_session::StoreBuilder<
        WebSession,
        MemoryBackend,
        sealed_session::WithKeyring,
    >,
) -> (Store<WebSession, MemoryBackend>, ManualClock) {
    let clock = ManualClock::at_secs(T0);
    let builder = Store::builder(MemoryBackend::with_clock(clock.clone()))
        .keyring(keyring(1))
        .clock(clock.clone());
    (configure(builder).build().unwrap(), clock)
}

fn ttl(store: &Store<WebSession, MemoryBackend>, id: &SessionId) -> Option<u64> {
    store
        .backend()
        .ttl(&store.storage_key(id))
        .map(|d| d.as_secs())
}

const HOUR: Duration = Duration::from_secs(3600);

#[tokio::test]
async fn default_idle_ttl_is_one_day() {
    let (store, _) = setup(|b| b);
    let id = SessionId::generate().unwrap();
    store
        .save(&id, &mut Session::new(WebSession::sample(1)))
        .await
        .unwrap();
    assert_eq!(ttl(&store, &id), Some(86_400));
}

#[tokio::test]
async fn default_absolute_lifetime_is_seven_days() {
    let (store, _) = setup(|b| b);
    let id = SessionId::generate().unwrap();
    let mut session = Session::new(WebSession::sample(1));
    store.save(&id, &mut session).await.unwrap();
    let expected = std::time::UNIX_EPOCH + Duration::from_secs(T0 + 7 * 86_400);
    assert_eq!(session.expires_at(), Some(expected));
}

#[tokio::test]
async fn touch_moves_the_ttl_forward() {
    let (store, clock) = setup(|b| b.idle_ttl(Duration::from_secs(600)));
    let id = SessionId::generate().unwrap();
    let mut session = Session::new(WebSession::sample(1));
    store.save(&id, &mut session).await.unwrap();
    clock.advance(Duration::from_secs(400));
    assert_eq!(ttl(&store, &id), Some(200));
    store.touch(&id, &session).await.unwrap();
    assert_eq!(ttl(&store, &id), Some(600));
}

#[tokio::test]
async fn stored_ttl_never_exceeds_the_remaining_absolute_lifetime() {
    let (store, clock) = setup(|b| {
        b.idle_ttl(Duration::from_secs(86_400))
            .absolute_lifetime(HOUR)
    });
    let id = SessionId::generate().unwrap();
    let mut session = Session::new(WebSession::sample(1));
    store.save(&id, &mut session).await.unwrap();
    assert_eq!(ttl(&store, &id), Some(3600));
    clock.advance(Duration::from_secs(3000));
    store.touch(&id, &session).await.unwrap();
    assert_eq!(ttl(&store, &id), Some(600));
    let mut loaded = store.load(&id).await.unwrap().unwrap();
    store.save(&id, &mut loaded).await.unwrap();
    assert_eq!(ttl(&store, &id), Some(600));
}

#[tokio::test]
async fn disable_touch_makes_touch_a_no_op() {
    let (store, clock) = setup(|b| b.idle_ttl(Duration::from_secs(600)).disable_touch());
    let id = SessionId::generate().unwrap();
    let mut session = Session::new(WebSession::sample(1));
    store.save(&id, &mut session).await.unwrap();
    clock.advance(Duration::from_secs(400));
    store.touch(&id, &session).await.unwrap();
    assert_eq!(ttl(&store, &id), Some(200));
}

#[tokio::test]
async fn disable_ttl_leaves_only_the_absolute_lifetime() {
    let (store, _) = setup(|b| b.disable_ttl().absolute_lifetime(HOUR));
    let id = SessionId::generate().unwrap();
    store
        .save(&id, &mut Session::new(WebSession::sample(1)))
        .await
        .unwrap();
    assert_eq!(ttl(&store, &id), Some(3600));

    let (forever, _) = setup(|b| b.disable_ttl().no_absolute_lifetime());
    let mut session = Session::new(WebSession::sample(1));
    forever.save(&id, &mut session).await.unwrap();
    assert_eq!(ttl(&forever, &id), None);
    assert!(
        raw_get(forever.backend(), &forever.storage_key(&id))
            .await
            .is_some()
    );
    assert_eq!(session.expires_at(), None, "expiry 0 means none");
    let value = raw_get(forever.backend(), &forever.storage_key(&id))
        .await
        .unwrap();
    assert_eq!(&value[7..15], &[0u8; 8]);
}

#[tokio::test]
async fn ttl_can_be_computed_from_the_session() {
    let (store, _) = setup(|b| {
        b.idle_ttl_from(|s: &WebSession| {
            Duration::from_secs(if s.user_id == 0 { 60 } else { 7200 })
        })
    });
    let anon = SessionId::generate().unwrap();
    let user = SessionId::generate().unwrap();
    store
        .save(&anon, &mut Session::new(WebSession::sample(0)))
        .await
        .unwrap();
    store
        .save(&user, &mut Session::new(WebSession::sample(5)))
        .await
        .unwrap();
    assert_eq!(ttl(&store, &anon), Some(60));
    assert_eq!(ttl(&store, &user), Some(7200));
}

#[tokio::test]
async fn the_memory_backend_expires_entries() {
    let (store, clock) = setup(|b| b.idle_ttl(Duration::from_secs(600)));
    let id = SessionId::generate().unwrap();
    store
        .save(&id, &mut Session::new(WebSession::sample(1)))
        .await
        .unwrap();
    clock.advance(Duration::from_secs(599));
    assert!(store.load(&id).await.unwrap().is_some());
    clock.advance(Duration::from_secs(1));
    assert!(store.load(&id).await.unwrap().is_none());
    assert_eq!(store.len().await.unwrap(), 0);
    assert_eq!(store.backend().stored_entries(), 1, "reclaimed lazily");
    store.backend().purge_expired();
    assert_eq!(store.backend().stored_entries(), 0);
    assert!(!store.destroy(&id).await.unwrap());
}

#[tokio::test]
async fn the_memory_backend_reclaims_expired_entries_as_writes_go_on() {
    let clock = ManualClock::at_secs(T0);
    let backend = MemoryBackend::with_clock(clock.clone());
    for n in 0..100 {
        let key = format!("old:{n}");
        backend
            .set(&key, b"v", Some(Duration::from_secs(1)), SetMode::Upsert)
            .await
            .unwrap();
    }
    clock.advance(Duration::from_secs(2));
    for n in 0..200 {
        let key = format!("new:{n}");
        backend
            .set(&key, b"v", None, SetMode::Upsert)
            .await
            .unwrap();
    }
    assert_eq!(backend.stored_entries(), 200);
}

#[tokio::test]
async fn create_only_succeeds_over_an_expired_entry() {
    let clock = ManualClock::at_secs(T0);
    let backend = MemoryBackend::with_clock(clock.clone());
    let ttl = Some(Duration::from_secs(5));
    assert!(
        backend
            .set("k", b"1", ttl, SetMode::CreateOnly)
            .await
            .unwrap()
    );
    assert!(
        !backend
            .set("k", b"2", ttl, SetMode::CreateOnly)
            .await
            .unwrap()
    );
    clock.advance(Duration::from_secs(5));
    assert!(
        backend
            .set("k", b"3", ttl, SetMode::CreateOnly)
            .await
            .unwrap()
    );
    assert_eq!(raw_get(&backend, "k").await.unwrap(), b"3");
    assert!(
        !backend
            .expire("missing", Duration::from_secs(1))
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn memory_scan_pages_through_a_prefix_only() {
    let backend = MemoryBackend::new();
    for n in 0..10 {
        backend
            .set(&format!("a:{n}"), b"v", None, SetMode::Upsert)
            .await
            .unwrap();
        backend
            .set(&format!("b:{n}"), b"v", None, SetMode::Upsert)
            .await
            .unwrap();
    }
    let mut cursor = ScanCursor::start();
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = backend.scan("a:", cursor, 3).await.unwrap();
        assert!(page.keys.len() <= 3);
        seen.extend(page.keys);
        pages += 1;
        match page.next {
            Some(next) => cursor = next,
            None => break,
        }
    }
    assert_eq!(pages, 4);
    assert_eq!(seen, (0..10).map(|n| format!("a:{n}")).collect::<Vec<_>>());
}

#[tokio::test]
async fn the_memory_backend_does_not_copy_out_oversized_values() {
    use sealed_session::Fetched;
    let backend = MemoryBackend::new();
    backend
        .set("k", &[1u8; 1000], None, SetMode::Upsert)
        .await
        .unwrap();
    assert_eq!(
        backend.get("k", 999).await.unwrap(),
        Fetched::TooLarge { len: 1000 }
    );
    assert_eq!(
        backend.get("k", 1000).await.unwrap(),
        Fetched::Value(vec![1u8; 1000])
    );
    assert_eq!(backend.get("other", 10).await.unwrap(), Fetched::Missing);
}

#[tokio::test]
async fn the_memory_backend_refuses_a_zero_ttl() {
    let backend = MemoryBackend::new();
    assert!(
        backend
            .set("k", b"v", Some(Duration::ZERO), SetMode::Upsert)
            .await
            .is_err()
    );
    backend.set("k", b"v", None, SetMode::Upsert).await.unwrap();
    assert!(backend.expire("k", Duration::ZERO).await.is_err());
}

#[tokio::test]
async fn update_only_writes_only_over_a_live_entry() {
    let clock = ManualClock::at_secs(T0);
    let backend = MemoryBackend::with_clock(clock.clone());
    let ttl = Some(Duration::from_secs(5));
    assert!(
        !backend
            .set("k", b"1", ttl, SetMode::UpdateOnly)
            .await
            .unwrap()
    );
    assert!(
        backend
            .set("k", b"1", ttl, SetMode::CreateOnly)
            .await
            .unwrap()
    );
    assert!(
        backend
            .set("k", b"2", ttl, SetMode::UpdateOnly)
            .await
            .unwrap()
    );
    clock.advance(Duration::from_secs(5));
    assert!(
        !backend
            .set("k", b"3", ttl, SetMode::UpdateOnly)
            .await
            .unwrap()
    );
}
