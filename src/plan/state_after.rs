//! What an action does to the state when it succeeds: one rule ([`StateEditor`]), used
//! by the planner to dry-run several days in a row ([`state_after`]) and by the apply
//! engine to write the state after a run (from the journal's done steps).

use super::Plan;
use crate::model::{AccountState, GrantState, State};
use crate::rules::program::{Kind, OpKind};
use chrono::NaiveDate;
use rustc_hash::{FxHashMap, FxHasher};
use serde_json::{Map, Value};
use std::hash::{Hash, Hasher};

/// One action's outcome, as the planner's actions and a plan document's both describe it.
#[derive(Debug, Clone, Copy)]
pub struct Outcome<'a> {
    /// What was done.
    pub op: OpKind,
    /// The person.
    pub person: &'a str,
    /// The target.
    pub target: &'a str,
    /// Entitlement kind (grant, revoke).
    pub kind: Option<Kind>,
    /// Entitlement name (grant, revoke).
    pub name: Option<&'a str>,
    /// Permission object (grant, revoke).
    pub on: Option<&'a str>,
    /// A new account's attributes (create).
    pub attributes: Option<&'a Map<String, Value>>,
    /// Attribute → [old, new] (update).
    pub changes: Option<&'a Map<String, Value>>,
    /// The account's id in the target, when the target told it (create).
    pub account_id: Option<&'a str>,
    /// The account the plan names (link_account: what it records).
    pub account: Option<&'a crate::model::live::AccountRecord>,
    /// Where the account's first credential stands after a `notify` that hands it
    /// over (done when sent; due when it failed or was not tried).
    pub handover: Option<crate::model::notice::HandoverState>,
}

/// A state being changed by outcomes, with the one rule of what an outcome does: a
/// create of an account that is there already only records its id; a delete takes the
/// account's grants in that target with it (they were memberships of the account); a
/// grant that is there already is not recorded twice.
/// Accounts and grants are found through hash indexes and removed by leaving a hole
/// (filled at [`StateEditor::finish`], order kept), so a plan of millions of actions
/// costs one pass; a scan of the state per action was quadratic (a plan of 3.9 million
/// grants never finished).
pub struct StateEditor {
    accounts: Vec<Option<AccountState>>,
    grants: Vec<Option<GrantState>>,
    /// Slots by hash of (person, target).
    account_slots: FxHashMap<u64, Vec<usize>>,
    /// Grant slots by hash of the whole grant.
    grant_slots: FxHashMap<u64, Vec<usize>>,
    /// Grant slots by hash of their (person, target): what a delete takes along.
    grants_of_account: FxHashMap<u64, Vec<usize>>,
}

fn key_of(person: &str, target: &str) -> u64 {
    let mut h = FxHasher::default();
    (person, target).hash(&mut h);
    h.finish()
}

fn key_of_grant(g: &GrantState) -> u64 {
    let mut h = FxHasher::default();
    g.hash(&mut h);
    h.finish()
}

impl StateEditor {
    /// Starts from `state`.
    pub fn new(state: State) -> Self {
        let mut editor = StateEditor {
            accounts: Vec::with_capacity(state.accounts.len()),
            grants: Vec::with_capacity(state.grants.len()),
            account_slots: FxHashMap::default(),
            grant_slots: FxHashMap::default(),
            grants_of_account: FxHashMap::default(),
        };
        for a in state.accounts {
            editor.push_account(a);
        }
        for g in state.grants {
            editor.push_grant(g);
        }
        editor
    }

    fn push_account(&mut self, a: AccountState) {
        let slot = self.accounts.len();
        self.account_slots
            .entry(key_of(&a.person, &a.target))
            .or_default()
            .push(slot);
        self.accounts.push(Some(a));
    }

    fn push_grant(&mut self, g: GrantState) {
        let slot = self.grants.len();
        self.grant_slots
            .entry(key_of_grant(&g))
            .or_default()
            .push(slot);
        self.grants_of_account
            .entry(key_of(&g.person, &g.target))
            .or_default()
            .push(slot);
        self.grants.push(Some(g));
    }

    /// The person's first account in the target.
    fn account_mut(&mut self, person: &str, target: &str) -> Option<&mut AccountState> {
        let slots = self.account_slots.get(&key_of(person, target))?;
        let slot = slots.iter().copied().find(|&i| {
            self.accounts[i]
                .as_ref()
                .is_some_and(|a| a.person == person && a.target == target)
        })?;
        self.accounts[slot].as_mut()
    }

