//! The command line of `sealed-session`: clap argument definitions for every command, kept
//! apart from what the commands do.

use std::path::PathBuf;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Args, Parser, Subcommand, ValueEnum};
use sealed_session::{Argon2Params, Suite};

#[derive(Parser)]
#[command(
    name = "sealed-session",
    version,
    about = "Keys and stored sessions of sealed-session: generate and check keys, inspect \
             envelopes, count them by key id, re-seal those under older keys, and import the \
             sessions of an Express application.",
    // The codes are those of `crate::exit::Exit` (a unit test there checks this text).
    after_help = "Exit codes: 0 success, 1 operation failed, 2 usage error, 3 invalid keyring \
                  configuration, 4 check failed (not an envelope; envelopes left under a key \
                  given to --require-none; sessions a revocation could not verify; legacy \
                  records an import refused)."
)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
    /// Read key, passphrase and configuration files whatever their permissions. By default a
    /// file holding a secret must give group and others no access (chmod 600), and a
    /// configuration file and its directory must not be writable by them.
    #[arg(long, global = true)]
    pub(crate) insecure_file_permissions: bool,
}

#[derive(Subcommand)]
pub(crate) enum Command {
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
    /// A user's sessions, through the owner index: list them, or revoke one, all, or all
    /// but one.
    #[command(subcommand)]
    Sessions(Sessions),
    /// Import the sessions of an Express application (connect-redis or connect-redis-crypto
    /// records) ahead of the switch: each is verified and sealed under the primary key,
    /// under a hash of its legacy id. Never changes a legacy record; safe to interrupt and
    /// to run again.
    Import(Import),
}

#[derive(Subcommand)]
pub(crate) enum Sessions {
    /// List a user's live sessions: storage id, created, last seen, expiry, device label.
    /// Never session data.
    List(SessionsList),
    /// Revoke a user's sessions: all of them, all but one, or one.
    Revoke(Revoke),
}

#[derive(Args)]
pub(crate) struct SessionsTarget {
    #[command(flatten)]
    pub(crate) redis: RedisArgs,
    /// The keyring configuration, with its [[index_keys]].
    #[arg(long)]
    pub(crate) config: PathBuf,
    /// The user id the application binds sessions to. Give `-` to read it from stdin,
    /// keeping it out of the process list and shell history.
    #[arg(long, value_name = "ID", allow_hyphen_values = true)]
    pub(crate) user: String,
    /// The store's key prefix.
    #[arg(long, default_value = "sess:")]
    pub(crate) prefix: String,
    /// Largest value read, in bytes (the store's max_envelope_len).
    #[arg(long, default_value_t = sealed_session::DEFAULT_MAX_ENVELOPE_LEN)]
    pub(crate) max_envelope_len: usize,
}

#[derive(Args)]
pub(crate) struct SessionsList {
    #[command(flatten)]
    pub(crate) target: SessionsTarget,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["all", "except", "id"])))]
