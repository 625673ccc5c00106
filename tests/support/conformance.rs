//! Store behaviour every backend must show. Each function takes a constructor for a fresh,
//! empty backend whose notion of time may follow the given clock.

use std::sync::Arc;
use std::time::Duration;

use sealed_session::{
    Backend, Error, ManualClock, RejectKind, Session, SessionId, SetMode, StorageKeys,
};

use super::{T0, WebSession, configured, raw_get, store_on};

fn clock() -> ManualClock {
    ManualClock::at_secs(T0)
}

pub async fn save_then_load_returns_the_same_data<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let store = store_on(make(&clock).await, &clock);
    let id = SessionId::generate().unwrap();
    let mut session = Session::new(WebSession::sample(42));
    store.save(&id, &mut session).await.unwrap();
    let loaded = store.load(&id).await.unwrap().unwrap();
    assert_eq!(loaded.data, WebSession::sample(42));
    assert_eq!(loaded.expires_at(), session.expires_at());
    assert!(session.expires_at().is_some());
}

pub async fn load_of_an_unknown_id_is_none<B: Backend>(make: impl AsyncFn(&ManualClock) -> B) {
    let clock = clock();
    let store = store_on(make(&clock).await, &clock);
    assert!(
        store
            .load(&SessionId::generate().unwrap())
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn create_refuses_an_existing_id<B: Backend>(make: impl AsyncFn(&ManualClock) -> B) {
    let clock = clock();
    let store = store_on(make(&clock).await, &clock);
    let id = SessionId::generate().unwrap();
    store
        .create(&id, &mut Session::new(WebSession::sample(1)))
        .await
        .unwrap();
    let err = store
        .create(&id, &mut Session::new(WebSession::sample(2)))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::AlreadyExists));
    assert_eq!(store.load(&id).await.unwrap().unwrap().data.user_id, 1);
}

pub async fn save_replaces_and_keeps_the_absolute_expiry<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let store = store_on(make(&clock).await, &clock);
    let id = SessionId::generate().unwrap();
    let mut first = Session::new(WebSession::sample(1));
    store.create(&id, &mut first).await.unwrap();
    let created_expiry = first.expires_at().unwrap();

    clock.advance(Duration::from_secs(3600));
    let mut loaded = store.load(&id).await.unwrap().unwrap();
    loaded.data.user_id = 2;
    store.save(&id, &mut loaded).await.unwrap();
    store.touch(&id, &loaded).await.unwrap();
    let again = store.load(&id).await.unwrap().unwrap();
    assert_eq!(again.data.user_id, 2);
    assert_eq!(again.expires_at(), Some(created_expiry));
}

pub async fn destroy_removes_and_reports_existence<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let store = store_on(make(&clock).await, &clock);
    let id = SessionId::generate().unwrap();
    store
        .save(&id, &mut Session::new(WebSession::sample(1)))
        .await
        .unwrap();
    assert!(store.destroy(&id).await.unwrap());
    assert!(!store.destroy(&id).await.unwrap());
    assert!(store.load(&id).await.unwrap().is_none());
}

pub async fn cycle_id_moves_data_and_removes_the_old_entry<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let store = store_on(make(&clock).await, &clock);
    let old = SessionId::generate().unwrap();
    store
        .save(&old, &mut Session::new(WebSession::sample(7)))
        .await
        .unwrap();
    let mut session = store.load(&old).await.unwrap().unwrap();
    let expiry = session.expires_at();
    let new = store.cycle_id(&old, &mut session).await.unwrap();
    assert_ne!(new, old);
    assert!(store.load(&old).await.unwrap().is_none());
    let moved = store.load(&new).await.unwrap().unwrap();
    assert_eq!(moved.data.user_id, 7);
    assert_eq!(
        moved.expires_at(),
        expiry,
        "cycling keeps the absolute expiry"
    );

    // A fresh Session starts a new lifetime under the next id.
    clock.advance(Duration::from_secs(60));
    let mut fresh = Session::new(moved.into_data());
    let newer = store.cycle_id(&new, &mut fresh).await.unwrap();
    let reloaded = store.load(&newer).await.unwrap().unwrap();
    assert!(reloaded.expires_at() > expiry);
}

