//! Why a stored value was refused: one kind per opening step of the envelope format, so
//! programs can count refusals while a remote party learns only "no session".

use std::error::Error as StdError;
use std::fmt;

use crate::codec::CodecError;

/// Which rule of the envelope format refused a stored value.
///
/// The variants follow the opening steps of `docs/FORMAT.md` in order; [`RejectKind::step`]
/// gives the step number. Use them for logs and metrics; show a remote party only "no session".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectKind {
    /// Step 1: shorter than the 95-byte minimum or longer than the configured maximum.
    Length,
    /// Step 2: the version byte is not 1.
    Version,
    /// Step 2: the suite byte names no known AEAD suite.
    Suite,
    /// Step 2: the codec byte is unassigned.
    Codec,
    /// Step 3: no key with that id in the keyring (this includes the invalid id 0).
    UnknownKey,
    /// Step 3: the key exists but is retired.
    RetiredKey,
    /// Step 4: the suite byte differs from the suite configured for that key.
    SuiteMismatch,
    /// Step 5: the key commitment does not match.
    Commitment,
    /// Step 6: the AEAD refused the ciphertext, tag, header or storage key.
    Authentication,
    /// Step 7: the authenticated absolute expiry has passed.
    Expired,
    /// Step 8: the codec byte is valid but this store has no reader for it (add one with
    /// `StoreBuilder::also_read`).
    NoReader,
    /// Step 8: the plaintext did not decode with its codec.
    Decode,
}

impl RejectKind {
    /// The opening step (1 to 8) that refuses with this kind.
    pub fn step(self) -> u8 {
        match self {
            RejectKind::Length => 1,
            RejectKind::Version | RejectKind::Suite | RejectKind::Codec => 2,
            RejectKind::UnknownKey | RejectKind::RetiredKey => 3,
            RejectKind::SuiteMismatch => 4,
            RejectKind::Commitment => 5,
            RejectKind::Authentication => 6,
            RejectKind::Expired => 7,
            RejectKind::NoReader | RejectKind::Decode => 8,
        }
    }

    /// A stable lowercase name, for log fields and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectKind::Length => "length",
            RejectKind::Version => "version",
            RejectKind::Suite => "suite",
            RejectKind::Codec => "codec",
            RejectKind::UnknownKey => "unknown_key",
            RejectKind::RetiredKey => "retired_key",
            RejectKind::SuiteMismatch => "suite_mismatch",
            RejectKind::Commitment => "commitment",
            RejectKind::Authentication => "authentication",
            RejectKind::Expired => "expired",
            RejectKind::NoReader => "no_reader",
            RejectKind::Decode => "decode",
        }
    }
}

impl fmt::Display for RejectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored value that was refused while opening. Carries the kind and, for decoding
/// failures, the codec error's category (never its message).
#[derive(Debug)]
pub struct Rejection {
    kind: RejectKind,
    codec: Option<CodecError>,
}

impl Rejection {
    /// A rejection of the given kind.
    pub fn new(kind: RejectKind) -> Self {
        Rejection { kind, codec: None }
    }

    pub(crate) fn decode(err: CodecError) -> Self {
        Rejection {
            kind: RejectKind::Decode,
            codec: Some(err),
        }
    }

    /// Which rule refused the value.
    pub fn kind(&self) -> RejectKind {
        self.kind
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (opening step {})", self.kind, self.kind.step())
    }
}

impl StdError for Rejection {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.codec.as_ref().map(|c| c as &(dyn StdError + 'static))
    }
}

impl From<RejectKind> for Rejection {
    fn from(kind: RejectKind) -> Self {
        Rejection::new(kind)
    }
}
