//! Store settings that are refused, and what `Debug` shows of a store and a session.

use std::time::Duration;

use sealed_session::{
    Bincode, CodecId, ConfigError, Error, Json, KeyringSealer, MAX_ENVELOPE_LEN_LIMIT,
    MAX_LIFETIME, MemoryBackend, OpenContext, Opened, SealContext, Sealer, Session, SettingError,
    Store,
};

use crate::support::{WebSession, keyring};

fn builder() -> sealed_session::StoreBuilder<WebSession, MemoryBackend> {
    Store::builder(MemoryBackend::new())
}

/// The rule a build broke.
fn refused(result: Result<Store<WebSession, MemoryBackend>, Error>) -> SettingError {
    match result {
        Err(Error::Config(ConfigError::InvalidSetting(e))) => e,
        other => panic!("expected a refused setting, got {other:?}"),
    }
}

// A store without a keyring or sealer, or with a salt source for a custom sealer, does not
// compile: the `compile_fail` examples on `StoreBuilder` show both.

#[test]
fn out_of_range_settings_are_refused_by_rule() {
    let with_keyring = || builder().keyring(keyring(1));
    assert_eq!(
        refused(with_keyring().idle_ttl(Duration::ZERO).build()),
        SettingError::IdleTtlOutOfRange
    );
    assert_eq!(
        refused(with_keyring().idle_ttl(Duration::from_millis(500)).build()),
        SettingError::IdleTtlOutOfRange
    );
    assert_eq!(
        refused(with_keyring().absolute_lifetime(Duration::ZERO).build()),
        SettingError::AbsoluteLifetimeOutOfRange
    );
    assert_eq!(
        refused(with_keyring().max_envelope_len(94).build()),
        SettingError::MaxEnvelopeLenOutOfRange
    );
    assert_eq!(
        refused(with_keyring().scan_count(0).build()),
        SettingError::ZeroScanCount
    );
    // The edges are accepted.
    with_keyring()
        .idle_ttl(Duration::from_secs(1))
        .absolute_lifetime(MAX_LIFETIME)
        .max_envelope_len(95)
        .scan_count(1)
        .build()
        .unwrap();
}

#[test]
fn two_codecs_with_one_id_are_refused() {
    assert_eq!(
        refused(builder().keyring(keyring(1)).also_read(Bincode).build()),
        SettingError::DuplicateCodec {
            id: CodecId::BINCODE
        }
    );
    assert_eq!(
        refused(
            builder()
                .keyring(keyring(1))
                .also_read(Json)
                .also_read(Json)
                .build()
        ),
        SettingError::DuplicateCodec { id: CodecId::JSON }
    );
}

/// A custom sealer whose sizes do not fit the envelope limit is a configuration error, not
/// an allocation failure on the first save.
#[test]
fn a_sealer_whose_sizes_do_not_fit_is_refused() {
    #[derive(Debug)]
    struct Huge(KeyringSealer);
    impl Sealer for Huge {
        fn seal(&self, ctx: &SealContext<'_>, plaintext: &[u8]) -> Result<Vec<u8>, Error> {
            self.0.seal(ctx, plaintext)
        }
        fn open(&self, ctx: &OpenContext<'_>, value: Vec<u8>) -> Result<Opened, Error> {
            self.0.open(ctx, value)
        }
        fn overhead(&self) -> Option<usize> {
            Some(usize::MAX)
        }
    }
    assert_eq!(
        refused(
            builder()
                .sealer(Huge(KeyringSealer::new(keyring(1))))
                .build()
        ),
        SettingError::SealerSizes
    );
}

#[test]
fn debug_of_a_store_shows_configuration_only() {
    let store = builder().keyring(keyring(1)).build().unwrap();
    assert_eq!(
        format!("{store:?}"),
        "Store { sealer: KeyringSealer { keyring: Keyring { primary: 1, keys: [1 primary aes-256-gcm] }, salt: Os }, \
         prefix: \"sess:\", storage_keys: Hashed, codec: bincode, reads: [bincode], \
         idle_ttl: Fixed(86400s), absolute_lifetime: Some(604800), touch: true, \
         max_envelope_len: 65536, scan_count: 100, lazy_reseal: true, owners: None, \
         optimistic_saves: false, update_retries: Retries { attempts: 10, first_delay: 1ms, \
         max_delay: 50ms }, .. }"
    );
}

