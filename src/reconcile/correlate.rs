//! Finding each person's account among what a target holds: the person id first, then
//! the account block's `correlate` lines in order. Nothing is guessed: several
//! candidates, or one candidate two persons point to, stay ambiguous.

use super::policy::Exclusion;
use super::{wants_account, ReconcileInput};
use crate::model::live::{Inventory, Managed, ManagedNames};
use crate::model::Kind;
use crate::rules::eval::{self, PersonEval, Population};
use crate::rules::program::{
    AttrRule, CEffect, CKind, Correlation, OriginId, Program, Reads, TargetId,
};
use std::collections::{BTreeMap, HashMap, HashSet};

/// How one person's account was found.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Found {
    /// This account carries the person id.
    Linked(usize),
    /// A `correlate` line found exactly this account, which no other person claims.
    Matched {
        /// The account.
        account: usize,
        /// The line.
        by: OriginId,
        /// The line and the values, in words.
        keys: String,
    },
    /// Several candidates.
    Ambiguous {
        /// All of them.
        candidates: Vec<usize>,
        /// The line that found them (none: several accounts carry the person id).
        by: Option<OriginId>,
        /// Why, in words.
        detail: String,
    },
    /// The linked account, and other accounts the first `correlate` line that finds
    /// anything finds too (a duplicate, or the link is on the wrong account).
    Conflict {
        /// The account carrying the person id.
        linked: usize,
        /// What the line finds instead.
        others: Vec<usize>,
        /// The line.
        by: OriginId,
        /// The line and the values, in words.
        keys: String,
    },
    /// The rules want an account; none was found.
    Missing,
}

/// The correlation of one target.
pub(super) struct Correlated {
    /// Persons with a finding, in id order.
    pub found: Vec<(String, Found)>,
    /// Accounts no person has, in inventory order.
    pub unmanaged: Vec<usize>,
    /// Accounts left out, with the exclusion that did it.
    pub excluded: Vec<(usize, Exclusion)>,
    /// Things worth a look.
    pub notes: Vec<String>,
    /// Account (by index) → its holdings (by index into the inventory's).
    held: HashMap<usize, Vec<usize>>,
    /// What the rules manage in this target.
    managed: Managed,
}

impl Correlated {
    /// The managed memberships an account holds: (kind, name, object), named as the
    /// rules write them.
    pub fn holdings_of<'i>(
        &'i self,
        inv: &'i Inventory,
        account: usize,
    ) -> impl Iterator<Item = (Kind, &'i str, Option<&'i str>)> + 'i {
        self.held
            .get(&account)
            .into_iter()
            .flatten()
            .filter_map(|h| inv.holdings.get(*h))
            .map(|h| {
                let names = self.managed.of(h.kind);
                let name = names.map_or(h.name.as_str(), |n| n.spelling(&h.name));
                let on =
                    h.on.as_deref()
                        .map(|o| names.map_or(o, |n| n.object_spelling(o)));
                (h.kind, name, on)
            })
    }

    /// Persons with their account: the one that carries their id (linked, and the
    /// linked account of a conflict; `true`), or the one adoption would link
    /// (matched; `false`).
    pub fn owned(&self) -> impl Iterator<Item = (&str, usize, bool)> + '_ {
        self.found.iter().filter_map(|(p, f)| match f {
            Found::Linked(k) | Found::Conflict { linked: k, .. } => Some((p.as_str(), *k, true)),
            Found::Matched { account: k, .. } => Some((p.as_str(), *k, false)),
            _ => None,
        })
    }

    /// Account id → person, for every account that is or will be a person's (linked or
    /// matched): how a reference such as `manager` is read back as a person id.
    pub fn person_of_account<'i>(&'i self, inv: &'i Inventory) -> HashMap<&'i str, &'i str> {
        self.found
            .iter()
            .filter_map(|(p, f)| match f {
                Found::Linked(k)
                | Found::Conflict { linked: k, .. }
                | Found::Matched { account: k, .. } => {
                    Some((inv.accounts[*k].id.as_str(), p.as_str()))
                }
                _ => None,
            })
            .collect()
    }
}

/// A value as correlation compares it: without case and surrounding spaces.
fn folded(s: &str) -> String {
    s.trim().to_lowercase()
}

fn texts(v: &serde_json::Value) -> Vec<String> {
    match v {
        serde_json::Value::String(s) => vec![folded(s)],
        serde_json::Value::Array(items) => items.iter().flat_map(texts).collect(),
        serde_json::Value::Null => Vec::new(),
        other => vec![folded(&other.to_string())],
    }
}

