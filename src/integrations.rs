//! Session stores for web frameworks, on top of [`Store`](crate::Store).
//!
//! Each adapter maps the framework's own session record and id onto the store: the id is
//! hashed into the storage key like the crate's own ids, refused envelopes become "no
//! session", backend failures become the framework's store errors.

#[cfg(feature = "tower-sessions")]
pub mod tower_sessions;

#[cfg(feature = "actix-session")]
pub mod actix_session;
