//! Commit messages as the change process reads them (docs/audit-log.md): the change id at the start of
//! the subject (`CHG-1234: text`), in a `Change-Id:` trailer, in the body of git's own `Merge …` commit
//! or in the subject a `Revert "…"` commit reverts; the trailers of the last paragraph
//! (`Approved-by: …`, `Risk: …`); and the approvers they name. One parser and one approver rule for the
//! sink's record extraction, `audit show` and `lint-commit`. Pure: text in, values out.
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
/// The trailer that names the change when the subject does not (as Gerrit's `Change-Id:` does).
pub const CHANGE_ID: &str = "Change-Id";
/// The trailer that names an emergency change id.
pub const EMERGENCY: &str = "Emergency";

/// Where a change id (or an emergency id) was found, as the record's `changeIdSource` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdSource {
    /// The Application's plugin env `CHANGE_ID` or parameter `change-id`: what `generate` enforced.
    Application,
    /// The operation's info (`argocd app sync --info change=CHG-1234`).
    Operation,
    /// The start of the commit subject.
    Subject,
    /// The subject that a `Revert "…"` commit reverts.
    RevertedSubject,
    /// A `Change-Id:` (or `Emergency:`) trailer.
    Trailer,
    /// The first id in the body of a `Merge …` commit.
    MergeBody,
}

impl IdSource {
    /// The value of the record's `changeIdSource` / `emergencySource`.
    pub fn as_str(self) -> &'static str {
        match self {
            IdSource::Application => "application",
            IdSource::Operation => "operation",
            IdSource::Subject => "subject",
            IdSource::RevertedSubject => "reverted-subject",
            IdSource::Trailer => "trailer",
            IdSource::MergeBody => "merge-body",
        }
    }
}

const SCISSORS: &str = "# ------------------------ >8 ------------------------";

/// One `Key: value` trailer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trailer {
    pub key: String,
    pub value: String,
}

/// The last paragraph of a message read line by line, for `lint-commit` to name each line that spoils
/// it as a trailer block: its trailers and the lines that are neither a trailer nor a continuation,
/// each with its 1-based line number in the message text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrailerBlock {
    pub trailers: Vec<(usize, Trailer)>,
    pub other: Vec<(usize, String)>,
    /// Lines in the paragraph.
    pub lines: usize,
}

/// A commit message, cleaned as git cleans it and split into subject and trailers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommitMessage {
    /// The first non-blank line, trimmed ("" when the message is empty).
    pub subject: String,
    /// The trailers of the last paragraph, in order (empty when that paragraph is not a trailer block).
    pub trailers: Vec<Trailer>,
    /// The lines after the subject's paragraph, trailer block included (comments and scissors removed).
    pub body: Vec<String>,
    /// The last paragraph (not the subject's) line by line, whether or not it is a trailer block.
    pub last_paragraph: TrailerBlock,
}

impl CommitMessage {
    /// Parses a message (see the module doc for git's rules that apply).
    pub fn parse(text: &str) -> Self {
        let lines: Vec<(usize, &str)> = text
            .split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .enumerate()
            .map(|(i, l)| (i + 1, l))
            .take_while(|(_, l)| *l != SCISSORS)
            .filter(|(_, l)| !l.starts_with('#'))
            .collect();
        let paragraphs = split_paragraphs(&lines);
        let subject = paragraphs
            .first()
            .and_then(|p| p.first())
            .map(|(_, l)| l.trim().to_owned())
            .unwrap_or_default();
        let last_paragraph = match paragraphs.as_slice() {
            [_, .., last] => read_trailer_block(last),
            _ => TrailerBlock::default(),
        };
        // Stricter than git: a paragraph with anything else in it is not a trailer block.
        let trailers = if last_paragraph.other.is_empty() {
            last_paragraph
                .trailers
                .iter()
                .map(|(_, t)| t.clone())
                .collect()
        } else {
            Vec::new()
        };
        let body = paragraphs
            .iter()
            .skip(1)
            .flatten()
            .map(|(_, l)| (*l).to_owned())
            .collect();
        CommitMessage {
            subject,
            trailers,
            body,
            last_paragraph,
        }
    }

