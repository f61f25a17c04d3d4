//! `[targets.NAME]`: the target instances `stroom.toml` configures, and the registry:
//! the one place that knows, per target kind, which section type configures it, where
//! its secret comes from and how it is built. What a kind *takes* (entitlement kinds,
//! accounts, attributes) is the core's [`TargetKind`]; how it talks to its system is its
//! module under [`crate::targets`].
//!
//! A section's kind is its `kind` key, or its name when that is a built-in one
//! (`[targets.ad]` is an `ad` target named `ad`, as before instances existed). Two AD
//! domains are two sections: `[targets.ad]` and `[targets.ad_emea]` with `kind = "ad"`.

use super::secrets::{redact_values, secret, SECRET_KEYS};
use super::ConfigError;
use crate::rules::program::{TargetDecl, TargetKind};
use crate::targets::{ad, entra, exchange, scim, Target, TargetError};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The kinds a `[targets.NAME]` section can have.
const CONFIGURABLE: [TargetKind; 4] = [
    TargetKind::ActiveDirectory,
    TargetKind::Entra,
    TargetKind::Exchange,
    TargetKind::Scim,
];

/// One `[targets.NAME]` section, its kind settled and its keys checked.
#[derive(Debug, Clone)]
pub struct TargetSection {
    /// The target's name in rules and plans (`in ad_emea`).
    pub name: String,
    /// The section's keys, by kind.
    pub keys: SectionKeys,
    /// `[targets.NAME.reconcile]`: what reconciliation does with drift and orphans here.
    pub reconcile: crate::reconcile::TargetPolicy,
}

/// The keys of a section, typed by its kind.
#[derive(Debug, Clone)]
pub enum SectionKeys {
    /// `kind = "ad"`.
    Ad(ad::AdConfig),
    /// `kind = "entra"`.
    Entra(entra::EntraConfig),
    /// `kind = "exchange"`.
    Exchange(exchange::ExchangeConfig),
    /// `kind = "scim"`.
    Scim(scim::ScimConfig),
}

impl TargetSection {
    /// The target's kind.
    pub fn kind(&self) -> TargetKind {
        match self.keys {
            SectionKeys::Ad(_) => TargetKind::ActiveDirectory,
            SectionKeys::Entra(_) => TargetKind::Entra,
            SectionKeys::Exchange(_) => TargetKind::Exchange,
            SectionKeys::Scim(_) => TargetKind::Scim,
        }
    }

    /// The section as a table header: `[targets.ad_emea]`.
    pub fn header(&self) -> String {
        format!("[targets.{}]", self.name)
    }

    /// The environment variable holding this target's secret: `STROOM_AD_PASSWORD` for
    /// `[targets.ad]`, `STROOM_AD_EMEA_PASSWORD` for `[targets.ad_emea]`.
    pub fn secret_variable(&self) -> String {
        match &self.keys {
            // With OAuth 2.0 client credentials the secret is the client's.
            SectionKeys::Scim(c) if c.token_url.is_some() => format!(
                "STROOM_{}_CLIENT_SECRET",
                self.name.to_ascii_uppercase().replace('-', "_")
            ),
            _ => secret_variable(&self.name, self.kind()),
        }
    }

    /// Reads the section from its table (without `kind`).
    fn read(name: &str, kind: TargetKind, table: toml::Table) -> Result<Self, toml::de::Error> {
        let value = toml::Value::Table(table);
        let keys = match kind {
            TargetKind::ActiveDirectory => SectionKeys::Ad(value.try_into()?),
            TargetKind::Entra => SectionKeys::Entra(value.try_into()?),
            TargetKind::Scim => SectionKeys::Scim(value.try_into()?),
            _ => SectionKeys::Exchange(value.try_into()?),
        };
        Ok(Self {
            name: name.into(),
            keys,
            reconcile: Default::default(),
        })
    }

    /// Takes relative secret files from the config file's folder.
    fn resolve(&mut self, base: &Path) {
        let file = match &mut self.keys {
            SectionKeys::Ad(c) => c.bind_password_file.as_mut(),
            SectionKeys::Entra(c) => c.client_secret_file.as_mut(),
            SectionKeys::Exchange(c) => c.client_secret_file.as_mut(),
            SectionKeys::Scim(c) if c.token_url.is_some() => c.client_secret_file.as_mut(),
            SectionKeys::Scim(c) => c.token_file.as_mut(),
        };
        if let Some(p) = file {
            super::resolve(base, p);
        }
    }

