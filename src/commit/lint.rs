//! `sluice lint-commit`: the rules a commit message must meet for a controlled change, over a parsed
//! [`CommitMessage`]. Pure: the message and the rules in, every broken rule out (a hook that names one
//! problem at a time makes people commit once per problem).
//!
//! Git's own messages are read as git writes them: a `Merge …` commit (`git merge`, GitHub's and
//! GitLab's merge button) names its change in its body, and a `Revert "…"` commit in the subject it
//! reverts; neither has to start with a change id.

use super::message::{
    approvers, CommitMessage, IdSource, Trailer, APPROVED_BY, CHANGE_ID, EMERGENCY,
    MAINTENANCE_WINDOW, RISK, ROLLBACK, TESTED,
};
use regex::Regex;

/// The rules, validated from the command line.
#[derive(Debug, Clone)]
pub struct LintRules {
    /// The change id at the start of the subject must match this.
    pub pattern: Regex,
    /// Trailers that must be present with a non-empty value.
    pub require: Vec<String>,
    /// Distinct `Approved-by` approvers required (the author never counts).
    pub min_approvers: usize,
    /// The commit's author (`Name <email>`), who cannot approve their own change.
    pub author: Option<String>,
}

/// One broken rule (the text says what to fix).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LintFailure {
    #[error("the commit message is empty")]
    Empty,
    #[error("subject {subject:?} must start with a change id, as in \"CHG-1234: what changes\" (pattern {pattern})")]
    NoChangeId { subject: String, pattern: String },
    #[error("merge commit {subject:?} names no change id in its body; put \"CHG-1234: …\" in the merge message (pattern {pattern})")]
    NoMergeChangeId { subject: String, pattern: String },
    #[error("change id {id:?} in the subject does not match {pattern}")]
    IdMismatch { id: String, pattern: String },
    #[error("subject {0:?} needs a description after the change id")]
    NoDescription(String),
    #[error("missing trailer \"{0}: …\" (required); add it to the last paragraph of the message")]
    MissingTrailer(String),
    #[error("line {line}: trailer \"{key}:\" is empty; give it a value, or remove the line")]
    EmptyTrailer { line: usize, key: String },
    #[error("line {line}: {text:?} is not a \"Key: value\" trailer, but the last paragraph is the trailer block; move the text above the blank line before the trailers, or indent it to continue the trailer above")]
    NotATrailer { line: usize, text: String },
    #[error("{required} distinct Approved-by approvers required (the author does not count), found {found}")]
    TooFewApprovers { required: usize, found: usize },
}

/// A message that breaks rules: the file, and every broken rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {}", path.display(), summary(failures))]
pub struct LintError {
    pub path: std::path::PathBuf,
    pub failures: Vec<LintFailure>,
}

/// One problem as it is; several as a count and one indented line each.
fn summary(failures: &[LintFailure]) -> String {
    match failures {
        [one] => one.to_string(),
        many => {
            let lines: Vec<String> = many.iter().map(|f| format!("\n  - {f}")).collect();
            format!("{} problems:{}", many.len(), lines.concat())
        }
    }
}

/// What the rules found: the change id when there is one, and every broken rule in the order of the
/// message (subject, trailers, approvers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LintReport<'m> {
    pub change_id: Option<(&'m str, IdSource)>,
    pub failures: Vec<LintFailure>,
}

/// Checks `message` against `rules`.
pub fn lint<'m>(message: &'m CommitMessage, rules: &LintRules) -> LintReport<'m> {
    if message.subject.is_empty() {
        return LintReport {
            change_id: None,
            failures: vec![LintFailure::Empty],
        };
    }
    let mut failures = Vec::new();
    let change_id = message.change_id(&rules.pattern);
    if change_id.is_none() {
        failures.push(subject_failure(message, rules));
    }
    if let Some((_, IdSource::Subject | IdSource::RevertedSubject)) = change_id {
        let subject = message.reverted_subject().unwrap_or(&message.subject);
        if subject
            .split_once(':')
            .is_none_or(|(_, d)| d.trim().is_empty())
        {
            failures.push(LintFailure::NoDescription(subject.to_owned()));
        }
    }
    let trailers = trailer_block(message, rules, &mut failures);
    for key in rules
        .require
        .iter()
        .map(|k| k.trim())
        .filter(|k| !k.is_empty())
    {
        // An empty one was reported where it is.
        if !trailers.iter().any(|t| t.key.eq_ignore_ascii_case(key)) {
            failures.push(LintFailure::MissingTrailer(key.to_owned()));
        }
    }
    let values = trailers
        .iter()
        .filter(|t| t.key.eq_ignore_ascii_case(APPROVED_BY))
        .map(|t| t.value.as_str());
    let found = approvers(values, rules.author.as_deref()).len();
    if found < rules.min_approvers {
        failures.push(LintFailure::TooFewApprovers {
            required: rules.min_approvers,
            found,
        });
    }
    LintReport {
        change_id,
        failures,
    }
}

