//! `stroom explain`

use super::plan::{load_rules_and_persons, parse_date, today_or_now};
use super::{print_json, Format, FAILED, OK};
use chrono::NaiveDate;
use clap::Args;
use std::path::PathBuf;
use stroom::rules::eval::Population;
use stroom::rules::explain::{explain_person, render};

#[derive(Args)]
pub struct ExplainArgs {
    /// Rule file or directory.
    #[arg(long, required = true)]
    pub rules: Vec<PathBuf>,
    /// Persons file.
    #[arg(long)]
    pub persons: PathBuf,
    /// The person: id, employee number or name.
    #[arg(long)]
    pub person: String,
    /// The current state: the person's planned actions are shown with their reasons
    /// (why a revoke or a disable is planned).
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Evaluation date (YYYY-MM-DD); default: today.
    #[arg(long, value_parser = parse_date)]
    pub today: Option<NaiveDate>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// stroom.toml, whose `[targets.NAME]` sections the rules may name (default:
    /// ./stroom.toml when there is one).
    #[arg(long)]
    pub config: Option<PathBuf>,
}

pub fn run(args: &ExplainArgs) -> u8 {
    let config = match super::nmbrs::load_config(args.config.as_deref()) {
        Ok(c) => c,
        Err(code) => return code,
    };
    let (program, persons) = match load_rules_and_persons(&args.rules, &args.persons, &config) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let population = Population::new(&persons);
    let person = match stroom::model::person::find_person(&persons, &args.person) {
        Ok(p) => p,
        Err(e) => {
            errln!("error: {e} in {}", args.persons.display());
            return FAILED;
        }
    };
    let today = today_or_now(args.today);
    let x = explain_person(&program, &population, person, today);
    // With the state: what the plan does for this person, and why.
    let planned = match args.state.as_deref() {
        None => None,
        Some(path) => {
            let state = match super::plan::load_state(Some(path)) {
                Ok(s) => s,
                Err(code) => return code,
            };
            let plan = stroom::plan::build_plan(&stroom::plan::PlanInput {
                program: &program,
                persons: &persons,
                state: &state,
                today,
            });
            Some(planned_for(&plan, &person.id, &program, &x))
        }
    };
    match args.format {
        Format::Json => {
            let mut v = serde_json::to_value(&x).unwrap_or_default();
            if let Some(p) = &planned {
                v["planned"] = serde_json::to_value(p).unwrap_or_default();
            }
            print_json(&v)
        }
        Format::Human => {
            out!("{}", render(&x));
            if let Some(p) = &planned {
                out!("\n{}", render_planned(p));
            }
            OK
        }
    }
}

/// One planned action of the person, in words.
#[derive(serde::Serialize)]
struct Planned {
    op: String,
    target: String,
    what: String,
    why: String,
}

fn planned_for(
    plan: &stroom::plan::Plan,
    person: &str,
    program: &stroom::rules::program::Program,
    x: &stroom::rules::explain::PersonExplanation,
) -> Vec<Planned> {
    plan.actions
        .iter()
        .filter(|a| &*a.person == person)
        .map(|a| {
            let what = match (a.kind, a.name.as_deref()) {
                (Some(k), Some(n)) => match a.on() {
                    Some(on) => format!("{k} {n:?} on {on:?}"),
                    None => format!("{k} {n:?}"),
                },
                _ => match (a.changes(), a.field()) {
                    (Some(ch), _) => ch
                        .iter()
                        .map(|(k, v)| format!("{k}: {} → {}", v[0], v[1]))
                        .collect::<Vec<_>>()
                        .join(", "),
                    (_, Some(f)) => format!("{f} = {:?}", a.value().unwrap_or("")),
                    _ => String::new(),
                },
            };
            let mut rules: Vec<String> = plan
                .because(a)
                .map(|b| format!("rule {} ({}:{})", b.rule, b.file, b.line))
                .collect();
            // A revoke has no rule behind it: say which rule gave it and what it does now.
            if let (stroom::rules::program::OpKind::Revoke, Some(kind), Some(name)) =
                (a.op, a.kind, a.name.as_deref())
            {
                rules.extend(stroom::rules::explain::why_revoked(
                    program, x, &a.target, kind, name,
                ));
            }
            let why = match (a.reason.as_deref(), rules.is_empty()) {
                (Some(r), true) => r.to_string(),
                (Some(r), false) => format!("{r}; {}", rules.join(", ")),
                (None, _) => rules.join(", "),
            };
            Planned {
                op: a.op.as_str().to_string(),
                target: a.target.to_string(),
                what,
                why,
            }
        })
        .collect()
}

fn render_planned(planned: &[Planned]) -> String {
    use std::fmt::Write as _;
    let mut s = String::from("planned against the state:\n");
    if planned.is_empty() {
        s.push_str("  nothing: the state already is what the rules want\n");
    }
    for p in planned {
        let what = if p.what.is_empty() {
            String::new()
        } else {
            format!(" {}", p.what)
        };
        let _ = writeln!(s, "  {} in {}{what}: {}", p.op, p.target, p.why);
    }
    s
}
