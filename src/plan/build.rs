//! The planner: wanted state (from evaluation) against current state → ordered actions.

use super::unique::Taken;
use super::{Action, Because, Blocked, Plan, Reasons};
use crate::model::{AccountState, GrantState, Person, State};
use crate::rules::eval::{
    self, AccountWant, AccountWanted, AttrWanted, Granted, PersonEval, Population, WritebackOf,
    CHUNK,
};
use crate::rules::program::{Kind, OpKind, Program, TargetId};
use chrono::{Days, NaiveDate};
use rayon::prelude::*;
use rustc_hash::FxHashMap;
use serde_json::{Map, Value as Json};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

/// What a plan is made from.
pub struct PlanInput<'a> {
    /// The checked rules.
    pub program: &'a Program,
    /// The HR data.
    pub persons: &'a [Person],
    /// What is provisioned now.
    pub state: &'a State,
    /// The evaluation date.
    pub today: NaiveDate,
}

/// The state of one person, by target.
#[derive(Default)]
struct PersonState<'s> {
    accounts: Vec<&'s AccountState>,
    grants: Vec<&'s GrantState>,
}

/// The state of a person the state does not know.
static NO_STATE: PersonState<'static> = PersonState {
    accounts: Vec::new(),
    grants: Vec::new(),
};

/// Evaluates the rules and builds the plan. Deterministic: the same input gives the
/// same plan, byte for byte.
///
/// Persons are evaluated and planned in chunks on all cores, in person-id order, so
/// that no evaluation result outlives its chunk. Only chunks with a person who needs a
/// new unique value (a joiner's account name) wait for a short sequential pass that
/// hands those out, because each choice depends on the ones before it.
pub fn build_plan(input: &PlanInput) -> Plan {
    let planner = Planner::new(input);
    let (first, assigned) = planner.first_pass(|p| p);
    // Each chunk's summary is made where the chunk was; only the copy into one list is
    // in order.
    let chunks: Vec<(ChunkSummary, Vec<Action>)> = first
        .into_par_iter()
        .enumerate()
        .map(|(k, done)| {
            let mut p = done.unwrap_or_else(|| planner.chunk(k, &assigned));
            let actions = std::mem::take(&mut p.actions);
            (ChunkSummary::of(p, &actions), actions)
        })
        .collect();
    let mut summaries = Vec::with_capacity(chunks.len());
    let mut made = Vec::with_capacity(chunks.len());
    for (summary, mine) in chunks {
        summaries.push(summary);
        made.push(mine);
    }
    let outline = planner.finish(summaries, assigned);
    let total = outline.prelude.len() + made.iter().map(Vec::len).sum::<usize>();
    let mut actions = Vec::with_capacity(total);
    actions.extend(outline.prelude.iter().cloned());
    for mine in made {
        actions.extend(mine);
    }
    actions
        .par_iter_mut()
        .enumerate()
        .with_min_len(1 << 14)
        .for_each(|(seq, a)| a.seq = seq as u32 + 1);
    Plan {
        today: input.today,
        actions,
        blocked: outline.blocked,
        all_blocks: outline.all_blocks,
        notes: outline.notes,
        origins: outline.origins,
    }
}

/// A plan without its actions: everything a plan document says before and after them,
/// and what it takes to make them again, chunk by chunk, exactly as they were counted.
/// This is how a plan of tens of millions of actions is written without holding it
/// (see [`super::write_plan_json`]).
pub struct PlanOutline<'a> {
    /// The evaluation date.
    pub today: NaiveDate,
    /// Number of actions per operation, in plan-operation order, zero counts left out.
    pub summary: Vec<(OpKind, usize)>,
    /// The first reason the plan may not be carried out, if any.
    pub blocked: Option<Blocked>,
    /// Every reason it may not be carried out.
    pub all_blocks: Vec<Blocked>,
    /// Notes worth a look.
    pub notes: Vec<String>,
    /// The statements actions cite.
    pub origins: Vec<Because>,
    /// The actions before the persons' (create_group), numbered from 1.
    prelude: Vec<Action>,
    /// Actions per chunk of persons, in order.
    chunk_sizes: Vec<u32>,
    /// The unique values handed out.
    assigned: HashMap<Arc<str>, Assigned>,
    planner: Planner<'a>,
}

impl PlanOutline<'_> {
    /// Number of actions in the plan.
    pub fn len(&self) -> usize {
        self.summary.iter().map(|(_, n)| n).sum()
    }

    /// True if the plan has no action.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The actions, made again a window of `window` chunks at a time on all cores: each
    /// chunk's actions, numbered, go through `make` (on the worker that made them) and
    /// its answers to `sink` in plan order; an error from the sink stops the walk.
    /// Memory stays that of a window, whatever the size of the plan.
    pub fn map_action_chunks<T: Send, E>(
        &self,
        window: usize,
        make: &(dyn Fn(Vec<Action>) -> T + Sync),
        sink: &mut dyn FnMut(T) -> Result<(), E>,
    ) -> Result<(), E> {
        if !self.prelude.is_empty() {
            sink(make(self.prelude.clone()))?;
        }
        let mut first_seq = Vec::with_capacity(self.chunk_sizes.len());
        let mut seq = self.prelude.len() as u32;
        for n in &self.chunk_sizes {
            first_seq.push(seq);
            seq += n;
        }
        let chunks = self.chunk_sizes.len();
        let mut k = 0;
        while k < chunks {
            let end = (k + window.max(1)).min(chunks);
            let made: Vec<T> = (k..end)
                .into_par_iter()
                .map(|c| {
                    let mut actions = self.planner.chunk(c, &self.assigned).actions;
                    // The same input makes the same chunk: the outline counted these.
                    debug_assert_eq!(actions.len(), self.chunk_sizes[c] as usize);
                    for (i, a) in actions.iter_mut().enumerate() {
                        a.seq = first_seq[c] + i as u32 + 1;
                    }
                    make(actions)
                })
                .collect();
            for t in made {
                sink(t)?;
            }
            k = end;
        }
        Ok(())
    }
}

/// Plans everything, keeping only counts, notes and reasons to block: the first of the
/// two passes that write a plan without holding it.
pub fn plan_outline<'a>(input: &'a PlanInput<'a>) -> PlanOutline<'a> {
    let planner = Planner::new(input);
    let summary = |mut p: ChunkPlan| {
        let actions = std::mem::take(&mut p.actions);
        ChunkSummary::of(p, &actions)
    };
    let (first, assigned) = planner.first_pass(summary);
    let summaries: Vec<ChunkSummary> = first
        .into_par_iter()
        .enumerate()
        .map(|(k, done)| done.unwrap_or_else(|| summary(planner.chunk(k, &assigned))))
        .collect();
    planner.finish(summaries, assigned)
}

