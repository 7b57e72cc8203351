//! The condition language of Argo Rollouts' `AnalysisTemplates`: expr-lang (`github.com/expr-lang/expr`,
//! formerly antonmedv/expr), as argo-rollouts `utils/evaluate/evaluate.go` runs it, so that a team's
//! `successCondition` / `failureCondition` reads the same in `.sluice.yaml` (docs/hooks.md, "The
//! condition language"). Takes the condition's text and the measured `result`; gives a value, or an
//! error with the message expr-lang gives. Pure: no I/O, no clock; bounded in size, depth and work.
//!
//! ```text
//! lex    text → tokens (numbers, strings, word operators, comments)
//! parse  tokens → tree (expr-lang's precedences; names checked: `result`, the functions below)
//! eval   tree + result → value (expr-lang's runtime rules: int/float arithmetic, `/` always float,
//!        NaN compares false, negative indices, "index out of range", nil from missing map keys)
//! ```
//!
//! Supported:
//! - literals: integers in decimal, `0x`, `0o`, `0b`, with `_`; floats; strings in `'` or `"` with Go
//!   escapes, or backticks; `true`, `false`, `nil`; arrays; maps;
//! - operators: `+`, `-`, `*`, `/`, `%`, `**`, `^`; `==`, `!=`, `<`, `>`, `<=`, `>=` (chained);
//!   `and`, `or`, `not`, `&&`, `||`, `!`; `in`, `not in`, `contains`, `startsWith`, `endsWith`,
//!   `matches`; `..`; `?:`, `??`; `.`, `?.`, `[i]`, `[i:j]`;
//! - the functions `len`, `abs`, `ceil`, `floor`, `round`, `max`, `min`, `sum`, `mean`, `median`,
//!   `first`, `last`, `int`, `float`, `string`, `upper`, `lower`; the predicates `all`, `any`, `none`,
//!   `one`, `filter`, `map`, `count` (`{# > 1}`, `#`, `.field`); and what Argo Rollouts adds to the
//!   environment: `isNaN`, `isInf`, `asInt`, `asFloat`, `isNil`, `default`.
//!
//! Not supported (an error at load, naming it): `let`, `if {} else {}`, the pipe `|`, method calls,
//! the other builtins.
//!
//! One deliberate difference: expr-lang type-checks against the Go types of the environment when it
//! compiles, so `result == "x"` with a Prometheus vector result is an error there; this evaluator
//! has no static types and raises the same error when it meets two different kinds under `==`/`!=`
//! (nil aside, numbers compare across int and float), also for values read from an HTTP probe's
//! JSON, where expr-lang (seeing `interface{}`) would answer false.

mod eval;
mod lex;
mod parse;

use std::collections::BTreeMap;

/// Longest condition accepted.
pub const MAX_LEN: usize = 4096;

/// Functions a condition may call (besides [`PREDICATES`]).
pub const FUNCTIONS: [&str; 23] = [
    "len", "abs", "ceil", "floor", "round", "max", "min", "sum", "mean", "median", "first", "last",
    "int", "float", "string", "upper", "lower", "isNaN", "isInf", "asInt", "asFloat", "isNil",
    "default",
];

/// Functions whose second argument is a predicate over the elements of the first.
pub const PREDICATES: [&str; 7] = ["all", "any", "none", "one", "filter", "map", "count"];

/// A value of the language: what `result` holds and what an expression gives.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Value>),
    Map(BTreeMap<String, Value>),
}

impl Value {
    /// The Go type expr-lang would name in an error.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::List(_) => "[]interface {}",
            Value::Map(_) => "map[string]interface {}",
        }
    }

    /// A JSON value as Go's `encoding/json` decodes it into `any`: every number a float64.
    pub fn from_json(v: &serde_json::Value) -> Value {
        match v {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            serde_json::Value::String(s) => Value::Str(s.clone()),
            serde_json::Value::Array(a) => Value::List(a.iter().map(Value::from_json).collect()),
            serde_json::Value::Object(o) => Value::Map(
                o.iter()
                    .map(|(k, v)| (k.clone(), Value::from_json(v)))
                    .collect(),
            ),
        }
    }

    /// Whether the value is nil or an empty list (Argo Rollouts' `isNilOrEmpty`, which words the
    /// error of a condition over no data).
    pub fn is_nil_or_empty(&self) -> bool {
        match self {
            Value::Nil => true,
            Value::List(l) => l.is_empty(),
            _ => false,
        }
    }
}

