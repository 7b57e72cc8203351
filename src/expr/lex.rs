//! The lexer of the expression language: text → tokens, as expr-lang's `parser/lexer` splits it
//! (numbers with `_` separators and `0x`/`0o`/`0b` prefixes, `.5`, strings in `'…'`, `"…"` with Go's
//! escapes or raw in backticks, `//` and `/* */` comments, word operators such as `and`, `not`,
//! `in`, `matches`). Takes the condition's text, gives tokens with their byte offsets. Pure.

use super::ExprError;

/// One token.
#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    Int(i64),
    Float(f64),
    Str(String),
    Ident(String),
    /// An operator: symbols (`==`, `&&`, `?.`, `#`, …) and the word operators.
    Op(&'static str),
    /// `(`, `)`, `[`, `]`, `{`, `}`.
    Bracket(char),
    Eof,
}

/// A token and where it starts (a byte offset into the condition).
#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub tok: Tok,
    pub at: usize,
}

/// Words that are operators, as expr-lang's lexer reads them.
const WORDS: [&str; 11] = [
    "not",
    "and",
    "or",
    "in",
    "matches",
    "contains",
    "startsWith",
    "endsWith",
    "let",
    "if",
    "else",
];

/// Symbols, longest first so that `**` wins over `*`.
const SYMBOLS: [&str; 28] = [
    "==", "!=", "<=", ">=", "&&", "||", "**", "??", "?.", "..", "::", "<", ">", "!", "+", "-", "*",
    "/", "%", "^", "?", ":", ".", ",", "#", "|", ";", "=",
];

/// Splits `text` into tokens, ending with [`Tok::Eof`].
///
/// # Errors
///
/// A character the language does not have, an unterminated string or comment, a bad escape, or a
/// number literal out of range.
pub fn tokens(text: &str) -> Result<Vec<Token>, ExprError> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let rest = &text[i..];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if rest.starts_with("//") {
            i += rest.find('\n').unwrap_or(rest.len());
        } else if let Some(body) = rest.strip_prefix("/*") {
            let end = body
                .find("*/")
                .ok_or_else(|| ExprError::at(i, "unclosed comment"))?;
            i += end + 4;
        } else if c.is_ascii_digit()
            || (c == b'.' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit) && !after_value(&out))
        {
            let (tok, len) = number(rest, i)?;
            out.push(Token { tok, at: i });
            i += len;
        } else if c == b'\'' || c == b'"' {
            let (s, len) = quoted(rest, i)?;
            out.push(Token {
                tok: Tok::Str(s),
                at: i,
            });
            i += len;
        } else if c == b'`' {
            let end = rest[1..]
                .find('`')
                .ok_or_else(|| ExprError::at(i, "literal not terminated"))?;
            out.push(Token {
                tok: Tok::Str(rest[1..=end].to_owned()),
                at: i,
            });
            i += end + 2;
        } else if c.is_ascii_alphabetic() || c == b'_' || c == b'$' {
            let len = rest
                .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_' || ch == '$'))
                .unwrap_or(rest.len());
            let word = &rest[..len];
            let tok = match WORDS.iter().find(|w| **w == word) {
                Some(w) => Tok::Op(w),
                None => Tok::Ident(word.to_owned()),
            };
            out.push(Token { tok, at: i });
            i += len;
        } else if matches!(c, b'(' | b')' | b'[' | b']' | b'{' | b'}') {
            out.push(Token {
                tok: Tok::Bracket(c as char),
                at: i,
            });
            i += 1;
        } else if let Some(sym) = SYMBOLS.iter().find(|s| rest.starts_with(**s)) {
            out.push(Token {
                tok: Tok::Op(sym),
                at: i,
            });
            i += sym.len();
        } else {
            let ch = rest.chars().next().unwrap_or('?');
            return Err(ExprError::at(i, format!("unrecognized character: {ch:?}")));
        }
    }
    out.push(Token {
        tok: Tok::Eof,
        at: text.len(),
    });
    Ok(out)
}

/// Whether the last token ends a value (then `.5` after it is member access, not a number).
fn after_value(out: &[Token]) -> bool {
    matches!(
        out.last().map(|t| &t.tok),
        Some(
            Tok::Ident(_)
                | Tok::Int(_)
                | Tok::Float(_)
                | Tok::Str(_)
                | Tok::Bracket(')' | ']' | '}')
        )
    )
}

