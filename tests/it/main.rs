//! The integration tests, as one test binary: each module below was a file of its own under
//! `tests/`, and linking the whole crate once per file cost more than it gave. A module that
//! needs optional features is compiled only when they are on; the conformance suite needs
//! `conformance` (the test command, `scripts/test.sh`, turns every feature on).
//!
//! Three tests stay apart, each for a reason given in its first line: `tests/reload_signal.rs`
//! (a process-wide SIGHUP handler), `tests/redis_load.rs` (a load test that must not run
//! beside the timing-sensitive fault tests) and `tests/memory_wipe.rs` (a global allocator).

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

#[cfg(all(feature = "actix-session", feature = "redis"))]
mod actix_store;
mod architecture;
#[cfg(feature = "cli")]
mod cli;
mod codec;
#[cfg(feature = "redis")]
mod conformance_cluster;
#[cfg(all(feature = "conformance", feature = "memory"))]
mod conformance_defaults;
#[cfg(all(feature = "conformance", feature = "memory"))]
mod conformance_memory;
#[cfg(all(feature = "conformance", feature = "redis"))]
mod conformance_redis;
#[cfg(all(feature = "express", feature = "tower-sessions", feature = "redis"))]
mod express;
mod keyring;
#[cfg(feature = "config")]
mod keyring_config;
#[cfg(all(feature = "express", feature = "redis", feature = "memory"))]
mod migrate;
mod properties;
#[cfg(feature = "redis")]
mod redis;
#[cfg(feature = "redis")]
mod rotation;
mod sealer_plugin;
mod store_config;
#[cfg(all(feature = "tower-sessions", feature = "redis"))]
mod tower_store;
mod ttl_memory;
