use std::fmt;

use argon2::{Algorithm, Argon2, Block, Params, Version};
use base64::Engine;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, general_purpose};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::error::{ConfigError, Error};

/// Standard base64, padding optional (what `openssl rand -base64 32` prints).
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// 32 bytes of root key material.
///
/// Lives on the heap so moves never leave copies behind, is zeroized on drop, has no
/// `Clone`, no `Serialize` and a `Debug` that prints nothing of it. The only way to read it
/// is [`KeyMaterial::expose_secret`].
pub struct KeyMaterial {
    bytes: Box<[u8; 32]>,
}

impl KeyMaterial {
    /// Takes ownership of 32 bytes. The caller's array is zeroized.
    pub fn from_bytes(bytes: &mut [u8; 32]) -> KeyMaterial {
        let mut boxed = Box::new([0u8; 32]);
        // Both sides are [u8; 32].
        boxed.copy_from_slice(bytes);
        bytes.zeroize();
        KeyMaterial { bytes: boxed }
    }

    /// Copies exactly 32 bytes from a slice.
    pub fn from_slice(bytes: &[u8]) -> Result<KeyMaterial, ConfigError> {
        if bytes.len() != 32 {
            return Err(ConfigError::KeyLength {
                id: None,
                len: bytes.len(),
            });
        }
        let mut boxed = Box::new([0u8; 32]);
        // The length was checked to be 32 just above.
        boxed.copy_from_slice(bytes);
        Ok(KeyMaterial { bytes: boxed })
    }

    /// Decodes standard base64 (padding optional, surrounding whitespace ignored) of exactly
    /// 32 bytes.
    pub fn from_base64(text: &str) -> Result<KeyMaterial, ConfigError> {
        let text = text.trim();
        // Decoded into a fixed buffer that is wiped on drop, so no partial copy of the key
        // is left in freed memory whatever the input.
        let mut buf = Zeroizing::new([0u8; 48]);
        if text.len() > 64 {
            return Err(ConfigError::KeyLength {
                id: None,
                len: text.len() / 4 * 3,
            });
        }
        let len = BASE64
            .decode_slice(text, buf.as_mut())
            .map_err(|_| ConfigError::KeyEncoding { id: None })?;
        KeyMaterial::from_slice(buf.get(..len).unwrap_or_default())
    }

    /// 32 fresh bytes from the operating system's CSPRNG.
    pub fn generate() -> Result<KeyMaterial, Error> {
        let mut boxed = Box::new([0u8; 32]);
        getrandom::fill(boxed.as_mut()).map_err(|_| Error::Rng)?;
        Ok(KeyMaterial { bytes: boxed })
    }

    /// Derives key material from a passphrase with Argon2id (version 0x13), the given
    /// parameters and salt. Deliberately slow: call it at start-up, never per request.
    ///
    /// Parameters below the OWASP minimum ([`Argon2Params::OWASP_MINIMUM`]) or above
    /// [`Argon2Params::MAXIMUM`], and salts shorter than 16 bytes, are refused.
    pub fn derive_argon2id(
        passphrase: &[u8],
        params: &Argon2Params,
        salt: &[u8],
    ) -> Result<KeyMaterial, ConfigError> {
        params.check()?;
        if salt.len() < 16 {
            return Err(ConfigError::Argon2Salt { len: salt.len() });
        }
        let argon_params = Params::new(params.m_cost_kib, params.t_cost, params.p_cost, Some(32))
            .map_err(|_| ConfigError::Argon2)?;
        // The working memory is ours, so it is zeroized before it is freed: argon2's own
        // allocation is freed as it is, and with p = 1 its last block alone determines the
        // derived key.
        let mut memory: Zeroizing<Vec<Block>> = Zeroizing::new(Vec::new());
        memory
            .try_reserve_exact(argon_params.block_count())
            .map_err(|_| ConfigError::Argon2)?;
        memory.resize(argon_params.block_count(), Block::default());
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, argon_params);
        let mut boxed = Box::new([0u8; 32]);
        argon
            .hash_password_into_with_memory(passphrase, salt, boxed.as_mut(), memory.as_mut_slice())
            .map_err(|_| ConfigError::Argon2)?;
        Ok(KeyMaterial { bytes: boxed })
    }

    /// The standard base64 of the material, for writing a newly generated key to a secret
    /// store. The string is zeroized on drop.
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(general_purpose::STANDARD.encode(self.bytes.as_ref()))
    }

    /// The raw bytes. Every read of key material goes through here.
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// Constant-time comparison, for refusing one key configured under two ids.
    pub(crate) fn ct_eq(&self, other: &KeyMaterial) -> bool {
        bool::from(self.bytes.as_slice().ct_eq(other.bytes.as_slice()))
    }
}

impl Drop for KeyMaterial {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl fmt::Debug for KeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyMaterial([redacted])")
    }
}

/// Argon2id cost parameters for deriving a key from a passphrase. Always explicit: the same
/// passphrase, parameters and salt give the same key on every machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Argon2Params {
    /// Memory cost in KiB.
    pub m_cost_kib: u32,
    /// Number of passes.
    pub t_cost: u32,
    /// Degree of parallelism.
    pub p_cost: u32,
}

impl Argon2Params {
    /// The OWASP minimum for Argon2id: 19 MiB of memory, 2 passes, parallelism 1.
    /// Anything weaker in any of the three is refused.
    pub const OWASP_MINIMUM: Argon2Params = Argon2Params {
        m_cost_kib: 19 * 1024,
        t_cost: 2,
        p_cost: 1,
    };

    /// The most that is accepted: 1 GiB of memory, 64 passes, parallelism 64. A typo such as
    /// an extra zero would otherwise make a reload allocate tens of gigabytes or run for
    /// hours inside the serving process.
    pub const MAXIMUM: Argon2Params = Argon2Params {
        m_cost_kib: 1024 * 1024,
        t_cost: 64,
        p_cost: 64,
    };

    pub(crate) fn check(&self) -> Result<(), ConfigError> {
        let (min, max) = (Argon2Params::OWASP_MINIMUM, Argon2Params::MAXIMUM);
        if self.m_cost_kib < min.m_cost_kib || self.t_cost < min.t_cost || self.p_cost < min.p_cost
        {
            return Err(ConfigError::WeakArgon2 {
                m_cost_kib: self.m_cost_kib,
                t_cost: self.t_cost,
                p_cost: self.p_cost,
            });
        }
        if self.m_cost_kib > max.m_cost_kib || self.t_cost > max.t_cost || self.p_cost > max.p_cost
        {
            return Err(ConfigError::CostlyArgon2 {
                m_cost_kib: self.m_cost_kib,
                t_cost: self.t_cost,
                p_cost: self.p_cost,
            });
        }
        Ok(())
    }
}
