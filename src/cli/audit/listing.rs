//! The records as `audit list` and `audit exceptions` print them for people and spreadsheets: the
//! table, the wide table, RFC 4180 CSV, and the table of gate exceptions (JSON and YAML are the
//! records' own serialization). Pure: typed records in, text out. A member a record does not have
//! prints as an empty cell, as `null` does.

use super::table::{self, confirms, decision, initiated_by, short, text};
use crate::record::{confirm, Body, Gate, Record};
use std::collections::{BTreeSet, HashMap};

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

/// The records as CSV (RFC 4180: CRLF line ends, fields with `,` `"` CR or LF quoted, `"` doubled). A
/// cell a spreadsheet would take for a formula gets a leading `'` (OWASP's rule, as the export's).
pub fn to_csv(records: &[Record]) -> String {
    let mut out = String::new();
    push_csv_row(&mut out, CSV_COLUMNS.iter().map(|c| (*c).to_owned()));
    for r in records {
        push_csv_row(
            &mut out,
            csv_row(r)
                .into_iter()
                .map(|c| crate::evidence::export::neutralise(&c).into_owned()),
        );
    }
    out
}

/// The [`CSV_COLUMNS`] of a record; a column the record's kind does not have is empty.
fn csv_row(r: &Record) -> [String; 23] {
    let (seq, hash) = (r.seq.to_string(), r.hash.clone());
    match &r.body {
        Body::Sync(s) => [
            seq,
            s.received_at.clone(),
            s.event.clone(),
            s.app.name.clone(),
            text(s.app.namespace.as_deref()).into(),
            text(s.app.project.as_deref()).into(),
            text(s.destination.server.as_deref()).into(),
            text(s.destination.namespace.as_deref()).into(),
            text(s.revision.as_deref()).into(),
            text(s.phase.as_deref()).into(),
            text(s.health.as_deref()).into(),
            text(s.started_at.as_deref()).into(),
            text(s.finished_at.as_deref()).into(),
            initiated_by(s).into(),
            text(s.change_id.as_deref()).into(),
            s.approved_by.join("; "),
            text(s.risk.as_deref()).into(),
            text(s.tested.as_deref()).into(),
            text(s.rollback.as_deref()).into(),
            text(s.maintenance_window.as_deref()).into(),
            text(s.backup.as_deref()).into(),
            String::new(),
            hash,
        ],
        Body::Verify(v) => [
            seq,
            v.received_at.clone(),
            v.event.clone(),
            v.app.name.clone(),
            String::new(),
            String::new(),
            String::new(),
            text(v.destination.namespace.as_deref()).into(),
            text(v.revision.as_deref()).into(),
            verdict_of(v).into(),
            String::new(),
            text(v.verification.started_at.as_deref()).into(),
            text(v.verification.finished_at.as_deref()).into(),
            String::new(),
            text(v.change_id.as_deref()).into(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            hash,
        ],
        Body::Guard(g) => [
            seq,
            g.received_at.clone(),
            g.event.clone(),
            g.app.name.clone(),
            String::new(),
            String::new(),
            String::new(),
            text(g.destination.namespace.as_deref()).into(),
            text(g.revision.as_deref()).into(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            text(g.change_id.as_deref()).into(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            decision(g).into(),
            hash,
        ],
        Body::Review(v) => [
            seq,
            v.received_at.clone(),
            v.event.clone(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            v.by.clone(),
            v.change_id.clone(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            reviewed(v).into(),
            hash,
        ],
        Body::Confirmation(c) => [
            seq,
            c.received_at.clone(),
            c.event.clone(),
            c.app.name.clone(),
            text(c.app.namespace.as_deref()).into(),
            text(c.app.project.as_deref()).into(),
            String::new(),
            String::new(),
            String::new(),
            confirms(c),
            String::new(),
            text(c.started_at.as_deref()).into(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
            hash,
        ],
    }
}

/// A review as the decision column shows it.
fn reviewed(v: &crate::record::Review) -> &'static str {
    if v.late {
        "reviewed late"
    } else {
        "reviewed"
    }
}

/// The verdict of a verification record, for the PHASE column.
fn verdict_of(v: &crate::record::VerificationRecord) -> &str {
    v.verification.verdict.as_deref().unwrap_or("(no verdict)")
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
pub fn to_table(records: &[Record]) -> String {
    let header = [
        "SEQ", "RECEIVED", "EVENT", "APP", "REVISION", "PHASE", "CHANGE", "BY",
    ];
    let rows = records
        .iter()
        .map(|r| {
            let b = &r.body;
            let (phase, by) = match b {
                Body::Sync(s) => (text(s.phase.as_deref()).to_owned(), initiated_by(s)),
                Body::Guard(g) => (decision(g).to_owned(), ""),
                Body::Review(v) => (reviewed(v).to_owned(), v.by.as_str()),
                Body::Verify(v) => (verdict_of(v).to_owned(), ""),
                Body::Confirmation(c) => (confirms(c), ""),
            };
            vec![
                r.seq.to_string(),
                b.received_at().to_owned(),
                b.event().to_owned(),
                b.app_name().to_owned(),
                short(b.revision().unwrap_or("")).to_owned(),
                phase,
                b.change_id().unwrap_or("").to_owned(),
                by.to_owned(),
            ]
        })
        .collect();
    table::aligned(&header, rows)
}

/// The records as a wide table (`audit list -o wide`): the table's columns, the full revision, and where
/// the change went, who approved it and its backup.
pub fn to_wide_table(records: &[Record]) -> String {
    let header = [
        "SEQ",
        "RECEIVED",
        "EVENT",
        "APP",
        "DESTINATION",
        "REVISION",
        "PHASE",
        "HEALTH",
        "CHANGE",
        "BY",
        "APPROVED BY",
        "BACKUP",
    ];
    let rows = records
        .iter()
        .map(|r| {
            let b = &r.body;
            let (namespace, phase, health, by, approved, backup) = match b {
                Body::Sync(s) => (
                    text(s.destination.namespace.as_deref()),
                    text(s.phase.as_deref()).to_owned(),
                    text(s.health.as_deref()),
                    initiated_by(s),
                    s.approved_by.join(", "),
                    text(s.backup.as_deref()),
                ),
                Body::Guard(g) => (
                    text(g.destination.namespace.as_deref()),
                    decision(g).to_owned(),
                    "",
                    "",
                    String::new(),
                    "",
                ),
                Body::Review(v) => (
                    "",
                    reviewed(v).to_owned(),
                    "",
                    v.by.as_str(),
                    String::new(),
                    "",
                ),
                Body::Confirmation(c) => ("", confirms(c), "", "", String::new(), ""),
                Body::Verify(v) => (
                    text(v.destination.namespace.as_deref()),
                    verdict_of(v).to_owned(),
                    "",
                    "",
                    String::new(),
                    "",
                ),
            };
            vec![
                r.seq.to_string(),
                b.received_at().to_owned(),
                b.event().to_owned(),
                b.app_name().to_owned(),
                namespace.to_owned(),
                b.revision().unwrap_or("").to_owned(),
                phase,
                health.to_owned(),
                b.change_id().unwrap_or("").to_owned(),
                by.to_owned(),
                approved,
                backup.to_owned(),
            ]
        })
        .collect();
    table::aligned(&header, rows)
}

/// The findings `audit exceptions` lists beside a record: its gate exceptions and what its approvals
/// and ticket lack, the review its emergency awaits (`reviews`: on the emergency's first record), and
/// `unconfirmed` for a webhook record the Application watch never confirmed (`unconfirmed`).
pub struct Findings<'a> {
    pub reviews: &'a HashMap<u64, String>,
    pub unconfirmed: &'a BTreeSet<u64>,
}

/// The columns of the exceptions listing; `wide` adds the destination namespace and the phase (or
/// the guard's decision), and gives the full revision.
fn exception_rows(
    records: &[Record],
    found: &Findings,
    wide: bool,
) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let mut header = vec!["SEQ", "RECEIVED", "APP"];
    if wide {
        header.extend(["DESTINATION", "EVENT", "PHASE"]);
    } else {
        header.push("EVENT");
    }
    header.extend(["REVISION", "CHANGE", "VIA", "HOOKS", "EXCEPTIONS"]);
    let rows = records
        .iter()
        .filter_map(|r| {
            let (via, hooks, change, namespace, phase) = match &r.body {
                Body::Sync(s) => (
                    s.via.as_present().cloned().unwrap_or_default(),
                    match s.gate.as_present() {
                        Some(Some(g)) => hooks_ran(g),
                        _ => String::new(),
                    },
                    s.change_id.clone().or_else(|| s.emergency.clone()),
                    text(s.destination.namespace.as_deref()),
                    text(s.phase.as_deref()),
                ),
                Body::Guard(g) => (
                    String::new(),
                    String::new(),
                    g.change_id.clone().or_else(|| g.emergency.clone()),
                    text(g.destination.namespace.as_deref()),
                    decision(g),
                ),
                // A verification record's own copy has no finding (its sync record carries it); a
                // confirmation is the watch's witness, not a change.
                Body::Review(_) | Body::Verify(_) | Body::Confirmation(_) => return None,
            };
            let mut exceptions: Vec<String> = crate::record::findings::findings(r)
                .into_iter()
                .map(str::to_owned)
                .collect();
            exceptions.extend(found.reviews.get(&r.seq).cloned());
            if found.unconfirmed.contains(&r.seq) {
                exceptions.push(confirm::UNCONFIRMED.to_owned());
            }
            let b = &r.body;
            let revision = b.revision().unwrap_or("");
            let mut row = vec![
                r.seq.to_string(),
                b.received_at().to_owned(),
                b.app_name().to_owned(),
            ];
            if wide {
                row.extend([
                    namespace.to_owned(),
                    b.event().to_owned(),
                    phase.to_owned(),
                    revision.to_owned(),
                ]);
            } else {
                row.extend([
                    b.event().to_owned(),
                    revision.get(..12).unwrap_or(revision).to_owned(),
                ]);
            }
            row.extend([change.unwrap_or_default(), via, hooks, exceptions.join(",")]);
            Some(row)
        })
        .collect();
    (header, rows)
}

/// The records with exceptions as an aligned table: when, which app and operation, the change, how
/// the sink learnt of it, which hooks ran, why the gate was skipped, what the approvals and the ticket
/// lack, the emergencies awaiting review, and the webhook records the watch never confirmed (`wide`:
/// also where it went, its phase and the full revision).
pub fn exceptions_table(records: &[Record], found: &Findings, wide: bool) -> String {
    let (header, rows) = exception_rows(records, found, wide);
    table::aligned(&header, rows)
}

/// The wide exceptions listing as RFC 4180 CSV, with the column names of the JSON records (formula
/// cells neutralised as in [`to_csv`]).
pub fn exceptions_csv(records: &[Record], found: &Findings) -> String {
    let (_, rows) = exception_rows(records, found, true);
    let mut out = String::new();
    push_csv_row(
        &mut out,
        [
            "seq",
            "receivedAt",
            "app",
            "destinationNamespace",
            "event",
            "phase",
            "revision",
            "changeId",
            "via",
            "hooks",
            "exceptions",
        ]
        .iter()
        .map(|c| (*c).to_owned()),
    );
    for row in rows {
        push_csv_row(
            &mut out,
            row.into_iter()
                .map(|c| crate::evidence::export::neutralise(&c).into_owned()),
        );
    }
    out
}

/// `guard,backup,migrations` as far as they ran, `none` when none did.
fn hooks_ran(g: &Gate) -> String {
    let ran: Vec<&str> = [
        ("guard", &g.guard),
        ("backup", &g.backup),
        ("migrations", &g.migrations),
    ]
    .into_iter()
    .filter(|(_, phase)| phase.is_some())
    .map(|(name, _)| name)
    .collect();
    if ran.is_empty() {
        "none".to_owned()
    } else {
        ran.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{event_record, SyncEvent};
    use serde_json::json;

    fn sync_event(event: &str, app: &str, received_at: &str) -> SyncEvent {
        let body = json!({"event": event, "app": {"metadata": {"name": app}}});
        let pattern = regex::Regex::new("^CHG-[0-9]+$").unwrap();
        match event_record(&body, received_at, &pattern).unwrap() {
            Body::Sync(s) => *s,
            Body::Guard(_) | Body::Review(_) | Body::Verify(_) | Body::Confirmation(_) => {
                unreachable!("an event body")
            }
        }
    }

    fn rec(seq: u64, body: Body) -> Record {
        Record {
            seq,
            prev: "p".into(),
            hash: format!("h{seq}"),
            body,
        }
    }

    #[test]
    fn csv_quotes_as_rfc_4180() {
        let mut s = sync_event("deployed", "a,b", "");
        s.rollback = Some("say \"revert\"\nthen sync".into());
        s.approved_by = vec!["x".into(), "y".into()];
        let csv = to_csv(&[rec(1, Body::Sync(Box::new(s)))]);
        let row = csv.split("\r\n").nth(1).unwrap();
        assert!(row.starts_with("1,,deployed,\"a,b\","), "{row}");
        assert!(csv.contains("\"say \"\"revert\"\"\nthen sync\""), "{csv}");
        assert!(csv.contains(",x; y,"));
        assert!(csv.ends_with("\r\n"));
    }
}
