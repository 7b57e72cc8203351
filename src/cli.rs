//! The command line of SPEC.md, as clap derive types. These are the raw arguments; each command turns
//! them into its validated configuration before doing any work.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Change management for Argo CD: a config-management plugin and an audit-log notification sink.
#[derive(Debug, Parser)]
#[command(name = "sluice", version, about, long_about = None)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "SLUICE_LOG_FORMAT")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Render the app in the working directory with Argo CD's environment (what plugin.yaml runs).
    Generate,
    /// Render DIR as `generate` would, with the given environment instead of the process's.
    Render(RenderArgs),
    /// Evaluate maintenance windows and freezes.
    #[command(subcommand)]
    Window(WindowCommand),
    /// The PreSync guard: allow, wait for, or refuse the sync now (runs inside the hook Job).
    Guard(GuardArgs),
    /// Run the notification sink that appends every sync outcome to the audit log.
    Serve(ServeArgs),
    /// Read and verify the audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Check a commit message: change id in the subject, required trailers.
    LintCommit(LintCommitArgs),
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// The app's source directory (where `.sluice.yaml` is).
    pub dir: PathBuf,
    /// An environment variable as Argo CD would set it, e.g. `ARGOCD_APP_NAME=shop` (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// The repository root that policy paths must stay inside (default: the nearest parent with `.git`, else DIR).
    #[arg(long)]
    pub repo_root: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum WindowCommand {
    /// Decide whether a sync is allowed at an instant; prints JSON, exits 0 allowed, 3 blocked, 2 invalid.
    Check(WindowCheckArgs),
}

#[derive(Debug, Args)]
pub struct WindowCheckArgs {
    /// The `.sluice.yaml` holding `windows` and `freezes`.
    #[arg(long)]
    pub policy: PathBuf,
    /// The instant to evaluate (RFC 3339); default now.
    #[arg(long)]
    pub at: Option<String>,
    /// The Argo CD application name.
    #[arg(long, default_value = "")]
    pub app: String,
    /// The destination namespace.
    #[arg(long, default_value = "")]
    pub namespace: String,
    /// A destination cluster name or server URL (repeatable).
    #[arg(long)]
    pub cluster: Vec<String>,
    /// Evaluate as a manual sync.
    #[arg(long)]
    pub manual: bool,
    /// Evaluate as an emergency change with this change id (passes windows and freezes).
    #[arg(long)]
    pub emergency: Option<String>,
}

#[derive(Debug, Args)]
pub struct GuardArgs {
    /// The windows, freezes and guard settings as JSON (the guard Job sets this from the policy).
    #[arg(long, env = "SLUICE_GUARD_POLICY", hide_env_values = true)]
    pub policy_json: String,
    /// The Argo CD application name.
    #[arg(long, env = "SLUICE_APP", default_value = "")]
    pub app: String,
    /// The destination namespace.
    #[arg(long, env = "SLUICE_NAMESPACE", default_value = "")]
    pub namespace: String,
    /// Destination cluster names or server URLs, comma-separated.
    #[arg(
        long,
        env = "SLUICE_CLUSTER",
        value_delimiter = ',',
        default_value = ""
    )]
    pub cluster: Vec<String>,
    /// Emergency change id: the sync passes windows and freezes, and says so.
    #[arg(long, env = "SLUICE_EMERGENCY", default_value = "")]
    pub emergency: String,
    /// Change id of this sync, for the report.
    #[arg(long, env = "SLUICE_CHANGE_ID", default_value = "")]
    pub change_id: String,
    /// Revision being synced, for the report.
    #[arg(long, env = "SLUICE_REVISION", default_value = "")]
    pub revision: String,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub listen: String,
    /// Directory holding audit.jsonl.
    #[arg(long)]
    pub data_dir: PathBuf,
    /// File holding the bearer token that requests must present.
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// Pattern the change id at the start of a commit subject must match (`change.idPattern`).
    #[arg(long, default_value = crate::audit::commit::DEFAULT_CHANGE_PATTERN)]
    pub change_pattern: String,
    /// Worker threads; each serves one connection at a time (keep-alive included), so this bounds the
    /// connections served at once; further ones wait in the listen backlog.
    #[arg(long, default_value_t = 32)]
    pub workers: usize,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify the hash chain; exit 0 with the record count, or 1 naming the first broken line.
    Verify {
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// List records.
    List(AuditListArgs),
    /// Show the whole story of one change: syncs, approvals, windows, backups, rollback commands.
    Show {
        #[arg(long)]
        data_dir: PathBuf,
        /// The change id, e.g. CHG-1234.
        change_id: String,
    },
}

#[derive(Debug, Args)]
pub struct AuditListArgs {
    #[arg(long)]
    pub data_dir: PathBuf,
    #[arg(long)]
    pub app: Option<String>,
    #[arg(long)]
    pub change: Option<String>,
    /// Only records received at or after this instant (RFC 3339).
    #[arg(long)]
    pub since: Option<String>,
    #[arg(long, value_enum, default_value_t = ListFormat::Table)]
    pub format: ListFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
    Csv,
}

#[derive(Debug, Args)]
pub struct LintCommitArgs {
    /// The commit message file (as git passes it to a commit-msg hook).
    pub file: PathBuf,
    /// Pattern the change id at the start of the subject must match.
    #[arg(long, default_value = "^CHG-[0-9]+$")]
    pub pattern: String,
    /// Trailers that must be present, comma-separated (e.g. Approved-by,Rollback).
    #[arg(long, value_delimiter = ',')]
    pub require: Vec<String>,
    /// Distinct Approved-by trailers required.
    #[arg(long, default_value_t = 0)]
    pub min_approvers: usize,
}
