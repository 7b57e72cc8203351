//! `sluice audit prove [--data-dir DIR] [--checkpoint NOTE | --size N] (--seq S... [--out DIR] |
//! --from-size M)` and `sluice audit check-proof PROOF --record FILE [--public-key K] [--witness-key W...]`:
//! Merkle proofs for auditors (docs/audit-log.md, "Proofs"). `prove` gives a record's inclusion proof
//! as a C2SP tlog-proof (with the checkpoint it is against), or a consistency proof between two tree
//! sizes in the body of a C2SP tlog-witness `add-checkpoint` request; `check-proof` checks a record
//! against a tlog-proof without the log.

use crate::cli::archive::failure;
use crate::cli::error::{Error, Exit, Result};
use crate::cli::output;
use crate::evidence::checkpoint::{self, Checkpoint};
use crate::evidence::note::{self, KeyKind, VerifierKey};
use crate::evidence::{tlog_proof, witness};
use crate::ledger::tree::{self, hash as tree_hash};
use clap::Args;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

// clap prints these doc lines as help text, where backticks and <> would show as they are.
#[allow(clippy::doc_markdown)]
#[derive(Debug, Args)]
pub(in crate::cli) struct ProveArgs {
    /// The sink's data directory.
    #[arg(long, env = "SLUICE_DATA_DIR", default_value = "/var/lib/sluice")]
    data_dir: PathBuf,
    /// Prove against this checkpoint note (e.g. a witness's, from GET <witness>/<origin hash>/checkpoint)
    /// instead of one of the data directory's.
    #[arg(long, conflicts_with = "size")]
    checkpoint: Option<PathBuf>,
    /// Prove against the tree of this many records: its checkpoint when the data directory has one,
    /// else the bare size and root, unsigned. Default: the newest checkpoint.
    #[arg(long)]
    size: Option<u64>,
    /// The record to prove (repeat for several; with more than one proof, give --out).
    #[arg(long, required_unless_present = "from_size")]
    seq: Vec<u64>,
    /// Write each proof to DIR/<seq>.tlog-proof (and DIR/<size>.add-checkpoint) instead of stdout.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Prove that the tree of this many records is a prefix of the checkpoint's tree: an add-checkpoint
    /// body (old size, proof, checkpoint) as a witness takes it (repeat for several, with --out).
    #[arg(long)]
    from_size: Vec<u64>,
    /// The log's public key: the checkpoint's signature must verify with it.
    #[arg(long)]
    public_key: Option<PathBuf>,
}

// clap prints these doc lines as help text, where backticks and <> would show as they are.
#[allow(clippy::doc_markdown)]
#[derive(Debug, Args)]
pub(in crate::cli) struct CheckProofArgs {
    /// The C2SP tlog-proof file (from `audit prove` or `audit show --proofs`).
    proof: PathBuf,
    /// The record: a file holding its line as the log has it (a trailing newline is ignored).
    #[arg(long)]
    record: PathBuf,
    /// The log's public key: the checkpoint in the proof must be signed with it.
    #[arg(long)]
    public_key: Option<PathBuf>,
    /// A witness's public key (repeat for several): the checkpoint must be cosigned by
    /// --witness-threshold of them.
    #[arg(long, requires = "public_key")]
    witness_key: Vec<PathBuf>,
    /// How many of the --witness-key witnesses must have cosigned.
    #[arg(long, default_value_t = 1, requires = "witness_key", value_parser = clap::value_parser!(u16).range(1..))]
    witness_threshold: u16,
}

fn key(path: &Path, kind: KeyKind) -> Result<VerifierKey> {
    let k = super::verify::read_public_key(path)?;
    k.kind()
        .expect(kind)
        .map_err(|e| failure(format!("{}: {e}", path.display())))?;
    Ok(k)
}

/// The checkpoint to prove against: its note (or bare text), size and root.
struct Target {
    note: String,
    size: u64,
    signed: bool,
}

/// Reads a checkpoint note (or a bare checkpoint text); with `keys`, its signature must verify.
fn read_checkpoint(text: &str, keys: &[VerifierKey], name: &str) -> Result<(Checkpoint, bool)> {
    let fail = |e: note::NoteError| failure(format!("{name}: {e}"));
    if !keys.is_empty() {
        return Ok((Checkpoint::open(text, keys).map_err(fail)?, true));
    }
    let body = match note::split(text) {
        Ok((body, _)) => body,
        Err(_) => text,
    };
    Ok((Checkpoint::parse(body).map_err(fail)?, false))
}

