//! `inspect`: print the clear-text header of one stored value, read from Redis or from
//! stdin, without any key.

use std::io::{BufRead, IsTerminal, Read};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sealed_session::envelope::{Header, OVERHEAD};
use sealed_session::{Backend, Fetched, FilePermissions, KeyringConfig, SessionId};
use serde_json::json;

use crate::check::state_name;
use crate::cli::{InputFormat, Inspect, RedisArgs};
use crate::connection::connect;
use crate::exit::{Exit, Failure, io_failure};

pub(crate) fn unix_date(secs: u64) -> String {
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm), UTC.
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

pub(crate) async fn inspect(args: &Inspect, files: FilePermissions) -> Result<(), Failure> {
    let key = match (&args.key, &args.session_id) {
        (Some(key), _) => Some(key.clone()),
        (None, Some(id)) => {
            let id = if id == "-" {
                // Room for the longest line read, so the id is never copied by a regrowth.
                let mut line = zeroize::Zeroizing::new(String::with_capacity(257));
                std::io::stdin()
                    .lock()
                    .take(256)
                    .read_line(&mut line)
                    .map_err(io_failure("cannot read stdin"))?;
                SessionId::parse(line.trim())
            } else {
                SessionId::parse(id.trim())
            }
            .map_err(|_| Failure::new(Exit::Usage, "--session-id is not a valid session id"))?;
            Some(format!("{}{}", args.prefix, id.hashed().as_str()))
        }
        (None, None) => None,
    };
    let bytes = match &key {
        Some(key) => {
            if args.urls.is_empty() {
                return Err(Failure::new(
                    Exit::Usage,
                    "reading a key needs --url (or REDIS_URL)",
                ));
            }
            let backend = connect(&RedisArgs {
                urls: args.urls.clone(),
                cluster: args.cluster,
                timeout_ms: args.timeout_ms,
            })
            .await?;
            match backend
                .get(key, sealed_session::MAX_ENVELOPE_LEN_LIMIT)
                .await?
            {
                Fetched::Value(v) => v,
                Fetched::Missing => {
                    return Err(Failure::new(Exit::Check, "no value under that key"));
                }
                Fetched::TooLarge { len } => {
                    return Err(Failure::new(
                        Exit::Check,
                        format!("not an envelope: the value is {len} bytes or more"),
                    ));
                }
                Fetched::NotBytes => {
                    return Err(Failure::new(
                        Exit::Check,
                        "not an envelope: not a string value",
                    ));
                }
            }
        }
        None => {
            if std::io::stdin().is_terminal() {
                return Err(Failure::new(
                    Exit::Usage,
                    "give a KEY or --session-id, or pipe the value to stdin",
                ));
            }
            read_stdin(args.input)?
        }
    };
    if bytes.len() > sealed_session::MAX_ENVELOPE_LEN_LIMIT {
        return Err(Failure::new(
            Exit::Check,
            format!(
                "not an envelope: {} bytes is over the 1 MiB limit",
                bytes.len()
            ),
        ));
    }
    let header = Header::parse(&bytes).map_err(|r| {
        Failure::new(
            Exit::Check,
            format!("not an envelope v1 ({} bytes): refused at {r}", bytes.len()),
        )
    })?;
    let state = match &args.config {
        Some(path) => {
            let config = KeyringConfig::read_with(path, files)?;
            Some(
                config
                    .keys()
                    .iter()
                    .find(|k| k.id == header.key_id)
                    .map_or("unknown (refused)", |k| state_name(k.state)),
            )
        }
        None => None,
    };
    let expiry = match header.expires_at {
        0 => "none".to_owned(),
        at => unix_date(at),
    };
    let plaintext = bytes.len().saturating_sub(OVERHEAD);
    if args.json {
        say!(
            "{}",
            json!({
                "version": 1,
                "suite": header.suite.name(),
                "codec": header.codec.to_string(),
                "key_id": header.key_id,
                "key_state": state,
                "expires_at": header.expires_at,
                "size": bytes.len(),
                "plaintext_size": plaintext,
            })
        );
    } else {
        say!("version     1");
        say!("suite       {}", header.suite);
        say!("codec       {}", header.codec);
        match state {
            Some(state) => say!("key id      {} ({state})", header.key_id),
            None => say!("key id      {}", header.key_id),
        }
        say!("expires at  {expiry}");
        say!(
            "size        {} bytes ({plaintext} of ciphertext)",
            bytes.len()
        );
        say!("(the header is not authenticated until the envelope is opened)");
    }
    Ok(())
}

fn read_stdin(format: InputFormat) -> Result<Vec<u8>, Failure> {
    // Hex doubles the size; a little room for a trailing newline.
    let limit = sealed_session::MAX_ENVELOPE_LEN_LIMIT as u64 * 2 + 16;
    let mut raw = Vec::new();
    std::io::stdin()
        .lock()
        .take(limit + 1)
        .read_to_end(&mut raw)
        .map_err(io_failure("cannot read stdin"))?;
    if raw.len() as u64 > limit {
        return Err(Failure::new(
            Exit::Check,
            "not an envelope: stdin holds more than any envelope can",
        ));
    }
    let text = || String::from_utf8_lossy(&raw).trim().to_owned();
    match format {
        InputFormat::Raw => Ok(raw),
        InputFormat::Base64 => STANDARD
            .decode(text())
            .map_err(|_| Failure::new(Exit::Check, "stdin is not valid base64")),
        InputFormat::Hex => {
            let text = text();
            let digits = text.as_bytes();
            if digits.len() % 2 != 0 {
                return Err(Failure::new(Exit::Check, "stdin is not valid hex"));
            }
            digits
                .chunks(2)
                .map(|pair| {
                    std::str::from_utf8(pair)
                        .ok()
                        .and_then(|p| u8::from_str_radix(p, 16).ok())
                        .ok_or_else(|| Failure::new(Exit::Check, "stdin is not valid hex"))
                })
                .collect()
        }
    }
}
