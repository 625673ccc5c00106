//! Backends around the backend under test, for the checks that need to see or disturb what
//! the store asks of it.

use std::time::Duration;

use sealed_session::{Backend, SetMode, Swap};

/// A backend that counts the scan pages asked of it, around a real one.
pub(super) struct CountingScans<B> {
    inner: B,
    scans: std::sync::atomic::AtomicUsize,
}

impl<B> CountingScans<B> {
    pub(super) fn new(inner: B) -> Self {
        CountingScans {
            inner,
            scans: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    pub(super) fn scans(&self) -> usize {
        self.scans.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl<B: Backend> Backend for CountingScans<B> {
    async fn set(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<std::time::Duration>,
        mode: sealed_session::SetMode,
    ) -> Result<bool, sealed_session::BackendError> {
        self.inner.set(key, value, ttl, mode).await
    }

    async fn get(
        &self,
        key: &str,
        max_len: usize,
    ) -> Result<sealed_session::Fetched, sealed_session::BackendError> {
        self.inner.get(key, max_len).await
    }

    async fn delete(&self, key: &str) -> Result<bool, sealed_session::BackendError> {
        self.inner.delete(key).await
    }

    async fn expire(
        &self,
        key: &str,
        ttl: std::time::Duration,
    ) -> Result<bool, sealed_session::BackendError> {
        self.inner.expire(key, ttl).await
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: &[u8],
        new: &[u8],
    ) -> Result<bool, sealed_session::BackendError> {
        self.inner.compare_and_swap(key, expected, new).await
    }

    async fn scan(
        &self,
        prefix: &str,
        cursor: sealed_session::ScanCursor,
        count: usize,
    ) -> Result<sealed_session::ScanPage, sealed_session::BackendError> {
        self.scans
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.inner.scan(prefix, cursor, count).await
    }
}

/// A backend that lets another writer act between a read and the compare-and-swap that
/// follows it, as a concurrent request would.
pub(super) struct Interfering<B> {
    pub(super) inner: B,
    /// `Some(value)`: overwrite with it first; `None`: delete the key first.
    pub(super) before_swap: Option<Vec<u8>>,
}

impl<B: Backend> Backend for Interfering<B> {
    async fn set(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
        mode: SetMode,
    ) -> Result<bool, sealed_session::BackendError> {
        self.inner.set(key, value, ttl, mode).await
    }
    async fn get(
        &self,
        key: &str,
        max_len: usize,
    ) -> Result<sealed_session::Fetched, sealed_session::BackendError> {
        self.inner.get(key, max_len).await
    }
    async fn delete(&self, key: &str) -> Result<bool, sealed_session::BackendError> {
        self.inner.delete(key).await
    }
    async fn expire(&self, key: &str, ttl: Duration) -> Result<bool, sealed_session::BackendError> {
        self.inner.expire(key, ttl).await
    }
    async fn scan(
        &self,
        prefix: &str,
        cursor: sealed_session::ScanCursor,
        count: usize,
    ) -> Result<sealed_session::ScanPage, sealed_session::BackendError> {
        self.inner.scan(prefix, cursor, count).await
    }
    async fn get_many(
        &self,
        keys: &[String],
        max_len: usize,
    ) -> Result<Vec<sealed_session::Fetched>, sealed_session::BackendError> {
        self.inner.get_many(keys, max_len).await
    }
    async fn compare_and_swap(
        &self,
        key: &str,
        expected: &[u8],
        new: &[u8],
    ) -> Result<bool, sealed_session::BackendError> {
        self.interfere(key).await?;
        self.inner.compare_and_swap(key, expected, new).await
    }
    /// The batched path of the backend under test, after the interference.
    async fn compare_and_swap_many(
        &self,
        swaps: &[Swap<'_>],
    ) -> Result<Vec<bool>, sealed_session::BackendError> {
        for swap in swaps {
            self.interfere(swap.key).await?;
        }
        self.inner.compare_and_swap_many(swaps).await
    }
}

impl<B: Backend> Interfering<B> {
    async fn interfere(&self, key: &str) -> Result<(), sealed_session::BackendError> {
        match &self.before_swap {
            Some(value) => {
                self.inner
                    .set(key, value, None, SetMode::UpdateOnly)
                    .await?;
            }
            None => {
                self.inner.delete(key).await?;
            }
        }
        Ok(())
    }
}