/// What the planner works from: persons in id order, the state by person.
struct Planner<'a> {
    input: &'a PlanInput<'a>,
    population: Population<'a>,
    by_person: FxHashMap<&'a str, PersonState<'a>>,
    order: Vec<usize>,
}

/// A chunk's plan without its actions.
struct ChunkSummary {
    counts: OpCounts,
    groups: Vec<GroupNeed>,
    actions: u32,
    notes: Vec<String>,
    blocks: Vec<Blocked>,
    accountless: Vec<(TargetId, TargetId, Arc<str>)>,
}

impl ChunkSummary {
    /// The summary of a chunk whose actions are `actions` (taken out of it or not).
    fn of(p: ChunkPlan, actions: &[Action]) -> Self {
        ChunkSummary {
            counts: OpCounts::of(actions),
            groups: p.groups,
            actions: actions.len() as u32,
            notes: p.notes,
            blocks: p.blocks,
            accountless: p.accountless,
        }
    }
}

impl<'a> Planner<'a> {
    fn new(input: &'a PlanInput<'a>) -> Self {
        let mut order: Vec<usize> = (0..input.persons.len()).collect();
        order.par_sort_unstable_by(|a, b| input.persons[*a].id.cmp(&input.persons[*b].id));
        Planner {
            input,
            population: Population::new(input.persons),
            by_person: state_by_person(input.state),
            order,
        }
    }

    fn state_of(&self, person: &Person) -> &PersonState<'a> {
        self.by_person.get(&*person.id).unwrap_or(&NO_STATE)
    }

    fn evaluate(&self, k: usize) -> Vec<PersonEval<'a>> {
        let chunk = self.order.chunks(CHUNK).nth(k).unwrap_or(&[]);
        chunk
            .iter()
            .map(|&i| {
                let p = &self.input.persons[i];
                eval::evaluate_person(self.input.program, &self.population, p, self.input.today)
            })
            .collect()
    }

    /// The plan of chunk `k`, with the unique values handed out.
    fn chunk(&self, k: usize, assigned: &HashMap<Arc<str>, Assigned>) -> ChunkPlan {
        let evals = self.evaluate(k);
        plan_persons(
            self.input.program,
            &evals,
            &self.by_person,
            assigned,
            self.input.today,
        )
    }

    /// Plans every chunk that needs no new unique value (kept as `keep` makes it) and
    /// hands out the unique values the others need; those chunks come back as `None`.
    fn first_pass<R: Send>(
        &self,
        keep: impl Fn(ChunkPlan) -> R + Sync,
    ) -> (Vec<Option<R>>, HashMap<Arc<str>, Assigned>) {
        let program = self.input.program;
        let chunks = self.order.len().div_ceil(CHUNK);
        let first: Vec<(Option<R>, Vec<PersonEval>)> = (0..chunks)
            .into_par_iter()
            .map(|k| {
                let evals = self.evaluate(k);
                let needy =
                    |ev: &PersonEval| needs_unique_values(program, ev, self.state_of(ev.person));
                if evals.iter().any(needy) {
                    // Only what choosing values needs is kept: not the grants.
                    let waiting = evals
                        .into_iter()
                        .filter(needy)
                        .map(|mut ev| {
                            ev.grants = Vec::new();
                            ev
                        })
                        .collect();
                    (None, waiting)
                } else {
                    let plan = plan_persons(
                        program,
                        &evals,
                        &self.by_person,
                        &HashMap::new(),
                        self.input.today,
                    );
                    (Some(keep(plan)), Vec::new())
                }
            })
            .collect();
        let waiting: Vec<&PersonEval> = first.iter().flat_map(|(_, w)| w).collect();
        let assigned = assign_unique_values(self.input, &waiting, &self.by_person);
        (first.into_iter().map(|(r, _)| r).collect(), assigned)
    }

    /// Puts the chunks' notes and reasons to block together, in order, with the notes
    /// and checks of the whole plan.
    fn finish(
        self,
        chunks: Vec<ChunkSummary>,
        assigned: HashMap<Arc<str>, Assigned>,
    ) -> PlanOutline<'a> {
        let (program, input) = (self.input.program, self.input);
        let mut counts = OpCounts([0; OpKind::ALL.len()]);
        let mut notes = Vec::new();
        let mut all_blocks = Vec::new();
        let mut accountless = Vec::new();
        let mut chunk_sizes = Vec::with_capacity(chunks.len());
        let mut groups = Vec::new();
        for p in chunks {
            counts.add(&p.counts);
            groups.extend(p.groups);
            chunk_sizes.push(p.actions);
            notes.extend(p.notes);
            all_blocks.extend(p.blocks);
            accountless.extend(p.accountless);
        }
        notes.extend(accountless_notes(program, &accountless));
        let known: std::collections::HashSet<&str> = input.persons.iter().map(|p| &*p.id).collect();
        let mut missing: Vec<&str> = self
            .by_person
            .keys()
            .filter(|p| !known.contains(*p))
            .copied()
            .collect();
        if !missing.is_empty() {
            missing.sort_unstable();
            notes.push(format!(
                "{} person(s) in the state are not in the HR data and were left alone (missing HR data never counts as leaving): {}",
                missing.len(),
                missing.iter().take(10).copied().collect::<Vec<_>>().join(", ")
            ));
        }
        let prelude = create_group_actions(program, input.state, groups);
        counts.add(&OpCounts::of(&prelude));
        all_blocks.extend(threshold_violations(program, &counts, input));
        all_blocks.extend(guard_violations(program, &counts, input));
        PlanOutline {
            today: input.today,
            summary: OpKind::ALL
                .iter()
                .map(|op| (*op, counts.get(*op) as usize))
                .filter(|(_, n)| *n > 0)
                .collect(),
            blocked: all_blocks.first().cloned(),
            all_blocks,
            notes,
            origins: program.origins.iter().map(Because::from).collect(),
            prelude,
            chunk_sizes,
            assigned,
            planner: self,
        }
    }
}

/// The state by person. A state lists each person's entries together, so a run of
/// entries of one person is looked up once.
fn state_by_person(state: &State) -> FxHashMap<&str, PersonState<'_>> {
    let mut by_person: FxHashMap<&str, PersonState> = FxHashMap::default();
    for a in &state.accounts {
        by_person
            .entry(a.person.as_str())
            .or_default()
            .accounts
            .push(a);
    }
    for run in state.grants.chunk_by(|a, b| a.person == b.person) {
        by_person
            .entry(run[0].person.as_str())
            .or_default()
            .grants
            .extend(run);
    }
    by_person
}

