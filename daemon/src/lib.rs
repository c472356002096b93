//! Keywarden: an on-device macOS daemon that keeps FileVault personal recovery keys valid,
//! escrowed and unused.
//!
//! One check is observe → decide → act → publish. `runner` is the only place that starts
//! processes and `paths::Root` the only filesystem root, so everything else is pure and tested on
//! Linux against real tool outputs and a simulated Mac. The binary (`main.rs`) only calls `cli`.

// Output that never panics: `println!` panics when stdout is a closed pipe (`keywarden status |
// head -1`), and a root tool must never panic. What cannot be written is dropped.
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($t)*);
    }};
}
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let mut o = std::io::stdout().lock();
        let _ = write!(o, $($t)*);
        let _ = o.flush();
    }};
}
macro_rules! errln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($t)*);
    }};
}

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
pub mod plistio;
pub mod privilege;
pub mod report;
pub mod rotation;
pub mod runner;
pub mod secret;
pub mod state;
pub mod status;
mod sys;
pub mod text;
pub mod tools;
pub mod validate;
