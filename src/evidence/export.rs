//! The auditor's bundle (`audit export`, docs/audit-log.md "Export for auditors"): from verified records,
//! their inclusion proofs and a signed (and cosigned) checkpoint, the contents of the bundle's files.
//! No I/O: the commands layer streams the records in and writes what this module renders, one change
//! at a time, so that a year of changes is never in memory at once.
//!
//! The layout stays usable at a million records: the records in files of [`RECORDS_PER_FILE`]
//! (`records/<first seq>.jsonl`), the evidence in one JSON Lines file and one Markdown file per month
//! (`evidence/<YYYY-MM>.jsonl|.md`, the month a change's first record of the period was received), an
//! index page (`index.md`), and the sampled changes with their records' inclusion proofs on their own
//! (`sample/`), so that a sample verifies without the rest.
//!
//! Every derived file is a function of the records that `VERIFY.md` recomputes with `jq` and compares
//! byte for byte, so the rules here and the jq programs in [`RECIPE`] must say the same thing:
//! changes are the records received in `[from, to)` grouped by `changeId` (a record without one is
//! its own change, `no-change-id-seq-N`), in the order of their first record; a change's outcome is its
//! last record that is neither a guard decision nor a verification report. A CSV cell that a
//! spreadsheet would take for a formula (OWASP's rule: it begins with `=`, `+`, `-`, `@`, a tab or a
//! carriage return) is written with a leading `'`.

use crate::ledger::canonical::to_canonical;
use crate::ledger::tree::Hash;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::fmt::Write as _;

mod row;
pub use row::Row;

/// The bundle's verification recipe; `@FROM@`, `@TO@`, `@SEED@`, `@SAMPLE@`, `@PER_FILE@` are filled in.
pub const RECIPE: &str = include_str!("export_verify.md");

/// How many records a file of `records/` holds (the last one fewer): 65,536 records of about 1 KB,
/// a file an editor or `jq` opens, and a million records in sixteen of them.
pub const RECORDS_PER_FILE: u64 = 1 << 16;

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
    #[error(
        "change id {0:?} holds a control character; it cannot be a CSV line or a Markdown heading"
    )]
    ControlCharacter(String),
    #[error("a record has no canonical form: {0}")]
    Canonical(String),
    #[error("a record cannot be read: {0}")]
    Record(String),
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

/// What the bundle is anchored to: the checkpoint note (with its cosignatures) and the keys.
#[derive(Debug, Clone)]
pub struct Anchor {
    pub checkpoint: String,
    /// The log's public key text.
    pub public_key: String,
    /// The witnesses' public key texts (none: the checkpoint is not required to be cosigned).
    pub witness_keys: Vec<String>,
}

/// The month of a `receivedAt`, `YYYY-MM`, which names a change's evidence files; `other` when it does
/// not begin with one (never a path: the name is made of digits and one `-`).
pub fn month_of(received_at: &str) -> &str {
    let b = received_at.as_bytes();
    let dated = b.len() >= 7
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..7].iter().all(u8::is_ascii_digit);
    if dated {
        &received_at[..7]
    } else {
        "other"
    }
}

/// The file of `records/` whose first record has `seq`.
pub fn records_file(first_seq: u64) -> String {
    format!("records/{first_seq:020}.jsonl")
}

/// The evidence file of a month (`ext`: `jsonl` or `md`).
pub fn evidence_file(month: &str, ext: &str) -> String {
    format!("evidence/{month}.{ext}")
}

fn joined<'b>(values: impl IntoIterator<Item = &'b str>) -> String {
    values
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect::<Vec<_>>()
        .join(" ")
}

/// One change: its id, and its records in the period (their lines as the log holds them, and the
/// members of each that a row or page reads).
pub struct Change<'a> {
    pub id: String,
    records: Vec<Row<'a>>,
    lines: Vec<&'a [u8]>,
}

/// What one change adds to the bundle.
pub struct Rendered {
    /// The month of its first record (`evidence/<month>.*`).
    pub month: String,
    /// Its line of `changes.csv`.
    pub csv: String,
    /// Its line of `evidence/<month>.jsonl`: `{"changeId": …, "records": […]}` in canonical form (the
    /// records' lines as the log holds them: UTF-8, checked by the check that passed them).
    pub json: Vec<u8>,
    /// Its page in `evidence/<month>.md`, with the blank line after it.
    pub markdown: String,
}

