//! The `stroom` command line.

// Input must never crash Stroom: no unwrap, expect or panic outside tests.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

#[path = "cli/out.rs"]
#[macro_use]
mod out;

mod cli;

fn main() -> std::process::ExitCode {
    cli::run()
}
