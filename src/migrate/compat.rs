//! The entries a migration keeps under `prefix + "legacy." + tag`, where the tag is the
//! lowercase hex SHA-256 of a domain string and the legacy session id: the store never
//! holds a legacy id, and no session id of its own hashes to such a key.
//!
//! An entry is an envelope (codec byte JSON) bound to its key, whose plaintext is one of:
//!
//! ```text
//! {"imported": <the legacy session's JSON>, "record": "<hex SHA-256 of the legacy record>"}
//! {"moved": "<the cookie value of the session it became>"}
//! ```
//!
//! `imported` is written by the bulk import: the record, read and verified ahead of time,
//! still answerable to the legacy record it came from (a request uses it only while that
//! record is unchanged). `moved` is written when a legacy cookie became a session of this
//! store, for a short grace period, so that concurrent requests carrying the same legacy
//! cookie end up in the same session.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::{LegacySession, LegacySid};
use crate::backend::{Backend, Fetched};
use crate::error::{Error, RejectKind};
use crate::id::hex_lower;
use crate::store::{Origin, Store};

/// What follows the store's prefix in the key of an entry.
pub(crate) const INFIX: &str = "legacy.";
/// Separates these hashes from every other SHA-256 the store takes of an id.
const DOMAIN: &[u8] = b"sealed-session legacy sid v1\0";

/// The name of the entry of `sid` (the key without the store's prefix).
pub(crate) fn name_of(sid: &LegacySid) -> String {
    let mut hash = Sha256::new();
    hash.update(DOMAIN);
    hash.update(sid.as_str().as_bytes());
    format!("{INFIX}{}", hex_lower(&hash.finalize()))
}

/// The hex SHA-256 of a legacy record's bytes, as `imported` entries keep it.
pub(crate) fn record_digest(record: &[u8]) -> String {
    hex_lower(&Sha256::digest(record))
}

/// An entry's content.
pub(crate) enum Entry {
    /// A legacy session imported ahead of its first request, with its record's digest.
    Imported {
        session: LegacySession,
        record: String,
    },
    /// The legacy session became the session whose cookie value this is.
    Moved(Zeroizing<String>),
}

impl Entry {
    /// The plaintext to seal.
    pub(crate) fn to_json(&self) -> Zeroizing<Vec<u8>> {
        let mut object = Map::new();
        match self {
            Entry::Imported { session, record } => {
                object.insert("imported".to_owned(), session.to_value());
                object.insert("record".to_owned(), Value::String(record.clone()));
            }
            Entry::Moved(text) => {
                object.insert("moved".to_owned(), Value::String(text.to_string()));
            }
        }
        // Serializing a map of strings and JSON values cannot fail.
        Zeroizing::new(serde_json::to_vec(&Value::Object(object)).unwrap_or_default())
    }

    /// Reads an opened plaintext; `None` for anything this module does not write.
    pub(crate) fn from_json(plaintext: &[u8]) -> Option<Entry> {
        let Value::Object(mut object) = serde_json::from_slice(plaintext).ok()? else {
            return None;
        };
        match (
            object.remove("moved"),
            object.remove("imported"),
            object.remove("record"),
        ) {
            (Some(Value::String(text)), None, None) if object.is_empty() => {
                Some(Entry::Moved(Zeroizing::new(text)))
            }
            (None, Some(session), Some(Value::String(record))) if object.is_empty() => {
                Some(Entry::Imported {
                    session: LegacySession::from_value(session).ok()?,
                    record,
                })
            }
            _ => None,
        }
    }
}

/// Reads and opens the entry under `key` of `store`: `None` when there is none; a value
/// that does not open, or is not an entry, is refused as any envelope would be.
pub(crate) async fn read<T, B>(
    store: &Store<T, B>,
    key: &str,
) -> Result<Option<(Entry, Origin)>, Error>
where
    T: Send + Sync + 'static,
    B: Backend,
{
    let value = match store
        .backend()
        .get(key, crate::envelope::MAX_ENVELOPE_LEN_LIMIT)
        .await?
    {
        Fetched::Value(value) => value,
        Fetched::Missing => return Ok(None),
        Fetched::TooLarge { .. } | Fetched::NotBytes => return Err(RejectKind::Length.into()),
    };
    let (opened, origin) = store.open_entry(key, value)?;
    let entry = Entry::from_json(opened.plaintext()).ok_or(RejectKind::Decode)?;
    Ok(Some((entry, origin)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_are_domain_separated_hashes_of_the_legacy_id() {
        let name = name_of(&LegacySid::from_stored("abc"));
        assert!(name.starts_with("legacy."));
        assert_eq!(name.len(), INFIX.len() + 64);
        // Not the plain SHA-256 of the id (what a framework id of the same text hashes to).
        assert!(!name.ends_with(&hex_lower(&Sha256::digest(b"abc"))));
        assert_ne!(name, name_of(&LegacySid::from_stored("abd")));
    }

    #[test]
    fn entries_read_back_and_nothing_else_reads_as_one() {
        let session = LegacySession::from_json(br#"{"cookie":{"expires":null},"n":1}"#).unwrap();
        let imported = Entry::Imported {
            session: session.clone(),
            record: record_digest(b"x"),
        };
        match Entry::from_json(&imported.to_json()) {
            Some(Entry::Imported { session: s, record }) => {
                assert_eq!(s, session);
                assert_eq!(record, record_digest(b"x"));
            }
            _ => panic!("imported entry did not read back"),
        }
        let moved = Entry::Moved(Zeroizing::new("new-id".to_owned()));
        assert!(
            matches!(Entry::from_json(&moved.to_json()), Some(Entry::Moved(t)) if *t == "new-id")
        );
        for bad in [
            &br#"{"moved":"a","x":1}"#[..],
            br#"{"moved":1}"#,
            br#"{"imported":{"cookie":{}}}"#,
            br#"{"imported":{"n":1},"record":"r"}"#,
            br#"{"moved":"a","imported":{"cookie":{}},"record":"r"}"#,
            b"[]",
            b"",
        ] {
            assert!(Entry::from_json(bad).is_none());
        }
    }
}
