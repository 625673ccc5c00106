//! Bulk import: every legacy record read, verified and sealed ahead of its user's return.
//!
//! The import cannot give users new cookies, so it keeps each session under the entry of its
//! legacy id (`imported`, see `compat`), with a digest of the record it came from. The
//! first request with the legacy cookie then moves it to a fresh id without reading the
//! record again through the key derivation, as long as the legacy record is still the
//! one that was imported (the legacy application may still be serving it: a newer record
//! wins, and a record it destroyed is not brought back). The import never deletes or
//! changes a legacy record, so it can run while the legacy application serves, be
//! interrupted, and run again.

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};

use super::compat::{self, Entry, Found};
use super::session::Lifetime;
use super::{LegacyError, LegacySid, LegacySource, Migrator};
use crate::backend::{Backend, Conditional, ScanCursor, SetMode};
use crate::envelope::Header;
use crate::error::Error;
use crate::store::{DEFAULT_ABSOLUTE_LIFETIME, MAX_LIFETIME, Store};

/// The bulk import of a legacy store into a [`Store`]: what `sealed-session import` runs.
///
/// Needs no cookie secret and no session type of the application's: it keeps each session
/// as the legacy JSON, sealed under the store's primary key, and the first request with the
/// legacy cookie converts it ([`Migrator`]). Build it from the same store settings (prefix,
/// keyring) as the application's store.
pub struct Importer<'a, T, B, L> {
    store: &'a Store<T, B>,
    source: &'a LegacySource<L>,
}

impl<T, B, L> std::fmt::Debug for Importer<'_, T, B, L> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Importer")
            .field("source", self.source)
            .finish_non_exhaustive()
    }
}

/// What the import did with one legacy key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Imported {
    /// The record was verified and sealed into its entry (with `dry_run`: would have been).
    Converted,
    /// The entry already holds this record, or the session has already moved.
    AlreadyMigrated,
    /// The record did not verify or parse; it was left as it is.
    Refused(LegacyError),
    /// Not imported, for the reason given.
    Skipped(Skip),
}

/// Why a legacy key was not imported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Skip {
    /// The session's cookie has expired.
    Expired,
    /// The key went away between the scan and the read.
    Gone,
    /// The key is this store's own (the two share a prefix): an envelope, an owner index
    /// or a migration entry.
    NotLegacy,
}

/// Settings of [`Importer::import_all`] and [`Importer::import`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ImportOptions {
    /// Verify and count, write nothing. Default `false`.
    pub dry_run: bool,
    /// Keys asked for per scan page. Default 500.
    pub batch: usize,
    /// The Express application uses `rolling: true`: see [`Migrator::rolling`]. Default
    /// `false`.
    pub rolling: bool,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions {
            dry_run: false,
            batch: 500,
            rolling: false,
        }
    }
}

/// The summary of an import.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImportReport {
    /// Keys looked at.
    pub scanned: u64,
    /// Records sealed into entries (or, in a dry run, that would be).
    pub converted: u64,
    /// Records whose entry was already current, or whose session had already moved.
    pub already_migrated: u64,
    /// Records refused (left in place).
    pub refused: u64,
    /// Of those, records whose integrity check failed (connect-redis-crypto's HMAC or
    /// AES-GCM tag): tampered, or sealed under another secret.
    pub tampered: u64,
    /// Keys skipped: expired, gone, or not legacy records.
    pub skipped: u64,
}

impl ImportReport {
    fn count(&mut self, outcome: Imported) {
        self.scanned += 1;
        match outcome {
            Imported::Converted => self.converted += 1,
            Imported::AlreadyMigrated => self.already_migrated += 1,
            Imported::Refused(e) => {
                self.refused += 1;
                if matches!(e, LegacyError::Tampered | LegacyError::Undecryptable) {
                    self.tampered += 1;
                }
            }
            Imported::Skipped(_) => self.skipped += 1,
        }
    }
}

impl<T, B, L> Migrator<T, B, L>
where
    T: Send + Sync + 'static,
    B: Backend,
    L: Backend,
{
    /// The bulk import into this migrator's store from its source.
    pub fn importer(&self) -> Importer<'_, T, B, L> {
        Importer::new(self.store(), self.source())
    }
}

