//! One exit-code table for the whole binary (README, "Exit codes"), tested command by command, and the
//! errors a user meets first, each checked for the hint that names the fix. Every case runs the real
//! binary in a prepared directory; a case that no longer holds names itself.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | done |
//! | 1 | the check failed or the action was refused |
//! | 2 | usage or input error: nothing was done |
//! | 3 | the maintenance window is closed |

use crate::support::{bin, project_root, stderr};
use std::path::PathBuf;
use std::process::{Command, Output};

/// A directory with what the cases need: a valid log, a broken one, none, an app in a Git repository
/// with a change in its working tree, commit messages, a key pair.
struct World {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl World {
    fn new() -> World {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let log = project_root().join("tests/fixtures/docs/audit.jsonl");
        for dir in ["data", "broken", "empty", "archive"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        std::fs::copy(&log, root.join("data/audit.jsonl")).unwrap();
        let text = std::fs::read_to_string(&log).unwrap();
        std::fs::write(
            root.join("broken/audit.jsonl"),
            text.replacen("\"phase\":\"Succeeded\"", "\"phase\":\"Failed\"", 1),
        )
        .unwrap();
        // An app in a Git repository, with a change in the working tree.
        let app = root.join("repo/apps/web");
        std::fs::create_dir_all(&app).unwrap();
        std::fs::write(
            app.join(".sluice.yaml"),
            "apiVersion: sluice.io/v1alpha1\nkind: ChangePolicy\n",
        )
        .unwrap();
        std::fs::write(
            app.join("cm.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {a: '1'}\n",
        )
        .unwrap();
        let nothing = root.join("repo/apps/nothing");
        std::fs::create_dir_all(&nothing).unwrap();
        std::fs::write(
            nothing.join(".sluice.yaml"),
            "apiVersion: sluice.io/v1alpha1\nkind: ChangePolicy\n",
        )
        .unwrap();
        std::fs::write(nothing.join("notes.yaml"), "# only a comment\n").unwrap();
        let git = |args: &[&str]| {
            let out = Command::new("git")
                .args(["-c", "user.name=T", "-c", "user.email=t@example.com"])
                .args(args)
                .current_dir(root.join("repo"))
                .output()
                .expect("git (tests/run installs it)");
            assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
        };
        git(&["init", "-q"]);
        git(&["add", "-A"]);
        git(&["commit", "-q", "-m", "CHG-1: web"]);
        std::fs::write(
            app.join("cm.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {a: '2'}\n",
        )
        .unwrap();
        std::fs::write(
            root.join("good.msg"),
            "CHG-1: raise replicas\n\nApproved-by: Bo <bo@example.com>\n",
        )
        .unwrap();
        std::fs::write(root.join("bad.msg"), "raise replicas\n").unwrap();
        std::fs::write(root.join("token"), "wr1te").unwrap();
        let world = World { _tmp: tmp, root };
        let keygen = world.run(
            &[
                "audit",
                "keygen",
                "--name",
                "example.com/log",
                "--out",
                "key",
            ],
            &[],
        );
        assert_eq!(keygen.status.code(), Some(0), "{}", stderr(&keygen));
        // A witness key, an inclusion proof of record 1, and records 1 and 2 as lines.
        let witness = world.run(
            &["witness", "keygen", "--name", "w.example", "--out", "wk"],
            &[],
        );
        assert_eq!(witness.status.code(), Some(0), "{}", stderr(&witness));
        let prove = world.run(
            &[
                "audit",
                "prove",
                "--seq",
                "1",
                "--data-dir",
                "@data",
                "--out",
                "@proofs",
            ],
            &[],
        );
        assert_eq!(prove.status.code(), Some(0), "{}", stderr(&prove));
        for (n, line) in text.lines().take(2).enumerate() {
            std::fs::write(world.root.join(format!("rec{}", n + 1)), line).unwrap();
        }
        world
    }

    fn path(&self, rel: &str) -> String {
        self.root.join(rel).display().to_string()
    }

    /// Runs sluice in the world's root (`@x` in an argument is the absolute path of `x`), with a clean
    /// environment plus `env`.
    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let args: Vec<String> = args
            .iter()
            .map(|a| match a.strip_prefix('@') {
                Some(rel) => self.path(rel),
                None => (*a).to_owned(),
            })
            .collect();
        let mut cmd = Command::new(bin());
        cmd.args(&args).current_dir(&self.root).env_clear();
        if let Ok(path) = std::env::var("PATH") {
            cmd.env("PATH", path);
        }
        cmd.env("SLUICE_NOW", "2026-11-30T12:00:00Z");
        for (k, v) in env {
            cmd.env(k, v);
        }
        // A sink that starts by mistake must not hang the test.
        cmd.stdin(std::process::Stdio::null());
        cmd.output().expect("run sluice")
    }
}

/// One case: the words after `sluice` (run in the world's root, or `dir` below it), the environment,
/// the exit code, and what stderr must say (the hint).
struct Case {
    args: &'static [&'static str],
    dir: Option<&'static str>,
    env: &'static [(&'static str, &'static str)],
    exit: i32,
    says: &'static [&'static str],
}

const fn case(args: &'static [&'static str], exit: i32, says: &'static [&'static str]) -> Case {
    Case {
        args,
        dir: None,
        env: &[],
        exit,
        says,
    }
}

