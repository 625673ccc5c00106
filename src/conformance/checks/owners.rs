//! The owner index: sessions that belong to users, listed and revoked by owner, and what
//! the index must never reveal or allow.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sealed_session::{
    Backend, CapPolicy, Clock, DEFAULT_ABSOLUTE_LIFETIME, Error, Fetched, ManualClock, Owner,
    Owners, ScanCursor, Session, SessionId, SetMode, Store,
};

use super::super::decorators::Tally;
use super::super::fixtures::{T0, WebSession, owned_store, store_on};

fn clock() -> ManualClock {
    ManualClock::at_secs(T0)
}

fn alice() -> Owner {
    Owner::new("alice@example.com").unwrap()
}

fn bob() -> Owner {
    Owner::new("bob@example.com").unwrap()
}

fn at(secs: u64) -> Option<SystemTime> {
    UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

/// Creates a session bound to `owner` with a device label, as a log-in would.
async fn sign_in<B: Backend>(
    store: &Store<WebSession, B>,
    owner: &Owner,
    label: &str,
) -> SessionId {
    let id = SessionId::generate().unwrap();
    let mut session = Session::new(WebSession::sample(7));
    session.bind_owner(owner.clone());
    session.set_label(label);
    store.create(&id, &mut session).await.unwrap();
    id
}

/// Every key under `prefix`.
async fn keys_under<B: Backend>(backend: &B, prefix: &str) -> Vec<String> {
    let mut keys = Vec::new();
    let mut cursor = ScanCursor::start();
    loop {
        let page = backend.scan(prefix, cursor, 100).await.unwrap();
        keys.extend(page.keys);
        match page.next {
            Some(next) => cursor = next,
            None => break,
        }
    }
    keys.sort();
    keys.dedup();
    keys
}

/// The owner-index keys of the default prefix.
async fn index_keys<B: Backend>(backend: &B) -> Vec<String> {
    keys_under(backend, "sess:owner.").await
}

async fn loads<B: Backend>(store: &Store<WebSession, B>, id: &SessionId) -> bool {
    store.load(id).await.unwrap().is_some()
}

pub async fn owned_sessions_are_listed_with_their_metadata<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let store = owned_store(make(&clock).await, &clock, Owners::new());
    let laptop = sign_in(&store, &alice(), "Firefox on Linux").await;
    clock.advance(Duration::from_secs(60));
    let phone = sign_in(&store, &alice(), "Safari on iOS").await;
    let other = sign_in(&store, &bob(), "Chrome on Windows").await;

    let listed = store.sessions_of(&alice()).await.unwrap();
    assert_eq!(listed.len(), 2, "alice has two sessions");
    assert_eq!(
        listed[0].storage_id,
        store.storage_id(&laptop),
        "oldest first"
    );
    assert_eq!(listed[1].storage_id, store.storage_id(&phone));
    assert_eq!(listed[0].label.as_deref(), Some("Firefox on Linux"));
    assert_eq!(listed[1].label.as_deref(), Some("Safari on iOS"));
    assert_eq!(listed[0].created_at, at(T0));
    assert_eq!(listed[1].created_at, at(T0 + 60));
    assert_eq!(
        listed[0].expires_at,
        at(T0 + DEFAULT_ABSOLUTE_LIFETIME.as_secs())
    );
    let bobs = store.sessions_of(&bob()).await.unwrap();
    assert_eq!(bobs.len(), 1);
    assert_eq!(bobs[0].storage_id, store.storage_id(&other));

    // A load carries the owner and the metadata; a save updates "last seen" only.
    clock.advance(Duration::from_secs(30));
    let mut loaded = store.load(&laptop).await.unwrap().unwrap();
    assert_eq!(loaded.owner(), Some(&alice()));
    assert_eq!(loaded.label(), Some("Firefox on Linux"));
    assert_eq!(loaded.created_at(), at(T0));
    store.save(&laptop, &mut loaded).await.unwrap();
    let listed = store.sessions_of(&alice()).await.unwrap();
    assert_eq!(listed[0].created_at, at(T0));
    assert_eq!(listed[0].last_seen, at(T0 + 90));
    assert_eq!(
        store
            .sessions_of(&Owner::new("carol").unwrap())
            .await
            .unwrap(),
        []
    );
}