/// A number literal at the start of `rest` and its length in bytes.
fn number(rest: &str, at: usize) -> Result<(Tok, usize), ExprError> {
    let lower = rest.to_ascii_lowercase();
    for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if lower.starts_with(prefix) {
            let len = 2 + rest[2..]
                .find(|c: char| !(c.is_digit(radix) || c == '_'))
                .unwrap_or(rest.len() - 2);
            let digits = rest[2..len].replace('_', "");
            let n = i64::from_str_radix(&digits, radix)
                .map_err(|e| ExprError::at(at, format!("invalid integer literal: {e}")))?;
            return Ok((Tok::Int(n), len));
        }
    }
    let b = rest.as_bytes();
    let mut len = 0;
    let digits = |len: &mut usize| {
        while *len < b.len() && (b[*len].is_ascii_digit() || b[*len] == b'_') {
            *len += 1;
        }
    };
    digits(&mut len);
    let mut float = false;
    // `1..3` is a range, not the float `1.` followed by `.3`.
    if len < b.len() && b[len] == b'.' && b.get(len + 1) != Some(&b'.') {
        float = true;
        len += 1;
        digits(&mut len);
    }
    if len < b.len() && (b[len] == b'e' || b[len] == b'E') {
        let mut end = len + 1;
        if end < b.len() && (b[end] == b'+' || b[end] == b'-') {
            end += 1;
        }
        if end < b.len() && b[end].is_ascii_digit() {
            float = true;
            len = end;
            digits(&mut len);
        }
    }
    let text = rest[..len].replace('_', "");
    let tok = if float {
        Tok::Float(
            text.parse()
                .map_err(|e| ExprError::at(at, format!("invalid float literal: {e}")))?,
        )
    } else {
        Tok::Int(
            text.parse()
                .map_err(|e| ExprError::at(at, format!("invalid integer literal: {e}")))?,
        )
    };
    Ok((tok, len))
}

/// A quoted string at the start of `rest` (Go's escapes), and its length in bytes.
fn quoted(rest: &str, at: usize) -> Result<(String, usize), ExprError> {
    let quote = rest.as_bytes()[0] as char;
    let mut out = String::new();
    let mut chars = rest.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        if c == quote {
            return Ok((out, i + 1));
        }
        if c == '\n' {
            break;
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        let bad = || ExprError::at(at + i, "invalid char escape");
        let (_, e) = chars.next().ok_or_else(bad)?;
        let mut hex = |n: usize| -> Result<char, ExprError> {
            let s: String = (0..n)
                .filter_map(|_| chars.next().map(|(_, c)| c))
                .collect();
            u32::from_str_radix(&s, 16)
                .ok()
                .filter(|_| s.len() == n)
                .and_then(char::from_u32)
                .ok_or_else(bad)
        };
        let ch = match e {
            'a' => '\u{7}',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'v' => '\u{b}',
            '\\' => '\\',
            '\'' => '\'',
            '"' => '"',
            'x' => hex(2)?,
            'u' => hex(4)?,
            'U' => hex(8)?,
            '0'..='7' => {
                let s: String = std::iter::once(e)
                    .chain((0..2).filter_map(|_| chars.next().map(|(_, c)| c)))
                    .collect();
                u32::from_str_radix(&s, 8)
                    .ok()
                    .filter(|v| s.len() == 3 && *v <= 0o377)
                    .and_then(char::from_u32)
                    .ok_or_else(bad)?
            }
            _ => return Err(bad()),
        };
        out.push(ch);
    }
    Err(ExprError::at(at, "literal not terminated"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(text: &str) -> Vec<Tok> {
        tokens(text).unwrap().into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn numbers_strings_and_operators() {
        assert_eq!(
            toks("result[0] <= 1_000 && .5 ** 2e1"),
            vec![
                Tok::Ident("result".into()),
                Tok::Bracket('['),
                Tok::Int(0),
                Tok::Bracket(']'),
                Tok::Op("<="),
                Tok::Int(1000),
                Tok::Op("&&"),
                Tok::Float(0.5),
                Tok::Op("**"),
                Tok::Float(20.0),
                Tok::Eof
            ]
        );
        assert_eq!(
            toks("0x2A 0o52 0b101010 1..3"),
            vec![
                Tok::Int(42),
                Tok::Int(42),
                Tok::Int(42),
                Tok::Int(1),
                Tok::Op(".."),
                Tok::Int(3),
                Tok::Eof
            ]
        );
        assert_eq!(
            toks(r#"'a\'b' "\u00e9\n" `raw\n`"#),
            vec![
                Tok::Str("a'b".into()),
                Tok::Str("é\n".into()),
                Tok::Str("raw\\n".into()),
                Tok::Eof
            ]
        );
        assert_eq!(
            toks("not x in y // comment\n /* block */ and z"),
            vec![
                Tok::Op("not"),
                Tok::Ident("x".into()),
                Tok::Op("in"),
                Tok::Ident("y".into()),
                Tok::Op("and"),
                Tok::Ident("z".into()),
                Tok::Eof
            ]
        );
        // After a value, `.5` is member access.
        assert_eq!(
            toks("a.5"),
            vec![Tok::Ident("a".into()), Tok::Op("."), Tok::Int(5), Tok::Eof]
        );
    }

    #[test]
    fn bad_input_is_located() {
        assert_eq!(tokens("1 @ 2").unwrap_err().at, Some(2));
        assert!(tokens("'open")
            .unwrap_err()
            .message
            .contains("not terminated"));
        assert!(tokens("'\\q'").unwrap_err().message.contains("escape"));
        assert!(tokens("/* open").is_err());
        assert!(tokens("99999999999999999999").is_err());
    }
}
