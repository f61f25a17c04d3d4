//! Secrets and `stroom.toml`: a secret comes from the environment or from a file the
//! configuration names, never from the TOML text; and no error about the file ever
//! shows a value from it (a TOML error quotes the offending line, which may hold one).

use super::ConfigError;
use crate::secret::Secret;
use std::path::PathBuf;

/// The keys that would hold a secret if they were allowed.
pub(super) const SECRET_KEYS: [&str; 5] = [
    "client_secret",
    "subscription_key",
    "bind_password",
    "password",
    "token",
];

fn secret_key(e: &toml::de::Error) -> Option<&'static str> {
    SECRET_KEYS
        .into_iter()
        .find(|k| e.message().contains(&format!("unknown field `{k}`")))
}

/// The parse error for people: the line and key, and what is wrong, but never a value
/// from the file (a TOML error shows the offending line, which may hold a secret).
pub(super) fn parse_message(text: &str, e: &toml::de::Error) -> String {
    let at = e.span().map_or(0, |s| s.start.min(text.len()));
    let line = text[..at].matches('\n').count() + 1;
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    let key = key_of_line(&text[line_start..line_end]);
    let place = match key {
        Some(k) => format!("line {line}, key `{k}`"),
        None => format!("line {line}"),
    };
    match secret_key(e) {
        Some(k) => {
            format!("{place}: `{k}` does not belong in stroom.toml (its value is not shown)")
        }
        None => format!(
            "{place}: {} (values are not shown)",
            redact_values(e.message())
        ),
    }
}

/// The key a `key = value` line sets, when it looks like a key (a pasted secret on a
/// line of its own must not be taken for one).
fn key_of_line(line: &str) -> Option<&str> {
    let (key, _) = line.split_once('=')?;
    let key = key.trim().trim_matches('"');
    let plain = !key.is_empty()
        && key.len() <= 64
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    plain.then_some(key)
}

/// A TOML or serde message with every quoted value taken out: serde names values in
/// `invalid type: string "..."` and `unknown variant `...``; key and token names stay.
pub(super) fn redact_values(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message.trim();
    while let Some(i) = rest.find(['"', '\'']) {
        let quote = rest.as_bytes()[i] as char;
        out.push_str(&rest[..i]);
        match rest[i + 1..].find(quote) {
            Some(j) => {
                out.push_str("(a value)");
                rest = &rest[i + 1 + j + 1..];
            }
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    match out.find("unknown variant `") {
        Some(i) => {
            let tail = &out[i + "unknown variant `".len()..];
            let after = tail.find('`').map_or("", |j| &tail[j + 1..]);
            format!("{}unknown value{after}", &out[..i])
        }
        None => out,
    }
}

/// The help for a parse error: for a secret written into the file, where it belongs
/// instead; otherwise the chapter that lists the section's keys.
pub(super) fn parse_help(text: &str, e: &toml::de::Error) -> String {
    // The table the error is in: the last `[header]` before it.
    let at = e.span().map_or(text.len(), |s| s.start.min(text.len()));
    let section = text[..at]
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix('[')?.split(']').next())
        .unwrap_or("")
        .trim()
        .to_string();
    match (secret_key(e), section.as_str()) {
        (Some(k), "nmbrs") => format!(
            "secrets never go in stroom.toml: use {k}_file, or STROOM_NMBRS_{}",
            k.to_uppercase()
        ),
        (Some(_), _) => "secrets never go in stroom.toml: name a file with the *_file key, \
                         or use the STROOM_* variable (see the book)"
            .into(),
        (None, s) if s.starts_with("targets") || s == "apply" => {
            "the keys are listed in the book, chapter Targets and apply".into()
        }
        (None, "sync" | "store") => "the keys are listed in the book, chapter Sync".into(),
        (None, s) if s.starts_with("notify") => {
            "the keys are listed in the book, chapter The first-day hand-over; a webhook's URL \
             comes from url_file or STROOM_WEBHOOK_<NAME>, the SMTP password from \
             password_file or STROOM_SMTP_PASSWORD"
                .into()
        }
        (None, _) => "the keys are listed in the book, chapter Connecting to Nmbrs".into(),
    }
}

/// A secret: from `variable` when set, else from the file `file` names (first line).
pub(super) fn secret(
    variable: &str,
    file: &Option<PathBuf>,
    key: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Secret, ConfigError> {
    if let Some(v) = env(variable).filter(|v| !v.trim().is_empty()) {
        return Ok(Secret::new(v.trim()));
    }
    let Some(path) = file else {
        return Err(ConfigError {
            file: "stroom.toml".into(),
            message: format!("no {key} given"),
            help: format!("set {variable}, or name a file holding it with {key}_file"),
        });
    };
    let text = crate::files::read_text(path).map_err(|e| ConfigError {
        file: path.display().to_string(),
        message: format!("cannot read the {key}: {e}"),
        help: format!("check {key}_file, or set {variable}"),
    })?;
    let value = text.trim();
    if value.is_empty() {
        return Err(ConfigError {
            file: path.display().to_string(),
            message: format!("the {key} file is empty"),
            help: "put the value on the first line".into(),
        });
    }
    Ok(Secret::new(value))
}
