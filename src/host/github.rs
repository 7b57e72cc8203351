//! GitHub's REST API (version [`super::GITHUB_API_VERSION`]): which requests tell the approvals of a
//! change, what of each answer the judgment reads (everything else is trimmed before it is kept),
//! and how the answers read as an [`approval::Change`].
//!
//! ```text
//! GET /repos/{r}                                   default branch (when the app tracks HEAD)
//! GET /repos/{r}/compare/{base}...{head}           first-parent commits, paged (per_page=100; without
//!                                                  paging GitHub returns only the *last* 250)
//!   or GET /repos/{r}/commits/{head}               a first sync: the head alone
//! GET /repos/{r}/commits/{sha}/pulls               per commit: the merged PR that introduced it (also
//!                                                  open PRs for commits off the default branch: kept
//!                                                  only if merged into the branch)
//! GET /repos/{r}/pulls/{n}                         merged head, author, base revision
//! GET /repos/{r}/pulls/{n}/reviews                 state, user, commit_id, submitted_at
//! GET /repos/{r}/pulls/{n}/commits                 contributors (rebased copies are not listed here)
//! GET /repos/{r}/pulls/{n}/files                   with codeOwners: the changed paths
//! GET /repos/{r}/contents/{CODEOWNERS}?ref={base}  with codeOwners: the owners at the base revision
//! GET /orgs/{o}/teams/{t}/members                  with codeOwners: a team's members (needs Members: read)
//! GET /repos/{r}/rules/branches/{branch}           the rulesets in force (evidence only)
//! ```
//!
//! A commit belongs to the merged pull request whose `merge_commit_sha` it is (a merge commit, a
//! squashed commit, or the last of a rebase), or, for the earlier commits of a rebase merge, to the
//! pull request that every first-parent commit from it up to that `merge_commit_sha` is associated
//! with. An open pull request's `merge_commit_sha` is a test merge on no branch: it never matches.

use super::{keep, keep_each, text, Gather, HostError, Paging, Req, Source, Target};
use crate::approval::codeowners::{CodeOwners, LOCATIONS};
use crate::approval::{
    Change, ChangeCommit, Identity, Owner, PathOwners, Pull, Review, ReviewState,
};
use base64::Engine as _;
use serde_json::Value;
use std::collections::BTreeMap;

fn trim_repository(v: &Value) -> Value {
    keep(v, &["full_name", "default_branch", "private"])
}

fn trim_compare(v: &Value) -> Value {
    keep(
        v,
        &[
            "status",
            "ahead_by",
            "behind_by",
            "total_commits",
            "commits[].sha",
            "commits[].parents[].sha",
        ],
    )
}

fn trim_commit(v: &Value) -> Value {
    keep(v, &["sha", "parents[].sha"])
}

fn trim_simple_pulls(v: &Value) -> Value {
    keep_each(
        v,
        &[
            "number",
            "state",
            "merged_at",
            "merge_commit_sha",
            "base.ref",
            "head.sha",
        ],
    )
}

fn trim_pull(v: &Value) -> Value {
    keep(
        v,
        &[
            "number",
            "html_url",
            "state",
            "user.login",
            "merged_at",
            "merge_commit_sha",
            "head.sha",
            "base.ref",
            "base.sha",
        ],
    )
}

fn trim_reviews(v: &Value) -> Value {
    keep_each(
        v,
        &["id", "user.login", "state", "submitted_at", "commit_id"],
    )
}

fn trim_pull_commits(v: &Value) -> Value {
    keep_each(
        v,
        &[
            "sha",
            "author.login",
            "committer.login",
            "commit.author.name",
            "commit.author.email",
            "commit.committer.name",
            "commit.committer.email",
        ],
    )
}

fn trim_files(v: &Value) -> Value {
    keep_each(v, &["filename", "previous_filename", "status"])
}

fn trim_content(v: &Value) -> Value {
    keep(v, &["path", "sha", "encoding", "content"])
}

fn trim_members(v: &Value) -> Value {
    keep_each(v, &["login"])
}

fn trim_rules(v: &Value) -> Value {
    if v.get("unreadable").is_some() {
        return keep(v, &["unreadable"]);
    }
    keep_each(
        v,
        &[
            "type",
            "parameters",
            "ruleset_id",
            "ruleset_source_type",
            "ruleset_source",
        ],
    )
}

/// The head alone, as the change.
async fn head_only<S: Source>(
    g: &mut Gather<'_, S>,
    path: String,
) -> Result<Vec<String>, HostError> {
    let c = g.get(Req::one(path.clone()), trim_commit).await?;
    let sha = text(&c, &["sha"]).ok_or_else(|| bad(&format!("GET {path}"), "sha"))?;
    Ok(vec![sha.to_owned()])
}

