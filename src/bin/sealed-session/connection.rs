//! Reaching Redis from the command line: the connection the Redis commands (`inspect`,
//! `stats`, `rewrap`) share, and the warning about a password given in `--url`.

use std::io::Write;
use std::time::Duration;

use sealed_session::RedisBackend;

use crate::cli::RedisArgs;
use crate::exit::{Exit, Failure};

/// A password in a `--url` given on the command line can be read by every user of the
/// machine (`ps`, `/proc/PID/cmdline`) and stays in shell history: say so, without repeating
/// it. `REDIS_URL` is not visible that way.
pub(crate) fn warn_of_password_in_argv(command: &clap::ArgMatches) {
    use redis::IntoConnectionInfo;
    // Only the commands that talk to Redis have the argument.
    let Ok(Some(urls)) = command.try_get_many::<String>("urls") else {
        return;
    };
    if command.value_source("urls") != Some(clap::parser::ValueSource::CommandLine) {
        return;
    }
    let with_password = urls.into_iter().any(|url| {
        url.as_str()
            .into_connection_info()
            .is_ok_and(|info| info.redis_settings().password().is_some())
    });
    if with_password {
        let _ = writeln!(
            std::io::stderr(),
            "sealed-session: warning: a password given in --url is visible to other users of \
             this machine (ps) and kept in shell history; set REDIS_URL instead"
        );
    }
}

pub(crate) async fn connect(args: &RedisArgs) -> Result<RedisBackend, Failure> {
    let timeout = Duration::from_millis(args.timeout_ms.max(1));
    let builder = RedisBackend::builder()
        .connect_timeout(timeout)
        .response_timeout(timeout);
    let builder = if args.cluster {
        builder.cluster_nodes(args.urls.iter().cloned())
    } else {
        match args.urls.as_slice() {
            [url] => builder.url(url.clone()),
            _ => {
                return Err(Failure::new(
                    Exit::Usage,
                    "give one --url, or several with --cluster",
                ));
            }
        }
    };
    Ok(builder.connect().await?)
}
