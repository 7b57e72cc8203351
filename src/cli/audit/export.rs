//! `sluice audit export [--data-dir DIR] --public-key K [--witness-key W... [--witness-threshold N]]
//! --from T --to T --out DIR [--sample N --seed S]`: the auditor's bundle (docs/audit-log.md, "Export
//! for auditors"). Verifies the log against its checkpoints first, picks the smallest checkpoint of
//! the tree that covers the period (cosigned by the threshold of the witnesses given, if any), takes the
//! records of the period with the one before and the one after it, proves each in that checkpoint's
//! tree, adds the snapshots those records name, and writes the bundle into a new directory (built beside it and renamed into place, so nothing
//! partial is ever left under `--out`).

use crate::cli::archive::failure;
use crate::cli::error::{Error, Exit, Result};
use crate::cli::output;
use crate::evidence::checkpoint::{self, Checkpoint};
use crate::evidence::export::{self, Anchor, Period};
use crate::evidence::note::{self, KeyKind, VerifierKey};
use crate::evidence::proof::{self, Check, Keys};
use crate::evidence::snapshot;
use crate::ledger::tree::{self, Hash};
use clap::Args;
use serde_json::{Map, Value};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

// clap prints these doc lines as help text, where backticks and <> would show as they are.
#[allow(clippy::doc_markdown)]
#[derive(Debug, Args)]
pub(in crate::cli) struct ExportArgs {
    /// The sink's data directory, holding audit.jsonl, segments/, tile/ and checkpoints/.
    #[arg(long, env = "SLUICE_DATA_DIR", default_value = "/var/lib/sluice")]
    data_dir: PathBuf,
    /// The public key the checkpoints are signed with (from `sluice audit keygen`).
    #[arg(long)]
    public_key: PathBuf,
    /// A witness's public key (from `sluice witness keygen`; repeat for several): the bundle is
    /// anchored to a checkpoint cosigned by --witness-threshold of them.
    #[arg(long)]
    witness_key: Vec<PathBuf>,
    /// How many of the --witness-key witnesses must have cosigned the checkpoint.
    #[arg(long, default_value_t = 1, requires = "witness_key", value_parser = clap::value_parser!(u16).range(1..))]
    witness_threshold: u16,
    /// Start of the period (RFC 3339, inclusive), compared with each record's receivedAt.
    #[arg(long)]
    from: String,
    /// End of the period (RFC 3339, exclusive).
    #[arg(long)]
    to: String,
    /// The bundle's directory; it must not exist.
    #[arg(long)]
    out: PathBuf,
    /// Also draw a random sample of this many changes (sample.txt).
    #[arg(long, requires = "seed", value_parser = clap::value_parser!(u32).range(1..))]
    sample: Option<u32>,
    /// The sample's seed: the same seed always draws the same sample.
    #[arg(long, requires = "sample")]
    seed: Option<String>,
}

fn instant(flag: &str, text: &str) -> Result<String> {
    let t = chrono::DateTime::parse_from_rfc3339(text).map_err(|e| {
        Error::Usage(format!(
            "{flag} {text:?}: {e}; give an RFC 3339 time such as 2026-01-01T00:00:00Z"
        ))
    })?;
    Ok(t.with_timezone(&chrono::Utc)
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string())
}

fn read_key(path: &Path, kind: KeyKind) -> Result<VerifierKey> {
    let key = super::verify::read_public_key(path)?;
    key.kind()
        .expect(kind)
        .map_err(|e| failure(format!("{}: {e}", path.display())))?;
    Ok(key)
}

/// Writes the bundle and prints where.
///
/// # Errors
///
/// Bad arguments (usage), a log that does not verify against its checkpoints, no (witnessed)
/// checkpoint covering the period yet, `--out` existing, or a write failure.
pub(super) fn run(args: &ExportArgs) -> Result<Exit> {
    let from = instant("--from", &args.from)?;
    let to = instant("--to", &args.to)?;
    if from >= to {
        return Err(Error::Usage(format!(
            "--from {from} is not before --to {to}"
        )));
    }
    if args.out.exists() {
        return Err(failure(format!(
            "{}: exists already; export writes a new directory (choose another --out)",
            args.out.display()
        )));
    }
    super::source::require_log(&args.data_dir)?;
    let keys = Keys {
        log: vec![read_key(&args.public_key, KeyKind::Log)?],
        witnesses: args
            .witness_key
            .iter()
            .map(|p| read_key(p, KeyKind::Witness))
            .collect::<Result<_>>()?,
        threshold: usize::from(args.witness_threshold),
    };
    let report = proof::verify_dir(&args.data_dir, Check::new(keys.clone())).map_err(failure)?;
    let candidates = anchors(&args.data_dir, &keys)?;
    let (records, target) = pick(&args.data_dir, &from, &to, report.head.seq)?;
    let Some((size, root, note)) = candidates.into_iter().find(|(s, _, _)| *s >= target) else {
        let what = if keys.witnesses.is_empty() {
            "checkpoint"
        } else {
            "checkpoint cosigned by the witnesses given"
        };
        return Err(failure(format!(
            "no {what} covers seq {target} yet: the sink signs one within --checkpoint-interval and at \
             shutdown (and has it cosigned when witnesses are configured); export again after that"
        )));
    };
    let reader = crate::ledger::tree(&args.data_dir, &report.head).map_err(failure)?;
    let mut view = reader.view();
    let found = tree::proof::root(&mut view, size).map_err(failure)?;
    if found != root {
        return Err(failure(format!(
            "the tree of the first {size} records does not have the root the checkpoint signed: run \
             `sluice audit verify --public-key` on {}",
            args.data_dir.display()
        )));
    }
    let proofs = records
        .iter()
        .map(|r| {
            let seq = crate::ledger::line::seq_of(r);
            tree::proof::inclusion(&mut view, seq - 1, size).map_err(failure)
        })
        .collect::<Result<Vec<Vec<Hash>>>>()?;
    let period = Period {
        from,
        to,
        sample: args
            .sample
            .map(|n| (n as usize, args.seed.clone().unwrap_or_default())),
    };
    let anchor = Anchor {
        checkpoint: note,
        public_key: keys.log[0].to_text(),
        witness_keys: keys.witnesses.iter().map(VerifierKey::to_text).collect(),
    };
    let snapshots = named_snapshots(&args.data_dir, &records)?;
    let files = export::bundle(&records, &proofs, &snapshots, &period, &anchor).map_err(failure)?;
    write_bundle(&args.out, &files)?;
    let mut how = format!("bash verify.sh \"{}\"", anchor.public_key);
    for w in &anchor.witness_keys {
        let _ = write!(how, " --witness \"{w}\"");
    }
    output::print_line(&format!(
        "ok: {} files in {}, anchored to the checkpoint of {size} records; verify with: {how} (the \
         recipe in VERIFY.md)",
        files.len(),
        args.out.display(),
    ))?;
    Ok(Exit::Success)
}

