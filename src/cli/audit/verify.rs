//! `sluice audit verify [--data-dir DIR | --server URL] [--archive URL] [--public-key K]...
//! [--witness-key W]... [--witness-threshold N] [--checkpoint NOTE]...`: exit 0 with the record count
//! and head, or exit 1 naming the first thing that does not hold. With `--public-key`, every checkpoint
//! must be signed by one of the keys and match the log's records (its Merkle tree, or its chain for
//! checkpoints from before the tree), and the tiles must match too; with `--witness-key`, a checkpoint
//! must be cosigned by the threshold of witnesses. Every snapshot a record names must be
//! there with its digest. With `--archive`, the archive is verified (object versions included), and so
//! is the data directory when it holds a log, which must extend the archived one.

use super::source::SourceArgs;
use super::{structured, Structured, Summary};
use crate::archive::verify::Read;
use crate::cli::error::{Error, Exit, Result};
use crate::cli::output;
use crate::evidence::checkpoint;
use crate::evidence::note::{KeyKind, VerifierKey};
use crate::evidence::proof::{self, Check, Keys, Report};
use crate::ledger::tree::hash as tree_hash;
use clap::Args;
use serde_json::json;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

// clap prints these doc lines as help text, where backticks and <> would show as they are.
#[allow(clippy::doc_markdown)]
#[derive(Debug, Args)]
pub(in crate::cli) struct VerifyArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// Also verify the archive (s3://bucket/prefix, gs://…, az://…, or a directory): its object
    /// versions, segments, tiles and checkpoints; and that the data directory, when it holds a log,
    /// extends it. Needs --public-key.
    #[arg(long, requires = "public_key", conflicts_with = "server")]
    archive: Option<String>,
    /// A public key file from `sluice audit keygen` (repeat for rotated keys): every checkpoint must
    /// be signed by one of them and match the log (not with --server).
    #[arg(long, conflicts_with = "server")]
    public_key: Vec<PathBuf>,
    /// A witness's public key file (from `sluice witness keygen`; repeat for several witnesses): a
    /// checkpoint must be cosigned by --witness-threshold of them.
    #[arg(long, requires = "public_key")]
    witness_key: Vec<PathBuf>,
    /// How many of the --witness-key witnesses must have cosigned a checkpoint.
    #[arg(long, default_value_t = 1, requires = "witness_key", value_parser = clap::value_parser!(u16).range(1..))]
    witness_threshold: u16,
    /// A checkpoint note obtained elsewhere (from a witness: GET <witness>/<origin hash>/checkpoint, or
    /// an earlier export): it must be signed by --public-key and match the log too.
    #[arg(long, requires = "public_key")]
    checkpoint: Vec<PathBuf>,
    /// Output format: table is the one line; json and yaml give {records, head: {seq, hash}} (and
    /// tree, checkpoints, witnessed and archive with --public-key).
    #[arg(short = 'o', long = "output", alias = "format", value_enum, default_value_t = Summary::Table)]
    output: Summary,
}

/// The keys and the checkpoints given on the command line.
struct Given {
    keys: Keys,
    notes: Vec<(String, String)>,
}

impl Given {
    fn check(&self) -> Result<Check> {
        let mut check = Check::new(self.keys.clone());
        for (name, text) in &self.notes {
            check
                .checkpoint(name.clone(), text)
                .map_err(crate::cli::archive::failure)?;
        }
        Ok(check)
    }
}

/// Verifies the chain (and the checkpoints, tiles, witnesses, archive) and prints the head.
///
/// # Errors
///
/// The log cannot be read, a line breaks the chain, or a checkpoint does not hold.
pub(super) fn run(args: &VerifyArgs) -> Result<Exit> {
    if args.public_key.is_empty() {
        return chain_only(args);
    }
    let given = Given {
        keys: Keys {
            log: read_keys(&args.public_key, KeyKind::Log)?,
            witnesses: read_keys(&args.witness_key, KeyKind::Witness)?,
            threshold: usize::from(args.witness_threshold),
        },
        notes: args
            .checkpoint
            .iter()
            .map(|p| {
                checkpoint::read_note(p)
                    .map(|t| (p.display().to_string(), t))
                    .map_err(|e| Error::io(p, e))
            })
            .collect::<Result<_>>()?,
    };
    let data_dir = args.source.data_dir();
    if args.archive.is_none() {
        super::source::require_log(data_dir)?;
    }
    let archived = match &args.archive {
        Some(url) => {
            let archive = crate::cli::archive::open(url, None)?;
            let check = given.check()?;
            let (report, read, notes) = crate::cli::archive::runtime()?
                .block_on(crate::archive::verify::verify(&archive, check))
                .map_err(crate::cli::archive::failure)?;
            Some((url.clone(), report, read, notes))
        }
        None => None,
    };
    let local = if archived.is_none() || has_log(data_dir) {
        let mut check = given.check()?;
        if let Some((url, report, _, notes)) = &archived {
            // The local log must extend the archived one: the same tree where the archive's
            // segments end, and every archived checkpoint true of it.
            check.require_root(
                report.head.seq,
                report.root,
                format!("the archived segments ({url})"),
            );
            for (name, text) in notes {
                check
                    .checkpoint(name.clone(), text)
                    .map_err(crate::cli::archive::failure)?;
            }
        }
        Some(proof::verify_dir(data_dir, check).map_err(crate::cli::archive::failure)?)
    } else {
        None
    };
    let out = match args.output {
        Summary::Table => {
            let mut lines = String::new();
            if let Some(r) = &local {
                let _ = writeln!(lines, "{}", describe(r));
            }
            if let Some((url, r, read, _)) = &archived {
                let _ = writeln!(lines, "{}", describe_archive(url, r, read));
            }
            lines
        }
        Summary::Json | Summary::Yaml => {
            let main = local.as_ref().or(archived.as_ref().map(|a| &a.1));
            let mut value = main.map(to_json).unwrap_or_default();
            if let Some((url, r, read, _)) = &archived {
                let mut a = to_json(r);
                a["url"] = json!(url);
                a["objects"] = json!(read.objects);
                a["versionsChecked"] = json!(read.versions_checked);
                a["snapshotObjects"] = json!(read.snapshots);
                value["archive"] = a;
            }
            structured(&value, form(args.output))?
        }
    };
    output::print(out.as_bytes())?;
    Ok(Exit::Success)
}

