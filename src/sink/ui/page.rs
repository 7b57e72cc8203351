//! The auditor's pages (docs/ui.md), server-rendered HTML with inline styles: no script, no external
//! asset (air-gapped clusters), printable on A4. `/audit` searches a period, app, change id and
//! person and lists the exceptions first; `/audit/change/ID` is the change page with every evidence
//! field, the integrity of each record (its hash, and the signed checkpoint that covers it), and each
//! record whole; `/audit/records.json` exports a search's records. Every value is escaped.

use super::search::{self, Params};
use super::summary;
use super::{Access, Answer};
use crate::evidence::checkpoint;
use crate::ledger::{Reader, Select};
use crate::record::Record;
use serde_json::Value;
use std::fmt::Write as _;

/// Most records of one change the change page reads.
const MAX_CHANGE_RECORDS: usize = 1000;

const STYLE: &str = "
body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0 auto;max-width:1200px;padding:16px;color:#1b1f24;background:#fff}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:20px 0 6px;border-bottom:1px solid #d0d7de;padding-bottom:2px}
h3{font-size:15px;margin:14px 0 4px}
table{border-collapse:collapse;width:100%;margin:4px 0 10px}th,td{border:1px solid #d0d7de;padding:3px 6px;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#f3f5f7}td.k{width:28%;font-weight:600;background:#f8f9fa}
code,pre{font:12px/1.35 ui-monospace,'DejaVu Sans Mono',monospace;overflow-wrap:anywhere}pre{white-space:pre-wrap;word-break:break-all;background:#f6f8fa;border:1px solid #d0d7de;padding:6px;margin:4px 0}
a{color:#0550ae}.red{color:#8b1a1a;font-weight:700}.ok{color:#116329;font-weight:700}
.status{padding:6px 10px;border:2px solid #116329;border-radius:4px;margin:6px 0}.status.red{border-color:#b42318;background:#fdecea}
form{display:flex;flex-wrap:wrap;gap:8px;align-items:end;margin:8px 0}label{display:flex;flex-direction:column;font-size:12px;font-weight:600}
input{font:inherit;font-weight:400;padding:3px 6px;border:1px solid #8c959f;border-radius:3px}button{font:inherit;padding:4px 12px}
.muted{color:#57606a}nav{margin:4px 0 12px}
@page{size:A4;margin:14mm 12mm}
@media print{body{max-width:none;padding:0;font-size:10.5pt}form,nav,.noprint{display:none}a{color:inherit;text-decoration:none}
h2{break-after:avoid}tr,pre{break-inside:avoid}pre{font-size:8pt}}
";

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// What a query value or path segment keeps as it is (RFC 3986's unreserved characters).
const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes a query value or path segment.
fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, KEEP).to_string()
}

fn document(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{}</title><style>{STYLE}</style></head><body><main>{body}</main></body></html>\n",
        esc(title)
    )
}

/// A page with a heading and one paragraph.
pub fn message(title: &str, text: &str) -> String {
    document(
        title,
        &format!("<h1>{}</h1><p>{}</p>", esc(title), esc(text)),
    )
}

/// Answers `/audit…`.
pub fn answer(access: &Access, reader: &Reader, path: &str, query: &str) -> Answer {
    if path == "/audit" || path == "/audit/" {
        return search_page(access, reader, query);
    }
    if path == "/audit/records.json" {
        return export(access, reader, query);
    }
    if let Some(id) = path.strip_prefix("/audit/change/") {
        let id = percent_encoding::percent_decode_str(id).decode_utf8_lossy();
        // An empty id would select every record without one.
        if !id.trim().is_empty() {
            return change_page(access, reader, &id);
        }
    }
    Answer::html(404, message("Not found", "No such page: start at /audit."))
}

fn search_page(access: &Access, reader: &Reader, query: &str) -> Answer {
    let params = match Params::parse(query) {
        Ok(p) => p,
        Err(e) => {
            return Answer::html(
                400,
                document(
                    "Search",
                    &(form(&Params::default())
                        + &format!("<p class=\"red\" role=\"alert\">{}</p>", esc(&e))),
                ),
            )
        }
    };
    let found = match search::run(access, reader, &params) {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the audit log for the auditor's page");
            return Answer::html(
                500,
                message("Error", "The audit log cannot be read; see the sink's log."),
            );
        }
    };
    let head = reader.head();
    let mut b = String::new();
    let _ = write!(
        b,
        "<h1>Audit log</h1><p class=\"muted\">{} records · head <code>{}</code> · {}</p>",
        head.seq,
        esc(short(&head.hash)),
        esc(&checkpoint_line(access, head.seq))
    );
    b.push_str(&form(&params));
    let (lo, hi) = found.range;
    let _ = write!(
        b,
        "<p class=\"muted\">Records shown: {}{} (seq {lo}–{hi} of the period).</p>",
        found.records.len(),
        if found.cut {
            format!(
                ", search stopped after {} records read: narrow it",
                search::MAX_EXAMINED
            )
        } else {
            String::new()
        }
    );
    let exceptions: Vec<&Record> = found
        .records
        .iter()
        .filter(|r| !summary::all_findings(r).is_empty())
        .collect();
    b.push_str("<h2 id=\"exceptions\">Exceptions</h2>");
    if exceptions.is_empty() {
        b.push_str("<p>No record in this search has a finding.</p>");
    } else {
        b.push_str("<table><thead><tr><th scope=\"col\">Seq</th><th scope=\"col\">Received</th><th scope=\"col\">App</th><th scope=\"col\">Change</th><th scope=\"col\">Findings</th></tr></thead><tbody>");
        for r in &exceptions {
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"red\">{}</td></tr>",
                r.seq,
                esc(r.body.received_at()),
                esc(r.body.app_name()),
                change_link(r),
                esc(&summary::all_findings(r).join(", "))
            );
        }
        b.push_str("</tbody></table>");
    }
    b.push_str("<h2 id=\"changes\">Changes</h2>");
    let changes = grouped(&found.records);
    if changes.is_empty() {
        b.push_str("<p>No change in this search.</p>");
    } else {
        b.push_str("<table><thead><tr><th scope=\"col\">Change</th><th scope=\"col\">App</th><th scope=\"col\">Last record</th><th scope=\"col\">Records</th><th scope=\"col\">Status</th></tr></thead><tbody>");
        for c in &changes {
            let red = c["status"]["red"].as_bool().unwrap_or(false);
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td{}>{}</td></tr>",
                match c["changeId"].as_str() {
                    Some(id) => format!("<a href=\"/audit/change/{}\">{}</a>", enc(id), esc(id)),
                    None => esc(c["key"].as_str().unwrap_or("")),
                },
                esc(c["app"].as_str().unwrap_or("")),
                esc(c["last"].as_str().unwrap_or("")),
                c["records"].as_array().map_or(0, Vec::len),
                if red { " class=\"red\"" } else { "" },
                esc(c["status"]["line"].as_str().unwrap_or(""))
            );
        }
        b.push_str("</tbody></table>");
    }
    let q = query_of(&params);
    let _ = write!(
        b,
        "<p class=\"noprint\"><a href=\"/audit/records.json?{q}\">Export these records (JSON)</a> · the signed bundle for working papers: <code>sluice audit export</code></p>"
    );
    if let Some(next) = found.next {
        let _ = write!(
            b,
            "<nav><a href=\"/audit?{q}&amp;after={next}\">Next page (after seq {next})</a></nav>"
        );
    }
    Answer::html(200, document("Audit log", &b))
}