/// The accounts whose attribute holds a value, by attribute then value.
type KeyIndex = HashMap<String, HashMap<String, Vec<usize>>>;

fn key_index(inv: &Inventory, active: &[bool], lines: &[Correlation]) -> KeyIndex {
    let mut index: KeyIndex = HashMap::new();
    for key in lines.iter().flat_map(|l| &l.keys) {
        let attr = key.attribute.to_lowercase();
        if index.contains_key(&attr) {
            continue;
        }
        let mut by_value: HashMap<String, Vec<usize>> = HashMap::new();
        for (k, a) in inv.accounts.iter().enumerate() {
            if !active[k] {
                continue;
            }
            if let Some((_, v)) = a.attributes.iter().find(|(n, _)| n.to_lowercase() == attr) {
                for t in texts(v) {
                    if !t.is_empty() {
                        by_value.entry(t).or_default().push(k);
                    }
                }
            }
        }
        index.insert(attr, by_value);
    }
    index
}

/// What a `correlate` line found for a person.
struct Hit {
    /// The line's place in the block (earlier lines are trusted more).
    rank: usize,
    /// The line.
    origin: OriginId,
    /// The accounts.
    accounts: Vec<usize>,
    /// The line and the person's values, in words.
    keys: String,
}

/// The first `correlate` line that finds accounts for the person (among accounts that
/// carry no person id, or this person's, and are not `taken` by a stronger claim).
fn fallback(
    program: &Program,
    spec: &crate::rules::program::AccountSpec,
    index: &KeyIndex,
    inv: &Inventory,
    person: &str,
    ctx: &eval::Ctx,
    taken: &HashSet<usize>,
) -> Option<Hit> {
    for (rank, line) in spec.correlation.iter().enumerate() {
        let Some(values) = eval::correlation_values(spec, line, ctx) else {
            continue;
        };
        // The accounts each key finds, by value; the line finds what every key finds.
        // Start from the key that finds fewest (an employee number, not a department)
        // and check the others on those accounts only, so a broad key costs nothing.
        let folded_values: Vec<Vec<String>> = values
            .iter()
            .map(|vals| vals.iter().map(|v| folded(v)).collect())
            .collect();
        let lists = |i: usize| -> Vec<&Vec<usize>> {
            let by_value = index.get(&line.keys[i].attribute.to_lowercase());
            folded_values[i]
                .iter()
                .filter_map(|v| by_value.and_then(|m| m.get(v)))
                .collect()
        };
        let Some(narrowest) =
            (0..line.keys.len()).min_by_key(|&i| lists(i).iter().map(|l| l.len()).sum::<usize>())
        else {
            continue;
        };
        let mut found: Vec<usize> = lists(narrowest).into_iter().flatten().copied().collect();
        found.sort_unstable();
        found.dedup();
        // The other keys, checked on the account itself.
        found.retain(|&k| {
            line.keys.iter().enumerate().all(|(i, key)| {
                i == narrowest
                    || inv.accounts[k]
                        .attributes
                        .iter()
                        .find(|(n, _)| n.eq_ignore_ascii_case(&key.attribute))
                        .is_some_and(|(_, v)| texts(v).iter().any(|t| folded_values[i].contains(t)))
            })
        });
        let hits: Vec<usize> = found
            .into_iter()
            .filter(|&k| {
                inv.accounts[k]
                    .person
                    .as_deref()
                    .is_none_or(|p| p == person)
            })
            .filter(|k| !taken.contains(k))
            .collect();
        if hits.is_empty() {
            continue;
        }
        let origin = &program.origins[line.origin as usize];
        let words: Vec<String> = line
            .keys
            .iter()
            .zip(&values)
            .map(|(k, v)| format!("{} = {}", k.attribute, v.join(" | ")))
            .collect();
        let keys = format!(
            "`correlate {}` ({}:{}): {}",
            line.keys
                .iter()
                .map(|k| &*k.attribute)
                .collect::<Vec<_>>()
                .join(", "),
            origin.file,
            origin.line,
            words.join(", ")
        );
        return Some(Hit {
            rank,
            origin: line.origin,
            accounts: hits,
            keys,
        });
    }
    None
}

