//! The auditor's bundle (`audit export`, docs/audit-log.md "Export for auditors"): from verified records,
//! their inclusion proofs and a signed (and cosigned) checkpoint, the files of the bundle as bytes. No
//! I/O: the commands layer collects the records and proofs and writes the files.
//!
//! Every derived file is a function of `records.jsonl` that `VERIFY.md` recomputes with `jq` and
//! compares byte for byte, so the rules here and the jq program in [`RECIPE`] must say the same thing:
//! changes are the records received in `[from, to)` grouped by `changeId` (a record without one is
//! its own change, `no-change-id-seq-N`), in the order of their first record; a change's outcome is its
//! last record that is neither a guard decision nor a verification report. A CSV cell that a
//! spreadsheet would take for a formula (OWASP's rule: it begins with `=`, `+`, `-`, `@`, a tab or a
//! carriage return) is written with a leading `'`.

use crate::ledger::canonical::{object_to_canonical, to_hex};
use crate::ledger::tree::Hash;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// The bundle's verification recipe; `@FROM@`, `@TO@`, `@SEED@`, `@SAMPLE@` are filled in.
pub const RECIPE: &str = include_str!("export_verify.md");

/// The columns of `changes.csv`.
pub const COLUMNS: [&str; 12] = [
    "changeId",
    "apps",
    "revisions",
    "startedAt",
    "finishedAt",
    "initiatedBy",
    "approvedBy",
    "window",
    "backup",
    "outcome",
    "gateFindings",
    "records",
];

/// Why a bundle cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    #[error("change id {0:?} holds a control character; it cannot be a file name or a CSV line")]
    ControlCharacter(String),
    #[error("change ids {0:?} and {1:?} map to the same file name {2:?}")]
    SameFileName(String, String, String),
    #[error("a record has no canonical form: {0}")]
    Canonical(String),
}

/// What the bundle covers.
#[derive(Debug, Clone)]
pub struct Period {
    /// Inclusive start, in the log's `receivedAt` format (RFC 3339 UTC with milliseconds).
    pub from: String,
    /// Exclusive end, same format.
    pub to: String,
    /// `--sample N --seed S`.
    pub sample: Option<(usize, String)>,
}

/// One change: its id and its records in the period.
struct Change<'a> {
    id: String,
    records: Vec<&'a Map<String, Value>>,
}

fn str_of<'a>(r: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    r.get(key).and_then(Value::as_str)
}

/// jq's truthiness: everything but `null` and `false`.
fn truthy(v: Option<&Value>) -> bool {
    !matches!(v, None | Some(Value::Null | Value::Bool(false)))
}

fn change_key(r: &Map<String, Value>) -> String {
    match str_of(r, "changeId") {
        Some(id) => id.to_owned(),
        None => format!(
            "no-change-id-seq-{}",
            r.get("seq").and_then(Value::as_u64).unwrap_or(0)
        ),
    }
}

