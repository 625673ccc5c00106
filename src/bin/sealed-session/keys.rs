//! Making keys: `keygen` (random) and `derive` (Argon2id from a passphrase), and the
//! keyring configuration snippet both print.

use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sealed_session::{Argon2Params, ConfigError, FilePermissions, KeyMaterial, Suite};

use crate::cli::{Derive, Keygen};
use crate::exit::{Exit, Failure, io_failure};

fn snippet(id: u32, suite: Suite, material: &str) -> String {
    format!(
        "[[keys]]\nid = {id}\nsuite = \"{}\"\nstate = \"decrypt-only\"\nmaterial = {material}\n",
        suite.name()
    )
}

fn toml_string(text: &str) -> String {
    // A TOML basic string: JSON's escaping is a subset of what TOML accepts.
    serde_json::Value::String(text.to_owned()).to_string()
}

pub(crate) fn keygen(args: &Keygen) -> Result<(), Failure> {
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

/// Which secret [`read_secret`] reads, by its flags: `--{stem}-env`, `--{stem}-file`.
pub(crate) struct SecretFlags {
    pub(crate) env_flag: &'static str,
    pub(crate) file_flag: &'static str,
    pub(crate) what: &'static str,
}

/// A secret from an environment variable or a file, never from the command line.
pub(crate) fn read_secret(
    env: Option<&String>,
    file: Option<&std::path::PathBuf>,
    flags: &SecretFlags,
    files: FilePermissions,
) -> Result<zeroize::Zeroizing<Vec<u8>>, Failure> {
    let config_failure = |e: ConfigError| Failure::new(Exit::Config, e.to_string());
    Ok(zeroize::Zeroizing::new(match (env, file) {
        (Some(var), _) => std::env::var(var)
            .map_err(|_| config_failure(ConfigError::missing_env(var, flags.env_flag)))?
            .into_bytes(),
        (None, Some(path)) => {
            // A regular file of at most 64 KiB (a FIFO or `/dev/zero` is refused, not read).
            let mut bytes = sealed_session::config::read_secret_file_with(path, files)
                .map_err(config_failure)?;
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
                Exit::Usage,
                format!(
                    "give the {} with {} VAR or {} PATH",
                    flags.what, flags.env_flag, flags.file_flag
                ),
            ));
        }
    }))
}

pub(crate) fn derive(args: &Derive, files: FilePermissions) -> Result<(), Failure> {
    let derive_failure = |e: ConfigError| Failure::new(Exit::Config, e.to_string());
    let passphrase = read_secret(
        args.passphrase_env.as_ref(),
        args.passphrase_file.as_ref(),
        &SecretFlags {
            env_flag: "--passphrase-env",
            file_flag: "--passphrase-file",
            what: "passphrase",
        },
        files,
    )?;
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
                .map_err(|_| Failure::new(Exit::Failed, "the OS random generator failed"))?;
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
