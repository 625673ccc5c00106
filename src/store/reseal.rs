//! Key rotation as a store sees it: lazy re-seals of loaded sessions and their counts, and the
//! store's entry points into bulk re-sealing and the census (`crate::rotation`).

use std::sync::atomic::{AtomicU64, Ordering};

use crate::backend::Backend;
use crate::crypto::KeyringHandle;
use crate::error::Error;
use crate::rotation::{self, RewrapOptions, RewrapReport};

use super::Store;

/// Counts of lazy re-seals (see [`StoreBuilder::lazy_reseal`](super::StoreBuilder::lazy_reseal)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResealStats {
    /// Sessions written back under the primary key.
    pub resealed: u64,
    /// Write-backs skipped because the stored value had changed since it was read (a save
    /// or another re-seal won): harmless.
    pub raced: u64,
    /// Write-backs that failed (backend error, or the sealer refused).
    pub failed: u64,
}

/// The counters behind [`ResealStats`], one set per store.
#[derive(Default)]
pub(super) struct ResealCounters {
    resealed: AtomicU64,
    raced: AtomicU64,
    failed: AtomicU64,
}

impl<T, B> Store<T, B>
where
    T: Send + Sync + 'static,
    B: Backend,
{
    /// The handle through which this store's keyring can be replaced at run time, when the
    /// store was built with [`StoreBuilder::keyring`](super::StoreBuilder::keyring) or
    /// [`StoreBuilder::keyring_handle`](super::StoreBuilder::keyring_handle)
    /// (`None` with a custom sealer).
    pub fn keyring_handle(&self) -> Option<&KeyringHandle> {
        self.inner.keyring.as_ref()
    }

    /// Re-seals under the primary key every session of this store that is under an older
    /// key: the library side of `sealed-session rewrap`. See [`rotation::rewrap`]; only keys
    /// this store writes (its prefix followed by a storage id) are visited, and the store's
    /// clock, maximum envelope size and absolute lifetime apply (the lifetime in `options`
    /// is replaced by the store's). `progress` sees the totals after each page.
    pub async fn rewrap(
        &self,
        options: &RewrapOptions,
        progress: impl FnMut(&RewrapReport),
    ) -> Result<RewrapReport, Error> {
        let inner = &self.inner;
        let mut options = options
            .clone()
            .max_envelope_len(inner.settings.max_envelope_len);
        options.absolute_lifetime = inner.settings.absolute_lifetime;
        let keep = |key: &str| {
            key.strip_prefix(inner.settings.prefix.as_str())
                .is_some_and(|rest| self.is_storage_id(rest))
        };
        rotation::rewrap_filtered(
            &inner.backend,
            inner.sealer.as_ref(),
            &inner.settings.prefix,
            &keep,
            inner.settings.clock.as_ref(),
            &options,
            progress,
        )
        .await
    }

    /// Counts this store's envelopes by key id, from their headers alone (see
    /// [`rotation::census`]; every key under the prefix is counted).
    pub async fn census(&self) -> Result<rotation::Census, Error> {
        let options = RewrapOptions::default().batch(self.inner.settings.scan_count);
        rotation::census(
            &self.inner.backend,
            &self.inner.settings.prefix,
            &options,
            |_| {},
        )
        .await
    }

    /// Writes a re-sealed session back if the stored value is still the one that was read,
    /// keeping its TTL; returns whether it replaced it. The outcome is counted in
    /// [`Store::reseal_stats`]. For a lazy re-seal under the primary key this is best effort:
    /// the load has succeeded whatever happens here, and a failure only leaves the value
    /// under its old key for the next load or a bulk re-seal.
    pub(super) async fn reseal(
        &self,
        key: &str,
        stored: &[u8],
        sealed: Result<Vec<u8>, Error>,
    ) -> Result<bool, Error> {
        let inner = &self.inner;
        let outcome = match sealed {
            Ok(sealed) if sealed.len() > inner.settings.max_envelope_len => Err(Error::TooLarge {
                len: sealed.len(),
                max: inner.settings.max_envelope_len,
            }),
            Ok(sealed) => inner
                .backend
                .compare_and_swap(key, stored, &sealed)
                .await
                .map_err(Error::from),
            Err(e) => Err(e),
        };
        let counter = match outcome {
            Ok(true) => &inner.reseals.resealed,
            Ok(false) => &inner.reseals.raced,
            Err(_) => &inner.reseals.failed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        outcome
    }

    /// How lazy re-seals have gone since the store was built. A growing `failed` count
    /// means loads keep paying a round trip for nothing: a Redis ACL without `EVAL`, a
    /// Redis older than 6.0 (no `KEEPTTL`), or a sealer that fails.
    pub fn reseal_stats(&self) -> ResealStats {
        let r = &self.inner.reseals;
        ResealStats {
            resealed: r.resealed.load(Ordering::Relaxed),
            raced: r.raced.load(Ordering::Relaxed),
            failed: r.failed.load(Ordering::Relaxed),
        }
    }
}
