//! Store settings that are refused, and what `Debug` shows of a store and a session.

use std::time::Duration;

use sealed_session::{ConfigError, Error, MemoryBackend, Session, Store};

use crate::support::{WebSession, keyring};

fn builder() -> sealed_session::StoreBuilder<WebSession, MemoryBackend> {
    Store::builder(MemoryBackend::new())
}

fn invalid(result: Result<Store<WebSession, MemoryBackend>, Error>) -> ConfigError {
    match result {
        Err(Error::Config(e)) => e,
        other => panic!("expected a configuration error, got {other:?}"),
    }
}

#[test]
fn a_store_needs_a_keyring_or_sealer() {
    assert!(matches!(
        invalid(builder().build()),
        ConfigError::InvalidSetting(_)
    ));
}

#[test]
fn out_of_range_settings_are_refused() {
    invalid(
        builder()
            .keyring(keyring(1))
            .idle_ttl(Duration::ZERO)
            .build(),
    );
    invalid(
        builder()
            .keyring(keyring(1))
            .idle_ttl(Duration::from_millis(500))
            .build(),
    );
    invalid(
        builder()
            .keyring(keyring(1))
            .absolute_lifetime(Duration::ZERO)
            .build(),
    );
    invalid(builder().keyring(keyring(1)).max_envelope_len(94).build());
    invalid(builder().keyring(keyring(1)).scan_count(0).build());
}

#[test]
fn debug_of_a_store_shows_configuration_only() {
    let store = builder().keyring(keyring(1)).build().unwrap();
    assert_eq!(
        format!("{store:?}"),
        "Store { prefix: \"sess:\", storage_keys: Hashed, codec: bincode, reads: [bincode], \
         sealer: KeyringSealer { keyring: Keyring { primary: 1, keys: [1 primary aes-256-gcm] }, salt: Os }, \
         idle_ttl: Fixed(86400s), absolute_lifetime: Some(604800), touch: true, \
         max_envelope_len: 65536, scan_count: 100, lazy_reseal: true, .. }"
    );
}

/// Salts come from the operating system unless the application opts into the thread-local
/// generator, which a `fork()` or a VM snapshot copies with its state (repeating salts, so
/// envelope keys, across sessions). Choosing the source keeps the keyring handle.
#[test]
fn salts_come_from_the_os_unless_the_thread_local_generator_is_chosen() {
    use sealed_session::{KeyringSealer, SaltSource};
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

    // A custom sealer chooses its own salts: saying otherwise is a mistake.
    let err = invalid(
        builder()
            .sealer(KeyringSealer::new(keyring(1)))
            .salt_source(SaltSource::Os)
            .build(),
    );
    assert!(err.to_string().contains("salt source"), "{err}");
}

#[test]
fn debug_of_a_session_hides_its_data() {
    let session = Session::new(WebSession::sample(1));
    assert_eq!(
        format!("{session:?}"),
        "Session { data: [redacted], expires_at: None }"
    );
}

#[test]
fn an_empty_prefix_is_refused() {
    invalid(builder().keyring(keyring(1)).prefix("").build());
}

#[test]
fn too_large_limits_are_refused() {
    invalid(
        builder()
            .keyring(keyring(1))
            .max_envelope_len(2 * 1024 * 1024)
            .build(),
    );
    invalid(
        builder()
            .keyring(keyring(1))
            .idle_ttl(Duration::from_secs(20 * 365 * 86_400))
            .build(),
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