/// One note per (grant target, account target): how many persons in scope the rules
/// grant something in a target where they have no account after this plan, with the
/// first few ids. Their grants are left out of the plan.
fn accountless_notes(program: &Program, found: &[(TargetId, TargetId, Arc<str>)]) -> Vec<String> {
    let mut pairs: Vec<(TargetId, TargetId)> = found.iter().map(|(t, h, _)| (*t, *h)).collect();
    pairs.sort_unstable();
    pairs.dedup();
    pairs
        .into_iter()
        .map(|(t, h)| {
            let persons: Vec<&str> = found
                .iter()
                .filter(|(a, b, _)| (*a, *b) == (t, h))
                .map(|(_, _, p)| &**p)
                .collect();
            let name = |id: TargetId| program.targets[id as usize].name.clone();
            let first = persons
                .iter()
                .take(10)
                .copied()
                .collect::<Vec<_>>()
                .join(", ");
            if t == h {
                format!(
                    "{} person(s) in scope get no account in {} but rules grant them \
                     something there; those grants are left out (first: {first}). Check the \
                     account block's `when`, or add it to the grants' conditions",
                    persons.len(),
                    name(t)
                )
            } else {
                format!(
                    "{} person(s) in scope have grants in {} but no account in {} (which {} \
                     needs); those grants are left out (first: {first}). Usually their last \
                     contract ended before an account was made; check the account block of {} \
                     or the grants' conditions",
                    persons.len(),
                    name(t),
                    name(h),
                    name(t),
                    name(h)
                )
            }
        })
        .collect()
}

/// The plan of a chunk of persons.
struct ChunkPlan {
    actions: Vec<Action>,
    notes: Vec<String>,
    blocks: Vec<Blocked>,
    /// Persons in scope whose grants in a target were left out because the account they
    /// need (in that target or its host) does not exist after the plan: (grant target,
    /// account target, person).
    accountless: Vec<(TargetId, TargetId, Arc<str>)>,
    /// Groups the chunk's grants need that a `group` declaration covers.
    groups: Vec<GroupNeed>,
}

/// A group that a grant needs and a `group` declaration covers: the first person (by
/// id) who gets it.
struct GroupNeed {
    target: TargetId,
    name: Arc<str>,
    person: Arc<str>,
}

/// The managed groups the grants among `actions` need, each once, with the first
/// person who gets it.
fn groups_needed(program: &Program, actions: &[Action]) -> Vec<GroupNeed> {
    if program.groups.is_empty() {
        return Vec::new();
    }
    let mut seen: rustc_hash::FxHashSet<(TargetId, String)> = Default::default();
    let mut out = Vec::new();
    for a in actions {
        let (OpKind::Grant, Some(Kind::Group), Some(name)) = (a.op, a.kind, &a.name) else {
            continue;
        };
        let Some(target) = program.target_id(&a.target) else {
            continue;
        };
        if program.managed_group(target, name).is_some()
            && seen.insert((target, name.to_lowercase()))
        {
            out.push(GroupNeed {
                target,
                name: name.clone(),
                person: a.person.clone(),
            });
        }
    }
    out
}

/// One `create_group` per managed group a grant of this plan needs and nobody in the
/// state holds (a group someone holds exists), in target and name order. The target
/// looks before it creates, so a group made by hand is left as it is.
fn create_group_actions(program: &Program, state: &State, needs: Vec<GroupNeed>) -> Vec<Action> {
    if needs.is_empty() {
        return Vec::new();
    }
    let mut wanted: FxHashMap<(TargetId, String), GroupNeed> = FxHashMap::default();
    for need in needs {
        // Chunks come in person order: the first need of a group is its first person.
        wanted
            .entry((need.target, need.name.to_lowercase()))
            .or_insert(need);
    }
    for g in state.grants.iter().filter(|g| g.kind == Kind::Group) {
        if let Some(t) = program.target_id(&g.target) {
            wanted.remove(&(t, g.name.to_lowercase()));
        }
    }
    let mut needs: Vec<GroupNeed> = wanted.into_values().collect();
    needs.sort_by(|a, b| (a.target, &a.name).cmp(&(b.target, &b.name)));
    needs
        .into_iter()
        .enumerate()
        .filter_map(|(k, need)| {
            let decl = program.managed_group(need.target, &need.name)?;
            let target = program.targets.get(need.target as usize)?;
            Some(Action {
                seq: k as u32 + 1,
                op: OpKind::CreateGroup,
                kind: Some(Kind::Group),
                person: need.person,
                target: target.name.clone(),
                because: std::iter::once(decl.origin).collect(),
                reason: Some(Cow::Borrowed(
                    "granted and not there yet; a `group` declaration lets Stroom create it",
                )),
                detail: Some(Box::new(super::Detail {
                    group: Some(decl.settings_for(&need.name)),
                    ..Default::default()
                })),
                name: Some(need.name),
            })
        })
        .collect()
}

/// The entitlement names of a chunk's actions, one shared copy per constant name (by
/// its rank): a chunk's actions share no reference count with other threads'.
#[derive(Default)]
struct GrantNames(Vec<Option<Arc<str>>>);

impl GrantNames {
    fn get(&mut self, rank: u32, name: &str) -> Arc<str> {
        if rank == u32::MAX {
            return Arc::from(name);
        }
        let i = rank as usize;
        if self.0.len() <= i {
            self.0.resize(i + 1, None);
        }
        self.0[i].get_or_insert_with(|| Arc::from(name)).clone()
    }
}

/// Unique values handed to one person: target, attribute, value.
type Assigned = Vec<(TargetId, String, Option<String>)>;

/// What the planner asks of each target for every grant, looked up once per chunk.
struct TargetFacts {
    /// Names, shared by every action.
    names: Vec<Arc<str>>,
    /// The target whose account a grant in this target needs
    /// ([`Program::account_target`]).
    account_of: Vec<Option<TargetId>>,
    /// The target write-backs go to: the one without accounts (the HR source).
    writeback: Option<TargetId>,
}

impl TargetFacts {
    fn of(program: &Program) -> Self {
        TargetFacts {
            names: program
                .targets
                .iter()
                .map(|t| Arc::from(&*t.name))
                .collect(),
            account_of: (0..program.targets.len())
                .map(|t| program.account_target(t as TargetId))
                .collect(),
            writeback: program
                .targets
                .iter()
                .position(|t| !t.kind.has_accounts())
                .map(|i| i as TargetId),
        }
    }
}