    /// The secret file key of this kind and the secret's name.
    fn secret_keys(&self) -> (&'static str, &Option<PathBuf>) {
        let file = match &self.keys {
            SectionKeys::Ad(c) => &c.bind_password_file,
            SectionKeys::Entra(c) => &c.client_secret_file,
            SectionKeys::Exchange(c) => &c.client_secret_file,
            SectionKeys::Scim(c) if c.token_url.is_some() => {
                return ("client_secret", &c.client_secret_file)
            }
            SectionKeys::Scim(c) => &c.token_file,
        };
        (kind_secret_key(self.kind()), file)
    }
}

/// `STROOM_<NAME>_<SECRET>`: the name in capitals, `-` as `_`.
fn secret_variable(name: &str, kind: TargetKind) -> String {
    let suffix = match kind {
        TargetKind::ActiveDirectory => "PASSWORD",
        TargetKind::Scim => "TOKEN",
        _ => "CLIENT_SECRET",
    };
    format!(
        "STROOM_{}_{suffix}",
        name.to_ascii_uppercase().replace('-', "_")
    )
}

/// Reads every `[targets.NAME]` section of `text` (the whole file, for line numbers).
pub(super) fn read_sections(
    text: &str,
    tables: &std::collections::BTreeMap<String, toml::Spanned<toml::Table>>,
    base: &Path,
    file: &str,
) -> Result<Vec<TargetSection>, ConfigError> {
    let mut out = Vec::new();
    for (name, spanned) in tables {
        let at = |key: Option<&str>| place(text, spanned.span(), key);
        let bad = |message: String, help: String| ConfigError {
            file: file.into(),
            message,
            help,
        };
        let mut table = spanned.get_ref().clone();
        if !is_rule_name(name) {
            return Err(bad(
                format!("{}: `{name}` cannot be named in rules", at(None)),
                "a target's name is a word of letters, digits and `_` that is not a keyword, \
                 such as `ad_emea`"
                    .into(),
            ));
        }
        let kind = match table.remove("kind") {
            Some(toml::Value::String(k)) => match TargetKind::parse(&k) {
                Some(k) if CONFIGURABLE.contains(&k) => k,
                Some(TargetKind::Nmbrs) => {
                    return Err(bad(
                        format!("{}: the Nmbrs write-back is not a [targets] section", at(Some("kind"))),
                        "configure it under [nmbrs]; the rules name it `nmbrs`".into(),
                    ))
                }
                Some(other) => {
                    return Err(bad(
                        format!("{}: Stroom has no {other} connector yet", at(Some("kind"))),
                        format!(
                            "the rules can check and plan for it: declare it there with `target {name}`"
                        ),
                    ))
                }
                None => {
                    let names = CONFIGURABLE.map(TargetKind::as_str);
                    let help = match crate::suggest::did_you_mean(&k, names) {
                        Some(s) => format!("did you mean `kind = \"{s}\"`?"),
                        None => format!("the kinds are {}", names.join(", ")),
                    };
                    return Err(bad(
                        format!("{}: no such target kind (the value is not shown)", at(Some("kind"))),
                        help,
                    ));
                }
            },
            Some(_) => {
                return Err(bad(
                    format!("{}: `kind` is text", at(Some("kind"))),
                    "write it as kind = \"ad\" (or entra, exchange)".into(),
                ))
            }
            None => match TargetKind::parse(name).filter(|k| CONFIGURABLE.contains(k)) {
                Some(k) => k,
                None => {
                    return Err(bad(
                        format!("{}: [targets.{name}] has no `kind`", at(None)),
                        format!(
                            "say which kind of system it is: kind = \"ad\" (or {})",
                            CONFIGURABLE[1..].iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
                        ),
                    ))
                }
            },
        };
        // A built-in name keeps its meaning: `ad` is always an AD target.
        if let Some(builtin) = TargetKind::parse(name).filter(|b| *b != kind) {
            return Err(bad(
                format!(
                    "{}: `{name}` is the built-in name of the {builtin} target, not a {kind} one",
                    at(Some("kind"))
                ),
                format!("give this {kind} target another name, such as `{kind}_{name}`"),
            ));
        }
        let reconcile = match table.remove("reconcile") {
            None => Default::default(),
            Some(mut v) => {
                dates_as_text(&mut v);
                v.try_into().map_err(|e: toml::de::Error| {
                    bad(
                        format!(
                            "{}: [targets.{name}.reconcile]: {} (values are not shown)",
                            at(Some("reconcile")),
                            redact_values(e.message())
                        ),
                        "it takes drift = \"report\" or \"enforce\", orphans = the same, and exclude = \
                         [{ account = \"svc-backup\", until = 2027-06-30, reason = \"...\" }]"
                            .into(),
                    )
                })?
            }
        };
        let mut section = TargetSection::read(name, kind, table).map_err(|e| {
            let key = key_in_message(e.message());
            let secret = key.filter(|k| SECRET_KEYS.contains(k));
            match secret {
                Some(k) => bad(
                    format!(
                        "{}: `{k}` does not belong in stroom.toml (its value is not shown)",
                        at(Some(k))
                    ),
                    format!(
                        "secrets never go in stroom.toml: use {}_file, or {}",
                        kind_secret_key(kind),
                        secret_variable(name, kind)
                    ),
                ),
                None => bad(
                    format!(
                        "{}: {} (values are not shown)",
                        at(key),
                        redact_values(e.message())
                    ),
                    "the keys are listed in the book, chapter Targets and apply".into(),
                ),
            }
        })?;
        section.resolve(base);
        section.reconcile = reconcile;
        out.push(section);
    }
    Ok(out)
}

