//! The names of the ledger's files: the active segment, the directory of sealed segments (also in the
//! archive) and a sealed segment's name, which is its first seq.

/// The active segment's file name inside the data directory.
pub const LOG_FILE: &str = "audit.jsonl";

/// The directory of sealed segments inside the data directory (and the archive).
pub const SEGMENTS_DIR: &str = "segments";

/// The file name of the sealed segment whose first record is `first_seq`.
pub fn segment_name(first_seq: u64) -> String {
    format!("{first_seq:020}.jsonl")
}

/// The first seq a sealed segment's file name gives, if it is one.
pub fn first_seq_of_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".jsonl")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}
