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
        args.extend([
            "--github-api-url".into(),
            gh.url.clone(),
            "--github-token-file".into(),
            secret(tmp, "gh-token", &format!("{GH_TOKEN}\n")),
        ]);
    }
    if let Some(gl) = gl {
        args.extend([
            "--gitlab-url".into(),
            gl.url.clone(),
            "--gitlab-token-file".into(),
            secret(tmp, "gl-token", GL_TOKEN),
        ]);
    }
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Sink::start_with(&data, Some(TOKEN), &args, None)
}

/// What the guard Job would get, for `revision` of `repo_url`.
struct Guard<'a> {
    sink_url: String,
    repo_url: String,
    target: &'a str,
    commit: String,
    approvals: Value,
    dry_sha: &'a str,
    project: &'a str,
}

impl Guard<'_> {
    /// Runs `sluice guard` as the `PreSync` Job does.
    fn run(&self) -> Output {
        let policy = json!({"windows": [], "freezes": [], "guard": {"enabled": true}, "approvals": self.approvals});
        let sink_url = &self.sink_url;
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
                ("SLUICE_SINK_URL", sink_url),
                ("SLUICE_REPORT_TOKEN", TOKEN),
            ],
        )
    }
}

fn guard<'a>(sink: &Sink, repo_url: &str, commit: &str, approvals: Value) -> Guard<'a> {
    Guard {
        sink_url: format!("http://{}", sink.addr),
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
fn sync_body(
    repo_url: &str,
    revision: &str,
    started: &str,
    selective: bool,
    message: &str,
) -> String {
    let mut operation = json!({"initiatedBy": {"automated": true}, "sync": {"revision": revision}});
    let mut resources = vec![
        json!({"group": "batch", "version": "v1", "kind": "Job", "namespace": "production",
        "name": "shop-sluice-guard", "hookType": "PreSync", "hookPhase": "Succeeded", "syncPhase": "PreSync"}),
    ];
    if selective {
        operation["sync"]["resources"] =
            json!([{"group": "apps", "kind": "Deployment", "name": "web"}]);
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
    let r = sink.http(
        "POST",
        "/v1/events",
        &[
            ("Authorization", &format!("Bearer {TOKEN}")),
            ("Content-Type", "application/json"),
        ],
        body.as_bytes(),
    );
    assert!(
        r.status == 201 || r.status == 200,
        "{} {}",
        r.status,
        r.body
    );
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
        .flat_map(|p| {
            p["approvers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["login"].as_str().unwrap().to_owned())
        })
        .collect()
}

fn rejudge(sink: &Sink, seq: u64) -> Output {
    support::sluice_in(
        Path::new("."),
        &[
            "audit",
            "rejudge",
            &seq.to_string(),
            "--data-dir",
            &sink.data_dir.display().to_string(),
        ],
        &[],
    )
}

fn at(minute: u32) -> String {
    format!("2026-01-0{}T10:{minute:02}:00Z", 2)
}

// ---- GitHub worlds ------------------------------------------------------------------------------

fn person(login: &str) -> Person {
    Person::new(login)
}

/// `acme/deploy` (private): a root commit `base` on main, then the commits `change` adds.
fn github_repo(gh: &GitHub) -> String {
    let base = sha(1);
    gh.with(|s| {
        s.tokens.push(GH_TOKEN.into());
        s.repos.insert(
            REPO.into(),
            Repo {
                owner: "acme".into(),
                name: "deploy".into(),
                private: true,
                default_branch: "main".into(),
                commits: vec![Commit {
                    sha: base.clone(),
                    parents: vec![],
                    author: person("ann"),
                    committer: person("ann"),
                    on_default: true,
                }],
                rules: vec![github::pull_request_rule(2, true, false, false)],
                ..Repo::default()
            },
        );
    });
    base
}

fn approved(id: u64, login: &str, commit: &str, minute: u32) -> Review {
    Review {
        id,
        login: login.into(),
        state: "APPROVED".into(),
        submitted_at: at(minute),
        commit_id: commit.into(),
    }
}

/// PR #`n` by `author` (one commit `head` authored by `author`, and `extra` commits by others), merged
/// into main by a merge commit `merge` whose first parent is `parent`.
fn merge_pull(
    gh: &GitHub,
    n: u64,
    author: &str,
    parent: &str,
    reviews: Vec<Review>,
    contributors: &[&str],
) -> (String, String) {
    let head = sha(100 + n);
    let merge = sha(200 + n);
    gh.with(|s| {
        let r = s.repos.get_mut(REPO).unwrap();
        let mut own = vec![];
        let mut prev = parent.to_owned();
        for (i, c) in contributors.iter().enumerate() {
            let x = sha(1000 + n * 10 + i as u64);
            r.commits.push(Commit {
                sha: x.clone(),
                parents: vec![prev.clone()],
                author: person(c),
                committer: person(c),
                on_default: true,
            });
            own.push(x.clone());
            prev = x;
        }
        r.commits.push(Commit {
            sha: head.clone(),
            parents: vec![prev],
            author: person(author),
            committer: person(author),
            on_default: true,
        });
        own.push(head.clone());
        r.commits.push(Commit {
            sha: merge.clone(),
            parents: vec![parent.to_owned(), head.clone()],
            author: person(author),
            committer: person("web-flow"),
            on_default: true,
        });
        r.pulls.push(Pull {
            number: n,
            author: author.into(),
            state: "closed".into(),
            merged_at: Some(at(50)),
            merge_commit_sha: Some(merge.clone()),
            head_sha: head.clone(),
            head_ref: format!("feature-{n}"),
            base_ref: "main".into(),
            base_sha: parent.to_owned(),
            associated: [own.clone(), vec![merge.clone()]].concat(),
            commits: own,
            reviews,
            files: vec![format!("apps/shop/{n}.yaml")],
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
    let (head7, m7) = merge_pull(
        &gh,
        7,
        "ann",
        &base,
        vec![
            approved(1, "bob", &sha(107), 40),
            approved(2, "dee", &sha(107), 41),
        ],
        &[],
    );
    let _ = head7;
    let squash = sha(208);
    let (r1, r2) = (sha(301), sha(302));
    gh.with(|s| {
        let r = s.repos.get_mut(REPO).unwrap();
        r.commits.push(Commit {
            sha: sha(108),
            parents: vec![m7.clone()],
            author: person("eve"),
            committer: person("eve"),
            on_default: false,
        });
        r.commits.push(Commit {
            sha: squash.clone(),
            parents: vec![m7.clone()],
            author: person("eve"),
            committer: person("web-flow"),
            on_default: true,
        });
        r.pulls.push(Pull {
            number: 8,
            author: "eve".into(),
            state: "closed".into(),
            merged_at: Some(at(51)),
            merge_commit_sha: Some(squash.clone()),
            head_sha: sha(108),
            head_ref: "f8".into(),
            base_ref: "main".into(),
            base_sha: m7.clone(),
            commits: vec![sha(108)],
            associated: vec![sha(108), squash.clone()],
            files: vec!["apps/shop/8.yaml".into()],
            // Three reviews, served two per page: the Link header must be followed.
            reviews: vec![
                approved(3, "bob", &sha(108), 42),
                Review {
                    id: 4,
                    login: "bob".into(),
                    state: "COMMENTED".into(),
                    submitted_at: at(43),
                    commit_id: sha(108),
                },
                approved(5, "dee", &sha(108), 44),
            ],
        });
        for (x, parent) in [(sha(309), m7.clone()), (sha(310), sha(309))] {
            r.commits.push(Commit {
                sha: x,
                parents: vec![parent],
                author: person("fay"),
                committer: person("fay"),
                on_default: false,
            });
        }
        r.commits.push(Commit {
            sha: r1.clone(),
            parents: vec![squash.clone()],
            author: person("fay"),
            committer: person("fay"),
            on_default: true,
        });
        r.commits.push(Commit {
            sha: r2.clone(),
            parents: vec![r1.clone()],
            author: person("fay"),
            committer: person("fay"),
            on_default: true,
        });
        r.pulls.push(Pull {
            number: 9,
            author: "fay".into(),
            state: "closed".into(),
            merged_at: Some(at(52)),
            merge_commit_sha: Some(r2.clone()),
            head_sha: sha(310),
            head_ref: "f9".into(),
            base_ref: "main".into(),
            base_sha: squash.clone(),
            commits: vec![sha(309), sha(310)],
            associated: vec![sha(309), sha(310), r1.clone(), r2.clone()],
            files: vec!["apps/shop/9.yaml".into()],
            reviews: vec![
                approved(6, "bob", &sha(310), 45),
                approved(7, "dee", &sha(310), 46),
            ],
        });
        s.max_per_page = 2;
        // GitHub's documented trouble: a secondary rate limit (403, Retry-After, requests left) and a 5xx.
        s.faults.push(github::Fault {
            path: "/pulls/8/reviews".into(),
            times: 1,
            kind: github::FaultKind::SecondaryRateLimit(1),
        });
        s.faults.push(github::Fault {
            path: "/pulls/9".into(),
            times: 1,
            kind: github::FaultKind::ServerError(502),
        });
    });
    let sink = sink(tmp.path(), Some(&gh), None, &[]);
    // The app synced `base` before (recorded by an earlier webhook).
    post_sync(
        &sink,
        &sync_body(
            &gh.repo_url(REPO),
            &base,
            "2026-01-02T09:00:00Z",
            false,
            "CHG-0: start",
        ),
    );
    let out = guard(&sink, &gh.repo_url(REPO), &r2, two_of_two()).run();
    assert!(
        out.status.success(),
        "the guard refused: {}",
        support::stderr(&out)
    );
    let decision = last_decision(&sink);
    let a = &decision["approval"];
    assert_eq!(a["verdict"], "approved", "{a:#}");
    assert_eq!(decision["allowed"], true);
    let pulls: Vec<u64> = a["pulls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["number"].as_u64().unwrap())
        .collect();
    assert_eq!(
        pulls,
        [7, 8, 9],
        "merge, squash and rebase merges alike: {a:#}"
    );
    assert_eq!(
        approver_logins(a),
        ["bob", "dee", "bob", "dee", "bob", "dee"]
    );
    assert_eq!(a["directPushes"], json!([]));
    assert_eq!(a["base"], json!(base));
    assert_eq!(
        a["rulesInForce"][0]["parameters"]["required_approving_review_count"],
        2
    );
    let digest = a["snapshotDigest"]
        .as_str()
        .expect("a snapshot digest")
        .to_owned();
    assert!(sink
        .data_dir
        .join("snapshots")
        .join(format!("{digest}.json"))
        .is_file());
    // Argo CD reports the sync: the record carries the decision's evidence.
    let seq = post_sync(
        &sink,
        &sync_body(
            &gh.repo_url(REPO),
            &r2,
            "2026-01-02T10:00:00Z",
            false,
            "CHG-1: three pulls\n\nApproved-by: @mallory",
        ),
    )["seq"]
        .as_u64()
        .unwrap();
    let sync = record(&sink, seq);
    assert_eq!(sync["approval"]["snapshotDigest"], json!(digest));
    assert_eq!(
        approver_logins(&sync["approval"]),
        ["bob", "dee", "bob", "dee", "bob", "dee"]
    );
    assert_eq!(sync["approval"]["decision"], decision["seq"]);
    assert_eq!(
        sync["approval"]["claimedApprovers"],
        json!(["@mallory"]),
        "trailers are claims only"
    );
    assert_eq!(sync["approval"]["finding"], Value::Null);
    // Re-judged from the stored answers alone, to the same verdict.
    let again = rejudge(&sink, seq);
    assert!(
        again.status.success(),
        "{}{}",
        support::stdout(&again),
        support::stderr(&again)
    );
    assert!(support::stdout(&again).contains("re-judged:  approved: PR #7 approved by bob, dee; PR #8 approved by bob, dee; PR #9 approved by bob, dee"), "{}", support::stdout(&again));
    // A changed snapshot is found out.
    let path = sink
        .data_dir
        .join("snapshots")
        .join(format!("{digest}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replacen("APPROVED", "COMMENTED", 1);
    std::fs::write(&path, text).unwrap();
    let tampered = rejudge(&sink, seq);
    assert_eq!(tampered.status.code(), Some(1));
    assert!(
        support::stderr(&tampered).contains("the snapshot was changed"),
        "{}",
        support::stderr(&tampered)
    );
    // The host was asked what the issue says, and weathered GitHub's trouble.
    let requests = gh.with(|s| s.requests.clone());
    assert!(
        requests
            .iter()
            .any(|r| r.contains(&format!("/compare/{base}...{r2}")) && r.contains("per_page=100")),
        "{requests:#?}"
    );
    assert!(
        requests
            .iter()
            .filter(|r| r.contains("/pulls/8/reviews"))
            .count()
            >= 3,
        "retry after 403, then page 2: {requests:#?}"
    );
    assert!(
        requests
            .iter()
            .filter(|r| r.ends_with("/pulls/9 auth=Bearer") || r.contains("/pulls/9 auth"))
            .count()
            >= 2,
        "retried after 502: {requests:#?}"
    );
    assert!(gh.with(|s| s
        .headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("x-github-api-version") && v == "2022-11-28")));
    // A second decision for the synced revision (a re-sync): answers addressed by a commit id come from
    // the cache, reviews are asked for again.
    let before = gh.with(|s| s.requests.len());
    let out = guard(&sink, &gh.repo_url(REPO), &r2, two_of_two()).run();
    assert!(out.status.success(), "{}", support::stderr(&out));
    let again: Vec<String> = gh.with(|s| s.requests[before..].to_vec());
    assert!(
        !again
            .iter()
            .any(|r| r.contains(&format!("/commits/{r2}/pulls"))),
        "cached: {again:#?}"
    );
    assert!(
        again.iter().any(|r| r.contains("/pulls/9/reviews")),
        "{again:#?}"
    );
    let metrics = sink.http("GET", "/metrics", &[], b"").body;
    assert!(
        metrics.contains("sluice_host_requests_total{host=\"github\",outcome=\"cached\"}"),
        "{metrics}"
    );
    served.validate();
    // `audit show` prints the evidence; trailer approvers are shown as claims.
    let show = support::sluice_in(
        Path::new("."),
        &[
            "audit",
            "show",
            "CHG-1",
            "--data-dir",
            &sink.data_dir.display().to_string(),
        ],
        &[],
    );
    let text = support::stdout(&show);
    assert!(
        text.contains("claimed by trailers (not evidence): @mallory"),
        "{text}"
    );
    assert!(
        text.contains("Approvals (verified at the Git host):"),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "approved by: bob at 2026-01-02T10:40:00Z on {}",
            &sha(107)[..12]
        )),
        "{text}"
    );
    assert!(text.contains(&format!("snapshot: {digest}")), "{text}");
}

/// A sink over a fresh `acme/deploy` whose app synced `base`, then `change` adds commits; runs the
/// guard for the new head with `approvals` and gives (exit code, stderr, the decision record).
struct Refusal {
    tmp: tempfile::TempDir,
    served: Served,
    gh: GitHub,
    base: String,
}

impl Refusal {
    fn new() -> Refusal {
        let served = Served::default();
        let gh = GitHub::start(served.clone());
        let base = github_repo(&gh);
        Refusal {
            tmp: tempfile::tempdir().unwrap(),
            served,
            gh,
            base,
        }
    }

    fn decide(&self, head: &str, approvals: Value, extra: &[&str]) -> (Option<i32>, String, Value) {
        let sink = sink(self.tmp.path(), Some(&self.gh), None, extra);
        post_sync(
            &sink,
            &sync_body(
                &self.gh.repo_url(REPO),
                &self.base,
                "2026-01-02T09:00:00Z",
                false,
                "CHG-0: start",
            ),
        );
        let out = guard(&sink, &self.gh.repo_url(REPO), head, approvals).run();
        (
            out.status.code(),
            support::stderr(&out),
            last_decision(&sink),
        )
    }
}

#[test]
fn refusals_name_the_pull_request_and_the_rule() {
    let url = |n: u64, r: &Refusal| format!("{}/{REPO}/pull/{n}", r.gh.url);
    // One approval of two.
    let r = Refusal::new();
    let (_, m) = merge_pull(
        &r.gh,
        7,
        "ann",
        &r.base.clone(),
        vec![approved(1, "bob", &sha(107), 40)],
        &[],
    );
    let (code, stderr, d) = r.decide(&m, two_of_two(), &[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "blocked: approvals: PR #7 ({}): 1 of 2 required approvals (approvals.required)",
            url(7, &r)
        )),
        "{stderr}"
    );
    assert_eq!(
        (d["allowed"].clone(), d["approval"]["verdict"].clone()),
        (json!(false), json!("unapproved"))
    );
    r.served.validate();

    // An approval by a commit contributor (GitHub lets contributors approve; the author it does not).
    let r = Refusal::new();
    let (_, m) = merge_pull(
        &r.gh,
        7,
        "ann",
        &r.base.clone(),
        vec![
            approved(1, "bob", &sha(107), 40),
            approved(2, "cid", &sha(107), 41),
        ],
        &["cid"],
    );
    let (code, stderr, _) = r.decide(&m, two_of_two(), &[]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains("1 of 2 required approvals (approvals.required); cid's approval does not count: authored or committed a commit of PR #7 (approvals.excludeContributors)"), "{stderr}");

    // An approval given before a later push, and a dismissed one.
    let r = Refusal::new();
    let old = sha(1070);
    let reviews = vec![
        approved(1, "bob", &sha(107), 40),
        approved(2, "dee", &old, 30),
        approved(3, "eve", &sha(107), 41),
        Review {
            id: 4,
            login: "eve".into(),
            state: "DISMISSED".into(),
            submitted_at: at(41),
            commit_id: sha(107),
        },
    ];
    let (_, m) = merge_pull(&r.gh, 7, "ann", &r.base.clone(), reviews, &[]);
    let (code, stderr, d) = r.decide(&m, two_of_two(), &[]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains(&format!("dee's approval does not count: approved {}, an earlier head than the merged {} (approvals.allowStaleApprovals is false)", &old[..7], &sha(107)[..7])), "{stderr}");
    assert!(
        stderr.contains("eve's approval does not count: review dismissed on the host"),
        "{stderr}"
    );
    let dismissed: Vec<&str> = d["approval"]["pulls"][0]["dismissed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["login"].as_str().unwrap())
        .collect();
    assert_eq!(dismissed, ["dee", "eve"]);

    // A direct push: a commit on main with no merged pull request.
    let r = Refusal::new();
    let pushed = sha(500);
    r.gh.with(|s| {
        let repo = s.repos.get_mut(REPO).unwrap();
        repo.commits.push(Commit {
            sha: pushed.clone(),
            parents: vec![r.base.clone()],
            author: person("zed"),
            committer: person("zed"),
            on_default: true,
        });
    });
    let (_, m) = merge_pull(
        &r.gh,
        7,
        "ann",
        &pushed,
        vec![
            approved(1, "bob", &sha(107), 40),
            approved(2, "dee", &sha(107), 41),
        ],
        &[],
    );
    let (code, stderr, d) = r.decide(&m, two_of_two(), &[]);
    assert_eq!(code, Some(1));
    assert!(stderr.contains(&format!("blocked: approvals: commit {} on main was pushed directly, without a merged pull request (approvals.required 2)", &pushed[..7])), "{stderr}");
    assert_eq!(d["approval"]["directPushes"], json!([pushed]));

    // A team policy below the org floor.
    let r = Refusal::new();
    let (_, m) = merge_pull(
        &r.gh,
        7,
        "ann",
        &r.base.clone(),
        vec![
            approved(1, "bob", &sha(107), 40),
            approved(2, "dee", &sha(107), 41),
        ],
        &[],
    );
    let (code, stderr, d) = r.decide(
        &m,
        json!({"required": 1}),
        &["--approvals-floor", "project=default:required=2"],
    );
    assert_eq!(code, Some(1));
    assert!(stderr.contains("blocked: approvals: the app's approvals policy is below the org floor project=default:required=2 (sluice serve --approvals-floor): required: 1 (floor: 2); raise it in .sluice.yaml"), "{stderr}");
    assert_eq!(
        d["approval"]["snapshotDigest"],
        Value::Null,
        "nothing asked of the host"
    );
}

#[test]
fn a_pull_request_that_lowers_the_required_count_is_judged_by_the_rule_in_force_before_it() {
    let r = Refusal::new();
    let (_, m7) = merge_pull(
        &r.gh,
        7,
        "ann",
        &r.base.clone(),
        vec![
            approved(1, "bob", &sha(107), 40),
            approved(2, "dee", &sha(107), 41),
        ],
        &[],
    );
    let sink = sink(r.tmp.path(), Some(&r.gh), None, &[]);
    post_sync(
        &sink,
        &sync_body(
            &r.gh.repo_url(REPO),
            &r.base,
            "2026-01-02T09:00:00Z",
            false,
            "CHG-0: start",
        ),
    );
    let out = guard(&sink, &r.gh.repo_url(REPO), &m7, two_of_two()).run();
    assert!(out.status.success(), "{}", support::stderr(&out));
    post_sync(
        &sink,
        &sync_body(
            &r.gh.repo_url(REPO),
            &m7,
            "2026-01-02T10:00:00Z",
            false,
            "CHG-1: two approvals",
        ),
    );
    // PR #11 sets `approvals.required: 0` in its own .sluice.yaml, and nobody approved it.
    let (_, m11) = merge_pull(&r.gh, 11, "ann", &m7, vec![], &[]);
    let out = guard(&sink, &r.gh.repo_url(REPO), &m11, json!({"required": 0})).run();
    let stderr = support::stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "PR #11 ({}/{REPO}/pull/11): 0 of 2 required approvals (approvals.required)",
            r.gh.url
        )),
        "{stderr}"
    );
    let d = last_decision(&sink);
    assert_eq!(d["approval"]["required"], 2);
    assert_eq!(d["approval"]["sources"], json!(["change", "in-force"]));
    assert_eq!(d["approval"]["policy"], json!({"required": 0}));
    assert_eq!(
        d["approval"]["base"],
        json!(m7),
        "the change starts after the last synced revision"
    );
    // After a restart the rule in force is read back from the log.
    drop(sink);
    let sink = self::sink(r.tmp.path(), Some(&r.gh), None, &[]);
    let out = guard(&sink, &r.gh.repo_url(REPO), &m11, json!({"required": 0})).run();
    assert_eq!(out.status.code(), Some(1), "{}", support::stderr(&out));
    assert!(support::stderr(&out).contains("0 of 2 required approvals"));
}

#[test]
fn a_selective_sync_of_an_unapproved_change_is_recorded_unapproved_and_listed() {
    let r = Refusal::new();
    let (_, m7) = merge_pull(&r.gh, 7, "ann", &r.base.clone(), vec![], &[]);
    let sink = sink(
        r.tmp.path(),
        Some(&r.gh),
        None,
        &["--approvals-floor", "project=default:required=1"],
    );
    post_sync(
        &sink,
        &sync_body(
            &r.gh.repo_url(REPO),
            &r.base,
            "2026-01-02T09:00:00Z",
            false,
            "CHG-0: start",
        ),
    );
    // Nobody asked the guard: a selective sync runs no hooks. The sink judges it after the fact.
    let seq = post_sync(
        &sink,
        &sync_body(
            &r.gh.repo_url(REPO),
            &m7,
            "2026-01-02T10:00:00Z",
            true,
            "CHG-7: unreviewed\n\nApproved-by: @sre-lead, @platform-lead",
        ),
    )["seq"]
        .as_u64()
        .unwrap();
    let rec = record(&sink, seq);
    let a = &rec["approval"];
    assert_eq!(a["verdict"], "unapproved", "{a:#}");
    assert_eq!(a["finding"], "unapproved");
    assert_eq!(a["decided"], "after-the-fact");
    assert_eq!(
        a["claimedApprovers"],
        json!(["@sre-lead", "@platform-lead"])
    );
    assert_eq!(rec["gate"]["exceptions"], json!(["selective-sync"]));
    assert!(a["reason"].as_str().unwrap().contains("PR #7"), "{a:#}");
    let data = sink.data_dir.display().to_string();
    let out = support::sluice_in(
        Path::new("."),
        &["audit", "exceptions", "--data-dir", &data],
        &[],
    );
    let table = support::stdout(&out);
    let line = table
        .lines()
        .find(|l| l.starts_with(&seq.to_string()))
        .unwrap_or_else(|| panic!("{table}"));
    assert!(line.ends_with("selective-sync,unapproved"), "{table}");
    // The snapshot re-judges to the same verdict.
    let again = rejudge(&sink, seq);
    assert!(
        again.status.success(),
        "{}{}",
        support::stdout(&again),
        support::stderr(&again)
    );
    // A redelivery of the same webhook is a duplicate, not a conflict (the sink's own judgment is not
    // part of the delivery).
    let body = sync_body(
        &r.gh.repo_url(REPO),
        &m7,
        "2026-01-02T10:00:00Z",
        true,
        "CHG-7: unreviewed\n\nApproved-by: @sre-lead, @platform-lead",
    );
    let again = sink.http(
        "POST",
        "/v1/events",
        &[("Authorization", &format!("Bearer {TOKEN}"))],
        body.as_bytes(),
    );
    assert_eq!(again.status, 200, "{}", again.body);
    r.served.validate();
}

/// A port with nothing listening (bound, then released).
fn closed_port() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}")
}

#[test]
fn with_the_host_down_fail_refuses_and_allow_flagged_allows_and_flags() {
    let tmp = tempfile::tempdir().unwrap();
    let down = closed_port();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let token = secret(tmp.path(), "gh-token", GH_TOKEN);
    let sink = Sink::start_with(
        &data,
        Some(TOKEN),
        &[
            "--github-api-url",
            &down,
            "--github-token-file",
            &token,
            "--host-timeout",
            "2s",
        ],
        None,
    );
    let repo_url = format!("{down}/{REPO}.git");
    let head = sha(9);
    let out = guard(&sink, &repo_url, &head, json!({"required": 1})).run();
    let stderr = support::stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let host = down.trim_start_matches("http://");
    assert!(stderr.contains("blocked: approvals could not be verified (approvals.onUnavailable: fail): cannot verify approvals: GET /repos/acme/deploy/commits/"), "{stderr}");
    assert!(stderr.contains(&format!("cannot reach {host}")), "{stderr}");
    let out = guard(
        &sink,
        &repo_url,
        &head,
        json!({"required": 1, "onUnavailable": "allow-flagged"}),
    )
    .run();
    let stderr = support::stderr(&out);
    assert!(out.status.success(), "{stderr}");
    let d = last_decision(&sink);
    assert_eq!(
        (d["allowed"].clone(), d["approval"]["verdict"].clone()),
        (json!(true), json!("unverified"))
    );
    assert!(d["reason"].as_str().unwrap().contains("approvals unverified, allowed by approvals.onUnavailable: allow-flagged and recorded as approval-unverified"), "{d:#}");
    let seq = post_sync(
        &sink,
        &sync_body(
            &repo_url,
            &head,
            "2026-01-02T10:00:00Z",
            false,
            "CHG-9: host down",
        ),
    )["seq"]
        .as_u64()
        .unwrap();
    assert_eq!(
        record(&sink, seq)["approval"]["finding"],
        "approval-unverified"
    );
    let out = support::sluice_in(
        Path::new("."),
        &[
            "audit",
            "exceptions",
            "--data-dir",
            &sink.data_dir.display().to_string(),
        ],
        &[],
    );
    assert!(
        support::stdout(&out)
            .lines()
            .any(|l| l.starts_with(&seq.to_string()) && l.ends_with("approval-unverified")),
        "{}",
        support::stdout(&out)
    );
    // The sink itself unreachable: the guard fails closed, unless allow-flagged.
    let mut g = guard(&sink, &repo_url, &head, json!({"required": 1}));
    g.sink_url = closed_port();
    let out = g.run();
    assert_eq!(out.status.code(), Some(1));
    assert!(support::stderr(&out).contains("blocked: approvals could not be checked (approvals.onUnavailable: fail): cannot reach the sink"), "{}", support::stderr(&out));
    g.approvals = json!({"required": 1, "onUnavailable": "allow-flagged"});
    let out = g.run();
    assert!(out.status.success(), "{}", support::stderr(&out));
}

// ---- GitLab ------------------------------------------------------------------------------------

const PROJECT: &str = "grp/sub/deploy";

fn gitlab_project(gl: &GitLab) -> String {
    let base = sha(1);
    gl.with(|s| {
        s.tokens.push(GL_TOKEN.into());
        s.projects.insert(
            PROJECT.into(),
            Project {
                id: 31,
                path: PROJECT.into(),
                private: true,
                default_branch: "main".into(),
                commits: vec![gitlab::Commit {
                    id: base.clone(),
                    parent_ids: vec![],
                    author: ("Ann".into(), "ann@example.com".into()),
                    committer: ("Ann".into(), "ann@example.com".into()),
                }],
                // GitLab lets authors approve their own MRs when the project allows it.
                author_approval: true,
                reset_approvals_on_push: false,
                ..Project::default()
            },
        );
    });
    base
}

/// MR !`iid` by ann (two pushes: `old` at 10:00, then its head at 10:20), merged by a merge commit;
/// `approvals` are (username, minute) of the "approved this merge request" notes, all still approving.
fn gitlab_mr(gl: &GitLab, iid: u64, parent: &str, approvals: &[(&str, u32)]) -> String {
    let (old, head, merge) = (sha(600 + iid), sha(700 + iid), sha(800 + iid));
    gl.with(|s| {
        let p = s.projects.get_mut(PROJECT).unwrap();
        let person = |n: &str| (format!("{n} (name)"), format!("{n}@example.com"));
        p.commits.push(gitlab::Commit {
            id: old.clone(),
            parent_ids: vec![parent.to_owned()],
            author: person("ann"),
            committer: person("ann"),
        });
        p.commits.push(gitlab::Commit {
            id: head.clone(),
            parent_ids: vec![old.clone()],
            author: person("ann"),
            committer: person("ann"),
        });
        p.commits.push(gitlab::Commit {
            id: merge.clone(),
            parent_ids: vec![parent.to_owned(), head.clone()],
            author: person("ann"),
            committer: person("ann"),
        });
        let notes = approvals
            .iter()
            .enumerate()
            .map(|(i, (who, minute))| Note {
                id: 50 + i as u64,
                body: "approved this merge request".into(),
                author: (*who).into(),
                created_at: format!("2026-01-02T10:{minute:02}:00.000Z"),
                system: true,
            })
            .chain(std::iter::once(Note {
                id: 99,
                body: "Looks good, ship it".into(),
                author: "bob".into(),
                created_at: "2026-01-02T10:59:00.000Z".into(),
                system: false,
            }))
            .collect();
        p.mrs.push(Mr {
            iid,
            author: "ann".into(),
            state: "merged".into(),
            merged_at: Some("2026-01-02T11:00:00.000Z".into()),
            sha: head.clone(),
            merge_commit_sha: Some(merge.clone()),
            squash_commit_sha: None,
            target_branch: "main".into(),
            commits: vec![old.clone(), head.clone()],
            associated: vec![old.clone(), head.clone(), merge.clone()],
            approved_by: approvals.iter().map(|(w, _)| (*w).to_owned()).collect(),
            versions: vec![
                Version {
                    id: 1,
                    head_commit_sha: old,
                    created_at: "2026-01-02T10:00:00.000Z".into(),
                },
                Version {
                    id: 2,
                    head_commit_sha: head,
                    created_at: "2026-01-02T10:20:00.000Z".into(),
                },
            ],
            notes,
            rules: vec![("All Members".into(), "any_approver".into(), 2, vec![])],
        });
        s.max_per_page = 2;
    });
    merge
}

#[test]
fn gitlab_approvals_are_judged_on_the_merged_head_from_versions_and_notes() {
    let tmp = tempfile::tempdir().unwrap();
    let served = Served::default();
    let gl = GitLab::start(served.clone());
    let base = gitlab_project(&gl);
    // ann approves her own MR (GitLab allows it here); carl approved before the last push (GitLab
    // kept it: retain_approvals_on_push); bob approved the merged head.
    let merge = gitlab_mr(&gl, 3, &base, &[("carl", 10), ("bob", 25), ("ann", 30)]);
    let sink = sink(tmp.path(), None, Some(&gl), &[]);
    post_sync(
        &sink,
        &sync_body(
            &gl.repo_url(PROJECT),
            &base,
            "2026-01-02T09:00:00Z",
            false,
            "CHG-0: start",
        ),
    );
    let out = guard(&sink, &gl.repo_url(PROJECT), &merge, two_of_two()).run();
    let stderr = support::stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("PR #3 ({}/{PROJECT}/-/merge_requests/3): 1 of 2 required approvals (approvals.required)", gl.url)), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "carl's approval does not count: approved {}, an earlier head than the merged {}",
            &sha(603)[..7],
            &sha(703)[..7]
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains("ann's approval does not count: author of PR #3 (approvals.excludeAuthor)"),
        "{stderr}"
    );
    let d = last_decision(&sink);
    assert_eq!(d["approval"]["host"], "gitlab");
    assert_eq!(
        d["approval"]["rulesInForce"]["approvalSetting"]["retain_approvals_on_push"]["value"],
        true
    );
    assert_eq!(
        d["approval"]["rulesInForce"]["projectApprovals"]["reset_approvals_on_push"],
        false
    );
    // Another MR approved by two others on its merged head.
    let merge4 = gitlab_mr(&gl, 4, &merge, &[("bob", 31), ("dee", 32)]);
    post_sync(
        &sink,
        &sync_body(
            &gl.repo_url(PROJECT),
            &merge,
            "2026-01-02T10:00:00Z",
            true,
            "CHG-3: synced anyway",
        ),
    );
    let out = guard(&sink, &gl.repo_url(PROJECT), &merge4, two_of_two()).run();
    assert!(out.status.success(), "{}", support::stderr(&out));
    let d = last_decision(&sink);
    assert_eq!(approver_logins(&d["approval"]), ["bob", "dee"]);
    let seq = d["seq"].as_u64().unwrap();
    assert!(rejudge(&sink, seq).status.success());
    // Project paths go %2F-encoded, with the token in PRIVATE-TOKEN.
    let requests = gl.with(|s| s.requests.clone());
    assert!(
        requests
            .iter()
            .all(|r| r.contains("/projects/grp%2Fsub%2Fdeploy") && r.ends_with("token=true")),
        "{requests:#?}"
    );
    served.validate();
}

#[test]
fn open_pull_requests_of_a_commit_off_the_default_branch_are_not_taken_for_its_merge() {
    let r = Refusal::new();
    let rel = sha(40);
    let (m12, test_merge) = (sha(212), sha(913));
    r.gh.with(|s| {
        let repo = s.repos.get_mut(REPO).unwrap();
        let c = |x: &str, parents: Vec<String>, on_default| Commit {
            sha: x.into(),
            parents,
            author: person("ann"),
            committer: person("ann"),
            on_default,
        };
        repo.commits.push(c(&rel, vec![r.base.clone()], false));
        repo.commits.push(c(&sha(112), vec![rel.clone()], false));
        repo.commits
            .push(c(&m12, vec![rel.clone(), sha(112)], false));
        repo.pulls.push(Pull {
            number: 12,
            author: "ann".into(),
            state: "closed".into(),
            merged_at: Some(at(50)),
            merge_commit_sha: Some(m12.clone()),
            head_sha: sha(112),
            head_ref: "fix".into(),
            base_ref: "release".into(),
            base_sha: rel.clone(),
            commits: vec![sha(112)],
            associated: vec![sha(112), m12.clone()],
            files: vec![],
            reviews: vec![approved(1, "bob", &sha(112), 40)],
        });
        // An open pull request from release into main also contains the merge commit; its
        // merge_commit_sha is a test merge on no branch.
        repo.pulls.push(Pull {
            number: 13,
            author: "zed".into(),
            state: "open".into(),
            merged_at: None,
            merge_commit_sha: Some(test_merge.clone()),
            head_sha: m12.clone(),
            head_ref: "release".into(),
            base_ref: "main".into(),
            base_sha: r.base.clone(),
            commits: vec![m12.clone()],
            associated: vec![m12.clone()],
            files: vec![],
            reviews: vec![],
        });
    });
    let sink = sink(r.tmp.path(), Some(&r.gh), None, &[]);
    post_sync(
        &sink,
        &sync_body(
            &r.gh.repo_url(REPO),
            &rel,
            "2026-01-02T09:00:00Z",
            false,
            "CHG-0: start",
        ),
    );
    let mut g = guard(&sink, &r.gh.repo_url(REPO), &m12, json!({"required": 1}));
    g.target = "release";
    let out = g.run();
    assert!(out.status.success(), "{}", support::stderr(&out));
    let d = last_decision(&sink);
    let numbers: Vec<u64> = d["approval"]["pulls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["number"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, [12]);
    assert_eq!(d["approval"]["branch"], "release");
    // The host did list the open one.
    let listed = r
        .served
        .routes()
        .iter()
        .filter(|x| x.contains("/commits/{commit_sha}/pulls"))
        .count();
    assert!(listed >= 1);
    r.served.validate();
}

#[test]
fn a_long_change_is_judged_page_by_page_and_an_over_long_one_is_not_judged_at_all() {
    let r = Refusal::new();
    // PR #20, rebase-merged: 260 commits on main.
    let shas: Vec<String> = (0..260).map(|i| sha(10_000 + i)).collect();
    r.gh.with(|s| {
        let repo = s.repos.get_mut(REPO).unwrap();
        let mut parent = r.base.clone();
        for x in &shas {
            repo.commits.push(Commit {
                sha: x.clone(),
                parents: vec![parent.clone()],
                author: person("ann"),
                committer: person("ann"),
                on_default: true,
            });
            parent = x.clone();
        }
        let head = shas.last().unwrap().clone();
        repo.pulls.push(Pull {
            number: 20,
            author: "ann".into(),
            state: "closed".into(),
            merged_at: Some(at(50)),
            merge_commit_sha: Some(head.clone()),
            head_sha: head.clone(),
            head_ref: "big".into(),
            base_ref: "main".into(),
            base_sha: r.base.clone(),
            commits: vec![head.clone()],
            associated: shas.clone(),
            files: vec![],
            reviews: vec![approved(1, "bob", &head, 40)],
        });
    });
    let head = shas.last().unwrap().clone();
    let (code, stderr, d) = r.decide(&head, json!({"required": 1}), &[]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(d["approval"]["verdict"], "approved");
    let pages = r.gh.with(|s| {
        s.requests
            .iter()
            .filter(|q| q.contains("/compare/"))
            .count()
    });
    assert_eq!(pages, 3, "260 commits in pages of 100");
    let (code, stderr, d) = r.decide(
        &head,
        json!({"required": 1}),
        &["--approvals-max-commits", "100"],
    );
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("the change has 260 commits, more than the 100 judged at once (sluice serve --approvals-max-commits); none was judged"), "{stderr}");
    assert_eq!(d["approval"]["verdict"], "unverified");
}

#[test]
fn a_hydrated_app_is_judged_by_its_dry_revision() {
    let r = Refusal::new();
    let (_, m7) = merge_pull(
        &r.gh,
        7,
        "ann",
        &r.base.clone(),
        vec![approved(1, "bob", &sha(107), 40)],
        &[],
    );
    let sink = sink(r.tmp.path(), Some(&r.gh), None, &[]);
    // The hydrated commit Argo CD wrote is on another branch; the host knows nothing of it.
    let hydrated = "feedfacefeedfacefeedfacefeedfacefeedface";
    let mut g = guard(
        &sink,
        &r.gh.repo_url(REPO),
        hydrated,
        json!({"required": 1}),
    );
    g.dry_sha = &m7;
    g.target = "";
    let out = g.run();
    assert!(out.status.success(), "{}", support::stderr(&out));
    let d = last_decision(&sink);
    assert_eq!(
        (
            d["approval"]["revision"].as_str(),
            d["approval"]["reviewed"].as_str()
        ),
        (Some(hydrated), Some(m7.as_str()))
    );
    assert_eq!(d["approval"]["branch"], "main", "the default branch");
}

/// The guard Job `render` writes for a hydrated app asks the sink about the dry revision.
#[test]
fn render_passes_the_commit_its_source_and_the_hydrators_dry_revision_to_the_guard() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("app");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(".sluice.yaml"), "apiVersion: sluice.io/v1alpha1\nkind: ChangePolicy\napprovals:\n  required: 2\n  latestPush: true\n").unwrap();
    std::fs::write(
        dir.join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: b}\n",
    )
    .unwrap();
    std::fs::write(dir.join("hydrator.metadata"), r#"{"repoURL": "https://github.com/acme/dry.git", "drySha": "abcabcabcabcabcabcabcabcabcabcabcabcabca", "commands": []}"#).unwrap();
    let dir_s = dir.display().to_string();
    let args = [
        "render",
        dir_s.as_str(),
        "-o",
        "json",
        "--env",
        "ARGOCD_APP_NAME=shop",
        "--env",
        "ARGOCD_APP_REVISION=0123456789012345678901234567890123456789",
        "--env",
        "ARGOCD_APP_SOURCE_REPO_URL=https://github.com/acme/hydrated.git",
        "--env",
        "ARGOCD_APP_SOURCE_TARGET_REVISION=env/prod",
        "--env",
        "ARGOCD_APP_PROJECT_NAME=payments",
        "--env",
        "SLUICE_IMAGE=sluice:1",
        "--env",
        "SLUICE_SINK_URL=http://sluice-sink.argocd.svc:8080",
    ];
    let out = support::sluice_in(tmp.path(), &args, &[]);
    assert!(out.status.success(), "{}", support::stderr(&out));
    let text = support::stdout(&out);
    let job = support::split_documents(&text)
        .into_iter()
        .map(|d| serde_json::from_str::<Value>(&d).unwrap())
        .find(|d| d["kind"] == "Job")
        .expect("the guard Job");
    let env: Vec<(String, Value)> = job["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_owned(),
                e.get("value").cloned().unwrap_or(e["valueFrom"].clone()),
            )
        })
        .collect();
    let get = |n: &str| {
        env.iter()
            .find(|(k, _)| k == n)
            .map_or_else(|| panic!("{n} missing: {env:?}"), |(_, v)| v.clone())
    };
    assert_eq!(
        get("SLUICE_COMMIT"),
        "0123456789012345678901234567890123456789"
    );
    assert_eq!(
        get("SLUICE_DRY_SHA"),
        "abcabcabcabcabcabcabcabcabcabcabcabcabca"
    );
    assert_eq!(get("SLUICE_REPO_URL"), "https://github.com/acme/dry.git");
    assert_eq!(
        get("SLUICE_TARGET_REVISION"),
        "",
        "the dry branch is the default one"
    );
    assert_eq!(get("SLUICE_PROJECT"), "payments");
    assert_eq!(get("SLUICE_SINK_URL"), "http://sluice-sink.argocd.svc:8080");
    // The guard asks with its Job's projected ServiceAccount token, not a copied write token.
    assert_eq!(
        get("SLUICE_REPORT_TOKEN_FILE"),
        "/var/run/secrets/sluice/token"
    );
    assert!(!env.iter().any(|(k, _)| k == "SLUICE_REPORT_TOKEN"));
    let policy: Value = serde_json::from_str(get("SLUICE_GUARD_POLICY").as_str().unwrap()).unwrap();
    assert_eq!(policy["approvals"]["required"], 2);
    assert_eq!(policy["approvals"]["latestPush"], true);
    // Without a sink to ask, generation says how to name one (an input error: exit 2).
    let out = support::sluice_in(tmp.path(), &args[..args.len() - 2], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        support::stderr(&out).contains("set SLUICE_SINK_URL on the plugin sidecar"),
        "{}",
        support::stderr(&out)
    );
}

