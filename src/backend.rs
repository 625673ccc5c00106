//! The storage stage: bytes under string keys, with expiry.
//!
//! [`Backend`] is deliberately small and knows nothing of sessions or cryptography: the
//! store hands it finished envelopes and storage keys. The built-in [`MemoryBackend`] keeps
//! everything in the process; the Redis backend lives behind the `redis` feature.
//!
//! The methods return `Send` futures, so a store can be used from any multi-threaded runtime.
//! Implement them with `async fn` in the `impl` block.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use crate::error::BackendError;

mod conditional;
mod index;
#[cfg(feature = "memory")]
mod memory;

pub use self::conditional::{Conditional, Expect};
pub use self::index::{IndexEntry, is_index_id};

#[cfg(feature = "memory")]
pub use memory::MemoryBackend;

#[cfg(feature = "redis")]
pub mod redis;

#[cfg(feature = "redis")]
pub use self::redis::{RedisBackend, RedisBackendBuilder};

#[cfg(test)]
mod tests;

/// Whether a write may replace an existing value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetMode {
    /// Write whether or not the key exists (Redis `SET`).
    Upsert,
    /// Write only if the key does not exist (Redis `SET … NX`).
    CreateOnly,
    /// Write only if the key exists (Redis `SET … XX`).
    UpdateOnly,
}

/// The outcome of a bounded read.
#[derive(Clone, PartialEq, Eq)]
pub enum Fetched {
    /// No live value under the key.
    Missing,
    /// The value, at most `max_len` bytes.
    Value(Vec<u8>),
    /// A value longer than `max_len`; its bytes were not transferred (or were dropped
    /// unread where the backend cannot avoid receiving them).
    TooLarge {
        /// The stored length in bytes, or a lower bound (`max_len + 1`) where the backend
        /// stopped reading.
        len: usize,
    },
    /// Something that is not a byte string sits under the key (a Redis hash or list, say):
    /// never a session, refused like a value of the wrong length.
    NotBytes,
}

impl fmt::Debug for Fetched {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fetched::Missing => f.write_str("Missing"),
            Fetched::Value(v) => write!(f, "Value({} bytes)", v.len()),
            Fetched::TooLarge { len } => write!(f, "TooLarge({len} bytes)"),
            Fetched::NotBytes => f.write_str("NotBytes"),
        }
    }
}

/// Where a scan resumes. Opaque: its text means something only to the backend that made it
/// (it may contain a storage key, so `Debug` does not print it).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ScanCursor(String);

impl fmt::Debug for ScanCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_start() {
            f.write_str("ScanCursor(start)")
        } else {
            f.write_str("ScanCursor(..)")
        }
    }
}

impl ScanCursor {
    /// The cursor that starts a scan.
    pub fn start() -> Self {
        ScanCursor(String::new())
    }

    /// A backend-defined cursor.
    pub fn new(text: impl Into<String>) -> Self {
        ScanCursor(text.into())
    }

    /// The backend-defined text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// True for the starting cursor.
    pub fn is_start(&self) -> bool {
        self.0.is_empty()
    }
}

/// One page of a scan: some keys, and the cursor for the next page, `None` when done.
/// A page may be empty while `next` is still `Some`; a key may appear on two pages.
/// `Debug` prints the number of keys, not the keys (in plain-id mode they hold session ids).
#[derive(Clone, Default)]
pub struct ScanPage {
    /// Full keys, prefix included.
    pub keys: Vec<String>,
    /// Where to continue; `None` once the scan is complete.
    pub next: Option<ScanCursor>,
}

impl fmt::Debug for ScanPage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ScanPage { keys, next } = self;
        f.debug_struct("ScanPage")
            .field("keys", &keys.len())
            .field("next", next)
            .finish()
    }
}

