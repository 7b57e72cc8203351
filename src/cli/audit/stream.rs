//! The output of `audit list` and `audit show`, streamed with bounded memory whatever the size of the
//! log: a first pass verifies the whole chain and marks the records wanted (one bit each; for a table,
//! it also measures the columns), a second reads only those again and prints them as it goes. Nothing
//! is printed before the whole chain has verified.

use crate::audit::query::{self, ChangeRecords, Filter, Table};
use crate::audit::{self, log, AuditError, SeqSet};
use crate::cli::error::{Error, Result};
use crate::cli::output;
use std::path::Path;

/// Output is handed to stdout in pieces of about this size.
const CHUNK: usize = 64 << 10;

/// How `audit list` prints the records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    Table,
    Json,
    Csv,
}

/// Text on its way to stdout, written out a chunk at a time.
struct Out {
    buf: String,
    failed: Option<Error>,
}

impl Out {
    fn new() -> Self {
        Out {
            buf: String::with_capacity(CHUNK + 4096),
            failed: None,
        }
    }

    /// Writes the buffer out once it is a chunk long (or `force`); the first error is kept.
    fn flush(&mut self, force: bool) {
        if self.failed.is_none() && (force || self.buf.len() >= CHUNK) {
            if let Err(e) = output::print(self.buf.as_bytes()) {
                self.failed = Some(e);
            }
            self.buf.clear();
        }
        if self.failed.is_some() {
            self.buf.clear();
        }
    }

    fn finish(mut self) -> Result<()> {
        self.flush(true);
        self.failed.map_or(Ok(()), Err)
    }
}

/// `audit list`: the records that pass `filter`, oldest first.
pub(super) fn list(data_dir: &Path, filter: &Filter, format: Format) -> Result<()> {
    let mut wanted = SeqSet::default();
    let mut table = Table::new();
    let verified = audit::read_each(data_dir, |r, _| {
        if filter.matches(&r) {
            wanted.insert(r.seq);
            if format == Format::Table {
                table.measure(&query::table_cells(&r));
            }
        }
    })?;
    let mut out = Out::new();
    let mut first = true;
    let mut failed = None;
    match format {
        Format::Table => out.buf.push_str(&table.header()),
        Format::Csv => out.buf.push_str(&query::csv_header()),
        Format::Json if wanted.is_empty() => out.buf.push_str("[]"),
        Format::Json => out.buf.push_str("[\n"),
    }
    audit::read_again(&verified, &wanted, |r| {
        match format {
            Format::Table => table.push_row(&mut out.buf, &query::table_cells(&r)),
            Format::Csv => query::push_csv_line(&mut out.buf, &r),
            Format::Json => match query::json_element(&r) {
                Ok(text) => {
                    if !first {
                        out.buf.push_str(",\n");
                    }
                    out.buf.push_str(&text);
                }
                Err(e) => {
                    failed
                        .get_or_insert_with(|| Error::Usage(format!("cannot print records: {e}")));
                }
            },
        }
        first = false;
        out.flush(false);
    })?;
    if let Some(e) = failed {
        return Err(e);
    }
    if format == Format::Json {
        out.buf
            .push_str(if wanted.is_empty() { "\n" } else { "\n]\n" });
    }
    out.finish()
}

/// `audit show`: the change report of `change_id`.
pub(super) fn show(data_dir: &Path, change_id: &str) -> Result<()> {
    let mut change = ChangeRecords::new(change_id);
    let mut candidates = SeqSet::default();
    let verified = audit::read_each(data_dir, |r, _| {
        change.first_pass(&r);
        if ChangeRecords::is_candidate(&r) {
            candidates.insert(r.seq);
        }
    })?;
    if change.needs_second_pass() {
        audit::read_again(&verified, &candidates, |r| change.second_pass(&r))?;
    }
    let report = change.report().ok_or_else(|| AuditError::NoSuchChange {
        change: change_id.to_owned(),
        path: data_dir.join(log::LOG_FILE),
    })?;
    output::print(report.as_bytes())
}
