//! Argo CD's sync-window language and decision (SPEC.md §4, ARGOCD.md §2): cron in robfig/cron's
//! dialect, Go durations, gobwas-style globs, IANA zones with real DST, `CanSync`, freezes, and the
//! `window check` and `guard` commands. Decisions are pure: the instant is passed in.
//!
//! ```text
//! spec (as written) → cron / duration / glob / zone (parse) → rules::Rules (compiled)
//!   → Rules::decide(subject, instant) → Decision { allowed, active, reason, nextOpen, nextClose }
//! ```
//!
//! `check_command` and `guard_command` are the only places here that read files, the clock or the
//! environment.

mod compiled;
pub mod cron;
pub mod duration;
pub mod glob;
pub mod guard;
mod reason;
pub mod rules;
mod search;
pub mod spec;
mod verdict;
pub mod zone;

pub use rules::{Decision, Rules, Subject};
pub use spec::{FreezeSpec, GuardEnabled, GuardPolicy, GuardSpec, OnClosed, WindowSpec};

use crate::cli::{GuardArgs, WindowCheckArgs};
use crate::{Error, Exit, Result};
use chrono::{DateTime, Utc};

/// A window, freeze or guard setting that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum WindowError {
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

/// Checks every window and freeze of a policy; the error names the key path (`windows[1].schedule: …`).
///
/// # Errors
///
/// The first invalid window, freeze or guard setting.
pub fn validate(
    windows: &[WindowSpec],
    freezes: &[FreezeSpec],
    guard: &GuardSpec,
) -> Result<(), WindowError> {
    Rules::compile(windows, freezes)?;
    guard::Settings::compile(guard)?;
    Ok(())
}

/// `sluice window check`: prints the decision as JSON; exit 0 allowed, 3 blocked, 2 invalid.
///
/// # Errors
///
/// An invalid policy or `--at` (exit 2, the reason on stderr).
pub fn check_command(args: WindowCheckArgs) -> Result<Exit> {
    let at = match &args.at {
        Some(text) => parse_at(text)?,
        None => Utc::now(),
    };
    let policy = crate::policy::load(&args.policy).map_err(|e| Error::Usage(e.to_string()))?;
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
    println!("{}", decision.to_json());
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

/// `sluice guard`, in the PreSync hook Job: decide now as an automated sync; with `onClosed: wait`,
/// wait for the next opening within `maxWait`; report the decision when `guard.report` is set.
///
/// # Errors
///
/// An invalid policy (exit 2) or a blocked sync (exit 1, the reason is the message Argo CD shows).
pub fn guard_command(args: GuardArgs) -> Result<Exit> {
    let env = guard::Env {
        report_token: std::env::var("SLUICE_REPORT_TOKEN")
            .ok()
            .filter(|t| !t.is_empty()),
    };
    let result = guard::run(&args, &env, &guard::SystemClock, &guard::HttpReporter);
    if let Err(Error::Reported { message, .. }) = &result {
        // Kubernetes shows this file as the container's termination message (`kubectl describe`,
        // and the Job's pod status); best effort, the reason is on stderr as well.
        let path = std::path::Path::new(TERMINATION_LOG);
        if path.exists() {
            let _ = std::fs::write(path, format!("sluice: {message}\n"));
        }
    }
    result
}

/// Where Kubernetes reads a container's termination message by default.
const TERMINATION_LOG: &str = "/dev/termination-log";
