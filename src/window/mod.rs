//! Argo CD's sync-window language and decision (docs/windows.md; Argo CD's `SyncWindows` in
//! `pkg/apis/application/v1alpha1/types.go`): cron in robfig/cron's
//! dialect, Go durations, gobwas-style globs, IANA zones with real DST, `CanSync`, freezes, and the
//! guard's wait-and-report loop. Decisions are pure: the instant is passed in.
//!
//! ```text
//! spec (as written) → cron / duration / glob / zone (parse) → compiled (Window, Freeze) → Rules
//!   → Rules::decide(subject, instant): verdict (CanSync) → search (nextOpen, nextClose) → reason
//!   → Decision { allowed, active, reason, nextOpen, nextClose }
//! ```
//!
//! Nothing here reads files or the environment; the guard reads the clock and reaches the sink only
//! through the [`guard::Clock`] and [`report::Reporter`] it is given (the one exception: [`report::Env`]
//! reads the Job's token file when the report is sent, as the kubelet renews it).

pub mod ask;
mod compiled;
pub mod cron;
pub mod duration;
pub mod glob;
pub mod guard;
mod reason;
pub mod report;
pub mod rules;
mod search;
pub mod spec;
mod verdict;
pub mod zone;

pub use rules::{Decision, Rules, Subject};
pub use spec::{FreezeSpec, GuardEnabled, GuardPolicy, GuardSpec, OnClosed, WindowSpec};

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
