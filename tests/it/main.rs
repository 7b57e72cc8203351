//! The one integration-test binary: every test runs the real `sluice` binary (one link step on 2 cores).

mod support;

mod audit;
mod cli;
mod generate;
mod hooks;
mod install;
mod sink;
mod window;
