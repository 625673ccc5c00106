//! Where legacy records are read: the Express application's Redis (any [`Backend`]), its key
//! prefix and its record format.

use std::fmt;
use std::sync::Arc;

use super::{LegacyFormat, LegacySession, LegacySid};
use crate::backend::{Backend, Fetched};
use crate::error::{Error, LegacyError};

/// connect-redis's and connect-redis-crypto's default key prefix.
pub const DEFAULT_LEGACY_PREFIX: &str = "sess:";
/// Longest legacy record read by default, in bytes. connect-redis-crypto's JSON spends up to
/// six bytes per ciphertext byte (`\u00XX` escapes), so this admits sessions of about
/// 80 KiB; longer ones are refused without being copied out of Redis.
pub const DEFAULT_MAX_RECORD_LEN: usize = 512 * 1024;

/// A legacy store: records under `prefix + sid` in a backend, in one format.
///
/// ```
/// use sealed_session::MemoryBackend;
/// use sealed_session::migrate::{ConnectRedis, LegacySource};
///
/// let legacy = LegacySource::new(MemoryBackend::new(), ConnectRedis).with_prefix("myapp:");
/// assert_eq!(legacy.prefix(), "myapp:");
/// ```
pub struct LegacySource<L> {
    backend: L,
    prefix: String,
    format: Arc<dyn LegacyFormat>,
    max_record_len: usize,
}

impl<L: Backend> LegacySource<L> {
    /// Records in `format` under the default prefix `sess:` of `backend`.
    pub fn new(backend: L, format: impl LegacyFormat) -> Self {
        LegacySource {
            backend,
            prefix: DEFAULT_LEGACY_PREFIX.to_owned(),
            format: Arc::new(format),
            max_record_len: DEFAULT_MAX_RECORD_LEN,
        }
    }

    /// The store's `prefix` option, if the application changed it.
    pub fn with_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Refuses records longer than `len` bytes (default [`DEFAULT_MAX_RECORD_LEN`]; at most
    /// 1 MiB, what a backend's conditional delete compares).
    pub fn max_record_len(mut self, len: usize) -> Self {
        self.max_record_len = len.min(crate::envelope::MAX_ENVELOPE_LEN_LIMIT);
        self
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The record format.
    pub fn format(&self) -> &dyn LegacyFormat {
        self.format.as_ref()
    }

    /// The backend the records are read from.
    pub fn backend(&self) -> &L {
        &self.backend
    }

    /// The key of a session's record: `prefix + sid`.
    pub fn key(&self, sid: &LegacySid) -> String {
        format!("{}{}", self.prefix, sid.as_str())
    }

    /// Reads a record's bytes. `None` when there is none; [`LegacyError::RecordTooLarge`]
    /// (and nothing copied) when it is longer than the maximum or not a string.
    pub async fn fetch(&self, sid: &LegacySid) -> Result<Option<Vec<u8>>, Error> {
        match self
            .backend
            .get(&self.key(sid), self.max_record_len)
            .await?
        {
            Fetched::Value(value) => Ok(Some(value)),
            Fetched::Missing => Ok(None),
            Fetched::TooLarge { .. } => Err(LegacyError::RecordTooLarge.into()),
            Fetched::NotBytes => Err(LegacyError::MalformedRecord { part: "type" }.into()),
        }
    }

    /// Reads a record's bytes as [`LegacySource::fetch`] does, and decodes them.
    pub async fn read(&self, sid: &LegacySid) -> Result<Option<LegacySession>, Error> {
        match self.fetch(sid).await? {
            Some(record) => Ok(Some(self.decode(&record)?)),
            None => Ok(None),
        }
    }

    /// Decodes a record's bytes with the source's format (after checking their length).
    pub fn decode(&self, record: &[u8]) -> Result<LegacySession, LegacyError> {
        if record.len() > self.max_record_len {
            return Err(LegacyError::RecordTooLarge);
        }
        self.format.decode(record)
    }
}

impl<L> fmt::Debug for LegacySource<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LegacySource")
            .field("prefix", &self.prefix)
            .field("format", &self.format.name())
            .field("max_record_len", &self.max_record_len)
            .finish_non_exhaustive()
    }
}
