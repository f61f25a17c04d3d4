//! The apply engine: carries out a plan document through the targets, in plan order
//! per person, several persons at once, with a journal that makes any interruption
//! resumable and an audit log of every operation.
//!
//! - **Resumable**: each step is journalled as started before the target is called and
//!   as done after. A resumed run skips done steps and repeats started ones; target
//!   operations are idempotent (a create first correlates), so nothing is duplicated.
//!   The audit line of a step is written before the journal records it as done, so a
//!   kill between the two repeats the line on resume and never loses it.
//! - **Isolated failures**: a step the target refuses fails that person only; the
//!   person's later steps are skipped and reported; other persons go on. A fatal
//!   target error (bad credentials) stops the run; everything not done stays pending.
//! - **Waiting, not failing**: a step whose object is on its way (a mailbox minutes
//!   after its licence) lets the person wait while the others go on, and is tried
//!   again with growing pauses; when [`ApplyOptions::ready_wait`] is over, the person's
//!   steps stay pending for the next run.
//! - **Safe by default**: a blocked plan (threshold, constraint) is not applied
//!   without approval, and every target the plan names must be configured before the
//!   first write.

pub mod audit;
pub mod journal;

use crate::model::State;
use crate::plan::read::{PlanDocument, PlannedAction};
use crate::rules::program::OpKind;
use crate::targets::{AccountRef, Entitlement, ErrorKind, Target, TargetError};
use audit::{Audit, AuditEntry};
use journal::{Journal, JournalError, StepStatus};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How to apply.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Persons worked on at once.
    pub concurrency: usize,
    /// Describe each operation instead of carrying it out.
    pub dry_run: bool,
    /// Apply a plan that is blocked by a threshold or constraint.
    pub approve: bool,
    /// Attempts for a transient failure.
    pub max_attempts: u32,
    /// First delay between attempts (doubled each time).
    pub backoff: Duration,
    /// How long a person may wait for something on its way (a new mailbox).
    pub ready_wait: Duration,
    /// First pause before such a person is tried again (doubled, at most a minute).
    pub ready_backoff: Duration,
    /// Told every step's result as it is audited: a live step view.
    pub on_step: Option<StepHook>,
    /// Carries `notify` messages (the first-day hand-over); a plan with such steps is
    /// not applied without it.
    pub deliver: Option<Delivery>,
}

/// The channels that carry `notify` messages ([`crate::notify::Notifier`], or a test's).
#[derive(Clone)]
pub struct Delivery(pub Arc<dyn crate::notify::Deliver>);

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Delivery")
    }
}

/// Called with each step's audit entry as the step ends (`stroom sync --person`
/// shows them as they happen).
#[derive(Clone)]
pub struct StepHook(pub Arc<dyn Fn(&AuditEntry) + Send + Sync>);

impl std::fmt::Debug for StepHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StepHook")
    }
}

impl Default for ApplyOptions {
    fn default() -> Self {
        Self {
            concurrency: 4,
            dry_run: false,
            approve: false,
            max_attempts: 5,
            backoff: Duration::from_millis(500),
            ready_wait: Duration::from_secs(15 * 60),
            ready_backoff: Duration::from_secs(2),
            on_step: None,
            deliver: None,
        }
    }
}

