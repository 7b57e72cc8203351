//! `sluice serve --listen ADDR --data-dir DIR [--token-file F] [--change-pattern RE] [--workers N]
//! [--watch-applications [--watch-namespaces NS,...] [--watch-grace D] [--kubeconfig F]]`: the
//! notification sink (docs/audit-log.md). Reads the token file and validates the arguments into a
//! [`sink::Config`]; the sink does the rest.

use super::error::{Error, Exit, Result};
use crate::audit::commit::DEFAULT_CHANGE_PATTERN;
use crate::sink;
use crate::watch::WatchConfig;
use crate::window::duration::parse_go_duration;
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

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
    /// Also watch Argo CD Applications through the Kubernetes API and record every finished operation
    /// the webhook has not delivered within --watch-grace (needs get/list/watch on applications).
    #[arg(long)]
    watch_applications: bool,
    /// Namespaces whose Applications are watched, comma-separated; default: all namespaces.
    #[arg(long, value_delimiter = ',', requires = "watch_applications")]
    watch_namespaces: Vec<String>,
    /// How long the webhook has to deliver an outcome before the watch records it (Go duration).
    #[arg(long, default_value = "2m", requires = "watch_applications")]
    watch_grace: String,
    /// The kubeconfig for the watch; default: KUBECONFIG, else the in-cluster service account.
    #[arg(long, env = "KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
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
    let watch = args
        .watch_applications
        .then(|| watch_config(&args))
        .transpose()?;
    sink::serve(sink::Config {
        listen: args.listen,
        data_dir: args.data_dir,
        token,
        change_pattern,
        workers: args.workers,
        watch,
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
                "{}: the token file is empty; put the bearer token in it, or leave out --token-file",
                path.display()
            ),
        });
    }
    Ok(token.to_string())
}

/// The watch's configuration from the arguments.
fn watch_config(args: &ServeArgs) -> Result<WatchConfig> {
    let nanos = parse_go_duration(&args.watch_grace)
        .ok()
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| {
            Error::Usage(format!(
                "--watch-grace {:?}: give a duration of 0 or more, such as 2m or 90s",
                args.watch_grace
            ))
        })?;
    let namespaces = args
        .watch_namespaces
        .iter()
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .collect();
    Ok(WatchConfig {
        // KUBECONFIG may list several files; kube-rs reads one, so the first is taken.
        kubeconfig: args
            .kubeconfig
            .as_ref()
            .and_then(|k| std::env::split_paths(k).find(|p| !p.as_os_str().is_empty())),
        namespaces,
        grace: Duration::from_nanos(nanos),
    })
}
