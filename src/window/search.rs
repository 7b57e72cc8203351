//! The search for `nextOpen` and `nextClose`. Takes the windows that apply to the app, the freezes
//! that bind it, whether the sync is manual, an instant and the decision at that instant; gives each
//! window's [`State`] (active or not, and when that next changes) and the next instants within
//! [`HORIZON_DAYS`] at which the decision flips to allowed and to blocked. It sweeps forward from
//! change to change (a window opening or closing, a freeze starting or ending) and re-evaluates
//! [`can_sync`] at each, so it must stay within its budgets and not allocate per step; it does not
//! decide by itself. Pure: no clock, no environment, no I/O.

use super::compiled::{Freeze, Kind, Window};
use super::verdict::can_sync;
use chrono::{DateTime, Duration, Utc};

/// How far ahead `nextOpen` and `nextClose` are searched.
pub(crate) const HORIZON_DAYS: i64 = 366;
/// At most this many decision changes are examined while searching for `nextOpen`/`nextClose`.
const EVENT_BUDGET: usize = 50_000;

/// Per applicable window: whether it is active now, and when that next changes (when it closes if
/// active, its next fire if not; `None` when that is after the horizon, or never).
#[derive(Debug, Clone, Copy)]
pub(crate) struct State {
    pub(crate) active: bool,
    pub(crate) change: Option<DateTime<Utc>>,
}

/// The state of window `w` at `t`, looking no further than `horizon`.
pub(crate) fn state(w: &Window, t: DateTime<Utc>, horizon: DateTime<Utc>) -> State {
    if w.duration <= Duration::zero() {
        return State {
            active: false,
            change: None,
        };
    }
    if w.active_at(t) {
        State {
            active: true,
            change: w.closes_after(t, horizon),
        }
    } else {
        State {
            active: false,
            change: w.next_fire(t + Duration::nanoseconds(1), horizon),
        }
    }
}

/// Each window with whether it is active: what [`can_sync`] reads.
pub(crate) fn activity<'a>(
    windows: &'a [&'a Window],
    states: &'a [State],
) -> impl Iterator<Item = (&'a Window, bool)> + 'a {
    windows.iter().copied().zip(states.iter().map(|s| s.active))
}

/// Whether the decision can no longer change before the horizon, whatever the remaining window
/// changes: a deny that blocks and stays open; allow windows that never open again and block; or
/// no freeze or deny ahead while an allow stays open (or the allow windows cannot block).
fn settled(
    windows: &[&Window],
    states: &[State],
    freezes: &[&Freeze],
    manual: bool,
    y: DateTime<Utc>,
    allowed: bool,
) -> bool {
    let forever = |s: &State| s.change.is_none();
    let pairs = || windows.iter().zip(states);
    if !allowed {
        let deny_stays = pairs().any(|(w, s)| {
            w.kind == Kind::Deny && s.active && forever(s) && !(manual && w.manual_sync)
        });
        let allows_stay_shut = pairs().any(|(w, _)| w.kind == Kind::Allow)
            && pairs().all(|(w, s)| w.kind != Kind::Allow || (!s.active && forever(s)))
            && !(manual && pairs().all(|(w, _)| w.kind != Kind::Allow || w.manual_sync))
            // A deny with manualSync, once active, lets a manual sync through even outside allow windows.
            && !(manual && pairs().any(|(w, _)| w.kind == Kind::Deny && w.manual_sync));
        return deny_stays || allows_stay_shut;
    }
    let freeze_ahead = freezes.iter().any(|f| f.until > y);
    let deny_ahead = pairs().any(|(w, s)| {
        w.kind == Kind::Deny && !(s.active && manual && w.manual_sync) && (s.active || !forever(s))
    });
    if freeze_ahead || deny_ahead {
        return false;
    }
    let allow_stays = pairs().any(|(w, s)| w.kind == Kind::Allow && s.active && forever(s));
    let allows_cannot_block =
        manual && pairs().all(|(w, _)| w.kind != Kind::Allow || w.manual_sync);
    let no_allows = pairs().all(|(w, _)| w.kind != Kind::Allow);
    allow_stays || allows_cannot_block || no_allows
}

/// Sweeps forward from `at` through window and freeze changes until the decision has flipped both
/// ways; `states` are the windows' states at `at` (the sweep advances a copy), `allowed_now` the
/// decision at `at`. Gives `(nextOpen, nextClose)`, each `None` when not within the horizon.
pub(crate) fn flips(
    windows: &[&Window],
    states: &[State],
    freezes: &[&Freeze],
    manual: bool,
    at: DateTime<Utc>,
    horizon: DateTime<Utc>,
    allowed_now: bool,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    if windows.is_empty() && freezes.is_empty() {
        return (None, None);
    }
    let mut states = states.to_vec();
    let (mut next_open, mut next_close) = (None, None);
    let mut allowed = allowed_now;
    let mut y = at;
    for _ in 0..EVENT_BUDGET {
        if settled(windows, &states, freezes, manual, y, allowed) {
            break;
        }
        let window_change = states.iter().filter_map(|s| s.change).min();
        let freeze_change = freezes
            .iter()
            .flat_map(|f| [f.from, f.until])
            .filter(|&b| b > y)
            .min();
        let Some(z) = [window_change, freeze_change].into_iter().flatten().min() else {
            break;
        };
        if z > horizon {
            break;
        }
        for (w, s) in windows.iter().zip(states.iter_mut()) {
            if s.change == Some(z) {
                *s = state(w, z, horizon);
            }
        }
        let now = can_sync(activity(windows, &states), freezes, manual, z).allowed;
        if now != allowed {
            if now {
                next_open = next_open.or(Some(z));
            } else {
                next_close = next_close.or(Some(z));
            }
            allowed = now;
        }
        if next_open.is_some() && next_close.is_some() {
            break;
        }
        y = z;
    }
    (next_open, next_close)
}

#[cfg(test)]
mod tests {
    use crate::window::compiled::tests::{utc, win};
    use crate::window::rules::tests::subject;
    use crate::window::Rules;

    #[test]
    fn blocked_outside_allow_window_names_next_opening() {
        let rules = Rules::compile(&[win("allow", "0 2 * * 2", "4h")], &[]).expect("compile");
        let d = rules.decide(&subject("shop"), utc("2026-11-23T10:00:00Z"));
        assert!(!d.allowed);
        assert_eq!(d.next_open, Some(utc("2026-11-24T02:00:00Z")));
        assert_eq!(d.next_close, Some(utc("2026-11-24T06:00:00Z")));
        assert!(
            d.reason
                .contains("next allowed window opens Tue 24 Nov 02:00 UTC"),
            "{}",
            d.reason
        );
    }

    #[test]
    fn always_open_window_closes_never() {
        let rules = Rules::compile(&[win("deny", "* * * * *", "1h")], &[]).expect("compile");
        let d = rules.decide(&subject("shop"), utc("2026-11-23T10:00:00Z"));
        assert!(!d.allowed);
        assert_eq!(d.next_open, None);
        assert!(
            d.reason.contains("with no end within 366 days"),
            "{}",
            d.reason
        );
    }

    #[test]
    fn chained_hourly_window_closes_after_the_last_fire_of_the_day() {
        let rules = Rules::compile(&[win("allow", "* 10 * * *", "2h")], &[]).expect("compile");
        let d = rules.decide(&subject("shop"), utc("2026-11-23T10:30:00Z"));
        assert!(d.allowed);
        assert_eq!(d.next_close, Some(utc("2026-11-23T12:59:00Z")));
        assert_eq!(d.next_open, Some(utc("2026-11-24T10:00:00Z")));
    }
}
