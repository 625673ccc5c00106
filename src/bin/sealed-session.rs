//! `sealed-session`: the operator's command for keys and stored sessions.
//!
//! Exit codes: 0 success; 1 the operation failed (Redis, I/O); 2 usage error; 3 invalid
//! keyring configuration; 4 the check asked for failed (`inspect` of a value that is not an
//! envelope, `stats --require-none` finding envelopes under that key).

#![forbid(unsafe_code)]

use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use sealed_session::envelope::{Header, OVERHEAD};
use sealed_session::rotation::{self, Census, RewrapOptions, RewrapReport};
use sealed_session::{
    Argon2Params, Backend, ConfigError, Fetched, FilePermissions, KeyMaterial, KeyState,
    KeyringConfig, KeyringSealer, RedisBackend, SessionId, Suite,
};
use serde_json::json;

const EXIT_FAILED: u8 = 1;
const EXIT_USAGE: u8 = 2;
const EXIT_CONFIG: u8 = 3;
const EXIT_CHECK: u8 = 4;

#[derive(Parser)]
#[command(
    name = "sealed-session",
    version,
    about = "Keys and stored sessions of sealed-session: generate and check keys, inspect \
             envelopes, count them by key id and re-seal those under older keys.",
    after_help = "Exit codes: 0 success, 1 operation failed, 2 usage error, 3 invalid keyring \
                  configuration, 4 check failed (not an envelope; envelopes left under a key \
                  given to --require-none)."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Read key, passphrase and configuration files whatever their permissions. By default a
    /// file holding a secret must give group and others no access (chmod 600), and a
    /// configuration file and its directory must not be writable by them.
    #[arg(long, global = true)]
    insecure_file_permissions: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Generate a new random key and print the configuration snippet for it.
    Keygen(Keygen),
    /// Derive a key from a passphrase with Argon2id and print the parameters and salt.
    Derive(Derive),
    /// Validate a keyring configuration (reads every secret); print ids, states, suites.
    Check(Check),
    /// Print the clear-text header of a stored value (from Redis) or of bytes on stdin.
    Inspect(Inspect),
    /// Count the envelopes under a prefix by key id (reads headers only; needs no key).
    Stats(Stats),
    /// Re-seal under the primary key every envelope under an older decrypt-only key.
    Rewrap(Rewrap),
}

#[derive(Clone, Copy, ValueEnum)]
enum SuiteArg {
    #[value(name = "aes-256-gcm")]
    Aes256Gcm,
    #[value(name = "chacha20-poly1305")]
    ChaCha20Poly1305,
}

impl SuiteArg {
    fn name(self) -> &'static str {
        match self {
            SuiteArg::Aes256Gcm => "aes-256-gcm",
            SuiteArg::ChaCha20Poly1305 => "chacha20-poly1305",
        }
    }
}

#[derive(Args)]
struct Keygen {
    /// Id of the new key: one more than the highest id in use (ids grow with age; bulk
    /// re-sealing only moves envelopes to a higher id).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    id: u32,
    /// AEAD suite of the new key.
    #[arg(long, value_enum, default_value = "aes-256-gcm")]
    suite: SuiteArg,
    /// Write the key (base64) to this new file, mode 0600, instead of printing it; the
    /// snippet then reads it from there.
    #[arg(long, value_name = "PATH")]
    secret_file: Option<PathBuf>,
    /// Print only the base64 key, for piping into a secret manager.
    #[arg(long, conflicts_with = "secret_file")]
    raw: bool,
}

#[derive(Args)]
struct Derive {
    /// Id of the key (one more than the highest id in use).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    id: u32,
    /// AEAD suite of the key.
    #[arg(long, value_enum, default_value = "aes-256-gcm")]
    suite: SuiteArg,
    /// Read the passphrase from this environment variable (the snippet names it too).
    #[arg(long, value_name = "VAR", conflicts_with = "passphrase_file")]
    passphrase_env: Option<String>,
    /// Read the passphrase from this file (one trailing newline ignored).
    #[arg(long, value_name = "PATH")]
    passphrase_file: Option<PathBuf>,
    /// Base64 salt of at least 16 bytes (padding optional); a fresh 16-byte salt when absent.
    #[arg(long)]
    salt: Option<String>,
    /// Argon2id memory cost in KiB (at least 19456).
    #[arg(long, default_value_t = Argon2Params::OWASP_MINIMUM.m_cost_kib)]
    m_cost_kib: u32,
    /// Argon2id passes (at least 2).
    #[arg(long, default_value_t = Argon2Params::OWASP_MINIMUM.t_cost)]
    t_cost: u32,
    /// Argon2id parallelism (at least 1).
    #[arg(long, default_value_t = Argon2Params::OWASP_MINIMUM.p_cost)]
    p_cost: u32,
    /// Also print the derived key in base64 (a secret: keep it out of logs).
    #[arg(long)]
    show_key: bool,
}

