//! The concurrency checks of the conformance suite on a backend that implements only the
//! six required methods (here around the in-memory map): the provided `set_if` and
//! `delete_if` are then the trait's defaults, which must keep the same promises. Each
//! method yields to the runtime first, as a networked backend does, so concurrent tasks
//! interleave between the steps of the defaults.

use std::time::Duration;

use sealed_session::conformance::checks;
use sealed_session::{
    Backend, BackendError, Fetched, ManualClock, MemoryBackend, ScanCursor, ScanPage, SetMode,
};

/// Only the required methods, forwarded.
struct RequiredOnly(MemoryBackend);

impl Backend for RequiredOnly {
    async fn set(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
        mode: SetMode,
    ) -> Result<bool, BackendError> {
        tokio::task::yield_now().await;
        self.0.set(key, value, ttl, mode).await
    }
    async fn get(&self, key: &str, max_len: usize) -> Result<Fetched, BackendError> {
        tokio::task::yield_now().await;
        self.0.get(key, max_len).await
    }
    async fn delete(&self, key: &str) -> Result<bool, BackendError> {
        tokio::task::yield_now().await;
        self.0.delete(key).await
    }
    async fn expire(&self, key: &str, ttl: Duration) -> Result<bool, BackendError> {
        tokio::task::yield_now().await;
        self.0.expire(key, ttl).await
    }
    async fn compare_and_swap(
        &self,
        key: &str,
        expected: &[u8],
        new: &[u8],
    ) -> Result<bool, BackendError> {
        tokio::task::yield_now().await;
        self.0.compare_and_swap(key, expected, new).await
    }
    async fn scan(
        &self,
        prefix: &str,
        cursor: ScanCursor,
        count: usize,
    ) -> Result<ScanPage, BackendError> {
        tokio::task::yield_now().await;
        self.0.scan(prefix, cursor, count).await
    }
}

async fn required_only(clock: &ManualClock) -> RequiredOnly {
    RequiredOnly(MemoryBackend::with_clock(clock.clone()))
}

macro_rules! on_defaults {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                checks::$name(required_only).await;
            }
        )*
    };
}

on_defaults!(
    of_two_optimistic_saves_of_one_load_the_later_conflicts,
    optimistic_saves_never_overwrite_a_value_they_did_not_load,
    an_optimistic_save_after_a_log_out_is_session_gone,
    an_optimistic_save_of_a_new_session_creates_it,
    update_retries_until_it_wins_and_gives_up_after_its_attempts,
    update_returns_the_data_it_saved,
    update_under_contention_loses_nothing,
    a_session_resealed_at_its_load_saves_optimistically,
    an_optimistic_save_keeps_the_absolute_expiry_and_renews_the_ttl,
    cycle_id_on_an_optimistic_store_never_drops_a_concurrent_save,
);
