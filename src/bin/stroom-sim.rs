//! `stroom-sim`: runs an API simulator for demos and manual tests.
//!
//! ```sh
//! stroom-sim nmbrs --employees 5000 --port 8080 --token-store stroom-data/nmbrs-tokens.json
//! stroom-sim microsoft --port 8081 --faults '{"mailbox_delay_ms": 20000}'
//! ```
//! prints the base URL and the credentials (or the stroom.toml lines) to point
//! `stroom` at it. Nmbrs faults can be switched on at start (`--faults
//! '{"server_error_every": 7}'`) or at any time with `POST /_sim/faults`.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

#[path = "../cli/out.rs"]
#[macro_use]
mod out;

use chrono::NaiveDate;
use std::process::ExitCode;
use std::sync::Arc;
use stroom::simulate::microsoft::{Faults as MicrosoftFaults, MicrosoftSim, TenantSetup};
use stroom::simulate::nmbrs::{Credentials, Faults, Sim};
use stroom::source::nmbrs::auth::TokenStore;

const USAGE: &str = "usage: stroom-sim nmbrs [--employees N] [--seed S] [--today YYYY-MM-DD] [--port P] [--faults JSON] [--token-store FILE]\n       stroom-sim microsoft [--port P] [--faults JSON]";

const HELP: &str = "stroom-sim: API simulators for demos and manual tests, on 127.0.0.1.

usage: stroom-sim nmbrs [OPTIONS]
       stroom-sim microsoft [OPTIONS]

nmbrs: the Nmbrs REST API (OAuth, paging, throttling, error bodies)
  --employees N        employees to generate (default 1000)
  --seed S             seed of the generated data (default 1)
  --today YYYY-MM-DD   the simulated current period (default: today)
  --port P             port (default: any free one)
  --faults JSON        faults to inject, e.g. '{\"server_error_every\": 7}'
  --token-store FILE   sign in at start and write the tokens there

microsoft: Entra ID (Graph), Exchange Online and the sign-in service
  --port P             port (default: any free one)
  --faults JSON        faults, e.g. '{\"mailbox_delay_ms\": 20000}'

Each prints the address and what to put in stroom.toml (secrets go in variables).";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        outln!("{HELP}");
        return ExitCode::from(out::exit_status(0));
    }
    match args.first().map(String::as_str) {
        Some("nmbrs") => nmbrs(&args),
        Some("microsoft") => microsoft(&args),
        Some("help") | None => {
            outln!("{HELP}");
            ExitCode::from(out::exit_status(0))
        }
        Some(other) => {
            errln!("unknown simulator {other:?}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// Walks `--flag value` pairs after the subcommand; `take` says whether it knew the
/// flag and could read the value.
fn flags(args: &[String], mut take: impl FnMut(&str, &str) -> bool) -> Result<(), ExitCode> {
    let mut rest = args.iter().skip(1);
    while let Some(flag) = rest.next() {
        let Some(value) = rest.next() else {
            errln!("{flag} needs a value\n{USAGE}");
            return Err(ExitCode::from(2));
        };
        if !take(flag, value) {
            errln!("bad {flag} {value:?} (`stroom-sim --help` lists the options)\n{USAGE}");
            return Err(ExitCode::from(2));
        }
    }
    Ok(())
}

/// Serves `router` on 127.0.0.1:`port`; `banner` gets the address.
fn serve(router: axum::Router, port: u16, banner: impl FnOnce(&str)) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            errln!("error: {e}");
            return ExitCode::from(1);
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
            Ok(l) => l,
            Err(e) => {
                errln!("error: cannot listen on 127.0.0.1:{port}: {e}");
                return ExitCode::from(1);
            }
        };
        let addr = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        banner(&addr);
        match axum::serve(listener, router).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                errln!("error: {e}");
                ExitCode::from(1)
            }
        }
    })
}

fn microsoft(args: &[String]) -> ExitCode {
    let mut port = 0u16;
    let mut faults = MicrosoftFaults::default();
    let parsed = flags(args, |flag, value| match flag {
        "--port" => value.parse().map(|v| port = v).is_ok(),
        "--faults" => serde_json::from_str(value).map(|v| faults = v).is_ok(),
        _ => false,
    });
    if let Err(code) = parsed {
        return code;
    }
    let setup = TenantSetup::default();
    let sim = MicrosoftSim::new(setup.clone());
    sim.set_faults(faults);
    serve(sim.router(), port, |addr| {
        outln!("Microsoft 365 simulator (Graph, Exchange Online, sign-in) on http://{addr}");
        outln!(
            "groups: {}; licences: {}; shared mailboxes: {}",
            setup.groups.join(", "),
            setup
                .skus
                .iter()
                .map(|s| s.0.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            setup.shared_mailboxes.join(", ")
        );
        outln!("export STROOM_ENTRA_CLIENT_SECRET={}", setup.client_secret);
        outln!("# stroom.toml:");
        outln!("[targets.entra]\ntenant_id = \"{}\"\nclient_id = \"{}\"\nauthority = \"http://{addr}\"\ngraph_url = \"http://{addr}\"", setup.tenant_id, setup.client_id);
        outln!("[targets.exchange]\norganization = \"simtenant.onmicrosoft.com\"\nexchange_url = \"http://{addr}\"");
    })
}

fn nmbrs(args: &[String]) -> ExitCode {
    let mut employees = 1000usize;
    let mut seed = 1u64;
    let mut today = stroom::model::dutch_date(chrono::Utc::now());
    let mut port = 0u16;
    let mut faults = Faults::default();
    let mut token_store = None;
    let parsed = flags(args, |flag, value| match flag {
        "--employees" => value.parse().map(|v| employees = v).is_ok(),
        "--seed" => value.parse().map(|v| seed = v).is_ok(),
        "--port" => value.parse().map(|v| port = v).is_ok(),
        "--today" => NaiveDate::parse_from_str(value, "%Y-%m-%d")
            .map(|v| today = v)
            .is_ok(),
        "--faults" => serde_json::from_str(value).map(|v| faults = v).is_ok(),
        "--token-store" => {
            token_store = Some(value.to_string());
            true
        }
        _ => false,
    });
    if let Err(code) = parsed {
        return code;
    }
    let credentials = Credentials::default();
    let sim = Arc::new(Sim::generate(employees, seed, today, credentials.clone()));
    sim.set_faults(faults);
    if let Some(path) = &token_store {
        // As if `stroom nmbrs login` had run against the simulator.
        if let Err(e) = sim.sign_in(&TokenStore::new(path)) {
            errln!("error: {e}");
            return ExitCode::from(1);
        }
    }
    serve(sim.router(), port, |addr| {
        outln!("Nmbrs simulator on http://{addr} with {employees} employees (seed {seed}, period of {today})");
        outln!(
            "export STROOM_NMBRS_BASE_URL=http://{addr} STROOM_NMBRS_IDENTITY_URL=http://{addr}"
        );
        outln!(
            "export STROOM_NMBRS_CLIENT_ID={} STROOM_NMBRS_CLIENT_SECRET={} STROOM_NMBRS_SUBSCRIPTION_KEY={}",
            credentials.client_id, credentials.client_secret, credentials.subscription_key
        );
    })
}
