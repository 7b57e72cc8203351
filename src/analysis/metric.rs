//! One check's measurements and its phase, with Argo Rollouts' counters and limits
//! (`analysis/analysis.go`):
//!
//! - a Successful, Failed or Inconclusive measurement counts towards `count`; an Error does not, and
//!   raises `consecutiveError` instead (any counted measurement resets it);
//! - Failed when failures exceed `failureLimit` (default 0; -1 off), Inconclusive when inconclusive
//!   measurements exceed `inconclusiveLimit` (default 0), Error when errors in a row exceed
//!   `consecutiveErrorLimit` (default 4); the later of these wins when several hold, as in
//!   `assessMetricFailureInconclusiveOrError`;
//! - Successful when `consecutiveSuccessLimit` successes came in a row, or when `count` is reached
//!   within the limits (with both limits set and the success streak short: Inconclusive; with only
//!   the streak: Failed);
//! - the next measurement comes `interval` after the last, an Error is retried after Argo's 10 s (or
//!   the interval when that is shorter: sluice's choice, so a fast check stays fast).
//!
//! Where a check cannot complete because the verification ran out of time (`within`), Argo Rollouts
//! would call a terminated metric Successful; sluice does not ([`MetricState::assess_at_deadline`]).
//! Pure.

use super::{Measurement, Phase};
use crate::policy::verify::{duration, CheckSpec};
use std::time::Duration;

/// Argo Rollouts' `DefaultErrorRetryInterval`.
pub const ERROR_RETRY: Duration = Duration::from_secs(10);
/// Argo Rollouts' `DefaultConsecutiveErrorLimit`.
pub const DEFAULT_CONSECUTIVE_ERROR_LIMIT: u32 = 4;

/// The limits of a check, with Argo Rollouts' defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// `EffectiveCount`: `None` measures until the verification ends.
    pub count: Option<u32>,
    pub failure_limit: i64,
    pub inconclusive_limit: u32,
    pub consecutive_error_limit: u32,
    pub consecutive_success_limit: u32,
    pub interval: Option<Duration>,
    pub initial_delay: Duration,
}

impl Limits {
    /// The limits of a validated check.
    pub fn of(check: &CheckSpec) -> Limits {
        let parse = |d: &Option<String>| d.as_deref().and_then(|t| duration(t).ok());
        Limits {
            count: check.effective_count(),
            failure_limit: check.failure_limit.unwrap_or(0),
            inconclusive_limit: check.inconclusive_limit.unwrap_or(0),
            consecutive_error_limit: check
                .consecutive_error_limit
                .unwrap_or(DEFAULT_CONSECUTIVE_ERROR_LIMIT),
            consecutive_success_limit: check.consecutive_success_limit.unwrap_or(0),
            interval: parse(&check.interval),
            initial_delay: parse(&check.initial_delay).unwrap_or_default(),
        }
    }
}

/// A check's measurements and counters (an `AnalysisRun`'s `MetricResult`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MetricState {
    pub measurements: Vec<Measurement>,
    pub count: u32,
    pub successful: u32,
    pub failed: u32,
    pub inconclusive: u32,
    pub error: u32,
    pub consecutive_error: u32,
    pub consecutive_success: u32,
}

impl MetricState {
    /// Counts a finished measurement (`runMeasurements`).
    pub fn record(&mut self, m: Measurement) {
        match m.phase {
            Phase::Successful => {
                self.successful += 1;
                self.count += 1;
                self.consecutive_error = 0;
                self.consecutive_success += 1;
            }
            Phase::Failed => {
                self.failed += 1;
                self.count += 1;
                self.consecutive_error = 0;
                self.consecutive_success = 0;
            }
            Phase::Inconclusive => {
                self.inconclusive += 1;
                self.count += 1;
                self.consecutive_error = 0;
                self.consecutive_success = 0;
            }
            Phase::Error => {
                self.error += 1;
                self.consecutive_error += 1;
                self.consecutive_success = 0;
            }
            Phase::Pending | Phase::Running => {}
        }
        self.measurements.push(m);
    }

    /// Failed, Inconclusive or Error by the limits, with Argo Rollouts' message.
    fn limit_exceeded(&self, l: &Limits) -> Option<(Phase, String)> {
        let mut out = None;
        if l.failure_limit >= 0 && i64::from(self.failed) > l.failure_limit {
            out = Some((
                Phase::Failed,
                format!(
                    "failed ({}) > failureLimit ({})",
                    self.failed, l.failure_limit
                ),
            ));
        }
        if self.inconclusive > l.inconclusive_limit {
            out = Some((
                Phase::Inconclusive,
                format!(
                    "inconclusive ({}) > inconclusiveLimit ({})",
                    self.inconclusive, l.inconclusive_limit
                ),
            ));
        }
        if self.consecutive_error > l.consecutive_error_limit {
            out = Some((
                Phase::Error,
                format!(
                    "consecutiveErrors ({}) > consecutiveErrorLimit ({})",
                    self.consecutive_error, l.consecutive_error_limit
                ),
            ));
        }
        out
    }

