//! Key rotation at run time.
//!
//! - [`KeyringHandle`]: the keyring a sealer uses, replaceable atomically while the store
//!   serves requests. Each seal or open uses the keyring that was current when it started.
//! - [`Reloader`] (feature `config`): re-reads a keyring configuration file into a handle;
//!   a failed reload keeps the working keyring. [`reload_on_sighup`] (feature `signal`)
//!   does it whenever the process receives SIGHUP.
//! - [`census`] and [`rewrap`]: count stored envelopes by key id from their clear-text
//!   headers (no key needed), and re-seal under the primary every envelope under an older
//!   decrypt-only key, a page at a time, each write a compare-and-swap so a concurrent save
//!   always wins.
//!
//! Key ids grow with age: re-sealing only ever moves an envelope to a key with a higher id,
//! so a process whose keyring lags behind never undoes a rotation.
//!
//! The store re-seals lazily too: a session loaded from an envelope under a decrypt-only
//! key is written back under the primary (see `StoreBuilder::lazy_reseal`).
//! `docs/ROTATION.md` gives the operator's procedures.

use std::collections::{BTreeMap, HashSet};
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::task::{Context, Poll};
use std::time::Duration;

use crate::backend::{Backend, Fetched, ScanCursor, Swap};
use crate::clock::{Clock, SystemClock};
use crate::envelope::{DEFAULT_MAX_ENVELOPE_LEN, Header, MAX_ENVELOPE_LEN_LIMIT, OVERHEAD};
use crate::error::{Error, RejectKind};
use crate::sealer::{OpenContext, SealContext, Sealer};

#[cfg(feature = "config")]
mod reload;

/// Where the handle lives now (beside [`Keyring`](crate::Keyring), in the pure crypto stage); kept here so
/// `rotation::KeyringHandle` stays a valid path.
pub use crate::crypto::KeyringHandle;
#[cfg(all(feature = "signal", unix))]
pub use reload::reload_on_sighup;
#[cfg(feature = "config")]
pub use reload::{Reloaded, Reloader};

/// How many envelopes name each key id, read from clear-text headers alone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Census {
    /// Envelopes per key id, for at most [`Census::MAX_IDS`] distinct ids.
    pub by_key_id: BTreeMap<u32, u64>,
    /// Envelopes naming ids beyond the first [`Census::MAX_IDS`] distinct ones: headers are
    /// not authenticated, so whoever can write to the backend can plant any number of ids.
    pub other_ids: u64,
    /// Values whose header does not parse as envelope v1 (or that are not byte strings).
    pub not_envelopes: u64,
    /// Owner indexes under the prefix (`prefix + "owner." + 64 hex digits`): not read.
    pub owner_indexes: u64,
}

impl Census {
    /// The most distinct key ids counted one by one.
    pub const MAX_IDS: usize = 64;

    /// Envelopes naming `key_id`.
    pub fn count(&self, key_id: u32) -> u64 {
        self.by_key_id.get(&key_id).copied().unwrap_or(0)
    }

    /// Every value counted, envelope or not.
    pub fn total(&self) -> u64 {
        // Saturating: the fields are public, so a caller may have set any value.
        self.by_key_id
            .values()
            .fold(self.other_ids, |sum, n| sum.saturating_add(*n))
            .saturating_add(self.not_envelopes)
            .saturating_add(self.owner_indexes)
    }

    fn add(&mut self, value: &Fetched) {
        match value {
            Fetched::Missing => {}
            Fetched::Value(bytes) => match Header::parse(bytes) {
                Ok(header) => {
                    let room = self.by_key_id.len() < Census::MAX_IDS;
                    match self.by_key_id.get_mut(&header.key_id) {
                        Some(n) => *n += 1,
                        None if room => {
                            self.by_key_id.insert(header.key_id, 1);
                        }
                        None => self.other_ids += 1,
                    }
                }
                Err(_) => self.not_envelopes += 1,
            },
            Fetched::NotBytes => self.not_envelopes += 1,
            // Not counted by `census`, which reads headers only; `rewrap` counts these as
            // `too_large`.
            Fetched::TooLarge { .. } => {}
        }
    }
}

