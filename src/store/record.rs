//! The owner record: what a session bound to an owner carries after its data, inside the
//! sealed plaintext (so it is encrypted and authenticated with the data).
//!
//! ```text
//! plaintext = codec output || record || u32 record_len || MAGIC
//! record    = u16 owner_len || owner || u64 created_at || u64 last_seen
//!             || u16 label_len || label (UTF-8)
//! ```
//!
//! Integers are big-endian; `record_len` counts the bytes of `record`. A plaintext that does
//! not end with [`MAGIC`] is codec output alone: the layout of every session without an
//! owner, byte for byte what the store wrote before owners existed. The writer keeps that
//! rule unambiguous: a session without an owner whose codec output happens to end with
//! `MAGIC` gets an empty record (`owner_len` 0) appended, so its data is never mistaken for
//! a record. `docs/FORMAT.md` states the layout for other implementations.

use crate::codec::WipingWriter;
use crate::error::{RejectKind, Rejection};
use crate::id::Owner;

/// Marks the end of a plaintext that carries a record. `0xFF` never occurs in UTF-8, so JSON
/// output cannot end with it.
pub(crate) const MAGIC: [u8; 8] = [0xFF, b'S', b'S', b'O', b'W', b'N', 0x00, 0x01];

/// Longest device label, in bytes; longer ones are cut at a character boundary.
pub const MAX_LABEL_LEN: usize = 256;

/// `record_len` and `MAGIC`.
const TRAILER: usize = 4 + MAGIC.len();

/// What an owned session carries besides its data.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct Record {
    pub(crate) owner: Option<Owner>,
    /// Unix seconds when the session was first stored with this owner.
    pub(crate) created_at: u64,
    /// Unix seconds of the last write.
    pub(crate) last_seen: u64,
    pub(crate) label: Option<String>,
}

impl Record {
    /// Appends the record, its length and `MAGIC` to `out` (which holds the codec output).
    /// A record without an owner is written only when `out` would otherwise end with
    /// `MAGIC`; returns whether anything was appended.
    pub(crate) fn append(&self, out: &mut Vec<u8>, data_start: usize) -> bool {
        let data_ends_with_magic = out.get(data_start..).is_some_and(|d| d.ends_with(&MAGIC));
        let empty = Record::default();
        let record = match &self.owner {
            Some(_) => self,
            None if data_ends_with_magic => &empty,
            None => return false,
        };
        let owner: &[u8] = record.owner.as_ref().map_or(&[], Owner::as_bytes);
        let label = record.label.as_deref().map_or(&[][..], str::as_bytes);
        // Both were bounded when set (`Owner::new`, `Session::set_label`).
        let owner_len = u16::try_from(owner.len()).unwrap_or(0);
        let label_len = u16::try_from(label.len()).unwrap_or(0);
        let owner = owner.get(..usize::from(owner_len)).unwrap_or_default();
        let label = label.get(..usize::from(label_len)).unwrap_or_default();
        // Room first, through the wiping writer: a reallocation here would otherwise free a
        // copy of the plaintext without wiping it. (Reserving fails only when memory is
        // exhausted, which the appends below would report the same way.)
        let total = 2 + owner.len() + 16 + 2 + label.len() + TRAILER;
        let _ = WipingWriter::new(out).reserve(total);
        let start = out.len();
        out.extend_from_slice(&owner_len.to_be_bytes());
        out.extend_from_slice(owner);
        out.extend_from_slice(&record.created_at.to_be_bytes());
        out.extend_from_slice(&record.last_seen.to_be_bytes());
        out.extend_from_slice(&label_len.to_be_bytes());
        out.extend_from_slice(label);
        let len = u32::try_from(out.len() - start).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&MAGIC);
        true
    }

    /// Bytes [`Record::append`] adds at most for this record (to size a buffer): without
    /// an owner, the empty record it may need.
    pub(crate) fn len_hint(&self) -> usize {
        let owner = self.owner.as_ref().map_or(0, |o| o.as_bytes().len());
        let label = match &self.owner {
            Some(_) => self.label.as_ref().map_or(0, String::len),
            None => 0,
        };
        2 + owner + 16 + 2 + label + TRAILER
    }
}

