//! The evaluator: a tree and `result` → a value, with expr-lang's runtime rules
//! (`vm/runtime/runtime.go`, `builtin/lib.go`) and Argo Rollouts' environment functions
//! (`utils/evaluate/evaluate.go`: `isNaN`, `isInf`, `asInt`, `asFloat`, `isNil`, `default`). Pure.

use super::parse::Node;
use super::{ExprError, Value};
use std::collections::BTreeMap;

/// Longest list `a..b` makes.
const MAX_RANGE: i64 = 100_000;
/// Largest compiled regular expression of `matches`.
const REGEX_SIZE: usize = 1 << 20;

/// Why evaluation stopped: an error, or a `?.` step that met nil (the chain is then nil).
enum Stop {
    Error(ExprError),
    NilChain,
}

impl From<ExprError> for Stop {
    fn from(e: ExprError) -> Stop {
        Stop::Error(e)
    }
}

type R = Result<Value, Stop>;

fn fail(message: impl Into<String>) -> Stop {
    Stop::Error(ExprError::new(message))
}

/// Evaluates `node` with `result`.
///
/// # Errors
///
/// The runtime errors of expr-lang.
pub fn eval(node: &Node, result: &Value) -> Result<Value, ExprError> {
    let scope = Scope {
        result,
        element: None,
    };
    match scope.eval(node) {
        Ok(v) => Ok(v),
        Err(Stop::NilChain) => Ok(Value::Nil),
        Err(Stop::Error(e)) => Err(e),
    }
}

#[derive(Clone, Copy)]
struct Scope<'a> {
    result: &'a Value,
    /// The element of the predicate being evaluated (`#`).
    element: Option<&'a Value>,
}

