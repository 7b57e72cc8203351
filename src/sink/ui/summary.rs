//! What people see of an app's records (the Argo CD extension and the auditor's page): the records
//! grouped into changes, and for each change its story as JSON members: approvals and how they were
//! verified, the window decision, the backup, migrations, verification, gate findings and the rollback
//! commands. Pure: typed records in, JSON values out. Every record is also given whole, so nothing the
//! log holds is left out (members a later version adds, such as `verification` or `ticket`, are
//! passed through as they are and their `finding` counts).

use crate::record::{findings, Body, GuardDecision, Record, SyncEvent};
use serde_json::{json, Map, Value};

/// Records of the sync kinds that end a deployment.
fn completed(s: &SyncEvent) -> bool {
    matches!(s.event.as_str(), "sync-succeeded" | "deployed")
}

/// The change a record belongs to: its change id, else its emergency id, else `revision:<sha>`
/// (records that name no change are grouped by the revision they synced or decided on).
pub fn change_key(record: &Record) -> String {
    let map = record.body.to_map();
    let named = ["changeId", "emergency"].iter().find_map(|m| {
        map.get(*m)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
    });
    match (named, record.body.revision()) {
        (Some(id), _) => id.to_owned(),
        (_, Some(rev)) => format!("revision:{rev}"),
        _ => format!("record:{}", record.seq),
    }
}

/// Every finding of a record: its gate exceptions and approval finding (src/record/findings.rs), and
/// the `finding` of any other evidence member of the same shape (a `verification` or `ticket` member
/// a later version writes), each once.
pub fn all_findings(record: &Record) -> Vec<String> {
    let mut out: Vec<String> = findings::findings(record)
        .into_iter()
        .map(str::to_owned)
        .collect();
    // Through the JSON members, so that evidence members this module does not name count too.
    for value in record.body.to_map().values() {
        if let Some(f) = value.get("finding").and_then(Value::as_str) {
            if !f.is_empty() && !out.iter().any(|o| o == f) {
                out.push(f.to_owned());
            }
        }
    }
    out
}

/// The records of one app grouped into changes, the newest change first; each change as [`change`]
/// describes it. `records` are in log order.
pub fn changes(records: &[Record]) -> Vec<Value> {
    let mut keys: Vec<(String, Vec<&Record>)> = Vec::new();
    for r in records {
        let key = change_key(r);
        match keys.iter_mut().find(|(k, _)| *k == key) {
            Some((_, list)) => list.push(r),
            None => keys.push((key, vec![r])),
        }
    }
    keys.sort_by_key(|(_, list)| std::cmp::Reverse(list.last().map_or(0, |r| r.seq)));
    keys.iter().map(|(key, list)| change(key, list)).collect()
}