/// Why a condition does not compile or evaluate: expr-lang's message, and where in the condition
/// when the parser knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExprError {
    pub message: String,
    /// Byte offset into the condition.
    pub at: Option<usize>,
}

impl ExprError {
    fn new(message: impl Into<String>) -> ExprError {
        ExprError {
            message: message.into(),
            at: None,
        }
    }

    fn at(at: usize, message: impl Into<String>) -> ExprError {
        ExprError {
            message: message.into(),
            at: Some(at),
        }
    }
}

/// A compiled condition.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    text: String,
    root: parse::Node,
}

impl Condition {
    /// Compiles `text`.
    ///
    /// # Errors
    ///
    /// Syntax errors, unknown names, unsupported parts of the language, a condition over
    /// [`MAX_LEN`] bytes.
    pub fn compile(text: &str) -> Result<Condition, ExprError> {
        if text.len() > MAX_LEN {
            return Err(ExprError::new(format!(
                "the condition is {} bytes, over the limit of {MAX_LEN}",
                text.len()
            )));
        }
        let root = parse::parse(lex::tokens(text)?)?;
        Ok(Condition {
            text: text.to_owned(),
            root,
        })
    }

    /// The condition as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The value of the condition for `result`.
    ///
    /// # Errors
    ///
    /// A runtime error (index out of range, mismatched types, …) with expr-lang's message.
    pub fn eval(&self, result: &Value) -> Result<Value, ExprError> {
        eval::eval(&self.root, result)
    }

