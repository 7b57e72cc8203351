//! Integration tests: `sluice window check` and `sluice guard`, run as a user runs them.
//!
//! The conformance table below is derived from Argo CD's own sync-window tests
//! (`pkg/apis/application/v1alpha1/types_test.go`: `TestSyncWindows_Active`,
//! `TestSyncWindows_InactiveAllows`, `TestSyncWindow_Active`, `TestSyncWindows_CanSync`,
//! `TestSyncWindows_Matches`), rewritten with concrete instants, plus parser, DST, edge, midnight,
//! weekend, day-of-month/day-of-week, freeze and emergency cases. Every case writes a policy file into
//! a temp dir and runs the binary with `--at`; expected values were worked out by hand from the rules
//! (docs/windows.md), not recorded from the implementation.

use crate::support::{sluice_in, stderr, stdout};
use serde_json::Value;
use std::path::Path;

/// One window as written in `.sluice.yaml`.
#[derive(Clone)]
struct W {
    kind: &'static str,
    schedule: &'static str,
    duration: &'static str,
    tz: &'static str,
    apps: Vec<&'static str>,
    ns: Vec<&'static str>,
    clusters: Vec<&'static str>,
    manual: bool,
    and: bool,
    desc: &'static str,
}

fn allow(schedule: &'static str, duration: &'static str) -> W {
    W {
        kind: "allow",
        schedule,
        duration,
        tz: "",
        apps: vec!["*"],
        ns: vec![],
        clusters: vec![],
        manual: false,
        and: false,
        desc: "",
    }
}

fn deny(schedule: &'static str, duration: &'static str) -> W {
    W {
        kind: "deny",
        ..allow(schedule, duration)
    }
}

