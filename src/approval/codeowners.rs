//! CODEOWNERS as GitHub reads it (GitHub docs, "About code owners"): takes the file's text, gives the
//! owners of a path. Pure.
//!
//! - Each line is a pattern and its owners (`@login`, `@org/team`, or an e-mail address); `#` starts
//!   a comment; a pattern with no owners leaves its paths unowned.
//! - The **last** matching line wins.
//! - Patterns follow `.gitignore` with GitHub's exceptions: a leading `/` or a `/` inside anchors the
//!   pattern at the root, otherwise it matches at any depth; `*` and `?` do not cross `/`, `**` does;
//!   a trailing `/` matches a directory's contents; a pattern whose last part has no wildcard matches
//!   a file or a whole directory, while `docs/*` matches `docs/a.md` but not `docs/sub/b.md`. `!`
//!   (negation) and `[ ]` (character ranges) are not supported by GitHub: such lines are skipped, as
//!   GitHub skips lines with errors, and reported. `\#` escapes a pattern that starts with `#`.
//! - Paths are compared case-sensitively.

use regex::Regex;

/// Where GitHub looks for the file, in this order; the first one found is used.
pub const LOCATIONS: [&str; 3] = [".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"];

/// A parsed CODEOWNERS file.
#[derive(Debug, Clone)]
pub struct CodeOwners {
    rules: Vec<(Regex, Vec<String>)>,
    /// Lines skipped, as `line N: why` (GitHub shows them as errors of the file and skips them too).
    #[cfg_attr(not(test), allow(dead_code))]
    pub skipped: Vec<String>,
}

impl CodeOwners {
    /// Reads the file's text.
    pub fn parse(text: &str) -> CodeOwners {
        let mut rules = Vec::new();
        let mut skipped = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = strip_comment(raw);
            let mut words = line.split_whitespace();
            let Some(pattern) = words.next() else {
                continue;
            };
            let owners: Vec<String> = words.map(str::to_owned).collect();
            match compile(pattern) {
                Ok(re) => rules.push((re, owners)),
                Err(why) => skipped.push(format!("line {}: {why}", i + 1)),
            }
        }
        CodeOwners { rules, skipped }
    }

    /// The owners of `path` (relative to the repository root, without a leading `/`): the owners of the
    /// last line that matches; empty when none does or that line names no owner.
    pub fn owners_of(&self, path: &str) -> &[String] {
        self.rules
            .iter()
            .rev()
            .find(|(re, _)| re.is_match(path))
            .map_or(&[], |(_, owners)| owners.as_slice())
    }
}

/// The line without its comment: `#` at the start or after white space (an escaped `\#` at the start of
/// a pattern is kept).
fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        if *b == b'#' && (i == 0 || bytes[i - 1].is_ascii_whitespace()) {
            return &line[..i];
        }
    }
    line
}

fn compile(pattern: &str) -> Result<Regex, String> {
    let pattern = pattern
        .strip_prefix('\\')
        .filter(|p| p.starts_with('#'))
        .unwrap_or(pattern);
    if pattern.starts_with('!') {
        return Err(format!("{pattern:?}: GitHub does not support negation (!)"));
    }
    if pattern.contains('[') || pattern.contains(']') {
        return Err(format!(
            "{pattern:?}: GitHub does not support character ranges ([ ])"
        ));
    }
    let dir_only = pattern.ends_with('/');
    let body = pattern.trim_end_matches('/');
    let anchored = pattern.starts_with('/') || body.trim_start_matches('/').contains('/');
    let body = body.trim_start_matches('/');
    if body.is_empty() {
        return Err(format!("{pattern:?}: an empty pattern"));
    }
    let last = body.rsplit('/').next().unwrap_or(body);
    let wild_last = last != "**" && (last.contains('*') || last.contains('?'));
    let mut re = String::from(if anchored { "^" } else { "^(?:.*/)?" });
    re.push_str(&translate(body));
    re.push_str(match (dir_only, wild_last || body.ends_with("/**")) {
        (true, _) => "/.*$",
        (false, true) => "$",
        (false, false) => "(?:/.*)?$",
    });
    Regex::new(&re).map_err(|e| format!("{pattern:?}: {e}"))
}

