//! Concurrent requests: optimistic saves, the update helper, and what neither may ever do
//! (overwrite a value the store did not load, bring a logged-out session back).

use std::sync::Arc;
use std::time::Duration;

use sealed_session::{
    Backend, Error, ManualClock, Owners, Retries, Session, SessionId, SetMode, Store,
};

use super::super::decorators::{Interfering, Rival, Tally};
use super::super::fixtures::{T0, WebSession, configured, owned_store, raw_get, store_on};
use super::{promoted, rotating_store};

fn clock() -> ManualClock {
    ManualClock::at_secs(T0)
}

/// Stores a sample session and returns its id.
async fn stored<B: Backend>(store: &Store<WebSession, B>, user: u64) -> SessionId {
    let id = SessionId::generate().unwrap();
    store
        .create(&id, &mut Session::new(WebSession::sample(user)))
        .await
        .unwrap();
    id
}

pub async fn of_two_optimistic_saves_of_one_load_the_later_conflicts<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let store = configured(make(&clock).await, &clock, |b| b.optimistic_saves());
    let id = stored(&store, 1).await;
    // Two requests load the same session; each changes something else.
    let mut a = store.load(&id).await.unwrap().unwrap();
    let mut b = store.load(&id).await.unwrap().unwrap();
    a.data.flash.push("from a".into());
    b.data.roles.push("from b".into());
    store.save(&id, &mut a).await.unwrap();
    let err = store.save(&id, &mut b).await.unwrap_err();
    assert!(matches!(err, Error::Conflict), "{err:?}");
    assert!(
        !err.is_retryable(),
        "a conflict is not fixed by sending the same save"
    );
    let now = store.load(&id).await.unwrap().unwrap();
    assert_eq!(now.data, a.data, "the winner's data, and only it");
    // The winner knows what it wrote: its next save goes through.
    a.data.flash.clear();
    store.save(&id, &mut a).await.unwrap();
    // The loser loads again and re-applies its change on top of the winner's.
    let mut b = store.load(&id).await.unwrap().unwrap();
    b.data.roles.push("from b".into());
    store.save(&id, &mut b).await.unwrap();
    let both = store.load(&id).await.unwrap().unwrap().data;
    assert!(both.roles.iter().any(|r| r == "from b") && both.flash.is_empty());

    // The same race on a store whose saves are not optimistic: the later save wins, unless
    // the request asks for an optimistic save itself.
    let plain = store_on(make(&clock).await, &clock);
    let id = stored(&plain, 2).await;
    let mut a = plain.load(&id).await.unwrap().unwrap();
    let mut b = plain.load(&id).await.unwrap().unwrap();
    let mut c = plain.load(&id).await.unwrap().unwrap();
    a.data.flash.push("from a".into());
    b.data.roles.push("from b".into());
    plain.save(&id, &mut a).await.unwrap();
    let err = plain.save_if_unchanged(&id, &mut c).await.unwrap_err();
    assert!(matches!(err, Error::Conflict), "{err:?}");
    plain.save(&id, &mut b).await.unwrap();
    assert_eq!(
        plain.load(&id).await.unwrap().unwrap().data,
        b.data,
        "last writer wins"
    );
}

pub async fn an_optimistic_save_after_a_log_out_is_session_gone<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let store = configured(make(&clock).await, &clock, |b| b.optimistic_saves());
    let id = stored(&store, 1).await;
    let mut in_flight = store.load(&id).await.unwrap().unwrap();
    assert!(store.destroy(&id).await.unwrap());
    let err = store.save(&id, &mut in_flight).await.unwrap_err();
    assert!(matches!(err, Error::SessionGone), "{err:?}");
    let err = store
        .save_if_unchanged(&id, &mut in_flight)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::SessionGone), "{err:?}");
    assert!(store.load(&id).await.unwrap().is_none(), "not brought back");
    assert_eq!(store.update(&id, |s| s.user_id += 1).await.unwrap(), None);
    assert!(store.load(&id).await.unwrap().is_none());
}

pub async fn an_optimistic_save_of_a_new_session_creates_it<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let store = configured(make(&clock).await, &clock, |b| b.optimistic_saves());
    let id = SessionId::generate().unwrap();
    let mut session = Session::new(WebSession::sample(1));
    store.save_if_unchanged(&id, &mut session).await.unwrap();
    assert_eq!(store.load(&id).await.unwrap().unwrap().data, session.data);
    // As today: a new session never replaces an existing entry.
    let err = store
        .save_if_unchanged(&id, &mut Session::new(WebSession::sample(2)))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::AlreadyExists), "{err:?}");
    // The session created here can be saved again, and after moving to a new id too.
    session.data.user_id = 3;
    store.save(&id, &mut session).await.unwrap();
    let new = store.cycle_id(&id, &mut session).await.unwrap();
    session.data.user_id = 4;
    store.save(&new, &mut session).await.unwrap();
    assert_eq!(store.load(&new).await.unwrap().unwrap().data.user_id, 4);
    assert!(store.load(&id).await.unwrap().is_none());
}