/// The file name of a change's pages: characters outside `[A-Za-z0-9._-]` become `_`.
pub fn file_stem(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn joined(values: impl IntoIterator<Item = String>) -> String {
    values
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect::<Vec<_>>()
        .join(" ")
}

impl Change<'_> {
    fn strings<'b>(&'b self, key: &'b str) -> impl Iterator<Item = String> + 'b {
        self.records
            .iter()
            .filter_map(move |r| str_of(r, key).map(str::to_owned))
    }

    /// The CSV row (and the Markdown summary), as `VERIFY.md`'s `row` computes it.
    fn row(&self) -> Vec<String> {
        let apps = self.records.iter().filter_map(|r| {
            r.get("app")
                .and_then(|a| a.get("name"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        let initiators = self.records.iter().filter_map(|r| {
            let by = r.get("initiatedBy")?.as_object()?;
            Some(if truthy(by.get("automated")) {
                "automated".to_owned()
            } else {
                by.get("username")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned()
            })
        });
        let approvers = self.records.iter().flat_map(|r| {
            r.get("approvedBy")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_owned))
        });
        let window = self
            .records
            .iter()
            .filter(|r| str_of(r, "event") == Some("guard-decision"))
            .map(|r| {
                if truthy(r.get("emergency")) {
                    "emergency"
                } else if truthy(r.get("allowed")) {
                    "allowed"
                } else {
                    "blocked"
                }
                .to_owned()
            });
        let outcome = self
            .records
            .iter()
            .filter_map(|r| str_of(r, "event"))
            .rfind(|e| !matches!(*e, "guard-decision" | "verification"))
            .unwrap_or("");
        // The gate's exceptions (record/gate.rs): the reasons a sync skipped the gate.
        let findings = self.records.iter().flat_map(|r| {
            r.get("gate")
                .and_then(|g| g.get("exceptions"))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_owned))
        });
        let seqs: Vec<String> = self
            .records
            .iter()
            .map(|r| {
                r.get("seq")
                    .and_then(Value::as_u64)
                    .unwrap_or(0)
                    .to_string()
            })
            .collect();
        vec![
            self.id.clone(),
            joined(apps),
            joined(self.strings("revision")),
            self.strings("startedAt").min().unwrap_or_default(),
            self.strings("finishedAt").max().unwrap_or_default(),
            joined(initiators),
            joined(approvers),
            joined(window),
            joined(self.strings("backup")),
            outcome.to_owned(),
            joined(findings),
            seqs.join(" "),
        ]
    }

    /// `{"changeId": …, "records": […]}` in canonical form.
    fn json(&self) -> Result<String, ExportError> {
        let mut page = Map::new();
        page.insert("changeId".into(), Value::String(self.id.clone()));
        page.insert(
            "records".into(),
            Value::Array(
                self.records
                    .iter()
                    .map(|r| Value::Object((*r).clone()))
                    .collect(),
            ),
        );
        let bytes =
            object_to_canonical(&page).map_err(|e| ExportError::Canonical(e.to_string()))?;
        Ok(format!("{}\n", String::from_utf8_lossy(&bytes)))
    }

    /// The readable page, as `VERIFY.md`'s `page` program prints it.
    fn markdown(&self, row: &[String]) -> String {
        let mut md = format!(
            "# Change {}\n\n| field | value |\n|---|---|\n",
            cell(&self.id)
        );
        for (label, i) in [
            ("Apps", 1),
            ("Revisions", 2),
            ("Started", 3),
            ("Finished", 4),
            ("Initiated by", 5),
            ("Approved by", 6),
            ("Window", 7),
            ("Backup", 8),
            ("Outcome", 9),
            ("Gate findings", 10),
        ] {
            let _ = writeln!(md, "| {label} | {} |", cell(&row[i]));
        }
        md.push_str("\n## Records\n\n| seq | received | event | app | revision | hash |\n|---|---|---|---|---|---|\n");
        for r in &self.records {
            let get = |k: &str| cell(str_of(r, k).unwrap_or(""));
            let app = r
                .get("app")
                .and_then(|a| a.get("name"))
                .and_then(Value::as_str)
                .unwrap_or("");
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} |",
                r.get("seq").and_then(Value::as_u64).unwrap_or(0),
                get("receivedAt"),
                get("event"),
                cell(app),
                get("revision"),
                get("hash"),
            );
        }
        md
    }
}

/// A Markdown table cell: line breaks become spaces, `|` is escaped.
fn cell(s: &str) -> String {
    s.replace(['\r', '\n'], " ").replace('|', "\\|")
}

/// A CSV cell a spreadsheet will not run: one that begins with `=`, `+`, `-`, `@`, a tab or a carriage
/// return gets a leading `'` (OWASP, "CSV Injection").
pub fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

/// jq's `@csv` of strings: every field quoted, quotes doubled.
fn csv_line(fields: &[String]) -> String {
    let quoted: Vec<String> = fields
        .iter()
        .map(|f| format!("\"{}\"", f.replace('"', "\"\"")))
        .collect();
    format!("{}\n", quoted.join(","))
}