fn plan_persons(
    program: &Program,
    evals: &[PersonEval],
    by_person: &FxHashMap<&str, PersonState>,
    assigned: &HashMap<Arc<str>, Assigned>,
    today: NaiveDate,
) -> ChunkPlan {
    let targets = TargetFacts::of(program);
    let mut grant_names = GrantNames::default();
    // Room for what the rules want; revokes and updates may add a little.
    let expected: usize = evals
        .iter()
        .map(|ev| ev.grants.len() + 2 * ev.accounts.len() + ev.writebacks.len())
        .sum();
    let mut plan = ChunkPlan {
        actions: Vec::with_capacity(expected + expected / 8),
        notes: Vec::new(),
        blocks: Vec::new(),
        accountless: Vec::new(),
        groups: Vec::new(),
    };
    for ev in evals {
        let st = by_person.get(&*ev.person.id).unwrap_or(&NO_STATE);
        let mine = assigned.get(&*ev.person.id).map_or(&[][..], Vec::as_slice);
        let start = plan.actions.len();
        let facts = (&targets, &mut grant_names);
        person_actions(program, ev, st, mine, today, facts, &mut plan);
        drop_invalid_values(program, &mut plan, start);
        plan.notes.extend(
            ev.notes
                .iter()
                .map(|n| format!("person {}: {n}", ev.person.id)),
        );
        plan.blocks.extend(forbid_violations(program, ev));
    }
    plan.groups = groups_needed(program, &plan.actions);
    plan
}

/// True if the person gets (or keeps) an account with a unique attribute that has no
/// value yet.
fn needs_unique_values(program: &Program, ev: &PersonEval, st: &PersonState) -> bool {
    ev.accounts.iter().any(|acc| {
        matches!(acc.want, AccountWant::Enabled | AccountWant::PreStart) && {
            let existing = existing_account(program, Some(st), acc.target);
            acc.attributes.iter().any(|(name, w)| {
                matches!(w, AttrWanted::Unique(_)) && existing.is_none_or(|a| attr_missing(a, name))
            })
        }
    })
}

/// Chooses unique values for accounts that need them. Values already in the state are
/// kept and reserved first; then new values go to persons in order of their first
/// contract start, then id, so that the result does not depend on file order.
fn assign_unique_values(
    input: &PlanInput,
    waiting: &[&PersonEval],
    by_person: &FxHashMap<&str, PersonState>,
) -> HashMap<Arc<str>, Assigned> {
    let program = input.program;
    let mut out: HashMap<Arc<str>, Assigned> = HashMap::new();
    if waiting.is_empty() {
        return out;
    }
    let mut taken: HashMap<(TargetId, String), Taken> = HashMap::new();
    for a in &input.state.accounts {
        let Some(t) = program.target_id(&a.target) else {
            continue;
        };
        for (name, v) in &a.attributes {
            if let Json::String(s) = v {
                taken.entry((t, name.to_lowercase())).or_default().insert(s);
            }
        }
    }
    let mut queue: Vec<(Option<NaiveDate>, &str, &PersonEval, &AccountWanted)> = Vec::new();
    for ev in waiting {
        for acc in &ev.accounts {
            if matches!(acc.want, AccountWant::Enabled | AccountWant::PreStart) {
                let first_start = ev.person.contracts.iter().filter_map(|c| c.start).min();
                queue.push((first_start, &ev.person.id, ev, acc));
            }
        }
    }
    queue.sort_by(|a, b| (a.0, a.1, a.3.target).cmp(&(b.0, b.1, b.3.target)));
    for (_, _, ev, acc) in queue {
        let existing = existing_account(program, by_person.get(&*ev.person.id), acc.target);
        for (name, w) in &acc.attributes {
            if let AttrWanted::Unique(c) = w {
                if existing.is_some_and(|a| !attr_missing(a, name)) {
                    continue;
                }
                let value = taken
                    .entry((acc.target, name.to_lowercase()))
                    .or_default()
                    .assign(c);
                out.entry(ev.person.id.clone()).or_default().push((
                    acc.target,
                    name.clone(),
                    value,
                ));
            }
        }
    }
    out
}

fn attr_missing(a: &AccountState, name: &str) -> bool {
    a.attributes
        .get(name)
        .is_none_or(|v| v.is_null() || v.as_str().is_some_and(|s| s.is_empty()))
}

fn existing_account<'s>(
    program: &Program,
    st: Option<&PersonState<'s>>,
    target: TargetId,
) -> Option<&'s AccountState> {
    let name = &program.targets[target as usize].name;
    st?.accounts.iter().find(|a| *a.target == **name).copied()
}

/// Orders a person's actions: lifecycle and grants for persons in scope, or the
/// leaver sequence (disable, revoke, delete) for persons out of scope.
fn rank(op: OpKind, leaving: bool) -> u8 {
    match (leaving, op) {
        (true, OpKind::Disable) => 0,
        (true, OpKind::Revoke) => 1,
        (true, OpKind::Delete) => 2,
        // Planned for the whole plan, before every person's steps.
        (_, OpKind::CreateGroup) => 0,
        (_, OpKind::Link) => 4,
        (_, OpKind::Create) => 4,
        (_, OpKind::Update) => 5,
        (_, OpKind::Enable) => 6,
        (_, OpKind::Grant) => 7,
        (_, OpKind::Revoke) => 8,
        (_, OpKind::Writeback) => 9,
        // The credential when the account is ready (after its groups and licences), and
        // word of a disable once the leaver's steps are done.
        (_, OpKind::Notify) => 10,
        (_, OpKind::Disable) => 11,
        (_, OpKind::Delete) => 12,
    }
}

/// Appends one person's actions to a shared list. Until the plan is numbered, an
/// action's `seq` holds its order within the person (operation rank, then target), so
/// that no second list is needed.
struct Builder<'a, 'o> {
    program: &'a Program,
    person: &'a Person,
    /// Target names, copied per chunk so that threads do not share reference counts.
    target_names: &'o [Arc<str>],
    /// Entitlement names, likewise.
    grant_names: &'o mut GrantNames,
    out: &'o mut Vec<Action>,
    leaving: bool,
}

impl Builder<'_, '_> {
    fn push(
        &mut self,
        op: OpKind,
        target: TargetId,
        because: Reasons,
        reason: Option<Cow<'static, str>>,
    ) -> &mut Action {
        let name = self
            .target_names
            .get(target as usize)
            .cloned()
            .unwrap_or_else(|| self.program.targets[target as usize].name.clone());
        self.out.push(Action {
            seq: (u32::from(rank(op, self.leaving)) << 16) | u32::from(target),
            op,
            kind: None,
            person: self.person.id.clone(),
            target: name,
            name: None,
            because,
            reason,
            detail: None,
        });
        let last = self.out.len() - 1;
        &mut self.out[last]
    }

