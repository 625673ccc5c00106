//! The store conformance suite on the embedded in-memory backend.

use sealed_session::{ManualClock, MemoryBackend};

store_conformance!(async |clock: &ManualClock| MemoryBackend::with_clock(clock.clone()));
