//! What an action does to the state when it succeeds: one rule, used by the planner to
//! dry-run several days in a row ([`state_after`]) and by the apply engine to write the
//! state after a run (from the journal's done steps).

use super::Plan;
use crate::model::{AccountState, GrantState, State};
use crate::rules::program::{Kind, OpKind};
use chrono::NaiveDate;
use serde_json::{Map, Value};

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
}

/// Applies one outcome to `state`; `today` is the date a disable is recorded with.
///
/// A create of an account that is there already only records its id; a delete takes
/// the account's grants in that target with it (they were memberships of the account);
/// a grant that is there already is not recorded twice.
pub fn apply_outcome(state: &mut State, o: &Outcome<'_>, today: Option<NaiveDate>) {
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
                attributes: o
                    .attributes
                    .map(|m| m.clone().into_iter().collect())
                    .unwrap_or_default(),
            }),
        },
        OpKind::Update => {
            if let (Some(acc), Some(changes)) =
                (state.accounts.iter_mut().find(|s| is_account(s)), o.changes)
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
            // Plans always say what is granted (the plan reader refuses one that does not).
            let Some(kind) = o.kind else { return };
            let grant = GrantState {
                person: o.person.to_string(),
                target: o.target.to_string(),
                kind,
                name: o.name.unwrap_or_default().to_string(),
                on: o.on.map(str::to_string),
            };
            state.grants.retain(|g| *g != grant);
            if o.op == OpKind::Grant {
                state.grants.push(grant);
            }
        }
        OpKind::Writeback => {}
    }
}

/// Applies every action of `plan` to a copy of `state`, as if each succeeded.
pub fn state_after(state: &State, plan: &Plan) -> State {
    let mut next = state.clone();
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
        };
        apply_outcome(&mut next, &outcome, Some(plan.today));
    }
    next
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
        }
    }

    #[test]
    fn a_delete_takes_the_accounts_grants_and_a_grant_is_recorded_once() {
        let mut state = State::default();
        let day = NaiveDate::from_ymd_opt(2026, 12, 1);
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
}
