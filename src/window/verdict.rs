//! The `CanSync` verdict at one instant, after freezes. Takes the windows that apply to the app, each
//! with whether it is active, the freezes that bind the app and whether the sync is manual; gives a
//! [`Verdict`]: allowed or not, and the [`Cause`] the reason is written from. This is the only
//! implementation of the rule: [`Rules::decide`](super::Rules::decide) calls it once and the
//! nextOpen/nextClose sweep at every change, so it must not allocate. It names no windows (the reason
//! finds them again from their kind and activity), and it neither finds out which windows are active
//! nor writes text. Pure: no clock, no environment, no I/O.
//!
//! Argo CD reference: `SyncWindows.CanSync`, `SyncWindows.hasDeny`, `SyncWindows.hasAllow`,
//! `SyncWindows.InactiveAllows` and `SyncWindows.manualEnabled` in
//! `pkg/apis/application/v1alpha1/types.go`.

use super::compiled::{Freeze, Kind, Window};
use chrono::{DateTime, Utc};

/// Why the verdict is what it is, at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cause {
    /// The freeze at this position of the binding freezes is in force (the first one, if several).
    Freeze(usize),
    /// No window applies.
    NoWindow,
    /// A deny window is active; `manual_ok`: every active deny has manualSync, so a manual sync passes.
    Deny { manual_ok: bool },
    /// An allow window is active and no deny window is.
    Allow,
    /// Allow windows apply but none is active; `manual_ok`: every one of them has manualSync.
    OutsideAllows { manual_ok: bool },
    /// Only deny windows apply, and none is active.
    NoActiveDeny,
}

/// The outcome of `CanSync`, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub(crate) allowed: bool,
    pub(crate) cause: Cause,
}

