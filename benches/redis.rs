//! End to end against a real local `redis-server`: save + load pairs of a 1 KiB session
//! through the store, side by side with a raw `redis` crate baseline (`SET EX` + `GET` of a
//! 1 KiB value on the same connection type), at 1, 16 and 64 concurrent tasks.
//!
//! Run: `cargo bench --bench redis`
//!
//! Then the owner index, at 1 and 16 tasks: load + save and create + destroy of sessions
//! bound to an owner against the same without an owner, in one store with an owner index,
//! and the cost of listing an owner with 100 sessions (round trips counted by the server's
//! `INFO commandstats`).
//!
//! Then concurrent requests (issue #16): load + optimistic save against load + plain save
//! in one store at 1, 16 and 64 tasks (each task its own session, so no conflicts: the cost
//! of the comparison alone), and `Store::update` on one hot session under 32-way contention
//! (updates per second, attempts per update from the server's command counts), beside plain
//! load + save pairs on one session, which lose updates (counted).
//!
//! The two contenders alternate in rounds (raw, store, raw, store, ...) so that the noise of
//! a shared machine hits both; each figure is the median over rounds. CPU time is the
//! client process's (all threads, from `/proc/self/task/*/schedstat`) over a round divided
//! by its pairs: the server's CPU is not counted, so the difference is what the store adds.

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![allow(
    clippy::indexing_slicing,
    clippy::string_slice,
    clippy::unwrap_in_result,
    clippy::panic_in_result_fn,
    clippy::get_unwrap,
    clippy::cast_precision_loss
)]

#[path = "../tests/it/support/redis.rs"]
#[allow(dead_code)]
mod redis_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use sealed_session::{KeyMaterial, Keyring, RedisBackend, Session, SessionId, Store, Suite};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone)]
struct WebSession {
    user_id: u64,
    email: String,
    roles: Vec<String>,
    csrf_token: String,
    flash: Vec<String>,
    cart: Vec<(String, String, u32, u64)>,
}

/// About 1 KiB once encoded with bincode (1,024 bytes here; the envelope adds 95).
fn session() -> WebSession {
    WebSession {
        user_id: 1_234_567,
        email: "alice.liddell@example.com".into(),
        roles: vec!["customer".into(), "beta-tester".into(), "newsletter".into()],
        csrf_token: "q3Zf1xw9b0N2mJ7cR4tK8yL6pV5sA1dE0gH3jU2iO9".into(),
        flash: vec![
            "Welcome back, Alice! Your last order shipped on Tuesday.".into(),
            "x".repeat(187),
        ],
        cart: (0..8)
            .map(|n| {
                (
                    format!("SKU-{n:04}-XL-BLUE"),
                    format!("Organic cotton t-shirt, model {n}, extra large, blue"),
                    n + 1,
                    1999 + u64::from(n) * 100,
                )
            })
            .collect(),
    }
}

const ROUNDS: usize = 5;
const ROUND_TIME: Duration = Duration::from_millis(1500);

struct Round {
    pairs: u64,
    elapsed: Duration,
    cpu: Duration,
    latencies_us: Vec<u32>,
}

/// CPU time of every thread of this process so far, in nanoseconds, from
/// `/proc/self/task/*/schedstat` (first field: time spent running). The runtime's threads
/// live for the whole bench, so none is lost.
fn cpu_time() -> Duration {
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task").expect("/proc/self/task") {
        let path = task.unwrap().path().join("schedstat");
        if let Ok(text) = std::fs::read_to_string(path) {
            total += text
                .split_whitespace()
                .next()
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    Duration::from_nanos(total)
}

async fn run_round<F, Fut>(tasks: usize, pair: Arc<F>) -> Round
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send,
{
    let cpu_before = cpu_time();
    let started = Instant::now();
    let stop = started + ROUND_TIME;
    let mut handles = Vec::new();
    for t in 0..tasks {
        let pair = Arc::clone(&pair);
        handles.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(40_000);
            while Instant::now() < stop {
                let s = Instant::now();
                pair(t).await;
                lat.push(u32::try_from(s.elapsed().as_micros()).unwrap_or(u32::MAX));
            }
            lat
        }));
    }
    let mut latencies_us = Vec::new();
    for h in handles {
        latencies_us.extend(h.await.unwrap());
    }
    let elapsed = started.elapsed();
    let cpu = cpu_time() - cpu_before;
    latencies_us.sort_unstable();
    Round {
        pairs: latencies_us.len() as u64,
        elapsed,
        cpu,
        latencies_us,
    }
}