/// The search's records grouped into changes per app, the newest first.
fn grouped(records: &[Record]) -> Vec<Value> {
    let mut apps: Vec<(&str, Vec<Record>)> = Vec::new();
    for r in records {
        match apps.iter_mut().find(|(a, _)| *a == r.body.app_name()) {
            Some((_, list)) => list.push(r.clone()),
            None => apps.push((r.body.app_name(), vec![r.clone()])),
        }
    }
    let mut all: Vec<Value> = apps
        .iter()
        .flat_map(|(_, list)| summary::changes(list))
        .collect();
    all.sort_by(|a, b| b["last"].as_str().cmp(&a["last"].as_str()));
    all
}

fn change_link(r: &Record) -> String {
    match r.body.change_id() {
        Some(id) if !id.is_empty() => {
            format!("<a href=\"/audit/change/{}\">{}</a>", enc(id), esc(id))
        }
        _ => "<span class=\"muted\">none</span>".into(),
    }
}

fn query_of(p: &Params) -> String {
    let mut q = String::new();
    for (k, v) in [
        ("from", &p.from),
        ("to", &p.to),
        ("app", &p.app),
        ("change", &p.change),
        ("person", &p.person),
    ] {
        if !v.is_empty() {
            let _ = write!(
                q,
                "{}{k}={}",
                if q.is_empty() { "" } else { "&amp;" },
                enc(v)
            );
        }
    }
    q
}

