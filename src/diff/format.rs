//! A [`Report`] as text (a terminal, with or without colour), Markdown (a pull-request comment) or
//! JSON. Takes the report, gives a string; no I/O.

use super::compare::{ObjectChange, Status};
use super::Report;
use std::fmt::Write as _;

/// The output format of `sluice diff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Markdown,
    Json,
}

/// A GitHub comment holds at most 65,536 characters; Markdown output leaves object diffs out past
/// this size (the summary and the flagged controls always fit first).
pub const MAX_MARKDOWN: usize = 60_000;

/// The report in `format`; `color` adds ANSI colours to text.
pub fn render(report: &Report, format: Format, color: bool) -> String {
    match format {
        Format::Text => text(report, color),
        Format::Markdown => markdown(report),
        // A report of strings, numbers and lists serialises without error.
        Format::Json => serde_json::to_string_pretty(report).unwrap_or_default() + "\n",
    }
}

struct Paint(bool);

impl Paint {
    fn wrap(&self, code: &str, s: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn bold(&self, s: &str) -> String {
        self.wrap("1", s)
    }
    fn red(&self, s: &str) -> String {
        self.wrap("31", s)
    }
    fn green(&self, s: &str) -> String {
        self.wrap("32", s)
    }
    fn yellow(&self, s: &str) -> String {
        self.wrap("1;33", s)
    }
    fn cyan(&self, s: &str) -> String {
        self.wrap("36", s)
    }
}

fn status_word(s: Status) -> &'static str {
    match s {
        Status::Added => "added",
        Status::Removed => "removed",
        Status::Changed => "changed",
    }
}

fn object_line(o: &ObjectChange) -> String {
    match &o.renamed_from {
        Some(old) => format!("{} (was {old})", o.object),
        None => o.object.clone(),
    }
}

fn counts(report: &Report) -> String {
    let n = |s: Status| report.objects.iter().filter(|o| o.status == s).count();
    format!(
        "{} added, {} removed, {} changed, {} unchanged",
        n(Status::Added),
        n(Status::Removed),
        n(Status::Changed),
        report.unchanged
    )
}

/// The summary lines shared by text and Markdown (without markup): (heading, lines).
fn sections(report: &Report) -> Vec<(&'static str, Vec<String>)> {
    let mut out = Vec::new();
    let mut objects = Vec::new();
    for o in &report.objects {
        objects.push(format!("{:<8} {}", status_word(o.status), object_line(o)));
        for k in &o.secret_keys {
            objects.push(format!("         {} {}: {}", o.object, k.key, k.status));
        }
    }
    out.push(("Objects", objects));
    let restarts = report
        .restarts
        .iter()
        .map(|r| {
            let causes = if r.causes.is_empty() {
                "config checksum changed".into()
            } else {
                r.causes.join(", ")
            };
            match &r.note {
                Some(note) => format!("{}: {causes} ({note})", r.workload),
                None => format!("{}: {causes}", r.workload),
            }
        })
        .collect();
    out.push(("Restarts", restarts));
    let hooks = report
        .hooks
        .iter()
        .map(|h| {
            let mut line = format!("{:<9} {}: {}", h.hook, h.object, h.detail);
            if !h.new_files.is_empty() {
                let _ = write!(line, "; new SQL files: {}", h.new_files.join(", "));
            }
            if !h.changed_files.is_empty() {
                let _ = write!(line, "; changed SQL files: {}", h.changed_files.join(", "));
            }
            line
        })
        .collect();
    out.push(("Hooks that run on sync (PreSync)", hooks));
    let w = &report.windows;
    let mut windows = Vec::new();
    if w.any && !w.enforced {
        windows.push(
            "windows and freezes are not enforced: no guard Job (guard.enabled: false)".to_string(),
        );
    }
    if w.allowed {
        let mut line = format!("at {}: {}", w.at, w.reason);
        if let Some(close) = &w.next_close {
            let _ = write!(line, "; the next close is {close}");
        }
        windows.push(line);
    } else {
        let next = w.next_open.as_deref().map_or_else(
            || "no window opens in the next 5 years".into(),
            |t| format!("the next opening is {t}"),
        );
        windows.push(format!("at {}: {}; {next}", w.at, w.reason));
    }
    out.push(("Windows", windows));
    let c = &report.change;
    let required = if c.required {
        "the policy requires one"
    } else {
        "the policy does not require one"
    };
    let change = match (&c.id, &c.source) {
        (Some(id), Some(source)) => format!("{id} (from {source}); {required}"),
        _ => format!("none; {required}"),
    };
    out.push(("Change id", vec![change]));
    out
}

fn text(report: &Report, color: bool) -> String {
    let p = Paint(color);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}",
        p.bold(&format!(
            "sluice diff {}: {} → {}",
            report.app,
            report.base.label(),
            report.head.label()
        ))
    );
    let _ = writeln!(out, "{}\n", counts(report));
    if !report.weakened.is_empty() {
        let _ = writeln!(
            out,
            "{}",
            p.yellow("Weakened controls (a second reviewer should approve):")
        );
        for w in &report.weakened {
            let _ = writeln!(out, "  {} {}", p.yellow("!"), w.message);
        }
        out.push('\n');
    }
    for (heading, lines) in sections(report) {
        let _ = writeln!(out, "{}", p.bold(heading));
        if lines.is_empty() {
            out.push_str("  none\n");
        }
        for line in lines {
            let _ = writeln!(out, "  {line}");
        }
        out.push('\n');
    }
    for o in &report.objects {
        for line in o.diff.lines() {
            let painted = if line.starts_with("+++") || line.starts_with("---") {
                p.bold(line)
            } else if line.starts_with('+') {
                p.green(line)
            } else if line.starts_with('-') {
                p.red(line)
            } else if line.starts_with("@@") {
                p.cyan(line)
            } else {
                line.to_string()
            };
            let _ = writeln!(out, "{painted}");
        }
    }
    out
}

/// A fence longer than any run of backticks in `text`, so a diff cannot close it early.
fn fence(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}

/// Markdown-escapes a line of plain text (object names, reasons) for a table-less list.
fn md(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '|' | '~'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn markdown(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "### sluice diff `{}`: {} → {}\n",
        report.app.replace('`', "'"),
        md(&report.base.label()),
        md(&report.head.label())
    );
    let _ = writeln!(out, "{}\n", counts(report));
    if !report.weakened.is_empty() {
        out.push_str("> [!WARNING]\n> **Weakened controls: a second reviewer should approve.**\n");
        for w in &report.weakened {
            let _ = writeln!(out, "> - {}", md(&w.message));
        }
        out.push('\n');
    }
    for (heading, lines) in sections(report) {
        let _ = writeln!(out, "#### {heading}\n");
        if lines.is_empty() {
            out.push_str("- none\n");
        }
        for line in lines {
            let _ = writeln!(out, "- {}", md(line.trim()));
        }
        out.push('\n');
    }
    let mut omitted = 0;
    for o in &report.objects {
        let f = fence(&o.diff);
        let block = format!(
            "<details><summary>{} {}</summary>\n\n{f}diff\n{}{f}\n\n</details>\n\n",
            status_word(o.status),
            md(&object_line(o)),
            o.diff
        );
        if out.len() + block.len() > MAX_MARKDOWN {
            omitted += 1;
        } else {
            out.push_str(&block);
        }
    }
    if omitted > 0 {
        let _ = writeln!(
            out,
            "{omitted} more object diff{} left out to fit a comment; run `sluice diff` locally for all of them.",
            if omitted == 1 { "" } else { "s" }
        );
    }
    out
}
