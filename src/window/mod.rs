//! Argo CD's sync-window language and decision (SPEC.md §4, ARGOCD.md §2): cron in robfig/cron's
//! dialect, Go durations, gobwas-style globs, IANA zones with real DST, `CanSync`, freezes, and the
//! `window check` and `guard` commands. Decisions are pure: the instant is passed in.

pub mod spec;

pub use spec::{FreezeSpec, GuardEnabled, GuardPolicy, GuardSpec, OnClosed, WindowSpec};

use crate::cli::{GuardArgs, WindowCheckArgs};
use crate::{Error, Exit, Result};

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
    _windows: &[WindowSpec],
    _freezes: &[FreezeSpec],
    _guard: &GuardSpec,
) -> Result<(), WindowError> {
    Ok(())
}

/// `sluice window check`.
///
/// # Errors
///
/// Invalid policy or arguments (exit 2).
pub fn check_command(_args: WindowCheckArgs) -> Result<Exit> {
    Err(Error::Usage("window check is not built yet".into()))
}

/// `sluice guard`.
///
/// # Errors
///
/// Invalid policy (exit 2) or a blocked sync (exit 1).
pub fn guard_command(_args: GuardArgs) -> Result<Exit> {
    Err(Error::Usage("guard is not built yet".into()))
}
