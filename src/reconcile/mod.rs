//! Reconciliation: what the targets really hold (read by their adapters, whoever made
//! it) against the rules and the HR data. The result is a report of every person's
//! situation in each target (linked, matched, ambiguous, missing, conflict), of the
//! accounts no person has (unmanaged), and of drift on linked accounts; and, on
//! request, the plan that adopts what was found and enforces the policy.
//!
//! No network here: the inventories come in as data (`model::live`), so the whole of
//! it is tested without a directory and embeds with the core.
//!
//! Drift is not a second copy of the planner's rules: the linked accounts are made
//! into a state (what the target holds) and the ordinary planner plans against it.
//! What it would update, enable, disable, grant or revoke on a linked account is the
//! drift.

mod correlate;
mod html;
mod policy;

pub use correlate::{managed_entitlements, read_attributes};
pub use policy::{Enforcement, Exclusion, ReconcilePolicy, TargetPolicy};

use crate::model::live::{AccountRecord, HeldGrant, Inventory, LiveAccount};
use crate::model::{AccountState, GrantState, Kind, Person, State};
use crate::plan::{self, Action, Because, Blocked, Detail, Plan, PlanInput};
use crate::rules::eval::{self, AccountWant, Population};
use crate::rules::program::{OpKind, OriginId, Program, TargetId};
use chrono::NaiveDate;
use correlate::{Correlated, Found};
use serde::Serialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// What a reconciliation works on.
pub struct ReconcileInput<'a> {
    /// The checked rules (their `correlate` lines and what they grant).
    pub program: &'a Program,
    /// The HR data.
    pub persons: &'a [Person],
    /// The evaluation date (and the date exclusions are held to).
    pub today: NaiveDate,
    /// What each target read holds.
    pub inventories: &'a [Inventory],
    /// What to do with drift and orphans, and the accounts left out.
    pub policy: &'a ReconcilePolicy,
    /// What Stroom's state holds now: adoption records only accounts it lacks.
    pub state: &'a State,
    /// Report only this person (the rest is still read and correlated, so that an
    /// account another person also matches stays ambiguous).
    pub only_person: Option<&'a str>,
}

/// A person's situation in one target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Situation {
    /// An account carries the person's id.
    Linked,
    /// One account was found by a `correlate` line: adoption would link it.
    Matched,
    /// Several candidates (or one that another person matches too): never guessed.
    Ambiguous,
    /// The rules want an account and none exists.
    Missing,
    /// An account carries the person's id, but a `correlate` line points (also)
    /// elsewhere: a duplicate, or the id is on the wrong account.
    Conflict,
}

impl Situation {
    /// The name in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Situation::Linked => "linked",
            Situation::Matched => "matched",
            Situation::Ambiguous => "ambiguous",
            Situation::Missing => "missing",
            Situation::Conflict => "conflict",
        }
    }
}

/// An account as reports show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccountBrief {
    /// The target's id.
    pub id: String,
    /// The name people know it by.
    pub name: String,
    /// Enabled, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// The person id it carries, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
}

impl From<&LiveAccount> for AccountBrief {
    fn from(a: &LiveAccount) -> Self {
        AccountBrief {
            id: a.id.clone(),
            name: a.name.clone(),
            enabled: a.enabled,
            person: a.person.clone(),
        }
    }
}

/// One person in one target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PersonFinding {
    /// Person id.
    pub person: String,
    /// Display name.
    pub name: String,
    /// Nmbrs employee number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub employee_number: Option<i64>,
    /// The situation.
    pub situation: Situation,
    /// The account (linked, matched, the linked one of a conflict).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub account: Option<AccountBrief>,
    /// The candidates of an ambiguity, the other accounts of a conflict.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<AccountBrief>,
    /// The `correlate` line that found it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<Because>,
    /// Why, in words.
    pub detail: String,
}

/// An account in scope that no person has.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Unmanaged {
    /// The account.
    pub account: AccountBrief,
    /// When it was made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Its last sign-in, where the target has it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_logon: Option<String>,
    /// What is known about it.
    pub detail: String,
}

