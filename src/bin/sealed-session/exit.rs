//! The exit-code policy of `sealed-session`: every code it can exit with, and which failure
//! gives which, in one place (`--help` lists the same codes).

use std::process::ExitCode;

use sealed_session::ConfigError;

/// An exit code of the command. clap's own usage errors exit with 2 too, the code of
/// [`Exit::Usage`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Exit {
    /// Success.
    Success = 0,
    /// The operation failed (Redis, I/O).
    Failed = 1,
    /// Usage error.
    Usage = 2,
    /// Invalid keyring configuration.
    Config = 3,
    /// The check asked for failed (`inspect` of a value that is not an envelope,
    /// `stats --require-none` finding envelopes under that key).
    Check = 4,
}

impl Exit {
    /// The code the process exits with.
    pub(crate) const fn code(self) -> u8 {
        self as u8
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit.code())
    }
}

/// A failure with its exit code. Messages never hold secrets: they come from the crate's
/// errors, which carry none, or name files and variables only.
pub(crate) struct Failure {
    pub(crate) code: Exit,
    pub(crate) message: String,
}

impl Failure {
    pub(crate) fn new(code: Exit, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }
}

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Failure {
        Failure::new(Exit::Config, format!("keyring configuration: {e}"))
    }
}

impl From<sealed_session::Error> for Failure {
    fn from(e: sealed_session::Error) -> Failure {
        match e {
            sealed_session::Error::Config(c) => c.into(),
            other => Failure::new(Exit::Failed, other.to_string()),
        }
    }
}

impl From<sealed_session::BackendError> for Failure {
    fn from(e: sealed_session::BackendError) -> Failure {
        Failure::new(Exit::Failed, e.to_string())
    }
}

/// An I/O error as a failure of the operation, prefixed with what was being done.
pub(crate) fn io_failure(what: &str) -> impl FnOnce(std::io::Error) -> Failure + '_ {
    move |e| Failure::new(Exit::Failed, format!("{what}: {e}"))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Exit;
    use crate::cli::Cli;

    /// `--help` states every code with what it means, as the enum does.
    #[test]
    fn help_lists_every_exit_code() {
        let help = Cli::command()
            .get_after_help()
            .map(ToString::to_string)
            .unwrap_or_default();
        for (exit, meaning) in [
            (Exit::Success, "success"),
            (Exit::Failed, "operation failed"),
            (Exit::Usage, "usage error"),
            (Exit::Config, "invalid keyring configuration"),
            (Exit::Check, "check failed"),
        ] {
            let said = format!("{} {meaning}", exit.code());
            assert!(help.contains(&said), "{said:?} not in {help:?}");
        }
    }
}