/// The `n` change ids whose `sha256("<seed>:<id>")` hex is smallest, in that order: a random sample
/// that anyone can draw again with `sha256sum` and `sort`.
pub fn sample(ids: &[String], n: usize, seed: &str) -> Vec<String> {
    let mut ranked: Vec<(String, &String)> = ids
        .iter()
        .map(|id| {
            let d = Sha256::digest(format!("{seed}:{id}").as_bytes());
            (to_hex(&d), id)
        })
        .collect();
    ranked.sort();
    ranked
        .into_iter()
        .take(n)
        .map(|(_, id)| id.clone())
        .collect()
}

/// What the bundle is anchored to: the checkpoint note (with its cosignatures) and the keys.
#[derive(Debug, Clone)]
pub struct Anchor {
    pub checkpoint: String,
    /// The log's public key text.
    pub public_key: String,
    /// The witnesses' public key texts (none: the checkpoint is not required to be cosigned).
    pub witness_keys: Vec<String>,
}

/// The bundle's files (path, bytes), `SHA256SUMS` last. `records` are the verified records from the
/// one before the period to the one after it (as far as the checkpoint goes), in order; `proofs` their
/// inclusion proofs in the checkpoint's tree, in the same order; `snapshots` the snapshots
/// they name, by digest (`snapshots/<digest>.json`).
///
/// # Errors
///
/// A change id that cannot be a file name or a CSV line, or two that map to one file name.
pub fn bundle(
    records: &[Map<String, Value>],
    proofs: &[Vec<Hash>],
    snapshots: &BTreeMap<String, Vec<u8>>,
    period: &Period,
    anchor: &Anchor,
) -> Result<Vec<(String, Vec<u8>)>, ExportError> {
    let mut groups: BTreeMap<String, Vec<&Map<String, Value>>> = BTreeMap::new();
    for r in records {
        let at = str_of(r, "receivedAt").unwrap_or("");
        if at >= period.from.as_str() && at < period.to.as_str() {
            groups.entry(change_key(r)).or_default().push(r);
        }
    }
    let mut changes: Vec<Change> = groups
        .into_iter()
        .map(|(id, records)| Change { id, records })
        .collect();
    let first_seq = |c: &Change| c.records[0].get("seq").and_then(Value::as_u64).unwrap_or(0);
    changes.sort_by_key(first_seq);
    let mut files = Vec::new();
    let mut csv = csv_line(&COLUMNS.map(str::to_owned));
    let mut stems: BTreeMap<String, String> = BTreeMap::new();
    for change in &changes {
        if change.id.chars().any(char::is_control) {
            return Err(ExportError::ControlCharacter(change.id.clone()));
        }
        let stem = file_stem(&change.id);
        if let Some(other) = stems.insert(stem.clone(), change.id.clone()) {
            return Err(ExportError::SameFileName(other, change.id.clone(), stem));
        }
        let row = change.row();
        let cells: Vec<String> = row.iter().map(|c| neutralise(c).into_owned()).collect();
        csv.push_str(&csv_line(&cells));
        files.push((format!("evidence/{stem}.json"), change.json()?.into_bytes()));
        files.push((
            format!("evidence/{stem}.md"),
            change.markdown(&row).into_bytes(),
        ));
    }
    files.push(("changes.csv".into(), csv.into_bytes()));
    let (n, seed) = period.sample.clone().unwrap_or((0, String::new()));
    if period.sample.is_some() {
        let ids: Vec<String> = changes.iter().map(|c| c.id.clone()).collect();
        let picked: String = sample(&ids, n, &seed)
            .into_iter()
            .map(|id| id + "\n")
            .collect();
        files.push(("sample.txt".into(), picked.into_bytes()));
    }
    let mut lines = String::new();
    for r in records {
        let bytes = object_to_canonical(r).map_err(|e| ExportError::Canonical(e.to_string()))?;
        lines.push_str(&String::from_utf8_lossy(&bytes));
        lines.push('\n');
    }
    files.push(("records.jsonl".into(), lines.into_bytes()));
    let mut proof_lines = String::new();
    for (r, proof) in records.iter().zip(proofs) {
        let seq = r.get("seq").and_then(Value::as_u64).unwrap_or(0);
        let _ = write!(proof_lines, "{seq}");
        for h in proof {
            let _ = write!(proof_lines, " {}", to_hex(h));
        }
        proof_lines.push('\n');
    }
    files.push(("proofs.txt".into(), proof_lines.into_bytes()));
    for (digest, bytes) in snapshots {
        files.push((
            format!("{}/{digest}.json", super::snapshot::DIR),
            bytes.clone(),
        ));
    }
    files.push((
        "checkpoint.note".into(),
        anchor.checkpoint.as_bytes().to_vec(),
    ));
    files.push((
        "public.key".into(),
        format!("{}\n", anchor.public_key).into_bytes(),
    ));
    if !anchor.witness_keys.is_empty() {
        let keys = anchor.witness_keys.iter().fold(String::new(), |mut s, k| {
            let _ = writeln!(s, "{k}");
            s
        });
        files.push(("witness.keys".into(), keys.into_bytes()));
    }
    let recipe = RECIPE
        .replace("@FROM@", &period.from)
        .replace("@TO@", &period.to)
        .replace("@SEED@", &seed)
        .replace("@SAMPLE@", &n.to_string());
    files.push(("VERIFY.md".into(), recipe.into_bytes()));
    files.sort();
    let mut sums = String::new();
    for (path, bytes) in &files {
        let d = Sha256::digest(bytes);
        let hex = to_hex(&d);
        let _ = writeln!(sums, "{hex}  {path}");
    }
    files.push(("SHA256SUMS".into(), sums.into_bytes()));
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(seq: u64, at: &str, change: Option<&str>, extra: &Value) -> Map<String, Value> {
        let mut r = json!({"seq": seq, "receivedAt": at, "changeId": change, "event": "sync-succeeded",
            "app": {"name": format!("app{}", seq % 2)}, "hash": "h", "prev": "p"});
        for (k, v) in extra.as_object().unwrap() {
            r[k] = v.clone();
        }
        r.as_object().unwrap().clone()
    }

    #[test]
    fn the_same_seed_draws_the_same_sample_and_another_seed_another() {
        let ids: Vec<String> = (0..50).map(|i| format!("CHG-{i}")).collect();
        let a = sample(&ids, 5, "2026-Q1");
        assert_eq!(a, sample(&ids, 5, "2026-Q1"));
        assert_eq!(a.len(), 5);
        assert_ne!(a, sample(&ids, 5, "2026-Q2"));
        assert_eq!(sample(&ids, 100, "x").len(), 50);
    }

    #[test]
    fn changes_are_grouped_in_the_period_with_their_columns() {
        let records = vec![
            rec(1, "2026-01-01T00:00:00.000Z", Some("CHG-1"), &json!({})),
            rec(
                2,
                "2026-01-02T00:00:00.000Z",
                Some("CHG-2"),
                &json!({"approvedBy": ["b", "a"],
                "initiatedBy": {"username": "alice", "automated": false}, "backup": "bk", "revision": "r2",
                "gate": {"guard": null, "exceptions": ["rollback", "selective-sync"]}}),
            ),
            rec(
                3,
                "2026-01-02T01:00:00.000Z",
                Some("CHG-2"),
                &json!({"event": "guard-decision", "allowed": true, "emergency": null}),
            ),
            rec(4, "2026-01-02T02:00:00.000Z", None, &json!({})),
            rec(5, "2026-01-03T00:00:00.000Z", Some("CHG-1"), &json!({})),
            // A verification report after the sync's record is not the change's outcome.
            rec(
                6,
                "2026-01-02T03:00:00.000Z",
                Some("CHG-2"),
                &json!({"event": "verification"}),
            ),
        ];
        let period = Period {
            from: "2026-01-02T00:00:00.000Z".into(),
            to: "2026-01-03T00:00:00.000Z".into(),
            sample: Some((1, "s".into())),
        };
        let anchor = Anchor {
            checkpoint: "note\n".into(),
            public_key: "k+1+x".into(),
            witness_keys: vec!["w+2+y".into()],
        };
        let proofs = vec![vec![[1u8; 32]]; records.len()];
        let snapshots = BTreeMap::from([("ab".repeat(32), b"{}\n".to_vec())]);
        let files = bundle(&records, &proofs, &snapshots, &period, &anchor).unwrap();
        let get = |p: &str| {
            String::from_utf8(files.iter().find(|(n, _)| n == p).unwrap().1.clone()).unwrap()
        };
        let csv = get("changes.csv");
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 3, "{csv}");
        assert_eq!(
            lines[1],
            r#""CHG-2","app0 app1","r2","","","alice","a b","allowed","bk","sync-succeeded","rollback selective-sync","2 3 6""#
        );
        assert!(lines[2].starts_with(r#""no-change-id-seq-4","app0""#));
        assert!(get("evidence/CHG-2.md").contains("| Approved by | a b |\n"));
        assert!(get("SHA256SUMS").contains("  records.jsonl\n"));
        let snapshot = format!("snapshots/{}.json", "ab".repeat(32));
        assert_eq!(get(&snapshot), "{}\n");
        assert!(get("SHA256SUMS").contains(&format!("  {snapshot}\n")));
        assert_eq!(get("sample.txt").lines().count(), 1);
        assert!(get("VERIFY.md").contains("from=2026-01-02T00:00:00.000Z"));
        assert_eq!(get("witness.keys"), "w+2+y\n");
        assert!(get("proofs.txt").starts_with(&format!("1 {}\n2 ", "01".repeat(32))));
    }

    #[test]
    fn cells_a_spreadsheet_would_run_get_a_leading_quote() {
        for (cell, out) in [
            ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"),
            ("+1", "'+1"),
            ("-2", "'-2"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("CHG-1", "CHG-1"),
            ("a=b", "a=b"),
            ("", ""),
        ] {
            assert_eq!(neutralise(cell), out, "{cell:?}");
        }
        let period = Period {
            from: String::new(),
            to: "~".into(),
            sample: None,
        };
        let anchor = Anchor {
            checkpoint: String::new(),
            public_key: String::new(),
            witness_keys: Vec::new(),
        };
        let records = vec![rec(1, "2026", Some("=cmd|' /C calc'!A0"), &json!({}))];
        let files = bundle(&records, &[vec![]], &BTreeMap::new(), &period, &anchor).unwrap();
        let csv = &files.iter().find(|(n, _)| n == "changes.csv").unwrap().1;
        assert!(String::from_utf8_lossy(csv).contains("\n\"'=cmd|' /C calc'!A0\","));
    }

    #[test]
    fn hostile_change_ids_are_refused_or_made_safe() {
        assert_eq!(file_stem("../CHG 1/é"), ".._CHG_1__");
        let period = Period {
            from: String::new(),
            to: "~".into(),
            sample: None,
        };
        let anchor = Anchor {
            checkpoint: String::new(),
            public_key: String::new(),
            witness_keys: Vec::new(),
        };
        let bad = vec![rec(1, "2026", Some("a\nb"), &json!({}))];
        assert!(matches!(
            bundle(&bad, &[], &BTreeMap::new(), &period, &anchor),
            Err(ExportError::ControlCharacter(_))
        ));
        let clash = vec![
            rec(1, "2026", Some("a/b"), &json!({})),
            rec(2, "2026", Some("a_b"), &json!({})),
        ];
        assert!(matches!(
            bundle(&clash, &[], &BTreeMap::new(), &period, &anchor),
            Err(ExportError::SameFileName(..))
        ));
    }
}
