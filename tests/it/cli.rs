//! The `sealed-session` binary, run as an operator would, against real Redis servers.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use sealed_session::{RedisBackend, Session, SessionId, Store, load_keyring};

use crate::support;
use crate::support::WebSession;
use crate::support::redis::{RedisCluster, RedisServer};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sealed-session"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).env_remove("REDIS_URL").output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn expect(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(out),
        stderr(out)
    );
}

fn config(dir: &Path, entries: &[(u32, &str)]) -> PathBuf {
    let mut text = String::new();
    for (id, state) in entries {
        text.push_str(&format!("[[keys]]\nid = {id}\nstate = \"{state}\"\n"));
        if *state != "retired" {
            text.push_str(&format!(
                "suite = \"aes-256-gcm\"\nmaterial = {{ file = \"key-{id}\" }}\n"
            ));
        }
        text.push('\n');
    }
    let path = dir.join("keys.toml");
    support::write_private(&path, text).unwrap();
    path
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(out)))
}

#[test]
fn every_command_has_help() {
    for command in [
        "keygen", "derive", "check", "inspect", "stats", "rewrap", "sessions", "import",
    ] {
        let out = run(&[command, "--help"]);
        expect(&out, 0);
        assert!(stdout(&out).contains("Usage: sealed-session"), "{command}");
    }
    let out = run(&["--help"]);
    expect(&out, 0);
    assert!(stdout(&out).contains("Exit codes"));
    expect(&run(&["frobnicate"]), 2);
}

/// clap prints `[env: NAME=value]` in help by default: with REDIS_URL set, that was the
/// Redis password, in every `--help` of a command that talks to Redis.
#[test]
fn help_never_shows_the_value_of_redis_url() {
    let url = "redis://u:PASSWORD@127.0.0.1:1/";
    let commands = ["keygen", "derive", "check", "inspect", "stats", "rewrap"];
    for args in commands
        .iter()
        .flat_map(|c| [vec![*c, "--help"], vec![*c, "-h"], vec!["help", *c]])
        .chain([
            vec!["--help"],
            vec!["sessions", "list", "--help"],
            vec!["sessions", "revoke", "--help"],
        ])
    {
        let out = bin().args(&args).env("REDIS_URL", url).output().unwrap();
        expect(&out, 0);
        let text = stdout(&out) + &stderr(&out);
        assert!(!text.contains("PASSWORD"), "{args:?}: {text}");
        if ["inspect", "stats", "rewrap"].contains(&args[0]) && args[1] == "--help" {
            assert!(text.contains("[env: REDIS_URL]"), "{args:?}: {text}");
        }
    }
}