#[derive(Default, Clone, Copy)]
struct Summary {
    ops_per_s: f64,
    p50_us: u32,
    p99_us: u32,
    cpu_per_pair_us: f64,
}

fn summarize(rounds: &[Round]) -> Summary {
    let median = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    let pct = |r: &Round, p: f64| {
        let n = r.latencies_us.len();
        assert!(n > 0, "a round recorded no pairs");
        let i = ((n as f64 * p) as usize).min(n - 1);
        f64::from(r.latencies_us[i])
    };
    Summary {
        ops_per_s: median(
            rounds
                .iter()
                .map(|r| r.pairs as f64 / r.elapsed.as_secs_f64())
                .collect(),
        ),
        p50_us: median(rounds.iter().map(|r| pct(r, 0.50)).collect()) as u32,
        p99_us: median(rounds.iter().map(|r| pct(r, 0.99)).collect()) as u32,
        cpu_per_pair_us: median(
            rounds
                .iter()
                .map(|r| r.cpu.as_secs_f64() * 1e6 / r.pairs as f64)
                .collect(),
        ),
    }
}

/// Where the added cost sits, at 1 task: the same two round trips made by the raw client
/// with the store's commands, then through `RedisBackend` (deadlines, retry wrapper), then
/// through the whole store (hashing, codec, crypto).
async fn layers(manager: &ConnectionManager, store: &Store<WebSession, RedisBackend>) {
    use sealed_session::Backend;
    let id = SessionId::generate().unwrap();
    store
        .create(&id, &mut Session::new(session()))
        .await
        .unwrap();
    let key = store.storage_key(&id);
    let envelope = match store.backend().get(&key, 65_536).await.unwrap() {
        sealed_session::Fetched::Value(v) => v,
        other => panic!("{other:?}"),
    };
    let raw_same_commands = {
        let (manager, key, envelope) = (manager.clone(), key.clone(), envelope.clone());
        Arc::new(move |_t: usize| {
            let (mut conn, key, envelope) = (manager.clone(), key.clone(), envelope.clone());
            async move {
                let got: Vec<u8> = redis::cmd("GETRANGE")
                    .arg(&key)
                    .arg(0)
                    .arg(65_536)
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                assert_eq!(got.len(), envelope.len());
                let ok: redis::Value = redis::cmd("SET")
                    .arg(&key)
                    .arg(&envelope)
                    .arg("EX")
                    .arg(86_400)
                    .arg("XX")
                    .query_async(&mut conn)
                    .await
                    .unwrap();
                assert_eq!(ok, redis::Value::Okay);
            }
        })
    };
    let backend_only = {
        let (backend, key, envelope) = (store.backend().clone(), key.clone(), envelope.clone());
        Arc::new(move |_t: usize| {
            let (backend, key, envelope) = (backend.clone(), key.clone(), envelope.clone());
            async move {
                backend.get(&key, 65_536).await.unwrap();
                let ttl = Some(Duration::from_secs(86_400));
                assert!(
                    backend
                        .set(&key, &envelope, ttl, sealed_session::SetMode::UpdateOnly)
                        .await
                        .unwrap()
                );
            }
        })
    };
    let whole_store = {
        let (store, id) = (store.clone(), Arc::new(id));
        Arc::new(move |_t: usize| {
            let (store, id) = (store.clone(), Arc::clone(&id));
            async move {
                let mut s = store.load(&id).await.unwrap().unwrap();
                store.save(&id, &mut s).await.unwrap();
            }
        })
    };
    let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        a.push(run_round(1, Arc::clone(&raw_same_commands)).await);
        b.push(run_round(1, Arc::clone(&backend_only)).await);
        c.push(run_round(1, Arc::clone(&whole_store)).await);
    }
    println!(
        "\n| 1 task, layer by layer | pairs/s | p50 µs | p99 µs | client CPU µs/pair |\n|---|---:|---:|---:|---:|"
    );
    for (name, rounds) in [
        ("raw client, GETRANGE + SET XX EX of the envelope", a),
        ("RedisBackend get + set (deadlines, retry)", b),
        ("Store load + save (adds hashing, codec, crypto)", c),
    ] {
        let s = summarize(&rounds);
        println!(
            "| {name} | {:.0} | {} | {} | {:.1} |",
            s.ops_per_s, s.p50_us, s.p99_us, s.cpu_per_pair_us
        );
    }
}

