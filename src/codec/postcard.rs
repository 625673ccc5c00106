use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Codec, CodecId, WipingWriter};
use super::{CodecError, CodecErrorKind, CodecOp};

/// postcard 1 (feature `postcard`): the most compact encoding. Like bincode it is not
/// self-describing and cannot decode `serde_json::Value`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Postcard;

impl<T: Serialize + DeserializeOwned> Codec<T> for Postcard {
    fn id(&self) -> CodecId {
        CodecId::POSTCARD
    }

    fn encode(&self, value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
        // On error the bytes written so far stay in `out`, for the store to wipe.
        ::postcard::to_io(value, WipingWriter::new(out))
            .map(drop)
            .map_err(|e| CodecError::new(CodecId::POSTCARD, CodecOp::Encode, kind(&e)))
    }

    fn decode(&self, bytes: &[u8]) -> Result<T, CodecError> {
        let err = |kind| CodecError::new(CodecId::POSTCARD, CodecOp::Decode, kind);
        let (value, rest) = ::postcard::take_from_bytes::<T>(bytes).map_err(|e| err(kind(&e)))?;
        if !rest.is_empty() {
            return Err(err(CodecErrorKind::TrailingBytes));
        }
        Ok(value)
    }
}

fn kind(e: &::postcard::Error) -> CodecErrorKind {
    use ::postcard::Error as E;
    match e {
        E::DeserializeUnexpectedEnd => CodecErrorKind::UnexpectedEnd,
        E::WontImplement | E::NotYetImplemented | E::SerializeSeqLengthUnknown => {
            CodecErrorKind::Unsupported
        }
        E::SerializeBufferFull => CodecErrorKind::Limit,
        E::DeserializeBadVarint
        | E::DeserializeBadBool
        | E::DeserializeBadChar
        | E::DeserializeBadUtf8
        | E::DeserializeBadOption
        | E::DeserializeBadEnum
        | E::DeserializeBadEncoding => CodecErrorKind::Syntax,
        _ => CodecErrorKind::Data,
    }
}
