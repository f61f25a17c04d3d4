//! `stroom.toml`: where Nmbrs is, which companies to read, where snapshots live, and
//! the sync defaults. Environment variables override the file (see [`ENV`]); secrets
//! come only from the environment or from files named here, never from the TOML text.

use crate::secret::Secret;
use crate::source::nmbrs::auth::{OAuthClient, TokenStore};
use crate::source::nmbrs::client::ClientSettings;
use crate::source::nmbrs::Selection;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The environment variables that override `stroom.toml`: (variable, key).
pub const ENV: &[(&str, &str)] = &[
    ("STROOM_NMBRS_BASE_URL", "nmbrs.base_url"),
    ("STROOM_NMBRS_IDENTITY_URL", "nmbrs.identity_url"),
    ("STROOM_NMBRS_CLIENT_ID", "nmbrs.client_id"),
    (
        "STROOM_NMBRS_CLIENT_SECRET",
        "the client secret itself (instead of nmbrs.client_secret_file)",
    ),
    (
        "STROOM_NMBRS_SUBSCRIPTION_KEY",
        "the subscription key itself (instead of nmbrs.subscription_key_file)",
    ),
    ("STROOM_NMBRS_TOKEN_STORE", "nmbrs.token_store"),
    ("STROOM_DATABASE", "store.database"),
];

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
    /// `[targets.ad]` and the other targets.
    pub targets: TargetsConfig,
}

/// `[plan]`: the guard against mass removal where the rules set no threshold.
#[derive(Debug, Clone, Deserialize)]
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
#[derive(Debug, Clone, Deserialize)]
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

/// `[targets]`
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TargetsConfig {
    /// `[targets.ad]`
    pub ad: Option<AdConfig>,
    /// `[targets.entra]`
    pub entra: Option<EntraConfig>,
    /// `[targets.exchange]`
    pub exchange: Option<ExchangeConfig>,
}

/// `[targets.entra]`: Entra ID over Microsoft Graph.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntraConfig {
    /// The directory (tenant) id.
    pub tenant_id: String,
    /// The app registration's client id.
    pub client_id: String,
    /// File holding its client secret (or STROOM_ENTRA_CLIENT_SECRET).
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// The sign-in authority.
    #[serde(default = "default_authority")]
    pub authority: String,
    /// The Graph base URL.
    #[serde(default = "default_graph_url")]
    pub graph_url: String,
    /// The token scope (another only for national clouds).
    #[serde(default = "default_graph_scope")]
    pub scope: String,
    /// The user property holding the person id.
    #[serde(default = "default_entra_correlation")]
    pub correlation_property: String,
    /// Revoke sign-in sessions on disable.
    #[serde(default = "yes")]
    pub revoke_sessions_on_disable: bool,
    /// Time limit of one call.
    #[serde(default = "default_cloud_timeout")]
    pub timeout_seconds: u64,
    /// Attempts per call on 429, 5xx and broken connections.
    #[serde(default = "default_cloud_attempts")]
    pub max_attempts: u32,
}

/// `[targets.exchange]`: Exchange Online over the admin API.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExchangeConfig {
    /// The tenant's primary domain, e.g. `contoso.onmicrosoft.com`.
    pub organization: String,
    /// The tenant id (default: `[targets.entra]`'s).
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// The app's client id (default: `[targets.entra]`'s).
    #[serde(default)]
    pub client_id: Option<String>,
    /// File holding its secret (or STROOM_EXCHANGE_CLIENT_SECRET; default: Entra's).
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// The sign-in authority (default: `[targets.entra]`'s).
    #[serde(default)]
    pub authority: Option<String>,
    /// The Exchange Online base URL.
    #[serde(default = "default_exchange_url")]
    pub exchange_url: String,
    /// The token scope (another only for national clouds).
    #[serde(default = "default_exchange_scope")]
    pub scope: String,
    /// The custom attribute holding the person id.
    #[serde(default = "default_exchange_correlation")]
    pub correlation_attribute: String,
    /// Time limit of one call.
    #[serde(default = "default_cloud_timeout")]
    pub timeout_seconds: u64,
    /// Attempts per call on 429, 5xx and broken connections.
    #[serde(default = "default_cloud_attempts")]
    pub max_attempts: u32,
}

