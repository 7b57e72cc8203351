//! `sluice audit rejudge SEQ [--data-dir DIR] [--snapshot FILE]`: the approvals of record SEQ judged
//! again from the snapshot of the host's answers it names, alone (no host is asked), and compared
//! with what the record says. Exit 0 when the verdict and the reason are the same, 1 when they differ
//! or the snapshot no longer has the digest the record names (docs/approvals.md).

use crate::cli::error::{Error, Exit, Result};
use crate::cli::output;
use crate::evidence::snapshot as store;
use crate::host::snapshot::{rejudge, Snapshot};
use crate::record::{self, findings, Record};
use clap::Args;
use std::fmt::Write as _;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub(in crate::cli) struct RejudgeArgs {
    /// The sink's data directory, holding audit.jsonl and snapshots/.
    #[arg(long, env = "SLUICE_DATA_DIR", default_value = "/var/lib/sluice")]
    data_dir: PathBuf,
    // clap prints this as help text, where backticks would show.
    #[allow(clippy::doc_markdown)]
    /// Read the snapshot from this file (e.g. a copy from the archive) instead of DATA_DIR/snapshots;
    /// its SHA-256 must still be the digest the record names.
    #[arg(long, value_name = "FILE")]
    snapshot: Option<PathBuf>,
    /// The record's seq (a guard decision or a sync with approval evidence).
    seq: u64,
}

fn failed(message: String) -> Error {
    Error::Reported {
        exit: Exit::Failure,
        message,
    }
}

/// Re-judges and prints the comparison.
///
/// # Errors
///
/// The log is broken, the record has no approval evidence or no snapshot, the snapshot was changed, or
/// the re-judged verdict differs from the recorded one.
pub(super) fn run(args: &RejudgeArgs) -> Result<Exit> {
    let mut found: Option<Record> = None;
    record::read_each(&args.data_dir, |r| {
        if r.seq == args.seq {
            found = Some(r);
        }
    })?;
    let record = found.ok_or_else(|| {
        failed(format!(
            "{}: no record with seq {}",
            args.data_dir.display(),
            args.seq
        ))
    })?;
    let approval = findings::approval(&record).ok_or_else(|| {
        failed(format!(
            "seq {}: the record has no approval evidence",
            args.seq
        ))
    })?;
    let digest = approval.snapshot_digest.as_deref().ok_or_else(|| {
        failed(format!(
            "seq {}: the record names no snapshot (the host was not asked: {})",
            args.seq, approval.reason
        ))
    })?;
    let bytes = match &args.snapshot {
        None => store::read(&args.data_dir, digest).map_err(|e| failed(e.to_string()))?,
        Some(file) => {
            let bytes = std::fs::read(file).map_err(|e| Error::io(file, e))?;
            let actual = store::digest_of(&bytes);
            if actual != digest {
                return Err(failed(format!(
                    "{}: its SHA-256 is {actual}, not the {digest} that seq {} names",
                    file.display(),
                    args.seq
                )));
            }
            bytes
        }
    };
    let snapshot =
        Snapshot::from_bytes(&bytes).map_err(|e| failed(format!("snapshot {digest}: {e}")))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| failed(format!("cannot start a runtime: {e}")))?;
    let again = runtime.block_on(rejudge(&snapshot));
    let (verdict, reason) = match &again {
        Ok(j) => (j.verdict.as_str().to_owned(), j.reason.clone()),
        Err(e) => (
            "unverified".to_owned(),
            format!("cannot verify approvals: {e}"),
        ),
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "seq {}: snapshot {digest} ({} answers from {} {}, fetched {}), SHA-256 verified",
        args.seq,
        snapshot.exchanges.len(),
        snapshot.host,
        snapshot.repository,
        snapshot.fetched_at
    );
    let _ = writeln!(
        out,
        "  recorded:   {}: {}",
        approval.verdict, approval.reason
    );
    let _ = writeln!(out, "  re-judged:  {verdict}: {reason}");
    // A gather that stopped short (unverified) stops at the same place again; its message may name the
    // snapshot instead of the host, so only the verdict is compared then.
    let same = verdict == approval.verdict
        && (approval.verdict == "unverified" || reason == approval.reason);
    output::print(out.as_bytes())?;
    if same {
        Ok(Exit::Success)
    } else {
        Err(failed(format!(
            "seq {}: the snapshot re-judges to {verdict}, the record says {}",
            args.seq, approval.verdict
        )))
    }
}
