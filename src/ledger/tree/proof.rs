//! Merkle proofs as RFC 6962 section 2.1 defines them (PATH and SUBPROOF), and their verification as
//! RFC 9162 sections 2.1.3.2 and 2.1.4.2 give it: inclusion proofs (a record is in a tree of a given
//! size) and consistency proofs (a tree is a prefix of a larger one). Proofs are made from any
//! [`HashSource`]: the tiles on disk, tiles fetched from a sink, or hashes in memory. Pure.

use super::hash::{node, split, Hash, EMPTY};

/// Why a proof cannot be made or does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("record index {index} is not in a tree of size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("tree size {old} is larger than tree size {new}")]
    SizeOrder { old: u64, new: u64 },
    #[error("the inclusion proof does not verify: the record is not at index {index} of the tree of size {size} with that root")]
    Inclusion { index: u64, size: u64 },
    #[error("the consistency proof does not verify: the tree of size {old} with that root is not a prefix of the tree of size {new} with that root")]
    Consistency { old: u64, new: u64 },
    #[error("{0}")]
    Source(String),
}

/// Where the hashes of complete subtrees come from: `subtree(level, index)` is the Merkle tree hash of
/// the leaves `index·2^level … (index+1)·2^level − 1`, which must all be in the tree.
pub trait HashSource {
    /// The hash of a complete, aligned subtree.
    ///
    /// # Errors
    ///
    /// The hashes cannot be read (a missing or damaged tile, a failed fetch).
    fn subtree(&mut self, level: u8, index: u64) -> Result<Hash, ProofError>;
}

/// `MTH(D[lo:hi])` (hi > lo), from the complete subtrees it splits into.
pub fn range_hash(src: &mut impl HashSource, lo: u64, hi: u64) -> Result<Hash, ProofError> {
    let n = hi - lo;
    if n.is_power_of_two() && lo.is_multiple_of(n) {
        return src.subtree(n.trailing_zeros() as u8, lo / n);
    }
    let k = split(n);
    let left = range_hash(src, lo, lo + k)?;
    let right = range_hash(src, lo + k, hi)?;
    Ok(node(&left, &right))
}

/// The root of the tree of the first `size` leaves.
///
/// # Errors
///
/// See [`HashSource::subtree`].
pub fn root(src: &mut impl HashSource, size: u64) -> Result<Hash, ProofError> {
    if size == 0 {
        return Ok(EMPTY);
    }
    range_hash(src, 0, size)
}

/// The inclusion proof (audit path) of leaf `index` in the tree of `size` leaves: RFC 6962
/// `PATH(index, D[0:size])`, from the leaf's sibling up to the root's child.
///
/// # Errors
///
/// `index` is not below `size`, or a hash cannot be read.
pub fn inclusion(
    src: &mut impl HashSource,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let mut out = Vec::new();
    path(src, index, 0, size, &mut out)?;
    Ok(out)
}

fn path(
    src: &mut impl HashSource,
    m: u64,
    lo: u64,
    hi: u64,
    out: &mut Vec<Hash>,
) -> Result<(), ProofError> {
    let n = hi - lo;
    if n == 1 {
        return Ok(());
    }
    let k = split(n);
    if m - lo < k {
        path(src, m, lo, lo + k, out)?;
        out.push(range_hash(src, lo + k, hi)?);
    } else {
        path(src, m, lo + k, hi, out)?;
        out.push(range_hash(src, lo, lo + k)?);
    }
    Ok(())
}

/// The consistency proof from the tree of `old` leaves to the tree of `new` leaves: RFC 6962
/// `PROOF(old, D[0:new])`; empty when `old` is 0 or equal to `new`.
///
/// # Errors
///
/// `old` is larger than `new`, or a hash cannot be read.
pub fn consistency(src: &mut impl HashSource, old: u64, new: u64) -> Result<Vec<Hash>, ProofError> {
    if old > new {
        return Err(ProofError::SizeOrder { old, new });
    }
    let mut out = Vec::new();
    if old > 0 && old < new {
        subproof(src, old, 0, new, true, &mut out)?;
    }
    Ok(out)
}

fn subproof(
    src: &mut impl HashSource,
    m: u64,
    lo: u64,
    hi: u64,
    whole: bool,
    out: &mut Vec<Hash>,
) -> Result<(), ProofError> {
    let n = hi - lo;
    if m == n {
        if !whole {
            out.push(range_hash(src, lo, hi)?);
        }
        return Ok(());
    }
    let k = split(n);
    if m <= k {
        subproof(src, m, lo, lo + k, whole, out)?;
        out.push(range_hash(src, lo + k, hi)?);
    } else {
        subproof(src, m - k, lo + k, hi, false, out)?;
        out.push(range_hash(src, lo, lo + k)?);
    }
    Ok(())
}

