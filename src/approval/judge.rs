//! The judgment: does every pull request of a change carry the approvals the rules ask for? Takes the
//! effective rules and a [`Change`]; gives a [`Judgment`]. Pure.
//!
//! Per pull request (as palantir/policy-bot's `approval/approve.go` evaluates a rule: candidates,
//! then who is left out and why):
//! - each reviewer's **latest deciding review** counts: `APPROVED`, `CHANGES_REQUESTED` or `DISMISSED`, in
//!   the host's order; a `COMMENTED` (or pending) review after an approval does not withdraw it, and a
//!   dismissed review approves nothing (GitHub keeps it with state `DISMISSED`, the approval is gone);
//! - an approval is left out when its reviewer is the author (`excludeAuthor`), authored or
//!   committed one of the pull request's commits (`excludeContributors`), or it was given on another
//!   head than the one merged, unless `allowStaleApprovals`;
//! - the approvals left must number `required`; with `latestPush`, one of them must be on the merged
//!   head by someone who did not push it; with `codeOwners`, every changed path that has owners needs
//!   one of them among the approvers.
//!
//! A first-parent commit with no merged pull request is a direct push: unapproved whenever the rules
//! ask for an approval. An owner the host could not resolve (a team whose members the credentials
//! cannot read) makes the verdict unverified, not unapproved: the host did not say.

use super::change::{Change, Pull, Review, ReviewState};
use crate::policy::approvals::ApprovalsSpec;
use serde::Serialize;
use std::fmt::Write as _;

/// The outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Approved,
    Unapproved,
    /// The host could not be asked or did not tell enough.
    Unverified,
}

impl Verdict {
    /// As records write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Approved => "approved",
            Verdict::Unapproved => "unapproved",
            Verdict::Unverified => "unverified",
        }
    }
}

/// An approval that counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Approver {
    pub login: String,
    pub at: String,
    /// The head it was given on, when the host tells.
    pub commit: Option<String>,
}

/// An approval (or withdrawn review) that does not count, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dismissal {
    pub login: String,
    pub why: String,
}

/// One pull request, judged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PullJudgment {
    pub number: u64,
    pub url: String,
    pub author: String,
    pub merged_at: String,
    pub head: String,
    pub approvers: Vec<Approver>,
    pub dismissed: Vec<Dismissal>,
    /// Rules it breaks, each naming the pull request and the rule.
    pub problems: Vec<String>,
    /// What the host did not tell.
    pub unknown: Vec<String>,
}

/// The whole change, judged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Judgment {
    pub verdict: Verdict,
    /// One line: why.
    pub reason: String,
    pub pulls: Vec<PullJudgment>,
    /// First-parent commits with no merged pull request.
    pub direct_pushes: Vec<String>,
}

/// At most this many paths are named in one code-owner problem.
const PATHS_NAMED: usize = 3;

/// Judges `change` by `rules`.
pub fn judge(rules: &ApprovalsSpec, change: &Change) -> Judgment {
    let pulls: Vec<PullJudgment> = change.pulls.iter().map(|p| judge_pull(rules, p)).collect();
    let direct_pushes: Vec<String> = change
        .commits
        .iter()
        .filter(|c| c.pull.is_none())
        .map(|c| c.sha.clone())
        .collect();
    let asks = rules.required > 0 || rules.code_owners;
    let mut problems: Vec<String> = Vec::new();
    if asks {
        problems.extend(direct_pushes.iter().map(|sha| {
            format!(
                "commit {} on {} was pushed directly, without a merged pull request (approvals.required {})",
                short(sha),
                change.branch,
                rules.required
            )
        }));
    }
    for p in &pulls {
        problems.extend(p.problems.iter().cloned());
    }
    let unknown: Vec<&String> = pulls.iter().flat_map(|p| &p.unknown).collect();
    let (verdict, reason) = if !problems.is_empty() {
        (Verdict::Unapproved, problems.join("; "))
    } else if let Some(first) = unknown.first() {
        (Verdict::Unverified, (*first).clone())
    } else {
        (Verdict::Approved, approved_reason(rules, &pulls))
    };
    Judgment {
        verdict,
        reason,
        pulls,
        direct_pushes,
    }
}