/// One change: its id, the status line and colour, and each part of its evidence; `records` are
/// given whole after them.
pub fn change(key: &str, records: &[&Record]) -> Value {
    let syncs: Vec<&SyncEvent> = records
        .iter()
        .filter_map(|r| {
            if let Body::Sync(s) = &r.body {
                Some(&**s)
            } else {
                None
            }
        })
        .collect();
    let guards: Vec<&GuardDecision> = records
        .iter()
        .filter_map(|r| {
            if let Body::Guard(g) = &r.body {
                Some(&**g)
            } else {
                None
            }
        })
        .collect();
    // The findings that stand: those of the change's latest sync record (a later sync of the same
    // change may have been gated), else of its latest record.
    let latest_sync = records
        .iter()
        .rev()
        .find(|r| matches!(r.body, Body::Sync(_)));
    let standing = latest_sync
        .or(records.last())
        .map(|r| all_findings(r))
        .unwrap_or_default();
    let mut every: Vec<Value> = Vec::new();
    for r in records {
        for f in all_findings(r) {
            every.push(json!({"seq": r.seq, "finding": f, "at": r.body.received_at()}));
        }
    }
    let id = (!key.starts_with("revision:") && !key.starts_with("record:")).then_some(key);
    let approvals = approvals(records, &syncs);
    let window = guards.last().map(|g| window(g));
    let backup = backup(&syncs);
    let mut out = Map::new();
    out.insert("changeId".into(), json!(id));
    out.insert("key".into(), json!(key));
    out.insert(
        "status".into(),
        json!({
            "line": status_line(id, &approvals, window.as_ref(), &backup, &standing),
            "red": !standing.is_empty(),
            "findings": standing,
        }),
    );
    out.insert(
        "first".into(),
        json!(records.first().map(|r| r.body.received_at())),
    );
    out.insert(
        "last".into(),
        json!(records.last().map(|r| r.body.received_at())),
    );
    out.insert(
        "app".into(),
        json!(records.first().map(|r| r.body.app_name())),
    );
    out.insert(
        "revision".into(),
        json!(records.iter().rev().find_map(|r| r.body.revision())),
    );
    out.insert(
        "commit".into(),
        json!(syncs.iter().rev().find_map(|s| s.commit.as_ref())),
    );
    out.insert("approvals".into(), approvals);
    out.insert("window".into(), json!(window));
    out.insert("backup".into(), backup);
    out.insert(
        "migrations".into(),
        json!(syncs
            .iter()
            .rev()
            .find_map(|s| s.gate.as_present()?.as_ref()?.migrations.clone())),
    );
    out.insert(
        "verification".into(),
        latest_member(records, "verification"),
    );
    out.insert("ticket".into(), latest_member(records, "ticket"));
    out.insert("trailers".into(), trailers(&syncs));
    out.insert(
        "emergency".into(),
        json!(syncs.iter().rev().find_map(|s| s.emergency.clone())),
    );
    out.insert("findings".into(), Value::Array(every));
    out.insert(
        "syncs".into(),
        json!(syncs.iter().map(|s| sync(s)).collect::<Vec<_>>()),
    );
    out.insert("rollback".into(), json!(rollback(&syncs)));
    out.insert("records".into(), json!(records));
    Value::Object(out)
}

/// The `status.line` of a change: `CHG-1234 · approved 2/2 · window open · backup Completed`, with
/// the findings that stand at the end.
fn status_line(
    id: Option<&str>,
    approvals: &Value,
    window: Option<&Value>,
    backup: &Value,
    standing: &[String],
) -> String {
    let mut parts = vec![id.unwrap_or("no change id").to_owned()];
    if let Some(a) = approvals.get("summary").and_then(Value::as_str) {
        parts.push(a.to_owned());
    }
    if let Some(w) = window
        .and_then(|w| w.get("summary"))
        .and_then(Value::as_str)
    {
        parts.push(w.to_owned());
    }
    if let Some(b) = backup.get("summary").and_then(Value::as_str) {
        parts.push(b.to_owned());
    }
    if !standing.is_empty() {
        parts.push(format!("finding: {}", standing.join(", ")));
    }
    parts.join(" · ")
}

/// The approvals: the Git host's evidence when a record has it (verdict, required, each counted
/// approval with its pull request, the dismissed ones), else the `Approved-by` trailers, marked as
/// claims.
fn approvals(records: &[&Record], syncs: &[&SyncEvent]) -> Value {
    let claimed: Vec<&str> = syncs
        .iter()
        .rev()
        .find(|s| !s.approved_by.is_empty())
        .map(|s| s.approved_by.iter().map(String::as_str).collect())
        .unwrap_or_default();
    let evidence = records.iter().rev().find_map(|r| findings::approval(r));
    let Some(a) = evidence else {
        let summary = if claimed.is_empty() {
            "no approvals recorded".to_owned()
        } else {
            format!("{} claimed (trailers, not verified)", claimed.len())
        };
        return json!({"verified": false, "summary": summary, "claimed": claimed});
    };
    let counted: Vec<Value> = a
        .pulls
        .iter()
        .flat_map(|p| {
            p.approvers.iter().map(move |v| {
                json!({"login": v.login, "at": v.at, "commit": v.commit, "pull": p.number, "url": p.url})
            })
        })
        .collect();
    let dismissed: Vec<Value> = a
        .pulls
        .iter()
        .flat_map(|p| {
            p.dismissed
                .iter()
                .map(move |d| json!({"login": d.login, "why": d.why, "pull": p.number}))
        })
        .collect();
    // Each pull request needs `required` approvals: the count shown is that of the least approved.
    let least = a.pulls.iter().map(|p| p.approvers.len()).min().unwrap_or(0);
    let summary = format!("{} {least}/{}", a.verdict, a.required);
    json!({
        "verified": true,
        "summary": summary,
        "verdict": a.verdict,
        "finding": a.finding,
        "reason": a.reason,
        "required": a.required,
        "host": a.host,
        "repository": a.repository,
        "branch": a.branch,
        "decided": a.decided,
        "fetchedAt": a.fetched_at,
        "snapshotDigest": a.snapshot_digest,
        "pulls": a.pulls.iter().map(|p| json!({"number": p.number, "url": p.url, "author": p.author, "mergedAt": p.merged_at})).collect::<Vec<_>>(),
        "approvers": counted,
        "dismissed": dismissed,
        "directPushes": a.direct_pushes,
        "claimed": claimed,
    })
}