/// The checkpoints of the tree a bundle can be anchored to, smallest first: (size, root, note). With
/// witness keys, only those cosigned by the threshold of them (their `witnessed/` note); without, the
/// cosigned note when there is one, else the log's.
fn anchors(data_dir: &Path, keys: &Keys) -> Result<Vec<(u64, Hash, String)>> {
    let mut out: std::collections::BTreeMap<u64, (Hash, String, usize)> =
        std::collections::BTreeMap::new();
    for dir in [checkpoint::DIR, checkpoint::WITNESSED_DIR] {
        let listed =
            checkpoint::list(data_dir, dir).map_err(|e| Error::io(data_dir.join(dir), e))?;
        for (size, path) in listed {
            let text = checkpoint::read_note(&path).map_err(|e| Error::io(&path, e))?;
            let cp = Checkpoint::open(&text, &keys.log)
                .map_err(|e| failure(format!("{}: {e}", path.display())))?;
            let Some(root) = cp.tree_root() else {
                continue;
            };
            let (_, cosigned) = note::verify(&text, &keys.witnesses)
                .map_err(|e| failure(format!("{}: {e}", path.display())))?;
            let witnesses = cosigned
                .iter()
                .map(|s| s.key)
                .collect::<std::collections::BTreeSet<_>>()
                .len();
            let better = out.get(&size).is_none_or(|(_, _, w)| witnesses > *w);
            if better {
                out.insert(size, (root, text, witnesses));
            }
        }
    }
    let need = if keys.witnesses.is_empty() {
        0
    } else {
        keys.threshold.max(1)
    };
    Ok(out
        .into_iter()
        .filter(|(_, (_, _, w))| *w >= need)
        .map(|(size, (root, text, _))| (size, root, text))
        .collect())
}

/// The records from the one before the period (or the first) to the first one received at or after
/// its end (or the last), and that last one's seq: what the checkpoint must cover.
fn pick(
    data_dir: &Path,
    from: &str,
    to: &str,
    last_seq: u64,
) -> Result<(Vec<Map<String, Value>>, u64)> {
    let mut before: Option<Map<String, Value>> = None;
    let mut out = Vec::new();
    let mut started = false;
    let mut end: Option<u64> = None;
    let at = |r: &Map<String, Value>| {
        r.get("receivedAt")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    proof::for_each_record(data_dir, |r, _| {
        if end.is_some() {
            return;
        }
        let seq = crate::ledger::line::seq_of(&r);
        let received = at(&r);
        if !started && received.as_str() >= from {
            started = true;
            out.extend(before.take());
        }
        if received.as_str() >= to {
            end = Some(seq);
        }
        if started {
            out.push(r);
        } else {
            before = Some(r);
        }
    })
    .map_err(failure)?;
    if !started {
        // Nothing at or after the period's start: the last record shows where the log ended.
        out.extend(before);
    }
    Ok((out, end.unwrap_or(last_seq)))
}

/// The snapshots `records` name, (digest, bytes), each read back with its digest checked
/// (`verify_dir` checked them already; this read is the bytes exported).
fn named_snapshots(
    data_dir: &Path,
    records: &[Map<String, Value>],
) -> Result<std::collections::BTreeMap<String, Vec<u8>>> {
    let mut out = std::collections::BTreeMap::new();
    for r in records {
        for digest in snapshot::named_by(r) {
            if !out.contains_key(digest) {
                let bytes = snapshot::read(data_dir, digest).map_err(|e| {
                    failure(format!(
                        "record {} names a snapshot that cannot be exported: {e}",
                        crate::ledger::line::seq_of(r)
                    ))
                })?;
                out.insert(digest.to_owned(), bytes);
            }
        }
    }
    Ok(out)
}

/// Writes the files into a new directory beside `out`, then renames it to `out`.
fn write_bundle(out: &Path, files: &[(String, Vec<u8>)]) -> Result<()> {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = out.with_file_name(format!(".{name}.partial-{}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        for (path, bytes) in files {
            let p = tmp.join(path);
            if let Some(parent) = p.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&p, bytes)?;
        }
        std::fs::rename(&tmp, out)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_dir_all(&tmp);
        Error::io(out, e)
    })
}
