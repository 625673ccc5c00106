//! Store settings that are refused when a store or an adapter is built: one variant per rule,
//! so a program (or a test) can tell which rule it broke without reading a message.

use std::error::Error as StdError;
use std::fmt;

use crate::codec::CodecId;

/// A store or adapter setting that is out of range or contradicts another
/// ([`ConfigError::InvalidSetting`](crate::ConfigError::InvalidSetting)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SettingError {
    /// The idle TTL is below one second or above ten years
    /// ([`MAX_LIFETIME`](crate::MAX_LIFETIME)).
    IdleTtlOutOfRange,
    /// The absolute lifetime is below one second or above ten years.
    AbsoluteLifetimeOutOfRange,
    /// The maximum envelope length is below the envelope overhead (95 bytes) or above
    /// [`MAX_ENVELOPE_LEN_LIMIT`](crate::MAX_ENVELOPE_LEN_LIMIT) (1 MiB).
    MaxEnvelopeLenOutOfRange,
    /// A custom sealer's overhead or reserved prefix does not fit in the maximum envelope
    /// length.
    SealerSizes,
    /// The key prefix is empty.
    EmptyPrefix,
    /// The scan count is zero.
    ZeroScanCount,
    /// Two codecs of the store share a codec id.
    DuplicateCodec {
        /// The shared id.
        id: CodecId,
    },
    /// An owner index needs an absolute lifetime: an index entry is kept until the
    /// session's absolute expiry, so without one the index could not expire.
    OwnersWithoutLifetime,
    /// An owner index needs index keys: in the keyring, or given to the owner settings.
    OwnersWithoutIndexKeys,
    /// An owner index lists sessions by storage id, which in plain-id mode is the session id
    /// itself: it needs hashed storage keys.
    OwnersWithPlainIds,
    /// The framework adapter needs a store that hashes session ids into storage keys.
    #[cfg(any(feature = "tower-sessions", feature = "actix-session"))]
    PlainIdsWithAdapter,
    /// A codec of the store cannot round-trip the `serde_json::Value` maps that
    /// tower-sessions records hold.
    #[cfg(feature = "tower-sessions")]
    CodecCannotHoldRecords,
    /// The store has an absolute lifetime of its own, which tower-sessions' per-save expiry
    /// would slide.
    #[cfg(feature = "tower-sessions")]
    LifetimeWithTowerSessions,
}

impl fmt::Display for SettingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettingError::IdleTtlOutOfRange => {
                f.write_str("the idle TTL must be between one second and ten years")
            }
            SettingError::AbsoluteLifetimeOutOfRange => {
                f.write_str("the absolute lifetime must be between one second and ten years")
            }
            SettingError::MaxEnvelopeLenOutOfRange => {
                f.write_str("the maximum envelope length must be between 95 bytes and 1 MiB")
            }
            SettingError::SealerSizes => f.write_str(
                "the sealer's overhead and reserved prefix must fit in the maximum envelope \
                 length; raise max_envelope_len or fix the sealer's sizes",
            ),
            SettingError::EmptyPrefix => {
                f.write_str("the key prefix must not be empty; keep the default sess: or name one")
            }
            SettingError::ZeroScanCount => f.write_str("the scan count must be at least 1"),
            SettingError::DuplicateCodec { id } => write!(
                f,
                "two codecs share codec id {id}; remove the also_read of that id (the write \
                 codec reads its own values)"
            ),
            SettingError::OwnersWithoutLifetime => f.write_str(
                "an owner index keeps each entry until the session's absolute expiry; set an \
                 absolute lifetime (remove no_absolute_lifetime)",
            ),
            SettingError::OwnersWithPlainIds => f.write_str(
                "an owner index lists sessions by storage id, which with StorageKeys::PlainIds \
                 is the session id itself; build the store without StorageKeys::PlainIds",
            ),
            SettingError::OwnersWithoutIndexKeys => f.write_str(
                "an owner index needs index keys; add index_keys to the keyring configuration \
                 or give them to Owners::index_keys",
            ),
            #[cfg(any(feature = "tower-sessions", feature = "actix-session"))]
            SettingError::PlainIdsWithAdapter => f.write_str(
                "framework adapters store session ids hashed; build the store without \
                 StorageKeys::PlainIds",
            ),
            #[cfg(feature = "tower-sessions")]
            SettingError::CodecCannotHoldRecords => f.write_str(
                "a codec of the store cannot round-trip the serde_json::Values that \
                 tower-sessions records hold; build the store with TowerSessionStore::builder, \
                 or, where serde_json's arbitrary_precision is on, write Json (module docs)",
            ),
            #[cfg(feature = "tower-sessions")]
            SettingError::LifetimeWithTowerSessions => f.write_str(
                "tower-sessions sets each record's expiry on every save, so a store lifetime \
                 would slide with it; use no_absolute_lifetime (TowerSessionStore::builder does)",
            ),
        }
    }
}

impl StdError for SettingError {}
