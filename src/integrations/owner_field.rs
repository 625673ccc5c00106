//! How an adapter reads a session's owner from the field the application keeps it in.

use std::time::UNIX_EPOCH;

use serde_json::Value;

use crate::id::Owner;
use crate::store::Session;

/// Which session fields hold the owner and the device label.
#[derive(Clone, Debug, Default)]
pub(crate) struct OwnerFields {
    pub(crate) owner: Option<String>,
    pub(crate) label: Option<String>,
}

/// The owner a field's value names: a string is its text, a number its decimal text;
/// anything else (null, a boolean, an array, an object) names none, as does an empty or
/// overlong string.
pub(crate) fn owner_of(value: &Value) -> Option<Owner> {
    match value {
        Value::String(text) => Owner::new(text).ok(),
        Value::Number(n) => Owner::new(n.to_string()).ok(),
        _ => None,
    }
}

/// A label field's text, if it holds a string.
pub(crate) fn label_of(value: &Value) -> Option<&str> {
    value.as_str()
}

/// When a loaded session was bound to its owner, in Unix seconds (`0`: unknown).
pub(crate) fn owner_since<T>(session: &Session<T>) -> u64 {
    session
        .created_at()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs())
}

/// A loaded session's owner and when it was bound: kept from a load to the save of the same
/// request, and used only if the save names the same owner (a new owner starts anew).
#[derive(Clone)]
pub(crate) struct Bound {
    pub(crate) owner: Owner,
    pub(crate) since: u64,
}

impl Bound {
    /// What a loaded session carries, if it has an owner.
    pub(crate) fn of<T>(session: &Session<T>) -> Option<Bound> {
        session.owner().map(|owner| Bound {
            owner: owner.clone(),
            since: owner_since(session),
        })
    }

    /// The bind time to write for `owner`: this one if it is the same owner, else 0 (now).
    pub(crate) fn since_for(bound: Option<&Bound>, owner: Option<&Owner>) -> u64 {
        match (bound, owner) {
            (Some(b), Some(o)) if b.owner == *o => b.since,
            _ => 0,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn strings_and_numbers_name_owners_and_nothing_else_does() {
        assert_eq!(
            owner_of(&json!("alice")),
            Some(Owner::new("alice").unwrap())
        );
        assert_eq!(owner_of(&json!(42)), Some(Owner::new("42").unwrap()));
        for none in [
            json!(null),
            json!(true),
            json!([1]),
            json!({"id": 1}),
            json!(""),
        ] {
            assert_eq!(owner_of(&none), None, "{none}");
        }
        assert_eq!(owner_of(&json!("x".repeat(1025))), None);
    }
}