/// Whether `key` names an owner index under `prefix`: never an envelope, never read.
fn is_owner_index(prefix: &str, key: &str) -> bool {
    key.strip_prefix(prefix)
        .is_some_and(crate::id::is_index_name)
}

/// Settings for [`census`] and [`rewrap`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RewrapOptions {
    /// Count what would be re-sealed, write nothing. Default `false`.
    pub dry_run: bool,
    /// Keys asked for per scan page, and so per pipelined batch. Default 500; values above
    /// [`RewrapOptions::MAX_BATCH`] are treated as that.
    pub batch: usize,
    /// Largest value [`rewrap`] reads, as the store's `max_envelope_len`; larger ones are
    /// counted as `too_large` and left alone. Default 64 KiB; values above the store's
    /// own limit ([`MAX_ENVELOPE_LEN_LIMIT`], 1 MiB) are
    /// treated as that limit. ([`census`] reads headers only, whatever the size.)
    pub max_envelope_len: usize,
    /// The absolute lifetime of the store the envelopes belong to, if it has one. Each
    /// re-sealed envelope then gets the expiry that store would give it: its own, capped at
    /// `now + lifetime`, or `now + lifetime` for one stored without an expiry; and envelopes
    /// stored without an expiry are re-sealed even under the primary key. `None` (the
    /// default, right for a store without a lifetime) keeps every expiry as it is.
    /// [`Store::rewrap`](crate::Store::rewrap) sets it from the store.
    pub absolute_lifetime: Option<Duration>,
}

impl Default for RewrapOptions {
    fn default() -> Self {
        RewrapOptions {
            dry_run: false,
            batch: 500,
            max_envelope_len: DEFAULT_MAX_ENVELOPE_LEN,
            absolute_lifetime: None,
        }
    }
}

impl RewrapOptions {
    /// Sets [`RewrapOptions::dry_run`].
    #[must_use]
    pub fn dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }

    /// The most keys read per page: see [`RewrapOptions::batch`].
    pub const MAX_BATCH: usize = 10_000;

    /// Sets [`RewrapOptions::batch`] (between 1 and [`RewrapOptions::MAX_BATCH`]).
    #[must_use]
    pub fn batch(mut self, batch: usize) -> Self {
        self.batch = batch.clamp(1, RewrapOptions::MAX_BATCH);
        self
    }

    /// Sets [`RewrapOptions::max_envelope_len`].
    #[must_use]
    pub fn max_envelope_len(mut self, len: usize) -> Self {
        self.max_envelope_len = len;
        self
    }

    /// Sets [`RewrapOptions::absolute_lifetime`].
    #[must_use]
    pub fn absolute_lifetime(mut self, lifetime: Option<Duration>) -> Self {
        self.absolute_lifetime = lifetime;
        self
    }

    /// The page size applied, whatever the public field holds.
    fn page_size(&self) -> usize {
        self.batch.clamp(1, RewrapOptions::MAX_BATCH)
    }

    /// The limit actually applied: one batch never reads more than 1 MiB per value.
    fn read_limit(&self) -> usize {
        self.max_envelope_len.min(MAX_ENVELOPE_LEN_LIMIT)
    }
}

/// What [`rewrap`] did (or, in a dry run, would do). Also passed to the progress callback
/// after every page.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RewrapReport {
    /// Envelopes by the key id they named when read, and values that are not envelopes.
    pub found: Census,
    /// Values longer than `max_envelope_len`: not read, left alone.
    pub too_large: u64,
    /// Envelopes the sealer did not ask to re-seal ([`Sealer::needs_reseal`]): those under
    /// the primary key, and those under retired, unknown or newer ids. Left alone;
    /// `found` tells the ids apart.
    pub skipped: u64,
    /// Envelopes re-sealed under the primary (in a dry run: that would be).
    pub resealed: u64,
    /// Envelopes sealed again with no absolute expiry, as they were stored (counted when
    /// sealed, so also those whose write then lost a race): right for a store without a
    /// lifetime; for one with a lifetime, give [`RewrapOptions::absolute_lifetime`].
    pub resealed_without_expiry: u64,
    /// Envelopes that changed between the read and the write (a save, a lazy re-seal or a
    /// deletion won the race): left alone. A rerun picks up any still under an old key.
    pub changed_meanwhile: u64,
    /// Envelopes selected for re-sealing that could not be opened, by rejection kind
    /// (`expired`, `authentication`, `commitment`...): left alone for their TTL to remove.
    /// (Envelopes under retired or unknown ids are not opened at all: see `skipped`.)
    pub refused: BTreeMap<&'static str, u64>,
}

