//! sealed-session against the Redis session stores people use today: one run, one
//! `redis-server` (started here on a free loopback port), the same 1 KiB session content
//! (`session.json`), save+load pairs at 1, 16 and 64 concurrent tasks.
//!
//! Run from the repository root: `cargo run --release --manifest-path bench/peers/Cargo.toml`
//! (results in BENCHMARKS.md). `PEERS_ROUNDS`, `PEERS_ROUND_MS` and `PEERS_LEVELS` change the
//! shape; `PEERS_NODE=0` leaves out the Node store (otherwise `node` must be installed);
//! `PEERS_ONLY=a,b` keeps only the contenders whose names contain one of those texts (for
//! profiling one of them; the table then compares against ours only if ours is kept).
//!
//! Each task owns one session, created before timing; a pair is what one request does with
//! it: load, change one field, save. The contenders alternate within every round (raw,
//! ours, tower, actix, ...), so a noisy neighbour hits all of them; each figure is the
//! median over rounds.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../../../tests/it/support/redis.rs"]
#[allow(dead_code)]
mod redis_support;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use redis::aio::ConnectionManager;
use sealed_session::{
    Bincode, Json, KeyMaterial, Keyring, RedisBackend, SaltSource, Session, SessionId, Store,
    Suite,
};
use serde::{Deserialize, Serialize};

const SESSION_JSON: &str = include_str!("../session.json");

/// The session content, typed, for our store (JSON and bincode through serde).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct WebSession {
    user_id: u64,
    email: String,
    roles: Vec<String>,
    csrf_token: String,
    flash: Vec<String>,
    cart: Vec<CartLine>,
    notes: String,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
struct CartLine {
    sku: String,
    title: String,
    qty: u32,
    cents: u64,
}

fn typed() -> WebSession {
    serde_json::from_str(SESSION_JSON).expect("session.json matches WebSession")
}

/// The content as the map tower-sessions keeps (`HashMap<String, serde_json::Value>`).
fn as_values() -> HashMap<String, serde_json::Value> {
    serde_json::from_str(SESSION_JSON).unwrap()
}

/// The content as the map actix-session keeps (each value as JSON text).
fn as_strings() -> HashMap<String, String> {
    as_values()
        .into_iter()
        .map(|(k, v)| (k, v.to_string()))
        .collect()
}

type Pair = Arc<dyn Fn(usize) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

struct Round {
    pairs: u64,
    elapsed: Duration,
    latencies_us: Vec<u32>,
    /// CPU time of this process (all threads) and of `redis-server` during the round.
    client_cpu: Duration,
    server_cpu: Duration,
}

