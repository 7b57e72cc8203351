//! The Git hosts (docs/approvals.md): which host serves a repository URL, the credentials the sink holds
//! for it, a REST client with timeouts, rate limits and paging (`client`), and per host the requests
//! that tell the approvals of a change and how their answers read as an [`approval::Change`]
//! (`github`, `gitlab`).
//!
//! ```text
//! Target (repository, branch, base, head) → gather: requests through a Source → each answer trimmed
//!   to what the judgment reads → Change (+ the trimmed answers: a Snapshot, stored by its digest)
//! Source = the live client (HttpSource) | a stored snapshot (Replay): the same gather code runs over
//!   both, so a snapshot re-judges to the verdict it was taken for
//! ```
//!
//! No secret is ever logged, printed or written: tokens and keys live in [`secret::Secret`], whose
//! `Debug` and `Display` show nothing, and go into request headers only. Credentials are read from
//! files (a Kubernetes Secret mounted in the sink) each time a token is made, so a rotated Secret is
//! picked up. Scopes are read-only; [`secret::Permissions`] names them per request of an
//! installation token, so a later writer (revert pull requests) asks for its own.

pub mod client;
pub mod github;
pub mod gitlab;
pub mod revert;
pub mod secret;
pub mod snapshot;

// The requests, sources, exchanges and trimming are shared with the ticket systems (src/remote).
pub use crate::remote::RemoteError as HostError;
pub use crate::remote::{keep, keep_each, text, Exchange, Gather, Paging, Req, Source};

use crate::approval::Change;

/// Which API a repository is served by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    GitHub,
    GitLab,
}

impl Kind {
    /// As records name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::GitHub => "github",
            Kind::GitLab => "gitlab",
        }
    }

    /// The inverse of [`Kind::as_str`].
    pub fn parse(text: &str) -> Option<Kind> {
        match text {
            "github" => Some(Kind::GitHub),
            "gitlab" => Some(Kind::GitLab),
            _ => None,
        }
    }
}

/// The REST API version sluice reads, sent as `X-GitHub-Api-Version` (newer versions change the
/// pull-request object; the emulated responses of the tests are checked against this version's
/// description).
pub const GITHUB_API_VERSION: &str = "2022-11-28";

/// What to ask a host about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub kind: Kind,
    /// `owner/repo`, or the GitLab project path.
    pub repository: String,
    /// The branch pull requests must be merged into; `None`: the repository's default branch.
    pub branch: Option<String>,
    /// The revision synced before; `None`: only the head's own pull request is judged.
    pub base: Option<String>,
    /// The revision judged.
    pub head: String,
    /// More first-parent commits than this are not judged (the verdict says so, nothing is cut).
    pub max_commits: usize,
    /// Read CODEOWNERS (GitHub) or the code-owner rules (GitLab).
    pub code_owners: bool,
}

/// Where writes go: the host (revert pull requests, `revert`). Reads go through [`Source`].
pub trait Write: Source {
    /// `method path` with a JSON body; the answer's JSON (`null` for an empty answer).
    fn send(
        &self,
        method: &'static str,
        path: &str,
        body: &serde_json::Value,
    ) -> impl std::future::Future<Output = Result<serde_json::Value, HostError>> + Send;
}
/// Asks the host about `target` through `source`: the change and the trimmed exchanges (also when it
/// failed part way: they are evidence of what was seen).
pub async fn gather<S: Source>(
    source: &S,
    target: &Target,
) -> (Result<Change, HostError>, Vec<Exchange>) {
    let mut g = Gather::new(source);
    let change = match target.kind {
        Kind::GitHub => github::gather(&mut g, target).await,
        Kind::GitLab => gitlab::gather(&mut g, target).await,
    };
    (change, g.exchanges)
}

/// A repository URL as Argo CD holds it (`https://host/owner/repo(.git)`, `git@host:owner/repo.git`,
/// `ssh://git@host[:port]/owner/repo`): its host (with a port when given, for https) and its path.
pub fn split_repo_url(url: &str) -> Option<(String, String)> {
    let url = url.trim();
    let (host, path) = if let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    {
        let (authority, path) = rest.split_once('/')?;
        let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        (authority.to_owned(), path)
    } else if let Some(rest) = url.strip_prefix("ssh://") {
        let (authority, path) = rest.split_once('/')?;
        let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let host = authority.split(':').next().unwrap_or(authority);
        (host.to_owned(), path)
    } else {
        let (user_host, path) = url.split_once(':')?;
        let host = user_host.rsplit_once('@').map_or(user_host, |(_, h)| h);
        (host.to_owned(), path)
    };
    let path = path.trim_end_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path).trim_matches('/');
    (!host.is_empty() && path.contains('/')).then(|| (host.to_ascii_lowercase(), path.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_urls_as_argo_cd_holds_them() {
        for (url, host, path) in [
            ("https://github.com/o/r.git", "github.com", "o/r"),
            ("https://github.com/o/r", "github.com", "o/r"),
            (
                "https://user@GitLab.example.com/g/sub/p.git/",
                "gitlab.example.com",
                "g/sub/p",
            ),
            ("git@github.com:o/r.git", "github.com", "o/r"),
            ("ssh://git@gitlab.com:22/g/p.git", "gitlab.com", "g/p"),
            ("http://127.0.0.1:4000/o/r.git", "127.0.0.1:4000", "o/r"),
        ] {
            assert_eq!(
                split_repo_url(url),
                Some((host.into(), path.into())),
                "{url}"
            );
        }
        assert_eq!(split_repo_url("https://github.com/o"), None);
        assert_eq!(split_repo_url("not a url"), None);
    }
}
