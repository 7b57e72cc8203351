//! A [`DiffReport`] as text (a terminal, with or without colour), Markdown (a pull-request comment)
//! or JSON, optionally within a size: the summary and the weakened controls always, then what a
//! reviewer needs most (the diffs of restarting workloads, of hooks and of Secrets with their key
//! status), then the rest, smallest first; long lists are cut, and a last line says what was left out
//! and where the whole report is. Takes the report, gives a string; no I/O.

use super::compare::{ObjectChange, Status};
use super::{DiffReport, Report};
use std::fmt::Write as _;

/// The output format of `sluice diff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Markdown,
    Json,
}

/// The first line of every Markdown report: CI jobs find the comment they posted before by it and
/// update it instead of adding another.
pub const MARKER: &str = "<!-- sluice-diff -->";

/// A GitHub comment holds at most 65,536 characters; the default size of Markdown output stays under it.
pub const DEFAULT_MARKDOWN_SIZE: usize = 65_000;

/// How to write the report.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// ANSI colours (text only).
    pub color: bool,
    /// At most this many characters (text and Markdown); `None`: everything.
    pub max_size: Option<usize>,
    /// Where the whole report is written (`--output-file`), named in the "left out" line.
    pub full_report: Option<String>,
}

/// The report in `format`.
pub fn render(report: &DiffReport, format: Format, options: &Options) -> String {
    match format {
        // A report of strings, numbers and lists serialises without error.
        Format::Json => serde_json::to_string_pretty(report).unwrap_or_default() + "\n",
        Format::Text | Format::Markdown => {
            let limit = options.max_size.map(|_| 50);
            let blocks = blocks(report, format == Format::Markdown, options.color, limit);
            assemble(&blocks, report, format == Format::Markdown, options)
        }
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
    fn yellow(&self, s: &str) -> String {
        self.wrap("1;33", s)
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

fn count(app: &Report, s: Status) -> usize {
    app.objects.iter().filter(|o| o.status == s).count()
}

fn counts(app: &Report) -> String {
    format!(
        "{} added, {} removed, {} changed, {} unchanged",
        count(app, Status::Added),
        count(app, Status::Removed),
        count(app, Status::Changed),
        app.unchanged
    )
}

/// Markdown-escapes a line of plain text (object names, reasons).
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

/// A fence longer than any run of backticks in `text`, so a diff cannot close it early.
fn fence(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    "`".repeat(longest.max(2) + 1)
}

/// What a block of output is, for the choice of what to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Never left out: headings, the summary, weakened controls, restarts, hooks, windows.
    Always,
    /// A line of an app's object list (with its Secret key lines); `priority` 1 or 2.
    Listed { app: usize, priority: u8 },
    /// An object diff; `priority` 1 (restarting workload, hook, Secret) or 3.
    Diff { priority: u8 },
    /// Where an app's cut object list says how many lines were left out.
    ListEnd { app: usize },
}

struct Block {
    kind: Kind,
    text: String,
    /// The object, for the "left out" line.
    object: String,
}

fn always(text: String) -> Block {
    Block {
        kind: Kind::Always,
        text,
        object: String::new(),
    }
}

/// Whether an object is one a reviewer must see first: a workload that restarts, a hook, a secret.
fn important(app: &Report, o: &ObjectChange) -> bool {
    !o.secret_keys.is_empty()
        || app.restarts.iter().any(|r| r.workload == o.object)
        || app.hooks.iter().any(|h| h.object == o.object)
}

fn heading(markdown: bool, level: usize, text: &str, p: &Paint) -> String {
    if markdown {
        format!("{} {text}\n\n", "#".repeat(level))
    } else {
        format!("{}\n", p.bold(text))
    }
}

/// Lines as a list; `none` when empty.
fn list(markdown: bool, lines: &[String]) -> String {
    let mut out = String::new();
    if lines.is_empty() {
        out.push_str(if markdown { "- none\n" } else { "  none\n" });
    }
    for line in lines {
        if markdown {
            let _ = writeln!(out, "- {}", md(line.trim()));
        } else {
            let _ = writeln!(out, "  {line}");
        }
    }
    out.push('\n');
    out
}

fn restart_lines(app: &Report) -> Vec<String> {
    app.restarts
        .iter()
        .map(|r| {
            let causes = r.causes.join("; ");
            match &r.note {
                Some(note) => format!("{}: {causes} ({note})", r.workload),
                None => format!("{}: {causes}", r.workload),
            }
        })
        .collect()
}

fn hook_lines(app: &Report) -> Vec<String> {
    app.hooks
        .iter()
        .map(|h| {
            let mut line = format!(
                "{:<8} wave {:>3}  {:<9} {}: {}",
                h.phase, h.wave, h.hook, h.object, h.detail
            );
            if !h.new_files.is_empty() {
                let _ = write!(line, "; new SQL files: {}", h.new_files.join(", "));
            }
            if !h.changed_files.is_empty() {
                let _ = write!(line, "; changed SQL files: {}", h.changed_files.join(", "));
            }
            line
        })
        .collect()
}

fn window_lines(app: &Report) -> Vec<String> {
    let w = &app.windows;
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
    windows
}

fn change_line(app: &Report) -> String {
    let c = &app.change;
    let required = if c.required {
        "the policy requires one"
    } else {
        "the policy does not require one"
    };
    match (&c.id, &c.source) {
        (Some(id), Some(source)) => format!("{id} (from {source}); {required}"),
        _ => format!("none; {required}"),
    }
}

/// At most `limit` lines when the output is bounded, then one line saying how many more.
fn cut(mut lines: Vec<String>, limit: Option<usize>, what: &str) -> Vec<String> {
    if let Some(limit) = limit {
        if lines.len() > limit {
            let more = lines.len() - limit;
            lines.truncate(limit);
            lines.push(format!(
                "… and {more} more {what} (all of them in the full report)"
            ));
        }
    }
    lines
}

/// The window column of the summary table.
fn window_now(app: &Report) -> String {
    let w = &app.windows;
    if !app.sluice || !w.any {
        return "-".into();
    }
    match (w.allowed, &w.next_close, &w.next_open) {
        (true, Some(close), _) => format!("open until {close}"),
        (true, None, _) => "open".into(),
        (false, _, Some(open)) => format!("closed until {open}"),
        (false, _, None) => "closed".into(),
    }
}

fn objects_cell(app: &Report) -> String {
    let mut cell = format!(
        "+{} −{} ~{}",
        count(app, Status::Added),
        count(app, Status::Removed),
        count(app, Status::Changed)
    );
    if app.head.error.is_some() {
        cell.push_str(", head does not render");
    } else if app.base.error.is_some() {
        cell.push_str(", base does not render");
    }
    cell
}

/// The summary table (repository mode): one row per app.
fn table(report: &DiffReport, markdown: bool) -> String {
    let header = [
        "app",
        "objects",
        "restarts",
        "hooks",
        "window now",
        "weakened controls",
    ];
    let rows: Vec<[String; 6]> = report
        .apps
        .iter()
        .map(|a| {
            [
                a.app.clone()
                    + &if a.name == a.app {
                        String::new()
                    } else {
                        format!(" ({})", a.name)
                    },
                objects_cell(a),
                a.restarts.len().to_string(),
                a.hooks.len().to_string(),
                window_now(a),
                if a.weakened.is_empty() {
                    "0".into()
                } else {
                    format!("{} (!)", a.weakened.len())
                },
            ]
        })
        .collect();
    let mut out = String::new();
    if markdown {
        let _ = writeln!(out, "| {} |", header.join(" | "));
        let _ = writeln!(out, "|{}", "---|".repeat(header.len()));
        for r in &rows {
            let cells: Vec<String> = r.iter().map(|c| md(c)).collect();
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        }
    } else {
        let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
        for r in &rows {
            for (w, c) in widths.iter_mut().zip(r) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |cells: Vec<&str>| {
            let padded: Vec<String> = cells
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c}{}", " ".repeat(w - c.chars().count())))
                .collect();
            format!("  {}\n", padded.join("  ").trim_end())
        };
        out.push_str(&line(header.to_vec()));
        for r in &rows {
            out.push_str(&line(r.iter().map(String::as_str).collect()));
        }
    }
    out.push('\n');
    out
}

fn weakened_block(items: &[(Option<&str>, &str)], markdown: bool, p: &Paint) -> String {
    let mut out = String::new();
    if items.is_empty() {
        return out;
    }
    if markdown {
        out.push_str("> [!WARNING]\n> **Weakened controls: a second reviewer should approve.**\n");
        for (app, message) in items {
            match app {
                Some(app) => {
                    let _ = writeln!(out, "> - `{}`: {}", app.replace('`', "'"), md(message));
                }
                None => {
                    let _ = writeln!(out, "> - {}", md(message));
                }
            }
        }
    } else {
        let _ = writeln!(
            out,
            "{}",
            p.yellow("Weakened controls (a second reviewer should approve):")
        );
        for (app, message) in items {
            match app {
                Some(app) => {
                    let _ = writeln!(out, "  {} {app}: {message}", p.yellow("!"));
                }
                None => {
                    let _ = writeln!(out, "  {} {message}", p.yellow("!"));
                }
            }
        }
    }
    out.push('\n');
    out
}

fn errors(app: &Report, markdown: bool) -> String {
    let mut out = String::new();
    for (name, side) in [("base", &app.base), ("head", &app.head)] {
        let Some(error) = &side.error else { continue };
        let other = if name == "base" {
            "every object of the head is shown as added"
        } else {
            "every object of the base is shown as removed"
        };
        if markdown {
            let _ = writeln!(
                out,
                "> [!CAUTION]\n> **{name} ({}) does not render**; {other}:\n>\n> {}\n",
                md(&side.label()),
                error.lines().map(md).collect::<Vec<_>>().join("\n> ")
            );
        } else {
            let _ = writeln!(
                out,
                "{name} ({}) does not render; {other}:\n  {}\n",
                side.label(),
                error.lines().collect::<Vec<_>>().join("\n  ")
            );
        }
    }
    out
}

/// Every block of the report in output order.
fn blocks(report: &DiffReport, markdown: bool, color: bool, limit: Option<usize>) -> Vec<Block> {
    let p = Paint(color);
    let repo_mode = report.mode == "repository";
    let side_label = |r: &super::Revision| {
        super::Side {
            rev: r.rev.clone(),
            commit: r.commit.clone(),
            present: true,
            error: None,
        }
        .label()
    };
    let (base, head) = (side_label(&report.base), side_label(&report.head));
    let mut out = Vec::new();
    let mut top = String::new();
    if markdown {
        let _ = writeln!(top, "{MARKER}");
    }
    let sub = if repo_mode { 5 } else { 4 };
    if repo_mode {
        let changed = report.apps.iter().filter(|a| a.has_changes()).count();
        let title = format!(
            "sluice diff: {changed} of {} app{} changed ({} → {})",
            report.apps_found,
            if report.apps_found == 1 { "" } else { "s" },
            if markdown { md(&base) } else { base.clone() },
            if markdown { md(&head) } else { head.clone() }
        );
        if markdown {
            let _ = writeln!(top, "### {title}\n");
        } else {
            let _ = writeln!(top, "{}", p.bold(&title));
        }
        let _ = writeln!(
            top,
            "{} changed file{}; {} app{} touched\n",
            report.changed_files.len(),
            if report.changed_files.len() == 1 {
                ""
            } else {
                "s"
            },
            report.apps.len(),
            if report.apps.len() == 1 { "" } else { "s" }
        );
        let weakened: Vec<(Option<&str>, &str)> = report
            .apps
            .iter()
            .flat_map(|a| {
                a.weakened
                    .iter()
                    .map(|w| (Some(a.app.as_str()), w.message.as_str()))
            })
            .collect();
        top.push_str(&weakened_block(&weakened, markdown, &p));
        if !report.apps.is_empty() {
            top.push_str(&table(report, markdown));
        }
        if !report.notes.is_empty() {
            top.push_str(&heading(markdown, 4, "Not looked at", &p));
            top.push_str(&list(markdown, &report.notes));
        }
    }
    out.push(always(top));
    for (index, app) in report.apps.iter().enumerate() {
        let mut head_text = String::new();
        if repo_mode {
            let title = if app.name == app.app {
                format!("`{}`", app.app.replace('`', "'"))
            } else {
                format!("`{}` ({})", app.app.replace('`', "'"), md(&app.name))
            };
            if markdown {
                let _ = writeln!(head_text, "---\n\n#### {title}\n");
            } else {
                let _ = writeln!(
                    head_text,
                    "{}",
                    p.bold(&format!("== {} ==", title.replace('`', "")))
                );
            }
        } else if markdown {
            let _ = writeln!(
                head_text,
                "### sluice diff `{}`: {} → {}\n",
                app.app.replace('`', "'"),
                md(&app.base.label()),
                md(&app.head.label())
            );
        } else {
            let _ = writeln!(
                head_text,
                "{}",
                p.bold(&format!(
                    "sluice diff {}: {} → {}",
                    app.app,
                    app.base.label(),
                    app.head.label()
                ))
            );
        }
        let _ = writeln!(head_text, "{}\n", counts(app));
        head_text.push_str(&errors(app, markdown));
        if !repo_mode {
            let weakened: Vec<(Option<&str>, &str)> = app
                .weakened
                .iter()
                .map(|w| (None, w.message.as_str()))
                .collect();
            head_text.push_str(&weakened_block(&weakened, markdown, &p));
        }
        head_text.push_str(&heading(markdown, sub, "Objects", &p));
        if app.objects.is_empty() {
            head_text.push_str(if markdown { "- none\n" } else { "  none\n" });
        }
        out.push(always(head_text));
        for o in &app.objects {
            let mut lines = vec![format!("{:<8} {}", status_word(o.status), object_line(o))];
            for k in &o.secret_keys {
                lines.push(format!("         {} {}: {}", o.object, k.key, k.status));
            }
            let mut text = String::new();
            for line in lines {
                if markdown {
                    let _ = writeln!(text, "- {}", md(line.trim()));
                } else {
                    let _ = writeln!(text, "  {line}");
                }
            }
            out.push(Block {
                kind: Kind::Listed {
                    app: index,
                    priority: if important(app, o) { 1 } else { 2 },
                },
                text,
                object: object_line(o),
            });
        }
        out.push(Block {
            kind: Kind::ListEnd { app: index },
            text: "\n".into(),
            object: String::new(),
        });
        let mut rest = String::new();
        rest.push_str(&heading(markdown, sub, "Restarts", &p));
        rest.push_str(&list(markdown, &cut(restart_lines(app), limit, "restarts")));
        rest.push_str(&heading(markdown, sub, "Hooks that run on sync", &p));
        rest.push_str(&list(markdown, &cut(hook_lines(app), limit, "hooks")));
        if app.sluice {
            rest.push_str(&heading(markdown, sub, "Windows", &p));
            rest.push_str(&list(markdown, &window_lines(app)));
            rest.push_str(&heading(markdown, sub, "Change id", &p));
            rest.push_str(&list(markdown, &[change_line(app)]));
        } else {
            rest.push_str(&list(
                markdown,
                &[
                    "rendered by Argo CD itself (no .sluice.yaml): no windows, guard or change id"
                        .into(),
                ],
            ));
        }
        out.push(always(rest));
        for o in &app.objects {
            let text = if markdown {
                let f = fence(&o.diff);
                format!(
                    "<details><summary>{} {}</summary>\n\n{f}diff\n{}{f}\n\n</details>\n\n",
                    status_word(o.status),
                    md(&object_line(o)),
                    o.diff
                )
            } else {
                paint_diff(&o.diff, &p)
            };
            out.push(Block {
                kind: Kind::Diff {
                    priority: if important(app, o) { 1 } else { 3 },
                },
                text,
                object: format!("{} {}", app.app, object_line(o)),
            });
        }
    }
    out
}

fn paint_diff(diff: &str, p: &Paint) -> String {
    let mut out = String::new();
    for line in diff.lines() {
        let painted = if line.starts_with("+++") || line.starts_with("---") {
            p.bold(line)
        } else if line.starts_with('+') {
            p.wrap("32", line)
        } else if line.starts_with('-') {
            p.wrap("31", line)
        } else if line.starts_with("@@") {
            p.wrap("36", line)
        } else {
            line.to_string()
        };
        let _ = writeln!(out, "{painted}");
    }
    out
}

/// The line that ends an app's object list when some of its lines were left out.
fn list_end(left: &[&Block], markdown: bool) -> String {
    if left.is_empty() {
        return "\n".into();
    }
    let line = format!(
        "… and {} more object{} not listed here",
        left.len(),
        if left.len() == 1 { "" } else { "s" }
    );
    if markdown {
        format!("- {line}\n\n")
    } else {
        format!("  {line}\n\n")
    }
}

/// Room kept for the lines that say what was left out.
const TRAILER_ROOM: usize = 1_600;
/// Room kept per app for the line ending a cut object list.
const LIST_END_ROOM: usize = 60;

/// Joins the blocks, choosing within `options.max_size` which to keep.
fn assemble(blocks: &[Block], report: &DiffReport, markdown: bool, options: &Options) -> String {
    let mut keep: Vec<bool> = blocks.iter().map(|b| b.kind == Kind::Always).collect();
    match options.max_size {
        None => keep.iter_mut().for_each(|k| *k = true),
        Some(max) => {
            let fixed: usize = blocks
                .iter()
                .filter(|b| b.kind == Kind::Always)
                .map(|b| b.text.len())
                .sum::<usize>()
                + TRAILER_ROOM
                + LIST_END_ROOM * report.apps.len();
            let mut room = max.saturating_sub(fixed);
            let mut candidates: Vec<(u8, usize, usize)> = blocks
                .iter()
                .enumerate()
                .filter_map(|(i, b)| match b.kind {
                    Kind::Listed { priority, .. } => Some((priority.min(2), b.text.len(), i)),
                    Kind::Diff { priority } => Some((priority, b.text.len(), i)),
                    _ => None,
                })
                .collect();
            // Within a priority, object lines keep their order; diffs go smallest first.
            candidates.sort_by_key(|&(priority, size, i)| {
                if matches!(blocks[i].kind, Kind::Listed { .. }) {
                    (priority, 0, i)
                } else {
                    (priority, size, i)
                }
            });
            // The other object lines take at most half of what is left, so that diffs get the rest.
            let mut list_room = room / 2;
            for (priority, size, i) in candidates {
                let listed = matches!(blocks[i].kind, Kind::Listed { .. }) && priority == 2;
                if size <= room && (!listed || size <= list_room) {
                    room -= size;
                    if listed {
                        list_room -= size;
                    }
                    keep[i] = true;
                }
            }
        }
    }
    let mut out = String::new();
    for (i, b) in blocks.iter().enumerate() {
        match b.kind {
            Kind::ListEnd { app } => {
                let left: Vec<&Block> = blocks
                    .iter()
                    .zip(&keep)
                    .filter(|(o, k)| {
                        !**k && matches!(o.kind, Kind::Listed { app: a, .. } if a == app)
                    })
                    .map(|(o, _)| o)
                    .collect();
                out.push_str(&list_end(&left, markdown));
            }
            _ if keep[i] => out.push_str(&b.text),
            _ => {}
        }
    }
    let left_diffs: Vec<&Block> = blocks
        .iter()
        .zip(&keep)
        .filter(|(b, k)| !**k && matches!(b.kind, Kind::Diff { .. }))
        .map(|(b, _)| b)
        .collect();
    let left_lines = blocks
        .iter()
        .zip(&keep)
        .filter(|(b, k)| !**k && matches!(b.kind, Kind::Listed { .. }))
        .count();
    if !left_diffs.is_empty() || left_lines > 0 {
        out.push_str(&trailer(&left_diffs, left_lines, markdown, options));
    }
    out
}

/// What was left out, naming as many of the left-out diffs as fit, and where everything is.
fn trailer(left: &[&Block], lines: usize, markdown: bool, options: &Options) -> String {
    let max = options.max_size.unwrap_or(0);
    let mut names = String::new();
    let mut named = 0;
    for b in left {
        let name = if markdown {
            md(&b.object)
        } else {
            b.object.clone()
        };
        if names.len() + name.len() > 900 {
            break;
        }
        if named > 0 {
            names.push_str(", ");
        }
        names.push_str(&name);
        named += 1;
    }
    let more = left.len() - named;
    let mut text = format!(
        "Left out to fit {max} characters: {} object diff{}{}",
        left.len(),
        if left.len() == 1 { "" } else { "s" },
        if left.is_empty() {
            String::new()
        } else if more > 0 {
            format!(" ({names} and {more} more)")
        } else {
            format!(" ({names})")
        }
    );
    if lines > 0 {
        let _ = write!(
            text,
            "; {lines} line{} of the object lists",
            if lines == 1 { "" } else { "s" }
        );
    }
    let see = match &options.full_report {
        Some(file) => format!(
            ". The full report is in {} (written by --output-file).",
            if markdown {
                format!("`{}`", file.replace('`', "'"))
            } else {
                file.clone()
            }
        ),
        None => ". To see everything, run sluice diff with --output-file FILE (the whole report, e.g. for a CI artifact) or --max-size 0.".into(),
    };
    text.push_str(&see);
    if markdown {
        format!("> [!NOTE]\n> {text}\n")
    } else {
        format!("{text}\n")
    }
}
