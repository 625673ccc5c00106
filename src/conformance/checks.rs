//! The checks of the conformance suite, one function per rule, each run by one test that
//! [`store_conformance!`](crate::store_conformance) defines. Each takes a constructor for a
//! fresh, empty backend whose notion of time may follow the given clock. Written against the
//! public API only (`sealed_session::…` paths), as a user's own test would be.

use std::sync::Arc;
use std::time::Duration;

use sealed_session::envelope::Header;
use sealed_session::{
    Backend, Clock, CodecId, Error, Keyring, KeyringHandle, KeyringSealer, ManualClock, RejectKind,
    ResealStats, RewrapOptions, SealContext, Sealer, Session, SessionId, SetMode, StorageKeys,
    Store, StoreBuilder, Suite, Swap, WithKeyring,
};

use super::decorators::{CountingScans, Interfering};

mod concurrency;
mod owners;
pub use self::concurrency::*;
pub use self::owners::*;
use super::fixtures::{T0, WebSession, configured, keyring, material, raw_get, store_on};

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

// ---- Key rotation ----

/// A store on key 1 whose keyring the test can replace, and the handle to do it.
fn rotating_store<B: Backend>(
    backend: B,
    clock: &ManualClock,
    configure: impl FnOnce(
        StoreBuilder<WebSession, B, WithKeyring>,
    ) -> StoreBuilder<WebSession, B, WithKeyring>,
) -> (Store<WebSession, B>, KeyringHandle) {
    let handle = KeyringHandle::new(keyring(1));
    let store = configure(Store::builder(backend).keyring_handle(handle.clone()))
        .clock(clock.clone())
        .build()
        .unwrap();
    (store, handle)
}

/// Key 2 primary, key 1 still opening.
fn promoted() -> Keyring {
    Keyring::builder()
        .primary(2, Suite::Aes256Gcm, material(2))
        .decrypt_only(1, Suite::Aes256Gcm, material(1))
        .build()
        .unwrap()
}

fn key_id_of(value: &[u8]) -> u32 {
    Header::parse(value).unwrap().key_id
}

pub async fn compare_and_swap_replaces_only_the_expected_value<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let backend = make(&clock).await;
    let ttl = Some(Duration::from_secs(600));
    assert!(
        backend
            .set("cas:a", b"one", ttl, SetMode::Upsert)
            .await
            .unwrap()
    );
    assert!(
        !backend
            .compare_and_swap("cas:a", b"other", b"two")
            .await
            .unwrap()
    );
    assert_eq!(raw_get(&backend, "cas:a").await.unwrap(), b"one");
    assert!(
        backend
            .compare_and_swap("cas:a", b"one", b"two")
            .await
            .unwrap()
    );
    assert_eq!(raw_get(&backend, "cas:a").await.unwrap(), b"two");
    assert!(
        !backend
            .compare_and_swap("cas:missing", b"", b"x")
            .await
            .unwrap()
    );
    assert_eq!(raw_get(&backend, "cas:missing").await, None);
    // The swap kept the entry's expiry: with a one-second TTL it is gone soon after.
    backend
        .set(
            "cas:b",
            b"one",
            Some(Duration::from_secs(1)),
            SetMode::Upsert,
        )
        .await
        .unwrap();
    assert!(
        backend
            .compare_and_swap("cas:b", b"one", b"two")
            .await
            .unwrap()
    );
    clock.advance(Duration::from_secs(2));
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while raw_get(&backend, "cas:b").await.is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "the swap dropped the TTL"
        );
        // Real time passes on a server; the pause yields, so a backend that expires entries
        // from a task of its own gets to run.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn compare_and_swap_many_reports_each_entry<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let backend = make(&clock).await;
    for key in ["cas:{a}1", "cas:{b}2", "cas:{c}3"] {
        backend
            .set(key, b"old", None, SetMode::Upsert)
            .await
            .unwrap();
    }
    backend
        .set("cas:{b}2", b"changed", None, SetMode::Upsert)
        .await
        .unwrap();
    let swaps = [
        Swap {
            key: "cas:{a}1",
            expected: b"old",
            new: b"new",
        },
        Swap {
            key: "cas:{b}2",
            expected: b"old",
            new: b"new",
        },
        Swap {
            key: "cas:{c}3",
            expected: b"old",
            new: b"new",
        },
        Swap {
            key: "cas:{d}4",
            expected: b"old",
            new: b"new",
        },
    ];
    let done = backend.compare_and_swap_many(&swaps).await.unwrap();
    assert_eq!(done, vec![true, false, true, false]);
    assert_eq!(raw_get(&backend, "cas:{b}2").await.unwrap(), b"changed");
    assert_eq!(raw_get(&backend, "cas:{c}3").await.unwrap(), b"new");
    assert_eq!(raw_get(&backend, "cas:{d}4").await, None);
    assert!(backend.compare_and_swap_many(&[]).await.unwrap().is_empty());
}

