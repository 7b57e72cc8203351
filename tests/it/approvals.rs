//! Approvals verified at the Git host (docs/approvals.md), end to end: the real `sluice guard` asks a
//! real `sluice serve`, which asks an emulated GitHub or GitLab (tests/it/host: real HTTP on
//! 127.0.0.1, every response checked against the hosts' published API descriptions), judges, stores
//! the snapshot and records the decision; Argo CD's webhook then records the sync. GitHub and GitLab
//! cannot run here; the emulators reproduce their documented behaviour and quirks.

use crate::host::github::{self, Commit, GitHub, Person, Pull, Repo, Review};
use crate::host::gitlab::{self, GitLab, Mr, Note, Project, Version};
use crate::host::{sha, Served};
use crate::support::{self, Sink};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Output;

const TOKEN: &str = "sink-write-token-4417";
const GH_TOKEN: &str = "ghp_emulatedPersonalToken0000000000000001";
const GL_TOKEN: &str = "glpat-emulatedGitLabToken000001";
const REPO: &str = "acme/deploy";

/// Writes a secret file beside the data directory and gives its path.
fn secret(dir: &Path, name: &str, content: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path.display().to_string()
}

/// A sink that asks `gh` (and `gl`) with the given extra arguments.
fn sink(tmp: &Path, gh: Option<&GitHub>, gl: Option<&GitLab>, extra: &[&str]) -> Sink {
    let data = tmp.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let mut args: Vec<String> = Vec::new();
    if let Some(gh) = gh {
        args.extend(["--github-api-url".into(), gh.url.clone(), "--github-token-file".into(), secret(tmp, "gh-token", &format!("{GH_TOKEN}\n"))]);
    }
    if let Some(gl) = gl {
        args.extend(["--gitlab-url".into(), gl.url.clone(), "--gitlab-token-file".into(), secret(tmp, "gl-token", GL_TOKEN)]);
    }
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Sink::start_with(&data, Some(TOKEN), &args, None)
}

/// What the guard Job would get, for `revision` of `repo_url`.
struct Guard<'a> {
    sink: &'a Sink,
    repo_url: String,
    target: &'a str,
    commit: String,
    approvals: Value,
    dry_sha: &'a str,
    project: &'a str,
}

impl Guard<'_> {
    /// Runs `sluice guard` as the PreSync Job does.
    fn run(&self) -> Output {
        let policy = json!({"windows": [], "freezes": [], "guard": {"enabled": true}, "approvals": self.approvals});
        let sink_url = format!("http://{}", self.sink.addr);
        let short = &self.commit[..7];
        support::sluice_in(
            Path::new("."),
            &["guard"],
            &[
                ("SLUICE_GUARD_POLICY", &policy.to_string()),
                ("SLUICE_APP", "shop"),
                ("SLUICE_NAMESPACE", "production"),
                ("SLUICE_CHANGE_ID", "CHG-1"),
                ("SLUICE_REVISION", short),
                ("SLUICE_COMMIT", &self.commit),
                ("SLUICE_REPO_URL", &self.repo_url),
                ("SLUICE_TARGET_REVISION", self.target),
                ("SLUICE_PROJECT", self.project),
                ("SLUICE_DRY_SHA", self.dry_sha),
                ("SLUICE_SINK_URL", &sink_url),
                ("SLUICE_REPORT_TOKEN", TOKEN),
            ],
        )
    }
}

fn guard<'a>(sink: &'a Sink, repo_url: &str, commit: &str, approvals: Value) -> Guard<'a> {
    Guard {
        sink,
        repo_url: repo_url.to_owned(),
        target: "main",
        commit: commit.to_owned(),
        approvals,
        dry_sha: "",
        project: "default",
    }
}

