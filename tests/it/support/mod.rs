//! Shared test support: session types, keyrings, and the store conformance suite that every
//! backend runs (see `conformance.rs`).

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod conformance;
pub mod http;
#[cfg(feature = "redis")]
pub mod redis;

use sealed_session::{
    Backend, KeyMaterial, Keyring, ManualClock, Store, StoreBuilder, Suite, WithKeyring,
};
use serde::{Deserialize, Serialize};

/// A realistic session: user, roles, CSRF token, flash messages, a small cart.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct WebSession {
    pub user_id: u64,
    pub roles: Vec<String>,
    pub csrf: String,
    pub flash: Vec<String>,
    pub cart: Vec<CartLine>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct CartLine {
    pub sku: String,
    pub qty: u32,
    pub price_cents: u64,
}

impl WebSession {
    pub fn sample(user_id: u64) -> Self {
        WebSession {
            user_id,
            roles: vec!["customer".into(), "beta-tester".into()],
            csrf: "Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5".into(),
            flash: vec!["Welcome back, Alice!".into()],
            cart: vec![
                CartLine {
                    sku: "BOOK-RUST-2024".into(),
                    qty: 1,
                    price_cents: 3999,
                },
                CartLine {
                    sku: "MUG-FERRIS".into(),
                    qty: 2,
                    price_cents: 1250,
                },
            ],
        }
    }
}

pub const T0: u64 = 1_800_000_000;

pub fn material(byte: u8) -> KeyMaterial {
    KeyMaterial::from_bytes(&mut [byte; 32])
}

pub fn keyring(id: u32) -> Keyring {
    Keyring::single(
        id,
        Suite::Aes256Gcm,
        material(u8::try_from(id).unwrap_or(0xAA)),
    )
    .unwrap()
}

pub fn store_on<B: Backend>(backend: B, clock: &ManualClock) -> Store<WebSession, B> {
    configured(backend, clock, |b| b)
}

/// A store with key 1 and the test clock, after `configure` adjusted its builder.
pub fn configured<B: Backend>(
    backend: B,
    clock: &ManualClock,
    configure: impl FnOnce(StoreBuilder<WebSession, B, WithKeyring>) -> StoreBuilder<WebSession, B, WithKeyring>,
) -> Store<WebSession, B> {
    configure(Store::builder(backend).keyring(keyring(1)))
        .clock(clock.clone())
        .build()
        .unwrap()
}

/// Instantiates the conformance suite for one backend: `$make` is an expression of type
/// `impl AsyncFn(&ManualClock) -> B` giving a fresh, empty backend, evaluated per test.
#[macro_export]
macro_rules! store_conformance {
    ($make:expr) => {
        $crate::store_conformance!(@tests $make;
            save_then_load_returns_the_same_data,
            load_of_an_unknown_id_is_none,
            create_refuses_an_existing_id,
            save_replaces_and_keeps_the_absolute_expiry,
            destroy_removes_and_reports_existence,
            cycle_id_moves_data_and_removes_the_old_entry,
            storage_key_is_prefix_and_hashed_id,
            plain_mode_stores_the_id_after_the_prefix,
            ids_len_all_clear_cover_only_the_prefix,
            all_reports_refused_entries_without_hiding_others,
            value_swapped_between_sessions_is_refused_for_both,
            value_copied_to_another_prefix_is_refused,
            tampered_value_is_refused_not_returned,
            oversized_session_is_refused_on_save,
            oversized_value_is_refused_on_load,
            load_after_expiry_is_refused_even_if_the_entry_remains,
            save_after_the_absolute_lifetime_is_refused,
            stored_bytes_are_an_envelope_without_plaintext,
            save_after_destroy_does_not_bring_the_session_back,
            saving_a_new_session_over_an_existing_id_is_refused,
            touch_after_destroy_reports_the_session_gone,
            cycle_id_of_a_destroyed_session_fails_and_leaves_nothing,
            shortening_the_lifetime_applies_to_live_sessions,
            enabling_a_lifetime_applies_to_sessions_without_one,
            listing_ignores_keys_of_a_longer_prefix,
            compare_and_swap_replaces_only_the_expected_value,
            compare_and_swap_many_reports_each_entry,
            load_reseals_a_session_under_a_decrypt_only_key,
            lazy_reseal_can_be_turned_off,
            rewrap_reseals_what_is_not_under_the_primary_once,
                        rewrap_never_reseals_from_a_retired_key,
            a_lagging_keyring_never_moves_envelopes_back,
            a_reseal_never_overwrites_a_concurrent_save_or_deletion,
            an_envelope_without_expiry_gets_its_cap_at_the_first_load,
            reseals_never_write_an_envelope_without_expiry,
            is_empty_stops_at_the_first_entry,
        );
    };
    (@tests $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                $crate::support::conformance::$name($make).await;
            }
        )*
    };
}

/// Reads a raw stored value, with no size bound.
pub async fn raw_get<B: Backend>(backend: &B, key: &str) -> Option<Vec<u8>> {
    match backend.get(key, usize::MAX).await.unwrap() {
        sealed_session::Fetched::Value(v) => Some(v),
        sealed_session::Fetched::Missing => None,
        other => panic!("not a byte string: {other:?}"),
    }
}

/// A fresh directory under the system temp dir, unique to this process and call.
pub fn temp_dir(tag: &str) -> std::path::PathBuf {
    // 16 hex digits of randomness: a 43-character base64 token here would look like key
    // material to the configuration checks (which refuse such paths).
    let random = sealed_session::SessionId::generate().unwrap().hashed();
    let dir = std::env::temp_dir().join(format!(
        "sealed-session-{tag}-{}-{}",
        std::process::id(),
        &random.as_str()[..16]
    ));
    std::fs::create_dir_all(&dir).unwrap();
    private(&dir, 0o700);
    dir
}

/// Writes a file only its owner can read or write (0600), as a keyring configuration wants
/// of secret files (and accepts of configuration files), whatever the umask.
pub fn write_private(
    path: impl AsRef<std::path::Path>,
    contents: impl AsRef<[u8]>,
) -> std::io::Result<()> {
    std::fs::write(path.as_ref(), contents)?;
    private(path.as_ref(), 0o600);
    Ok(())
}

/// Sets a path's mode bits (Unix).
pub fn private(path: &std::path::Path, mode: u32) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    #[cfg(not(unix))]
    let _ = (path, mode);
}