pub async fn optimistic_saves_never_overwrite_a_value_they_did_not_load<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let store = configured(make(&clock).await, &clock, |b| b.optimistic_saves());
    let id = stored(&store, 1).await;
    let key = store.storage_key(&id);
    let other = stored(&store, 2).await;
    let another_envelope = raw_get(store.backend(), &store.storage_key(&other))
        .await
        .unwrap();
    let loaded = raw_get(store.backend(), &key).await.unwrap();
    let mut shorter = loaded.clone();
    shorter.truncate(40);
    let hostile: [(&str, Vec<u8>); 5] = [
        ("garbage", b"not a session at all".to_vec()),
        ("an empty value", Vec::new()),
        ("a value cut before the salt ends", shorter),
        ("another session's envelope", another_envelope),
        ("the loaded value with its salt changed", {
            let mut v = loaded.clone();
            v[20] ^= 1;
            v
        }),
    ];
    for (what, planted) in hostile {
        let mut session = store.load(&id).await.unwrap().unwrap();
        store
            .backend()
            .set(&key, &planted, None, SetMode::Upsert)
            .await
            .unwrap();
        session.data.user_id = 99;
        let err = store.save(&id, &mut session).await.unwrap_err();
        assert!(matches!(err, Error::Conflict), "{what}: {err:?}");
        assert_eq!(
            raw_get(store.backend(), &key).await.unwrap(),
            planted,
            "{what} was overwritten"
        );
        let err = store
            .update(&id, |s| s.user_id = 99)
            .await
            .map(|d| d.map(|s| s.user_id));
        assert!(err.is_err(), "{what}: update wrote over it: {err:?}");
        assert_eq!(raw_get(store.backend(), &key).await.unwrap(), planted);
        // Put the session back for the next case.
        store
            .backend()
            .set(&key, &loaded, None, SetMode::Upsert)
            .await
            .unwrap();
    }
}

pub async fn optimistic_saves_never_overwrite_a_key_of_another_type<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let store = configured(make(&clock).await, &clock, |b| b.optimistic_saves());
    let id = stored(&store, 1).await;
    let key = store.storage_key(&id);
    // Something that is not a byte string under the key (an owner index, here): refused,
    // left as it is.
    let mut session = store.load(&id).await.unwrap().unwrap();
    assert!(store.backend().delete(&key).await.unwrap());
    store
        .backend()
        .index_add(&key, "planted", T0, T0 + 3600, T0)
        .await
        .unwrap();
    let err = store.save(&id, &mut session).await.unwrap_err();
    assert!(matches!(err, Error::Conflict), "{err:?}");
    let entries = store.backend().index_read(&key, T0).await.unwrap();
    assert_eq!(entries.len(), 1, "the planted index is still there");
}

pub async fn update_retries_until_it_wins_and_gives_up_after_its_attempts<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let backend = Arc::new(make(&clock).await);
    let plain = store_on(Arc::clone(&backend), &clock);
    let id = stored(&plain, 1).await;
    let key = plain.storage_key(&id);
    // Two envelopes of the session, as two other requests would save them.
    let mut rivals = Vec::new();
    for user in [2, 3] {
        let mut session = plain.load(&id).await.unwrap().unwrap();
        session.data.user_id = user;
        plain.save(&id, &mut session).await.unwrap();
        rivals.push(raw_get(plain.backend(), &key).await.unwrap());
    }
    // Before every optimistic write, another request stores the other envelope: every
    // attempt loses.
    let store = configured(
        Tally::new(Rival::new(Arc::clone(&backend), rivals.clone())),
        &clock,
        |b| b.update_retries(Retries::new(4).backoff(Duration::ZERO, Duration::ZERO)),
    );
    store.backend().calls();
    let err = store.update(&id, |s| s.user_id += 100).await.unwrap_err();
    assert!(matches!(err, Error::Conflict), "{err:?}");
    assert_eq!(
        store.backend().calls(),
        [
            "get", "set_if", "get", "set_if", "get", "set_if", "get", "set_if"
        ],
        "four attempts, each a load and one optimistic write"
    );
    let last = raw_get(plain.backend(), &key).await.unwrap();
    assert!(rivals.contains(&last), "the update wrote nothing");

    // The same race once: the update re-applies its change to the rival's data and wins.
    let once = configured(
        Rival::new(Arc::clone(&backend), rivals[..1].to_vec()),
        &clock,
        |b| b,
    );
    let saved = once
        .update(&id, |s| s.user_id += 100)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(saved.user_id, 102, "applied to what the rival stored");

    // Deleted before the write: a log-out won, and the update says there is no session.
    let gone = configured(
        Interfering {
            inner: Arc::clone(&backend),
            before_swap: None,
        },
        &clock,
        |b| b,
    );
    assert_eq!(gone.update(&id, |s| s.user_id += 1).await.unwrap(), None);
    assert!(raw_get(plain.backend(), &key).await.is_none());
}