fn form(p: &Params) -> String {
    let field = |name: &str, label: &str, value: &str, hint: &str| {
        format!(
            "<label for=\"f-{name}\">{label}<input id=\"f-{name}\" name=\"{name}\" value=\"{}\" placeholder=\"{hint}\"></label>",
            esc(value)
        )
    };
    format!(
        "<form method=\"get\" action=\"/audit\" role=\"search\">{}{}{}{}{}<button type=\"submit\">Search</button></form>",
        field("from", "From", &p.from, "2026-11-01"),
        field("to", "To", &p.to, "2026-11-30"),
        field("app", "App", &p.app, "shop"),
        field("change", "Change id", &p.change, "CHG-1234"),
        field("person", "Person", &p.person, "alice")
    )
}

fn export(access: &Access, reader: &Reader, query: &str) -> Answer {
    let params = match Params::parse(query) {
        Ok(p) => p,
        Err(e) => return Answer::error(400, &e),
    };
    match search::run(access, reader, &params) {
        Ok(found) => Answer {
            status: 200,
            content_type: "application/json",
            body: serde_json::to_string(&found.records).unwrap_or_else(|_| "[]".into()),
            extra: Some((
                "content-disposition",
                "attachment; filename=\"sluice-records.json\"",
            )),
        },
        Err(e) => {
            tracing::error!(error = %e, "cannot read the audit log for an export");
            Answer::error(500, "cannot read the audit log")
        }
    }
}

/// The newest signed checkpoint: its size, or why there is none.
fn latest_checkpoint(access: &Access) -> Option<u64> {
    checkpoint::list(&access.data_dir, checkpoint::DIR)
        .ok()
        .and_then(|l| l.iter().map(|(size, _)| *size).max())
}

fn checkpoint_line(access: &Access, head: u64) -> String {
    match latest_checkpoint(access) {
        Some(size) => format!("latest signed checkpoint covers seq 1–{size} (of {head})"),
        None => "no signed checkpoint yet (sluice serve --checkpoint-key-file)".into(),
    }
}

fn change_page(access: &Access, reader: &Reader, id: &str) -> Answer {
    let select = Select {
        app: None,
        change: Some(id.to_owned()),
    };
    let records = match access
        .queries
        .query(reader, &select, Some(0), MAX_CHANGE_RECORDS)
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "cannot read the audit log for a change page");
            return Answer::html(
                500,
                message("Error", "The audit log cannot be read; see the sink's log."),
            );
        }
    };
    if records.is_empty() {
        return Answer::html(
            404,
            message(&format!("Change {id}"), "No record names this change id."),
        );
    }
    let mut apps: Vec<(&str, Vec<&Record>)> = Vec::new();
    for r in &records {
        match apps.iter_mut().find(|(a, _)| *a == r.body.app_name()) {
            Some((_, list)) => list.push(r),
            None => apps.push((r.body.app_name(), vec![r])),
        }
    }
    let checkpoint = latest_checkpoint(access);
    let mut b = String::new();
    let _ = write!(
        b,
        "<nav class=\"noprint\"><a href=\"/audit\">Audit log</a> › change</nav><h1>Change {}</h1><p class=\"muted\">{} records in {} app(s) · printed from the sink's log, head seq {}</p>",
        esc(id),
        records.len(),
        apps.len(),
        reader.head().seq
    );
    for (app, list) in &apps {
        let c = summary::change(id, list);
        section(&mut b, app, &c, checkpoint);
    }
    Answer::html(200, document(&format!("Change {id}"), &b))
}