impl RewrapReport {
    /// Values examined so far.
    pub fn scanned(&self) -> u64 {
        self.found.total().saturating_add(self.too_large)
    }

    /// Envelopes refused, all kinds together.
    pub fn refused_total(&self) -> u64 {
        self.refused
            .values()
            .fold(0, |sum: u64, n| sum.saturating_add(*n))
    }
}

/// Counts the values under `prefix` by the key id in their header. Needs no key: it reads
/// only the clear-text header (the first 95 bytes of each value, whatever its size), which
/// is not authenticated until an envelope is opened, so the counts describe what is stored,
/// not what would open. `progress` sees the running totals after every page.
pub async fn census<B: Backend>(
    backend: &B,
    prefix: &str,
    options: &RewrapOptions,
    mut progress: impl FnMut(&Census),
) -> Result<Census, Error> {
    let mut census = Census::default();
    let mut cursor = ScanCursor::start();
    loop {
        let page = backend.scan(prefix, cursor, options.page_size()).await?;
        let (indexes, keys): (Vec<String>, Vec<String>) = page
            .keys
            .into_iter()
            .partition(|k| is_owner_index(prefix, k));
        census.owner_indexes = census.owner_indexes.saturating_add(indexes.len() as u64);
        let values = backend.get_many_prefix(&keys, OVERHEAD).await?;
        for value in &values {
            census.add(value);
        }
        progress(&census);
        match page.next {
            Some(next) => cursor = next,
            None => return Ok(census),
        }
    }
}

/// Re-seals under `sealer`'s primary key every value under `prefix` that the sealer says
/// names an older key ([`Sealer::needs_reseal`]: for [`KeyringSealer`](crate::KeyringSealer),
/// a decrypt-only key with a lower id than the primary).
///
/// Page by page: one scan, one batched read, the openings and sealings, one batched write of
/// compare-and-swaps that keep each entry's TTL and replace it only if it is unchanged.
/// Idempotent and safe to interrupt: a rerun finds only what is left. Values it cannot open
/// (retired or unknown keys, tampering, expiry) are counted and left alone. Each envelope is
/// sealed again with the same codec and storage key and the same expiry, or the one
/// [`RewrapOptions::absolute_lifetime`] gives it, so nothing a user sees changes.
///
/// # Memory
///
/// Bounded by the page size, whatever the number of sessions: at most three pages are held
/// at once (one being written, one being sealed, one being read), each of at most
/// [`RewrapOptions::batch`] values of at most [`RewrapOptions::max_envelope_len`] bytes;
/// the pages being written and sealed also hold a re-sealed copy of each value, and the one
/// being sealed a copy of the value being opened; the keys of the last two pages are kept.
/// That is at most about 6 × batch × max_envelope_len: about 190 MiB with the defaults
/// (500 keys, 64 KiB) if every session were at the maximum size, about 3 MB for sessions of
/// 1 KiB.
pub async fn rewrap<B: Backend>(
    backend: &B,
    sealer: &dyn Sealer,
    prefix: &str,
    options: &RewrapOptions,
    progress: impl FnMut(&RewrapReport),
) -> Result<RewrapReport, Error> {
    rewrap_filtered(
        backend,
        sealer,
        prefix,
        &|_| true,
        &SystemClock,
        options,
        progress,
    )
    .await
}