/// The chain alone (no keys): the data directory or a running sink.
fn chain_only(args: &VerifyArgs) -> Result<Exit> {
    let head = args.source.head()?;
    let out = if args.output == Summary::Table {
        format!(
            "ok: {} records, head seq {} hash {}\n",
            head.seq, head.seq, head.hash
        )
    } else {
        structured(
            &json!({"ok": true, "records": head.seq,
                "head": {"seq": head.seq, "hash": head.hash}}),
            form(args.output),
        )?
    };
    output::print(out.as_bytes())?;
    Ok(Exit::Success)
}

/// The structured form of `output` (JSON for the table, which never asks).
fn form(output: Summary) -> Structured {
    if output == Summary::Yaml {
        Structured::Yaml
    } else {
        Structured::Json
    }
}

/// Whether `dir` holds a log (an active or a sealed segment).
fn has_log(dir: &Path) -> bool {
    dir.join(crate::ledger::LOG_FILE).exists()
        || dir.join(crate::ledger::segment::SEGMENTS_DIR).exists()
}

fn to_json(r: &Report) -> serde_json::Value {
    json!({"ok": true, "records": r.head.seq,
        "head": {"seq": r.head.seq, "hash": r.head.hash},
        "tree": {"size": r.head.seq, "root": tree_hash::to_base64(&r.root)},
        "checkpoints": {"verified": r.checked, "newest": r.latest, "fromTiles": r.from_tiles,
            "unsealed": r.beyond},
        "witnessed": r.witnessed.map(|(size, by)| json!({"size": size, "cosigners": by})),
        "tiles": r.tiles, "snapshots": r.snapshots.len()})
}

fn describe(r: &Report) -> String {
    let mut line = format!(
        "ok: {} records, head seq {} hash {}; tree root {}; {} checkpoints verified",
        r.head.seq,
        r.head.seq,
        r.head.hash,
        tree_hash::to_base64(&r.root),
        r.checked
    );
    if let Some(latest) = r.latest {
        let _ = write!(line, ", the newest at seq {latest}");
    }
    if let Some((size, by)) = r.witnessed {
        let _ = write!(line, "; witnessed up to seq {size} by {by} witnesses");
    }
    if !r.snapshots.is_empty() {
        let _ = write!(
            line,
            "; {} snapshots the records name, each with its digest",
            r.snapshots.len()
        );
    }
    line
}

fn describe_archive(url: &str, r: &Report, read: &Read) -> String {
    let mut line = format!("archive {url}: {}", describe(r));
    if !r.from_tiles.is_empty() {
        let _ = write!(
            line,
            "; {} newer checkpoints past the archived segments checked against the archived tiles",
            r.from_tiles.len()
        );
    }
    if !r.beyond.is_empty() {
        let _ = write!(
            line,
            "; {} newer checkpoints of the chain head cover records not yet sealed into an archived \
             segment",
            r.beyond.len()
        );
    }
    if read.versions_checked {
        let _ = write!(
            line,
            "; {} objects, each with one version and no delete marker",
            read.objects
        );
    } else {
        line.push_str("; this store keeps no object versions sluice can list (not checked)");
    }
    line
}

/// The public keys in `paths`, each of `kind`.
fn read_keys(paths: &[PathBuf], kind: KeyKind) -> Result<Vec<VerifierKey>> {
    paths
        .iter()
        .map(|p| {
            let key = read_public_key(p)?;
            key.kind()
                .expect(kind)
                .map_err(|e| crate::cli::archive::failure(format!("{}: {e}", p.display())))?;
            Ok(key)
        })
        .collect()
}

/// The public key in `path`.
pub(in crate::cli) fn read_public_key(path: &Path) -> Result<VerifierKey> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::Usage(format!(
            "{}: cannot read the public key ({e}); give the PREFIX.pub file that `sluice audit keygen` wrote (a witness's: `sluice witness keygen`)",
            path.display()
        ))
    })?;
    VerifierKey::parse(&text).map_err(|e| {
        Error::Usage(format!(
            "{}: {e}; give the public key file that `sluice audit keygen` (a witness's: `sluice witness keygen`) wrote (*.pub)",
            path.display()
        ))
    })
}
