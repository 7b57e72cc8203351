//! `sluice diff [DIR | --repo] [--base REV] [--head REV]`: the pull-request check (docs/pr-check.md).
//! Renders DIR's app, or every app of the repository that the change touches, at two revisions with
//! the same `--env`, and prints what changes: a summary, the policy changes that weaken a control,
//! and per-object YAML diffs, within `--max-size` (the whole report to `--output-file`). Exit codes
//! as every command (0, 1 failure, 2 usage): an app whose head does not render is reported and
//! exits 1. With `--exit-code` as `git diff --exit-code`: 0 no change, 1 changes, and 2 for any
//! failure, so that a script can tell "changed" from "could not compare".

use super::error::{Error, Exit, Result};
use super::output;
use super::render::parse_pairs;
use crate::diff::format::{self, Format};
use crate::diff::{self, Options, Request, Target};
use crate::window::glob::Glob;
use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};
use std::io::{IsTerminal, Write as _};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum FormatArg {
    /// For a terminal (coloured when it is one).
    Text,
    /// For a pull-request comment.
    Markdown,
    /// The whole report for tools; never cut.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum ColorArg {
    /// Colour when stdout is a terminal and `NO_COLOR` is not set.
    Auto,
    Always,
    Never,
}

// clap prints these doc lines as help text, where backticks would show as they are.
#[allow(clippy::doc_markdown)]
#[derive(Debug, Args)]
pub(super) struct DiffArgs {
    /// The app's directory (where .sluice.yaml is, or was); it need not exist in the working tree.
    /// Without DIR at the top of a repository: every app the change touches (--repo).
    dir: Option<PathBuf>,
    /// Every app of the repository that the change touches: .sluice.yaml directories and the sources of Argo CD Applications and ApplicationSets in the repository.
    #[arg(long, conflicts_with = "dir")]
    repo: bool,
    /// The revision to compare against (a commit, branch or tag; for a pull request, its merge base).
    #[arg(long, default_value = "HEAD")]
    base: String,
    /// The revision to show; default: the working tree as it is.
    #[arg(long)]
    head: Option<String>,
    /// An environment variable as Argo CD would set it, e.g. ARGOCD_APP_NAME=shop (repeatable); used for both revisions.
    #[arg(long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Output format: text for a terminal, markdown for a pull-request comment, json for tools.
    #[arg(short = 'o', long = "output", alias = "format", value_enum, default_value_t = FormatArg::Text)]
    output: FormatArg,
    /// At most this many characters of text or markdown (0: no limit); default 65000 for markdown (GitHub's comment limit is 65536), no limit for text. JSON is never cut.
    #[arg(long, value_name = "CHARS")]
    max_size: Option<usize>,
    /// Also write the whole report (never cut) in the same format to FILE, e.g. for a CI artifact.
    #[arg(long, value_name = "FILE")]
    output_file: Option<PathBuf>,
    /// Leave out objects of a kind (Secret, or group/Kind such as apps/Deployment), or changed files matching a path glob (docs/**, *.md); repeatable.
    #[arg(long, value_name = "KIND|PATH")]
    ignore: Vec<String>,
    /// Lines of context around each change of an object diff.
    #[arg(long, value_name = "N", default_value_t = 3)]
    context: usize,
    /// Stop an app's render tools after this many seconds (per app and revision); the app is then reported as not rendering.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    timeout: u64,
    /// Exit 1 when the rendered output differs, 0 when it does not (failures then exit 2).
    #[arg(long)]
    exit_code: bool,
    /// Colour the text output.
    #[arg(long, value_enum, default_value_t = ColorArg::Auto)]
    color: ColorArg,
    /// The instant the window decision is made for (RFC 3339); default now.
    #[arg(long)]
    at: Option<String>,
}

/// Compares and prints.
///
/// # Errors
///
/// Bad arguments (exit 2), a directory outside Git, an unknown revision, or an app whose head does
/// not render (exit 1, or 2 with `--exit-code`).
pub(super) fn run(args: DiffArgs) -> Result<Exit> {
    let exit_code = args.exit_code;
    let result = compare(args);
    match result {
        Err(e) if exit_code && e.exit() == Exit::Failure => Err(Error::Reported {
            exit: Exit::Usage,
            message: e.to_string(),
        }),
        other => other,
    }
}

/// A kind is a capitalised word (`Secret`) or `group/Kind`; anything else is a path glob.
fn is_kind(value: &str) -> bool {
    let kind = value.rsplit_once('/').map_or(value, |(group, kind)| {
        if group.contains('.') || group.chars().all(|c| c.is_ascii_lowercase()) {
            kind
        } else {
            ""
        }
    });
    kind.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && kind.chars().all(|c| c.is_ascii_alphanumeric())
}

