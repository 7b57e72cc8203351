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

use crate::approval::Change;
use serde_json::Value;
use std::future::Future;

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

/// One request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Req {
    /// Path and query under the API's base URL, e.g. `/repos/o/r/pulls/7/reviews?per_page=100`.
    pub path: String,
    pub paging: Paging,
}

/// How the answer is paged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Paging {
    /// One answer.
    None,
    /// An array, continued through `Link: <…>; rel="next"`.
    Array,
    /// An object whose member (`commits`) is an array continued through `Link` pages.
    Member(&'static str),
}

impl Req {
    pub fn one(path: String) -> Req {
        Req {
            path,
            paging: Paging::None,
        }
    }

    pub fn all(path: String) -> Req {
        Req {
            path,
            paging: Paging::Array,
        }
    }

    /// The key of the request in a snapshot: `GET path`.
    pub fn key(&self) -> String {
        format!("GET {}", self.path)
    }
}

/// Why a host did not answer as needed. Never holds a credential: messages are written from status
/// codes and the host's own error text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{request}: {message}")]
pub struct HostError {
    /// `GET path` (or what was being done).
    pub request: String,
    pub message: String,
    /// The host said so itself (an HTTP answer), rather than not answering.
    pub answered: bool,
    /// The status, when there was an answer.
    pub status: Option<u16>,
}

impl HostError {
    pub fn new(request: &str, message: impl Into<String>) -> HostError {
        HostError {
            request: request.to_owned(),
            message: message.into(),
            answered: false,
            status: None,
        }
    }
}

/// Where answers come from: the host, or a snapshot.
pub trait Source: Sync {
    /// The answer to `req` (all pages of it, joined), as the host sent it.
    fn fetch(&self, req: &Req) -> impl Future<Output = Result<Value, HostError>> + Send;
}

/// Where writes go: the host (revert pull requests, `revert`). Reads go through [`Source`].
pub trait Write: Source {
    /// `method path` with a JSON body; the answer's JSON (`null` for an empty answer).
    fn send(
        &self,
        method: &'static str,
        path: &str,
        body: &Value,
    ) -> impl Future<Output = Result<Value, HostError>> + Send;
}

/// One request of a gather and its trimmed answer.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Exchange {
    /// `GET path`.
    pub request: String,
    /// The answer, trimmed to the members the judgment reads; `null` for a 404 the gather expects
    /// (a CODEOWNERS location that does not exist).
    pub body: Value,
}

/// A gather in progress: the source and the exchanges so far.
pub struct Gather<'a, S: Source> {
    pub source: &'a S,
    pub exchanges: Vec<Exchange>,
}

impl<'a, S: Source> Gather<'a, S> {
    pub fn new(source: &'a S) -> Self {
        Gather {
            source,
            exchanges: Vec::new(),
        }
    }

    /// Fetches `req`, trims the answer with `trim`, keeps it, and gives it back.
    ///
    /// # Errors
    ///
    /// What the source says.
    pub async fn get(&mut self, req: Req, trim: fn(&Value) -> Value) -> Result<Value, HostError> {
        let raw = self.source.fetch(&req).await?;
        let body = trim(&raw);
        self.exchanges.push(Exchange {
            request: req.key(),
            body: body.clone(),
        });
        Ok(body)
    }

