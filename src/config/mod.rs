//! `stroom.toml`: where Nmbrs is, which companies to read, where snapshots live, and
//! the sync defaults. Environment variables override the file (see [`variables`]); secrets
//! come only from the environment or from files named here, never from the TOML text.

use crate::source::nmbrs::auth::{OAuthClient, TokenStore};
use crate::source::nmbrs::client::ClientSettings;
use crate::source::nmbrs::Selection;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

mod environment;
mod notify;
mod secrets;
mod targets;

pub use environment::variables;

pub use targets::{SectionKeys, TargetSection};

/// The whole file.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[nmbrs]`
    pub nmbrs: NmbrsConfig,
    /// `[store]`
    pub store: StoreConfig,
    /// `[sync]`
    pub sync: SyncConfig,
    /// `[apply]`
    pub apply: ApplyConfig,
    /// `[plan]`
    pub plan: PlanConfig,
    /// `[notify]`: the mail server and webhooks that carry hand-overs and messages.
    pub notify: Option<NotifyConfig>,
    /// `[targets.NAME]`: the target instances, in name order (read from
    /// `target_tables` when the file is loaded).
    #[serde(skip)]
    pub targets: Vec<TargetSection>,
    /// The `[targets.NAME]` tables as written, with their place in the file.
    #[serde(rename = "targets")]
    target_tables: BTreeMap<String, toml::Spanned<toml::Table>>,
}

/// `[notify]`: how messages go out (see [`crate::notify`]). Secrets (the SMTP
/// password, a webhook's URL) come from the environment or a file, never from here.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// The mail server's host name (STARTTLS is required).
    pub smtp: Option<String>,
    /// Its port.
    #[serde(default = "submission_port")]
    pub port: u16,
    /// The sender, `Name <address>`.
    pub from: Option<String>,
    /// For SMTP AUTH (the password from STROOM_SMTP_PASSWORD or `password_file`).
    pub username: Option<String>,
    /// A file holding the SMTP password.
    pub password_file: Option<PathBuf>,
    /// A PEM file with the CA of the server's certificate.
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate (test servers only).
    #[serde(default)]
    pub accept_invalid_certificates: bool,
    /// Seconds per connection and command.
    #[serde(default = "notify_timeout")]
    pub timeout_seconds: u64,
    /// Who hears of a blocked plan.
    #[serde(default)]
    pub blocked_to: Vec<String>,
    /// `[notify.templates.EVENT]`: a message's subject and body per event.
    #[serde(default)]
    pub templates: BTreeMap<String, crate::notify::Template>,
    /// `[notify.webhooks.NAME]`.
    #[serde(default)]
    pub webhooks: BTreeMap<String, WebhookConfig>,
}

/// `[notify.webhooks.NAME]`: the URL (which holds the webhook's secret) from
/// STROOM_WEBHOOK_<NAME> or `url_file`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// A file holding the URL.
    pub url_file: Option<PathBuf>,
}

fn submission_port() -> u16 {
    587
}

fn notify_timeout() -> u64 {
    30
}

/// `[plan]`: the guard against mass removal where the rules set no threshold.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlanConfig {
    /// Block a plan that removes more than this percentage of the state's grants or
    /// accounts (revoke, disable_account, delete_account), unless approved.
    pub max_removed_percent: u64,
    /// Removals that always pass, however small the state.
    pub always_allowed_removals: u64,
}

impl Default for PlanConfig {
    fn default() -> Self {
        let guard = crate::rules::program::RemovalGuard::default();
        Self {
            max_removed_percent: guard.max_percent,
            always_allowed_removals: guard.always_allowed,
        }
    }
}

impl PlanConfig {
    /// The guard these settings describe.
    pub fn removal_guard(&self) -> crate::rules::program::RemovalGuard {
        crate::rules::program::RemovalGuard {
            max_percent: self.max_removed_percent,
            always_allowed: self.always_allowed_removals,
        }
    }
}

/// `[apply]`
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApplyConfig {
    /// The audit log (JSON Lines), appended to.
    pub audit_log: PathBuf,
    /// Persons worked on at once.
    pub concurrency: usize,
    /// Attempts for a transient target failure.
    pub max_attempts: u32,
    /// Seconds a person may wait for something on its way (a new mailbox) before its
    /// steps are left for the next run.
    pub ready_wait_seconds: u64,
}