/// Why a plan was not (fully) applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The plan is blocked and not approved.
    #[error("the plan is blocked ({0}); nothing was applied\n  help: review it, then apply with --approve")]
    Blocked(String),
    /// A target the plan needs is not configured.
    #[error("the plan has actions for target `{0}`, which is not configured; nothing was applied")]
    UnknownTarget(String),
    /// The plan hands over credentials or sends messages, and nothing carries them.
    #[error("the plan sends messages (notify), but no mail server or webhook is configured; nothing was applied\n  help: add [notify] to stroom.toml (see the book, chapter Targets and apply)")]
    NoDelivery,
    /// The journal failed: the run stops rather than lose track.
    #[error(transparent)]
    Journal(#[from] JournalError),
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ApplyReport {
    /// Steps carried out in this run.
    pub done: usize,
    /// Steps already done by an earlier run of the same plan.
    pub resumed: usize,
    /// Steps the target refused.
    pub failed: usize,
    /// Steps not tried because the person had failed.
    pub skipped: usize,
    /// Steps left pending because the run stopped or a person is still waiting.
    pub pending: usize,
    /// Per person still waiting at the end: (person, seq, what it waits for).
    pub waiting: Vec<(String, u32, String)>,
    /// Per failed person: (person, seq, error).
    pub failures: Vec<(String, u32, String)>,
    /// Why the run stopped early, if it did.
    pub stopped: Option<String>,
    /// Dry run: what each adapter would be asked, in order.
    pub would: Vec<String>,
}

/// A stable id of a plan document (its content hash).
pub fn plan_id(text: &str) -> String {
    crate::files::content_hash(text.as_bytes())
}

fn describe(a: &PlannedAction) -> String {
    if let Some(n) = &a.notice {
        let with = if n.credential {
            " with the first credential"
        } else {
            ""
        };
        return format!(
            "notify {} to {} via {}{with}",
            n.event.as_str(),
            n.to,
            n.via
        );
    }
    match (a.kind, a.name.as_deref(), a.field.as_deref()) {
        (Some(kind), Some(name), _) => match &a.on {
            Some(on) => format!("{} {kind} {name:?} on {on:?}", a.op),
            None => format!("{} {kind} {name:?}", a.op),
        },
        (_, _, Some(field)) => format!("{} {field} = {:?}", a.op, a.value.as_deref().unwrap_or("")),
        _ => a.op.to_string(),
    }
}

/// The new values of an update (`changes`: attribute → [old, new]).
fn new_values(changes: &Map<String, Value>) -> Map<String, Value> {
    changes
        .iter()
        .map(|(k, pair)| {
            let new = pair
                .as_array()
                .and_then(|p| p.get(1))
                .cloned()
                .unwrap_or(Value::Null);
            (k.clone(), new)
        })
        .collect()
}

/// The pause after failed attempt `attempt`: `backoff`, doubled each time.
fn retry_pause(options: &ApplyOptions, attempt: u32) -> Duration {
    options
        .backoff
        .saturating_mul(1 << attempt.saturating_sub(1).min(10))
}

/// Hands over a message, and the first credential when it carries one: the credential
/// is made once, sent at once (tried again with growing pauses while the channel says
/// "later"), and withdrawn when it cannot be delivered, so the next run makes a new one.
/// It is never returned, logged or kept.
fn notify(
    target: &dyn Target,
    acc: &AccountRef,
    a: &PlannedAction,
    options: &ApplyOptions,
) -> Result<(), TargetError> {
    let Some(n) = &a.notice else {
        return Err(TargetError::refused("a notify without its notice"));
    };
    let Some(deliver) = &options.deliver else {
        return Err(TargetError::fatal("no channel carries messages"));
    };
    let credential = if n.credential {
        Some(target.issue_credential(acc, n.from, n.valid_days)?)
    } else {
        None
    };
    let from = n.from.map(|d| d.to_string()).unwrap_or_default();
    let fields = crate::notify::Fields {
        name: &n.name,
        number: &n.number,
        account: &n.account,
        target: &a.target,
        kind: credential.as_ref().map_or("", |c| c.kind),
        credential: credential.as_ref().map(|c| &c.secret),
        from: &from,
        until: credential
            .as_ref()
            .and_then(|c| c.valid_until.as_deref())
            .unwrap_or(""),
        reason: "",
    };
    let (subject, body) = deliver.0.templates().render(n.event, &fields);
    let message = crate::notify::Message {
        event: n.event,
        to: n.to.clone(),
        via: n.via.clone(),
        subject,
        body,
    };
    let mut attempt = 0;
    let failure = loop {
        attempt += 1;
        match deliver.0.deliver(&message) {
            Ok(()) => return Ok(()),
            Err(e) if e.transient && attempt < options.max_attempts => {
                std::thread::sleep(retry_pause(options, attempt));
            }
            Err(e) => break e,
        }
    };
    let withdrawn = match &credential {
        Some(c) => match target.withdraw_credential(acc, c) {
            Ok(()) => "; the credential was withdrawn and the next run sends a new one",
            Err(_) => "; withdrawing the credential failed too: the next run sends a new one",
        },
        None => "; the next run does not send it again",
    };
    Err(TargetError::refused(format!(
        "{} message to {} via {} not delivered after {attempt} attempt(s): {failure}{withdrawn}",
        n.event.as_str(),
        n.to,
        n.via
    )))
}

/// Carries out one action; returns the account involved.
fn execute(
    target: &dyn Target,
    a: &PlannedAction,
    account: &mut Option<Option<AccountRef>>,
    options: &ApplyOptions,
) -> Result<Option<AccountRef>, TargetError> {
    // An action that names its account (adoption's link, an account no person owns)
    // works on that one: it is not found by a person id it does not carry yet.
    let named = a.account.as_ref().map(|r| AccountRef {
        id: r.id.clone(),
        enabled: Some(r.enabled),
    });
    // A group is made for the whole plan, not in a person's account.
    let needs_account = a.op != OpKind::CreateGroup;
    if needs_account && account.is_none() && named.is_none() {
        *account = Some(target.correlate(&a.person)?);
    }
    let current = named.clone().or_else(|| account.clone().flatten());
    let need = |what: &str| current.clone().ok_or_else(|| target.no_account(what));
    // The plan reader makes sure grants and revokes have a kind and a name.
    let entitlement = || {
        a.kind
            .map(|kind| Entitlement {
                kind,
                name: a.name.as_deref().unwrap_or(""),
                on: a.on.as_deref(),
            })
            .ok_or_else(|| TargetError::refused("a grant or revoke without a kind"))
    };
    match a.op {
        OpKind::CreateGroup => {
            // The plan reader makes sure a create_group has its name and settings.
            let settings = a
                .group
                .as_ref()
                .ok_or_else(|| TargetError::refused("a create_group without its settings"))?;
            let id = target.create_group(a.name.as_deref().unwrap_or(""), settings)?;
            Ok(Some(AccountRef { id, enabled: None }))
        }
        OpKind::Link => {
            let acc = need("link")?;
            target.link(&acc, &a.person)?;
            *account = Some(Some(acc.clone()));
            Ok(Some(acc))
        }
        OpKind::Create => {
            if current.is_some() {
                // Created by an interrupted run, or there before Stroom: adopted.
                return Ok(current);
            }
            let made = target.create(&a.person, a.attributes.as_ref().unwrap_or(&Map::new()))?;
            *account = Some(Some(made.clone()));
            Ok(Some(made))
        }
        OpKind::Update => {
            let acc = need("update")?;
            target.update(&acc, &new_values(a.changes.as_ref().unwrap_or(&Map::new())))?;
            // A rename or move may change the account's id: find it again when next
            // needed, unless the target's ids never change.
            if !target.stable_ids() {
                *account = None;
            }
            Ok(Some(acc))
        }
        OpKind::Writeback => {
            let acc = need("write-back")?;
            let mut values = Map::new();
            values.insert(
                a.field.clone().unwrap_or_default(),
                Value::from(a.value.clone().unwrap_or_default()),
            );
            target.update(&acc, &values)?;
            Ok(Some(acc))
        }
        OpKind::Enable => {
            let acc = need("enable")?;
            target.enable(&acc)?;
            Ok(Some(acc))
        }
        OpKind::Disable => {
            let acc = need("disable")?;
            target.disable(&acc)?;
            Ok(Some(acc))
        }
        OpKind::Delete => match current {
            None => Ok(None),
            Some(acc) => {
                target.delete(&acc)?;
                *account = Some(None);
                Ok(Some(acc))
            }
        },
        OpKind::Grant => {
            let acc = need(OpKind::Grant.as_str())?;
            target.grant(&acc, &entitlement()?)?;
            Ok(Some(acc))
        }
        OpKind::Revoke => match current {
            None => Ok(None),
            Some(acc) => {
                target.revoke(&acc, &entitlement()?)?;
                Ok(Some(acc))
            }
        },
        OpKind::Notify => {
            let acc = need("hand-over")?;
            notify(target, &acc, a, options)?;
            Ok(Some(acc))
        }
    }
}

/// Shared per-run context of the workers.
struct Run<'a> {
    plan: &'a str,
    targets: &'a HashMap<String, Arc<dyn Target>>,
    journal: &'a Journal,
    audit: &'a Audit,
    options: &'a ApplyOptions,
    stop: AtomicBool,
    report: Mutex<ApplyReport>,
    journal_error: Mutex<Option<JournalError>>,
    /// (person, target) → seq of the plan's create of that account.
    creates: HashMap<(&'a str, &'a str), u32>,
    /// (target, group name in lower case) → seq of the plan's create_group.
    group_creates: HashMap<(&'a str, String), u32>,
    /// Creates (of accounts and groups) that are over (done, failed or skipped), this
    /// run or before.
    settled: Mutex<std::collections::HashSet<u32>>,
}

/// The manager (person id) a create or update sets, if any.
fn manager_of(a: &PlannedAction) -> Option<&str> {
    match a.op {
        OpKind::Create => a.attributes.as_ref()?.get("manager")?.as_str(),
        OpKind::Update => a.changes.as_ref()?.get("manager")?.get(1)?.as_str(),
        _ => None,
    }
}

impl Run<'_> {
    /// A step that sets a manager whose account an earlier step of this plan creates
    /// waits for that create: otherwise, run side by side, it would look for the
    /// manager too soon and leave the link out. (Earlier steps only, so a cycle of
    /// managers cannot make two persons wait for each other.)
    fn waits_for_manager(&self, a: &PlannedAction) -> Option<String> {
        let manager = manager_of(a)?;
        let seq = *self.creates.get(&(manager, a.target.as_str()))?;
        let settled = self.settled.lock().unwrap_or_else(|e| e.into_inner());
        (seq < a.seq && !settled.contains(&seq)).then(|| {
            format!(
                "waits for the account of its manager {manager} (step {seq}) in `{}`",
                a.target
            )
        })
    }

    /// A grant of a group this plan creates waits for that step, which runs as a job
    /// of its own (its failure must not stop the person who first needed it).
    fn waits_for_group(&self, a: &PlannedAction) -> Option<String> {
        if a.op != OpKind::Grant || a.kind != Some(crate::model::Kind::Group) {
            return None;
        }
        let name = a.name.as_deref()?;
        let seq = *self
            .group_creates
            .get(&(a.target.as_str(), name.to_lowercase()))?;
        let settled = self.settled.lock().unwrap_or_else(|e| e.into_inner());
        (!settled.contains(&seq)).then(|| {
            format!(
                "waits for group {name:?} to be created (step {seq}) in `{}`",
                a.target
            )
        })
    }

    fn settle(&self, a: &PlannedAction) {
        if matches!(a.op, OpKind::Create | OpKind::CreateGroup) {
            self.settled
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(a.seq);
        }
    }

    fn audit(&self, a: &PlannedAction, result: &str, account: Option<&str>, error: Option<&str>) {
        let entry = AuditEntry {
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            plan: self.plan,
            seq: a.seq,
            person: &a.person,
            target: &a.target,
            action: describe(a),
            result,
            account,
            error,
        };
        if let Err(e) = self.audit.write(&entry) {
            self.halt(format!("cannot write the audit log: {e}"));
        }
        if let Some(hook) = &self.options.on_step {
            (hook.0)(&entry);
        }
    }

    fn halt(&self, why: String) {
        self.stop.store(true, Ordering::SeqCst);
        let mut r = self.report.lock().unwrap_or_else(|e| e.into_inner());
        r.stopped.get_or_insert(why);
    }

    /// A person waited long enough: its steps stay pending (started in the journal,
    /// so the next run of the plan tries them first).
    fn give_up_waiting(&self, rest: &[&PlannedAction], why: String) {
        let Some(first) = rest.first() else { return };
        self.audit(first, "waiting", None, Some(&why));
        let mut r = self.report.lock().unwrap_or_else(|e| e.into_inner());
        r.pending += rest.len();
        r.waiting.push((first.person.clone(), first.seq, why));
    }

    fn mark(
        &self,
        seq: u32,
        status: StepStatus,
        account: Option<&str>,
        error: Option<&str>,
    ) -> bool {
        match self.journal.mark(self.plan, seq, status, account, error) {
            Ok(()) => true,
            Err(e) => {
                self.halt(format!("{e}"));
                self.journal_error
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_or_insert(e);
                false
            }
        }
    }

    /// One person's steps, in order, from step `from`. Returns where the person must
    /// wait, if a step's object is not there yet.
    fn person(
        &self,
        steps: &[&PlannedAction],
        from: usize,
        accounts: &mut Accounts,
        done: &HashMap<u32, journal::StepRecord>,
    ) -> Option<(usize, String)> {
        let mut failed: Option<String> = None;
        for (index, a) in steps.iter().enumerate().skip(from) {
            let recorded = done.get(&a.seq).map(|r| r.status);
            if recorded == Some(StepStatus::Started)
                && a.notice.as_ref().is_some_and(|n| n.credential)
                && !self.options.dry_run
            {
                // Stopped while handing over: it may have reached the recipient, and a
                // credential is never sent twice. Recorded as done, reported.
                let why = "interrupted while the first credential was being sent: it may \
                           have arrived, so it is not sent again; if it did not, reset it \
                           by hand";
                self.audit(a, "interrupted", None, Some(why));
                self.settle(a);
                if self.mark(a.seq, StepStatus::Done, None, Some(why)) {
                    let mut r = self.report.lock().unwrap_or_else(|e| e.into_inner());
                    r.failed += 1;
                    r.failures.push((a.person.clone(), a.seq, why.to_string()));
                }
                continue;
            }
            if recorded == Some(StepStatus::Done) {
                self.report
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .resumed += 1;
                continue;
            }
            if let Some(why) = &failed {
                let error = format!("not tried: step {why}");
                // The audit line first: a kill between the two repeats the step's
                // line on resume rather than leave a journalled step unaudited.
                self.audit(a, "skipped", None, Some(&error));
                self.settle(a);
                if self.mark(a.seq, StepStatus::Skipped, None, Some(&error)) {
                    self.report
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .skipped += 1;
                }
                continue;
            }
            if self.stop.load(Ordering::SeqCst) {
                self.report
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .pending += 1;
                continue;
            }
            let Some(target) = self.targets.get(&a.target) else {
                continue;
            };
            if self.options.dry_run {
                let what = target.preview(a).unwrap_or_else(|| describe(a));
                let line = format!("{} {} {}: {what}", a.seq, a.target, a.person);
                self.audit(a, "dry_run", None, None);
                self.report
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .would
                    .push(line);
                continue;
            }
            if let Some(why) = self
                .waits_for_manager(a)
                .or_else(|| self.waits_for_group(a))
            {
                return Some((index, why));
            }
            if !self.mark(a.seq, StepStatus::Started, None, None) {
                return None;
            }
            let account = accounts.entry(a.target.clone()).or_default();
            let stable = target.stable_ids();
            let mut attempt = 0;
            let outcome = loop {
                attempt += 1;
                match execute(target.as_ref(), a, account, self.options) {
                    Err(e)
                        if e.kind == ErrorKind::Transient
                            && attempt < self.options.max_attempts =>
                    {
                        // A failed correlate or call may have left the cache stale.
                        if !stable || matches!(account, Some(None)) {
                            *account = None;
                        }
                        std::thread::sleep(retry_pause(self.options, attempt));
                    }
                    other => break other,
                }
            };
            match outcome {
                Ok(acc) => {
                    let id = acc.as_ref().map(|a| a.id.as_str());
                    self.audit(a, "ok", id, None);
                    let marked = self.mark(a.seq, StepStatus::Done, id, None);
                    self.settle(a);
                    if !marked {
                        return None;
                    }
                    self.report.lock().unwrap_or_else(|e| e.into_inner()).done += 1;
                }
                Err(e) if e.kind == ErrorKind::NotReady => {
                    // Not there yet: come back later; the step stays started.
                    if matches!(account, Some(None)) {
                        *account = None;
                    }
                    return Some((index, e.message));
                }
                Err(e) => {
                    self.audit(a, "failed", None, Some(&e.message));
                    let marked = self.mark(a.seq, StepStatus::Failed, None, Some(&e.message));
                    self.settle(a);
                    if !marked {
                        return None;
                    }
                    {
                        let mut r = self.report.lock().unwrap_or_else(|p| p.into_inner());
                        r.failed += 1;
                        r.failures
                            .push((a.person.clone(), a.seq, e.message.clone()));
                    }
                    if e.kind == ErrorKind::Fatal {
                        self.halt(format!("target `{}`: {}", a.target, e.message));
                    }
                    failed = Some(format!("{} failed: {}", a.seq, e.message));
                }
            }
        }
        None
    }

    /// The accounts a resumed person already has, from the journal: only for targets
    /// whose ids never change.
    fn recall(
        &self,
        steps: &[&PlannedAction],
        done: &HashMap<u32, journal::StepRecord>,
    ) -> Accounts {
        let mut accounts = Accounts::new();
        for a in steps {
            let Some(record) = done.get(&a.seq).filter(|r| r.status == StepStatus::Done) else {
                continue;
            };
            if !self.targets.get(&a.target).is_some_and(|t| t.stable_ids()) {
                continue;
            }
            if a.op == OpKind::Delete {
                accounts.insert(a.target.clone(), Some(None));
            } else if let Some(id) = &record.account {
                accounts.insert(
                    a.target.clone(),
                    Some(Some(AccountRef {
                        id: id.clone(),
                        enabled: None,
                    })),
                );
            }
        }
        accounts
    }
}