#[derive(Args)]
struct Check {
    /// The keyring configuration file (TOML, or JSON when it ends in .json).
    config: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct RedisArgs {
    /// Redis URL (redis://, rediss://, redis+unix://); repeat with --cluster for seed nodes.
    /// A password belongs in REDIS_URL, not here: the command line is visible to other users.
    #[arg(
        long = "url",
        env = "REDIS_URL",
        hide_env_values = true,
        value_name = "URL",
        required = true
    )]
    urls: Vec<String>,
    /// The URLs are nodes of a Redis Cluster.
    #[arg(long)]
    cluster: bool,
    /// Per-command timeout in milliseconds.
    #[arg(long, default_value_t = 5000, value_name = "MS")]
    timeout_ms: u64,
}

#[derive(Args)]
struct Inspect {
    /// The Redis key to read; without it (and without --session-id) bytes come from stdin.
    key: Option<String>,
    /// Read the entry of this session id (hashed under --prefix, the default storage layout).
    /// Give `-` to read the id from stdin, keeping it out of the process list and history.
    #[arg(long, conflicts_with = "key", value_name = "ID")]
    session_id: Option<String>,
    /// Key prefix for --session-id.
    #[arg(long, default_value = "sess:")]
    prefix: String,
    /// Redis URL, for reading a key; repeat with --cluster for seed nodes. A password
    /// belongs in REDIS_URL, not here: the command line is visible to other users.
    #[arg(
        long = "url",
        env = "REDIS_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    urls: Vec<String>,
    /// The URLs are nodes of a Redis Cluster.
    #[arg(long)]
    cluster: bool,
    /// Per-command timeout in milliseconds.
    #[arg(long, default_value_t = 5000, value_name = "MS")]
    timeout_ms: u64,
    /// How stdin is encoded.
    #[arg(long, value_enum, default_value = "raw")]
    input: InputFormat,
    /// Also say what state the keyring in this configuration gives the key id (no secret
    /// is read).
    #[arg(long, value_name = "CONFIG")]
    config: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum InputFormat {
    Raw,
    Base64,
    Hex,
}

#[derive(Args)]
struct Stats {
    #[command(flatten)]
    redis: RedisArgs,
    /// Key prefix to scan.
    #[arg(long, default_value = "sess:")]
    prefix: String,
    /// Keys per scan page.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Exit with 4 if any envelope names this key id (repeatable): "is key 1 gone yet?".
    #[arg(long, value_name = "ID")]
    require_none: Vec<u32>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// No progress bar (it is drawn only on a terminal anyway).
    #[arg(long)]
    no_progress: bool,
}

#[derive(Args)]
struct Rewrap {
    #[command(flatten)]
    redis: RedisArgs,
    /// The keyring configuration: its primary seals, its other keys open.
    #[arg(long)]
    config: PathBuf,
    /// Key prefix to scan.
    #[arg(long, default_value = "sess:")]
    prefix: String,
    /// Keys per scan page and pipelined batch.
    #[arg(long, default_value_t = 500)]
    batch: usize,
    /// Largest value read, in bytes (the store's max_envelope_len).
    #[arg(long, default_value_t = sealed_session::DEFAULT_MAX_ENVELOPE_LEN)]
    max_envelope_len: usize,
    /// The store's absolute lifetime in seconds, if it has one: each re-sealed envelope gets
    /// the expiry the store would give it (its own, capped at now + lifetime), and envelopes
    /// stored without an expiry are re-sealed with one. Without it expiries are kept as
    /// they are.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=sealed_session::MAX_LIFETIME.as_secs()))]
    absolute_lifetime: Option<u64>,
    /// Count what would be re-sealed; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    /// No progress bar (it is drawn only on a terminal anyway).
    #[arg(long)]
    no_progress: bool,
}

/// A failure with its exit code. Messages never hold secrets: they come from the crate's
/// errors, which carry none, or name files and variables only.
struct Failure {
    code: u8,
    message: String,
}

/// `println!` that turns a closed standard output (`sealed-session check | head -1`) into
/// a failure with exit code 1, where `println!` would panic.
macro_rules! say {
    ($($arg:tt)*) => {
        writeln!(std::io::stdout().lock(), $($arg)*)
            .map_err(io_failure("cannot write to standard output"))?
    };
}

impl Failure {
    fn new(code: u8, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }
}

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Failure {
        Failure::new(EXIT_CONFIG, format!("keyring configuration: {e}"))
    }
}

