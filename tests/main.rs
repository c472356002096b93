//! Keywarden's integration tests: one binary (`integration`), a module per area, one shared
//! `support` module (the simulated Mac the real `keywarden` runs against, the harness that calls
//! the simulator's tools directly, and the helpers every area needs). Unit tests live next to the
//! code in `daemon/src`; the simulator's own in `tests/simulator`.
//!
//! Run everything with `make test` (or `cargo test --tests`), one area with
//! `cargo test --test integration e2e::`, one test by its name. A filter matches anywhere in the
//! path, so `faults::` and `lifecycle::` also pick `sim::faults::` and `sim::lifecycle::` (the
//! simulator's tests); add `-- --skip sim::` to leave those out.
//!
//! Not here: `tests/wipe/main.rs` is a binary of its own (`cargo test --test wipe`) because it
//! installs a process-wide `#[global_allocator]` that inspects every freed block, which must not
//! run under these tests.

// Tests and their helpers may unwrap: a failed unwrap is a failed test (the product denies it).
#![allow(clippy::unwrap_used)]

mod support;

mod attacks;
mod boot_guard;
mod corpus;
mod crash;
mod daemon;
mod deployment;
mod docs;
mod e2e;
mod faults;
mod hostile;
mod lifecycle;
mod logs;
mod profiles;
mod runner;
mod secrets;
mod selftest;
mod sim;
mod validate;
