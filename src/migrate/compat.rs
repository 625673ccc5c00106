//! The entries a migration keeps under `prefix + "legacy." + tag`, where the tag is the
//! lowercase hex SHA-256 of a domain string and the legacy session id: the store never
//! holds a legacy id, and no session id of its own hashes to such a key.
//!
//! An entry is an envelope (codec byte JSON) bound to its key, whose plaintext is one of:
//!
//! ```text
//! {"imported": <the legacy session's JSON>, "record": "<hex SHA-256 of the legacy record>"}
//! {"moved": "<the cookie value of the session it became>", "browser_session": <bool>,
//!  "record": "<hex SHA-256 of the legacy record it was made from>"}
//! ```
//!
//! `imported` is written by the bulk import: the record, read and verified ahead of time,
//! still answerable to the legacy record it came from (a request uses it only while that
//! record is unchanged). `moved` is written when a legacy cookie became a session of this
//! store, for a short grace period, so that concurrent requests carrying the same legacy
//! cookie end up in the same session.

use std::io::Write as _;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::{LegacySession, LegacySid};
use crate::backend::{Backend, Fetched};
use crate::codec::WipingWriter;
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
    /// The legacy session became the session whose cookie value this is; `browser_session`
    /// when its legacy cookie had no expiry (so the new cookie should have none either);
    /// `record` the digest of the legacy record it was made from (what an operator can
    /// match a pointer against).
    Moved {
        id: Zeroizing<String>,
        browser_session: bool,
        record: String,
    },
}

/// An entry as read: its content (`None` when it does not open or is not an entry, which
/// a migration treats as absent but may only replace as it is) and the stored value's
/// identity.
pub(crate) struct Found {
    pub(crate) entry: Option<Entry>,
    pub(crate) origin: Origin,
}

impl Entry {
    /// The plaintext to seal, written through a wiping writer (it holds a session, or the
    /// new session's cookie value).
    pub(crate) fn to_json(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::new());
        let mut writer = WipingWriter::new(&mut out);
        // Writing strings and JSON values into memory cannot fail.
        let _ = match self {
            Entry::Imported { session, record } => {
                let mut object = Map::new();
                object.insert("imported".to_owned(), session.to_value());
                object.insert("record".to_owned(), Value::String(record.clone()));
                serde_json::to_writer(&mut writer, &Value::Object(object))
            }
            Entry::Moved {
                id,
                browser_session,
                record,
            } => writer
                .write_all(b"{\"moved\":")
                .map_err(serde_json::Error::io)
                .and_then(|()| serde_json::to_writer(&mut writer, id.as_str()))
                .and_then(|()| {
                    let flag: &[u8] = if *browser_session {
                        b",\"browser_session\":true,\"record\":"
                    } else {
                        b",\"browser_session\":false,\"record\":"
                    };
                    writer.write_all(flag).map_err(serde_json::Error::io)
                })
                .and_then(|()| serde_json::to_writer(&mut writer, record.as_str()))
                .and_then(|()| writer.write_all(b"}").map_err(serde_json::Error::io)),
        };
        out
    }

    /// Reads an opened plaintext; `None` for anything this module does not write.
    pub(crate) fn from_json(plaintext: &[u8]) -> Option<Entry> {
        let Value::Object(mut object) = serde_json::from_slice(plaintext).ok()? else {
            return None;
        };
        let entry = match (
            object.remove("moved"),
            object.remove("browser_session"),
            object.remove("imported"),
            object.remove("record"),
        ) {
            (
                Some(Value::String(id)),
                Some(Value::Bool(browser_session)),
                None,
                Some(Value::String(record)),
            ) => Entry::Moved {
                id: Zeroizing::new(id),
                browser_session,
                record,
            },
            (None, None, Some(session), Some(Value::String(record))) => Entry::Imported {
                session: LegacySession::from_value(session).ok()?,
                record,
            },
            _ => return None,
        };
        object.is_empty().then_some(entry)
    }
}

/// Reads the entry under `key` of `store`: `None` when there is none. A value that does not
/// open (sealed under a key since retired, say) or is not an entry is found without
/// content; something that is not a byte string, or too long to be one, is refused.
pub(crate) async fn read<T, B>(store: &Store<T, B>, key: &str) -> Result<Option<Found>, Error>
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
    let origin = store.identity_of(&value);
    let entry = store
        .open_entry(key, value)
        .ok()
        .and_then(|opened| Entry::from_json(opened.plaintext()));
    Ok(Some(Found { entry, origin }))
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
        for browser_session in [true, false] {
            let moved = Entry::Moved {
                id: Zeroizing::new("new-id".to_owned()),
                browser_session,
                record: record_digest(b"r"),
            };
            assert!(matches!(
                Entry::from_json(&moved.to_json()),
                Some(Entry::Moved { id, browser_session: b, record })
                    if *id == "new-id" && b == browser_session && record == record_digest(b"r")
            ));
        }
        for bad in [
            &br#"{"moved":"a","browser_session":true,"record":"r","x":1}"#[..],
            br#"{"moved":"a","browser_session":true}"#,
            br#"{"moved":"a"}"#,
            br#"{"moved":1,"browser_session":true}"#,
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