/// The window decision of the latest guard decision: allowed or not, why (the guard's reason names
/// the window, or when the next one opens), the windows.
fn window(g: &GuardDecision) -> Value {
    let summary = match (g.allowed, g.emergency.as_deref()) {
        (true, Some(e)) => format!("emergency {e}: windows overridden"),
        (true, None) if g.active.is_empty() => "allowed (no window applies)".to_owned(),
        (true, None) => "window open".to_owned(),
        (false, _) => match g.reason.split_once("next opens ") {
            Some((_, at)) => format!("window closed, next opens {at}"),
            None => "blocked".to_owned(),
        },
    };
    json!({
        "summary": summary,
        "allowed": g.allowed,
        "reason": g.reason,
        "at": g.at,
        "active": g.active,
        "windows": g.windows,
        "emergency": g.emergency,
    })
}

/// The pre-change backup: its name (from the sync record) and its hook phase (the gate findings).
fn backup(syncs: &[&SyncEvent]) -> Value {
    let name = syncs.iter().rev().find_map(|s| s.backup.clone());
    let phase = syncs
        .iter()
        .rev()
        .find_map(|s| s.gate.as_present()?.as_ref()?.backup.clone());
    let summary = match (&name, &phase) {
        (_, Some(p)) => Some(format!("backup {p}")),
        (Some(_), None) => Some("backup taken".to_owned()),
        (None, None) => None,
    };
    json!({"name": name, "phase": phase, "summary": summary})
}

/// The latest value of an evidence member (`verification`, `ticket`), as the record holds it.
fn latest_member(records: &[&Record], name: &str) -> Value {
    records
        .iter()
        .rev()
        .find_map(|r| r.body.to_map().remove(name).filter(|v| !v.is_null()))
        .unwrap_or(Value::Null)
}

/// The commit trailers of the change's latest sync that states each.
fn trailers(syncs: &[&SyncEvent]) -> Value {
    let last = |f: fn(&SyncEvent) -> Option<&str>| syncs.iter().rev().find_map(|s| f(s));
    json!({
        "risk": last(|s| s.risk.as_deref()),
        "tested": last(|s| s.tested.as_deref()),
        "rollback": last(|s| s.rollback.as_deref()),
        "maintenanceWindow": last(|s| s.maintenance_window.as_deref()),
    })
}

/// One sync of the change, flat.
fn sync(s: &SyncEvent) -> Value {
    json!({
        "event": s.event,
        "receivedAt": s.received_at,
        "phase": s.phase,
        "health": s.health,
        "revision": s.revision,
        "startedAt": s.started_at,
        "finishedAt": s.finished_at,
        "initiatedBy": s.initiated_by.username.clone().unwrap_or_else(|| {
            if s.initiated_by.automated { "automated".into() } else { String::new() }
        }),
        "via": s.via.as_present(),
        "gate": s.gate.as_present(),
        "historyId": s.history_id,
    })
}

