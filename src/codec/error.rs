//! Codec failures keep their category and never the input: serde messages quote the bytes
//! they choke on, and those bytes are session data.

use std::error::Error as StdError;
use std::fmt;

use super::CodecId;

/// Whether a codec was encoding or decoding when it failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodecOp {
    /// Turning session data into bytes.
    Encode,
    /// Turning bytes back into session data.
    Decode,
}

/// The category of a codec failure. Deliberately without the serializer's message, which
/// may quote session data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodecErrorKind {
    /// The input ended early.
    UnexpectedEnd,
    /// Bytes were left over after a complete value.
    TrailingBytes,
    /// The input is not well-formed for this format.
    Syntax,
    /// Well-formed, but does not match the session type (wrong type, missing field, bad variant).
    Data,
    /// The codec's size limit was exceeded.
    Limit,
    /// The value cannot be represented in this format (e.g. a map key JSON cannot express).
    Unsupported,
    /// Any other failure.
    Other,
}

/// A codec failure: which codec, which direction, and what kind. No message text is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodecError {
    codec: CodecId,
    op: CodecOp,
    kind: CodecErrorKind,
}

impl CodecError {
    /// A codec error; custom codecs build theirs with this.
    pub fn new(codec: CodecId, op: CodecOp, kind: CodecErrorKind) -> Self {
        CodecError { codec, op, kind }
    }

    /// The codec that failed.
    pub fn codec(&self) -> CodecId {
        self.codec
    }

    /// Encoding or decoding.
    pub fn op(&self) -> CodecOp {
        self.op
    }

    /// What went wrong.
    pub fn kind(&self) -> CodecErrorKind {
        self.kind
    }
}

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            CodecOp::Encode => "encoding",
            CodecOp::Decode => "decoding",
        };
        let kind = match self.kind {
            CodecErrorKind::UnexpectedEnd => "input ended early",
            CodecErrorKind::TrailingBytes => "trailing bytes after the value",
            CodecErrorKind::Syntax => "malformed input",
            CodecErrorKind::Data => "data does not match the session type",
            CodecErrorKind::Limit => "size limit exceeded",
            CodecErrorKind::Unsupported => "value not representable in this format",
            CodecErrorKind::Other => "codec failure",
        };
        write!(f, "{} {op} failed: {kind}", self.codec)
    }
}

impl StdError for CodecError {}