impl Scope<'_> {
    fn eval(&self, node: &Node) -> R {
        match node {
            Node::Nil => Ok(Value::Nil),
            Node::Bool(b) => Ok(Value::Bool(*b)),
            Node::Int(n) => Ok(Value::Int(*n)),
            Node::Float(f) => Ok(Value::Float(*f)),
            Node::Str(s) => Ok(Value::Str(s.clone())),
            Node::Array(items) => Ok(Value::List(
                items
                    .iter()
                    .map(|i| self.eval(i))
                    .collect::<Result<_, _>>()?,
            )),
            Node::Map(pairs) => {
                let mut map = BTreeMap::new();
                for (k, v) in pairs {
                    let key = match self.eval(k)? {
                        Value::Str(s) => s,
                        other => {
                            return Err(fail(format!(
                                "a map key must be a string, not {}",
                                other.type_name()
                            )))
                        }
                    };
                    map.insert(key, self.eval(v)?);
                }
                Ok(Value::Map(map))
            }
            Node::Result => Ok(self.result.clone()),
            Node::Pointer(name) => {
                let element = self.element.cloned().unwrap_or(Value::Nil);
                match name {
                    None => Ok(element),
                    Some(n) => fetch(&element, &Value::Str(n.clone())),
                }
            }
            Node::Unary(op, operand) => unary(op, self.eval(operand)?),
            Node::Binary(op, left, right) => self.binary(op, left, right),
            Node::Member {
                object,
                property,
                optional,
            } => {
                let object = self.eval(object)?;
                if *optional && object == Value::Nil {
                    return Err(Stop::NilChain);
                }
                fetch(&object, &self.eval(property)?)
            }
            Node::Slice { object, from, to } => {
                let object = self.eval(object)?;
                let from = from.as_ref().map(|n| self.eval(n)).transpose()?;
                let to = to.as_ref().map(|n| self.eval(n)).transpose()?;
                slice(&object, from.as_ref(), to.as_ref())
            }
            Node::Chain(inner) => match self.eval(inner) {
                Err(Stop::NilChain) => Ok(Value::Nil),
                other => other,
            },
            Node::Call(name, args) => self.call(name, args),
            Node::Predicate(inner) => self.eval(inner),
            Node::Conditional(cond, yes, no) => match self.eval(cond)? {
                Value::Bool(true) => self.eval(yes),
                Value::Bool(false) => self.eval(no),
                other => Err(fail(format!(
                    "non-bool expression (type {}) used as condition",
                    other.type_name()
                ))),
            },
        }
    }

    fn binary(&self, op: &str, left: &Node, right: &Node) -> R {
        match op {
            "and" | "&&" | "or" | "||" => {
                let or = matches!(op, "or" | "||");
                let l = self.eval(left)?;
                let Value::Bool(lb) = l else {
                    return Err(mismatched(op, &l, &Value::Bool(true)));
                };
                if lb == or {
                    return Ok(Value::Bool(lb));
                }
                match self.eval(right)? {
                    Value::Bool(rb) => Ok(Value::Bool(rb)),
                    r => Err(mismatched(op, &l, &r)),
                }
            }
            "??" => match self.eval(left) {
                Ok(Value::Nil) | Err(Stop::NilChain) => self.eval(right),
                other => other,
            },
            _ => {
                let l = self.eval(left)?;
                let r = self.eval(right)?;
                operate(op, &l, &r)
            }
        }
    }

    fn call(&self, name: &str, args: &[Node]) -> R {
        if let Some(predicate) = args.get(1).filter(|n| matches!(n, Node::Predicate(_))) {
            let list = match self.eval(&args[0])? {
                Value::List(l) => l,
                Value::Nil => Vec::new(),
                other => return Err(fail(format!("cannot iterate over {}", other.type_name()))),
            };
            return self.predicate(name, &list, predicate);
        }
        let values: Vec<Value> = args
            .iter()
            .map(|a| self.eval(a))
            .collect::<Result<_, _>>()?;
        builtin(name, &values, self.result)
    }

    fn predicate(&self, name: &str, list: &[Value], predicate: &Node) -> R {
        let test = |item: &Value| -> Result<Value, Stop> {
            Scope {
                result: self.result,
                element: Some(item),
            }
            .eval(predicate)
        };
        let truth = |item: &Value| -> Result<bool, Stop> {
            match test(item)? {
                Value::Bool(b) => Ok(b),
                other => Err(fail(format!(
                    "predicate should return boolean (got {})",
                    other.type_name()
                ))),
            }
        };
        match name {
            "all" => {
                for i in list {
                    if !truth(i)? {
                        return Ok(Value::Bool(false));
                    }
                }
                Ok(Value::Bool(true))
            }
            "any" => {
                for i in list {
                    if truth(i)? {
                        return Ok(Value::Bool(true));
                    }
                }
                Ok(Value::Bool(false))
            }
            "none" => {
                for i in list {
                    if truth(i)? {
                        return Ok(Value::Bool(false));
                    }
                }
                Ok(Value::Bool(true))
            }
            "one" | "count" => {
                let mut n = 0i64;
                for i in list {
                    if truth(i)? {
                        n += 1;
                    }
                }
                Ok(if name == "one" {
                    Value::Bool(n == 1)
                } else {
                    Value::Int(n)
                })
            }
            "filter" => {
                let mut out = Vec::new();
                for i in list {
                    if truth(i)? {
                        out.push(i.clone());
                    }
                }
                Ok(Value::List(out))
            }
            "map" => Ok(Value::List(
                list.iter().map(test).collect::<Result<_, _>>()?,
            )),
            _ => Err(fail(format!("unknown name {name}"))),
        }
    }
}

fn mismatched(op: &str, l: &Value, r: &Value) -> Stop {
    fail(format!(
        "invalid operation: {op} (mismatched types {} and {})",
        l.type_name(),
        r.type_name()
    ))
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Int(n) => Some(*n as f64),
        Value::Float(f) => Some(*f),
        _ => None,
    }
}