pub async fn load_reseals_a_session_under_a_decrypt_only_key<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let (store, handle) = rotating_store(make(&clock).await, &clock, |b| b);
    let id = SessionId::generate().unwrap();
    let mut session = Session::new(WebSession::sample(7));
    store.save(&id, &mut session).await.unwrap();
    let key = store.storage_key(&id);
    let before = raw_get(store.backend(), &key).await.unwrap();
    assert_eq!(key_id_of(&before), 1);

    handle.replace(promoted());
    let loaded = store.load(&id).await.unwrap().unwrap();
    assert_eq!(loaded.data, WebSession::sample(7));
    let after = raw_get(store.backend(), &key).await.unwrap();
    assert_eq!(key_id_of(&after), 2, "re-sealed under the primary");
    assert_eq!(
        Header::parse(&after).unwrap().expires_at,
        Header::parse(&before).unwrap().expires_at,
        "absolute expiry kept"
    );
    // Opens under the new key alone.
    handle.replace(keyring_of(2));
    assert_eq!(
        store.load(&id).await.unwrap().unwrap().data,
        WebSession::sample(7)
    );
}

fn keyring_of(id: u8) -> Keyring {
    Keyring::single(u32::from(id), Suite::Aes256Gcm, material(id)).unwrap()
}

pub async fn lazy_reseal_can_be_turned_off<B: Backend>(make: impl AsyncFn(&ManualClock) -> B) {
    let clock = clock();
    let (store, handle) = rotating_store(make(&clock).await, &clock, |b| b.lazy_reseal(false));
    let id = SessionId::generate().unwrap();
    store
        .save(&id, &mut Session::new(WebSession::sample(7)))
        .await
        .unwrap();
    handle.replace(promoted());
    assert!(store.load(&id).await.unwrap().is_some());
    let value = raw_get(store.backend(), &store.storage_key(&id))
        .await
        .unwrap();
    assert_eq!(key_id_of(&value), 1);
}

