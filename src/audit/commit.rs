//! Commit messages as the change process reads them (docs/audit-log.md): the change id at the start of
//! the subject (`CHG-1234: text`) and the trailers of the last paragraph (`Approved-by: …`, `Risk: …`).
//! One parser for both the sink's record extraction and `lint-commit`. Pure: text in, values out.
//!
//! Git's rules that we follow: lines starting with `#` are comments (git strips them with the default
//! `commit.cleanup`), everything from the scissors line (`# ------------------------ >8 ------------------------`,
//! written by `git commit -v`) on is dropped, trailer keys compare case-insensitively, and a trailer
//! value may continue on following lines that start with whitespace (git's `trailer.c`). Stricter than
//! git: the trailer block must consist of trailers only (git accepts a block that is 25% trailers).

use regex::Regex;

/// The change-id pattern (`change.idPattern`'s default).
pub const DEFAULT_CHANGE_PATTERN: &str = "^CHG-[0-9]+$";

/// Trailer keys the audit record keeps.
pub const APPROVED_BY: &str = "Approved-by";
pub const RISK: &str = "Risk";
pub const ROLLBACK: &str = "Rollback";
pub const TESTED: &str = "Tested";
pub const MAINTENANCE_WINDOW: &str = "Maintenance-window";

const SCISSORS: &str = "# ------------------------ >8 ------------------------";

/// One `Key: value` trailer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trailer {
    pub key: String,
    pub value: String,
}

/// A commit message, cleaned as git cleans it and split into subject and trailers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitMessage {
    /// The first non-blank line, trimmed ("" when the message is empty).
    pub subject: String,
    /// The trailers of the last paragraph, in order (empty when that paragraph is not a trailer block).
    pub trailers: Vec<Trailer>,
}

impl CommitMessage {
    /// Parses a message (see the module doc for git's rules that apply).
    pub fn parse(text: &str) -> Self {
        let lines: Vec<&str> = text
            .split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .take_while(|l| *l != SCISSORS)
            .filter(|l| !l.starts_with('#'))
            .collect();
        let paragraphs = split_paragraphs(&lines);
        let subject = paragraphs
            .first()
            .and_then(|p| p.first())
            .map(|l| l.trim().to_owned())
            .unwrap_or_default();
        let trailers = match paragraphs.as_slice() {
            [_, .., last] => parse_trailer_block(last).unwrap_or_default(),
            _ => Vec::new(),
        };
        CommitMessage { subject, trailers }
    }

    /// The text before the first `:` of the subject, when there is one and it is a single word
    /// (`CHG-1234` in `CHG-1234: bump api`).
    pub fn subject_id(&self) -> Option<&str> {
        let (id, _) = self.subject.split_once(':')?;
        let id = id.trim();
        (!id.is_empty() && !id.contains(char::is_whitespace)).then_some(id)
    }

    /// The subject's change id, if it matches `pattern`.
    pub fn change_id(&self, pattern: &Regex) -> Option<&str> {
        self.subject_id().filter(|id| pattern.is_match(id))
    }

    /// The values of the trailers named `key` (case-insensitive), in order.
    pub fn trailer_values<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.trailers
            .iter()
            .filter(move |t| t.key.eq_ignore_ascii_case(key))
            .map(|t| t.value.as_str())
    }

    /// The last non-empty value of trailer `key`.
    pub fn trailer<'a>(&'a self, key: &'a str) -> Option<&'a str> {
        self.trailer_values(key).filter(|v| !v.is_empty()).last()
    }

    /// The distinct non-empty `Approved-by` values, in first-seen order (compared case-insensitively).
    pub fn approvers(&self) -> Vec<&str> {
        let mut seen: Vec<&str> = Vec::new();
        for v in self.trailer_values(APPROVED_BY).filter(|v| !v.is_empty()) {
            if !seen.iter().any(|s| s.eq_ignore_ascii_case(v)) {
                seen.push(v);
            }
        }
        seen
    }
}

