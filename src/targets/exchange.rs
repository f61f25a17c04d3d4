//! Exchange Online over the admin API's `InvokeCommand` endpoint (the REST form the
//! Exchange Online management module uses): mailbox settings, primary address and
//! aliases, FullAccess and SendAs permissions, distribution group membership.
//!
//! - A user mailbox is not made by Stroom: it appears some minutes after the Entra
//!   account gets a licence with Exchange in it. Until it is found, the person's
//!   Exchange steps answer [`ErrorKind::NotReady`](super::ErrorKind::NotReady): the
//!   engine lets the person wait while it works on the others, and leaves the steps
//!   pending for the next run when the wait is over. The person never fails for it.
//! - The mailbox is found by the person id in a custom attribute
//!   (`CustomAttribute1` by default), which is the Entra account's
//!   `onPremisesExtensionAttributes/extensionAttribute1` as Exchange shows it.
//! - Addresses are read-modify-write: a new primary address demotes the old one to an
//!   alias, aliases are added, and no address is ever dropped (mail to an old
//!   address keeps arriving).
//! - `grant mailbox "UserMailbox"` (or `"SharedMailbox"`) waits for the mailbox, sets
//!   its type when it differs and shows it in the address lists; its revoke hides it.

use super::microsoft::{quoted, runtime, Answer, Method, MicrosoftClient, MicrosoftSettings};
use super::{AccountRef, Entitlement, Target, TargetError, TargetResult};
use crate::model::live::{Holding, Inventory, LiveAccount, ReadRequest};
use crate::plan::read::PlannedAction;
use crate::rules::program::{Kind, OpKind};
use serde_json::{json, Map, Value};
use std::path::PathBuf;

/// A `[targets.NAME]` section of kind `exchange` in stroom.toml (`[targets.exchange]`
/// for the built-in name). Tenant, client, secret and authority default to those of
/// the Entra target it names with `entra` (by default the only one, or `entra`).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExchangeConfig {
    /// The tenant's primary domain, e.g. `contoso.onmicrosoft.com`.
    pub organization: String,
    /// The Entra target whose tenant, client, secret and authority are the defaults.
    #[serde(default)]
    pub entra: Option<String>,
    /// The tenant id (default: the Entra target's).
    #[serde(default)]
    pub tenant_id: Option<String>,
    /// The app's client id (default: the Entra target's).
    #[serde(default)]
    pub client_id: Option<String>,
    /// File holding its secret (or STROOM_EXCHANGE_CLIENT_SECRET; default: Entra's).
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// The sign-in authority (default: the Entra target's).
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
    #[serde(default = "super::microsoft::default_timeout")]
    pub timeout_seconds: u64,
    /// Attempts per call on 429, 5xx and broken connections.
    #[serde(default = "super::microsoft::default_attempts")]
    pub max_attempts: u32,
}

/// The most pages one cmdlet's answer may take.
const MAX_PAGES: u64 = 100_000;

fn default_exchange_url() -> String {
    "https://outlook.office365.com".into()
}

fn default_exchange_scope() -> String {
    "https://outlook.office365.com/.default".into()
}

fn default_exchange_correlation() -> String {
    "CustomAttribute1".into()
}

impl ExchangeConfig {
    /// The target's settings, for the target named `name`, with the sign-in already
    /// settled (own values, or the Entra target's).
    pub fn settings(
        &self,
        name: &str,
        authority: &str,
        tenant_id: &str,
        client_id: &str,
        client_secret: crate::secret::Secret,
    ) -> ExchangeSettings {
        let mut api = MicrosoftSettings::new(
            authority,
            tenant_id,
            client_id,
            client_secret,
            &self.exchange_url,
            &self.scope,
        );
        api.timeout = std::time::Duration::from_secs(self.timeout_seconds.max(1));
        api.max_attempts = self.max_attempts.max(1);
        ExchangeSettings {
            name: name.into(),
            correlation_attribute: self.correlation_attribute.clone(),
            ..ExchangeSettings::new(api, &self.organization)
        }
    }
}

/// How the Exchange target works.
#[derive(Debug, Clone)]
pub struct ExchangeSettings {
    /// The target's name in rules (`exchange`).
    pub name: String,
    /// Sign-in and admin API base (`https://outlook.office365.com`).
    pub api: MicrosoftSettings,
    /// The tenant's primary domain (`contoso.onmicrosoft.com`), for the anchor
    /// mailbox header.
    pub organization: String,
    /// The custom attribute holding the person id.
    pub correlation_attribute: String,
}

