//! `sluice audit archive [--data-dir DIR] --archive URL [--retention P]`: copies every sealed segment and
//! checkpoint the archive lacks, once, and exits (what the sink does in the background with
//! `--archive`; for a log archived after the fact, or from a restored volume).

use crate::archive::retention::Retention;
use crate::archive::uploader;
use crate::cli::error::{Exit, Result};
use crate::cli::output;
use clap::Args;
use std::path::PathBuf;

// clap prints these doc lines as help text, where backticks and <> would show as they are.
#[allow(clippy::doc_markdown)]
#[derive(Debug, Args)]
pub(in crate::cli) struct ArchiveArgs {
    /// The sink's data directory, holding audit.jsonl, segments/ and checkpoints/.
    #[arg(long, env = "SLUICE_DATA_DIR", default_value = "/var/lib/sluice")]
    data_dir: PathBuf,
    /// The archive: s3://bucket/prefix, gs://…, az://…, or a directory.
    #[arg(long)]
    archive: String,
    /// Refuse unless the bucket locks objects at least this long (S3 Object Lock, COMPLIANCE mode).
    #[arg(long)]
    retention: Option<Retention>,
}

/// Copies what is missing and prints how many objects were written.
///
/// # Errors
///
/// The archive cannot be opened or is not locked long enough, or a copy fails (an existing object
/// with other content included: nothing is overwritten).
pub(super) fn run(args: &ArchiveArgs) -> Result<Exit> {
    super::source::require_log(&args.data_dir)?;
    let archive = crate::cli::archive::open(&args.archive, args.retention)?;
    let written = crate::cli::archive::runtime()?
        .block_on(uploader::sync_once(&archive, &args.data_dir))
        .map_err(crate::cli::archive::failure)?;
    output::print_line(&format!(
        "ok: {written} objects written to {}",
        archive.url()
    ))?;
    Ok(Exit::Success)
}
