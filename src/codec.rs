//! The serializer stage: session data ⇄ plaintext bytes.
//!
//! A [`Codec`] turns the application's session type into the plaintext that the sealer
//! encrypts, and back. Each codec has a one-byte [`CodecId`] that the envelope records, so a
//! store can write with one codec and still read values written by another: that is how a
//! deployment moves from JSON to bincode without logging everybody out.
//!
//! Decoding is strict: a codec refuses bytes left over after a complete value, so one
//! plaintext has exactly one meaning.

use std::fmt;

#[cfg(feature = "bincode")]
mod bincode;
mod error;
mod json;
#[cfg(feature = "postcard")]
mod postcard;
mod writer;

#[cfg(feature = "bincode")]
pub use self::bincode::{BINCODE_LIMIT, Bincode};
#[cfg(feature = "bincode")]
#[cfg_attr(not(feature = "tower-sessions"), allow(unused_imports))]
pub(crate) use self::bincode::{decode_serde, encode_serde};
pub use self::error::{CodecError, CodecErrorKind, CodecOp};
pub use self::json::Json;
#[cfg(feature = "postcard")]
pub use self::postcard::Postcard;
pub use self::writer::WipingWriter;

/// The codec byte of an envelope (offset 2).
///
/// `0x01` bincode 2, `0x02` JSON, `0x03` postcard 1 are assigned by the format;
/// `0x80`–`0xFF` are free for user-defined codecs; every other value is refused.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CodecId(u8);

impl CodecId {
    /// bincode 2, standard configuration, through serde.
    pub const BINCODE: CodecId = CodecId(0x01);
    /// JSON through serde_json.
    pub const JSON: CodecId = CodecId(0x02);
    /// postcard 1.
    pub const POSTCARD: CodecId = CodecId(0x03);

    /// A user-defined codec id; `None` unless `byte` is in `0x80..=0xFF`.
    pub const fn user_defined(byte: u8) -> Option<CodecId> {
        if byte >= 0x80 {
            Some(CodecId(byte))
        } else {
            None
        }
    }

    /// The id for a codec byte read from an envelope; `None` for an unassigned byte.
    pub const fn from_byte(byte: u8) -> Option<CodecId> {
        match byte {
            0x01..=0x03 | 0x80..=0xFF => Some(CodecId(byte)),
            _ => None,
        }
    }

    /// The byte written into the envelope.
    pub const fn to_byte(self) -> u8 {
        self.0
    }
}

impl fmt::Debug for CodecId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for CodecId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            0x01 => f.write_str("bincode"),
            0x02 => f.write_str("json"),
            0x03 => f.write_str("postcard"),
            b => write!(f, "codec 0x{b:02x}"),
        }
    }
}

/// Turns session data of type `T` into plaintext bytes and back.
///
/// Implementations must be deterministic enough to round-trip, must refuse trailing bytes on
/// decode, and must not put session data into their errors (build a [`CodecError`] from a
/// category instead).
///
/// `out` holds plaintext: append to it through a [`WipingWriter`], which wipes the old
/// allocation whenever the vector has to grow (a plain `Vec` frees it with the bytes still
/// in it). On error, leave what was written in `out`: the store wipes it.
///
/// ```
/// use std::io::Write;
/// use sealed_session::codec::{Codec, CodecId, WipingWriter};
/// use sealed_session::{CodecError, CodecErrorKind, CodecOp};
///
/// /// Session data that is a single line of text.
/// struct Line;
///
/// const LINE: CodecId = match CodecId::user_defined(0x80) {
///     Some(id) => id,
///     None => unreachable!(),
/// };
///
/// impl Codec<String> for Line {
///     fn id(&self) -> CodecId {
///         LINE
///     }
///
///     fn encode(&self, value: &String, out: &mut Vec<u8>) -> Result<(), CodecError> {
///         WipingWriter::new(out)
///             .write_all(value.as_bytes())
///             .map_err(|_| CodecError::new(LINE, CodecOp::Encode, CodecErrorKind::Other))
///     }
///
///     fn decode(&self, bytes: &[u8]) -> Result<String, CodecError> {
///         String::from_utf8(bytes.to_vec())
///             .map_err(|_| CodecError::new(LINE, CodecOp::Decode, CodecErrorKind::Syntax))
///     }
/// }
/// ```
pub trait Codec<T>: Send + Sync + 'static {
    /// The byte recorded in the envelope for values this codec wrote.
    fn id(&self) -> CodecId;

    /// Appends the encoding of `value` to `out` (through a [`WipingWriter`]).
    fn encode(&self, value: &T, out: &mut Vec<u8>) -> Result<(), CodecError>;

    /// Decodes exactly one value that spans all of `bytes`.
    fn decode(&self, bytes: &[u8]) -> Result<T, CodecError>;
}

/// A codec chosen at run time (for example from configuration).
impl<T, C: Codec<T> + ?Sized> Codec<T> for Box<C> {
    fn id(&self) -> CodecId {
        (**self).id()
    }

    fn encode(&self, value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
        (**self).encode(value, out)
    }

    fn decode(&self, bytes: &[u8]) -> Result<T, CodecError> {
        (**self).decode(bytes)
    }
}
