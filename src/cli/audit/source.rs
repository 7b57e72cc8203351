//! Where the audit commands read records: the log in a data directory, or a running sink over its HTTP
//! API (`--server URL`, e.g. through `kubectl port-forward`), with the same queries either way
//! (docs/audit-log.md, "Commands").

use super::report;
use crate::cli::error::{Error, Exit, Result};
use crate::ledger::{self, canonical, line, Head, SeqSet, LOG_FILE};
use crate::record::{self, Body, Filter, Record};
use clap::Args;
use serde_json::Value;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the records come from (shared by `audit verify`, `list` and `show`).
#[derive(Debug, Args)]
pub(in crate::cli) struct SourceArgs {
    /// The sink's data directory, holding audit.jsonl (ignored with --server).
    #[arg(long, env = "SLUICE_DATA_DIR", default_value = "/var/lib/sluice")]
    data_dir: PathBuf,
    /// Query a running sink over its HTTP API instead of a data directory, e.g. http://127.0.0.1:8080 through
    /// `kubectl -n argocd port-forward svc/sluice-sink 8080`.
    #[allow(clippy::doc_markdown)] // clap prints it as help text, where <…> would show.
    #[arg(long, env = "SLUICE_SERVER", value_name = "URL")]
    server: Option<String>,
    /// File holding the bearer token for --server (the sink's read token; trimmed).
    #[arg(
        long,
        env = "SLUICE_TOKEN_FILE",
        value_name = "FILE",
        requires = "server"
    )]
    token_file: Option<PathBuf>,
    /// Read the whole log even when the data directory has the sink's index (`audit list` and `audit
    /// show`; `audit verify` always reads the whole log).
    #[arg(long)]
    no_index: bool,
}

/// Which records a listing wants: the filter, and at most the newest `limit` of the matches.
pub(super) struct Query {
    pub(super) filter: Filter,
    pub(super) limit: Option<usize>,
}

/// Largest page `GET /v1/records` gives.
const PAGE: usize = 1000;

impl SourceArgs {
    /// The records that concern `change_id` ([`report::change_records`]), oldest first, after verifying the
    /// whole chain (locally a torn last line is left out with a warning, as `sluice serve` would move it
    /// aside). Locally in two passes that keep one bit per record in between: the first verifies and
    /// marks the change's syncs, the guard decisions naming it and those without a change id (which
    /// may belong to it by app and revision); the second reads only the marked records again.
    pub(super) fn change_records(&self, change_id: &str) -> Result<Vec<Record>> {
        let Some(remote) = self.remote()? else {
            require_log(&self.data_dir)?;
            // "" would ask for every record without a change id: that is a scan.
            if !change_id.is_empty() {
                if let Some(lookup) = self.lookup()? {
                    if let Some(records) = indexed_change(&lookup, change_id)? {
                        return Ok(records);
                    }
                    self.mismatch();
                }
            }
            let mut marked = SeqSet::default();
            let mut syncs: Vec<Record> = Vec::new();
            let verified = record::read_each(&self.data_dir, |r| {
                let candidate = match &r.body {
                    Body::Sync(s) => s.change_id.as_deref() == Some(change_id),
                    Body::Guard(g) => {
                        g.change_id
                            .as_deref()
                            .is_none_or(|c| c.is_empty() || c == change_id)
                            || g.emergency.as_deref() == Some(change_id)
                    }
                    Body::Confirmation(_) => false,
                    Body::Review(v) => v.change_id == change_id,
                    Body::Verify(v) => v
                        .change_id
                        .as_deref()
                        .is_none_or(|c| c.is_empty() || c == change_id),
                };
                if candidate {
                    marked.insert(r.seq);
                    if matches!(r.body, Body::Sync(_)) {
                        syncs.push(r);
                    }
                }
            })?;
            // Keep only what can belong to the change: a guard decision without a change id only for the
            // app and revision of one of its syncs.
            let synced = |app: &str, rev: Option<&str>| {
                syncs.iter().any(|s| match &s.body {
                    Body::Sync(s) => {
                        s.app.name == app
                            && rev
                                .is_some_and(|r| !r.is_empty() && s.revision.as_deref() == Some(r))
                    }
                    Body::Guard(_) | Body::Review(_) | Body::Verify(_) | Body::Confirmation(_) => {
                        false
                    }
                })
            };
            let mut picked = Vec::new();
            record::read_again(&verified, &marked, |r| {
                let keep = match &r.body {
                    Body::Sync(_) | Body::Review(_) | Body::Confirmation(_) => true,
                    Body::Guard(g) => {
                        g.change_id.as_deref() == Some(change_id)
                            || g.emergency.as_deref() == Some(change_id)
                            || synced(&g.app.name, g.revision.as_deref())
                    }
                    Body::Verify(v) => {
                        v.change_id.as_deref() == Some(change_id)
                            || synced(&v.app.name, v.revision.as_deref())
                    }
                };
                if keep {
                    picked.push(r);
                }
            })?;
            // On the change's syncs and the marked guard decisions, the selection is the log's.
            return Ok(report::change_records(change_id, &picked)
                .into_iter()
                .cloned()
                .collect());
        };
        let records = remote.verified()?;
        Ok(report::change_records(change_id, &records)
            .into_iter()
            .cloned()
            .collect())
    }

