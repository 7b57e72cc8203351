//! The `sluice` binary: parse the command line, hand it to [`sluice::cli::run`], and turn the outcome
//! into an exit code. Nothing else lives here.

use clap::Parser;
use sluice::cli::{self, Cli};
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    cli::init_logging(cli.log_format);
    let exit = cli::run(cli).unwrap_or_else(|err| {
        cli::report(&err);
        err.exit()
    });
    ExitCode::from(exit as u8)
}