const SHOP: &str = "examples/shop/.sluice.yaml";
const ALLOW: &str =
    r#"{"windows":[{"kind":"allow","schedule":"* * * * *","duration":"1h","applications":["*"]}]}"#;
const DENY: &str = r#"{"windows":[{"kind":"deny","schedule":"* * * * *","duration":"1h","applications":["*"],"description":"always"}]}"#;
/// A verification whose one check cannot reach its URL (port 9, discard: nothing listens): Error at
/// once; `record` lets the sync stand, `fail-sync` fails the hook.
const VERIFY_RECORD: &str = r#"{"within":"1m","onFailure":"record","checks":[{"name":"up","http":{"url":"http://127.0.0.1:9/"},"count":1,"consecutiveErrorLimit":0}]}"#;
const VERIFY_FAIL: &str = r#"{"within":"1m","onFailure":"fail-sync","checks":[{"name":"up","http":{"url":"http://127.0.0.1:9/"},"count":1,"consecutiveErrorLimit":0}]}"#;

/// Every command, each exit code it can give.
fn table() -> Vec<Case> {
    vec![
        // generate (in the app's directory), render
        Case {
            dir: Some("repo/apps/web"),
            ..case(&["generate"], 0, &[])
        },
        Case {
            dir: Some("repo/apps"),
            ..case(&["generate"], 2, &[".sluice.yaml: not found"])
        },
        Case {
            dir: Some("repo/apps/nothing"),
            ..case(&["generate"], 2, &["renders to no objects"])
        },
        case(&["render", "@repo/apps/web"], 0, &[]),
        case(
            &["render", "@repo/apps/nothing"],
            2,
            &["renders to no objects"],
        ),
        case(&["render", "@nowhere"], 2, &["not a directory"]),
        case(
            &["render", "@repo/apps/web", "--env", "X"],
            2,
            &["expected KEY=VALUE"],
        ),
        // diff (in the repository)
        Case {
            dir: Some("repo"),
            ..case(&["diff", "apps/web"], 0, &[])
        },
        Case {
            dir: Some("repo"),
            ..case(&["diff", "apps/web", "--exit-code"], 1, &[])
        },
        Case {
            dir: Some("repo"),
            ..case(
                &["diff", "apps/web", "--base", "nosuch"],
                2,
                &["git branch -a"],
            )
        },
        Case {
            dir: Some("repo"),
            ..case(
                &["diff", "apps/web", "--base", "nosuch", "--exit-code"],
                2,
                &["revision \"nosuch\""],
            )
        },
        // window check: allowed, closed, invalid
        case(
            &[
                "window",
                "check",
                "--policy",
                "@nowhere.yaml",
                "--app",
                "shop",
            ],
            2,
            &["nowhere.yaml"],
        ),
        // guard: allowed, closed, invalid policy
        Case {
            env: &[("SLUICE_GUARD_POLICY", ALLOW), ("SLUICE_APP", "shop")],
            ..case(&["guard"], 0, &[])
        },
        Case {
            env: &[("SLUICE_GUARD_POLICY", DENY), ("SLUICE_APP", "shop")],
            ..case(&["guard"], 3, &["blocked: deny window 'always'"])
        },
        Case {
            env: &[("SLUICE_GUARD_POLICY", "{\"windows\": 1}")],
            ..case(&["guard"], 2, &[])
        },
        case(
            &["guard"],
            2,
            &["SLUICE_GUARD_POLICY", "sluice window check --policy FILE"],
        ),
        // verify (the PostSync hook): the verdict stands, fails the sync, or the policy is unusable
        Case {
            env: &[
                ("SLUICE_VERIFY_POLICY", VERIFY_RECORD),
                ("SLUICE_APP", "shop"),
            ],
            ..case(&["verify"], 0, &[])
        },
        Case {
            env: &[
                ("SLUICE_VERIFY_POLICY", VERIFY_FAIL),
                ("SLUICE_APP", "shop"),
            ],
            ..case(
                &["verify"],
                1,
                &["verification Error", "onFailure: fail-sync"],
            )
        },
        Case {
            env: &[("SLUICE_VERIFY_POLICY", "{"), ("SLUICE_APP", "shop")],
            ..case(&["verify"], 2, &["SLUICE_VERIFY_POLICY is not JSON"])
        },
        // serve: refused before anything starts, or a log that does not verify
        case(
            &["serve", "--data-dir", "@s1"],
            2,
            &["--token-file FILE", "--insecure-no-auth"],
        ),
        case(
            &[
                "serve",
                "--data-dir",
                "@s2",
                "--token-file",
                "@token",
                "--listen",
                "nonsense",
            ],
            2,
            &["--listen \"nonsense\"", "127.0.0.1:8080"],
        ),
        case(
            &["serve", "--data-dir", "@s3", "--token-file", "@nowhere"],
            2,
            &["--token-file", "sluice-sink-token"],
        ),
        case(
            &[
                "serve",
                "--data-dir",
                "@broken",
                "--insecure-no-auth",
                "--listen",
                "127.0.0.1:0",
            ],
            1,
            &["line 3 (seq 3)", "hash does not match"],
        ),
        // audit verify, list, show, exceptions
        case(&["audit", "verify", "--data-dir", "@data"], 0, &[]),
        case(
            &["audit", "verify", "--data-dir", "@broken"],
            1,
            &["hash does not match"],
        ),
        case(
            &["audit", "verify", "--data-dir", "@empty"],
            2,
            &[
                "has no audit log",
                "--data-dir",
                "SLUICE_DATA_DIR",
                "--server",
            ],
        ),
        case(
            &["audit", "verify", "-o", "csv", "--data-dir", "@data"],
            2,
            &["[possible values: table, json, yaml]"],
        ),
        case(&["audit", "list", "--data-dir", "@data"], 0, &[]),
        case(
            &["audit", "list", "--data-dir", "@nowhere"],
            2,
            &[
                "no data directory at",
                "--data-dir",
                "SLUICE_DATA_DIR",
                "--server",
            ],
        ),
        case(
            &[
                "audit",
                "list",
                "--data-dir",
                "@data",
                "--since",
                "yesterday",
            ],
            2,
            &["24h"],
        ),
        case(
            &["audit", "list", "--server", "http://127.0.0.1:9"],
            1,
            &["is the sink reachable"],
        ),
        case(
            &["audit", "show", "CHG-1240", "--data-dir", "@data"],
            0,
            &[],
        ),
        case(
            &["audit", "show", "CHG-9", "--data-dir", "@data"],
            1,
            &["sluice audit list shows the change ids"],
        ),
        case(
            &[
                "audit",
                "show",
                "CHG-9",
                "--format",
                "wide",
                "--data-dir",
                "@data",
            ],
            2,
            &["[possible values: table, json, yaml, csv]"],
        ),
        case(
            &["audit", "exceptions", "--data-dir", "@data", "-o", "csv"],
            0,
            &[],
        ),
        case(
            &["audit", "exceptions", "--data-dir", "@empty"],
            2,
            &["--data-dir"],
        ),
        // audit keygen, archive, export
        case(
            &[
                "audit",
                "keygen",
                "--name",
                "example.com/log2",
                "--out",
                "@other",
            ],
            0,
            &[],
        ),
        case(
            &[
                "audit",
                "keygen",
                "--name",
                "example.com/log",
                "--out",
                "@key",
            ],
            1,
            &["exists already"],
        ),
        case(
            &["audit", "keygen", "--name", "a b", "--out", "@k2"],
            2,
            &["--name"],
        ),
        case(
            &[
                "audit",
                "archive",
                "--data-dir",
                "@data",
                "--archive",
                "@archive",
            ],
            0,
            &[],
        ),
        case(
            &[
                "audit",
                "archive",
                "--data-dir",
                "@empty",
                "--archive",
                "@archive",
            ],
            2,
            &["--data-dir"],
        ),
        case(
            &[
                "audit",
                "export",
                "--data-dir",
                "@data",
                "--public-key",
                "@key.pub",
                "--from",
                "2026-11-01T00:00:00Z",
                "--to",
                "2026-12-01T00:00:00Z",
                "--out",
                "@bundle",
            ],
            1,
            &["checkpoint"],
        ),
        case(
            &[
                "audit",
                "export",
                "--data-dir",
                "@data",
                "--public-key",
                "@key.pub",
                "--from",
                "x",
                "--to",
                "y",
                "--out",
                "@bundle",
            ],
            2,
            &["RFC 3339"],
        ),
        case(
            &[
                "audit",
                "export",
                "--data-dir",
                "@data",
                "--public-key",
                "@nowhere.pub",
                "--from",
                "2026-11-01T00:00:00Z",
                "--to",
                "2026-12-01T00:00:00Z",
                "--out",
                "@bundle",
            ],
            2,
            &["nowhere.pub", "sluice audit keygen"],
        ),
        // audit rejudge, review, prove, check-proof
        case(
            &["audit", "rejudge", "1", "--data-dir", "@data"],
            1,
            &["no approval or ticket evidence"],
        ),
        case(
            &["audit", "rejudge", "1", "--data-dir", "@empty"],
            2,
            &["has no audit log", "--data-dir"],
        ),
        case(
            &[
                "audit",
                "review",
                "CHG-1",
                "--by",
                "bo",
                "--note",
                "ok",
                "--data-dir",
                "@data",
            ],
            1,
            &["no emergency change CHG-1"],
        ),
        case(
            &[
                "audit",
                "review",
                "CHG-1",
                "--by",
                "",
                "--note",
                "ok",
                "--data-dir",
                "@data",
            ],
            2,
            &["--by is empty"],
        ),
        case(
            &["audit", "prove", "--seq", "2", "--data-dir", "@data"],
            0,
            &[],
        ),
        case(
            &["audit", "prove", "--seq", "99", "--data-dir", "@data"],
            1,
            &["--seq 99: not in the tree"],
        ),
        case(
            &["audit", "prove", "--seq", "1", "--data-dir", "@empty"],
            2,
            &["has no audit log", "--data-dir"],
        ),
        case(
            &[
                "audit",
                "check-proof",
                "@proofs/1.tlog-proof",
                "--record",
                "@rec1",
            ],
            0,
            &[],
        ),
        case(
            &[
                "audit",
                "check-proof",
                "@proofs/1.tlog-proof",
                "--record",
                "@rec2",
            ],
            1,
            &["the inclusion proof does not verify"],
        ),
        case(
            &[
                "audit",
                "check-proof",
                "@nowhere.tlog-proof",
                "--record",
                "@rec1",
            ],
            2,
            &["nowhere.tlog-proof"],
        ),
        // witness keygen, serve
        case(
            &["witness", "keygen", "--name", "w2.example", "--out", "@wk2"],
            0,
            &[],
        ),
        case(
            &["witness", "keygen", "--name", "w.example", "--out", "@wk"],
            1,
            &["exists already"],
        ),
        case(
            &["witness", "keygen", "--name", "a b", "--out", "@wk3"],
            2,
            &["--name"],
        ),
        case(
            &[
                "witness",
                "serve",
                "--state-dir",
                "@wstate",
                "--key-file",
                "@wk.key",
                "--log-key",
                "@nowhere.pub",
                "--listen",
                "127.0.0.1:0",
            ],
            2,
            &["nowhere.pub", "sluice audit keygen"],
        ),
        // lint-commit
        case(
            &["lint-commit", "@good.msg", "--min-approvers", "1"],
            0,
            &[],
        ),
        case(
            &["lint-commit", "@bad.msg"],
            1,
            &["must start with a change id"],
        ),
        case(&["lint-commit", "@nowhere.msg"], 2, &["commit-msg hook"]),
        case(
            &["lint-commit", "@good.msg", "--pattern", "("],
            2,
            &["--pattern"],
        ),
        // the binary itself
        case(&["no-such-command"], 2, &["unrecognized subcommand"]),
    ]
}

