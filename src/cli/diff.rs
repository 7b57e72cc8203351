//! `sluice diff [--base REV] [--head REV] [DIR]`: the pull-request check (docs/pr-check.md). Renders
//! DIR's app at two revisions with the same `--env` and prints what changes: a summary, the policy
//! changes that weaken a control, and per-object YAML diffs. Exit codes as every command (0, 1
//! failure, 2 usage); with `--exit-code` as `git diff --exit-code`: 0 no change, 1 changes, and 2 for
//! any failure, so that a script can tell "changed" from "could not compare".

use super::error::{Error, Exit, Result};
use super::output;
use super::render::argo_env;
use crate::diff::{self, format::Format, Request};
use chrono::{DateTime, Utc};
use clap::{Args, ValueEnum};
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum FormatArg {
    Text,
    Markdown,
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
    /// The app's directory in the working tree (where .sluice.yaml is).
    #[arg(default_value = ".")]
    dir: PathBuf,
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
    #[arg(long, value_enum, default_value_t = FormatArg::Text)]
    format: FormatArg,
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
/// Bad arguments (exit 2), a directory outside Git, an unknown revision, or a revision that does
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

fn compare(args: DiffArgs) -> Result<Exit> {
    let at = match &args.at {
        Some(text) => DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| Error::Usage(format!("--at {text:?} is not an RFC 3339 instant ({e}); write e.g. 2026-11-24T02:00:00Z")))?,
        None => Utc::now(),
    };
    if !args.dir.is_dir() {
        return Err(Error::Usage(format!(
            "{}: not a directory",
            args.dir.display()
        )));
    }
    let request = Request {
        app_dir: args.dir,
        base: args.base,
        head: args.head,
        env: argo_env(&args.env)?,
        at,
    };
    let report = diff::diff(&request).map_err(|e| {
        if e.is_usage() {
            Error::Usage(e.to_string())
        } else {
            Error::Reported {
                exit: Exit::Failure,
                message: e.to_string(),
            }
        }
    })?;
    let color = match args.color {
        ColorArg::Always => true,
        ColorArg::Never => false,
        ColorArg::Auto => {
            std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        }
    };
    let format = match args.format {
        FormatArg::Text => Format::Text,
        FormatArg::Markdown => Format::Markdown,
        FormatArg::Json => Format::Json,
    };
    output::print(
        diff::format::render(&report, format, color && format == Format::Text).as_bytes(),
    )?;
    Ok(if args.exit_code && report.has_changes() {
        Exit::Failure
    } else {
        Exit::Success
    })
}