impl W {
    fn tz(mut self, tz: &'static str) -> W {
        self.tz = tz;
        self
    }
    fn apps(mut self, apps: &[&'static str]) -> W {
        self.apps = apps.to_vec();
        self
    }
    fn ns(mut self, ns: &[&'static str]) -> W {
        self.ns = ns.to_vec();
        self
    }
    fn clusters(mut self, c: &[&'static str]) -> W {
        self.clusters = c.to_vec();
        self
    }
    fn manual(mut self, m: bool) -> W {
        self.manual = m;
        self
    }
    fn and(mut self) -> W {
        self.and = true;
        self
    }
    fn kind(mut self, k: &'static str) -> W {
        self.kind = k;
        self
    }
    fn desc(mut self, d: &'static str) -> W {
        self.desc = d;
        self
    }
}

#[derive(Clone)]
enum Expect {
    Allowed(Vec<usize>),
    Blocked(Vec<usize>),
    Invalid(&'static str),
}

#[derive(Clone)]
struct Case {
    name: &'static str,
    at: &'static str,
    windows: Vec<W>,
    freezes: Vec<(&'static str, &'static str, &'static str, Vec<&'static str>)>,
    extra: &'static str,
    app: &'static str,
    namespace: &'static str,
    clusters: Vec<&'static str>,
    manual: bool,
    emergency: Option<&'static str>,
    expect: Expect,
    next_open: Option<Option<&'static str>>,
    next_close: Option<Option<&'static str>>,
    reason: Option<&'static str>,
}

fn c(name: &'static str, at: &'static str) -> Case {
    Case {
        name,
        at,
        windows: vec![],
        freezes: vec![],
        extra: "",
        app: "shop",
        namespace: "production",
        clusters: vec![],
        manual: false,
        emergency: None,
        expect: Expect::Invalid("no expectation set"),
        next_open: None,
        next_close: None,
        reason: None,
    }
}

impl Case {
    fn w(mut self, w: W) -> Case {
        self.windows.push(w);
        self
    }
    fn app(mut self, app: &'static str) -> Case {
        self.app = app;
        self
    }
    fn ns(mut self, ns: &'static str) -> Case {
        self.namespace = ns;
        self
    }
    fn cluster(mut self, c: &'static str) -> Case {
        self.clusters.push(c);
        self
    }
    fn manual(mut self) -> Case {
        self.manual = true;
        self
    }
    fn emergency(mut self, id: &'static str) -> Case {
        self.emergency = Some(id);
        self
    }
    fn freeze(
        mut self,
        name: &'static str,
        from: &'static str,
        until: &'static str,
        exempt: &[&'static str],
    ) -> Case {
        self.freezes.push((name, from, until, exempt.to_vec()));
        self
    }
    fn extra(mut self, yaml: &'static str) -> Case {
        self.extra = yaml;
        self
    }
    fn allowed(mut self, active: &[usize]) -> Case {
        self.expect = Expect::Allowed(active.to_vec());
        self
    }
    fn blocked(mut self, active: &[usize]) -> Case {
        self.expect = Expect::Blocked(active.to_vec());
        self
    }
    fn invalid(mut self, stderr_part: &'static str) -> Case {
        self.expect = Expect::Invalid(stderr_part);
        self
    }
    fn open(mut self, t: Option<&'static str>) -> Case {
        self.next_open = Some(t);
        self
    }
    fn close(mut self, t: Option<&'static str>) -> Case {
        self.next_close = Some(t);
        self
    }
    fn reason(mut self, part: &'static str) -> Case {
        self.reason = Some(part);
        self
    }

    fn policy_yaml(&self) -> String {
        let q = |s: &str| format!("'{}'", s.replace('\'', "''"));
        let list = |l: &[&str]| {
            format!(
                "[{}]",
                l.iter().map(|s| q(s)).collect::<Vec<_>>().join(", ")
            )
        };
        let mut y = String::from("apiVersion: sluice.io/v1alpha1\nkind: ChangePolicy\n");
        if !self.windows.is_empty() {
            y.push_str("windows:\n");
            for w in &self.windows {
                y.push_str(&format!(
                    "  - kind: {}\n    schedule: {}\n    duration: {}\n",
                    q(w.kind),
                    q(w.schedule),
                    q(w.duration)
                ));
                if !w.tz.is_empty() {
                    y.push_str(&format!("    timeZone: {}\n", q(w.tz)));
                }
                for (key, l) in [
                    ("applications", &w.apps),
                    ("namespaces", &w.ns),
                    ("clusters", &w.clusters),
                ] {
                    if !l.is_empty() {
                        y.push_str(&format!("    {key}: {}\n", list(l)));
                    }
                }
                if w.manual {
                    y.push_str("    manualSync: true\n");
                }
                if w.and {
                    y.push_str("    andOperator: true\n");
                }
                if !w.desc.is_empty() {
                    y.push_str(&format!("    description: {}\n", q(w.desc)));
                }
            }
        }
        if !self.freezes.is_empty() {
            y.push_str("freezes:\n");
            for (name, from, until, exempt) in &self.freezes {
                y.push_str(&format!(
                    "  - name: {}\n    from: {from}\n    until: {until}\n    exempt: {}\n",
                    q(name),
                    list(exempt)
                ));
            }
        }
        y.push_str(self.extra);
        y
    }
}

/// Runs one case; `Err` describes the mismatch.
fn run_case(dir: &Path, i: usize, case: &Case) -> Result<(), String> {
    let file = dir.join(format!("policy-{i}.yaml"));
    std::fs::write(&file, case.policy_yaml()).map_err(|e| e.to_string())?;
    let file = file.display().to_string();
    let mut args = vec![
        "window",
        "check",
        "--policy",
        &file,
        "--at",
        case.at,
        "--app",
        case.app,
        "--namespace",
        case.namespace,
    ];
    for cl in &case.clusters {
        args.extend(["--cluster", cl]);
    }
    if case.manual {
        args.push("--manual");
    }
    if let Some(id) = case.emergency {
        args.extend(["--emergency", id]);
    }
    let out = sluice_in(dir, &args, &[]);
    let code = out.status.code().unwrap_or(-1);
    let (out_text, err_text) = (stdout(&out), stderr(&out));
    let ctx = || {
        format!(
            "exit {code}\nstdout: {out_text}\nstderr: {err_text}\npolicy:\n{}",
            case.policy_yaml()
        )
    };
    let (want_allowed, want_active) = match &case.expect {
        Expect::Invalid(part) => {
            if code != 2 || !err_text.contains(part) || !out_text.is_empty() {
                return Err(format!(
                    "want exit 2 with stderr containing {part:?}\n{}",
                    ctx()
                ));
            }
            return Ok(());
        }
        Expect::Allowed(a) => (true, a),
        Expect::Blocked(a) => (false, a),
    };
    let want_code = if want_allowed { 0 } else { 3 };
    if code != want_code {
        return Err(format!("want exit {want_code}\n{}", ctx()));
    }
    let json: Value = serde_json::from_str(&out_text)
        .map_err(|e| format!("stdout is not JSON: {e}\n{}", ctx()))?;
    let keys: Vec<&str> = json
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    if keys != ["allowed", "active", "reason", "nextOpen", "nextClose"] {
        return Err(format!("unexpected keys {keys:?}\n{}", ctx()));
    }
    if json["allowed"] != Value::Bool(want_allowed) {
        return Err(format!("want allowed {want_allowed}\n{}", ctx()));
    }
    let active: Vec<usize> = json["active"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_u64)
                .map(|v| v as usize)
                .collect()
        })
        .unwrap_or_default();
    if &active != want_active {
        return Err(format!("want active {want_active:?}\n{}", ctx()));
    }
    for (key, want) in [("nextOpen", case.next_open), ("nextClose", case.next_close)] {
        if let Some(want) = want {
            let want = want.map_or(Value::Null, |t| Value::String(t.to_string()));
            if json[key] != want {
                return Err(format!("want {key} {want}\n{}", ctx()));
            }
        }
    }
    if let Some(part) = case.reason {
        if !json["reason"].as_str().unwrap_or("").contains(part) {
            return Err(format!("want reason containing {part:?}\n{}", ctx()));
        }
    }
    Ok(())
}

/// Runs cases on a few threads and reports every failure by case name.
fn run_all(cases: &[Case]) {
    let dir = tempfile::tempdir().expect("temp dir");
    let threads = 4;
    let failures: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let dir = dir.path();
                s.spawn(move || {
                    cases
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| i % threads == t)
                        .filter_map(|(i, case)| {
                            run_case(dir, i, case)
                                .err()
                                .map(|e| format!("case {:?}: {e}", case.name))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("thread"))
            .collect()
    });
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

// Instants used below: 2026-11-23 is a Monday. New York is on EST (-5) from 2026-11-01 to 2027-03-14,
// on EDT (-4) from 2026-03-08 to 2026-11-01.

/// Argo CD `TestSyncWindows_Active`, `TestSyncWindows_InactiveAllows`, `TestSyncWindow_Active`.
fn argo_activity_cases() -> Vec<Case> {
    let two = |a, b| vec![allow(a, "2h"), allow(b, "2h")];
    let with = |mut case: Case, ws: Vec<W>| {
        case.windows = ws;
        case
    };
    vec![
        // SyncWindows.Active
        with(
            c("active/match-first", "2026-11-23T11:00:00Z"),
            two("* 10 * * *", "* 14 * * *"),
        )
        .allowed(&[0])
        .close(Some("2026-11-23T12:59:00Z"))
        .open(Some("2026-11-23T14:00:00Z")),
        with(
            c("active/match-second", "2026-11-23T15:00:00Z"),
            two("* 10 * * *", "* 14 * * *"),
        )
        .allowed(&[1])
        .close(Some("2026-11-23T16:59:00Z"))
        .open(Some("2026-11-24T10:00:00Z")),
        c("active/match-both", "2026-11-23T12:00:00Z")
            .w(allow("* 10 * * *", "3h"))
            .w(allow("* 11 * * *", "3h"))
            .allowed(&[0, 1])
            .close(Some("2026-11-23T14:59:00Z"))
            .open(Some("2026-11-24T10:00:00Z")),
        with(
            c("active/match-none", "2026-11-23T17:00:00Z"),
            two("* 10 * * *", "* 14 * * *"),
        )
        .blocked(&[])
        .open(Some("2026-11-24T10:00:00Z"))
        .close(Some("2026-11-24T12:59:00Z")),
        with(
            c(
                "active/match-first-non-utc-instant",
                "2026-11-23T07:00:00-04:00",
            ),
            two("* 10 * * *", "* 14 * * *"),
        )
        .allowed(&[0]),
        with(
            c(
                "active/match-second-non-utc-instant",
                "2026-11-23T11:00:00-04:00",
            ),
            two("* 10 * * *", "* 14 * * *"),
        )
        .allowed(&[1]),
        with(
            c(
                "active/match-none-non-utc-instant",
                "2026-11-23T13:00:00-04:00",
            ),
            two("* 10 * * *", "* 14 * * *"),
        )
        .blocked(&[]),
        c(
            "active/match-first-new-york-november",
            "2026-11-23T16:00:00Z",
        )
        .w(allow("* 10 * * *", "2h").tz("America/New_York"))
        .w(allow("* 14 * * *", "2h").tz("America/New_York"))
        .allowed(&[0])
        .close(Some("2026-11-23T17:59:00Z"))
        .open(Some("2026-11-23T19:00:00Z")),
        c(
            "active/match-second-new-york-november",
            "2026-11-23T20:00:00Z",
        )
        .w(allow("* 10 * * *", "2h").tz("America/New_York"))
        .w(allow("* 14 * * *", "2h").tz("America/New_York"))
        .allowed(&[1]),
        c(
            "active/match-none-new-york-november",
            "2026-11-23T22:00:00Z",
        )
        .w(allow("* 10 * * *", "2h").tz("America/New_York"))
        .w(allow("* 14 * * *", "2h").tz("America/New_York"))
        .blocked(&[])
        .open(Some("2026-11-24T15:00:00Z")),
        c("active/match-first-new-york-july", "2026-07-15T16:00:00Z")
            .w(allow("* 10 * * *", "2h").tz("America/New_York"))
            .w(allow("* 14 * * *", "2h").tz("America/New_York"))
            .allowed(&[0])
            .close(Some("2026-07-15T16:59:00Z"))
            .open(Some("2026-07-15T18:00:00Z")),
        c(
            "active/new-york-january-still-open-at-1730z",
            "2026-01-14T17:30:00Z",
        )
        .w(allow("* 10 * * *", "2h").tz("America/New_York"))
        .w(allow("* 14 * * *", "2h").tz("America/New_York"))
        .allowed(&[0])
        .close(Some("2026-01-14T17:59:00Z")),
        c(
            "active/new-york-july-closed-at-1730z",
            "2026-07-15T17:30:00Z",
        )
        .w(allow("* 10 * * *", "2h").tz("America/New_York"))
        .w(allow("* 14 * * *", "2h").tz("America/New_York"))
        .blocked(&[])
        .open(Some("2026-07-15T18:00:00Z"))
        .close(Some("2026-07-15T20:59:00Z")),
        c(
            "active/match-first-positive-zone-dhaka",
            "2026-11-23T03:00:00Z",
        )
        .w(allow("* 8 * * *", "2h").tz("Asia/Dhaka"))
        .w(allow("* 12 * * *", "2h").tz("Asia/Dhaka"))
        .allowed(&[0]),
        // SyncWindows.InactiveAllows (a sync is blocked exactly when every applying allow window is inactive)
        c("inactive-allows/match-first", "2026-11-23T06:00:00Z")
            .w(allow("* 10 * * *", "2h"))
            .w(allow("* 5 * * *", "2h"))
            .allowed(&[1])
            .close(Some("2026-11-23T07:59:00Z"))
            .open(Some("2026-11-23T10:00:00Z")),
        with(
            c("inactive-allows/match-second", "2026-11-23T11:00:00Z"),
            two("* 10 * * *", "* 14 * * *"),
        )
        .allowed(&[0]),
        with(
            c("inactive-allows/match-both", "2026-11-23T17:00:00Z"),
            two("* 10 * * *", "* 14 * * *"),
        )
        .blocked(&[]),
        c("inactive-allows/match-none", "2026-11-23T12:00:00Z")
            .w(allow("* 10 * * *", "4h"))
            .w(allow("* 11 * * *", "4h"))
            .allowed(&[0, 1])
            .close(Some("2026-11-23T15:59:00Z")),
        c(
            "inactive-allows/match-first-non-utc-instant",
            "2026-11-23T02:00:00-04:00",
        )
        .w(allow("* 10 * * *", "2h"))
        .w(allow("* 5 * * *", "2h"))
        .allowed(&[1]),
        with(
            c(
                "inactive-allows/match-second-non-utc-instant",
                "2026-11-23T07:00:00-04:00",
            ),
            two("* 10 * * *", "* 14 * * *"),
        )
        .allowed(&[0]),
        with(
            c(
                "inactive-allows/match-both-non-utc-instant",
                "2026-11-23T13:00:00-04:00",
            ),
            two("* 10 * * *", "* 14 * * *"),
        )
        .blocked(&[]),
        c(
            "inactive-allows/match-none-non-utc-instant",
            "2026-11-23T08:00:00-04:00",
        )
        .w(allow("* 10 * * *", "4h"))
        .w(allow("* 11 * * *", "4h"))
        .allowed(&[0, 1]),
        c(
            "inactive-allows/match-first-new-york",
            "2026-11-23T11:00:00Z",
        )
        .w(allow("* 10 * * *", "2h").tz("America/New_York"))
        .w(allow("* 5 * * *", "2h").tz("America/New_York"))
        .allowed(&[1]),
        c(
            "inactive-allows/match-second-new-york",
            "2026-11-23T16:00:00Z",
        )
        .w(allow("* 10 * * *", "2h").tz("America/New_York"))
        .w(allow("* 14 * * *", "2h").tz("America/New_York"))
        .allowed(&[0]),
        c(
            "inactive-allows/match-both-new-york",
            "2026-11-23T06:00:00Z",
        )
        .w(allow("* 10 * * *", "2h").tz("America/New_York"))
        .w(allow("* 5 * * *", "2h").tz("America/New_York"))
        .blocked(&[])
        .open(Some("2026-11-23T10:00:00Z")),
        c(
            "inactive-allows/match-first-positive-zone-dhaka",
            "2026-11-23T07:00:00Z",
        )
        .w(allow("* 8 * * *", "2h").tz("Asia/Dhaka"))
        .w(allow("* 12 * * *", "2h").tz("Asia/Dhaka"))
        .allowed(&[1]),
        // SyncWindow.Active (one window)
        c("window-active/allow-active", "2026-11-23T11:00:00Z")
            .w(allow("* 10 * * *", "2h"))
            .allowed(&[0]),
        c("window-active/allow-inactive", "2026-11-23T13:00:00Z")
            .w(allow("* 10 * * *", "2h"))
            .blocked(&[])
            .open(Some("2026-11-24T10:00:00Z"))
            .close(Some("2026-11-24T12:59:00Z")),
        c("window-active/deny-active", "2026-11-23T11:00:00Z")
            .w(deny("* 10 * * *", "2h"))
            .blocked(&[0])
            .open(Some("2026-11-23T12:59:00Z"))
            .close(Some("2026-11-24T10:00:00Z")),
        c("window-active/deny-inactive", "2026-11-23T13:00:00Z")
            .w(deny("* 10 * * *", "2h"))
            .allowed(&[])
            .close(Some("2026-11-24T10:00:00Z"))
            .open(Some("2026-11-24T12:59:00Z")),
        c(
            "window-active/allow-active-non-utc-instant",
            "2026-11-23T07:00:00-04:00",
        )
        .w(allow("* 10 * * *", "2h"))
        .allowed(&[0]),
        c(
            "window-active/allow-inactive-non-utc-instant",
            "2026-11-23T09:00:00-04:00",
        )
        .w(allow("* 10 * * *", "2h"))
        .blocked(&[]),
        c(
            "window-active/deny-active-non-utc-instant",
            "2026-11-23T07:00:00-04:00",
        )
        .w(deny("* 10 * * *", "2h"))
        .blocked(&[0]),
        c(
            "window-active/deny-inactive-non-utc-instant",
            "2026-11-23T09:00:00-04:00",
        )
        .w(deny("* 10 * * *", "2h"))
        .allowed(&[]),
    ]
}

/// Argo CD `TestSyncWindows_CanSync`: "active" is `* * * * *` for 1h, "inactive" is `0 20 * * *` for 1h
/// at 10:00Z; windows apply to app1 in namespace public.
fn argo_can_sync_cases() -> Vec<Case> {
    let act = |kind: &'static str, manual: bool| {
        allow("* * * * *", "1h")
            .kind(kind)
            .apps(&["app1"])
            .ns(&["public"])
            .manual(manual)
    };
    let ina = |kind: &'static str, manual: bool| {
        allow("0 20 * * *", "1h")
            .kind(kind)
            .apps(&["app1"])
            .ns(&["public"])
            .manual(manual)
    };
    let base = |name| c(name, "2026-11-23T10:00:00Z").app("app1").ns("public");
    vec![
        base("can-sync/manual-inactive-deny-manual-true")
            .w(ina("deny", true))
            .manual()
            .allowed(&[]),
        base("can-sync/manual-inactive-deny-manual-false")
            .w(ina("deny", false))
            .manual()
            .allowed(&[]),
        base("can-sync/manual-two-inactive-allows-one-without-manual")
            .w(ina("allow", true))
            .w(ina("allow", false))
            .manual()
            .blocked(&[]),
        base("can-sync/manual-active-allow-manual-true")
            .w(act("allow", true))
            .manual()
            .allowed(&[0]),
        base("can-sync/manual-active-allow-manual-false")
            .w(act("allow", false))
            .manual()
            .allowed(&[0]),
        base("can-sync/auto-active-allow")
            .w(act("allow", false))
            .allowed(&[0])
            .open(None)
            .close(None),
        base("can-sync/manual-active-allow-inactive-deny")
            .w(act("allow", false))
            .w(ina("deny", false))
            .manual()
            .allowed(&[0]),
        base("can-sync/auto-active-allow-inactive-deny")
            .w(act("allow", false))
            .w(ina("deny", false))
            .allowed(&[0])
            .close(Some("2026-11-23T20:00:00Z"))
            .open(Some("2026-11-23T21:00:00Z")),
        base("can-sync/manual-inactive-allow")
            .w(ina("allow", false))
            .manual()
            .blocked(&[]),
        base("can-sync/auto-inactive-allow")
            .w(ina("allow", false))
            .blocked(&[])
            .open(Some("2026-11-23T20:00:00Z"))
            .close(Some("2026-11-23T21:00:00Z")),
        base("can-sync/manual-inactive-allow-with-manual-sync")
            .w(ina("allow", true))
            .manual()
            .allowed(&[]),
        base("can-sync/auto-inactive-allow-with-manual-sync")
            .w(ina("allow", true))
            .blocked(&[])
            .reason("a manual sync would pass"),
        base("can-sync/manual-inactive-allow-inactive-deny")
            .w(ina("allow", false))
            .w(ina("deny", false))
            .manual()
            .blocked(&[]),
        base("can-sync/auto-inactive-allow-inactive-deny")
            .w(ina("allow", false))
            .w(ina("deny", false))
            .blocked(&[]),
        base("can-sync/auto-active-allow-inactive-allow")
            .w(act("allow", false))
            .w(ina("allow", false))
            .allowed(&[0]),
        base("can-sync/manual-active-deny")
            .w(act("deny", false))
            .manual()
            .blocked(&[0]),
        base("can-sync/auto-active-deny")
            .w(act("deny", false))
            .blocked(&[0])
            .open(None)
            .close(None)
            .reason("with no end within 366 days"),
        base("can-sync/manual-active-deny-with-manual-sync")
            .w(act("deny", true))
            .manual()
            .allowed(&[0])
            .reason("manualSync"),
        base("can-sync/auto-active-deny-with-manual-sync")
            .w(act("deny", true))
            .blocked(&[0]),
        base("can-sync/manual-many-active-denies-one-without-manual")
            .w(act("deny", true))
            .w(act("deny", true))
            .w(act("deny", true))
            .w(act("deny", false))
            .manual()
            .blocked(&[0, 1, 2, 3]),
        base("can-sync/auto-many-active-denies-one-without-manual")
            .w(act("deny", true))
            .w(act("deny", true))
            .w(act("deny", true))
            .w(act("deny", false))
            .blocked(&[0, 1, 2, 3]),
        base("can-sync/manual-active-deny-and-allow-without-manual")
            .w(act("allow", false))
            .w(act("deny", false))
            .manual()
            .blocked(&[0, 1]),
        base("can-sync/manual-active-deny-with-manual-and-allow")
            .w(act("allow", false))
            .w(act("deny", true))
            .manual()
            .allowed(&[0, 1]),
        base("can-sync/auto-active-deny-with-manual-and-allow")
            .w(act("allow", false))
            .w(act("deny", true))
            .blocked(&[0, 1]),
        // The older ManualSync_* subtests: an active allow plus a deny on the 1st of the month at midnight for 1m.
        base("can-sync/manual-active-allow-monthly-deny-inactive")
            .w(act("allow", false))
            .w(allow("0 0 1 * *", "1m").kind("deny").apps(&["app1"]))
            .manual()
            .allowed(&[0]),
        c(
            "can-sync/auto-monthly-deny-active-in-its-minute",
            "2026-12-01T00:00:30Z",
        )
        .app("app1")
        .w(act("allow", false))
        .w(allow("0 0 1 * *", "1m").kind("deny").apps(&["app1"]))
        .blocked(&[0, 1])
        .open(Some("2026-12-01T00:01:00Z")),
        c(
            "can-sync/manual-monthly-deny-with-manual-sync",
            "2026-12-01T00:00:30Z",
        )
        .app("app1")
        .manual()
        .w(act("allow", false))
        .w(allow("0 0 1 * *", "1m")
            .kind("deny")
            .apps(&["app1"])
            .manual(true))
        .allowed(&[0, 1]),
        base("can-sync/no-windows-at-all")
            .allowed(&[])
            .open(None)
            .close(None)
            .reason("no sync window or freeze applies"),
    ]
}

/// Argo CD `TestSyncWindows_Matches` (app test-app, namespace default, server cluster1, name clusterName),
/// andOperator cases derived from `SyncWindows.Matches`, and glob syntax. A matching window is an
/// always-active deny, so matching shows as blocked.
fn argo_matches_cases() -> Vec<Case> {
    let win = || deny("* * * * *", "1h").apps(&["app1"]).ns(&["public"]);
    let base = |name| {
        c(name, "2026-11-23T10:00:00Z")
            .app("test-app")
            .ns("default")
            .cluster("cluster1")
            .cluster("clusterName")
    };
    let glob = |name, pattern: &'static str, app: &'static str| {
        c(name, "2026-11-23T10:00:00Z")
            .app(app)
            .w(deny("* * * * *", "1h").apps(&[pattern]))
    };
    vec![
        base("matches/no-match").w(win()).allowed(&[]),
        base("matches/namespace")
            .w(win().ns(&["default"]))
            .blocked(&[0]),
        base("matches/cluster-server")
            .w(win().clusters(&["cluster1"]))
            .blocked(&[0]),
        base("matches/cluster-name")
            .w(win().clusters(&["clusterName"]))
            .blocked(&[0]),
        base("matches/app-name")
            .w(win().apps(&["test-app"]))
            .blocked(&[0]),
        base("matches/wildcard-app-name")
            .w(win().apps(&["test-*"]))
            .blocked(&[0]),
        base("matches/and-app-and-namespace")
            .w(win().apps(&["test-*"]).ns(&["default"]).and())
            .blocked(&[0]),
        base("matches/and-namespace-misses")
            .w(win().apps(&["test-*"]).and())
            .allowed(&[]),
        base("matches/and-app-misses")
            .w(win().ns(&["default"]).and())
            .allowed(&[]),
        base("matches/or-app-misses-namespace-hits")
            .w(win().ns(&["default"]))
            .blocked(&[0]),
        base("matches/and-all-three-hit")
            .w(win()
                .apps(&["test-app"])
                .clusters(&["cluster1"])
                .ns(&["default"])
                .and())
            .blocked(&[0]),
        base("matches/and-cluster-misses")
            .w(win()
                .apps(&["test-app"])
                .clusters(&["other"])
                .ns(&["default"])
                .and())
            .allowed(&[]),
        base("matches/and-cluster-name-and-namespace-glob")
            .w(deny("* * * * *", "1h")
                .apps(&[])
                .clusters(&["clusterName"])
                .ns(&["def*"])
                .and())
            .blocked(&[0]),
        // Argo CD lets a window with no applications, namespaces or clusters match nothing; sluice
        // refuses it, since a control that silently applies to nothing is a typo in a change gate.
        base("matches/and-nothing-set")
            .w(deny("* * * * *", "1h").apps(&[]).and())
            .invalid("windows[0]: applies to nothing"),
        base("matches/or-nothing-set")
            .w(deny("* * * * *", "1h").apps(&[]))
            .invalid("add applications: [\"*\"]"),
        base("matches/and-only-applications")
            .w(deny("* * * * *", "1h").apps(&["test-app"]).and())
            .blocked(&[0]),
        c(
            "matches/star-namespace-matches-empty-namespace",
            "2026-11-23T10:00:00Z",
        )
        .ns("")
        .w(deny("* * * * *", "1h").apps(&[]).ns(&["*"]))
        .blocked(&[0]),
        c(
            "matches/cluster-star-needs-a-cluster",
            "2026-11-23T10:00:00Z",
        )
        .w(deny("* * * * *", "1h").apps(&[]).clusters(&["*"]))
        .allowed(&[]),
        c("matches/cluster-server-url-glob", "2026-11-23T10:00:00Z")
            .cluster("https://k8s.example.com")
            .w(deny("* * * * *", "1h")
                .apps(&[])
                .clusters(&["https://*.example.com"]))
            .blocked(&[0]),
        c("matches/second-window-only", "2026-11-23T10:00:00Z")
            .w(deny("* * * * *", "1h").apps(&["other"]))
            .w(deny("* * * * *", "1h").apps(&["shop"]))
            .blocked(&[1]),
        glob("glob/alternatives-hit", "{shop,cart}", "cart").blocked(&[0]),
        glob("glob/alternatives-miss", "{shop,cart}", "pay").allowed(&[]),
        glob("glob/class-range", "[a-c]*", "billing").blocked(&[0]),
        glob("glob/negated-class", "[!p]*", "payments").allowed(&[]),
        glob("glob/question-mark-one-char", "app?", "app1").blocked(&[0]),
        glob("glob/question-mark-not-two", "app?", "app12").allowed(&[]),
        glob("glob/case-sensitive", "Shop", "shop").allowed(&[]),
        glob("glob/no-negation", "!shop", "cart").allowed(&[]),
    ]
}

/// Parser accept/reject, through the policy file: invalid policies exit 2 naming the key and the fix.
fn parser_cases() -> Vec<Case> {
    let bad = |name, schedule: &'static str, part| {
        c(name, "2026-11-23T10:00:00Z")
            .w(allow(schedule, "1h"))
            .invalid(part)
    };
    let bad_duration = |name, duration: &'static str, part| {
        c(name, "2026-11-23T10:00:00Z")
            .w(allow("0 2 * * *", duration))
            .invalid(part)
    };
    let at = |name, t| c(name, t);
    vec![
        bad(
            "reject/weekday-7",
            "0 2 * * 7",
            "windows[0].schedule: day-of-week 7 is out of range 0-6 (0 is Sunday)",
        ),
        bad(
            "reject/weekday-range-to-7",
            "0 2 * * 5-7",
            "day-of-week 7 is out of range",
        ),
        bad(
            "reject/descriptor-daily",
            "@daily",
            "windows[0].schedule: descriptors",
        ),
        bad("reject/descriptor-every", "@every 1h", "descriptors"),
        bad(
            "reject/cron-tz-prefix",
            "CRON_TZ=Europe/Paris 0 2 * * *",
            "timeZone: Europe/Paris",
        ),
        bad("reject/tz-prefix", "TZ=UTC 0 2 * * *", "TZ prefix"),
        bad("reject/seconds-field", "0 0 2 * * *", "found 6"),
        bad("reject/four-fields", "0 2 * *", "found 4"),
        bad("reject/reversed-range", "5-1 * * * *", "reversed"),
        bad("reject/zero-step", "*/0 * * * *", "positive"),
        bad(
            "reject/minute-60",
            "60 * * * *",
            "minute 60 is out of range 0-59",
        ),
        bad(
            "reject/hour-24",
            "0 24 * * *",
            "hour 24 is out of range 0-23",
        ),
        bad(
            "reject/day-0",
            "0 0 0 * *",
            "day-of-month 0 is out of range 1-31",
        ),
        bad("reject/day-32", "0 0 32 * *", "day-of-month 32"),
        bad(
            "reject/month-13",
            "0 0 * 13 *",
            "month 13 is out of range 1-12",
        ),
        bad("reject/last-day-l", "0 0 L * *", "L, W and #"),
        bad("reject/nth-weekday-hash", "0 0 * * 5#3", "not a number"),
        bad("reject/full-weekday-name", "0 0 * * MONDAY", "sun-sat"),
        bad("reject/never-fires-30-feb", "0 0 30 2 *", "never fires"),
        bad(
            "reject/never-fires-31st-of-short-months",
            "0 0 31 4,6,9,11 *",
            "never fires",
        ),
        bad_duration(
            "reject/duration-days",
            "1d",
            "windows[0].duration: invalid duration \"1d\"",
        ),
        bad_duration(
            "reject/duration-days-says-hours",
            "2d",
            "write hours (`48h`)",
        ),
        bad_duration("reject/duration-upper-case", "1H", "lower-case"),
        bad_duration("reject/duration-space", "1h 30m", "remove the spaces"),
        bad_duration("reject/duration-empty", "", "windows[0].duration"),
        bad_duration("reject/duration-no-unit", "90", "missing unit"),
        bad_duration("reject/duration-negative", "-1h", "negative"),
        c("reject/unknown-zone", "2026-11-23T10:00:00Z")
            .w(allow("0 2 * * *", "1h").tz("Mars/Olympus_Mons"))
            .invalid("windows[0].timeZone: unknown time zone"),
        c("reject/zone-wrong-case", "2026-11-23T10:00:00Z")
            .w(allow("0 2 * * *", "1h").tz("america/new_york"))
            .invalid("did you mean \"America/New_York\""),
        c("reject/kind", "2026-11-23T10:00:00Z")
            .w(allow("0 2 * * *", "1h").kind("block"))
            .invalid("windows[0].kind: \"block\" is not a window kind; write allow or deny"),
        c("reject/bad-glob", "2026-11-23T10:00:00Z")
            .w(allow("0 2 * * *", "1h").apps(&["[abc"]))
            .invalid("windows[0].applications[0]"),
        c("reject/second-window-named", "2026-11-23T10:00:00Z")
            .w(allow("0 2 * * *", "1h"))
            .w(deny("0 2 * * sun-7", "1h"))
            .invalid("windows[1].schedule"),
        c("reject/freeze-until-before-from", "2026-11-23T10:00:00Z")
            .freeze("x", "2026-12-20T00:00:00Z", "2026-12-19T00:00:00Z", &[])
            .invalid("freezes[0].until"),
        c("reject/guard-max-wait-days", "2026-11-23T10:00:00Z")
            .extra("guard:\n  onClosed: wait\n  maxWait: 1d\n")
            .invalid("guard.maxWait"),
        c("reject/guard-report-ftp", "2026-11-23T10:00:00Z")
            .extra("guard:\n  report: ftp://sink.example.com/v1/guard\n")
            .invalid("guard.report"),
        c("reject/bad-at", "2026-11-23 10:00")
            .w(allow("0 2 * * *", "1h"))
            .invalid("--at"),
        at("accept/weekday-names-any-case", "2026-11-23T10:00:00Z")
            .w(deny("0 9 * * MON-fri", "8h"))
            .blocked(&[0]),
        at("accept/weekday-names-weekend", "2026-11-28T10:00:00Z")
            .w(deny("0 9 * * mon-FRI", "8h"))
            .allowed(&[]),
        at("accept/question-mark", "2026-11-29T09:30:00Z")
            .w(deny("0 9 ? * sun", "1h"))
            .blocked(&[0]),
        at("accept/month-names-outside", "2026-11-23T09:30:00Z")
            .w(deny("0 9 * JAN-mar *", "1h"))
            .allowed(&[]),
        at("accept/month-names-inside", "2026-01-05T09:30:00Z")
            .w(deny("0 9 * jan-MAR *", "1h"))
            .blocked(&[0]),
        at("accept/start-slash-step-hit", "2026-11-23T10:45:00Z")
            .w(deny("30/15 * * * *", "5m"))
            .blocked(&[0]),
        at("accept/start-slash-step-miss", "2026-11-23T10:15:00Z")
            .w(deny("30/15 * * * *", "5m"))
            .allowed(&[]),
        at("accept/range-step-hit", "2026-11-23T12:30:00Z")
            .w(deny("0 0-23/6 * * *", "1h"))
            .blocked(&[0]),
        at("accept/range-step-miss", "2026-11-23T13:00:00Z")
            .w(deny("0 0-23/6 * * *", "1h"))
            .allowed(&[]),
        at("accept/decimal-duration-open", "2026-11-23T11:29:59Z")
            .w(deny("0 10 * * *", "1.5h"))
            .blocked(&[0]),
        at("accept/decimal-duration-closed", "2026-11-23T11:30:00Z")
            .w(deny("0 10 * * *", "1.5h"))
            .allowed(&[]),
        at("accept/summed-duration", "2026-11-23T11:29:00Z")
            .w(deny("0 10 * * *", "1h30m"))
            .blocked(&[0])
            .open(Some("2026-11-23T11:30:00Z")),
        at("accept/zero-duration-never-active", "2026-11-23T10:00:00Z")
            .w(deny("* * * * *", "0"))
            .allowed(&[])
            .close(None),
        at("accept/minutes-duration", "2026-11-23T11:29:00Z")
            .w(deny("0 10 * * *", "90m"))
            .blocked(&[0]),
        at("accept/leading-plus-and-zero", "2026-11-23T10:05:30Z")
            .w(deny("+5 010 * * *", "1m"))
            .blocked(&[0]),
        at("accept/list", "2026-11-23T10:00:00Z")
            .w(deny("0 2,10,18 * * *", "1h"))
            .blocked(&[0])
            .open(Some("2026-11-23T11:00:00Z")),
    ]
}