    /// The head of the verified chain.
    pub(super) fn head(&self) -> Result<Head> {
        match self.remote()? {
            None => {
                require_log(&self.data_dir)?;
                Ok(ledger::verify(&self.data_dir)?)
            }
            Some(remote) => remote.head(),
        }
    }

    /// The records that pass `q`, oldest first. Locally the chain is verified first; a sink verified it when it
    /// started and only appends to it, so remotely the query runs on the sink (`app`, `change`, paging) and
    /// only `--since` and `--limit` are applied here.
    pub(super) fn list(&self, q: &Query) -> Result<Vec<Record>> {
        let mut records = match self.remote()? {
            // Two passes that keep one bit per record in between (or the newest `limit` seqs): the first
            // verifies the whole chain and marks the matches, the second reads only those again.
            None if !self.no_index => {
                require_log(&self.data_dir)?;
                match self.lookup()? {
                    Some(lookup) => {
                        if let Some(records) = indexed_list(&lookup, q)? {
                            records
                        } else {
                            self.mismatch();
                            self.scan_list(q)?
                        }
                    }
                    None => self.scan_list(q)?,
                }
            }
            None => self.scan_list(q)?,
            Some(remote) => remote.list(q)?,
        };
        if let Some(limit) = q.limit {
            let skip = records.len().saturating_sub(limit);
            records.drain(..skip);
        }
        Ok(records)
    }

    /// The index of the data directory, unless `--no-index`; without one, the hint that the sink
    /// builds it (for a large log).
    fn lookup(&self) -> Result<Option<ledger::Lookup>> {
        if self.no_index {
            return Ok(None);
        }
        let lookup = ledger::Lookup::open(&self.data_dir, record::SCHEMA)?;
        if lookup.is_none() {
            self.hint()?;
        }
        Ok(lookup)
    }

    /// Warns that the index was found not to match the log.
    fn mismatch(&self) {
        tracing::warn!(
            "the index in {} does not match the log (the sink rebuilds it when it starts): reading the whole log",
            self.data_dir.display()
        );
    }

    /// Warns that the whole log is read, when it is large.
    fn hint(&self) -> Result<()> {
        let bytes = ledger::segment::Listing::take(&self.data_dir)?
            .segments
            .iter()
            .filter_map(|s| std::fs::metadata(&s.path).ok())
            .map(|m| m.len())
            .sum();
        if let Some(hint) = scan_hint(bytes) {
            tracing::warn!("{hint}");
        }
        Ok(())
    }

