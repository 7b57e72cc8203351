//! `sluice window check`: is a sync allowed at an instant? One JSON object on stdout; exit 0 allowed,
//! 3 blocked, 2 invalid policy or arguments (docs/windows.md).

use super::error::{Error, Exit, Result};
use super::output;
use crate::policy;
use crate::window::{Rules, Subject};
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub(super) enum WindowCommand {
    /// Decide whether a sync is allowed at an instant; prints JSON, exits 0 allowed, 3 blocked, 2 invalid.
    Check(WindowCheckArgs),
}

/// `-o/--output` of a decision (`window check`, `guard`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum DecisionOutput {
    /// One line of JSON, keys in a fixed order.
    Json,
    /// The same as block YAML.
    Yaml,
}

impl DecisionOutput {
    /// The decision as one line of JSON, or as YAML.
    pub(super) fn write(self, decision: &serde_json::Value) -> String {
        match self {
            DecisionOutput::Json => format!("{decision}\n"),
            DecisionOutput::Yaml => crate::manifest::emit::to_yaml(decision),
        }
    }
}

#[derive(Debug, Args)]
pub(super) struct WindowCheckArgs {
    /// The `.sluice.yaml` holding `windows` and `freezes`.
    #[arg(long)]
    policy: PathBuf,
    /// The instant to evaluate (RFC 3339); default now.
    #[arg(long)]
    at: Option<String>,
    /// The Argo CD application name.
    #[arg(long, default_value = "")]
    app: String,
    /// The destination namespace.
    #[arg(long, default_value = "")]
    namespace: String,
    /// A destination cluster name or server URL (repeatable).
    #[arg(long)]
    cluster: Vec<String>,
    /// Evaluate as a manual sync.
    #[arg(long)]
    manual: bool,
    /// Evaluate as an emergency change with this change id (passes windows and freezes).
    #[arg(long)]
    emergency: Option<String>,
    /// Output format.
    #[arg(short = 'o', long = "output", alias = "format", value_enum, default_value_t = DecisionOutput::Json)]
    output: DecisionOutput,
}

/// Prints the decision as JSON.
///
/// # Errors
///
/// An invalid policy or `--at` (exit 2, the reason on stderr).
pub(super) fn check(args: WindowCheckArgs) -> Result<Exit> {
    let at = match &args.at {
        Some(text) => parse_at(text)?,
        None => Utc::now(),
    };
    let policy = policy::load(&args.policy).map_err(|e| Error::Usage(e.to_string()))?;
    let rules = Rules::compile(&policy.windows, &policy.freezes)
        .map_err(|e| Error::Usage(format!("{}: {e}", args.policy.display())))?;
    let subject = Subject {
        app: args.app,
        namespace: args.namespace,
        clusters: args.cluster,
        manual: args.manual,
        emergency: args.emergency.filter(|e| !e.is_empty()),
    };
    let decision = rules.decide(&subject, at);
    output::print(args.output.write(&decision.to_json()).as_bytes())?;
    Ok(if decision.allowed {
        Exit::Success
    } else {
        Exit::Blocked
    })
}

/// Parses `--at`.
fn parse_at(text: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            Error::Usage(format!(
                "--at {text:?} is not an RFC 3339 instant ({e}); write e.g. 2026-11-24T02:00:00Z"
            ))
        })
}