impl<'a> Change<'a> {
    /// A change of the records whose canonical `lines` (without newlines) are given, in log order, at
    /// least one.
    ///
    /// # Errors
    ///
    /// A line that is not a JSON object.
    pub fn parse(id: String, lines: Vec<&'a [u8]>) -> Result<Self, ExportError> {
        let records = lines
            .iter()
            .map(|l| Row::parse(l))
            .collect::<Result<_, _>>()
            .map_err(|e| ExportError::Record(e.to_string()))?;
        Ok(Change { id, records, lines })
    }

    /// A change of the records parsed already (`records[i]` from `lines[i]`).
    pub fn of_rows(id: String, records: Vec<Row<'a>>, lines: Vec<&'a [u8]>) -> Self {
        Change { id, records, lines }
    }

    /// The seqs of its records.
    pub fn seqs(&self) -> impl Iterator<Item = u64> + '_ {
        self.records.iter().map(|r| r.seq)
    }

    /// Its CSV line, evidence line and page.
    ///
    /// # Errors
    ///
    /// An id with a control character, or one that has no canonical form.
    pub fn render(&self) -> Result<Rendered, ExportError> {
        if self.id.chars().any(char::is_control) {
            return Err(ExportError::ControlCharacter(self.id.clone()));
        }
        let row = self.row();
        let cells: Vec<Cow<'_, str>> = row.iter().map(|c| neutralise(c)).collect();
        let month = self
            .records
            .first()
            .map_or("other", |r| month_of(text(r.received_at.as_ref())))
            .to_owned();
        Ok(Rendered {
            month,
            csv: csv_line(&cells),
            json: self.json()?,
            markdown: self.markdown(&row),
        })
    }

    /// The CSV row (and the Markdown summary), as `VERIFY.md`'s `row` computes it.
    fn row(&self) -> Vec<String> {
        let rs = &self.records;
        let strings = |f: for<'b> fn(&'b Row<'a>) -> &'b Option<Cow<'a, str>>| {
            rs.iter().filter_map(move |r| f(r).as_deref())
        };
        let initiators = rs.iter().filter_map(|r| {
            let by = r.initiated_by.as_ref()?;
            Some(if by.automated {
                "automated"
            } else {
                text(by.username.as_ref())
            })
        });
        let window = rs
            .iter()
            .filter(|r| r.event.as_deref() == Some("guard-decision"))
            .map(|r| {
                if r.emergency {
                    "emergency"
                } else if r.allowed {
                    "allowed"
                } else {
                    "blocked"
                }
            });
        let outcome = rs
            .iter()
            .filter_map(|r| r.event.as_deref())
            .rfind(|e| !matches!(*e, "guard-decision" | "verification"))
            .unwrap_or("");
        let mut seqs = String::new();
        for (i, r) in rs.iter().enumerate() {
            if i > 0 {
                seqs.push(' ');
            }
            let _ = write!(seqs, "{}", r.seq);
        }
        vec![
            self.id.clone(),
            joined(strings(|r| &r.app_name)),
            joined(strings(|r| &r.revision)),
            strings(|r| &r.started_at)
                .min()
                .unwrap_or_default()
                .to_owned(),
            strings(|r| &r.finished_at)
                .max()
                .unwrap_or_default()
                .to_owned(),
            joined(initiators),
            joined(rs.iter().flat_map(|r| r.approved_by.iter().map(|a| &**a))),
            joined(window),
            joined(strings(|r| &r.backup)),
            outcome.to_owned(),
            // The gate's exceptions (record/gate.rs): the reasons a sync skipped the gate.
            joined(rs.iter().flat_map(|r| r.exceptions.iter().map(|a| &**a))),
            seqs,
        ]
    }

    /// `{"changeId": …, "records": […]}` in canonical form, from the records' lines (canonical already:
    /// the log holds nothing else), and its newline.
    fn json(&self) -> Result<Vec<u8>, ExportError> {
        let id = to_canonical(&Value::String(self.id.clone()))
            .map_err(|e| ExportError::Canonical(e.to_string()))?;
        let mut out =
            Vec::with_capacity(self.lines.iter().map(|l| l.len() + 1).sum::<usize>() + 64);
        out.extend_from_slice(b"{\"changeId\":");
        out.extend_from_slice(&id);
        out.extend_from_slice(b",\"records\":[");
        for (i, line) in self.lines.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(line);
        }
        out.extend_from_slice(b"]}\n");
        Ok(out)
    }

    /// The readable page, as `VERIFY.md`'s `page` program prints it, and the blank line after it.
    fn markdown(&self, row: &[String]) -> String {
        let mut md = String::with_capacity(1024 + 256 * self.records.len());
        let _ = write!(
            md,
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
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} |",
                r.seq,
                cell(text(r.received_at.as_ref())),
                cell(text(r.event.as_ref())),
                cell(text(r.app_name.as_ref())),
                cell(text(r.revision.as_ref())),
                cell(text(r.hash.as_ref())),
            );
        }
        md.push('\n');
        md
    }
}