/// [`rewrap`] over the keys `keep` accepts, with the time from `clock`.
pub(crate) async fn rewrap_filtered<B: Backend>(
    backend: &B,
    sealer: &dyn Sealer,
    prefix: &str,
    keep: &(dyn Fn(&str) -> bool + Sync),
    clock: &dyn Clock,
    options: &RewrapOptions,
    mut progress: impl FnMut(&RewrapReport),
) -> Result<RewrapReport, Error> {
    let mut report = RewrapReport::default();
    let fetch = |cursor: ScanCursor| read_page(backend, prefix, keep, cursor, options);
    let mut page = Some(fetch(ScanCursor::start()).await?);
    let mut pending: Vec<Replacement> = Vec::new();
    // Keys of the last two pages: SCAN may return a key again, and a page is read before the
    // swaps of the two pages before it have landed, so such a repeat is skipped, not counted
    // (and sealed) twice.
    let mut recent: [HashSet<String>; 2] = Default::default();
    // Three stages overlap: while Redis applies one page's swaps and answers the scan and
    // reads of the page after next, this task opens and seals the page in between. Sealing
    // yields to the scheduler every few envelopes, so those requests progress meanwhile and
    // their deadlines measure Redis, not this task's CPU work. At most three pages are held
    // at once, whatever the number of sessions.
    while page.is_some() || !pending.is_empty() {
        let mut current = page.take();
        let next = current.as_mut().and_then(|p| p.next.take());
        if let Some(current) = &mut current {
            current.drop_keys(&recent);
            let keys = current.keys.iter().cloned().collect();
            recent = [std::mem::take(&mut recent[1]), keys];
        }
        let swaps: Vec<Swap<'_>> = pending.iter().map(Replacement::swap).collect();
        let (swapped, fetched, sealed) = join3(
            async {
                if swaps.is_empty() {
                    Ok(Vec::new())
                } else {
                    backend.compare_and_swap_many(&swaps).await
                }
            },
            async {
                match next {
                    Some(cursor) => fetch(cursor).await.map(Some),
                    None => Ok(None),
                }
            },
            async {
                match current {
                    Some(current) => {
                        reseal_page(sealer, clock, options, current, &mut report).await
                    }
                    None => Ok(Vec::new()),
                }
            },
        )
        .await;
        for done in swapped? {
            if done {
                report.resealed += 1;
            } else {
                report.changed_meanwhile += 1;
            }
        }
        drop(swaps);
        pending = sealed?;
        page = fetched?;
        progress(&report);
    }
    Ok(report)
}

/// One scan page and its values.
struct Page {
    keys: Vec<String>,
    values: Vec<Fetched>,
    next: Option<ScanCursor>,
}

impl Page {
    /// Removes the keys in `seen`, with their values.
    fn drop_keys(&mut self, seen: &[HashSet<String>]) {
        if seen.iter().all(HashSet::is_empty) {
            return;
        }
        let (keys, values) = std::mem::take(&mut self.keys)
            .into_iter()
            .zip(std::mem::take(&mut self.values))
            .filter(|(key, _)| !seen.iter().any(|s| s.contains(key)))
            .unzip();
        self.keys = keys;
        self.values = values;
    }
}

/// A value read and the envelope to put in its place.
struct Replacement {
    key: String,
    old: Vec<u8>,
    new: Vec<u8>,
}

impl Replacement {
    fn swap(&self) -> Swap<'_> {
        Swap {
            key: &self.key,
            expected: &self.old,
            new: &self.new,
        }
    }
}

async fn read_page<B: Backend>(
    backend: &B,
    prefix: &str,
    keep: &(dyn Fn(&str) -> bool + Sync),
    cursor: ScanCursor,
    options: &RewrapOptions,
) -> Result<Page, Error> {
    let page = backend.scan(prefix, cursor, options.page_size()).await?;
    let keys: Vec<String> = page
        .keys
        .into_iter()
        .filter(|k| keep(k) && !is_owner_index(prefix, k))
        .collect();
    let values = backend.get_many(&keys, options.read_limit()).await?;
    Ok(Page {
        keys,
        values,
        next: page.next,
    })
}