/// The cases of `window check` need the example policy's path, which `table` cannot name statically.
fn window_cases() -> Vec<(Vec<String>, i32, Vec<&'static str>)> {
    let shop = project_root().join(SHOP).display().to_string();
    let check = |at: &str| {
        vec![
            "window".to_owned(),
            "check".into(),
            "--policy".into(),
            shop.clone(),
            "--app".into(),
            "shop".into(),
            "--at".into(),
            at.to_owned(),
        ]
    };
    vec![
        (check("2026-11-24T02:10:00+01:00"), 0, vec![]),
        (check("2026-11-25T15:00:00+01:00"), 3, vec![]),
        (
            check("tomorrow"),
            2,
            vec!["write e.g. 2026-11-24T02:00:00Z"],
        ),
    ]
}

/// What is wrong with the outcome of a case, if anything.
fn check(args: &[String], out: &Output, exit: i32, says: &[&str]) -> Option<String> {
    let err = stderr(out);
    let mut wrong = Vec::new();
    if out.status.code() != Some(exit) {
        wrong.push(format!("exit {:?}, not {exit}", out.status.code()));
    }
    for hint in says {
        if !err.contains(hint) {
            wrong.push(format!("stderr does not say {hint:?}"));
        }
    }
    if exit != 0 && err.contains("panicked") {
        wrong.push("it panicked".into());
    }
    (!wrong.is_empty()).then(|| {
        format!(
            "sluice {}: {}\n  stderr: {err}",
            args.join(" "),
            wrong.join("; ")
        )
    })
}

