//! Queries over records and their presentations: the filter shared by `GET /v1/records` and
//! `audit list`, the table/CSV/JSON renderings, and the change report of `audit show`. Pure: records
//! in, text out.

use super::record::GUARD_DECISION;
use chrono::{DateTime, FixedOffset};
use serde_json::{Map, Value};
use std::fmt::Write as _;

/// Which records a query wants.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub app: Option<String>,
    pub change: Option<String>,
    /// Records received at or after this instant.
    pub since: Option<DateTime<FixedOffset>>,
}

impl Filter {
    /// Whether `record` passes every condition that is set.
    pub fn matches(&self, record: &Map<String, Value>) -> bool {
        let app_ok = self
            .app
            .as_deref()
            .is_none_or(|a| text(record, &["app", "name"]) == a);
        let change_ok = self
            .change
            .as_deref()
            .is_none_or(|c| text(record, &["changeId"]) == c);
        let since_ok = self.since.is_none_or(|since| {
            DateTime::parse_from_rfc3339(text(record, &["receivedAt"])).is_ok_and(|t| t >= since)
        });
        app_ok && change_ok && since_ok
    }
}

/// The string at `path`, or "" when absent or not a string.
pub fn text<'a>(record: &'a Map<String, Value>, path: &[&str]) -> &'a str {
    let Some((first, rest)) = path.split_first() else {
        return "";
    };
    rest.iter()
        .try_fold(record.get(*first), |v, k| {
            Ok::<_, ()>(v.and_then(|v| v.get(*k)))
        })
        .ok()
        .flatten()
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn seq(record: &Map<String, Value>) -> u64 {
    record.get("seq").and_then(Value::as_u64).unwrap_or(0)
}

fn initiated_by(record: &Map<String, Value>) -> String {
    match record.get("initiatedBy") {
        Some(by) if by.get("automated").and_then(Value::as_bool) == Some(true) => {
            "automated".into()
        }
        Some(by) => by
            .get("username")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned(),
        None => String::new(),
    }
}

fn list(record: &Map<String, Value>, key: &str) -> Vec<String> {
    record
        .get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn number(record: &Map<String, Value>, key: &str) -> String {
    record
        .get(key)
        .and_then(Value::as_i64)
        .map_or_else(String::new, |n| n.to_string())
}

fn allowed(record: &Map<String, Value>) -> &'static str {
    match record.get("allowed").and_then(Value::as_bool) {
        Some(true) => "allowed",
        Some(false) => "blocked",
        None => "",
    }
}