pub(crate) struct Revoke {
    #[command(flatten)]
    pub(crate) target: SessionsTarget,
    /// Revoke every session of the user ("log out everywhere").
    #[arg(long)]
    pub(crate) all: bool,
    /// Revoke every session of the user but this storage id (after a password change).
    #[arg(long, value_name = "STORAGE_ID")]
    pub(crate) except: Option<String>,
    /// Revoke this one session of the user (refused if it is not the user's).
    #[arg(long, value_name = "STORAGE_ID")]
    pub(crate) id: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// The suites a new key can be given: their names are the library's (`Suite::name`), which
/// its `FromStr` reads back.
const SUITES: [Suite; 2] = [Suite::Aes256Gcm, Suite::ChaCha20Poly1305];

/// `--suite`: one of the names of [`SUITES`] (listed in `--help` and in the error for any
/// other), parsed into the library's [`Suite`].
fn suite_parser() -> impl TypedValueParser<Value = Suite> {
    PossibleValuesParser::new(SUITES.map(Suite::name)).try_map(|name| name.parse::<Suite>())
}

#[derive(Args)]
pub(crate) struct Keygen {
    /// Id of the new key: one more than the highest id in use (ids grow with age; bulk
    /// re-sealing only moves envelopes to a higher id).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) id: u32,
    /// AEAD suite of the new key.
    #[arg(long, value_parser = suite_parser(), default_value_t = Suite::Aes256Gcm)]
    pub(crate) suite: Suite,
    /// Write the key (base64) to this new file, mode 0600, instead of printing it; the
    /// snippet then reads it from there.
    #[arg(long, value_name = "PATH")]
    pub(crate) secret_file: Option<PathBuf>,
    /// Print only the base64 key, for piping into a secret manager.
    #[arg(long, conflicts_with = "secret_file")]
    pub(crate) raw: bool,
}

#[derive(Args)]
pub(crate) struct Derive {
    /// Id of the key (one more than the highest id in use).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) id: u32,
    /// AEAD suite of the key.
    #[arg(long, value_parser = suite_parser(), default_value_t = Suite::Aes256Gcm)]
    pub(crate) suite: Suite,
    /// Read the passphrase from this environment variable (the snippet names it too).
    #[arg(long, value_name = "VAR", conflicts_with = "passphrase_file")]
    pub(crate) passphrase_env: Option<String>,
    /// Read the passphrase from this file (one trailing newline ignored).
    #[arg(long, value_name = "PATH")]
    pub(crate) passphrase_file: Option<PathBuf>,
    /// Base64 salt of at least 16 bytes (padding optional); a fresh 16-byte salt when absent.
    #[arg(long)]
    pub(crate) salt: Option<String>,
    /// Argon2id memory cost in KiB (at least 19456).
    #[arg(long, default_value_t = Argon2Params::OWASP_MINIMUM.m_cost_kib)]
    pub(crate) m_cost_kib: u32,
    /// Argon2id passes (at least 2).
    #[arg(long, default_value_t = Argon2Params::OWASP_MINIMUM.t_cost)]
    pub(crate) t_cost: u32,
    /// Argon2id parallelism (at least 1).
    #[arg(long, default_value_t = Argon2Params::OWASP_MINIMUM.p_cost)]
    pub(crate) p_cost: u32,
    /// Also print the derived key in base64 (a secret: keep it out of logs).
    #[arg(long)]
    pub(crate) show_key: bool,
}

#[derive(Args)]
pub(crate) struct Check {
    /// The keyring configuration file (TOML, or JSON when it ends in .json).
    pub(crate) config: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Args)]
pub(crate) struct RedisArgs {
    /// Redis URL (redis://, rediss://, redis+unix://); repeat with --cluster for seed nodes.
    /// A password belongs in REDIS_URL, not here: the command line is visible to other users.
    #[arg(
        long = "url",
        env = "REDIS_URL",
        hide_env_values = true,
        value_name = "URL",
        required = true
    )]
    pub(crate) urls: Vec<String>,
    /// The URLs are nodes of a Redis Cluster.
    #[arg(long)]
    pub(crate) cluster: bool,
    /// Per-command timeout in milliseconds.
    #[arg(long, default_value_t = 5000, value_name = "MS")]
    pub(crate) timeout_ms: u64,
}

#[derive(Args)]
pub(crate) struct Inspect {
    /// The Redis key to read; without it (and without --session-id) bytes come from stdin.
    pub(crate) key: Option<String>,
    /// Read the entry of this session id (hashed under --prefix, the default storage layout).
    /// Give `-` to read the id from stdin, keeping it out of the process list and history.
    #[arg(long, conflicts_with = "key", value_name = "ID")]
    pub(crate) session_id: Option<String>,
    /// Key prefix for --session-id.
    #[arg(long, default_value = "sess:")]
    pub(crate) prefix: String,
    /// Redis URL, for reading a key; repeat with --cluster for seed nodes. A password
    /// belongs in REDIS_URL, not here: the command line is visible to other users.
    #[arg(
        long = "url",
        env = "REDIS_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub(crate) urls: Vec<String>,
    /// The URLs are nodes of a Redis Cluster.
    #[arg(long)]
    pub(crate) cluster: bool,
    /// Per-command timeout in milliseconds.
    #[arg(long, default_value_t = 5000, value_name = "MS")]
    pub(crate) timeout_ms: u64,
    /// How stdin is encoded.
    #[arg(long, value_enum, default_value = "raw")]
    pub(crate) input: InputFormat,
    /// Also say what state the keyring in this configuration gives the key id (no secret
    /// is read).
    #[arg(long, value_name = "CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum InputFormat {
    Raw,
    Base64,
    Hex,
}

#[derive(Args)]
pub(crate) struct Stats {
    #[command(flatten)]
    pub(crate) redis: RedisArgs,
    /// Key prefix to scan.
    #[arg(long, default_value = "sess:")]
    pub(crate) prefix: String,
    /// Keys per scan page.
    #[arg(long, default_value_t = 1000)]
    pub(crate) batch: usize,
    /// Exit with 4 if any envelope names this key id (repeatable): "is key 1 gone yet?".
    #[arg(long, value_name = "ID")]
    pub(crate) require_none: Vec<u32>,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
    /// No progress bar (it is drawn only on a terminal anyway).
    #[arg(long)]
    pub(crate) no_progress: bool,
}

