//! What an optimistic save needs from a backend: a write that happens only while the stored
//! value is still the one the session was loaded from, told apart from a key that is gone.

use std::fmt;

use super::Fetched;

/// The bytes a stored value must hold for [`Backend::set_if`](super::Backend::set_if) to
/// replace it: `bytes` at offset `at` (for an envelope v1, its 32-byte salt at offset 15,
/// which no other envelope shares). `Debug` prints the offset and length only.
#[derive(Clone, Copy)]
pub struct Expect<'a> {
    /// Where the bytes start in the stored value.
    pub at: usize,
    /// The bytes, never empty when the store asks.
    pub bytes: &'a [u8],
}

impl Expect<'_> {
    /// Whether `stored` holds the expected bytes at the expected offset. Empty bytes match
    /// nothing.
    pub fn matches(&self, stored: &[u8]) -> bool {
        !self.bytes.is_empty()
            && self
                .at
                .checked_add(self.bytes.len())
                .and_then(|end| stored.get(self.at..end))
                .is_some_and(|found| found == self.bytes)
    }
}

impl fmt::Debug for Expect<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Expect")
            .field("at", &self.at)
            .field("len", &self.bytes.len())
            .finish()
    }
}

/// The outcome of [`Backend::set_if`](super::Backend::set_if) and
/// [`Backend::delete_if`](super::Backend::delete_if).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conditional {
    /// The stored value held the expected bytes and was replaced (or removed).
    Done,
    /// No live value under the key; nothing was done.
    Missing,
    /// Something else is stored under the key (another value, or something that is not a
    /// byte string at all); it was left alone.
    Changed,
}

/// The stored value, when what a read fetched holds `expect`; otherwise what a conditional
/// write or removal finds instead.
pub(super) fn holding(fetched: Fetched, expect: Expect<'_>) -> Result<Vec<u8>, Conditional> {
    match fetched {
        Fetched::Missing => Err(Conditional::Missing),
        Fetched::Value(stored) if expect.matches(&stored) => Ok(stored),
        Fetched::Value(_) | Fetched::TooLarge { .. } | Fetched::NotBytes => {
            Err(Conditional::Changed)
        }
    }
}