/// Stores bytes under string keys with optional expiry.
///
/// Six methods are required; `set_if` (optimistic saves) has a default built from them,
/// and the batched ones (`get_many`, `get_many_prefix`,
/// `compare_and_swap_many`, `delete_many`) have defaults that call the single-key methods one
/// after another, for a backend to override when it can save round trips. The owner index
/// (`index_add`, `index_remove`, `index_read`, `take`, `compare_and_delete`) is optional:
/// the defaults refuse with an error, and only a store built with an owner index calls
/// them. Every one of them names one key, so a backend can serve them from a cluster whose
/// keys live on different nodes. Every method must be safe to call concurrently, and [`Backend::compare_and_swap`] must be atomic with respect
/// to every other write: key rotation and the store's expiry repairs rely on it.
///
/// # Implementing a backend
///
/// A backend over a map in a mutex: enough for the store, which seals before it writes
/// and opens after it reads, so the backend only ever sees storage keys and envelopes.
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::Mutex;
/// use std::time::{Duration, Instant};
///
/// use sealed_session::{
///     Backend, BackendError, Fetched, KeyMaterial, Keyring, ScanCursor, ScanPage, Session,
///     SessionId, SetMode, Store, Suite,
/// };
///
/// #[derive(Default)]
/// struct MapBackend {
///     entries: Mutex<HashMap<String, (Vec<u8>, Option<Instant>)>>,
/// }
///
/// impl MapBackend {
///     /// The live entries, after dropping the expired ones.
///     fn live(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Vec<u8>, Option<Instant>)>> {
///         let mut map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
///         let now = Instant::now();
///         map.retain(|_, (_, until)| until.is_none_or(|t| t > now));
///         map
///     }
/// }
///
/// impl Backend for MapBackend {
///     async fn set(&self, key: &str, value: &[u8], ttl: Option<Duration>, mode: SetMode)
///         -> Result<bool, BackendError> {
///         let mut map = self.live();
///         let allowed = match mode {
///             SetMode::CreateOnly => !map.contains_key(key),
///             SetMode::UpdateOnly => map.contains_key(key),
///             SetMode::Upsert => true,
///         };
///         if allowed {
///             let until = ttl.map(|ttl| Instant::now() + ttl);
///             map.insert(key.to_owned(), (value.to_vec(), until));
///         }
///         Ok(allowed)
///     }
///
///     async fn get(&self, key: &str, max_len: usize) -> Result<Fetched, BackendError> {
///         Ok(match self.live().get(key) {
///             None => Fetched::Missing,
///             Some((value, _)) if value.len() > max_len => Fetched::TooLarge { len: value.len() },
///             Some((value, _)) => Fetched::Value(value.clone()),
///         })
///     }
///
///     async fn delete(&self, key: &str) -> Result<bool, BackendError> {
///         Ok(self.live().remove(key).is_some())
///     }
///
///     async fn expire(&self, key: &str, ttl: Duration) -> Result<bool, BackendError> {
///         Ok(match self.live().get_mut(key) {
///             Some((_, until)) => {
///                 *until = Some(Instant::now() + ttl);
///                 true
///             }
///             None => false,
///         })
///     }
///
///     async fn compare_and_swap(&self, key: &str, expected: &[u8], new: &[u8])
///         -> Result<bool, BackendError> {
///         // One lock around the comparison and the write: atomic, and the expiry stays.
///         Ok(match self.live().get_mut(key) {
///             Some((value, _)) if value.as_slice() == expected => {
///                 *value = new.to_vec();
///                 true
///             }
///             _ => false,
///         })
///     }
///
///     async fn scan(&self, prefix: &str, _cursor: ScanCursor, _count: usize)
///         -> Result<ScanPage, BackendError> {
///         // Everything on one page; a large backend would page with the cursor.
///         let keys = self.live().keys().filter(|k| k.starts_with(prefix)).cloned().collect();
///         Ok(ScanPage { keys, next: None })
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), sealed_session::Error> {
/// let keyring = Keyring::single(1, Suite::Aes256Gcm, KeyMaterial::generate()?)?;
/// let store: Store<String, MapBackend> =
///     Store::builder(MapBackend::default()).keyring(keyring).build()?;
/// let id = SessionId::generate()?;
/// store.create(&id, &mut Session::new("alice".to_owned())).await?;
/// assert_eq!(store.load(&id).await?.map(|s| s.into_data()).as_deref(), Some("alice"));
/// # Ok(())
/// # }
/// ```
///
/// With the `conformance` feature, the store's conformance suite runs against a backend of
/// your own: see [`conformance`](crate::conformance).
pub trait Backend: Send + Sync + 'static {
    /// Writes `value` under `key`, expiring after `ttl` (`None`: never; never zero). Returns
    /// `false`, without writing, when `mode` forbids the write ([`SetMode::CreateOnly`] and
    /// the key exists, [`SetMode::UpdateOnly`] and it does not).
    fn set(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
        mode: SetMode,
    ) -> impl Future<Output = Result<bool, BackendError>> + Send;

    /// Reads the value under `key` if it is at most `max_len` bytes long. A longer value is
    /// reported as [`Fetched::TooLarge`] without being copied out, so a planted huge value
    /// costs no memory.
    fn get(
        &self,
        key: &str,
        max_len: usize,
    ) -> impl Future<Output = Result<Fetched, BackendError>> + Send;

    /// Removes `key`; returns whether it existed.
    fn delete(&self, key: &str) -> impl Future<Output = Result<bool, BackendError>> + Send;

    /// Sets the expiry of an existing `key` to `ttl` from now; returns whether it existed.
    fn expire(
        &self,
        key: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<bool, BackendError>> + Send;

    /// Replaces the value under `key` with `new` only if it is exactly `expected`, keeping
    /// its expiry (Redis: a Lua script, `SET … KEEPTTL`). Returns whether it replaced. Used
    /// by key rotation to re-seal a value without overwriting a save that raced it; must be
    /// atomic with respect to every other write.
    fn compare_and_swap(
        &self,
        key: &str,
        expected: &[u8],
        new: &[u8],
    ) -> impl Future<Output = Result<bool, BackendError>> + Send;

    /// Replaces the value under `key` with `value`, expiring after `ttl` as
    /// [`Backend::set`] does, only if the stored value holds `expect` (an optimistic save:
    /// the session is still the one that was loaded). A missing key and a different value
    /// are told apart ([`Conditional::Missing`], [`Conditional::Changed`]); in both cases nothing is
    /// written, and something other than a byte string under the key is
    /// [`Conditional::Changed`], never overwritten.
    ///
    /// The comparison and the write must be one atomic step with respect to every other
    /// write (Redis: a script; the memory backend: under its lock). The default is correct
    /// on the value but not one step: it reads the value, compares, replaces it with
    /// [`Backend::compare_and_swap`] (atomic on the whole value, so nothing written in
    /// between is lost) and then sets the TTL with [`Backend::expire`]. Until then the new
    /// value has the old one's expiry; if that `expire` fails, the write stands with it
    /// (and with `ttl` `None` the old expiry is kept, where `set` would clear it). A
    /// backend overrides it to save the round trips and to write the TTL with the value.
    fn set_if(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
        expect: Expect<'_>,
    ) -> impl Future<Output = Result<Conditional, BackendError>> + Send {
        async move {
            let fetched = self
                .get(key, crate::envelope::MAX_ENVELOPE_LEN_LIMIT)
                .await?;
            let stored = match conditional::holding(fetched, expect) {
                Ok(stored) => stored,
                Err(outcome) => return Ok(outcome),
            };
            if !self.compare_and_swap(key, &stored, value).await? {
                // Removed or replaced since the read: which one decides the outcome.
                return Ok(match self.get(key, 0).await? {
                    Fetched::Missing => Conditional::Missing,
                    _ => Conditional::Changed,
                });
            }
            // compare_and_swap kept the old value's expiry. The value is written whatever
            // happens to the TTL, and the caller must know that (an error here would make
            // an update apply its change twice): `expire` gets a second try, and a failed
            // one leaves the old expiry, which never outlives the session's absolute
            // expiry either.
            if let Some(ttl) = ttl
                && self.expire(key, ttl).await.is_err()
            {
                let _ = self.expire(key, ttl).await;
            }
            Ok(Conditional::Done)
        }
    }

    /// Removes `key` only if the stored value holds `expect`, as [`Backend::set_if`]
    /// compares it: how [`Store::cycle_id`](crate::Store::cycle_id) leaves the old id on
    /// a store with optimistic saves, so a save that raced it is not dropped. Should be
    /// atomic with respect to every other write, as the memory and Redis backends make it.
    /// The default reads the value, compares, replaces it with an empty value by
    /// [`Backend::compare_and_swap`] (atomic on the whole value, and an empty value matches
    /// no [`Expect`], so an optimistic write that comes next finds it changed), then
    /// removes the key with [`Backend::delete`]. A plain `set` between the last two steps
    /// is removed with it, as it would be by a plain `delete`. Override it with one atomic
    /// step.
    fn delete_if(
        &self,
        key: &str,
        expect: Expect<'_>,
    ) -> impl Future<Output = Result<Conditional, BackendError>> + Send {
        async move {
            let fetched = self
                .get(key, crate::envelope::MAX_ENVELOPE_LEN_LIMIT)
                .await?;
            let stored = match conditional::holding(fetched, expect) {
                Ok(stored) => stored,
                Err(outcome) => return Ok(outcome),
            };
            if !self.compare_and_swap(key, &stored, &[]).await? {
                return Ok(match self.get(key, 0).await? {
                    Fetched::Missing => Conditional::Missing,
                    _ => Conditional::Changed,
                });
            }
            // The value is gone (an empty value is no session); the key goes too, and if
            // that fails it expires with the old TTL.
            let _ = self.delete(key).await;
            Ok(Conditional::Done)
        }
    }

    /// Lists keys that start with `prefix`, about `count` at a time.
    fn scan(
        &self,
        prefix: &str,
        cursor: ScanCursor,
        count: usize,
    ) -> impl Future<Output = Result<ScanPage, BackendError>> + Send;

    /// Reads several keys (for `Store::all`), in the order given. Backends that can batch
    /// round trips override this; the default reads one key after another.
    fn get_many(
        &self,
        keys: &[String],
        max_len: usize,
    ) -> impl Future<Output = Result<Vec<Fetched>, BackendError>> + Send {
        async move {
            let mut out = Vec::with_capacity(keys.len());
            for key in keys {
                out.push(self.get(key, max_len).await?);
            }
            Ok(out)
        }
    }

    /// The first `len` bytes of each key's value (all of it when shorter), in the order
    /// given: what reading envelope headers needs, whatever the values' size (for key
    /// statistics). Never [`Fetched::TooLarge`]. The default reads whole values; backends
    /// that can read a range override it.
    fn get_many_prefix(
        &self,
        keys: &[String],
        len: usize,
    ) -> impl Future<Output = Result<Vec<Fetched>, BackendError>> + Send {
        async move {
            let mut out = self.get_many(keys, usize::MAX).await?;
            for fetched in &mut out {
                if let Fetched::Value(value) = fetched {
                    value.truncate(len);
                }
            }
            Ok(out)
        }
    }

    /// Several [`Backend::compare_and_swap`]s (for bulk re-sealing), results in the order
    /// given. Backends that can batch round trips override this; the default runs one after
    /// another.
    fn compare_and_swap_many(
        &self,
        swaps: &[Swap<'_>],
    ) -> impl Future<Output = Result<Vec<bool>, BackendError>> + Send {
        async move {
            let mut out = Vec::with_capacity(swaps.len());
            for swap in swaps {
                out.push(
                    self.compare_and_swap(swap.key, swap.expected, swap.new)
                        .await?,
                );
            }
            Ok(out)
        }
    }

    /// Removes several keys (for `Store::clear`); returns how many existed. Backends that
    /// can batch round trips override this; the default removes one key after another.
    fn delete_many(
        &self,
        keys: &[String],
    ) -> impl Future<Output = Result<u64, BackendError>> + Send {
        async move {
            let mut removed = 0;
            for key in keys {
                if self.delete(key).await? {
                    removed += 1;
                }
            }
            Ok(removed)
        }
    }

    /// Adds an entry for session `id` to the owner index under `key`, added at `added_at`
    /// and expiring at `expires_at` (Unix seconds); an entry already there for that id keeps
    /// the later expiry (two writes of one session may race); then
    /// removes every entry expired at `now`, and sets the index to expire with its latest
    /// entry. A key that holds something other than an index is an error, found before
    /// anything is written, never overwritten. `id` is always [`is_index_id`].
    fn index_add(
        &self,
        key: &str,
        id: &str,
        added_at: u64,
        expires_at: u64,
        now: u64,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        let _ = (key, id, added_at, expires_at, now);
        async { Err(index::unsupported()) }
    }

    /// Removes the entries of `ids` from the index under `key`, then prunes and re-expires
    /// it as [`Backend::index_add`] does (an index left empty is gone).
    fn index_remove(
        &self,
        key: &str,
        ids: &[String],
        now: u64,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        let _ = (key, ids, now);
        async { Err(index::unsupported()) }
    }

    /// Prunes the entries expired at `now` from the index under `key`, and anything in it
    /// that is not an entry this trait wrote (a planted value of another shape), and returns
    /// the rest, earliest expiry first (an absent key is an empty index).
    fn index_read(
        &self,
        key: &str,
        now: u64,
    ) -> impl Future<Output = Result<Vec<IndexEntry>, BackendError>> + Send {
        let _ = (key, now);
        async { Err(index::unsupported()) }
    }

    /// Removes `key` and returns what it held, read as [`Backend::get`] reads (so a value
    /// longer than `max_len` is removed but not transferred). Atomic.
    fn take(
        &self,
        key: &str,
        max_len: usize,
    ) -> impl Future<Output = Result<Fetched, BackendError>> + Send {
        let _ = (key, max_len);
        async { Err(index::unsupported()) }
    }

    /// Removes `key` only if its value is exactly `expected`; returns whether it removed.
    /// Atomic with respect to every other write.
    fn compare_and_delete(
        &self,
        key: &str,
        expected: &[u8],
    ) -> impl Future<Output = Result<bool, BackendError>> + Send {
        let _ = (key, expected);
        async { Err(index::unsupported()) }
    }
}

/// One conditional replacement for [`Backend::compare_and_swap_many`]. `Debug` prints
/// lengths only.
#[derive(Clone, Copy)]
pub struct Swap<'a> {
    /// The key.
    pub key: &'a str,
    /// The value that must still be stored.
    pub expected: &'a [u8],
    /// The value to store instead.
    pub new: &'a [u8],
}

impl fmt::Debug for Swap<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Swap { key, expected, new } = self;
        f.debug_struct("Swap")
            .field("key_len", &key.len())
            .field("expected_len", &expected.len())
            .field("new_len", &new.len())
            .finish()
    }
}