    /// Applies one outcome; `today` is the date a disable is recorded with.
    pub fn apply(&mut self, o: &Outcome<'_>, today: Option<NaiveDate>) {
        match o.op {
            // The state records who holds what; a group enters it with its first grant.
            OpKind::CreateGroup => {}
            OpKind::Link => {
                let Some(record) = o.account else { return };
                let linked = AccountState {
                    person: o.person.to_string(),
                    target: o.target.to_string(),
                    id: Some(record.id.clone()),
                    enabled: record.enabled,
                    disabled_on: if record.enabled { None } else { today },
                    attributes: record.attributes.clone().into_iter().collect(),
                    handover: None,
                };
                match self.account_mut(o.person, o.target) {
                    Some(acc) => *acc = linked,
                    None => self.push_account(linked),
                }
                for g in &record.grants {
                    let grant = GrantState {
                        person: o.person.to_string(),
                        target: o.target.to_string(),
                        kind: g.kind,
                        name: g.name.clone(),
                        on: g.on.clone(),
                    };
                    let known = self
                        .grant_slots
                        .get(&key_of_grant(&grant))
                        .is_some_and(|slots| {
                            slots
                                .iter()
                                .any(|&k| self.grants[k].as_ref() == Some(&grant))
                        });
                    if !known {
                        self.push_grant(grant);
                    }
                }
            }
            OpKind::Create => match self.account_mut(o.person, o.target) {
                Some(acc) => {
                    if let Some(id) = o.account_id {
                        acc.id = Some(id.to_string());
                    }
                }
                None => self.push_account(AccountState {
                    person: o.person.to_string(),
                    target: o.target.to_string(),
                    id: o.account_id.map(str::to_string),
                    enabled: false,
                    disabled_on: None,
                    attributes: o
                        .attributes
                        .map(|m| m.clone().into_iter().collect())
                        .unwrap_or_default(),
                    handover: None,
                }),
            },
            OpKind::Update => {
                if let (Some(acc), Some(changes)) =
                    (self.account_mut(o.person, o.target), o.changes)
                {
                    for (k, pair) in changes {
                        let new = pair
                            .as_array()
                            .and_then(|p| p.get(1))
                            .cloned()
                            .unwrap_or_default();
                        acc.attributes.insert(k.clone(), new);
                    }
                }
            }
            OpKind::Enable | OpKind::Disable => {
                if let Some(acc) = self.account_mut(o.person, o.target) {
                    acc.enabled = o.op == OpKind::Enable;
                    acc.disabled_on = if acc.enabled { None } else { today };
                }
            }
            OpKind::Delete => {
                let key = key_of(o.person, o.target);
                for slot in self.account_slots.remove(&key).unwrap_or_default() {
                    match &self.accounts[slot] {
                        Some(a) if a.person == o.person && a.target == o.target => {
                            self.accounts[slot] = None;
                        }
                        // Another account with the same hash stays findable.
                        Some(_) => self.account_slots.entry(key).or_default().push(slot),
                        None => {}
                    }
                }
                for slot in self
                    .grants_of_account
                    .get(&key)
                    .cloned()
                    .unwrap_or_default()
                {
                    if self.grants[slot]
                        .as_ref()
                        .is_some_and(|g| g.person == o.person && g.target == o.target)
                    {
                        self.grants[slot] = None;
                    }
                }
            }
            OpKind::Grant | OpKind::Revoke => {
                // Plans always say what is granted (the plan reader refuses one that does not).
                let Some(kind) = o.kind else { return };
                let grant = GrantState {
                    person: o.person.to_string(),
                    target: o.target.to_string(),
                    kind,
                    name: o.name.unwrap_or_default().to_string(),
                    on: o.on.map(str::to_string),
                };
                // The grant is there once at most, at the end (as a removal and a push).
                if let Some(slots) = self.grant_slots.get(&key_of_grant(&grant)) {
                    for &slot in slots {
                        if self.grants[slot].as_ref() == Some(&grant) {
                            self.grants[slot] = None;
                        }
                    }
                }
                if o.op == OpKind::Grant {
                    self.push_grant(grant);
                }
            }
            OpKind::Notify => {
                if let (Some(h), Some(acc)) = (o.handover, self.account_mut(o.person, o.target)) {
                    acc.handover = Some(h);
                }
            }
            OpKind::Writeback => {}
        }
    }

    /// The state now, in the order of the original with new entries at the end.
    pub fn finish(self) -> State {
        State {
            accounts: self.accounts.into_iter().flatten().collect(),
            grants: self.grants.into_iter().flatten().collect(),
        }
    }
}