    /// The records that pass `q`, oldest first, reading the whole log (and verifying its chain).
    fn scan_list(&self, q: &Query) -> Result<Vec<Record>> {
        require_log(&self.data_dir)?;
        Ok({
            {
                let mut marked = SeqSet::default();
                let mut newest = std::collections::VecDeque::new();
                let verified = record::read_each(&self.data_dir, |r| {
                    if q.filter.matches(&r) {
                        match q.limit {
                            None => marked.insert(r.seq),
                            Some(limit) => {
                                newest.push_back(r.seq);
                                if newest.len() > limit {
                                    newest.pop_front();
                                }
                            }
                        }
                    }
                })?;
                for seq in newest {
                    marked.insert(seq);
                }
                let mut matched = Vec::new();
                record::read_again(&verified, &marked, |r| matched.push(r))?;
                matched
            }
        })
    }

    /// The data directory (what `--data-dir` or `SLUICE_DATA_DIR` gave, else the default).
    pub(super) fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Whether the records come from a running sink (`--server`).
    pub(super) fn is_remote(&self) -> bool {
        self.server.is_some()
    }

    /// `GET <server><path>` from the running sink (`/v1/log/…`): the body, or `None` for a 404.
    pub(super) fn fetch(&self, path: &str) -> Result<Option<Vec<u8>>> {
        let Some(remote) = self.remote()? else {
            return Ok(None);
        };
        remote.bytes(path)
    }

    /// What names the log in messages: `DIR/audit.jsonl`, or the server's URL.
    pub(super) fn name(&self) -> PathBuf {
        match &self.server {
            Some(url) => PathBuf::from(url),
            None => self.data_dir.join(LOG_FILE),
        }
    }

    fn remote(&self) -> Result<Option<Remote>> {
        let Some(url) = &self.server else {
            return Ok(None);
        };
        let base = url.trim_end_matches('/');
        if !base.starts_with("http://") {
            return Err(Error::Usage(format!(
                "--server {url:?}: give the sink's plain http:// URL (the sink serves no TLS), e.g. http://127.0.0.1:8080 through kubectl port-forward"
            )));
        }
        let token = match &self.token_file {
            None => None,
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
                let token = text.trim().to_owned();
                if token.is_empty() {
                    return Err(Error::Usage(format!(
                        "--token-file {}: the file is empty; it must hold the sink's bearer token",
                        path.display()
                    )));
                }
                Some(token)
            }
        };
        let client = crate::net::blocking_client(Duration::from_secs(30)).map_err(|message| {
            Error::Reported {
                exit: Exit::Failure,
                message,
            }
        })?;
        Ok(Some(Remote {
            base: base.to_owned(),
            token,
            client,
        }))
    }
}

/// A running sink.
struct Remote {
    base: String,
    token: Option<String>,
    client: reqwest::blocking::Client,
}