/// A shared backend: several stores (say, one per prefix) over one connection or map.
impl<B: Backend + ?Sized> Backend for std::sync::Arc<B> {
    fn set(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
        mode: SetMode,
    ) -> impl Future<Output = Result<bool, BackendError>> + Send {
        (**self).set(key, value, ttl, mode)
    }

    fn get(
        &self,
        key: &str,
        max_len: usize,
    ) -> impl Future<Output = Result<Fetched, BackendError>> + Send {
        (**self).get(key, max_len)
    }

    fn delete(&self, key: &str) -> impl Future<Output = Result<bool, BackendError>> + Send {
        (**self).delete(key)
    }

    fn expire(
        &self,
        key: &str,
        ttl: Duration,
    ) -> impl Future<Output = Result<bool, BackendError>> + Send {
        (**self).expire(key, ttl)
    }

    fn scan(
        &self,
        prefix: &str,
        cursor: ScanCursor,
        count: usize,
    ) -> impl Future<Output = Result<ScanPage, BackendError>> + Send {
        (**self).scan(prefix, cursor, count)
    }

    fn set_if(
        &self,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
        expect: Expect<'_>,
    ) -> impl Future<Output = Result<Conditional, BackendError>> + Send {
        (**self).set_if(key, value, ttl, expect)
    }