/// `SyncWindows.CanSync(isManual)` at `t`, after freezes, in one pass over `windows` (each applicable
/// window with whether it is active at `t`):
///
/// ```text
/// a freeze in force                blocks
/// no window applies                allows
/// a deny window is active          allows only a manual sync, and only if every active deny has manualSync
/// an allow window is active        allows
/// allow windows apply, none active allows only a manual sync, and only if every one of them has manualSync
/// otherwise (inactive denies)      allows
/// ```
pub(crate) fn can_sync<'w>(
    windows: impl IntoIterator<Item = (&'w Window, bool)>,
    freezes: &[&Freeze],
    manual: bool,
    t: DateTime<Utc>,
) -> Verdict {
    if let Some(i) = freezes.iter().position(|f| f.in_force(t)) {
        return Verdict {
            allowed: false,
            cause: Cause::Freeze(i),
        };
    }
    let (mut any, mut deny, mut allow, mut outside) = (false, false, false, false);
    // Whether every active deny, and every inactive allow, seen so far has manualSync.
    let (mut deny_manual, mut outside_manual) = (true, true);
    for (w, active) in windows {
        any = true;
        match (w.kind, active) {
            (Kind::Deny, true) => {
                deny = true;
                deny_manual &= w.manual_sync;
            }
            (Kind::Allow, true) => allow = true,
            (Kind::Allow, false) => {
                outside = true;
                outside_manual &= w.manual_sync;
            }
            (Kind::Deny, false) => {}
        }
    }
    let cause = if !any {
        Cause::NoWindow
    } else if deny {
        Cause::Deny {
            manual_ok: deny_manual,
        }
    } else if allow {
        Cause::Allow
    } else if outside {
        Cause::OutsideAllows {
            manual_ok: outside_manual,
        }
    } else {
        Cause::NoActiveDeny
    };
    let allowed = match cause {
        Cause::Deny { manual_ok } | Cause::OutsideAllows { manual_ok } => manual && manual_ok,
        Cause::Freeze(_) => false,
        Cause::NoWindow | Cause::Allow | Cause::NoActiveDeny => true,
    };
    Verdict { allowed, cause }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::window::compiled::tests::{utc, win};
    use crate::window::spec::FreezeSpec;

    const AT: &str = "2026-11-23T10:00:00Z";

    /// A window that applies to every app, with manualSync as given.
    fn window(index: usize, kind: &str, manual_sync: bool) -> Window {
        let mut spec = win(kind, "0 9 * * *", "1h");
        spec.manual_sync = manual_sync;
        Window::compile(index, &spec).expect("valid window")
    }

    /// The verdict for an automated and for a manual sync.
    fn both(windows: &[(&Window, bool)], freezes: &[&Freeze]) -> [Verdict; 2] {
        [false, true].map(|manual| can_sync(windows.iter().copied(), freezes, manual, utc(AT)))
    }

    fn verdict(allowed: bool, cause: Cause) -> Verdict {
        Verdict { allowed, cause }
    }

    #[test]
    fn no_applicable_window_allows() {
        let want = verdict(true, Cause::NoWindow);
        assert_eq!(both(&[], &[]), [want, want]);
    }

    #[test]
    fn active_deny_overrides_active_allow() {
        let (deny, allow) = (window(0, "deny", false), window(1, "allow", false));
        let want = verdict(false, Cause::Deny { manual_ok: false });
        assert_eq!(both(&[(&deny, true), (&allow, true)], &[]), [want, want]);
        assert_eq!(both(&[(&allow, true), (&deny, true)], &[]), [want, want]);
    }

    #[test]
    fn manual_sync_passes_active_denies_only_when_every_one_has_manual_sync() {
        let (open, closed) = (window(0, "deny", true), window(1, "deny", false));
        let cause = Cause::Deny { manual_ok: true };
        assert_eq!(
            both(&[(&open, true)], &[]),
            [verdict(false, cause), verdict(true, cause)]
        );
        let cause = Cause::Deny { manual_ok: false };
        assert_eq!(
            both(&[(&open, true), (&closed, true)], &[]),
            [verdict(false, cause), verdict(false, cause)]
        );
        // An inactive deny without manualSync does not count.
        let cause = Cause::Deny { manual_ok: true };
        assert_eq!(
            both(&[(&open, true), (&closed, false)], &[]),
            [verdict(false, cause), verdict(true, cause)]
        );
    }

    #[test]
    fn an_active_allow_window_allows_even_when_other_allows_are_inactive() {
        let (on, off) = (window(0, "allow", false), window(1, "allow", false));
        let want = verdict(true, Cause::Allow);
        assert_eq!(both(&[(&on, true), (&off, false)], &[]), [want, want]);
    }

    #[test]
    fn allow_windows_that_apply_but_none_is_active_block() {
        let (a, b) = (window(0, "allow", false), window(1, "allow", false));
        let deny = window(2, "deny", true);
        let want = verdict(false, Cause::OutsideAllows { manual_ok: false });
        assert_eq!(both(&[(&a, false), (&b, false)], &[]), [want, want]);
        assert_eq!(
            both(&[(&a, false), (&deny, false)], &[]),
            [want, want],
            "an inactive deny with manualSync changes nothing"
        );
    }

    #[test]
    fn manual_sync_passes_outside_allows_only_when_every_inactive_allow_has_manual_sync() {
        let (open, closed) = (window(0, "allow", true), window(1, "allow", false));
        let cause = Cause::OutsideAllows { manual_ok: true };
        assert_eq!(
            both(&[(&open, false)], &[]),
            [verdict(false, cause), verdict(true, cause)]
        );
        let cause = Cause::OutsideAllows { manual_ok: false };
        assert_eq!(
            both(&[(&open, false), (&closed, false)], &[]),
            [verdict(false, cause), verdict(false, cause)]
        );
    }

    #[test]
    fn inactive_deny_windows_alone_allow() {
        let deny = window(0, "deny", false);
        let want = verdict(true, Cause::NoActiveDeny);
        assert_eq!(both(&[(&deny, false)], &[]), [want, want]);
    }

    #[test]
    fn a_freeze_in_force_blocks_even_a_manual_sync_in_an_allow_window() {
        let freeze = |name: &str, from: &str, until: &str| {
            let spec = FreezeSpec {
                name: name.into(),
                from: from.into(),
                until: until.into(),
                exempt: vec![],
            };
            Freeze::compile(0, &spec).expect("valid freeze")
        };
        let past = freeze("past", "2026-11-01T00:00:00Z", "2026-11-23T10:00:00Z");
        let now = freeze("now", "2026-11-23T10:00:00Z", "2026-11-24T00:00:00Z");
        let allow = window(0, "allow", true);
        let want = verdict(false, Cause::Freeze(1));
        assert_eq!(both(&[(&allow, true)], &[&past, &now]), [want, want]);
        let want = verdict(true, Cause::Allow);
        assert_eq!(
            both(&[(&allow, true)], &[&past]),
            [want, want],
            "a freeze ends at until"
        );
    }
}
