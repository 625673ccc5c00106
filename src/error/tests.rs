//! Every message the crate's errors can print, checked word for word: a configuration or
//! setting message names the fix, and no message repeats input that may be a secret.
//!
//! The `variant_*` functions match without a wildcard and number the variants, and each test
//! checks that its table has a message for every number: a new variant does not compile until
//! it is numbered, and then fails until it has a message here.

use std::path::PathBuf;

use super::*;
use crate::codec::{CodecError, CodecErrorKind, CodecId, CodecOp};

/// A value that must never appear in a message: base64 of 32 bytes, as key material is.
const SECRET: &str = "c2VjcmV0IGtleSBtYXRlcmlhbCB0aGF0IGxlYWtzISE=";

/// Each setting error's number, and how many there are (with these features).
fn variant_setting(e: &SettingError) -> usize {
    match e {
        SettingError::IdleTtlOutOfRange => 0,
        SettingError::AbsoluteLifetimeOutOfRange => 1,
        SettingError::MaxEnvelopeLenOutOfRange => 2,
        SettingError::SealerSizes => 3,
        SettingError::EmptyPrefix => 4,
        SettingError::ZeroScanCount => 5,
        SettingError::DuplicateCodec { .. } => 6,
        #[cfg(any(feature = "tower-sessions", feature = "actix-session"))]
        SettingError::PlainIdsWithAdapter => 7,
        #[cfg(feature = "tower-sessions")]
        SettingError::CodecCannotHoldRecords => 8,
        #[cfg(feature = "tower-sessions")]
        SettingError::LifetimeWithTowerSessions => 9,
        SettingError::OwnersWithoutLifetime => 10,
        SettingError::OwnersWithoutIndexKeys => 11,
        SettingError::OwnersWithPlainIds => 12,
    }
}

fn setting_variants() -> Vec<usize> {
    let mut all: Vec<usize> = (0..=6).collect();
    if cfg!(any(feature = "tower-sessions", feature = "actix-session")) {
        all.push(7);
    }
    if cfg!(feature = "tower-sessions") {
        all.extend([8, 9]);
    }
    all.extend([10, 11, 12]);
    all
}

/// Fails unless `seen` holds every number of `all`.
fn assert_all_covered(mut seen: Vec<usize>, all: Vec<usize>, what: &str) {
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen, all, "a {what} variant has no message in this file");
}

fn setting_messages() -> Vec<(SettingError, &'static str)> {
    #[cfg_attr(
        not(any(feature = "tower-sessions", feature = "actix-session")),
        allow(unused_mut)
    )]
    let mut all = vec![
        (
            SettingError::OwnersWithoutLifetime,
            "an owner index keeps each entry until the session's absolute expiry; set an \
             absolute lifetime (remove no_absolute_lifetime)",
        ),
        (
            SettingError::OwnersWithPlainIds,
            "an owner index lists sessions by storage id, which with StorageKeys::PlainIds is \
             the session id itself; build the store without StorageKeys::PlainIds",
        ),
        (
            SettingError::OwnersWithoutIndexKeys,
            "an owner index needs index keys; add index_keys to the keyring configuration or \
             give them to Owners::index_keys",
        ),
        (
            SettingError::IdleTtlOutOfRange,
            "the idle TTL must be between one second and ten years",
        ),
        (
            SettingError::AbsoluteLifetimeOutOfRange,
            "the absolute lifetime must be between one second and ten years",
        ),
        (
            SettingError::MaxEnvelopeLenOutOfRange,
            "the maximum envelope length must be between 95 bytes and 1 MiB",
        ),
        (
            SettingError::SealerSizes,
            "the sealer's overhead and reserved prefix must fit in the maximum envelope length; \
             raise max_envelope_len or fix the sealer's sizes",
        ),
        (
            SettingError::EmptyPrefix,
            "the key prefix must not be empty; keep the default sess: or name one",
        ),
        (
            SettingError::ZeroScanCount,
            "the scan count must be at least 1",
        ),
        (
            SettingError::DuplicateCodec { id: CodecId::JSON },
            "two codecs share codec id json; remove the also_read of that id (the write codec \
             reads its own values)",
        ),
    ];
    #[cfg(any(feature = "tower-sessions", feature = "actix-session"))]
    all.push((
        SettingError::PlainIdsWithAdapter,
        "framework adapters store session ids hashed; build the store without \
         StorageKeys::PlainIds",
    ));
    #[cfg(feature = "tower-sessions")]
    all.extend([
        (
            SettingError::CodecCannotHoldRecords,
            "a codec of the store cannot round-trip the serde_json::Values that tower-sessions \
             records hold; build the store with TowerSessionStore::builder, or, where \
             serde_json's arbitrary_precision is on, write Json (module docs)",
        ),
        (
            SettingError::LifetimeWithTowerSessions,
            "tower-sessions sets each record's expiry on every save, so a store lifetime would \
             slide with it; use no_absolute_lifetime (TowerSessionStore::builder does)",
        ),
    ]);
    all
}