fn bad(request: &str, what: &str) -> HostError {
    HostError {
        request: request.to_owned(),
        message: format!("the answer has no {what}"),
        answered: true,
        status: None,
    }
}

/// Asks GitHub about `t`.
///
/// # Errors
///
/// A request failed or an answer lacks what the judgment needs.
pub async fn gather<S: Source>(g: &mut Gather<'_, S>, t: &Target) -> Result<Change, HostError> {
    let repo = &t.repository;
    let branch = if let Some(b) = t
        .branch
        .as_deref()
        .filter(|b| !b.is_empty() && *b != "HEAD")
    {
        b.to_owned()
    } else {
        {
            let r = g
                .get(Req::one(format!("/repos/{repo}")), trim_repository)
                .await?;
            text(&r, &["default_branch"])
                .ok_or_else(|| bad(&format!("GET /repos/{repo}"), "default_branch"))?
                .to_owned()
        }
    };
    let shas = first_parents(g, t).await?;
    let mut associated: Vec<Vec<Value>> = Vec::new();
    for sha in &shas {
        let list = g
            .get(
                Req::all(format!("/repos/{repo}/commits/{sha}/pulls?per_page=100")),
                trim_simple_pulls,
            )
            .await?;
        // Open pull requests (and those merged into another branch) introduced nothing here.
        let merged: Vec<Value> = list
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| {
                p.get("merged_at").is_some_and(|m| !m.is_null())
                    && text(p, &["base", "ref"]) == Some(branch.as_str())
            })
            .cloned()
            .collect();
        associated.push(merged);
    }
    let commits = introduced_by(&shas, &associated);
    let mut numbers: Vec<u64> = commits.iter().filter_map(|c| c.pull).collect();
    numbers.sort_unstable();
    numbers.dedup();
    let mut pulls = Vec::new();
    let mut teams: BTreeMap<String, Option<Vec<String>>> = BTreeMap::new();
    for n in numbers {
        pulls.push(pull(g, repo, n, t.code_owners, &mut teams).await?);
    }
    let rules_in_force = g
        .get_or_note(
            Req::all(format!(
                "/repos/{repo}/rules/branches/{}?per_page=100",
                encode_path(&branch)
            )),
            trim_rules,
        )
        .await;
    Ok(Change {
        host: "github".into(),
        repository: repo.clone(),
        branch,
        base: t.base.clone(),
        head: t.head.clone(),
        commits,
        pulls,
        rules_in_force,
    })
}

/// The first-parent commits after `base` up to `head`, oldest first; the head alone without a base,
/// when base and head are the same, or when the head is behind the base (a sync back to an older
/// revision judges that revision's own pull request).
async fn first_parents<S: Source>(
    g: &mut Gather<'_, S>,
    t: &Target,
) -> Result<Vec<String>, HostError> {
    let repo = &t.repository;
    let head_path = format!("/repos/{repo}/commits/{}", t.head);
    let Some(base) = t.base.as_deref().filter(|b| *b != t.head) else {
        return head_only(g, head_path).await;
    };
    let path = format!("/repos/{repo}/compare/{base}...{}?per_page=100", t.head);
    let request = format!("GET {path}");
    let cmp = g
        .get(
            Req {
                path,
                paging: Paging::Member("commits"),
            },
            trim_compare,
        )
        .await?;
    let total = cmp
        .get("total_commits")
        .and_then(Value::as_u64)
        .ok_or_else(|| bad(&request, "total_commits"))?;
    if usize::try_from(total).unwrap_or(usize::MAX) > t.max_commits {
        return Err(HostError {
            request,
            message: format!(
                "the change has {total} commits, more than the {} judged at once (sluice serve --approvals-max-commits); none was judged",
                t.max_commits
            ),
            answered: true,
            status: None,
        });
    }
    if matches!(text(&cmp, &["status"]), Some("behind" | "identical")) {
        return head_only(g, head_path).await;
    }
    let listed = cmp
        .get("commits")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if listed.len() as u64 != total {
        return Err(bad(
            &request,
            &format!(
                "list of all {total} commits (it has {}): not judged on part of a change",
                listed.len()
            ),
        ));
    }
    let parents: BTreeMap<&str, Option<&str>> = listed
        .iter()
        .filter_map(|c| {
            let sha = text(c, &["sha"])?;
            let first = c.get("parents")?.get(0).and_then(|p| text(p, &["sha"]));
            Some((sha, first))
        })
        .collect();
    let mut out = Vec::new();
    let mut at = Some(t.head.as_str());
    while let Some(sha) = at {
        if sha == base || out.len() > listed.len() {
            break;
        }
        let Some(parent) = parents.get(sha) else {
            break;
        };
        out.push(sha.to_owned());
        at = *parent;
    }
    if out.is_empty() {
        return head_only(g, head_path).await;
    }
    out.reverse();
    Ok(out)
}

