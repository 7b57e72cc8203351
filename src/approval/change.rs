//! The facts a Git host gives about a change, in terms that mean the same on GitHub and GitLab. The host
//! modules (src/host) fill these from the API responses; [`super::judge`] reads nothing else.

use serde::Serialize;
use serde_json::Value;

/// A change: the first-parent commits of `branch` after `base` up to `head`, and the merged pull
/// requests that introduced them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// `github` or `gitlab`.
    pub host: String,
    /// `owner/repo` (GitHub) or the project path (GitLab).
    pub repository: String,
    /// The branch the pull requests must have been merged into.
    pub branch: String,
    /// The revision synced before (the range starts after it); `None` for a first sync.
    pub base: Option<String>,
    /// The revision judged: the one synced, or with Argo CD's Source Hydrator its `drySha`.
    pub head: String,
    /// First-parent commits, oldest first, each with the pull request that introduced it.
    pub commits: Vec<ChangeCommit>,
    /// The merged pull requests of those commits, by number.
    pub pulls: Vec<Pull>,
    /// The host's own branch rules as read at judging time (kept as evidence, not judged: the host's
    /// rules can change later, and `reviewDecision` would show today's).
    pub rules_in_force: Value,
}

/// One first-parent commit of a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChangeCommit {
    pub sha: String,
    /// The merged pull request that brought it into the branch; `None`: a direct push.
    pub pull: Option<u64>,
}

/// A merged pull (GitHub) or merge (GitLab) request.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pull {
    pub number: u64,
    pub url: String,
    /// Who opened it (login or username).
    pub author: String,
    pub merged_at: String,
    /// The head that was merged.
    pub head: String,
    /// Reviews in the order the host gives them (oldest first).
    pub reviews: Vec<Review>,
    /// Everyone who authored or committed one of its commits.
    pub contributors: Vec<Identity>,
    /// Who pushed the merged head, as far as the host tells (its commit's author and committer).
    pub pushers: Vec<Identity>,
    /// The owners of each changed path (CODEOWNERS at the base revision); `None` when the rules do
    /// not ask for code owners.
    pub owners: Option<Vec<PathOwners>>,
}

/// A review or approval.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Review {
    pub login: String,
    /// Display name, when the host gives one (GitLab).
    pub name: Option<String>,
    pub state: ReviewState,
    /// When it was given (RFC 3339).
    pub at: String,
    /// The head it was given on; `None` when the host cannot tell.
    pub commit: Option<String>,
}

/// What a review says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReviewState {
    Approved,
    ChangesRequested,
    Commented,
    /// An approval or change request withdrawn by a maintainer (GitHub keeps the review, its state
    /// becomes DISMISSED and the original state is gone).
    Dismissed,
    Pending,
}

impl ReviewState {
    /// GitHub's review states; anything else reads as a comment (it neither approves nor withdraws).
    pub fn from_github(state: &str) -> ReviewState {
        match state {
            "APPROVED" => ReviewState::Approved,
            "CHANGES_REQUESTED" => ReviewState::ChangesRequested,
            "DISMISSED" => ReviewState::Dismissed,
            "PENDING" => ReviewState::Pending,
            _ => ReviewState::Commented,
        }
    }
}

/// A person as a commit or the host names them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Identity {
    pub login: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
}

impl Identity {
    /// Someone known by login only.
    #[cfg(test)]
    pub fn login(login: &str) -> Identity {
        Identity {
            login: Some(login.to_owned()),
            ..Identity::default()
        }
    }

    /// Whether a reviewer (`login`, and the display `name` when the host gives one) is this person:
    /// the same login; the same display name; or an e-mail address whose local part is the login
    /// (GitHub's `ID+login@users.noreply.github.com` included). Case-insensitive.
    pub fn is(&self, login: &str, name: Option<&str>) -> bool {
        let eq = |a: &str, b: &str| !a.is_empty() && a.eq_ignore_ascii_case(b);
        if self.login.as_deref().is_some_and(|l| eq(l, login)) {
            return true;
        }
        if let (Some(mine), Some(theirs)) = (self.name.as_deref(), name) {
            if eq(mine.trim(), theirs.trim()) {
                return true;
            }
        }
        self.email
            .as_deref()
            .and_then(|e| e.split_once('@'))
            .map(|(local, _)| local.rsplit_once('+').map_or(local, |(_, l)| l))
            .is_some_and(|local| eq(local, login))
    }

    /// How the person is shown: the login, else the name, else the address.
    pub fn label(&self) -> &str {
        self.login
            .as_deref()
            .or(self.name.as_deref())
            .or(self.email.as_deref())
            .unwrap_or("someone")
    }
}

/// The owners of one changed path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PathOwners {
    pub path: String,
    pub owners: Vec<Owner>,
}

/// One owner of a CODEOWNERS line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Owner {
    /// As written: `@login`, `@org/team` or an e-mail address.
    pub name: String,
    /// The logins that count as this owner (the user; a team's members); `None` when the host could
    /// not tell (a team whose members cannot be read, an e-mail address).
    pub logins: Option<Vec<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_identity_matches_by_login_name_or_address() {
        let commit = Identity {
            login: None,
            name: Some("Ann Lee".into()),
            email: Some("12345+ann@users.noreply.github.com".into()),
        };
        assert!(commit.is("ANN", None));
        assert!(commit.is("someone", Some(" ann lee ")));
        assert!(!commit.is("bob", Some("Bob")));
        assert!(Identity::login("bob").is("Bob", None));
        assert!(!Identity::default().is("", Some("")));
        assert_eq!(commit.label(), "Ann Lee");
    }

    #[test]
    fn github_review_states() {
        assert_eq!(ReviewState::from_github("APPROVED"), ReviewState::Approved);
        assert_eq!(
            ReviewState::from_github("DISMISSED"),
            ReviewState::Dismissed
        );
        assert_eq!(
            ReviewState::from_github("COMMENTED"),
            ReviewState::Commented
        );
        assert_eq!(ReviewState::from_github("whatever"), ReviewState::Commented);
    }
}
