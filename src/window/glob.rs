//! Glob patterns as Argo CD matches window `applications`, `namespaces` and `clusters` (gobwas/glob
//! compiled without separators, through `glob.Match` in Argo CD's `util/glob`): `*` any run of
//! characters, `?` one character, `[a-z]`, `[abc]`, `[!a]`, `{a,b}` alternatives, `\` escapes.
//! Case-sensitive, no negation. Takes a pattern, gives a matcher: alternatives are expanded into flat
//! patterns (at most [`MAX_ALTERNATIVES`]) matched with star backtracking, O(pattern × value) each.

/// Upper bound on the flat patterns one glob expands to (`{a,b}{c,d}` is 4).
pub const MAX_ALTERNATIVES: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Lit(char),
    Any,
    Star,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// A compiled glob.
#[derive(Debug, Clone)]
pub struct Glob {
    alternatives: Vec<Vec<Tok>>,
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
    /// Unclosed `[` or `{`, an empty or reversed class, a trailing `\`, too many alternatives.
    pub fn new(text: &str) -> Result<Glob, GlobError> {
        let chars: Vec<char> = text.chars().collect();
        let mut pos = 0;
        let alternatives = sequence(&chars, &mut pos, 0, text)?;
        if pos != chars.len() {
            return Err(GlobError(format!(
                "glob {text:?}: unexpected {:?} at position {pos}; escape it with \\",
                chars[pos]
            )));
        }
        Ok(Glob { alternatives })
    }

    /// Whether the whole of `value` matches.
    pub fn matches(&self, value: &str) -> bool {
        let value: Vec<char> = value.chars().collect();
        self.alternatives.iter().any(|p| match_flat(p, &value))
    }
}

fn too_many(text: &str) -> GlobError {
    GlobError(format!(
        "glob {text:?} expands to more than {MAX_ALTERNATIVES} alternatives; simplify the {{...}} groups"
    ))
}

/// Parses until the end, or (inside `{...}`, depth > 0) until an unescaped `,` or `}`; gives the
/// flat sequences the text expands to.
fn sequence(
    chars: &[char],
    pos: &mut usize,
    depth: usize,
    text: &str,
) -> Result<Vec<Vec<Tok>>, GlobError> {
    let mut seqs: Vec<Vec<Tok>> = vec![Vec::new()];
    let push =
        |seqs: &mut Vec<Vec<Tok>>, tok: Tok| seqs.iter_mut().for_each(|s| s.push(tok.clone()));
    while *pos < chars.len() {
        let c = chars[*pos];
        match c {
            ',' | '}' if depth > 0 => return Ok(seqs),
            '*' => {
                push(&mut seqs, Tok::Star);
                *pos += 1;
            }
            '?' => {
                push(&mut seqs, Tok::Any);
                *pos += 1;
            }
            '\\' => {
                let next = *chars
                    .get(*pos + 1)
                    .ok_or_else(|| GlobError(format!("glob {text:?} ends with an escaping \\")))?;
                push(&mut seqs, Tok::Lit(next));
                *pos += 2;
            }
            '[' => {
                *pos += 1;
                let tok = class(chars, pos, text)?;
                push(&mut seqs, tok);
            }
            '{' => {
                *pos += 1;
                let mut options: Vec<Vec<Tok>> = Vec::new();
                loop {
                    options.extend(sequence(chars, pos, depth + 1, text)?);
                    if options.len() > MAX_ALTERNATIVES {
                        return Err(too_many(text));
                    }
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
                if seqs.len() * options.len() > MAX_ALTERNATIVES {
                    return Err(too_many(text));
                }
                seqs = seqs
                    .iter()
                    .flat_map(|s| {
                        options.iter().map(move |o| {
                            let mut joined = s.clone();
                            joined.extend(o.iter().cloned());
                            joined
                        })
                    })
                    .collect();
            }
            _ => {
                push(&mut seqs, Tok::Lit(c));
                *pos += 1;
            }
        }
    }
    Ok(seqs)
}

/// `[...]` after the `[`: optional `!`, then characters and `a-z` ranges up to `]`.
fn class(chars: &[char], pos: &mut usize, text: &str) -> Result<Tok, GlobError> {
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
    let mut ranges = Vec::new();
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
            ranges.push((lo, hi));
        } else {
            ranges.push((lo, lo));
        }
    }
    if ranges.is_empty() {
        return Err(GlobError(format!("glob {text:?} has an empty '[]' class")));
    }
    Ok(Tok::Class { negated, ranges })
}

fn one(tok: &Tok, c: char) -> bool {
    match tok {
        Tok::Lit(l) => *l == c,
        Tok::Any => true,
        Tok::Star => false,
        Tok::Class { negated, ranges } => {
            ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
        }
    }
}

/// Wildcard matching with backtracking to the last star: O(pattern × value).
fn match_flat(p: &[Tok], s: &[char]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && p[pi] == Tok::Star {
            star = Some((pi, si));
            pi += 1;
        } else if pi < p.len() && one(&p[pi], s[si]) {
            pi += 1;
            si += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|t| *t == Tok::Star)
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
        for p in [
            "[abc",
            "{a,b",
            "[]",
            "[z-a]",
            "a\\",
            "{a,b}{c,d}{e,f}{g,h}{i,j}{k,l}{m,n}{o,p}{q,r}",
        ] {
            assert!(Glob::new(p).is_err(), "{p}");
        }
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        /// A pattern piece and its meaning as a regex.
        fn piece() -> impl Strategy<Value = (String, String)> {
            prop_oneof![
                Just(("a".to_string(), "a".to_string())),
                Just(("b".to_string(), "b".to_string())),
                Just(("*".to_string(), ".*".to_string())),
                Just(("?".to_string(), ".".to_string())),
                Just(("[a-b]".to_string(), "[a-b]".to_string())),
                Just(("[!a]".to_string(), "[^a]".to_string())),
                Just(("{a,b*}".to_string(), "(?:a|b.*)".to_string())),
                Just(("{,c}".to_string(), "(?:|c)".to_string())),
                Just(("\\*".to_string(), "\\*".to_string())),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

            #[test]
            fn matches_like_the_equivalent_regex(
                pieces in prop::collection::vec(piece(), 0..8),
                value in "[abc*]{0,10}",
            ) {
                let pattern: String = pieces.iter().map(|(p, _)| p.as_str()).collect();
                let regex: String = pieces.iter().map(|(_, r)| r.as_str()).collect();
                let oracle = regex::Regex::new(&format!("(?s)^(?:{regex})$")).expect("oracle regex");
                let glob = Glob::new(&pattern).expect("valid pattern");
                prop_assert_eq!(glob.matches(&value), oracle.is_match(&value), "{} on {:?}", pattern, value);
            }
        }
    }
}