pub async fn update_returns_the_data_it_saved<B: Backend>(make: impl AsyncFn(&ManualClock) -> B) {
    let clock = clock();
    let store = store_on(make(&clock).await, &clock);
    let id = stored(&store, 1).await;
    let saved = store
        .update(&id, |s| {
            s.user_id += 41;
            s.flash.push("updated".into());
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(saved.user_id, 42);
    assert_eq!(store.load(&id).await.unwrap().unwrap().data, saved);
    assert_eq!(
        store
            .update(&SessionId::generate().unwrap(), |s| s.user_id += 1)
            .await
            .unwrap(),
        None,
        "no session, nothing created"
    );
}

pub async fn update_under_contention_loses_nothing<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    const TASKS: u64 = 32;
    const EACH: u64 = 200;
    let clock = clock();
    let store = configured(make(&clock).await, &clock, |b| b);
    let id = stored(&store, 0).await;
    let conflicts = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..TASKS {
        let (store, id, conflicts) = (store.clone(), id.clone(), Arc::clone(&conflicts));
        tasks.spawn(async move {
            for _ in 0..EACH {
                // An update that ran out of attempts is tried again, as an application
                // would: it never counts twice, since a conflict wrote nothing.
                loop {
                    match store.update(&id, |s| s.user_id += 1).await {
                        Ok(Some(_)) => break,
                        Err(Error::Conflict) => {
                            conflicts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        other => panic!("update failed: {other:?}"),
                    }
                }
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    assert_eq!(
        store.load(&id).await.unwrap().unwrap().data.user_id,
        TASKS * EACH,
        "every increment counted exactly once ({} updates ran out of attempts)",
        conflicts.load(std::sync::atomic::Ordering::Relaxed)
    );

    // The same increments with plain saves, each request yielding between its load and its
    // save as a request does while it works: increments are lost.
    store.update(&id, |s| s.user_id = 0).await.unwrap().unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..TASKS {
        let (store, id) = (store.clone(), id.clone());
        tasks.spawn(async move {
            for _ in 0..EACH {
                let mut session = store.load(&id).await.unwrap().unwrap();
                tokio::task::yield_now().await;
                session.data.user_id += 1;
                store.save(&id, &mut session).await.unwrap();
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let counted = store.load(&id).await.unwrap().unwrap().data.user_id;
    assert!(
        counted < TASKS * EACH,
        "plain saves lost no update ({counted}): the check would prove nothing"
    );
}

pub async fn plain_saves_cost_what_they_did_and_optimistic_ones_one_write<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let store = store_on(Tally::new(make(&clock).await), &clock);
    let tally = store.backend();
    let id = stored(&store, 1).await;
    let mut session = store.load(&id).await.unwrap().unwrap();
    tally.calls();
    store.save(&id, &mut session).await.unwrap();
    assert_eq!(tally.calls(), ["set"], "a plain save is one plain write");
    store.save_if_unchanged(&id, &mut session).await.unwrap();
    assert_eq!(tally.calls(), ["set_if"], "an optimistic save is one write");
    store.update(&id, |s| s.user_id += 1).await.unwrap();
    assert_eq!(tally.calls(), ["get", "set_if"], "an update without a race");

    let optimistic = configured(Tally::new(make(&clock).await), &clock, |b| {
        b.optimistic_saves()
    });
    let id = stored(&optimistic, 1).await;
    let mut session = optimistic.load(&id).await.unwrap().unwrap();
    optimistic.backend().calls();
    optimistic.save(&id, &mut session).await.unwrap();
    assert_eq!(optimistic.backend().calls(), ["set_if"]);

    // An owned session: index first when the owner changes, as for a plain save.
    let owned = owned_store(Tally::new(make(&clock).await), &clock, Owners::new());
    let id = stored(&owned, 1).await;
    let mut session = owned.load(&id).await.unwrap().unwrap();
    session.bind_owner(sealed_session::Owner::new("carol").unwrap());
    owned.backend().calls();
    owned.save_if_unchanged(&id, &mut session).await.unwrap();
    assert_eq!(owned.backend().calls(), ["index_add", "set_if"]);
    assert_eq!(
        owned
            .sessions_of(&sealed_session::Owner::new("carol").unwrap())
            .await
            .unwrap()
            .len(),
        1
    );
}

pub async fn a_session_resealed_at_its_load_saves_optimistically<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let (store, handle) = rotating_store(make(&clock).await, &clock, |b| b.optimistic_saves());
    let id = stored(&store, 7).await;
    handle.replace(promoted());
    // The load writes the session back under the new key: the session comes from that
    // envelope now, so its save is no conflict.
    let mut session = store.load(&id).await.unwrap().unwrap();
    session.data.user_id = 8;
    store.save(&id, &mut session).await.unwrap();
    assert_eq!(store.load(&id).await.unwrap().unwrap().data.user_id, 8);
}

pub async fn an_optimistic_save_keeps_the_absolute_expiry_and_renews_the_ttl<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let store = configured(make(&clock).await, &clock, |b| {
        b.optimistic_saves().idle_ttl(Duration::from_secs(3600))
    });
    let id = stored(&store, 1).await;
    let created = store.load(&id).await.unwrap().unwrap().expires_at();
    clock.advance(Duration::from_secs(3000));
    let mut session = store.load(&id).await.unwrap().unwrap();
    store.save(&id, &mut session).await.unwrap();
    assert_eq!(session.expires_at(), created, "absolute expiry kept");
    // Past the first write's TTL, within the second's (on backends that follow the clock;
    // on the others this waits for nothing and the entry is there anyway).
    clock.advance(Duration::from_secs(3000));
    let again = store.load(&id).await.unwrap().unwrap();
    assert_eq!(again.expires_at(), created);
}

pub async fn cycle_id_on_an_optimistic_store_never_drops_a_concurrent_save<B: Backend>(
    make: impl AsyncFn(&ManualClock) -> B,
) {
    let clock = clock();
    let store = configured(Tally::new(make(&clock).await), &clock, |b| {
        b.optimistic_saves()
    });
    let id = stored(&store, 1).await;
    // A logs in (moves the session to a new id) while B saves a change it made.
    let mut a = store.load(&id).await.unwrap().unwrap();
    let mut b = store.load(&id).await.unwrap().unwrap();
    b.data.flash.push("from b".into());
    store.save(&id, &mut b).await.unwrap();
    store.backend().calls();
    let err = store.cycle_id(&id, &mut a).await.unwrap_err();
    assert!(matches!(err, Error::Conflict), "{err:?}");
    assert_eq!(store.backend().calls(), ["set", "delete_if", "delete"]);
    assert_eq!(
        store.load(&id).await.unwrap().unwrap().data,
        b.data,
        "B's save is still there"
    );
    assert_eq!(
        store.ids().await.unwrap().len(),
        1,
        "the new entry was removed"
    );
    // A loads again and moves: the old entry goes, nothing else is stored.
    let mut a = store.load(&id).await.unwrap().unwrap();
    store.backend().calls();
    let new = store.cycle_id(&id, &mut a).await.unwrap();
    assert_eq!(store.backend().calls(), ["set", "delete_if"]);
    assert!(store.load(&id).await.unwrap().is_none());
    assert_eq!(store.load(&new).await.unwrap().unwrap().data, b.data);
    // And it goes on saving optimistically under the new id.
    a.data.user_id = 5;
    store.save(&new, &mut a).await.unwrap();

    // Something planted under the old key between the load and the move: left alone.
    let id = stored(&store, 2).await;
    let key2 = store.storage_key(&id);
    let mut c = store.load(&id).await.unwrap().unwrap();
    store
        .backend()
        .set(&key2, b"planted", None, SetMode::Upsert)
        .await
        .unwrap();
    let err = store.cycle_id(&id, &mut c).await.unwrap_err();
    assert!(matches!(err, Error::Conflict), "{err:?}");
    assert_eq!(raw_get(store.backend(), &key2).await.unwrap(), b"planted");
    // After a log-out: gone, as before.
    assert!(store.backend().delete(&key2).await.unwrap());
    let err = store.cycle_id(&id, &mut c).await.unwrap_err();
    assert!(matches!(err, Error::SessionGone), "{err:?}");
}