    /// Whether this is a merge commit as git, GitHub, GitLab and Bitbucket write its subject
    /// (`Merge branch 'x'`, `Merge pull request #12 from …`, `Merged in x (pull request #3)`).
    pub fn is_merge(&self) -> bool {
        self.subject.starts_with("Merge ") || self.subject.starts_with("Merged ")
    }

    /// The subject that a `Revert "…"` commit (as `git revert` writes it) reverts, innermost first
    /// when reverts are reverted.
    pub fn reverted_subject(&self) -> Option<&str> {
        let mut inner = revert_inner(&self.subject)?;
        while let Some(deeper) = revert_inner(inner) {
            inner = deeper;
        }
        Some(inner)
    }

    /// The text before the first `:` of the subject, when there is one and it is a single word
    /// (`CHG-1234` in `CHG-1234: bump api`).
    pub fn subject_id(&self) -> Option<&str> {
        leading_id(&self.subject)
    }

    /// The change id the commit names, and where: the start of the subject (of the reverted subject
    /// for a revert), else a `Change-Id:` trailer, else (for a merge commit) the first word of the body
    /// that matches `pattern`. Every candidate must match `pattern`.
    pub fn change_id(&self, pattern: &Regex) -> Option<(&str, IdSource)> {
        let matching = |id: &&str| pattern.is_match(id);
        if let Some(inner) = self.reverted_subject() {
            if let Some(id) = leading_id(inner).filter(matching) {
                return Some((id, IdSource::RevertedSubject));
            }
        }
        self.subject_id()
            .filter(matching)
            .map(|id| (id, IdSource::Subject))
            .or_else(|| {
                self.trailer_values(CHANGE_ID)
                    .find(matching)
                    .map(|id| (id, IdSource::Trailer))
            })
            .or_else(|| {
                self.is_merge()
                    .then(|| self.first_body_id(pattern))
                    .flatten()
                    .map(|id| (id, IdSource::MergeBody))
            })
    }

    /// The first word of the body that matches `pattern`, with surrounding punctuation
    /// (`CHG-1234:`, `(CHG-1234)`, `[CHG-1234]`) taken off.
    pub fn first_body_id(&self, pattern: &Regex) -> Option<&str> {
        self.body
            .iter()
            .flat_map(|l| l.split_whitespace())
            .find_map(|word| {
                let bare = word.trim_matches(|c: char| {
                    c.is_ascii_punctuation() && !matches!(c, '-' | '_' | '/')
                });
                [word, bare].into_iter().find(|w| pattern.is_match(w))
            })
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

    /// The approvers the `Approved-by` trailers name, by [`approvers`]' rule, `author` left out.
    pub fn approvers<'a>(&'a self, author: Option<&str>) -> Vec<&'a str> {
        approvers(self.trailer_values(APPROVED_BY), author)
    }
}

/// The text inside `Revert "…"`.
fn revert_inner(subject: &str) -> Option<&str> {
    subject
        .strip_prefix("Revert \"")?
        .strip_suffix('"')
        .map(str::trim)
}

/// The text before the first `:` of `subject`, when it is a single word.
fn leading_id(subject: &str) -> Option<&str> {
    let (id, _) = subject.split_once(':')?;
    let id = id.trim();
    (!id.is_empty() && !id.contains(char::is_whitespace)).then_some(id)
}

/// The approvers named by `values` (the values of every `Approved-by` trailer, or of a record's
/// `approvedBy`): each split on commas, trimmed, the empty ones dropped, de-duplicated
/// case-insensitively (the first spelling kept), and anyone who is `author` left out: nobody
/// approves their own change. One rule for the sink, `audit show` and `lint-commit`.
pub fn approvers<'a>(
    values: impl IntoIterator<Item = &'a str>,
    author: Option<&str>,
) -> Vec<&'a str> {
    let mut seen: Vec<&str> = Vec::new();
    for v in values.into_iter().flat_map(|v| v.split(',')).map(str::trim) {
        let own = author.is_some_and(|a| same_person(v, a));
        if !v.is_empty() && !own && !seen.iter().any(|s| s.eq_ignore_ascii_case(v)) {
            seen.push(v);
        }
    }
    seen
}