fn run_case(world: &World, c: &Case) -> (Vec<String>, Output) {
    let args: Vec<String> = c.args.iter().map(|a| (*a).to_owned()).collect();
    let out = match c.dir {
        None => world.run(c.args, c.env),
        Some(dir) => {
            let mut cmd = Command::new(bin());
            cmd.args(c.args.iter().map(|a| match a.strip_prefix('@') {
                Some(rel) => world.path(rel),
                None => (*a).to_owned(),
            }))
            .current_dir(world.root.join(dir))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default());
            cmd.output().expect("run sluice")
        }
    };
    (args, out)
}

#[test]
fn every_command_exits_by_the_one_table_and_names_the_fix() {
    let world = World::new();
    let mut problems = Vec::new();
    let mut commands = std::collections::BTreeSet::new();
    let cases = table();
    for c in &cases {
        let (args, out) = run_case(&world, c);
        problems.extend(check(&args, &out, c.exit, c.says));
        commands.insert(command_of(c.args));
    }
    for (args, exit, says) in window_cases() {
        let words: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = world.run(&words, &[]);
        problems.extend(check(&args, &out, exit, &says));
        commands.insert(command_of(&words));
    }
    assert!(
        problems.is_empty(),
        "{} cases do not hold:\n{}",
        problems.len(),
        problems.join("\n")
    );
    // Every command of the binary is in the table (the clap tree, as the grammar test walks it).
    let help = String::from_utf8(world.run(&["help"], &[]).stdout).unwrap();
    for line in help
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
    {
        let Some(name) = line.split_whitespace().next() else {
            break;
        };
        if name != "help" && !GROUPS.contains(&name) {
            assert!(commands.contains(name), "{name} has no exit-code case");
        }
    }
    // And every subcommand of each group, as its help lists them.
    for group in GROUPS {
        let help = String::from_utf8(world.run(&["help", group], &[]).stdout).unwrap();
        let subs: Vec<&str> = help
            .lines()
            .skip_while(|l| !l.starts_with("Commands:"))
            .skip(1)
            .map_while(|l| l.split_whitespace().next())
            .filter(|name| *name != "help")
            .collect();
        assert!(!subs.is_empty(), "sluice help {group} lists no commands");
        for sub in subs {
            let sub = format!("{group} {sub}");
            assert!(commands.contains(&sub), "{sub} has no exit-code case");
        }
    }
}

