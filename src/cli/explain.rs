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
    /// The person's id.
    #[arg(long)]
    pub person: String,
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
    let Some(person) = population.get(&args.person) else {
        errln!(
            "error: no person with id {:?} in {}",
            args.person,
            args.persons.display()
        );
        return FAILED;
    };
    let x = explain_person(&program, &population, person, today_or_now(args.today));
    match args.format {
        Format::Json => print_json(&x),
        Format::Human => {
            out!("{}", render(&x));
            OK
        }
    }
}