/// An account left out by an exclusion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Excluded {
    /// The account.
    pub account: AccountBrief,
    /// Until when.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<NaiveDate>,
    /// Why, as the exclusion says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// How a linked account differs from what the rules compute.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DriftKind {
    /// An attribute holds another value.
    Attribute {
        /// The attribute.
        attribute: String,
        /// What the account holds.
        is: serde_json::Value,
        /// What the rules compute.
        wanted: serde_json::Value,
    },
    /// Enabled while the rules want it disabled (the person is out of scope).
    Enabled,
    /// Disabled while the person is in scope.
    Disabled,
    /// A membership of a managed entitlement that no rule explains (added by hand).
    Unexplained {
        /// Kind.
        entitlement: Kind,
        /// Name.
        name: String,
        /// For permissions: the object.
        #[serde(skip_serializing_if = "Option::is_none")]
        on: Option<String>,
    },
    /// A membership the rules give that the account lacks.
    Lacking {
        /// Kind.
        entitlement: Kind,
        /// Name.
        name: String,
        /// For permissions: the object.
        #[serde(skip_serializing_if = "Option::is_none")]
        on: Option<String>,
    },
}

/// One difference on a linked (or matched) account.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Drift {
    /// Person id.
    pub person: String,
    /// The person's display name.
    pub person_name: String,
    /// The account.
    pub account: String,
    /// What differs.
    #[serde(flatten)]
    pub what: DriftKind,
    /// Why the rules want otherwise, where they say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// True on a linked account; false on a matched one (what the first plan after
    /// adoption changes).
    pub linked: bool,
    /// Whether the policy enforces it (a plan fixes it) or only reports it.
    pub enforced: bool,
}

/// Numbers of a target's report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Accounts read.
    pub accounts: usize,
    /// Persons linked.
    pub linked: usize,
    /// Persons matched.
    pub matched: usize,
    /// Persons ambiguous.
    pub ambiguous: usize,
    /// Persons missing an account.
    pub missing: usize,
    /// Persons in conflict.
    pub conflict: usize,
    /// Accounts without a person.
    pub unmanaged: usize,
    /// Accounts excluded.
    pub excluded: usize,
    /// Differences on linked accounts.
    pub drift: usize,
}

/// What was found in one target.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetReport {
    /// The target.
    pub target: String,
    /// Requests it took to read it.
    pub calls: u64,
    /// The numbers.
    pub counts: Counts,
    /// Persons, by situation then id (linked ones only with `--person`).
    pub persons: Vec<PersonFinding>,
    /// Accounts no person has.
    pub unmanaged: Vec<Unmanaged>,
    /// Accounts left out.
    pub excluded: Vec<Excluded>,
    /// Differences on linked accounts.
    pub drift: Vec<Drift>,
}

impl DriftKind {
    /// The difference in words.
    pub fn describe(&self) -> String {
        let entitlement = |kind: Kind, name: &str, on: Option<&str>| match (kind, on) {
            (Kind::Group, _) => format!("membership of group {name:?}"),
            (Kind::License, _) => format!("licence {name:?}"),
            (Kind::Mailbox, _) => format!("mailbox {name:?}"),
            (Kind::Permission, Some(on)) => format!("permission {name:?} on {on:?}"),
            (Kind::Permission, None) => format!("permission {name:?}"),
        };
        match self {
            DriftKind::Attribute {
                attribute,
                is,
                wanted,
            } => format!("{attribute} is {is}, the rules give {wanted}"),
            DriftKind::Enabled => "enabled, but the person is out of scope".to_string(),
            DriftKind::Disabled => "disabled, but the person is in scope".to_string(),
            DriftKind::Unexplained {
                entitlement: kind,
                name,
                on,
            } => format!(
                "holds {}, which no rule gives (added by hand?)",
                entitlement(*kind, name, on.as_deref())
            ),
            DriftKind::Lacking {
                entitlement: kind,
                name,
                on,
            } => format!(
                "lacks {}, which the rules give",
                entitlement(*kind, name, on.as_deref())
            ),
        }
    }
}