/// The webhook's body for a finished sync of `shop` at `revision`; `selective` makes it a selective
/// sync (which runs no hooks).
fn sync_body(repo_url: &str, revision: &str, started: &str, selective: bool, message: &str) -> String {
    let mut operation = json!({"initiatedBy": {"automated": true}, "sync": {"revision": revision}});
    let mut resources = vec![json!({"group": "batch", "version": "v1", "kind": "Job", "namespace": "production",
        "name": "shop-sluice-guard", "hookType": "PreSync", "hookPhase": "Succeeded", "syncPhase": "PreSync"})];
    if selective {
        operation["sync"]["resources"] = json!([{"group": "apps", "kind": "Deployment", "name": "web"}]);
        resources.clear();
    }
    resources.push(json!({"group": "apps", "version": "v1", "kind": "Deployment", "namespace": "production", "name": "web", "status": "Synced", "syncPhase": "Sync"}));
    json!({
        "event": "sync-succeeded",
        "app": {
            "metadata": {"name": "shop", "namespace": "argocd", "uid": "uid-shop"},
            "spec": {"project": "default", "destination": {"server": "https://kubernetes.default.svc", "namespace": "production"},
                     "source": {"repoURL": repo_url, "targetRevision": "main", "path": "shop", "plugin": {"name": "sluice"}}},
            "status": {"sync": {"status": "Synced", "revision": revision}, "health": {"status": "Healthy"},
                "operationState": {"phase": "Succeeded", "message": "successfully synced", "startedAt": started, "finishedAt": started,
                    "operation": operation, "syncResult": {"revision": revision, "resources": resources}}}
        },
        "commit": {"Message": message, "Author": "Ann <ann@example.com>", "Date": started, "Tags": []}
    })
    .to_string()
}

fn post_sync(sink: &Sink, body: &str) -> Value {
    let r = sink.http("POST", "/v1/events", &[("Authorization", &format!("Bearer {TOKEN}")), ("Content-Type", "application/json")], body.as_bytes());
    assert!(r.status == 201 || r.status == 200, "{} {}", r.status, r.body);
    r.json()
}

/// The record with `seq`.
fn record(sink: &Sink, seq: u64) -> Value {
    sink.log_lines()
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|r| r["seq"] == seq)
        .unwrap_or_else(|| panic!("no record {seq}"))
}

/// The last guard decision of the log.
fn last_decision(sink: &Sink) -> Value {
    sink.log_lines()
        .iter()
        .rev()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|r| r["event"] == "guard-decision")
        .expect("a guard decision")
}

fn approver_logins(approval: &Value) -> Vec<String> {
    approval["pulls"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["approvers"].as_array().unwrap().iter().map(|a| a["login"].as_str().unwrap().to_owned()))
        .collect()
}

fn rejudge(sink: &Sink, seq: u64) -> Output {
    support::sluice_in(Path::new("."), &["audit", "rejudge", &seq.to_string(), "--data-dir", &sink.data_dir.display().to_string()], &[])
}

fn at(minute: u32) -> String {
    format!("2026-01-0{}T10:{minute:02}:00Z", 2)
}

// ---- GitHub worlds ------------------------------------------------------------------------------

struct Gh {
    gh: GitHub,
    /// The revision synced before the change.
    base: String,
    /// The head of main after the change.
    head: String,
}

fn person(login: &str) -> Person {
    Person::new(login)
}

/// `acme/deploy` (private): a root commit `base` on main, then the commits `change` adds.
fn github_repo(gh: &GitHub) -> String {
    let base = sha(1);
    gh.with(|s| {
        s.tokens.push(GH_TOKEN.into());
        s.repos.insert(REPO.into(), Repo {
            owner: "acme".into(),
            name: "deploy".into(),
            private: true,
            default_branch: "main".into(),
            commits: vec![Commit { sha: base.clone(), parents: vec![], author: person("ann"), committer: person("ann"), on_default: true }],
            rules: vec![github::pull_request_rule(2, true, false, false)],
            ..Repo::default()
        });
    });
    base
}

fn approved(id: u64, login: &str, commit: &str, minute: u32) -> Review {
    Review { id, login: login.into(), state: "APPROVED".into(), submitted_at: at(minute), commit_id: commit.into() }
}

/// PR #`n` by `author` (one commit `head` authored by `author`, and `extra` commits by others), merged
/// into main by a merge commit `merge` whose first parent is `parent`.
fn merge_pull(gh: &GitHub, n: u64, author: &str, parent: &str, reviews: Vec<Review>, contributors: &[&str]) -> (String, String) {
    let head = sha(100 + n);
    let merge = sha(200 + n);
    gh.with(|s| {
        let r = s.repos.get_mut(REPO).unwrap();
        let mut own = vec![];
        let mut prev = parent.to_owned();
        for (i, c) in contributors.iter().enumerate() {
            let x = sha(1000 + n * 10 + i as u64);
            r.commits.push(Commit { sha: x.clone(), parents: vec![prev.clone()], author: person(c), committer: person(c), on_default: true });
            own.push(x.clone());
            prev = x;
        }
        r.commits.push(Commit { sha: head.clone(), parents: vec![prev], author: person(author), committer: person(author), on_default: true });
        own.push(head.clone());
        r.commits.push(Commit { sha: merge.clone(), parents: vec![parent.to_owned(), head.clone()], author: person(author), committer: person("web-flow"), on_default: true });
        r.pulls.push(Pull {
            number: n, author: author.into(), state: "closed".into(), merged_at: Some(at(50)), merge_commit_sha: Some(merge.clone()),
            head_sha: head.clone(), head_ref: format!("feature-{n}"), base_ref: "main".into(), base_sha: parent.to_owned(),
            associated: [own.clone(), vec![merge.clone()]].concat(), commits: own, reviews, files: vec![format!("apps/shop/{n}.yaml")],
        });
    });
    (head, merge)
}

