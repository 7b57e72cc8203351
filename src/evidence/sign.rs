//! Signing only what extends what was signed (C2SP tlog-checkpoint: "a log MUST NOT sign any checkpoint
//! which is inconsistent with any checkpoint it previously signed"). Before the log signs its tree, it
//! proves the tree consistent with the newest checkpoint it signed before, found locally or in the
//! archive: a rewritten log (every hash recomputed, the sink restarted) then gets no signature, whatever
//! its chain says. Takes the tree and the checkpoints; gives the go-ahead or the refusal. Reads the
//! checkpoint files of a data directory; writes nothing.

use super::checkpoint::{self, Checkpoint, Root};
use super::note::VerifierKey;
use crate::ledger::canonical::to_hex;
use crate::ledger::tree::proof::{self, HashSource};
use crate::ledger::tree::Hash;
use std::path::Path;

/// A checkpoint the log signed before, and where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub name: String,
    pub checkpoint: Checkpoint,
}

/// Why the log refuses to sign its tree.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "refusing to sign: the log has {size} records but {name} signed {signed}: records were \
         removed from the log"
    )]
    Shorter {
        size: u64,
        signed: u64,
        name: String,
    },
    #[error(
        "refusing to sign: the tree of {size} records does not extend {name} (size {signed}): its \
         first {signed} records are not the ones signed, so the log was rewritten (run `sluice audit \
         verify --public-key` to find where)"
    )]
    Inconsistent {
        size: u64,
        signed: u64,
        name: String,
    },
    #[error(
        "refusing to sign: record {seq} has hash {found}, but {name} signed {signed} (a checkpoint of \
         the chain head): the log was rewritten"
    )]
    ChainHead {
        seq: u64,
        found: String,
        signed: String,
        name: String,
    },
    #[error("refusing to sign: cannot prove the tree extends {name}: {why}")]
    Unproven { name: String, why: String },
}

/// The newest of the checkpoints `key` signed in `data_dir` (`checkpoints/` and `witnessed/`); files
/// another key signed, or that do not read, are passed over.
pub fn latest_local(data_dir: &Path, key: &VerifierKey) -> Option<Signed> {
    let mut best: Option<Signed> = None;
    for dir in [checkpoint::DIR, checkpoint::WITNESSED_DIR] {
        let Ok(listed) = checkpoint::list(data_dir, dir) else {
            continue;
        };
        for (size, path) in listed.into_iter().rev() {
            if best.as_ref().is_some_and(|b| b.checkpoint.size >= size) {
                break;
            }
            let opened = checkpoint::read_note(&path)
                .ok()
                .and_then(|t| Checkpoint::open(&t, std::slice::from_ref(key)).ok());
            if let Some(cp) = opened {
                best = Some(Signed {
                    name: path.display().to_string(),
                    checkpoint: cp,
                });
                break;
            }
        }
    }
    best
}

/// The newer of two.
pub fn newest(a: Option<Signed>, b: Option<Signed>) -> Option<Signed> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.checkpoint.size > a.checkpoint.size {
            b
        } else {
            a
        }),
        (a, b) => a.or(b),
    }
}

/// Whether the tree of `size` records with `root` (read through `tree`) extends `latest`: a
/// consistency proof from it, made from the tree and checked against both roots; for a checkpoint of
/// the chain head, the record's hash (`hash_at`).
///
/// # Errors
///
/// The tree does not extend it, or the proof cannot be made.
pub fn extends(
    tree: &mut impl HashSource,
    size: u64,
    root: &Hash,
    latest: Option<&Signed>,
    hash_at: impl FnOnce(u64) -> Option<String>,
) -> Result<(), Refusal> {
    let Some(latest) = latest else {
        return Ok(());
    };
    let signed = latest.checkpoint.size;
    let name = latest.name.clone();
    if signed > size {
        return Err(Refusal::Shorter { size, signed, name });
    }
    match latest.checkpoint.root {
        Root::Tree(old) => {
            let p = proof::consistency(tree, signed, size).map_err(|e| Refusal::Unproven {
                name: name.clone(),
                why: e.to_string(),
            })?;
            proof::verify_consistency(signed, size, &old, root, &p)
                .map_err(|_| Refusal::Inconsistent { size, signed, name })
        }
        Root::ChainHead(head) => {
            let found = hash_at(signed).ok_or_else(|| Refusal::Unproven {
                name: name.clone(),
                why: format!("record {signed} cannot be read"),
            })?;
            if found == to_hex(&head) {
                Ok(())
            } else {
                Err(Refusal::ChainHead {
                    seq: signed,
                    found,
                    signed: to_hex(&head),
                    name,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::note::{KeyKind, SigningKey};
    use crate::ledger::tree::hash::{leaf, root_of};
    use crate::ledger::tree::proof::Leaves;

    fn signed(size: usize, root: Root) -> Signed {
        Signed {
            name: "checkpoints/x".into(),
            checkpoint: Checkpoint {
                origin: "o".into(),
                size: size as u64,
                root,
            },
        }
    }

    #[test]
    fn signs_a_tree_that_extends_the_last_checkpoint_and_refuses_others() {
        let l: Vec<Hash> = (0..20u32).map(|i| leaf(&i.to_be_bytes())).collect();
        let root = root_of(&l);
        let ok = signed(7, Root::Tree(root_of(&l[..7])));
        extends(&mut Leaves(&l), 20, &root, Some(&ok), |_| None).unwrap();
        extends(&mut Leaves(&l), 20, &root, None, |_| None).unwrap();
        let mut forked = l.clone();
        forked[3] = leaf(b"forged");
        let bad = signed(7, Root::Tree(root_of(&forked[..7])));
        assert!(matches!(
            extends(&mut Leaves(&l), 20, &root, Some(&bad), |_| None),
            Err(Refusal::Inconsistent { signed: 7, .. })
        ));
        let longer = signed(25, Root::Tree([0; 32]));
        assert!(matches!(
            extends(&mut Leaves(&l), 20, &root, Some(&longer), |_| None),
            Err(Refusal::Shorter { .. })
        ));
        let head = signed(5, Root::ChainHead([0xab; 32]));
        extends(&mut Leaves(&l), 20, &root, Some(&head), |_| {
            Some("ab".repeat(32))
        })
        .unwrap();
        assert!(matches!(
            extends(&mut Leaves(&l), 20, &root, Some(&head), |_| Some(
                "cd".repeat(32)
            )),
            Err(Refusal::ChainHead { seq: 5, .. })
        ));
    }

    #[test]
    fn the_newest_local_checkpoint_of_the_key_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::generate("o", KeyKind::Log).unwrap();
        let other = SigningKey::generate("o", KeyKind::Log).unwrap();
        let cp = |n: u64| Checkpoint::of_tree("o", n, [n as u8; 32]);
        checkpoint::store(dir.path(), checkpoint::DIR, 3, &cp(3).sign(&key)).unwrap();
        checkpoint::store(dir.path(), checkpoint::DIR, 9, &cp(9).sign(&other)).unwrap();
        checkpoint::store(dir.path(), checkpoint::WITNESSED_DIR, 5, &cp(5).sign(&key)).unwrap();
        let found = latest_local(dir.path(), &key.verifier()).unwrap();
        assert_eq!(found.checkpoint.size, 5);
        assert!(latest_local(tempfile::tempdir().unwrap().path(), &key.verifier()).is_none());
    }
}