/// TOML dates (`until = 2027-06-30`) as the text serde's date types read.
fn dates_as_text(v: &mut toml::Value) {
    match v {
        toml::Value::Datetime(d) => *v = toml::Value::String(d.to_string()),
        toml::Value::Array(items) => items.iter_mut().for_each(dates_as_text),
        toml::Value::Table(t) => t.iter_mut().for_each(|(_, v)| dates_as_text(v)),
        _ => {}
    }
}

fn kind_secret_key(kind: TargetKind) -> &'static str {
    match kind {
        TargetKind::ActiveDirectory => "bind_password",
        TargetKind::Scim => "token",
        _ => "client_secret",
    }
}

/// The key a serde message is about: "unknown field `x`", "missing field `x`".
fn key_in_message(message: &str) -> Option<&str> {
    let rest = message.split_once("field `")?.1;
    rest.split('`').next()
}

/// "line N, key `k`" for a key in the section at `span` (its header's line when the
/// key is not written there, say a missing one).
fn place(text: &str, span: std::ops::Range<usize>, key: Option<&str>) -> String {
    let start = span.start.min(text.len());
    let end = span.end.clamp(start, text.len());
    let header_line = text[..start].matches('\n').count() + 1;
    let Some(key) = key else {
        return format!("line {header_line}");
    };
    let mut offset = start;
    for line in text[start..end].split_inclusive('\n') {
        let written = line
            .split_once('=')
            .map(|(k, _)| k.trim().trim_matches('"'));
        if written == Some(key) {
            return format!(
                "line {}, key `{key}`",
                text[..offset].matches('\n').count() + 1
            );
        }
        offset += line.len();
    }
    format!("line {header_line}, key `{key}`")
}

/// True when the rules can name a target called `name` (`in NAME`): the rules'
/// own parser decides, so the grammar's identifiers and keywords are not copied here.
fn is_rule_name(name: &str) -> bool {
    name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && crate::rules::load::parse_sources(&[("", &format!("default target {name}"))])
            .diagnostics
            .is_empty()
}

impl super::Config {
    /// The targets the rules may name under this configuration: the built-in ones and
    /// every `[targets.NAME]` section. Give it to [`crate::rules::check::check_for`].
    pub fn target_decls(&self) -> Vec<TargetDecl> {
        let mut out = TargetDecl::builtin();
        for s in &self.targets {
            let mut decl = TargetDecl::new(&s.name, s.kind());
            if let SectionKeys::Exchange(keys) = &s.keys {
                // The Entra target it signs in as is the one whose users it works on.
                decl.host = self
                    .entra_of(s, keys)
                    .ok()
                    .flatten()
                    .map(|(entra, _)| Arc::from(entra.name.as_str()));
            }
            match out.iter_mut().find(|t| t.name == decl.name) {
                Some(builtin) => *builtin = decl,
                None => out.push(decl),
            }
        }
        out
    }

    /// What reconciliation does per target (`[targets.NAME.reconcile]`).
    pub fn reconcile_policy(&self) -> crate::reconcile::ReconcilePolicy {
        crate::reconcile::ReconcilePolicy {
            targets: self
                .targets
                .iter()
                .map(|s| (s.name.clone(), s.reconcile.clone()))
                .collect(),
        }
    }