/// Zones with real DST, half-hour offsets, edges, midnight and weekend spans, the day rule, freezes.
fn calendar_cases() -> Vec<Case> {
    let ny_nine = || allow("0 9 * * *", "8h").tz("America/New_York");
    vec![
        c("dst/new-york-january-opens-at-1400z", "2026-01-15T14:00:00Z").w(ny_nine()).allowed(&[0]).close(Some("2026-01-15T22:00:00Z")),
        c("dst/new-york-january-closed-before", "2026-01-15T13:59:59Z").w(ny_nine()).blocked(&[]).open(Some("2026-01-15T14:00:00Z")),
        c("dst/new-york-july-opens-at-1300z", "2026-07-15T13:00:00Z").w(ny_nine()).allowed(&[0]).close(Some("2026-07-15T21:00:00Z")),
        c("dst/new-york-july-closed-before", "2026-07-15T12:59:00Z").w(ny_nine()).blocked(&[]).open(Some("2026-07-15T13:00:00Z")),
        c("dst/new-york-july-closed-at-end", "2026-07-15T21:00:00Z").w(ny_nine()).blocked(&[]).open(Some("2026-07-16T13:00:00Z")),
        c("dst/new-york-across-spring-forward", "2026-03-07T15:00:00Z")
            .w(ny_nine())
            .allowed(&[0])
            .close(Some("2026-03-07T22:00:00Z"))
            .open(Some("2026-03-08T13:00:00Z")),
        c("dst/new-york-across-fall-back", "2026-10-31T15:00:00Z")
            .w(ny_nine())
            .allowed(&[0])
            .close(Some("2026-10-31T21:00:00Z"))
            .open(Some("2026-11-01T14:00:00Z")),
        c("dst/skipped-0230-opens-at-the-jump", "2026-03-08T07:00:00Z")
            .w(deny("30 2 * * *", "1h").tz("America/New_York"))
            .blocked(&[0])
            .open(Some("2026-03-08T08:00:00Z")),
        c("dst/skipped-0230-not-yet-at-0159-est", "2026-03-08T06:59:00Z")
            .w(deny("30 2 * * *", "1h").tz("America/New_York"))
            .allowed(&[])
            .close(Some("2026-03-08T07:00:00Z")),
        c("dst/repeated-0130-fires-at-first-occurrence", "2026-11-01T05:30:00Z")
            .w(deny("30 1 * * *", "30m").tz("America/New_York"))
            .blocked(&[0])
            .open(Some("2026-11-01T06:00:00Z")),
        c("dst/repeated-0130-does-not-fire-again", "2026-11-01T06:30:00Z")
            .w(deny("30 1 * * *", "30m").tz("America/New_York"))
            .allowed(&[])
            .close(Some("2026-11-02T06:30:00Z")),
        c("dst/kolkata-half-hour-opens", "2026-11-23T03:30:00Z")
            .w(deny("0 9 * * 1-5", "8h").tz("Asia/Kolkata"))
            .blocked(&[0])
            .open(Some("2026-11-23T11:30:00Z"))
            .reason("until 17:00 IST"),
        c("dst/kolkata-half-hour-before", "2026-11-23T03:29:00Z")
            .w(deny("0 9 * * 1-5", "8h").tz("Asia/Kolkata"))
            .allowed(&[])
            .close(Some("2026-11-23T03:30:00Z")),
        c("dst/kolkata-half-hour-last-second", "2026-11-23T11:29:59Z").w(deny("0 9 * * 1-5", "8h").tz("Asia/Kolkata")).blocked(&[0]),
        c("dst/kolkata-half-hour-closed", "2026-11-23T12:00:00Z")
            .w(deny("0 9 * * 1-5", "8h").tz("Asia/Kolkata"))
            .allowed(&[])
            .close(Some("2026-11-24T03:30:00Z")),
        c("dst/sydney-summer", "2026-01-14T22:00:00Z").w(deny("0 9 * * *", "1h").tz("Australia/Sydney")).blocked(&[0]),
        c("dst/sydney-winter-not-yet", "2026-07-14T22:00:00Z")
            .w(deny("0 9 * * *", "1h").tz("Australia/Sydney"))
            .allowed(&[])
            .close(Some("2026-07-14T23:00:00Z")),
        c("edge/opens-at-first-instant", "2026-11-24T02:00:00Z").w(allow("0 2 * * 2", "4h")).allowed(&[0]).close(Some("2026-11-24T06:00:00Z")),
        c("edge/closed-one-second-before", "2026-11-24T01:59:59Z").w(allow("0 2 * * 2", "4h")).blocked(&[]).open(Some("2026-11-24T02:00:00Z")),
        c("edge/open-in-last-millisecond", "2026-11-24T05:59:59.999Z").w(allow("0 2 * * 2", "4h")).allowed(&[0]),
        c("edge/closed-at-end", "2026-11-24T06:00:00Z")
            .w(allow("0 2 * * 2", "4h"))
            .blocked(&[])
            .open(Some("2026-12-01T02:00:00Z"))
            .close(Some("2026-12-01T06:00:00Z")),
        c("edge/business-hours-deny", "2026-11-23T10:00:00Z")
            .w(deny("0 9 * * 1-5", "9h").desc("business hours"))
            .blocked(&[0])
            .open(Some("2026-11-23T18:00:00Z"))
            .close(Some("2026-11-24T09:00:00Z"))
            .reason("blocked: deny window 'business hours' active until 18:00 UTC; next allowed window opens 18:00 UTC"),
        c("edge/deny-ends-exactly", "2026-11-23T18:00:00Z")
            .w(deny("0 9 * * 1-5", "9h"))
            .allowed(&[])
            .close(Some("2026-11-24T09:00:00Z")),
        c("edge/friday-evening-until-monday", "2026-11-27T18:00:00Z")
            .w(deny("0 9 * * 1-5", "9h"))
            .allowed(&[])
            .close(Some("2026-11-30T09:00:00Z")),
        c("midnight/deny-22-to-02-at-23", "2026-11-23T23:00:00Z").w(deny("0 22 * * *", "4h")).blocked(&[0]).open(Some("2026-11-24T02:00:00Z")),
        c("midnight/deny-22-to-02-at-0159", "2026-11-24T01:59:00Z").w(deny("0 22 * * *", "4h")).blocked(&[0]),
        c("midnight/deny-22-to-02-at-02", "2026-11-24T02:00:00Z").w(deny("0 22 * * *", "4h")).allowed(&[]).close(Some("2026-11-24T22:00:00Z")),
        c("midnight/kolkata-2330-is-1800z", "2026-11-23T18:30:00Z")
            .w(allow("30 23 * * *", "1h").tz("Asia/Kolkata"))
            .allowed(&[0])
            .close(Some("2026-11-23T19:00:00Z")),
        c("weekend/deny-friday-18-for-60h-saturday", "2026-11-28T12:00:00Z")
            .w(deny("0 18 * * 5", "60h"))
            .blocked(&[0])
            .open(Some("2026-11-30T06:00:00Z")),
        c("weekend/deny-still-on-monday-0559", "2026-11-30T05:59:00Z").w(deny("0 18 * * 5", "60h")).blocked(&[0]),
        c("weekend/deny-over-monday-06", "2026-11-30T06:00:00Z")
            .w(deny("0 18 * * 5", "60h"))
            .allowed(&[])
            .close(Some("2026-12-04T18:00:00Z")),
        c("weekend/allow-saturday-20-for-30h", "2026-11-29T12:00:00Z")
            .w(allow("0 20 * * 6", "30h"))
            .allowed(&[0])
            .close(Some("2026-11-30T02:00:00Z"))
            .open(Some("2026-12-05T20:00:00Z")),
        c("day-rule/13th-on-a-sunday", "2026-12-13T12:00:00Z").w(deny("0 0 13 * 5", "24h")).blocked(&[0]),
        c("day-rule/friday-the-11th", "2026-12-11T12:00:00Z").w(deny("0 0 13 * 5", "24h")).blocked(&[0]),
        c("day-rule/saturday-the-12th", "2026-12-12T12:00:00Z").w(deny("0 0 13 * 5", "24h")).allowed(&[]).close(Some("2026-12-13T00:00:00Z")),
        c("day-rule/dom-only", "2026-12-11T12:00:00Z").w(deny("0 0 13 * *", "24h")).allowed(&[]),
        c("day-rule/dow-only", "2026-12-13T12:00:00Z").w(deny("0 0 * * 5", "24h")).allowed(&[]),
        c("day-rule/star-step-1-is-unrestricted", "2026-12-13T12:00:00Z").w(deny("0 0 */1 * 5", "24h")).allowed(&[]),
        c("day-rule/star-step-2-is-restricted-odd-day", "2026-12-13T12:00:00Z").w(deny("0 0 */2 * 5", "24h")).blocked(&[0]),
        c("day-rule/star-step-2-even-saturday", "2026-12-12T12:00:00Z").w(deny("0 0 */2 * 5", "24h")).allowed(&[]),
        c("day-rule/question-mark-is-unrestricted", "2026-12-13T12:00:00Z").w(deny("0 0 ? * 5", "24h")).allowed(&[]),
        c("day-rule/list-or-monday-tuesday-15th", "2026-12-15T12:00:00Z").w(deny("0 0 1,15 * 1", "24h")).blocked(&[0]),
        c("day-rule/list-or-wednesday-16th", "2026-12-16T12:00:00Z").w(deny("0 0 1,15 * 1", "24h")).allowed(&[]),
        c("day-rule/leap-day-only", "2028-02-29T12:00:00Z").w(deny("0 0 29 2 *", "24h")).blocked(&[0]),
        c("freeze/in-force", "2026-12-24T12:00:00Z")
            .freeze("year-end", "2026-12-20T00:00:00Z", "2027-01-04T00:00:00Z", &["security-*"])
            .blocked(&[])
            .open(Some("2027-01-04T00:00:00Z"))
            .close(None)
            .reason("freeze 'year-end'"),
        c("freeze/blocks-from-its-first-instant", "2026-12-20T00:00:00Z")
            .freeze("year-end", "2026-12-20T00:00:00Z", "2027-01-04T00:00:00Z", &[])
            .blocked(&[]),
        c("freeze/over-at-until", "2027-01-04T00:00:00Z")
            .freeze("year-end", "2026-12-20T00:00:00Z", "2027-01-04T00:00:00Z", &[])
            .allowed(&[])
            .open(None)
            .close(None),
        c("freeze/ahead", "2026-12-19T23:59:59Z")
            .freeze("year-end", "2026-12-20T00:00:00Z", "2027-01-04T00:00:00Z", &[])
            .allowed(&[])
            .close(Some("2026-12-20T00:00:00Z"))
            .open(Some("2027-01-04T00:00:00Z")),
        c("freeze/exempt-app", "2026-12-24T12:00:00Z")
            .app("security-scanner")
            .freeze("year-end", "2026-12-20T00:00:00Z", "2027-01-04T00:00:00Z", &["security-*"])
            .allowed(&[]),
        c("freeze/beats-an-open-allow-window", "2026-12-24T12:00:00Z")
            .w(allow("* * * * *", "1h"))
            .freeze("year-end", "2026-12-20T00:00:00Z", "2027-01-04T00:00:00Z", &[])
            .blocked(&[0]),
        c("freeze/manual-sync-still-blocked", "2026-12-24T12:00:00Z")
            .manual()
            .w(deny("0 0 1 1 *", "1h").manual(true))
            .freeze("year-end", "2026-12-20T00:00:00Z", "2027-01-04T00:00:00Z", &[])
            .blocked(&[]),
        c("emergency/passes-a-freeze", "2026-12-24T12:00:00Z")
            .emergency("CHG-911")
            .freeze("year-end", "2026-12-20T00:00:00Z", "2027-01-04T00:00:00Z", &[])
            .allowed(&[])
            .reason("allowed: emergency change CHG-911 overrides sync windows and freezes (without it: blocked: freeze 'year-end'"),
        c("emergency/passes-an-active-deny", "2026-11-23T10:00:00Z")
            .emergency("CHG-912")
            .w(deny("* * * * *", "1h"))
            .allowed(&[0])
            .open(None)
            .close(None)
            .reason("emergency change CHG-912"),
        c("emergency/passes-outside-allow", "2026-11-23T10:00:00Z")
            .emergency("CHG-913")
            .w(allow("0 2 * * 2", "4h"))
            .allowed(&[])
            .reason("emergency change CHG-913"),
    ]
}