fn default_authority() -> String {
    "https://login.microsoftonline.com".into()
}

fn default_graph_url() -> String {
    "https://graph.microsoft.com".into()
}

fn default_exchange_url() -> String {
    "https://outlook.office365.com".into()
}

fn default_graph_scope() -> String {
    "https://graph.microsoft.com/.default".into()
}

fn default_exchange_scope() -> String {
    "https://outlook.office365.com/.default".into()
}

fn default_entra_correlation() -> String {
    crate::targets::entra::DEFAULT_CORRELATION.into()
}

fn default_exchange_correlation() -> String {
    "CustomAttribute1".into()
}

fn yes() -> bool {
    true
}

fn default_cloud_timeout() -> u64 {
    60
}

fn default_cloud_attempts() -> u32 {
    6
}

/// `[targets.ad]`: Active Directory.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdConfig {
    /// `ldaps://dc.acme.nl:636` (or `ldap://...` with `starttls = true`).
    pub url: String,
    /// Upgrade `ldap://` with StartTLS.
    #[serde(default)]
    pub starttls: bool,
    /// Accept an unverifiable certificate (test directories only).
    #[serde(default)]
    pub accept_invalid_certificates: bool,
    /// The service account.
    pub bind_dn: String,
    /// File holding its password (or STROOM_AD_PASSWORD).
    #[serde(default)]
    pub bind_password_file: Option<PathBuf>,
    /// Where accounts live.
    pub users_dn: String,
    /// Where groups are found (default: `users_dn`).
    #[serde(default)]
    pub groups_dn: Option<String>,
    /// Disabled accounts are moved here.
    #[serde(default)]
    pub disabled_dn: Option<String>,
    /// Attribute holding the person id.
    #[serde(default = "default_correlation")]
    pub correlation_attribute: String,
    /// Time limit of one operation.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
}

/// `employeeNumber` (up to 512 characters) holds the Stroom person id, which for Nmbrs
/// is a 36-character GUID: `employeeID` allows only 16 in AD's schema, so it stays free
/// for the rules (e.g. the Nmbrs employee number).
fn default_correlation() -> String {
    "employeeNumber".into()
}

fn default_timeout() -> u64 {
    30
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

/// The keys that would hold a secret if they were allowed.
const SECRET_KEYS: [&str; 4] = [
    "client_secret",
    "subscription_key",
    "bind_password",
    "password",
];

fn secret_key(e: &toml::de::Error) -> Option<&'static str> {
    SECRET_KEYS
        .into_iter()
        .find(|k| e.message().contains(&format!("unknown field `{k}`")))
}