    /// The condition as a boolean (Argo Rollouts' `EvalCondition`).
    ///
    /// # Errors
    ///
    /// As [`Condition::eval`], and "expected bool, but got …" for another value.
    pub fn test(&self, result: &Value) -> Result<bool, ExprError> {
        match self.eval(result)? {
            Value::Bool(b) => Ok(b),
            other => Err(ExprError::new(format!(
                "expected bool, but got {}",
                other.type_name()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn floats(v: &[f64]) -> Value {
        Value::List(v.iter().copied().map(Value::Float).collect())
    }

    /// What a condition gives for a result: `Ok(bool)` or `Err(message fragment)`.
    fn check(condition: &str, result: &Value) -> Result<bool, String> {
        Condition::compile(condition)
            .and_then(|c| c.test(result))
            .map_err(|e| e.message)
    }

    /// Table tests from argo-rollouts `utils/evaluate/evaluate_test.go` and the behaviour expr-lang's
    /// language definition (docs/language-definition.md) and runtime (`vm/runtime/runtime.go`) give.
    #[test]
    fn behaves_as_argo_rollouts_and_expr_lang() {
        let cases: Vec<(&str, Value, Result<bool, &str>)> = vec![
            // evaluate_test.go
            ("result == true", Value::Bool(true), Ok(true)),
            ("result == false", Value::Bool(true), Ok(false)),
            ("1", Value::Bool(true), Err("expected bool, but got int")),
            (
                "invalidVariable",
                Value::Bool(true),
                Err("unknown name invalidVariable"),
            ),
            ("2 in result", floats(&[2.0, 2.0]), Ok(true)),
            ("result > 1", Value::Float(5.0), Ok(true)),
            ("asInt(result) == 1", Value::Str("1".into()), Ok(true)),
            ("asInt(result) == 1", Value::Float(1.123), Ok(true)),
            (
                "asInt(result) == 1.1",
                Value::Str("1.1".into()),
                Err("invalid syntax"),
            ),
            ("asFloat(result) == 1.1", Value::Str("1.1".into()), Ok(true)),
            ("asFloat(result) >= 1", Value::Int(1), Ok(true)),
            (
                "asFloat(result) == 1.1",
                Value::Str("NotANum".into()),
                Err("invalid syntax"),
            ),
            (
                "asFloat(result) == \"1.1\"",
                Value::Str("1.1".into()),
                Err("invalid operation: == (mismatched types float64 and string)"),
            ),
            (
                "result[0] >= 0.95",
                floats(&[]),
                Err("index out of range: 0 (array length is 0)"),
            ),
            // The usual Prometheus conditions.
            ("result[0] < 0.05", floats(&[0.01]), Ok(true)),
            ("result[0] < 0.05", floats(&[0.2]), Ok(false)),
            (
                "len(result) == 0 || result[0] < 0.05",
                floats(&[]),
                Ok(true),
            ),
            (
                "len(result) == 0 or result[0] < 0.05",
                floats(&[0.5]),
                Ok(false),
            ),
            (
                "isNaN(result[0]) || result[0] < 0.05",
                floats(&[f64::NAN]),
                Ok(true),
            ),
            ("isInf(result[0])", floats(&[f64::INFINITY]), Ok(true)),
            // NaN compares false, `!=` true.
            ("result[0] < 1", floats(&[f64::NAN]), Ok(false)),
            ("result[0] >= 1", floats(&[f64::NAN]), Ok(false)),
            ("result[0] == result[0]", floats(&[f64::NAN]), Ok(false)),
            ("result[0] != result[0]", floats(&[f64::NAN]), Ok(true)),
            // Indexing: negative from the end; a scalar cannot be indexed.
            ("result[-1] == 3", floats(&[1.0, 3.0]), Ok(true)),
            (
                "result[2] > 0",
                floats(&[1.0, 3.0]),
                Err("index out of range: 2 (array length is 2)"),
            ),
            (
                "result[0] > 0",
                Value::Float(1.0),
                Err("cannot fetch 0 from float64"),
            ),
            // Predicates.
            ("all(result, {# < 0.5})", floats(&[0.1, 0.4]), Ok(true)),
            ("all(result, # < 0.5)", floats(&[0.1, 0.6]), Ok(false)),
            ("any(result, {# > 0.5})", floats(&[0.1, 0.6]), Ok(true)),
            ("none(result, # > 0.5)", floats(&[0.1]), Ok(true)),
            ("one(result, # > 0.5)", floats(&[0.6, 0.7]), Ok(false)),
            (
                "count(result, # > 0.5) == 2",
                floats(&[0.6, 0.7, 0.1]),
                Ok(true),
            ),
            (
                "len(filter(result, # > 0.5)) == 1",
                floats(&[0.6, 0.1]),
                Ok(true),
            ),
            ("all(result, {# > 1})", floats(&[]), Ok(true)),
            // Arithmetic: `/` is float, `%` is integer, `**` is float.
            ("7 / 2 == 3.5", Value::Nil, Ok(true)),
            ("7 % 2 == 1", Value::Nil, Ok(true)),
            ("2 ** 10 == 1024", Value::Nil, Ok(true)),
            ("1 / 0 > 1e308", Value::Nil, Ok(true)),
            ("7 % 0 == 1", Value::Nil, Err("integer divide by zero")),
            ("-2 ** 2 == -4", Value::Nil, Ok(true)),
            ("1 + 2 * 3 == 7", Value::Nil, Ok(true)),
            ("1 == 1.0", Value::Nil, Ok(true)),
            ("1 < 2 < 3", Value::Nil, Ok(true)),
            ("3 > 2 > 2", Value::Nil, Ok(false)),
            // Logic and its types.
            ("not false", Value::Nil, Ok(true)),
            ("!true || true", Value::Nil, Ok(true)),
            (
                "true and 1",
                Value::Nil,
                Err("mismatched types bool and int"),
            ),
            ("false and result[5] > 0", floats(&[]), Ok(false)),
            ("true or result[5] > 0", floats(&[]), Ok(true)),
            // Strings, maps, nil.
            ("result == 'ok'", Value::Str("ok".into()), Ok(true)),
            (
                "result.status == \"up\"",
                Value::from_json(&serde_json::json!({"status": "up"})),
                Ok(true),
            ),
            (
                "result.missing == nil",
                Value::from_json(&serde_json::json!({"a": 1})),
                Ok(true),
            ),
            (
                "result.a.b == 1",
                Value::from_json(&serde_json::json!({"a": null})),
                Err("cannot fetch b from <nil>"),
            ),
            (
                "result.a?.b == nil",
                Value::from_json(&serde_json::json!({"a": null})),
                Ok(true),
            ),
            (
                "(result.a ?? 5) == 5",
                Value::from_json(&serde_json::json!({})),
                Ok(true),
            ),
            (
                "result.n == 3",
                Value::from_json(&serde_json::json!({"n": 3})),
                Ok(true),
            ),
            (
                "'ab' contains 'b' && 'ab' startsWith 'a' && 'ab' endsWith 'b'",
                Value::Nil,
                Ok(true),
            ),
            ("'abc' matches '^a.c$'", Value::Nil, Ok(true)),
            ("'x' not in ['a', 'b']", Value::Nil, Ok(true)),
            ("'k' in {k: 1}", Value::Nil, Ok(true)),
            ("len('héllo') == 5", Value::Nil, Ok(true)),
            ("result == nil", Value::Nil, Ok(true)),
            ("isNil(result)", floats(&[]), Ok(false)),
            ("isNil(result)", Value::Nil, Ok(true)),
            ("default(result, 7) == 7", Value::Nil, Ok(true)),
            ("result[1:] == [2.0]", floats(&[1.0, 2.0]), Ok(true)),
            ("1..3 == [1, 2, 3]", Value::Nil, Ok(true)),
            (
                "max(result) == 3 && min(1, 2) == 1",
                floats(&[1.0, 3.0]),
                Ok(true),
            ),
            (
                "sum(result) == 4 && mean(result) == 2 && median(result) == 2",
                floats(&[1.0, 3.0]),
                Ok(true),
            ),
            (
                "round(2.5) == 3 && floor(2.5) == 2 && ceil(2.1) == 3 && abs(-2) == 2",
                Value::Nil,
                Ok(true),
            ),
            (
                "first(result) == nil && last([1, 2]) == 2",
                floats(&[]),
                Ok(true),
            ),
            ("result > 0 ? true : false", Value::Float(1.0), Ok(true)),
            ("result ?: false", Value::Bool(true), Ok(true)),
            // Mismatched kinds under == are errors (expr-lang's type check).
            (
                "result == 'x'",
                floats(&[1.0]),
                Err("invalid operation: == (mismatched types []interface {} and string)"),
            ),
            (
                "result < 'x'",
                Value::Float(1.0),
                Err("invalid operation: < (mismatched types float64 and string)"),
            ),
        ];
        for (condition, result, want) in cases {
            let got = check(condition, &result);
            match (&got, want) {
                (Ok(g), Ok(w)) => assert_eq!(*g, w, "{condition} on {result:?}"),
                (Err(g), Err(w)) => assert!(g.contains(w), "{condition} on {result:?}: {g}"),
                _ => panic!("{condition} on {result:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn unsupported_parts_are_named() {
        for (text, fragment) in [
            ("let x = 1; x", "not supported"),
            ("result | len()", "pipe"),
            ("result.Name() == 'hi'", "method calls"),
            ("trim(result)", "unknown name trim"),
        ] {
            let e = Condition::compile(text).unwrap_err();
            assert!(e.message.contains(fragment), "{text}: {e}");
        }
        assert!(Condition::compile(&"1+".repeat(3000)).is_err());
    }

    proptest::proptest! {
        /// Whatever the text, compiling and evaluating it gives a value or an error, never a panic.
        #[test]
        fn any_text_compiles_or_fails_cleanly(text in "[ -~]{0,80}") {
            if let Ok(c) = Condition::compile(&text) {
                let _ = c.eval(&floats(&[0.5, f64::NAN]));
                let _ = c.eval(&Value::Nil);
            }
        }

        #[test]
        fn arithmetic_on_any_integers_does_not_panic(a in proptest::num::i64::ANY, b in proptest::num::i64::ANY) {
            for op in ["+", "-", "*", "/", "%", "**"] {
                // i64::MIN has no literal (its digits overflow), as in expr-lang.
                if let Ok(c) = Condition::compile(&format!("({a}) {op} ({b})")) {
                    let _ = c.eval(&Value::Nil);
                }
            }
        }
    }
}
