//! Backends around the backend under test, for the checks that need to see or disturb what
//! the store asks of it.

use std::time::Duration;

use sealed_session::{Backend, Conditional, Expect, SetMode, Swap};

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
    /// The optimistic write of the backend under test, after the interference.
    async fn set_if(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
        expect: Expect<'_>,
    ) -> Result<Conditional, sealed_session::BackendError> {
        self.interfere(key).await?;
        self.inner.set_if(key, value, ttl, expect).await
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

/// Work to run inside a backend call, as another request would between two commands.
type Hook = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

/// A backend that records which of its methods ran, around a real one, and can fail the
/// first session write after an index write (a server that died between the two), or run
/// another request's work before the next compare-and-delete.
pub(super) struct Tally<B> {
    pub(super) inner: B,
    calls: std::sync::Mutex<Vec<&'static str>>,
    before_delete: std::sync::Mutex<Option<Hook>>,
    /// When set, the next `set` after an `index_add` fails, as a connection that dropped.
    pub(super) fail_set_after_index: std::sync::atomic::AtomicBool,
    armed: std::sync::atomic::AtomicBool,
}

impl<B> Tally<B> {
    pub(super) fn new(inner: B) -> Self {
        Tally {
            inner,
            calls: std::sync::Mutex::new(Vec::new()),
            before_delete: std::sync::Mutex::new(None),
            fail_set_after_index: std::sync::atomic::AtomicBool::new(false),
            armed: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// The methods called since the last call, in order.
    pub(super) fn calls(&self) -> Vec<&'static str> {
        std::mem::take(&mut *self.calls.lock().unwrap())
    }

    fn record(&self, name: &'static str) {
        self.calls.lock().unwrap().push(name);
    }

    /// Runs `work` at the start of the next `compare_and_delete`.
    pub(super) fn before_next_delete(&self, work: Hook) {
        *self.before_delete.lock().unwrap() = Some(work);
    }
}

impl<B: Backend> Backend for Tally<B> {
    async fn set(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
        mode: SetMode,
    ) -> Result<bool, sealed_session::BackendError> {
        self.record("set");
        if self.armed.swap(false, std::sync::atomic::Ordering::SeqCst) {
            return Err(sealed_session::BackendError::from_kind(
                sealed_session::BackendErrorKind::Connection,
            ));
        }
        self.inner.set(key, value, ttl, mode).await
    }
    async fn get(
        &self,
        key: &str,
        max_len: usize,
    ) -> Result<sealed_session::Fetched, sealed_session::BackendError> {
        self.record("get");
        self.inner.get(key, max_len).await
    }
    async fn delete(&self, key: &str) -> Result<bool, sealed_session::BackendError> {
        self.record("delete");
        self.inner.delete(key).await
    }
    async fn expire(&self, key: &str, ttl: Duration) -> Result<bool, sealed_session::BackendError> {
        self.record("expire");
        self.inner.expire(key, ttl).await
    }
    async fn compare_and_swap(
        &self,
        key: &str,
        expected: &[u8],
        new: &[u8],
    ) -> Result<bool, sealed_session::BackendError> {
        self.record("compare_and_swap");
        self.inner.compare_and_swap(key, expected, new).await
    }
    async fn set_if(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
        expect: Expect<'_>,
    ) -> Result<Conditional, sealed_session::BackendError> {
        self.record("set_if");
        self.inner.set_if(key, value, ttl, expect).await
    }
    async fn delete_if(
        &self,
        key: &str,
        expect: Expect<'_>,
    ) -> Result<Conditional, sealed_session::BackendError> {
        self.record("delete_if");
        self.inner.delete_if(key, expect).await
    }
    async fn scan(
        &self,
        prefix: &str,
        cursor: sealed_session::ScanCursor,
        count: usize,
    ) -> Result<sealed_session::ScanPage, sealed_session::BackendError> {
        self.record("scan");
        self.inner.scan(prefix, cursor, count).await
    }
    async fn get_many(
        &self,
        keys: &[String],
        max_len: usize,
    ) -> Result<Vec<sealed_session::Fetched>, sealed_session::BackendError> {
        self.record("get_many");
        self.inner.get_many(keys, max_len).await
    }
    async fn delete_many(&self, keys: &[String]) -> Result<u64, sealed_session::BackendError> {
        self.record("delete_many");
        self.inner.delete_many(keys).await
    }
    async fn index_add(
        &self,
        key: &str,
        id: &str,
        added_at: u64,
        expires_at: u64,
        now: u64,
    ) -> Result<(), sealed_session::BackendError> {
        self.record("index_add");
        self.inner
            .index_add(key, id, added_at, expires_at, now)
            .await?;
        if self
            .fail_set_after_index
            .load(std::sync::atomic::Ordering::SeqCst)
        {
            self.armed.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        Ok(())
    }
    async fn index_remove(
        &self,
        key: &str,
        ids: &[String],
        now: u64,
    ) -> Result<(), sealed_session::BackendError> {
        self.record("index_remove");
        self.inner.index_remove(key, ids, now).await
    }
    async fn index_read(
        &self,
        key: &str,
        now: u64,
    ) -> Result<Vec<sealed_session::IndexEntry>, sealed_session::BackendError> {
        self.record("index_read");
        self.inner.index_read(key, now).await
    }
    async fn take(
        &self,
        key: &str,
        max_len: usize,
    ) -> Result<sealed_session::Fetched, sealed_session::BackendError> {
        self.record("take");
        self.inner.take(key, max_len).await
    }
    async fn compare_and_delete(
        &self,
        key: &str,
        expected: &[u8],
    ) -> Result<bool, sealed_session::BackendError> {
        self.record("compare_and_delete");
        let hook = self.before_delete.lock().unwrap().take();
        if let Some(work) = hook {
            work.await;
        }
        self.inner.compare_and_delete(key, expected).await
    }
}

/// A backend where another request stores a new value of the key right before each
/// optimistic write, taking its values in turn: every such write then finds a value it did
/// not load.
pub(super) struct Rival<B> {
    pub(super) inner: B,
    values: Vec<Vec<u8>>,
    next: std::sync::atomic::AtomicUsize,
}

impl<B> Rival<B> {
    pub(super) fn new(inner: B, values: Vec<Vec<u8>>) -> Self {
        Rival {
            inner,
            values,
            next: std::sync::atomic::AtomicUsize::new(0),
        }
    }
}

impl<B: Backend> Backend for Rival<B> {
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
        self.inner.scan(prefix, cursor, count).await
    }
    async fn set_if(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
        expect: Expect<'_>,
    ) -> Result<Conditional, sealed_session::BackendError> {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Some(rival) = self.values.get(n % self.values.len().max(1)) {
            self.inner.set(key, rival, None, SetMode::Upsert).await?;
        }
        self.inner.set_if(key, value, ttl, expect).await
    }
}