#[derive(Args)]
pub(crate) struct Rewrap {
    #[command(flatten)]
    pub(crate) redis: RedisArgs,
    /// The keyring configuration: its primary seals, its other keys open.
    #[arg(long)]
    pub(crate) config: PathBuf,
    /// Key prefix to scan.
    #[arg(long, default_value = "sess:")]
    pub(crate) prefix: String,
    /// Keys per scan page and pipelined batch.
    #[arg(long, default_value_t = 500)]
    pub(crate) batch: usize,
    /// Largest value read, in bytes (the store's max_envelope_len).
    #[arg(long, default_value_t = sealed_session::DEFAULT_MAX_ENVELOPE_LEN)]
    pub(crate) max_envelope_len: usize,
    /// The store's absolute lifetime in seconds, if it has one: each re-sealed envelope gets
    /// the expiry the store would give it (its own, capped at now + lifetime), and envelopes
    /// stored without an expiry are re-sealed with one. Without it expiries are kept as
    /// they are.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=sealed_session::MAX_LIFETIME.as_secs()))]
    pub(crate) absolute_lifetime: Option<u64>,
    /// Count what would be re-sealed; write nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
    /// No progress bar (it is drawn only on a terminal anyway).
    #[arg(long)]
    pub(crate) no_progress: bool,
}

/// The legacy stores `import` reads.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum LegacyStore {
    /// connect-redis (any version): `JSON.stringify(session)`.
    ConnectRedis,
    /// connect-redis-crypto 4.x: kruptein 2.x with its defaults.
    ConnectRedisCrypto,
}

#[derive(Args)]
pub(crate) struct Import {
    /// The legacy store whose records are read.
    #[arg(long, value_enum)]
    pub(crate) from: LegacyStore,
    #[command(flatten)]
    pub(crate) redis: RedisArgs,
    /// The keyring configuration: its primary key seals.
    #[arg(long)]
    pub(crate) config: PathBuf,
    /// The store's key prefix (where the application's sessions live).
    #[arg(long, default_value = "sess:")]
    pub(crate) prefix: String,
    /// The Express application's Redis (a single server), if not the one of --url. A
    /// password belongs in LEGACY_REDIS_URL, not here.
    #[arg(
        long,
        env = "LEGACY_REDIS_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub(crate) legacy_url: Option<String>,
    /// The legacy store's key prefix (its `prefix` option).
    #[arg(long, default_value = "sess:")]
    pub(crate) legacy_prefix: String,
    /// connect-redis-crypto: read its `secret` option from this environment variable.
    #[arg(long, value_name = "VAR", conflicts_with = "legacy_secret_file")]
    pub(crate) legacy_secret_env: Option<String>,
    /// connect-redis-crypto: read its `secret` option from this file (one trailing newline
    /// ignored).
    #[arg(long, value_name = "PATH")]
    pub(crate) legacy_secret_file: Option<PathBuf>,
    /// connect-redis-crypto: the options object the application gives the store, as JSON,
    /// without its `secret`; kruptein options other than its defaults are refused, by name.
    #[arg(long, value_name = "JSON")]
    pub(crate) legacy_options: Option<String>,
    /// The Express application sets `rolling: true` (and not `resave: true`): a stored
    /// cookie expiry in the past does not mean the session ended.
    #[arg(long)]
    pub(crate) rolling: bool,
    /// Largest envelope the store accepts, in bytes (its max_envelope_len); a session that
    /// would not fit is refused.
    #[arg(long, default_value_t = sealed_session::DEFAULT_MAX_ENVELOPE_LEN)]
    pub(crate) max_envelope_len: usize,
    /// Largest legacy record read, in bytes; longer ones are refused.
    #[arg(long, default_value_t = sealed_session::migrate::DEFAULT_MAX_RECORD_LEN)]
    pub(crate) max_record_len: usize,
    /// The store's absolute lifetime in seconds: an imported session is kept until its
    /// cookie's expiry, at most this long from now.
    #[arg(long, value_name = "SECONDS", default_value_t = sealed_session::DEFAULT_ABSOLUTE_LIFETIME.as_secs(), value_parser = clap::value_parser!(u64).range(1..=sealed_session::MAX_LIFETIME.as_secs()))]
    pub(crate) absolute_lifetime: u64,
    /// Keys per scan page.
    #[arg(long, default_value_t = 500)]
    pub(crate) batch: usize,
    /// Verify and count; write nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Print JSON.
    #[arg(long)]
    pub(crate) json: bool,
    /// No progress bar (it is drawn only on a terminal anyway).
    #[arg(long)]
    pub(crate) no_progress: bool,
}
