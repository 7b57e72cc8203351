//! `sluice audit export [--data-dir DIR] --public-key K --from T --to T --out DIR [--sample N --seed S]`:
//! the auditor's bundle (docs/audit-log.md, "Export for auditors"). Verifies the log against its
//! checkpoints first, picks the records from the one before the period to the first checkpoint that
//! covers it, and writes the bundle into a new directory (built beside it and renamed into place, so
//! nothing partial is ever left under `--out`).

use crate::cli::archive::failure;
use crate::cli::error::{Error, Exit, Result};
use crate::cli::output;
use crate::evidence::checkpoint;
use crate::evidence::export::{self, Period};
use crate::evidence::proof;
use clap::Args;
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

// clap prints these doc lines as help text, where backticks and <> would show as they are.
#[allow(clippy::doc_markdown)]
#[derive(Debug, Args)]
pub(in crate::cli) struct ExportArgs {
    /// The sink's data directory, holding audit.jsonl, segments/ and checkpoints/.
    #[arg(long, env = "SLUICE_DATA_DIR", default_value = "/var/lib/sluice")]
    data_dir: PathBuf,
    /// The public key the checkpoints are signed with (from `sluice audit keygen`).
    #[arg(long)]
    public_key: PathBuf,
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

/// Writes the bundle and prints where.
///
/// # Errors
///
/// Bad arguments (usage), a log that does not verify against its checkpoints, no checkpoint covering
/// the period yet, `--out` existing, or a write failure.
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
    let key = super::verify::read_public_key(&args.public_key)?;
    let report = proof::verify_dir(&args.data_dir, std::slice::from_ref(&key)).map_err(failure)?;
    let sizes: Vec<u64> = checkpoint::list(&args.data_dir)
        .map_err(|e| Error::io(args.data_dir.join(checkpoint::DIR), e))?
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    let records = pick(&args.data_dir, &from, &to, &sizes, report.head.seq)?;
    let last = records
        .last()
        .and_then(|r| r.get("seq"))
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let note_path = args
        .data_dir
        .join(checkpoint::DIR)
        .join(checkpoint::file_name(last));
    let note = std::fs::read_to_string(&note_path).map_err(|e| Error::io(&note_path, e))?;
    let period = Period {
        from,
        to,
        sample: args
            .sample
            .map(|n| (n as usize, args.seed.clone().unwrap_or_default())),
    };
    let files = export::bundle(&records, &period, &note, &key.to_text()).map_err(failure)?;
    write_bundle(&args.out, &files)?;
    output::print_line(&format!(
        "ok: {} files in {}; verify with: bash verify.sh \"{}\" (the recipe in VERIFY.md)",
        files.len(),
        args.out.display(),
        key.to_text()
    ))?;
    Ok(Exit::Success)
}

/// The records from the one before the period through the first checkpoint at or after the end of
/// the period (the first record received at or after `to`, or the last record).
fn pick(
    data_dir: &Path,
    from: &str,
    to: &str,
    sizes: &[u64],
    last_seq: u64,
) -> Result<Vec<Map<String, Value>>> {
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
    let seq_of = |r: &Map<String, Value>| r.get("seq").and_then(Value::as_u64).unwrap_or(0);
    let mut need = None;
    proof::for_each_record(data_dir, |r| {
        let seq = seq_of(&r);
        if end.is_none() && at(&r).as_str() >= to {
            end = Some(seq);
            need = sizes.iter().copied().find(|s| *s >= seq);
        }
        if !started && at(&r).as_str() >= from {
            started = true;
            out.extend(before.take());
        }
        if started {
            if need.is_some_and(|n| seq > n) {
                return;
            }
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
    let target = end.unwrap_or(last_seq);
    let Some(size) = sizes.iter().copied().find(|s| *s >= target) else {
        return Err(failure(format!(
            "no checkpoint covers seq {target} yet (the newest is at seq {}): the sink signs one within \
             --checkpoint-interval and at shutdown; export again after that",
            sizes.last().copied().unwrap_or(0)
        )));
    };
    out.retain(|r| seq_of(r) <= size);
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
