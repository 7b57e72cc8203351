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
    /// The policy's zone ([`super::Rules::zone`]): every time of the reason is written in it.
    pub(crate) zone: Tz,
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
        zone,
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
        let ends: Vec<Option<DateTime<Utc>>> = ps.iter().map(|&p| states[p].change).collect();
        if ends.iter().any(Option::is_none) {
            return format!(" with no end within {HORIZON_DAYS} days");
        }
        ends.iter()
            .flatten()
            .max()
            .map_or_else(String::new, |&e| format!(" until {}", human(e, zone, at)))
    };
    let reopen = || match next_open {
        Some(t) => format!("; next allowed window opens {}", human(t, zone, at)),
        None => format!("; no allowed time within {HORIZON_DAYS} days"),
    };
    match verdict.cause {
        Cause::Freeze(i) => {
            let f = freezes[i];
            format!(
                "blocked: freeze '{}' in force from {} until {}{}",
                f.name,
                human(f.from, zone, at),
                human(f.until, zone, at),
                reopen()
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
                    reopen()
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
                format!("blocked: outside allow window {}{}", names(&ia), reopen())
                    + if !manual && manual_ok {
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

    #[test]
    fn every_time_of_a_reason_is_in_the_policy_zone_and_windows_are_named_by_description() {
        // Two windows in two zones: the reason speaks the zone of the policy's first window throughout,
        // never one zone for "until" and another for "next allowed window".
        let mut first = win("deny", "0 9 * * *", "8h");
        first.time_zone = "Europe/Paris".into();
        first.description = "paris office hours".into();
        let mut second = win("deny", "0 10 * * *", "2h");
        second.time_zone = "America/New_York".into();
        let rules = Rules::compile(&[first, second], &[]).expect("compile");
        assert_eq!(rules.zone(), chrono_tz::Europe::Paris);
        // 14:30Z: Paris 15:30 (first active until 17:00 CET = 16:00Z), New York 09:30 (second not yet).
        let d = rules.decide(&subject("shop"), utc("2026-11-23T14:30:00Z"));
        assert_eq!(d.active, vec![0]);
        assert_eq!(
            d.reason,
            "blocked: deny window 'paris office hours' active until 17:00 CET; next allowed window opens 18:00 CET"
        );
        // 15:30Z: both active; the second (New York 10:00-12:00 EST = 15:00-17:00Z) has no description
        // and is named by its index; the last close and the reopening are in Paris time all the same.
        let d = rules.decide(&subject("shop"), utc("2026-11-23T15:30:00Z"));
        assert_eq!(d.active, vec![0, 1]);
        assert_eq!(
            d.reason,
            "blocked: deny window 'paris office hours', #1 (0 10 * * *) active until 18:00 CET; next allowed window opens 18:00 CET"
        );
        assert!(
            !d.reason.contains("EST") && !d.reason.contains("UTC"),
            "{}",
            d.reason
        );
    }

    #[test]
    fn a_freeze_is_told_in_the_policy_zone() {
        let mut w = win("allow", "0 2 * * *", "4h");
        w.time_zone = "Asia/Kolkata".into();
        let freeze = crate::window::spec::FreezeSpec {
            name: "year-end".into(),
            from: "2026-12-20T00:00:00Z".into(),
            until: "2027-01-04T00:00:00Z".into(),
            exempt: vec![],
        };
        let rules = Rules::compile(&[w], &[freeze]).expect("compile");
        let d = rules.decide(&subject("shop"), utc("2026-12-22T10:00:00Z"));
        assert_eq!(
            d.reason,
            "blocked: freeze 'year-end' in force from Sun 20 Dec 05:30 IST until Mon 04 Jan 05:30 IST; next allowed window opens Mon 04 Jan 05:30 IST"
        );
    }
}