    /// As [`Gather::get`], but an answer with one of `absent` (404 for a file that may not exist, 403
    /// for members the credentials may not read) is kept as `null` and given as `None`.
    ///
    /// # Errors
    ///
    /// What the source says, but for the statuses in `absent`.
    pub async fn get_optional(
        &mut self,
        req: Req,
        trim: fn(&Value) -> Value,
        absent: &[u16],
    ) -> Result<Option<Value>, HostError> {
        match self.source.fetch(&req).await {
            Ok(raw) => {
                let body = trim(&raw);
                self.exchanges.push(Exchange {
                    request: req.key(),
                    body: body.clone(),
                });
                Ok(Some(body))
            }
            Err(e) if e.status.is_some_and(|s| absent.contains(&s)) => {
                self.exchanges.push(Exchange {
                    request: req.key(),
                    body: Value::Null,
                });
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// As [`Gather::get`], but a failure is kept as `{"unreadable": why}` and given as that value:
    /// for what is evidence only (the host's branch rules), never a reason to stop.
    pub async fn get_or_note(&mut self, req: Req, trim: fn(&Value) -> Value) -> Value {
        match self.get(req.clone(), trim).await {
            Ok(v) => v,
            Err(e) => {
                let note = serde_json::json!({ "unreadable": e.message });
                self.exchanges.push(Exchange {
                    request: req.key(),
                    body: note.clone(),
                });
                note
            }
        }
    }
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

/// Keeps only `members` of an object (dotted paths reach into nested objects; `a[].b` into every
/// element of the array `a`). Anything not asked for is dropped: the snapshot holds what the
/// judgment read and nothing else (no e-mail addresses it does not use, no tokens, no URLs of avatars).
pub fn keep(value: &Value, members: &[&str]) -> Value {
    let Value::Object(map) = value else {
        return Value::Null;
    };
    let mut out = serde_json::Map::new();
    for member in members {
        let (head, rest) = match member.split_once('.') {
            Some((h, r)) => (h, Some(r)),
            None => (*member, None),
        };
        let (name, each) = match head.strip_suffix("[]") {
            Some(n) => (n, true),
            None => (head, false),
        };
        let Some(v) = map.get(name) else {
            continue;
        };
        let kept = match (rest, each, v) {
            (None, _, v) => v.clone(),
            (Some(rest), true, Value::Array(items)) => Value::Array(
                items
                    .iter()
                    .map(|i| merge_into(&Value::Null, &keep(i, &[rest])))
                    .collect(),
            ),
            (Some(rest), false, v @ Value::Object(_)) => keep(v, &[rest]),
            (Some(_), _, Value::Null) => Value::Null,
            (Some(_), _, _) => continue,
        };
        let merged = merge_into(out.get(name).unwrap_or(&Value::Null), &kept);
        out.insert(name.to_owned(), merged);
    }
    Value::Object(out)
}

/// `b` merged into `a` (objects member by member, arrays element by element, else `b`).
fn merge_into(a: &Value, b: &Value) -> Value {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let mut out = x.clone();
            for (k, v) in y {
                let merged = merge_into(x.get(k).unwrap_or(&Value::Null), v);
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            Value::Array(x.iter().zip(y).map(|(a, b)| merge_into(a, b)).collect())
        }
        (_, b) => b.clone(),
    }
}

/// `keep` over every element of an array (anything else reads as an empty array).
pub fn keep_each(value: &Value, members: &[&str]) -> Value {
    Value::Array(
        value
            .as_array()
            .map(|items| items.iter().map(|i| keep(i, members)).collect())
            .unwrap_or_default(),
    )
}

/// A string member, `None` when absent or of another type.
pub fn text<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter()
        .try_fold(v, |v, k| v.as_object()?.get(*k))?
        .as_str()
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
    use serde_json::json;

    #[test]
    fn keep_takes_only_the_members_asked_for() {
        let v = json!({"number": 7, "user": {"login": "ann", "avatar_url": "x"}, "secret": "no",
            "commits": [{"sha": "a", "parents": [{"sha": "p", "url": "u"}], "x": 1}],
            "base": null});
        let kept = keep(
            &v,
            &[
                "number",
                "user.login",
                "commits[].sha",
                "commits[].parents",
                "base.ref",
                "gone",
            ],
        );
        assert_eq!(
            kept,
            json!({"number": 7, "user": {"login": "ann"}, "commits": [{"sha": "a", "parents": [{"sha": "p", "url": "u"}]}], "base": null})
        );
        let deeper = keep(&v, &["commits[].parents[].sha"]);
        assert_eq!(deeper, json!({"commits": [{"parents": [{"sha": "p"}]}]}));
        assert_eq!(
            keep_each(&json!([{"a": 1, "b": 2}]), &["a"]),
            json!([{"a": 1}])
        );
        assert_eq!(keep_each(&json!({"a": 1}), &["a"]), json!([]));
    }

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