/// The commands that group subcommands.
const GROUPS: [&str; 3] = ["audit", "window", "witness"];

/// `generate`, `audit list`, …: the command a case runs.
fn command_of(args: &[&str]) -> String {
    match args {
        [group @ ("audit" | "window" | "witness"), sub, ..] => format!("{group} {sub}"),
        [one, ..] => (*one).to_owned(),
        [] => String::new(),
    }
}

#[test]
fn the_table_is_the_one_readme_states() {
    let readme = std::fs::read_to_string(project_root().join("README.md")).unwrap();
    for row in [
        "| 0 | done",
        "| 1 | the check failed or the action was refused",
        "| 2 | usage or input error",
        "| 3 | the maintenance window is closed",
    ] {
        assert!(
            readme.contains(row),
            "README.md's exit-code table has no row {row:?}"
        );
    }
}

#[test]
fn a_case_that_does_not_hold_is_named() {
    // The control: the checks above fail on a wrong code or a missing hint.
    let world = World::new();
    let c = case(
        &["audit", "list", "--data-dir", "@nowhere"],
        2,
        &["--data-dir"],
    );
    let (args, out) = run_case(&world, &c);
    assert_eq!(check(&args, &out, 2, &["--data-dir"]), None);
    let wrong_code = check(&args, &out, 1, &[]).expect("a wrong exit code is caught");
    assert!(wrong_code.contains("exit Some(2), not 1"), "{wrong_code}");
    let no_hint = check(&args, &out, 2, &["kubectl apply"]).expect("a missing hint is caught");
    assert!(
        no_hint.contains("does not say \"kubectl apply\""),
        "{no_hint}"
    );
}

