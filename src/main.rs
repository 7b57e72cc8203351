//! The `sluice` binary: parse the command line, hand it to [`sluice::run`], and turn the outcome into
//! an exit code. Nothing else lives here.

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = sluice::cli::Cli::parse();
    sluice::init_logging(&cli);
    match sluice::run(cli) {
        Ok(exit) => ExitCode::from(exit as u8),
        Err(err) => {
            eprintln!("sluice: {err}");
            ExitCode::from(err.exit() as u8)
        }
    }
}
