//! `sluice lint-commit`: the rules a commit message must meet for a controlled change, over a parsed
//! [`CommitMessage`]. Pure: the message and the rules in, every broken rule out (a hook that names one
//! problem at a time makes people commit once per problem).
//!
//! Git's own messages are read as git writes them: a `Merge …` commit (`git merge`, GitHub's and
//! GitLab's merge button) names its change in its body, and a `Revert "…"` commit in the subject it
//! reverts; neither has to start with a change id.

use super::message::{CommitMessage, IdSource};
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
    for key in rules
        .require
        .iter()
        .map(|k| k.trim())
        .filter(|k| !k.is_empty())
    {
        if message.trailer(key).is_none() {
            failures.push(LintFailure::MissingTrailer(key.to_owned()));
        }
    }
    let found = message.approvers(rules.author.as_deref()).len();
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