fn unary(op: &str, v: Value) -> R {
    match (op, v) {
        ("not" | "!", Value::Bool(b)) => Ok(Value::Bool(!b)),
        ("-", Value::Int(n)) => Ok(Value::Int(n.wrapping_neg())),
        ("-", Value::Float(f)) => Ok(Value::Float(-f)),
        ("+", v @ (Value::Int(_) | Value::Float(_))) => Ok(v),
        (op, v) => Err(fail(format!(
            "invalid operation: {op} (mismatched type {})",
            v.type_name()
        ))),
    }
}

/// `==` as expr-lang's `runtime.Equal` with its compile-time type check: numbers by value across int
/// and float (NaN equals nothing), nil equals only nil, same kinds structurally, different kinds an
/// error.
fn equal(l: &Value, r: &Value) -> Result<bool, Stop> {
    if let (Some(a), Some(b)) = (number(l), number(r)) {
        if let (Value::Int(x), Value::Int(y)) = (l, r) {
            return Ok(x == y);
        }
        // Go's `==` on floats: exact, and NaN equals nothing (expr-lang's runtime.Equal).
        #[allow(clippy::float_cmp)]
        return Ok(a == b);
    }
    match (l, r) {
        (Value::Nil, Value::Nil) => Ok(true),
        (Value::Nil, _) | (_, Value::Nil) => Ok(false),
        (Value::Bool(a), Value::Bool(b)) => Ok(a == b),
        (Value::Str(a), Value::Str(b)) => Ok(a == b),
        (Value::List(a), Value::List(b)) => {
            Ok(a.len() == b.len() && a.iter().zip(b).all(|(x, y)| loose_equal(x, y)))
        }
        (Value::Map(a), Value::Map(b)) => Ok(a.len() == b.len()
            && a.iter()
                .all(|(k, v)| b.get(k).is_some_and(|w| loose_equal(v, w)))),
        _ => Err(mismatched("==", l, r)),
    }
}

/// Equality without the type check (elements of lists, `in`): different kinds are unequal.
fn loose_equal(l: &Value, r: &Value) -> bool {
    equal(l, r).unwrap_or(false)
}

fn compare(op: &str, l: &Value, r: &Value) -> R {
    let ordering = match (l, r) {
        (Value::Int(a), Value::Int(b)) => Some(a.cmp(b)),
        (Value::Str(a), Value::Str(b)) => Some(a.cmp(b)),
        _ => match (number(l), number(r)) {
            (Some(a), Some(b)) => a.partial_cmp(&b),
            _ => return Err(mismatched(op, l, r)),
        },
    };
    // NaN: no ordering, every comparison false.
    let Some(o) = ordering else {
        return Ok(Value::Bool(false));
    };
    Ok(Value::Bool(match op {
        "<" => o.is_lt(),
        ">" => o.is_gt(),
        "<=" => o.is_le(),
        _ => o.is_ge(),
    }))
}

