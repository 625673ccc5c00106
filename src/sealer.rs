//! The AEAD stage: plaintext ⇄ envelope.
//!
//! [`Sealer`] is the pluggable interface (two methods); [`KeyringSealer`] is the built-in
//! implementation of envelope v1 over a [`Keyring`]. A sealer backed by a KMS or an HSM
//! implements the same trait.

use std::fmt;

use rand::Rng;
use subtle::ConstantTimeEq;

use crate::codec::CodecId;
use crate::crypto::KeyringHandle;
use crate::crypto::keyring::Lookup;
use crate::crypto::{self, Keyring, WipeOnDrop};
use crate::envelope::{
    AssociatedData, CIPHERTEXT_OFFSET, COMMITMENT_RANGE, Header, OVERHEAD, SALT_RANGE, TAG_LEN,
};
use crate::error::{Error, RejectKind, Rejection};

/// What the store tells a sealer when sealing one value. `Debug` omits the storage key,
/// which holds a session id in plain-id mode.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub struct SealContext<'a> {
    /// The exact storage key (prefix included) the envelope will be stored under.
    pub storage_key: &'a [u8],
    /// The codec that produced the plaintext.
    pub codec: CodecId,
    /// Absolute expiry in Unix seconds, 0 for none.
    pub expires_at: u64,
}

impl<'a> SealContext<'a> {
    /// A seal context.
    pub fn new(storage_key: &'a [u8], codec: CodecId, expires_at: u64) -> Self {
        SealContext {
            storage_key,
            codec,
            expires_at,
        }
    }
}

/// What the store tells a sealer when opening one value. `Debug` omits the storage key.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub struct OpenContext<'a> {
    /// The exact storage key the value was read from.
    pub storage_key: &'a [u8],
    /// The current time in Unix seconds.
    pub now: u64,
    /// The largest envelope accepted, in bytes.
    pub max_len: usize,
}

impl<'a> OpenContext<'a> {
    /// An open context.
    pub fn new(storage_key: &'a [u8], now: u64, max_len: usize) -> Self {
        OpenContext {
            storage_key,
            now,
            max_len,
        }
    }
}

impl fmt::Debug for SealContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let SealContext {
            storage_key,
            codec,
            expires_at,
        } = self;
        f.debug_struct("SealContext")
            .field("storage_key_len", &storage_key.len())
            .field("codec", codec)
            .field("expires_at", expires_at)
            .finish()
    }
}

impl fmt::Debug for OpenContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let OpenContext {
            storage_key,
            now,
            max_len,
        } = self;
        f.debug_struct("OpenContext")
            .field("storage_key_len", &storage_key.len())
            .field("now", now)
            .field("max_len", max_len)
            .finish()
    }
}

/// An opened envelope: authenticated plaintext and the header facts the store needs.
/// The plaintext is zeroized when this is dropped.
#[non_exhaustive]
pub struct Opened {
    /// The codec that wrote the plaintext.
    pub codec: CodecId,
    /// The id of the key that opened it.
    pub key_id: u32,
    /// Absolute expiry in Unix seconds, 0 for none.
    pub expires_at: u64,
    buf: WipeOnDrop,
    start: usize,
    end: usize,
}

impl Opened {
    /// An opened value whose buffer is exactly the plaintext (for custom sealers).
    pub fn new(codec: CodecId, key_id: u32, expires_at: u64, plaintext: Vec<u8>) -> Self {
        let end = plaintext.len();
        Opened {
            codec,
            key_id,
            expires_at,
            buf: WipeOnDrop(plaintext),
            start: 0,
            end,
        }
    }

    /// The authenticated plaintext.
    pub fn plaintext(&self) -> &[u8] {
        self.buf.0.get(self.start..self.end).unwrap_or_default()
    }
}

