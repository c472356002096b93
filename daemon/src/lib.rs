//! Keywarden: an on-device macOS daemon that keeps FileVault personal recovery keys valid,
//! escrowed and unused.
//!
//! One check is observe → decide → act → publish. `runner` is the only place that starts
//! processes and `paths::Root` the only filesystem root, so everything else is pure and tested on
//! Linux against real tool outputs and a simulated Mac. The binary (`main.rs`) only calls `cli`.

pub mod act;
pub mod audit;
pub mod check;
pub mod cli;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod decide;
pub mod doctor;
pub mod failed_keys;
pub mod files;
pub mod lock;
pub mod logging;
pub mod observe;
pub mod paths;
pub mod privilege;
pub mod report;
pub mod rotation;
pub mod runner;
pub mod secret;
pub mod state;
pub mod status;
pub mod tools;
pub mod usage;
pub mod validate;