fn operate(op: &str, l: &Value, r: &Value) -> R {
    match op {
        "==" => Ok(Value::Bool(equal(l, r)?)),
        "!=" => Ok(Value::Bool(!equal(l, r)?)),
        "<" | ">" | "<=" | ">=" => compare(op, l, r),
        "+" => match (l, r) {
            (Value::Int(a), Value::Int(b)) => Ok(Value::Int(a.wrapping_add(*b))),
            (Value::Str(a), Value::Str(b)) => Ok(Value::Str(format!("{a}{b}"))),
            (Value::List(a), Value::List(b)) => {
                Ok(Value::List(a.iter().chain(b).cloned().collect()))
            }
            _ => float_op(op, l, r, |a, b| a + b),
        },
        "-" => match (l, r) {
            (Value::Int(a), Value::Int(b)) => Ok(Value::Int(a.wrapping_sub(*b))),
            _ => float_op(op, l, r, |a, b| a - b),
        },
        "*" => match (l, r) {
            (Value::Int(a), Value::Int(b)) => Ok(Value::Int(a.wrapping_mul(*b))),
            _ => float_op(op, l, r, |a, b| a * b),
        },
        "/" => float_op(op, l, r, |a, b| a / b),
        "**" | "^" => float_op(op, l, r, f64::powf),
        "%" => match (l, r) {
            (Value::Int(_), Value::Int(0)) => Err(fail("integer divide by zero")),
            (Value::Int(a), Value::Int(b)) => Ok(Value::Int(a.wrapping_rem(*b))),
            _ => Err(mismatched(op, l, r)),
        },
        ".." => match (l, r) {
            (Value::Int(a), Value::Int(b)) => {
                if b.saturating_sub(*a) >= MAX_RANGE {
                    return Err(fail(format!(
                        "the range {a}..{b} is longer than {MAX_RANGE}"
                    )));
                }
                Ok(Value::List((*a..=*b).map(Value::Int).collect()))
            }
            _ => Err(mismatched(op, l, r)),
        },
        "in" => match r {
            Value::List(items) => Ok(Value::Bool(items.iter().any(|i| loose_equal(l, i)))),
            Value::Map(map) => match l {
                Value::Str(k) => Ok(Value::Bool(map.contains_key(k))),
                _ => Ok(Value::Bool(false)),
            },
            Value::Nil => Ok(Value::Bool(false)),
            _ => Err(mismatched(op, l, r)),
        },
        "contains" | "startsWith" | "endsWith" | "matches" => {
            let (Value::Str(a), Value::Str(b)) = (l, r) else {
                return Err(mismatched(op, l, r));
            };
            Ok(Value::Bool(match op {
                "contains" => a.contains(b.as_str()),
                "startsWith" => a.starts_with(b.as_str()),
                "endsWith" => a.ends_with(b.as_str()),
                _ => regex::RegexBuilder::new(b)
                    .size_limit(REGEX_SIZE)
                    .build()
                    .map_err(|e| fail(format!("invalid regular expression {b:?}: {e}")))?
                    .is_match(a),
            }))
        }
        _ => Err(fail(format!("unknown operator {op}"))),
    }
}

fn float_op(op: &str, l: &Value, r: &Value, apply: fn(f64, f64) -> f64) -> R {
    match (number(l), number(r)) {
        (Some(x), Some(y)) => Ok(Value::Float(apply(x, y))),
        _ => Err(mismatched(op, l, r)),
    }
}

/// An index of a list: an int, or a float with an integral value (expr-lang's `ToInt`).
fn index_of(v: &Value) -> Option<i64> {
    match v {
        Value::Int(n) => Some(*n),
        Value::Float(f) if f.fract() == 0.0 && f.is_finite() => Some(*f as i64),
        _ => None,
    }
}

fn shown(v: &Value) -> String {
    match v {
        Value::Str(s) => s.clone(),
        Value::Int(n) => n.to_string(),
        Value::Float(f) => f.to_string(),
        other => other.type_name().to_owned(),
    }
}

/// `runtime.Fetch`: a member of a map (nil when missing), an element of a list or string (negative
/// counts from the end).
fn fetch(object: &Value, property: &Value) -> R {
    match (object, property) {
        (Value::Map(map), Value::Str(key)) => Ok(map.get(key).cloned().unwrap_or(Value::Nil)),
        (Value::List(items), p) if index_of(p).is_some() => {
            let len = items.len() as i64;
            let mut i = index_of(p).unwrap_or(0);
            if i < 0 {
                i += len;
            }
            if i < 0 || i >= len {
                return Err(fail(format!(
                    "index out of range: {i} (array length is {len})"
                )));
            }
            Ok(items[i as usize].clone())
        }
        (Value::Str(s), p) if index_of(p).is_some() => {
            let bytes = s.as_bytes();
            let len = bytes.len() as i64;
            let mut i = index_of(p).unwrap_or(0);
            if i < 0 {
                i += len;
            }
            if i < 0 || i >= len {
                return Err(fail(format!(
                    "index out of range: {i} (array length is {len})"
                )));
            }
            Ok(Value::Int(i64::from(bytes[i as usize])))
        }
        _ => Err(fail(format!(
            "cannot fetch {} from {}",
            shown(property),
            object.type_name()
        ))),
    }
}