pub async fn revoke_all_ends_every_session_of_the_owner_and_no_other<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let store = owned_store(make(&clock).await, &clock, Owners::new());
    let mut alices = Vec::new();
    for n in 0..5 {
        alices.push(sign_in(&store, &alice(), &format!("device {n}")).await);
    }
    let bobs = sign_in(&store, &bob(), "bob's").await;
    let report = store.revoke_all(&alice()).await.unwrap();
    assert_eq!(report.revoked, 5);
    assert_eq!(report.unverified, 0);
    for id in &alices {
        assert!(!loads(&store, id).await, "a revoked session still loads");
    }
    assert!(
        loads(&store, &bobs).await,
        "another owner's session was revoked"
    );
    assert_eq!(store.sessions_of(&alice()).await.unwrap(), []);
    assert_eq!(
        index_keys(store.backend()).await.len(),
        1,
        "alice's index is gone, bob's stays"
    );
    let again = store.revoke_all(&alice()).await.unwrap();
    assert_eq!(again.revoked, 0);
}

pub async fn revoke_all_except_keeps_the_current_session<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let store = owned_store(make(&clock).await, &clock, Owners::new());
    let current = sign_in(&store, &alice(), "here").await;
    let elsewhere = sign_in(&store, &alice(), "there").await;
    let report = store
        .revoke_all_except(&alice(), &store.storage_id(&current))
        .await
        .unwrap();
    assert_eq!(report.revoked, 1);
    assert!(loads(&store, &current).await);
    assert!(!loads(&store, &elsewhere).await);
    let listed = store.sessions_of(&alice()).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].storage_id, store.storage_id(&current));
}

pub async fn revoking_another_owners_session_is_refused<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let store = owned_store(make(&clock).await, &clock, Owners::new());
    let mine = sign_in(&store, &alice(), "mine").await;
    let theirs = sign_in(&store, &bob(), "theirs").await;
    assert!(
        !store
            .revoke(&alice(), &store.storage_id(&theirs))
            .await
            .unwrap(),
        "alice revoked bob's session"
    );
    assert!(loads(&store, &theirs).await);
    assert!(
        !store
            .revoke(&alice(), &store.storage_id(&SessionId::generate().unwrap()))
            .await
            .unwrap()
    );
    assert!(
        store
            .revoke(&alice(), &store.storage_id(&mine))
            .await
            .unwrap()
    );
    assert!(!loads(&store, &mine).await);
    assert_eq!(store.sessions_of(&alice()).await.unwrap(), []);
}

pub async fn destroy_and_unbind_take_a_session_out_of_the_listing<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let store = owned_store(make(&clock).await, &clock, Owners::new());
    let one = sign_in(&store, &alice(), "one").await;
    let two = sign_in(&store, &alice(), "two").await;
    assert!(store.destroy(&one).await.unwrap());
    assert!(!store.destroy(&one).await.unwrap());
    let listed = store.sessions_of(&alice()).await.unwrap();
    assert_eq!(listed.len(), 1);
    // Log-out that keeps an anonymous session: unbound, saved, no longer listed.
    let mut session = store.load(&two).await.unwrap().unwrap();
    session.unbind_owner();
    store.save(&two, &mut session).await.unwrap();
    assert_eq!(store.sessions_of(&alice()).await.unwrap(), []);
    let reloaded = store.load(&two).await.unwrap().unwrap();
    assert!(reloaded.owner().is_none());
    // Binding a loaded anonymous session (log-in without a new id) lists it.
    let mut session = reloaded;
    session.bind_owner(bob());
    store.save(&two, &mut session).await.unwrap();
    assert_eq!(store.sessions_of(&bob()).await.unwrap().len(), 1);
    // Changing the owner in place moves it from one listing to the other.
    let mut session = store.load(&two).await.unwrap().unwrap();
    session.bind_owner(alice());
    store.save(&two, &mut session).await.unwrap();
    assert_eq!(store.sessions_of(&bob()).await.unwrap(), []);
    assert_eq!(store.sessions_of(&alice()).await.unwrap().len(), 1);
    // Destroying the last session empties the index, which then no longer exists.
    assert!(store.destroy(&two).await.unwrap());
    assert_eq!(store.sessions_of(&alice()).await.unwrap(), []);
    clock.advance(sealed_session::STALE_GRACE + Duration::from_secs(1));
    store.sessions_of(&bob()).await.unwrap();
    assert_eq!(
        index_keys(store.backend()).await,
        Vec::<String>::new(),
        "an emptied index is removed"
    );
}

