//! Keywarden: an on-device macOS daemon that keeps FileVault personal recovery keys valid,
//! escrowed and unused.
//!
//! One check is observe → decide → act → publish. `runner` is the only place that starts
//! processes and `paths::Root` the only filesystem root, so everything else is pure and tested on
//! Linux against real tool outputs and a simulated Mac. The binary (`main.rs`) only calls `cli`.

pub mod paths;
pub mod runner;
pub mod secret;
pub mod tools;
pub mod cli { pub fn main() -> i32 { 0 } }
