//! Attribution through the real binary: the change id of a merge-commit workflow comes from the
//! Application, `audit show` finds it, approvers are split and never the author, and `lint-commit`
//! applies the same rule and reports every problem at once (git's `Merge …` and `Revert "…"` included).

use crate::support::{sluice_in, stderr, stdout, Sink};
use serde_json::{json, Value};
use std::path::Path;

/// GitHub's merge commit of a change whose Application carries `CHANGE_ID=CHG-1234`.
fn merge_delivery() -> Value {
    let started = "2026-11-20T02:05:00Z";
    let revision = "4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b";
    json!({
        "event": "sync-succeeded",
        "app": {
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "shop", "namespace": "argocd", "uid": "6a1f0c2e-1111-4b7e-9c55-3f0d7e1a2b3c"},
            "spec": {"project": "default",
                "destination": {"server": "https://kubernetes.default.svc", "namespace": "production"},
                "source": {"repoURL": "https://git.example.com/platform/gitops.git", "path": "apps/shop",
                    "targetRevision": "main",
                    "plugin": {"name": "sluice", "env": [{"name": "CHANGE_ID", "value": "CHG-1234"}]}}},
            "status": {"sync": {"status": "Synced", "revision": revision}, "health": {"status": "Healthy"},
                "sourceType": "Plugin",
                "history": [{"id": 7, "revision": revision, "deployStartedAt": started,
                    "deployedAt": "2026-11-20T02:07:00Z", "initiatedBy": {"automated": true}}],
                "operationState": {"phase": "Succeeded", "message": "successfully synced (all tasks run)",
                    "startedAt": started, "finishedAt": "2026-11-20T02:07:00Z",
                    "operation": {"sync": {"revision": revision}, "initiatedBy": {"automated": true}},
                    "syncResult": {"revision": revision, "resources": [
                        {"group": "batch", "version": "v1", "kind": "Job", "namespace": "production",
                         "name": "shop-sluice-guard", "hookType": "PreSync", "hookPhase": "Succeeded", "syncPhase": "PreSync"}]}}}
        },
        "commit": {
            "Message": "Merge pull request #12 from acme/chg-1234-replicas\n\nCHG-1234: raise shop replicas to 6\n\nApproved-by: @sre-lead, @platform-lead\nApproved-by: @SRE-lead, @ann\n",
            "Author": "Ann <ann@example.com>", "Date": "2026-11-20T01:00:00Z", "Tags": []
        }
    })
}

#[test]
fn a_merge_commit_is_recorded_under_the_applications_change_and_shown() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let sink = Sink::start(&data, None);
    let r = sink.http(
        "POST",
        "/v1/events",
        &[],
        merge_delivery().to_string().as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let line: Value = serde_json::from_str(&sink.log_lines()[0]).unwrap();
    assert_eq!(line["changeId"], "CHG-1234");
    assert_eq!(line["changeIdSource"], "application");
    assert_eq!(line["via"], "webhook");
    assert_eq!(
        line["approvedBy"],
        json!(["@sre-lead", "@platform-lead"]),
        "split, merged, no author"
    );
    assert_eq!(line["gate"]["guard"], "Succeeded");
    drop(sink);
    let out = sluice_in(
        dir.path(),
        &[
            "audit",
            "show",
            "--data-dir",
            data.to_str().unwrap(),
            "CHG-1234",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let report = stdout(&out);
    assert!(report.starts_with("Change CHG-1234\n"), "{report}");
    assert!(
        report.contains("  approved by: @sre-lead, @platform-lead\n"),
        "{report}"
    );
    assert!(
        report.contains("  subject:     Merge pull request #12"),
        "{report}"
    );
}

#[test]
fn lint_commit_counts_approvers_as_the_sink_does_and_reports_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let lint = |message: &str, extra: &[&str]| {
        let file = dir.path().join("COMMIT_EDITMSG");
        std::fs::write(&file, message).unwrap();
        let mut args = vec!["lint-commit", file.to_str().unwrap()];
        args.extend_from_slice(extra);
        sluice_in(dir.path(), &args, &[])
    };
    let two = "CHG-1234: raise replicas\n\nApproved-by: @sre-lead, @platform-lead\n";
    let out = lint(two, &["--min-approvers", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // The same person twice counts once; the author not at all.
    let twice = "CHG-1234: raise replicas\n\nApproved-by: @sre-lead\nApproved-by: @SRE-LEAD\n";
    let out = lint(twice, &["--min-approvers", "2"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("found 1"), "{}", stderr(&out));
    let out = lint(
        two,
        &["--min-approvers", "2", "--author", "Platform Lead <pl@x>, "],
    );
    assert!(out.status.success(), "a different author: {}", stderr(&out));
    let out = lint(
        two,
        &["--min-approvers", "2", "--author", "platform-lead <pl@x>"],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "the author approving their own change"
    );
    assert!(stderr(&out).contains("found 1"), "{}", stderr(&out));

    // git's own merge and revert messages.
    let merge = "Merge pull request #12 from acme/replicas\n\nCHG-1234: raise replicas\n";
    assert!(lint(merge, &[]).status.success());
    let out = lint("Merge branch 'main' into replicas\n", &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("merge commit"), "{}", stderr(&out));
    let revert = "Revert \"CHG-1234: raise replicas\"\n\nThis reverts commit 4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b.\n";
    assert!(lint(revert, &[]).status.success());

    // Several problems at once: every one named, one per line.
    let out = lint(
        "raise replicas\n\nApproved-by: @sre-lead\n",
        &["--require", "Rollback,Risk", "--min-approvers", "2"],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("4 problems:"), "{err}");
    for part in [
        "must start with a change id",
        "\"Rollback: …\"",
        "\"Risk: …\"",
        "2 distinct Approved-by approvers required",
    ] {
        assert!(err.contains(part), "{part}: {err}");
    }
    assert_eq!(err.matches("\n  - ").count(), 4, "{err}");
}

#[test]
fn an_old_log_still_shows_its_changes() {
    // The golden log of the release (tests/fixtures/audit/golden) reads under the new model; its
    // records have no changeIdSource, via or gate, and audit exceptions lists none of them.
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/audit/golden");
    let out = sluice_in(
        &golden,
        &[
            "audit",
            "exceptions",
            "--data-dir",
            golden.to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 1, "{}", stdout(&out));
}