/// Two requests load a bound session; one unbinds it (log-out keeping an anonymous
/// session), the other saves its stale copy, which still names the owner, afterwards. The
/// session is bound again, and "log out everywhere" must still find it.
pub async fn a_stale_save_after_an_unbinding_stays_revocable<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let store = owned_store(make(&clock).await, &clock, Owners::new());
    let id = sign_in(&store, &alice(), "tab").await;
    let mut first = store.load(&id).await.unwrap().unwrap();
    let mut second = store.load(&id).await.unwrap().unwrap();
    first.unbind_owner();
    store.save(&id, &mut first).await.unwrap();
    store.save(&id, &mut second).await.unwrap();
    assert_eq!(
        store.load(&id).await.unwrap().unwrap().owner(),
        Some(&alice())
    );
    clock.advance(sealed_session::STALE_GRACE + Duration::from_secs(1));
    assert_eq!(store.sessions_of(&alice()).await.unwrap().len(), 1);
    assert_eq!(store.revoke_all(&alice()).await.unwrap().revoked, 1);
    assert!(!loads(&store, &id).await);
}

/// A read that finds an entry without its session keeps it while it is young (a create may
/// be between its index write and its session write) and prunes it once it is old.
pub async fn a_fresh_entry_without_its_session_survives_reads<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let store = owned_store(make(&clock).await, &clock, Owners::new());
    sign_in(&store, &alice(), "here").await;
    let index = index_keys(store.backend()).await.remove(0);
    let in_flight = store
        .storage_id(&SessionId::generate().unwrap())
        .as_str()
        .to_owned();
    let expiry = T0 + DEFAULT_ABSOLUTE_LIFETIME.as_secs();
    store
        .backend()
        .index_add(&index, &in_flight, T0, expiry, T0)
        .await
        .unwrap();
    let ids = |entries: Vec<sealed_session::IndexEntry>| -> Vec<String> {
        entries.into_iter().map(|e| e.id).collect()
    };
    clock.advance(sealed_session::STALE_GRACE - Duration::from_secs(1));
    assert_eq!(store.sessions_of(&alice()).await.unwrap().len(), 1);
    let left = ids(store
        .backend()
        .index_read(&index, clock.now_secs())
        .await
        .unwrap());
    assert!(left.contains(&in_flight), "a fresh entry was pruned");
    clock.advance(Duration::from_secs(2));
    assert_eq!(store.sessions_of(&alice()).await.unwrap().len(), 1);
    let left = ids(store
        .backend()
        .index_read(&index, clock.now_secs())
        .await
        .unwrap());
    assert!(
        !left.contains(&in_flight),
        "a stale entry outlived the grace period"
    );
    assert_eq!(left.len(), 1);
}

pub async fn cycle_id_binds_and_keeps_the_owner<B: Backend>(make: impl AsyncFn(&ManualClock) -> B) {
    let clock = clock();
    let store = owned_store(make(&clock).await, &clock, Owners::new());
    // An anonymous session logs in: bound, then moved to a fresh id.
    let anonymous = SessionId::generate().unwrap();
    store
        .create(&anonymous, &mut Session::new(WebSession::sample(1)))
        .await
        .unwrap();
    let mut session = store.load(&anonymous).await.unwrap().unwrap();
    session.bind_owner(alice());
    let signed_in = store.cycle_id(&anonymous, &mut session).await.unwrap();
    let listed = store.sessions_of(&alice()).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].storage_id, store.storage_id(&signed_in));
    // A second cycle keeps the owner; the old id's entry goes.
    let again = store.cycle_id(&signed_in, &mut session).await.unwrap();
    let listed = store.sessions_of(&alice()).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].storage_id, store.storage_id(&again));
    assert_eq!(
        store.load(&again).await.unwrap().unwrap().owner(),
        Some(&alice())
    );
}