/// Whether two ways of naming someone (`Ann Lee <ann@x.org>`, `ann@x.org`, `@ann`, `Ann Lee`) name
/// the same person: they share the e-mail address, the name, or the handle, compared
/// case-insensitively.
pub fn same_person(a: &str, b: &str) -> bool {
    let (a, b) = (identities(a), identities(b));
    a.iter().any(|x| b.contains(x))
}

/// The forms of an identity: `Name <email>` gives the name and the address; anything else itself.
/// A leading `@` (a handle) is dropped; all lower-cased.
fn identities(s: &str) -> Vec<String> {
    let s = s.trim();
    let forms = match s.split_once('<') {
        Some((name, rest)) => vec![name, rest.trim_end().trim_end_matches('>')],
        None => vec![s],
    };
    forms
        .into_iter()
        .map(|f| f.trim().trim_start_matches('@').to_lowercase())
        .filter(|f| !f.is_empty())
        .collect()
}

fn split_paragraphs<'a>(lines: &[(usize, &'a str)]) -> Vec<Vec<(usize, &'a str)>> {
    let mut paragraphs = Vec::new();
    let mut current = Vec::new();
    for &(n, line) in lines {
        if line.trim().is_empty() {
            if !current.is_empty() {
                paragraphs.push(std::mem::take(&mut current));
            }
        } else {
            current.push((n, line));
        }
    }
    if !current.is_empty() {
        paragraphs.push(current);
    }
    paragraphs
}

/// The trailers of a paragraph (a line starting with white space continues the trailer before it, as in
/// git's `trailer.c`), and every line that is neither.
fn read_trailer_block(paragraph: &[(usize, &str)]) -> TrailerBlock {
    let mut block = TrailerBlock {
        lines: paragraph.len(),
        ..TrailerBlock::default()
    };
    for &(n, line) in paragraph {
        if line.starts_with([' ', '\t']) {
            match block.trailers.last_mut() {
                // Only right after a trailer (or its continuation) is a line a continuation.
                Some((last_n, last)) if block.other.last().is_none_or(|(o, _)| *o < *last_n) => {
                    if !last.value.is_empty() {
                        last.value.push(' ');
                    }
                    last.value.push_str(line.trim());
                }
                _ => block.other.push((n, line.to_owned())),
            }
            continue;
        }
        match trailer(line) {
            Some(t) => block.trailers.push((n, t)),
            None => block.other.push((n, line.to_owned())),
        }
    }
    block
}