pub async fn storage_key_is_prefix_and_hashed_id<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let store = store_on(make(&clock).await, &clock);
    let id = SessionId::parse("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").unwrap();
    // SHA-256 of the 43 ASCII 'A's.
    let key = store.storage_key(&id);
    assert!(key.starts_with("sess:"));
    assert_eq!(key.len(), 5 + 64);
    assert!(!key.contains(id.as_str()));
    assert!(
        key[5..]
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
    );
    store
        .save(&id, &mut Session::new(WebSession::sample(1)))
        .await
        .unwrap();
    assert!(raw_get(store.backend(), &key).await.is_some());
    let ids = store.ids().await.unwrap();
    assert_eq!(ids.len(), 1);
    assert_eq!(ids[0].as_str(), &key[5..]);
    assert_eq!(format!("{:?}", ids[0]), format!("StorageId({})", &key[5..]));
}

pub async fn plain_mode_stores_the_id_after_the_prefix<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let store = configured(make(&clock).await, &clock, |b| {
        b.storage_keys(StorageKeys::PlainIds).prefix("app:")
    });
    let id = SessionId::generate().unwrap();
    store
        .save(&id, &mut Session::new(WebSession::sample(3)))
        .await
        .unwrap();
    let key = format!("app:{}", id.as_str());
    assert_eq!(store.storage_key(&id), key);
    assert!(raw_get(store.backend(), &key).await.is_some());
    let ids = store.ids().await.unwrap();
    assert_eq!(ids[0].as_str(), id.as_str());
    assert_eq!(format!("{:?}", ids[0]), "StorageId([redacted])");
    assert_eq!(
        store
            .load_stored(&ids[0])
            .await
            .unwrap()
            .unwrap()
            .data
            .user_id,
        3
    );
}

pub async fn ids_len_all_clear_cover_only_the_prefix<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let backend = make(&clock).await;
    // Something else shares the backend under another prefix.
    backend
        .set("other:keep-me", b"not a session", None, SetMode::Upsert)
        .await
        .unwrap();
    let store = configured(backend, &clock, |b| b.scan_count(7));
    let mut ids = Vec::new();
    for n in 0..25 {
        let id = SessionId::generate().unwrap();
        store
            .save(&id, &mut Session::new(WebSession::sample(n)))
            .await
            .unwrap();
        ids.push(store.storage_id(&id));
    }
    ids.sort();
    assert_eq!(store.ids().await.unwrap(), ids);
    assert_eq!(store.len().await.unwrap(), 25);
    let all = store.all().await.unwrap();
    assert_eq!(all.len(), 25);
    let mut users: Vec<u64> = all
        .iter()
        .map(|(_, s)| s.as_ref().unwrap().data.user_id)
        .collect();
    users.sort_unstable();
    assert_eq!(users, (0..25).collect::<Vec<_>>());

    assert!(store.destroy_stored(&ids[0]).await.unwrap());
    assert_eq!(store.len().await.unwrap(), 24);
    assert_eq!(store.clear().await.unwrap(), 24);
    assert!(store.is_empty().await.unwrap());
    assert!(raw_get(store.backend(), "other:keep-me").await.is_some());
}

pub async fn all_reports_refused_entries_without_hiding_others<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let store = store_on(make(&clock).await, &clock);
    let good = SessionId::generate().unwrap();
    let bad = SessionId::generate().unwrap();
    store
        .save(&good, &mut Session::new(WebSession::sample(1)))
        .await
        .unwrap();
    store
        .backend()
        .set(&store.storage_key(&bad), b"garbage", None, SetMode::Upsert)
        .await
        .unwrap();
    let all = store.all().await.unwrap();
    assert_eq!(all.len(), 2);
    let refused: Vec<RejectKind> = all
        .iter()
        .filter_map(|(_, r)| r.as_ref().err().map(|e| e.kind()))
        .collect();
    assert_eq!(refused, vec![RejectKind::Length]);
}