impl From<sealed_session::Error> for Failure {
    fn from(e: sealed_session::Error) -> Failure {
        match e {
            sealed_session::Error::Config(c) => c.into(),
            other => Failure::new(EXIT_FAILED, other.to_string()),
        }
    }
}

impl From<sealed_session::BackendError> for Failure {
    fn from(e: sealed_session::BackendError) -> Failure {
        Failure::new(EXIT_FAILED, e.to_string())
    }
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => {
            // Nothing more can be done if standard error is closed.
            let _ = e.print();
            return ExitCode::from(EXIT_USAGE);
        }
    };
    if let Some((_, command)) = matches.subcommand() {
        warn_of_password_in_argv(command);
    }
    let files = if cli.insecure_file_permissions {
        FilePermissions::InsecureUnchecked
    } else {
        FilePermissions::Checked
    };
    let result = match cli.command {
        Command::Keygen(args) => keygen(&args),
        Command::Derive(args) => derive(&args, files),
        Command::Check(args) => check(&args, files),
        Command::Inspect(args) => runtime().and_then(|rt| rt.block_on(inspect(&args, files))),
        Command::Stats(args) => runtime().and_then(|rt| rt.block_on(stats(&args))),
        Command::Rewrap(args) => runtime().and_then(|rt| rt.block_on(rewrap(&args, files))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            // Nothing more can be done if standard error is closed too.
            let _ = writeln!(std::io::stderr(), "sealed-session: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

/// A password in a `--url` given on the command line can be read by every user of the
/// machine (`ps`, `/proc/PID/cmdline`) and stays in shell history: say so, without repeating
/// it. `REDIS_URL` is not visible that way.
fn warn_of_password_in_argv(command: &clap::ArgMatches) {
    use redis::IntoConnectionInfo;
    // Only the commands that talk to Redis have the argument.
    let Ok(Some(urls)) = command.try_get_many::<String>("urls") else {
        return;
    };
    if command.value_source("urls") != Some(clap::parser::ValueSource::CommandLine) {
        return;
    }
    let with_password = urls.into_iter().any(|url| {
        url.as_str()
            .into_connection_info()
            .is_ok_and(|info| info.redis_settings().password().is_some())
    });
    if with_password {
        let _ = writeln!(
            std::io::stderr(),
            "sealed-session: warning: a password given in --url is visible to other users of \
             this machine (ps) and kept in shell history; set REDIS_URL instead"
        );
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(EXIT_FAILED, format!("cannot start the runtime: {e}")))
}

fn io_failure(what: &str) -> impl FnOnce(std::io::Error) -> Failure + '_ {
    move |e| Failure::new(EXIT_FAILED, format!("{what}: {e}"))
}

fn snippet(id: u32, suite: SuiteArg, material: &str) -> String {
    format!(
        "[[keys]]\nid = {id}\nsuite = \"{}\"\nstate = \"decrypt-only\"\nmaterial = {material}\n",
        suite.name()
    )
}

fn toml_string(text: &str) -> String {
    // A TOML basic string: JSON's escaping is a subset of what TOML accepts.
    serde_json::Value::String(text.to_owned()).to_string()
}

fn keygen(args: &Keygen) -> Result<(), Failure> {
    let key = KeyMaterial::generate()?;
    let secret = key.to_base64();
    let mut out = std::io::stdout().lock();
    let written = if args.raw {
        writeln!(out, "{}", secret.as_str())
    } else if let Some(path) = &args.secret_file {
        write_secret_file(path, secret.as_bytes())?;
        let material = format!("{{ file = {} }}", toml_string(&path.display().to_string()));
        write!(
            out,
            "# Key {} written to {}. New keys start decrypt-only: deploy everywhere, then promote.\n{}",
            args.id,
            path.display(),
            snippet(args.id, args.suite, &material)
        )
    } else {
        let var = format!("SESSION_KEY_{}", args.id);
        write!(
            out,
            "# The secret: put it in your secret store as {var} (never in the config file).\n\
             {var}={}\n\n\
             # New keys start decrypt-only: deploy everywhere, then promote.\n{}",
            secret.as_str(),
            snippet(args.id, args.suite, &format!("{{ env = \"{var}\" }}"))
        )
    };
    written.map_err(io_failure("cannot write to stdout"))
}

fn write_secret_file(path: &Path, secret: &[u8]) -> Result<(), Failure> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let what = format!("cannot create {}", path.display());
    let mut file = options.open(path).map_err(io_failure(&what))?;
    file.write_all(secret)
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all())
        .map_err(io_failure(&what))
}