/// Checks that `leaf` is leaf `index` of the tree of `size` leaves whose root is `root`
/// (RFC 9162, section 2.1.3.2).
///
/// # Errors
///
/// The proof does not verify.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    let fail = ProofError::Inclusion { index, size };
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return Err(fail);
        }
        if f & 1 == 1 || f == s {
            r = node(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s == 0 && r == *root {
        Ok(())
    } else {
        Err(fail)
    }
}

/// Checks that the tree of `old` leaves with root `old_root` is a prefix of the tree of `new` leaves
/// with root `new_root` (RFC 9162, section 2.1.4.2). The empty tree is a prefix of every tree (with an
/// empty proof), as C2SP tlog-witness has it.
///
/// # Errors
///
/// The proof does not verify.
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> Result<(), ProofError> {
    let fail = ProofError::Consistency { old, new };
    if old > new {
        return Err(ProofError::SizeOrder { old, new });
    }
    if old == new {
        return if proof.is_empty() && old_root == new_root {
            Ok(())
        } else {
            Err(fail)
        };
    }
    if old == 0 {
        return if proof.is_empty() && *old_root == EMPTY {
            Ok(())
        } else {
            Err(fail)
        };
    }
    let mut path: Vec<Hash> = Vec::with_capacity(proof.len() + 1);
    if old.is_power_of_two() {
        path.push(*old_root);
    }
    path.extend_from_slice(proof);
    let Some((first, rest)) = path.split_first() else {
        return Err(fail);
    };
    let (mut f, mut s) = (old - 1, new - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in rest {
        if s == 0 {
            return Err(fail);
        }
        if f & 1 == 1 || f == s {
            fr = node(c, &fr);
            sr = node(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if fr == *old_root && sr == *new_root && s == 0 {
        Ok(())
    } else {
        Err(fail)
    }
}

/// A [`HashSource`] over leaf hashes in memory (tests).
#[cfg(test)]
pub struct Leaves<'a>(pub &'a [Hash]);

#[cfg(test)]
impl HashSource for Leaves<'_> {
    fn subtree(&mut self, level: u8, index: u64) -> Result<Hash, ProofError> {
        let width = 1usize << level;
        let start = index as usize * width;
        self.0
            .get(start..start + width)
            .map(super::hash::root_of)
            .ok_or_else(|| ProofError::Source(format!("no subtree {level}/{index}")))
    }
}

#[cfg(test)]
mod tests {
    use super::super::hash::{leaf, root_of};
    use super::*;

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf(format!("record {i}").as_bytes()))
            .collect()
    }

    #[test]
    fn roots_from_subtrees_agree_with_the_recursive_definition() {
        for n in 0..70u64 {
            let l = leaves(n);
            assert_eq!(root(&mut Leaves(&l), n).unwrap(), root_of(&l), "{n}");
        }
    }

    #[test]
    fn every_inclusion_proof_verifies_and_a_wrong_one_does_not() {
        for n in 1..40u64 {
            let l = leaves(n);
            let r = root_of(&l);
            for i in 0..n {
                let p = inclusion(&mut Leaves(&l), i, n).unwrap();
                verify_inclusion(i, n, &l[i as usize], &p, &r).unwrap();
                let other = leaf(b"another record");
                assert!(verify_inclusion(i, n, &other, &p, &r).is_err());
                if n > 1 {
                    assert!(verify_inclusion((i + 1) % n, n, &l[i as usize], &p, &r).is_err());
                    let mut short = p.clone();
                    short.pop();
                    assert!(verify_inclusion(i, n, &l[i as usize], &short, &r).is_err());
                }
            }
        }
    }

    #[test]
    fn every_consistency_proof_verifies_and_a_fork_does_not() {
        for n in 1..40u64 {
            let l = leaves(n);
            let rn = root_of(&l);
            for m in 0..=n {
                let rm = root_of(&l[..m as usize]);
                let p = consistency(&mut Leaves(&l), m, n).unwrap();
                verify_consistency(m, n, &rm, &rn, &p).unwrap();
                if m > 0 && m < n {
                    // A forked old tree: record 0 changed.
                    let mut forked = l[..m as usize].to_vec();
                    forked[0] = leaf(b"forged");
                    let bad = root_of(&forked);
                    assert!(verify_consistency(m, n, &bad, &rn, &p).is_err(), "{m} {n}");
                    assert!(verify_consistency(m, n, &rm, &bad, &p).is_err(), "{m} {n}");
                }
            }
        }
        assert!(consistency(&mut Leaves(&leaves(3)), 4, 3).is_err());
        assert!(verify_consistency(0, 5, &leaf(b"x"), &EMPTY, &[]).is_err());
    }

    #[test]
    fn rfc_6962_shapes_of_small_proofs() {
        // The tree of 7 leaves (RFC 6962, section 2.1.3): the path of d0 is [b, h, l].
        let l = leaves(7);
        let p = inclusion(&mut Leaves(&l), 0, 7).unwrap();
        assert_eq!(
            p,
            vec![l[1], node(&l[2], &l[3]), root_of(&l[4..7])],
            "PATH(0, D[7])"
        );
        // PROOF(3, D[7]) = [c, d, g, l].
        let p = consistency(&mut Leaves(&l), 3, 7).unwrap();
        assert_eq!(p, vec![l[2], l[3], node(&l[0], &l[1]), root_of(&l[4..7])]);
        // PROOF(4, D[7]) = [l]; PROOF(6, D[7]) = [i, j, k].
        assert_eq!(
            consistency(&mut Leaves(&l), 4, 7).unwrap(),
            vec![root_of(&l[4..7])]
        );
        assert_eq!(
            consistency(&mut Leaves(&l), 6, 7).unwrap(),
            vec![node(&l[4], &l[5]), l[6], root_of(&l[0..4])]
        );
    }
}