    fn delete_if(
        &self,
        key: &str,
        expect: Expect<'_>,
    ) -> impl Future<Output = Result<Conditional, BackendError>> + Send {
        (**self).delete_if(key, expect)
    }

    fn get_many(
        &self,
        keys: &[String],
        max_len: usize,
    ) -> impl Future<Output = Result<Vec<Fetched>, BackendError>> + Send {
        (**self).get_many(keys, max_len)
    }

    fn get_many_prefix(
        &self,
        keys: &[String],
        len: usize,
    ) -> impl Future<Output = Result<Vec<Fetched>, BackendError>> + Send {
        (**self).get_many_prefix(keys, len)
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: &[u8],
        new: &[u8],
    ) -> impl Future<Output = Result<bool, BackendError>> + Send {
        (**self).compare_and_swap(key, expected, new)
    }

    fn compare_and_swap_many(
        &self,
        swaps: &[Swap<'_>],
    ) -> impl Future<Output = Result<Vec<bool>, BackendError>> + Send {
        (**self).compare_and_swap_many(swaps)
    }

    fn delete_many(
        &self,
        keys: &[String],
    ) -> impl Future<Output = Result<u64, BackendError>> + Send {
        (**self).delete_many(keys)
    }

    fn index_add(
        &self,
        key: &str,
        id: &str,
        added_at: u64,
        expires_at: u64,
        now: u64,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        (**self).index_add(key, id, added_at, expires_at, now)
    }

    fn index_remove(
        &self,
        key: &str,
        ids: &[String],
        now: u64,
    ) -> impl Future<Output = Result<(), BackendError>> + Send {
        (**self).index_remove(key, ids, now)
    }

    fn index_read(
        &self,
        key: &str,
        now: u64,
    ) -> impl Future<Output = Result<Vec<IndexEntry>, BackendError>> + Send {
        (**self).index_read(key, now)
    }

    fn take(
        &self,
        key: &str,
        max_len: usize,
    ) -> impl Future<Output = Result<Fetched, BackendError>> + Send {
        (**self).take(key, max_len)
    }

    fn compare_and_delete(
        &self,
        key: &str,
        expected: &[u8],
    ) -> impl Future<Output = Result<bool, BackendError>> + Send {
        (**self).compare_and_delete(key, expected)
    }
}
