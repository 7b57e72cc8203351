//! The reason text of a decision. Takes a [`Verdict`] and the [`Facts`] it was reached from (the
//! applicable windows and their states, the binding freezes, who syncs, when, and the next opening);
//! gives the one line that `window check` prints and that Argo CD shows when the guard blocks, plus
//! the instant formats used there ([`human`], [`rfc3339`]). It decides nothing: which windows to name
//! follows from the verdict's cause and the windows' kind and activity. Pure: no clock, no
//! environment, no I/O.

use super::compiled::{Freeze, Kind, Window};
use super::search::{State, HORIZON_DAYS};
use super::verdict::{Cause, Verdict};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use chrono_tz::Tz;

/// What a reason is written from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Facts<'a> {
    /// The windows that apply to the app, in policy order.
    pub(crate) windows: &'a [&'a Window],
    /// Their states at `at`.
    pub(crate) states: &'a [State],
    /// The freezes that bind the app; [`Cause::Freeze`] indexes them.
    pub(crate) freezes: &'a [&'a Freeze],
    pub(crate) app: &'a str,
    pub(crate) manual: bool,
    pub(crate) at: DateTime<Utc>,
    /// The next instant the decision flips to allowed, within the horizon.
    pub(crate) next_open: Option<DateTime<Utc>>,
}

/// RFC 3339 in UTC with `Z`, fractions only when present.
pub(crate) fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Formats an instant for a person in a window's zone: `18:00 UTC` on the same day as `at`,
/// `Tue 24 Nov 02:00 UTC` otherwise.
pub(crate) fn human(t: DateTime<Utc>, tz: Tz, at: DateTime<Utc>) -> String {
    let local = t.with_timezone(&tz);
    let time = if local.format("%S%.f").to_string() == "00" {
        "%H:%M"
    } else {
        "%H:%M:%S"
    };
    let same_day = local.date_naive() == at.with_timezone(&tz).date_naive();
    let within_year = (t - at) < Duration::days(300);
    let fmt = match (same_day, within_year) {
        (true, _) => format!("{time} %Z"),
        (false, true) => format!("%a %d %b {time} %Z"),
        (false, false) => format!("%a %d %b %Y {time} %Z"),
    };
    local.format(&fmt).to_string()
}

/// The reason of an emergency change: it passes, and the reason still says what the windows and
/// freezes alone decide (`explained`) when they block.
pub(crate) fn overridden(id: &str, verdict: Verdict, explained: &str) -> String {
    format!(
        "allowed: emergency change {id} overrides sync windows and freezes{}",
        if verdict.allowed {
            String::new()
        } else {
            format!(" (without it: {explained})")
        }
    )
}