impl Remote {
    /// `GET <base><path>`: the body, or `None` for a 404.
    fn bytes(&self, path: &str) -> Result<Option<Vec<u8>>> {
        let url = format!("{}{path}", self.base);
        let fail = |message: String| Error::Reported {
            exit: Exit::Failure,
            message: format!("GET {url}: {message}"),
        };
        let mut request = self.client.get(&url);
        if let Some(token) = &self.token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let response = request.send().map_err(|e| fail(crate::net::describe(&e)))?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut std::io::Read::take(response, 1 << 20), &mut body)
            .map_err(|e| fail(format!("reading the answer: {e}")))?;
        match status {
            200 => Ok(Some(body)),
            404 => Ok(None),
            401 => Err(fail(
                "401 Unauthorized: pass the sink's read token with --token-file FILE".into(),
            )),
            _ => Err(fail(format!(
                "the sink answered {status}: {}",
                String::from_utf8_lossy(&body)
                    .chars()
                    .take(200)
                    .collect::<String>()
            ))),
        }
    }

    /// One `GET /v1/records` page.
    fn page(&self, params: &[(&str, String)]) -> Result<Vec<Value>> {
        let query: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{k}={}", percent_encode(v)))
            .collect();
        let url = format!("{}/v1/records?{}", self.base, query.join("&"));
        let fail = |message: String| Error::Reported {
            exit: Exit::Failure,
            message: format!("GET {url}: {message}"),
        };
        let mut request = self.client.get(&url);
        if let Some(token) = &self.token {
            request = request.header("Authorization", format!("Bearer {token}"));
        }
        let response = request.send().map_err(|e| {
            fail(format!(
                "{}; is the sink reachable (kubectl -n argocd port-forward svc/sluice-sink 8080)?",
                crate::net::describe(&e)
            ))
        })?;
        let status = response.status().as_u16();
        let mut body = String::new();
        std::io::Read::read_to_string(
            &mut std::io::Read::take(response, 256 * 1024 * 1024),
            &mut body,
        )
        .map_err(|e| fail(format!("reading the answer: {e}")))?;
        match status {
            200 => {}
            401 | 403 => return Err(fail(self.refused(status, &body))),
            _ => {
                let said = serde_json::from_str::<Value>(&body)
                    .ok()
                    .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_owned))
                    .unwrap_or_else(|| body.chars().take(200).collect());
                return Err(fail(format!("the sink answered {status}: {said}")));
            }
        }
        match serde_json::from_str(&body) {
            Ok(Value::Array(items)) if items.iter().all(Value::is_object) => Ok(items),
            _ => Err(fail(
                "the answer is not a JSON array of records (is this a sluice sink?)".into(),
            )),
        }
    }

    /// What to do about a 401 or 403: the sink's own reason, and the token a read needs.
    fn refused(&self, status: u16, body: &str) -> String {
        let said = serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_else(|| "the token was refused".to_owned());
        let fix = match &self.token {
            None => "reading needs the sink's read token: pass it with --token-file FILE",
            Some(_) => "pass the sink's read token with --token-file FILE",
        };
        format!(
            "{status}: {said}; {fix} (the install kit keeps it in Argo CD's namespace, Secret \
             sluice-sink-token-<hash>, key read-token)"
        )
    }

    /// Every record the sink's filters `params` match, oldest first, page by page.
    fn all(&self, params: &[(&str, String)]) -> Result<Vec<Value>> {
        let mut out: Vec<Value> = Vec::new();
        let mut after = 0u64;
        loop {
            let mut p = params.to_vec();
            p.push(("after", after.to_string()));
            p.push(("limit", PAGE.to_string()));
            let page = self.page(&p)?;
            let n = page.len();
            if let Some(last) = page.last() {
                let seq = last.get("seq").and_then(Value::as_u64).unwrap_or(0);
                if seq <= after {
                    return Err(Error::Reported {
                        exit: Exit::Failure,
                        message: format!(
                            "{}: the sink paged backwards (seq {seq} after {after})",
                            self.base
                        ),
                    });
                }
                after = seq;
            }
            out.extend(page);
            if n < PAGE {
                return Ok(out);
            }
        }
    }

    /// Every record, with the chain verified exactly as `audit verify` verifies the file: the records are
    /// written back as the log's lines (each line is its record's canonical form) and scanned.
    fn scan(&self) -> Result<(line::Scan, Vec<Record>)> {
        let path = Path::new(&self.base);
        let mut lines = Vec::new();
        for v in self.all(&[])? {
            let Value::Object(map) = &v else { continue };
            let bytes = canonical::object_to_canonical(map).map_err(|e| Error::Reported {
                exit: Exit::Failure,
                message: format!(
                    "{}: record {}: {e}",
                    self.base,
                    v.get("seq").unwrap_or(&Value::Null)
                ),
            })?;
            lines.extend_from_slice(&bytes);
            lines.push(b'\n');
        }
        let mut records = Vec::new();
        let mut misfit = None;
        let scan = line::scan(lines.as_slice(), |map, _| {
            if misfit.is_none() {
                // The records are one stream here: line L is seq L.
                let line = map.get("seq").and_then(Value::as_u64).unwrap_or(0);
                match record::read::read(path, map, line) {
                    Ok(r) => records.push(r),
                    Err(e) => misfit = Some(e),
                }
            }
        })
        .map_err(|e| Error::io(path, e))?;
        if let Some(bad) = scan.bad.clone() {
            return Err(bad.into_error(path.to_path_buf()).into());
        }
        match misfit {
            Some(e) => Err(e.into()),
            None => Ok((scan, records)),
        }
    }

    fn verified(&self) -> Result<Vec<Record>> {
        Ok(self.scan()?.1)
    }

    fn head(&self) -> Result<Head> {
        Ok(self.scan()?.0.head)
    }

    fn list(&self, q: &Query) -> Result<Vec<Record>> {
        let mut params: Vec<(&str, String)> = Vec::new();
        if let Some(app) = &q.filter.app {
            params.push(("app", app.clone()));
        }
        if let Some(change) = &q.filter.change {
            params.push(("change", change.clone()));
        }
        let values = match q.limit {
            // Without --since the sink's own "newest `limit` matches" answers in one request.
            Some(limit) if q.filter.since.is_none() && limit <= PAGE => {
                params.push(("limit", limit.to_string()));
                self.page(&params)?
            }
            _ => self.all(&params)?,
        };
        let path = Path::new(&self.base);
        let mut records = Vec::with_capacity(values.len());
        for v in values {
            let Value::Object(map) = v else { continue };
            let line = map.get("seq").and_then(Value::as_u64).unwrap_or(0);
            records.push(record::read::read(path, map, line).map_err(Error::from)?);
        }
        records.retain(|r| q.filter.matches(r));
        Ok(records)
    }
}

