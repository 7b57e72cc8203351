//! One flag grammar for the whole binary (README, "Commands"): every command that prints data takes
//! `-o/--output` (with `--format` as a hidden alias), with the value set of its kind of output, and its
//! help lists exactly the values it accepts. The test walks the whole clap tree: a new command must be
//! classified here, and a command whose output flag drifts fails with the command named.

use super::Cli;
use clap::{Arg, Command, CommandFactory};

/// The kinds of output and their values, the default first.
const MANIFESTS: &[&str] = &["yaml", "json"];
const REVIEW: &[&str] = &["text", "markdown", "json"];
const DECISION: &[&str] = &["json", "yaml"];
const RECORDS: &[&str] = &["table", "wide", "json", "yaml", "csv"];
const CHANGE: &[&str] = &["table", "json", "yaml", "csv"];
const SUMMARY: &[&str] = &["table", "json", "yaml"];

/// A leaf command: its path, its kind of output (`Err`: it prints no data to choose a form for, and why),
/// and the arguments that make a minimal valid call of it.
type Entry = (
    &'static str,
    Result<&'static [&'static str], &'static str>,
    &'static [&'static str],
);

/// Every leaf command.
const COMMANDS: &[Entry] = &[
    (
        "generate",
        Err("JSON documents, the form Argo CD's plugin contract fixes; `render -o` is the same for people"),
        &[],
    ),
    ("render", Ok(MANIFESTS), &["dir"]),
    ("diff", Ok(REVIEW), &[]),
    ("window check", Ok(DECISION), &["--policy", "p"]),
    ("guard", Ok(DECISION), &[]),
    ("serve", Err("a server: it prints logs only"), &[]),
    ("audit verify", Ok(SUMMARY), &[]),
    ("audit list", Ok(RECORDS), &[]),
    ("audit show", Ok(CHANGE), &["CHG-1"]),
    ("audit exceptions", Ok(RECORDS), &[]),
    ("audit keygen", Err("writes key files; prints the public key in Go's note key form"), &[]),
    ("audit archive", Err("copies objects; prints one status line"), &[]),
    ("audit export", Err("writes a bundle; prints where"), &[]),
    ("lint-commit", Err("a check: the exit code and the problems on stderr"), &["msg"]),
    ("verify", Ok(DECISION), &["--policy-json", "{}"]),
    (
        "audit rejudge",
        Err("a check: the comparison as text, exit 1 when a verdict differs"),
        &["1"],
    ),
    ("audit review", Err("records a review; prints one status line"), &["CHG-1"]),
    (
        "audit prove",
        Err("prints C2SP tlog-proofs, the fixed text form check-proof and other tools read"),
        &[],
    ),
    ("audit check-proof", Err("a check: the exit code and one line"), &["p"]),
    (
        "witness keygen",
        Err("writes key files; prints the public key in Go's note key form"),
        &[],
    ),
    ("witness serve", Err("a server: it prints logs only"), &[]),
];

/// Every leaf command of `cmd` as its path below the binary ("audit list").
fn leaves(cmd: &Command, path: &str, out: &mut Vec<(String, Command)>) {
    let subs: Vec<&Command> = cmd
        .get_subcommands()
        .filter(|s| s.get_name() != "help")
        .collect();
    if subs.is_empty() {
        out.push((path.trim().to_owned(), cmd.clone()));
    }
    for sub in subs {
        leaves(sub, &format!("{path} {}", sub.get_name()), out);
    }
}

fn output_arg(cmd: &Command) -> Option<&Arg> {
    cmd.get_arguments()
        .find(|a| a.get_long() == Some("output") || a.get_short() == Some('o'))
}

/// Everything in `root` that breaks the grammar, one line per problem naming the command.
fn problems(root: &Command) -> Vec<String> {
    let mut found = Vec::new();
    let mut all = Vec::new();
    leaves(root, "", &mut all);
    for (path, _) in &all {
        if !COMMANDS.iter().any(|(p, _, _)| p == path) {
            found.push(format!(
                "{path}: not classified in COMMANDS (does it print data?)"
            ));
        }
    }
    for (path, kind, minimal) in COMMANDS {
        let Some((_, cmd)) = all.iter().find(|(p, _)| p == path) else {
            found.push(format!("{path}: in COMMANDS but not a command"));
            continue;
        };
        let arg = output_arg(cmd);
        let values = match (kind, arg) {
            (Err(_), None) => continue,
            (Err(why), Some(_)) => {
                found.push(format!(
                    "{path}: has -o/--output but is classified as printing no data ({why})"
                ));
                continue;
            }
            (Ok(_), None) => {
                found.push(format!("{path}: prints data but has no -o/--output"));
                continue;
            }
            (Ok(values), Some(arg)) => {
                check_arg(path, arg, values, &mut found);
                values
            }
        };
        check_parses(root, path, minimal, values, &mut found);
        check_help(cmd, path, values, &mut found);
    }
    found
}