/// Counts a page and opens and seals again what needs it (nothing is written in a dry run).
async fn reseal_page(
    sealer: &dyn Sealer,
    clock: &dyn Clock,
    options: &RewrapOptions,
    page: Page,
    report: &mut RewrapReport,
) -> Result<Vec<Replacement>, Error> {
    let now = clock.now_secs();
    let max = options.read_limit();
    let mut out = Vec::new();
    for (n, (key, value)) in page.keys.into_iter().zip(page.values).enumerate() {
        if n % YIELD_EVERY == YIELD_EVERY - 1 {
            YieldNow(false).await;
        }
        report.found.add(&value);
        let value = match value {
            Fetched::Value(value) => value,
            Fetched::TooLarge { .. } => {
                report.too_large += 1;
                continue;
            }
            Fetched::Missing | Fetched::NotBytes => continue,
        };
        let Ok(header) = Header::parse(&value) else {
            continue;
        };
        // Stored without an expiry, where the store has a lifetime: re-sealed with one even
        // under the primary key (the header is not authenticated yet: opening decides).
        let rekey = sealer.needs_reseal(&value);
        let unlimited = options.absolute_lifetime.is_some() && header.expires_at == 0;
        if !rekey && !unlimited {
            report.skipped += 1;
            continue;
        }
        let ctx = OpenContext::new(key.as_bytes(), now, max);
        let opened = match sealer.open(&ctx, value.clone()) {
            Ok(opened) => opened,
            // Chosen only for its expiry, under a key this sealer does not use: it would
            // not have been opened for re-keying either.
            Err(Error::Rejected(r))
                if !rekey
                    && matches!(r.kind(), RejectKind::UnknownKey | RejectKind::RetiredKey) =>
            {
                report.skipped += 1;
                continue;
            }
            Err(Error::Rejected(r)) => {
                *report.refused.entry(r.kind().as_str()).or_default() += 1;
                continue;
            }
            Err(e) => return Err(e),
        };
        let expires_at = match options.absolute_lifetime {
            Some(lifetime) => capped_expiry(opened.expires_at, now, lifetime),
            None => opened.expires_at,
        };
        if !rekey && expires_at == opened.expires_at {
            report.skipped += 1;
            continue;
        }
        report.resealed_without_expiry += u64::from(expires_at == 0);
        if options.dry_run {
            report.resealed += 1;
            continue;
        }
        let seal = SealContext::new(key.as_bytes(), opened.codec, expires_at);
        let new = sealer.seal(&seal, opened.plaintext())?;
        if new.len() > max {
            // A sealer with more overhead than the one that wrote it: the store would refuse
            // to read the result, so the value is left as it is.
            report.too_large += 1;
            continue;
        }
        out.push(Replacement {
            key,
            old: value,
            new,
        });
    }
    Ok(out)
}

/// The expiry a store with `lifetime` keeps for an envelope stored with `expires_at`: that
/// one capped at `now + lifetime`, or `now + lifetime` for an envelope without an expiry.
pub(crate) fn capped_expiry(expires_at: u64, now: u64, lifetime: Duration) -> u64 {
    let cap = now.saturating_add(lifetime.as_secs());
    match expires_at {
        0 => cap,
        at => at.min(cap),
    }
}

/// Envelopes opened and sealed between two yields to the scheduler.
const YIELD_EVERY: usize = 32;

/// Gives the scheduler one turn: pending once (after asking to be polled again), then ready.
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// Runs three futures concurrently on this task, polling them in order each time it is
/// woken; a finished one is never polled again.
async fn join3<A: Future, B: Future, C: Future>(
    a: A,
    b: B,
    c: C,
) -> (A::Output, B::Output, C::Output) {
    let (mut a, mut b, mut c) = (pin!(a), pin!(b), pin!(c));
    let (mut ra, mut rb, mut rc) = (None, None, None);
    poll_fn(move |cx| {
        if ra.is_none()
            && let Poll::Ready(v) = a.as_mut().poll(cx)
        {
            ra = Some(v);
        }
        if rb.is_none()
            && let Poll::Ready(v) = b.as_mut().poll(cx)
        {
            rb = Some(v);
        }
        if rc.is_none()
            && let Poll::Ready(v) = c.as_mut().poll(cx)
        {
            rc = Some(v);
        }
        match (ra.take(), rb.take(), rc.take()) {
            (Some(a), Some(b), Some(c)) => Poll::Ready((a, b, c)),
            (a, b, c) => {
                (ra, rb, rc) = (a, b, c);
                Poll::Pending
            }
        }
    })
    .await
}