pub async fn rewrap_reseals_what_is_not_under_the_primary_once<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let (store, handle) = rotating_store(make(&clock).await, &clock, |b| b.scan_count(7));
    let mut ids = Vec::new();
    for n in 0..20 {
        let id = SessionId::generate().unwrap();
        store
            .save(&id, &mut Session::new(WebSession::sample(n)))
            .await
            .unwrap();
        ids.push(id);
    }
    handle.replace(promoted());
    for n in 20..25 {
        let id = SessionId::generate().unwrap();
        store
            .save(&id, &mut Session::new(WebSession::sample(n)))
            .await
            .unwrap();
        ids.push(id);
    }
    // Something under the prefix that is not an envelope, and an envelope of a key this
    // keyring does not know (key 9, sealed by another keyring under the same storage key).
    let junk = format!("sess:{}", "0".repeat(64));
    store
        .backend()
        .set(&junk, b"not an envelope", None, SetMode::Upsert)
        .await
        .unwrap();
    let foreign_key = format!("sess:{}", "1".repeat(64));
    let foreign = KeyringSealer::new(keyring_of(9))
        .seal(
            &SealContext::new(foreign_key.as_bytes(), CodecId::BINCODE, 0),
            b"x",
        )
        .unwrap();
    store
        .backend()
        .set(&foreign_key, &foreign, None, SetMode::Upsert)
        .await
        .unwrap();
    let census = store.census().await.unwrap();
    assert_eq!(
        (
            census.count(1),
            census.count(2),
            census.count(9),
            census.not_envelopes
        ),
        (20, 5, 1, 1)
    );

    let dry = store
        .rewrap(&RewrapOptions::default().dry_run(true), |_| {})
        .await
        .unwrap();
    assert_eq!((dry.resealed, dry.skipped), (20, 6));
    assert_eq!(
        store.census().await.unwrap().count(1),
        20,
        "a dry run writes nothing"
    );

    let mut pages = 0;
    let report = store
        .rewrap(&RewrapOptions::default().batch(7), |_| pages += 1)
        .await
        .unwrap();
    assert_eq!(
        (report.resealed, report.skipped, report.changed_meanwhile),
        (20, 6, 0)
    );
    assert_eq!((report.found.not_envelopes, report.found.count(9)), (1, 1));
    assert!(report.refused.is_empty(), "{:?}", report.refused);
    assert!(pages >= 2, "27 keys in pages of about 7: {pages} pages");
    let census = store.census().await.unwrap();
    assert_eq!((census.count(1), census.count(2)), (0, 25));
    assert_eq!(
        raw_get(store.backend(), &foreign_key).await.unwrap(),
        foreign,
        "left alone"
    );

    let again = store
        .rewrap(&RewrapOptions::default(), |_| {})
        .await
        .unwrap();
    assert_eq!((again.resealed, again.skipped), (0, 26), "idempotent");

    handle.replace(keyring_of(2));
    for (n, id) in ids.iter().enumerate() {
        let loaded = store.load(id).await.unwrap().unwrap();
        assert_eq!(loaded.data.user_id, n as u64);
    }
}

pub async fn rewrap_never_reseals_from_a_retired_key<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let (store, handle) = rotating_store(make(&clock).await, &clock, |b| b);
    let id = SessionId::generate().unwrap();
    store
        .save(&id, &mut Session::new(WebSession::sample(1)))
        .await
        .unwrap();
    let key = store.storage_key(&id);
    let old = raw_get(store.backend(), &key).await.unwrap();
    handle.replace(
        Keyring::builder()
            .primary(2, Suite::Aes256Gcm, material(2))
            .retired(1)
            .build()
            .unwrap(),
    );
    let report = store
        .rewrap(&RewrapOptions::default(), |_| {})
        .await
        .unwrap();
    assert_eq!((report.resealed, report.skipped), (0, 1));
    assert_eq!(report.found.count(1), 1);
    assert_eq!(
        raw_get(store.backend(), &key).await.unwrap(),
        old,
        "left alone"
    );
    let err = store.load(&id).await.unwrap_err();
    assert_eq!(err.rejection_kind(), Some(RejectKind::RetiredKey));
    assert_eq!(
        raw_get(store.backend(), &key).await.unwrap(),
        old,
        "no lazy re-seal either"
    );
}

pub async fn a_lagging_keyring_never_moves_envelopes_back<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let backend = Arc::new(make(&clock).await);
    let (current, _) = rotating_store(Arc::clone(&backend), &clock, |b| b);
    current.keyring_handle().unwrap().replace(promoted());
    let id = SessionId::generate().unwrap();
    current
        .save(&id, &mut Session::new(WebSession::sample(3)))
        .await
        .unwrap();
    // An instance that has not reloaded yet: key 1 primary, key 2 rolled out as decrypt-only.
    let (lagging, handle) = rotating_store(backend, &clock, |b| b);
    handle.replace(
        Keyring::builder()
            .primary(1, Suite::Aes256Gcm, material(1))
            .decrypt_only(2, Suite::Aes256Gcm, material(2))
            .build()
            .unwrap(),
    );
    assert!(lagging.load(&id).await.unwrap().is_some());
    let report = lagging
        .rewrap(&RewrapOptions::default(), |_| {})
        .await
        .unwrap();
    assert_eq!((report.resealed, report.skipped), (0, 1));
    let value = raw_get(lagging.backend(), &lagging.storage_key(&id))
        .await
        .unwrap();
    assert_eq!(key_id_of(&value), 2, "still under the newer key");
    assert_eq!(lagging.reseal_stats(), ResealStats::default());
}

