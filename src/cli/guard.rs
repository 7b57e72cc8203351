//! `sluice guard`, in the `PreSync` hook Job: the window decision at the current time, from the guard
//! Job's environment (docs/windows.md), and with `approvals` or `ticket` the sink's decision
//! (docs/approvals.md, docs/tickets.md). Prints the decision as JSON; exits 0 to let the sync go ahead, 3
//! when a window blocks it and 1 when the approvals or the ticket do (with the reason Argo CD shows), 2
//! for an invalid policy.

use super::error::{Error, Exit, Result};
use super::output;
use super::window::DecisionOutput;
use crate::window::ask::HttpDecider;
use crate::window::guard::{self, Env, HttpReporter, Request, SourceRef, SystemClock};
use clap::Args;

#[derive(Debug, Args)]
pub(super) struct GuardArgs {
    /// The windows, freezes and guard settings as JSON (the guard Job sets this from the policy).
    #[arg(
        long,
        env = "SLUICE_GUARD_POLICY",
        hide_env_values = true,
        value_name = "JSON"
    )]
    policy_json: Option<String>,
    /// The Argo CD application name.
    #[arg(long, env = "SLUICE_APP", default_value = "")]
    app: String,
    /// The destination namespace.
    #[arg(long, env = "SLUICE_NAMESPACE", default_value = "")]
    namespace: String,
    /// Destination cluster names or server URLs, comma-separated.
    #[arg(
        long,
        env = "SLUICE_CLUSTER",
        value_delimiter = ',',
        default_value = ""
    )]
    cluster: Vec<String>,
    /// Emergency change id: the sync passes windows and freezes, and says so.
    #[arg(long, env = "SLUICE_EMERGENCY", default_value = "")]
    emergency: String,
    /// Change id of this sync, for the report.
    #[arg(long, env = "SLUICE_CHANGE_ID", default_value = "")]
    change_id: String,
    /// Revision being synced, for the report.
    #[arg(long, env = "SLUICE_REVISION", default_value = "")]
    revision: String,
    /// The full commit synced (for the sink's approvals decision).
    #[arg(long, env = "SLUICE_COMMIT", default_value = "")]
    commit: String,
    /// The Application's source repository URL.
    #[arg(long, env = "SLUICE_REPO_URL", default_value = "")]
    repo_url: String,
    /// The Application's target revision (branch).
    #[arg(long, env = "SLUICE_TARGET_REVISION", default_value = "")]
    target_revision: String,
    /// The Application's project.
    #[arg(long, env = "SLUICE_PROJECT", default_value = "")]
    project: String,
    /// A Source Hydrator's dry revision (the reviewed commit).
    #[arg(long, env = "SLUICE_DRY_SHA", default_value = "")]
    dry_sha: String,
    /// The sink's base URL, where the guard asks for approvals decisions.
    #[arg(long, env = "SLUICE_SINK_URL", default_value = "")]
    sink_url: String,
    /// Output format of the decision on stdout.
    #[arg(short = 'o', long = "output", alias = "format", value_enum, default_value_t = DecisionOutput::Json)]
    output: DecisionOutput,
}

/// Where Kubernetes reads a container's termination message by default.
const TERMINATION_LOG: &str = "/dev/termination-log";

/// Decides now (maybe waiting for the window), reports to the sink when `guard.report` is set.
///
/// # Errors
///
/// An invalid policy (exit 2) or a blocked sync (exit 3 by a window, 1 by the sink's approvals or ticket
/// decision; the reason is the message Argo CD shows).
pub(super) fn run(args: GuardArgs) -> Result<Exit> {
    let Some(policy_json) = args.policy_json else {
        return Err(Error::Usage(
            "no policy: the guard runs in the PreSync Job that `sluice generate` writes, which sets \
             SLUICE_GUARD_POLICY; to try it by hand, set SLUICE_GUARD_POLICY='{\"windows\": [...]}' and \
             SLUICE_APP (or use `sluice window check --policy FILE`)"
                .into(),
        ));
    };
    let request = Request {
        policy_json,
        app: args.app,
        namespace: args.namespace,
        clusters: args.cluster,
        emergency: args.emergency,
        change_id: args.change_id,
        revision: args.revision,
        source: SourceRef {
            commit: args.commit,
            repo_url: args.repo_url,
            target_revision: args.target_revision,
            project: args.project,
            dry_sha: args.dry_sha,
            sink_url: args.sink_url,
        },
    };
    let env = Env {
        report_token: std::env::var("SLUICE_REPORT_TOKEN")
            .ok()
            .filter(|t| !t.is_empty()),
        report_token_file: std::env::var_os("SLUICE_REPORT_TOKEN_FILE")
            .filter(|t| !t.is_empty())
            .map(std::path::PathBuf::from),
    };
    let outcome = guard::run(&request, &env, &SystemClock, &HttpReporter, &HttpDecider)
        .map_err(|e| Error::Usage(e.to_string()))?;
    let printed = output::print(args.output.write(&outcome.decision.to_json()).as_bytes());
    let Some(message) = outcome.blocked_message() else {
        printed?;
        return Ok(Exit::Success);
    };
    // Kubernetes shows this file as the container's termination message (`kubectl describe`, and
    // the Job's pod status); best effort, the reason is on stderr as well.
    let path = std::path::Path::new(TERMINATION_LOG);
    if path.exists() {
        let _ = std::fs::write(path, format!("sluice: {message}\n"));
    }
    // A closed window (or freeze) is exit 3, as `window check` says it; the sink's refusal of the
    // approvals or the ticket is a check that failed (1). Either fails the Job, and the sync.
    let exit = if outcome.by_window {
        Exit::Blocked
    } else {
        Exit::Failure
    };
    Err(Error::Reported { exit, message })
}
