//! From Express to Rust with the real packages: a small Express app (`tests/express/`,
//! express 5, express-session, connect-redis 11 and connect-redis-crypto 4.0.5, installed by
//! `npm ci` in the test command) logs users in and writes its records into a real
//! `redis-server`; the Rust side, given the same cookies and secrets, reads exactly the same
//! sessions, and the users stay logged in through the axum demo's migration layer.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Map, Value};

use sealed_session::integrations::tower_sessions::{ExpressMigrationLayer, TowerSessionStore};
use sealed_session::migrate::{
    ConnectRedis, ConnectRedisCrypto, ExpressCookies, LegacyFormat, LegacySession, LegacySid,
    LegacySource,
};
use sealed_session::{
    Backend, Error, Fetched, KeyMaterial, Keyring, LegacyError, RedisBackend, SetMode, Suite,
};

use crate::support::http::{RawReply, raw_request};
use crate::support::redis::RedisServer;
use crate::tower_store::app;

const SECRETS: [&str; 2] = ["the cookie secret", "the retired cookie secret"];
const CRYPTO_SECRET: &str = "the store secret";

/// The Express fixture app, killed on drop.
struct ExpressApp {
    child: Child,
    addr: SocketAddr,
}

impl ExpressApp {
    /// Starts `tests/express/app.js` for `store` on `redis`, signing with `secrets[0]`.
    fn start(redis: &RedisServer, store: &str, secrets: &[&str], max_age: Option<&str>) -> Self {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/express");
        assert!(
            dir.join("node_modules/connect-redis-crypto").is_dir(),
            "the Express fixture's packages are missing: run `npm ci` in tests/express \
             (scripts/test.sh does)"
        );
        let mut command = Command::new("node");
        command
            .arg("app.js")
            .current_dir(&dir)
            .env("REDIS_URL", redis.url())
            .env("STORE", store)
            .env("SECRETS", serde_json::to_string(secrets).unwrap())
            .env("CRYPTO_SECRET", CRYPTO_SECRET)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(max_age) = max_age {
            command.env("MAX_AGE_MS", max_age);
        }
        let mut child = command.spawn().expect("node is installed");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port: u16 = line
            .strip_prefix("listening ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("the Express app did not start: {line:?}"));
        ExpressApp {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }

    /// Logs `name` in; returns the cookie value express-session set (percent-encoded).
    async fn login(&self, name: &str) -> String {
        let reply = raw_request(self.addr, "POST", &format!("/login?name={name}"), None).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        reply
            .cookie("connect.sid")
            .expect("a session cookie")
            .to_owned()
    }

    async fn send(&self, method: &str, path: &str, cookie: &str) -> RawReply {
        raw_request(
            self.addr,
            method,
            path,
            Some(&format!("connect.sid={cookie}")),
        )
        .await
    }

    /// The session as Express sees it (`GET /whoami`).
    async fn whoami(&self, cookie: &str) -> Value {
        let reply = self.send("GET", "/whoami", cookie).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        serde_json::from_str(&reply.body).unwrap()
    }
}

impl Drop for ExpressApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn percent(name: &str) -> String {
    name.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn cookies() -> ExpressCookies {
    ExpressCookies::new(SECRETS).unwrap()
}

/// The axum demo with the migration layer in front, on `redis`, reading `source`.
async fn serve_demo(
    redis: RedisBackend,
    source: LegacySource<RedisBackend>,
) -> (
    SocketAddr,
    ExpressMigrationLayer<RedisBackend, RedisBackend>,
) {
    let keyring = Keyring::single(1, Suite::Aes256Gcm, KeyMaterial::generate().unwrap()).unwrap();
    let store = TowerSessionStore::new(
        TowerSessionStore::builder(redis)
            .prefix("demo:sess:")
            .keyring(keyring)
            .build()
            .unwrap(),
    )
    .unwrap();
    let migration = ExpressMigrationLayer::new(&store, source, cookies()).with_secure(false);
    let router = app::app_with_sessions(store).layer(migration.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (addr, migration)
}

/// The whole way for one store: Express writes, Rust reads the same, users move over HTTP.
async fn users_move_from_express_to_axum(
    store: &str,
    format: impl LegacyFormat + Clone,
    max_age: Option<&str>,
) {
    let redis = RedisServer::start();
    let express = ExpressApp::start(&redis, store, &SECRETS, max_age);
    // Three users; one counts twice more; one was logged in when the secret in use was
    // the one now retired.
    let alice = express.login("alice").await;
    for _ in 0..2 {
        assert_eq!(express.send("POST", "/count", &alice).await.status, 200);
    }
    let zoe = express.login(&percent("Zoë 🦀")).await;
    let retired = {
        let old = ExpressApp::start(&redis, store, &SECRETS[1..], max_age);
        old.login("bob").await
    };
    let users = [
        (&alice, "alice", 3),
        (&zoe, "Zoë 🦀", 1),
        (&retired, "bob", 1),
    ];
    let mut seen = Vec::new();
    for (cookie, _, _) in users {
        seen.push(express.whoami(cookie).await);
    }

    // The Rust side reads exactly what Express serves.
    let backend = RedisBackend::connect(&redis.url()).await.unwrap();
    let source = LegacySource::new(backend.clone(), format.clone());
    for ((cookie, name, counter), whoami) in users.iter().zip(&seen) {
        let sid = cookies().verify(cookie).unwrap();
        let read = source.read(&sid).await.unwrap().expect("a record");
        assert_eq!(read, LegacySession::from_value(whoami.clone()).unwrap());
        assert_eq!(read.data()["name"], *name);
        assert_eq!(read.data()["counter"], *counter);
        assert_eq!(
            read.data()["greeting"],
            "Grüße, 世界 🦀 \"quoted\" \\ back\nslash"
        );
        assert_eq!(read.data()["profile"]["address"]["city"], "Zürich");
        match max_age {
            Some("session") => assert_eq!(read.expires_at(), None),
            _ => assert!(read.expires_at().is_some()),
        }
    }
    // Only the verifier with the retired secret in its list accepts the last cookie.
    assert!(
        ExpressCookies::new([SECRETS[0]])
            .unwrap()
            .verify(&retired)
            .is_err()
    );
    assert_eq!(
        ExpressCookies::new(["an unknown secret"])
            .unwrap()
            .verify(&alice),
        Err(LegacyError::BadSignature)
    );

    // Through the axum demo: the legacy cookie is accepted once, replaced, and the user
    // is logged in with everything Express had.
    let (addr, migration) =
        serve_demo(backend.clone(), LegacySource::new(backend.clone(), format)).await;
    for (i, ((cookie, name, counter), whoami)) in users.iter().zip(&seen).enumerate() {
        // The first user also sends a tower-sessions cookie that names no session (expired,
        // or another application's): it does not hide the legacy one.
        let header = if i == 0 {
            format!("id=AAAAAAAAAAAAAAAAAAAAAA; connect.sid={cookie}")
        } else {
            format!("connect.sid={cookie}")
        };
        let first = raw_request(addr, "GET", "/entry/name", Some(&header)).await;
        assert_eq!(first.status, 200, "{}", first.body);
        assert_eq!(serde_json::from_str::<Value>(&first.body).unwrap(), *name);
        let id = first.cookie("id").expect("the new cookie").to_owned();
        assert_ne!(id, "AAAAAAAAAAAAAAAAAAAAAA");
        let set = first
            .set_cookies
            .iter()
            .find(|c| c.starts_with("id="))
            .unwrap();
        // A browser-session legacy cookie stays one; otherwise the cookie lasts as long as
        // the migrated session.
        assert_eq!(
            set.contains("Max-Age="),
            max_age != Some("session"),
            "{set}"
        );
        let expired = first
            .set_cookies
            .iter()
            .find(|c| c.starts_with("connect.sid=;"))
            .expect("the legacy cookie expired");
        assert!(expired.contains("Max-Age=0"), "{expired}");
        let sid = cookies().verify(cookie).unwrap();
        assert_eq!(
            backend.get(&source.key(&sid), 1 << 20).await.unwrap(),
            Fetched::Missing
        );
        // From now on only the new cookie.
        let new_cookie = format!("id={id}");
        for entry in ["profile", "greeting"] {
            let path = format!("/entry/{entry}");
            let reply = raw_request(addr, "GET", &path, Some(&new_cookie)).await;
            assert_eq!(
                serde_json::from_str::<Value>(&reply.body).unwrap(),
                whoami[entry]
            );
        }
        // The demo's visit counter is the same `counter` entry Express kept.
        let counted = raw_request(addr, "GET", "/count", Some(&new_cookie)).await;
        assert_eq!(counted.body, (counter + 1).to_string());
        let cookie_member = raw_request(addr, "GET", "/entry/cookie", Some(&new_cookie)).await;
        assert_eq!(
            cookie_member.status, 404,
            "the legacy cookie member is not data"
        );
        // The legacy cookie is spent: Express no longer finds the session either.
        assert_eq!(express.send("GET", "/whoami", cookie).await.status, 401);
    }
    assert_eq!(migration.migrator().stats().migrated, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_move_from_connect_redis_to_axum_logged_in() {
    users_move_from_express_to_axum("connect-redis", ConnectRedis, None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_move_from_connect_redis_crypto_to_axum_logged_in() {
    let format = ConnectRedisCrypto::new(CRYPTO_SECRET).unwrap();
    users_move_from_express_to_axum("connect-redis-crypto", format, Some("session")).await;
}

/// Concurrent requests with one legacy cookie, through the layer: one session, one cookie.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_with_one_express_cookie_get_one_new_cookie() {
    let redis = RedisServer::start();
    let express = ExpressApp::start(&redis, "connect-redis-crypto", &SECRETS, None);
    let cookie = express.login("carol").await;
    let backend = RedisBackend::connect(&redis.url()).await.unwrap();
    let source = LegacySource::new(
        backend.clone(),
        ConnectRedisCrypto::new(CRYPTO_SECRET).unwrap(),
    );
    let (addr, migration) = serve_demo(backend.clone(), source).await;
    let header = format!("connect.sid={cookie}");
    let replies = futures_join(
        (0..6)
            .map(|_| {
                let header = header.clone();
                tokio::spawn(
                    async move { raw_request(addr, "GET", "/entry/name", Some(&header)).await },
                )
            })
            .collect(),
    )
    .await;
    let mut ids: Vec<String> = replies
        .iter()
        .map(|r| {
            assert_eq!(r.status, 200, "{}", r.body);
            r.cookie("id").expect("a new cookie").to_owned()
        })
        .collect();
    ids.dedup();
    assert_eq!(ids.len(), 1, "every request got the same new session");
    let stats = migration.migrator().stats();
    assert_eq!((stats.migrated, stats.followed), (1, 5));
    let mut cursor = sealed_session::ScanCursor::start();
    let mut sessions = 0;
    loop {
        let page = backend.scan("demo:sess:", cursor, 100).await.unwrap();
        sessions += page
            .keys
            .iter()
            .filter(|k| k.len() == "demo:sess:".len() + 64)
            .count();
        match page.next {
            Some(next) => cursor = next,
            None => break,
        }
    }
    assert_eq!(sessions, 1, "no second live copy");
}

async fn futures_join(tasks: Vec<tokio::task::JoinHandle<RawReply>>) -> Vec<RawReply> {
    let mut out = Vec::new();
    for task in tasks {
        out.push(task.await.unwrap());
    }
    out
}

/// Records written by connect-redis-crypto, each changed in one byte of one member, are
/// refused and left in place; a cookie whose record was refused keeps its cookie.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_written_records_changed_in_one_byte_are_refused() {
    let redis = RedisServer::start();
    let express = ExpressApp::start(&redis, "connect-redis-crypto", &SECRETS, None);
    let backend = RedisBackend::connect(&redis.url()).await.unwrap();
    let format = ConnectRedisCrypto::new(CRYPTO_SECRET).unwrap();
    let source = LegacySource::new(backend.clone(), format.clone());
    let (addr, migration) = serve_demo(
        backend.clone(),
        LegacySource::new(backend.clone(), format.clone()),
    )
    .await;
    let mut refused = 0;
    for (member, refusal) in [
        ("ct", LegacyError::Tampered),
        ("hmac", LegacyError::Tampered),
        ("iv", LegacyError::Undecryptable),
        ("at", LegacyError::Undecryptable),
    ] {
        let cookie = express.login(member).await;
        let sid = cookies().verify(&cookie).unwrap();
        let key = source.key(&sid);
        let Fetched::Value(raw) = backend.get(&key, 1 << 20).await.unwrap() else {
            panic!("no record")
        };
        let mut record: Map<String, Value> = serde_json::from_slice(&raw).unwrap();
        match record.get_mut(member).unwrap() {
            Value::String(s) => {
                let mut chars: Vec<char> = s.chars().collect();
                let c = u32::from(chars[7]) ^ 0x01;
                chars[7] = char::from_u32(c).unwrap();
                *s = chars.into_iter().collect();
            }
            Value::Object(buffer) => {
                let data = buffer.get_mut("data").unwrap().as_array_mut().unwrap();
                data[7] = Value::from(data[7].as_u64().unwrap() ^ 0x01);
            }
            other => panic!("{member}: {other}"),
        }
        let tampered = serde_json::to_vec(&record).unwrap();
        backend
            .set(&key, &tampered, None, SetMode::Upsert)
            .await
            .unwrap();
        assert_eq!(
            source.read(&sid).await.unwrap_err().to_string(),
            Error::Legacy(refusal).to_string()
        );
        // Through the layer: no session, the legacy cookie kept, the record left as it was.
        let reply = raw_request(
            addr,
            "GET",
            "/entry/name",
            Some(&format!("connect.sid={cookie}")),
        )
        .await;
        assert_eq!(reply.status, 404, "{member}");
        assert!(
            reply.cookie("connect.sid").is_none(),
            "{member}: legacy cookie kept"
        );
        assert_eq!(
            backend.get(&key, 1 << 20).await.unwrap(),
            Fetched::Value(tampered)
        );
        refused += 1;
    }
    assert_eq!(migration.migrator().stats().refused, refused);
}

/// A record moved under another user's id: neither legacy format binds a record to its id,
/// so both accept it (the legacy stores' own weakness, documented in docs/MIGRATION.md);
/// once migrated, a session cannot be moved that way (its envelope is bound to its key).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_swapped_under_another_id_is_the_legacy_stores_weakness() {
    let redis = RedisServer::start();
    let express = ExpressApp::start(&redis, "connect-redis-crypto", &SECRETS, None);
    let mallory = express.login("mallory").await;
    let victim = express.login("victim").await;
    let backend = RedisBackend::connect(&redis.url()).await.unwrap();
    let source = LegacySource::new(
        backend.clone(),
        ConnectRedisCrypto::new(CRYPTO_SECRET).unwrap(),
    );
    let (m, v) = (
        cookies().verify(&mallory).unwrap(),
        cookies().verify(&victim).unwrap(),
    );
    let Fetched::Value(victims) = backend.get(&source.key(&v), 1 << 20).await.unwrap() else {
        panic!()
    };
    backend
        .set(&source.key(&m), &victims, None, SetMode::Upsert)
        .await
        .unwrap();
    let read = source.read(&m).await.unwrap().unwrap();
    assert_eq!(
        read.data()["name"],
        "victim",
        "connect-redis-crypto cannot tell"
    );
}

/// Oversized and malformed records of both kinds get a typed refusal.
#[tokio::test]
async fn oversized_and_malformed_records_get_a_typed_refusal() {
    let redis = RedisServer::start();
    let backend = RedisBackend::connect(&redis.url()).await.unwrap();
    let crypto = ConnectRedisCrypto::new(CRYPTO_SECRET).unwrap();
    let sid = LegacySid::from_stored("x");
    for (record, plain, encrypted) in [
        (
            vec![b' '; 2048],
            LegacyError::RecordTooLarge,
            LegacyError::RecordTooLarge,
        ),
        (
            b"{\"cookie\":".to_vec(),
            LegacyError::MalformedRecord { part: "json" },
            LegacyError::MalformedRecord { part: "json" },
        ),
        (
            b"{\"cookie\":{\"expires\":\"tomorrow\"}}".to_vec(),
            LegacyError::MalformedRecord {
                part: "cookie.expires",
            },
            LegacyError::MalformedRecord { part: "ct" },
        ),
    ] {
        backend
            .set("sess:x", &record, None, SetMode::Upsert)
            .await
            .unwrap();
        let source = LegacySource::new(backend.clone(), ConnectRedis).max_record_len(1024);
        assert_eq!(
            source.read(&sid).await.unwrap_err().to_string(),
            Error::Legacy(plain).to_string()
        );
        let source = LegacySource::new(backend.clone(), crypto.clone()).max_record_len(1024);
        assert_eq!(
            source.read(&sid).await.unwrap_err().to_string(),
            Error::Legacy(encrypted).to_string()
        );
    }
    // Something else than a string under the key.
    redis_cli(&redis, &["HSET", "sess:x2", "a", "b"]);
    let source = LegacySource::new(backend.clone(), ConnectRedis);
    assert!(matches!(
        source.read(&LegacySid::from_stored("x2")).await,
        Err(Error::Legacy(LegacyError::MalformedRecord { part: "type" }))
    ));
}

fn redis_cli(redis: &RedisServer, args: &[&str]) {
    let status = Command::new("redis-cli")
        .args(["-p", &redis.port.to_string()])
        .args(args)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    std::thread::sleep(Duration::from_millis(1));
}