/// Below this, reading the whole log takes well under a second: no hint (and no noise in examples).
const HINT_FROM: u64 = 64 << 20;

/// The hint `audit list` gives when it reads a large log without an index.
fn scan_hint(log_bytes: u64) -> Option<String> {
    (log_bytes >= HINT_FROM).then(|| {
        format!(
            "no index in the data directory: reading the whole log ({} MB); the sink builds the index when it starts on this directory",
            log_bytes / 1_000_000
        )
    })
}

/// Each record found, checked against its hash as the sink checks the records it serves, read into
/// the typed model.
fn checked(found: Vec<ledger::Found>) -> Result<Vec<Record>> {
    let mut records = Vec::with_capacity(found.len());
    for f in found {
        let seq = line::seq_of(&f.record);
        let intact = canonical::object_to_canonical(&f.record)
            .is_ok_and(|bytes| line::is_intact(&f.record, &bytes));
        if !intact {
            return Err(ledger::LedgerError::Broken {
                path: f.path,
                line: f.line,
                seq,
                reason: ledger::BadReason::Hash,
            }
            .into());
        }
        records.push(record::read::read(&f.path, f.record, f.line)?);
    }
    Ok(records)
}

/// The records that pass `q`, oldest first, through the index: the index gives the app's or the
/// change's records (the newest `limit` when there is no `--since`), each read where the index says it
/// is, checked to be that record and filed as asked (as the sink checks them), and its hash checked
/// against its content; `--since` is applied here. `None` when the index does not match the log.
fn indexed_list(lookup: &ledger::Lookup, q: &Query) -> Result<Option<Vec<Record>>> {
    let want = ledger::Want {
        app: q.filter.app.clone(),
        change: q.filter.change.clone(),
        tag: None,
        newest: q.limit.filter(|_| q.filter.since.is_none()),
    };
    let Some(mut answer) = lookup.find(&[want]) else {
        return Ok(None);
    };
    let mut records = checked(answer.found.swap_remove(0))?;
    records.retain(|r| q.filter.matches(r));
    Ok(Some(records))
}

