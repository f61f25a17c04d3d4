//! The interface every target system implements (Active Directory, Entra ID, Exchange
//! Online, Nmbrs write-back, or a library user's own), and the errors it reports.
//!
//! Every operation must be idempotent: creating an account that exists (found by
//! [`Target::correlate`]), adding a member who is already in, removing or deleting
//! what is not there: all count as success. The apply engine relies on this to resume a
//! half-done plan without duplicates.

pub mod ad;
pub mod entra;
pub mod exchange;
pub mod microsoft;
pub mod nmbrs;
pub mod scim;

use crate::model::group::GroupSettings;
use serde_json::{Map, Value};
use std::fmt;

/// A reference to an account in a target: its id there (DN, object id, employee id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRef {
    /// The target's id of the account.
    pub id: String,
    /// Enabled now, when the target says.
    pub enabled: Option<bool>,
}

/// What to grant or revoke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entitlement<'a> {
    /// Its kind.
    pub kind: crate::rules::program::Kind,
    /// Its name.
    pub name: &'a str,
    /// For permissions: the object it is on.
    pub on: Option<&'a str>,
}

/// How an operation failed, which decides what the engine does next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Throttled, timed out, server error, not visible yet: try again later.
    Transient,
    /// The target refuses this person's operation (bad value, conflict, no right):
    /// the person's later steps are skipped, other persons go on.
    Refused,
    /// The target cannot be used at all (wrong credentials, unreachable after
    /// retries): the run stops.
    Fatal,
    /// What the step needs is not there yet but is on its way (a mailbox appears
    /// minutes after its licence): the person waits while the others go on; after the
    /// wait limit the person's steps stay pending for the next run, never failed.
    NotReady,
}

/// A failed target operation. Messages must never hold a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetError {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// For people, with the fix where known.
    pub message: String,
}

impl TargetError {
    /// A transient failure.
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Transient,
            message: message.into(),
        }
    }

    /// A refused operation.
    pub fn refused(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Refused,
            message: message.into(),
        }
    }

    /// Not there yet; worth waiting for.
    pub fn not_ready(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::NotReady,
            message: message.into(),
        }
    }

    /// A failure that stops the run.
    pub fn fatal(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Fatal,
            message: message.into(),
        }
    }
}

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TargetError {}

/// The result of a target operation.
pub type TargetResult<T> = Result<T, TargetError>;

/// A target system. Implementations are called from several threads at once, for
/// different persons; operations for one person come one at a time, in plan order.
pub trait Target: Send + Sync {
    /// The target's name as rules use it (`ad`, `entra`, `exchange`, `nmbrs`, ...).
    fn name(&self) -> &str;

    /// Finds the person's account (by the correlation attribute, e.g. `employeeID`).
    fn correlate(&self, person: &str) -> TargetResult<Option<AccountRef>>;

    /// The entitlements the person's account holds now (for reconciliation).
    fn read_grants(&self, account: &AccountRef) -> TargetResult<Vec<(String, String)>>;

    /// Creates the account, disabled, with these attributes.
    fn create(&self, person: &str, attributes: &Map<String, Value>) -> TargetResult<AccountRef>;

    /// Sets attributes (new values only).
    fn update(&self, account: &AccountRef, values: &Map<String, Value>) -> TargetResult<()>;

    /// Enables the account.
    fn enable(&self, account: &AccountRef) -> TargetResult<()>;

    /// Disables the account.
    fn disable(&self, account: &AccountRef) -> TargetResult<()>;

    /// Deletes the account.
    fn delete(&self, account: &AccountRef) -> TargetResult<()>;

    /// Grants an entitlement ("already there" is success).
    fn grant(&self, account: &AccountRef, entitlement: &Entitlement) -> TargetResult<()>;

    /// Revokes an entitlement ("not there" is success).
    fn revoke(&self, account: &AccountRef, entitlement: &Entitlement) -> TargetResult<()>;

    /// Writes the person id into the correlation attribute of an account made before
    /// Stroom (adoption), so that [`Target::correlate`] finds it from then on. Writing
    /// the id it already carries is success; an account that carries another person's
    /// id is refused, never overwritten.
    fn link(&self, account: &AccountRef, person: &str) -> TargetResult<()> {
        let _ = (account, person);
        Err(TargetError::refused(format!(
            "`{}` cannot link accounts made before Stroom",
            self.name()
        )))
    }

    /// Makes a group a `group` declaration covers (`create_group`), as `settings`
    /// say, unless a group of that name exists: then it is left exactly as it is.
    /// Returns the group's id. Groups are never deleted by Stroom.
    fn create_group(&self, name: &str, settings: &GroupSettings) -> TargetResult<String> {
        let _ = (name, settings);
        Err(TargetError::refused(format!(
            "`{}` cannot create groups\n  help: create the group there yourself, or move \
             the `group` declaration to an ad or entra target",
            self.name()
        )))
    }

