//! `sealed-session`: the operator's command for keys and stored sessions.
//!
//! This file parses the command line and dispatches to one module per command group; the
//! exit codes and which failure gives which are in `exit.rs`.

#![forbid(unsafe_code)]

use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use sealed_session::FilePermissions;

use crate::cli::{Cli, Command, Sessions};
use crate::exit::{Exit, Failure};

/// `println!` that turns a closed standard output (`sealed-session check | head -1`) into
/// a failure with exit code 1, where `println!` would panic.
macro_rules! say {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        writeln!(::std::io::stdout().lock(), $($arg)*)
            .map_err($crate::exit::io_failure("cannot write to standard output"))?
    }};
}

mod check;
mod cli;
mod connection;
mod exit;
mod import;
mod inspect;
mod keys;
mod rewrap;
mod sessions;
mod stats;

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => {
            // Nothing more can be done if standard error is closed.
            let _ = e.print();
            return Exit::Usage.into();
        }
    };
    // The innermost subcommand holds the arguments (`sessions list --url …`).
    let mut command = matches.subcommand().map(|(_, m)| m);
    while let Some(inner) = command.and_then(|m| m.subcommand()).map(|(_, m)| m) {
        command = Some(inner);
    }
    if let Some(command) = command {
        connection::warn_of_password_in_argv(command);
    }
    let files = if cli.insecure_file_permissions {
        FilePermissions::InsecureUnchecked
    } else {
        FilePermissions::Checked
    };
    let result = match cli.command {
        Command::Keygen(args) => keys::keygen(&args),
        Command::Derive(args) => keys::derive(&args, files),
        Command::Check(args) => check::check(&args, files),
        Command::Inspect(args) => {
            runtime().and_then(|rt| rt.block_on(inspect::inspect(&args, files)))
        }
        Command::Stats(args) => runtime().and_then(|rt| rt.block_on(stats::stats(&args))),
        Command::Rewrap(args) => runtime().and_then(|rt| rt.block_on(rewrap::rewrap(&args, files))),
        Command::Sessions(Sessions::List(args)) => {
            runtime().and_then(|rt| rt.block_on(sessions::list(&args, files)))
        }
        Command::Sessions(Sessions::Revoke(args)) => {
            runtime().and_then(|rt| rt.block_on(sessions::revoke(&args, files)))
        }
        Command::Import(args) => runtime().and_then(|rt| rt.block_on(import::import(&args, files))),
    };
    match result {
        Ok(()) => Exit::Success.into(),
        Err(failure) => {
            // Nothing more can be done if standard error is closed too.
            let _ = writeln!(std::io::stderr(), "sealed-session: {}", failure.message);
            failure.code.into()
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(Exit::Failed, format!("cannot start the runtime: {e}")))
}