/// The rollback commands: `argocd app rollback APP ID` back to the deployment before the change's
/// first completed sync, and `velero restore create --from-backup NAME` for its backup.
pub fn rollback(syncs: &[&SyncEvent]) -> Vec<String> {
    let mut out = Vec::new();
    let first = syncs
        .iter()
        .filter(|s| completed(s) && s.previous_history_id.is_some())
        .min_by_key(|s| s.previous_history_id)
        .or_else(|| {
            syncs
                .iter()
                .filter(|s| s.previous_history_id.is_some())
                .min_by_key(|s| s.previous_history_id)
        });
    if let Some(s) = first {
        let app = match s.app.namespace.as_deref() {
            // Apps in any namespace are named NAMESPACE/NAME by the CLI.
            Some(ns) if !ns.is_empty() && ns != "argocd" => format!("{ns}/{}", s.app.name),
            _ => s.app.name.clone(),
        };
        if let Some(id) = s.previous_history_id {
            out.push(format!("argocd app rollback {app} {id}"));
        }
    }
    if let Some(b) = syncs.iter().rev().find_map(|s| s.backup.as_deref()) {
        out.push(format!("velero restore create --from-backup {b}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fixture records of tests/fixtures/ui (the chain members are not read here).
    fn fixture() -> Vec<Record> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/ui/records.json"
        );
        let text = std::fs::read_to_string(path).expect("fixture");
        let maps: Vec<Map<String, Value>> = serde_json::from_str(&text).expect("JSON");
        maps.into_iter()
            .enumerate()
            .map(|(i, mut m)| {
                m.insert("seq".into(), json!(i + 1));
                m.insert("prev".into(), json!("0"));
                m.insert("hash".into(), json!("0"));
                Record::from_map(m).expect("fits the model")
            })
            .collect()
    }

    #[test]
    fn groups_by_change_newest_first_with_the_status_line() {
        let records: Vec<Record> = fixture()
            .into_iter()
            .filter(|r| r.body.app_name() == "shop")
            .collect();
        let changes = changes(&records);
        let ids: Vec<&str> = changes
            .iter()
            .filter_map(|c| c["changeId"].as_str())
            .collect();
        assert_eq!(ids, ["CHG-9999", "CHG-1234", "CHG-1200"]);
        let c = &changes[1];
        assert_eq!(
            c["status"]["line"],
            "CHG-1234 · approved 2/2 · window open · backup Succeeded"
        );
        assert_eq!(c["records"].as_array().map(Vec::len), Some(2));
        assert_eq!(
            c["approvals"]["claimed"][0],
            "Bob Reviewer <bob@example.com>"
        );
        // Without the Git host's evidence, the trailers are claims and say so.
        assert_eq!(
            changes[2]["approvals"]["summary"],
            "1 claimed (trailers, not verified)"
        );
    }

    #[test]
    fn findings_of_later_evidence_members_count_and_turn_the_change_red() {
        let records = fixture();
        let billing: Vec<&Record> = records
            .iter()
            .filter(|r| r.body.app_name() == "billing")
            .collect();
        assert_eq!(all_findings(billing[0]), ["verification-failed"]);
        let c = change("CHG-1400", &billing);
        assert_eq!(c["status"]["red"], true);
        assert!(
            c["status"]["line"]
                .as_str()
                .is_some_and(|l| l.ends_with("finding: verification-failed")),
            "{c}"
        );
        assert_eq!(c["verification"]["verdict"], "Failed");
    }

    #[test]
    fn rollback_goes_to_the_deployment_before_the_change_and_names_the_backup() {
        let records = fixture();
        let syncs: Vec<&SyncEvent> = records
            .iter()
            .filter_map(|r| {
                if let Body::Sync(s) = &r.body {
                    Some(&**s)
                } else {
                    None
                }
            })
            .filter(|s| s.change_id.as_deref() == Some("CHG-1234"))
            .collect();
        assert_eq!(
            rollback(&syncs),
            [
                "argocd app rollback shop 6",
                "velero restore create --from-backup pre-change-shop-x7k2p"
            ]
        );
        // An app in another namespace than Argo CD's is named NAMESPACE/NAME.
        let other: Vec<&SyncEvent> = records
            .iter()
            .filter_map(|r| {
                if let Body::Sync(s) = &r.body {
                    Some(&**s)
                } else {
                    None
                }
            })
            .filter(|s| s.change_id.as_deref() == Some("CHG-9999"))
            .collect();
        assert_eq!(rollback(&other), ["argocd app rollback team-b/shop 1"]);
    }

    #[test]
    fn a_record_without_change_id_is_grouped_by_revision() {
        let mut records = fixture();
        records.truncate(1);
        if let Body::Sync(s) = &mut records[0].body {
            s.change_id = None;
        }
        assert_eq!(
            change_key(&records[0]),
            "revision:4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b"
        );
        let c = &changes(&records)[0];
        assert_eq!(c["changeId"], Value::Null);
        assert!(c["status"]["line"]
            .as_str()
            .is_some_and(|l| l.starts_with("no change id")));
    }
}