fn two_of_two() -> Value {
    json!({"required": 2})
}

#[test]
fn a_change_approved_by_two_non_authors_on_the_merged_head_syncs_and_re_judges_from_its_snapshot() {
    let tmp = tempfile::tempdir().unwrap();
    let served = Served::default();
    let gh = GitHub::start(served.clone());
    let base = github_repo(&gh);
    // PR #7: a merge commit. PR #8: squashed (one new commit on main, its merge_commit_sha). PR #9:
    // rebased (two commits on main, the PR's own commits are others: rebased copies are not listed).
    let (head7, m7) = merge_pull(&gh, 7, "ann", &base, vec![approved(1, "bob", &sha(107), 40), approved(2, "dee", &sha(107), 41)], &[]);
    let _ = head7;
    let squash = sha(208);
    let (r1, r2) = (sha(301), sha(302));
    gh.with(|s| {
        let r = s.repos.get_mut(REPO).unwrap();
        r.commits.push(Commit { sha: sha(108), parents: vec![m7.clone()], author: person("eve"), committer: person("eve"), on_default: false });
        r.commits.push(Commit { sha: squash.clone(), parents: vec![m7.clone()], author: person("eve"), committer: person("web-flow"), on_default: true });
        r.pulls.push(Pull { number: 8, author: "eve".into(), state: "closed".into(), merged_at: Some(at(51)), merge_commit_sha: Some(squash.clone()),
            head_sha: sha(108), head_ref: "f8".into(), base_ref: "main".into(), base_sha: m7.clone(), commits: vec![sha(108)],
            associated: vec![sha(108), squash.clone()], files: vec!["apps/shop/8.yaml".into()],
            // Three reviews, served two per page: the Link header must be followed.
            reviews: vec![approved(3, "bob", &sha(108), 42), Review { id: 4, login: "bob".into(), state: "COMMENTED".into(), submitted_at: at(43), commit_id: sha(108) }, approved(5, "dee", &sha(108), 44)] });
        for (x, parent) in [(sha(309), m7.clone()), (sha(310), sha(309))] {
            r.commits.push(Commit { sha: x, parents: vec![parent], author: person("fay"), committer: person("fay"), on_default: false });
        }
        r.commits.push(Commit { sha: r1.clone(), parents: vec![squash.clone()], author: person("fay"), committer: person("fay"), on_default: true });
        r.commits.push(Commit { sha: r2.clone(), parents: vec![r1.clone()], author: person("fay"), committer: person("fay"), on_default: true });
        r.pulls.push(Pull { number: 9, author: "fay".into(), state: "closed".into(), merged_at: Some(at(52)), merge_commit_sha: Some(r2.clone()),
            head_sha: sha(310), head_ref: "f9".into(), base_ref: "main".into(), base_sha: squash.clone(), commits: vec![sha(309), sha(310)],
            associated: vec![sha(309), sha(310), r1.clone(), r2.clone()], files: vec!["apps/shop/9.yaml".into()],
            reviews: vec![approved(6, "bob", &sha(310), 45), approved(7, "dee", &sha(310), 46)] });
        s.max_per_page = 2;
        // GitHub's documented trouble: a secondary rate limit (403, Retry-After, requests left) and a 5xx.
        s.faults.push(github::Fault { path: "/pulls/8/reviews".into(), times: 1, kind: github::FaultKind::SecondaryRateLimit(1) });
        s.faults.push(github::Fault { path: "/pulls/9".into(), times: 1, kind: github::FaultKind::ServerError(502) });
    });
    let sink = sink(tmp.path(), Some(&gh), None, &[]);
    // The app synced `base` before (recorded by an earlier webhook).
    post_sync(&sink, &sync_body(&gh.repo_url(REPO), &base, "2026-01-02T09:00:00Z", false, "CHG-0: start"));
    let out = guard(&sink, &gh.repo_url(REPO), &r2, two_of_two()).run();
    assert!(out.status.success(), "the guard refused: {}", support::stderr(&out));
    let decision = last_decision(&sink);
    let a = &decision["approval"];
    assert_eq!(a["verdict"], "approved", "{a:#}");
    assert_eq!(decision["allowed"], true);
    let pulls: Vec<u64> = a["pulls"].as_array().unwrap().iter().map(|p| p["number"].as_u64().unwrap()).collect();
    assert_eq!(pulls, [7, 8, 9], "merge, squash and rebase merges alike: {a:#}");
    assert_eq!(approver_logins(a), ["bob", "dee", "bob", "dee", "bob", "dee"]);
    assert_eq!(a["directPushes"], json!([]));
    assert_eq!(a["base"], json!(base));
    assert_eq!(a["rulesInForce"][0]["parameters"]["required_approving_review_count"], 2);
    let digest = a["snapshotDigest"].as_str().expect("a snapshot digest").to_owned();
    assert!(sink.data_dir.join("snapshots").join(format!("{digest}.json")).is_file());
    // Argo CD reports the sync: the record carries the decision's evidence.
    let seq = post_sync(&sink, &sync_body(&gh.repo_url(REPO), &r2, "2026-01-02T10:00:00Z", false, "CHG-1: three pulls\n\nApproved-by: @mallory"))["seq"].as_u64().unwrap();
    let sync = record(&sink, seq);
    assert_eq!(sync["approval"]["snapshotDigest"], json!(digest));
    assert_eq!(approver_logins(&sync["approval"]), ["bob", "dee", "bob", "dee", "bob", "dee"]);
    assert_eq!(sync["approval"]["decision"], decision["seq"]);
    assert_eq!(sync["approval"]["claimedApprovers"], json!(["@mallory"]), "trailers are claims only");
    assert_eq!(sync["approval"]["finding"], Value::Null);
    // Re-judged from the stored answers alone, to the same verdict.
    let again = rejudge(&sink, seq);
    assert!(again.status.success(), "{}{}", support::stdout(&again), support::stderr(&again));
    assert!(support::stdout(&again).contains("re-judged:  approved: PR #7 approved by bob, dee; PR #8 approved by bob, dee; PR #9 approved by bob, dee"), "{}", support::stdout(&again));
    // A changed snapshot is found out.
    let path = sink.data_dir.join("snapshots").join(format!("{digest}.json"));
    let text = std::fs::read_to_string(&path).unwrap().replacen("APPROVED", "COMMENTED", 1);
    std::fs::write(&path, text).unwrap();
    let tampered = rejudge(&sink, seq);
    assert_eq!(tampered.status.code(), Some(1));
    assert!(support::stderr(&tampered).contains("the snapshot was changed"), "{}", support::stderr(&tampered));
    // The host was asked what the issue says, and weathered GitHub's trouble.
    let requests = gh.with(|s| s.requests.clone());
    assert!(requests.iter().any(|r| r.contains(&format!("/compare/{base}...{r2}")) && r.contains("per_page=100")), "{requests:#?}");
    assert!(requests.iter().filter(|r| r.contains("/pulls/8/reviews")).count() >= 3, "retry after 403, then page 2: {requests:#?}");
    assert!(requests.iter().filter(|r| r.ends_with("/pulls/9 auth=Bearer") || r.contains("/pulls/9 auth")).count() >= 2, "retried after 502: {requests:#?}");
    assert!(gh.with(|s| s.headers.iter().any(|(k, v)| k.eq_ignore_ascii_case("x-github-api-version") && v == "2022-11-28")));
    served.validate();
    // `audit show` prints the evidence; trailer approvers are shown as claims.
    let show = support::sluice_in(Path::new("."), &["audit", "show", "CHG-1", "--data-dir", &sink.data_dir.display().to_string()], &[]);
    let text = support::stdout(&show);
    assert!(text.contains("claimed by trailers (not evidence): @mallory"), "{text}");
    assert!(text.contains("Approvals (verified at the Git host):"), "{text}");
    assert!(text.contains("approved by: bob at 2026-01-02T10:40:00Z on 000000000000"), "{text}");
    assert!(text.contains(&format!("snapshot: {digest}")), "{text}");
}
