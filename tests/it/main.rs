//! The one integration-test binary: every test runs the real `sluice` binary (one link step on 2 cores).

// The emulated hosts write GitHub's large objects with `json!` (tests/it/host/github.rs).
#![recursion_limit = "512"]
// Tests keep the plainest spelling where a pedantic lint asks for a micro-optimisation or a
// restructuring: fixture text built with `push_str(&format!(..))`, exact comparisons of numbers the
// sink printed, helper fns declared beside their one use, and `Option<Option<_>>` in case tables
// ("not checked" / "checked to be null" / "checked to be this").
#![allow(
    clippy::format_push_string,
    clippy::float_cmp,
    clippy::items_after_statements,
    clippy::option_option
)]

mod host;
mod itsm;
mod kube_api;
mod prometheus;
mod support;

mod approvals;
mod attribution;
mod audit;
mod audit_cli;
mod cli;
mod diff;
mod diff_jobs;
mod diff_repo;
mod diff_secrets;
mod docs;
mod evidence;
mod exits;
mod generate;
mod hooks;
mod identical;
mod install;
mod layout;
mod merkle;
mod monitoring;
mod render_yaml;
mod segments;
mod sink;
mod tickets;
mod tls;
mod tokens;
mod ui;
mod ui_browser;
mod verify;
mod watch;
mod window;
mod witness;
