//! `sessions list` and `sessions revoke`: a user's sessions through the owner index, for
//! incident response ("log this account out everywhere, now"). Reads the index keys from
//! the keyring configuration; prints storage ids and times, never session data nor the
//! user id.

use std::io::{BufRead, Read, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use sealed_session::{
    FilePermissions, Json, KeyringConfig, Owner, Owners, RedisBackend, StorageId, Store,
    StoreBuilder,
};
use serde_json::json;

use crate::cli::{Revoke, SessionsList, SessionsTarget};
use crate::connection::connect;
use crate::exit::{Exit, Failure, io_failure};
use crate::inspect::unix_date;

/// The store the commands act through: the data is never decoded, so its type is `()`.
async fn open(
    target: &SessionsTarget,
    files: FilePermissions,
) -> Result<Store<(), RedisBackend>, Failure> {
    let config = KeyringConfig::read_with(&target.config, files)?;
    if config.index_keys().is_empty() {
        return Err(Failure::new(
            Exit::Config,
            "the keyring configuration has no [[index_keys]]; sessions have no owner index \
             without them",
        ));
    }
    let keyring = config.resolve()?;
    let backend = connect(&target.redis).await?;
    Ok(StoreBuilder::with_codec(backend, Json)
        .keyring(keyring)
        .prefix(target.prefix.clone())
        .max_envelope_len(target.max_envelope_len)
        .owners(Owners::new())
        .build()?)
}

/// `--user`: the value, or a line of stdin for `-` (keeping the user id out of the process
/// list and the shell history).
fn owner(target: &SessionsTarget) -> Result<Owner, Failure> {
    let invalid = || Failure::new(Exit::Usage, "--user must be 1 to 1024 bytes");
    if target.user != "-" {
        let _ = writeln!(
            std::io::stderr(),
            "sealed-session: note: a user id given to --user is visible to other users of this \
             machine (ps) and kept in shell history; give --user - and the id on stdin instead"
        );
        return Owner::new(&target.user).map_err(|_| invalid());
    }
    let mut line = zeroize::Zeroizing::new(String::with_capacity(1100));
    std::io::stdin()
        .lock()
        .take(1026)
        .read_line(&mut line)
        .map_err(io_failure("cannot read stdin"))?;
    let user = line.strip_suffix('\n').unwrap_or(&line);
    let user = user.strip_suffix('\r').unwrap_or(user);
    Owner::new(user).map_err(|_| invalid())
}

fn when(at: Option<SystemTime>) -> String {
    at.and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or_else(|| "-".to_owned(), |d| unix_date(d.as_secs()))
}

pub(crate) async fn list(args: &SessionsList, files: FilePermissions) -> Result<(), Failure> {
    let owner = owner(&args.target)?;
    let store = open(&args.target, files).await?;
    let sessions = store.sessions_of(&owner).await?;
    if args.json {
        let rows: Vec<serde_json::Value> = sessions
            .iter()
            .map(|s| {
                json!({
                    "storage_id": s.storage_id.as_str(),
                    "created_at": when(s.created_at),
                    "last_seen": when(s.last_seen),
                    "expires_at": when(s.expires_at),
                    "label": s.label,
                })
            })
            .collect();
        say!("{}", json!({ "count": sessions.len(), "sessions": rows }));
        return Ok(());
    }
    say!("{} sessions", sessions.len());
    for s in &sessions {
        say!(
            "{}  created {}  last seen {}  expires {}{}",
            s.storage_id.as_str(),
            when(s.created_at),
            when(s.last_seen),
            when(s.expires_at),
            s.label
                .as_deref()
                .map(|l| format!("  {}", l.escape_debug()))
                .unwrap_or_default()
        );
    }
    Ok(())
}

/// A storage id from the command line: 64 lowercase hex digits, as `list` prints them.
fn storage_id(text: &str) -> Result<StorageId, Failure> {
    StorageId::from_hex(text).ok_or_else(|| {
        Failure::new(
            Exit::Usage,
            "a storage id is 64 lowercase hex digits, as `sessions list` prints it",
        )
    })
}

pub(crate) async fn revoke(args: &Revoke, files: FilePermissions) -> Result<(), Failure> {
    let owner = owner(&args.target)?;
    let keep = args.except.as_deref().map(storage_id).transpose()?;
    let one = args.id.as_deref().map(storage_id).transpose()?;
    let store = open(&args.target, files).await?;
    let (revoked, unverified) = match (one, keep) {
        (Some(id), _) => (usize::from(store.revoke(&owner, &id).await?), 0),
        (None, Some(keep)) => {
            let r = store.revoke_all_except(&owner, &keep).await?;
            (r.revoked, r.unverified)
        }
        (None, None) => {
            let r = store.revoke_all(&owner).await?;
            (r.revoked, r.unverified)
        }
    };
    if args.json {
        say!(
            "{}",
            json!({ "revoked": revoked, "unverified": unverified })
        );
    } else {
        say!("revoked {revoked} sessions");
    }
    if args.id.is_some() && revoked == 0 {
        return Err(Failure::new(
            Exit::Failed,
            "no session of this user has that storage id",
        ));
    }
    if revoked == 0 && unverified == 0 {
        let _ = writeln!(
            std::io::stderr(),
            "sealed-session: note: no session of this user was found; check the user id (exact \
             bytes) and that the configuration's [[index_keys]] are the application's"
        );
    }
    if unverified > 0 {
        return Err(Failure::new(
            Exit::Check,
            format!(
                "{unverified} index entries name sessions that do not open with this keyring \
                 (retired or unknown key, damaged or oversized value): not revoked; they cannot \
                 be loaded with this keyring either"
            ),
        ));
    }
    Ok(())
}