impl Drift {
    /// ` [enforced]` when the policy corrects it, ` [after adoption]` on an account
    /// not linked yet, else nothing.
    pub fn marker(&self) -> &'static str {
        if self.enforced {
            " [enforced]"
        } else if !self.linked {
            " [after adoption]"
        } else {
            ""
        }
    }
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The evaluation date.
    pub today: NaiveDate,
    /// Per target read.
    pub targets: Vec<TargetReport>,
    /// Things worth a look.
    pub notes: Vec<String>,
}

impl Report {
    /// True if nothing needs a look: every person linked (or nothing wanted), no
    /// unmanaged account, no drift.
    pub fn is_clean(&self) -> bool {
        self.targets.iter().all(|t| {
            let c = &t.counts;
            c.matched + c.ambiguous + c.missing + c.conflict + c.unmanaged + c.drift == 0
        })
    }
}

/// A reconciliation's result.
pub struct Reconciled {
    /// What was found.
    pub report: Report,
    /// Adoption: `link_account` for every account found for a person that the state
    /// does not hold yet (matched ones get the person id written, linked ones are only
    /// recorded), carrying what the account holds.
    pub adoption: Vec<Action>,
    /// What the policy enforces: drift fixes and orphan disables, for targets whose
    /// policy says `enforce`.
    pub enforcement: Vec<Action>,
    /// The state the targets really have for linked accounts (the base of the limits).
    pub live_state: State,
}

impl Reconciled {
    /// The plan of adoption (when `adopt`) and enforcement, numbered, held to the rules'
    /// thresholds and the removal guard against what the targets hold.
    pub fn plan(&self, input: &ReconcileInput, adopt: bool) -> Plan {
        let mut actions: Vec<Action> = Vec::new();
        if adopt {
            actions.extend(self.adoption.iter().cloned());
        }
        actions.extend(self.enforcement.iter().cloned());
        for (k, a) in actions.iter_mut().enumerate() {
            a.seq = k as u32 + 1;
        }
        let limits = PlanInput {
            program: input.program,
            persons: input.persons,
            state: &self.live_state,
            today: input.today,
        };
        let all_blocks: Vec<Blocked> = plan::limits_passed(&limits, &actions);
        Plan {
            today: input.today,
            blocked: all_blocks.first().cloned(),
            all_blocks,
            notes: Vec::new(),
            origins: input.program.origins.iter().map(Because::from).collect(),
            actions,
        }
    }
}

/// Reads an inventory file (what `stroom reconcile --save-inventory` writes: a JSON
/// list of [`Inventory`]), with the place of the first problem.
pub fn parse_inventories(file: &str, text: &str) -> Result<Vec<Inventory>, String> {
    let text = crate::files::strip_bom(text);
    let mut de = serde_json::Deserializer::from_str(text);
    let inventories: Vec<Inventory> = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        format!(
            "{file}: not an inventory (written by stroom reconcile --save-inventory) at `{}`: {}",
            e.path(),
            e.inner()
        )
    })?;
    // A directory has one object per id: two would share every membership.
    for (t, inv) in inventories.iter().enumerate() {
        let mut seen = HashSet::new();
        for (k, a) in inv.accounts.iter().enumerate() {
            if !seen.insert(a.id.as_str()) {
                return Err(format!(
                    "{file}: `[{t}].accounts[{k}]`: account id {:?} is there twice in {}; a directory has one object per id (check how the file was made)",
                    a.id, inv.target
                ));
            }
        }
    }
    Ok(inventories)
}

