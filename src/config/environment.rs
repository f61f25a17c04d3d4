//! The environment variables that override `stroom.toml` (a container or CI job sets
//! them instead of writing the file): one table, which both applies them and lists
//! them. Secrets are not overrides: the `STROOM_*` secret variables are read where the
//! secret is needed (see `secrets.rs` and each target section).

use super::Config;
use std::path::PathBuf;

type Apply = fn(&mut Config, String);

/// (variable, key it overrides, how).
const OVERRIDES: &[(&str, &str, Apply)] = &[
    ("STROOM_NMBRS_BASE_URL", "nmbrs.base_url", |c, v| {
        c.nmbrs.base_url = v
    }),
    ("STROOM_NMBRS_IDENTITY_URL", "nmbrs.identity_url", |c, v| {
        c.nmbrs.identity_url = v
    }),
    ("STROOM_NMBRS_CLIENT_ID", "nmbrs.client_id", |c, v| {
        c.nmbrs.client_id = v
    }),
    ("STROOM_NMBRS_TOKEN_STORE", "nmbrs.token_store", |c, v| {
        c.nmbrs.token_store = PathBuf::from(v)
    }),
    ("STROOM_DATABASE", "store.database", |c, v| {
        c.store.database = PathBuf::from(v)
    }),
];

/// The Nmbrs secrets, when they come from the environment.
const NMBRS_SECRETS: &[(&str, &str)] = &[
    (
        "STROOM_NMBRS_CLIENT_SECRET",
        "the client secret itself (instead of nmbrs.client_secret_file)",
    ),
    (
        "STROOM_NMBRS_SUBSCRIPTION_KEY",
        "the subscription key itself (instead of nmbrs.subscription_key_file)",
    ),
    (
        "STROOM_SMTP_PASSWORD",
        "the SMTP password for notify.username (instead of notify.password_file)",
    ),
];

/// The environment variables Stroom reads besides the file: (variable, what it holds).
/// Target secrets follow one pattern: `STROOM_<NAME>_PASSWORD` (AD) and
/// `STROOM_<NAME>_CLIENT_SECRET` (Entra ID, Exchange Online) for `[targets.NAME]`; a
/// webhook's URL is `STROOM_WEBHOOK_<NAME>` for `[notify.webhooks.NAME]`.
pub fn variables() -> impl Iterator<Item = (&'static str, &'static str)> {
    OVERRIDES
        .iter()
        .map(|(v, k, _)| (*v, *k))
        .chain(NMBRS_SECRETS.iter().copied())
}

/// Sets every key whose variable `env` has.
pub(super) fn apply_overrides(config: &mut Config, env: &dyn Fn(&str) -> Option<String>) {
    for (variable, _, apply) in OVERRIDES {
        if let Some(v) = env(variable) {
            apply(config, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_override_is_applied() {
        assert_eq!(variables().count(), OVERRIDES.len() + NMBRS_SECRETS.len());
        for (variable, _, _) in OVERRIDES {
            let mut config = Config::default();
            apply_overrides(&mut config, &|v| (v == *variable).then(|| "/x".to_string()));
            let text = format!("{config:?}");
            assert!(text.contains("\"/x\""), "{variable} changed nothing");
        }
    }
}