#[test]
fn debug_of_a_builder_shows_its_state_and_settings_only() {
    assert_eq!(
        format!("{:?}", builder()),
        "StoreBuilder { sealer: WantsSealer, prefix: \"sess:\", storage_keys: Hashed, \
         codec: bincode, reads: [bincode], idle_ttl: Fixed(86400s), absolute_lifetime: \
         Some(604800), touch: true, max_envelope_len: 65536, scan_count: 100, \
         lazy_reseal: true, owners: None, optimistic_saves: false, update_retries: Retries { \
         attempts: 10, first_delay: 1ms, max_delay: 50ms }, .. }"
    );
    let owned = format!(
        "{:?}",
        builder().owners(sealed_session::Owners::new().cap(5, sealed_session::CapPolicy::Refuse))
    );
    assert!(
        owned.contains("owners: Some(Owners { cap: Some((5, Refuse)), index_keys: None })"),
        "{owned}"
    );
    let text = format!("{:?}", builder().keyring(keyring(1)).also_read(Json));
    assert!(
        text.starts_with(
            "StoreBuilder { sealer: WithKeyring { keyring: Keyring { primary: 1, keys: \
             [1 primary aes-256-gcm] }, salt: Os }, prefix: \"sess:\""
        ),
        "{text}"
    );
    assert!(text.contains("reads: [bincode, json]"), "{text}");
    let text = format!("{:?}", builder().sealer(KeyringSealer::new(keyring(2))));
    assert!(
        text.starts_with("StoreBuilder { sealer: KeyringSealer { keyring: Keyring { primary: 2"),
        "{text}"
    );
}

/// Salts come from the operating system unless the application opts into the thread-local
/// generator, which a `fork()` or a VM snapshot copies with its state (repeating salts, so
/// envelope keys, across sessions). Choosing the source keeps the keyring handle.
#[test]
fn salts_come_from_the_os_unless_the_thread_local_generator_is_chosen() {
    use sealed_session::SaltSource;
    assert_eq!(SaltSource::default(), SaltSource::Os);
    assert!(format!("{:?}", KeyringSealer::new(keyring(1))).ends_with("salt: Os }"));
    let store = builder().keyring(keyring(1)).build().unwrap();
    assert!(format!("{store:?}").contains("salt: Os"));

    let store = builder()
        .keyring(keyring(1))
        .salt_source(SaltSource::ThreadLocal)
        .build()
        .unwrap();
    assert!(format!("{store:?}").contains("salt: ThreadLocal"));
    let handle = store.keyring_handle().expect("the keyring handle is kept");
    assert_eq!(handle.current().primary_id(), 1);
}

#[test]
fn debug_of_a_session_hides_its_data_owner_and_label() {
    let mut session = Session::new(WebSession::sample(1));
    assert_eq!(
        format!("{session:?}"),
        "Session { data: [redacted], expires_at: None, owner: None, created_at: 0, \
         last_seen: 0, label: None }"
    );
    session.bind_owner(sealed_session::Owner::new("alice@example.com").unwrap());
    session.set_label("Firefox on Linux");
    let text = format!("{session:?}");
    assert_eq!(
        text,
        "Session { data: [redacted], expires_at: None, owner: Some(Owner([redacted])), \
         created_at: 0, last_seen: 0, label: Some(\"[redacted]\") }"
    );
}

#[test]
fn an_empty_prefix_is_refused() {
    assert_eq!(
        refused(builder().keyring(keyring(1)).prefix("").build()),
        SettingError::EmptyPrefix
    );
}

#[test]
fn too_large_limits_are_refused() {
    assert_eq!(
        refused(
            builder()
                .keyring(keyring(1))
                .max_envelope_len(MAX_ENVELOPE_LEN_LIMIT + 1)
                .build()
        ),
        SettingError::MaxEnvelopeLenOutOfRange
    );
    assert_eq!(
        refused(
            builder()
                .keyring(keyring(1))
                .idle_ttl(Duration::from_secs(20 * 365 * 86_400))
                .build()
        ),
        SettingError::IdleTtlOutOfRange
    );
}

#[test]
fn debug_of_contexts_pages_and_cursors_omits_keys() {
    use sealed_session::{CodecId, OpenContext, ScanCursor, ScanPage, SealContext};
    let key = b"sess:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    assert_eq!(
        format!("{:?}", SealContext::new(key, CodecId::JSON, 5)),
        "SealContext { storage_key_len: 48, codec: json, expires_at: 5 }"
    );
    assert_eq!(
        format!("{:?}", OpenContext::new(key, 7, 100)),
        "OpenContext { storage_key_len: 48, now: 7, max_len: 100 }"
    );
    let page = ScanPage {
        keys: vec!["sess:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into()],
        next: Some(ScanCursor::new(
            ">sess:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        )),
    };
    assert_eq!(
        format!("{page:?}"),
        "ScanPage { keys: 1, next: Some(ScanCursor(..)) }"
    );
}
