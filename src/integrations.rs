//! Session stores for web frameworks, on top of [`Store`](crate::Store).
//!
//! Each adapter maps the framework's own session record and id onto the store: the id is
//! hashed into the storage key like the crate's own ids, refused envelopes become "no
//! session", backend failures become the framework's store errors.
//!
//! Both adapters can keep the store's owner index in step
//! ([`StoreBuilder::owners`](crate::StoreBuilder::owners)): told which session field holds
//! the user id (`owner_field("user_id")`), they bind every session saved with that field to
//! its value, and unbind it when the field is gone. Handlers list and revoke through the
//! adapter's [`Store`](crate::Store) (`adapter.store().sessions_of(…)`).
//!
//! The field's value names the owner by its text: a JSON string's content, or a number's
//! decimal form (`42` and `"42"` are the same owner, and so are `100.0` and `"100.0"`). Keep
//! one kind per field (all ids numbers, or all strings) so that two users can never share an
//! owner. Every save of a bound session also writes its index entry (one more round trip),
//! since the adapters cannot tell a changed owner or a moved expiry from an unchanged one.
//! A store that once had an owner index must keep it: without one, saving a session loaded
//! with an owner fails with [`Error::NoOwnerIndex`](crate::Error::NoOwnerIndex).

#[cfg(feature = "tower-sessions")]
pub mod tower_sessions;

#[cfg(feature = "actix-session")]
pub mod actix_session;

#[cfg(any(feature = "tower-sessions", feature = "actix-session"))]
mod merge;
#[cfg(any(feature = "tower-sessions", feature = "actix-session"))]
mod owner_field;
#[cfg(any(feature = "tower-sessions", feature = "actix-session"))]
mod remembered;
