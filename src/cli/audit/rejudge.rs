//! `sluice audit rejudge SEQ [--data-dir DIR] [--snapshot FILE] [--gate approvals|ticket]`: the approvals
//! and the ticket of record SEQ judged again from the snapshots of the answers they name, alone (no host
//! or ticket system is asked), and compared with what the record says. Exit 0 when each verdict and
//! reason is the same, 1 when one differs or a snapshot no longer has the digest the record names
//! (docs/approvals.md, docs/tickets.md).

use crate::cli::error::{Error, Exit, Result};
use crate::cli::output;
use crate::evidence::snapshot as store;
use crate::host::snapshot::{rejudge, Snapshot};
use crate::itsm::snapshot as ticket_snapshot;
use crate::record::{self, findings, Record};
use clap::{Args, ValueEnum};
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
    /// Re-judge only this gate's evidence (default: every gate the record has evidence of; with
    /// --snapshot, name the gate when the record has both).
    #[arg(long, value_enum)]
    gate: Option<Gate>,
    /// The record's seq (a guard decision or a sync with approval evidence).
    seq: u64,
}

/// A gate whose evidence a record keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(in crate::cli) enum Gate {
    /// The Git host's approvals (`approval`).
    Approvals,
    /// The change ticket (`ticket`).
    Ticket,
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
    super::source::require_log(&args.data_dir)?;
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
    let has_approval = findings::approval(&record).is_some();
    let has_ticket = findings::ticket(&record).is_some();
    let gates: Vec<Gate> = match args.gate {
        Some(g) => vec![g],
        None => [(has_approval, Gate::Approvals), (has_ticket, Gate::Ticket)]
            .into_iter()
            .filter_map(|(has, g)| has.then_some(g))
            .collect(),
    };
    if gates.is_empty() {
        return Err(failed(format!(
            "seq {}: the record has no approval or ticket evidence",
            args.seq
        )));
    }
    if gates.len() > 1 && args.snapshot.is_some() {
        return Err(Error::Usage(
            "--snapshot names one snapshot: say which gate's it is with --gate approvals or --gate ticket".into(),
        ));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| failed(format!("cannot start a runtime: {e}")))?;
    let mut out = String::new();
    let mut differs = Vec::new();
    for gate in gates {
        let same = match gate {
            Gate::Approvals => approvals(args, &record, &runtime, &mut out)?,
            Gate::Ticket => ticket(args, &record, &runtime, &mut out)?,
        };
        if let Some(why) = same {
            differs.push(why);
        }
    }
    output::print(out.as_bytes())?;
    if differs.is_empty() {
        Ok(Exit::Success)
    } else {
        Err(failed(differs.join("; ")))
    }
}

/// The snapshot a record names: from the store, or `--snapshot`, its digest checked.
fn snapshot_bytes(args: &RejudgeArgs, digest: &str) -> Result<Vec<u8>> {
    match &args.snapshot {
        None => store::read(&args.data_dir, digest).map_err(|e| failed(e.to_string())),
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
            Ok(bytes)
        }
    }
}

/// Re-judges the approvals; `Some(why)` when the verdict differs.
fn approvals(
    args: &RejudgeArgs,
    record: &Record,
    runtime: &tokio::runtime::Runtime,
    out: &mut String,
) -> Result<Option<String>> {
    let approval = findings::approval(record).ok_or_else(|| {
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
    let bytes = snapshot_bytes(args, digest)?;
    let snapshot =
        Snapshot::from_bytes(&bytes).map_err(|e| failed(format!("snapshot {digest}: {e}")))?;
    let again = runtime.block_on(rejudge(&snapshot));
    let (verdict, reason) = match &again {
        Ok(j) => (j.verdict.as_str().to_owned(), j.reason.clone()),
        Err(e) => (
            "unverified".to_owned(),
            format!("cannot verify approvals: {e}"),
        ),
    };
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
    Ok((!same).then(|| {
        format!(
            "seq {}: the snapshot re-judges to {verdict}, the record says {}",
            args.seq, approval.verdict
        )
    }))
}

/// Re-judges the ticket; `Some(why)` when the verdict differs.
fn ticket(
    args: &RejudgeArgs,
    record: &Record,
    runtime: &tokio::runtime::Runtime,
    out: &mut String,
) -> Result<Option<String>> {
    let t = findings::ticket(record).ok_or_else(|| {
        failed(format!(
            "seq {}: the record has no ticket evidence",
            args.seq
        ))
    })?;
    let digest = t.snapshot_digest.as_deref().ok_or_else(|| {
        failed(format!(
            "seq {}: the record names no ticket snapshot (the ticket system was not asked: {})",
            args.seq, t.reason
        ))
    })?;
    let bytes = snapshot_bytes(args, digest)?;
    let snapshot = ticket_snapshot::Snapshot::from_bytes(&bytes)
        .map_err(|e| failed(format!("snapshot {digest}: {e}")))?;
    let again = runtime.block_on(ticket_snapshot::rejudge(&snapshot));
    let (verdict, reason) = match &again {
        Ok(j) => (j.verdict.as_str().to_owned(), j.reason.clone()),
        Err(e) => (
            "unverified".to_owned(),
            format!("cannot verify the ticket: {e}"),
        ),
    };
    let _ = writeln!(
        out,
        "seq {}: ticket snapshot {digest} ({} answers from {} {}, fetched {}), SHA-256 verified",
        args.seq,
        snapshot.exchanges.len(),
        snapshot.system,
        snapshot.number,
        snapshot.fetched_at
    );
    let _ = writeln!(out, "  recorded:   {}: {}", t.verdict, t.reason);
    let _ = writeln!(out, "  re-judged:  {verdict}: {reason}");
    let same = verdict == t.verdict && (t.verdict == "unverified" || reason == t.reason);
    Ok((!same).then(|| {
        format!(
            "seq {}: the ticket snapshot re-judges to {verdict}, the record says {}",
            args.seq, t.verdict
        )
    }))
}