/// Which merged pull request introduced each commit.
fn introduced_by(shas: &[String], associated: &[Vec<Value>]) -> Vec<ChangeCommit> {
    let number = |p: &Value| p.get("number").and_then(Value::as_u64);
    let lists = |k: usize, n: u64| associated[k].iter().any(|p| number(p) == Some(n));
    shas.iter()
        .enumerate()
        .map(|(i, sha)| {
            let direct = associated[i]
                .iter()
                .find(|p| text(p, &["merge_commit_sha"]) == Some(sha.as_str()))
                .and_then(number);
            let rebased = || {
                associated[i].iter().find_map(|p| {
                    let n = number(p)?;
                    let merged = text(p, &["merge_commit_sha"])?;
                    let j = shas.iter().position(|s| s == merged)?;
                    (j > i && (i..=j).all(|k| lists(k, n))).then_some(n)
                })
            };
            ChangeCommit {
                sha: sha.clone(),
                pull: direct.or_else(rebased),
            }
        })
        .collect()
}

fn identity(c: &Value, who: &str) -> Identity {
    Identity {
        login: text(c, &[who, "login"]).map(str::to_owned),
        name: text(c, &["commit", who, "name"]).map(str::to_owned),
        email: text(c, &["commit", who, "email"]).map(str::to_owned),
    }
}

#[allow(clippy::many_single_char_names)] // g, n, p, a, b: the gather, the number, the pull, two identities
async fn pull<S: Source>(
    g: &mut Gather<'_, S>,
    repo: &str,
    n: u64,
    code_owners: bool,
    teams: &mut BTreeMap<String, Option<Vec<String>>>,
) -> Result<Pull, HostError> {
    let path = format!("/repos/{repo}/pulls/{n}");
    let request = format!("GET {path}");
    let p = g.get(Req::one(path.clone()), trim_pull).await?;
    let head = text(&p, &["head", "sha"])
        .ok_or_else(|| bad(&request, "head.sha"))?
        .to_owned();
    let reviews = g
        .get(
            Req::all(format!("{path}/reviews?per_page=100")),
            trim_reviews,
        )
        .await?;
    let commits = g
        .get(
            Req::all(format!("{path}/commits?per_page=100")),
            trim_pull_commits,
        )
        .await?;
    let commits = commits.as_array().cloned().unwrap_or_default();
    let mut contributors: Vec<Identity> = Vec::new();
    for c in &commits {
        for who in ["author", "committer"] {
            let id = identity(c, who);
            if !contributors.contains(&id) {
                contributors.push(id);
            }
        }
    }
    let pushers = commits
        .iter()
        .find(|c| text(c, &["sha"]) == Some(head.as_str()))
        .map(|c| {
            let (a, b) = (identity(c, "author"), identity(c, "committer"));
            if a == b {
                vec![a]
            } else {
                vec![a, b]
            }
        })
        .unwrap_or_default();
    let owners = if code_owners {
        let base = text(&p, &["base", "sha"])
            .ok_or_else(|| bad(&request, "base.sha"))?
            .to_owned();
        Some(owners(g, repo, n, &base, teams).await?)
    } else {
        None
    };
    Ok(Pull {
        number: n,
        url: text(&p, &["html_url"]).unwrap_or_default().to_owned(),
        author: text(&p, &["user", "login"]).unwrap_or_default().to_owned(),
        merged_at: text(&p, &["merged_at"]).unwrap_or_default().to_owned(),
        head,
        reviews: reviews
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| {
                Some(Review {
                    login: text(r, &["user", "login"])?.to_owned(),
                    name: None,
                    state: ReviewState::from_github(text(r, &["state"]).unwrap_or("")),
                    at: text(r, &["submitted_at"]).unwrap_or_default().to_owned(),
                    commit: text(r, &["commit_id"]).map(str::to_owned),
                })
            })
            .collect(),
        contributors,
        pushers,
        owners,
    })
}