fn text<'b>(s: Option<&'b Cow<'_, str>>) -> &'b str {
    s.map_or("", |s| &**s)
}

/// A Markdown table cell: line breaks become spaces, `|` is escaped.
fn cell(s: &str) -> Cow<'_, str> {
    if s.contains(['\r', '\n', '|']) {
        Cow::Owned(s.replace(['\r', '\n'], " ").replace('|', "\\|"))
    } else {
        Cow::Borrowed(s)
    }
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
fn csv_line<S: AsRef<str>>(fields: &[S]) -> String {
    let mut line =
        String::with_capacity(fields.iter().map(|f| f.as_ref().len() + 3).sum::<usize>() + 1);
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            line.push(',');
        }
        line.push('"');
        for (j, part) in f.as_ref().split('"').enumerate() {
            if j > 0 {
                line.push_str("\"\"");
            }
            line.push_str(part);
        }
        line.push('"');
    }
    line.push('\n');
    line
}

/// The first line of `changes.csv`.
pub fn csv_header() -> String {
    csv_line(&COLUMNS)
}

/// Where a change stands in the sample's draw: the hex of `sha256("<seed>:<id>")`.
fn rank(seed: &str, id: &str) -> String {
    hex::encode(Sha256::digest(format!("{seed}:{id}").as_bytes()))
}

/// Draws the `n` change ids whose `sha256("<seed>:<id>")` hex is smallest (a random sample that anyone
/// can draw again with `sha256sum` and `sort`), keeping only `n` of them while the ids go by.
pub struct Draw {
    n: usize,
    seed: String,
    kept: BinaryHeap<(String, String)>,
}

impl Draw {
    /// A draw of `n` with `seed`.
    pub fn new(n: usize, seed: &str) -> Self {
        Draw {
            n,
            seed: seed.to_owned(),
            kept: BinaryHeap::new(),
        }
    }

    /// Offers one change id.
    pub fn offer(&mut self, id: &str) {
        if self.n == 0 {
            return;
        }
        let r = rank(&self.seed, id);
        if self.kept.len() < self.n {
            self.kept.push((r, id.to_owned()));
        } else if self.kept.peek().is_some_and(|(top, _)| r < *top) {
            self.kept.pop();
            self.kept.push((r, id.to_owned()));
        }
    }

    /// The ids drawn, smallest rank first.
    pub fn picked(self) -> Vec<String> {
        self.kept
            .into_sorted_vec()
            .into_iter()
            .map(|(_, id)| id)
            .collect()
    }
}

/// The `n` change ids whose `sha256("<seed>:<id>")` hex is smallest, in that order.
#[cfg(test)]
pub fn sample(ids: &[String], n: usize, seed: &str) -> Vec<String> {
    let mut draw = Draw::new(n, seed);
    for id in ids {
        draw.offer(id);
    }
    draw.picked()
}

/// A line of a proofs file: the record's seq, then its inclusion proof (hex, from the leaf's sibling
/// up).
pub fn proof_line(seq: u64, proof: &[Hash]) -> String {
    let mut line = seq.to_string();
    for h in proof {
        line.push(' ');
        line.push_str(&hex::encode(h));
    }
    line.push('\n');
    line
}

/// What `index.md` says of one month of evidence.
#[derive(Debug, Clone, Default)]
pub struct Month {
    pub changes: u64,
    pub records: u64,
    pub first: String,
    pub last: String,
}

