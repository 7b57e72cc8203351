//! The log as C2SP tlog-tiles serves it, for readers with the read token: `GET /v1/log/checkpoint`, the
//! newest checkpoint (with the witnesses' cosignatures when it has them), and `GET
//! /v1/log/tile/<L>/<N>[.p/<W>]`, the tiles of the Merkle tree. Hash tiles only: the records stay in
//! the segments (`GET /v1/records`; an entry bundle's 16-bit lengths could not hold a large record).
//! With them a reader proves records and checks consistency itself (`sluice audit show --proofs
//! --server`).

use crate::evidence::checkpoint;
use crate::ledger::tree::{self, TileId};
use std::path::PathBuf;

/// The URL prefix of the tiled log.
pub const PREFIX: &str = "/v1/log";

/// What the log's routes read.
#[derive(Debug, Clone)]
pub struct Served {
    pub tree: tree::Reader,
    pub data_dir: PathBuf,
}

/// An answer: status, content type, cache control, body.
pub struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub cache: &'static str,
    pub body: Vec<u8>,
}

impl Served {
    /// Answers `path` (under [`PREFIX`]); blocking (reads files).
    pub fn answer(&self, path: &str) -> Answer {
        let not_found = |why: &str| Answer {
            status: 404,
            content_type: "application/json",
            cache: "no-store",
            body: serde_json::json!({"error": why}).to_string().into_bytes(),
        };
        let rest = path.strip_prefix(PREFIX).unwrap_or(path);
        if rest == "/checkpoint" {
            return match self.newest_checkpoint() {
                Some(note) => Answer {
                    status: 200,
                    content_type: "text/plain; charset=utf-8",
                    cache: "max-age=5",
                    body: note.into_bytes(),
                },
                None => not_found(
                    "no checkpoint signed yet (the sink signs with --checkpoint-key-file)",
                ),
            };
        }
        let Some(id) = rest.strip_prefix('/').and_then(TileId::parse) else {
            return not_found("not a tile path: tile/<L>/<N>[.p/<W>]");
        };
        match self.tree.view().tile(id) {
            Ok(Some(bytes)) => Answer {
                status: 200,
                content_type: "application/octet-stream",
                cache: "public, max-age=31536000, immutable",
                body: bytes,
            },
            Ok(None) => not_found("the tree has no such tile (yet)"),
            Err(e) => {
                tracing::error!(tile = %id.path(), error = %e, "cannot read a tile");
                Answer {
                    status: 500,
                    content_type: "application/json",
                    cache: "no-store",
                    body:
                        serde_json::json!({"error": "the tile cannot be read; see the sink's log"})
                            .to_string()
                            .into_bytes(),
                }
            }
        }
    }

    /// The newest checkpoint note: the cosigned one when there is one of that size.
    fn newest_checkpoint(&self) -> Option<String> {
        let newest = |dir| {
            checkpoint::list(&self.data_dir, dir)
                .ok()
                .and_then(|l| l.last().cloned())
        };
        let signed = newest(checkpoint::DIR);
        let witnessed = newest(checkpoint::WITNESSED_DIR);
        let path = match (signed, witnessed) {
            (Some(s), Some(w)) if w.0 >= s.0 => w.1,
            (Some(s), _) => s.1,
            (None, w) => w?.1,
        };
        checkpoint::read_note(&path).ok()
    }
}