#[test]
fn every_setting_message_is_as_written() {
    let mut seen = Vec::new();
    for (error, text) in setting_messages() {
        seen.push(variant_setting(&error));
        assert_eq!(error.to_string(), text, "{error:?}");
        assert_eq!(
            ConfigError::InvalidSetting(error).to_string(),
            format!("invalid store setting: {text}")
        );
    }
    assert_all_covered(seen, setting_variants(), "SettingError");
}

/// Each configuration error's number.
fn variant_config(e: &ConfigError) -> usize {
    match e {
        ConfigError::ZeroKeyId => 0,
        ConfigError::DuplicateKeyId { .. } => 1,
        ConfigError::NoPrimary => 2,
        ConfigError::MultiplePrimaries { .. } => 3,
        ConfigError::DuplicateMaterial { .. } => 4,
        ConfigError::KeyLength { .. } => 5,
        ConfigError::KeyEncoding { .. } => 6,
        ConfigError::WeakArgon2 { .. } => 7,
        ConfigError::Argon2Salt { .. } => 8,
        ConfigError::Argon2 => 9,
        ConfigError::UnknownSuite => 10,
        ConfigError::InvalidSetting(_) => 11,
        ConfigError::Key { .. } => 12,
        ConfigError::CostlyArgon2 { .. } => 13,
        #[cfg(feature = "config")]
        ConfigError::Syntax { .. } => 14,
        #[cfg(feature = "config")]
        ConfigError::ConfigFile { .. } => 15,
        #[cfg(feature = "config")]
        ConfigError::SecretFile { .. } => 16,
        #[cfg(feature = "config")]
        ConfigError::MissingEnv { .. } => 17,
        #[cfg(feature = "config")]
        ConfigError::FilePermissions { .. } => 18,
        #[cfg(feature = "config")]
        ConfigError::RemovedIdReturned { .. } => 19,
        #[cfg(feature = "config")]
        ConfigError::NoMaterial => 20,
        #[cfg(feature = "config")]
        ConfigError::NoSuite => 21,
        #[cfg(feature = "config")]
        ConfigError::RetiredWithMaterial => 22,
        #[cfg(feature = "config")]
        ConfigError::MaterialSources { .. } => 23,
        #[cfg(feature = "config")]
        ConfigError::PassphraseSettings => 24,
        #[cfg(feature = "config")]
        ConfigError::Argon2WithoutPassphrase => 25,
        #[cfg(feature = "config")]
        ConfigError::EmptyPassphrase => 26,
        #[cfg(feature = "config")]
        ConfigError::SaltEncoding => 27,
        #[cfg(feature = "config")]
        ConfigError::NotAFile { .. } => 28,
        #[cfg(feature = "config")]
        ConfigError::InvalidEnvName => 29,
        #[cfg(feature = "config")]
        ConfigError::SecretInPlaceOfName => 30,
        #[cfg(feature = "config")]
        ConfigError::KeyChanged { .. } => 31,
        #[cfg(feature = "config")]
        ConfigError::Unretired { .. } => 32,
        #[cfg(feature = "config")]
        ConfigError::PrimaryIdDecreased { .. } => 33,
        ConfigError::IndexKeys(_) => 34,
        ConfigError::SharedWithSealingKey { .. } => 35,
        #[cfg(feature = "config")]
        ConfigError::IndexKeyDropped { .. } => 36,
    }
}