    fn because(&self, origins: &[u32]) -> Reasons {
        origins.iter().copied().collect()
    }
}

fn add_days(d: NaiveDate, n: i64) -> NaiveDate {
    if n >= 0 {
        d.checked_add_days(Days::new(n as u64)).unwrap_or(d)
    } else {
        d.checked_sub_days(Days::new(n.unsigned_abs())).unwrap_or(d)
    }
}

/// Leaves out a person's actions in a target (from `start` on) when one of them would
/// send a value the target refuses or misreads (see [`super::valid`]), with a note naming
/// the person, the attribute, the value and the rule. Write-backs of such a value go too.
fn drop_invalid_values(program: &Program, plan: &mut ChunkPlan, start: usize) {
    let mut bad: Vec<Arc<str>> = Vec::new();
    for a in &plan.actions[start..] {
        // Only these send values; grants and revokes name entitlements the rules wrote.
        if !matches!(a.op, OpKind::Create | OpKind::Update | OpKind::Writeback) {
            continue;
        }
        let Some(target) = program.targets.iter().find(|t| *t.name == *a.target) else {
            continue;
        };
        let values = a
            .attributes()
            .into_iter()
            .flat_map(|m| m.iter().map(|(k, v)| (k.as_str(), v)))
            .chain(a.changes().into_iter().flat_map(|m| {
                m.iter().filter_map(|(k, v)| {
                    v.as_array()
                        .and_then(|pair| pair.get(1))
                        .map(|v| (k.as_str(), v))
                })
            }));
        let written = a.field().zip(a.value());
        let mut problems: Vec<(String, String, String)> = values
            .filter_map(|(k, v)| {
                let v = v.as_str()?;
                super::valid::invalid(target.kind, k, v)
                    .map(|why| (k.to_string(), v.to_string(), why))
            })
            .collect();
        if let Some((field, value)) = written {
            let as_address = field.to_ascii_lowercase().contains("email");
            let why = if as_address {
                super::valid::invalid(target.kind, "mail", value)
            } else {
                super::valid::invalid(target.kind, field, value)
            };
            if let Some(why) = why {
                problems.push((field.to_string(), value.to_string(), why));
            }
        }
        for (attr, value, why) in problems {
            let rule = plan_origin(program, a);
            plan.notes.push(format!(
                "person {}: error: {}.{attr} = {value:?} {why}{rule}; nothing is planned for \
                 this person in {}",
                a.person, a.target, a.target
            ));
            if !bad.contains(&a.target) {
                bad.push(a.target.clone());
            }
        }
    }
    if bad.is_empty() {
        return;
    }
    // Only this person's actions (from `start`) go; the chunk's earlier persons keep theirs.
    let mut i = 0;
    plan.actions.retain(|a| {
        let keep = i < start || !bad.contains(&a.target);
        i += 1;
        keep
    });
}

/// ` (rule "NAME", FILE:LINE)` of the statement behind an action, for messages.
fn plan_origin(program: &Program, a: &Action) -> String {
    a.because
        .iter()
        .filter_map(|o| program.origins.get(*o as usize))
        .next()
        .map(|o| {
            let place = format!("{}:{}", o.file, o.line);
            match &*o.rule {
                // Statements outside a `rule` block are named by their place.
                r if r.is_empty() || r == place => format!(" ({place})"),
                r => format!(" (rule \"{r}\", {place})"),
            }
        })
        .unwrap_or_default()
}

/// Appends a person's actions, in order, to `out`; notes go to `notes`.
fn person_actions(
    program: &Program,
    ev: &PersonEval,
    st: &PersonState,
    assigned: &[(TargetId, String, Option<String>)],
    today: NaiveDate,
    (targets, grant_names): (&TargetFacts, &mut GrantNames),
    plan: &mut ChunkPlan,
) {
    let ChunkPlan {
        actions: out,
        notes,
        accountless,
        ..
    } = plan;
    let start = out.len();
    let person = ev.person;
    // A record without contracts may be an incomplete export: never a reason to take
    // access away.
    if person.contracts.is_empty() && (!st.accounts.is_empty() || !st.grants.is_empty()) {
        notes.push(format!(
            "person {} has no contracts in the HR data but holds accounts or grants; left alone",
            person.id
        ));
        return;
    }
    let mut b = Builder {
        program,
        person,
        target_names: &targets.names,
        grant_names,
        out,
        leaving: !ev.in_scope,
    };
    let usable = lifecycle_actions(&mut b, ev, st, assigned, today, notes);
    entitlement_actions(&mut b, ev, st, targets, &usable, notes, accountless);
    writeback_actions(&mut b, ev, targets.writeback, &usable);
    b.out[start..].sort_by(|x, y| {
        (x.seq, x.kind, &x.name, x.on(), x.field()).cmp(&(
            y.seq,
            y.kind,
            &y.name,
            y.on(),
            y.field(),
        ))
    });
}