/// The parse error for people: the line and key, and what is wrong, but never a value
/// from the file (a TOML error shows the offending line, which may hold a secret).
fn parse_message(text: &str, e: &toml::de::Error) -> String {
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
fn redact_values(message: &str) -> String {
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
fn parse_help(text: &str, e: &toml::de::Error) -> String {
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
        (Some(_), "targets.ad") => "secrets never go in stroom.toml: use bind_password_file, \
                                    or STROOM_AD_PASSWORD"
            .into(),
        (Some(_), "targets.entra") => "secrets never go in stroom.toml: use \
                                       client_secret_file, or STROOM_ENTRA_CLIENT_SECRET"
            .into(),
        (Some(_), "targets.exchange") => "secrets never go in stroom.toml: use \
                                          client_secret_file, or STROOM_EXCHANGE_CLIENT_SECRET \
                                          (without either, Exchange uses Entra's)"
            .into(),
        (Some(_), _) => "secrets never go in stroom.toml: name a file with the *_file key, \
                         or use the STROOM_* variable (see the book)"
            .into(),
        (None, s) if s.starts_with("targets") || s == "apply" => {
            "the keys are listed in the book, chapter Targets and apply".into()
        }
        (None, "sync" | "store") => "the keys are listed in the book, chapter Sync".into(),
        (None, _) => "the keys are listed in the book, chapter Connecting to Nmbrs".into(),
    }
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
                    message: parse_message(&text, &e),
                    help: parse_help(&text, &e),
                })?;
                let base = file.parent().unwrap_or(Path::new(".")).to_path_buf();
                config.resolve_paths(&base);
                config
            }
        };
        if let Some(v) = env("STROOM_NMBRS_BASE_URL") {
            config.nmbrs.base_url = v;
        }
        if let Some(v) = env("STROOM_NMBRS_IDENTITY_URL") {
            config.nmbrs.identity_url = v;
        }
        if let Some(v) = env("STROOM_NMBRS_CLIENT_ID") {
            config.nmbrs.client_id = v;
        }
        if let Some(v) = env("STROOM_NMBRS_TOKEN_STORE") {
            config.nmbrs.token_store = PathBuf::from(v);
        }
        if let Some(v) = env("STROOM_DATABASE") {
            config.store.database = PathBuf::from(v);
        }
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
        for p in self
            .nmbrs
            .client_secret_file
            .iter_mut()
            .chain(self.nmbrs.subscription_key_file.iter_mut())
            .chain(self.sync.rules.iter_mut())
            .chain(self.sync.state.iter_mut())
            .chain(self.sync.persons_out.iter_mut())
            .chain(self.sync.plan_out.iter_mut())
            .chain(
                self.targets
                    .ad
                    .iter_mut()
                    .filter_map(|ad| ad.bind_password_file.as_mut()),
            )
            .chain(
                self.targets
                    .entra
                    .iter_mut()
                    .filter_map(|e| e.client_secret_file.as_mut()),
            )
            .chain(
                self.targets
                    .exchange
                    .iter_mut()
                    .filter_map(|e| e.client_secret_file.as_mut()),
            )
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

    fn secret(
        &self,
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
            client_secret: self.secret(
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
            subscription_key: self.secret(
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

    /// The configured targets, by name.
    pub fn targets(
        &self,
    ) -> Result<
        std::collections::HashMap<String, std::sync::Arc<dyn crate::targets::Target>>,
        ConfigError,
    > {
        self.targets_with_env(&|k| std::env::var(k).ok())
    }

    /// [`Config::targets`] with another environment.
    pub fn targets_with_env(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<
        std::collections::HashMap<String, std::sync::Arc<dyn crate::targets::Target>>,
        ConfigError,
    > {
        let mut out: std::collections::HashMap<String, std::sync::Arc<dyn crate::targets::Target>> =
            std::collections::HashMap::new();
        if let Some(ad) = &self.targets.ad {
            let settings = crate::targets::ad::AdSettings {
                name: "ad".into(),
                url: ad.url.clone(),
                starttls: ad.starttls,
                accept_invalid_certificates: ad.accept_invalid_certificates,
                bind_dn: ad.bind_dn.clone(),
                bind_password: self.secret(
                    "STROOM_AD_PASSWORD",
                    &ad.bind_password_file,
                    "targets.ad.bind_password",
                    env,
                )?,
                users_dn: ad.users_dn.clone(),
                groups_dn: ad.groups_dn.clone().unwrap_or_else(|| ad.users_dn.clone()),
                disabled_dn: ad.disabled_dn.clone(),
                correlation_attribute: ad.correlation_attribute.clone(),
                timeout: Duration::from_secs(ad.timeout_seconds.max(1)),
            };
            let target =
                crate::targets::ad::ActiveDirectory::new(settings).map_err(|e| ConfigError {
                    file: "stroom.toml".into(),
                    message: format!("targets.ad: {e}"),
                    help: "use an ldaps:// URL, or starttls = true".into(),
                })?;
            out.insert("ad".into(), std::sync::Arc::new(target));
        }
        let unusable = |key: &str, e: crate::targets::TargetError| ConfigError {
            file: "stroom.toml".into(),
            message: format!("targets.{key}: {}", e.message.lines().next().unwrap_or("")),
            help: e
                .message
                .lines()
                .find_map(|l| l.trim().strip_prefix("help: "))
                .unwrap_or("see the book, chapter Targets and apply")
                .into(),
        };
        let entra_secret = |env: &dyn Fn(&str) -> Option<String>| match &self.targets.entra {
            Some(e) => self.secret(
                "STROOM_ENTRA_CLIENT_SECRET",
                &e.client_secret_file,
                "targets.entra.client_secret",
                env,
            ),
            None => Err(ConfigError {
                file: "stroom.toml".into(),
                message: "no targets.exchange.client_secret given".into(),
                help: "set STROOM_EXCHANGE_CLIENT_SECRET, or name a file with \
                       targets.exchange.client_secret_file"
                    .into(),
            }),
        };
        if let Some(e) = &self.targets.entra {
            let mut api = crate::targets::microsoft::MicrosoftSettings::new(
                &e.authority,
                &e.tenant_id,
                &e.client_id,
                entra_secret(env)?,
                &e.graph_url,
                &e.scope,
            );
            api.timeout = Duration::from_secs(e.timeout_seconds.max(1));
            api.max_attempts = e.max_attempts.max(1);
            let settings = crate::targets::entra::EntraSettings {
                name: "entra".into(),
                api,
                correlation_property: e.correlation_property.clone(),
                settle_attempts: 6,
                settle_delay: Duration::from_millis(500),
                revoke_sessions_on_disable: e.revoke_sessions_on_disable,
            };
            let target =
                crate::targets::entra::EntraId::new(settings).map_err(|x| unusable("entra", x))?;
            out.insert("entra".into(), std::sync::Arc::new(target));
        }
        if let Some(x) = &self.targets.exchange {
            let entra = self.targets.entra.as_ref();
            let pick = |own: &Option<String>, from_entra: Option<&String>, key: &str| {
                own.clone()
                    .or(from_entra.cloned())
                    .ok_or_else(|| ConfigError {
                        file: "stroom.toml".into(),
                        message: format!("targets.exchange.{key} is not set"),
                        help: format!(
                            "set it, or configure [targets.entra] whose {key} it then uses"
                        ),
                    })
            };
            let tenant = pick(&x.tenant_id, entra.map(|e| &e.tenant_id), "tenant_id")?;
            let client = pick(&x.client_id, entra.map(|e| &e.client_id), "client_id")?;
            let authority = x
                .authority
                .clone()
                .or(entra.map(|e| e.authority.clone()))
                .unwrap_or_else(default_authority);
            let own = env("STROOM_EXCHANGE_CLIENT_SECRET").filter(|v| !v.trim().is_empty());
            let secret = match (&own, &x.client_secret_file) {
                (None, None) => entra_secret(env)?,
                _ => self.secret(
                    "STROOM_EXCHANGE_CLIENT_SECRET",
                    &x.client_secret_file,
                    "targets.exchange.client_secret",
                    env,
                )?,
            };
            let mut api = crate::targets::microsoft::MicrosoftSettings::new(
                &authority,
                &tenant,
                &client,
                secret,
                &x.exchange_url,
                &x.scope,
            );
            api.timeout = Duration::from_secs(x.timeout_seconds.max(1));
            api.max_attempts = x.max_attempts.max(1);
            let settings = crate::targets::exchange::ExchangeSettings {
                name: "exchange".into(),
                api,
                organization: x.organization.clone(),
                correlation_attribute: x.correlation_attribute.clone(),
            };
            let target = crate::targets::exchange::ExchangeOnline::new(settings)
                .map_err(|e| unusable("exchange", e))?;
            out.insert("exchange".into(), std::sync::Arc::new(target));
        }
        Ok(out)
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
        ];
        for text in cases {
            let e = load_text(&text).expect_err(&text);
            let shown = format!("{e} {e:?}");
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
    fn a_byte_order_mark_is_accepted() {
        load_text("\u{feff}[nmbrs]\nclient_id = \"a\"\n").expect("BOM accepted");
    }
}
