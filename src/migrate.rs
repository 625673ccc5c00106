//! Migration from Express: read express-session's signed cookies and the records of
//! connect-redis and connect-redis-crypto 4.x, and move each session into a sealed envelope
//! without logging its user out (feature `express`).
//!
//! `docs/MIGRATION.md` walks through a switch. The parts:
//!
//! - [`ExpressCookies`] verifies the cookie express-session set (`connect.sid` by default)
//!   against the application's secrets and gives the [`LegacySid`] in it; a cookie that does
//!   not verify is refused before anything is looked up.
//! - [`LegacyFormat`] reads a record: [`ConnectRedis`] (plain JSON) or
//!   [`ConnectRedisCrypto`] (kruptein's AES-256-GCM, checked by its HMAC first). Both give a
//!   [`LegacySession`]: the application's members and the session's cookie.

mod compat;
mod cookie;
mod formats;
mod import;
mod migrator;
mod session;
mod source;

#[cfg(feature = "tower-sessions")]
pub(crate) use self::cookie::cookie_values;
pub use self::cookie::{
    DEFAULT_COOKIE_NAME, DEFAULT_MAX_SID_LEN, ExpressCookies, LegacySid, MAX_COOKIE_VALUE_LEN,
};
pub use self::formats::{ConnectRedis, ConnectRedisCrypto, LegacyFormat};
pub use self::import::{ImportOptions, ImportReport, Imported, Importer, Skip};
#[cfg(feature = "tower-sessions")]
pub(crate) use self::migrator::NewIds;
pub use self::migrator::{DEFAULT_GRACE, Migrated, MigrationStats, Migrator};
pub use self::session::LegacySession;
pub use self::source::{DEFAULT_LEGACY_PREFIX, DEFAULT_MAX_RECORD_LEN, LegacySource};
pub use crate::error::LegacyError;