pub async fn value_swapped_between_sessions_is_refused_for_both<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let store = store_on(make(&clock).await, &clock);
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
    let va = raw_get(store.backend(), &ka).await.unwrap();
    let vm = raw_get(store.backend(), &km).await.unwrap();
    store
        .backend()
        .set(&ka, &vm, None, SetMode::Upsert)
        .await
        .unwrap();
    store
        .backend()
        .set(&km, &va, None, SetMode::Upsert)
        .await
        .unwrap();
    for id in [&alice, &mallory] {
        let err = store.load(id).await.unwrap_err();
        assert_eq!(err.rejection_kind(), Some(RejectKind::Authentication));
    }
}

pub async fn value_copied_to_another_prefix_is_refused<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let backend = Arc::new(make(&clock).await);
    let store = store_on(Arc::clone(&backend), &clock);
    let id = SessionId::generate().unwrap();
    store
        .save(&id, &mut Session::new(WebSession::sample(1)))
        .await
        .unwrap();
    let value = raw_get(store.backend(), &store.storage_key(&id))
        .await
        .unwrap();
    let other = configured(backend, &clock, |b| b.prefix("admin-sess:"));
    other
        .backend()
        .set(&other.storage_key(&id), &value, None, SetMode::Upsert)
        .await
        .unwrap();
    let err = other.load(&id).await.unwrap_err();
    assert_eq!(err.rejection_kind(), Some(RejectKind::Authentication));
}

pub async fn tampered_value_is_refused_not_returned<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let store = store_on(make(&clock).await, &clock);
    let id = SessionId::generate().unwrap();
    store
        .save(&id, &mut Session::new(WebSession::sample(1)))
        .await
        .unwrap();
    let key = store.storage_key(&id);
    let mut value = raw_get(store.backend(), &key).await.unwrap();
    let mid = value.len() / 2;
    value[mid] ^= 0x01;
    store
        .backend()
        .set(&key, &value, None, SetMode::Upsert)
        .await
        .unwrap();
    let err = store.load(&id).await.unwrap_err();
    assert!(err.is_rejected());
    assert!(!err.is_retryable());
}

pub async fn oversized_session_is_refused_on_save<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let store = configured(make(&clock).await, &clock, |b| b.max_envelope_len(1024));
    let id = SessionId::generate().unwrap();
    let mut big = WebSession::sample(1);
    big.flash = vec!["x".repeat(2000)];
    let err = store.save(&id, &mut Session::new(big)).await.unwrap_err();
    assert!(matches!(err, Error::TooLarge { max: 1024, .. }), "{err:?}");
    assert!(
        store.load(&id).await.unwrap().is_none(),
        "nothing was written"
    );
}

pub async fn oversized_value_is_refused_on_load<B: Backend>(make: impl AsyncFn(&ManualClock) -> B) {
    let clock = clock();
    let store = configured(make(&clock).await, &clock, |b| b.max_envelope_len(1024));
    let id = SessionId::generate().unwrap();
    let huge = vec![0x01u8; 10 * 1024 * 1024];
    store
        .backend()
        .set(&store.storage_key(&id), &huge, None, SetMode::Upsert)
        .await
        .unwrap();
    let err = store.load(&id).await.unwrap_err();
    assert_eq!(err.rejection_kind(), Some(RejectKind::Length));
}

