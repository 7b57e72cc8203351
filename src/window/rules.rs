//! The decision: all windows and freezes of a policy ([`Rules`]) and who syncs ([`Subject`]) at an
//! instant give a [`Decision`]: allowed or not, the active windows, the reason, and the next instants
//! at which the decision flips. This file only orchestrates; the parts are
//!
//! ```text
//! compiled  Window, Freeze: validation, matching, activity, fires, closes
//! verdict   Argo CD's CanSync after freezes, one allocation-free pass
//! search    per-window State and the sweep for nextOpen / nextClose
//! reason    the reason text
//! ```
//!
//! with sluice's differences from Argo CD listed in docs/windows.md. Pure: no clock, no environment, no
//! I/O.

use super::reason::{explain, overridden, rfc3339, Facts};
use super::search::{activity, flips, state, State, HORIZON_DAYS};
use super::spec::{FreezeSpec, WindowSpec};
use super::verdict::can_sync;
use super::WindowError;
use chrono::{DateTime, Duration, Utc};

use super::compiled::{Freeze, Window};

/// All windows and freezes of a policy, ready to decide.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    pub windows: Vec<Window>,
    pub freezes: Vec<Freeze>,
}

/// Who is syncing: the app as Argo CD knows it, and how.
#[derive(Debug, Clone, Default)]
pub struct Subject {
    pub app: String,
    pub namespace: String,
    /// Destination cluster names and/or server URLs; empty values are ignored.
    pub clusters: Vec<String>,
    pub manual: bool,
    /// Emergency change id: passes windows and freezes.
    pub emergency: Option<String>,
}

/// The outcome at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub at: DateTime<Utc>,
    pub allowed: bool,
    /// Windows that apply to the subject and are active, 0-based in policy order.
    pub active: Vec<usize>,
    pub reason: String,
    /// The next instant after `at` at which the decision flips from blocked to allowed.
    pub next_open: Option<DateTime<Utc>>,
    /// The next instant after `at` at which the decision flips from allowed to blocked.
    pub next_close: Option<DateTime<Utc>>,
}

impl Decision {
    /// The JSON object of `sluice window check`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "allowed": self.allowed,
            "active": self.active,
            "reason": self.reason,
            "nextOpen": self.next_open.map(rfc3339),
            "nextClose": self.next_close.map(rfc3339),
        })
    }
}

impl Rules {
    /// Validates windows and freezes.
    ///
    /// # Errors
    ///
    /// The first invalid entry, with its key path.
    pub fn compile(windows: &[WindowSpec], freezes: &[FreezeSpec]) -> Result<Rules, WindowError> {
        Ok(Rules {
            windows: windows
                .iter()
                .enumerate()
                .map(|(i, w)| Window::compile(i, w))
                .collect::<Result<_, _>>()?,
            freezes: freezes
                .iter()
                .enumerate()
                .map(|(i, f)| Freeze::compile(i, f))
                .collect::<Result<_, _>>()?,
        })
    }

    /// The policy's zone, in which every time of a reason is written: the `timeZone` of its first
    /// window, UTC when it has none. One zone for the whole reason, whichever windows it names.
    #[must_use]
    pub fn zone(&self) -> chrono_tz::Tz {
        self.windows
            .first()
            .map_or(chrono_tz::Tz::UTC, Window::zone)
    }