/// Accounts: create, update, enable, disable and delete, by what the rules want and what
/// the state holds. Returns the targets where the person has (or gets) a usable account,
/// with the account's attribute values after this plan.
fn lifecycle_actions(
    b: &mut Builder,
    ev: &PersonEval,
    st: &PersonState,
    assigned: &[(TargetId, String, Option<String>)],
    today: NaiveDate,
    notes: &mut Vec<String>,
) -> HashMap<TargetId, Map<String, Json>> {
    let program = b.program;
    let person = b.person;
    let mut usable: HashMap<TargetId, Map<String, Json>> = HashMap::new();
    for acc in &ev.accounts {
        let existing = st
            .accounts
            .iter()
            .find(|a| *a.target == *program.targets[acc.target as usize].name)
            .copied();
        let because = b.because(&[acc.because]);
        let spec = program.account_spec(acc.target);
        let first_step = b.out.len();
        let wanted_attrs = || {
            let mut m = Map::new();
            for (name, w) in &acc.attributes {
                let v = match w {
                    AttrWanted::Value(v) => v.clone(),
                    AttrWanted::Unique(_) => {
                        let kept = existing
                            .and_then(|a| a.attributes.get(name))
                            .filter(|v| !v.is_null());
                        match kept {
                            Some(v) => v.clone(),
                            None => assigned
                                .iter()
                                .find(|(t, n, _)| *t == acc.target && n == name)
                                .and_then(|(_, _, v)| v.clone())
                                .map_or(Json::Null, Json::String),
                        }
                    }
                };
                m.insert(name.clone(), v);
            }
            m
        };
        match (acc.want, existing) {
            (AccountWant::Enabled | AccountWant::PreStart, None) => {
                let attrs = wanted_attrs();
                for (name, v) in &attrs {
                    if v.is_null()
                        && acc
                            .attributes
                            .iter()
                            .any(|(n, w)| n == name && matches!(w, AttrWanted::Unique(_)))
                    {
                        notes.push(format!(
                            "person {}: no value could be found for unique attribute `{name}` in {}",
                            person.id, program.targets[acc.target as usize].name
                        ));
                    }
                }
                let reason = if acc.want == AccountWant::PreStart {
                    "joiner: created disabled before the contract starts"
                } else {
                    "joiner: contract active"
                };
                b.push(
                    OpKind::Create,
                    acc.target,
                    because.clone(),
                    Some(Cow::Borrowed(reason)),
                )
                .detail_mut()
                .attributes = Some(attrs.clone());
                if acc.want == AccountWant::Enabled {
                    b.push(
                        OpKind::Enable,
                        acc.target,
                        because,
                        Some(Cow::Borrowed("contract active")),
                    );
                }
                usable.insert(acc.target, attrs);
            }
            (AccountWant::Enabled | AccountWant::PreStart, Some(a)) => {
                let attrs = wanted_attrs();
                let mut changes = Map::new();
                for (name, new) in &attrs {
                    let old = a.attributes.get(name).cloned().unwrap_or(Json::Null);
                    if old != *new && !(old.is_null() && new.is_null()) {
                        changes.insert(name.clone(), Json::Array(vec![old, new.clone()]));
                    }
                }
                if !changes.is_empty() {
                    b.push(OpKind::Update, acc.target, because.clone(), None)
                        .detail_mut()
                        .changes = Some(changes);
                }
                match (acc.want, a.enabled) {
                    (AccountWant::Enabled, false) => {
                        b.push(
                            OpKind::Enable,
                            acc.target,
                            because,
                            Some(Cow::Borrowed("contract active (rehire or start)")),
                        );
                    }
                    (AccountWant::PreStart, true) => {
                        b.push(
                            OpKind::Disable,
                            acc.target,
                            because,
                            Some(Cow::Borrowed("no active contract yet")),
                        );
                    }
                    _ => {}
                }
                let mut merged = a
                    .attributes
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect::<Map<_, _>>();
                merged.extend(attrs);
                usable.insert(acc.target, merged);
            }
            (AccountWant::Ended(_) | AccountWant::None, Some(a)) => {
                let since = match acc.want {
                    AccountWant::Ended(d) => d,
                    _ => today,
                };
                let mut deleted = false;
                if a.enabled {
                    let reason = match acc.want {
                        AccountWant::Ended(d) => {
                            Cow::Owned(format!("leaver: last contract ended {}", add_days(d, -1)))
                        }
                        _ => Cow::Borrowed("no contract gives an account in this target any more"),
                    };
                    b.push(OpKind::Disable, acc.target, because, Some(reason));
                } else if let Some(days) = spec.and_then(|s| s.delete_after_days) {
                    let disabled_on = a.disabled_on.unwrap_or(since);
                    if add_days(disabled_on, days) <= today {
                        b.push(
                            OpKind::Delete,
                            acc.target,
                            because,
                            Some(Cow::Owned(format!(
                                "disabled since {disabled_on}, retention of {days} days passed"
                            ))),
                        );
                        deleted = true;
                    }
                }
                if !deleted {
                    // A disabled account keeps what the rules still grant while the
                    // person is in scope (the scope window after the end).
                    usable.insert(
                        acc.target,
                        a.attributes
                            .iter()
                            .map(|(k, v)| (k.clone(), v.clone()))
                            .collect(),
                    );
                }
            }
            (AccountWant::Ended(_) | AccountWant::None, None) => {}
        }
        if let Some(h) = program.handover(acc.target) {
            let done: Vec<OpKind> = b.out[first_step..].iter().map(|a| a.op).collect();
            handover_actions(b, h, acc, existing, &done, usable.get(&acc.target), notes);
        }
    }
    usable
}

/// The `notify` steps of an account's hand-over: the first credential with the
/// account's create (`on create`) or first enable (`on start`), again while the state
/// says it is due (a delivery failed), never once it was handed over; and word of a
/// disable with `notify disable`. An empty recipient is a note, never a guess.
fn handover_actions(
    b: &mut Builder,
    h: &crate::rules::program::Handover,
    acc: &AccountWanted,
    existing: Option<&AccountState>,
    planned: &[OpKind],
    attributes: Option<&Map<String, Json>>,
    notes: &mut Vec<String>,
) {
    use crate::model::notice::{HandoverState, Notice, NoticeEvent};
    let state = existing.and_then(|a| a.handover);
    let trigger = match h.on {
        NoticeEvent::Enable => OpKind::Enable,
        _ => OpKind::Create,
    };
    let wanted = matches!(acc.want, AccountWant::Enabled | AccountWant::PreStart);
    let credential = wanted
        && state != Some(HandoverState::Done)
        && (planned.contains(&trigger) || state == Some(HandoverState::Due));
    let disabled = h.notify_disable && planned.contains(&OpKind::Disable);
    if !credential && !disabled {
        return;
    }
    let person = b.person;
    let target = &b.program.targets[acc.target as usize].name;
    let Some(to) = acc.handover_to.clone() else {
        notes.push(format!(
            "person {}: no recipient for the hand-over in {target} (the `to` line gives \
             nothing, e.g. no manager or no business e-mail); nothing is sent, hand it over \
             by hand",
            person.id
        ));
        return;
    };
    let sign_in = attributes
        .and_then(|m| {
            ["userPrincipalName", "mail", "sAMAccountName", "cn"]
                .iter()
                .find_map(|k| m.get(*k).and_then(Json::as_str))
        })
        .unwrap_or("")
        .to_string();
    let notice = |event: NoticeEvent, credential: bool| Notice {
        event,
        to: to.clone(),
        via: h.via.clone(),
        name: crate::model::names::compose(person).display_name,
        number: person
            .employee_number
            .map(|n| n.to_string())
            .unwrap_or_default(),
        account: sign_in.clone(),
        credential,
        from: credential.then_some(acc.first_day).flatten(),
        valid_days: credential.then_some(h.valid_days).flatten(),
    };
    let because = b.because(&[h.origin]);
    if credential {
        let reason = if state == Some(HandoverState::Due) {
            "the first credential was not handed over yet: sent again"
        } else {
            "hand over the first credential"
        };
        b.push(
            OpKind::Notify,
            acc.target,
            because.clone(),
            Some(Cow::Borrowed(reason)),
        )
        .detail_mut()
        .notice = Some(notice(h.on, true));
    }
    if disabled {
        b.push(
            OpKind::Notify,
            acc.target,
            because,
            Some(Cow::Borrowed("tell the recipient the account is disabled")),
        )
        .detail_mut()
        .notice = Some(notice(NoticeEvent::Disable, false));
    }
}