/// Correlates every person with the accounts of one target.
pub(super) fn correlate(
    program: &Program,
    t: TargetId,
    inv: &Inventory,
    input: &ReconcileInput,
    evals: &[PersonEval],
    population: &Population,
) -> Correlated {
    let target = &program.targets[t as usize];
    let policy = input.policy.of(&target.name);
    let mut notes = Vec::new();
    let mut excluded = Vec::new();
    let mut active = vec![true; inv.accounts.len()];
    for (k, a) in inv.accounts.iter().enumerate() {
        if let Some(e) = policy.exclusion_of(a) {
            if e.until.is_none_or(|u| u >= input.today) {
                excluded.push((k, e.clone()));
                active[k] = false;
            } else if let Some(u) = e.until {
                notes.push(format!(
                    "{}: the exclusion of {} ended on {u}; it is reconciled again (remove it from stroom.toml, or extend it)",
                    target.name, a.name
                ));
            }
        }
    }
    let mut by_person: HashMap<&str, Vec<usize>> = HashMap::new();
    for (k, a) in inv.accounts.iter().enumerate() {
        if let (true, Some(p)) = (active[k], a.person.as_deref()) {
            by_person.entry(p).or_default().push(k);
        }
    }
    let spec = program.account_spec(t);
    let index = spec.map(|s| key_index(inv, &active, &s.correlation));
    let everything = Reads {
        primary: true,
        manager: true,
    };
    // Each person's first finding; then an account two persons point to goes to the
    // one whose line comes first in the block (the admin's order of trust), and the
    // others look again without it. Claims by the same line stay ambiguous.
    let ctxs: Vec<eval::Ctx> = evals
        .iter()
        .map(|ev| eval::person_ctx(program, population, ev.person, input.today, everything))
        .collect();
    let decide = |k: usize, taken: &HashSet<usize>| -> Option<(Found, Option<usize>)> {
        let ev = &evals[k];
        let id = &*ev.person.id;
        let linked = by_person.get(id).cloned().unwrap_or_default();
        let fb = match (spec, &index) {
            (Some(s), Some(ix)) => fallback(program, s, ix, inv, id, &ctxs[k], taken),
            _ => None,
        };
        Some(match (linked.as_slice(), fb) {
            ([], None) if wants_account(ev, t) => (Found::Missing, None),
            ([], None) => return None,
            ([], Some(hit)) if hit.accounts.len() == 1 => (
                Found::Matched {
                    account: hit.accounts[0],
                    by: hit.origin,
                    keys: hit.keys,
                },
                Some(hit.rank),
            ),
            ([], Some(hit)) => (
                Found::Ambiguous {
                    detail: format!("{} accounts found by {}", hit.accounts.len(), hit.keys),
                    candidates: hit.accounts,
                    by: Some(hit.origin),
                },
                None,
            ),
            ([k], Some(hit)) if hit.accounts.iter().any(|a| a != k) => (
                Found::Conflict {
                    linked: *k,
                    others: hit.accounts.into_iter().filter(|a| a != k).collect(),
                    by: hit.origin,
                    keys: hit.keys,
                },
                None,
            ),
            ([k], _) => (Found::Linked(*k), None),
            (several, _) => (
                Found::Ambiguous {
                    candidates: several.to_vec(),
                    by: None,
                    detail: format!("{} accounts carry the person id", several.len()),
                },
                None,
            ),
        })
    };
    let none = HashSet::new();
    let mut decided: Vec<Option<(Found, Option<usize>)>> =
        (0..evals.len()).map(|k| decide(k, &none)).collect();
    let mut taken: HashSet<usize> = HashSet::new();
    // Each round settles at least one account for good; a few rounds settle any real
    // directory, and what is left stays ambiguous.
    for _ in 0..8 {
        let mut claims: HashMap<usize, Vec<(usize, usize)>> = HashMap::new();
        for (k, d) in decided.iter().enumerate() {
            if let Some((Found::Matched { account, .. }, Some(rank))) = d {
                claims.entry(*account).or_default().push((*rank, k));
            }
        }
        let mut losers = Vec::new();
        for (account, mut claimants) in claims.into_iter().filter(|(_, c)| c.len() > 1) {
            claimants.sort_unstable();
            if claimants[0].0 < claimants[1].0 {
                taken.insert(account);
                losers.extend(claimants[1..].iter().map(|(_, k)| *k));
            }
        }
        if losers.is_empty() {
            break;
        }
        for k in losers {
            decided[k] = decide(k, &taken);
        }
    }
    let mut found: Vec<(String, Found)> = decided
        .into_iter()
        .zip(evals)
        .filter_map(|(d, ev)| d.map(|(f, _)| (ev.person.id.to_string(), f)))
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    let mut claims: HashMap<usize, Vec<&str>> = HashMap::new();
    for (p, f) in &found {
        if let Found::Matched { account, .. } = f {
            claims.entry(*account).or_default().push(p);
        }
    }
    let disputed: HashMap<usize, Vec<String>> = claims
        .into_iter()
        .filter(|(_, ps)| ps.len() > 1)
        .map(|(k, ps)| (k, ps.into_iter().map(str::to_string).collect()))
        .collect();
    for (p, f) in &mut found {
        if let Found::Matched { account, by, keys } = f {
            if let Some(all) = disputed.get(account) {
                let others: Vec<&str> = all
                    .iter()
                    .map(String::as_str)
                    .filter(|o| *o != p.as_str())
                    .collect();
                *f = Found::Ambiguous {
                    candidates: vec![*account],
                    by: Some(*by),
                    detail: format!(
                        "{} found by {keys}, but it is also the match of person {} by a line of the same rank",
                        inv.accounts[*account].name,
                        others.join(", ")
                    ),
                };
            }
        }
    }
    let mut owned: HashSet<usize> = HashSet::new();
    for (_, f) in &found {
        match f {
            Found::Linked(k) | Found::Matched { account: k, .. } => {
                owned.insert(*k);
            }
            Found::Ambiguous { candidates, .. } => owned.extend(candidates),
            Found::Conflict { linked, others, .. } => {
                owned.insert(*linked);
                owned.extend(others);
            }
            Found::Missing => {}
        }
    }
    let unmanaged = (0..inv.accounts.len())
        .filter(|k| active[*k] && !owned.contains(k))
        .collect();
    let by_id: HashMap<&str, usize> = inv
        .accounts
        .iter()
        .enumerate()
        .map(|(k, a)| (a.id.as_str(), k))
        .collect();
    // Only what the rules manage: a membership of anything else is not Stroom's
    // business, whoever read it (an inventory file may hold more than a reader asks).
    let (managed, _) = managed_entitlements(program, t);
    let mut held: HashMap<usize, Vec<usize>> = HashMap::new();
    for (h, holding) in inv.holdings.iter().enumerate() {
        if !managed.covers_holding(holding) {
            continue;
        }
        if let Some(&k) = by_id.get(holding.account.as_str()) {
            held.entry(k).or_default().push(h);
        }
    }
    Correlated {
        found,
        unmanaged,
        excluded,
        notes,
        held,
        managed,
    }
}

