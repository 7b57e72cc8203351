//! `sluice audit verify`: exit 0 with the record count and head hash, or exit 1 naming the first broken
//! line; from `--data-dir`, or `--server` (the records the sink serves, verified here).

use super::source::SourceArgs;
use super::{structured, Output};
use crate::cli::error::{Error, Exit, Result};
use crate::cli::output;
use clap::Args;

#[derive(Debug, Args)]
pub(in crate::cli) struct VerifyArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Output format: table is the one line; json and yaml give {records, head: {seq, hash}}.
    #[arg(short = 'o', long = "output", value_enum, default_value_t = Output::Table)]
    output: Output,
}

/// Verifies the chain and prints its head.
///
/// # Errors
///
/// The log cannot be read, or a line breaks the chain.
pub(super) fn run(args: &VerifyArgs) -> Result<Exit> {
    let head = args.source.head()?;
    let out = match args.output {
        Output::Table | Output::Wide => format!(
            "ok: {} records, head seq {} hash {}\n",
            head.seq, head.seq, head.hash
        ),
        Output::Json | Output::Yaml => structured(
            &serde_json::json!({"ok": true, "records": head.seq,
                "head": {"seq": head.seq, "hash": head.hash}}),
            args.output,
        )?,
        Output::Csv => {
            return Err(Error::Usage(
                "audit verify -o csv: give table, json or yaml".into(),
            ))
        }
    };
    output::print(out.as_bytes())?;
    Ok(Exit::Success)
}
