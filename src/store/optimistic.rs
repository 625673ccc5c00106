//! Concurrent requests without lost updates: a loaded session remembers which stored
//! envelope it came from ([`Origin`]), an optimistic save writes only while that envelope is
//! still the stored one, and [`Store::update`] loads, changes and saves again until it wins.
//!
//! The identity of an envelope is what the sealer names ([`Sealer::identity`]): for the
//! built-in sealer its 32-byte salt, drawn fresh for every envelope, so two writes of one
//! session, and a re-seal under a new key, never share it.
//!
//! [`Sealer::identity`]: crate::Sealer::identity

use std::fmt;
use std::time::Duration;

use crate::backend::{Backend, Expect};
use crate::error::Error;
use crate::id::{SessionId, StorageId};

use super::{Session, Store, WriteMode};

/// Which stored value a session was loaded from (or last written as): the sealer's identity
/// bytes of that value and where they sit in it. Up to 32 bytes (an envelope's salt) are
/// kept inline, so remembering them costs no allocation. `Debug` prints no bytes.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    at: usize,
    bytes: Bytes,
}

/// Identity bytes: inline up to [`INLINE`] bytes, on the heap beyond (a sealer that names
/// no identity, whose whole value is its identity).
#[derive(Clone, PartialEq, Eq)]
enum Bytes {
    Inline(u8, [u8; INLINE]),
    Heap(Box<[u8]>),
}

const INLINE: usize = 32;

impl Bytes {
    fn new(bytes: &[u8]) -> Bytes {
        if bytes.len() <= INLINE
            && let Ok(len) = u8::try_from(bytes.len())
        {
            let mut array = [0u8; INLINE];
            if let Some(head) = array.get_mut(..bytes.len()) {
                head.copy_from_slice(bytes);
            }
            return Bytes::Inline(len, array);
        }
        Bytes::Heap(bytes.into())
    }

    fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Inline(len, array) => array.get(..usize::from(*len)).unwrap_or_default(),
            Bytes::Heap(bytes) => bytes,
        }
    }
}

impl Origin {
    /// The identity of `value`: the range `identity` names, or the whole value when the
    /// sealer names none (or names a range that is empty or outside the value).
    pub(crate) fn of(value: &[u8], identity: Option<std::ops::Range<usize>>) -> Origin {
        match identity.filter(|r| !r.is_empty()).and_then(|r| {
            let at = r.start;
            value.get(r).map(|bytes| (at, bytes))
        }) {
            Some((at, bytes)) => Origin {
                at,
                bytes: Bytes::new(bytes),
            },
            None => Origin {
                at: 0,
                bytes: Bytes::new(value),
            },
        }
    }

    pub(crate) fn expect(&self) -> Expect<'_> {
        Expect {
            at: self.at,
            bytes: self.bytes.as_slice(),
        }
    }

    /// The offset and bytes, for an adapter that carries them through a framework.
    #[cfg_attr(
        not(any(feature = "tower-sessions", feature = "actix-session")),
        allow(dead_code)
    )]
    pub(crate) fn parts(&self) -> (usize, &[u8]) {
        (self.at, self.bytes.as_slice())
    }

    #[cfg_attr(
        not(any(feature = "tower-sessions", feature = "actix-session")),
        allow(dead_code)
    )]
    pub(crate) fn from_parts(at: usize, bytes: &[u8]) -> Option<Origin> {
        (!bytes.is_empty()).then(|| Origin {
            at,
            bytes: Bytes::new(bytes),
        })
    }
}

impl fmt::Debug for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Origin")
            .field("at", &self.at)
            .field("len", &self.bytes.as_slice().len())
            .finish()
    }
}

/// How [`Store::update`] retries after a conflict: how many attempts in all, and the
/// back-off before each retry, which doubles from `first_delay` up to `max_delay` and is
/// jittered (a uniformly random time between half of it and all of it), so requests that
/// collided do not collide again in step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retries {
    attempts: u32,
    first_delay: Duration,
    max_delay: Duration,
}

impl Default for Retries {
    /// 10 attempts, back-off from 1 ms up to 50 ms (at most about 0.2 s of waiting in all).
    fn default() -> Self {
        Retries {
            attempts: 10,
            first_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(50),
        }
    }
}