#[test]
fn conformance_cases_pass_through_window_check() {
    let mut cases = argo_activity_cases();
    cases.extend(argo_can_sync_cases());
    cases.extend(argo_matches_cases());
    cases.extend(parser_cases());
    cases.extend(calendar_cases());
    assert!(cases.len() >= 120, "only {} cases", cases.len());
    let mut names: Vec<&str> = cases.iter().map(|c| c.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), cases.len(), "case names must be unique");
    run_all(&cases);
}

#[test]
fn window_check_without_at_uses_now_and_prints_one_json_object() {
    let dir = tempfile::tempdir().expect("temp dir");
    let policy = dir.path().join(".sluice.yaml");
    std::fs::write(
        &policy,
        "apiVersion: sluice.io/v1alpha1\nkind: ChangePolicy\n",
    )
    .expect("write");
    let out = sluice_in(
        dir.path(),
        &["window", "check", "--policy", ".sluice.yaml"],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 1, "{text}");
    let json: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(json["allowed"], Value::Bool(true));
}

#[test]
fn window_check_with_missing_policy_exits_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = sluice_in(
        dir.path(),
        &["window", "check", "--policy", "nope.yaml"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("nope.yaml"), "{}", stderr(&out));
    assert!(stdout(&out).is_empty());
}

