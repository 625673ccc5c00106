//! The store conformance suite on the embedded in-memory backend.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice,
    clippy::unwrap_in_result,
    clippy::panic_in_result_fn,
    clippy::get_unwrap
)]

mod support;

use sealed_session::{ManualClock, MemoryBackend};

store_conformance!(async |clock: &ManualClock| MemoryBackend::with_clock(clock.clone()));