impl Default for ApplyConfig {
    fn default() -> Self {
        Self {
            audit_log: PathBuf::from("stroom-data/audit.jsonl"),
            concurrency: 4,
            max_attempts: 5,
            ready_wait_seconds: 900,
        }
    }
}

/// `[nmbrs]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NmbrsConfig {
    /// API base URL.
    pub base_url: String,
    /// Identity service base URL.
    pub identity_url: String,
    /// OAuth client id of the app registration.
    pub client_id: String,
    /// File holding the client secret.
    pub client_secret_file: Option<PathBuf>,
    /// File holding the subscription key.
    pub subscription_key_file: Option<PathBuf>,
    /// Loopback redirect URI registered for the app.
    pub redirect_uri: String,
    /// Scopes asked for at sign-in.
    pub scopes: Vec<String>,
    /// Where the tokens are kept (mode 0600).
    pub token_store: PathBuf,
    /// Debtor ids to read; empty: all the sign-in can see.
    pub debtors: Vec<String>,
    /// Company ids to read; empty: all companies of those debtors.
    pub companies: Vec<String>,
    /// Calls in flight at most.
    pub concurrency: usize,
    /// Records per page (1-100).
    pub page_size: u32,
    /// Time limit of one call.
    pub timeout_seconds: u64,
    /// Attempts per call.
    pub max_attempts: u32,
    /// First backoff delay.
    pub backoff_base_ms: u64,
    /// Longest backoff delay.
    pub backoff_max_ms: u64,
    /// Pages of one list read at most (a `nextPage` that never ends fails the import).
    pub max_pages: u32,
    /// How long one import may take before it fails (nothing is stored).
    pub import_deadline_minutes: u64,
}

impl Default for NmbrsConfig {
    fn default() -> Self {
        Self {
            base_url: "https://api.nmbrsapp.com".into(),
            identity_url: "https://identityservice.nmbrs.com".into(),
            client_id: String::new(),
            client_secret_file: None,
            subscription_key_file: None,
            redirect_uri: "http://127.0.0.1:8765/callback".into(),
            scopes: [
                "employee.info.read",
                "employee.employment.read",
                "employee.orgstructure.read",
                "employee.payment.read",
                "company.info.read",
                // Write-back of the business e-mail (PUT personalInfo).
                "employee.info",
                "offline_access",
            ]
            .map(String::from)
            .to_vec(),
            token_store: PathBuf::from("stroom-data/nmbrs-tokens.json"),
            debtors: Vec::new(),
            companies: Vec::new(),
            concurrency: 4,
            page_size: 100,
            timeout_seconds: 30,
            max_attempts: 6,
            backoff_base_ms: 500,
            backoff_max_ms: 60_000,
            max_pages: ClientSettings::DEFAULT_MAX_PAGES,
            import_deadline_minutes: ClientSettings::DEFAULT_DEADLINE.as_secs() / 60,
        }
    }
}

/// `[store]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// The SQLite snapshot file.
    pub database: PathBuf,
    /// Snapshots kept.
    pub keep_snapshots: usize,
    /// Refuse a snapshot when more than this percentage of persons is gone.
    pub max_gone_percent: f64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            database: PathBuf::from("stroom-data/stroom.db"),
            keep_snapshots: 50,
            max_gone_percent: 10.0,
        }
    }
}

/// `[sync]`
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct SyncConfig {
    /// Rule files or folders.
    pub rules: Vec<PathBuf>,
    /// Current state file.
    pub state: Option<PathBuf>,
    /// Where `stroom nmbrs import` and `stroom sync` write the persons (JSON Lines).
    pub persons_out: Option<PathBuf>,
    /// Where `stroom sync` writes each plan (JSON).
    pub plan_out: Option<PathBuf>,
    /// `stroom sync --every` also reconciles the targets this often (`24h`; none: never).
    pub reconcile_every: Option<String>,
    /// Where each scheduled reconcile writes its report (JSON).
    pub reconcile_out: Option<PathBuf>,
}

/// A configuration problem, with the fix.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}\n  help: {help}")]
pub struct ConfigError {
    /// The file (or variable) at fault.
    pub file: String,
    /// What is wrong.
    pub message: String,
    /// What to do.
    pub help: String,
}

fn resolve(base: &Path, p: &mut PathBuf) {
    if p.is_relative() {
        *p = base.join(&*p);
    }
}

