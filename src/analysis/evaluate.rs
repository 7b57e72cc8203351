//! A measured value and a check's conditions → the measurement's phase, as Argo Rollouts'
//! `EvaluateResult` decides it: no condition → Successful; only a success condition → Failed when it
//! is false; only a failure condition → Successful when it is false; both true → Failed; neither
//! true → Inconclusive; a condition that cannot be evaluated (an unguarded `result[0]` on an empty
//! vector, mismatched types) → Error, with the message `formatEvalError` writes. Pure.

use super::Phase;
use crate::expr::{Condition, Value};

/// The phase of a measurement of `result`, and the error message for an Error.
pub fn evaluate(
    result: &Value,
    success: Option<&Condition>,
    failure: Option<&Condition>,
) -> (Phase, Option<String>) {
    let test = |kind: &str, c: Option<&Condition>| -> Result<Option<bool>, String> {
        let Some(c) = c else {
            return Ok(None);
        };
        c.test(result).map(Some).map_err(|e| {
            if result.is_nil_or_empty() {
                format!(
                    "could not evaluate {kind} \"{}\": metric result is nil or empty: no data returned from the metric provider",
                    c.text()
                )
            } else {
                format!("could not evaluate {kind} \"{}\": {e}", c.text())
            }
        })
    };
    let succeeded = match test("successCondition", success) {
        Ok(v) => v,
        Err(m) => return (Phase::Error, Some(m)),
    };
    let failed = match test("failureCondition", failure) {
        Ok(v) => v,
        Err(m) => return (Phase::Error, Some(m)),
    };
    let (succeeded, failed) = match (succeeded, failed) {
        (None, None) => return (Phase::Successful, None),
        (Some(s), None) => (s, !s),
        (None, Some(f)) => (!f, f),
        (Some(s), Some(f)) => (s, f),
    };
    if failed {
        (Phase::Failed, None)
    } else if succeeded {
        (Phase::Successful, None)
    } else {
        (Phase::Inconclusive, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(text: &str) -> Condition {
        Condition::compile(text).unwrap()
    }

    /// argo-rollouts `utils/evaluate/evaluate_test.go`: `TestEvaluateResult`*.
    #[test]
    fn decides_as_evaluate_result() {
        let t = Value::Bool(true);
        let (yes, no) = (c("true"), c("false"));
        assert_eq!(evaluate(&t, Some(&yes), Some(&no)).0, Phase::Successful);
        assert_eq!(evaluate(&t, Some(&yes), Some(&yes)).0, Phase::Failed);
        assert_eq!(evaluate(&t, Some(&no), Some(&no)).0, Phase::Inconclusive);
        assert_eq!(evaluate(&t, None, Some(&no)).0, Phase::Successful);
        assert_eq!(evaluate(&t, Some(&no), None).0, Phase::Failed);
        assert_eq!(evaluate(&t, None, None).0, Phase::Successful);
        let bad = c("result.x == true");
        let (phase, m) = evaluate(&t, Some(&bad), Some(&yes));
        assert_eq!(phase, Phase::Error);
        assert!(m.unwrap().starts_with(
            "could not evaluate successCondition \"result.x == true\": cannot fetch x from bool"
        ));
        let (phase, m) = evaluate(&t, Some(&yes), Some(&bad));
        assert_eq!(phase, Phase::Error);
        assert!(m.unwrap().contains("could not evaluate failureCondition"));
    }

    #[test]
    fn an_unguarded_index_of_no_data_is_an_error_and_a_guarded_one_is_not() {
        let empty = Value::List(Vec::new());
        let (phase, m) = evaluate(&empty, Some(&c("result[0] >= 0.95")), None);
        assert_eq!(phase, Phase::Error);
        assert!(m.unwrap().contains("metric result is nil or empty"));
        let guarded = c("len(result) == 0 || result[0] < 0.05");
        assert_eq!(evaluate(&empty, Some(&guarded), None).0, Phase::Successful);
        let nan = Value::List(vec![Value::Float(f64::NAN)]);
        // NaN compares false: the success condition is false, so the measurement is Failed.
        assert_eq!(
            evaluate(&nan, Some(&c("result[0] < 0.05")), None).0,
            Phase::Failed
        );
        // Both conditions false: Inconclusive.
        assert_eq!(
            evaluate(
                &nan,
                Some(&c("result[0] < 0.05")),
                Some(&c("result[0] >= 0.05"))
            )
            .0,
            Phase::Inconclusive
        );
    }
}