/// The owners of each path the pull request changes, from CODEOWNERS at its base revision. Without a
/// CODEOWNERS file no path has owners (as on GitHub).
async fn owners<S: Source>(
    g: &mut Gather<'_, S>,
    repo: &str,
    n: u64,
    base: &str,
    teams: &mut BTreeMap<String, Option<Vec<String>>>,
) -> Result<Vec<PathOwners>, HostError> {
    let files = g
        .get(
            Req::all(format!("/repos/{repo}/pulls/{n}/files?per_page=100")),
            trim_files,
        )
        .await?;
    let mut file = None;
    for location in LOCATIONS {
        let req = Req::one(format!("/repos/{repo}/contents/{location}?ref={base}"));
        if let Some(found) = g.get_optional(req, trim_content, &[404]).await? {
            file = Some(found);
            break;
        }
    }
    let Some(file) = file else {
        return Ok(Vec::new());
    };
    let raw: String = text(&file, &["content"])
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(raw)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            bad(
                &format!("GET /repos/{repo}/contents/CODEOWNERS"),
                "base64 UTF-8 content",
            )
        })?;
    let codeowners = CodeOwners::parse(&decoded);
    let mut paths: Vec<String> = Vec::new();
    for f in files.as_array().into_iter().flatten() {
        for key in ["filename", "previous_filename"] {
            if let Some(path) = text(f, &[key]) {
                if !paths.iter().any(|p| p == path) {
                    paths.push(path.to_owned());
                }
            }
        }
    }
    let mut out = Vec::new();
    for path in paths {
        let mut owners = Vec::new();
        for name in codeowners.owners_of(&path) {
            owners.push(Owner {
                name: name.clone(),
                logins: resolve(g, name, teams).await?,
            });
        }
        out.push(PathOwners { path, owners });
    }
    Ok(out)
}

/// The logins that count as a CODEOWNERS owner: `@login` itself, a team's members (`None` when the
/// credentials cannot read them), `None` for an e-mail address (GitHub maps it to an account sluice
/// cannot see).
async fn resolve<S: Source>(
    g: &mut Gather<'_, S>,
    owner: &str,
    teams: &mut BTreeMap<String, Option<Vec<String>>>,
) -> Result<Option<Vec<String>>, HostError> {
    let Some(name) = owner.strip_prefix('@') else {
        return Ok(None);
    };
    let Some((org, team)) = name.split_once('/') else {
        return Ok(Some(vec![name.to_owned()]));
    };
    if let Some(known) = teams.get(name) {
        return Ok(known.clone());
    }
    let req = Req::all(format!("/orgs/{org}/teams/{team}/members?per_page=100"));
    let members = g
        .get_optional(req, trim_members, &[403, 404])
        .await?
        .map(|list| {
            list.as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| text(m, &["login"]).map(str::to_owned))
                .collect::<Vec<_>>()
        });
    teams.insert(name.to_owned(), members.clone());
    Ok(members)
}

/// A branch name as a path segment (`/` is kept: GitHub's routes take `release/1.2` as it is).
fn encode_path(branch: &str) -> String {
    percent_encoding::utf8_percent_encode(branch, &SEGMENT).to_string()
}

const SEGMENT: percent_encoding::AsciiSet = percent_encoding::NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.');

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample_reviews() -> Value {
        json!([{"id": 1, "user": {"login": "bob", "avatar_url": "u"}, "state": "APPROVED", "submitted_at": "t", "commit_id": "c", "body": "LGTM"}])
    }

    #[test]
    fn trimming_keeps_only_what_is_judged() {
        assert_eq!(
            trim_reviews(&sample_reviews()),
            json!([{"id": 1, "user": {"login": "bob"}, "state": "APPROVED", "submitted_at": "t", "commit_id": "c"}])
        );
    }

    fn assoc(n: u64, merge: &str) -> Value {
        json!({"number": n, "merged_at": "t", "merge_commit_sha": merge, "base": {"ref": "main"}})
    }

    #[test]
    fn commits_map_to_merge_squash_and_rebase_pulls_and_direct_pushes() {
        let shas: Vec<String> = ["m1", "r1", "r2", "r3", "d1", "s1"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let associated = vec![
            vec![assoc(1, "m1")],
            vec![assoc(2, "r3")],
            vec![assoc(2, "r3")],
            vec![assoc(2, "r3")],
            vec![],
            vec![assoc(3, "s1"), assoc(9, "elsewhere")],
        ];
        let got: Vec<Option<u64>> = introduced_by(&shas, &associated)
            .iter()
            .map(|c| c.pull)
            .collect();
        assert_eq!(got, [Some(1), Some(2), Some(2), Some(2), None, Some(3)]);
        // A pull request that lists a commit but merged it elsewhere did not introduce it.
        let got = introduced_by(&shas[..1], &[vec![assoc(4, "zz")]]);
        assert_eq!(got[0].pull, None);
    }

    #[test]
    fn branch_names_stay_readable_in_paths() {
        assert_eq!(encode_path("release/1.2"), "release/1.2");
        assert_eq!(encode_path("feat#1"), "feat%231");
    }
}