/// What the index page shows.
pub struct Index<'a> {
    pub period: &'a Period,
    /// The checkpoint's tree size.
    pub size: u64,
    /// The seqs of the first and last record of `records/`.
    pub seqs: (u64, u64),
    pub changes: u64,
    pub months: &'a BTreeMap<String, Month>,
}

/// `index.md`: the period, what anchors it, and a line per month with its evidence files (the recipe
/// writes it again from the records, as `Index`'s fields say).
pub fn index_page(ix: &Index<'_>) -> String {
    let mut md = format!(
        "# Audit evidence from {} to {}\n\n{} changes; records {} to {} of the log, in the tree of {} \
         records that checkpoint.note signs. VERIFY.md says what each file is and how to verify them.\n\n\
         | month | changes | records | first change | last change | evidence |\n|---|---|---|---|---|---|\n",
        ix.period.from, ix.period.to, ix.changes, ix.seqs.0, ix.seqs.1, ix.size
    );
    for (month, m) in ix.months {
        let _ = writeln!(
            md,
            "| {month} | {} | {} | {} | {} | [JSON]({}), [pages]({}) |",
            m.changes,
            m.records,
            cell(&m.first),
            cell(&m.last),
            evidence_file(month, "jsonl"),
            evidence_file(month, "md"),
        );
    }
    md
}

/// `VERIFY.md`, with the period, the sample and the file size filled in.
pub fn recipe(period: &Period) -> String {
    let (n, seed) = period.sample.clone().unwrap_or((0, String::new()));
    RECIPE
        .replace("@FROM@", &period.from)
        .replace("@TO@", &period.to)
        .replace("@SEED@", &shell_quoted(&seed))
        .replace("@SAMPLE@", &n.to_string())
        .replace("@PER_FILE@", &RECORDS_PER_FILE.to_string())
}