fn derive(args: &Derive, files: FilePermissions) -> Result<(), Failure> {
    let derive_failure = |e: ConfigError| Failure::new(EXIT_CONFIG, e.to_string());
    let passphrase = zeroize::Zeroizing::new(match (&args.passphrase_env, &args.passphrase_file) {
        (Some(var), _) => std::env::var(var)
            .map_err(|_| derive_failure(ConfigError::missing_env(var, "--passphrase-env")))?
            .into_bytes(),
        (None, Some(path)) => {
            // A regular file of at most 64 KiB (a FIFO or `/dev/zero` is refused, not read).
            let mut bytes = sealed_session::config::read_secret_file_with(path, files)
                .map_err(derive_failure)?;
            if bytes.last() == Some(&b'\n') {
                bytes.pop();
                if bytes.last() == Some(&b'\r') {
                    bytes.pop();
                }
            }
            std::mem::take(&mut *bytes)
        }
        (None, None) => {
            return Err(Failure::new(
                2,
                "give the passphrase with --passphrase-env VAR or --passphrase-file PATH",
            ));
        }
    });
    if passphrase.is_empty() {
        return Err(derive_failure(ConfigError::EmptyPassphrase));
    }
    let salt = match &args.salt {
        Some(text) => LENIENT
            .decode(text.trim())
            .map_err(|_| derive_failure(ConfigError::SaltEncoding))?,
        None => {
            let mut salt = vec![0u8; 16];
            getrandom::fill(&mut salt)
                .map_err(|_| Failure::new(EXIT_FAILED, "the OS random generator failed"))?;
            salt
        }
    };
    let params = Argon2Params {
        m_cost_kib: args.m_cost_kib,
        t_cost: args.t_cost,
        p_cost: args.p_cost,
    };
    let key = KeyMaterial::derive_argon2id(&passphrase, &params, &salt).map_err(derive_failure)?;
    let from = match (&args.passphrase_env, &args.passphrase_file) {
        (Some(var), _) => format!("passphrase_env = {}", toml_string(var)),
        (None, Some(path)) => format!(
            "passphrase_file = {}",
            toml_string(&path.display().to_string())
        ),
        (None, None) => String::new(),
    };
    let material = format!(
        "{{ {from}, salt = \"{}\", argon2 = {{ m_cost_kib = {}, t_cost = {}, p_cost = {} }} }}",
        STANDARD.encode(&salt),
        params.m_cost_kib,
        params.t_cost,
        params.p_cost
    );
    let mut out = std::io::stdout().lock();
    let mut text = zeroize::Zeroizing::new(format!(
        "# Argon2id (v1.3), m={} KiB, t={}, p={}, salt {} ({} bytes). The same passphrase,\n\
         # parameters and salt give the same key on every machine.\n{}",
        params.m_cost_kib,
        params.t_cost,
        params.p_cost,
        STANDARD.encode(&salt),
        salt.len(),
        snippet(args.id, args.suite, &material)
    ));
    if args.show_key {
        text.push_str("\n# derived key (secret)\n");
        text.push_str(key.to_base64().as_str());
        text.push('\n');
    }
    out.write_all(text.as_bytes())
        .map_err(io_failure("cannot write to stdout"))
}