impl fmt::Debug for Opened {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Opened {
            codec,
            key_id,
            expires_at,
            buf: _,
            start: _,
            end: _,
        } = self;
        f.debug_struct("Opened")
            .field("codec", codec)
            .field("key_id", key_id)
            .field("expires_at", expires_at)
            .field("plaintext_len", &self.plaintext().len())
            .finish()
    }
}

/// Seals plaintext into a stored value and opens it again.
///
/// Implementations must bind the value to `storage_key`, authenticate `expires_at` and
/// refuse a value they cannot authenticate with [`Error::Rejected`], never returning
/// unauthenticated bytes.
///
/// Two methods are required. The others tell the store about sizes (so it can refuse an
/// oversized session before sealing it, and seal without copying) and about rotation; their
/// defaults are correct for any sealer, only slower.
///
/// # Implementing a sealer
///
/// Most sealers of an application's own wrap the built-in one, to add a side effect or a
/// policy. This one counts the values it opened; it keeps the built-in sealer's sizes, so the
/// store still checks lengths before sealing, and its identities, so a loaded session
/// remembers the 32-byte salt of its envelope rather than a copy of the whole envelope:
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
///
/// use sealed_session::{
///     Error, KeyMaterial, Keyring, KeyringSealer, MemoryBackend, OpenContext, Opened,
///     SealContext, Sealer, Session, SessionId, Store, Suite,
/// };
///
/// #[derive(Debug)]
/// struct Counting {
///     inner: KeyringSealer,
///     opened: AtomicU64,
/// }
///
/// impl Sealer for Counting {
///     fn seal(&self, ctx: &SealContext<'_>, plaintext: &[u8]) -> Result<Vec<u8>, Error> {
///         self.inner.seal(ctx, plaintext)
///     }
///
///     fn open(&self, ctx: &OpenContext<'_>, value: Vec<u8>) -> Result<Opened, Error> {
///         let opened = self.inner.open(ctx, value)?;
///         self.opened.fetch_add(1, Ordering::Relaxed);
///         Ok(opened)
///     }
///
///     fn overhead(&self) -> Option<usize> {
///         self.inner.overhead()
///     }
///
///     fn identity(&self, value: &[u8]) -> Option<std::ops::Range<usize>> {
///         self.inner.identity(value)
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Error> {
/// let keyring = Keyring::single(1, Suite::Aes256Gcm, KeyMaterial::generate()?)?;
/// let sealer = Counting { inner: KeyringSealer::new(keyring), opened: AtomicU64::new(0) };
/// let store: Store<u32, MemoryBackend> =
///     Store::builder(MemoryBackend::new()).sealer(sealer).build()?;
/// let id = SessionId::generate()?;
/// store.create(&id, &mut Session::new(7)).await?;
/// assert_eq!(store.load(&id).await?.map(Session::into_data), Some(7));
/// # Ok(())
/// # }
/// ```
pub trait Sealer: fmt::Debug + Send + Sync + 'static {
    /// Seals `plaintext` into a new value.
    fn seal(&self, ctx: &SealContext<'_>, plaintext: &[u8]) -> Result<Vec<u8>, Error>;

    /// Opens a stored value, consuming its buffer (decryption may happen in place).
    fn open(&self, ctx: &OpenContext<'_>, value: Vec<u8>) -> Result<Opened, Error>;

    /// Bytes a sealed value adds over its plaintext, when fixed; lets the store refuse an
    /// oversized session before sealing it.
    fn overhead(&self) -> Option<usize> {
        None
    }

    /// Bytes the store reserves in front of the plaintext, so [`Sealer::seal_in_place`] can
    /// build the sealed value around it without copying it. Default 0.
    fn reserved_prefix(&self) -> usize {
        0
    }

    /// Seals in place: `buf` holds [`Sealer::reserved_prefix`] bytes (any contents) followed
    /// by the plaintext; on success it holds the sealed value. The default copies the
    /// plaintext out, calls [`Sealer::seal`] and wipes the buffer it replaces.
    fn seal_in_place(&self, ctx: &SealContext<'_>, buf: &mut Vec<u8>) -> Result<(), Error> {
        let start = self.reserved_prefix().min(buf.len());
        let sealed = self.seal(ctx, buf.get(start..).unwrap_or_default())?;
        crypto::wipe(buf);
        *buf = sealed;
        Ok(())
    }

    /// True when `value`, should it open, ought to be sealed again under the current
    /// primary key (it names an older key). Looks at public header bytes only, before any
    /// cryptography; the store then re-seals loaded sessions lazily and bulk re-sealing
    /// picks such values out. Default `false`: the sealer has no notion of rotation.
    fn needs_reseal(&self, value: &[u8]) -> bool {
        let _ = value;
        false
    }

    /// The bytes of a sealed `value` that no other value this sealer seals shares (random
    /// per value): an optimistic save compares only them to tell whether the stored value
    /// is still the one a session was loaded from, and any stored value with those bytes
    /// there counts as that one. Default `None`: the value is compared from its start,
    /// which is correct (a stored value that merely extends it would count as unchanged)
    /// but keeps a copy of every value loaded or written. Must be a non-empty range inside
    /// `value`.
    fn identity(&self, value: &[u8]) -> Option<std::ops::Range<usize>> {
        let _ = value;
        None
    }
}

/// Where the 32-byte salt of each envelope comes from.
///
/// A repeated salt repeats the envelope's AEAD key and its (constant) nonce, and the storage
/// key is only in the associated data: two envelopes of *different* sessions under one salt
/// leak the XOR of their plaintexts and, with AES-GCM, let their authentication key be
/// recovered and envelopes forged. The salt source matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SaltSource {
    /// One `getrandom` system call per envelope (about 0.4 µs here): every salt comes from
    /// the operating system, so a forked child, or a virtual machine restored twice from
    /// one snapshot, never repeats one. The default.
    #[default]
    Os,
    /// rand's thread-local ChaCha12 generator, seeded from the operating system and
    /// reseeded every 64 KiB of output (about 20 ns per salt). **Opt-in, and only for a
    /// process that is never forked after it has sealed and never restored from a memory
    /// snapshot**: the generator's state is copied by `fork()` and by a snapshot
    /// (Firecracker, Lambda SnapStart, a paused and cloned VM), and every copy then draws
    /// the same salts, which repeats envelope keys across different sessions.
    ThreadLocal,
}

/// The built-in sealer: envelope v1 over a [`Keyring`].
///
/// Seals with the primary key; opens with exactly the key the envelope names. The keyring
/// sits behind a [`KeyringHandle`], so it can be replaced while the sealer is in use: each
/// seal or open works with the keyring that was current when it started.
#[derive(Clone)]
pub struct KeyringSealer {
    keyring: KeyringHandle,
    salt: SaltSource,
}

impl KeyringSealer {
    /// A sealer over `keyring`, salting with [`SaltSource::Os`].
    pub fn new(keyring: Keyring) -> Self {
        KeyringSealer::with_handle(KeyringHandle::new(keyring))
    }

    /// A sealer over a shared handle, salting with [`SaltSource::Os`]: replacing the
    /// handle's keyring changes what this sealer seals and opens with from then on.
    pub fn with_handle(keyring: KeyringHandle) -> Self {
        KeyringSealer {
            keyring,
            salt: SaltSource::default(),
        }
    }

    /// The handle through which the keyring can be replaced at run time.
    pub fn handle(&self) -> &KeyringHandle {
        &self.keyring
    }

    /// Chooses where salts come from.
    #[must_use]
    pub fn with_salt_source(mut self, salt: SaltSource) -> Self {
        self.salt = salt;
        self
    }

    /// The keyring in use now.
    pub fn keyring(&self) -> std::sync::Arc<Keyring> {
        self.keyring.current()
    }

    /// Seals with an explicit salt. Only for test vectors: a repeated salt repeats the
    /// envelope key and nonce.
    pub(crate) fn seal_with_salt(
        &self,
        ctx: &SealContext<'_>,
        plaintext: &[u8],
        salt: &[u8; 32],
    ) -> Result<Vec<u8>, Error> {
        // A slice holds at most isize::MAX bytes, so adding 95 cannot overflow usize.
        let mut buf = Vec::with_capacity(OVERHEAD + plaintext.len());
        buf.resize(CIPHERTEXT_OFFSET, 0);
        buf.extend_from_slice(plaintext);
        self.seal_buffer(ctx, &mut buf, salt)?;
        Ok(buf)
    }

    /// Builds the envelope around the plaintext at `buf[79..]`: header, salt and commitment
    /// into the first 79 bytes, the ciphertext over the plaintext, the tag appended. On
    /// failure the buffer is wiped.
    fn seal_buffer(
        &self,
        ctx: &SealContext<'_>,
        buf: &mut Vec<u8>,
        salt: &[u8; 32],
    ) -> Result<(), Error> {
        let keyring = self.keyring.snapshot();
        let key = keyring
            .primary_key()
            .ok_or(Error::Config(crate::ConfigError::NoPrimary))?;
        let header = Header {
            suite: key.suite,
            codec: ctx.codec,
            key_id: key.id,
            expires_at: ctx.expires_at,
        };
        let Some(keys) = crypto::derive_envelope_keys(&key.material, salt, key.suite, key.id)
        else {
            crypto::wipe(buf);
            return Err(Error::Sealer("key derivation refused its inputs".into()));
        };
        if buf.len() < CIPHERTEXT_OFFSET {
            crypto::wipe(buf);
            return Err(Error::Sealer(
                "no room reserved for the envelope header".into(),
            ));
        }
        // In bounds: buf.len() >= CIPHERTEXT_OFFSET was checked just above.
        let (prefix79, body) = buf.split_at_mut(CIPHERTEXT_OFFSET);
        let fixed = header.fixed_bytes();
        for (dst, src) in prefix79
            .iter_mut()
            .zip(fixed.iter().chain(salt).chain(&keys.commitment))
        {
            *dst = *src;
        }
        let aad = AssociatedData::new(prefix79, ctx.storage_key);
        let Some(tag) = crypto::aead_seal(key.suite, &keys.enc_key, aad.as_slice(), body) else {
            crypto::wipe(buf);
            return Err(Error::Sealer("AEAD refused the message length".into()));
        };
        buf.extend_from_slice(&tag);
        Ok(())
    }

    fn fresh_salt(&self) -> Result<[u8; 32], Error> {
        let mut salt = [0u8; 32];
        match self.salt {
            SaltSource::ThreadLocal => rand::rng().fill_bytes(&mut salt),
            SaltSource::Os => getrandom::fill(&mut salt).map_err(|_| Error::Rng)?,
        }
        Ok(salt)
    }
}

impl Sealer for KeyringSealer {
    fn seal(&self, ctx: &SealContext<'_>, plaintext: &[u8]) -> Result<Vec<u8>, Error> {
        self.seal_with_salt(ctx, plaintext, &self.fresh_salt()?)
    }

    fn reserved_prefix(&self) -> usize {
        CIPHERTEXT_OFFSET
    }

    fn seal_in_place(&self, ctx: &SealContext<'_>, buf: &mut Vec<u8>) -> Result<(), Error> {
        let salt = self.fresh_salt()?;
        self.seal_buffer(ctx, buf, &salt)
    }

    fn open(&self, ctx: &OpenContext<'_>, value: Vec<u8>) -> Result<Opened, Error> {
        let mut buf = WipeOnDrop(value);
        let len = buf.0.len();
        // Step 1: length, before any other work.
        if len < OVERHEAD || len > ctx.max_len {
            return Err(Rejection::new(RejectKind::Length).into());
        }
        // Step 2: version, suite and codec bytes.
        let header = Header::parse(&buf.0)?;
        // Step 3: exactly the key the envelope names.
        let keyring = self.keyring.snapshot();
        let key = match keyring.lookup(header.key_id) {
            Lookup::Usable(key) => key,
            Lookup::Retired => return Err(Rejection::new(RejectKind::RetiredKey).into()),
            Lookup::Unknown => return Err(Rejection::new(RejectKind::UnknownKey).into()),
        };
        // Step 4: no downgrade to another suite.
        if key.suite != header.suite {
            return Err(Rejection::new(RejectKind::SuiteMismatch).into());
        }
        // Step 5: key commitment, in constant time.
        let mut salt = [0u8; 32];
        // SALT_RANGE is exactly 32 bytes, the length of `salt`.
        salt.copy_from_slice(buf.0.get(SALT_RANGE).ok_or(RejectKind::Length)?);
        let keys = crypto::derive_envelope_keys(&key.material, &salt, key.suite, key.id)
            .ok_or(RejectKind::Commitment)?;
        let stored_commitment = buf.0.get(COMMITMENT_RANGE).ok_or(RejectKind::Length)?;
        if !bool::from(keys.commitment.ct_eq(stored_commitment)) {
            return Err(Rejection::new(RejectKind::Commitment).into());
        }
        // Step 6: authenticate and decrypt in place.
        // Step 1 ensured len >= OVERHEAD = CIPHERTEXT_OFFSET + TAG_LEN: the subtraction, the
        // 16-byte tag copy and the split below are all in bounds.
        let tag_start = len - TAG_LEN;
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(buf.0.get(tag_start..).ok_or(RejectKind::Length)?);
        let (prefix, rest) = buf.0.split_at_mut(CIPHERTEXT_OFFSET);
        let aad = AssociatedData::new(prefix, ctx.storage_key);
        let ciphertext = rest
            .get_mut(..tag_start - CIPHERTEXT_OFFSET)
            .ok_or(RejectKind::Length)?;
        if !crypto::aead_open(key.suite, &keys.enc_key, aad.as_slice(), ciphertext, &tag) {
            crypto::wipe(ciphertext);
            return Err(Rejection::new(RejectKind::Authentication).into());
        }
        // Step 7: the authenticated absolute expiry. `buf` is zeroized when dropped.
        if header.expires_at != 0 && header.expires_at <= ctx.now {
            return Err(Rejection::new(RejectKind::Expired).into());
        }
        Ok(Opened {
            codec: header.codec,
            key_id: key.id,
            expires_at: header.expires_at,
            buf,
            start: CIPHERTEXT_OFFSET,
            end: tag_start,
        })
    }

    fn overhead(&self) -> Option<usize> {
        Some(OVERHEAD)
    }

    /// Only envelopes under a decrypt-only key with a *lower* id than the primary: key ids
    /// grow with age, so a process whose keyring is behind (not reloaded yet, or a stale
    /// copy of the configuration given to a bulk re-seal) never moves envelopes back from a
    /// newer key to an older one, and a forged header naming an unknown or retired id costs
    /// nothing.
    fn needs_reseal(&self, value: &[u8]) -> bool {
        let Ok(header) = Header::parse(value) else {
            return false;
        };
        let keyring = self.keyring.snapshot();
        header.key_id < keyring.primary_id()
            && keyring.state(header.key_id) == Some(crate::KeyState::DecryptOnly)
    }

    /// The salt: 32 bytes drawn fresh for every envelope.
    fn identity(&self, value: &[u8]) -> Option<std::ops::Range<usize>> {
        (value.len() >= OVERHEAD).then_some(SALT_RANGE)
    }
}

impl fmt::Debug for KeyringSealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let KeyringSealer { keyring, salt } = self;
        f.debug_struct("KeyringSealer")
            .field("keyring", &*keyring.snapshot())
            .field("salt", salt)
            .finish()
    }
}

#[cfg(test)]
mod tests;
