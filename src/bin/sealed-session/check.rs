//! `check`: validate a keyring configuration, reading every secret it names, and list its
//! keys without their material.

use sealed_session::{FilePermissions, KeyState, KeyringConfig, Suite};
use serde_json::json;

use crate::cli::Check;
use crate::exit::Failure;

pub(crate) fn state_name(state: KeyState) -> &'static str {
    match state {
        KeyState::Primary => "primary",
        KeyState::DecryptOnly => "decrypt-only",
        KeyState::Retired => "retired",
    }
}

pub(crate) fn check(args: &Check, files: FilePermissions) -> Result<(), Failure> {
    let config = KeyringConfig::read_with(&args.config, files)?;
    config.resolve()?;
    let keys = config.keys();
    if args.json {
        let list: Vec<_> = keys
            .iter()
            .map(|k| {
                json!({
                    "id": k.id,
                    "state": state_name(k.state),
                    "suite": k.suite.map(Suite::name),
                    "material": k.source,
                })
            })
            .collect();
        say!(
            "{}",
            json!({ "valid": true, "primary": config.primary_id(), "keys": list })
        );
        return Ok(());
    }
    say!(
        "{}: valid, {} keys, primary key {}",
        args.config.display(),
        keys.len(),
        config.primary_id()
    );
    say!("{:>10}  {:<13} {:<18} material", "id", "state", "suite");
    for k in &keys {
        say!(
            "{:>10}  {:<13} {:<18} {}",
            k.id,
            state_name(k.state),
            k.suite.map_or("-", Suite::name),
            k.source
        );
    }
    Ok(())
}