impl ExchangeSettings {
    /// Settings with the defaults: target `exchange`, correlation on
    /// `CustomAttribute1`.
    pub fn new(api: MicrosoftSettings, organization: &str) -> Self {
        Self {
            name: "exchange".into(),
            api,
            organization: organization.to_string(),
            correlation_attribute: "CustomAttribute1".into(),
        }
    }
}

/// The Exchange Online target.
pub struct ExchangeOnline {
    client: MicrosoftClient,
    runtime: tokio::runtime::Runtime,
    settings: ExchangeSettings,
    anchor: String,
}

/// `Set-Mailbox` parameters a rule may set (besides the addresses and
/// `CustomAttribute1`..`15`).
pub const MAILBOX_PARAMETERS: &[&str] = &[
    "AuditEnabled",
    "DeliverToMailboxAndForward",
    "DisplayName",
    "ForwardingSmtpAddress",
    "HiddenFromAddressListsEnabled",
    "LitigationHoldEnabled",
    "MessageCopyForSendOnBehalfEnabled",
    "MessageCopyForSentAsEnabled",
    "Office",
    "RetentionPolicy",
    "Type",
];

/// The address parameters, handled read-modify-write.
const PRIMARY: &str = "PrimarySmtpAddress";
const ALIASES: &str = "EmailAddresses";

/// The mailbox types `grant mailbox` knows: name → `Set-Mailbox -Type`.
const MAILBOX_TYPES: &[(&str, &str)] = &[
    ("UserMailbox", "Regular"),
    ("SharedMailbox", "Shared"),
    ("RoomMailbox", "Room"),
    ("EquipmentMailbox", "Equipment"),
];

/// Exchange's exception type from a message like `|Microsoft...Exception|text`.
fn exception(answer: &Answer) -> &str {
    let m = answer.message();
    m.strip_prefix('|')
        .and_then(|rest| rest.split('|').next())
        .unwrap_or("")
}