/// The trailers of the message, as far as they can be read: when its last paragraph is meant as the
/// trailer block (it has a trailer the process knows or one of `rules.require`, or a quarter of its lines
/// are trailers, git's own threshold), every other line in it is named, and its trailers are still read
/// so that one bad line does not also show up as missing trailers and approvers. (The sink reads no
/// trailers from such a block: the failure for the bad line is what keeps the two in step.) Empty
/// trailers are named too.
fn trailer_block(
    message: &CommitMessage,
    rules: &LintRules,
    failures: &mut Vec<LintFailure>,
) -> Vec<Trailer> {
    let block = &message.last_paragraph;
    let known = [
        APPROVED_BY,
        RISK,
        ROLLBACK,
        TESTED,
        MAINTENANCE_WINDOW,
        CHANGE_ID,
        EMERGENCY,
    ];
    let is_known = |key: &str| {
        known.iter().any(|k| k.eq_ignore_ascii_case(key))
            || rules
                .require
                .iter()
                .any(|k| k.trim().eq_ignore_ascii_case(key))
    };
    let meant = block.trailers.iter().any(|(_, t)| is_known(&t.key))
        || block.trailers.len() * 4 >= block.lines.max(1);
    if block.trailers.is_empty() || !meant {
        return Vec::new();
    }
    let mut found: Vec<(usize, LintFailure)> = block
        .other
        .iter()
        .map(|(line, text)| {
            (
                *line,
                LintFailure::NotATrailer {
                    line: *line,
                    text: text.clone(),
                },
            )
        })
        .collect();
    found.extend(
        block
            .trailers
            .iter()
            .filter(|(_, t)| t.value.is_empty())
            .map(|(line, t)| {
                (
                    *line,
                    LintFailure::EmptyTrailer {
                        line: *line,
                        key: t.key.clone(),
                    },
                )
            }),
    );
    found.sort_by_key(|(line, _)| *line);
    failures.extend(found.into_iter().map(|(_, f)| f));
    block.trailers.iter().map(|(_, t)| t.clone()).collect()
}