/// `text` as one bash word: in single quotes, each `'` closing them, escaped and opening them again.
fn shell_quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// `SHA256SUMS` from (path, hex digest) of every other file, in byte order of the paths.
pub fn sums(files: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = files.iter().collect();
    sorted.sort();
    sorted.iter().fold(String::new(), |mut s, (path, hex)| {
        let _ = writeln!(s, "{hex}  {path}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::canonical::object_to_canonical;
    use serde_json::{json, Map};

    fn rec(
        seq: u64,
        at: &str,
        change: Option<&str>,
        extra: &Value,
    ) -> (Map<String, Value>, Vec<u8>) {
        let mut r = json!({"seq": seq, "receivedAt": at, "changeId": change, "event": "sync-succeeded",
            "app": {"name": format!("app{}", seq % 2)}, "hash": "h", "prev": "p"});
        for (k, v) in extra.as_object().unwrap() {
            r[k] = v.clone();
        }
        let map = r.as_object().unwrap().clone();
        let line = object_to_canonical(&map).unwrap();
        (map, line)
    }

    /// The records of the rendering fixture: the golden log, then records with every member a row or
    /// page reads of another type than the schema's (a number, an object, a list, null, escapes).
    fn fixture_records() -> Vec<Vec<u8>> {
        let golden = include_str!("../../tests/fixtures/audit/golden/audit.jsonl");
        let mut lines: Vec<Vec<u8>> = golden.lines().map(|l| l.as_bytes().to_vec()).collect();
        let odd = [
            json!({"changeId": 7, "receivedAt": 17, "app": "shop", "initiatedBy": "alice",
                "approvedBy": "bob", "event": 3, "gate": "g", "revision": ["r"], "backup": {"b": 1}}),
            json!({"changeId": null, "receivedAt": "2026-12-31T23:59:59.999Z", "app": {"name": 5},
                "initiatedBy": {"automated": "yes", "username": "x"}, "approvedBy": [1, "b\"q", null, "a|b"],
                "event": "guard-decision", "allowed": "false", "emergency": 0, "gate": {"exceptions": "x"}}),
            json!({"changeId": "CHG-ODD", "receivedAt": "2026-02-01T00:00:00.000Z",
                "app": {"name": "a\nb|c", "x": [1, {"name": "no"}]},
                "initiatedBy": {"automated": 0, "username": 9}, "event": "guard-decision",
                "allowed": null, "emergency": false, "gate": {"exceptions": [1, "y", "=x"]},
                "startedAt": 5, "finishedAt": "2026-02-01T00:00:00Z", "backup": "-b"}),
            json!({"changeId": "CHG-ODD", "receivedAt": "2026-02-01T00:00:01.000Z", "app": {"name": "é\u{2028}"},
                "initiatedBy": {"automated": false}, "event": "guard-decision", "allowed": [],
                "emergency": {}, "startedAt": "2026-01-31T00:00:00Z", "finishedAt": 7,
                "gate": null, "approvedBy": {"x": 1}, "hash": 5}),
            json!({"changeId": "CHG-ODD", "receivedAt": "2026-02-01T00:00:02.000Z", "event": "verification",
                "initiatedBy": {"username": "u\\v", "automated": null}, "revision": "r\t1",
                "approvedBy": [], "gate": {"exceptions": []}}),
            json!({"changeId": "bad\u{7}id", "receivedAt": "2026-03-01T00:00:00.000Z"}),
            json!({"changeId": "+1", "receivedAt": "x", "event": "sync-failed", "hash": "h|h"}),
        ];
        for (i, r) in odd.iter().enumerate() {
            let mut r = r.clone();
            r["seq"] = json!(1000 + i);
            lines.push(to_canonical(&r).unwrap());
        }
        lines
    }

    /// What the changes of the fixture render to, one after another (the file the test compares).
    fn fixture_rendered() -> String {
        let lines = fixture_records();
        let mut ids: Vec<String> = Vec::new();
        let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, l) in lines.iter().enumerate() {
            let key = Row::parse(l).unwrap().change_key().into_owned();
            if !groups.contains_key(&key) {
                ids.push(key.clone());
            }
            groups.entry(key).or_default().push(i);
        }
        let mut out = String::new();
        for id in ids {
            let records: Vec<&[u8]> = groups[&id].iter().map(|&i| lines[i].as_slice()).collect();
            let _ = writeln!(
                out,
                "== {id:?} seqs {:?}",
                render_fixture_change(&id, &records)
            );
        }
        out
    }

    #[test]
    fn changes_render_byte_for_byte_as_blessed() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/export/rendered.txt");
        let got = fixture_rendered();
        if std::env::var_os("BLESS").is_some() && std::env::var_os("CI").is_none() {
            std::fs::write(&path, &got).unwrap();
        }
        let want = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (BLESS=1 writes it)", path.display()));
        assert!(
            got == want,
            "the rendering differs from {} (BLESS=1 rewrites it; review the diff):\n{got}",
            path.display()
        );
    }

    /// Renders one change of the fixture: its seqs, then its month, row, evidence line and page.
    fn render_fixture_change(id: &str, lines: &[&[u8]]) -> String {
        let change = Change::parse(id.to_owned(), lines.to_vec()).unwrap();
        let seqs: Vec<u64> = change.seqs().collect();
        match change.render() {
            Ok(r) => format!(
                "{seqs:?}\n{}\n{}{}{}",
                r.month,
                r.csv,
                String::from_utf8(r.json).unwrap(),
                r.markdown
            ),
            Err(e) => format!("{seqs:?}\nerror: {e}\n"),
        }
    }

    /// Renders the change `id` of the records `recs` (as [`rec`] makes them).
    fn render(id: &str, recs: &[(Map<String, Value>, Vec<u8>)]) -> Result<Rendered, ExportError> {
        let lines = recs.iter().map(|(_, l)| l.as_slice()).collect();
        Change::parse(id.to_owned(), lines)?.render()
    }

    #[test]
    fn the_same_seed_draws_the_same_sample_and_another_seed_another() {
        let ids: Vec<String> = (0..50).map(|i| format!("CHG-{i}")).collect();
        let a = sample(&ids, 5, "2026-Q1");
        assert_eq!(a, sample(&ids, 5, "2026-Q1"));
        assert_eq!(a.len(), 5);
        assert_ne!(a, sample(&ids, 5, "2026-Q2"));
        assert_eq!(sample(&ids, 100, "x").len(), 50);
        // The draw keeps the n smallest ranks, in rank order, whatever the order the ids come in.
        let mut ranked: Vec<(String, String)> = ids
            .iter()
            .map(|id| (rank("2026-Q1", id), id.clone()))
            .collect();
        ranked.sort();
        let want: Vec<String> = ranked.into_iter().take(5).map(|(_, id)| id).collect();
        assert_eq!(a, want);
        let reversed: Vec<String> = ids.iter().rev().cloned().collect();
        assert_eq!(sample(&reversed, 5, "2026-Q1"), want);
    }

    #[test]
    fn a_change_renders_its_row_evidence_line_and_page() {
        let page = render(
            "CHG-2",
            &[
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
                // A verification report after the sync's record is not the change's outcome.
                rec(
                    6,
                    "2026-02-02T03:00:00.000Z",
                    Some("CHG-2"),
                    &json!({"event": "verification"}),
                ),
            ],
        )
        .unwrap();
        assert_eq!(
            page.csv,
            "\"CHG-2\",\"app0 app1\",\"r2\",\"\",\"\",\"alice\",\"a b\",\"allowed\",\"bk\",\"sync-succeeded\",\"rollback selective-sync\",\"2 3 6\"\n"
        );
        assert_eq!(page.month, "2026-01", "the month of the first record");
        assert!(page.markdown.contains("| Approved by | a b |\n"));
        assert!(page.markdown.ends_with("|\n\n"), "{}", page.markdown);
        // The evidence line is the canonical form of {"changeId", "records"}.
        let parsed: Map<String, Value> = serde_json::from_slice(&page.json).unwrap();
        assert_eq!(
            format!(
                "{}\n",
                String::from_utf8(object_to_canonical(&parsed).unwrap()).unwrap()
            ),
            String::from_utf8_lossy(&page.json)
        );
        assert_eq!(parsed["records"].as_array().unwrap().len(), 3);
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
        let id = "=cmd|' /C calc'!A0";
        assert!(render(id, &[rec(1, "2026", Some(id), &json!({}))])
            .unwrap()
            .csv
            .starts_with("\"'=cmd|' /C calc'!A0\","));
    }

    #[test]
    fn hostile_change_ids_and_times_are_refused_or_made_safe() {
        assert!(matches!(
            render("a\nb", &[rec(1, "2026", Some("a\nb"), &json!({}))]),
            Err(ExportError::ControlCharacter(_))
        ));
        for (at, month) in [
            ("2026-03-01T00:00:00.000Z", "2026-03"),
            ("../../etc", "other"),
            ("2026-0/", "other"),
            ("2026", "other"),
            ("", "other"),
            ("２０２６-01", "other"),
        ] {
            assert_eq!(month_of(at), month, "{at:?}");
        }
        assert_eq!(shell_quoted("it's $(x)"), "'it'\\''s $(x)'");
        let period = Period {
            from: "a".into(),
            to: "b".into(),
            sample: Some((3, "q'; rm -rf /".into())),
        };
        assert!(recipe(&period).contains("\nseed='q'\\''; rm -rf /'\n"));
    }

    #[test]
    fn the_index_names_each_month_and_its_files() {
        let period = Period {
            from: "2026-01-01T00:00:00.000Z".into(),
            to: "2026-03-01T00:00:00.000Z".into(),
            sample: None,
        };
        let months = BTreeMap::from([
            (
                "2026-02".to_owned(),
                Month {
                    changes: 1,
                    records: 2,
                    first: "C|3".into(),
                    last: "C|3".into(),
                },
            ),
            (
                "2026-01".to_owned(),
                Month {
                    changes: 2,
                    records: 5,
                    first: "C1".into(),
                    last: "C2".into(),
                },
            ),
        ]);
        let page = index_page(&Index {
            period: &period,
            size: 40,
            seqs: (9, 20),
            changes: 3,
            months: &months,
        });
        assert!(page.starts_with(
            "# Audit evidence from 2026-01-01T00:00:00.000Z to 2026-03-01T00:00:00.000Z\n\n3 changes; records 9 to 20 of the log, in the tree of 40 records that checkpoint.note signs."
        ), "{page}");
        let rows: Vec<&str> = page.lines().filter(|l| l.starts_with("| 2026")).collect();
        assert_eq!(
            rows,
            [
                "| 2026-01 | 2 | 5 | C1 | C2 | [JSON](evidence/2026-01.jsonl), [pages](evidence/2026-01.md) |",
                "| 2026-02 | 1 | 2 | C\\|3 | C\\|3 | [JSON](evidence/2026-02.jsonl), [pages](evidence/2026-02.md) |",
            ]
        );
        assert_eq!(
            sums(&[("b".into(), "2".into()), ("a/x".into(), "1".into())]),
            "1  a/x\n2  b\n"
        );
    }
}