/// An RSA key pair made by OpenSSL: the App's private key (PKCS#1 PEM, what GitHub hands out) and its
/// public key (PKCS#1 DER) for the emulated GitHub to check signatures with.
fn app_key(dir: &Path) -> (PathBuf, Vec<u8>) {
    let key = dir.join("app.pem");
    let public = dir.join("app.pub.der");
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl (tests/run installs it)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "genrsa",
        "-traditional",
        "-out",
        key.to_str().unwrap(),
        "2048",
    ]);
    run(&[
        "rsa",
        "-in",
        key.to_str().unwrap(),
        "-RSAPublicKey_out",
        "-outform",
        "DER",
        "-out",
        public.to_str().unwrap(),
    ]);
    (key, std::fs::read(public).unwrap())
}

#[test]
fn no_token_or_private_key_appears_in_logs_records_errors_or_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    let served = Served::default();
    let gh = GitHub::start(served.clone());
    let base = github_repo(&gh);
    let (key, public) = app_key(tmp.path());
    gh.with(|s| {
        s.tokens.clear();
        s.app = Some(("4242".into(), public, 77));
    });
    let (_, m7) = merge_pull(
        &gh,
        7,
        "ann",
        &base,
        vec![
            approved(1, "bob", &sha(107), 40),
            approved(2, "dee", &sha(107), 41),
        ],
        &[],
    );
    let gl = GitLab::start(served.clone());
    let gl_base = gitlab_project(&gl);
    let gl_merge = gitlab_mr(&gl, 3, &gl_base, &[("bob", 25)]);
    gl.with(|s| s.tokens = vec!["some-other-token".into()]);
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let gl_token = secret(tmp.path(), "gl-token", GL_TOKEN);
    let key_s = key.display().to_string();
    let sink = Sink::start_with(
        &data,
        Some(TOKEN),
        &[
            "--github-api-url",
            &gh.url,
            "--github-app-id",
            "4242",
            "--github-app-key-file",
            &key_s,
            "--gitlab-url",
            &gl.url,
            "--gitlab-token-file",
            &gl_token,
        ],
        None,
    );
    post_sync(
        &sink,
        &sync_body(
            &gh.repo_url(REPO),
            &base,
            "2026-01-02T09:00:00Z",
            false,
            "CHG-0: start",
        ),
    );
    let mut outputs = Vec::new();
    // The App: a JWT, the repository's installation, a read-only installation token, the decision.
    let out = guard(&sink, &gh.repo_url(REPO), &m7, two_of_two()).run();
    assert!(out.status.success(), "{}", support::stderr(&out));
    outputs.push(out);
    let issued = gh.with(|s| s.tokens.clone());
    assert_eq!(issued.len(), 1, "one installation token, reused");
    let requests = gh.with(|s| s.requests.clone());
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("GET /repos/acme/deploy/installation auth=Bearer")),
        "{requests:#?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("POST /app/installations/77/access_tokens")),
        "{requests:#?}"
    );
    // GitLab refuses the token: 401, said without the token.
    let out = guard(
        &sink,
        &gl.repo_url(PROJECT),
        &gl_merge,
        json!({"required": 1}),
    )
    .run();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        support::stderr(&out).contains("the credentials were refused (401: 401 Unauthorized)"),
        "{}",
        support::stderr(&out)
    );
    outputs.push(out);
    post_sync(
        &sink,
        &sync_body(
            &gh.repo_url(REPO),
            &m7,
            "2026-01-02T10:00:00Z",
            true,
            "CHG-1: x",
        ),
    );
    let metrics = sink.http("GET", "/metrics", &[], b"").body;
    assert!(
        metrics.contains(
            "sluice_approval_decisions_total{decided=\"at-sync\",verdict=\"approved\"} 1"
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains("sluice_host_requests_total{host=\"github\",outcome=\"ok\"}"),
        "{metrics}"
    );
    let decision_answers: Vec<String> = outputs
        .iter()
        .map(|o| format!("{}{}", support::stdout(o), support::stderr(o)))
        .collect();
    let mut everything = vec![
        sink.stderr(),
        metrics,
        sink.log_lines().join("\n"),
        decision_answers.join("\n"),
    ];
    for entry in std::fs::read_dir(sink.data_dir.join("snapshots")).unwrap() {
        everything.push(std::fs::read_to_string(entry.unwrap().path()).unwrap());
    }
    let pem = std::fs::read_to_string(&key).unwrap();
    let mut secrets: Vec<String> = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::to_owned)
        .collect();
    secrets.extend([GL_TOKEN.to_owned(), TOKEN.to_owned()]);
    secrets.extend(issued);
    let text = everything.join("\n");
    assert!(
        text.contains("request") && text.contains("\"approval\""),
        "nothing was logged or recorded: the check would be empty"
    );
    for s in &secrets {
        assert!(
            !text.contains(s.as_str()),
            "a secret ({}…) appears in a log line, record, error, snapshot or /metrics",
            &s[..8.min(s.len())]
        );
    }
    // The JWT's signature part would be as secret as the token; no JWT either.
    assert!(
        !text.contains("eyJhbGciOiJSUzI1NiIs"),
        "a JSON Web Token was written somewhere"
    );
    served.validate();
}