/// Entitlements: grants the rules want that the state lacks, and revokes of what the
/// state holds that the rules no longer want.
fn entitlement_actions(
    b: &mut Builder,
    ev: &PersonEval,
    st: &PersonState,
    targets: &TargetFacts,
    usable: &HashMap<TargetId, Map<String, Json>>,
    notes: &mut Vec<String>,
    accountless: &mut Vec<(TargetId, TargetId, Arc<str>)>,
) {
    let program = b.program;
    let person = b.person;
    // Grants: wanted while in scope, and only where the target's account (if the target
    // manages accounts) exists after this plan. They arrive sorted and unique from
    // evaluation (constant names rank in text order).
    type Key<'k> = (TargetId, Kind, &'k str, Option<&'k str>);
    let mut wanted: Vec<(Key, &Granted)> = Vec::with_capacity(ev.grants.len());
    if ev.in_scope {
        for g in &ev.grants {
            if let Some(host) = targets.account_of.get(g.target as usize).copied().flatten() {
                if !usable.contains_key(&host) {
                    // Granting would wait for an account that never comes (an Exchange
                    // mailbox without an Entra user); said once per plan.
                    if accountless
                        .last()
                        .is_none_or(|l| (l.0, l.1, &*l.2) != (g.target, host, &*person.id))
                    {
                        accountless.push((g.target, host, person.id.clone()));
                    }
                    continue;
                }
            }
            wanted.push(((g.target, g.kind, &*g.name, g.on.as_deref()), g));
        }
    }
    debug_assert!(wanted.windows(2).all(|w| w[0].0 < w[1].0));
    // What the state holds, in the same order, to walk both lists once.
    let mut held: Vec<Key> = Vec::with_capacity(st.grants.len());
    for s in &st.grants {
        match program.target_id(&s.target) {
            Some(t) => held.push((t, s.kind, s.name.as_str(), s.on.as_deref())),
            None => notes.push(format!(
                "person {}: grant {} {:?} in {} is not in a target of these rules; left alone",
                person.id, s.kind, s.name, s.target
            )),
        }
    }
    held.sort_unstable();
    held.dedup();
    let (mut w, mut h) = (0, 0);
    while w < wanted.len() || h < held.len() {
        let order = match (wanted.get(w), held.get(h)) {
            (Some((want, _)), Some(have)) => want.cmp(have),
            (Some(_), None) => std::cmp::Ordering::Less,
            _ => std::cmp::Ordering::Greater,
        };
        match order {
            std::cmp::Ordering::Equal => {
                w += 1;
                h += 1;
            }
            std::cmp::Ordering::Less => {
                let g = wanted[w].1;
                w += 1;
                let because = b.because(&g.because);
                let name = b.grant_names.get(g.rank, &g.name);
                let a = b.push(OpKind::Grant, g.target, because, None);
                a.kind = Some(g.kind);
                a.name = Some(name);
                if let Some(on) = g.on.as_deref() {
                    a.detail_mut().on = Some(Arc::from(on));
                }
            }
            std::cmp::Ordering::Greater => {
                let (t, k, name, on) = held[h];
                h += 1;
                let reason = if ev.in_scope {
                    "no rule grants this any more"
                } else {
                    "person out of scope"
                };
                let a = b.push(
                    OpKind::Revoke,
                    t,
                    Reasons::new(),
                    Some(Cow::Borrowed(reason)),
                );
                a.kind = Some(k);
                a.name = Some(Arc::from(name));
                if let Some(on) = on {
                    a.detail_mut().on = Some(Arc::from(on));
                }
            }
        }
    }
}

/// Write-backs to the HR source, once the value exists and differs from what it holds.
fn writeback_actions(
    b: &mut Builder,
    ev: &PersonEval,
    nmbrs: Option<TargetId>,
    usable: &HashMap<TargetId, Map<String, Json>>,
) {
    // Write-backs, once the value exists.
    let person = b.person;
    if ev.in_scope {
        if let Some(nmbrs) = nmbrs {
            let mut done: Vec<&str> = Vec::new();
            for w in &ev.writebacks {
                if done.contains(&w.field) {
                    continue;
                }
                let value = match &w.value {
                    WritebackOf::Value(v) => Some(v.to_string()),
                    WritebackOf::Account { target, attribute } => usable
                        .get(target)
                        .and_then(|attrs| attrs.get(*attribute))
                        .and_then(|v| v.as_str())
                        .map(str::to_string),
                };
                let Some(value) = value.filter(|v| !v.is_empty()) else {
                    continue;
                };
                done.push(w.field);
                let current = match w.field {
                    "business_email" => person.business_email.as_deref(),
                    "business_phone" => person.business_phone.as_deref(),
                    "business_mobile" => person.business_mobile.as_deref(),
                    "private_email" => person.private_email.as_deref(),
                    _ => None,
                };
                if current != Some(value.as_str()) {
                    let because = b.because(&[w.because]);
                    let a = b.push(OpKind::Writeback, nmbrs, because, None);
                    let d = a.detail_mut();
                    d.field = Some(Arc::from(w.field));
                    d.value = Some(Arc::from(value));
                }
            }
        }
    }
}

/// The `forbid` pairs whose both sides this person would get.
fn forbid_violations(program: &Program, ev: &PersonEval) -> Vec<Blocked> {
    let mut out = Vec::new();
    if program.forbids.is_empty() || !ev.in_scope {
        return out;
    }
    let has = |(t, k, n): &(TargetId, Kind, Arc<str>)| {
        ev.grants
            .iter()
            .any(|g| g.target == *t && g.kind == *k && *g.name == **n)
    };
    for f in &program.forbids {
        if has(&f.a) && has(&f.b) {
            let origin = &program.origins[f.origin as usize];
            let tname = |t: TargetId| program.targets[t as usize].name.clone();
            out.push(Blocked::Forbid {
                person: ev.person.id.clone(),
                rule: Because::from(origin),
                message: format!(
                    "person {} would get both {} \"{}\" in {} and {} \"{}\" in {}, which {}:{} forbids",
                    ev.person.id,
                    f.a.1.as_str(),
                    f.a.2,
                    tname(f.a.0),
                    f.b.1.as_str(),
                    f.b.2,
                    tname(f.b.0),
                    origin.file,
                    origin.line
                ),
            });
        }
    }
    out
}