pub async fn a_reseal_never_overwrites_a_concurrent_save_or_deletion<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    for before_swap in [Some(b"saved meanwhile".to_vec()), None] {
        let clock = clock();
        let backend = Interfering {
            inner: make(&clock).await,
            before_swap: before_swap.clone(),
        };
        let (store, handle) = rotating_store(backend, &clock, |b| b);
        let ids: Vec<SessionId> = (0..3).map(|_| SessionId::generate().unwrap()).collect();
        for id in &ids {
            store
                .save(id, &mut Session::new(WebSession::sample(1)))
                .await
                .unwrap();
        }
        handle.replace(promoted());
        // Lazy: the load succeeds, the write-back loses the race.
        assert!(store.load(&ids[0]).await.unwrap().is_some());
        assert_eq!(store.reseal_stats().raced, 1);
        // Bulk: every swap loses.
        let report = store
            .rewrap(&RewrapOptions::default(), |_| {})
            .await
            .unwrap();
        assert_eq!((report.resealed, report.changed_meanwhile), (0, 2));
        for id in &ids {
            let stored = raw_get(store.backend(), &store.storage_key(id)).await;
            assert_eq!(
                stored.as_deref(),
                before_swap.as_deref(),
                "the other writer won"
            );
        }
    }
}

/// A session stored while the store had no absolute lifetime (expiry 0) would open forever
/// under a store that has one, and every touch would give its entry a fresh TTL. The first
/// load caps it at `now + lifetime` and writes the cap into the envelope.
pub async fn an_envelope_without_expiry_gets_its_cap_at_the_first_load<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let backend = Arc::new(make(&clock).await);
    let unlimited = configured(Arc::clone(&backend), &clock, |b| b.no_absolute_lifetime());
    let id = SessionId::generate().unwrap();
    unlimited
        .save(&id, &mut Session::new(WebSession::sample(1)))
        .await
        .unwrap();
    let key = unlimited.storage_key(&id);
    assert_eq!(expiry_in(&*backend, &key).await, 0);

    let hour = configured(backend.clone(), &clock, |b| {
        b.absolute_lifetime(Duration::from_secs(3600))
    });
    clock.advance(Duration::from_secs(10));
    let cap = T0 + 10 + 3600;
    let loaded = hour.load(&id).await.unwrap().unwrap();
    assert_eq!(
        loaded.expires_at(),
        Some(std::time::UNIX_EPOCH + Duration::from_secs(cap))
    );
    assert_eq!(
        expiry_in(&*backend, &key).await,
        cap,
        "the cap is in the envelope"
    );

    // Later loads and touches keep that cap: they do not slide it.
    for _ in 0..2 {
        clock.advance(Duration::from_secs(20 * 60));
        let session = hour
            .load(&id)
            .await
            .unwrap()
            .expect("still within its hour");
        assert_eq!(
            session.expires_at(),
            Some(std::time::UNIX_EPOCH + Duration::from_secs(cap))
        );
        hour.touch(&id, &session).await.unwrap();
    }
    clock.advance(Duration::from_secs(20 * 60));
    assert_eq!(clock.now_secs(), cap);
    match hour.load(&id).await {
        Ok(None) => {}
        Err(e) if e.rejection_kind() == Some(RejectKind::Expired) => {}
        other => panic!("the session outlived its lifetime: {other:?}"),
    }
}