/// A password in `--url` on the command line is visible in `ps`: warned about (without
/// repeating it); the same URL from REDIS_URL, or a URL without a password, is not.
#[test]
fn a_password_in_url_on_the_command_line_is_warned_about() {
    let with_password = "redis://u:PASSWORD@127.0.0.1:1/";
    let stats = ["stats", "--timeout-ms", "200"];
    let out = run(&[&stats[..], &["--url", with_password]].concat());
    expect(&out, 1);
    assert!(
        stderr(&out).contains("warning: a password given in --url"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("PASSWORD"), "{}", stderr(&out));

    let out = bin()
        .args(stats)
        .env("REDIS_URL", with_password)
        .output()
        .unwrap();
    expect(&out, 1);
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
    let out = run(&[&stats[..], &["--url", "redis://127.0.0.1:1/"]].concat());
    expect(&out, 1);
    assert!(!stderr(&out).contains("warning"), "{}", stderr(&out));
}

#[test]
fn keygen_writes_a_private_secret_file_and_a_snippet_that_checks() {
    let dir = support::temp_dir("cli");
    let secret = dir.join("key-4");
    let out = run(&[
        "keygen",
        "--id",
        "4",
        "--secret-file",
        secret.to_str().unwrap(),
    ]);
    expect(&out, 0);
    let key = std::fs::read_to_string(&secret).unwrap();
    assert_eq!(key.trim().len(), 44);
    assert!(
        !stdout(&out).contains(key.trim()),
        "the secret stays in its file"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // The snippet is a valid keyring entry once promoted.
    let snippet = stdout(&out).replace("decrypt-only", "primary");
    let path = dir.join("snippet.toml");
    support::write_private(&path, snippet).unwrap();
    assert_eq!(load_keyring(&path).unwrap().primary_id(), 4);
    // Never over an existing file.
    expect(
        &run(&[
            "keygen",
            "--id",
            "4",
            "--secret-file",
            secret.to_str().unwrap(),
        ]),
        1,
    );
    let raw = run(&["keygen", "--id", "5", "--raw"]);
    expect(&raw, 0);
    assert_eq!(stdout(&raw).trim().len(), 44);
    assert_ne!(stdout(&raw).trim(), key.trim());
    expect(&run(&["keygen", "--id", "0"]), 2);
}

#[test]
fn derive_prints_parameters_and_salt_and_refuses_weak_ones() {
    let dir = support::temp_dir("cli");
    let out = bin()
        .args(["derive", "--id", "6", "--passphrase-env", "PASS", "--salt"])
        .arg("c2FsdHNhbHRzYWx0c2FsdA==")
        .arg("--show-key")
        .env("PASS", "correct horse battery staple")
        .output()
        .unwrap();
    expect(&out, 0);
    let text = stdout(&out);
    assert!(
        text.contains("m_cost_kib = 19456, t_cost = 2, p_cost = 1"),
        "{text}"
    );
    assert!(
        text.contains("salt = \"c2FsdHNhbHRzYWx0c2FsdA==\""),
        "{text}"
    );
    assert!(!text.contains("correct horse"));
    // The printed snippet resolves to the printed key.
    let key = text.lines().last().unwrap().trim().to_owned();
    let snippet = text
        .split("\n# derived key")
        .next()
        .unwrap()
        .replace("decrypt-only", "primary");
    let path = dir.join("derived.toml");
    support::write_private(&path, &snippet).unwrap();
    let out = bin()
        .args(["check", path.to_str().unwrap()])
        .env("PASS", "correct horse battery staple")
        .output()
        .unwrap();
    expect(&out, 0);
    assert!(!stdout(&out).contains(&key));
    let weak = bin()
        .args([
            "derive",
            "--id",
            "6",
            "--passphrase-env",
            "PASS",
            "--m-cost-kib",
            "8192",
        ])
        .env("PASS", "x")
        .output()
        .unwrap();
    expect(&weak, 3);
    assert!(
        stderr(&weak).contains("below the minimum"),
        "{}",
        stderr(&weak)
    );
}

#[test]
fn check_lists_keys_without_material_and_names_what_is_wrong() {
    let dir = support::temp_dir("cli");
    let k1 = sealed_session::KeyMaterial::generate().unwrap().to_base64();
    support::write_private(dir.join("key-1"), k1.as_str()).unwrap();
    let path = config(&dir, &[(1, "primary"), (3, "retired")]);
    let out = run(&["check", path.to_str().unwrap()]);
    expect(&out, 0);
    let text = stdout(&out);
    assert!(text.contains("valid, 2 keys, primary key 1"), "{text}");
    assert!(text.contains("retired"), "{text}");
    assert!(!text.contains(k1.as_str()));
    let out = run(&["check", "--json", path.to_str().unwrap()]);
    expect(&out, 0);
    assert_eq!(json(&out)["keys"][0]["material"], "file key-1");

    let path = config(&dir, &[(1, "primary"), (2, "decrypt-only")]);
    let out = run(&["check", path.to_str().unwrap()]);
    expect(&out, 3);
    assert!(
        stderr(&out).contains("key 2: cannot read secret file"),
        "{}",
        stderr(&out)
    );
    expect(&run(&["check", "/nonexistent.toml"]), 3);
}

/// A key file other users can read is refused (exit 3, the fix named); the explicit
/// `--insecure-file-permissions` reads it anyway.
#[test]
fn check_refuses_a_key_file_others_can_read_unless_told_otherwise() {
    let dir = support::temp_dir("cli");
    let k1 = sealed_session::KeyMaterial::generate().unwrap().to_base64();
    let key = dir.join("key-1");
    support::write_private(&key, k1.as_str()).unwrap();
    support::private(&key, 0o644);
    let path = config(&dir, &[(1, "primary")]);
    let out = run(&["check", path.to_str().unwrap()]);
    expect(&out, 3);
    assert!(stderr(&out).contains("mode 0644"), "{}", stderr(&out));
    assert!(stderr(&out).contains("chmod 600"), "{}", stderr(&out));
    assert!(!stderr(&out).contains(k1.as_str()));
    let out = run(&[
        "check",
        "--insecure-file-permissions",
        path.to_str().unwrap(),
    ]);
    expect(&out, 0);
    let out = run(&[
        "--insecure-file-permissions",
        "check",
        path.to_str().unwrap(),
    ]);
    expect(&out, 0);
}

/// Output into a pipe nobody reads (`sealed-session check keys.toml | head -0`): a clean
/// failure with exit code 1 and a message, not a panic (101).
#[test]
fn a_closed_standard_output_is_a_failure_not_a_panic() {
    let dir = support::temp_dir("cli");
    let k1 = sealed_session::KeyMaterial::generate().unwrap().to_base64();
    support::write_private(dir.join("key-1"), k1.as_str()).unwrap();
    let path = config(&dir, &[(1, "primary")]);
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = bin()
        .args(["check", path.to_str().unwrap()])
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot write to standard output"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
}

#[test]
fn inspect_reads_headers_from_stdin() {
    let keyring = sealed_session::Keyring::single(
        9,
        sealed_session::Suite::ChaCha20Poly1305,
        sealed_session::KeyMaterial::generate().unwrap(),
    )
    .unwrap();
    use sealed_session::{CodecId, SealContext, Sealer};
    let sealed = sealed_session::KeyringSealer::new(keyring)
        .seal(
            &SealContext::new(b"sess:x", CodecId::JSON, 1_900_000_000),
            b"{}",
        )
        .unwrap();
    let mut child = bin()
        .args(["inspect", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &sealed).unwrap();
    let out = child.wait_with_output().unwrap();
    expect(&out, 0);
    let v = json(&out);
    assert_eq!(v["suite"], "chacha20-poly1305");
    assert_eq!(v["key_id"], 9);
    assert_eq!(v["codec"], "json");
    assert_eq!(v["expires_at"], 1_900_000_000u64);
    assert_eq!(v["size"], 97);

    let mut child = bin()
        .args(["inspect", "--input", "hex"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"00ff").unwrap();
    let out = child.wait_with_output().unwrap();
    expect(&out, 4);
    assert!(stderr(&out).contains("not an envelope"), "{}", stderr(&out));
}

async fn fill(
    backend: RedisBackend,
    config: &Path,
    n: usize,
) -> (Vec<SessionId>, Store<WebSession, RedisBackend>) {
    let store: Store<WebSession, RedisBackend> = Store::builder(backend)
        .keyring(load_keyring(config).unwrap())
        .build()
        .unwrap();
    (save_sessions(&store, n).await, store)
}

/// `n` new sessions in `store`, user ids 0 to n - 1; their ids.
async fn save_sessions(store: &Store<WebSession, RedisBackend>, n: usize) -> Vec<SessionId> {
    let mut ids = Vec::new();
    for i in 0..n {
        let id = SessionId::generate().unwrap();
        store
            .save(&id, &mut Session::new(WebSession::sample(i as u64)))
            .await
            .unwrap();
        ids.push(id);
    }
    ids
}

/// Sessions stored without an absolute expiry keep none through `rewrap` unless it is told
/// the store's lifetime, and the report says so; told, it gives them `now + lifetime`.
#[tokio::test]
async fn rewrap_gives_sessions_without_expiry_the_lifetime_it_is_told() {
    let server = RedisServer::start();
    let dir = support::temp_dir("cli");
    for id in ["1", "2"] {
        let secret = dir.join(format!("key-{id}"));
        expect(
            &run(&[
                "keygen",
                "--id",
                id,
                "--secret-file",
                secret.to_str().unwrap(),
            ]),
            0,
        );
    }
    let path = config(&dir, &[(1, "primary")]);
    let unlimited: Store<WebSession, RedisBackend> =
        Store::builder(RedisBackend::connect(&server.url()).await.unwrap())
            .keyring(load_keyring(&path).unwrap())
            .no_absolute_lifetime()
            .build()
            .unwrap();
    let ids = save_sessions(&unlimited, 5).await;
    let path = config(&dir, &[(2, "primary"), (1, "decrypt-only")]);
    let url = server.url();
    let rewrap = |extra: &[&str]| {
        let mut args = vec!["rewrap", "--config", path.to_str().unwrap(), "--url", &url];
        args.extend(extra);
        run(&args)
    };
    let out = rewrap(&["--dry-run"]);
    expect(&out, 0);
    assert!(
        stdout(&out).contains("5 to re-seal without an absolute expiry")
            && stdout(&out).contains("--absolute-lifetime"),
        "{}",
        stdout(&out)
    );
    let out = rewrap(&["--absolute-lifetime", "3600", "--json"]);
    expect(&out, 0);
    assert_eq!(
        (
            json(&out)["resealed"].clone(),
            json(&out)["resealed_without_expiry"].clone()
        ),
        (5.into(), 0.into())
    );
    for id in &ids {
        let value = support::raw_get(unlimited.backend(), &unlimited.storage_key(id))
            .await
            .unwrap();
        let header = sealed_session::envelope::Header::parse(&value).unwrap();
        assert_eq!(header.key_id, 2);
        assert_ne!(header.expires_at, 0);
    }
}

/// The rotation procedure through the binary: stats, inspect, a dry run, the re-seal,
/// `--require-none` as the gate before retiring, and retirement.
async fn rotate_through_the_cli(urls: Vec<String>, cluster: bool, backend: RedisBackend) {
    let dir = support::temp_dir("cli");
    for id in ["1", "2"] {
        let secret = dir.join(format!("key-{id}"));
        let out = run(&[
            "keygen",
            "--id",
            id,
            "--secret-file",
            secret.to_str().unwrap(),
        ]);
        expect(&out, 0);
    }
    let path = config(&dir, &[(1, "primary")]);
    let (ids, store) = fill(backend, &path, 1000).await;
    let mut redis: Vec<String> = Vec::new();
    for url in &urls {
        redis.push("--url".into());
        redis.push(url.clone());
    }
    if cluster {
        redis.push("--cluster".into());
    }
    let with = |args: &[&str]| -> Output {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(redis.iter().map(String::as_str));
        run(&all)
    };

    let out = with(&["stats", "--json"]);
    expect(&out, 0);
    assert_eq!(json(&out)["by_key_id"]["1"], 1000);
    expect(&with(&["stats", "--require-none", "1"]), 4);

    let key = store.storage_key(&ids[0]);
    let out = with(&["inspect", "--json", &key]);
    expect(&out, 0);
    assert_eq!(json(&out)["key_id"], 1);
    // The session id from stdin, so it never shows in the process list.
    let mut args = vec!["inspect", "--session-id", "-"];
    args.extend(redis.iter().map(String::as_str));
    let mut child = bin()
        .args(&args)
        .env_remove("REDIS_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        &mut child.stdin.take().unwrap(),
        format!("{}\n", ids[0].as_str()).as_bytes(),
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    expect(&out, 0);
    assert!(stdout(&out).contains("key id      1"), "{}", stdout(&out));
    expect(&with(&["inspect", "sess:nothing-here"]), 4);

    // Promote key 2; a dry run writes nothing.
    let path = config(&dir, &[(2, "primary"), (1, "decrypt-only")]);
    let config_arg = path.to_str().unwrap();
    let out = with(&["rewrap", "--config", config_arg, "--dry-run", "--json"]);
    expect(&out, 0);
    assert_eq!(json(&out)["resealed"], 1000);
    assert_eq!(json(&out)["dry_run"], true);
    let out = with(&["stats", "--json"]);
    assert_eq!(json(&out)["by_key_id"]["1"], 1000);

    let out = with(&["rewrap", "--config", config_arg, "--batch", "300"]);
    expect(&out, 0);
    assert!(stdout(&out).contains("re-sealed: 1000"), "{}", stdout(&out));
    let out = with(&["stats", "--require-none", "1", "--json"]);
    expect(&out, 0);
    assert_eq!(json(&out)["by_key_id"]["2"], 1000);
    assert!(json(&out)["by_key_id"].get("1").is_none());
    let out = with(&["rewrap", "--config", config_arg, "--json"]);
    expect(&out, 0);
    assert_eq!(json(&out)["resealed"], 0);

    // Retire key 1: the sessions load under key 2 alone.
    let path = config(&dir, &[(2, "primary"), (1, "retired")]);
    let reader: Store<WebSession, RedisBackend> = Store::builder(store.backend().clone())
        .keyring(load_keyring(&path).unwrap())
        .build()
        .unwrap();
    for (n, id) in ids.iter().enumerate().step_by(97) {
        assert_eq!(
            reader.load(id).await.unwrap().unwrap().data.user_id,
            n as u64
        );
    }
    // Redis unreachable: exit 1, and the message says why.
    let out = run(&[
        "stats",
        "--url",
        "redis://127.0.0.1:1",
        "--timeout-ms",
        "300",
    ]);
    expect(&out, 1);
    assert!(
        stderr(&out).contains("sealed-session: session backend error: connection failed")
            || stderr(&out).contains("sealed-session: connection failed"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_through_the_cli_on_standalone_redis() {
    let server = RedisServer::start();
    let backend = RedisBackend::connect(&server.url()).await.unwrap();
    rotate_through_the_cli(vec![server.url()], false, backend).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_through_the_cli_on_a_cluster() {
    let cluster = RedisCluster::start();
    let backend = RedisBackend::builder()
        .cluster_nodes(cluster.urls())
        .connect()
        .await
        .unwrap();
    rotate_through_the_cli(cluster.urls(), true, backend).await;
}

/// `sessions list` and `sessions revoke` against a real Redis: what an operator answering
/// "log this account out everywhere" runs. Never prints the user id nor session data.
async fn sessions_through_the_cli(urls: Vec<String>, cluster: bool, backend: RedisBackend) {
    use sealed_session::{Owner, Owners};

    let dir = support::temp_dir("cli");
    let secret = dir.join("key-1");
    expect(
        &run(&[
            "keygen",
            "--id",
            "1",
            "--secret-file",
            secret.to_str().unwrap(),
        ]),
        0,
    );
    let index = dir.join("index-1");
    expect(
        &run(&[
            "keygen",
            "--id",
            "1",
            "--secret-file",
            index.to_str().unwrap(),
        ]),
        0,
    );
    let path = config(&dir, &[(1, "primary")]);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.push_str(
        "[[index_keys]]\nid = 1\nstate = \"primary\"\nmaterial = { file = \"index-1\" }\n",
    );
    support::write_private(&path, text).unwrap();

    let store: Store<WebSession, RedisBackend> = Store::builder(backend)
        .keyring(load_keyring(&path).unwrap())
        .owners(Owners::new())
        .build()
        .unwrap();
    let user = "victim@example.com";
    let mut ids = Vec::new();
    for device in ["laptop", "phone", "tablet"] {
        let id = SessionId::generate().unwrap();
        let mut session = Session::new(WebSession::sample(1));
        session.bind_owner(Owner::new(user).unwrap());
        session.set_label(device);
        store.create(&id, &mut session).await.unwrap();
        ids.push(id);
    }
    let bystander = SessionId::generate().unwrap();
    let mut session = Session::new(WebSession::sample(2));
    session.bind_owner(Owner::new("bystander").unwrap());
    store.create(&bystander, &mut session).await.unwrap();

    let cli = |extra: &[&str]| {
        let mut args: Vec<String> = extra.iter().map(|s| (*s).to_owned()).collect();
        args.extend(["--config".to_owned(), path.to_str().unwrap().to_owned()]);
        for url in &urls {
            args.extend(["--url".to_owned(), url.clone()]);
        }
        if cluster {
            args.push("--cluster".to_owned());
        }
        bin().args(&args).env_remove("REDIS_URL").output().unwrap()
    };
    let out = cli(&["sessions", "list", "--user", user]);
    expect(&out, 0);
    let text = stdout(&out);
    assert!(text.starts_with("3 sessions\n"), "{text}");
    for id in &ids {
        assert!(text.contains(store.storage_id(id).as_str()), "{text}");
    }
    assert!(
        text.contains("laptop") && text.contains("created 20"),
        "{text}"
    );
    assert!(!text.contains(user) && !stderr(&out).contains(user));
    assert!(!text.contains("customer"), "session data printed: {text}");

    // The user id from stdin keeps it out of the process list.
    let mut args: Vec<String> = ["sessions", "list", "--user", "-", "--json"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    args.extend(["--config".to_owned(), path.to_str().unwrap().to_owned()]);
    for url in &urls {
        args.extend(["--url".to_owned(), url.clone()]);
    }
    if cluster {
        args.push("--cluster".to_owned());
    }
    let mut child = bin()
        .args(&args)
        .env_remove("REDIS_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        &mut child.stdin.take().unwrap(),
        format!("{user}\n").as_bytes(),
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    expect(&out, 0);
    assert_eq!(json(&out)["count"], 3);

    // One session, then all but the current one, then the rest.
    let first = store.storage_id(&ids[0]);
    let out = cli(&["sessions", "revoke", "--user", user, "--id", first.as_str()]);
    expect(&out, 0);
    assert!(store.load(&ids[0]).await.unwrap().is_none());
    let out = cli(&[
        "sessions",
        "revoke",
        "--user",
        "bystander",
        "--id",
        store.storage_id(&ids[1]).as_str(),
    ]);
    expect(&out, 1);
    assert!(
        store.load(&ids[1]).await.unwrap().is_some(),
        "another user's session revoked"
    );
    let keep = store.storage_id(&ids[2]);
    let out = cli(&[
        "sessions",
        "revoke",
        "--user",
        user,
        "--except",
        keep.as_str(),
        "--json",
    ]);
    expect(&out, 0);
    assert_eq!(json(&out)["revoked"], 1);
    assert!(store.load(&ids[1]).await.unwrap().is_none());
    assert!(store.load(&ids[2]).await.unwrap().is_some());
    let out = cli(&["sessions", "revoke", "--user", user, "--all"]);
    expect(&out, 0);
    assert!(
        stdout(&out).contains("revoked 1 sessions"),
        "{}",
        stdout(&out)
    );
    for id in &ids {
        assert!(store.load(id).await.unwrap().is_none());
    }
    assert!(store.load(&bystander).await.unwrap().is_some());
    let out = cli(&["sessions", "list", "--user", user]);
    expect(&out, 0);
    assert_eq!(stdout(&out), "0 sessions\n");

    // Usage: one of --all, --except, --id; a storage id in its printed form.
    expect(&cli(&["sessions", "revoke", "--user", user]), 2);
    expect(
        &cli(&["sessions", "revoke", "--user", user, "--id", "XYZ"]),
        2,
    );
    // A keyring without index keys is a configuration error.
    let plain = config(&dir, &[(1, "primary")]);
    let mut args = vec![
        "sessions",
        "list",
        "--user",
        user,
        "--config",
        plain.to_str().unwrap(),
    ];
    for url in &urls {
        args.extend(["--url", url]);
    }
    if cluster {
        args.push("--cluster");
    }
    let out = run(&args);
    expect(&out, 3);
    assert!(stderr(&out).contains("[[index_keys]]"), "{}", stderr(&out));
}

#[tokio::test]
async fn sessions_of_a_user_through_the_cli_on_standalone_redis() {
    let server = RedisServer::start();
    let backend = RedisBackend::connect(&server.url()).await.unwrap();
    sessions_through_the_cli(vec![server.url()], false, backend).await;
}

#[tokio::test]
async fn sessions_of_a_user_through_the_cli_on_a_cluster() {
    let cluster = RedisCluster::start();
    let backend = RedisBackend::builder()
        .cluster_nodes(cluster.urls())
        .connect()
        .await
        .unwrap();
    sessions_through_the_cli(cluster.urls(), true, backend).await;
}

/// The bulk import through the binary: connect-redis-crypto records verified and sealed
/// under the primary key, a refused one counted (exit 4) and left in place, a re-run that
/// changes nothing, and a request afterwards served from what the import sealed.
#[tokio::test]
async fn import_seals_express_sessions_ahead_of_the_switch() {
    use sealed_session::migrate::{
        ConnectRedisCrypto, ExpressCookies, LegacySid, LegacySource, Migrator,
    };
    use sealed_session::{Backend, Fetched, Json, SetMode, StoreBuilder};

    const RECORD: &[u8] = include_bytes!("../fixtures/express/connect-redis-crypto.json");
    const SECRET: &str = "correct horse battery staple";
    let server = RedisServer::start();
    let dir = support::temp_dir("cli-import");
    let key = dir.join("key-1");
    expect(
        &run(&[
            "keygen",
            "--id",
            "1",
            "--secret-file",
            key.to_str().unwrap(),
        ]),
        0,
    );
    let path = config(&dir, &[(1, "primary")]);
    let backend = RedisBackend::connect(&server.url()).await.unwrap();
    for sid in ["one", "two"] {
        backend
            .set(&format!("sess:{sid}"), RECORD, None, SetMode::Upsert)
            .await
            .unwrap();
    }
    let tampered =
        String::from_utf8(RECORD.to_vec())
            .unwrap()
            .replacen("\"ct\":\"", "\"ct\":\"x", 1);
    backend
        .set("sess:bad", tampered.as_bytes(), None, SetMode::Upsert)
        .await
        .unwrap();
    let url = server.url();
    let import = |extra: &[&str]| {
        let mut args = vec![
            "import",
            "--from",
            "connect-redis-crypto",
            "--config",
            path.to_str().unwrap(),
            "--url",
            &url,
            "--prefix",
            "app:",
            "--legacy-secret-env",
            "THE_LEGACY_SECRET",
        ];
        args.extend(extra);
        bin()
            .args(&args)
            .env_remove("REDIS_URL")
            .env("THE_LEGACY_SECRET", SECRET)
            .output()
            .unwrap()
    };
    let out = import(&["--dry-run", "--json"]);
    expect(&out, 4);
    assert_eq!(json(&out)["converted"], 2);
    assert_eq!(json(&out)["refused"], 1);
    assert_eq!(json(&out)["tampered"], 1);
    let out = import(&[]);
    expect(&out, 4);
    let text = stdout(&out);
    assert!(text.contains("converted: 2"), "{text}");
    assert!(
        text.contains("refused (left in place): 1, of which 1 failed"),
        "{text}"
    );
    assert!(!text.contains(SECRET) && !stderr(&out).contains(SECRET));
    let out = import(&["--json"]);
    assert_eq!(json(&out)["already_migrated"], 2);
    assert_eq!(json(&out)["converted"], 0);
    assert_eq!(
        backend.get("sess:bad", 1 << 20).await.unwrap(),
        Fetched::Value(tampered.into_bytes())
    );

    // The application's store, on the same keyring and prefix, serves the imported session
    // to its legacy cookie, here even with a secret that could not read the record.
    let store: Store<serde_json::Map<String, serde_json::Value>, RedisBackend> =
        StoreBuilder::with_codec(backend.clone(), Json)
            .keyring(load_keyring(&path).unwrap())
            .prefix("app:")
            .build()
            .unwrap();
    let cookies = ExpressCookies::new(["cookie secret"]).unwrap();
    let migrator = Migrator::new(
        store,
        LegacySource::new(backend.clone(), ConnectRedisCrypto::new("wrong").unwrap()),
        cookies.clone(),
    );
    let cookie = cookies.sign(&LegacySid::from_stored("one"));
    let migrated = migrator.migrate_cookie(&cookie).await.unwrap().unwrap();
    assert_eq!(migrated.session().data["name"], "Zoë");

    // Non-default kruptein options are refused by name; the secret never comes from argv.
    let out = import(&["--legacy-options", r#"{"prefix":"sess:","use_asn1":true}"#]);
    expect(&out, 2);
    assert!(stderr(&out).contains("`use_asn1`"), "{}", stderr(&out));
    let out = import(&["--legacy-options", r#"{"secret":"pasted by mistake"}"#]);
    expect(&out, 2);
    assert!(
        stderr(&out).contains("leave `secret` out"),
        "{}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("pasted by mistake"));
    let out = import(&["--legacy-options", r#"{"prefix":"other:"}"#]);
    expect(&out, 2);
    assert!(stderr(&out).contains("--legacy-prefix"), "{}", stderr(&out));
    let out = run(&[
        "import",
        "--from",
        "connect-redis-crypto",
        "--config",
        path.to_str().unwrap(),
        "--url",
        &url,
    ]);
    expect(&out, 2);
    assert!(
        stderr(&out).contains("--legacy-secret-env VAR"),
        "{}",
        stderr(&out)
    );
}