/// User + system CPU time of a process so far, from `/proc/<pid>/stat` (clock ticks,
/// 100 per second on Linux); zero where that file does not exist.
fn cpu_time(pid: &str) -> Duration {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Duration::ZERO;
    };
    // Fields after the command name (which is in parentheses and may hold spaces):
    // state is field 3, utime 14, stime 15.
    let after = &stat[stat.rfind(')').map_or(0, |i| i + 2)..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

async fn run_round(tasks: usize, pair: &Pair, round_time: Duration, server_pid: &str) -> Round {
    let (client_before, server_before) = (cpu_time("self"), cpu_time(server_pid));
    let started = Instant::now();
    let stop = started + round_time;
    let mut handles = Vec::new();
    for t in 0..tasks {
        let pair = Arc::clone(pair);
        handles.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(50_000);
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
    let client_cpu = cpu_time("self").saturating_sub(client_before);
    let server_cpu = cpu_time(server_pid).saturating_sub(server_before);
    latencies_us.sort_unstable();
    Round {
        pairs: latencies_us.len() as u64,
        elapsed,
        latencies_us,
        client_cpu,
        server_cpu,
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Summary {
    pairs_per_s: f64,
    p50_us: f64,
    p99_us: f64,
    /// Spread of the rate over rounds: (max - min) / median.
    spread: f64,
    /// CPU per pair, over all rounds: this process (the store and the tokio runtime) and
    /// `redis-server`.
    client_us: f64,
    server_us: f64,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn summarize(rounds: &[Round]) -> Summary {
    let pct = |r: &Round, p: f64| {
        let n = r.latencies_us.len();
        assert!(n > 0, "a round recorded no pairs");
        f64::from(r.latencies_us[((n as f64 * p) as usize).min(n - 1)])
    };
    let rates: Vec<f64> = rounds
        .iter()
        .map(|r| r.pairs as f64 / r.elapsed.as_secs_f64())
        .collect();
    let mid = median(rates.clone());
    let (lo, hi) = rates
        .iter()
        .fold((f64::MAX, 0f64), |(lo, hi), r| (lo.min(*r), hi.max(*r)));
    Summary {
        pairs_per_s: mid,
        p50_us: median(rounds.iter().map(|r| pct(r, 0.50)).collect()),
        p99_us: median(rounds.iter().map(|r| pct(r, 0.99)).collect()),
        spread: (hi - lo) / mid,
        client_us: per_pair(rounds, |r| r.client_cpu),
        server_us: per_pair(rounds, |r| r.server_cpu),
    }
}

fn per_pair(rounds: &[Round], cpu: impl Fn(&Round) -> Duration) -> f64 {
    let pairs: u64 = rounds.iter().map(|r| r.pairs).sum();
    let total: Duration = rounds.iter().map(cpu).sum();
    total.as_secs_f64() * 1e6 / pairs.max(1) as f64
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A contender: its name and, per concurrency level, the pair to run once the sessions of
/// `tasks` tasks exist.
struct Contender {
    name: &'static str,
    pair: Pair,
}

async fn ours(
    name: &'static str,
    url: &str,
    suite: Suite,
    json: bool,
    salt: SaltSource,
    tasks: usize,
) -> Contender {
    let backend = RedisBackend::connect(url).await.unwrap();
    let keyring = Keyring::single(1, suite, KeyMaterial::generate().unwrap()).unwrap();
    let prefix = match (json, salt) {
        (true, _) => "ours-json:",
        (false, SaltSource::Os) => "ours:",
        (false, _) => "ours-tl:",
    };
    let builder = Store::builder(backend)
        .keyring(keyring)
        .salt_source(salt)
        .prefix(prefix);
    let store: Store<WebSession, RedisBackend> = if json {
        builder.codec(Json).build().unwrap()
    } else {
        builder.codec(Bincode).build().unwrap()
    };
    let ids: Arc<Vec<SessionId>> =
        Arc::new((0..tasks).map(|_| SessionId::generate().unwrap()).collect());
    for id in ids.iter() {
        store.create(id, &mut Session::new(typed())).await.unwrap();
    }
    Contender {
        name,
        pair: Arc::new(move |t| {
            let (store, ids) = (store.clone(), Arc::clone(&ids));
            Box::pin(async move {
                let id = &ids[t];
                let mut s = store.load(id).await.unwrap().expect("session present");
                s.data.user_id += 1;
                store.save(id, &mut s).await.unwrap();
            })
        }),
    }
}

/// Our store with an owner index, each task's session bound to its own user: load + save
/// of a signed-in user's session (the index is not touched when the owner stays the same).
async fn ours_owned(url: &str, tasks: usize) -> Contender {
    use sealed_session::{IndexKeys, Owner, Owners};
    let backend = RedisBackend::connect(url).await.unwrap();
    let keyring = Keyring::builder()
        .primary(1, Suite::Aes256Gcm, KeyMaterial::generate().unwrap())
        .index_keys(IndexKeys::new(1, KeyMaterial::generate().unwrap()))
        .build()
        .unwrap();
    let store: Store<WebSession, RedisBackend> = Store::builder(backend)
        .keyring(keyring)
        .prefix("ours-owned:")
        .owners(Owners::new())
        .codec(Bincode)
        .build()
        .unwrap();
    let ids: Arc<Vec<SessionId>> =
        Arc::new((0..tasks).map(|_| SessionId::generate().unwrap()).collect());
    for (t, id) in ids.iter().enumerate() {
        let mut session = Session::new(typed());
        session.bind_owner(Owner::new(format!("user-{t}")).unwrap());
        store.create(id, &mut session).await.unwrap();
    }
    Contender {
        name: "sealed-session (AES-256-GCM, bincode, owner index)",
        pair: Arc::new(move |t| {
            let (store, ids) = (store.clone(), Arc::clone(&ids));
            Box::pin(async move {
                let id = &ids[t];
                let mut s = store.load(id).await.unwrap().expect("session present");
                s.data.user_id += 1;
                store.save(id, &mut s).await.unwrap();
            })
        }),
    }
}

/// A tower-sessions store as a contender: `tasks` records created, then per pair `load`,
/// one field changed, `save` (the same calls for our adapter and for the peer, whose traits
/// come from two tower-sessions-core versions, hence a macro).
macro_rules! tower_contender {
    ($name:expr, $store:expr, $tasks:expr, $core:ident) => {{
        use $core::SessionStore as _;
        use $core::session::{Id, Record};
        let store = $store;
        let expiry = || time::OffsetDateTime::now_utc() + time::Duration::days(1);
        let mut ids = Vec::new();
        for _ in 0..$tasks {
            let mut record = Record {
                id: Id::default(),
                data: as_values(),
                expiry_date: expiry(),
            };
            store.create(&mut record).await.unwrap();
            ids.push(record.id);
        }
        let ids = Arc::new(ids);
        Contender {
            name: $name,
            pair: Arc::new(move |t| {
                let (store, ids) = (store.clone(), Arc::clone(&ids));
                Box::pin(async move {
                    let mut record = store.load(&ids[t]).await.unwrap().expect("record present");
                    let n = record.data["user_id"].as_u64().unwrap();
                    record.data.insert("user_id".into(), (n + 1).into());
                    record.expiry_date = expiry();
                    store.save(&record).await.unwrap();
                })
            }),
        }
    }};
}

/// An actix-session store as a contender: `tasks` states saved, then per pair `load`, one
/// field changed, `update` (the same calls for our adapter and for the peer; actix's
/// futures are only `Send` for concrete stores, hence a macro rather than a generic).
macro_rules! actix_contender {
    ($name:expr, $store:expr, $tasks:expr) => {{
        use actix_session::storage::{SessionKey, SessionStore as _};
        let store = $store;
        let ttl = time::Duration::days(1);
        let mut keys = Vec::new();
        for _ in 0..$tasks {
            let key = store.save(as_strings(), &ttl).await.unwrap();
            keys.push(key.as_ref().to_owned());
        }
        let keys = Arc::new(keys);
        Contender {
            name: $name,
            pair: Arc::new(move |t| {
                let (store, keys) = (store.clone(), Arc::clone(&keys));
                Box::pin(async move {
                    let key = SessionKey::try_from(keys[t].clone()).unwrap();
                    let mut state = store.load(&key).await.unwrap().expect("state present");
                    let n: u64 = state["user_id"].parse().unwrap();
                    state.insert("user_id".into(), (n + 1).to_string());
                    store.update(key, state, &ttl).await.unwrap();
                })
            }),
        }
    }};
}

fn adapter_keyring() -> Keyring {
    Keyring::single(1, Suite::Aes256Gcm, KeyMaterial::generate().unwrap()).unwrap()
}

/// Our tower-sessions adapter, called exactly as the tower peer is (same trait shape, same
/// record): AES-256-GCM, the adapter's default `RecordBincode` (bincode with each
/// `serde_json::Value` tagged by its kind).
async fn our_tower(url: &str, tasks: usize) -> Contender {
    use sealed_session::integrations::tower_sessions::TowerSessionStore;
    let backend = RedisBackend::connect(url).await.unwrap();
    let store = TowerSessionStore::new(
        TowerSessionStore::builder(backend)
            .keyring(adapter_keyring())
            .prefix("ours-tower:")
            .build()
            .unwrap(),
    )
    .unwrap();
    tower_contender!(
        "sealed-session TowerSessionStore (AES-256-GCM, RecordBincode)",
        store,
        tasks,
        tower_sessions_core
    )
}

/// Our actix-session adapter, called exactly as the actix peer is: AES-256-GCM, bincode of
/// actix's `HashMap<String, String>`.
async fn our_actix(url: &str, tasks: usize) -> Contender {
    use sealed_session::integrations::actix_session::ActixSessionStore;
    let backend = RedisBackend::connect(url).await.unwrap();
    let store = ActixSessionStore::new(
        Store::builder(backend)
            .keyring(adapter_keyring())
            .prefix("ours-actix:")
            .build()
            .unwrap(),
    )
    .unwrap();
    actix_contender!(
        "sealed-session ActixSessionStore (AES-256-GCM, bincode)",
        store,
        tasks
    )
}

async fn raw(manager: &ConnectionManager, tasks: usize) -> Contender {
    let value: Arc<Vec<u8>> = Arc::new(serde_json::to_vec(&as_values()).unwrap());
    assert_eq!(value.len(), SESSION_JSON_COMPACT_LEN);
    let manager = manager.clone();
    for t in 0..tasks {
        let _: () = manager
            .clone()
            .set_ex(format!("raw:{t}"), value.as_slice(), 86_400)
            .await
            .unwrap();
    }
    Contender {
        name: "raw redis GET + SET EX (ceiling)",
        pair: Arc::new(move |t| {
            let (mut conn, value) = (manager.clone(), Arc::clone(&value));
            Box::pin(async move {
                let key = format!("raw:{t}");
                let got: Vec<u8> = conn.get(&key).await.unwrap();
                assert_eq!(got.len(), value.len());
                let _: () = conn.set_ex(&key, value.as_slice(), 86_400).await.unwrap();
            })
        }),
    }
}

/// The compact JSON of session.json, the size every store starts from.
const SESSION_JSON_COMPACT_LEN: usize = 1024;

async fn tower(url: &str, tasks: usize) -> Contender {
    use tower_sessions_redis_store::RedisStore;
    use tower_sessions_redis_store::fred::prelude::{ClientLike as _, Config, Pool};
    let pool = Pool::new(Config::from_url(url).unwrap(), None, None, None, 1).unwrap();
    pool.connect();
    pool.wait_for_connect().await.unwrap();
    tower_contender!(
        "tower-sessions-redis-store 0.16 (fred, MessagePack)",
        RedisStore::new(pool),
        tasks,
        tower_sessions_core_014
    )
}

async fn actix(url: &str, tasks: usize) -> Contender {
    use actix_session::storage::RedisSessionStore;
    actix_contender!(
        "actix-session 0.11 RedisSessionStore (redis-rs, JSON)",
        RedisSessionStore::new(url).await.unwrap(),
        tasks
    )
}

#[derive(Deserialize)]
struct NodeLine {
    tasks: usize,
    pairs_per_s: f64,
    p50_us: f64,
    p99_us: f64,
}

fn node(url: &str, levels: &[usize], rounds: usize, round_ms: u64) -> Vec<NodeLine> {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../connect-redis-crypto/run.sh"
    );
    let levels: Vec<String> = levels.iter().map(ToString::to_string).collect();
    let out = std::process::Command::new("bash")
        .arg(script)
        .env("REDIS_URL", url)
        .env("LEVELS", levels.join(","))
        .env("ROUNDS", rounds.to_string())
        .env("ROUND_MS", round_ms.to_string())
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("bash runs");
    assert!(
        out.status.success(),
        "the connect-redis-crypto benchmark failed (PEERS_NODE=0 leaves it out)"
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line per level"))
        .collect()
}

fn main() {
    let rounds: usize = env_or("PEERS_ROUNDS", 5);
    let round_ms: u64 = env_or("PEERS_ROUND_MS", 1500);
    let levels: Vec<usize> = std::env::var("PEERS_LEVELS")
        .unwrap_or_else(|_| "1,16,64".into())
        .split(',')
        .map(|l| {
            l.trim()
                .parse()
                .expect("PEERS_LEVELS: numbers separated by commas")
        })
        .collect();
    let with_node = std::env::var("PEERS_NODE").as_deref() != Ok("0");
    let only: Vec<String> = std::env::var("PEERS_ONLY")
        .map(|v| v.split(',').map(|s| s.trim().to_owned()).collect())
        .unwrap_or_default();
    let round_time = Duration::from_millis(round_ms);

    let server = redis_support::RedisServer::start();
    let url = server.url();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();

    let mut table: Vec<(usize, &'static str, Summary)> = Vec::new();
    runtime.block_on(async {
        let manager = ConnectionManager::new(redis::Client::open(url.as_str()).unwrap())
            .await
            .unwrap();
        let info: String = redis::cmd("INFO")
            .arg("server")
            .query_async(&mut manager.clone())
            .await
            .unwrap();
        let server_pid = info
            .lines()
            .find_map(|l| l.strip_prefix("process_id:"))
            .expect("INFO server names the process id")
            .trim()
            .to_owned();
        for &tasks in &levels {
            let contenders = vec![
                raw(&manager, tasks).await,
                ours(
                    "sealed-session (AES-256-GCM, bincode)",
                    &url,
                    Suite::Aes256Gcm,
                    false,
                    SaltSource::Os,
                    tasks,
                )
                .await,
                ours(
                    "sealed-session (AES-256-GCM, bincode, thread-local salts)",
                    &url,
                    Suite::Aes256Gcm,
                    false,
                    SaltSource::ThreadLocal,
                    tasks,
                )
                .await,
                ours(
                    "sealed-session (ChaCha20-Poly1305, JSON)",
                    &url,
                    Suite::ChaCha20Poly1305,
                    true,
                    SaltSource::Os,
                    tasks,
                )
                .await,
                ours_owned(&url, tasks).await,
                our_tower(&url, tasks).await,
                tower(&url, tasks).await,
                our_actix(&url, tasks).await,
                actix(&url, tasks).await,
            ];
            let contenders: Vec<Contender> = contenders
                .into_iter()
                .filter(|c| only.is_empty() || only.iter().any(|o| c.name.contains(o.as_str())))
                .collect();
            // One warm-up round each, not counted.
            for c in &contenders {
                run_round(tasks, &c.pair, Duration::from_millis(200), &server_pid).await;
            }
            let mut results: Vec<Vec<Round>> = contenders.iter().map(|_| Vec::new()).collect();
            for _ in 0..rounds {
                for (c, out) in contenders.iter().zip(results.iter_mut()) {
                    out.push(run_round(tasks, &c.pair, round_time, &server_pid).await);
                }
            }
            for (c, rs) in contenders.iter().zip(&results) {
                let s = summarize(rs);
                eprintln!(
                    "{tasks:>3} tasks  {:<55} {:>9.0} pairs/s  cpu/pair: client {:>5.1} µs, server {:>4.1} µs",
                    c.name, s.pairs_per_s, s.client_us, s.server_us
                );
                table.push((tasks, c.name, s));
            }
        }
    });

    let node_results = if with_node {
        node(&url, &levels, rounds, round_ms)
    } else {
        Vec::new()
    };
    for n in node_results {
        table.push((
            n.tasks,
            "connect-redis-crypto 4.0.5 (Node, kruptein)",
            Summary {
                pairs_per_s: n.pairs_per_s,
                p50_us: n.p50_us,
                p99_us: n.p99_us,
                spread: f64::NAN,
                client_us: f64::NAN,
                server_us: f64::NAN,
            },
        ));
    }

    println!(
        "\n| tasks | store | pairs/s | p50 µs | p99 µs | vs. sealed-session (AES, bincode) | rate spread over rounds | client CPU µs/pair | server CPU µs/pair |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|---:|");
    for &tasks in &levels {
        let reference = table
            .iter()
            .find(|(t, name, _)| *t == tasks && name.starts_with("sealed-session (AES"))
            .map_or(f64::NAN, |(_, _, s)| s.pairs_per_s);
        for (_, name, s) in table.iter().filter(|(t, _, _)| *t == tasks) {
            let spread = if s.spread.is_nan() {
                "–".to_owned()
            } else {
                format!("{:.0} %", s.spread * 100.0)
            };
            let cpu = |us: f64| {
                if us.is_nan() {
                    "–".to_owned()
                } else {
                    format!("{us:.1}")
                }
            };
            let ratio = s.pairs_per_s / reference;
            // Small ratios (the Node store) keep two significant digits.
            let ratio = if ratio < 0.1 {
                format!("{ratio:.4}")
            } else {
                format!("{ratio:.2}")
            };
            println!(
                "| {tasks} | {name} | {:.0} | {:.0} | {:.0} | {ratio}× | {spread} | {} | {} |",
                s.pairs_per_s,
                s.p50_us,
                s.p99_us,
                cpu(s.client_us),
                cpu(s.server_us),
            );
        }
    }
    drop(server);
}
