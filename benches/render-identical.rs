//! The byte-identity check of rendering across two builds: every fixture app, every fixture file,
//! the go-yaml oracle's whole generated corpus and an app of the generate benchmark's shape (the
//! cases of `tests/it/identical.rs`) are run through this build and through `SLUICE_BASELINE`, and
//! exit code, stdout and stderr must be the same bytes. Prints the first differences and exits 1 if
//! there is any.
//!
//! Usage: `SLUICE_BASELINE=/path/to/the/other/sluice cargo bench --bench render-identical`
//! (`SLUICE_ORACLE_CASES=N` for another corpus size than 10,000; the digests test of the suite runs
//! the first 300).

#[path = "../tests/it/identical.rs"]
#[allow(dead_code)]
mod identical;

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(baseline) = std::env::var_os("SLUICE_BASELINE").map(PathBuf::from) else {
        eprintln!("render-identical: set SLUICE_BASELINE to the sluice binary to compare with (e.g. a release build of main)");
        return ExitCode::from(2);
    };
    let current = PathBuf::from(env!("CARGO_BIN_EXE_sluice"));
    let corpus: u64 = std::env::var("SLUICE_ORACLE_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let work = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(e) => {
            eprintln!("render-identical: a temporary directory: {e}");
            return ExitCode::from(2);
        }
    };
    let cases = identical::cases(work.path(), corpus, true);
    println!(
        "{} runs each of {} and {}",
        cases.len(),
        current.display(),
        baseline.display()
    );
    let started = std::time::Instant::now();
    let ours = identical::run_all(&current, &cases, work.path());
    let theirs = identical::run_all(&baseline, &cases, work.path());
    let mut differ = 0;
    for ((case, a), b) in cases.iter().zip(&ours).zip(&theirs) {
        if a == b {
            continue;
        }
        differ += 1;
        if differ <= 5 {
            println!("\n--- {} differs", case.name);
            report(
                "exit code",
                &format!("{:?}", a.code),
                &format!("{:?}", b.code),
            );
            report("stdout", &a.stdout, &b.stdout);
            report("stderr", &a.stderr, &b.stderr);
        }
    }
    let ok = ours.iter().filter(|o| o.code == Some(0)).count();
    println!(
        "\n{} runs compared in {:.0} s ({ok} of them render, the rest are errors compared as such): {differ} differ",
        cases.len(),
        started.elapsed().as_secs_f64()
    );
    if differ == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The first line where `ours` and `theirs` differ.
fn report(what: &str, ours: &str, theirs: &str) {
    if ours == theirs {
        return;
    }
    let line = ours
        .lines()
        .zip(theirs.lines())
        .position(|(a, b)| a != b)
        .unwrap_or_else(|| ours.lines().count().min(theirs.lines().count()));
    let at = |s: &str| {
        s.lines()
            .nth(line)
            .unwrap_or("<end>")
            .chars()
            .take(300)
            .collect::<String>()
    };
    println!(
        "  {what}, line {}:\n    this build: {}\n    baseline:   {}",
        line + 1,
        at(ours),
        at(theirs)
    );
}
