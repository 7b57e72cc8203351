//! `sluice serve --listen ADDR --data-dir DIR [--token-file F] [--change-pattern RE] [--workers N]`:
//! the notification sink (docs/audit-log.md). Reads the token file and validates the arguments into a
//! [`sink::Config`]; the sink does the rest.

use super::error::{Error, Exit, Result};
use crate::audit::commit::DEFAULT_CHANGE_PATTERN;
use crate::audit::log::Rolling;
use crate::sink;
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub(super) struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0:8080")]
    listen: String,
    /// Directory holding audit.jsonl.
    #[arg(long)]
    data_dir: PathBuf,
    /// File holding the bearer token that requests must present.
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// Pattern the change id at the start of a commit subject must match (`change.idPattern`).
    #[arg(long, default_value = DEFAULT_CHANGE_PATTERN)]
    change_pattern: String,
    /// Worker threads; each serves one connection at a time (keep-alive included), so this bounds the
    /// connections served at once; further ones wait in the listen backlog.
    #[arg(long, default_value_t = 32)]
    workers: usize,
    /// Seal the active segment (audit.jsonl) into segments/ once it holds this much: bytes, or a
    /// number with KiB, MiB or GiB.
    #[arg(long, default_value = "256MiB")]
    segment_size: String,
    /// Seal the active segment once its first record is this old: a number with s, m, h or d.
    #[arg(long, default_value = "30d")]
    segment_age: String,
}

/// Serves until the process is stopped.
///
/// # Errors
///
/// Invalid arguments, an unreadable or empty token file, or whatever stops the sink.
pub(super) fn run(args: ServeArgs) -> Result<Exit> {
    let change_pattern = regex::Regex::new(&args.change_pattern)
        .map_err(|e| Error::Usage(format!("--change-pattern {:?}: {e}", args.change_pattern)))?;
    let token = args.token_file.as_deref().map(read_token).transpose()?;
    sink::serve(sink::Config {
        listen: args.listen,
        data_dir: args.data_dir,
        token,
        change_pattern,
        workers: args.workers,
        rolling: Rolling {
            max_bytes: parse_size(&args.segment_size)?,
            max_age: parse_age(&args.segment_age)?,
        },
    })?;
    Ok(Exit::Success)
}

/// `--segment-size`: bytes, or a number with KiB, MiB or GiB (at least 1 byte).
fn parse_size(text: &str) -> Result<u64> {
    let t = text.trim();
    let (digits, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => 0,
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            Error::Usage(format!(
                "--segment-size {text:?}: give a size such as 268435456, 64KiB, 256MiB or 1GiB"
            ))
        })
}

/// `--segment-age`: a number with s, m, h or d (at least one second).
fn parse_age(text: &str) -> Result<std::time::Duration> {
    let t = text.trim();
    let (digits, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let scale: u64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => 0,
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .filter(|n| *n > 0)
        .map(std::time::Duration::from_secs)
        .ok_or_else(|| {
            Error::Usage(format!(
                "--segment-age {text:?}: give an age such as 30d, 12h, 90m or 3600s"
            ))
        })
}

/// The bearer token in `path`, without surrounding white space (`echo` adds a newline).
fn read_token(path: &std::path::Path) -> Result<String> {
    let raw = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let token = raw.trim();
    if token.is_empty() {
        return Err(Error::Reported {
            exit: Exit::Failure,
            message: format!(
                "{}: the token file is empty; put the bearer token in it, or leave out --token-file",
                path.display()
            ),
        });
    }
    Ok(token.to_string())
}