    /// Decides whether `subject` may sync at `at`, and when that next changes.
    #[must_use]
    pub fn decide(&self, subject: &Subject, at: DateTime<Utc>) -> Decision {
        let applicable: Vec<&Window> = self
            .windows
            .iter()
            .filter(|w| w.applies(&subject.app, &subject.namespace, &subject.clusters))
            .collect();
        let freezes: Vec<&Freeze> = self
            .freezes
            .iter()
            .filter(|f| f.binds(&subject.app))
            .collect();
        let horizon = at + Duration::days(HORIZON_DAYS);
        let states: Vec<State> = applicable.iter().map(|w| state(w, at, horizon)).collect();
        let verdict = can_sync(activity(&applicable, &states), &freezes, subject.manual, at);
        let active: Vec<usize> = activity(&applicable, &states)
            .filter(|&(_, active)| active)
            .map(|(w, _)| w.index)
            .collect();
        // The flips are computed for an emergency too: its reason says what the windows alone decide.
        let (next_open, next_close) = flips(
            &applicable,
            &states,
            &freezes,
            subject.manual,
            at,
            horizon,
            verdict.allowed,
        );
        let explained = explain(
            verdict,
            &Facts {
                windows: &applicable,
                states: &states,
                freezes: &freezes,
                app: &subject.app,
                manual: subject.manual,
                at,
                next_open,
                zone: self.zone(),
            },
        );
        match &subject.emergency {
            Some(id) => Decision {
                at,
                allowed: true,
                active,
                reason: overridden(id, verdict, &explained),
                next_open: None,
                next_close: None,
            },
            None => Decision {
                at,
                allowed: verdict.allowed,
                active,
                reason: explained,
                next_open,
                next_close,
            },
        }
    }