/// Per target: not looked up yet, looked up and absent, or the account.
type Accounts = HashMap<String, Option<Option<AccountRef>>>;

/// A person's turn: where to go on, and since when it waits.
struct Job {
    person: usize,
    from: usize,
    accounts: Accounts,
    waiting_since: Option<Instant>,
    waits: u32,
}

/// Persons to work on now, and persons waiting until a time.
struct Queue {
    ready: VecDeque<Job>,
    later: Vec<(Instant, Job)>,
    busy: usize,
}

impl Queue {
    /// The next job, waiting for one when all are deferred; `None` when all is done.
    fn next<'q>(
        mut q: std::sync::MutexGuard<'q, Queue>,
        wake: &Condvar,
        stop: &AtomicBool,
    ) -> (std::sync::MutexGuard<'q, Queue>, Option<Job>) {
        loop {
            if let Some(job) = q.ready.pop_front() {
                q.busy += 1;
                return (q, Some(job));
            }
            let earliest = q
                .later
                .iter()
                .enumerate()
                .min_by_key(|(_, (due, _))| *due)
                .map(|(i, (due, _))| (i, *due));
            if let Some((i, due)) = earliest {
                let now = Instant::now();
                if due <= now || stop.load(Ordering::SeqCst) {
                    let (_, job) = q.later.swap_remove(i);
                    q.busy += 1;
                    return (q, Some(job));
                }
                q = wake
                    .wait_timeout(q, due - now)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|e| e.into_inner().0);
                continue;
            }
            if q.busy == 0 {
                return (q, None);
            }
            q = wake.wait(q).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// Applies a plan document. `plan` is its id ([`plan_id`]): the same id resumes.
pub fn apply(
    doc: &PlanDocument,
    plan: &str,
    targets: &HashMap<String, Arc<dyn Target>>,
    journal: &Journal,
    audit: &Audit,
    options: &ApplyOptions,
) -> Result<ApplyReport, ApplyError> {
    if let Some(blocked) = doc.blocked.as_ref().filter(|b| !b.is_null()) {
        if !options.approve {
            let why = blocked
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("blocked")
                .to_string();
            return Err(ApplyError::Blocked(why));
        }
    }
    if let Some(missing) = doc
        .actions
        .iter()
        .find(|a| !targets.contains_key(&a.target))
    {
        return Err(ApplyError::UnknownTarget(missing.target.clone()));
    }
    if options.deliver.is_none()
        && !options.dry_run
        && doc.actions.iter().any(|a| a.op == OpKind::Notify)
    {
        return Err(ApplyError::NoDelivery);
    }
    // Jobs in plan order: each person's steps in plan order, and each create_group on
    // its own.
    let mut persons: Vec<Vec<&PlannedAction>> = Vec::new();
    let mut job_of: HashMap<&str, usize> = HashMap::new();
    for a in &doc.actions {
        if a.op == OpKind::CreateGroup {
            persons.push(vec![a]);
            continue;
        }
        let job = *job_of.entry(a.person.as_str()).or_insert_with(|| {
            persons.push(Vec::new());
            persons.len() - 1
        });
        persons[job].push(a);
    }
    let done = if options.dry_run {
        HashMap::new()
    } else {
        journal.begin(plan)?;
        journal.steps(plan)?
    };
    let run = Run {
        plan,
        targets,
        journal,
        audit,
        options,
        stop: AtomicBool::new(false),
        report: Mutex::new(ApplyReport::default()),
        journal_error: Mutex::new(None),
        creates: doc
            .actions
            .iter()
            .filter(|a| a.op == OpKind::Create)
            .map(|a| ((a.person.as_str(), a.target.as_str()), a.seq))
            .collect(),
        group_creates: doc
            .actions
            .iter()
            .filter(|a| a.op == OpKind::CreateGroup)
            .filter_map(|a| {
                Some((
                    (a.target.as_str(), a.name.as_deref()?.to_lowercase()),
                    a.seq,
                ))
            })
            .collect(),
        settled: Mutex::new(
            done.iter()
                .filter(|(_, r)| r.status != StepStatus::Started)
                .map(|(seq, _)| *seq)
                .collect(),
        ),
    };
    let persons: Vec<&[&PlannedAction]> = persons.iter().map(Vec::as_slice).collect();
    let queue = Mutex::new(Queue {
        ready: (0..persons.len())
            .map(|person| Job {
                person,
                from: 0,
                accounts: run.recall(persons[person], &done),
                waiting_since: None,
                waits: 0,
            })
            .collect(),
        later: Vec::new(),
        busy: 0,
    });
    let wake = Condvar::new();
    let workers = if options.dry_run {
        1
    } else {
        options.concurrency.max(1)
    };
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let guard = queue.lock().unwrap_or_else(|e| e.into_inner());
                let (guard, job) = Queue::next(guard, &wake, &run.stop);
                drop(guard);
                let Some(mut job) = job else {
                    wake.notify_all();
                    break;
                };
                let steps = persons[job.person];
                // A target that panics (a bug) stops the run instead of leaving the
                // other workers waiting for a job that never ends.
                let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    run.person(steps, job.from, &mut job.accounts, &done)
                }))
                .unwrap_or_else(|_| {
                    run.halt(
                        "a target stopped unexpectedly (a bug); the rest stays pending".into(),
                    );
                    None
                });
                let mut q = queue.lock().unwrap_or_else(|e| e.into_inner());
                q.busy -= 1;
                if let Some((from, why)) = outcome {
                    let now = Instant::now();
                    let since = *job.waiting_since.get_or_insert(now);
                    job.from = from;
                    job.waits += 1;
                    if now.duration_since(since) >= options.ready_wait
                        || run.stop.load(Ordering::SeqCst)
                    {
                        run.give_up_waiting(&steps[from..], why);
                    } else {
                        let pause = options
                            .ready_backoff
                            .saturating_mul(1 << (job.waits - 1).min(10))
                            .min(Duration::from_secs(60))
                            .min(options.ready_wait.saturating_sub(now.duration_since(since)));
                        q.later.push((now + pause, job));
                    }
                }
                drop(q);
                wake.notify_all();
            });
        }
    });
    if let Some(e) = run
        .journal_error
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
    {
        return Err(ApplyError::Journal(e));
    }
    let mut report = run.report.into_inner().unwrap_or_else(|p| p.into_inner());
    report.failures.sort_by_key(|f| f.1);
    report.waiting.sort_by_key(|f| f.1);
    if !options.dry_run && report.stopped.is_none() && report.waiting.is_empty() {
        journal.finish(plan)?;
    }
    Ok(report)
}

