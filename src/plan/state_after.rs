//! The state a plan leaves behind if every action succeeds: used to dry-run several days
//! in a row (tests, examples) and by adapters to record what they did.

use super::Plan;
use crate::model::{AccountState, GrantState, State};
use crate::rules::program::OpKind;

/// Applies every action of `plan` to a copy of `state`.
pub fn state_after(state: &State, plan: &Plan) -> State {
    let mut next = state.clone();
    for a in &plan.actions {
        let is_account = |s: &AccountState| *s.person == *a.person && *s.target == *a.target;
        match a.op {
            OpKind::Create => {
                if !next.accounts.iter().any(is_account) {
                    next.accounts.push(AccountState {
                        person: a.person.to_string(),
                        target: a.target.to_string(),
                        id: None,
                        enabled: false,
                        disabled_on: None,
                        attributes: a
                            .attributes()
                            .map(|m| m.clone().into_iter().collect())
                            .unwrap_or_default(),
                    });
                }
            }
            OpKind::Update => {
                if let (Some(acc), Some(changes)) = (
                    next.accounts.iter_mut().find(|s| is_account(s)),
                    a.changes(),
                ) {
                    for (k, pair) in changes.iter() {
                        let new = pair
                            .as_array()
                            .and_then(|p| p.get(1))
                            .cloned()
                            .unwrap_or_default();
                        acc.attributes.insert(k.clone(), new);
                    }
                }
            }
            OpKind::Enable => {
                if let Some(acc) = next.accounts.iter_mut().find(|s| is_account(s)) {
                    acc.enabled = true;
                    acc.disabled_on = None;
                }
            }
            OpKind::Disable => {
                if let Some(acc) = next.accounts.iter_mut().find(|s| is_account(s)) {
                    acc.enabled = false;
                    acc.disabled_on = Some(plan.today);
                }
            }
            OpKind::Delete => next.accounts.retain(|s| !is_account(s)),
            OpKind::Grant => next.grants.push(GrantState {
                person: a.person.to_string(),
                target: a.target.to_string(),
                kind: a.kind.map(|k| k.as_str().to_string()).unwrap_or_default(),
                name: a.name.as_deref().unwrap_or_default().to_string(),
                on: a.on().map(str::to_string),
            }),
            OpKind::Revoke => next.grants.retain(|g| {
                !(*g.person == *a.person
                    && *g.target == *a.target
                    && a.kind.is_some_and(|k| k.as_str() == g.kind)
                    && a.name.as_deref() == Some(g.name.as_str())
                    && a.on() == g.on.as_deref())
            }),
            OpKind::Writeback => {}
        }
    }
    next
}