impl Config {
    /// Reads `path`, or `./stroom.toml` when it exists, or the defaults; then applies
    /// the environment. Relative paths are taken from the file's folder.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with_env(path, &|k| std::env::var(k).ok())
    }

    /// [`Config::load`] with another environment (for tests).
    pub fn load_with_env(
        path: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let default = Path::new("stroom.toml");
        let file = match path {
            Some(p) => Some(p),
            None if default.exists() => Some(default),
            None => None,
        };
        let mut config = match file {
            None => Config::default(),
            Some(file) => {
                let name = file.display().to_string();
                let text = crate::files::read_text(file).map_err(|e| ConfigError {
                    file: name.clone(),
                    message: format!("cannot read: {e}"),
                    help: "pass the right file with --config".into(),
                })?;
                let mut config: Config = toml::from_str(&text).map_err(|e| ConfigError {
                    file: name.clone(),
                    message: secrets::parse_message(&text, &e),
                    help: secrets::parse_help(&text, &e),
                })?;
                let base = file.parent().unwrap_or(Path::new(".")).to_path_buf();
                config.resolve_paths(&base);
                config.targets =
                    targets::read_sections(&text, &config.target_tables, &base, &name)?;
                config
            }
        };
        environment::apply_overrides(&mut config, env);
        config.validate(file.map_or("stroom.toml".into(), |f| f.display().to_string()))?;
        Ok(config)
    }

    fn resolve_paths(&mut self, base: &Path) {
        for p in [
            &mut self.nmbrs.token_store,
            &mut self.store.database,
            &mut self.apply.audit_log,
        ] {
            resolve(base, p);
        }
        if let Some(n) = &mut self.notify {
            for p in n
                .password_file
                .iter_mut()
                .chain(n.ca_file.iter_mut())
                .chain(n.webhooks.values_mut().filter_map(|w| w.url_file.as_mut()))
            {
                resolve(base, p);
            }
        }
        for p in self
            .nmbrs
            .client_secret_file
            .iter_mut()
            .chain(self.nmbrs.subscription_key_file.iter_mut())
            .chain(self.sync.rules.iter_mut())
            .chain(self.sync.state.iter_mut())
            .chain(self.sync.persons_out.iter_mut())
            .chain(self.sync.plan_out.iter_mut())
            .chain(self.sync.reconcile_out.iter_mut())
        {
            resolve(base, p);
        }
    }

    fn validate(&self, file: String) -> Result<(), ConfigError> {
        let bad = |message: String, help: &str| ConfigError {
            file: file.clone(),
            message,
            help: help.into(),
        };
        if !(1..=100).contains(&self.nmbrs.page_size) {
            return Err(bad(
                format!("nmbrs.page_size = {} is out of range", self.nmbrs.page_size),
                "Nmbrs allows 1 to 100 records a page; 100 means the fewest calls",
            ));
        }
        if self.nmbrs.concurrency == 0 || self.nmbrs.max_attempts == 0 {
            return Err(bad(
                "nmbrs.concurrency and nmbrs.max_attempts must be at least 1".into(),
                "the defaults are 4 and 6",
            ));
        }
        if !(0.0..=100.0).contains(&self.store.max_gone_percent) {
            return Err(bad(
                format!(
                    "store.max_gone_percent = {} is not a percentage",
                    self.store.max_gone_percent
                ),
                "use a number from 0 to 100; the default is 10",
            ));
        }
        for (key, url) in [
            ("nmbrs.base_url", &self.nmbrs.base_url),
            ("nmbrs.identity_url", &self.nmbrs.identity_url),
        ] {
            if reqwest::Url::parse(url).is_err() {
                return Err(bad(
                    format!("{key} = {url:?} is not a URL"),
                    "write it as https://host",
                ));
            }
        }
        Ok(())
    }

    /// The OAuth client (needs the client id and secret).
    pub fn oauth(&self) -> Result<OAuthClient, ConfigError> {
        self.oauth_with_env(&|k| std::env::var(k).ok())
    }

    /// [`Config::oauth`] with another environment.
    pub fn oauth_with_env(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<OAuthClient, ConfigError> {
        if self.nmbrs.client_id.trim().is_empty() {
            return Err(ConfigError {
                file: "stroom.toml".into(),
                message: "nmbrs.client_id is not set".into(),
                help: "copy the client id of the app registration (see the book, Connecting to Nmbrs), or set STROOM_NMBRS_CLIENT_ID".into(),
            });
        }
        Ok(OAuthClient {
            identity_url: self.nmbrs.identity_url.clone(),
            client_id: self.nmbrs.client_id.clone(),
            client_secret: secrets::secret(
                "STROOM_NMBRS_CLIENT_SECRET",
                &self.nmbrs.client_secret_file,
                "nmbrs.client_secret",
                env,
            )?,
            redirect_uri: self.nmbrs.redirect_uri.clone(),
            scopes: self.nmbrs.scopes.clone(),
        })
    }

    /// The API client settings (needs the subscription key).
    pub fn client_settings(&self) -> Result<ClientSettings, ConfigError> {
        self.client_settings_with_env(&|k| std::env::var(k).ok())
    }

    /// [`Config::client_settings`] with another environment.
    pub fn client_settings_with_env(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ClientSettings, ConfigError> {
        Ok(ClientSettings {
            base_url: self.nmbrs.base_url.clone(),
            subscription_key: secrets::secret(
                "STROOM_NMBRS_SUBSCRIPTION_KEY",
                &self.nmbrs.subscription_key_file,
                "nmbrs.subscription_key",
                env,
            )?,
            concurrency: self.nmbrs.concurrency,
            page_size: self.nmbrs.page_size,
            timeout: Duration::from_secs(self.nmbrs.timeout_seconds.max(1)),
            max_attempts: self.nmbrs.max_attempts,
            backoff_base: Duration::from_millis(self.nmbrs.backoff_base_ms),
            backoff_max: Duration::from_millis(self.nmbrs.backoff_max_ms),
            max_pages: self.nmbrs.max_pages.max(1),
            deadline: Duration::from_secs(self.nmbrs.import_deadline_minutes.max(1) * 60),
        })
    }

    /// The token store.
    pub fn token_store(&self) -> TokenStore {
        TokenStore::new(self.nmbrs.token_store.clone())
    }

    /// Which companies to read.
    pub fn selection(&self) -> Selection {
        Selection {
            debtors: self.nmbrs.debtors.clone(),
            companies: self.nmbrs.companies.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "S3cr3t-Value-9f";

    fn load_text(text: &str) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("stroom.toml");
        std::fs::write(&path, text).expect("write");
        Config::load_with_env(Some(&path), &|_| None)
    }

    #[test]
    fn syntax_errors_never_show_a_value() {
        let cases = [
            format!("[nmbrs]\nclient_secret = \"{SECRET}\n"),
            format!("[nmbrs]\nclient_secrt = \"{SECRET}\"\n"),
            format!("[nmbrs]\nclient_id = \"a\"\nclient_id = \"{SECRET}\"\n"),
            format!("[nmbrs]\nclient_id = {SECRET}\n"),
            format!("[nmbrs]\n{SECRET}\n"),
            format!("[targets.entra]\nclient_secret = '{SECRET}'\n"),
            format!("[targets.ad]\nbind_password = \"\"\"{SECRET}\"\"\"\n"),
            format!("[nmbrs]\nclient_id = [\"{SECRET}\"]\n"),
            format!("[nmbrs]\nconcurrency = \"{SECRET}\"\n"),
            format!("[targets.entra]\ncorrelation_property = \"{SECRET}\"\n"),
            format!("[nmbrs]\nclient_id = \"{SECRET}\" x\n"),
            format!("[notify]\nsmtp = \"x\"\npassword = \"{SECRET}\"\n"),
            format!("[notify.webhooks.desk]\nurl = \"https://hooks/{SECRET}\"\n"),
        ];
        for text in cases {
            let e = load_text(&text).expect_err(&text);
            // The file's random temporary name may hold any two letters: left out.
            let shown = format!("{e} {e:?}").replace(&e.file, "FILE");
            assert!(
                !shown.contains(SECRET),
                "{text:?} showed the value: {shown}"
            );
            assert!(
                !shown.contains("9f"),
                "{text:?} showed part of the value: {shown}"
            );
            assert!(shown.contains("line "), "{text:?} names no line: {shown}");
        }
    }

    #[test]
    fn a_scim_section_takes_a_token_or_oauth_client_credentials() {
        let bearer = load_text(
            "[targets.portal]\nkind = \"scim\"\nbase_url = \"https://portal.example/scim/v2\"\n",
        )
        .unwrap();
        let e = bearer.targets_with_env(&|_| None).err().expect("no token");
        assert!(e.help.contains("STROOM_PORTAL_TOKEN"), "{e}");
        assert!(bearer
            .targets_with_env(&|k| (k == "STROOM_PORTAL_TOKEN").then(|| "t".to_string()))
            .is_ok());
        let oauth = load_text(
            "[targets.portal]\nkind = \"scim\"\nbase_url = \"https://portal.example/scim/v2\"\n\
             token_url = \"https://login.example/token\"\nclient_id = \"stroom\"\n",
        )
        .unwrap();
        let e = oauth
            .targets_with_env(&|k| (k == "STROOM_PORTAL_TOKEN").then(|| "t".to_string()))
            .err()
            .expect("no client secret");
        assert!(e.help.contains("STROOM_PORTAL_CLIENT_SECRET"), "{e}");
        assert!(oauth
            .targets_with_env(&|k| (k == "STROOM_PORTAL_CLIENT_SECRET").then(|| "s".to_string()))
            .is_ok());
        // A token written into the file is refused without its value.
        let e = load_text(&format!(
            "[targets.portal]\nkind = \"scim\"\nbase_url = \"https://p\"\ntoken = \"{SECRET}\"\n"
        ))
        .expect_err("token in the file");
        assert!(!format!("{e} {e:?}").contains(SECRET), "{e}");
        assert!(e.help.contains("token_file"), "{e}");
    }

    #[test]
    fn notify_sections_are_checked_when_read() {
        let notifier = |text: &str, env: &dyn Fn(&str) -> Option<String>| {
            load_text(text).and_then(|c| c.notifier_with_env(env).map(|n| n.is_some()))
        };
        let none = |_: &str| None;
        assert_eq!(notifier("", &none).ok(), Some(false));
        // A placeholder the event does not have, with the ones it has.
        let e = notifier(
            "[notify]\nsmtp = \"localhost\"\nfrom = \"a@b.nl\"\n[notify.templates.disable]\nsubject = \"x\"\nbody = \"{credential}\"\n",
            &none,
        )
        .expect_err("placeholder");
        assert!(e.message.contains("{credential}"), "{e}");
        assert!(e.help.contains("{name}"), "{e}");
        // Half a mail server; a username without its password.
        assert!(notifier("[notify]\nsmtp = \"localhost\"\n", &none).is_err());
        let e = notifier(
            "[notify]\nsmtp = \"localhost\"\nfrom = \"a@b.nl\"\nusername = \"u\"\n",
            &none,
        )
        .expect_err("no password");
        assert!(e.help.contains("STROOM_SMTP_PASSWORD"), "{e}");
        // A webhook's URL from its variable; plain http only to loopback, never shown.
        let hook = "[notify.webhooks.desk]\n";
        let e = notifier(hook, &|k| {
            (k == "STROOM_WEBHOOK_DESK").then(|| format!("http://hooks.example/{SECRET}"))
        })
        .expect_err("http");
        assert!(!format!("{e} {e:?}").contains(SECRET), "{e}");
        assert_eq!(
            notifier(hook, &|k| (k == "STROOM_WEBHOOK_DESK")
                .then(|| "https://hooks.example/x".to_string()))
            .ok(),
            Some(true)
        );
    }

    #[test]
    fn syntax_errors_name_line_and_key() {
        let e = load_text("[nmbrs]\nclient_id = \"a\"\nclient_secrt = \"x\"\n").expect_err("typo");
        assert!(
            e.message.contains("line 3, key `client_secrt`"),
            "{}",
            e.message
        );
        assert!(e.message.contains("unknown field"), "{}", e.message);
        let e = load_text("[nmbrs]\nclient_id = \"a\"\nclient_id = \"b\"\n").expect_err("dup");
        assert!(e.message.contains("line 3"), "{}", e.message);
        assert!(e.message.contains("duplicate key"), "{}", e.message);
    }

    #[test]
    fn target_sections_take_their_kind_from_the_key_or_the_built_in_name() {
        let ad = "url = \"ldaps://dc:636\"\nbind_dn = \"svc\"\nusers_dn = \"OU=U\"\n";
        let config = load_text(&format!(
            "[targets.ad]\n{ad}[targets.ad_emea]\nkind = \"ad\"\n{ad}\
             [targets.entra]\ntenant_id = \"t\"\nclient_id = \"c\"\n\
             [targets.exchange]\norganization = \"o.onmicrosoft.com\"\n"
        ))
        .expect("valid");
        let decls: Vec<(String, &str)> = config
            .target_decls()
            .iter()
            .map(|d| (d.name.to_string(), d.kind.as_str()))
            .collect();
        assert!(decls.contains(&("ad_emea".into(), "ad")), "{decls:?}");
        let names: Vec<(&str, String)> = config
            .targets
            .iter()
            .map(|s| (s.name.as_str(), s.secret_variable()))
            .collect();
        assert_eq!(
            names,
            [
                ("ad", "STROOM_AD_PASSWORD".to_string()),
                ("ad_emea", "STROOM_AD_EMEA_PASSWORD".to_string()),
                ("entra", "STROOM_ENTRA_CLIENT_SECRET".to_string()),
                ("exchange", "STROOM_EXCHANGE_CLIENT_SECRET".to_string()),
            ]
        );
        // Each built target carries its section's name; Exchange signs in as Entra.
        let env = |k: &str| k.ends_with("PASSWORD") || k == "STROOM_ENTRA_CLIENT_SECRET";
        let targets = config
            .targets_with_env(&|k| env(k).then(|| "x".to_string()))
            .expect("built");
        for (name, target) in &targets {
            assert_eq!(target.name(), name);
        }
        assert_eq!(targets.len(), 4);
    }

    #[test]
    fn a_bad_target_section_names_its_line_and_the_fix() {
        let ad = "url = \"ldaps://dc:636\"\nbind_dn = \"svc\"\nusers_dn = \"OU=U\"\n";
        let cases: [(String, &str, &str); 7] = [
            (
                format!("[targets.ad_emea]\n{ad}"),
                "line 1",
                "kind = \"ad\"",
            ),
            (
                format!("[nmbrs]\n[targets.two]\nkind = \"add\"\n{ad}"),
                "line 3, key `kind`",
                "did you mean `kind = \"ad\"`?",
            ),
            (
                format!("[targets.entra]\nkind = \"ad\"\n{ad}"),
                "line 2, key `kind`",
                "another name",
            ),
            (
                format!("[targets.x]\nkind = \"ad\"\n{ad}bind_pasword_file = \"p\"\n"),
                "line 6, key `bind_pasword_file`",
                "chapter Targets and apply",
            ),
            (
                format!("[targets.ad_emea]\nkind = \"ad\"\n{ad}bind_password = \"{SECRET}\"\n"),
                "line 6, key `bind_password`",
                "STROOM_AD_EMEA_PASSWORD",
            ),
            (
                format!("[targets.rule]\nkind = \"ad\"\n{ad}"),
                "line 1",
                "not a keyword",
            ),
            (
                "[targets.hr]\nkind = \"nmbrs\"\n".into(),
                "line 2, key `kind`",
                "under [nmbrs]",
            ),
        ];
        for (text, place, help) in cases {
            let e = load_text(&text).expect_err(&text);
            assert!(e.message.contains(place), "{text}: {e}");
            assert!(e.help.contains(help), "{text}: {e}");
            assert!(!format!("{e}").contains(SECRET), "{text}: {e}");
        }
    }

    #[test]
    fn an_exchange_target_works_on_the_users_of_the_entra_target_it_signs_in_as() {
        let entra = "tenant_id = \"t\"\nclient_id = \"c\"\n";
        let config = load_text(&format!(
            "[targets.entra]\n{entra}[targets.entra_test]\nkind = \"entra\"\n{entra}\
             [targets.exchange_test]\nkind = \"exchange\"\norganization = \"o\"\nentra = \"entra_test\"\n"
        ))
        .expect("valid");
        let rules = r#"
            rule "accounts" {
              account in entra { set mail = "a@x.nl" }
              account in entra_test { set mail = "b@x.nl" }
            }
            when true grant mailbox "UserMailbox" in exchange_test
            when true grant mailbox "UserMailbox" in exchange
        "#;
        let checked = crate::rules::check::check_for(
            crate::rules::load::parse_sources(&[("r.stroom", rules)]),
            &config.target_decls(),
        );
        let program = checked.program.expect("checks");
        let id = |n: &str| program.target_id(n).expect(n);
        assert_eq!(
            program.account_target(id("exchange_test")),
            Some(id("entra_test"))
        );
        // Without a configured host, the first Entra target with accounts.
        assert_eq!(program.account_target(id("exchange")), Some(id("entra")));
    }

    #[test]
    fn a_byte_order_mark_is_accepted() {
        load_text("\u{feff}[nmbrs]\nclient_id = \"a\"\n").expect("BOM accepted");
    }
}