impl<'a, T, B, L> Importer<'a, T, B, L>
where
    T: Send + Sync + 'static,
    B: Backend,
    L: Backend,
{
    /// An import into `store` from `source`.
    pub fn new(store: &'a Store<T, B>, source: &'a LegacySource<L>) -> Self {
        Importer { store, source }
    }

    /// Imports the record of one legacy id: reads and verifies it and seals it into the
    /// entry of its id, unless that entry is already current. Writes nothing with
    /// `options.dry_run`.
    pub async fn import(
        &self,
        sid: &LegacySid,
        options: &ImportOptions,
    ) -> Result<Imported, Error> {
        let store = self.store;
        let source = self.source;
        let record = match source.fetch(sid).await {
            Ok(Some(record)) => record,
            Ok(None) => return Ok(Imported::Skipped(Skip::Gone)),
            Err(Error::Legacy(e)) => return Ok(Imported::Refused(e)),
            Err(e) => return Err(e),
        };
        // A value of this store's (the two share a prefix): an envelope's header parses.
        if Header::parse(&record).is_ok() {
            return Ok(Imported::Skipped(Skip::NotLegacy));
        }
        let entry_key = format!("{}{}", store.prefix(), compat::name_of(sid));
        let digest = compat::record_digest(&record);
        let existing = compat::read(store, &entry_key).await?;
        let expect = match existing {
            Some(Found {
                entry: Some(Entry::Moved { .. }),
                ..
            }) => return Ok(Imported::AlreadyMigrated),
            Some(Found {
                entry: Some(Entry::Imported { record, .. }),
                ..
            }) if record == digest => return Ok(Imported::AlreadyMigrated),
            // An older import, or an entry that no longer opens: replaced as it is.
            Some(Found { origin, .. }) => Some(origin),
            None => None,
        };
        let session = match source.decode(&record) {
            Ok(session) => session,
            Err(e) => return Ok(Imported::Refused(e)),
        };
        let now = store.now_secs();
        // An entry always expires: at the cookie's expiry, at most the store's lifetime (or,
        // for a store without one, the default lifetime) from now, after which the first
        // request reads the legacy record instead.
        let cap = now.saturating_add(
            store
                .absolute_lifetime()
                .unwrap_or(DEFAULT_ABSOLUTE_LIFETIME)
                .min(MAX_LIFETIME)
                .as_secs(),
        );
        let expires_at = match session.lifetime(now, options.rolling) {
            Lifetime::Expired => return Ok(Imported::Skipped(Skip::Expired)),
            Lifetime::BrowserSession => cap,
            Lifetime::Until(at) => at.min(cap),
        };
        if options.dry_run {
            return Ok(Imported::Converted);
        }
        let plaintext = Entry::Imported {
            session,
            record: digest,
        }
        .to_json();
        let value = match store.seal_entry(&entry_key, expires_at, &plaintext) {
            Ok((value, _)) => value,
            // Larger than the store's envelopes may be: the session cannot move (its first
            // request will fail the same way), the record stays.
            Err(Error::TooLarge { .. }) => {
                return Ok(Imported::Refused(LegacyError::RecordTooLarge));
            }
            Err(e) => return Err(e),
        };
        let ttl = match store.entry_ttl(expires_at, None) {
            Ok(ttl) => ttl,
            Err(Error::SessionExpired) => return Ok(Imported::Skipped(Skip::Expired)),
            Err(e) => return Err(e),
        };
        let backend = store.backend();
        let written = match expect {
            None => {
                backend
                    .set(&entry_key, &value, ttl, SetMode::CreateOnly)
                    .await?
            }
            Some(origin) => matches!(
                backend
                    .set_if(&entry_key, &value, ttl, origin.expect())
                    .await?,
                Conditional::Done
            ),
        };
        // Losing the write means a request or another import got there first.
        Ok(if written {
            Imported::Converted
        } else {
            Imported::AlreadyMigrated
        })
    }

    /// Imports every record under the legacy prefix, calling `progress` after each page with
    /// the report so far. A key listed twice by the scan is counted once. A backend error
    /// stops the import (run it again: it resumes, counting what it did as already
    /// migrated).
    pub async fn import_all(
        &self,
        options: &ImportOptions,
        mut progress: impl FnMut(&ImportReport),
    ) -> Result<ImportReport, Error> {
        let source = self.source;
        let prefix = source.prefix().to_owned();
        let own_prefix = self.store.prefix().to_owned();
        let mut report = ImportReport::default();
        // A scan may list a key twice: 8 bytes per key seen, under a per-run hash key.
        let hasher = RandomState::new();
        let mut seen = HashSet::new();
        let mut cursor = ScanCursor::start();
        loop {
            let page = source
                .backend()
                .scan(&prefix, cursor, options.batch.max(1))
                .await?;
            for key in &page.keys {
                let Some(sid) = key.strip_prefix(prefix.as_str()) else {
                    continue;
                };
                if !seen.insert(hasher.hash_one(key)) {
                    continue;
                }
                if key.strip_prefix(own_prefix.as_str()).is_some_and(|rest| {
                    rest.starts_with(compat::INFIX) || crate::id::is_index_name(rest)
                }) {
                    report.count(Imported::Skipped(Skip::NotLegacy));
                    continue;
                }
                let outcome = self.import(&LegacySid::from_stored(sid), options).await?;
                report.count(outcome);
            }
            progress(&report);
            match page.next {
                Some(next) => cursor = next,
                None => return Ok(report),
            }
        }
    }
}