    /// The windows by policy index.
    #[must_use]
    pub fn window(&self, index: usize) -> Option<&Window> {
        self.windows.get(index)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    //! Also the `subject` fixture of the other window tests.

    use super::*;
    use crate::window::compiled::tests::utc;

    /// An automated sync of `app`.
    pub(crate) fn subject(app: &str) -> Subject {
        Subject {
            app: app.into(),
            ..Subject::default()
        }
    }

    #[test]
    fn freeze_blocks_unless_exempt_and_emergency_passes() {
        let freeze = FreezeSpec {
            name: "year-end".into(),
            from: "2026-12-20T00:00:00Z".into(),
            until: "2027-01-04T00:00:00Z".into(),
            exempt: vec!["security-*".into()],
        };
        let rules = Rules::compile(&[], &[freeze]).expect("compile");
        let at = utc("2026-12-24T12:00:00Z");
        let d = rules.decide(&subject("shop"), at);
        assert!(!d.allowed);
        assert_eq!(d.next_open, Some(utc("2027-01-04T00:00:00Z")));
        assert!(rules.decide(&subject("security-scanner"), at).allowed);
        let mut s = subject("shop");
        s.emergency = Some("CHG-9".into());
        let d = rules.decide(&s, at);
        assert!(d.allowed);
        assert!(d.reason.contains("emergency change CHG-9"), "{}", d.reason);
        assert!(
            !d.reason.contains("no allowed time"),
            "the reason says when the windows alone would allow: {}",
            d.reason
        );
        assert!(d.reason.contains("freeze 'year-end'"), "{}", d.reason);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn window() -> impl Strategy<Value = WindowSpec> {
            let minute = prop_oneof![
                Just("0".to_string()),
                Just("*/15".to_string()),
                (0..60u32).prop_map(|m| m.to_string()),
                Just("*".to_string())
            ];
            let hour = prop_oneof![
                Just("*".to_string()),
                (0..24u32).prop_map(|h| h.to_string()),
                (0..23u32).prop_map(|h| format!("{h}-{}", h + 1)),
                Just("*/6".to_string())
            ];
            let dow = prop_oneof![
                Just("*".to_string()),
                Just("1-5".to_string()),
                (0..7u32).prop_map(|d| d.to_string())
            ];
            (any::<bool>(), minute, hour, dow, 1u32..3000, any::<bool>()).prop_map(
                |(is_allow, m, h, d, dur, manual)| WindowSpec {
                    kind: if is_allow { "allow" } else { "deny" }.into(),
                    schedule: format!("{m} {h} * * {d}"),
                    duration: format!("{dur}m"),
                    time_zone: String::new(),
                    applications: vec!["*".into()],
                    namespaces: vec![],
                    clusters: vec![],
                    manual_sync: manual,
                    and_operator: false,
                    description: String::new(),
                    sync_overrun: false,
                },
            )
        }

        /// Argo CD's `SyncWindows.CanSync`, transcribed naively, over brute-force activity.
        fn brute_allowed(specs: &[WindowSpec], active: &[bool], manual: bool) -> bool {
            if specs.is_empty() {
                return true;
            }
            let act: Vec<&WindowSpec> = specs
                .iter()
                .zip(active)
                .filter(|(_, a)| **a)
                .map(|(w, _)| w)
                .collect();
            let denies: Vec<&&WindowSpec> = act.iter().filter(|w| w.kind == "deny").collect();
            if !denies.is_empty() {
                return manual && denies.iter().all(|w| w.manual_sync);
            }
            if act.iter().any(|w| w.kind == "allow") {
                return true;
            }
            let inactive: Vec<&WindowSpec> = specs
                .iter()
                .zip(active)
                .filter(|(w, a)| !**a && w.kind == "allow")
                .map(|(w, _)| w)
                .collect();
            if !inactive.is_empty() {
                return manual && inactive.iter().all(|w| w.manual_sync);
            }
            true
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

            #[test]
            fn decision_and_next_flips_agree_with_minute_by_minute_evaluation(
                specs in prop::collection::vec(window(), 1..=3),
                start in 0i64..365 * 1440,
                manual in any::<bool>(),
                zone in prop_oneof![Just(""), Just("America/New_York")],
                near_dst in any::<bool>(),
            ) {
                let mut specs = specs;
                for w in &mut specs {
                    w.time_zone = zone.to_string();
                }
                let rules = Rules::compile(&specs, &[]).expect("valid");
                // Half the cases start in the 10 days before New York's 2026 fall-back or spring-forward.
                let start = if near_dst { [57 * 1440, 295 * 1440][(start % 2) as usize] + start % (9 * 1440) } else { start };
                let t = DateTime::<Utc>::from_timestamp(1_767_225_600 + start * 60, 0).expect("in range");
                let days = 10;
                let minutes = days * 1440;
                let back = 3000;
                // fires[w][i]: window w fires at t + (i - back) minutes.
                let fires: Vec<Vec<bool>> = rules.windows.iter().map(|w| {
                    let from = t - Duration::minutes(back);
                    let mut f = vec![false; (back + minutes + 1) as usize];
                    for x in crate::window::zone::brute_fires(&w.schedule, w.zone, from, t + Duration::minutes(minutes)) {
                        f[(x - from).num_minutes() as usize] = true;
                    }
                    f
                }).collect();
                let durations: Vec<i64> = rules.windows.iter().map(|w| w.duration.num_minutes()).collect();
                // counts[w][i]: fires at indices < i.
                let counts: Vec<Vec<u32>> = fires.iter().map(|f| {
                    let mut c = vec![0u32];
                    for &x in f { c.push(c[c.len() - 1] + u32::from(x)); }
                    c
                }).collect();
                let allowed_at = |m: i64| {
                    // Active iff a fire in (m - d, m], i.e. indices back+m-d+1 ..= back+m.
                    let active: Vec<bool> = (0..specs.len()).map(|w| {
                        let hi = (back + m + 1) as usize;
                        let lo = (back + m - durations[w] + 1) as usize;
                        counts[w][hi] > counts[w][lo]
                    }).collect();
                    (brute_allowed(&specs, &active, manual), active)
                };
                let subject = Subject { app: "shop".into(), manual, ..Subject::default() };
                let d = rules.decide(&subject, t);
                let (now, active) = allowed_at(0);
                prop_assert_eq!(d.allowed, now);
                let want_active: Vec<usize> = active.iter().enumerate().filter(|(_, a)| **a).map(|(i, _)| i).collect();
                prop_assert_eq!(&d.active, &want_active);
                let mut open = None;
                let mut close = None;
                let mut prev = now;
                for m in 1..=minutes {
                    let (a, _) = allowed_at(m);
                    if a != prev {
                        let at = t + Duration::minutes(m);
                        if a { open = open.or(Some(at)); } else { close = close.or(Some(at)); }
                        prev = a;
                    }
                }
                let within = |x: Option<DateTime<Utc>>| x.filter(|&x| x <= t + Duration::days(days));
                prop_assert_eq!(within(d.next_open), open, "nextOpen for {:?}", specs);
                prop_assert_eq!(within(d.next_close), close, "nextClose for {:?}", specs);
            }
        }
    }
}