/// Reconciles the inventories with the rules and the HR data.
pub fn reconcile(input: &ReconcileInput) -> Reconciled {
    let program = input.program;
    let population = Population::new(input.persons);
    let evals = eval::evaluate_all(program, &population, input.today);
    let mut notes = Vec::new();
    let mut reports = Vec::new();
    let mut live_state = State::default();
    // Per target read: its correlation, for the drift pass.
    let mut correlated: Vec<(TargetId, &Inventory, Correlated)> = Vec::new();
    for inv in input.inventories {
        let Some(t) = program.target_id(&inv.target) else {
            notes.push(format!(
                "target `{}` was read but the rules do not know it",
                inv.target
            ));
            continue;
        };
        // A target whose accounts are another's (Exchange: Entra ID) is planned only
        // with that account: without it every holding would look unexplained.
        if let Some(kind) = program.targets[t as usize].kind.account_host() {
            let host = program
                .account_target(t)
                .map(|h| &program.targets[h as usize].name);
            let read = host.is_some_and(|h| input.inventories.iter().any(|i| *i.target == **h));
            if !read {
                let host = host.map_or(kind.as_str(), |h| &**h);
                notes.push(format!(
                    "{}: its accounts are {host}'s; read {host} too (--target {host}) to reconcile it",
                    inv.target
                ));
                continue;
            }
        }
        let c = correlate::correlate(program, t, inv, input, &evals, &population);
        notes.extend(c.notes.iter().cloned());
        live_state_of(program, t, inv, &c, &mut live_state);
        correlated.push((t, inv, c));
    }
    // The ordinary planner against what the targets hold: its actions on linked
    // accounts are the drift.
    let drift_plan = plan::build_plan(&PlanInput {
        program,
        persons: input.persons,
        state: &live_state,
        today: input.today,
    });
    let mut adoption = Vec::new();
    let mut enforcement = Vec::new();
    for (t, inv, c) in &correlated {
        let target = &program.targets[*t as usize];
        let policy = input.policy.of(&target.name);
        let report = target_report(input, *t, inv, c, &drift_plan, policy, &mut enforcement);
        adoption.extend(adoption_actions(input, *t, inv, c, &evals, policy));
        reports.push(report);
    }
    Reconciled {
        report: Report {
            today: input.today,
            targets: reports,
            notes,
        },
        adoption,
        enforcement,
        live_state,
    }
}

/// The attributes of an account as the state records them: the ones the account block
/// sets, with references (the manager) turned from account ids into person ids.
fn recorded_attributes(
    program: &Program,
    target: TargetId,
    account: &LiveAccount,
    person_of: &HashMap<&str, &str>,
) -> serde_json::Map<String, serde_json::Value> {
    let mut out = serde_json::Map::new();
    let Some(spec) = program.account_spec(target) else {
        return out;
    };
    let kind = program.targets[target as usize].kind;
    for (name, _) in &spec.attributes {
        let Some((_, v)) = account
            .attributes
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
        else {
            continue;
        };
        let v = if kind.reference_attributes().contains(&&**name) {
            match v.as_str().and_then(|id| person_of.get(id)) {
                Some(p) => serde_json::Value::String(p.to_string()),
                None => v.clone(),
            }
        } else {
            v.clone()
        };
        out.insert(name.to_string(), v);
    }
    out
}

/// Adds the accounts of one target that are (linked) or would be (matched) a person's,
/// with their managed memberships, to the live state: the planner's actions on the
/// matched ones are what the first plan after adoption will do.
fn live_state_of(
    program: &Program,
    target: TargetId,
    inv: &Inventory,
    c: &Correlated,
    state: &mut State,
) {
    let person_of = c.person_of_account(inv);
    let name = &program.targets[target as usize].name;
    for (person, k, _) in c.owned() {
        let a = &inv.accounts[k];
        state.accounts.push(AccountState {
            person: person.to_string(),
            target: name.to_string(),
            id: Some(a.id.clone()),
            enabled: a.enabled.unwrap_or(true),
            disabled_on: None,
            attributes: recorded_attributes(program, target, a, &person_of)
                .into_iter()
                .collect(),
            handover: None,
        });
        for (kind, held, on) in c.holdings_of(inv, k) {
            state.grants.push(GrantState {
                person: person.to_string(),
                target: name.to_string(),
                kind,
                name: held.to_string(),
                on: on.map(str::to_string),
            });
        }
    }
}