impl Retries {
    /// `attempts` attempts in all (at least 1), with the default back-off.
    pub fn new(attempts: u32) -> Self {
        Retries {
            attempts: attempts.max(1),
            ..Retries::default()
        }
    }

    /// The back-off before the first retry, and its upper bound as it doubles.
    #[must_use]
    pub fn backoff(mut self, first_delay: Duration, max_delay: Duration) -> Self {
        self.first_delay = first_delay;
        self.max_delay = max_delay.max(first_delay);
        self
    }

    /// Attempts in all.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The back-off before retry number `retry` (0 for the first), before jitter.
    pub(crate) fn delay(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(30)).unwrap_or(u32::MAX);
        self.first_delay.saturating_mul(factor).min(self.max_delay)
    }
}

impl<T, B> Store<T, B>
where
    T: Send + Sync + 'static,
    B: Backend,
{
    /// Saves a loaded session only if the stored envelope is still the one it was loaded
    /// from (or last saved as): the optimistic save, whatever the store's default
    /// ([`StoreBuilder::optimistic_saves`](super::StoreBuilder::optimistic_saves)).
    ///
    /// One atomic step on the backend (a script comparing the stored envelope's salt on
    /// Redis and on a Cluster; under the lock in memory), with the TTL rules of
    /// [`Store::save`]. If another request saved the session since it was loaded, nothing
    /// is written and the result is [`Error::Conflict`]: load again and re-apply the change
    /// (or use [`Store::update`], which does). If it was destroyed or expired,
    /// [`Error::SessionGone`], as for [`Store::save`]: log-out still wins. A new session
    /// ([`Session::new`]) is created as [`Store::save`] creates it.
    pub async fn save_if_unchanged(
        &self,
        id: &SessionId,
        session: &mut Session<T>,
    ) -> Result<(), Error> {
        let mode = self.save_mode(session, true);
        self.write_checked(&self.storage_key(id), session, mode)
            .await
    }

    /// Changes a session atomically with respect to other requests: loads it, applies
    /// `change` to its data, and saves it optimistically ([`Store::save_if_unchanged`]);
    /// when another request saved it meanwhile, waits a jittered back-off, loads it again
    /// and re-applies `change` to the fresh data, up to the store's
    /// [`Retries`] ([`StoreBuilder::update_retries`](super::StoreBuilder::update_retries)).
    ///
    /// Returns the data as saved; `Ok(None)` if there is no session (or it was destroyed
    /// between a load and its save: log-out wins); [`Error::Conflict`] if every attempt
    /// lost a race. `change` may run several times, each time on freshly loaded data, so it
    /// must compute from what it is given (add one to a counter, push an item), not write a
    /// value computed earlier. A stored value that is refused is [`Error::Rejected`], as for
    /// [`Store::load`].
    ///
    /// The back-off waits on tokio's timer when the crate is built with tokio (the `redis`
    /// feature, on by default) and the call runs on a tokio runtime (axum, actix-web; the
    /// runtime needs its time driver, as the Redis backend does: tokio panics without it);
    /// elsewhere it only yields to the executor between attempts.
    ///
    /// A key rotation that re-seals the session (a lazy re-seal by another request's load,
    /// or `rewrap`) writes a new envelope: to an optimistic save that is a change like any
    /// other, and `update` simply tries again.
    ///
    /// ```
    /// # use sealed_session::{KeyMaterial, Keyring, MemoryBackend, Session, SessionId, Store, Suite};
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), sealed_session::Error> {
    /// # let keyring = Keyring::single(1, Suite::Aes256Gcm, KeyMaterial::generate()?)?;
    /// let store: Store<u64, MemoryBackend> =
    ///     Store::builder(MemoryBackend::new()).keyring(keyring).build()?;
    /// let id = SessionId::generate()?;
    /// store.create(&id, &mut Session::new(0)).await?;
    /// // A counter that concurrent requests increment without losing any increment.
    /// assert_eq!(store.update(&id, |n| *n += 1).await?, Some(1));
    /// # Ok(())
    /// # }
    /// ```
    pub async fn update<F>(&self, id: &SessionId, change: F) -> Result<Option<T>, Error>
    where
        F: FnMut(&mut T) + Send,
    {
        self.update_key(&self.storage_key(id), change).await
    }

    /// [`Store::update`] by storage id: for a session whose id the application does not
    /// hold as a [`SessionId`] (a framework adapter's session, whose storage id
    /// `TowerSessionStore::storage_id` and `ActixSessionStore::storage_id` give).
    pub async fn update_stored<F>(&self, id: &StorageId, change: F) -> Result<Option<T>, Error>
    where
        F: FnMut(&mut T) + Send,
    {
        self.update_key(&self.key_of(id), change).await
    }

    async fn update_key<F>(&self, key: &str, mut change: F) -> Result<Option<T>, Error>
    where
        F: FnMut(&mut T) + Send,
    {
        let retries = self.inner.settings.update_retries;
        let mut retry: u32 = 0;
        loop {
            let Some(mut session) = self.load_key(key).await? else {
                return Ok(None);
            };
            change(&mut session.data);
            let mode = self.save_mode(&session, true);
            match self.write_checked(key, &mut session, mode).await {
                Ok(()) => return Ok(Some(session.data)),
                Err(Error::SessionGone) => return Ok(None),
                Err(Error::Conflict) if retry.saturating_add(1) < retries.attempts => {
                    backoff(retries.delay(retry)).await;
                    retry += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// How [`Store::update`] retries, for adapters that retry the same way.
    #[cfg_attr(
        not(any(feature = "tower-sessions", feature = "actix-session")),
        allow(dead_code)
    )]
    pub(crate) fn update_retries(&self) -> Retries {
        self.inner.settings.update_retries
    }

    /// How a save writes `session`: created if new; else in place, compared with the
    /// envelope it came from when `optimistic`.
    pub(super) fn save_mode(&self, session: &Session<T>, optimistic: bool) -> WriteMode {
        match (&session.expires_at, &session.origin) {
            (None, _) => WriteMode::CreateOnly,
            (Some(_), Some(origin)) if optimistic => WriteMode::IfUnchanged(origin.clone()),
            (Some(_), _) => WriteMode::UpdateOnly,
        }
    }
}

/// Waits about `delay` (between half of it and all of it, uniformly).
pub(crate) async fn backoff(delay: Duration) {
    use rand::RngExt;
    let nanos = u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX);
    let jittered = Duration::from_nanos(rand::rng().random_range(nanos / 2..=nanos));
    sleep(jittered).await;
}

#[cfg(any(feature = "redis", feature = "signal", feature = "conformance"))]
async fn sleep(delay: Duration) {
    if tokio::runtime::Handle::try_current().is_ok() {
        tokio::time::sleep(delay).await;
    } else {
        yield_now().await;
    }
}

#[cfg(not(any(feature = "redis", feature = "signal", feature = "conformance")))]
async fn sleep(delay: Duration) {
    let _ = delay;
    yield_now().await;
}

/// Returns to the executor once, so other tasks run before the next attempt.
async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_bound() {
        let r = Retries::new(5).backoff(Duration::from_millis(2), Duration::from_millis(10));
        let delays: Vec<_> = (0..5).map(|i| r.delay(i).as_millis()).collect();
        assert_eq!(delays, [2, 4, 8, 10, 10]);
        assert_eq!(Retries::new(0).attempts(), 1);
        assert_eq!(
            Retries::default().delay(u32::MAX),
            Duration::from_millis(50)
        );
    }

    #[test]
    fn an_origin_is_the_named_range_or_the_whole_value() {
        let value = b"0123456789";
        assert_eq!(Origin::of(value, Some(2..5)).parts(), (2, &b"234"[..]));
        for odd in [None, Some(8..12), Some(3..3)] {
            assert_eq!(Origin::of(value, odd).parts(), (0, &value[..]));
        }
        let long: Vec<u8> = (0..100).collect();
        for range in [15..47, 0..31, 0..33, 0..100] {
            let origin = Origin::of(&long, Some(range.clone()));
            assert_eq!(origin.parts(), (range.start, &long[range]));
        }
    }
}
