use ::bincode::config::{self, Configuration, Limit, LittleEndian, Varint};
use ::bincode::error::{DecodeError, EncodeError};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Codec, CodecId, WipingWriter};
use super::{CodecError, CodecErrorKind, CodecOp};

/// bincode's size limit: 16 MiB. bincode counts the *decoded* size against it (a `u64` counts
/// 8 bytes however short its varint), so the limit is 16 times the largest envelope a store
/// accepts (1 MiB): whatever fits in an envelope decodes. It also caps what a length prefix
/// of an (authenticated) plaintext can make the decoder reserve.
pub const BINCODE_LIMIT: usize = 16 * 1024 * 1024;

type Config = Configuration<LittleEndian, Varint, Limit<BINCODE_LIMIT>>;

const CONFIG: Config = config::standard().with_limit::<BINCODE_LIMIT>();

/// bincode 2 with its standard configuration (little endian, variable-length integers)
/// through serde, limited to [`BINCODE_LIMIT`] bytes. The default codec: compact and fast.
///
/// bincode is not self-describing: it cannot decode `serde_json::Value` or other types that
/// deserialize with `deserialize_any`. Use [`Json`](super::Json) for those.
#[derive(Clone, Copy, Debug, Default)]
pub struct Bincode;

impl<T: Serialize + DeserializeOwned> Codec<T> for Bincode {
    fn id(&self) -> CodecId {
        CodecId::BINCODE
    }

    fn encode(&self, value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
        encode_serde(value, out)
    }

    fn decode(&self, bytes: &[u8]) -> Result<T, CodecError> {
        decode_serde(bytes)
    }
}

/// [`Bincode`]'s encoding of any serde value (for codecs that wrap a type in a
/// bincode-friendly form before encoding it).
pub(crate) fn encode_serde<S: Serialize + ?Sized>(
    value: &S,
    out: &mut Vec<u8>,
) -> Result<(), CodecError> {
    ::bincode::serde::encode_into_std_write(value, &mut WipingWriter::new(out), CONFIG)
        .map(|_| ())
        .map_err(|e| CodecError::new(CodecId::BINCODE, CodecOp::Encode, encode_kind(&e)))
}

/// [`Bincode`]'s strict decoding of any serde value: trailing bytes are refused.
pub(crate) fn decode_serde<D: DeserializeOwned>(bytes: &[u8]) -> Result<D, CodecError> {
    let err = |kind| CodecError::new(CodecId::BINCODE, CodecOp::Decode, kind);
    let (value, read) = ::bincode::serde::decode_from_slice::<D, _>(bytes, CONFIG)
        .map_err(|e| err(decode_kind(&e)))?;
    if read != bytes.len() {
        return Err(err(CodecErrorKind::TrailingBytes));
    }
    Ok(value)
}

fn encode_kind(e: &EncodeError) -> CodecErrorKind {
    match e {
        EncodeError::UnexpectedEnd => CodecErrorKind::Limit,
        // A type's own Serialize refusing a value (serde's `Error::custom`) lands here.
        EncodeError::Serde(_) | EncodeError::OtherString(_) => CodecErrorKind::Unsupported,
        _ => CodecErrorKind::Other,
    }
}

fn decode_kind(e: &DecodeError) -> CodecErrorKind {
    match e {
        DecodeError::UnexpectedEnd { .. } => CodecErrorKind::UnexpectedEnd,
        DecodeError::LimitExceeded => CodecErrorKind::Limit,
        DecodeError::Utf8 { .. }
        | DecodeError::InvalidCharEncoding(_)
        | DecodeError::InvalidBooleanValue(_)
        | DecodeError::InvalidIntegerType { .. }
        | DecodeError::OutsideUsizeRange(_)
        | DecodeError::NonZeroTypeIsZero { .. } => CodecErrorKind::Syntax,
        DecodeError::Serde(_) => CodecErrorKind::Unsupported,
        _ => CodecErrorKind::Data,
    }
}
