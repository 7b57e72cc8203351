//! `sluice audit verify --data-dir DIR`: exit 0 with the record count and head hash, or exit 1
//! naming the first broken line.

use crate::audit;
use crate::cli::error::{Exit, Result};
use crate::cli::output;
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub(in crate::cli) struct VerifyArgs {
    /// The sink's data directory (holding audit.jsonl).
    #[arg(long)]
    data_dir: PathBuf,
}

/// Verifies the chain and prints its head.
///
/// # Errors
///
/// The log cannot be read, or a line breaks the chain.
pub(super) fn run(args: &VerifyArgs) -> Result<Exit> {
    let head = audit::verify(&args.data_dir)?;
    output::print_line(&format!(
        "ok: {} records, head seq {} hash {}",
        head.seq, head.seq, head.hash
    ))?;
    Ok(Exit::Success)
}