fn config_variants() -> Vec<usize> {
    let mut all: Vec<usize> = (0..14).collect();
    if cfg!(feature = "config") {
        all.extend(14..34);
    }
    all.extend([34, 35]);
    if cfg!(feature = "config") {
        all.push(36);
    }
    all
}

/// Every configuration error with the exact message it prints. Inputs that are shown (ids,
/// lengths, paths, a variable name that looks like one) are the operator's own, never a
/// value read from a secret source.
fn config_messages() -> Vec<(ConfigError, String)> {
    let s = |text: &str| text.to_owned();
    #[cfg_attr(not(feature = "config"), allow(unused_mut))]
    let mut all = vec![
        (
            ConfigError::IndexKeys(Box::new(ConfigError::ZeroKeyId)),
            s("index keys: key id 0 is reserved; give the key an id of 1 or more"),
        ),
        (
            ConfigError::SharedWithSealingKey { id: 3 },
            s(
                "an index key has the same material as sealing key 3; give the index key \
                 material of its own",
            ),
        ),
        (
            ConfigError::ZeroKeyId,
            s("key id 0 is reserved; give the key an id of 1 or more"),
        ),
        (
            ConfigError::DuplicateKeyId { id: 4 },
            s("key id 4 appears more than once; give each key its own id"),
        ),
        (
            ConfigError::NoPrimary,
            s("no key is primary; exactly one must be"),
        ),
        (
            ConfigError::MultiplePrimaries { ids: vec![2, 3] },
            s("keys [2, 3] are all primary; exactly one must be"),
        ),
        (
            ConfigError::DuplicateMaterial {
                first: 1,
                second: 2,
            },
            s("keys 1 and 2 have the same key material; every key needs its own"),
        ),
        (
            ConfigError::KeyLength {
                id: Some(3),
                len: 31,
            },
            s("key 3: material is 31 bytes, it must be exactly 32"),
        ),
        (
            ConfigError::KeyLength { id: None, len: 0 },
            s("key material is 0 bytes, it must be exactly 32"),
        ),
        (
            ConfigError::KeyEncoding { id: Some(3) },
            s(
                "key 3: material is not valid base64; give 32 bytes in standard base64 \
               (sealed-session keygen writes one)",
            ),
        ),
        (
            ConfigError::KeyEncoding { id: None },
            s(
                "key material is not valid base64; give 32 bytes in standard base64 \
               (sealed-session keygen writes one)",
            ),
        ),
        (
            ConfigError::WeakArgon2 {
                m_cost_kib: 1024,
                t_cost: 1,
                p_cost: 1,
            },
            s(
                "Argon2id parameters m=1024 KiB, t=1, p=1 are below the minimum of m=19456 KiB, \
               t=2, p=1",
            ),
        ),
        (
            ConfigError::Argon2Salt { len: 8 },
            s("Argon2id salt is 8 bytes; it must be at least 16"),
        ),
        (
            ConfigError::Argon2,
            s(
                "Argon2id refused its parameters; lower the memory cost or the parallelism to \
               what this platform allows",
            ),
        ),
        (
            ConfigError::UnknownSuite,
            s("unknown AEAD suite; name aes-256-gcm or chacha20-poly1305"),
        ),
        (
            ConfigError::InvalidSetting(SettingError::ZeroScanCount),
            s("invalid store setting: the scan count must be at least 1"),
        ),
        (
            ConfigError::Key {
                id: 7,
                error: Box::new(ConfigError::ZeroKeyId),
            },
            s("key 7: key id 0 is reserved; give the key an id of 1 or more"),
        ),
        (
            ConfigError::CostlyArgon2 {
                m_cost_kib: 4_194_304,
                t_cost: 100,
                p_cost: 1,
            },
            s(
                "Argon2id parameters m=4194304 KiB, t=100, p=1 are above the maximum of \
               m=1048576 KiB, t=64, p=64",
            ),
        ),
    ];
    #[cfg(feature = "config")]
    all.extend(config_file_messages());
    all
}