/// The reason for `verdict`: `allowed: …` or `blocked: …`, naming the windows or freeze behind it,
/// until when, and when the next allowed time starts.
pub(crate) fn explain(verdict: Verdict, facts: &Facts) -> String {
    let Facts {
        windows,
        states,
        freezes,
        app,
        manual,
        at,
        next_open,
    } = *facts;
    // Positions (in `windows`) of the windows of `kind` that are active, or not.
    let pick = |kind: Kind, active: bool| -> Vec<usize> {
        (0..windows.len())
            .filter(|&p| windows[p].kind == kind && states[p].active == active)
            .collect()
    };
    let names = |ps: &[usize]| {
        let all: Vec<String> = ps.iter().map(|&p| windows[p].name()).collect();
        match all.len() {
            0..=3 => all.join(", "),
            n => format!("{} and {} more", all[..3].join(", "), n - 3),
        }
    };
    // "active until": when the last of the named windows closes (each is active up to its own close,
    // which is its state's next change).
    let until = |ps: &[usize]| {
        let ends: Vec<(Option<DateTime<Utc>>, Tz)> = ps
            .iter()
            .map(|&p| (states[p].change, windows[p].zone))
            .collect();
        if ends.iter().any(|(end, _)| end.is_none()) {
            return format!(" with no end within {HORIZON_DAYS} days");
        }
        ends.iter()
            .filter_map(|&(end, tz)| end.map(|e| (e, tz)))
            .max_by_key(|&(e, _)| e)
            .map_or_else(String::new, |(e, tz)| {
                format!(" until {}", human(e, tz, at))
            })
    };
    let reopen = |tz: Tz| match next_open {
        Some(t) => format!("; next allowed window opens {}", human(t, tz, at)),
        None => format!("; no allowed time within {HORIZON_DAYS} days"),
    };
    // The zone of the first named window.
    let zone_of = |ps: &[usize]| ps.first().map_or(Tz::UTC, |&p| windows[p].zone);
    match verdict.cause {
        Cause::Freeze(i) => {
            let f = freezes[i];
            format!(
                "blocked: freeze '{}' in force from {} until {}{}",
                f.name,
                rfc3339(f.from),
                rfc3339(f.until),
                reopen(Tz::UTC)
            )
        }
        Cause::NoWindow => {
            if freezes.is_empty() {
                format!("allowed: no sync window or freeze applies to app '{app}'")
            } else {
                format!("allowed: no sync window applies to app '{app}' and no freeze is in force")
            }
        }
        Cause::Deny { manual_ok } => {
            let d = pick(Kind::Deny, true);
            // Name the deny window that blocks longest (or that lacks manualSync for a manual sync).
            let blocking: Vec<usize> = if manual && !manual_ok {
                d.iter()
                    .copied()
                    .filter(|&p| !windows[p].manual_sync)
                    .collect()
            } else {
                d.clone()
            };
            if verdict.allowed {
                format!(
                    "allowed: manual sync during deny window {}{}, which permits manual syncs (manualSync)",
                    names(&d),
                    until(&d)
                )
            } else {
                let hint = if manual || !manual_ok {
                    ""
                } else {
                    " (a manual sync would pass: manualSync is set; the guard always evaluates as an automated sync)"
                };
                format!(
                    "blocked: deny window {} active{}{}{hint}",
                    names(&blocking),
                    until(&blocking),
                    reopen(zone_of(&blocking))
                )
            }
        }
        Cause::Allow => {
            let a = pick(Kind::Allow, true);
            format!("allowed: allow window {} open{}", names(&a), until(&a))
        }
        Cause::OutsideAllows { manual_ok } => {
            let ia = pick(Kind::Allow, false);
            if verdict.allowed {
                format!(
                    "allowed: manual sync outside allow window {}, permitted by manualSync",
                    names(&ia)
                )
            } else {
                format!(
                    "blocked: outside allow window {}{}",
                    names(&ia),
                    reopen(zone_of(&ia))
                ) + if !manual && manual_ok {
                    " (a manual sync would pass: manualSync is set)"
                } else {
                    ""
                }
            }
        }
        Cause::NoActiveDeny => format!("allowed: no deny window active for app '{app}'"),
    }
}

#[cfg(test)]
mod tests {
    use crate::window::compiled::tests::{utc, win};
    use crate::window::rules::tests::subject;
    use crate::window::Rules;

    #[test]
    fn deny_window_reason_says_until_when() {
        let mut spec = win("deny", "0 9 * * 1-5", "9h");
        spec.description = "business hours".into();
        let rules = Rules::compile(&[spec], &[]).expect("compile");
        let d = rules.decide(&subject("shop"), utc("2026-11-23T10:00:00Z"));
        assert!(!d.allowed);
        assert_eq!(d.active, vec![0]);
        assert_eq!(
            d.reason,
            "blocked: deny window 'business hours' active until 18:00 UTC; next allowed window opens 18:00 UTC"
        );
        assert_eq!(d.next_open, Some(utc("2026-11-23T18:00:00Z")));
        assert_eq!(d.next_close, Some(utc("2026-11-24T09:00:00Z")));
    }

    #[test]
    fn several_blocking_windows_are_active_until_the_last_one_closes() {
        let rules = Rules::compile(
            &[
                win("deny", "0 9 * * *", "2h"),
                win("deny", "0 10 * * *", "3h"),
            ],
            &[],
        )
        .expect("compile");
        let d = rules.decide(&subject("shop"), utc("2026-11-23T10:30:00Z"));
        assert!(
            d.reason.starts_with(
                "blocked: deny window #0 (0 9 * * *), #1 (0 10 * * *) active until 13:00 UTC"
            ),
            "{}",
            d.reason
        );
        assert_eq!(d.next_open, Some(utc("2026-11-23T13:00:00Z")));
    }
}
