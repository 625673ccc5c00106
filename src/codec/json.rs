use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::error::Category;

use super::{Codec, CodecId, WipingWriter};
use super::{CodecError, CodecErrorKind, CodecOp};

/// JSON through serde_json. Self-describing, so it decodes `serde_json::Value` and maps of
/// arbitrary values (what tower-sessions stores). Decoding refuses anything after the value,
/// whitespace included.
#[derive(Clone, Copy, Debug, Default)]
pub struct Json;

impl<T: Serialize + DeserializeOwned> Codec<T> for Json {
    fn id(&self) -> CodecId {
        CodecId::JSON
    }

    fn encode(&self, value: &T, out: &mut Vec<u8>) -> Result<(), CodecError> {
        serde_json::to_writer(WipingWriter::new(out), value).map_err(|e| {
            let kind = match e.classify() {
                Category::Data => CodecErrorKind::Unsupported,
                _ => CodecErrorKind::Other,
            };
            CodecError::new(CodecId::JSON, CodecOp::Encode, kind)
        })
    }

    fn decode(&self, bytes: &[u8]) -> Result<T, CodecError> {
        let err = |kind| CodecError::new(CodecId::JSON, CodecOp::Decode, kind);
        let mut stream = serde_json::Deserializer::from_slice(bytes).into_iter::<T>();
        let value = match stream.next() {
            Some(Ok(value)) => value,
            Some(Err(e)) => {
                return Err(err(match e.classify() {
                    Category::Eof => CodecErrorKind::UnexpectedEnd,
                    Category::Syntax | Category::Io => CodecErrorKind::Syntax,
                    Category::Data => CodecErrorKind::Data,
                }));
            }
            None => return Err(err(CodecErrorKind::UnexpectedEnd)),
        };
        if stream.byte_offset() != bytes.len() {
            return Err(err(CodecErrorKind::TrailingBytes));
        }
        Ok(value)
    }
}