fn split_paragraphs<'a>(lines: &[&'a str]) -> Vec<Vec<&'a str>> {
    let mut paragraphs = Vec::new();
    let mut current = Vec::new();
    for line in lines {
        if line.trim().is_empty() {
            if !current.is_empty() {
                paragraphs.push(std::mem::take(&mut current));
            }
        } else {
            current.push(*line);
        }
    }
    if !current.is_empty() {
        paragraphs.push(current);
    }
    paragraphs
}

/// The trailers of a paragraph, or `None` when some line is neither a trailer nor a continuation.
fn parse_trailer_block(paragraph: &[&str]) -> Option<Vec<Trailer>> {
    let mut trailers: Vec<Trailer> = Vec::new();
    for line in paragraph {
        if line.starts_with([' ', '\t']) {
            let last = trailers.last_mut()?;
            if !last.value.is_empty() {
                last.value.push(' ');
            }
            last.value.push_str(line.trim());
            continue;
        }
        let (key, value) = line.split_once(':')?;
        let key = key.trim_end();
        let valid_key = key
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !valid_key {
            return None;
        }
        trailers.push(Trailer {
            key: key.to_owned(),
            value: value.trim().to_owned(),
        });
    }
    Some(trailers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_pattern() -> Regex {
        Regex::new(DEFAULT_CHANGE_PATTERN).unwrap()
    }

    #[test]
    fn reads_change_id_and_trailers() {
        let m = CommitMessage::parse(
            "CHG-1234: bump api to 1.4\n\nWhy: load.\n\nApproved-by: Alice <a@x>\nRisk: low\napproved-by: Bob <b@x>\nRollback: revert\n  then resync\n",
        );
        assert_eq!(m.subject, "CHG-1234: bump api to 1.4");
        assert_eq!(m.change_id(&default_pattern()), Some("CHG-1234"));
        assert_eq!(m.approvers(), vec!["Alice <a@x>", "Bob <b@x>"]);
        assert_eq!(m.trailer(RISK), Some("low"));
        assert_eq!(m.trailer(ROLLBACK), Some("revert then resync"));
    }

    #[test]
    fn ignores_comment_lines_and_everything_after_scissors() {
        let m = CommitMessage::parse(
            "# Please enter the commit message\nCHG-7: fix\n\nApproved-by: a\n# comment inside\nTested: yes\n# ------------------------ >8 ------------------------\nApproved-by: not-a-trailer-of-ours\n",
        );
        assert_eq!(m.subject, "CHG-7: fix");
        assert_eq!(m.approvers(), vec!["a"]);
        assert_eq!(m.trailer(TESTED), Some("yes"));
    }

    #[test]
    fn subject_without_id_has_no_change_id() {
        let pattern = default_pattern();
        assert_eq!(
            CommitMessage::parse("bump api: v2").change_id(&pattern),
            None
        );
        assert_eq!(
            CommitMessage::parse("CHG-12 bump").change_id(&pattern),
            None
        );
        assert_eq!(CommitMessage::parse("").change_id(&pattern), None);
        assert_eq!(
            CommitMessage::parse("CHG-12x: bump").change_id(&pattern),
            None
        );
    }

    #[test]
    fn a_paragraph_with_prose_is_not_a_trailer_block() {
        let m = CommitMessage::parse("CHG-1: x\n\nApproved-by: a\nthis line is prose\n");
        assert!(m.trailers.is_empty());
        // The subject alone is never a trailer block.
        let m = CommitMessage::parse("Risk: high\n");
        assert!(m.trailers.is_empty());
    }

    #[test]
    fn approvers_are_distinct_case_insensitively() {
        let m = CommitMessage::parse(
            "CHG-1: x\n\nApproved-by: Alice\nApproved-by: alice\nApproved-by:\n",
        );
        assert_eq!(m.approvers(), vec!["Alice"]);
    }

    #[test]
    fn crlf_messages_parse_like_lf() {
        let m = CommitMessage::parse("CHG-9: x\r\n\r\nRisk: low\r\n");
        assert_eq!(m.subject, "CHG-9: x");
        assert_eq!(m.trailer(RISK), Some("low"));
    }
}