#[test]
fn the_sink_names_its_address_as_an_address() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = crate::support::Sink::start(&dir.path().join("data"), None);
    let log = sink.stderr();
    assert!(log.contains(&format!("addr={}", sink.addr)), "{log}");
    assert!(!log.contains("Some("), "{log}");
    sink.kill();
}

/// The commit-msg hook of docs/audit-log.md, as written there, installed in a real repository: git
/// refuses a commit whose message breaks the rules (the hook exits 1 and says why) and takes one that
/// keeps them.
#[test]
fn the_documented_commit_msg_hook_refuses_a_bad_message_and_takes_a_good_one() {
    let doc = std::fs::read_to_string(project_root().join("docs/audit-log.md")).unwrap();
    let section = doc
        .split("### lint-commit as a commit-msg hook and in CI")
        .nth(1)
        .expect("the hook section");
    let script = section
        .split("```sh\n")
        .nth(1)
        .and_then(|s| s.split("\n```").next())
        .expect("the hook's sh block");
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path();
    let bin_dir = std::path::Path::new(bin()).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let sh = |script: &str| {
        Command::new("sh")
            .args(["-c", script])
            .current_dir(repo)
            .env("PATH", &path)
            .env("GIT_AUTHOR_NAME", "Ann Author")
            .env("GIT_AUTHOR_EMAIL", "ann@example.com")
            .env("GIT_COMMITTER_NAME", "Ann Author")
            .env("GIT_COMMITTER_EMAIL", "ann@example.com")
            .output()
            .expect("sh")
    };
    assert!(sh("git init -q").status.success());
    let installed = sh(script);
    assert!(installed.status.success(), "{}", stderr(&installed));
    std::fs::write(repo.join("a.txt"), "a").unwrap();
    let bad = sh("git add a.txt && git commit -q -m 'raise replicas'");
    assert!(!bad.status.success(), "a bad message was committed");
    assert!(
        stderr(&bad).contains("must start with a change id"),
        "{}",
        stderr(&bad)
    );
    // The author does not approve their own change: the hook passes --author from git.
    let own = sh("git commit -q -m 'CHG-7: raise replicas' -m 'Approved-by: Ann Author <ann@example.com>\nRollback: revert'");
    assert!(
        !own.status.success(),
        "the author approved their own change"
    );
    assert!(stderr(&own).contains("found 0"), "{}", stderr(&own));
    let good = sh("git commit -q -m 'CHG-7: raise replicas' -m 'Approved-by: Bo <bo@example.com>\nRollback: revert'");
    assert!(good.status.success(), "{}", stderr(&good));
}
