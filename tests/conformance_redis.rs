//! The store conformance suite on a real standalone `redis-server`, one per test.

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
#![cfg(feature = "redis")]

mod support;

use sealed_session::ManualClock;
use support::redis::Served;

store_conformance!(async |_clock: &ManualClock| Served::standalone().await);