/// `a[i:j]` of a list: negative bounds count from the end, bounds are clamped.
fn slice(object: &Value, from: Option<&Value>, to: Option<&Value>) -> R {
    let Value::List(items) = object else {
        return Err(fail(format!("cannot slice {}", object.type_name())));
    };
    let len = items.len() as i64;
    let bound = |v: Option<&Value>, default: i64| -> Result<usize, Stop> {
        let Some(v) = v else {
            return Ok(default as usize);
        };
        let mut i = index_of(v)
            .ok_or_else(|| fail(format!("invalid slice index of type {}", v.type_name())))?;
        if i < 0 {
            i += len;
        }
        Ok(i.clamp(0, len) as usize)
    };
    let (a, b) = (bound(from, 0)?, bound(to, len)?);
    Ok(Value::List(if a < b {
        items[a..b].to_vec()
    } else {
        Vec::new()
    }))
}

/// The numbers of aggregate functions: their arguments, lists flattened.
fn numbers(name: &str, args: &[Value]) -> Result<Vec<Value>, Stop> {
    let mut out = Vec::new();
    for a in args {
        match a {
            Value::List(items) => out.extend(items.iter().cloned()),
            other => out.push(other.clone()),
        }
    }
    if let Some(bad) = out.iter().find(|v| number(v).is_none()) {
        return Err(fail(format!(
            "invalid argument for {name} (type {})",
            bad.type_name()
        )));
    }
    Ok(out)
}

fn arity(name: &str, args: &[Value], n: usize) -> Result<(), Stop> {
    if args.len() == n {
        Ok(())
    } else {
        Err(fail(format!(
            "invalid number of arguments for {name} (expected {n}, got {})",
            args.len()
        )))
    }
}