/// One app's part of the change page.
fn section(out: &mut String, app: &str, change: &Value, checkpoint: Option<u64>) {
    let red = change["status"]["red"].as_bool().unwrap_or(false);
    let _ = write!(
        out,
        "<h2>App {}</h2><div class=\"status{}\" role=\"status\"><strong>{}</strong></div>",
        esc(app),
        if red { " red" } else { "" },
        esc(change["status"]["line"].as_str().unwrap_or(""))
    );
    let show = |v: &Value| match v {
        Value::Null => "—".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let commit = &change["commit"];
    rows(
        out,
        "Change",
        &[
            ("Change id", show(&change["changeId"])),
            ("Revision", show(&change["revision"])),
            ("Commit subject", show(&commit["subject"])),
            ("Commit author", show(&commit["author"])),
            ("Emergency", show(&change["emergency"])),
            ("Risk", show(&change["trailers"]["risk"])),
            ("Tested", show(&change["trailers"]["tested"])),
            ("Rollback plan", show(&change["trailers"]["rollback"])),
            (
                "Maintenance window",
                show(&change["trailers"]["maintenanceWindow"]),
            ),
            ("First record", show(&change["first"])),
            ("Last record", show(&change["last"])),
        ],
    );
    let approvals = &change["approvals"];
    let mut approval_rows = vec![
        (
            "Verified at the Git host",
            if approvals["verified"].as_bool() == Some(true) {
                "yes".to_owned()
            } else {
                "no (trailers only)".to_owned()
            },
        ),
        ("Summary", show(&approvals["summary"])),
    ];
    if approvals["verified"].as_bool() == Some(true) {
        for (label, key) in [
            ("Verdict", "verdict"),
            ("Finding", "finding"),
            ("Reason", "reason"),
            ("Required per pull request", "required"),
            ("Host", "host"),
            ("Repository", "repository"),
            ("Branch", "branch"),
            ("Decided", "decided"),
            ("Fetched at", "fetchedAt"),
            ("Snapshot digest", "snapshotDigest"),
        ] {
            approval_rows.push((label, show(&approvals[key])));
        }
        approval_rows.push((
            "Direct pushes",
            list(&approvals["directPushes"], |v| show(v)),
        ));
    }
    approval_rows.push((
        "Claimed by trailers (not evidence)",
        list(&approvals["claimed"], |v| show(v)),
    ));
    rows(out, "Approvals", &approval_rows);
    if let Some(pulls) = approvals["approvers"].as_array().filter(|p| !p.is_empty()) {
        out.push_str("<table><thead><tr><th scope=\"col\">Approver</th><th scope=\"col\">At</th><th scope=\"col\">Head approved</th><th scope=\"col\">Pull request</th></tr></thead><tbody>");
        for v in pulls {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>#{} {}</td></tr>",
                esc(&show(&v["login"])),
                esc(&show(&v["at"])),
                esc(&show(&v["commit"])),
                esc(&show(&v["pull"])),
                esc(&show(&v["url"]))
            );
        }
        out.push_str("</tbody></table>");
    }
    if let Some(d) = approvals["dismissed"].as_array().filter(|d| !d.is_empty()) {
        out.push_str("<table><thead><tr><th scope=\"col\">Approval not counted</th><th scope=\"col\">Why</th><th scope=\"col\">Pull request</th></tr></thead><tbody>");
        for v in d {
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>#{}</td></tr>",
                esc(&show(&v["login"])),
                esc(&show(&v["why"])),
                esc(&show(&v["pull"]))
            );
        }
        out.push_str("</tbody></table>");
    }
    let window = &change["window"];
    rows(
        out,
        "Window",
        &[
            ("Decision", show(&window["summary"])),
            ("Guard's reason", show(&window["reason"])),
            ("Decided at", show(&window["at"])),
            ("Open windows", show(&window["active"])),
            ("Windows", list(&window["windows"], |v| show(v))),
        ],
    );
    rows(
        out,
        "Backup, migrations, verification, ticket",
        &[
            ("Backup", show(&change["backup"]["name"])),
            ("Backup phase", show(&change["backup"]["phase"])),
            ("Migrations", show(&change["migrations"])),
            ("Verification", show(&change["verification"])),
            ("Ticket", show(&change["ticket"])),
        ],
    );
    out.push_str("<h3>Findings</h3>");
    match change["findings"].as_array().filter(|f| !f.is_empty()) {
        Some(f) => {
            out.push_str("<ul>");
            for x in f {
                let _ = write!(
                    out,
                    "<li class=\"red\">{} (seq {}, {})</li>",
                    esc(&show(&x["finding"])),
                    esc(&show(&x["seq"])),
                    esc(&show(&x["at"]))
                );
            }
            out.push_str("</ul>");
        }
        None => out.push_str("<p class=\"ok\">None.</p>"),
    }
    out.push_str("<h3>Syncs</h3><table><thead><tr><th scope=\"col\">Event</th><th scope=\"col\">Received</th><th scope=\"col\">Phase</th><th scope=\"col\">Started by</th><th scope=\"col\">Via</th><th scope=\"col\">Gate</th></tr></thead><tbody>");
    for x in change["syncs"].as_array().into_iter().flatten() {
        let _ = write!(out, "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>", esc(&show(&x["event"])), esc(&show(&x["receivedAt"])), esc(&show(&x["phase"])), esc(&show(&x["initiatedBy"])), esc(&show(&x["via"])), esc(&show(&x["gate"])));
    }
    out.push_str("</tbody></table><h3>Rollback</h3>");
    let rollback = list(&change["rollback"], |v| show(v));
    let _ = write!(
        out,
        "<pre>{}</pre>",
        esc(if rollback.is_empty() {
            "(no history id or backup recorded)"
        } else {
            &rollback
        })
    );
    out.push_str("<h3>Integrity</h3><table><thead><tr><th scope=\"col\">Seq</th><th scope=\"col\">Hash</th><th scope=\"col\">Signed checkpoint</th></tr></thead><tbody>");
    for r in change["records"].as_array().into_iter().flatten() {
        let seq = r["seq"].as_u64().unwrap_or(0);
        let covered = match checkpoint {
            Some(size) if size >= seq => format!("included (checkpoint of size {size})"),
            Some(size) => format!("not yet (latest checkpoint size {size})"),
            None => "no signed checkpoint yet".to_owned(),
        };
        let _ = write!(
            out,
            "<tr><td>{seq}</td><td><code>{}</code></td><td>{}</td></tr>",
            esc(&show(&r["hash"])),
            esc(&covered)
        );
    }
    out.push_str("</tbody></table><p class=\"muted\">Check the chain and the checkpoints' signatures with <code>sluice audit verify</code>.</p><h3>Records</h3>");
    for r in change["records"].as_array().into_iter().flatten() {
        let text = serde_json::to_string_pretty(r).unwrap_or_default();
        let _ = write!(out, "<pre>{}</pre>", esc(&text));
    }
}

fn rows(b: &mut String, title: &str, rows: &[(&str, String)]) {
    let _ = write!(b, "<h3>{}</h3><table><tbody>", esc(title));
    for (k, v) in rows {
        let _ = write!(
            b,
            "<tr><th scope=\"row\" class=\"k\">{}</th><td>{}</td></tr>",
            esc(k),
            esc(v)
        );
    }
    b.push_str("</tbody></table>");
}

fn list(v: &Value, f: impl Fn(&Value) -> String) -> String {
    v.as_array()
        .map(|a| a.iter().map(f).collect::<Vec<_>>().join("\n"))
        .unwrap_or_default()
}

fn short(hash: &str) -> &str {
    hash.get(..16).unwrap_or(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_controls() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>\u{1}"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;\u{fffd}"
        );
    }
}