pub async fn the_cap_evicts_the_oldest_or_refuses<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let backend = Arc::new(make(&clock).await);
    let evicting = owned_store(
        Arc::clone(&backend),
        &clock,
        Owners::new().cap(2, CapPolicy::EvictOldest),
    );
    let first = sign_in(&evicting, &alice(), "first").await;
    clock.advance(Duration::from_secs(1));
    let second = sign_in(&evicting, &alice(), "second").await;
    clock.advance(Duration::from_secs(1));
    let third = sign_in(&evicting, &alice(), "third").await;
    assert!(
        !loads(&evicting, &first).await,
        "the oldest was not evicted"
    );
    assert!(loads(&evicting, &second).await);
    assert!(loads(&evicting, &third).await);
    assert_eq!(evicting.sessions_of(&alice()).await.unwrap().len(), 2);

    let refusing = owned_store(
        Arc::clone(&backend),
        &clock,
        Owners::new().cap(2, CapPolicy::Refuse),
    );
    let id = SessionId::generate().unwrap();
    let mut session = Session::new(WebSession::sample(1));
    session.bind_owner(alice());
    let err = refusing.create(&id, &mut session).await.unwrap_err();
    assert!(matches!(err, Error::OwnerCapReached { cap: 2 }), "{err:?}");
    assert!(
        !loads(&refusing, &id).await,
        "a refused session was written"
    );
    // Other owners are not affected.
    sign_in(&refusing, &bob(), "bob").await;

    // Moving a session to a new id (a re-authentication) at the cap neither evicts it nor
    // is refused: the count does not grow.
    let mut session = evicting.load(&third).await.unwrap().unwrap();
    let moved = evicting.cycle_id(&third, &mut session).await.unwrap();
    assert!(
        loads(&evicting, &moved).await,
        "the moved session was evicted"
    );
    assert!(
        loads(&evicting, &second).await,
        "another session was evicted"
    );
    let again = refusing.cycle_id(&moved, &mut session).await.unwrap();
    assert!(
        loads(&refusing, &again).await,
        "a move at the cap was refused"
    );
    assert!(loads(&refusing, &second).await);
    // A session bound in place (log-in without a new id) counts against the cap too.
    let anonymous = SessionId::generate().unwrap();
    refusing
        .create(&anonymous, &mut Session::new(WebSession::sample(1)))
        .await
        .unwrap();
    let mut session = refusing.load(&anonymous).await.unwrap().unwrap();
    session.bind_owner(alice());
    let err = refusing.save(&anonymous, &mut session).await.unwrap_err();
    assert!(matches!(err, Error::OwnerCapReached { cap: 2 }), "{err:?}");
    assert!(
        refusing
            .load(&anonymous)
            .await
            .unwrap()
            .unwrap()
            .owner()
            .is_none()
    );
}

