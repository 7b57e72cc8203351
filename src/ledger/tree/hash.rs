//! RFC 6962 hashing (section 2.1) with SHA-256: a leaf is `SHA-256(0x00 ‖ data)`, an inner node
//! `SHA-256(0x01 ‖ left ‖ right)`, and the empty tree's root is `SHA-256()` of nothing. A record's
//! leaf data is its line without the newline. Pure.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use sha2::{Digest, Sha256};

/// One hash of the tree.
pub type Hash = [u8; 32];

/// `SHA-256("")`: the root of the empty tree (RFC 6962, section 2.1).
pub const EMPTY: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// The leaf hash of `data` (a record's line without its newline).
pub fn leaf(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// The hash of an inner node.
pub fn node(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The Merkle tree hash of `hashes` taken as the tree's lowest level (leaf hashes, or the roots of
/// equal, complete subtrees): split at the largest power of two strictly below the count.
pub fn root_of(hashes: &[Hash]) -> Hash {
    match hashes.len() {
        0 => EMPTY,
        1 => hashes[0],
        n => {
            let k = split(n as u64) as usize;
            node(&root_of(&hashes[..k]), &root_of(&hashes[k..]))
        }
    }
}

/// The largest power of two strictly below `n` (n ≥ 2).
pub fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (n - 1).ilog2()
}

/// A hash as standard base64 (checkpoints, proofs).
pub fn to_base64(hash: &Hash) -> String {
    B64.encode(hash)
}

/// A base64 hash, when it is exactly 32 bytes.
pub fn from_base64(text: &str) -> Option<Hash> {
    B64.decode(text.trim_end_matches(['\n', '\r']))
        .ok()?
        .try_into()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_empty_root_is_the_sha256_of_nothing() {
        let nothing: Hash = Sha256::digest(b"").into();
        assert_eq!(EMPTY, nothing);
        assert_eq!(root_of(&[]), EMPTY);
    }

    #[test]
    fn the_split_is_the_largest_power_of_two_strictly_below() {
        for (n, k) in [
            (2, 1),
            (3, 2),
            (4, 2),
            (5, 4),
            (8, 4),
            (9, 8),
            (1000, 512),
            (1024, 512),
        ] {
            assert_eq!(split(n), k, "{n}");
        }
    }

    #[test]
    fn leaves_and_nodes_are_domain_separated() {
        // RFC 6962 test vector: the leaf hash of the empty string.
        assert_eq!(
            crate::ledger::canonical::to_hex(&leaf(b"")),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
        let a = leaf(b"a");
        assert_ne!(node(&a, &a), leaf(&[a, a].concat()));
        assert_eq!(from_base64(&to_base64(&a)), Some(a));
        assert_eq!(from_base64("AAAA"), None);
    }
}
