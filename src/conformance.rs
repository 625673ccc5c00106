//! The store conformance suite, for backends of your own (feature `conformance`).
//!
//! The same checks run in this crate's tests against the memory backend, a standalone
//! `redis-server` and a local Redis Cluster: what a store promises (absolute expiry, no
//! resurrection after a log-out, refusal of values moved between keys, compare-and-swap that
//! keeps the TTL, lazy and bulk re-sealing that never overwrite a concurrent save...) holds
//! only if the backend does its part. [`store_conformance!`](crate::store_conformance)
//! defines one test per check in the module where it is invoked:
//!
//! ```no_run
//! // tests/conformance.rs of a crate with a backend of its own, with
//! // `sealed-session = { version = "…", features = ["conformance"] }` and tokio (features
//! // `macros`, `rt`) among its dev-dependencies.
//! use sealed_session::{ManualClock, MemoryBackend};
//!
//! sealed_session::store_conformance!(async |clock: &ManualClock| {
//!     // A fresh, empty backend per test. A backend with expiry of its own may follow
//!     // `clock` (the checks move it forward) or real time, as a Redis server does.
//!     MemoryBackend::with_clock(clock.clone())
//! });
//! # fn main() {}
//! ```
//!
//! The checks panic on the first broken rule, with a message that names it. A few wait for
//! real expiry when the backend does not follow the clock (up to five seconds). Each
//! uses keys under `sess:` and a few of its own prefixes, so point the backend at an empty
//! database.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice,
    reason = "the checks are tests: a broken rule must fail loudly, with the value in the message"
)]

#[doc(hidden)]
#[allow(
    missing_docs,
    reason = "called through store_conformance!, whose list names them"
)]
pub mod checks;
mod decorators;
pub mod fixtures;

/// Defines the conformance suite's tests, one `#[tokio::test]` function per check, for one
/// backend: `$make` is an expression of type `impl AsyncFn(&ManualClock) -> B` giving a
/// fresh, empty backend, evaluated in each test. See the [module docs](crate::conformance).
#[macro_export]
macro_rules! store_conformance {
    ($make:expr) => {
        $crate::store_conformance!(@tests $make;
            save_then_load_returns_the_same_data,
            load_of_an_unknown_id_is_none,
            create_refuses_an_existing_id,
            save_replaces_and_keeps_the_absolute_expiry,
            destroy_removes_and_reports_existence,
            cycle_id_moves_data_and_removes_the_old_entry,
            storage_key_is_prefix_and_hashed_id,
            plain_mode_stores_the_id_after_the_prefix,
            ids_len_all_clear_cover_only_the_prefix,
            all_reports_refused_entries_without_hiding_others,
            value_swapped_between_sessions_is_refused_for_both,
            value_copied_to_another_prefix_is_refused,
            tampered_value_is_refused_not_returned,
            oversized_session_is_refused_on_save,
            oversized_value_is_refused_on_load,
            load_after_expiry_is_refused_even_if_the_entry_remains,
            save_after_the_absolute_lifetime_is_refused,
            stored_bytes_are_an_envelope_without_plaintext,
            save_after_destroy_does_not_bring_the_session_back,
            saving_a_new_session_over_an_existing_id_is_refused,
            touch_after_destroy_reports_the_session_gone,
            cycle_id_of_a_destroyed_session_fails_and_leaves_nothing,
            shortening_the_lifetime_applies_to_live_sessions,
            enabling_a_lifetime_applies_to_sessions_without_one,
            listing_ignores_keys_of_a_longer_prefix,
            compare_and_swap_replaces_only_the_expected_value,
            compare_and_swap_many_reports_each_entry,
            load_reseals_a_session_under_a_decrypt_only_key,
            lazy_reseal_can_be_turned_off,
            rewrap_reseals_what_is_not_under_the_primary_once,
            rewrap_never_reseals_from_a_retired_key,
            a_lagging_keyring_never_moves_envelopes_back,
            a_reseal_never_overwrites_a_concurrent_save_or_deletion,
            an_envelope_without_expiry_gets_its_cap_at_the_first_load,
            reseals_never_write_an_envelope_without_expiry,
            is_empty_stops_at_the_first_entry,
            owned_sessions_are_listed_with_their_metadata,
            revoke_all_ends_every_session_of_the_owner_and_no_other,
            revoke_all_except_keeps_the_current_session,
            revoking_another_owners_session_is_refused,
            destroy_and_unbind_take_a_session_out_of_the_listing,
            a_stale_save_after_an_unbinding_stays_revocable,
            a_fresh_entry_without_its_session_survives_reads,
            cycle_id_binds_and_keeps_the_owner,
            the_cap_evicts_the_oldest_or_refuses,
            planted_index_members_never_reveal_or_revoke_another_owner,
            an_index_key_holding_something_else_is_an_error_not_overwritten,
            the_index_disappears_when_its_sessions_expire,
            the_owner_appears_nowhere_in_the_backend,
            a_store_without_an_owner_index_refuses_owned_sessions,
            loads_and_saves_of_owned_sessions_cost_what_they_did,
            a_failure_between_index_and_session_write_leaves_only_an_entry,
            revoke_all_ends_every_session_created_before_it,
            rotation_tools_and_clear_tell_indexes_from_sessions,
            revoke_all_ends_a_session_moved_during_it,
            of_two_optimistic_saves_of_one_load_the_later_conflicts,
            an_optimistic_save_after_a_log_out_is_session_gone,
            an_optimistic_save_of_a_new_session_creates_it,
            optimistic_saves_never_overwrite_a_value_they_did_not_load,
            optimistic_saves_never_overwrite_a_key_of_another_type,
            update_retries_until_it_wins_and_gives_up_after_its_attempts,
            update_returns_the_data_it_saved,
            update_under_contention_loses_nothing,
            plain_saves_cost_what_they_did_and_optimistic_ones_one_write,
            a_session_resealed_at_its_load_saves_optimistically,
            an_optimistic_save_keeps_the_absolute_expiry_and_renews_the_ttl,
            cycle_id_on_an_optimistic_store_never_drops_a_concurrent_save,
        );
    };
    (@tests $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                $crate::conformance::checks::$name($make).await;
            }
        )*
    };
}
