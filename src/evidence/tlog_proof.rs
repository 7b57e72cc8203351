//! C2SP tlog-proof: an offline-verifiable proof that a record is in a log, as text. Pure.
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! index <zero-based index: the record's seq − 1>
//! <base64 hash>                 the inclusion proof, from the leaf's sibling up (RFC 6962 PATH)
//! …
//!                               an empty line
//! <checkpoint>                  the signed (and cosigned) checkpoint, verbatim
//! ```
//!
//! sluice writes no `extra` line: the record itself is the data, and its leaf hash is `SHA-256(0x00 ‖
//! line)` of the record's line without its newline.

use crate::ledger::tree::hash::{self as tree_hash, Hash};

/// The first line.
pub const HEADER: &str = "c2sp.org/tlog-proof@v1";

/// A proof read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    pub index: u64,
    pub proof: Vec<Hash>,
    /// The checkpoint as it was included (a signed note, or a bare checkpoint text).
    pub checkpoint: String,
}

/// The proof of the record at `index` against `checkpoint`.
pub fn format(index: u64, proof: &[Hash], checkpoint: &str) -> String {
    let mut out = format!("{HEADER}\nindex {index}\n");
    for h in proof {
        out.push_str(&tree_hash::to_base64(h));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(checkpoint);
    out
}

/// Reads a proof.
///
/// # Errors
///
/// It is not one (says which line).
pub fn parse(text: &str) -> Result<TlogProof, String> {
    let (head, checkpoint) = text
        .split_once("\n\n")
        .ok_or("no empty line before the checkpoint")?;
    let mut lines = head.split('\n');
    if lines.next() != Some(HEADER) {
        return Err(format!("the first line is not {HEADER}"));
    }
    let mut line = lines.next().ok_or("no index line")?;
    if line.starts_with("extra ") {
        line = lines.next().ok_or("no index line")?;
    }
    let index = line
        .strip_prefix("index ")
        .filter(|n| {
            !n.is_empty()
                && n.bytes().all(|b| b.is_ascii_digit())
                && (*n == "0" || !n.starts_with('0'))
        })
        .and_then(|n| n.parse().ok())
        .ok_or("the index line is not `index <number>`")?;
    let proof = lines
        .enumerate()
        .map(|(i, l)| {
            tree_hash::from_base64(l).ok_or(format!("proof line {} is not a base64 hash", i + 1))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(TlogProof {
        index,
        proof,
        checkpoint: checkpoint.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proofs_round_trip_and_bad_ones_are_named() {
        let text = format(73_894, &[[1; 32], [2; 32]], "o\n5\nAAAA\n\n— o sig\n");
        assert!(text.starts_with("c2sp.org/tlog-proof@v1\nindex 73894\nAQEB"));
        let p = parse(&text).unwrap();
        assert_eq!((p.index, p.proof.len()), (73_894, 2));
        assert_eq!(p.checkpoint, "o\n5\nAAAA\n\n— o sig\n");
        assert_eq!(parse(&format(0, &[], "c\n")).unwrap().index, 0);
        for bad in [
            "",
            "x\nindex 1\n\nc",
            "c2sp.org/tlog-proof@v1\nindex 01\n\nc",
            "c2sp.org/tlog-proof@v1\nindex 1\nnot\n\nc",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        let with_extra = "c2sp.org/tlog-proof@v1\nextra AAAA\nindex 2\n\nc\n";
        assert_eq!(parse(with_extra).unwrap().index, 2);
    }
}