/// The newest checkpoint of the tree in the data directory of `size` (any size when `None`): its
/// note, the cosigned one when there is one.
fn local_checkpoint(data_dir: &Path, size: Option<u64>) -> Result<Option<(u64, String)>> {
    let mut best: Option<(u64, String)> = None;
    for dir in [checkpoint::DIR, checkpoint::WITNESSED_DIR] {
        let listed =
            checkpoint::list(data_dir, dir).map_err(|e| Error::io(data_dir.join(dir), e))?;
        for (s, path) in listed {
            if size.is_some_and(|want| want != s) || best.as_ref().is_some_and(|(b, _)| *b > s) {
                continue;
            }
            let text = checkpoint::read_note(&path).map_err(|e| Error::io(&path, e))?;
            let is_tree = note::split(&text)
                .ok()
                .and_then(|(t, _)| Checkpoint::parse(t).ok())
                .is_some_and(|cp| cp.tree_root().is_some());
            if is_tree {
                best = Some((s, text));
            }
        }
    }
    Ok(best)
}

fn target(
    args: &ProveArgs,
    keys: &[VerifierKey],
    view: &mut tree::View,
    head: u64,
) -> Result<Target> {
    let (note_text, name) = if let Some(path) = &args.checkpoint {
        let text = checkpoint::read_note(path).map_err(|e| Error::io(path, e))?;
        (Some(text), path.display().to_string())
    } else {
        let found = local_checkpoint(&args.data_dir, args.size)?;
        (
            found.map(|(_, t)| t),
            args.data_dir.join(checkpoint::DIR).display().to_string(),
        )
    };
    let Some(text) = note_text else {
        // No checkpoint of that size: the bare size and root of the log's tree, unsigned.
        if !keys.is_empty() {
            return Err(failure(format!(
                "{name}: no checkpoint of the tree{} to check --public-key against",
                args.size
                    .map(|s| format!(" of {s} records"))
                    .unwrap_or_default()
            )));
        }
        let size = args.size.unwrap_or(head);
        if size > head {
            return Err(failure(format!(
                "--size {size}: the log has {head} records"
            )));
        }
        let root = tree::proof::root(view, size).map_err(failure)?;
        let note = Checkpoint::of_tree("unsigned", size, root).to_text();
        return Ok(Target {
            note,
            size,
            signed: false,
        });
    };
    let (cp, signed) = read_checkpoint(&text, keys, &name)?;
    let root = cp.tree_root().ok_or_else(|| {
        failure(format!(
            "{name}: a checkpoint of the chain head, not of the tree"
        ))
    })?;
    if cp.size > head {
        return Err(failure(format!(
            "{name} covers {} records, the log has {head}: records were cut off, or it is another log's",
            cp.size
        )));
    }
    let found = tree::proof::root(view, cp.size).map_err(failure)?;
    if found != root {
        return Err(failure(format!(
            "{name}: the log's first {} records give the root {}, but the checkpoint says {}: the log \
             was rewritten, or it is another log's checkpoint",
            cp.size,
            tree_hash::to_base64(&found),
            tree_hash::to_base64(&root)
        )));
    }
    Ok(Target {
        note: text,
        size: cp.size,
        signed,
    })
}

