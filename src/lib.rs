#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(
    test,
    allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::string_slice
    )
)]

// The conformance suite is written against the public API, by the crate's name, as a user's
// test would be.
#[cfg(feature = "conformance")]
extern crate self as sealed_session;

pub mod backend;
mod clock;
pub mod codec;
#[cfg(feature = "config")]
pub mod config;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod crypto;
pub mod envelope;
mod error;
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing;
mod id;
#[cfg(any(feature = "tower-sessions", feature = "actix-session"))]
pub mod integrations;
#[cfg(feature = "express")]
pub mod migrate;
pub mod rotation;
pub mod sealer;
mod store;

#[cfg(feature = "memory")]
pub use backend::MemoryBackend;
pub use backend::{
    Backend, Conditional, Expect, Fetched, IndexEntry, ScanCursor, ScanPage, SetMode, Swap,
};
#[cfg(feature = "redis")]
pub use backend::{RedisBackend, RedisBackendBuilder};
pub use clock::{Clock, ManualClock, SystemClock};
#[cfg(feature = "bincode")]
pub use codec::Bincode;
#[cfg(feature = "postcard")]
pub use codec::Postcard;
pub use codec::{Codec, CodecError, CodecErrorKind, CodecId, CodecOp, Json};
#[cfg(feature = "config")]
pub use config::{FilePermissions, KeyringConfig, load_keyring};
pub use crypto::{
    Argon2Params, IndexKeys, KeyInfo, KeyMaterial, KeyState, Keyring, KeyringBuilder,
    KeyringHandle, Suite,
};
#[cfg(feature = "express")]
pub use error::LegacyError;
#[cfg(feature = "config")]
pub use error::PermissionProblem;
pub use error::{
    BackendError, BackendErrorKind, ConfigError, Error, RejectKind, Rejection, SettingError,
};
pub use id::{MAX_OWNER_LEN, Owner, SESSION_ID_LEN, SessionId, StorageId};
pub use rotation::{RewrapOptions, RewrapReport};
pub use sealer::{KeyringSealer, OpenContext, Opened, SaltSource, SealContext, Sealer};
pub use store::{
    CapPolicy, DEFAULT_ABSOLUTE_LIFETIME, DEFAULT_IDLE_TTL, DEFAULT_MAX_ENVELOPE_LEN,
    DEFAULT_PREFIX, DEFAULT_SCAN_COUNT, MAX_ENVELOPE_LEN_LIMIT, MAX_LABEL_LEN, MAX_LIFETIME,
    OwnedSession, Owners, ResealStats, Retries, Revoked, STALE_GRACE, Session, StorageKeys, Store,
    StoreBuilder, WantsSealer, WithKeyring, WithSealer,
};
