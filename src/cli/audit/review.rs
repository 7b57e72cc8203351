//! `sluice audit review CHANGE-ID --by WHO --note TEXT [--server URL --token-file F | --data-dir DIR]`:
//! records the post-implementation review of an emergency change (docs/tickets.md, "Emergency
//! changes"): an `emergency-review` record appended to the chain, naming the emergency's records, when
//! the review was due and whether it is late. Through a running sink (`POST /v1/reviews` with the
//! write token), or straight into a data directory no sink holds (the exclusive lock
//! `DATA_DIR/sluice.lock`, which a running sink holds, is taken first). A retry of the same review is
//! found as a duplicate; `audit exceptions` stops listing the emergency.

use super::since;
use crate::cli::error::{Error, Exit, Result};
use crate::cli::output;
use crate::ledger::{Ledger, LedgerError, Outcome, Rolling};
use crate::record::review::emergencies;
use crate::record::{self, review_record, Body, Record, SCHEMA};
use crate::sink::memory::Memory;
use clap::Args;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Args)]
pub(in crate::cli) struct ReviewArgs {
    /// The sink's data directory (ignored with --server); no sink may be running on it.
    #[arg(long, env = "SLUICE_DATA_DIR", default_value = "/var/lib/sluice")]
    data_dir: PathBuf,
    /// Record the review through a running sink, e.g. http://127.0.0.1:8080 through
    /// `kubectl -n argocd port-forward svc/sluice-sink 8080`.
    #[allow(clippy::doc_markdown)] // clap prints it as help text, where <…> would show.
    #[arg(long, env = "SLUICE_SERVER", value_name = "URL")]
    server: Option<String>,
    /// File holding the sink's write token for --server.
    #[arg(long, value_name = "FILE", requires = "server")]
    token_file: Option<PathBuf>,
    /// Who reviewed the emergency.
    #[arg(long)]
    by: String,
    /// What the review found (root cause, follow-ups).
    #[arg(long)]
    note: String,
    /// The emergency change id, e.g. CHG-1299.
    change_id: String,
}

fn failed(message: String) -> Error {
    Error::Reported {
        exit: Exit::Failure,
        message,
    }
}

/// Records the review and prints what was recorded.
///
/// # Errors
///
/// No emergency has that id, it was reviewed already by another review, the text does not fit, the
/// sink refused or cannot be reached, or the data directory is held by a sink.
pub(super) fn run(args: &ReviewArgs) -> Result<Exit> {
    for (name, value, max, lines) in [
        ("CHANGE-ID", args.change_id.as_str(), 200, false),
        ("--by", args.by.as_str(), 200, false),
        ("--note", args.note.as_str(), 8000, true),
    ] {
        crate::record::review::check_text(name, value, max, lines).map_err(Error::Usage)?;
    }
    let answer = match &args.server {
        Some(url) => remote(args, url)?,
        None => local(args)?,
    };
    let seq = answer.get("seq").and_then(Value::as_u64).unwrap_or(0);
    let text = if answer.get("duplicate").and_then(Value::as_bool) == Some(true) {
        format!(
            "seq {seq}: this review of {} is recorded already\n",
            args.change_id
        )
    } else {
        let late = if answer.get("late").and_then(Value::as_bool) == Some(true) {
            " (late)"
        } else {
            ""
        };
        format!(
            "seq {seq}: emergency {} reviewed by {}; it was due {}{late}\n",
            args.change_id,
            args.by,
            answer.get("due").and_then(Value::as_str).unwrap_or("?")
        )
    };
    output::print(text.as_bytes())?;
    Ok(Exit::Success)
}