#[cfg(feature = "config")]
fn config_file_messages() -> Vec<(ConfigError, String)> {
    let s = |text: &str| text.to_owned();
    let path = || PathBuf::from("/etc/app/keys.toml");
    let mut all = vec![
        (
            ConfigError::Syntax {
                format: "TOML",
                line: Some(3),
                message: s("invalid type: string, expected u32"),
            },
            s("TOML syntax error at line 3: invalid type: string, expected u32"),
        ),
        (
            ConfigError::Syntax {
                format: "JSON",
                line: None,
                message: s("EOF while parsing"),
            },
            s("JSON syntax error: EOF while parsing"),
        ),
        (
            ConfigError::ConfigFile {
                path: path(),
                kind: std::io::ErrorKind::NotFound,
            },
            s("cannot read configuration file /etc/app/keys.toml: entity not found"),
        ),
        (
            ConfigError::SecretFile {
                path: PathBuf::from("/run/secrets/k1"),
                kind: std::io::ErrorKind::PermissionDenied,
            },
            s("cannot read secret file /run/secrets/k1: permission denied"),
        ),
        (
            ConfigError::missing_env("SESSION_KEY_3", "env"),
            s(
                "environment variable SESSION_KEY_3 is not set (or not valid UTF-8); set it in the \
               environment of the process",
            ),
        ),
        (
            ConfigError::missing_env(SECRET, "passphrase_env"),
            s(
                "the environment variable named by `passphrase_env` is not set (or not valid \
               UTF-8); its name is not shown because it does not look like one (A-Z, 0-9 and _): \
               if a secret was typed there, move it into the variable and name the variable",
            ),
        ),
        (
            ConfigError::RemovedIdReturned { id: 2 },
            s(
                "key 2 was removed from the configuration earlier in this process's life; a \
               removed id counts as retired and never opens again, so give the key a new id (to \
               retire a key, mark it state = \"retired\" rather than deleting it)",
            ),
        ),
        (
            ConfigError::NoMaterial,
            s("no material source; add material = { env = \"...\" } or { file = \"...\" }"),
        ),
        (
            ConfigError::NoSuite,
            s("no suite; add suite = \"aes-256-gcm\" or \"chacha20-poly1305\""),
        ),
        (
            ConfigError::RetiredWithMaterial,
            s(
                "a retired key opens nothing, so it must not name material; remove the material \
               line and destroy the secret",
            ),
        ),
        (
            ConfigError::MaterialSources { named: 2 },
            s(
                "material names 2 sources; name exactly one of env, file, passphrase_env, \
               passphrase_file, insecure_inline",
            ),
        ),
        (
            ConfigError::PassphraseSettings,
            s("a passphrase needs argon2 = { m_cost_kib, t_cost, p_cost } and a base64 salt"),
        ),
        (
            ConfigError::Argon2WithoutPassphrase,
            s("argon2 and salt apply only to passphrase_env or passphrase_file"),
        ),
        (
            ConfigError::EmptyPassphrase,
            s("the passphrase is empty; put the passphrase in the variable or file named"),
        ),
        (
            ConfigError::SaltEncoding,
            s("the Argon2id salt is not valid base64; write at least 16 bytes in standard base64"),
        ),
        (
            ConfigError::NotAFile {
                path: PathBuf::from("/run/secrets"),
            },
            s(
                "/run/secrets is not a regular file; name the file itself, not a directory, FIFO \
               or device",
            ),
        ),
        (
            ConfigError::InvalidEnvName,
            s("not a valid environment variable name (letters, digits, _ . -, at most 128)"),
        ),
        (
            ConfigError::SecretInPlaceOfName,
            s(
                "a variable name or path contains what looks like base64 key material (43 or 44 \
               base64 characters that decode to 32 bytes); put the secret in the variable or \
               file and its name here, or rename a directory whose name is such a token",
            ),
        ),
        (
            ConfigError::KeyChanged { id: 3 },
            s(
                "key 3 has different material or suite than the keyring in use; ids are never \
               reused, give the new key a new id",
            ),
        ),
        (
            ConfigError::Unretired { id: 1 },
            s(
                "key 1 is retired in the keyring in use; a retired id never opens again, give \
               the key a new id",
            ),
        ),
        (
            ConfigError::IndexKeyDropped { id: 2 },
            s(
                "index key 2 names the indexes written so far; keep it with state = \
                 \"previous\" until the sessions created before the change have expired, then \
                 remove it",
            ),
        ),
        (
            ConfigError::PrimaryIdDecreased {
                previous: 5,
                next: 4,
            },
            s(
                "key 4 would replace key 5 as primary, but key ids grow with age and envelopes \
               are only re-sealed to higher ids; give the new key an id above 5",
            ),
        ),
    ];
    let permission = |problem, mode| ConfigError::FilePermissions {
        path: path(),
        mode,
        problem,
    };
    all.extend([
        (
            permission(PermissionProblem::SecretNotPrivate, 0o644),
            s(
                "secret file /etc/app/keys.toml has mode 0644: group or others can access it; \
               run chmod 600 on it (or see FilePermissions for the opt-out)",
            ),
        ),
        (
            permission(PermissionProblem::ConfigWritable, 0o666),
            s(
                "configuration file /etc/app/keys.toml has mode 0666: group or others can write \
               it; run chmod go-w on it (or see FilePermissions for the opt-out)",
            ),
        ),
        (
            permission(PermissionProblem::InlineSecretNotPrivate, 0o644),
            s(
                "configuration file /etc/app/keys.toml holds insecure_inline key material and \
               has mode 0644: group or others can read it; run chmod 600 on it, or move the \
               keys into secret files (or see FilePermissions for the opt-out)",
            ),
        ),
        (
            permission(PermissionProblem::DirectoryWritable, 0o777),
            s(
                "the directory /etc/app/keys.toml of the configuration file has mode 0777: group \
               or others can write it; run chmod go-w on it, or move the file (or see \
               FilePermissions for the opt-out)",
            ),
        ),
    ]);
    all
}