/// Splits a plaintext into the codec output and its record, if it has one. A plaintext
/// that ends with `MAGIC` but whose record does not parse exactly is refused.
pub(crate) fn split(plaintext: &[u8]) -> Result<(&[u8], Record), Rejection> {
    if !plaintext.ends_with(&MAGIC) {
        return Ok((plaintext, Record::default()));
    }
    let refuse = || Rejection::new(RejectKind::Decode);
    let body_end = plaintext.len() - MAGIC.len();
    let len_start = body_end.checked_sub(4).ok_or_else(refuse)?;
    let len_bytes: [u8; 4] = plaintext
        .get(len_start..body_end)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(refuse)?;
    let len = usize::try_from(u32::from_be_bytes(len_bytes)).map_err(|_| refuse())?;
    let record_start = len_start.checked_sub(len).ok_or_else(refuse)?;
    let (data, rest) = plaintext.split_at(record_start);
    let mut reader = Reader(rest.get(..len).ok_or_else(refuse)?);
    let owner_len = usize::from(reader.u16().ok_or_else(refuse)?);
    let owner = reader.take(owner_len).ok_or_else(refuse)?;
    let created_at = reader.u64().ok_or_else(refuse)?;
    let last_seen = reader.u64().ok_or_else(refuse)?;
    let label_len = usize::from(reader.u16().ok_or_else(refuse)?);
    let label = reader.take(label_len).ok_or_else(refuse)?;
    if !reader.0.is_empty() || owner.len() > crate::id::MAX_OWNER_LEN || label.len() > MAX_LABEL_LEN
    {
        return Err(refuse());
    }
    // The empty record is all zeros: anything else without an owner is not one this
    // format writes.
    if owner.is_empty() && (created_at != 0 || last_seen != 0 || !label.is_empty()) {
        return Err(refuse());
    }
    let owner = match owner {
        [] => None,
        bytes => Some(Owner::new(bytes).map_err(|_| refuse())?),
    };
    let label = match label {
        [] => None,
        bytes => Some(std::str::from_utf8(bytes).map_err(|_| refuse())?.to_owned()),
    };
    Ok((
        data,
        Record {
            owner,
            created_at,
            last_seen,
            label,
        },
    ))
}

/// Cuts `label` to at most [`MAX_LABEL_LEN`] bytes at a character boundary.
pub(crate) fn bounded_label(label: &str) -> String {
    let mut end = label.len().min(MAX_LABEL_LEN);
    while !label.is_char_boundary(end) {
        end -= 1;
    }
    label.get(..end).unwrap_or_default().to_owned()
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Some(head)
    }

    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_be_bytes(self.take(8)?.try_into().ok()?))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn owned() -> Record {
        Record {
            owner: Some(Owner::new("user-42").unwrap()),
            created_at: 1_700_000_000,
            last_seen: 1_700_000_100,
            label: Some("Firefox on Linux".into()),
        }
    }

    #[test]
    fn an_owned_record_follows_the_data_and_splits_back_exactly() {
        let mut plaintext = b"codec output".to_vec();
        assert!(owned().append(&mut plaintext, 0));
        assert!(plaintext.ends_with(&MAGIC));
        assert_eq!(plaintext.len(), 12 + owned().len_hint());
        let mut escaped = MAGIC.to_vec();
        Record::default().append(&mut escaped, 0);
        assert_eq!(escaped.len(), MAGIC.len() + Record::default().len_hint());
        let (data, record) = split(&plaintext).unwrap();
        assert_eq!(data, b"codec output");
        assert!(record == owned());
    }

    #[test]
    fn a_session_without_owner_is_its_codec_output_alone() {
        let mut plaintext = b"codec output".to_vec();
        assert!(!Record::default().append(&mut plaintext, 0));
        assert_eq!(plaintext, b"codec output");
        let (data, record) = split(&plaintext).unwrap();
        assert_eq!(data, b"codec output");
        assert!(record.owner.is_none());
    }

    #[test]
    fn data_that_ends_like_a_record_is_escaped_with_an_empty_record() {
        let mut data = b"attacker-chosen".to_vec();
        data.extend_from_slice(&MAGIC);
        let mut plaintext = data.clone();
        assert!(Record::default().append(&mut plaintext, 0));
        let (back, record) = split(&plaintext).unwrap();
        assert_eq!(back, data.as_slice());
        assert!(record == Record::default());
    }

    #[test]
    fn malformed_records_are_refused_never_read_as_data() {
        let mut good = b"data".to_vec();
        owned().append(&mut good, 0);
        let n = good.len();
        // Every truncation that keeps the magic, and every length field value that does not
        // match the record, is refused.
        for cut in 1..(n - MAGIC.len()) {
            let mut bad = good[..n - MAGIC.len() - cut].to_vec();
            bad.extend_from_slice(&MAGIC);
            if let Ok((_, record)) = split(&bad) {
                assert!(record.owner.is_none() || record != owned(), "cut {cut}");
            }
        }
        for len in [0u32, 1, 5, 1000, u32::MAX] {
            let mut bad = good.clone();
            bad[n - 12..n - 8].copy_from_slice(&len.to_be_bytes());
            assert!(split(&bad).is_err(), "length {len}");
        }
        assert!(split(&MAGIC).is_err());
        // An empty owner with a time or a label is not the empty record.
        let mut empty = MAGIC.to_vec();
        Record::default().append(&mut empty, 0);
        let mut bad = empty.clone();
        bad[MAGIC.len() + 3] = 1;
        assert!(split(&bad).is_err());
        assert!(split(&empty).is_ok());
        // A label that is not UTF-8.
        let mut bad = good.clone();
        let label_at = n - 12 - "Firefox on Linux".len();
        bad[label_at] = 0xFF;
        assert!(split(&bad).is_err());
    }

    #[test]
    fn labels_are_cut_at_a_character_boundary() {
        let long = "é".repeat(200);
        let cut = bounded_label(&long);
        assert!(cut.len() <= MAX_LABEL_LEN);
        assert_eq!(cut.len(), 256);
        assert_eq!(bounded_label("ok"), "ok");
    }
}