/// `POST /v1/reviews` to the sink.
fn remote(args: &ReviewArgs, url: &str) -> Result<Value> {
    let base = url.trim_end_matches('/');
    if !base.starts_with("http://") {
        return Err(Error::Usage(format!(
            "--server {url:?}: give the sink's plain http:// URL (the sink serves no TLS), e.g. http://127.0.0.1:8080 through kubectl port-forward"
        )));
    }
    let token = match &args.token_file {
        None => None,
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
            Some(text.trim().to_owned()).filter(|t| !t.is_empty())
        }
    };
    let endpoint = format!("{base}/v1/reviews");
    let client = crate::net::blocking_client(Duration::from_secs(30)).map_err(failed)?;
    let mut request = client
        .post(&endpoint)
        .header("Content-Type", "application/json");
    if let Some(token) = &token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    let body = json!({"changeId": args.change_id, "by": args.by, "note": args.note});
    let response = request.body(body.to_string()).send().map_err(|e| {
        failed(format!(
            "POST {endpoint}: {}; is the sink reachable?",
            crate::net::describe(&e)
        ))
    })?;
    let status = response.status().as_u16();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::Read::take(response, 1 << 20), &mut text)
        .map_err(|e| failed(format!("POST {endpoint}: reading the answer: {e}")))?;
    let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    match status {
        200 | 201 => Ok(value),
        401 => Err(failed(format!(
            "POST {endpoint}: 401 Unauthorized: pass the sink's write token with --token-file FILE"
        ))),
        _ => Err(failed(format!(
            "POST {endpoint}: the sink answered {status}: {}",
            value
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("no error message")
        ))),
    }
}

/// Straight into the data directory, which no sink may hold.
fn local(args: &ReviewArgs) -> Result<Value> {
    let dir = &args.data_dir;
    super::source::require_log(dir)?;
    // The sink's own segment limits are unknown here: this append seals nothing. Opening the log
    // takes the data directory's lock (a running sink holds it) and keeps the sink's memory of the
    // log in its marker, as the sink would.
    let rolling = Rolling {
        max_bytes: u64::MAX,
        max_age: Duration::from_secs(u64::from(u32::MAX)),
    };
    let now = since::now()?;
    let mut log = match Ledger::<Memory>::open_folding(dir, now.timestamp(), rolling, SCHEMA) {
        Ok(log) => log,
        Err(LedgerError::Locked { path, holder }) => {
            return Err(failed(format!(
                "{}: a running sink holds this data directory ({holder}); record the review through it: sluice audit review {} --by … --note … --server URL --token-file FILE",
                path.display(),
                args.change_id
            )))
        }
        Err(e) => return Err(e.into()),
    };
    let mut records: Vec<Record> = Vec::new();
    record::read_each(dir, |r| {
        if matches!(r.body, Body::Guard(_) | Body::Sync(_) | Body::Review(_)) {
            records.push(r);
        }
    })?;
    let found = emergencies(&records)
        .into_iter()
        .find(|e| e.change_id == args.change_id)
        .ok_or_else(|| {
            failed(format!(
                "{}: no emergency change {} is recorded (a review is of a change an emergency let through: an override, or an approved emergency ticket)",
                dir.display(),
                args.change_id
            ))
        })?;
    let received_at = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let due = found.due.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let draft = review_record(
        &args.change_id,
        &args.by,
        &args.note,
        &found.seqs,
        Some(&due),
        now > found.due,
        "cli",
        &received_at,
    );
    if let Some((seq, _, _)) = &found.review {
        let same = records
            .iter()
            .any(|r| r.seq == *seq && r.body.key() == draft.key());
        if !same {
            return Err(failed(format!(
                "{} was reviewed already (seq {seq})",
                args.change_id
            )));
        }
    }
    let outcome = log.append_batch(std::slice::from_ref(&draft))?;
    drop(log);
    match outcome.first() {
        Some(Outcome::Appended { seq, hash }) => {
            Ok(json!({"seq": seq, "hash": hash, "due": due, "late": now > found.due}))
        }
        Some(Outcome::Duplicate { seq }) => Ok(json!({"seq": seq, "duplicate": true})),
        None => Err(failed("nothing was appended".into())),
    }
}