/// Standard base64 with optional padding, as the configuration file accepts.
const LENIENT: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

fn state_name(state: KeyState) -> &'static str {
    match state {
        KeyState::Primary => "primary",
        KeyState::DecryptOnly => "decrypt-only",
        KeyState::Retired => "retired",
    }
}

fn check(args: &Check, files: FilePermissions) -> Result<(), Failure> {
    let config = KeyringConfig::read_with(&args.config, files)?;
    config.resolve()?;
    let keys = config.keys();
    if args.json {
        let list: Vec<_> = keys
            .iter()
            .map(|k| {
                json!({
                    "id": k.id,
                    "state": state_name(k.state),
                    "suite": k.suite.map(Suite::name),
                    "material": k.source,
                })
            })
            .collect();
        say!(
            "{}",
            json!({ "valid": true, "primary": config.primary_id(), "keys": list })
        );
        return Ok(());
    }
    say!(
        "{}: valid, {} keys, primary key {}",
        args.config.display(),
        keys.len(),
        config.primary_id()
    );
    say!("{:>10}  {:<13} {:<18} material", "id", "state", "suite");
    for k in &keys {
        say!(
            "{:>10}  {:<13} {:<18} {}",
            k.id,
            state_name(k.state),
            k.suite.map_or("-", Suite::name),
            k.source
        );
    }
    Ok(())
}

async fn connect(args: &RedisArgs) -> Result<RedisBackend, Failure> {
    let timeout = Duration::from_millis(args.timeout_ms.max(1));
    let builder = RedisBackend::builder()
        .connect_timeout(timeout)
        .response_timeout(timeout);
    let builder = if args.cluster {
        builder.cluster_nodes(args.urls.iter().cloned())
    } else {
        match args.urls.as_slice() {
            [url] => builder.url(url.clone()),
            _ => {
                return Err(Failure::new(
                    EXIT_USAGE,
                    "give one --url, or several with --cluster",
                ));
            }
        }
    };
    Ok(builder.connect().await?)
}

fn unix_date(secs: u64) -> String {
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm), UTC.
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