/// Lazy and bulk re-seals give an envelope stored without an expiry the store's lifetime:
/// they never write a new envelope with expiry 0 for a store that has a lifetime.
pub async fn reseals_never_write_an_envelope_without_expiry<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let backend = Arc::new(make(&clock).await);
    let handle = KeyringHandle::new(keyring(1));
    let build = |lifetime: Option<Duration>| -> Store<WebSession, Arc<B>> {
        let builder = Store::builder(Arc::clone(&backend))
            .keyring_handle(handle.clone())
            .clock(clock.clone());
        match lifetime {
            Some(lifetime) => builder.absolute_lifetime(lifetime),
            None => builder.no_absolute_lifetime(),
        }
        .build()
        .unwrap()
    };
    let unlimited = build(None);
    let mut ids = Vec::new();
    for n in 0..5 {
        let id = SessionId::generate().unwrap();
        unlimited
            .save(&id, &mut Session::new(WebSession::sample(n)))
            .await
            .unwrap();
        ids.push(id);
    }
    handle.replace(promoted());
    let hour = build(Some(Duration::from_secs(3600)));
    let cap = T0 + 3600;

    // Lazy: the load re-seals under key 2, with the cap.
    hour.load(&ids[0]).await.unwrap().unwrap();
    let value = raw_get(&*backend, &hour.storage_key(&ids[0]))
        .await
        .unwrap();
    assert_eq!(key_id_of(&value), 2);
    assert_eq!(Header::parse(&value).unwrap().expires_at, cap);

    // Bulk, from the store: the rest, with the cap.
    let report = hour
        .rewrap(&RewrapOptions::default(), |_| {})
        .await
        .unwrap();
    assert_eq!(report.resealed, 4);
    for id in &ids {
        let value = raw_get(&*backend, &hour.storage_key(id)).await.unwrap();
        assert_eq!(
            (key_id_of(&value), Header::parse(&value).unwrap().expires_at),
            (2, cap)
        );
    }

    // Bulk, given a lifetime: envelopes without an expiry under the primary key too.
    let id = SessionId::generate().unwrap();
    unlimited
        .save(&id, &mut Session::new(WebSession::sample(9)))
        .await
        .unwrap();
    let options = RewrapOptions::default().absolute_lifetime(Some(Duration::from_secs(60)));
    // `rotation::rewrap` takes the time from the system clock.
    let unix_now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    let before = unix_now();
    let report = sealed_session::rotation::rewrap(
        &*backend,
        &KeyringSealer::with_handle(handle.clone()),
        "sess:",
        &options,
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(report.resealed, 1, "{report:?}");
    let after = unix_now();
    let value = raw_get(&*backend, &hour.storage_key(&id)).await.unwrap();
    let expires_at = Header::parse(&value).unwrap().expires_at;
    assert!(
        (before + 60..=after + 60).contains(&expires_at),
        "{expires_at} not within {before}..={after} + 60"
    );
}

async fn expiry_in<B: Backend>(backend: &B, key: &str) -> u64 {
    Header::parse(&raw_get(backend, key).await.unwrap())
        .unwrap()
        .expires_at
}

/// `is_empty` answers at the first entry it finds instead of listing every key.
pub async fn is_empty_stops_at_the_first_entry<B: Backend>(make: impl AsyncFn(&ManualClock) -> B) {
    let clock = clock();
    let backend = CountingScans::new(make(&clock).await);
    let store = configured(backend, &clock, |b| b.scan_count(1));
    assert!(store.is_empty().await.unwrap());
    for n in 0..100 {
        store
            .save(
                &SessionId::generate().unwrap(),
                &mut Session::new(WebSession::sample(n)),
            )
            .await
            .unwrap();
    }
    let before = store.backend().scans();
    assert!(!store.is_empty().await.unwrap());
    let first = store.backend().scans() - before;
    let before = store.backend().scans();
    assert_eq!(store.len().await.unwrap(), 100);
    let all = store.backend().scans() - before;
    assert!(
        first * 4 < all,
        "is_empty read {first} scan pages, len {all}"
    );
}
