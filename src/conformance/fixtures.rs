//! What the checks store and how they build stores: a realistic session type, fixed keys
//! and a fixed start time. Public, so a backend's own tests can use the same fixtures; the
//! crate's integration tests include this file too (its paths name the crate, as a user's
//! would). The keys are fixed and public: for tests only.

use serde::{Deserialize, Serialize};

use sealed_session::{
    Backend, IndexKeys, KeyMaterial, Keyring, ManualClock, Owners, Store, StoreBuilder, Suite,
    WithKeyring,
};

/// A realistic session: user, roles, CSRF token, flash messages, a small cart.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct WebSession {
    /// The signed-in user.
    pub user_id: u64,
    /// The user's roles.
    pub roles: Vec<String>,
    /// A CSRF token.
    pub csrf: String,
    /// Messages for the next page.
    pub flash: Vec<String>,
    /// The shopping cart.
    pub cart: Vec<CartLine>,
}

/// One line of [`WebSession::cart`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct CartLine {
    /// The product.
    pub sku: String,
    /// How many.
    pub qty: u32,
    /// The unit price.
    pub price_cents: u64,
}

impl WebSession {
    /// A session of about 300 bytes for `user_id`.
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

/// The time the checks' clocks start at, in Unix seconds (January 2027).
pub const T0: u64 = 1_800_000_000;

/// Fixed key material: 32 times `byte`. For tests only, obviously.
pub fn material(byte: u8) -> KeyMaterial {
    KeyMaterial::from_bytes(&mut [byte; 32])
}

/// A keyring of one AES-256-GCM primary key `id`, with [`material`] of that byte.
pub fn keyring(id: u32) -> Keyring {
    Keyring::single(
        id,
        Suite::Aes256Gcm,
        material(u8::try_from(id).unwrap_or(0xAA)),
    )
    .unwrap()
}

/// A keyring of one AES-256-GCM primary key `id` and index key 1 (material `0x51`).
pub fn keyring_with_index(id: u32) -> Keyring {
    Keyring::builder()
        .primary(
            id,
            Suite::Aes256Gcm,
            material(u8::try_from(id).unwrap_or(0xAA)),
        )
        .index_keys(IndexKeys::new(1, material(0x51)))
        .build()
        .unwrap()
}

/// A store with key 1, index key 1, an owner index configured by `owners`, and the test
/// clock.
pub fn owned_store<B: Backend>(
    backend: B,
    clock: &ManualClock,
    owners: Owners,
) -> Store<WebSession, B> {
    Store::builder(backend)
        .keyring(keyring_with_index(1))
        .owners(owners)
        .clock(clock.clone())
        .build()
        .unwrap()
}

/// A store with key 1 and the test clock, as the builder makes it otherwise.
pub fn store_on<B: Backend>(backend: B, clock: &ManualClock) -> Store<WebSession, B> {
    configured(backend, clock, |b| b)
}

/// A store with key 1 and the test clock, after `configure` adjusted its builder.
pub fn configured<B: Backend>(
    backend: B,
    clock: &ManualClock,
    configure: impl FnOnce(
        StoreBuilder<WebSession, B, WithKeyring>,
    ) -> StoreBuilder<WebSession, B, WithKeyring>,
) -> Store<WebSession, B> {
    configure(Store::builder(backend).keyring(keyring(1)))
        .clock(clock.clone())
        .build()
        .unwrap()
}

/// Reads a raw stored value, with no size bound.
pub async fn raw_get<B: Backend>(backend: &B, key: &str) -> Option<Vec<u8>> {
    match backend.get(key, usize::MAX).await.unwrap() {
        sealed_session::Fetched::Value(v) => Some(v),
        sealed_session::Fetched::Missing => None,
        other => panic!("not a byte string: {other:?}"),
    }
}