/// A `Key: value` line: the key letters, digits and `-`, starting with a letter or digit.
fn trailer(line: &str) -> Option<Trailer> {
    let (key, value) = line.split_once(':')?;
    let key = key.trim_end();
    let valid_key = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    valid_key.then(|| Trailer {
        key: key.to_owned(),
        value: value.trim().to_owned(),
    })
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
        assert_eq!(
            m.change_id(&default_pattern()),
            Some(("CHG-1234", IdSource::Subject))
        );
        assert_eq!(m.approvers(None), vec!["Alice <a@x>", "Bob <b@x>"]);
        assert_eq!(m.trailer(RISK), Some("low"));
        assert_eq!(m.trailer(ROLLBACK), Some("revert then resync"));
    }

    #[test]
    fn ignores_comment_lines_and_everything_after_scissors() {
        let m = CommitMessage::parse(
            "# Please enter the commit message\nCHG-7: fix\n\nApproved-by: a\n# comment inside\nTested: yes\n# ------------------------ >8 ------------------------\nApproved-by: not-a-trailer-of-ours\n",
        );
        assert_eq!(m.subject, "CHG-7: fix");
        assert_eq!(m.approvers(None), vec!["a"]);
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
        assert_eq!(m.approvers(None), vec!["Alice"]);
    }

    #[test]
    fn crlf_messages_parse_like_lf() {
        let m = CommitMessage::parse("CHG-9: x\r\n\r\nRisk: low\r\n");
        assert_eq!(m.subject, "CHG-9: x");
        assert_eq!(m.trailer(RISK), Some("low"));
    }

    #[test]
    fn approvers_are_split_on_commas_and_merged_across_trailers() {
        let m = CommitMessage::parse(
            "CHG-1: x\n\nApproved-by: @sre-lead, @platform-lead\nApproved-by: @SRE-lead,, Carol <c@x>\n",
        );
        assert_eq!(
            m.approvers(None),
            vec!["@sre-lead", "@platform-lead", "Carol <c@x>"]
        );
    }

    #[test]
    fn the_author_never_approves_their_own_change() {
        let m = CommitMessage::parse(
            "CHG-1: x\n\nApproved-by: Ann Lee <ann@x.org>, @bob\nApproved-by: ANN@x.org\nApproved-by: @ann lee\n",
        );
        assert_eq!(m.approvers(Some("Ann Lee <ann@x.org>")), vec!["@bob"]);
        assert_eq!(m.approvers(Some("Bob <bob@y>")), m.approvers(Some("@bob")));
        assert!(same_person("@Bob", "bob <b@x>"));
        assert!(!same_person("bob", "bobby <b@x>"));
        assert!(!same_person("", ""), "nobody is not somebody");
    }

    #[test]
    fn a_merge_commit_takes_the_first_id_of_its_body() {
        let p = default_pattern();
        let github = CommitMessage::parse(
            "Merge pull request #12 from acme/chg-1234-replicas\n\nCHG-1234: raise replicas\n",
        );
        assert_eq!(
            github.change_id(&p),
            Some(("CHG-1234", IdSource::MergeBody))
        );
        let gitlab = CommitMessage::parse(
            "Merge branch 'replicas' into 'main'\n\nRaise replicas (CHG-77), see CHG-78\n\nSee merge request acme/shop!12\n",
        );
        assert_eq!(gitlab.change_id(&p), Some(("CHG-77", IdSource::MergeBody)));
        let bare = CommitMessage::parse("Merge branch 'x'\n");
        assert_eq!(bare.change_id(&p), None);
        // Only merge commits: an ordinary commit with an id in its body names no change.
        let plain = CommitMessage::parse("raise replicas\n\nfor CHG-1234\n");
        assert_eq!(plain.change_id(&p), None);
    }

    #[test]
    fn a_revert_takes_the_id_of_the_reverted_subject() {
        let p = default_pattern();
        let m = CommitMessage::parse(
            "Revert \"CHG-1234: raise replicas\"\n\nThis reverts commit 4f3c2b1a.\n",
        );
        assert_eq!(m.reverted_subject(), Some("CHG-1234: raise replicas"));
        assert_eq!(
            m.change_id(&p),
            Some(("CHG-1234", IdSource::RevertedSubject))
        );
        let twice = CommitMessage::parse("Revert \"Revert \"CHG-9: x\"\"\n");
        assert_eq!(
            twice.change_id(&p),
            Some(("CHG-9", IdSource::RevertedSubject))
        );
    }

    #[test]
    fn a_change_id_trailer_names_the_change_when_the_subject_does_not() {
        let p = default_pattern();
        let m = CommitMessage::parse("tidy labels\n\nChange-Id: I8473b95934b5732ac55d26311a706c9c2bde9940\nchange-id: CHG-5\n");
        assert_eq!(m.change_id(&p), Some(("CHG-5", IdSource::Trailer)));
        let both = CommitMessage::parse("CHG-1: x\n\nChange-Id: CHG-2\n");
        assert_eq!(both.change_id(&p), Some(("CHG-1", IdSource::Subject)));
    }
}