pub async fn load_after_expiry_is_refused_even_if_the_entry_remains<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let store = configured(make(&clock).await, &clock, |b| {
        b.absolute_lifetime(Duration::from_secs(600))
    });
    let id = SessionId::generate().unwrap();
    store
        .save(&id, &mut Session::new(WebSession::sample(1)))
        .await
        .unwrap();
    let key = store.storage_key(&id);
    let value = raw_get(store.backend(), &key).await.unwrap();
    clock.advance(Duration::from_secs(601));
    // Someone with write access restores the value without a TTL: the envelope's own
    // authenticated expiry still refuses it.
    store
        .backend()
        .set(&key, &value, None, SetMode::Upsert)
        .await
        .unwrap();
    let err = store.load(&id).await.unwrap_err();
    assert_eq!(err.rejection_kind(), Some(RejectKind::Expired));
}

pub async fn save_after_the_absolute_lifetime_is_refused<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let store = configured(make(&clock).await, &clock, |b| {
        b.absolute_lifetime(Duration::from_secs(600))
    });
    let id = SessionId::generate().unwrap();
    let mut session = Session::new(WebSession::sample(1));
    store.save(&id, &mut session).await.unwrap();
    clock.advance(Duration::from_secs(600));
    assert!(matches!(
        store.save(&id, &mut session).await.unwrap_err(),
        Error::SessionExpired
    ));
    assert!(matches!(
        store.touch(&id, &session).await.unwrap_err(),
        Error::SessionExpired
    ));
}

pub async fn stored_bytes_are_an_envelope_without_plaintext<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let store = store_on(make(&clock).await, &clock);
    let id = SessionId::generate().unwrap();
    let data = WebSession::sample(1);
    store
        .save(&id, &mut Session::new(data.clone()))
        .await
        .unwrap();
    let value = raw_get(store.backend(), &store.storage_key(&id))
        .await
        .unwrap();
    assert_eq!(
        &value[..3],
        &[0x01, 0x01, 0x01],
        "version 1, AES-256-GCM, bincode"
    );
    assert_eq!(&value[3..7], &1u32.to_be_bytes());
    for needle in [data.csrf.as_bytes(), b"BOOK-RUST-2024", b"Welcome back"] {
        assert!(!value.windows(needle.len()).any(|w| w == needle));
    }
    assert!(
        !value
            .windows(id.as_str().len())
            .any(|w| w == id.as_str().as_bytes())
    );
}

pub async fn save_after_destroy_does_not_bring_the_session_back<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let store = store_on(make(&clock).await, &clock);
    let id = SessionId::generate().unwrap();
    store
        .create(&id, &mut Session::new(WebSession::sample(1)))
        .await
        .unwrap();
    // Request A loads; request B logs out; request A then saves.
    let mut in_flight = store.load(&id).await.unwrap().unwrap();
    assert!(store.destroy(&id).await.unwrap());
    let err = store.save(&id, &mut in_flight).await.unwrap_err();
    assert!(matches!(err, Error::SessionGone), "{err:?}");
    assert!(store.load(&id).await.unwrap().is_none());
}

pub async fn saving_a_new_session_over_an_existing_id_is_refused<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let store = store_on(make(&clock).await, &clock);
    let id = SessionId::generate().unwrap();
    let mut first = Session::new(WebSession::sample(1));
    store.save(&id, &mut first).await.unwrap();
    clock.advance(Duration::from_secs(3600));
    // A fresh Session would restart the absolute lifetime: refused, the entry untouched.
    let err = store
        .save(&id, &mut Session::new(WebSession::sample(2)))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::AlreadyExists), "{err:?}");
    let kept = store.load(&id).await.unwrap().unwrap();
    assert_eq!(kept.data.user_id, 1);
    assert_eq!(kept.expires_at(), first.expires_at());
}

pub async fn touch_after_destroy_reports_the_session_gone<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let store = store_on(make(&clock).await, &clock);
    let id = SessionId::generate().unwrap();
    let mut session = Session::new(WebSession::sample(1));
    store.save(&id, &mut session).await.unwrap();
    store.touch(&id, &session).await.unwrap();
    store.destroy(&id).await.unwrap();
    let err = store.touch(&id, &session).await.unwrap_err();
    assert!(matches!(err, Error::SessionGone), "{err:?}");
    assert!(store.load(&id).await.unwrap().is_none());
}