async fn inspect(args: &Inspect, files: FilePermissions) -> Result<(), Failure> {
    let key = match (&args.key, &args.session_id) {
        (Some(key), _) => Some(key.clone()),
        (None, Some(id)) => {
            let id = if id == "-" {
                // Room for the longest line read, so the id is never copied by a regrowth.
                let mut line = zeroize::Zeroizing::new(String::with_capacity(257));
                std::io::stdin()
                    .lock()
                    .take(256)
                    .read_line(&mut line)
                    .map_err(io_failure("cannot read stdin"))?;
                SessionId::parse(line.trim())
            } else {
                SessionId::parse(id.trim())
            }
            .map_err(|_| Failure::new(EXIT_USAGE, "--session-id is not a valid session id"))?;
            Some(format!("{}{}", args.prefix, id.hashed().as_str()))
        }
        (None, None) => None,
    };
    let bytes = match &key {
        Some(key) => {
            if args.urls.is_empty() {
                return Err(Failure::new(
                    EXIT_USAGE,
                    "reading a key needs --url (or REDIS_URL)",
                ));
            }
            let backend = connect(&RedisArgs {
                urls: args.urls.clone(),
                cluster: args.cluster,
                timeout_ms: args.timeout_ms,
            })
            .await?;
            match backend
                .get(key, sealed_session::MAX_ENVELOPE_LEN_LIMIT)
                .await?
            {
                Fetched::Value(v) => v,
                Fetched::Missing => {
                    return Err(Failure::new(EXIT_CHECK, "no value under that key"));
                }
                Fetched::TooLarge { len } => {
                    return Err(Failure::new(
                        EXIT_CHECK,
                        format!("not an envelope: the value is {len} bytes or more"),
                    ));
                }
                Fetched::NotBytes => {
                    return Err(Failure::new(
                        EXIT_CHECK,
                        "not an envelope: not a string value",
                    ));
                }
            }
        }
        None => {
            if std::io::stdin().is_terminal() {
                return Err(Failure::new(
                    2,
                    "give a KEY or --session-id, or pipe the value to stdin",
                ));
            }
            read_stdin(args.input)?
        }
    };
    if bytes.len() > sealed_session::MAX_ENVELOPE_LEN_LIMIT {
        return Err(Failure::new(
            EXIT_CHECK,
            format!(
                "not an envelope: {} bytes is over the 1 MiB limit",
                bytes.len()
            ),
        ));
    }
    let header = Header::parse(&bytes).map_err(|r| {
        Failure::new(
            EXIT_CHECK,
            format!("not an envelope v1 ({} bytes): refused at {r}", bytes.len()),
        )
    })?;
    let state = match &args.config {
        Some(path) => {
            let config = KeyringConfig::read_with(path, files)?;
            Some(
                config
                    .keys()
                    .iter()
                    .find(|k| k.id == header.key_id)
                    .map_or("unknown (refused)", |k| state_name(k.state)),
            )
        }
        None => None,
    };
    let expiry = match header.expires_at {
        0 => "none".to_owned(),
        at => unix_date(at),
    };
    let plaintext = bytes.len().saturating_sub(OVERHEAD);
    if args.json {
        say!(
            "{}",
            json!({
                "version": 1,
                "suite": header.suite.name(),
                "codec": header.codec.to_string(),
                "key_id": header.key_id,
                "key_state": state,
                "expires_at": header.expires_at,
                "size": bytes.len(),
                "plaintext_size": plaintext,
            })
        );
    } else {
        say!("version     1");
        say!("suite       {}", header.suite);
        say!("codec       {}", header.codec);
        match state {
            Some(state) => say!("key id      {} ({state})", header.key_id),
            None => say!("key id      {}", header.key_id),
        }
        say!("expires at  {expiry}");
        say!(
            "size        {} bytes ({plaintext} of ciphertext)",
            bytes.len()
        );
        say!("(the header is not authenticated until the envelope is opened)");
    }
    Ok(())
}

fn read_stdin(format: InputFormat) -> Result<Vec<u8>, Failure> {
    // Hex doubles the size; a little room for a trailing newline.
    let limit = sealed_session::MAX_ENVELOPE_LEN_LIMIT as u64 * 2 + 16;
    let mut raw = Vec::new();
    std::io::stdin()
        .lock()
        .take(limit + 1)
        .read_to_end(&mut raw)
        .map_err(io_failure("cannot read stdin"))?;
    if raw.len() as u64 > limit {
        return Err(Failure::new(
            EXIT_CHECK,
            "not an envelope: stdin holds more than any envelope can",
        ));
    }
    let text = || String::from_utf8_lossy(&raw).trim().to_owned();
    match format {
        InputFormat::Raw => Ok(raw),
        InputFormat::Base64 => STANDARD
            .decode(text())
            .map_err(|_| Failure::new(EXIT_CHECK, "stdin is not valid base64")),
        InputFormat::Hex => {
            let text = text();
            let digits = text.as_bytes();
            if digits.len() % 2 != 0 {
                return Err(Failure::new(EXIT_CHECK, "stdin is not valid hex"));
            }
            digits
                .chunks(2)
                .map(|pair| {
                    std::str::from_utf8(pair)
                        .ok()
                        .and_then(|p| u8::from_str_radix(p, 16).ok())
                        .ok_or_else(|| Failure::new(EXIT_CHECK, "stdin is not valid hex"))
                })
                .collect()
        }
    }
}

fn progress_bar(hidden: bool, what: &'static str) -> ProgressBar {
    if hidden || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner();
    if let Ok(style) = ProgressStyle::with_template("{spinner} {elapsed} {msg}") {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(200));
    bar.set_message(what);
    bar
}

fn census_json(census: &Census) -> serde_json::Value {
    let by_key: serde_json::Map<String, serde_json::Value> = census
        .by_key_id
        .iter()
        .map(|(id, n)| (id.to_string(), json!(n)))
        .collect();
    json!({
        "total": census.total(),
        "by_key_id": by_key,
        "other_ids": census.other_ids,
        "not_envelopes": census.not_envelopes,
    })
}