/// Writes the proofs asked for.
///
/// # Errors
///
/// The log does not verify, a seq is not in the tree, the checkpoint does not match the log, or a file
/// cannot be written.
pub(super) fn prove(args: &ProveArgs) -> Result<Exit> {
    let keys: Vec<VerifierKey> = args
        .public_key
        .iter()
        .map(|p| key(p, KeyKind::Log))
        .collect::<Result<_>>()?;
    if args.seq.len() + args.from_size.len() > 1 && args.out.is_none() {
        return Err(Error::Usage(
            "more than one proof asked for: give --out DIR for the proof files".into(),
        ));
    }
    super::source::require_log(&args.data_dir)?;
    let head = crate::ledger::verify(&args.data_dir)?;
    let reader = crate::ledger::tree(&args.data_dir, &head).map_err(failure)?;
    let mut view = reader.view();
    let t = target(args, &keys, &mut view, head.seq)?;
    if !t.signed {
        tracing::warn!(size = t.size, "no signed checkpoint of this size: the proof ends with the bare size and root; check them against a checkpoint you trust");
    }
    let mut proofs = Vec::new();
    for &old in &args.from_size {
        if old > t.size {
            return Err(failure(format!(
                "--from-size {old} is larger than the checkpoint's {} records",
                t.size
            )));
        }
        let proof = tree::proof::consistency(&mut view, old, t.size).map_err(failure)?;
        proofs.push((
            format!("{old}.add-checkpoint"),
            witness::request_body(old, &proof, &t.note),
        ));
    }
    for &seq in &args.seq {
        if seq == 0 || seq > t.size {
            return Err(failure(format!(
                "--seq {seq}: not in the tree of {} records (seqs start at 1)",
                t.size
            )));
        }
        let proof = tree::proof::inclusion(&mut view, seq - 1, t.size).map_err(failure)?;
        proofs.push((
            format!("{seq}.tlog-proof"),
            tlog_proof::format(seq - 1, &proof, &t.note),
        ));
    }
    match &args.out {
        None => output::print(proofs[0].1.as_bytes())?,
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            for (name, text) in &proofs {
                let path = dir.join(name);
                std::fs::write(&path, text).map_err(|e| Error::io(&path, e))?;
            }
            output::print_line(&format!(
                "ok: {} proofs in {} against the tree of {} records",
                proofs.len(),
                dir.display(),
                t.size
            ))?;
        }
    }
    Ok(Exit::Success)
}

/// Checks one record against a tlog-proof.
///
/// # Errors
///
/// The proof or record cannot be read, a signature does not verify, or the proof does not lead to
/// the checkpoint's root.
pub(super) fn check(args: &CheckProofArgs) -> Result<Exit> {
    let text = std::fs::read_to_string(&args.proof).map_err(|e| Error::io(&args.proof, e))?;
    let name = args.proof.display().to_string();
    let proof = tlog_proof::parse(&text).map_err(|e| failure(format!("{name}: {e}")))?;
    let record = std::fs::read(&args.record).map_err(|e| Error::io(&args.record, e))?;
    let line = record.strip_suffix(b"\n").unwrap_or(&record);
    let keys: Vec<VerifierKey> = args
        .public_key
        .iter()
        .map(|p| key(p, KeyKind::Log))
        .collect::<Result<_>>()?;
    let witnesses: Vec<VerifierKey> = args
        .witness_key
        .iter()
        .map(|p| key(p, KeyKind::Witness))
        .collect::<Result<_>>()?;
    let (cp, signed) = read_checkpoint(&proof.checkpoint, &keys, &name)?;
    let root = cp.tree_root().ok_or_else(|| {
        failure(format!(
            "{name}: a checkpoint of the chain head, not of the tree"
        ))
    })?;
    let mut cosigned = 0;
    if !witnesses.is_empty() {
        let (_, by) = note::verify(&proof.checkpoint, &witnesses)
            .map_err(|e| failure(format!("{name}: {e}")))?;
        cosigned = by
            .iter()
            .map(|s| s.key)
            .collect::<std::collections::BTreeSet<_>>()
            .len();
        if cosigned < usize::from(args.witness_threshold) {
            return Err(failure(format!(
                "{name}: the checkpoint is cosigned by {cosigned} of the {} witnesses given; {} needed",
                witnesses.len(),
                args.witness_threshold
            )));
        }
    }
    tree::proof::verify_inclusion(
        proof.index,
        cp.size,
        &tree_hash::leaf(line),
        &proof.proof,
        &root,
    )
    .map_err(|e| failure(format!("{}: {e}", args.record.display())))?;
    let seq_in_record = serde_json::from_slice::<serde_json::Value>(line)
        .ok()
        .and_then(|v| v.get("seq")?.as_u64());
    if seq_in_record.is_some_and(|s| s != proof.index + 1) {
        return Err(failure(format!(
            "{}: the record says seq {}, the proof is for index {} (seq {})",
            args.record.display(),
            seq_in_record.unwrap_or(0),
            proof.index,
            proof.index + 1
        )));
    }
    let by = if signed {
        let mut s = format!("; the checkpoint is signed by {}", cp.origin);
        if !witnesses.is_empty() {
            let _ = write!(s, " and cosigned by {cosigned} witnesses");
        }
        s
    } else {
        "; the checkpoint's signature was not checked (give --public-key)".to_owned()
    };
    output::print_line(&format!(
        "ok: the record is leaf {} (seq {}) of the tree of {} records with root {}{by}",
        proof.index,
        proof.index + 1,
        cp.size,
        tree_hash::to_base64(&root)
    ))?;
    Ok(Exit::Success)
}