pub async fn cycle_id_of_a_destroyed_session_fails_and_leaves_nothing<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let store = store_on(make(&clock).await, &clock);
    let id = SessionId::generate().unwrap();
    store
        .save(&id, &mut Session::new(WebSession::sample(1)))
        .await
        .unwrap();
    let mut session = store.load(&id).await.unwrap().unwrap();
    let expiry = session.expires_at();
    store.destroy(&id).await.unwrap();
    let err = store.cycle_id(&id, &mut session).await.unwrap_err();
    assert!(matches!(err, Error::SessionGone), "{err:?}");
    assert_eq!(
        store.len().await.unwrap(),
        0,
        "the new entry was removed again"
    );
    assert_eq!(session.expires_at(), expiry);
}

pub async fn shortening_the_lifetime_applies_to_live_sessions<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let backend = Arc::new(make(&clock).await);
    let week = configured(Arc::clone(&backend), &clock, |b| {
        b.absolute_lifetime(Duration::from_secs(7 * 86_400))
    });
    let id = SessionId::generate().unwrap();
    week.save(&id, &mut Session::new(WebSession::sample(1)))
        .await
        .unwrap();

    // After an incident the operator cuts the lifetime to one hour.
    let hour = configured(backend, &clock, |b| {
        b.absolute_lifetime(Duration::from_secs(3600))
    });
    clock.advance(Duration::from_secs(60));
    let mut loaded = hour.load(&id).await.unwrap().unwrap();
    hour.save(&id, &mut loaded).await.unwrap();
    let expected = std::time::UNIX_EPOCH + Duration::from_secs(T0 + 60 + 3600);
    assert_eq!(
        hour.load(&id).await.unwrap().unwrap().expires_at(),
        Some(expected)
    );
    clock.advance(Duration::from_secs(3600));
    // Gone from the backend (its TTL was capped too) or refused by the envelope's expiry.
    match hour.load(&id).await {
        Ok(None) => {}
        Err(e) if e.rejection_kind() == Some(RejectKind::Expired) => {}
        other => panic!("the session outlived the shortened lifetime: {other:?}"),
    }
}

pub async fn enabling_a_lifetime_applies_to_sessions_without_one<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let backend = Arc::new(make(&clock).await);
    let unlimited = configured(Arc::clone(&backend), &clock, |b| b.no_absolute_lifetime());
    let id = SessionId::generate().unwrap();
    let mut session = Session::new(WebSession::sample(1));
    unlimited.save(&id, &mut session).await.unwrap();
    assert_eq!(session.expires_at(), None);

    let limited = store_on(backend, &clock);
    let mut loaded = limited.load(&id).await.unwrap().unwrap();
    limited.save(&id, &mut loaded).await.unwrap();
    assert!(loaded.expires_at().is_some());
    assert!(
        limited
            .load(&id)
            .await
            .unwrap()
            .unwrap()
            .expires_at()
            .is_some()
    );
}

pub async fn listing_ignores_keys_of_a_longer_prefix<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let backend = Arc::new(make(&clock).await);
    let users = store_on(Arc::clone(&backend), &clock);
    let admins = configured(backend, &clock, |b| b.prefix("sess:admin:"));
    let user = SessionId::generate().unwrap();
    let admin = SessionId::generate().unwrap();
    users
        .save(&user, &mut Session::new(WebSession::sample(1)))
        .await
        .unwrap();
    admins
        .save(&admin, &mut Session::new(WebSession::sample(2)))
        .await
        .unwrap();
    assert_eq!(users.ids().await.unwrap(), vec![users.storage_id(&user)]);
    assert_eq!(users.clear().await.unwrap(), 1);
    assert!(admins.load(&admin).await.unwrap().is_some());
}
