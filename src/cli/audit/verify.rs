//! `sluice audit verify [--data-dir DIR | --server URL] [--public-key K]...` or `--archive URL
//! --public-key K`: exit 0 with the record count and head hash, or exit 1 naming the first thing that
//! does not hold. With `--public-key`, every checkpoint must be signed by one of the keys and match the
//! log (checkpoints are read from the data directory or the archive, so not with `--server`).

use super::source::SourceArgs;
use super::{structured, Structured, Summary};
use crate::archive::Archive;
use crate::cli::error::{Error, Exit, Result};
use crate::cli::output;
use crate::evidence::checkpoint::{self, VerifierKey};
use crate::evidence::proof::{self, ChainCheck, ProofError, Report};
use crate::ledger::segment::{self, SEGMENTS_DIR};
use clap::Args;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

// clap prints these doc lines as help text, where backticks and <> would show as they are.
#[allow(clippy::doc_markdown)]
#[derive(Debug, Args)]
pub(in crate::cli) struct VerifyArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Verify from the archive alone (s3://bucket/prefix, gs://…, az://…, or a directory) instead of a
    /// data directory; needs --public-key.
    #[arg(long, requires = "public_key", conflicts_with = "server")]
    archive: Option<String>,
    /// A public key file from `sluice audit keygen` (repeat for rotated keys): every checkpoint must
    /// be signed by one of them and match the log (not with --server: the sink does not serve them).
    #[arg(long, conflicts_with = "server")]
    public_key: Vec<PathBuf>,
    /// Output format: table is the one line; json and yaml give {records, head: {seq, hash}} (and
    /// checkpoints with --public-key).
    #[arg(short = 'o', long = "output", alias = "format", value_enum, default_value_t = Summary::Table)]
    output: Summary,
}

/// Verifies the chain (and the checkpoints) and prints the head.
///
/// # Errors
///
/// The log cannot be read, a line breaks the chain, or a checkpoint does not hold.
pub(super) fn run(args: &VerifyArgs) -> Result<Exit> {
    let keys = args
        .public_key
        .iter()
        .map(|p| read_public_key(p))
        .collect::<Result<Vec<_>>>()?;
    let report = match &args.archive {
        Some(url) => {
            let archive = crate::cli::archive::open(url, None)?;
            Some((
                crate::cli::archive::runtime()?
                    .block_on(verify_archive(&archive, &keys))
                    .map_err(crate::cli::archive::failure)?,
                true,
            ))
        }
        None if !keys.is_empty() => {
            super::source::require_log(args.source.data_dir())?;
            Some((
                proof::verify_dir(args.source.data_dir(), &keys).map_err(proof_failure)?,
                false,
            ))
        }
        None => None,
    };
    let form = match args.output {
        Summary::Table => None,
        Summary::Json => Some(Structured::Json),
        Summary::Yaml => Some(Structured::Yaml),
    };
    let out = match (&report, form) {
        (Some((r, archive)), None) => {
            format!("{}\n", describe(r, *archive))
        }
        (Some((r, _)), Some(form)) => structured(
            &serde_json::json!({"ok": true, "records": r.head.seq,
                "head": {"seq": r.head.seq, "hash": r.head.hash},
                "checkpoints": {"verified": r.checked, "newest": r.latest, "unsealed": r.beyond}}),
            form,
        )?,
        (None, form) => {
            let head = args.source.head()?;
            match form {
                None => format!(
                    "ok: {} records, head seq {} hash {}\n",
                    head.seq, head.seq, head.hash
                ),
                Some(form) => structured(
                    &serde_json::json!({"ok": true, "records": head.seq,
                        "head": {"seq": head.seq, "hash": head.hash}}),
                    form,
                )?,
            }
        }
    };
    output::print(out.as_bytes())?;
    Ok(Exit::Success)
}

fn describe(r: &Report, archive: bool) -> String {
    let mut line = format!(
        "ok: {} records, head seq {} hash {}; {} checkpoints verified",
        r.head.seq, r.head.seq, r.head.hash, r.checked
    );
    if let Some(latest) = r.latest {
        let _ = write!(line, ", the newest at seq {latest}");
    }
    if archive && !r.beyond.is_empty() {
        let _ = write!(
            line,
            "; {} newer checkpoints cover records not yet sealed into an archived segment",
            r.beyond.len()
        );
    }
    line
}

fn proof_failure(e: ProofError) -> Error {
    crate::cli::archive::failure(e)
}

/// The public key in `path`.
pub(in crate::cli) fn read_public_key(path: &Path) -> Result<VerifierKey> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::Usage(format!(
            "--public-key {}: cannot read the key ({e}); give the PREFIX.pub file that `sluice audit keygen` wrote",
            path.display()
        ))
    })?;
    VerifierKey::parse(&text).map_err(|e| {
        Error::Usage(format!(
            "{}: {e}; give the public key file that `sluice audit keygen` wrote (*.pub)",
            path.display()
        ))
    })
}

/// Verifies the archive's segments against its checkpoints.
async fn verify_archive(archive: &Archive, keys: &[VerifierKey]) -> Result<Report, String> {
    let named = |name: &str| format!("{}/{name}", archive.url());
    let mut notes = Vec::new();
    for name in archive
        .list(checkpoint::DIR)
        .await
        .map_err(|e| e.to_string())?
    {
        let bytes = archive.get(&name).await.map_err(|e| e.to_string())?;
        if bytes.len() > checkpoint::MAX_NOTE {
            return Err(format!("{}: larger than a checkpoint", named(&name)));
        }
        notes.push((named(&name), String::from_utf8_lossy(&bytes).into_owned()));
    }
    if notes.is_empty() {
        return Err(ProofError::NoCheckpoint(named(checkpoint::DIR)).to_string());
    }
    let mut check = ChainCheck::new(notes, keys).map_err(|e| e.to_string())?;
    for name in archive
        .list(SEGMENTS_DIR)
        .await
        .map_err(|e| e.to_string())?
    {
        let file = name.rsplit('/').next().unwrap_or(&name);
        let Some(first) = segment::first_seq_of_name(file) else {
            continue;
        };
        let bytes = archive.get(&name).await.map_err(|e| e.to_string())?;
        check
            .segment(&named(&name), Some(first), &bytes[..])
            .map_err(|e| e.to_string())?;
    }
    check.finish(true).map_err(|e| e.to_string())
}