#[test]
fn every_configuration_message_is_as_written() {
    let mut seen = Vec::new();
    for (error, text) in config_messages() {
        seen.push(variant_config(&error));
        assert_eq!(error.to_string(), text, "{error:?}");
        assert_eq!(
            Error::Config(error).to_string(),
            format!("invalid configuration: {text}")
        );
    }
    assert_all_covered(seen, config_variants(), "ConfigError");
}

/// "Names the fix": each message says what to do, what the rule is, or which value to
/// change, in words an operator can act on. The markers below are how these messages do it.
/// Two kinds point at the place to fix instead: a syntax error (the parser's own words, its
/// quoted values removed, and the line) and a file that cannot be read (the path and the
/// operating system's reason).
#[test]
fn every_configuration_message_names_the_fix() {
    const FIXES: &[&str] = &[
        "must",
        "needs ",
        "set it",
        "build ",
        "use ",
        "raise ",
        "give ",
        "add ",
        "name ",
        "put ",
        "run ",
        "remove",
        "lower",
        "write at",
        "only to",
        "minimum",
        "maximum",
        "not a valid",
    ];
    let points_at_the_place = |e: &ConfigError| {
        #[cfg(feature = "config")]
        if matches!(
            e,
            ConfigError::Syntax { .. }
                | ConfigError::ConfigFile { .. }
                | ConfigError::SecretFile { .. }
        ) {
            return true;
        }
        let _ = e;
        false
    };
    let mut texts: Vec<String> = config_messages()
        .into_iter()
        .filter(|(e, _)| !points_at_the_place(e))
        .map(|(_, t)| t)
        .collect();
    texts.extend(setting_messages().into_iter().map(|(_, t)| t.to_owned()));
    let silent: Vec<String> = texts
        .into_iter()
        .filter(|text| !FIXES.iter().any(|fix| text.contains(fix)))
        .collect();
    assert!(
        silent.is_empty(),
        "these messages do not say what to do: {silent:#?}"
    );
}

/// Values the operator may have pasted in the wrong place come back nowhere: not in the
/// message, not in `Debug`.
#[cfg(feature = "config")]
#[test]
fn a_secret_typed_where_a_variable_name_belongs_is_never_repeated() {
    for name in [
        SECRET,
        "correct horse battery staple",
        // Upper-case base32, which looks like a variable name but for its long words.
        "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43UOV3HO6DZPIAA",
    ] {
        let error = ConfigError::missing_env(name, "env");
        assert!(!error.to_string().contains(name), "{error}");
        assert!(!format!("{error:?}").contains(name), "{error:?}");
        assert!(!Error::Config(error).to_string().contains(name));
    }
}

