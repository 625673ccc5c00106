//! Who a session belongs to: the application's user id, as the store carries it.

use std::fmt;

use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use crate::error::Error;

/// Longest owner, in bytes.
pub const MAX_OWNER_LEN: usize = 1024;

/// The owner of a session: the application's user id, any string or bytes up to
/// [`MAX_OWNER_LEN`].
///
/// It is sealed inside the session's envelope and names the owner's index in the backend
/// only through a keyed hash, so neither the backend nor `Debug` ever shows it. Compared in
/// constant time, wiped on drop.
///
/// ```
/// use sealed_session::Owner;
///
/// let owner = Owner::new("user-42")?;
/// assert_eq!(owner.as_bytes(), b"user-42");
/// assert_eq!(format!("{owner:?}"), "Owner([redacted])");
/// assert!(Owner::new("").is_err());
/// # Ok::<(), sealed_session::Error>(())
/// ```
#[derive(Clone)]
pub struct Owner {
    bytes: Box<[u8]>,
}

impl Owner {
    /// An owner from a user id. [`Error::InvalidOwner`] when empty or longer than
    /// [`MAX_OWNER_LEN`] bytes.
    pub fn new(id: impl AsRef<[u8]>) -> Result<Owner, Error> {
        let id = id.as_ref();
        if id.is_empty() || id.len() > MAX_OWNER_LEN {
            return Err(Error::InvalidOwner);
        }
        Ok(Owner {
            bytes: id.to_vec().into_boxed_slice(),
        })
    }

    /// The user id's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Constant-time comparison with another owner's bytes.
    pub(crate) fn is(&self, other: &[u8]) -> bool {
        self.bytes.len() == other.len() && bool::from(self.bytes.as_ref().ct_eq(other))
    }
}

impl PartialEq for Owner {
    fn eq(&self, other: &Owner) -> bool {
        self.is(&other.bytes)
    }
}

impl Eq for Owner {}

impl fmt::Debug for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Owner([redacted])")
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}
