//! Parser messages without the input: TOML and JSON parsers quote what they refused, and in
//! a keyring file that can be key material typed into the wrong field.

use base64::Engine;

use super::BASE64;

/// True when some part of `text` would be accepted as key material: a stretch of 43 (or 44,
/// padded) base64 characters that decodes to exactly 32 bytes. Checked anywhere in the text,
/// so a secret with a dot, a directory or a prefix around it is caught too (`KEY.`,
/// `./KEY`, `/run/secrets/KEY`).
pub(super) fn contains_key(text: &str) -> bool {
    let in_alphabet = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=');
    text.as_bytes()
        .split(|b| !in_alphabet(b))
        .filter(|run| run.len() >= 43)
        .any(|run| {
            run.windows(43)
                .chain(run.windows(44))
                .any(|window| BASE64.decode(window).is_ok_and(|b| b.len() == 32))
        })
}

pub(super) fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()
        .get(..end)
        .map_or(0, |head| head.iter().filter(|b| **b == b'\n').count())
        + 1
}

/// serde_json appends " at line L column C"; the line is reported separately.
pub(super) fn strip_json_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message.get(..at).unwrap_or(message).to_owned(),
        None => message.to_owned(),
    }
}

/// Words of the configuration schema, the only quoted text kept in parser messages.
const SCHEMA_WORDS: &[&str] = &[
    "keys",
    "id",
    "state",
    "suite",
    "material",
    "env",
    "file",
    "passphrase_env",
    "passphrase_file",
    "argon2",
    "salt",
    "insecure_inline",
    "m_cost_kib",
    "t_cost",
    "p_cost",
    "primary",
    "decrypt-only",
    "retired",
    "aes-256-gcm",
    "chacha20-poly1305",
    ",",
    "}",
    "]",
    "{",
    "[",
    "=",
    ".",
    "-",
    "_",
];

/// Messages in which the parser repeats what the file said. The value can hold quote
/// characters of its own, so its quoting cannot be trusted to show where it ends.
const ECHOES_INPUT: &[&str] = &[
    "unknown field",
    "unknown variant",
    "invalid type",
    "invalid value",
];

/// Parser messages quote the offending value (``unknown variant `…` ``, `invalid type:
/// string "…"`), which may be key material typed into the wrong field. Only the text before
/// the first quote is kept, plus the parser's `expected …` tail when everything quoted in it
/// is a word of the schema. A message is kept whole only if it is not one that repeats
/// input, quotes nothing but schema words, and has no long run of base64 characters outside
/// the quotes (the `keyring_config` fuzz target found a field name with backticks inside
/// that made its own text look unquoted).
pub(super) fn sanitize(message: &str) -> String {
    let is_quote = |c: char| c == '"' || c == '`' || c == '\'';
    let Some(first) = message.find(is_quote) else {
        // No quotes: parser prose, unless a parser ever repeats input without quoting it.
        return if has_long_base64_run(message) {
            "the parser's message was withheld: it may repeat the file's contents".to_owned()
        } else {
            message.to_owned()
        };
    };
    let only_schema_words = |text: &str| {
        !text.contains('"')
            && !text.contains('\'')
            && text.matches('`').count().is_multiple_of(2)
            && text
                .split('`')
                .skip(1)
                .step_by(2)
                .all(|word| SCHEMA_WORDS.contains(&word))
            && text
                .split('`')
                .step_by(2)
                .all(|prose| !has_long_base64_run(prose))
    };
    let echoes = ECHOES_INPUT.iter().any(|p| message.starts_with(p));
    if !echoes && only_schema_words(message) {
        return message.to_owned();
    }
    let head = message.get(..first).unwrap_or_default().trim_end();
    let tail = message
        .rfind(", expected ")
        .filter(|at| *at >= first)
        .and_then(|at| message.get(at..))
        .filter(|tail| only_schema_words(tail));
    match tail {
        Some(tail) => format!("{head} …{tail}"),
        None => format!("{head} …"),
    }
}

/// True when `text` has 16 or more consecutive characters of the base64 alphabets: never
/// parser prose, possibly a secret.
fn has_long_base64_run(text: &str) -> bool {
    let mut run = 0usize;
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=' | '-' | '_') {
            run = run.saturating_add(1);
            if run >= 16 {
                return true;
            }
        } else {
            run = 0;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_values_never_reach_messages() {
        assert_eq!(
            sanitize(r#"invalid type: string "c2VjcmV0", expected u32"#),
            "invalid type: string …, expected u32"
        );
        assert_eq!(
            sanitize(
                "unknown variant `c2Vj`, expected one of `primary`, `decrypt-only`, `retired`"
            ),
            "unknown variant …, expected one of `primary`, `decrypt-only`, `retired`"
        );
        assert_eq!(
            sanitize("unknown variant `a, expected `b`c`, expected `primary`"),
            "unknown variant …, expected `primary`"
        );
        assert_eq!(
            sanitize(r#"invalid type: string "x\"y, expected u32", expected u32"#),
            "invalid type: string …, expected u32"
        );
        assert_eq!(sanitize("unknown field `hunter2`"), "unknown field …");
        // Found by the keyring_config fuzz target: backticks inside the field name.
        let secret = "SES9999990000099999999999990000099999999900";
        assert_eq!(
            sanitize(&format!(
                "unknown field `keys`s[[{secret}:0`{{`, expected `keys`"
            )),
            "unknown field …, expected `keys`"
        );
        assert_eq!(
            sanitize(&format!("expected `{{`{secret}`}}`")),
            "expected …"
        );
        assert_eq!(sanitize("missing field `state`"), "missing field `state`");
        assert_eq!(sanitize("no quotes at all"), "no quotes at all");
        assert_eq!(
            sanitize("unexpected keys in table: AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE"),
            "the parser's message was withheld: it may repeat the file's contents"
        );
        assert_eq!(line_of("a\nb\nc", 4), 3);
    }
}
