//! `sluice serve --listen ADDR --data-dir DIR [--token-file F] [--read-token-file F] [--max-body BYTES]
//! [--max-connections N] [--change-pattern RE] [--workers N]`: the notification sink
//! (docs/audit-log.md). Reads the token files and validates the arguments into a [`sink::Config`]; the
//! sink does the rest.

use super::error::{Error, Exit, Result};
use crate::audit::commit::DEFAULT_CHANGE_PATTERN;
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
    /// File holding the write token: the bearer token that POST /v1/events and /v1/guard must present
    /// (Argo CD Notifications and the guard Jobs).
    #[arg(long)]
    token_file: Option<PathBuf>,
    /// File holding the read token that GET /v1/records must present. Without it, reads take the write
    /// token (not recommended: whoever may read the log could then also write to it).
    #[arg(long)]
    read_token_file: Option<PathBuf>,
    /// Largest request body in bytes (413 past it).
    #[arg(long, default_value_t = sink::http::DEFAULT_MAX_BODY)]
    max_body: usize,
    /// Most connections served at once; further ones wait in the listen backlog.
    #[arg(long, default_value_t = sink::server::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Pattern the change id at the start of a commit subject must match (`change.idPattern`).
    #[arg(long, default_value = DEFAULT_CHANGE_PATTERN)]
    change_pattern: String,
    /// Threads that serve the connections (default: one per CPU).
    #[arg(long)]
    workers: Option<usize>,
}

/// Serves until SIGTERM or SIGINT.
///
/// # Errors
///
/// Invalid arguments, an unreadable or empty token file, or whatever stops the sink.
pub(super) fn run(args: ServeArgs) -> Result<Exit> {
    let change_pattern = regex::Regex::new(&args.change_pattern)
        .map_err(|e| Error::Usage(format!("--change-pattern {:?}: {e}", args.change_pattern)))?;
    if args.max_body == 0 {
        return Err(Error::Usage(
            "--max-body must be at least 1 (bytes; the default is 4194304, 4 MiB)".into(),
        ));
    }
    if args.max_connections == 0 {
        return Err(Error::Usage("--max-connections must be at least 1".into()));
    }
    let token = args.token_file.as_deref().map(read_token).transpose()?;
    let read_token = args
        .read_token_file
        .as_deref()
        .map(read_token)
        .transpose()?;
    if read_token.is_some() && token.is_none() {
        return Err(Error::Usage(
            "--read-token-file needs --token-file: without a write token anyone could write".into(),
        ));
    }
    if read_token.is_some() && read_token == token {
        return Err(Error::Usage(
            "--read-token-file holds the write token: give readers a token of their own".into(),
        ));
    }
    let workers = args.workers.unwrap_or_else(|| {
        std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
    });
    sink::serve(sink::Config {
        listen: args.listen,
        data_dir: args.data_dir,
        token,
        read_token,
        change_pattern,
        workers,
        max_body: args.max_body,
        max_connections: args.max_connections,
    })?;
    Ok(Exit::Success)
}

/// The bearer token in `path`, without surrounding white space (`echo` adds a newline).
fn read_token(path: &std::path::Path) -> Result<String> {
    let raw = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let token = raw.trim();
    if token.is_empty() {
        return Err(Error::Reported {
            exit: Exit::Failure,
            message: format!(
                "{}: the token file is empty; put the bearer token in it, or leave out the option",
                path.display()
            ),
        });
    }
    Ok(token.to_string())
}