pub async fn planted_index_members_never_reveal_or_revoke_another_owner<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let store = owned_store(make(&clock).await, &clock, Owners::new());
    let mine = sign_in(&store, &alice(), "mine").await;
    let index = index_keys(store.backend()).await;
    assert_eq!(index.len(), 1);
    let alice_index = &index[0];
    let theirs = sign_in(&store, &bob(), "theirs").await;
    let far = T0 + 100_000;
    let backend = store.backend();
    // Bob's session, a missing one, something that is no storage id and an entry that
    // would outlive any session, planted in alice's index.
    let bobs = store.storage_id(&theirs).as_str().to_owned();
    backend
        .index_add(alice_index, &bobs, T0, far, T0)
        .await
        .unwrap();
    let ghost = store
        .storage_id(&SessionId::generate().unwrap())
        .as_str()
        .to_owned();
    backend
        .index_add(alice_index, &ghost, T0, far, T0)
        .await
        .unwrap();
    backend
        .index_add(alice_index, "not-a-storage-id", T0, far, T0)
        .await
        .unwrap();
    let forever = store
        .storage_id(&SessionId::generate().unwrap())
        .as_str()
        .to_owned();
    backend
        .index_add(alice_index, &forever, T0, T0 + 20 * 365 * 86_400, T0)
        .await
        .unwrap();
    let listed = store.sessions_of(&alice()).await.unwrap();
    assert_eq!(listed.len(), 1, "another owner's session was revealed");
    assert_eq!(listed[0].storage_id, store.storage_id(&mine));
    let report = store.revoke_all(&alice()).await.unwrap();
    assert_eq!(report.revoked, 1);
    assert!(loads(&store, &theirs).await, "bob's session was revoked");
    assert!(!loads(&store, &mine).await);
    // What is no storage id, or would outlive every session, is gone; a missing session's
    // entry goes once it is older than the grace period; bob's stays until it expires,
    // never listed.
    let ids = |entries: Vec<sealed_session::IndexEntry>| -> Vec<String> {
        entries.into_iter().map(|e| e.id).collect()
    };
    let left = ids(backend.index_read(alice_index, T0).await.unwrap());
    assert!(!left.iter().any(|m| m == "not-a-storage-id"), "{left:?}");
    assert!(!left.contains(&forever), "{left:?}");
    clock.advance(sealed_session::STALE_GRACE + Duration::from_secs(1));
    assert_eq!(store.sessions_of(&alice()).await.unwrap(), []);
    let left = ids(backend
        .index_read(alice_index, clock.now_secs())
        .await
        .unwrap());
    assert_eq!(left, [bobs]);
    assert!(loads(&store, &theirs).await);
}

pub async fn an_index_key_holding_something_else_is_an_error_not_overwritten<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let store = owned_store(make(&clock).await, &clock, Owners::new());
    let first = sign_in(&store, &alice(), "first").await;
    let index = index_keys(store.backend()).await.remove(0);
    store.backend().delete(&index).await.unwrap();
    store
        .backend()
        .set(&index, b"planted", None, SetMode::Upsert)
        .await
        .unwrap();
    let err = store.sessions_of(&alice()).await.unwrap_err();
    assert!(matches!(err, Error::Backend(_)), "{err:?}");
    assert!(store.revoke_all(&alice()).await.is_err());
    let id = SessionId::generate().unwrap();
    let mut session = Session::new(WebSession::sample(1));
    session.bind_owner(alice());
    assert!(store.create(&id, &mut session).await.is_err());
    assert!(
        !loads(&store, &id).await,
        "a session was written without its index entry"
    );
    assert!(loads(&store, &first).await);
    assert!(matches!(
        store.backend().get(&index, 100).await.unwrap(),
        Fetched::Value(v) if v == b"planted"
    ));
}

pub async fn the_index_disappears_when_its_sessions_expire<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let store = owned_store(make(&clock).await, &clock, Owners::new());
    let lifetime = DEFAULT_ABSOLUTE_LIFETIME.as_secs();
    for n in 0..10_000u64 {
        let id = SessionId::generate().unwrap();
        let mut session = Session::new(WebSession::sample(n));
        session.bind_owner(alice());
        store.create(&id, &mut session).await.unwrap();
        if n % 1000 == 999 {
            clock.advance(Duration::from_secs(60));
        }
    }
    let index = index_keys(store.backend()).await;
    assert_eq!(index.len(), 1);
    assert_eq!(
        store
            .backend()
            .index_read(&index[0], clock.now_secs())
            .await
            .unwrap()
            .len(),
        10_000
    );
    // Half of them are past their expiry: the next read prunes them.
    clock.set_secs(T0 + lifetime + 5 * 60);
    let live = store
        .backend()
        .index_read(&index[0], clock.now_secs())
        .await
        .unwrap();
    assert_eq!(live.len(), 4_000);
    clock.set_secs(T0 + lifetime + 10 * 60);
    assert_eq!(store.sessions_of(&alice()).await.unwrap(), []);
    // The store prunes a little late (STALE_GRACE), for readers whose clock runs ahead.
    clock.advance(sealed_session::STALE_GRACE);
    assert_eq!(store.sessions_of(&alice()).await.unwrap(), []);
    assert_eq!(
        index_keys(store.backend()).await,
        Vec::<String>::new(),
        "the index outlived its sessions"
    );
}

