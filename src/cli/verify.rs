//! `sluice verify`, in the `PostSync` hook Job (docs/hooks.md, "Post-change verification"): reads
//! the checks and the app from the Job's environment, runs them on a current-thread runtime, reports
//! to the sink, prints the verification as JSON (`-o yaml`: YAML) on stdout, and exits 0, or 1 when the verdict is not
//! Successful and `onFailure` is `fail-sync` or `rollback` (Argo CD then marks the operation Failed and
//! the `on-sync-failed` trigger fires). 2 for a bad environment.

use super::error::{Error, Exit, Result};
use super::output;
use super::window::DecisionOutput;
use crate::analysis::Phase;
use crate::policy::verify::{self, OnFailure};
use crate::verify::cluster::WorkloadRef;
use crate::verify::{self as runner, report, AppRef, Plan};
use clap::Args;
use serde_json::Value;

#[derive(Debug, Args)]
pub(super) struct VerifyArgs {
    /// The policy's `verify` section as JSON (the hook Job sets this from .sluice.yaml).
    #[arg(long, env = "SLUICE_VERIFY_POLICY", hide_env_values = true)]
    policy_json: String,
    /// The workloads the app renders, as JSON (`[{apiVersion, kind, namespace, name}]`).
    #[arg(long, env = "SLUICE_VERIFY_WORKLOADS", default_value = "[]")]
    workloads_json: String,
    /// The Argo CD application name.
    #[arg(long, env = "SLUICE_APP", default_value = "")]
    app: String,
    /// The destination namespace.
    #[arg(long, env = "SLUICE_NAMESPACE", default_value = "")]
    namespace: String,
    /// The change id of the sync.
    #[arg(long, env = "SLUICE_CHANGE_ID", default_value = "")]
    change_id: String,
    /// The full commit synced.
    #[arg(long, env = "SLUICE_COMMIT", default_value = "")]
    commit: String,
    /// The sink's base URL, where measurements and the verdict are reported.
    #[arg(long, env = "SLUICE_SINK_URL", default_value = "")]
    sink_url: String,
    /// The installation's Prometheus, for checks whose policy names none.
    #[arg(long, env = "SLUICE_PROMETHEUS_URL", default_value = "")]
    prometheus_url: String,
    /// Output format of the verification on stdout.
    #[arg(short = 'o', long = "output", alias = "format", value_enum, default_value_t = DecisionOutput::Json)]
    output: DecisionOutput,
}

/// Where Kubernetes reads a container's termination message by default.
const TERMINATION_LOG: &str = "/dev/termination-log";

/// Runs the checks and reports.
///
/// # Errors
///
/// A bad environment (exit 2), or a verdict that fails the sync (exit 1).
pub(super) fn run(args: VerifyArgs) -> Result<Exit> {
    let policy: Value = serde_json::from_str(&args.policy_json)
        .map_err(|e| Error::Usage(format!("SLUICE_VERIFY_POLICY is not JSON: {e}")))?;
    let spec = verify::from_value(&policy)
        .map_err(|e| Error::Usage(format!("SLUICE_VERIFY_POLICY: {e}")))?;
    let workloads: Vec<WorkloadRef> = serde_json::from_str(&args.workloads_json)
        .map_err(|e| Error::Usage(format!("SLUICE_VERIFY_WORKLOADS: {e}")))?;
    if args.app.is_empty() {
        return Err(Error::Usage(
            "SLUICE_APP is empty: the hook Job sets it to the Argo CD application".into(),
        ));
    }
    let token = std::env::var("SLUICE_REPORT_TOKEN")
        .ok()
        .filter(|t| !t.is_empty());
    let plan = Plan {
        spec,
        workloads,
        app: AppRef {
            name: args.app,
            namespace: args.namespace,
            change_id: args.change_id,
            revision: args.commit,
        },
        prometheus: Some(args.prometheus_url).filter(|u| !u.is_empty()),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Usage(format!("cannot start the runtime: {e}")))?;
    let (outcome, answer) = runtime.block_on(async {
        let client = crate::verify::probe::client().map_err(Error::Usage)?;
        let token_file = std::env::var_os("SLUICE_REPORT_TOKEN_FILE")
            .filter(|t| !t.is_empty())
            .map(std::path::PathBuf::from);
        let sink = (!args.sink_url.is_empty())
            .then(|| report::Sink::new(client, &args.sink_url, token).with_token_file(token_file));
        if sink.is_none() {
            tracing::warn!(
                "no sink to report to (SLUICE_SINK_URL is empty): the verdict is not recorded"
            );
        }
        let outcome = runner::run(&plan, sink.as_ref())
            .await
            .map_err(|e| Error::Usage(e.to_string()))?;
        let body = runner::report_body(&plan.app, true, &outcome.to_json(&plan.spec));
        let deadline = tokio::time::Instant::now() + report::FINAL_DEADLINE;
        let answer = match &sink {
            Some(sink) => match sink.finish(&body, deadline).await {
                Ok(a) => Some(a),
                Err(e) => {
                    tracing::error!("{e}; the sync's record will say `unverified`");
                    None
                }
            },
            None => None,
        };
        Ok::<_, Error>((outcome, answer))
    })?;
    let printed = output::print(args.output.write(&outcome.to_json(&plan.spec)).as_bytes());
    let fails = outcome.verdict != Phase::Successful && plan.spec.on_failure != OnFailure::Record;
    if !fails {
        printed?;
        return Ok(Exit::Success);
    }
    let mut message = format!(
        "verification {}: {} (onFailure: {})",
        outcome.verdict.as_str(),
        outcome.reason,
        plan.spec.on_failure.as_str()
    );
    if let Some(way) = answer
        .as_ref()
        .and_then(|a| a.get("wayBack"))
        .and_then(Value::as_array)
    {
        let lines: Vec<&str> = way.iter().filter_map(Value::as_str).collect();
        if !lines.is_empty() {
            message.push_str("; the way back: ");
            message.push_str(&lines.join("; "));
        }
    }
    // Kubernetes shows this file as the container's termination message; best effort.
    let path = std::path::Path::new(TERMINATION_LOG);
    if path.exists() {
        let _ = std::fs::write(path, format!("sluice: {message}\n"));
    }
    Err(Error::Reported {
        exit: Exit::Failure,
        message,
    })
}