/// The addresses after making `primary` primary and adding `aliases`: every current
/// address stays (the old primary as an alias).
pub fn merged_addresses(
    current: &[String],
    primary: Option<&str>,
    aliases: &[String],
) -> Vec<String> {
    let bare = |a: &str| {
        a.split_once(':')
            .filter(|(p, _)| p.eq_ignore_ascii_case("smtp"))
            .map_or(a.to_string(), |(_, v)| v.to_string())
    };
    let is_smtp = |a: &str| a.len() > 5 && a[..5].eq_ignore_ascii_case("smtp:");
    let mut out: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut push = |out: &mut Vec<String>, a: String| {
        if seen.insert(bare(&a).to_lowercase()) {
            out.push(a);
        }
    };
    if let Some(p) = primary {
        push(&mut out, format!("SMTP:{p}"));
    }
    for a in current {
        if is_smtp(a) {
            let demoted = primary.is_some() || !a.starts_with("SMTP:");
            let v = bare(a);
            push(
                &mut out,
                if demoted {
                    format!("smtp:{v}")
                } else {
                    format!("SMTP:{v}")
                },
            );
        } else {
            // X500:, SIP: and other types are kept as they are.
            push(&mut out, a.clone());
        }
    }
    for a in aliases {
        push(&mut out, format!("smtp:{}", bare(a)));
    }
    out
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Array(items) => items.iter().flat_map(strings).collect(),
        Value::String(s) => s
            .split([',', ';'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// N of `CustomAttributeN` (1 to 15).
pub fn custom_attribute(name: &str) -> Option<u8> {
    name.strip_prefix("CustomAttribute")
        .and_then(|n| n.parse::<u8>().ok())
        .filter(|n| (1..=15).contains(n))
}

impl ExchangeOnline {
    /// An Exchange target; nothing is called until the first operation.
    pub fn new(settings: ExchangeSettings) -> TargetResult<Self> {
        if custom_attribute(&settings.correlation_attribute).is_none() {
            return Err(TargetError::fatal(format!(
                "exchange: correlation_attribute {:?} is not CustomAttribute1..15\n  help: use \
                 the number of the Entra target's extensionAttribute (default CustomAttribute1)",
                settings.correlation_attribute
            )));
        }
        let anchor = format!(
            "UPN:SystemMailbox{{bb558c35-97f1-4cb9-8ff7-d53741dc928c}}@{}",
            settings.organization
        );
        Ok(Self {
            client: MicrosoftClient::new(settings.api.clone(), "Exchange Online")?,
            runtime: runtime("Exchange Online")?,
            settings,
            anchor,
        })
    }

    /// Calls made so far.
    pub fn calls(&self) -> u64 {
        self.client
            .stats
            .calls
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Runs one cmdlet; the answer's `value` list on success.
    async fn cmdlet(
        &self,
        name: &str,
        parameters: Value,
    ) -> TargetResult<Result<Vec<Value>, Answer>> {
        let path = format!(
            "/adminapi/beta/{}/InvokeCommand",
            self.settings.api.tenant_id
        );
        let body = json!({"CmdletInput": {"CmdletName": name, "Parameters": parameters}});
        let mut out = Vec::new();
        let mut next = path.clone();
        let mut pages = 0u64;
        loop {
            pages += 1;
            let answer = self
                .client
                .send(
                    Method::Post,
                    &next,
                    Some(&body),
                    &[("X-AnchorMailbox", self.anchor.as_str())],
                )
                .await?;
            if !answer.ok() {
                return Ok(Err(answer));
            }
            match answer.body.get("value") {
                Some(Value::Array(items)) => out.extend(items.iter().cloned()),
                _ => {
                    return Err(TargetError::transient(format!(
                        "Exchange Online: {name}: the answer has no `value` list (HTTP {})",
                        answer.status
                    )))
                }
            }
            match answer.body.get("@odata.nextLink").and_then(Value::as_str) {
                // An answer that never ends (a server that keeps linking) stops with an
                // error instead of running forever.
                Some(_) if pages >= MAX_PAGES => {
                    return Err(TargetError::fatal(format!(
                        "Exchange Online: {name}: still more after {MAX_PAGES} pages; the answer does not end"
                    )))
                }
                Some(link) => next = link.to_string(),
                None => return Ok(Ok(out)),
            }
        }
    }

    /// Every mailbox (the person id in the correlation attribute, the mailbox type as
    /// its `mailbox` entitlement), the FullAccess and SendAs permissions on the objects
    /// the rules name, and the members of the distribution groups they name.
    async fn inventory(&self, request: &ReadRequest<'_>) -> TargetResult<Inventory> {
        let started = self.calls();
        let listed = |what: &str, r: Result<Vec<Value>, Answer>| {
            r.map_err(|answer| self.refused(what, &answer))
        };
        let mailboxes = listed(
            "Get-Mailbox",
            self.cmdlet("Get-Mailbox", json!({"ResultSize": "Unlimited"}))
                .await?,
        )?;
        let text = |m: &Value, k: &str| m.get(k).and_then(Value::as_str).map(str::to_string);
        let mut inv = Inventory {
            target: self.settings.name.clone(),
            ..Inventory::default()
        };
        // Trustees and members come back by address or UPN: find their mailbox.
        let mut by_key: std::collections::HashMap<String, String> = Default::default();
        let kinds = request.managed.of(Kind::Mailbox);
        for m in &mailboxes {
            let Some(id) = text(m, "Guid").or_else(|| text(m, "ExchangeGuid")) else {
                continue;
            };
            for k in [
                "UserPrincipalName",
                "PrimarySmtpAddress",
                "Guid",
                "ExternalDirectoryObjectId",
            ] {
                if let Some(v) = text(m, k).filter(|v| !v.is_empty()) {
                    by_key.insert(v.to_lowercase(), id.clone());
                }
            }
            let kind = text(m, "RecipientTypeDetails").unwrap_or_default();
            let person = text(m, &self.settings.correlation_attribute).filter(|p| !p.is_empty());
            // A shared, room or equipment mailbox nobody's id is on is an object that
            // permissions are on, not a person's account.
            if kind != "UserMailbox" && person.is_none() {
                continue;
            }
            if kinds.is_some_and(|n| n.covers(&kind)) {
                inv.holdings.push(Holding {
                    account: id.clone(),
                    kind: Kind::Mailbox,
                    name: kind,
                    on: None,
                });
            }
            let attributes = request
                .attributes
                .iter()
                .filter_map(|a| {
                    m.get(a)
                        .filter(|v| !v.is_null())
                        .map(|v| (a.clone(), v.clone()))
                })
                .collect();
            inv.accounts.push(LiveAccount {
                name: text(m, "PrimarySmtpAddress")
                    .or_else(|| text(m, "UserPrincipalName"))
                    .unwrap_or_else(|| id.clone()),
                person,
                enabled: None,
                created: text(m, "WhenCreated"),
                last_logon: None,
                attributes,
                id,
            });
        }
        if let Some(rights) = request.managed.of(Kind::Permission) {
            for object in rights.objects.values() {
                for (cmdlet, who) in [
                    ("Get-MailboxPermission", "User"),
                    ("Get-RecipientPermission", "Trustee"),
                ] {
                    let rows = listed(
                        cmdlet,
                        self.cmdlet(cmdlet, json!({"Identity": object})).await?,
                    )?;
                    for row in rows {
                        let trustee = text(&row, who).unwrap_or_default().to_lowercase();
                        let Some(account) = by_key.get(&trustee) else {
                            continue;
                        };
                        for right in strings(row.get("AccessRights").unwrap_or(&Value::Null)) {
                            if rights.covers(&right) {
                                inv.holdings.push(Holding {
                                    account: account.clone(),
                                    kind: Kind::Permission,
                                    name: right,
                                    on: Some(object.clone()),
                                });
                            }
                        }
                    }
                }
            }
        }
        if let Some(groups) = request.managed.of(Kind::Group) {
            for group in groups.exact.values() {
                let rows = listed(
                    "Get-DistributionGroupMember",
                    self.cmdlet("Get-DistributionGroupMember", json!({"Identity": group}))
                        .await?,
                )?;
                for row in rows {
                    let key = text(&row, "Guid").unwrap_or_default().to_lowercase();
                    if let Some(account) = by_key.get(&key) {
                        inv.holdings.push(Holding {
                            account: account.clone(),
                            kind: Kind::Group,
                            name: group.clone(),
                            on: None,
                        });
                    }
                }
            }
        }
        inv.holdings.sort();
        inv.holdings.dedup();
        inv.calls = self.calls().saturating_sub(started);
        Ok(inv)
    }

    fn refused(&self, cmdlet: &str, answer: &Answer) -> TargetError {
        self.client.refused(cmdlet, answer)
    }

    /// Runs a cmdlet that changes something; `ok_when` names exception types that mean
    /// "already so".
    async fn change(&self, name: &str, parameters: Value, ok_when: &[&str]) -> TargetResult<()> {
        match self.cmdlet(name, parameters).await? {
            Ok(_) => Ok(()),
            Err(answer) if ok_when.contains(&exception(&answer)) => Ok(()),
            Err(answer) => {
                let mut e = self.refused(name, &answer);
                if exception(&answer).ends_with("ManagementObjectNotFoundException") {
                    e.message.push_str(
                        "\n  help: the mailbox or group the rule names does not exist in \
                         Exchange Online; create it or fix the name",
                    );
                }
                Err(e)
            }
        }
    }

    async fn find(&self, person: &str) -> TargetResult<Option<(AccountRef, Value)>> {
        let filter = format!(
            "{} -eq {}",
            self.settings.correlation_attribute,
            quoted(person)
        );
        let found = match self
            .cmdlet(
                "Get-Mailbox",
                json!({"Filter": filter, "ResultSize": "Unlimited"}),
            )
            .await?
        {
            Ok(found) => found,
            Err(answer) => return Err(self.refused("Get-Mailbox", &answer)),
        };
        match found.as_slice() {
            [] => Ok(None),
            [m] => {
                let id = m
                    .get("Guid")
                    .or_else(|| m.get("ExchangeGuid"))
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        TargetError::transient("Exchange Online: a mailbox without a Guid")
                    })?;
                Ok(Some((
                    AccountRef {
                        id: id.to_string(),
                        enabled: m
                            .get("HiddenFromAddressListsEnabled")
                            .and_then(Value::as_bool)
                            .map(|hidden| !hidden),
                    },
                    m.clone(),
                )))
            }
            many => Err(TargetError::refused(format!(
                "Exchange Online: {} mailboxes have {} = {person:?}; correlation must be unique",
                many.len(),
                self.settings.correlation_attribute
            ))),
        }
    }

    async fn mailbox(&self, id: &str) -> TargetResult<Value> {
        match self.cmdlet("Get-Mailbox", json!({"Identity": id})).await? {
            Ok(found) => found.into_iter().next().ok_or_else(|| {
                TargetError::not_ready(format!("Exchange Online: mailbox {id} is not visible yet"))
            }),
            Err(answer) if exception(&answer).ends_with("ManagementObjectNotFoundException") => {
                Err(TargetError::not_ready(format!(
                    "Exchange Online: mailbox {id} is not visible yet"
                )))
            }
            Err(answer) => Err(self.refused("Get-Mailbox", &answer)),
        }
    }

    /// The `Set-Mailbox` parameters for attributes from a rule (addresses merged with
    /// the mailbox's current ones).
    async fn settings_for(
        &self,
        id: &str,
        values: &Map<String, Value>,
    ) -> TargetResult<Map<String, Value>> {
        let mut params = Map::new();
        for (k, v) in values {
            if k == PRIMARY || k == ALIASES {
                continue;
            }
            if custom_attribute(k).is_some() {
                params.insert(k.clone(), v.clone());
                continue;
            }
            let Some(known) = MAILBOX_PARAMETERS
                .iter()
                .find(|p| p.eq_ignore_ascii_case(k))
            else {
                let hint = crate::suggest::did_you_mean(k, MAILBOX_PARAMETERS.iter().copied())
                    .map(|s| format!("did you mean {s:?}? "))
                    .unwrap_or_default();
                return Err(TargetError::refused(format!(
                    "Exchange Online: {k:?} is not a mailbox setting Stroom sets\n  help: {hint}\
                     the settings are {PRIMARY}, {ALIASES}, CustomAttribute1..15 and the Set-Mailbox parameters {}",
                    MAILBOX_PARAMETERS.join(", ")
                )));
            };
            params.insert((*known).to_string(), v.clone());
        }
        let primary = values
            .get(PRIMARY)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty());
        let aliases = values.get(ALIASES).map(strings).unwrap_or_default();
        if primary.is_some() || !aliases.is_empty() {
            let current = self.mailbox(id).await?;
            let have = current
                .get("EmailAddresses")
                .map(strings)
                .unwrap_or_default();
            let merged = merged_addresses(&have, primary, &aliases);
            if merged != have {
                params.insert("EmailAddresses".into(), json!(merged));
            }
        }
        Ok(params)
    }

    async fn set_mailbox(&self, id: &str, values: &Map<String, Value>) -> TargetResult<()> {
        let mut params = self.settings_for(id, values).await?;
        if params.is_empty() {
            return Ok(());
        }
        params.insert("Identity".into(), Value::from(id));
        match self.cmdlet("Set-Mailbox", Value::Object(params)).await? {
            Ok(_) => Ok(()),
            Err(answer) if exception(&answer).ends_with("ManagementObjectNotFoundException") => {
                Err(TargetError::not_ready(format!(
                    "Exchange Online: mailbox {id} is not visible yet"
                )))
            }
            Err(answer) => Err(self.refused("Set-Mailbox", &answer)),
        }
    }

    async fn entitle(&self, id: &str, e: &Entitlement<'_>, grant: bool) -> TargetResult<()> {
        let on = || {
            e.on.filter(|o| !o.is_empty()).ok_or_else(|| {
                TargetError::refused(format!(
                    "Exchange Online: permission {:?} needs the mailbox it is on\n  help: write \
                     `grant permission {:?} on \"shared@example.nl\" in exchange`",
                    e.name, e.name
                ))
            })
        };
        match (e.kind, e.name) {
            (Kind::Mailbox, kind) => {
                let Some((_, exchange_type)) = MAILBOX_TYPES.iter().find(|(n, _)| n.eq_ignore_ascii_case(kind)) else {
                    let names: Vec<&str> = MAILBOX_TYPES.iter().map(|(n, _)| *n).collect();
                    return Err(TargetError::refused(format!(
                        "Exchange Online: unknown mailbox type {kind:?}\n  help: use one of {}",
                        names.join(", ")
                    )));
                };
                let current = self.mailbox(id).await?;
                let mut params = Map::new();
                let details = current.get("RecipientTypeDetails").and_then(Value::as_str).unwrap_or("");
                if grant && !details.eq_ignore_ascii_case(kind) {
                    params.insert("Type".into(), Value::from(*exchange_type));
                }
                let hidden = current
                    .get("HiddenFromAddressListsEnabled")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                if hidden == grant {
                    params.insert("HiddenFromAddressListsEnabled".into(), Value::Bool(!grant));
                }
                self.set_mailbox(id, &params).await
            }
            (Kind::Permission, "FullAccess") => {
                let (cmdlet, mut params) = if grant {
                    ("Add-MailboxPermission", json!({"AutoMapping": true}))
                } else {
                    ("Remove-MailboxPermission", json!({"Confirm": false}))
                };
                params["Identity"] = Value::from(on()?);
                params["User"] = Value::from(id);
                params["AccessRights"] = json!(["FullAccess"]);
                params["InheritanceType"] = Value::from("All");
                self.change(cmdlet, params, &[]).await
            }
            (Kind::Permission, "SendAs") => {
                let cmdlet = if grant {
                    "Add-RecipientPermission"
                } else {
                    "Remove-RecipientPermission"
                };
                let params = json!({
                    "Identity": on()?, "Trustee": id, "AccessRights": ["SendAs"], "Confirm": false
                });
                self.change(cmdlet, params, &[]).await
            }
            (Kind::Permission, other) => Err(TargetError::refused(format!(
                "Exchange Online: unknown permission {other:?}\n  help: use \"FullAccess\" or \"SendAs\""
            ))),
            (Kind::Group, group) => {
                if grant {
                    self.change(
                        "Add-DistributionGroupMember",
                        json!({"Identity": group, "Member": id, "BypassSecurityGroupManagerCheck": true}),
                        &["Microsoft.Exchange.Management.Tasks.MemberAlreadyExistsException"],
                    )
                    .await
                } else {
                    self.change(
                        "Remove-DistributionGroupMember",
                        json!({"Identity": group, "Member": id, "BypassSecurityGroupManagerCheck": true, "Confirm": false}),
                        &["Microsoft.Exchange.Management.Tasks.MemberNotFoundException"],
                    )
                    .await
                }
            }
            (other, _) => Err(TargetError::refused(format!(
                "Exchange Online: cannot grant a {other:?}\n  help: Exchange takes mailbox, \
                 permission and group; licences go `in entra`"
            ))),
        }
    }
}

impl Target for ExchangeOnline {
    fn name(&self) -> &str {
        &self.settings.name
    }

    fn stable_ids(&self) -> bool {
        true
    }

    fn no_account(&self, what: &str) -> TargetError {
        TargetError::not_ready(format!(
            "{what}: the person's mailbox is not in Exchange Online yet (it appears some \
             minutes after the Entra account gets a licence with Exchange in it)"
        ))
    }

    fn correlate(&self, person: &str) -> TargetResult<Option<AccountRef>> {
        Ok(self.runtime.block_on(self.find(person))?.map(|(a, _)| a))
    }

    fn read_inventory(&self, request: &ReadRequest) -> TargetResult<Inventory> {
        self.runtime.block_on(self.inventory(request))
    }

    /// A mailbox carries the person id of its Entra account (the extension attribute
    /// Exchange shows as a custom attribute): it is linked when that account is.
    fn link(&self, account: &AccountRef, person: &str) -> TargetResult<()> {
        match self.runtime.block_on(self.find(person))? {
            Some((found, _)) if found.id == account.id => Ok(()),
            _ => Err(TargetError::refused(format!(
                "Exchange Online: mailbox {} does not show person id {person:?}\n  help: link the \
                 person's Entra ID account (stroom reconcile --adopt); its mailbox follows",
                account.id
            ))),
        }
    }

    fn read_grants(&self, account: &AccountRef) -> TargetResult<Vec<(String, String)>> {
        let m = self.runtime.block_on(self.mailbox(&account.id))?;
        Ok(m.get("RecipientTypeDetails")
            .and_then(Value::as_str)
            .map(|t| vec![("mailbox".to_string(), t.to_string())])
            .unwrap_or_default())
    }

    fn create(&self, person: &str, attributes: &Map<String, Value>) -> TargetResult<AccountRef> {
        self.runtime.block_on(async {
            let Some((account, _)) = self.find(person).await? else {
                return Err(self.no_account("create"));
            };
            self.set_mailbox(&account.id, attributes).await?;
            Ok(account)
        })
    }

    fn update(&self, account: &AccountRef, values: &Map<String, Value>) -> TargetResult<()> {
        self.runtime.block_on(self.set_mailbox(&account.id, values))
    }

    fn enable(&self, account: &AccountRef) -> TargetResult<()> {
        let values = Map::from_iter([(
            "HiddenFromAddressListsEnabled".to_string(),
            Value::Bool(false),
        )]);
        self.runtime
            .block_on(self.set_mailbox(&account.id, &values))
    }

    fn disable(&self, account: &AccountRef) -> TargetResult<()> {
        let values = Map::from_iter([(
            "HiddenFromAddressListsEnabled".to_string(),
            Value::Bool(true),
        )]);
        self.runtime
            .block_on(self.set_mailbox(&account.id, &values))
    }

    /// The mailbox goes with the Entra account (or its licence): nothing to send.
    fn delete(&self, _account: &AccountRef) -> TargetResult<()> {
        Ok(())
    }

    fn grant(&self, account: &AccountRef, e: &Entitlement) -> TargetResult<()> {
        self.runtime.block_on(self.entitle(&account.id, e, true))
    }

    fn revoke(&self, account: &AccountRef, e: &Entitlement) -> TargetResult<()> {
        self.runtime.block_on(self.entitle(&account.id, e, false))
    }

    fn preview(&self, a: &PlannedAction) -> Option<String> {
        let name = a.name.as_deref().unwrap_or("");
        let on = a.on.as_deref().unwrap_or("");
        let grant = a.op == OpKind::Grant;
        Some(match (a.op, a.kind) {
            (OpKind::Create | OpKind::Update, _) => {
                "Get-Mailbox (wait until it exists); Set-Mailbox with the rule's settings (addresses merged, none dropped)".into()
            }
            (OpKind::Enable, _) => "Set-Mailbox -HiddenFromAddressListsEnabled $false".into(),
            (OpKind::Disable, _) => "Set-Mailbox -HiddenFromAddressListsEnabled $true".into(),
            (OpKind::Delete, _) => "nothing (the mailbox goes with the Entra account)".into(),
            (_, Some(Kind::Mailbox)) if grant => format!(
                "Get-Mailbox (wait until it exists); Set-Mailbox -Type {name} when it differs; shown in address lists"
            ),
            (_, Some(Kind::Mailbox)) => "Set-Mailbox -HiddenFromAddressListsEnabled $true".into(),
            (_, Some(Kind::Permission)) if name == "SendAs" => format!(
                "{}-RecipientPermission -Identity {on:?} -Trustee {{mailbox}} -AccessRights SendAs",
                if grant { "Add" } else { "Remove" }
            ),
            (_, Some(Kind::Permission)) => format!(
                "{}-MailboxPermission -Identity {on:?} -User {{mailbox}} -AccessRights {name}",
                if grant { "Add" } else { "Remove" }
            ),
            (_, Some(Kind::Group)) => format!(
                "{}-DistributionGroupMember -Identity {name:?} -Member {{mailbox}}",
                if grant { "Add" } else { "Remove" }
            ),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_primary_demotes_the_old_one_and_drops_nothing() {
        let have = vec![
            "SMTP:jan@contoso.onmicrosoft.com".to_string(),
            "X500:/o=ExchangeLabs/cn=jan".to_string(),
        ];
        let out = merged_addresses(&have, Some("jan.berg@acme.nl"), &["j.berg@acme.nl".into()]);
        assert_eq!(
            out,
            vec![
                "SMTP:jan.berg@acme.nl",
                "smtp:jan@contoso.onmicrosoft.com",
                "X500:/o=ExchangeLabs/cn=jan",
                "smtp:j.berg@acme.nl"
            ]
        );
        // Applying the same again changes nothing.
        assert_eq!(
            merged_addresses(&out, Some("jan.berg@acme.nl"), &["j.berg@acme.nl".into()]),
            out
        );
        // Aliases alone keep the primary.
        let only = merged_addresses(&have, None, &["x@acme.nl".into()]);
        assert_eq!(only[0], "SMTP:jan@contoso.onmicrosoft.com");
        assert_eq!(only.len(), 3);
    }
}