pub async fn the_owner_appears_nowhere_in_the_backend<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let store = owned_store(make(&clock).await, &clock, Owners::new());
    let owner = alice();
    sign_in(&store, &owner, "laptop").await;
    sign_in(&store, &owner, "phone").await;
    let needle = owner.as_bytes();
    let hex: String = needle.iter().map(|b| format!("{b:02x}")).collect();
    let contains = |hay: &[u8]| hay.windows(needle.len()).any(|w| w == needle);
    let backend = store.backend();
    let keys = keys_under(backend, "sess:").await;
    assert_eq!(keys.len(), 3, "two sessions and one index");
    for key in keys {
        assert!(!contains(key.as_bytes()) && !key.contains(&hex), "{key}");
        match backend.get(&key, usize::MAX).await.unwrap() {
            Fetched::Value(value) => {
                assert!(!contains(&value), "the owner is readable in a value");
                assert!(
                    !value.windows(6).any(|w| w == b"laptop"),
                    "the device label is readable in a value"
                );
            }
            Fetched::NotBytes => {
                for entry in backend.index_read(&key, T0).await.unwrap() {
                    assert!(!contains(entry.id.as_bytes()), "in an index entry");
                    assert!(!entry.id.contains(&hex));
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

pub async fn a_store_without_an_owner_index_refuses_owned_sessions<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let store = store_on(make(&clock).await, &clock);
    let id = SessionId::generate().unwrap();
    let mut session = Session::new(WebSession::sample(1));
    session.bind_owner(alice());
    let err = store.create(&id, &mut session).await.unwrap_err();
    assert!(matches!(err, Error::NoOwnerIndex), "{err:?}");
    assert!(!loads(&store, &id).await);
    assert!(matches!(
        store.sessions_of(&alice()).await.unwrap_err(),
        Error::NoOwnerIndex
    ));
}

pub async fn loads_and_saves_of_owned_sessions_cost_what_they_did<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let store = owned_store(Tally::new(make(&clock).await), &clock, Owners::new());
    let tally = store.backend();
    let id = sign_in(&store, &alice(), "here").await;
    assert_eq!(tally.calls(), ["index_add", "set"], "create: index first");
    let mut session = store.load(&id).await.unwrap().unwrap();
    assert_eq!(tally.calls(), ["get"], "a load is one read");
    store.save(&id, &mut session).await.unwrap();
    assert_eq!(
        tally.calls(),
        ["set"],
        "a save without an owner change is one write"
    );
    store.touch(&id, &session).await.unwrap();
    assert_eq!(tally.calls(), ["expire"]);
    let new = store.cycle_id(&id, &mut session).await.unwrap();
    assert_eq!(tally.calls(), ["index_add", "set", "delete"]);
    assert!(store.destroy(&new).await.unwrap());
    assert_eq!(tally.calls(), ["take", "index_remove"]);

    // Listing an owner with 100 sessions: one index read and one batched read.
    for n in 0..100 {
        sign_in(&store, &alice(), &format!("device {n}")).await;
    }
    tally.calls();
    assert_eq!(store.sessions_of(&alice()).await.unwrap().len(), 100);
    assert_eq!(tally.calls(), ["index_read", "get_many"]);
}

pub async fn a_failure_between_index_and_session_write_leaves_only_an_entry<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let store = owned_store(Tally::new(make(&clock).await), &clock, Owners::new());
    let kept = sign_in(&store, &alice(), "kept").await;
    store
        .backend()
        .fail_set_after_index
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let id = SessionId::generate().unwrap();
    let mut session = Session::new(WebSession::sample(1));
    session.bind_owner(alice());
    let err = store.create(&id, &mut session).await.unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    store
        .backend()
        .fail_set_after_index
        .store(false, std::sync::atomic::Ordering::SeqCst);
    assert!(!loads(&store, &id).await);
    // The entry without a session is not listed, and revoking still finds every session.
    let listed = store.sessions_of(&alice()).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].storage_id, store.storage_id(&kept));
    assert_eq!(store.revoke_all(&alice()).await.unwrap().revoked, 1);
    assert!(!loads(&store, &kept).await);
}

