//! `audit show --proofs`: each record of the change with its inclusion proof (C2SP tlog-proof) against
//! the newest checkpoint of the tree, from the data directory's tiles, or from the tiles and checkpoint
//! a running sink serves (`GET /v1/log/…`): the proofs are made here either way, and each is checked
//! against the checkpoint's root before it is printed.

use super::source::SourceArgs;
use crate::cli::archive::failure;
use crate::cli::error::{Error, Result};
use crate::evidence::checkpoint::{self, Checkpoint};
use crate::evidence::note::{self, VerifierKey};
use crate::evidence::tlog_proof;
use crate::ledger::tree::proof::{HashSource, ProofError};
use crate::ledger::tree::tile::{self, TileId, WIDTH};
use crate::ledger::tree::{self, hash as tree_hash, Hash};
use crate::record::Record;
use std::collections::HashMap;

/// The proofs of `records`: the checkpoint note they are against, and (seq, tlog-proof) for each
/// record it covers.
///
/// # Errors
///
/// No checkpoint of the tree yet, a signature that does not verify (with `keys`), or tiles that do not
/// give the checkpoint's root.
pub(super) fn of_records(
    source: &SourceArgs,
    records: &[Record],
    keys: &[VerifierKey],
) -> Result<(String, Vec<(u64, String)>)> {
    let (note_text, where_) = if source.is_remote() {
        let bytes = source.fetch("/v1/log/checkpoint")?.ok_or_else(|| {
            failure("the sink has no checkpoint yet (it signs with --checkpoint-key-file)")
        })?;
        (
            String::from_utf8_lossy(&bytes).into_owned(),
            "the sink's checkpoint".to_owned(),
        )
    } else {
        newest_local(source)?
    };
    let cp = if keys.is_empty() {
        let (text, _) = note::split(&note_text).map_err(|e| failure(format!("{where_}: {e}")))?;
        Checkpoint::parse(text)
    } else {
        Checkpoint::open(&note_text, keys)
    }
    .map_err(|e| failure(format!("{where_}: {e}")))?;
    let root = cp.tree_root().ok_or_else(|| {
        failure(format!(
            "{where_}: a checkpoint of the chain head, not of the tree"
        ))
    })?;
    let mut out = Vec::new();
    let mut prove = |src: &mut dyn FnMut(
        u64,
        u64,
    ) -> std::result::Result<Vec<Hash>, ProofError>|
     -> Result<()> {
        for r in records.iter().filter(|r| r.seq <= cp.size) {
            let line = record_line(r)?;
            let proof = src(r.seq - 1, cp.size).map_err(failure)?;
            tree::proof::verify_inclusion(
                r.seq - 1,
                cp.size,
                &tree_hash::leaf(&line),
                &proof,
                &root,
            )
            .map_err(|e| {
                failure(format!(
                    "seq {}: {e} (the tiles do not match the checkpoint)",
                    r.seq
                ))
            })?;
            out.push((r.seq, tlog_proof::format(r.seq - 1, &proof, &note_text)));
        }
        Ok(())
    };
    if source.is_remote() {
        let mut tiles = RemoteTiles {
            source,
            size: cp.size,
            cache: HashMap::new(),
        };
        prove(&mut |i, n| tree::proof::inclusion(&mut tiles, i, n))?;
    } else {
        let head = crate::ledger::verify(source.data_dir())?;
        let reader = crate::ledger::tree(source.data_dir(), &head).map_err(failure)?;
        let mut view = reader.view();
        prove(&mut |i, n| tree::proof::inclusion(&mut view, i, n))?;
    }
    Ok((note_text, out))
}

/// The record's line: its canonical bytes (a record read from the log serializes to exactly them).
fn record_line(r: &Record) -> Result<Vec<u8>> {
    let value = serde_json::to_value(r).map_err(|e| failure(format!("seq {}: {e}", r.seq)))?;
    crate::ledger::canonical::to_canonical(&value)
        .map_err(|e| failure(format!("seq {}: {e}", r.seq)))
}

/// The newest checkpoint of the tree in the data directory (the cosigned note when there is one).
fn newest_local(source: &SourceArgs) -> Result<(String, String)> {
    let dir = source.data_dir();
    let mut best: Option<(u64, std::path::PathBuf)> = None;
    for sub in [checkpoint::DIR, checkpoint::WITNESSED_DIR] {
        for (size, path) in checkpoint::list(dir, sub).map_err(|e| Error::io(dir.join(sub), e))? {
            let text = checkpoint::read_note(&path).map_err(|e| Error::io(&path, e))?;
            let tree_cp = note::split(&text)
                .ok()
                .and_then(|(t, _)| Checkpoint::parse(t).ok())
                .is_some_and(|c| c.tree_root().is_some());
            if tree_cp && best.as_ref().is_none_or(|(b, _)| size >= *b) {
                best = Some((size, path));
            }
        }
    }
    let (_, path) = best.ok_or_else(|| {
        failure(format!(
            "{}: no checkpoint of the Merkle tree yet (the sink signs one with --checkpoint-key-file)",
            dir.join(checkpoint::DIR).display()
        ))
    })?;
    let text = checkpoint::read_note(&path).map_err(|e| Error::io(&path, e))?;
    Ok((text, path.display().to_string()))
}

/// The tiles of the tree of `size` records, fetched from the sink as a proof needs them.
struct RemoteTiles<'a> {
    source: &'a SourceArgs,
    size: u64,
    cache: HashMap<(u8, u64), Vec<Hash>>,
}

impl HashSource for RemoteTiles<'_> {
    fn subtree(&mut self, level: u8, index: u64) -> std::result::Result<Hash, ProofError> {
        let (tile_level, height) = (level / 8, level % 8);
        let first = index << height;
        let (t, at) = (first / WIDTH as u64, (first % WIDTH as u64) as usize);
        if !self.cache.contains_key(&(tile_level, t)) {
            let entries =
                (self.size >> (8 * u32::from(tile_level))).saturating_sub(t * WIDTH as u64);
            let width = entries.min(WIDTH as u64) as u16;
            let id = TileId {
                level: tile_level,
                index: t,
                width,
            };
            let bytes = self
                .source
                .fetch(&format!("/v1/log/{}", id.path()))
                .map_err(|e| ProofError::Source(e.to_string()))?
                .ok_or_else(|| ProofError::Source(format!("the sink has no {}", id.path())))?;
            let hashes = tile::from_bytes(&bytes)
                .filter(|h| h.len() == usize::from(width))
                .ok_or_else(|| ProofError::Source(format!("{}: not {width} hashes", id.path())))?;
            self.cache.insert((tile_level, t), hashes);
        }
        self.cache[&(tile_level, t)]
            .get(at..at + (1usize << height))
            .map(tree::hash::root_of)
            .ok_or_else(|| {
                ProofError::Source(format!("subtree {level}/{index} is not in the tile"))
            })
    }
}