/// Text safe for a terminal: control characters become spaces.
fn clean(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

fn short(rev: &str) -> &str {
    rev.get(..12).unwrap_or(rev)
}

/// Columns of the CSV export, in order.
pub const CSV_COLUMNS: [&str; 23] = [
    "seq",
    "receivedAt",
    "event",
    "app",
    "appNamespace",
    "project",
    "destinationServer",
    "destinationNamespace",
    "revision",
    "phase",
    "health",
    "startedAt",
    "finishedAt",
    "initiatedBy",
    "changeId",
    "approvedBy",
    "risk",
    "tested",
    "rollback",
    "maintenanceWindow",
    "backup",
    "decision",
    "hash",
];

/// The records as CSV (RFC 4180: CRLF line ends, fields with `,` `"` CR or LF quoted, `"` doubled).
pub fn to_csv(records: &[Map<String, Value>]) -> String {
    let mut out = String::new();
    push_csv_row(&mut out, CSV_COLUMNS.iter().map(|c| (*c).to_owned()));
    for r in records {
        let row = [
            seq(r).to_string(),
            text(r, &["receivedAt"]).into(),
            text(r, &["event"]).into(),
            text(r, &["app", "name"]).into(),
            text(r, &["app", "namespace"]).into(),
            text(r, &["app", "project"]).into(),
            text(r, &["destination", "server"]).into(),
            text(r, &["destination", "namespace"]).into(),
            text(r, &["revision"]).into(),
            text(r, &["phase"]).into(),
            text(r, &["health"]).into(),
            text(r, &["startedAt"]).into(),
            text(r, &["finishedAt"]).into(),
            initiated_by(r),
            text(r, &["changeId"]).into(),
            list(r, "approvedBy").join("; "),
            text(r, &["risk"]).into(),
            text(r, &["tested"]).into(),
            text(r, &["rollback"]).into(),
            text(r, &["maintenanceWindow"]).into(),
            text(r, &["backup"]).into(),
            allowed(r).into(),
            text(r, &["hash"]).into(),
        ];
        push_csv_row(&mut out, row.into_iter());
    }
    out
}

fn push_csv_row(out: &mut String, fields: impl Iterator<Item = String>) {
    for (i, f) in fields.enumerate() {
        if i > 0 {
            out.push(',');
        }
        if f.contains([',', '"', '\r', '\n']) {
            out.push('"');
            out.push_str(&f.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(&f);
        }
    }
    out.push_str("\r\n");
}

/// The records as an aligned table for people.
pub fn to_table(records: &[Map<String, Value>]) -> String {
    let header = [
        "SEQ", "RECEIVED", "EVENT", "APP", "REVISION", "PHASE", "CHANGE", "BY",
    ];
    let rows: Vec<[String; 8]> = records
        .iter()
        .map(|r| {
            let phase = match text(r, &["event"]) {
                GUARD_DECISION => allowed(r).to_owned(),
                _ => text(r, &["phase"]).to_owned(),
            };
            [
                seq(r).to_string(),
                text(r, &["receivedAt"]).to_owned(),
                text(r, &["event"]).to_owned(),
                text(r, &["app", "name"]).to_owned(),
                short(text(r, &["revision"])).to_owned(),
                phase,
                text(r, &["changeId"]).to_owned(),
                initiated_by(r),
            ]
            .map(|c| clean(&c))
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let mut push = |cells: Vec<&str>| {
        let line: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    };
    push(header.to_vec());
    for row in &rows {
        push(row.iter().map(String::as_str).collect());
    }
    out
}

/// The change report of `audit show`, or `None` when no record concerns `change_id`.
///
/// `records` is the whole log in order. A guard decision belongs to the change when it names it (as
/// change id or emergency id), or when it has no change id and its app and revision are those of one
/// of the change's syncs.
pub fn change_report(change_id: &str, records: &[Map<String, Value>]) -> Option<String> {
    let syncs: Vec<&Map<String, Value>> = records
        .iter()
        .filter(|r| text(r, &["event"]) != GUARD_DECISION && text(r, &["changeId"]) == change_id)
        .collect();
    let synced = |r: &Map<String, Value>| {
        syncs.iter().any(|s| {
            text(s, &["app", "name"]) == text(r, &["app", "name"])
                && !text(r, &["revision"]).is_empty()
                && text(s, &["revision"]) == text(r, &["revision"])
        })
    };
    let guards: Vec<&Map<String, Value>> = records
        .iter()
        .filter(|r| text(r, &["event"]) == GUARD_DECISION)
        .filter(|r| {
            text(r, &["changeId"]) == change_id
                || text(r, &["emergency"]) == change_id
                || (text(r, &["changeId"]).is_empty() && synced(r))
        })
        .collect();
    if syncs.is_empty() && guards.is_empty() {
        return None;
    }
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "Change {}", clean(change_id));
    if let Some(first) = syncs
        .iter()
        .find(|s| s.get("commit").is_some_and(Value::is_object))
    {
        let _ = writeln!(
            w,
            "  subject:     {}",
            clean(text(first, &["commit", "subject"]))
        );
        let _ = writeln!(
            w,
            "  author:      {}",
            clean(text(first, &["commit", "author"]))
        );
    }
    let mut approvers: Vec<String> = Vec::new();
    for a in syncs.iter().flat_map(|s| list(s, "approvedBy")) {
        if !approvers.iter().any(|x| x.eq_ignore_ascii_case(&a)) {
            approvers.push(a);
        }
    }
    let approved = if approvers.is_empty() {
        "(none recorded)".to_owned()
    } else {
        approvers.join(", ")
    };
    let _ = writeln!(w, "  approved by: {}", clean(&approved));
    for (label, key) in [
        ("risk", "risk"),
        ("tested", "tested"),
        ("rollback", "rollback"),
        ("window", "maintenanceWindow"),
    ] {
        let v = syncs
            .iter()
            .map(|s| text(s, &[key]))
            .rfind(|v| !v.is_empty());
        let _ = writeln!(w, "  {label:<12} {}", clean(v.unwrap_or("(not stated)")));
    }
    if let Some(e) = syncs
        .iter()
        .map(|s| text(s, &["emergency"]))
        .rfind(|v| !v.is_empty())
    {
        let _ = writeln!(w, "  EMERGENCY change (override {})", clean(e));
    }

    let _ = writeln!(w, "\nSyncs:");
    let sync_rows: Vec<Map<String, Value>> = syncs.iter().map(|s| (*s).clone()).collect();
    for line in to_table(&sync_rows).lines() {
        let _ = writeln!(w, "  {line}");
    }

    let _ = writeln!(w, "\nWindows (guard decisions):");
    if guards.is_empty() {
        let _ = writeln!(w, "  (no guard decision recorded)");
    }
    for g in &guards {
        let windows = list(g, "windows");
        let within = if windows.is_empty() {
            "no active window".to_owned()
        } else {
            windows.join("; ")
        };
        let emergency = match text(g, &["emergency"]) {
            "" => String::new(),
            e => format!(", emergency override {e}"),
        };
        let _ = writeln!(
            w,
            "  {} {} {} at revision {}: {} in {}{} ({})",
            text(g, &["at"]),
            text(g, &["app", "name"]),
            allowed(g),
            short(text(g, &["revision"])),
            clean(text(g, &["reason"])),
            clean(&within),
            clean(&emergency),
            format_args!("active {:?}", list(g, "active")),
        );
    }

    let _ = writeln!(w, "\nPre-change backups:");
    let mut backups: Vec<(&str, &str)> = Vec::new();
    for s in &syncs {
        let b = text(s, &["backup"]);
        if !b.is_empty() && !backups.iter().any(|(_, x)| *x == b) {
            backups.push((text(s, &["app", "name"]), b));
        }
    }
    if backups.is_empty() {
        let _ = writeln!(w, "  (none recorded)");
    }
    for (app, b) in &backups {
        let _ = writeln!(w, "  {} (app {})", clean(b), clean(app));
    }

    let _ = writeln!(w, "\nRollback:");
    rollback_commands(w, &syncs, &backups);
    Some(out)
}

/// One `argocd app rollback` per app (to the deployment before the change's first recorded sync), and a
/// `velero restore` per backup.
fn rollback_commands(w: &mut String, syncs: &[&Map<String, Value>], backups: &[(&str, &str)]) {
    let mut apps: Vec<&str> = Vec::new();
    for s in syncs {
        let app = text(s, &["app", "name"]);
        if !apps.contains(&app) {
            apps.push(app);
        }
    }
    let mut any = false;
    for app in apps {
        let of_app = syncs.iter().filter(|s| text(s, &["app", "name"]) == app);
        let with_prev = of_app
            .clone()
            .filter(|s| !number(s, "previousHistoryId").is_empty())
            .min_by_key(|s| s.get("previousHistoryId").and_then(Value::as_i64));
        match with_prev {
            Some(s) => {
                let _ = writeln!(
                    w,
                    "  argocd app rollback {} {}    # back to revision {}",
                    clean(app),
                    number(s, "previousHistoryId"),
                    short(text(s, &["previousRevision"]))
                );
                any = true;
            }
            None => {
                if let Some(s) = of_app.clone().rfind(|s| !number(s, "historyId").is_empty()) {
                    let _ = writeln!(
                        w,
                        "  # {}: the change is history id {}; roll back to the id before it: argocd app history {}",
                        clean(app),
                        number(s, "historyId"),
                        clean(app)
                    );
                    any = true;
                }
            }
        }
    }
    for (_, b) in backups {
        let _ = writeln!(w, "  velero restore create --from-backup {}", clean(b));
        any = true;
    }
    if !any {
        let _ = writeln!(w, "  (no history id or backup recorded)");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn csv_quotes_as_rfc_4180() {
        let r = rec(
            json!({"seq": 1, "event": "deployed", "app": {"name": "a,b"},
            "rollback": "say \"revert\"\nthen sync", "approvedBy": ["x", "y"]}),
        );
        let csv = to_csv(&[r]);
        let row = csv.split("\r\n").nth(1).unwrap();
        assert!(row.starts_with("1,,deployed,\"a,b\","), "{row}");
        assert!(csv.contains("\"say \"\"revert\"\"\nthen sync\""), "{csv}");
        assert!(csv.contains(",x; y,"));
        assert!(csv.ends_with("\r\n"));
    }

    #[test]
    fn filter_by_app_change_and_since() {
        let r = rec(
            json!({"app": {"name": "shop"}, "changeId": "CHG-1", "receivedAt": "2026-01-02T00:00:00Z"}),
        );
        let mut f = Filter {
            app: Some("shop".into()),
            ..Filter::default()
        };
        assert!(f.matches(&r));
        f.change = Some("CHG-2".into());
        assert!(!f.matches(&r));
        f.change = Some("CHG-1".into());
        f.since = DateTime::parse_from_rfc3339("2026-01-02T00:00:01Z").ok();
        assert!(!f.matches(&r));
    }

    #[test]
    fn show_reports_rollback_to_the_deployment_before_the_change() {
        let records = vec![
            rec(
                json!({"seq": 1, "event": "guard-decision", "app": {"name": "shop"}, "changeId": null,
                "revision": "bbb", "allowed": true, "reason": "inside window", "at": "2026-01-02T00:00:00Z",
                "active": [0], "windows": ["Tue/Thu maintenance window"]}),
            ),
            rec(
                json!({"seq": 2, "event": "sync-succeeded", "app": {"name": "shop"}, "changeId": "CHG-1",
                "revision": "bbb", "phase": "Succeeded", "historyId": 5, "previousHistoryId": 4,
                "previousRevision": "aaa", "backup": "pre-change-chg-1-x", "approvedBy": ["Bob"],
                "risk": "low", "initiatedBy": {"username": "alice", "automated": false},
                "commit": {"subject": "CHG-1: bump", "author": "Ann"}}),
            ),
        ];
        let report = change_report("CHG-1", &records).unwrap();
        assert!(report.contains("argocd app rollback shop 4"), "{report}");
        assert!(report.contains("velero restore create --from-backup pre-change-chg-1-x"));
        assert!(report.contains("Tue/Thu maintenance window"));
        assert!(report.contains("approved by: Bob"));
        assert!(change_report("CHG-2", &records).is_none());
    }
}
