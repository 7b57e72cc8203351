//! Glob patterns as Argo CD matches window `applications`, `namespaces` and `clusters` (gobwas/glob
//! compiled without separators, through `glob.Match` in Argo CD's `util/glob`): `*` any run of
//! characters, `?` one character, `[a-z]`, `[abc]`, `[!a]`, `{a,b}` alternatives, `\` escapes.
//! Case-sensitive, no negation. Takes a pattern, gives a matcher (compiled to an anchored regex,
//! so matching is linear-time whatever the pattern).

use regex::Regex;

/// A compiled glob.
#[derive(Debug, Clone)]
pub struct Glob {
    text: String,
    regex: Regex,
}

/// Why a pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct GlobError(pub String);

impl Glob {
    /// Compiles a pattern.
    ///
    /// # Errors
    ///
    /// Unclosed `[` or `{`, an empty or reversed class, a trailing `\`.
    pub fn new(text: &str) -> Result<Glob, GlobError> {
        let chars: Vec<char> = text.chars().collect();
        let mut pos = 0;
        let body = translate(&chars, &mut pos, 0, text)?;
        if pos != chars.len() {
            return Err(GlobError(format!(
                "glob {text:?}: unexpected {:?} at position {pos}; escape it with \\",
                chars[pos]
            )));
        }
        let regex = Regex::new(&format!("(?s)^(?:{body})$"))
            .map_err(|e| GlobError(format!("glob {text:?}: {e}")))?;
        Ok(Glob {
            text: text.to_string(),
            regex,
        })
    }

    /// Whether the whole of `value` matches.
    pub fn matches(&self, value: &str) -> bool {
        self.regex.is_match(value)
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// Translates until the end, or (inside `{...}`, depth > 0) until an unescaped `,` or `}`.
fn translate(
    chars: &[char],
    pos: &mut usize,
    depth: usize,
    text: &str,
) -> Result<String, GlobError> {
    let mut out = String::new();
    while *pos < chars.len() {
        let c = chars[*pos];
        match c {
            ',' | '}' if depth > 0 => return Ok(out),
            '*' => {
                out.push_str(".*");
                *pos += 1;
            }
            '?' => {
                out.push('.');
                *pos += 1;
            }
            '\\' => {
                let next = chars
                    .get(*pos + 1)
                    .ok_or_else(|| GlobError(format!("glob {text:?} ends with an escaping \\")))?;
                out.push_str(&regex::escape(&next.to_string()));
                *pos += 2;
            }
            '[' => {
                *pos += 1;
                out.push_str(&class(chars, pos, text)?);
            }
            '{' => {
                *pos += 1;
                let mut alternatives = Vec::new();
                loop {
                    alternatives.push(translate(chars, pos, depth + 1, text)?);
                    match chars.get(*pos) {
                        Some(',') => *pos += 1,
                        Some('}') => {
                            *pos += 1;
                            break;
                        }
                        _ => {
                            return Err(GlobError(format!(
                            "glob {text:?} has an unclosed '{{'; close it with '}}' or escape it"
                        )))
                        }
                    }
                }
                out.push_str(&format!("(?:{})", alternatives.join("|")));
            }
            _ => {
                out.push_str(&regex::escape(&c.to_string()));
                *pos += 1;
            }
        }
    }
    Ok(out)
}

/// `[...]` after the `[`: optional `!`, then characters and `a-z` ranges up to `]`.
fn class(chars: &[char], pos: &mut usize, text: &str) -> Result<String, GlobError> {
    let unclosed = || {
        GlobError(format!(
            "glob {text:?} has an unclosed '['; close it with ']' or escape it"
        ))
    };
    let mut negated = false;
    if chars.get(*pos) == Some(&'!') {
        negated = true;
        *pos += 1;
    }
    let mut items = Vec::new();
    loop {
        let c = *chars.get(*pos).ok_or_else(unclosed)?;
        if c == ']' {
            *pos += 1;
            break;
        }
        let lo = if c == '\\' {
            *pos += 1;
            *chars.get(*pos).ok_or_else(unclosed)?
        } else {
            c
        };
        *pos += 1;
        if chars.get(*pos) == Some(&'-') && chars.get(*pos + 1).is_some_and(|&n| n != ']') {
            let hi = chars[*pos + 1];
            *pos += 2;
            if lo > hi {
                return Err(GlobError(format!(
                    "glob {text:?}: range [{lo}-{hi}] is reversed; write [{hi}-{lo}]"
                )));
            }
            items.push(format!(
                "{}-{}",
                regex::escape(&lo.to_string()),
                regex::escape(&hi.to_string())
            ));
        } else {
            items.push(regex::escape(&lo.to_string()));
        }
    }
    if items.is_empty() {
        return Err(GlobError(format!("glob {text:?} has an empty '[]' class")));
    }
    // regex::escape also escapes `-`, `^`, `[` and `]`, so every item is literal inside the class.
    Ok(format!(
        "[{}{}]",
        if negated { "^" } else { "" },
        items.join("")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, value: &str) -> bool {
        Glob::new(pattern).expect(pattern).matches(value)
    }

    #[test]
    fn matches_like_gobwas_without_separators() {
        assert!(m("*", ""));
        assert!(m("*", "anything/with/slashes"));
        assert!(m("test-*", "test-app"));
        assert!(!m("test-*", "test"));
        assert!(m("production-*", "production-eu"));
        assert!(m("app?", "app1"));
        assert!(!m("app?", "app"));
        assert!(!m("app?", "app12"));
        assert!(m("[a-c]x", "bx"));
        assert!(!m("[a-c]x", "dx"));
        assert!(m("[!a]x", "bx"));
        assert!(!m("[!a]x", "ax"));
        assert!(m("{shop,cart}-api", "cart-api"));
        assert!(!m("{shop,cart}-api", "pay-api"));
        assert!(m("{a*,b?}", "axyz"));
        assert!(m("{a,{b,c}}d", "cd"));
        assert!(m("a.b", "a.b"));
        assert!(!m("a.b", "axb"));
        assert!(m("\\*", "*"));
        assert!(!m("\\*", "x"));
        assert!(m("https://*.example.com", "https://k8s.example.com"));
    }

    #[test]
    fn is_case_sensitive_and_has_no_negation() {
        assert!(!m("Shop", "shop"));
        assert!(!m("!shop", "other"));
        assert!(m("!shop", "!shop"));
    }

    #[test]
    fn rejects_malformed_patterns() {
        for p in ["[abc", "{a,b", "[]", "[z-a]", "a\\"] {
            assert!(Glob::new(p).is_err(), "{p}");
        }
    }
}
