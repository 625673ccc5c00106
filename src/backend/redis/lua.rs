//! Scripts sent by hash: `EVALSHA`, and `EVAL` with the text only when the server answers
//! `NOSCRIPT` (the script did not run, so sending it again is no replay). Every script here
//! names one key, so it is atomic and a Cluster routes it to the node of that key.

use redis::{Cmd, RedisError, Value};

use super::RedisBackend;
use super::errors::map_err;
use crate::error::BackendError;

/// A script and its SHA-1, as `EVALSHA` wants it, computed once.
pub(super) struct Lua {
    text: &'static str,
    hash: std::sync::OnceLock<String>,
}

impl Lua {
    pub(super) const fn new(text: &'static str) -> Lua {
        Lua {
            text,
            hash: std::sync::OnceLock::new(),
        }
    }

    fn hash(&self) -> &str {
        self.hash
            .get_or_init(|| redis::Script::new(self.text).get_hash().to_owned())
    }
}

fn eval(script: &str, key: &str) -> Cmd {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(script).arg(1).arg(key);
    cmd
}

fn evalsha(script: &Lua, key: &str) -> Cmd {
    let mut cmd = redis::cmd("EVALSHA");
    cmd.arg(script.hash()).arg(1).arg(key);
    cmd
}

fn noscript(reply: &Result<Value, BackendError>) -> bool {
    match reply {
        Err(e) => e.code() == Some("NOSCRIPT"),
        Ok(Value::ServerError(e)) => e.code() == "NOSCRIPT",
        Ok(_) => false,
    }
}

pub(super) fn server_error(reply: &Value) -> Option<BackendError> {
    match reply {
        Value::ServerError(e) => Some(map_err(RedisError::from(e.clone()))),
        _ => None,
    }
}

impl RedisBackend {
    /// Runs `script` on `key` with the arguments `args` adds: `EVALSHA`, so the script's text
    /// crosses the network and is hashed by the server only when the server does not have it
    /// cached (`NOSCRIPT`: the script did not run, so sending it with `EVAL` is no replay).
    pub(super) async fn run_script(
        &self,
        script: &Lua,
        key: &str,
        args: impl Fn(&mut Cmd),
    ) -> Result<Value, BackendError> {
        let mut cmd = evalsha(script, key);
        args(&mut cmd);
        let reply = self.query::<Value>(&cmd).await;
        if !noscript(&reply) {
            return reply;
        }
        let mut cmd = eval(script.text, key);
        args(&mut cmd);
        self.query::<Value>(&cmd).await
    }
}