fn approved_reason(rules: &ApprovalsSpec, pulls: &[PullJudgment]) -> String {
    if pulls.is_empty() {
        return format!(
            "no approval needed: approvals.required is {} and no pull request is involved",
            rules.required
        );
    }
    pulls
        .iter()
        .map(|p| {
            let by: Vec<&str> = p.approvers.iter().map(|a| a.login.as_str()).collect();
            if by.is_empty() {
                format!("PR #{} needs no approval (approvals.required 0)", p.number)
            } else {
                format!("PR #{} approved by {}", p.number, by.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// The first 7 characters of a commit id.
pub fn short(sha: &str) -> &str {
    sha.get(..7).unwrap_or(sha)
}

/// Each reviewer's latest deciding review, in the order of their first review.
fn latest_decisions(reviews: &[Review]) -> Vec<&Review> {
    let mut latest: Vec<&Review> = Vec::new();
    for r in reviews {
        if !matches!(
            r.state,
            ReviewState::Approved | ReviewState::ChangesRequested | ReviewState::Dismissed
        ) {
            continue;
        }
        match latest
            .iter_mut()
            .find(|l| l.login.eq_ignore_ascii_case(&r.login))
        {
            Some(slot) => *slot = r,
            None => latest.push(r),
        }
    }
    latest
}

fn judge_pull(rules: &ApprovalsSpec, pull: &Pull) -> PullJudgment {
    let mut approvers = Vec::new();
    let mut dismissed = Vec::new();
    let pr = format!("PR #{}", pull.number);
    for review in latest_decisions(&pull.reviews) {
        let login = review.login.clone();
        let why = match review.state {
            ReviewState::Approved => left_out(rules, pull, review),
            ReviewState::Dismissed => Some("review dismissed on the host".to_owned()),
            _ => None,
        };
        match (review.state, why) {
            (ReviewState::Approved, None) => approvers.push(Approver {
                login,
                at: review.at.clone(),
                commit: review.commit.clone(),
            }),
            (_, Some(why)) => dismissed.push(Dismissal { login, why }),
            _ => {}
        }
    }
    let mut problems = Vec::new();
    let mut unknown = Vec::new();
    let count = approvers.len() as u64;
    if count < u64::from(rules.required) {
        let mut text = format!(
            "{pr} ({}): {count} of {} required approvals (approvals.required)",
            pull.url, rules.required
        );
        for d in &dismissed {
            let _ = write!(text, "; {}'s approval does not count: {}", d.login, d.why);
        }
        problems.push(text);
    }
    if rules.latest_push && rules.required > 0 {
        let on_head_by_other = approvers.iter().any(|a| {
            a.commit.as_deref() == Some(pull.head.as_str())
                && !pull.pushers.iter().any(|p| p.is(&a.login, None))
        });
        if !on_head_by_other {
            let by: Vec<&str> = pull.pushers.iter().map(super::Identity::label).collect();
            problems.push(format!(
                "{pr}: the last push (head {}, pushed by {}) has no approval by someone else on that head (approvals.latestPush)",
                short(&pull.head),
                if by.is_empty() { "someone unknown".to_owned() } else { by.join(", ") }
            ));
        }
    }
    if rules.code_owners {
        code_owner_findings(pull, &approvers, &mut problems, &mut unknown);
    }
    PullJudgment {
        number: pull.number,
        url: pull.url.clone(),
        author: pull.author.clone(),
        merged_at: pull.merged_at.clone(),
        head: pull.head.clone(),
        approvers,
        dismissed,
        problems,
        unknown,
    }
}

/// Why an approval does not count, `None` when it does.
fn left_out(rules: &ApprovalsSpec, pull: &Pull, review: &Review) -> Option<String> {
    let pr = format!("PR #{}", pull.number);
    if rules.exclude_author && review.login.eq_ignore_ascii_case(&pull.author) {
        return Some(format!("author of {pr} (approvals.excludeAuthor)"));
    }
    if rules.exclude_contributors
        && pull
            .contributors
            .iter()
            .any(|c| c.is(&review.login, review.name.as_deref()))
    {
        return Some(format!(
            "authored or committed a commit of {pr} (approvals.excludeContributors)"
        ));
    }
    if !rules.allow_stale_approvals && review.commit.as_deref() != Some(pull.head.as_str()) {
        return Some(match review.commit.as_deref() {
            Some(c) => format!(
                "approved {}, an earlier head than the merged {} (approvals.allowStaleApprovals is false)",
                short(c),
                short(&pull.head)
            ),
            None => format!(
                "the host does not tell which head was approved, so not that it was the merged {} (approvals.allowStaleApprovals is false)",
                short(&pull.head)
            ),
        });
    }
    None
}

fn code_owner_findings(
    pull: &Pull,
    approvers: &[Approver],
    problems: &mut Vec<String>,
    unknown: &mut Vec<String>,
) {
    let Some(owners) = &pull.owners else {
        unknown.push(format!(
            "PR #{}: the code owners could not be read (approvals.codeOwners)",
            pull.number
        ));
        return;
    };
    // Paths grouped by their owner list, in first-seen order.
    let mut unmet: Vec<(String, Vec<&str>)> = Vec::new();
    let mut unresolved: Vec<String> = Vec::new();
    for path in owners.iter().filter(|p| !p.owners.is_empty()) {
        let met = path.owners.iter().any(|o| {
            o.logins.as_ref().is_some_and(|logins| {
                approvers
                    .iter()
                    .any(|a| logins.iter().any(|l| l.eq_ignore_ascii_case(&a.login)))
            })
        });
        if met {
            continue;
        }
        let names: Vec<&str> = path.owners.iter().map(|o| o.name.as_str()).collect();
        let key = names.join(", ");
        if let Some(team) = path.owners.iter().find(|o| o.logins.is_none()) {
            unresolved.push(format!(
                "PR #{}: {} needs an approval by {key}, and the host does not tell who {} is (approvals.codeOwners)",
                pull.number, path.path, team.name
            ));
            continue;
        }
        match unmet.iter_mut().find(|(k, _)| *k == key) {
            Some((_, paths)) => paths.push(&path.path),
            None => unmet.push((key, vec![&path.path])),
        }
    }
    for (owners, paths) in unmet {
        let more = paths.len().saturating_sub(PATHS_NAMED);
        let mut named = paths
            .iter()
            .take(PATHS_NAMED)
            .copied()
            .collect::<Vec<_>>()
            .join(", ");
        if more > 0 {
            let _ = write!(named, " and {more} more");
        }
        problems.push(format!(
            "PR #{}: {named} need an approval by a code owner ({owners}) (approvals.codeOwners)",
            pull.number
        ));
    }
    unknown.extend(unresolved);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::approval::change::{ChangeCommit, Identity, Owner, PathOwners};
    use serde_json::Value;

    const HEAD: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
    const OLD: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    fn review(login: &str, state: ReviewState, commit: &str) -> Review {
        Review {
            login: login.into(),
            name: None,
            state,
            at: "2026-01-01T00:00:00Z".into(),
            commit: Some(commit.into()),
        }
    }

    fn pull(reviews: Vec<Review>) -> Pull {
        Pull {
            number: 7,
            url: "https://github.com/o/r/pull/7".into(),
            author: "ann".into(),
            merged_at: "2026-01-02T00:00:00Z".into(),
            head: HEAD.into(),
            reviews,
            contributors: vec![Identity::login("ann"), Identity::login("cid")],
            pushers: vec![Identity::login("ann")],
            owners: None,
        }
    }

    fn change(pulls: Vec<Pull>, direct: &[&str]) -> Change {
        let mut commits: Vec<ChangeCommit> = pulls
            .iter()
            .map(|p| ChangeCommit {
                sha: format!("m{}", p.number),
                pull: Some(p.number),
            })
            .collect();
        commits.extend(direct.iter().map(|d| ChangeCommit {
            sha: (*d).into(),
            pull: None,
        }));
        Change {
            host: "github".into(),
            repository: "o/r".into(),
            branch: "main".into(),
            base: None,
            head: HEAD.into(),
            commits,
            pulls,
            rules_in_force: Value::Null,
        }
    }

    fn two() -> ApprovalsSpec {
        ApprovalsSpec::requiring(2)
    }

    #[test]
    fn two_approvals_on_the_merged_head_approve() {
        let j = judge(
            &two(),
            &change(
                vec![pull(vec![
                    review("bob", ReviewState::Approved, HEAD),
                    review("dee", ReviewState::Approved, HEAD),
                ])],
                &[],
            ),
        );
        assert_eq!(j.verdict, Verdict::Approved, "{}", j.reason);
        assert_eq!(j.reason, "PR #7 approved by bob, dee");
        let logins: Vec<&str> = j.pulls[0]
            .approvers
            .iter()
            .map(|a| a.login.as_str())
            .collect();
        assert_eq!(logins, ["bob", "dee"]);
    }

    #[test]
    fn a_contributor_a_stale_approval_and_a_dismissal_do_not_count() {
        let j = judge(
            &two(),
            &change(
                vec![pull(vec![
                    review("bob", ReviewState::Approved, HEAD),
                    review("cid", ReviewState::Approved, HEAD),
                    review("eve", ReviewState::Approved, OLD),
                    review("fay", ReviewState::Approved, HEAD),
                    review("fay", ReviewState::Dismissed, HEAD),
                ])],
                &[],
            ),
        );
        assert_eq!(j.verdict, Verdict::Unapproved);
        assert!(
            j.reason.starts_with(
                "PR #7 (https://github.com/o/r/pull/7): 1 of 2 required approvals (approvals.required)"
            ),
            "{}",
            j.reason
        );
        assert!(j.reason.contains("cid's approval does not count: authored or committed a commit of PR #7 (approvals.excludeContributors)"), "{}", j.reason);
        assert!(j.reason.contains("eve's approval does not count: approved aaaaaaa, an earlier head than the merged bbbbbbb (approvals.allowStaleApprovals is false)"), "{}", j.reason);
        assert!(
            j.reason
                .contains("fay's approval does not count: review dismissed on the host"),
            "{}",
            j.reason
        );
        let allowed = ApprovalsSpec {
            allow_stale_approvals: true,
            exclude_contributors: false,
            ..two()
        };
        let j = judge(
            &allowed,
            &change(
                vec![pull(vec![
                    review("cid", ReviewState::Approved, OLD),
                    review("eve", ReviewState::Approved, OLD),
                ])],
                &[],
            ),
        );
        assert_eq!(j.verdict, Verdict::Approved, "{}", j.reason);
    }

    #[test]
    fn a_comment_after_an_approval_keeps_it_and_a_change_request_withdraws_it() {
        let p = pull(vec![
            review("bob", ReviewState::Approved, HEAD),
            review("bob", ReviewState::Commented, HEAD),
            review("dee", ReviewState::Approved, HEAD),
            review("dee", ReviewState::ChangesRequested, HEAD),
        ]);
        let j = judge(&ApprovalsSpec::requiring(1), &change(vec![p.clone()], &[]));
        assert_eq!(j.verdict, Verdict::Approved);
        assert_eq!(j.pulls[0].approvers.len(), 1);
        assert_eq!(
            judge(&two(), &change(vec![p], &[])).verdict,
            Verdict::Unapproved
        );
    }

    #[test]
    fn the_author_never_counts_and_a_direct_push_is_unapproved() {
        let j = judge(
            &ApprovalsSpec {
                exclude_contributors: false,
                ..ApprovalsSpec::requiring(1)
            },
            &change(
                vec![pull(vec![review("ANN", ReviewState::Approved, HEAD)])],
                &[],
            ),
        );
        assert!(
            j.reason.contains(
                "ANN's approval does not count: author of PR #7 (approvals.excludeAuthor)"
            ),
            "{}",
            j.reason
        );
        let j = judge(&two(), &change(vec![], &["cccccccccccc"]));
        assert_eq!(j.verdict, Verdict::Unapproved);
        assert_eq!(j.direct_pushes, ["cccccccccccc"]);
        assert_eq!(
            j.reason,
            "commit ccccccc on main was pushed directly, without a merged pull request (approvals.required 2)"
        );
        let none = judge(
            &ApprovalsSpec::requiring(0),
            &change(vec![], &["cccccccccccc"]),
        );
        assert_eq!(none.verdict, Verdict::Approved, "{}", none.reason);
    }

    #[test]
    fn latest_push_needs_an_approval_of_the_head_by_someone_else() {
        let rules = ApprovalsSpec {
            latest_push: true,
            exclude_contributors: false,
            ..ApprovalsSpec::requiring(1)
        };
        let mut p = pull(vec![review("cid", ReviewState::Approved, HEAD)]);
        p.pushers = vec![Identity::login("cid")];
        let j = judge(&rules, &change(vec![p.clone()], &[]));
        assert_eq!(j.verdict, Verdict::Unapproved);
        assert!(j.reason.contains("pushed by cid) has no approval by someone else on that head (approvals.latestPush)"), "{}", j.reason);
        p.reviews.push(review("bob", ReviewState::Approved, HEAD));
        assert_eq!(
            judge(&rules, &change(vec![p], &[])).verdict,
            Verdict::Approved
        );
    }

    #[test]
    fn code_owners_must_approve_their_paths() {
        let rules = ApprovalsSpec {
            code_owners: true,
            ..ApprovalsSpec::requiring(1)
        };
        let owner = |name: &str, logins: Option<&[&str]>| Owner {
            name: name.into(),
            logins: logins.map(|l| l.iter().map(|s| (*s).to_owned()).collect()),
        };
        let mut p = pull(vec![review("bob", ReviewState::Approved, HEAD)]);
        p.owners = Some(vec![
            PathOwners {
                path: "apps/shop/a.yaml".into(),
                owners: vec![owner("@o/shop", Some(&["bob", "zed"]))],
            },
            PathOwners {
                path: "apps/pay/b.yaml".into(),
                owners: vec![owner("@zed", Some(&["zed"]))],
            },
            PathOwners {
                path: "README.md".into(),
                owners: vec![],
            },
        ]);
        let j = judge(&rules, &change(vec![p.clone()], &[]));
        assert_eq!(
            j.reason,
            "PR #7: apps/pay/b.yaml need an approval by a code owner (@zed) (approvals.codeOwners)"
        );
        p.owners.as_mut().unwrap()[1].owners = vec![owner("@o/pay", None)];
        let j = judge(&rules, &change(vec![p], &[]));
        assert_eq!(j.verdict, Verdict::Unverified);
        assert!(
            j.reason.contains("the host does not tell who @o/pay is"),
            "{}",
            j.reason
        );
    }
}