/// Why a message names no change: a merge without an id in its body, a subject id that does not
/// match, or no id at all. (A `Change-Id:` trailer is what the sink reads from commits that do not
/// follow the rule; the rule itself asks for the subject.)
fn subject_failure(message: &CommitMessage, rules: &LintRules) -> LintFailure {
    let pattern = rules.pattern.as_str().to_owned();
    if message.is_merge() {
        return LintFailure::NoMergeChangeId {
            subject: message.subject.clone(),
            pattern,
        };
    }
    let subject = message.reverted_subject().unwrap_or(&message.subject);
    match subject.split_once(':').map(|(id, _)| id.trim()) {
        Some(id) if !id.is_empty() && !id.contains(char::is_whitespace) => {
            LintFailure::IdMismatch {
                id: id.to_owned(),
                pattern,
            }
        }
        _ => LintFailure::NoChangeId {
            subject: subject.to_owned(),
            pattern,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(require: &[&str], min: usize) -> LintRules {
        LintRules {
            pattern: Regex::new("^CHG-[0-9]+$").unwrap(),
            require: require.iter().map(|s| (*s).to_owned()).collect(),
            min_approvers: min,
            author: None,
        }
    }

    fn check(msg: &str, r: &LintRules) -> Result<String, Vec<LintFailure>> {
        let message = CommitMessage::parse(msg);
        let report = lint(&message, r);
        if report.failures.is_empty() {
            Ok(report.change_id.map(|(id, _)| id.to_owned()).unwrap())
        } else {
            Err(report.failures)
        }
    }

    #[test]
    fn accepts_a_complete_message() {
        let msg = "CHG-42: raise replicas\n\nApproved-by: a\nApproved-by: b\nRollback: revert\n";
        assert_eq!(
            check(msg, &rules(&["Approved-by", "Rollback"], 2)),
            Ok("CHG-42".into())
        );
    }

    #[test]
    fn rejects_subject_without_change_id() {
        assert!(matches!(
            check("raise replicas", &rules(&[], 0)).unwrap_err()[..],
            [LintFailure::NoChangeId { .. }]
        ));
        assert!(matches!(
            check("JIRA-1: x", &rules(&[], 0)).unwrap_err()[..],
            [LintFailure::IdMismatch { .. }]
        ));
        assert!(matches!(
            check("CHG-1:", &rules(&[], 0)).unwrap_err()[..],
            [LintFailure::NoDescription(_)]
        ));
        assert_eq!(
            check("# only a comment\n", &rules(&[], 0)),
            Err(vec![LintFailure::Empty])
        );
    }

    #[test]
    fn rejects_missing_required_trailer_and_too_few_approvers() {
        let msg = "CHG-1: x\n\nApproved-by: a\nApproved-by: A\n";
        assert_eq!(
            check(msg, &rules(&["Rollback"], 0)),
            Err(vec![LintFailure::MissingTrailer("Rollback".into())])
        );
        assert_eq!(
            check(msg, &rules(&[], 2)),
            Err(vec![LintFailure::TooFewApprovers {
                required: 2,
                found: 1
            }])
        );
    }

    #[test]
    fn reports_every_problem_at_once() {
        let failures = check(
            "raise replicas\n\nApproved-by: a\n",
            &rules(&["Rollback", "Risk"], 2),
        )
        .unwrap_err();
        assert_eq!(failures.len(), 4, "{failures:?}");
        assert!(matches!(failures[0], LintFailure::NoChangeId { .. }));
        assert_eq!(failures[1], LintFailure::MissingTrailer("Rollback".into()));
        assert_eq!(failures[2], LintFailure::MissingTrailer("Risk".into()));
        assert_eq!(
            failures[3],
            LintFailure::TooFewApprovers {
                required: 2,
                found: 1
            }
        );
    }

    #[test]
    fn comma_separated_approvers_count_one_each_and_the_author_none() {
        let msg = "CHG-1: x\n\nApproved-by: @sre-lead, @platform-lead\n";
        assert_eq!(check(msg, &rules(&[], 2)), Ok("CHG-1".into()));
        let mut by_lead = rules(&[], 2);
        by_lead.author = Some("sre-lead <sre@x>".into());
        assert_eq!(
            check(msg, &by_lead),
            Err(vec![LintFailure::TooFewApprovers {
                required: 2,
                found: 1
            }])
        );
    }

    #[test]
    fn names_every_malformed_trailer_line_and_reads_the_rest() {
        let msg = "CHG-1: x\n\nApproved-by: alice\nreviewed in the meeting\nApproved-by: bob\nsee the ticket\nRollback: revert\n  then sync\n";
        assert_eq!(
            check(msg, &rules(&["Rollback"], 2)),
            Err(vec![
                LintFailure::NotATrailer {
                    line: 4,
                    text: "reviewed in the meeting".into()
                },
                LintFailure::NotATrailer {
                    line: 6,
                    text: "see the ticket".into()
                },
            ]),
            "the approvers and Rollback are still read: no missing trailer, no 0 approvers"
        );
        // The sink stays strict: a block with a bad line gives it no trailers.
        assert!(CommitMessage::parse(msg).trailers.is_empty());
    }

    #[test]
    fn an_empty_trailer_is_reported_as_empty_not_missing() {
        let msg = "CHG-1: x\n\nApproved-by: alice\nRollback:\n";
        assert_eq!(
            check(msg, &rules(&["Rollback"], 1)),
            Err(vec![LintFailure::EmptyTrailer {
                line: 4,
                key: "Rollback".into()
            }])
        );
        let text = LintFailure::EmptyTrailer {
            line: 4,
            key: "Rollback".into(),
        }
        .to_string();
        assert_eq!(
            text,
            "line 4: trailer \"Rollback:\" is empty; give it a value, or remove the line"
        );
    }

    #[test]
    fn a_paragraph_of_prose_is_body_not_a_broken_trailer_block() {
        let msg = "CHG-1: x\n\nThis raises the replicas: the load grew.\nNothing else changes.\n";
        assert_eq!(
            check(msg, &rules(&["Rollback"], 0)),
            Err(vec![LintFailure::MissingTrailer("Rollback".into())])
        );
        // Comment lines count in the line numbers, as an editor shows them.
        let msg = "CHG-1: x\n# a comment\n\nApproved-by: a\nnot a trailer\n";
        assert_eq!(
            check(msg, &rules(&[], 0)),
            Err(vec![LintFailure::NotATrailer {
                line: 5,
                text: "not a trailer".into()
            }])
        );
    }

    #[test]
    fn git_merge_commits_take_the_id_from_the_body() {
        let merge = "Merge pull request #12 from acme/replicas\n\nCHG-1234: raise replicas\n\nApproved-by: a\n";
        assert_eq!(check(merge, &rules(&[], 1)), Ok("CHG-1234".into()));
        assert!(matches!(
            check("Merge branch 'main' into feature\n", &rules(&[], 0)).unwrap_err()[..],
            [LintFailure::NoMergeChangeId { .. }]
        ));
    }

    #[test]
    fn git_revert_commits_take_the_id_of_the_reverted_subject() {
        let revert = "Revert \"CHG-1234: raise replicas\"\n\nThis reverts commit 4f3c2b1a.\n";
        assert_eq!(check(revert, &rules(&[], 0)), Ok("CHG-1234".into()));
        assert!(matches!(
            check("Revert \"raise replicas\"\n", &rules(&[], 0)).unwrap_err()[..],
            [LintFailure::NoChangeId { ref subject, .. }] if subject == "raise replicas"
        ));
    }
}