#[test]
fn backend_messages_keep_only_the_kind_a_fixed_detail_and_a_code_word() {
    let cases = [
        (
            BackendError::from_kind(BackendErrorKind::Connection),
            "connection failed",
        ),
        (
            BackendError::from_kind(BackendErrorKind::Timeout),
            "timed out",
        ),
        (
            BackendError::from_kind(BackendErrorKind::Server).with_code("NOPERM"),
            "server error (NOPERM)",
        ),
        (
            BackendError::from_kind(BackendErrorKind::Other)
                .with_detail("the cluster has no node for this key"),
            "backend failure: the cluster has no node for this key",
        ),
    ];
    for (error, text) in cases {
        assert_eq!(error.to_string(), text);
        assert_eq!(
            Error::Backend(error).to_string(),
            format!("session backend error: {text}")
        );
    }
    // A server's text is not a code: it may quote the command's key or value.
    let quoted = BackendError::new(
        BackendErrorKind::Server,
        format!("ERR wrong value {SECRET}"),
    )
    .with_code("ERR wrong value");
    assert_eq!(quoted.to_string(), "server error");
    assert!(!format!("{quoted:?}").contains(SECRET));
}

#[test]
fn rejection_messages_name_the_rule_and_its_step() {
    let kinds = [
        (RejectKind::Length, "length (opening step 1)"),
        (RejectKind::Version, "version (opening step 2)"),
        (RejectKind::Suite, "suite (opening step 2)"),
        (RejectKind::Codec, "codec (opening step 2)"),
        (RejectKind::UnknownKey, "unknown_key (opening step 3)"),
        (RejectKind::RetiredKey, "retired_key (opening step 3)"),
        (RejectKind::SuiteMismatch, "suite_mismatch (opening step 4)"),
        (RejectKind::Commitment, "commitment (opening step 5)"),
        (
            RejectKind::Authentication,
            "authentication (opening step 6)",
        ),
        (RejectKind::Expired, "expired (opening step 7)"),
        (RejectKind::NoReader, "no_reader (opening step 8)"),
        (RejectKind::Decode, "decode (opening step 8)"),
    ];
    for (kind, text) in kinds {
        match kind {
            RejectKind::Length
            | RejectKind::Version
            | RejectKind::Suite
            | RejectKind::Codec
            | RejectKind::UnknownKey
            | RejectKind::RetiredKey
            | RejectKind::SuiteMismatch
            | RejectKind::Commitment
            | RejectKind::Authentication
            | RejectKind::Expired
            | RejectKind::NoReader
            | RejectKind::Decode => {}
        }
        assert_eq!(Rejection::new(kind).to_string(), text);
        assert_eq!(
            Error::from(kind).to_string(),
            format!("stored session refused: {text}")
        );
    }
}

#[test]
fn codec_messages_keep_the_category_never_the_input() {
    let kinds = [
        (CodecErrorKind::UnexpectedEnd, "input ended early"),
        (
            CodecErrorKind::TrailingBytes,
            "trailing bytes after the value",
        ),
        (CodecErrorKind::Syntax, "malformed input"),
        (CodecErrorKind::Data, "data does not match the session type"),
        (CodecErrorKind::Limit, "size limit exceeded"),
        (
            CodecErrorKind::Unsupported,
            "value not representable in this format",
        ),
        (CodecErrorKind::Other, "codec failure"),
    ];
    for (kind, text) in kinds {
        match kind {
            CodecErrorKind::UnexpectedEnd
            | CodecErrorKind::TrailingBytes
            | CodecErrorKind::Syntax
            | CodecErrorKind::Data
            | CodecErrorKind::Limit
            | CodecErrorKind::Unsupported
            | CodecErrorKind::Other => {}
        }
        let error = CodecError::new(CodecId::JSON, CodecOp::Decode, kind);
        assert_eq!(error.to_string(), format!("json decoding failed: {text}"));
    }
    assert_eq!(
        Error::Encode(CodecError::new(
            CodecId::BINCODE,
            CodecOp::Encode,
            CodecErrorKind::Unsupported
        ))
        .to_string(),
        "session data could not be encoded: bincode encoding failed: value not representable \
         in this format"
    );
}