/// The state after a run: `state` with every step the journal has as done.
pub fn state_after_apply(
    state: &State,
    doc: &PlanDocument,
    steps: &HashMap<u32, journal::StepRecord>,
) -> State {
    let mut next = crate::plan::StateEditor::new(state.clone());
    let today = chrono::NaiveDate::parse_from_str(&doc.today, "%Y-%m-%d").ok();
    for a in &doc.actions {
        let Some(record) = steps.get(&a.seq).filter(|r| r.status == StepStatus::Done) else {
            continue;
        };
        let outcome = crate::plan::Outcome {
            op: a.op,
            person: &a.person,
            target: &a.target,
            kind: a.kind,
            name: a.name.as_deref(),
            on: a.on.as_deref(),
            attributes: a.attributes.as_ref(),
            changes: a.changes.as_ref(),
            account_id: record.account.as_deref(),
            account: a.account.as_ref(),
            handover: a
                .notice
                .as_ref()
                .filter(|n| n.credential)
                .map(|_| crate::model::notice::HandoverState::Done),
        };
        next.apply(&outcome, today);
    }
    // A hand-over that did not happen (failed, skipped, not reached) stays due: the
    // next plan tries it again, so it is never dropped.
    for a in doc
        .actions
        .iter()
        .filter(|a| a.notice.as_ref().is_some_and(|n| n.credential))
    {
        if steps
            .get(&a.seq)
            .is_some_and(|r| r.status == StepStatus::Done)
        {
            continue;
        }
        let outcome = crate::plan::Outcome {
            op: OpKind::Notify,
            person: &a.person,
            target: &a.target,
            kind: None,
            name: None,
            on: None,
            attributes: None,
            changes: None,
            account_id: None,
            account: None,
            handover: Some(crate::model::notice::HandoverState::Due),
        };
        next.apply(&outcome, today);
    }
    next.finish()
}
