//! Post-change verification as data (docs/hooks.md, "Post-change verification"): measurements, their
//! phases, the limits of a check and the verdict, with Argo Rollouts' semantics
//! (`analysis/analysis.go`: `runMeasurements`, `assessMetricStatus`,
//! `assessMetricFailureInconclusiveOrError`; `utils/analysis/helpers.go`: the order of phases;
//! `utils/evaluate/evaluate.go`: `EvaluateResult`), kept apart from the queries that produce the
//! values. Pure: no I/O, no clock (times arrive as values).
//!
//! ```text
//! evaluate  a measured value + successCondition/failureCondition → a measurement's phase
//! metric    one check's measurements → counters → its phase (limits, count, consecutive errors)
//! read      what Prometheus, an HTTP probe and the Kubernetes API answer → values and phases
//!           (PromQL results, JSON paths, `kubectl rollout status`, AnalysisRuns)
//! verdict   the checks' phases → the verdict (the worst wins)
//! ```

pub mod evaluate;
pub mod metric;
pub mod read;

use serde::{Deserialize, Serialize};

/// An Argo Rollouts `AnalysisPhase`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Phase {
    Pending,
    Running,
    Successful,
    Failed,
    Error,
    Inconclusive,
}

impl Phase {
    /// As Argo Rollouts writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Running => "Running",
            Phase::Successful => "Successful",
            Phase::Failed => "Failed",
            Phase::Error => "Error",
            Phase::Inconclusive => "Inconclusive",
        }
    }

    /// The inverse of [`Phase::as_str`].
    pub fn parse(text: &str) -> Option<Phase> {
        [
            Phase::Pending,
            Phase::Running,
            Phase::Successful,
            Phase::Failed,
            Phase::Error,
            Phase::Inconclusive,
        ]
        .into_iter()
        .find(|p| p.as_str() == text)
    }

    /// Whether the phase is final (`AnalysisPhase.Completed`).
    pub fn completed(self) -> bool {
        matches!(
            self,
            Phase::Successful | Phase::Failed | Phase::Error | Phase::Inconclusive
        )
    }

    /// Rank from best to worst (`analysisStatusOrder`: Successful, Running, Pending, Inconclusive,
    /// Error, Failed).
    fn rank(self) -> u8 {
        match self {
            Phase::Successful => 0,
            Phase::Running => 1,
            Phase::Pending => 2,
            Phase::Inconclusive => 3,
            Phase::Error => 4,
            Phase::Failed => 5,
        }
    }

    /// The worse of two phases (`analysisutil.Worst`).
    #[must_use]
    pub fn worst(self, other: Phase) -> Phase {
        if other.rank() > self.rank() {
            other
        } else {
            self
        }
    }
}

/// One measurement, in the shape of an `AnalysisRun`'s `measurements[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Measurement {
    /// The value as the provider printed it (`[0.01]` for a vector, `0.5` for a scalar); empty for
    /// an error.
    pub value: String,
    pub phase: Phase,
    /// RFC 3339.
    pub started_at: String,
    pub finished_at: String,
    /// Why, for an Error (and what a Failed HTTP probe or workload saw).
    #[serde(default)]
    pub message: Option<String>,
}

/// The verdict over the checks' phases: the worst, as across the metrics of an `AnalysisRun`.
/// `None` without checks.
pub fn verdict(phases: impl IntoIterator<Item = Phase>) -> Option<Phase> {
    phases.into_iter().reduce(Phase::worst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_phase_wins() {
        use Phase::*;
        assert_eq!(verdict([Successful, Inconclusive]), Some(Inconclusive));
        assert_eq!(verdict([Error, Inconclusive, Successful]), Some(Error));
        assert_eq!(verdict([Error, Failed]), Some(Failed));
        assert_eq!(verdict([Successful, Successful]), Some(Successful));
        assert_eq!(verdict([]), None);
        for p in [Pending, Running, Successful, Failed, Error, Inconclusive] {
            assert_eq!(Phase::parse(p.as_str()), Some(p));
        }
    }
}