pub async fn revoke_all_ends_every_session_created_before_it<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let store = owned_store(make(&clock).await, &clock, Owners::new());
    let created: Arc<Mutex<Vec<SessionId>>> = Arc::default();
    let mut creators = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (store, created) = (store.clone(), Arc::clone(&created));
        creators.spawn(async move {
            for _ in 0..25 {
                let id = SessionId::generate().unwrap();
                let mut session = Session::new(WebSession::sample(1));
                session.bind_owner(alice());
                store.create(&id, &mut session).await.unwrap();
                created.lock().unwrap().push(id);
                tokio::task::yield_now().await;
            }
        });
    }
    let mut rounds = 0;
    while !creators.is_empty() || rounds == 0 {
        rounds += 1;
        // Every creation that completed before the revocation started...
        let before: Vec<SessionId> = created.lock().unwrap().clone();
        store.revoke_all(&alice()).await.unwrap();
        // ...cannot be loaded once it returns.
        for id in &before {
            assert!(
                !loads(&store, id).await,
                "a session created before revoke_all survived it (round {rounds})"
            );
        }
        while let Some(done) = creators.try_join_next() {
            done.unwrap();
        }
        tokio::task::yield_now().await;
    }
    // Sessions created during the last revocation may remain; one more ends them all.
    store.revoke_all(&alice()).await.unwrap();
    let all: Vec<SessionId> = created.lock().unwrap().clone();
    assert_eq!(all.len(), 400);
    for id in &all {
        assert!(!loads(&store, id).await);
    }
}

/// Key statistics and bulk re-sealing scan the prefix: owner indexes are counted apart, never
/// read as envelopes nor re-sealed, and `clear` removes them with the sessions.
pub async fn rotation_tools_and_clear_tell_indexes_from_sessions<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    use sealed_session::{RewrapOptions, rotation};

    let clock = clock();
    let store = owned_store(make(&clock).await, &clock, Owners::new());
    sign_in(&store, &alice(), "one").await;
    sign_in(&store, &bob(), "two").await;
    let census = rotation::census(store.backend(), "sess:", &RewrapOptions::default(), |_| {})
        .await
        .unwrap();
    assert_eq!(census.owner_indexes, 2);
    assert_eq!(census.not_envelopes, 0);
    assert_eq!(census.count(1), 2);
    assert_eq!(store.ids().await.unwrap().len(), 2);
    assert_eq!(
        store.clear().await.unwrap(),
        4,
        "two sessions and two indexes"
    );
    assert_eq!(
        keys_under(store.backend(), "sess:").await,
        Vec::<String>::new()
    );
}

/// A session moved to a new id (`cycle_id`, a re-authentication) while `revoke_all` runs
/// ends too: the move lands between the revocation's read of the index and its removal.
pub async fn revoke_all_ends_a_session_moved_during_it<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let inner = Arc::new(make(&clock).await);
    let store = owned_store(Tally::new(Arc::clone(&inner)), &clock, Owners::new());
    let mover = owned_store(Arc::clone(&inner), &clock, Owners::new());
    let id = sign_in(&store, &alice(), "moving").await;
    let moved: Arc<Mutex<Option<SessionId>>> = Arc::default();
    let (slot, other, old) = (Arc::clone(&moved), mover.clone(), id.clone());
    store.backend().before_next_delete(Box::pin(async move {
        let mut session = other.load(&old).await.unwrap().unwrap();
        let new = other.cycle_id(&old, &mut session).await.unwrap();
        *slot.lock().unwrap() = Some(new);
    }));
    store.revoke_all(&alice()).await.unwrap();
    let new = moved
        .lock()
        .unwrap()
        .clone()
        .expect("the move ran inside the revocation");
    assert!(!loads(&store, &id).await);
    assert!(
        !loads(&store, &new).await,
        "a session moved during revoke_all survived it"
    );
}