/// The entitlements the rules manage in a target: what some rule grants there, by
/// constant name or by the constant beginning of a computed one.
pub fn managed_entitlements(program: &Program, t: TargetId) -> (Managed, Vec<String>) {
    let mut kinds: BTreeMap<Kind, ManagedNames> = BTreeMap::new();
    let mut notes = Vec::new();
    for st in &program.statements {
        for effect in &st.actions {
            let CEffect::Grant {
                target,
                kind,
                name,
                fixed_name,
                on,
            } = effect
            else {
                continue;
            };
            if *target != t {
                continue;
            }
            let names = kinds.entry(*kind).or_default();
            match fixed_name {
                Some((n, _)) => {
                    names.exact.insert(n.to_lowercase(), n.to_string());
                }
                None => match name.constant_prefix().filter(|p| !p.is_empty()) {
                    Some(p) => {
                        names.prefixes.insert(p.to_lowercase());
                    }
                    None => {
                        let o = &program.origins[st.origin as usize];
                        notes.push(format!(
                            "{}:{}: a {kind} name computed without a constant beginning: memberships of such names are not reconciled",
                            o.file, o.line
                        ));
                    }
                },
            }
            if let Some(CKind::Const(crate::model::Value::Str(s))) = on.as_ref().map(|e| &e.kind) {
                names.objects.insert(s.to_lowercase(), s.to_string());
            }
        }
    }
    (Managed { kinds }, notes)
}

/// The account attributes to read from a target: those its account block sets and
/// those its `correlate` lines compare.
pub fn read_attributes(program: &Program, t: TargetId) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let Some(spec) = program.account_spec(t) else {
        return out;
    };
    let names = spec
        .attributes
        .iter()
        .filter(|(_, rule)| matches!(rule, AttrRule::Expr(_) | AttrRule::Unique { .. }))
        .map(|(n, _)| n.to_string())
        .chain(
            spec.correlation
                .iter()
                .flat_map(|l| &l.keys)
                .map(|k| k.attribute.to_string()),
        );
    for n in names {
        if !out.iter().any(|o| o.eq_ignore_ascii_case(&n)) {
            out.push(n);
        }
    }
    out
}