    /// The check's phase (`assessMetricStatus`): Pending before any measurement, Running while more
    /// are due, else final, with why. `terminating`: another check ended the verification.
    pub fn assess(&self, l: &Limits, terminating: bool) -> (Phase, Option<String>) {
        if self.measurements.is_empty() {
            return if terminating {
                (
                    Phase::Successful,
                    Some("terminated before its first measurement".into()),
                )
            } else {
                (Phase::Pending, None)
            };
        }
        if let Some((phase, why)) = self.limit_exceeded(l) {
            return (phase, Some(why));
        }
        if l.consecutive_success_limit > 0
            && self.consecutive_success >= l.consecutive_success_limit
        {
            return (
                Phase::Successful,
                Some(format!(
                    "consecutiveSuccessLimit ({}) reached",
                    l.consecutive_success_limit
                )),
            );
        }
        if let Some(count) = l.count {
            if self.count >= count {
                let failure_applicable = l.failure_limit >= 0;
                let success_applicable = l.consecutive_success_limit > 0;
                return match (failure_applicable, success_applicable) {
                    (true, true) => (
                        Phase::Inconclusive,
                        Some(format!(
                            "consecutiveSuccessLimit ({}) not reached and failureLimit ({}) not violated",
                            l.consecutive_success_limit, l.failure_limit
                        )),
                    ),
                    (false, true) => (
                        Phase::Failed,
                        Some(format!("consecutiveSuccessLimit ({}) not reached", l.consecutive_success_limit)),
                    ),
                    _ => (Phase::Successful, Some(format!("count ({count}) reached"))),
                };
            }
        }
        if terminating {
            return (
                Phase::Successful,
                Some("terminated: another check ended the verification".into()),
            );
        }
        (Phase::Running, None)
    }

    /// The phase of a check that `within` cut short (it was Running or Pending). Argo Rollouts would
    /// say Successful for a terminated metric; sluice says: no counted measurement at all → Error when
    /// the provider only erred (never Successful while Prometheus is down), else Inconclusive; a
    /// `count` not reached → Inconclusive; a check without `count` (measure until the end) → as Argo,
    /// Successful within its limits.
    pub fn assess_at_deadline(&self, l: &Limits, within: &str) -> (Phase, String) {
        let (phase, why) = self.assess(l, false);
        if phase.completed() {
            return (phase, why.unwrap_or_default());
        }
        if self.count == 0 {
            return match self.measurements.last().and_then(|m| m.message.as_deref()) {
                Some(last) if self.error > 0 => (
                    Phase::Error,
                    format!(
                        "no measurement succeeded within {within} ({} errors; the last: {last})",
                        self.error
                    ),
                ),
                _ => (
                    Phase::Inconclusive,
                    format!("nothing was measured within {within}"),
                ),
            };
        }
        match l.count {
            Some(count) => (
                Phase::Inconclusive,
                format!(
                    "only {} of {count} measurements within {within}",
                    self.count
                ),
            ),
            None => (
                Phase::Successful,
                format!(
                    "{} measurements within {within}, within the limits",
                    self.count
                ),
            ),
        }
    }