#[test]
fn guard_blocked_exits_3_with_the_reason() {
    let dir = tempfile::tempdir().expect("temp dir");
    let policy = r#"{"windows":[{"kind":"deny","schedule":"* * * * *","duration":"1h","applications":["*"],"description":"always"}],"guard":{"onClosed":"fail"}}"#;
    let out = sluice_in(
        dir.path(),
        &["guard"],
        &[("SLUICE_GUARD_POLICY", policy), ("SLUICE_APP", "shop")],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("blocked: deny window 'always' active"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn guard_allowed_exits_0_and_emergency_passes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let policy = r#"{"windows":[{"kind":"deny","schedule":"* * * * *","duration":"1h","applications":["*"]}]}"#;
    let out = sluice_in(
        dir.path(),
        &["guard"],
        &[
            ("SLUICE_GUARD_POLICY", policy),
            ("SLUICE_APP", "shop"),
            ("SLUICE_EMERGENCY", "CHG-1"),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let json: Value = serde_json::from_str(stdout(&out).trim()).expect("json");
    assert!(json["reason"]
        .as_str()
        .unwrap_or("")
        .contains("emergency change CHG-1"));
}

#[test]
fn guard_with_invalid_policy_exits_2() {
    let dir = tempfile::tempdir().expect("temp dir");
    let policy = r#"{"windows":[{"kind":"deny","schedule":"@daily","duration":"1h"}]}"#;
    let out = sluice_in(dir.path(), &["guard"], &[("SLUICE_GUARD_POLICY", policy)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("windows[0].schedule"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn guard_report_failure_is_not_fatal() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A port held by a socket that never listens: the connection is refused at once.
    let closed = crate::support::ClosedPort::new();
    let policy = format!(
        r#"{{"windows":[],"guard":{{"report":"http://127.0.0.1:{}/v1/guard"}}}}"#,
        closed.port
    );
    let out = sluice_in(
        dir.path(),
        &["guard"],
        &[("SLUICE_GUARD_POLICY", &policy), ("SLUICE_APP", "shop")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("could not report"),
        "{}",
        stderr(&out)
    );
}

/// The guard Job that `render` generates carries a `SLUICE_GUARD_POLICY` and identity that `sluice guard`
/// accepts and decides on: the two ends of the hand-over agree.
#[test]
fn guard_accepts_the_job_that_render_generates() {
    let dir = tempfile::tempdir().expect("temp dir");
    let app = dir.path().join("app");
    std::fs::create_dir(&app).expect("mkdir");
    std::fs::write(
        app.join(".sluice.yaml"),
        "apiVersion: sluice.io/v1alpha1\nkind: ChangePolicy\nwindows:\n  - kind: deny\n    schedule: '* * * * *'\n    duration: 1h\n    applications: ['shop']\n    description: always closed\nguard:\n  image: example.org/sluice:dev\n",
    )
    .expect("policy");
    std::fs::write(
        app.join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: b}\n",
    )
    .expect("cm");
    let out = sluice_in(
        dir.path(),
        &[
            "render",
            "app",
            "-o",
            "json",
            "--env",
            "ARGOCD_APP_NAME=shop",
            "--env",
            "ARGOCD_APP_NAMESPACE=prod",
            "--env",
            "ARGOCD_APP_REVISION_SHORT=abc1234",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "render: {}", stderr(&out));
    let text = stdout(&out);
    let docs: Vec<Value> = text
        .split("\n---")
        .map(|d| d.trim().trim_start_matches("---").trim())
        .filter(|d| !d.is_empty())
        .map(|d| serde_json::from_str(d).expect("render writes JSON documents"))
        .collect();
    let job = docs
        .iter()
        .find(|d| {
            d["kind"] == "Job"
                && d["metadata"]["name"]
                    .as_str()
                    .unwrap_or("")
                    .contains("guard")
        })
        .expect("a guard Job");
    let env: Vec<(String, String)> = job["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .expect("env")
        .iter()
        .filter_map(|e| {
            Some((
                e["name"].as_str()?.to_string(),
                e["value"].as_str()?.to_string(),
            ))
        })
        .collect();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let out = sluice_in(dir.path(), &["guard"], &env);
    assert_eq!(out.status.code(), Some(3), "guard: {}", stderr(&out));
    assert!(
        stderr(&out).contains("blocked: deny window 'always closed' active"),
        "{}",
        stderr(&out)
    );
}
