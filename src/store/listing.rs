//! Listing what a store holds: storage ids, counts, every session, and clearing, a scan page
//! at a time. Only keys of the form the store writes count; anything else under the prefix is
//! left alone.

use std::collections::{BTreeSet, HashSet};

use crate::backend::{Backend, Fetched, ScanCursor};
use crate::error::{Error, RejectKind, Rejection};
use crate::id::{SessionId, StorageId};

use super::{Session, StorageKeys, Store};

impl<T, B> Store<T, B>
where
    T: Send + Sync + 'static,
    B: Backend,
{
    /// Whether `rest`, a key without the prefix, has the form of a storage id of this store.
    pub(super) fn is_storage_id(&self, rest: &str) -> bool {
        match self.inner.settings.storage_keys {
            StorageKeys::Hashed => {
                rest.len() == 64 && rest.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            }
            StorageKeys::PlainIds => SessionId::parse(rest).is_ok(),
        }
    }

    /// Every storage id under the prefix, each once: keys of the form this store writes
    /// (prefix + 64 lowercase hex digits, or prefix + a session id in plain mode). Holds
    /// every id in memory: use [`Store::len`] or [`Store::is_empty`] to count.
    pub async fn ids(&self) -> Result<Vec<StorageId>, Error> {
        let mut seen = BTreeSet::new();
        let mut cursor = ScanCursor::start();
        loop {
            let (page, next) = self.scan_page(cursor).await?;
            seen.extend(page);
            match next {
                Some(c) => cursor = c,
                None => break,
            }
        }
        Ok(seen.into_iter().collect())
    }

    /// Number of entries under the prefix, counted a scan page at a time: memory holds the
    /// ids of the last two pages only, whatever the number of sessions. Like the listing it
    /// rests on, the count is of a moving set: entries created or removed while it runs may
    /// or may not be counted, and a key the backend lists again after more than a page (Redis
    /// can, when it resizes its table during the scan) is counted again.
    pub async fn len(&self) -> Result<usize, Error> {
        let mut count = 0usize;
        let mut recent: [HashSet<StorageId>; 2] = Default::default();
        let mut cursor = ScanCursor::start();
        loop {
            let (page, next) = self.scan_page(cursor).await?;
            let fresh: HashSet<StorageId> = page
                .into_iter()
                .filter(|id| !recent.iter().any(|r| r.contains(id)))
                .collect();
            count = count.saturating_add(fresh.len());
            recent = [std::mem::take(&mut recent[1]), fresh];
            match next {
                Some(c) => cursor = c,
                None => return Ok(count),
            }
        }
    }

    /// True when no entry is under the prefix. Stops at the first entry found.
    pub async fn is_empty(&self) -> Result<bool, Error> {
        let mut cursor = ScanCursor::start();
        loop {
            let (page, next) = self.scan_page(cursor).await?;
            if !page.is_empty() {
                return Ok(false);
            }
            match next {
                Some(c) => cursor = c,
                None => return Ok(true),
            }
        }
    }

    /// Every session under the prefix, each with the result of opening it: one corrupt or
    /// retired entry does not hide the others. A backend error aborts the listing. Reads go
    /// out a scan page at a time (pipelined where the backend can).
    #[allow(clippy::type_complexity)]
    pub async fn all(&self) -> Result<Vec<(StorageId, Result<Session<T>, Rejection>)>, Error> {
        let max = self.inner.settings.max_envelope_len;
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        let mut cursor = ScanCursor::start();
        loop {
            let (page, next) = self.scan_page(cursor).await?;
            let page: Vec<StorageId> = page
                .into_iter()
                .filter(|id| seen.insert(id.clone()))
                .collect();
            let keys: Vec<String> = page.iter().map(|id| self.key_of(id)).collect();
            let values = self.inner.backend.get_many(&keys, max).await?;
            for ((id, key), fetched) in page.into_iter().zip(&keys).zip(values) {
                let opened = match fetched {
                    Fetched::Missing => continue,
                    Fetched::TooLarge { .. } | Fetched::NotBytes => Err(RejectKind::Length.into()),
                    Fetched::Value(value) => self.open(key, value).map(|(session, _)| session),
                };
                match opened {
                    Ok(session) => out.push((id, Ok(session))),
                    Err(Error::Rejected(r)) => out.push((id, Err(r))),
                    Err(e) => return Err(e),
                }
            }
            match next {
                Some(c) => cursor = c,
                None => break,
            }
        }
        Ok(out)
    }

    /// Removes every entry under the prefix, owner indexes included; returns how many were
    /// removed (sessions and indexes). Deletions go
    /// out a scan page at a time (pipelined where the backend can), and memory holds one
    /// page whatever the number of sessions (a key listed twice is removed once).
    pub async fn clear(&self) -> Result<usize, Error> {
        let mut removed = 0u64;
        let mut cursor = ScanCursor::start();
        loop {
            let (page, next, indexes) = self.scan_page_with_indexes(cursor).await?;
            let mut keys: Vec<String> = page.iter().map(|id| self.key_of(id)).collect();
            keys.extend(indexes);
            removed = removed.saturating_add(self.inner.backend.delete_many(&keys).await?);
            match next {
                Some(c) => cursor = c,
                None => break,
            }
        }
        Ok(usize::try_from(removed).unwrap_or(usize::MAX))
    }

    /// One scan page of storage ids (a later page may list one again), and the next cursor.
    async fn scan_page(
        &self,
        cursor: ScanCursor,
    ) -> Result<(Vec<StorageId>, Option<ScanCursor>), Error> {
        let (ids, next, _) = self.scan_page_with_indexes(cursor).await?;
        Ok((ids, next))
    }

    /// [`Store::scan_page`], with the owner-index keys of the page as well.
    #[allow(clippy::type_complexity)]
    async fn scan_page_with_indexes(
        &self,
        cursor: ScanCursor,
    ) -> Result<(Vec<StorageId>, Option<ScanCursor>, Vec<String>), Error> {
        let hashed = self.inner.settings.storage_keys == StorageKeys::Hashed;
        let page = self
            .inner
            .backend
            .scan(
                &self.inner.settings.prefix,
                cursor,
                self.inner.settings.scan_count,
            )
            .await?;
        let mut ids = Vec::new();
        let mut indexes = Vec::new();
        for key in page.keys {
            // Only keys this store could have written: another store whose prefix merely
            // starts with ours ("sess:" and "sess:admin:") is left alone.
            let Some(rest) = key.strip_prefix(self.inner.settings.prefix.as_str()) else {
                continue;
            };
            if self.is_storage_id(rest) {
                ids.push(StorageId::from_stored(rest, hashed));
            } else if crate::id::is_index_name(rest) {
                indexes.push(key);
            }
        }
        Ok((ids, page.next, indexes))
    }
}