    /// The configured targets, built, by name.
    pub fn targets(&self) -> Result<HashMap<String, Arc<dyn Target>>, ConfigError> {
        self.targets_with_env(&|k| std::env::var(k).ok())
    }

    /// The configured target of this name, built; `None`: no `[targets.NAME]` section.
    pub fn target(&self, name: &str) -> Result<Option<Arc<dyn Target>>, ConfigError> {
        let env = |k: &str| std::env::var(k).ok();
        self.targets
            .iter()
            .find(|s| s.name == name)
            .map(|s| self.build(s, &env))
            .transpose()
    }

    /// [`Config::targets`](super::Config::targets) with another environment.
    pub fn targets_with_env(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<HashMap<String, Arc<dyn Target>>, ConfigError> {
        let mut out: HashMap<String, Arc<dyn Target>> = HashMap::new();
        for section in &self.targets {
            out.insert(section.name.clone(), self.build(section, env)?);
        }
        Ok(out)
    }

    /// The targets a plan needs: the configured ones and, when it writes back for
    /// some persons (`written_back`: their ids), the Nmbrs write-back, which signs in
    /// as `stroom nmbrs login` did and finds each person's company in `fresher`
    /// (persons read since, as by `stroom sync --person`) or the latest snapshot.
    pub fn plan_targets(
        &self,
        written_back: &[&str],
        env: &dyn Fn(&str) -> Option<String>,
        fresher: &[crate::model::Person],
    ) -> Result<HashMap<String, Arc<dyn Target>>, ConfigError> {
        let mut out = self.targets_with_env(env)?;
        if !written_back.is_empty() {
            out.insert(
                "nmbrs".into(),
                self.writeback_target(env, written_back, fresher)?,
            );
        }
        Ok(out)
    }

    /// The Nmbrs write-back target.
    fn writeback_target(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
        written_back: &[&str],
        fresher: &[crate::model::Person],
    ) -> Result<Arc<dyn Target>, ConfigError> {
        use crate::source::nmbrs::auth::Session;
        use crate::source::nmbrs::client::Client;
        let failed = |what: &str, e: &dyn std::fmt::Display, help: &str| ConfigError {
            file: self.store.database.display().to_string(),
            message: format!("the Nmbrs write-back: {what}: {e}"),
            help: help.into(),
        };
        let oauth = self.oauth_with_env(env)?;
        let settings = self.client_settings_with_env(env)?;
        let client = Client::new(settings, Session::new(oauth, self.token_store()))
            .map_err(|e| failed("no client", &e, "check [nmbrs] in stroom.toml"))?;
        let store = crate::source::snapshots::Store::open_existing(&self.store.database)
            .map_err(|e| failed("no snapshot store", &e, "run `stroom nmbrs import` first"))?;
        let no_snapshot = || ConfigError {
            file: self.store.database.display().to_string(),
            message: "the plan writes back to Nmbrs, but there is no snapshot yet".into(),
            help: "run `stroom nmbrs import` first".into(),
        };
        let latest = store
            .latest()
            .map_err(|e| failed("the snapshot store", &e, "run `stroom nmbrs import` again"))?
            .ok_or_else(no_snapshot)?;
        let company = |p: &crate::model::Person| {
            let company = p.extra.get("nmbrs_company_id")?.clone();
            Some((p.id.to_string(), company))
        };
        let fresh: std::collections::HashSet<&str> = fresher.iter().map(|p| &*p.id).collect();
        let stored: Vec<&str> = written_back
            .iter()
            .copied()
            .filter(|id| !fresh.contains(id))
            .collect();
        let companies = store
            .persons_by_id(latest.id, &stored)
            .map_err(|e| failed("the snapshot store", &e, "run `stroom nmbrs import` again"))?
            .iter()
            .chain(fresher)
            .filter_map(company)
            .collect();
        let target = crate::targets::nmbrs::NmbrsWriteback::new(client, companies)
            .map_err(|e| failed("unusable", &e, "check [nmbrs] in stroom.toml"))?;
        Ok(Arc::new(target))
    }

    /// The secret of a section: its variable, else its file.
    fn section_secret(
        &self,
        section: &TargetSection,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<crate::secret::Secret, ConfigError> {
        let (what, file) = section.secret_keys();
        secret(
            &section.secret_variable(),
            file,
            &format!("targets.{}.{what}", section.name),
            env,
        )
    }

    /// Builds one target: the registry's one match over kinds.
    fn build(
        &self,
        section: &TargetSection,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Arc<dyn Target>, ConfigError> {
        let name = section.name.as_str();
        let unusable = |e: TargetError| ConfigError {
            file: "stroom.toml".into(),
            message: format!(
                "{}: {}",
                section.header(),
                e.message.lines().next().unwrap_or("")
            ),
            help: e
                .message
                .lines()
                .find_map(|l| l.trim().strip_prefix("help: "))
                .unwrap_or("see the book, chapter Targets and apply")
                .into(),
        };
        Ok(match &section.keys {
            SectionKeys::Ad(c) => {
                let settings = c.settings(name, self.section_secret(section, env)?);
                Arc::new(ad::ActiveDirectory::new(settings).map_err(|e| ConfigError {
                    file: "stroom.toml".into(),
                    message: format!("{}: {e}", section.header()),
                    help: "use an ldaps:// URL, or starttls = true".into(),
                })?)
            }
            SectionKeys::Entra(c) => {
                let settings = c.settings(name, self.section_secret(section, env)?);
                Arc::new(entra::EntraId::new(settings).map_err(unusable)?)
            }
            SectionKeys::Scim(c) => {
                let settings = c.settings(name, self.section_secret(section, env)?);
                Arc::new(scim::Scim::new(settings).map_err(unusable)?)
            }
            SectionKeys::Exchange(c) => {
                let entra = self.entra_of(section, c)?;
                let pick =
                    |own: &Option<String>,
                     key: &str,
                     of_entra: fn(&entra::EntraConfig) -> &String| {
                        own.clone()
                        .or(entra.map(|(_, e)| of_entra(e).clone()))
                        .ok_or_else(|| ConfigError {
                            file: "stroom.toml".into(),
                            message: format!("targets.{name}.{key} is not set"),
                            help: format!(
                                "set it, or configure an Entra target (kind = \"entra\") whose {key} it then uses"
                            ),
                        })
                    };
                let tenant = pick(&c.tenant_id, "tenant_id", |e| &e.tenant_id)?;
                let client = pick(&c.client_id, "client_id", |e| &e.client_id)?;
                let authority = c
                    .authority
                    .clone()
                    .or(entra.map(|(_, e)| e.authority.clone()))
                    .unwrap_or_else(crate::targets::microsoft::default_authority);
                let own = env(&section.secret_variable()).filter(|v| !v.trim().is_empty());
                let secret = match (&own, &c.client_secret_file, entra) {
                    (None, None, Some((entra, _))) => self.section_secret(entra, env)?,
                    _ => self.section_secret(section, env)?,
                };
                let settings = c.settings(name, &authority, &tenant, &client, secret);
                Arc::new(exchange::ExchangeOnline::new(settings).map_err(unusable)?)
            }
        })
    }

    /// The Entra section an Exchange section takes its sign-in from: the one it names
    /// with `entra`, else the one named `entra`, else the only one.
    fn entra_of<'a>(
        &'a self,
        section: &TargetSection,
        keys: &exchange::ExchangeConfig,
    ) -> Result<Option<(&'a TargetSection, &'a entra::EntraConfig)>, ConfigError> {
        let entras: Vec<(&TargetSection, &entra::EntraConfig)> = self
            .targets
            .iter()
            .filter_map(|s| match &s.keys {
                SectionKeys::Entra(e) => Some((s, e)),
                _ => None,
            })
            .collect();
        let Some(wanted) = &keys.entra else {
            return Ok(entras
                .iter()
                .find(|(s, _)| s.name == "entra")
                .or(if entras.len() == 1 {
                    entras.first()
                } else {
                    None
                })
                .copied());
        };
        entras
            .iter()
            .find(|(s, _)| s.name == *wanted)
            .copied()
            .map(Some)
            .ok_or_else(|| ConfigError {
                file: "stroom.toml".into(),
                message: format!(
                    "targets.{}.entra = {wanted:?} names no Entra target",
                    section.name
                ),
                help: match entras.len() {
                    0 => "configure one: a [targets.NAME] section with kind = \"entra\"".into(),
                    _ => format!(
                        "the Entra targets are {}",
                        entras
                            .iter()
                            .map(|(s, _)| s.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                },
            })
    }
}