    /// Makes the account's first credential, to be handed over at once (`handover` in
    /// the rules): Entra ID a Temporary Access Pass valid from `from` for
    /// `valid_days`, AD a new initial password to change at first sign-in. By default
    /// refused.
    fn issue_credential(
        &self,
        account: &AccountRef,
        from: Option<chrono::NaiveDate>,
        valid_days: Option<u32>,
    ) -> TargetResult<Credential> {
        let _ = (account, from, valid_days);
        Err(TargetError::refused(format!(
            "`{}` cannot make a first credential\n  help: hand over in an ad or entra \
             target",
            self.name()
        )))
    }

    /// Withdraws a credential that could not be delivered, so that no working one is
    /// left unknown to everyone. Best effort.
    fn withdraw_credential(
        &self,
        account: &AccountRef,
        credential: &Credential,
    ) -> TargetResult<()> {
        let _ = (account, credential);
        Ok(())
    }

    /// What the target's system says its accounts take (`stroom check --online`), in
    /// the rules' attribute names; `None`: it does not say, and the kind's list holds.
    fn schema(&self) -> TargetResult<Option<crate::rules::program::TargetSchema>> {
        Ok(None)
    }

    /// Reads every account in the target's scope and their memberships of the managed
    /// entitlements (`stroom reconcile`), a page at a time.
    fn read_inventory(
        &self,
        request: &crate::model::live::ReadRequest,
    ) -> TargetResult<crate::model::live::Inventory> {
        let _ = request;
        Err(TargetError::fatal(format!(
            "`{}` cannot be read for reconciliation",
            self.name()
        )))
    }

    /// The error for a step that needs the person's account when there is none
    /// (`what`: the step in words, such as `update`). By default the step is refused; a target whose
    /// accounts appear by themselves (Exchange mailboxes) answers
    /// [`ErrorKind::NotReady`].
    fn no_account(&self, what: &str) -> TargetError {
        TargetError::refused(format!(
            "{what}: the person has no account in `{}`",
            self.name()
        ))
    }

    /// True when an account's id never changes (an object id, not a DN): the engine
    /// then keeps it across updates and takes it from the journal when it resumes,
    /// instead of correlating again (which, for an eventually consistent directory,
    /// may miss an account made seconds ago).
    fn stable_ids(&self) -> bool {
        false
    }

    /// For `--dry-run`: what this target would send for an action, without calling
    /// anything. `None`: the engine's generic description is used.
    fn preview(&self, action: &crate::plan::read::PlannedAction) -> Option<String> {
        let _ = action;
        None
    }
}

/// A first credential, made by [`Target::issue_credential`]: kept in memory only until
/// it is sent.
#[derive(Debug)]
pub struct Credential {
    /// The secret itself.
    pub secret: crate::secret::Secret,
    /// What it is, for the message ("Temporary Access Pass", "initial password").
    pub kind: &'static str,
    /// Until when it works, when it expires (a date).
    pub valid_until: Option<String>,
    /// The target's id of it, to withdraw it.
    pub id: Option<String>,
}

/// A new account's first password: 24 characters from the OS's random source, with
/// upper case, lower case, a digit and a symbol so that every complexity policy takes
/// it. Never logged, never stored: the person gets a reset through the helpdesk or
/// self-service.
pub(crate) fn generate_password() -> String {
    const SET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut out = String::from("Aa1!");
    for _ in 0..20 {
        let r = crate::random::random_u64() as usize;
        out.push(SET[r % SET.len()] as char);
    }
    out
}

/// Reads what each named target holds for `stroom reconcile`, all at once (one thread
/// per target): the accounts with the attributes the rules set and compare, and the
/// memberships of what the rules grant there. The first target that cannot be read
/// stops it, with its name.
pub fn read_inventories(
    program: &crate::rules::program::Program,
    targets: &[(&str, &dyn Target)],
) -> Result<(Vec<crate::model::live::Inventory>, Vec<String>), (String, TargetError)> {
    let mut notes = Vec::new();
    let mut asks = Vec::new();
    for (name, target) in targets {
        let Some(t) = program.target_id(name) else {
            return Err((
                name.to_string(),
                TargetError::fatal(format!("the rules do not know target `{name}`")),
            ));
        };
        let (managed, why) = crate::reconcile::managed_entitlements(program, t);
        notes.extend(why);
        asks.push((
            *name,
            *target,
            crate::reconcile::read_attributes(program, t),
            managed,
        ));
    }
    let results: Vec<(String, TargetResult<crate::model::live::Inventory>)> =
        std::thread::scope(|scope| {
            let running: Vec<_> = asks
                .iter()
                .map(|(name, target, attributes, managed)| {
                    scope.spawn(move || {
                        let request = crate::model::live::ReadRequest {
                            attributes,
                            managed,
                        };
                        (name.to_string(), target.read_inventory(&request))
                    })
                })
                .collect();
            running
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        (
                            "?".to_string(),
                            Err(TargetError::fatal("a target reader stopped unexpectedly")),
                        )
                    })
                })
                .collect()
        });
    let mut out = Vec::new();
    for (name, r) in results {
        out.push(r.map_err(|e| (name, e))?);
    }
    Ok((out, notes))
}