/// The flag itself: `-o`, `--output`, the hidden alias `--format`, the kind's values, its default.
fn check_arg(path: &str, arg: &Arg, values: &[&str], found: &mut Vec<String>) {
    if arg.get_short() != Some('o') || arg.get_long() != Some("output") {
        found.push(format!("{path}: the output flag must be -o/--output"));
    }
    let all_aliases = arg.get_all_aliases().unwrap_or_default();
    if !all_aliases.contains(&"format") {
        found.push(format!("{path}: --format is not an alias of --output"));
    }
    if arg.get_visible_aliases().is_some_and(|v| !v.is_empty()) {
        found.push(format!(
            "{path}: --output has visible aliases; --format must be hidden"
        ));
    }
    let accepted: Vec<String> = arg
        .get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| v.get_name().to_owned())
        .collect();
    if accepted != values {
        found.push(format!(
            "{path}: -o accepts {accepted:?}, its kind is {values:?}"
        ));
    }
    for value in arg.get_possible_values() {
        if value.get_help().is_none() {
            found.push(format!("{path}: -o {} has no help text", value.get_name()));
        }
    }
    let default: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    if default != [values[0]] {
        found.push(format!(
            "{path}: -o defaults to {default:?}, not {:?}",
            values[0]
        ));
    }
}

/// Each value parses under `-o`, `--output` and `--format`; a value of another kind does not.
fn check_parses(
    root: &Command,
    path: &str,
    minimal: &[&str],
    values: &[&str],
    found: &mut Vec<String>,
) {
    let call = |flag: &str, value: &str| {
        let mut argv = vec!["sluice"];
        argv.extend(path.split(' '));
        argv.extend(minimal);
        argv.extend([flag, value]);
        root.clone().try_get_matches_from(argv)
    };
    for value in values {
        for flag in ["-o", "--output", "--format"] {
            if let Err(e) = call(flag, value) {
                found.push(format!("{path}: {flag} {value} is refused: {}", e.kind()));
            }
        }
    }
    let others = [MANIFESTS, REVIEW, DECISION, RECORDS, CHANGE, SUMMARY].concat();
    for other in others.iter().filter(|o| !values.contains(o)) {
        if call("-o", other).is_ok() {
            found.push(format!(
                "{path}: -o {other} is accepted but not of its kind"
            ));
        }
    }
}

/// `--help` lists exactly the accepted values.
fn check_help(cmd: &Command, path: &str, values: &[&str], found: &mut Vec<String>) {
    let help = cmd.clone().render_help().to_string();
    let listed = format!("[possible values: {}]", values.join(", "));
    if !help.contains(&listed) {
        found.push(format!("{path}: --help does not list {listed}:\n{help}"));
    }
}

#[test]
fn every_command_that_prints_data_takes_one_output_grammar() {
    let root = Cli::command();
    root.clone().debug_assert();
    assert_eq!(problems(&root), Vec::<String>::new());
}

#[test]
fn the_grammar_check_names_a_command_that_drifts() {
    // The controls: each breaks one rule on purpose, on a copy of the real tree.
    let root = Cli::command();
    let audit = |f: fn(Command) -> Command| {
        root.clone()
            .mut_subcommand("audit", |a| a.mut_subcommand("verify", f))
    };
    let cases: Vec<(Command, &str)> = vec![
        (
            audit(|v| {
                v.mut_arg("output", |a| {
                    a.value_parser(["table", "wide", "json", "yaml", "csv"])
                })
            }),
            "audit verify: -o accepts",
        ),
        (
            audit(|v| v.mut_arg("output", |a| a.alias(None::<&str>))),
            "audit verify: --format is not an alias",
        ),
        (
            audit(|v| v.mut_arg("output", |a| a.alias(None::<&str>).visible_alias("format"))),
            "audit verify: --output has visible aliases",
        ),
        (
            root.clone().mut_subcommand("render", |r| {
                r.mut_arg("output", |a| a.default_value("json"))
            }),
            "render: -o defaults to",
        ),
        (
            root.clone().mut_subcommand("audit", |a| {
                a.mut_subcommand("list", |l| l.mut_arg("output", |o| o.long("format-of")))
            }),
            "audit list: the output flag must be -o/--output",
        ),
        (
            root.clone().subcommand(Command::new("status").about("new")),
            "status: not classified",
        ),
        (
            root.clone().mut_subcommand("lint-commit", |l| {
                l.arg(Arg::new("output").short('o').long("output"))
            }),
            "lint-commit: has -o/--output",
        ),
    ];
    for (tree, expected) in cases {
        let found = problems(&tree);
        assert!(
            found.iter().any(|p| p.starts_with(expected)),
            "expected a problem starting {expected:?}, got {found:#?}"
        );
    }
}
