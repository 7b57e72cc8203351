//! `sluice audit verify --data-dir DIR [--public-key K]...` or `--archive URL --public-key K`: exit 0
//! with the record count and head hash, or exit 1 naming the first thing that does not hold. With
//! `--public-key`, every checkpoint must be signed by one of the keys and match the log.

use crate::archive::Archive;
use crate::audit::checkpoint::{self, VerifierKey};
use crate::audit::proof::{self, ChainCheck, ProofError, Report};
use crate::audit::{self};
use crate::cli::error::{Error, Exit, Result};
use crate::cli::output;
use clap::Args;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

// clap prints these doc lines as help text, where backticks and <> would show as they are.
#[allow(clippy::doc_markdown)]
#[derive(Debug, Args)]
pub(in crate::cli) struct VerifyArgs {
    /// The sink's data directory (holding audit.jsonl, segments/ and checkpoints/).
    #[arg(long, required_unless_present = "archive", conflicts_with = "archive")]
    data_dir: Option<PathBuf>,
    /// Verify from the archive alone (s3://bucket/prefix, gs://…, az://…, or a directory); needs
    /// --public-key.
    #[arg(long, requires = "public_key")]
    archive: Option<String>,
    /// A public key file from `sluice audit keygen` (repeat for rotated keys): every checkpoint must
    /// be signed by one of them and match the log.
    #[arg(long)]
    public_key: Vec<PathBuf>,
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
    let line = match (&args.archive, &args.data_dir) {
        (Some(url), _) => {
            let archive = crate::cli::archive::open(url, None)?;
            let report = crate::cli::archive::runtime()?
                .block_on(verify_archive(&archive, &keys))
                .map_err(crate::cli::archive::failure)?;
            describe(&report, true)
        }
        (None, Some(dir)) if !keys.is_empty() => describe(
            &proof::verify_dir(dir, &keys).map_err(proof_failure)?,
            false,
        ),
        (None, Some(dir)) => {
            let head = audit::verify(dir)?;
            format!(
                "ok: {} records, head seq {} hash {}",
                head.seq, head.seq, head.hash
            )
        }
        (None, None) => return Err(Error::Usage("give --data-dir or --archive".into())),
    };
    output::print_line(&line)?;
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
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    VerifierKey::parse(&text)
        .map_err(|e| crate::cli::archive::failure(format!("{}: {e}", path.display())))
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
        .list(proof::SEGMENT_DIR)
        .await
        .map_err(|e| e.to_string())?
    {
        let file = name.rsplit('/').next().unwrap_or(&name);
        let Some(first) = proof::first_seq_of_name(file) else {
            continue;
        };
        let bytes = archive.get(&name).await.map_err(|e| e.to_string())?;
        check
            .segment(&named(&name), Some(first), &bytes[..])
            .map_err(|e| e.to_string())?;
    }
    check.finish(true).map_err(|e| e.to_string())
}