/// The report of one target, and the actions its policy enforces.
fn target_report(
    input: &ReconcileInput,
    t: TargetId,
    inv: &Inventory,
    c: &Correlated,
    drift_plan: &Plan,
    policy: &TargetPolicy,
    enforcement: &mut Vec<Action>,
) -> TargetReport {
    let program = input.program;
    let target = &program.targets[t as usize];
    let wanted_person = |id: &str| input.only_person.is_none_or(|p| p == id);
    let by_id: HashMap<&str, &Person> = input.persons.iter().map(|p| (&*p.id, p)).collect();
    let brief = |k: usize| AccountBrief::from(&inv.accounts[k]);
    let because = |o: OriginId| Because::from(&program.origins[o as usize]);
    let mut counts = Counts {
        accounts: inv.accounts.len(),
        ..Counts::default()
    };
    let mut persons = Vec::new();
    // The linked are the normal case: the report lists what needs a look, and every
    // person only for `--person`.
    for (person, found) in &c.found {
        let Some(p) = by_id.get(person.as_str()) else {
            continue;
        };
        if matches!(found, Found::Linked(_)) && input.only_person.is_none() {
            counts.linked += 1;
            continue;
        }
        let (situation, account, candidates, by, detail) = match found {
            Found::Linked(k) => (
                Situation::Linked,
                Some(brief(*k)),
                Vec::new(),
                None,
                format!("{} carries the person id", inv.accounts[*k].name),
            ),
            Found::Matched { account, by, keys } => (
                Situation::Matched,
                Some(brief(*account)),
                Vec::new(),
                Some(because(*by)),
                format!("found by {keys}; adoption writes the person id"),
            ),
            Found::Ambiguous {
                candidates,
                by,
                detail,
            } => (
                Situation::Ambiguous,
                None,
                candidates.iter().map(|k| brief(*k)).collect(),
                by.map(because),
                detail.clone(),
            ),
            Found::Conflict {
                linked,
                others,
                by,
                keys,
            } => (
                Situation::Conflict,
                Some(brief(*linked)),
                others.iter().map(|k| brief(*k)).collect(),
                Some(because(*by)),
                format!(
                    "{} carries the person id, but {keys} finds {}",
                    inv.accounts[*linked].name,
                    others
                        .iter()
                        .map(|k| inv.accounts[*k].name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ),
            Found::Missing => (
                Situation::Missing,
                None,
                Vec::new(),
                None,
                "the rules want an account; none was found".to_string(),
            ),
        };
        match situation {
            Situation::Linked => counts.linked += 1,
            Situation::Matched => counts.matched += 1,
            Situation::Ambiguous => counts.ambiguous += 1,
            Situation::Missing => counts.missing += 1,
            Situation::Conflict => counts.conflict += 1,
        }
        if !wanted_person(person) {
            continue;
        }
        persons.push(PersonFinding {
            person: person.clone(),
            name: p.display_name.clone(),
            employee_number: p.employee_number,
            situation,
            account,
            candidates,
            by,
            detail,
        });
    }
    persons.sort_by(|a, b| (a.situation, &a.person).cmp(&(b.situation, &b.person)));

    let mut unmanaged = Vec::new();
    for &k in &c.unmanaged {
        let a = &inv.accounts[k];
        let detail = match &a.person {
            Some(id) => format!(
                "carries person id {id}, which is not in the HR data (a leaver whose record is gone, or partial HR data: never disabled for that alone unless the policy enforces orphans)"
            ),
            None => "no person id, and no `correlate` line finds a person for it".to_string(),
        };
        counts.unmanaged += 1;
        if policy.orphans == Enforcement::Enforce && a.enabled != Some(false) {
            enforcement.push(Action {
                seq: 0,
                op: OpKind::Disable,
                kind: None,
                person: Arc::from(""),
                target: target.name.clone(),
                name: None,
                because: Default::default(),
                reason: Some(Cow::Owned(format!(
                    "orphan {}: no person in the HR data has this account (reconcile policy: orphans = enforce)",
                    a.name
                ))),
                detail: Some(Box::new(Detail {
                    account: Some(AccountRecord {
                        id: a.id.clone(),
                        enabled: true,
                        attributes: Default::default(),
                        grants: Vec::new(),
                    }),
                    ..Detail::default()
                })),
            });
        }
        if input.only_person.is_none() {
            unmanaged.push(Unmanaged {
                account: AccountBrief::from(a),
                created: a.created.clone(),
                last_logon: a.last_logon.clone(),
                detail,
            });
        }
    }
    let excluded: Vec<Excluded> = c
        .excluded
        .iter()
        .map(|(k, e)| Excluded {
            account: brief(*k),
            until: e.until,
            reason: e.reason.clone(),
        })
        .filter(|_| input.only_person.is_none())
        .collect();
    counts.excluded = c.excluded.len();

    // Drift: the planner's actions on linked accounts in this target (and in targets
    // whose accounts are this target's, when those were read too).
    let owned: HashMap<&str, (usize, bool)> = c.owned().map(|(p, k, l)| (p, (k, l))).collect();
    let mut drift = Vec::new();
    let enforce = policy.drift == Enforcement::Enforce;
    for a in &drift_plan.actions {
        if *a.target != *target.name {
            continue;
        }
        let Some(&(k, linked)) = owned.get(&*a.person) else {
            continue;
        };
        let what: Vec<DriftKind> = match a.op {
            OpKind::Update => a
                .changes()
                .into_iter()
                .flatten()
                .map(|(attr, pair)| DriftKind::Attribute {
                    attribute: attr.clone(),
                    is: pair.get(0).cloned().unwrap_or_default(),
                    wanted: pair.get(1).cloned().unwrap_or_default(),
                })
                .collect(),
            OpKind::Enable => vec![DriftKind::Disabled],
            OpKind::Disable => vec![DriftKind::Enabled],
            OpKind::Grant | OpKind::Revoke => {
                let (Some(kind), Some(name)) = (a.kind, a.name.as_deref()) else {
                    continue;
                };
                let (name, on) = (name.to_string(), a.on().map(str::to_string));
                vec![if a.op == OpKind::Grant {
                    DriftKind::Lacking {
                        entitlement: kind,
                        name,
                        on,
                    }
                } else {
                    DriftKind::Unexplained {
                        entitlement: kind,
                        name,
                        on,
                    }
                }]
            }
            _ => continue,
        };
        // An account is fixed once it is linked; a matched one is fixed by the first
        // plan after adoption, which this previews.
        let enforced = enforce && linked;
        if enforced {
            let mut fix = a.clone();
            fix.seq = 0;
            enforcement.push(fix);
        }
        counts.drift += what.len();
        if !wanted_person(&a.person) {
            continue;
        }
        let name = by_id
            .get(&*a.person)
            .map(|p| p.display_name.clone())
            .unwrap_or_default();
        let reason = a.reason.as_deref().map(str::to_string).or_else(|| {
            let rules: Vec<String> = drift_plan
                .because(a)
                .map(|b| format!("{} ({}:{})", b.rule, b.file, b.line))
                .collect();
            (!rules.is_empty()).then(|| rules.join(", "))
        });
        for what in what {
            drift.push(Drift {
                person: a.person.to_string(),
                person_name: name.clone(),
                account: inv.accounts[k].name.clone(),
                what,
                reason: reason.clone(),
                linked,
                enforced,
            });
        }
    }
    TargetReport {
        target: target.name.to_string(),
        calls: inv.calls,
        counts,
        persons,
        unmanaged,
        excluded,
        drift,
    }
}

/// `link_account` actions for the accounts of one target that adoption takes over.
fn adoption_actions(
    input: &ReconcileInput,
    t: TargetId,
    inv: &Inventory,
    c: &Correlated,
    evals: &[eval::PersonEval],
    policy: &TargetPolicy,
) -> Vec<Action> {
    let program = input.program;
    let target = &program.targets[t as usize];
    let held: HashSet<&str> = input
        .state
        .accounts
        .iter()
        .filter(|a| *a.target == *target.name)
        .map(|a| a.person.as_str())
        .collect();
    let person_of = c.person_of_account(inv);
    let eval_of: HashMap<&str, &eval::PersonEval> =
        evals.iter().map(|e| (&*e.person.id, e)).collect();
    let block = program.account_spec(t).map(|s| s.origin);
    let mut out = Vec::new();
    for (person, found) in &c.found {
        let (k, by, reason) = match found {
            Found::Matched { account, by, keys } => (
                *account,
                Some(*by),
                format!("adopt {}: found by {keys}", inv.accounts[*account].name),
            ),
            Found::Linked(k) | Found::Conflict { linked: k, .. }
                if !held.contains(person.as_str()) =>
            {
                (
                    *k,
                    block,
                    format!(
                        "record {}: it carries the person id, the state did not know it",
                        inv.accounts[*k].name
                    ),
                )
            }
            _ => continue,
        };
        if input.only_person.is_some_and(|p| p != person) {
            continue;
        }
        let a = &inv.accounts[k];
        // What the rules give this person here; a hand-added membership comes into the
        // state (and so is revoked by the next plan) only where the policy enforces drift.
        let wanted: HashSet<(Kind, String, Option<String>)> = eval_of
            .get(person.as_str())
            .map(|ev| {
                ev.grants
                    .iter()
                    .filter(|g| *program.targets[g.target as usize].name == *target.name)
                    .map(|g| {
                        (
                            g.kind,
                            g.name.to_lowercase(),
                            g.on.as_deref().map(str::to_lowercase),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let grants: Vec<HeldGrant> = c
            .holdings_of(inv, k)
            .filter(|(kind, name, on)| {
                policy.drift == Enforcement::Enforce
                    || wanted.contains(&(*kind, name.to_lowercase(), on.map(str::to_lowercase)))
            })
            .map(|(kind, name, on)| HeldGrant {
                kind,
                name: name.to_string(),
                on: on.map(str::to_string),
            })
            .collect();
        out.push(Action {
            seq: 0,
            op: OpKind::Link,
            kind: None,
            person: Arc::from(person.as_str()),
            target: target.name.clone(),
            name: None,
            because: by.into_iter().collect(),
            reason: Some(Cow::Owned(reason)),
            detail: Some(Box::new(Detail {
                account: Some(AccountRecord {
                    id: a.id.clone(),
                    enabled: a.enabled.unwrap_or(true),
                    attributes: recorded_attributes(program, t, a, &person_of),
                    grants,
                }),
                ..Detail::default()
            })),
        });
    }
    out
}

/// True for a target `stroom reconcile` reads when none is named: one the rules make
/// accounts in, or one whose accounts are another target's (Exchange) that the rules
/// grant something in.
pub fn reconciled_by_default(program: &Program, t: TargetId) -> bool {
    program.account_spec(t).is_some()
        || (program.targets[t as usize].kind.account_host().is_some()
            && program.statements.iter().any(|s| {
                s.actions.iter().any(
                    |a| matches!(a, crate::rules::program::CEffect::Grant { target, .. } if *target == t),
                )
            }))
}

/// Persons whose account in a target the rules want now.
pub(crate) fn wants_account(ev: &eval::PersonEval, t: TargetId) -> bool {
    ev.accounts
        .iter()
        .any(|a| a.target == t && matches!(a.want, AccountWant::Enabled | AccountWant::PreStart))
}

/// Counts per situation over all targets, for summaries.
pub fn totals(report: &Report) -> BTreeMap<&'static str, usize> {
    let mut out = BTreeMap::new();
    for t in &report.targets {
        for (k, v) in t.counts.findings() {
            *out.entry(k).or_insert(0) += v;
        }
    }
    out
}

impl Counts {
    /// Every finding's count by name, in report order (the accounts read left out).
    pub fn findings(&self) -> [(&'static str, usize); 8] {
        [
            ("linked", self.linked),
            ("matched", self.matched),
            ("ambiguous", self.ambiguous),
            ("missing", self.missing),
            ("conflict", self.conflict),
            ("unmanaged", self.unmanaged),
            ("excluded", self.excluded),
            ("drift", self.drift),
        ]
    }
}

impl Situation {
    /// The order reports list persons in: what needs a look first.
    pub const REPORT_ORDER: [Situation; 5] = [
        Situation::Conflict,
        Situation::Ambiguous,
        Situation::Matched,
        Situation::Missing,
        Situation::Linked,
    ];
}
