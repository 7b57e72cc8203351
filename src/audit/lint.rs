//! `sluice lint-commit`: the rules a commit message must meet for a controlled change,
//! over a parsed [`CommitMessage`]. Pure: the message and the rules in, the first failed rule out.

use super::commit::CommitMessage;
use regex::Regex;

/// The rules, validated from the command line.
#[derive(Debug, Clone)]
pub struct LintRules {
    /// The change id at the start of the subject must match this.
    pub pattern: Regex,
    /// Trailers that must be present with a non-empty value.
    pub require: Vec<String>,
    /// Distinct `Approved-by` trailers required.
    pub min_approvers: usize,
}

/// Why a message fails the rules (the text says what to fix).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LintFailure {
    #[error("the commit message is empty")]
    Empty,
    #[error("subject {subject:?} must start with a change id, as in \"CHG-1234: what changes\" (pattern {pattern})")]
    NoChangeId { subject: String, pattern: String },
    #[error("change id {id:?} in the subject does not match {pattern}")]
    IdMismatch { id: String, pattern: String },
    #[error("subject {0:?} needs a description after the change id")]
    NoDescription(String),
    #[error("missing trailer \"{0}: …\" (required); add it to the last paragraph of the message")]
    MissingTrailer(String),
    #[error("{required} distinct Approved-by trailers required, found {found}")]
    TooFewApprovers { required: usize, found: usize },
}

/// Checks `message` against `rules`; gives the change id.
///
/// # Errors
///
/// The first rule the message breaks.
pub fn lint<'m>(message: &'m CommitMessage, rules: &LintRules) -> Result<&'m str, LintFailure> {
    if message.subject.is_empty() {
        return Err(LintFailure::Empty);
    }
    let pattern = rules.pattern.as_str().to_owned();
    let id = message
        .subject_id()
        .ok_or_else(|| LintFailure::NoChangeId {
            subject: message.subject.clone(),
            pattern: pattern.clone(),
        })?;
    if !rules.pattern.is_match(id) {
        return Err(LintFailure::IdMismatch {
            id: id.to_owned(),
            pattern,
        });
    }
    let description = message
        .subject
        .split_once(':')
        .map_or("", |(_, d)| d.trim());
    if description.is_empty() {
        return Err(LintFailure::NoDescription(message.subject.clone()));
    }
    for key in rules
        .require
        .iter()
        .map(|k| k.trim())
        .filter(|k| !k.is_empty())
    {
        if message.trailer(key).is_none() {
            return Err(LintFailure::MissingTrailer(key.to_owned()));
        }
    }
    let found = message.approvers().len();
    if found < rules.min_approvers {
        return Err(LintFailure::TooFewApprovers {
            required: rules.min_approvers,
            found,
        });
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(require: &[&str], min: usize) -> LintRules {
        LintRules {
            pattern: Regex::new("^CHG-[0-9]+$").unwrap(),
            require: require.iter().map(|s| (*s).to_owned()).collect(),
            min_approvers: min,
        }
    }

    fn check(msg: &str, r: &LintRules) -> Result<String, LintFailure> {
        lint(&CommitMessage::parse(msg), r).map(str::to_owned)
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
            check("raise replicas", &rules(&[], 0)),
            Err(LintFailure::NoChangeId { .. })
        ));
        assert!(matches!(
            check("JIRA-1: x", &rules(&[], 0)),
            Err(LintFailure::IdMismatch { .. })
        ));
        assert!(matches!(
            check("CHG-1:", &rules(&[], 0)),
            Err(LintFailure::NoDescription(_))
        ));
        assert_eq!(
            check("# only a comment\n", &rules(&[], 0)),
            Err(LintFailure::Empty)
        );
    }

    #[test]
    fn rejects_missing_required_trailer_and_too_few_approvers() {
        let msg = "CHG-1: x\n\nApproved-by: a\nApproved-by: A\n";
        assert_eq!(
            check(msg, &rules(&["Rollback"], 0)),
            Err(LintFailure::MissingTrailer("Rollback".into()))
        );
        assert_eq!(
            check(msg, &rules(&[], 2)),
            Err(LintFailure::TooFewApprovers {
                required: 2,
                found: 1
            })
        );
    }
}
