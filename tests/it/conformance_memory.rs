//! The store conformance suite on the embedded in-memory backend.

use sealed_session::{ManualClock, MemoryBackend};

sealed_session::store_conformance!(async |clock: &ManualClock| MemoryBackend::with_clock(
    clock.clone()
));