/// Applies every action of `plan` to a copy of `state`, as if each succeeded.
pub fn state_after(state: &State, plan: &Plan) -> State {
    let mut next = StateEditor::new(state.clone());
    for a in &plan.actions {
        let outcome = Outcome {
            op: a.op,
            person: &a.person,
            target: &a.target,
            kind: a.kind,
            name: a.name.as_deref(),
            on: a.on(),
            attributes: a.attributes(),
            changes: a.changes(),
            account_id: None,
            account: a.account(),
            handover: a
                .notice()
                .filter(|n| n.credential)
                .map(|_| crate::model::notice::HandoverState::Done),
        };
        next.apply(&outcome, Some(plan.today));
    }
    next.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(op: OpKind) -> Outcome<'static> {
        Outcome {
            op,
            person: "p",
            target: "ad",
            kind: Some(Kind::Group),
            name: Some("Sales"),
            on: None,
            attributes: None,
            changes: None,
            account_id: None,
            account: None,
            handover: None,
        }
    }

    #[test]
    fn a_delete_takes_the_accounts_grants_and_a_grant_is_recorded_once() {
        let mut state = State::default();
        let day = NaiveDate::from_ymd_opt(2026, 12, 1);
        let apply_outcome = |state: &mut State, o: &Outcome<'_>, day| {
            let mut editor = StateEditor::new(std::mem::take(state));
            editor.apply(o, day);
            *state = editor.finish();
        };
        apply_outcome(&mut state, &outcome(OpKind::Create), day);
        apply_outcome(&mut state, &outcome(OpKind::Grant), day);
        apply_outcome(&mut state, &outcome(OpKind::Grant), day);
        assert_eq!(state.grants.len(), 1);
        apply_outcome(&mut state, &outcome(OpKind::Disable), day);
        assert_eq!(state.accounts[0].disabled_on, day);
        apply_outcome(
            &mut state,
            &Outcome {
                account_id: Some("CN=p"),
                ..outcome(OpKind::Create)
            },
            day,
        );
        assert_eq!(state.accounts.len(), 1);
        assert_eq!(state.accounts[0].id.as_deref(), Some("CN=p"));
        apply_outcome(&mut state, &outcome(OpKind::Delete), day);
        assert!(state.accounts.is_empty() && state.grants.is_empty());
    }

    /// The old rule, a scan of the state per outcome: the editor must agree with it.
    fn naive(state: &mut State, o: &Outcome<'_>, today: Option<NaiveDate>) {
        let is_account = |s: &AccountState| s.person == o.person && s.target == o.target;
        match o.op {
            OpKind::Create => match state.accounts.iter_mut().find(|s| is_account(s)) {
                Some(acc) => {
                    if let Some(id) = o.account_id {
                        acc.id = Some(id.to_string());
                    }
                }
                None => state.accounts.push(AccountState {
                    person: o.person.to_string(),
                    target: o.target.to_string(),
                    id: o.account_id.map(str::to_string),
                    enabled: false,
                    disabled_on: None,
                    attributes: Default::default(),
                    handover: None,
                }),
            },
            OpKind::Enable | OpKind::Disable => {
                if let Some(acc) = state.accounts.iter_mut().find(|s| is_account(s)) {
                    acc.enabled = o.op == OpKind::Enable;
                    acc.disabled_on = if acc.enabled { None } else { today };
                }
            }
            OpKind::Delete => {
                state.accounts.retain(|s| !is_account(s));
                state
                    .grants
                    .retain(|g| !(g.person == o.person && g.target == o.target));
            }
            OpKind::Grant | OpKind::Revoke => {
                let grant = GrantState {
                    person: o.person.to_string(),
                    target: o.target.to_string(),
                    kind: o.kind.unwrap_or(Kind::Group),
                    name: o.name.unwrap_or_default().to_string(),
                    on: None,
                };
                state.grants.retain(|g| *g != grant);
                if o.op == OpKind::Grant {
                    state.grants.push(grant);
                }
            }
            _ => {}
        }
    }

    #[test]
    fn the_editor_agrees_with_a_scan_per_outcome() {
        let ops = [
            OpKind::Create,
            OpKind::Enable,
            OpKind::Disable,
            OpKind::Delete,
            OpKind::Grant,
            OpKind::Grant,
            OpKind::Revoke,
        ];
        let persons = ["a", "b", "c"];
        let targets = ["ad", "entra"];
        let names = ["G1", "G2", "G3"];
        let day = NaiveDate::from_ymd_opt(2026, 12, 1);
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as usize
        };
        for _ in 0..200 {
            let mut editor = StateEditor::new(State::default());
            let mut reference = State::default();
            for _ in 0..60 {
                let o = Outcome {
                    op: ops[next() % ops.len()],
                    person: persons[next() % persons.len()],
                    target: targets[next() % targets.len()],
                    name: Some(names[next() % names.len()]),
                    ..outcome(OpKind::Grant)
                };
                editor.apply(&o, day);
                naive(&mut reference, &o, day);
            }
            assert_eq!(editor.finish(), reference);
        }
    }
}