fn options(args: &DiffArgs) -> Result<(Options, Vec<Glob>)> {
    let mut kinds = Vec::new();
    let mut paths = Vec::new();
    for value in &args.ignore {
        let value = value.trim_start_matches("./");
        if is_kind(value) {
            kinds.push(value.to_string());
        } else {
            paths.push(Glob::new(value).map_err(|e| {
                Error::Usage(format!(
                    "--ignore {value:?}: not a kind (Secret, apps/Deployment) nor a valid path glob: {e}"
                ))
            })?);
        }
    }
    Ok((
        Options {
            ignore_kinds: kinds,
            context: args.context,
        },
        paths,
    ))
}

fn compare(args: DiffArgs) -> Result<Exit> {
    let at = match &args.at {
        Some(text) => DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| Error::Usage(format!("--at {text:?} is not an RFC 3339 instant ({e}); write e.g. 2026-11-24T02:00:00Z")))?,
        None => Utc::now(),
    };
    let cwd = std::env::current_dir().map_err(|e| Error::io(".", e))?;
    let target = match (&args.dir, args.repo) {
        (Some(dir), _) => Target::App(dir.clone()),
        (None, true) => Target::Repository,
        // At the top of a repository, no DIR means every app; inside an app, that app.
        (None, false) if cwd.join(".git").exists() => Target::Repository,
        (None, false) => Target::App(PathBuf::from(".")),
    };
    let mut env = parse_pairs(&args.env)?;
    for key in ["PATH", "SLUICE_IMAGE"] {
        if !env.iter().any(|(k, _)| k == key) {
            if let Ok(value) = std::env::var(key) {
                env.insert(0, (key.to_string(), value));
            }
        }
    }
    let (options, ignore_paths) = options(&args)?;
    let request = Request {
        cwd,
        target,
        base: args.base,
        head: args.head,
        env,
        at,
        options,
        ignore_paths,
        timeout: Some(std::time::Duration::from_secs(args.timeout)),
    };
    let outcome = diff::diff(&request).map_err(|e| {
        if e.is_usage() {
            Error::Usage(e.to_string())
        } else {
            Error::Reported {
                exit: Exit::Failure,
                message: e.to_string(),
            }
        }
    })?;
    let report = &outcome.report;
    let format = match args.output {
        FormatArg::Text => Format::Text,
        FormatArg::Markdown => Format::Markdown,
        FormatArg::Json => Format::Json,
    };
    let color = format == Format::Text
        && match args.color {
            ColorArg::Always => true,
            ColorArg::Never => false,
            ColorArg::Auto => {
                std::io::stdout().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            }
        };
    let max_size = match (args.max_size, format) {
        (Some(0), _) | (None, Format::Text | Format::Json) => None,
        (Some(n), _) => Some(n),
        (None, Format::Markdown) => Some(format::DEFAULT_MARKDOWN_SIZE),
    };
    if let Some(file) = &args.output_file {
        let whole = format::render(report, format, &format::Options::default());
        std::fs::write(file, whole).map_err(|e| Error::io(file.display().to_string(), e))?;
    }
    let shown = format::render(
        report,
        format,
        &format::Options {
            color,
            max_size,
            full_report: args.output_file.as_ref().map(|f| f.display().to_string()),
        },
    );
    let mut stderr = std::io::stderr().lock();
    for warning in &outcome.warnings {
        let _ = writeln!(stderr, "sluice: warning: {warning}");
    }
    for app in &report.apps {
        if let Some(e) = &app.base.error {
            let _ = writeln!(
                stderr,
                "sluice: {}: base ({}) does not render: {e}",
                app.app,
                app.base.label()
            );
        }
    }
    drop(stderr);
    output::print(shown.as_bytes())?;
    if let Some(app) = report.head_failures().next() {
        return Err(Error::Reported {
            exit: Exit::Failure,
            message: format!(
                "{}: head ({}) does not render: {}",
                app.app,
                app.head.label(),
                app.head.error.as_deref().unwrap_or("")
            ),
        });
    }
    Ok(if args.exit_code && report.has_changes() {
        Exit::Failure
    } else {
        Exit::Success
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn kinds_are_told_from_paths() {
        for kind in ["Secret", "apps/Deployment", "bitnami.com/SealedSecret"] {
            assert!(super::is_kind(kind), "{kind}");
        }
        for path in ["docs/**", "*.md", "apps/shop", "README.md", "Apps/shop"] {
            assert!(!super::is_kind(path), "{path}");
        }
    }
}