#[test]
fn store_errors_say_what_happened_without_the_session() {
    let cases: [(Error, &str); 11] = [
        (
            Error::TooLarge {
                len: 70_000,
                max: 65_536,
            },
            "sealed session of 70000 bytes exceeds the maximum of 65536 bytes",
        ),
        (
            Error::AlreadyExists,
            "a session already exists under that id",
        ),
        (Error::SessionGone, "the session no longer exists"),
        (
            Error::SessionExpired,
            "the session's absolute lifetime is over",
        ),
        (
            Error::Conflict,
            "the session was saved by another request since it was loaded; nothing was \
             written: load it again and re-apply the change",
        ),
        (Error::InvalidSessionId, "malformed session id"),
        (Error::InvalidOwner, "an owner must be 1 to 1024 bytes long"),
        (
            Error::NoOwnerIndex,
            "the session has an owner but the store has no owner index; build the store with \
             an owner index",
        ),
        (
            Error::OwnerCapReached { cap: 5 },
            "the owner already has 5 sessions, the most the store allows",
        ),
        (
            Error::Rng,
            "the operating system's random number generator failed",
        ),
        (Error::Sealer(SECRET.into()), "the sealer failed"),
    ];
    for (error, text) in cases {
        assert_eq!(error.to_string(), text);
    }
}

/// Each legacy refusal's number: a new variant does not compile until it is numbered here.
#[cfg(feature = "express")]
fn variant_legacy(e: &LegacyError) -> usize {
    match e {
        LegacyError::UnsignedCookie => 0,
        LegacyError::CookieTooLong => 1,
        LegacyError::MalformedCookie => 2,
        LegacyError::BadSignature => 3,
        LegacyError::RecordTooLarge => 4,
        LegacyError::MalformedRecord { .. } => 5,
        LegacyError::Tampered => 6,
        LegacyError::Undecryptable => 7,
        LegacyError::Expired => 8,
        LegacyError::UnsupportedOption { .. } => 9,
        LegacyError::NoSecret => 10,
    }
}

#[cfg(feature = "express")]
#[test]
fn legacy_refusals_name_the_rule_never_the_cookie_or_record() {
    let cases = [
        (
            LegacyError::UnsignedCookie,
            "the session cookie is not signed (no `s:` prefix)",
            "unsigned_cookie",
        ),
        (
            LegacyError::CookieTooLong,
            "the session cookie or its session id is too long",
            "cookie_too_long",
        ),
        (
            LegacyError::MalformedCookie,
            "the session cookie has no signature or no session id",
            "malformed_cookie",
        ),
        (
            LegacyError::BadSignature,
            "the session cookie's signature matches none of the secrets",
            "bad_signature",
        ),
        (
            LegacyError::RecordTooLarge,
            "the legacy session record is longer than the maximum accepted",
            "record_too_large",
        ),
        (
            LegacyError::MalformedRecord { part: "iv" },
            "the legacy session record is malformed (iv)",
            "malformed_record",
        ),
        (
            LegacyError::Tampered,
            "the legacy session record's HMAC does not match: it was changed, or sealed under \
             another secret",
            "tampered",
        ),
        (
            LegacyError::Undecryptable,
            "the legacy session record did not decrypt (AES-256-GCM refused it)",
            "undecryptable",
        ),
        (
            LegacyError::Expired,
            "the legacy session's cookie has expired",
            "expired",
        ),
        (
            LegacyError::UnsupportedOption { option: "use_asn1" },
            "the legacy store option `use_asn1` is not supported; only kruptein's defaults are \
             read",
            "unsupported_option",
        ),
        (
            LegacyError::NoSecret,
            "a legacy secret is required and none was given",
            "no_secret",
        ),
    ];
    let seen = cases.iter().map(|(e, _, _)| variant_legacy(e)).collect();
    assert_all_covered(seen, (0..=10).collect(), "legacy");
    for (error, text, label) in cases {
        assert_eq!(error.to_string(), text);
        assert_eq!(error.as_str(), label);
        assert_eq!(
            Error::Legacy(error).to_string(),
            format!("legacy session refused: {text}")
        );
    }
}