/// The records of a change ([`report::change_records`]) through the index: those filed under its id,
/// the guard decisions naming it as their emergency, and the guard decisions and verifications without
/// a change id at the app and revision of one of its syncs; each checked as [`indexed_list`]'s. `None`
/// when the index does not match the log.
fn indexed_change(lookup: &ledger::Lookup, change_id: &str) -> Result<Option<Vec<Record>>> {
    let wants = [
        ledger::Want {
            change: Some(change_id.to_owned()),
            ..ledger::Want::default()
        },
        ledger::Want {
            tag: Some(record::emergency_tag(change_id)),
            ..ledger::Want::default()
        },
    ];
    let Some(answer) = lookup.find(&wants) else {
        return Ok(None);
    };
    let mut records = std::collections::BTreeMap::new();
    for found in answer.found.iter().cloned() {
        records.extend(checked(found)?.into_iter().map(|r| (r.seq, r)));
    }
    let mut revisions: Vec<String> = records
        .values()
        .filter_map(|r| match &r.body {
            Body::Sync(s) if s.change_id.as_deref() == Some(change_id) => s
                .revision
                .as_deref()
                .filter(|rev| !rev.is_empty())
                .map(|rev| record::revision_tag(&s.app.name, rev)),
            _ => None,
        })
        .filter(|tag| answer.may_have_tag(tag))
        .collect();
    revisions.sort();
    revisions.dedup();
    if !revisions.is_empty() {
        let wants: Vec<ledger::Want> = revisions
            .into_iter()
            .map(|tag| ledger::Want {
                tag: Some(tag),
                ..ledger::Want::default()
            })
            .collect();
        let Some(more) = lookup.find(&wants) else {
            return Ok(None);
        };
        for found in more.found {
            records.extend(checked(found)?.into_iter().map(|r| (r.seq, r)));
        }
    }
    let records: Vec<Record> = records.into_values().collect();
    Ok(Some(
        report::change_records(change_id, &records)
            .into_iter()
            .cloned()
            .collect(),
    ))
}

/// `application/x-www-form-urlencoded` value encoding: unreserved characters as they are, others as %XX.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// Checks that `data_dir` holds an audit log before reading it, so that a missing one is named with the
/// ways to point at the right one instead of as a bare "No such file or directory".
///
/// # Errors
///
/// A usage error (exit 2) naming the path, `--data-dir`, `SLUICE_DATA_DIR` and `--server`.
pub(in crate::cli) fn require_log(data_dir: &Path) -> Result<()> {
    // The active segment, or sealed segments only (a log whose active file was just sealed).
    if data_dir.join(LOG_FILE).is_file()
        || data_dir.join(crate::ledger::segment::SEGMENTS_DIR).is_dir()
    {
        return Ok(());
    }
    let what = if data_dir.is_dir() {
        format!("{} has no audit log ({LOG_FILE})", data_dir.display())
    } else {
        format!("no data directory at {}", data_dir.display())
    };
    Err(Error::Usage(format!(
        "{what}: give the sink's data directory with --data-dir DIR (or the environment variable \
         SLUICE_DATA_DIR), or read from a running sink with --server URL --token-file FILE (e.g. \
         http://127.0.0.1:8080 through kubectl -n argocd port-forward svc/sluice-sink 8080)"
    )))
}

/// The error `audit show` gives when no record concerns the change.
pub(super) fn no_such_change(change: &str, source: &SourceArgs) -> Error {
    Error::Reported {
        exit: Exit::Failure,
        message: format!(
            "no record in {} mentions change {change:?} (sluice audit list shows the change ids in the log)",
            source.name().display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_log_read_without_an_index_gets_the_hint() {
        assert_eq!(scan_hint(HINT_FROM - 1), None);
        assert!(scan_hint(1 << 30).is_some_and(|h| h.contains("no index")
            && h.contains("1073 MB")
            && h.contains("the sink builds")));
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            percent_encode("CHG-1 a&b=c/é"),
            "CHG-1%20a%26b%3Dc%2F%C3%A9"
        );
        assert_eq!(percent_encode(""), "");
    }
}