fn builtin(name: &str, args: &[Value], result: &Value) -> R {
    let one = |args: &[Value]| -> Result<Value, Stop> {
        arity(name, args, 1)?;
        Ok(args[0].clone())
    };
    let invalid = |v: &Value| {
        fail(format!(
            "invalid argument for {name} (type {})",
            v.type_name()
        ))
    };
    match name {
        "len" => match one(args)? {
            Value::List(l) => Ok(Value::Int(l.len() as i64)),
            Value::Map(m) => Ok(Value::Int(m.len() as i64)),
            Value::Str(s) => Ok(Value::Int(s.chars().count() as i64)),
            v => Err(invalid(&v)),
        },
        "abs" => match one(args)? {
            Value::Int(n) => Ok(Value::Int(n.wrapping_abs())),
            Value::Float(f) => Ok(Value::Float(f.abs())),
            v => Err(invalid(&v)),
        },
        "ceil" | "floor" | "round" => {
            let v = one(args)?;
            let f = number(&v).ok_or_else(|| invalid(&v))?;
            Ok(Value::Float(match name {
                "ceil" => f.ceil(),
                "floor" => f.floor(),
                // Go's math.Round: half away from zero, as Rust's round.
                _ => f.round(),
            }))
        }
        "max" | "min" => {
            let values = numbers(name, args)?;
            let mut best: Option<Value> = None;
            for v in values {
                let better = match &best {
                    None => true,
                    Some(b) => {
                        let (x, y) = (
                            number(&v).unwrap_or(f64::NAN),
                            number(b).unwrap_or(f64::NAN),
                        );
                        if name == "max" {
                            x > y
                        } else {
                            x < y
                        }
                    }
                };
                if better {
                    best = Some(v);
                }
            }
            Ok(best.unwrap_or(Value::Nil))
        }
        "sum" => {
            let values = numbers(name, args)?;
            if values.iter().all(|v| matches!(v, Value::Int(_))) {
                Ok(Value::Int(
                    values
                        .iter()
                        .filter_map(index_of)
                        .fold(0i64, i64::wrapping_add),
                ))
            } else {
                Ok(Value::Float(values.iter().filter_map(number).sum()))
            }
        }
        "mean" => {
            let values: Vec<f64> = numbers(name, args)?.iter().filter_map(number).collect();
            Ok(Value::Float(if values.is_empty() {
                0.0
            } else {
                values.iter().sum::<f64>() / values.len() as f64
            }))
        }
        "median" => {
            let mut values: Vec<f64> = numbers(name, args)?.iter().filter_map(number).collect();
            values.sort_by(f64::total_cmp);
            let n = values.len();
            Ok(Value::Float(match n {
                0 => 0.0,
                _ if n % 2 == 1 => values[n / 2],
                _ => f64::midpoint(values[n / 2 - 1], values[n / 2]),
            }))
        }
        "first" | "last" => match one(args)? {
            Value::List(l) => Ok((if name == "first" { l.first() } else { l.last() })
                .cloned()
                .unwrap_or(Value::Nil)),
            v => Err(invalid(&v)),
        },
        "int" | "asInt" => match one(args)? {
            Value::Int(n) => Ok(Value::Int(n)),
            Value::Float(f) => Ok(Value::Int(f as i64)),
            Value::Str(s) => s
                .trim()
                .parse::<i64>()
                .map(Value::Int)
                .map_err(|_| fail(format!("strconv.ParseInt: parsing {s:?}: invalid syntax"))),
            v => Err(invalid(&v)),
        },
        "float" | "asFloat" => match one(args)? {
            Value::Int(n) => Ok(Value::Float(n as f64)),
            Value::Float(f) => Ok(Value::Float(f)),
            Value::Str(s) => go_float(&s)
                .map(Value::Float)
                .ok_or_else(|| fail(format!("strconv.ParseFloat: parsing {s:?}: invalid syntax"))),
            v => Err(invalid(&v)),
        },
        "string" => Ok(Value::Str(match one(args)? {
            Value::Str(s) => s,
            Value::Nil => "<nil>".to_owned(),
            Value::Bool(b) => b.to_string(),
            Value::Int(n) => n.to_string(),
            Value::Float(f) => f.to_string(),
            v => return Err(invalid(&v)),
        })),
        "upper" | "lower" => match one(args)? {
            Value::Str(s) => Ok(Value::Str(if name == "upper" {
                s.to_uppercase()
            } else {
                s.to_lowercase()
            })),
            v => Err(invalid(&v)),
        },
        "isNaN" | "isInf" => {
            let v = one(args)?;
            let f = number(&v).ok_or_else(|| invalid(&v))?;
            Ok(Value::Bool(if name == "isNaN" {
                f.is_nan()
            } else {
                f.is_infinite()
            }))
        }
        // Argo Rollouts' `isNil` and `default` look at the measured result whatever their argument
        // (evaluate.go: `isNilFunc(resultValue)`, `defaultFunc(resultValue)`).
        "isNil" => {
            arity(name, args, 1)?;
            Ok(Value::Bool(*result == Value::Nil))
        }
        "default" => {
            arity(name, args, 2)?;
            Ok(if *result == Value::Nil {
                args[1].clone()
            } else {
                result.clone()
            })
        }
        _ => Err(fail(format!("unknown name {name}"))),
    }
}

/// Go's `strconv.ParseFloat` for the texts it takes (Rust's parse also takes `inf`, `nan` and
/// `infinity` in any case, which Go takes as well).
fn go_float(s: &str) -> Option<f64> {
    if s.is_empty() || s.contains(char::is_whitespace) {
        return None;
    }
    s.parse::<f64>().ok()
}