    /// How long after the last measurement the next is due; `None` when none is (count reached).
    /// The first measurement is due after `initialDelay`.
    pub fn next_after(&self, l: &Limits) -> Option<Duration> {
        let Some(last) = self.measurements.last() else {
            return Some(l.initial_delay);
        };
        if last.phase == Phase::Error {
            return Some(l.interval.map_or(ERROR_RETRY, |i| i.min(ERROR_RETRY)));
        }
        if l.count.is_some_and(|c| self.count >= c) {
            return None;
        }
        l.interval
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(phase: Phase) -> Measurement {
        Measurement {
            value: String::new(),
            phase,
            started_at: String::new(),
            finished_at: String::new(),
            message: (phase == Phase::Error).then(|| "503".to_owned()),
        }
    }

    fn limits(count: Option<u32>, failure_limit: i64) -> Limits {
        Limits {
            count,
            failure_limit,
            inconclusive_limit: 0,
            consecutive_error_limit: 4,
            consecutive_success_limit: 0,
            interval: Some(Duration::from_secs(1)),
            initial_delay: Duration::ZERO,
        }
    }

    fn run(phases: &[Phase], l: &Limits) -> (Phase, Option<String>) {
        let mut s = MetricState::default();
        for p in phases {
            s.record(m(*p));
        }
        s.assess(l, false)
    }

    use Phase::{Error as E, Failed as F, Inconclusive as I, Successful as S};

    /// Cases after argo-rollouts `analysis/analysis_test.go` (`TestAssessMetricStatus`*, the count,
    /// limits and consecutive-error tests).
    #[test]
    fn limits_decide_as_in_argo_rollouts() {
        let l = limits(Some(3), 0);
        assert_eq!(run(&[S, S, S], &l).0, S);
        assert_eq!(run(&[S, S], &l).0, Phase::Running);
        assert_eq!(run(&[], &l).0, Phase::Pending);
        // failureLimit 0: the first failure ends the check.
        assert_eq!(
            run(&[S, F], &l),
            (F, Some("failed (1) > failureLimit (0)".into()))
        );
        // A failure within failureLimit: the check goes on and ends Successful at count.
        let l1 = limits(Some(3), 1);
        assert_eq!(run(&[F, S], &l1).0, Phase::Running);
        assert_eq!(run(&[F, S, S], &l1).0, S);
        assert_eq!(run(&[F, S, F], &l1).0, F);
        // -1 turns the failure limit off (then a success streak must decide).
        let mut off = limits(Some(3), -1);
        off.consecutive_success_limit = 2;
        assert_eq!(
            run(&[F, F, F], &off),
            (F, Some("consecutiveSuccessLimit (2) not reached".into()))
        );
        assert_eq!(run(&[F, S, S], &off).0, S);
        // Both limits: count reached without the streak is Inconclusive.
        let mut both = limits(Some(3), 1);
        both.consecutive_success_limit = 2;
        assert_eq!(run(&[S, F, S], &both).0, I);
        // An inconclusive measurement beyond inconclusiveLimit (0).
        assert_eq!(run(&[I], &l).0, I);
        // Errors do not count; only more than consecutiveErrorLimit in a row decide.
        assert_eq!(run(&[S, E, S], &l).0, Phase::Running);
        assert_eq!(run(&[S, E, S, S], &l).0, S);
        assert_eq!(run(&[E, E, E, E], &l).0, Phase::Running);
        assert_eq!(
            run(&[E, E, E, E, E], &l),
            (
                E,
                Some("consecutiveErrors (5) > consecutiveErrorLimit (4)".into())
            )
        );
        assert_eq!(run(&[E, E, E, E, S, E, E, E, E, S, S], &l).0, S);
        // Several limits at once: Error is assessed last and wins.
        let mut l0 = limits(None, 0);
        l0.consecutive_error_limit = 0;
        assert_eq!(run(&[F, E], &l0).0, E);
    }

    #[test]
    fn an_error_costs_one_extra_measurement_not_the_count() {
        let l = limits(Some(3), 0);
        let mut s = MetricState::default();
        let mut taken = 0;
        let script = [S, E, S, S];
        while s.assess(&l, false).0 == Phase::Running || s.measurements.is_empty() {
            s.record(m(script[taken]));
            taken += 1;
            assert!(s.next_after(&l).is_some() || s.count == 3);
        }
        assert_eq!((taken, s.assess(&l, false).0), (4, S));
        assert_eq!(s.next_after(&l), None);
        // After an error the retry comes after the shorter of the interval and 10 s.
        let mut e = MetricState::default();
        e.record(m(E));
        assert_eq!(e.next_after(&l), Some(Duration::from_secs(1)));
        let slow = Limits {
            interval: Some(Duration::from_mins(5)),
            ..l
        };
        assert_eq!(e.next_after(&slow), Some(ERROR_RETRY));
    }

    #[test]
    fn running_out_of_time_is_never_successful_without_a_measurement() {
        let l = limits(Some(5), 0);
        let mut s = MetricState::default();
        for _ in 0..3 {
            s.record(m(E));
        }
        let (phase, why) = s.assess_at_deadline(&l, "1m");
        assert_eq!(phase, E);
        assert!(
            why.contains("no measurement succeeded within 1m (3 errors; the last: 503)"),
            "{why}"
        );
        assert_eq!(MetricState::default().assess_at_deadline(&l, "1m").0, I);
        s.record(m(S));
        assert_eq!(
            s.assess_at_deadline(&l, "1m"),
            (I, "only 1 of 5 measurements within 1m".into())
        );
        let indefinite = limits(None, 0);
        assert_eq!(s.assess_at_deadline(&indefinite, "1m").0, S);
        // Argo's terminating rule, for checks another check stopped.
        assert_eq!(MetricState::default().assess(&l, true).0, S);
    }
}
