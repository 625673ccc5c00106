//! The store conformance suite on a real standalone `redis-server`, one per test.

use sealed_session::ManualClock;

use crate::support::redis::Served;

sealed_session::store_conformance!(async |_clock: &ManualClock| Served::standalone().await);
