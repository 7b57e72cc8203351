//! Benchmark: `sluice window check` on a policy with 50 windows (the goal: well under 10 ms
//! of CPU, since the guard runs it on every sync). Measures the decision in-process (compile + decide, with nextOpen/nextClose) and the whole
//! command as a user runs it (process start, YAML policy load, decision, JSON out).
//!
//! Run: `cargo bench --bench window_check`. Prints medians and 95th percentiles.

use sluice::{Rules, Subject};
use std::fmt::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

const ZONES: [&str; 5] = [
    "UTC",
    "America/New_York",
    "Europe/Paris",
    "Asia/Kolkata",
    "Australia/Sydney",
];

/// 50 windows of the kinds teams write: business-hours denies, maintenance allows, weekend and
/// month-end freezes, in several zones, for several app and namespace patterns.
fn policy_yaml() -> String {
    let mut y = String::from("apiVersion: sluice.io/v1alpha1\nkind: ChangePolicy\nwindows:\n");
    for i in 0..50 {
        let zone = ZONES[i % ZONES.len()];
        let (kind, schedule, duration) = match i % 5 {
            0 => ("deny", "0 9 * * 1-5", "9h"),
            1 => ("allow", "0 2 * * 2,4", "4h"),
            2 => ("deny", "0 18 * * 5", "60h"),
            3 => ("deny", "0 0 28-31 * *", "24h"),
            _ => ("allow", "*/30 22-23 * * *", "45m"),
        };
        let apps = match i % 3 {
            0 => "['*']",
            1 => "['shop-*', 'cart']",
            _ => "['{billing,payments}-api']",
        };
        let _ = write!(
            y,
            "  - kind: {kind}\n    schedule: '{schedule}'\n    duration: {duration}\n    timeZone: {zone}\n    applications: {apps}\n    namespaces: ['production-*']\n    description: window {i}\n"
        );
    }
    y.push_str("freezes:\n  - name: year-end\n    from: 2026-12-20T00:00:00Z\n    until: 2027-01-04T00:00:00Z\n    exempt: ['security-*']\n");
    y
}

fn percentiles(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    (v[v.len() / 2], v[v.len() * 95 / 100])
}

fn main() {
    let yaml = policy_yaml();
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join(".sluice.yaml");
    std::fs::write(&file, &yaml).expect("write policy");
    let policy = sluice::load_policy(&file).expect("valid policy");
    let subject = Subject {
        app: "shop-web".into(),
        namespace: "production-eu".into(),
        ..Subject::default()
    };
    let instants = [
        "2026-11-23T10:00:00Z",
        "2026-11-24T02:30:00Z",
        "2026-11-28T12:00:00Z",
        "2026-11-30T23:00:00Z",
        "2026-12-24T12:00:00Z",
    ];

    let mut in_process = Vec::new();
    for round in 0..200 {
        let at = chrono::DateTime::parse_from_rfc3339(instants[round % instants.len()])
            .expect("instant")
            .with_timezone(&chrono::Utc);
        let start = Instant::now();
        let rules = Rules::compile(&policy.windows, &policy.freezes).expect("compile");
        let decision = rules.decide(&subject, at);
        in_process.push(start.elapsed());
        std::hint::black_box(decision);
    }
    let rules = Rules::compile(&policy.windows, &policy.freezes).expect("compile");
    let mut compile_only = Vec::new();
    let mut decide_only = Vec::new();
    for round in 0..200 {
        let at = chrono::DateTime::parse_from_rfc3339(instants[round % instants.len()])
            .expect("instant")
            .with_timezone(&chrono::Utc);
        let start = Instant::now();
        std::hint::black_box(Rules::compile(&policy.windows, &policy.freezes).expect("compile"));
        compile_only.push(start.elapsed());
        let start = Instant::now();
        std::hint::black_box(rules.decide(&subject, at));
        decide_only.push(start.elapsed());
    }
    let (median, p95) = percentiles(compile_only);
    println!("  of which compile (parse schedules, zones, globs): median {median:?}, p95 {p95:?}");
    let (median, p95) = percentiles(decide_only);
    println!("  of which decide: median {median:?}, p95 {p95:?}");
    let (median, p95) = percentiles(in_process);
    println!("window check, 50 windows, in process (compile + decide + nextOpen/nextClose): median {median:?}, p95 {p95:?}");

    let bin = env!("CARGO_BIN_EXE_sluice");
    let mut whole = Vec::new();
    let runs: usize = 200;
    let cpu_before = children_cpu_ticks();
    for round in 0..runs {
        let start = Instant::now();
        let out = Command::new(bin)
            .args(["window", "check", "--policy"])
            .arg(&file)
            .args([
                "--at",
                instants[round % instants.len()],
                "--app",
                "shop-web",
                "--namespace",
                "production-eu",
            ])
            .output()
            .expect("run sluice");
        whole.push(start.elapsed());
        assert!(
            matches!(out.status.code(), Some(0 | 3)),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let cpu = children_cpu_ticks().zip(cpu_before).map(|(a, b)| a - b);
    let (median, p95) = percentiles(whole);
    println!("window check, 50 windows, whole process, wall clock: median {median:?}, p95 {p95:?}");
    match cpu {
        Some(ticks) => println!(
            "window check, 50 windows, whole process, CPU (user + sys of {runs} runs / {runs}): {:.2} ms",
            ticks as f64 * 10.0 / runs as f64
        ),
        None => println!("(no /proc/self/stat: CPU time of the process not measured)"),
    }
}

/// User + system CPU time of waited-for children, in clock ticks (Linux: 100 per second), from
/// fields 16 and 17 of `/proc/self/stat`.
fn children_cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state); cutime is field 16, cstime field 17.
    Some(fields.get(13)?.parse::<u64>().ok()? + fields.get(14)?.parse::<u64>().ok()?)
}