async fn stats(args: &Stats) -> Result<(), Failure> {
    let backend = connect(&args.redis).await?;
    let bar = progress_bar(args.no_progress, "scanning");
    let options = RewrapOptions::default().batch(args.batch);
    let census = rotation::census(&backend, &args.prefix, &options, |c| {
        bar.set_message(format!("{} values scanned", c.total()));
    })
    .await;
    bar.finish_and_clear();
    let census = census?;
    if args.json {
        say!("{}", census_json(&census));
    } else {
        say!("prefix {:?}: {} values", args.prefix, census.total());
        for (id, n) in &census.by_key_id {
            say!("  key {id:>10}: {n}");
        }
        if census.other_ids > 0 {
            say!(
                "  more distinct ids than {} (planted headers?): {}",
                Census::MAX_IDS,
                census.other_ids
            );
        }
        say!("  not envelopes: {}", census.not_envelopes);
    }
    let left: Vec<String> = args
        .require_none
        .iter()
        .filter(|id| census.count(**id) > 0)
        .map(|id| format!("{} under key {id}", census.count(*id)))
        .collect();
    if left.is_empty() {
        Ok(())
    } else {
        Err(Failure::new(
            EXIT_CHECK,
            format!("envelopes remain: {}", left.join(", ")),
        ))
    }
}

fn report_json(report: &RewrapReport, dry_run: bool, primary: u32) -> serde_json::Value {
    json!({
        "dry_run": dry_run,
        "primary": primary,
        "found": census_json(&report.found),
        "skipped": report.skipped,
        "too_large": report.too_large,
        "resealed": report.resealed,
        "resealed_without_expiry": report.resealed_without_expiry,
        "changed_meanwhile": report.changed_meanwhile,
        "refused": report.refused,
    })
}

async fn rewrap(args: &Rewrap, files: FilePermissions) -> Result<(), Failure> {
    let config = KeyringConfig::read_with(&args.config, files)?;
    let keyring = config.resolve()?;
    let primary = keyring.primary_id();
    let sealer = KeyringSealer::new(keyring);
    let backend = connect(&args.redis).await?;
    let bar = progress_bar(args.no_progress, "scanning");
    let options = RewrapOptions::default()
        .batch(args.batch)
        .dry_run(args.dry_run)
        .max_envelope_len(args.max_envelope_len)
        .absolute_lifetime(args.absolute_lifetime.map(Duration::from_secs));
    let verb = if args.dry_run {
        "to re-seal"
    } else {
        "re-sealed"
    };
    let started = std::time::Instant::now();
    let report = rotation::rewrap(&backend, &sealer, &args.prefix, &options, |r| {
        bar.set_message(format!("{} scanned, {} {verb}", r.scanned(), r.resealed));
    })
    .await;
    bar.finish_and_clear();
    let report = report?;
    if args.json {
        say!("{}", report_json(&report, args.dry_run, primary));
        return Ok(());
    }
    let secs = started.elapsed().as_secs_f64();
    say!(
        "prefix {:?}: {} values scanned in {secs:.1} s{}",
        args.prefix,
        report.scanned(),
        if args.dry_run {
            " (dry run: nothing written)"
        } else {
            ""
        }
    );
    say!(
        "  under primary key {primary}: {}",
        report.found.count(primary)
    );
    say!("  {verb}: {}", report.resealed);
    say!(
        "  changed meanwhile (left alone): {}",
        report.changed_meanwhile
    );
    for (kind, n) in &report.refused {
        say!("  refused ({kind}, left alone): {n}");
    }
    let others = report.skipped.saturating_sub(report.found.count(primary));
    if others > 0 {
        say!(
            "  under retired, unknown or newer keys (left alone): {others}; see `stats` for the ids"
        );
    }
    if report.too_large > 0 {
        say!(
            "  larger than --max-envelope-len (left alone): {}",
            report.too_large
        );
    }
    say!("  not envelopes: {}", report.found.not_envelopes);
    if report.resealed_without_expiry > 0 && args.absolute_lifetime.is_none() {
        say!(
            "  {} {verb} without an absolute expiry, as they were stored: if the store has an \
             absolute lifetime, rerun with --absolute-lifetime SECONDS (the store also sets one \
             when it next loads each of them)",
            report.resealed_without_expiry
        );
    }
    Ok(())
}