/// The glob as a regular expression: `**/` any directories, `/**` anything below, `**` anything, `*`
/// and `?` within one path segment.
fn translate(glob: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = glob.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '*' && chars.get(i + 1) == Some(&'*') {
            let at_start = i == 0 || chars[i - 1] == '/';
            if at_start && chars.get(i + 2) == Some(&'/') {
                out.push_str("(?:.*/)?");
                i += 3;
            } else {
                out.push_str(".*");
                i += 2;
            }
            continue;
        }
        match c {
            '*' => out.push_str("[^/]*"),
            '?' => out.push_str("[^/]"),
            other => out.push_str(&regex::escape(&other.to_string())),
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The examples of GitHub's documentation ("About code owners", example of a CODEOWNERS file).
    const GITHUB_EXAMPLE: &str = r"
# These owners will be the default owners for everything in
# the repo. Unless a later match takes precedence,
# @global-owner1 and @global-owner2 will be requested for
# review when someone opens a pull request.
*       @global-owner1 @global-owner2

# Order is important; the last matching pattern takes the most
# precedence.
*.js    @js-owner #This is an inline comment.
*.go docs@example.com
*.txt @octo-org/octocats
/build/logs/ @doctocat
docs/*  docs@example.com
apps/ @octocat
/docs/ @doctocat
/scripts/ @doctocat @octocat
**/logs @octocat
/apps/ @octocat
/apps/github
/mobile/ @octo-org/mobile
/mobile/ios/ @octo-org/ios
";

    fn owners<'a>(c: &'a CodeOwners, path: &str) -> Vec<&'a str> {
        c.owners_of(path).iter().map(String::as_str).collect()
    }

    #[test]
    fn follows_githubs_documented_example() {
        let c = CodeOwners::parse(GITHUB_EXAMPLE);
        assert!(c.skipped.is_empty(), "{:?}", c.skipped);
        assert_eq!(
            owners(&c, "README.md"),
            ["@global-owner1", "@global-owner2"]
        );
        assert_eq!(owners(&c, "src/app/index.js"), ["@js-owner"]);
        assert_eq!(owners(&c, "main.go"), ["docs@example.com"]);
        assert_eq!(owners(&c, "a/b/notes.txt"), ["@octo-org/octocats"]);
        assert_eq!(
            owners(&c, "build/logs/today.log"),
            ["@octocat"],
            "**/logs comes later"
        );
        assert_eq!(owners(&c, "src/build/logs/x.log"), ["@octocat"]);
        assert_eq!(
            owners(&c, "docs/getting-started.md"),
            ["@doctocat"],
            "/docs/ comes later"
        );
        assert_eq!(
            owners(&c, "sub/docs/getting-started.md"),
            ["@global-owner1", "@global-owner2"],
            "docs/* is anchored"
        );
        let docs = CodeOwners::parse("* @all\ndocs/*  docs@example.com\n");
        assert_eq!(
            owners(&docs, "docs/getting-started.md"),
            ["docs@example.com"]
        );
        assert_eq!(
            owners(&docs, "docs/build-app/troubleshooting.md"),
            ["@all"],
            "docs/* does not descend"
        );
        assert_eq!(
            owners(&c, "web/apps/x.yaml"),
            ["@octocat"],
            "apps/ at any depth"
        );
        assert!(
            owners(&c, "apps/github/x.yaml").is_empty(),
            "a pattern without owners leaves it unowned"
        );
        assert_eq!(owners(&c, "apps/other/x.yaml"), ["@octocat"]);
        assert_eq!(owners(&c, "mobile/ios/App.swift"), ["@octo-org/ios"]);
        assert_eq!(owners(&c, "mobile/android/A.kt"), ["@octo-org/mobile"]);
        assert_eq!(owners(&c, "scripts/run.sh"), ["@doctocat", "@octocat"]);
    }

    #[test]
    fn skips_what_github_does_not_support_and_keeps_escaped_hashes() {
        let c = CodeOwners::parse("!secret @a\n[ab].txt @b\n\\#notes @c\n/apps/shop @d\n");
        assert_eq!(c.skipped.len(), 2, "{:?}", c.skipped);
        assert!(
            c.skipped[0].starts_with("line 1: \"!secret\""),
            "{:?}",
            c.skipped
        );
        assert_eq!(owners(&c, "#notes"), ["@c"]);
        assert_eq!(owners(&c, "apps/shop/deploy.yaml"), ["@d"]);
        assert_eq!(owners(&c, "apps/shop"), ["@d"]);
        assert!(owners(&c, "x/apps/shop/deploy.yaml").is_empty(), "anchored");
        assert!(
            owners(&c, "Apps/shop/deploy.yaml").is_empty(),
            "case-sensitive"
        );
    }
}