/// `cmdstat_<name>` call counts from `INFO commandstats`.
async fn command_calls(manager: &ConnectionManager, names: &[&str]) -> Vec<u64> {
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(&mut manager.clone())
        .await
        .unwrap();
    names
        .iter()
        .map(|name| {
            info.lines()
                .find_map(|line| line.strip_prefix(&format!("cmdstat_{name}:calls=")))
                .and_then(|rest| rest.split(',').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        })
        .collect()
}

/// The owner index: what binding sessions to an owner costs per request, and listing.
async fn owner_index(manager: &ConnectionManager, smoke: bool) {
    use sealed_session::{IndexKeys, Owner, Owners};
    let backend = RedisBackend::from_connection_manager(manager.clone(), Duration::from_secs(1));
    let keyring = Keyring::builder()
        .primary(1, Suite::Aes256Gcm, KeyMaterial::generate().unwrap())
        .index_keys(IndexKeys::new(1, KeyMaterial::generate().unwrap()))
        .build()
        .unwrap();
    let store: Store<WebSession, RedisBackend> = Store::builder(backend)
        .keyring(keyring)
        .prefix("owned:")
        .owners(Owners::new())
        .build()
        .unwrap();
    let levels: &[usize] = if smoke { &[1] } else { &[1, 16] };
    let rounds = if smoke { 1 } else { ROUNDS };
    println!(
        "\n| tasks | owner index: contender | pairs/s | p50 µs | p99 µs | client CPU µs/pair |\n|---:|---|---:|---:|---:|---:|"
    );
    let mut ratios = Vec::new();
    for &tasks in levels {
        let owned_session = |t: usize| {
            let mut session = Session::new(session());
            session.bind_owner(Owner::new(format!("user-{t}")).unwrap());
            session
        };
        let plain_ids: Arc<Vec<SessionId>> =
            Arc::new((0..tasks).map(|_| SessionId::generate().unwrap()).collect());
        let owned_ids: Arc<Vec<SessionId>> =
            Arc::new((0..tasks).map(|_| SessionId::generate().unwrap()).collect());
        for (t, id) in plain_ids.iter().enumerate() {
            let _ = t;
            store
                .create(id, &mut Session::new(session()))
                .await
                .unwrap();
        }
        for (t, id) in owned_ids.iter().enumerate() {
            store.create(id, &mut owned_session(t)).await.unwrap();
        }
        let load_save = |ids: Arc<Vec<SessionId>>| {
            let store = store.clone();
            Arc::new(move |t: usize| {
                let (store, ids) = (store.clone(), Arc::clone(&ids));
                async move {
                    let mut s = store.load(&ids[t]).await.unwrap().unwrap();
                    s.data.user_id += 1;
                    store.save(&ids[t], &mut s).await.unwrap();
                }
            })
        };
        let create_destroy = |owned: bool| {
            let store = store.clone();
            Arc::new(move |t: usize| {
                let store = store.clone();
                async move {
                    let id = SessionId::generate().unwrap();
                    let mut s = Session::new(session());
                    if owned {
                        s.bind_owner(Owner::new(format!("user-{t}")).unwrap());
                    }
                    store.create(&id, &mut s).await.unwrap();
                    assert!(store.destroy(&id).await.unwrap());
                }
            })
        };
        let contenders = [
            ("load + save, no owner", load_save(Arc::clone(&plain_ids))),
            ("load + save, owned", load_save(Arc::clone(&owned_ids))),
        ];
        let (plain, owned) = (create_destroy(false), create_destroy(true));
        let mut results: Vec<(&str, Vec<Round>)> = contenders
            .iter()
            .map(|(name, _)| (*name, Vec::new()))
            .chain([
                ("create + destroy, no owner", Vec::new()),
                ("create + destroy, owned", Vec::new()),
            ])
            .collect();
        for _ in 0..rounds {
            for (i, (_, pair)) in contenders.iter().enumerate() {
                results[i].1.push(run_round(tasks, Arc::clone(pair)).await);
            }
            results[2]
                .1
                .push(run_round(tasks, Arc::clone(&plain)).await);
            results[3]
                .1
                .push(run_round(tasks, Arc::clone(&owned)).await);
        }
        let summaries: Vec<Summary> = results.iter().map(|(_, r)| summarize(r)).collect();
        for ((name, _), s) in results.iter().zip(&summaries) {
            println!(
                "| {tasks} | {name} | {:.0} | {} | {} | {:.1} |",
                s.ops_per_s, s.p50_us, s.p99_us, s.cpu_per_pair_us
            );
        }
        ratios.push((tasks, summaries));
    }
    println!(
        "\n| tasks | owned / no owner, load + save pairs/s | CPU µs added | owned / no owner, create + destroy pairs/s | CPU µs added |\n|---:|---:|---:|---:|---:|"
    );
    for (tasks, s) in ratios {
        println!(
            "| {tasks} | {:.1} % | {:.1} | {:.1} % | {:.1} |",
            s[1].ops_per_s / s[0].ops_per_s * 100.0,
            s[1].cpu_per_pair_us - s[0].cpu_per_pair_us,
            s[3].ops_per_s / s[2].ops_per_s * 100.0,
            s[3].cpu_per_pair_us - s[2].cpu_per_pair_us,
        );
    }

    // Listing an owner with 100 sessions: time and commands per listing.
    let owner = Owner::new("user-with-100-sessions").unwrap();
    for _ in 0..100 {
        let mut s = Session::new(session());
        s.bind_owner(owner.clone());
        store
            .create(&SessionId::generate().unwrap(), &mut s)
            .await
            .unwrap();
    }
    let names = ["evalsha", "eval", "getrange"];
    // Once first, so the server has the index script cached, as it has in steady state.
    assert_eq!(store.sessions_of(&owner).await.unwrap().len(), 100);
    let before = command_calls(manager, &names).await;
    assert_eq!(store.sessions_of(&owner).await.unwrap().len(), 100);
    let after = command_calls(manager, &names).await;
    let delta: Vec<u64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    let listings = if smoke { 5 } else { 200 };
    let cpu_before = cpu_time();
    let started = Instant::now();
    for _ in 0..listings {
        assert_eq!(store.sessions_of(&owner).await.unwrap().len(), 100);
    }
    let elapsed = started.elapsed() / listings;
    let cpu = (cpu_time() - cpu_before) / listings;
    println!(
        "\nlisting an owner with 100 sessions: {:.0} µs per listing, client CPU {:.0} µs; \
         commands sent per listing: {} EVALSHA and {} EVAL (the index read) and {} GETRANGE \
         (one pipeline)",
        elapsed.as_secs_f64() * 1e6,
        cpu.as_secs_f64() * 1e6,
        delta[0],
        delta[1],
        delta[2],
    );
}

async fn optimistic(manager: &ConnectionManager, smoke: bool) {
    use std::sync::atomic::{AtomicU64, Ordering};
    let backend = RedisBackend::from_connection_manager(manager.clone(), Duration::from_secs(1));
    let keyring = Keyring::single(1, Suite::Aes256Gcm, KeyMaterial::generate().unwrap()).unwrap();
    let store: Store<WebSession, RedisBackend> = Store::builder(backend)
        .keyring(keyring)
        .prefix("optimistic:")
        .build()
        .unwrap();
    let levels: &[usize] = if smoke { &[1] } else { &[1, 16, 64] };
    let rounds = if smoke { 1 } else { ROUNDS };
    println!(
        "\n| tasks | save: contender | pairs/s | p50 µs | p99 µs | client CPU µs/pair |\n|---:|---|---:|---:|---:|---:|"
    );
    let mut ratios = Vec::new();
    for &tasks in levels {
        let ids: Arc<Vec<SessionId>> =
            Arc::new((0..tasks).map(|_| SessionId::generate().unwrap()).collect());
        for id in ids.iter() {
            store
                .create(id, &mut Session::new(session()))
                .await
                .unwrap();
        }
        let pair = |optimistic: bool| {
            let (store, ids) = (store.clone(), Arc::clone(&ids));
            Arc::new(move |t: usize| {
                let (store, ids) = (store.clone(), Arc::clone(&ids));
                async move {
                    let mut s = store.load(&ids[t]).await.unwrap().unwrap();
                    s.data.user_id += 1;
                    if optimistic {
                        store.save_if_unchanged(&ids[t], &mut s).await.unwrap();
                    } else {
                        store.save(&ids[t], &mut s).await.unwrap();
                    }
                }
            })
        };
        let (plain, optimistic) = (pair(false), pair(true));
        let (mut plain_rounds, mut optimistic_rounds) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            plain_rounds.push(run_round(tasks, Arc::clone(&plain)).await);
            optimistic_rounds.push(run_round(tasks, Arc::clone(&optimistic)).await);
        }
        let (p, o) = (summarize(&plain_rounds), summarize(&optimistic_rounds));
        for (name, s) in [("load + plain save", p), ("load + optimistic save", o)] {
            println!(
                "| {tasks} | {name} | {:.0} | {} | {} | {:.1} |",
                s.ops_per_s, s.p50_us, s.p99_us, s.cpu_per_pair_us
            );
        }
        ratios.push((
            tasks,
            o.ops_per_s / p.ops_per_s,
            o.cpu_per_pair_us - p.cpu_per_pair_us,
        ));
    }
    println!(
        "\n| tasks | optimistic / plain pairs per second | client CPU added per pair |\n|---:|---:|---:|"
    );
    for (tasks, ratio, cpu) in ratios {
        println!("| {tasks} | {:.1} % | {cpu:.1} µs |", ratio * 100.0);
    }

    // One hot session, 32 tasks: `update` against plain load + save pairs.
    let tasks = if smoke { 4 } else { 32 };
    let hot = Arc::new(SessionId::generate().unwrap());
    let mut initial = session();
    initial.user_id = 0;
    store
        .create(&hot, &mut Session::new(initial))
        .await
        .unwrap();
    let conflicts = Arc::new(AtomicU64::new(0));
    let update = {
        let (store, hot, conflicts) = (store.clone(), Arc::clone(&hot), Arc::clone(&conflicts));
        Arc::new(move |_: usize| {
            let (store, hot, conflicts) = (store.clone(), Arc::clone(&hot), Arc::clone(&conflicts));
            async move {
                match store.update(&hot, |s| s.user_id += 1).await {
                    Ok(Some(_)) => {}
                    Err(sealed_session::Error::Conflict) => {
                        conflicts.fetch_add(1, Ordering::Relaxed);
                    }
                    other => panic!("update failed: {:?}", other.map(|_| ())),
                }
            }
        })
    };
    let plain = {
        let (store, hot) = (store.clone(), Arc::clone(&hot));
        Arc::new(move |_: usize| {
            let (store, hot) = (store.clone(), Arc::clone(&hot));
            async move {
                let mut s = store.load(&hot).await.unwrap().unwrap();
                s.data.user_id += 1;
                store.save(&hot, &mut s).await.unwrap();
            }
        })
    };
    println!(
        "\n| {tasks} tasks, one session | calls/s | p50 µs | p99 µs | client CPU µs/call | attempts per call | increments kept |\n|---|---:|---:|---:|---:|---:|---:|"
    );
    let counter = |store: Store<WebSession, RedisBackend>, hot: Arc<SessionId>| async move {
        store.load(&hot).await.unwrap().unwrap().data.user_id
    };
    let names = ["evalsha", "eval"];
    let (mut update_rounds, mut plain_rounds) = (Vec::new(), Vec::new());
    let (mut update_kept, mut update_calls, mut attempts) = (0u64, 0u64, 0u64);
    let (mut plain_kept, mut plain_calls) = (0u64, 0u64);
    for _ in 0..rounds {
        let start = counter(store.clone(), Arc::clone(&hot)).await;
        let before = command_calls(manager, &names).await;
        let round = run_round(tasks, Arc::clone(&update)).await;
        let after = command_calls(manager, &names).await;
        update_kept += counter(store.clone(), Arc::clone(&hot)).await - start;
        update_calls += round.pairs;
        attempts += (after[0] - before[0]) + (after[1] - before[1]);
        update_rounds.push(round);
        let start = counter(store.clone(), Arc::clone(&hot)).await;
        let round = run_round(tasks, Arc::clone(&plain)).await;
        plain_kept += counter(store.clone(), Arc::clone(&hot)).await - start;
        plain_calls += round.pairs;
        plain_rounds.push(round);
    }
    let given_up = conflicts.load(Ordering::Relaxed);
    let (u, p) = (summarize(&update_rounds), summarize(&plain_rounds));
    println!(
        "| update (optimistic, retried) | {:.0} | {} | {} | {:.1} | {:.2} | {update_kept} of {} ({given_up} gave up after {} attempts) |",
        u.ops_per_s,
        u.p50_us,
        u.p99_us,
        u.cpu_per_pair_us,
        attempts as f64 / update_calls as f64,
        update_calls - given_up,
        sealed_session::Retries::default().attempts(),
    );
    println!(
        "| load + plain save | {:.0} | {} | {} | {:.1} | 1.00 | {plain_kept} of {plain_calls} |",
        p.ops_per_s, p.p50_us, p.p99_us, p.cpu_per_pair_us
    );
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --benches` passes nothing: run a short smoke.
    let smoke = !std::env::args().any(|a| a == "--bench");
    // BENCH_RUNTIME=current runs everything on one thread (no task migration between
    // workers); the default is a 2-worker multi-thread runtime, as a web service would use.
    let runtime = if std::env::var("BENCH_RUNTIME").as_deref() == Ok("current") {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    };
    let server = redis_support::RedisServer::start();
    runtime.block_on(async {
        let manager = ConnectionManager::new(redis::Client::open(server.url()).unwrap())
            .await
            .unwrap();
        let backend = RedisBackend::from_connection_manager(manager.clone(), Duration::from_secs(1));
        let keyring =
            Keyring::single(1, Suite::Aes256Gcm, KeyMaterial::generate().unwrap()).unwrap();
        let store: Store<WebSession, RedisBackend> =
            Store::builder(backend).keyring(keyring).build().unwrap();

        let mut encoded = Vec::new();
        sealed_session::Codec::<WebSession>::encode(&sealed_session::Bincode, &session(), &mut encoded)
            .unwrap();
        let value = vec![0xA5u8; 1024];
        println!(
            "session: {} bytes encoded, {} bytes sealed; raw value: {} bytes",
            encoded.len(),
            encoded.len() + 95,
            value.len()
        );

        let levels: &[usize] = if smoke { &[1] } else { &[1, 16, 64] };
        let rounds = if smoke { 1 } else { ROUNDS };
        println!(
            "\n| tasks | contender | pairs/s | p50 µs | p99 µs | client CPU µs/pair |\n|---:|---|---:|---:|---:|---:|"
        );
        let mut ratios = Vec::new();
        for &tasks in levels {
            // One session id and one raw key per task, saved once before timing.
            let ids: Arc<Vec<SessionId>> =
                Arc::new((0..tasks).map(|_| SessionId::generate().unwrap()).collect());
            for id in ids.iter() {
                store.create(id, &mut Session::new(session())).await.unwrap();
            }
            let raw = {
                let manager = manager.clone();
                let value = value.clone();
                Arc::new(move |t: usize| {
                    let mut conn = manager.clone();
                    let value = value.clone();
                    async move {
                        let key = format!("raw:{t}");
                        let _: () = conn.set_ex(&key, value, 86_400).await.unwrap();
                        let got: Vec<u8> = conn.get(&key).await.unwrap();
                        assert_eq!(got.len(), 1024);
                    }
                })
            };
            let ours = {
                let store = store.clone();
                let ids = Arc::clone(&ids);
                Arc::new(move |t: usize| {
                    let store = store.clone();
                    let ids = Arc::clone(&ids);
                    async move {
                        let id = &ids[t];
                        let mut s = store.load(id).await.unwrap().unwrap();
                        s.data.user_id += 1;
                        store.save(id, &mut s).await.unwrap();
                    }
                })
            };
            let (mut raw_rounds, mut our_rounds) = (Vec::new(), Vec::new());
            for _ in 0..rounds {
                raw_rounds.push(run_round(tasks, Arc::clone(&raw)).await);
                our_rounds.push(run_round(tasks, Arc::clone(&ours)).await);
            }
            let (r, o) = (summarize(&raw_rounds), summarize(&our_rounds));
            for (name, s) in [("raw SET EX + GET", r), ("sealed-session load + save", o)] {
                println!(
                    "| {tasks} | {name} | {:.0} | {} | {} | {:.1} |",
                    s.ops_per_s, s.p50_us, s.p99_us, s.cpu_per_pair_us
                );
            }
            ratios.push((tasks, o.ops_per_s / r.ops_per_s, o.cpu_per_pair_us - r.cpu_per_pair_us));
        }
        if !smoke {
            layers(&manager, &store).await;
        }
        owner_index(&manager, smoke).await;
        optimistic(&manager, smoke).await;
        println!("\n| tasks | store / raw pairs per second | added client CPU per pair |\n|---:|---:|---:|");
        for (tasks, ratio, cpu) in ratios {
            println!("| {tasks} | {:.1} % | {cpu:.1} µs |", ratio * 100.0);
        }
    });
}
