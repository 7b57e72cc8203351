//! The parser: tokens → a tree, with expr-lang's precedence and associativity
//! (`parser/operator/operator.go`: `or`/`||` 10, `and`/`&&` 15, comparisons and `in`, `matches`,
//! `contains`, `startsWith`, `endsWith` 20, `..` 25, `+ -` 30, `* / %` 60, `** ^` 100 right, `??`
//! 500; unary `not`/`!` 50, `-`/`+` 90, so `not a == b` is `(not a) == b`), chained comparisons
//! (`a < b < c` is `a < b && b < c`), the ternary `?:` at the top, `not in` and friends, and the
//! predicates of `all`, `any`, `none`, `one`, `filter`, `map` and `count` (`{# > 1}`, or without
//! braces). Names are checked here: `result`, the functions of [`super::FUNCTIONS`], `#` only inside
//! a predicate. Pure; bounded in nodes and depth.

use super::lex::{Tok, Token};
use super::{ExprError, FUNCTIONS, PREDICATES};

/// Most nodes a condition may have (expr-lang's default `MaxNodes` is 10000).
const MAX_NODES: usize = 10_000;
/// Deepest nesting (parentheses, operands, arguments).
const MAX_DEPTH: usize = 64;

/// A parsed condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Array(Vec<Node>),
    Map(Vec<(Node, Node)>),
    /// `result`.
    Result,
    /// `#` (the element of a predicate), with a member name for `.name` / `#.name`.
    Pointer(Option<String>),
    Unary(&'static str, Box<Node>),
    Binary(&'static str, Box<Node>, Box<Node>),
    /// `a.b`, `a[i]`, `a?.b`.
    Member {
        object: Box<Node>,
        property: Box<Node>,
        optional: bool,
    },
    /// `a[i:j]`.
    Slice {
        object: Box<Node>,
        from: Option<Box<Node>>,
        to: Option<Box<Node>>,
    },
    /// A chain with `?.` in it: nil as soon as an optional step meets nil.
    Chain(Box<Node>),
    /// A function of [`super::FUNCTIONS`] or a predicate function.
    Call(&'static str, Vec<Node>),
    /// The predicate argument of `all`, `any`, ….
    Predicate(Box<Node>),
    /// `c ? a : b`.
    Conditional(Box<Node>, Box<Node>, Box<Node>),
}

/// Binary operators: precedence and whether right-associative.
fn binary(op: &str) -> Option<(u8, bool)> {
    Some(match op {
        "|" => (0, false),
        "or" | "||" => (10, false),
        "and" | "&&" => (15, false),
        "==" | "!=" | "<" | ">" | "<=" | ">=" | "in" | "matches" | "contains" | "startsWith"
        | "endsWith" => (20, false),
        ".." => (25, false),
        "+" | "-" => (30, false),
        "*" | "/" | "%" => (60, false),
        "**" | "^" => (100, true),
        "??" => (200, false),
        _ => return None,
    })
}

fn unary(op: &str) -> Option<u8> {
    match op {
        "not" | "!" => Some(50),
        "-" | "+" => Some(90),
        _ => None,
    }
}

fn comparison(op: &str) -> bool {
    matches!(op, "<" | ">" | "<=" | ">=")
}

fn negatable(op: &str) -> bool {
    matches!(
        op,
        "in" | "matches" | "contains" | "startsWith" | "endsWith"
    )
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    nodes: usize,
    depth: usize,
    /// Inside how many predicates.
    predicates: usize,
}

/// Parses a whole condition.
///
/// # Errors
///
/// Syntax errors, unknown names, unsupported parts of the language, and conditions over the bounds.
pub fn parse(tokens: Vec<Token>) -> Result<Node, ExprError> {
    let mut p = Parser {
        tokens,
        pos: 0,
        nodes: 0,
        depth: 0,
        predicates: 0,
    };
    let node = p.expression(0)?;
    match &p.peek().tok {
        Tok::Eof => Ok(node),
        _ => Err(p.unexpected()),
    }
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        if self.pos < self.tokens.len() - 1 {
            self.pos += 1;
        }
        t
    }

    fn is_op(&self, op: &str) -> bool {
        matches!(&self.peek().tok, Tok::Op(o) if *o == op)
    }

    fn is_bracket(&self, b: char) -> bool {
        self.peek().tok == Tok::Bracket(b)
    }

    fn unexpected(&self) -> ExprError {
        let t = self.peek();
        let what = match &t.tok {
            Tok::Eof => "EOF".to_owned(),
            Tok::Int(n) => format!("Number({n})"),
            Tok::Float(f) => format!("Number({f})"),
            Tok::Str(s) => format!("String({s:?})"),
            Tok::Ident(s) => format!("Identifier({s:?})"),
            Tok::Op(o) => format!("Operator({o:?})"),
            Tok::Bracket(b) => format!("Bracket({:?})", b.to_string()),
        };
        ExprError::at(t.at, format!("unexpected token {what}"))
    }

    fn expect_bracket(&mut self, b: char) -> Result<(), ExprError> {
        if self.is_bracket(b) {
            self.next();
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn expect_op(&mut self, op: &str) -> Result<(), ExprError> {
        if self.is_op(op) {
            self.next();
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn node(&mut self, n: Node) -> Result<Node, ExprError> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(ExprError::new(format!(
                "the condition has more than {MAX_NODES} nodes"
            )));
        }
        Ok(n)
    }

    fn expression(&mut self, precedence: u8) -> Result<Node, ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ExprError::at(
                self.peek().at,
                format!("the condition nests deeper than {MAX_DEPTH} levels"),
            ));
        }
        let node = self.expression_inner(precedence);
        self.depth -= 1;
        node
    }

    fn expression_inner(&mut self, precedence: u8) -> Result<Node, ExprError> {
        if precedence == 0 && (self.is_op("let") || self.is_op("if")) {
            return Err(ExprError::at(
                self.peek().at,
                "`let` and `if {} else {}` are not supported in conditions; use `c ? a : b`",
            ));
        }
        let mut left = self.primary()?;
        let mut previous: Option<&'static str> = None;
        while let Tok::Op(mut op) = self.peek().tok {
            let at = self.peek().at;
            let mut negate = false;
            if op == "not" {
                // `not in`, `not contains`, …: only when the next token is one of those.
                let after = self.tokens.get(self.pos + 1).map(|t| t.tok.clone());
                match after {
                    Some(Tok::Op(o))
                        if negatable(o) && binary(o).is_some_and(|(p, _)| p >= precedence) =>
                    {
                        self.next();
                        op = o;
                        negate = true;
                    }
                    Some(Tok::Op(o)) if negatable(o) => break,
                    _ => {
                        self.next();
                        return Err(self.unexpected());
                    }
                }
            }
            let Some((prec, right_assoc)) = binary(op) else {
                break;
            };
            if prec < precedence {
                break;
            }
            if op == "|" {
                return Err(ExprError::at(
                    at,
                    "the pipe operator `|` is not supported in conditions",
                ));
            }
            if previous == Some("??") && op != "??" {
                return Err(ExprError::at(at, format!("Operator ({op}) and coalesce expressions (??) cannot be mixed. Wrap either by parentheses.")));
            }
            self.next();
            if comparison(op) {
                left = self.comparison(left, op, prec)?;
            } else {
                let right = self.expression(if right_assoc { prec } else { prec + 1 })?;
                left = self.node(Node::Binary(op, Box::new(left), Box::new(right)))?;
                if negate {
                    left = self.node(Node::Unary("not", Box::new(left)))?;
                }
            }
            previous = Some(op);
        }
        if precedence == 0 {
            left = self.conditional(left)?;
        }
        Ok(left)
    }

    /// `a < b < c` → `a < b && b < c`.
    fn comparison(
        &mut self,
        mut left: Node,
        mut op: &'static str,
        prec: u8,
    ) -> Result<Node, ExprError> {
        let mut root: Option<Node> = None;
        loop {
            let right = self.expression(prec + 1)?;
            let cmp = self.node(Node::Binary(op, Box::new(left), Box::new(right.clone())))?;
            root = Some(match root {
                None => cmp,
                Some(r) => self.node(Node::Binary("&&", Box::new(r), Box::new(cmp)))?,
            });
            left = right;
            match self.peek().tok {
                Tok::Op(o) if comparison(o) => {
                    self.next();
                    op = o;
                }
                _ => break,
            }
        }
        root.ok_or_else(|| self.unexpected())
    }

    fn conditional(&mut self, mut node: Node) -> Result<Node, ExprError> {
        while self.is_op("?") {
            self.next();
            let (yes, no) = if self.is_op(":") {
                self.next();
                (node.clone(), self.expression(0)?)
            } else {
                let yes = self.expression(0)?;
                self.expect_op(":")?;
                (yes, self.expression(0)?)
            };
            node = self.node(Node::Conditional(
                Box::new(node),
                Box::new(yes),
                Box::new(no),
            ))?;
        }
        Ok(node)
    }

    fn primary(&mut self) -> Result<Node, ExprError> {
        if let Tok::Op(op) = self.peek().tok {
            if let Some(prec) = unary(op) {
                self.next();
                let operand = self.expression(prec)?;
                let node = self.node(Node::Unary(op, Box::new(operand)))?;
                return self.postfix(node);
            }
            if self.predicates > 0 && (op == "#" || op == ".") {
                self.next();
                let name = if op == "." || self.is_op(".") {
                    if op == "#" {
                        self.next();
                    }
                    match self.peek().tok.clone() {
                        Tok::Ident(name) => {
                            self.next();
                            Some(name)
                        }
                        _ => return Err(self.unexpected()),
                    }
                } else {
                    None
                };
                let node = self.node(Node::Pointer(name))?;
                return self.postfix(node);
            }
        }
        if self.is_bracket('(') {
            self.next();
            let node = self.expression(0)?;
            self.expect_bracket(')')?;
            return self.postfix(node);
        }
        self.secondary()
    }

    fn secondary(&mut self) -> Result<Node, ExprError> {
        let token = self.peek().clone();
        if !matches!(
            token.tok,
            Tok::Ident(_) | Tok::Int(_) | Tok::Float(_) | Tok::Str(_) | Tok::Bracket('[' | '{')
        ) {
            return Err(self.unexpected());
        }
        self.next();
        let node = match token.tok {
            Tok::Ident(name) => match name.as_str() {
                "true" => Node::Bool(true),
                "false" => Node::Bool(false),
                "nil" => Node::Nil,
                _ if self.is_bracket('(') => self.call(&name, token.at)?,
                "result" => Node::Result,
                _ => return Err(ExprError::at(token.at, format!("unknown name {name}"))),
            },
            Tok::Int(n) => Node::Int(n),
            Tok::Float(f) => Node::Float(f),
            Tok::Str(s) => Node::Str(s),
            Tok::Bracket('[') => self.array()?,
            _ => self.map()?,
        };
        let node = self.node(node)?;
        self.postfix(node)
    }

    fn call(&mut self, name: &str, at: usize) -> Result<Node, ExprError> {
        self.expect_bracket('(')?;
        let mut args = Vec::new();
        if let Some(p) = PREDICATES.iter().find(|p| **p == name) {
            args.push(self.expression(0)?);
            if self.is_op(",") {
                self.next();
                if !self.is_bracket(')') {
                    args.push(self.predicate()?);
                }
            }
            if self.is_op(",") {
                self.next();
            }
            self.expect_bracket(')')?;
            if args.len() < 2 && *p != "count" {
                return Err(ExprError::at(at, "expected at least 2 arguments"));
            }
            return Ok(Node::Call(p, args));
        }
        let Some(f) = FUNCTIONS.iter().find(|f| **f == name) else {
            return Err(ExprError::at(at, format!("unknown name {name}")));
        };
        while !self.is_bracket(')') {
            if !args.is_empty() {
                self.expect_op(",")?;
                if self.is_bracket(')') {
                    break;
                }
            }
            args.push(self.expression(0)?);
        }
        self.expect_bracket(')')?;
        Ok(Node::Call(f, args))
    }

    fn predicate(&mut self) -> Result<Node, ExprError> {
        let braces = self.is_bracket('{');
        if braces {
            self.next();
        }
        self.predicates += 1;
        let node = self.expression(0);
        self.predicates -= 1;
        let node = node?;
        if braces {
            self.expect_bracket('}')?;
        }
        self.node(Node::Predicate(Box::new(node)))
    }

    fn array(&mut self) -> Result<Node, ExprError> {
        let mut items = Vec::new();
        while !self.is_bracket(']') {
            if !items.is_empty() {
                self.expect_op(",")?;
                if self.is_bracket(']') {
                    break;
                }
            }
            items.push(self.expression(0)?);
        }
        self.expect_bracket(']')?;
        Ok(Node::Array(items))
    }

    fn map(&mut self) -> Result<Node, ExprError> {
        let mut pairs = Vec::new();
        while !self.is_bracket('}') {
            if !pairs.is_empty() {
                self.expect_op(",")?;
                if self.is_bracket('}') {
                    break;
                }
            }
            let key = match self.peek().tok.clone() {
                Tok::Str(s) | Tok::Ident(s) => {
                    self.next();
                    Node::Str(s)
                }
                Tok::Int(n) => {
                    self.next();
                    Node::Str(n.to_string())
                }
                Tok::Bracket('(') => self.expression(0)?,
                _ => return Err(ExprError::at(self.peek().at, "a map key must be a quoted string, a number, a identifier, or an expression enclosed in parentheses")),
            };
            self.expect_op(":")?;
            let value = self.expression(0)?;
            pairs.push((key, value));
        }
        self.expect_bracket('}')?;
        Ok(Node::Map(pairs))
    }

    fn postfix(&mut self, mut node: Node) -> Result<Node, ExprError> {
        let mut chained = false;
        loop {
            let optional = self.is_op("?.");
            if self.is_op(".") || optional {
                self.next();
                if optional && self.is_bracket('[') {
                    self.next();
                    let index = self.expression(0)?;
                    self.expect_bracket(']')?;
                    node = self.member(node, index, true)?;
                    chained = true;
                    continue;
                }
                let t = self.next();
                let name = match t.tok {
                    Tok::Ident(n) => n,
                    Tok::Op(o) if o.chars().all(|c| c.is_ascii_alphabetic()) => o.to_owned(),
                    _ => return Err(ExprError::at(t.at, "expected name")),
                };
                if self.is_bracket('(') {
                    return Err(ExprError::at(
                        t.at,
                        "method calls are not supported in conditions",
                    ));
                }
                node = self.member(node, Node::Str(name), optional)?;
                chained |= optional;
            } else if self.is_bracket('[') {
                self.next();
                if self.is_op(":") {
                    self.next();
                    let to = if self.is_bracket(']') {
                        None
                    } else {
                        Some(Box::new(self.expression(0)?))
                    };
                    self.expect_bracket(']')?;
                    node = self.node(Node::Slice {
                        object: Box::new(node),
                        from: None,
                        to,
                    })?;
                    continue;
                }
                let index = self.expression(0)?;
                if self.is_op(":") {
                    self.next();
                    let to = if self.is_bracket(']') {
                        None
                    } else {
                        Some(Box::new(self.expression(0)?))
                    };
                    self.expect_bracket(']')?;
                    node = self.node(Node::Slice {
                        object: Box::new(node),
                        from: Some(Box::new(index)),
                        to,
                    })?;
                    continue;
                }
                self.expect_bracket(']')?;
                node = self.member(node, index, false)?;
            } else {
                break;
            }
        }
        if chained {
            node = self.node(Node::Chain(Box::new(node)))?;
        }
        Ok(node)
    }

    fn member(&mut self, object: Node, property: Node, optional: bool) -> Result<Node, ExprError> {
        self.node(Node::Member {
            object: Box::new(object),
            property: Box::new(property),
            optional,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::lex::tokens;
    use super::*;

    fn p(text: &str) -> Node {
        parse(tokens(text).unwrap()).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn err(text: &str) -> String {
        parse(tokens(text).unwrap()).unwrap_err().to_string()
    }

    fn b(op: &'static str, l: Node, r: Node) -> Node {
        Node::Binary(op, Box::new(l), Box::new(r))
    }

    #[test]
    fn precedence_follows_expr_lang() {
        // `*` over `+`, `+` over comparison, comparison over `and`, `and` over `or`.
        assert_eq!(
            p("1 + 2 * 3 > 4 or true and false"),
            b(
                "or",
                b(
                    ">",
                    b("+", Node::Int(1), b("*", Node::Int(2), Node::Int(3))),
                    Node::Int(4)
                ),
                b("and", Node::Bool(true), Node::Bool(false))
            )
        );
        // `**` is right-associative.
        assert_eq!(
            p("2 ** 3 ** 2"),
            b("**", Node::Int(2), b("**", Node::Int(3), Node::Int(2)))
        );
        // Unary `not` binds tighter than comparisons: (not a) == b.
        assert_eq!(
            p("not true == false"),
            b(
                "==",
                Node::Unary("not", Box::new(Node::Bool(true))),
                Node::Bool(false)
            )
        );
        // Unary minus below `**`: -(2 ** 2).
        assert_eq!(
            p("-2 ** 2"),
            Node::Unary("-", Box::new(b("**", Node::Int(2), Node::Int(2))))
        );
        // Chained comparisons.
        assert_eq!(
            p("1 < 2 < 3"),
            b(
                "&&",
                b("<", Node::Int(1), Node::Int(2)),
                b("<", Node::Int(2), Node::Int(3))
            )
        );
        // `not in`.
        assert_eq!(
            p("1 not in [2]"),
            Node::Unary(
                "not",
                Box::new(b("in", Node::Int(1), Node::Array(vec![Node::Int(2)])))
            )
        );
    }

    #[test]
    fn names_and_predicates_are_checked() {
        assert_eq!(err("invalidVariable"), "unknown name invalidVariable");
        assert_eq!(err("nope(1)"), "unknown name nope");
        assert!(err("#").contains("unexpected token"), "{}", err("#"));
        assert!(matches!(p("all(result, {# > 1})"), Node::Call("all", _)));
        assert!(matches!(p("any(result, .x > 1)"), Node::Call("any", _)));
        assert!(err("all(result)").contains("at least 2"));
        assert!(err("let x = 1; x").contains("not supported"));
        assert!(err("result | len()").contains("pipe"));
        assert!(err("1 +").contains("unexpected token EOF"));
        assert!(err("(1").contains("unexpected token EOF"));
        assert!(err("a ?? b + 1").contains("unknown name a"));
        assert!(err("1 ?? 2 + 1").contains("cannot be mixed"));
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!("{}1{}", "(".repeat(200), ")".repeat(200));
        assert!(err(&deep).contains("deeper than"));
        let wide = vec!["1"; 6000].join(" + ");
        assert!(
            err(&wide).contains("nodes") || err(&wide).contains("deeper"),
            "{}",
            err(&wide)
        );
    }
}
