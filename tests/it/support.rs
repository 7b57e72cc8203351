//! Helpers shared by the integration tests: the binary's path and running it.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// Path of the `sluice` binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_sluice")
}

/// Runs `sluice ARGS` in `dir` with a clean environment plus `env`.
pub fn sluice_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(bin());
    cmd.current_dir(dir).args(args).env_clear();
    if let Ok(path) = std::env::var("PATH") {
        cmd.env("PATH", path);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run sluice")
}

/// Stdout as UTF-8.
pub fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("utf-8 stdout")
}

/// Stderr as UTF-8.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}