/// Where the built-in guard is named in a plan.
const GUARD_PLACE: &str = "built-in guard";

/// The program's [`RemovalGuard`](crate::rules::program::RemovalGuard) for removal
/// operations the rules set no threshold for.
/// How many actions of each operation a plan holds, counted in one pass (indexed by
/// the operation's discriminant).
struct OpCounts([u64; OpKind::ALL.len()]);

impl OpCounts {
    fn of(actions: &[Action]) -> Self {
        let mut counts = [0u64; OpKind::ALL.len()];
        for a in actions {
            if let Some(n) = counts.get_mut(a.op as usize) {
                *n += 1;
            }
        }
        OpCounts(counts)
    }

    fn add(&mut self, other: &OpCounts) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a += b;
        }
    }

    fn get(&self, op: OpKind) -> u64 {
        self.0.get(op as usize).copied().unwrap_or(0)
    }
}

/// The part of `plan` (made from `input`) that concerns one person, as a plan of its
/// own: numbered from 1 and held to the limits again, so the thresholds count this
/// person's actions and only a `forbid` of theirs blocks it. The whole plan's notes
/// are left out (`stroom plan` shows them).
pub fn plan_for_person(plan: Plan, input: &PlanInput, person: &str) -> Plan {
    // The person's own steps, and the creation of a group one of them grants (planned
    // for whoever needs it first, and theirs too in this plan).
    let granted: std::collections::HashSet<(&str, String)> = plan
        .actions
        .iter()
        .filter(|a| &*a.person == person && a.op == OpKind::Grant)
        .filter_map(|a| Some((&*a.target, a.name.as_deref()?.to_lowercase())))
        .collect();
    let creates = |a: &Action| {
        a.op == OpKind::CreateGroup
            && a.name
                .as_deref()
                .is_some_and(|n| granted.contains(&(&*a.target, n.to_lowercase())))
    };
    let keep: Vec<bool> = plan
        .actions
        .iter()
        .map(|a| &*a.person == person || creates(a))
        .collect();
    drop(granted);
    let mut actions: Vec<Action> = plan
        .actions
        .into_iter()
        .zip(keep)
        .filter(|(_, k)| *k)
        .map(|(mut a, _)| {
            a.person = Arc::from(person);
            a
        })
        .collect();
    for (k, a) in actions.iter_mut().enumerate() {
        a.seq = k as u32 + 1;
    }
    let mut all_blocks: Vec<Blocked> = plan
        .all_blocks
        .into_iter()
        .filter(|b| matches!(b, Blocked::Forbid { person: p, .. } if &**p == person))
        .collect();
    all_blocks.extend(limits_passed(input, &actions));
    Plan {
        today: plan.today,
        actions,
        blocked: all_blocks.first().cloned(),
        all_blocks,
        notes: Vec::new(),
        origins: plan.origins,
    }
}

/// Every limit (the rules' thresholds, the removal guard) that these actions pass,
/// against the input's state and persons: how actions planned elsewhere (reconcile's
/// enforcement) are held to the same limits as any plan.
pub fn limits_passed(input: &PlanInput, actions: &[Action]) -> Vec<Blocked> {
    let counts = OpCounts::of(actions);
    let mut out = threshold_violations(input.program, &counts, input);
    out.extend(guard_violations(input.program, &counts, input));
    out
}

fn guard_violations(program: &Program, counts: &OpCounts, input: &PlanInput) -> Vec<Blocked> {
    let guard = program.removal_guard;
    let mut out = Vec::new();
    for op in [OpKind::Revoke, OpKind::Disable, OpKind::Delete] {
        if program.thresholds.iter().any(|t| t.op == op) {
            continue;
        }
        let count = counts.get(op);
        let base = match op {
            OpKind::Revoke => input.state.grants.len(),
            _ => input.state.accounts.len(),
        } as u64;
        if count <= guard.always_allowed || count * 100 <= guard.max_percent * base {
            continue;
        }
        let what = if op == OpKind::Revoke {
            "grants"
        } else {
            "accounts"
        };
        out.push(Blocked::Threshold {
            op,
            count,
            limit: format!("{}%", guard.max_percent),
            rule: Because {
                rule: GUARD_PLACE.into(),
                file: GUARD_PLACE.into(),
                line: 0,
            },
            message: format!(
                "the plan would {} {count} of the {base} {what} the state holds ({:.1}%, more \
                 than the built-in limit of {}%); check that the rule files and the HR data \
                 are complete. If this is meant, approve it (`stroom apply --approve`), or \
                 declare `threshold {} max N or P%` in the rules, or set \
                 plan.max_removed_percent in stroom.toml",
                op.as_str().trim_end_matches("_account"),
                count as f64 * 100.0 / base.max(1) as f64,
                guard.max_percent,
                op.as_str()
            ),
        });
    }
    out
}

/// Thresholds passed by this plan: more actions than the count, or (above
/// `percent_above` actions) a larger share than the percentage. Percentages of account
/// operations count against the persons in the HR data; of grants and revokes against
/// the grants in the state (a percentage against an empty state does not apply).
fn threshold_violations(program: &Program, counts: &OpCounts, input: &PlanInput) -> Vec<Blocked> {
    let mut out = Vec::new();
    for t in &program.thresholds {
        let count = counts.get(t.op);
        let base = match t.op {
            OpKind::Grant | OpKind::Revoke => input.state.grants.len(),
            _ => input.persons.len(),
        } as u64;
        let origin = &program.origins[t.origin as usize];
        let mut fail = |limit: String, detail: String| {
            out.push(Blocked::Threshold {
                op: t.op,
                count,
                limit: limit.clone(),
                rule: Because::from(origin),
                message: format!(
                    "the plan holds {count} {} action(s), more than the threshold of {limit} at {}:{} ({detail}); check the HR data, then raise the threshold or apply in parts",
                    t.op.as_str(),
                    origin.file,
                    origin.line
                ),
            });
        };
        if let Some(max) = t.max_count {
            if count > max {
                fail(max.to_string(), format!("{count} > {max}"));
                continue;
            }
        }
        // A percentage counts only above `percent_above` actions: in a small
        // organisation one ordinary leaver is a large share, and never a mass event.
        if let Some(pct) = t.max_percent {
            if base > 0 && count > t.percent_above && count * 100 > pct * base {
                fail(
                    format!("{pct}%"),
                    format!(
                        "{count} of {base} is {:.1}%; the percentage counts above {} action(s)",
                        count as f64 * 100.0 / base as f64,
                        t.percent_above
                    ),
                );
            }
        }
    }
    out
}
