//! A store's settings, written once: the builder fills them in, `build` checks them, and the
//! store reads them. One `Debug` shows them for both.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, SystemClock};
use crate::codec::{Codec, CodecId};
use crate::envelope::{DEFAULT_MAX_ENVELOPE_LEN, MAX_ENVELOPE_LEN_LIMIT, OVERHEAD};
use crate::error::SettingError;
use crate::sealer::Sealer;

use super::Retries;
use super::owners::Owners;
use super::{
    DEFAULT_ABSOLUTE_LIFETIME, DEFAULT_IDLE_TTL, DEFAULT_PREFIX, DEFAULT_SCAN_COUNT, MAX_LIFETIME,
    StorageKeys,
};

/// How long an entry lives in the backend after a save or touch.
pub(super) enum IdleTtl<T> {
    Fixed(Duration),
    FromSession(Box<dyn Fn(&T) -> Duration + Send + Sync>),
    Disabled,
}

impl<T> fmt::Debug for IdleTtl<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdleTtl::Fixed(d) => write!(f, "Fixed({}s)", d.as_secs()),
            IdleTtl::FromSession(_) => f.write_str("FromSession"),
            IdleTtl::Disabled => f.write_str("Disabled"),
        }
    }
}

/// Everything a store is configured with apart from its backend and sealer.
pub(super) struct Settings<T> {
    /// The codec new sessions are written with; it reads its own values too.
    pub(super) codec: Arc<dyn Codec<T>>,
    /// Further codecs whose values are read (`also_read`), never written.
    pub(super) also_read: Vec<Arc<dyn Codec<T>>>,
    pub(super) clock: Arc<dyn Clock>,
    pub(super) prefix: String,
    pub(super) storage_keys: StorageKeys,
    pub(super) idle_ttl: IdleTtl<T>,
    pub(super) absolute_lifetime: Option<Duration>,
    pub(super) touch: bool,
    pub(super) max_envelope_len: usize,
    pub(super) scan_count: usize,
    pub(super) lazy_reseal: bool,
    /// The owner index, when the store keeps one.
    pub(super) owners: Option<Owners>,
    /// Whether each write brings its own absolute expiry (tower-sessions records), which
    /// then bounds owner-index entries in place of the store's lifetime.
    pub(super) expiry_per_write: bool,
    /// Whether `Store::save` of a loaded session is optimistic.
    pub(super) optimistic: bool,
    /// How `Store::update` retries after a conflict.
    pub(super) update_retries: Retries,
}

impl<T: 'static> Settings<T> {
    /// The defaults, writing with `codec`.
    pub(super) fn new(codec: Arc<dyn Codec<T>>) -> Self {
        Settings {
            codec,
            also_read: Vec::new(),
            clock: Arc::new(SystemClock),
            prefix: DEFAULT_PREFIX.to_owned(),
            storage_keys: StorageKeys::Hashed,
            idle_ttl: IdleTtl::Fixed(DEFAULT_IDLE_TTL),
            absolute_lifetime: Some(DEFAULT_ABSOLUTE_LIFETIME),
            touch: true,
            max_envelope_len: DEFAULT_MAX_ENVELOPE_LEN,
            scan_count: DEFAULT_SCAN_COUNT,
            lazy_reseal: true,
            owners: None,
            expiry_per_write: false,
            optimistic: false,
            update_retries: Retries::default(),
        }
    }

    /// Every codec the store reads with: the write codec first, then the others.
    pub(super) fn readers(&self) -> impl Iterator<Item = &Arc<dyn Codec<T>>> {
        std::iter::once(&self.codec).chain(&self.also_read)
    }

    /// Checks each setting against its range and the others, and the sealer's sizes against
    /// the envelope limit. `keyring_index_keys`: whether the store's keyring has index keys.
    pub(super) fn check(
        &self,
        sealer: &dyn Sealer,
        keyring_index_keys: bool,
    ) -> Result<(), SettingError> {
        if let Some(owners) = &self.owners {
            if self.absolute_lifetime.is_none() && !self.expiry_per_write {
                return Err(SettingError::OwnersWithoutLifetime);
            }
            if !owners.has_keys() && !keyring_index_keys {
                return Err(SettingError::OwnersWithoutIndexKeys);
            }
            // A listing names sessions by storage id: in plain mode, their live ids.
            if self.storage_keys == StorageKeys::PlainIds {
                return Err(SettingError::OwnersWithPlainIds);
            }
        }
        let in_range = |d: Duration| (1..=MAX_LIFETIME.as_secs()).contains(&d.as_secs());
        if let IdleTtl::Fixed(ttl) = self.idle_ttl
            && !in_range(ttl)
        {
            return Err(SettingError::IdleTtlOutOfRange);
        }
        if self.absolute_lifetime.is_some_and(|d| !in_range(d)) {
            return Err(SettingError::AbsoluteLifetimeOutOfRange);
        }
        if !(OVERHEAD..=MAX_ENVELOPE_LEN_LIMIT).contains(&self.max_envelope_len) {
            return Err(SettingError::MaxEnvelopeLenOutOfRange);
        }
        // A custom sealer's sizes are trusted for buffer reservations: bound them here, so an
        // absurd value (`usize::MAX` for "unknown") is a configuration error, not an
        // allocation failure on the first save.
        if sealer.overhead().unwrap_or(0) > self.max_envelope_len
            || sealer.reserved_prefix() > self.max_envelope_len
        {
            return Err(SettingError::SealerSizes);
        }
        if self.prefix.is_empty() {
            return Err(SettingError::EmptyPrefix);
        }
        if self.scan_count == 0 {
            return Err(SettingError::ZeroScanCount);
        }
        let mut seen: Vec<CodecId> = Vec::with_capacity(self.also_read.len().saturating_add(1));
        for id in self.readers().map(|codec| codec.id()) {
            if seen.contains(&id) {
                return Err(SettingError::DuplicateCodec { id });
            }
            seen.push(id);
        }
        Ok(())
    }

    /// Adds the settings to a `Debug` of the builder or the store. The clock is left out (it
    /// has no useful text), so is the backend (its own `Debug` may show an address).
    pub(super) fn debug_fields(&self, d: &mut fmt::DebugStruct<'_, '_>) {
        let Settings {
            codec,
            also_read: _,
            clock: _,
            prefix,
            storage_keys,
            idle_ttl,
            absolute_lifetime,
            touch,
            max_envelope_len,
            scan_count,
            lazy_reseal,
            owners,
            expiry_per_write: _,
            optimistic,
            update_retries,
        } = self;
        let reads: Vec<CodecId> = self.readers().map(|c| c.id()).collect();
        d.field("prefix", prefix)
            .field("storage_keys", storage_keys)
            .field("codec", &codec.id())
            .field("reads", &reads)
            .field("idle_ttl", idle_ttl)
            .field("absolute_lifetime", &absolute_lifetime.map(|d| d.as_secs()))
            .field("touch", touch)
            .field("max_envelope_len", max_envelope_len)
            .field("scan_count", scan_count)
            .field("lazy_reseal", lazy_reseal)
            .field("owners", owners)
            .field("optimistic_saves", optimistic)
            .field("update_retries", update_retries);
    }
}
