//! Keywarden: an on-device macOS daemon that keeps FileVault personal recovery keys valid,
//! escrowed and unused.
//!
//! The modules below are in layer order, bottom first, and imports point down only (a test at
//! the end of this file holds that line). One check is observe → decide → act → publish, owned
//! by `check`. `runner` is the only place that starts processes and `paths::Root` the only
//! filesystem root, so everything above the seam is pure or runs against a simulated Mac on
//! Linux. `app` is the top: the commands, and the only code that prints or picks an exit code.
//! docs/ARCHITECTURE.md draws the layers and says where a new probe, problem, setting or command
//! goes.
//!
//! Modules are crate-private unless the integration tests or the fuzz targets (tests/fuzz) read
//! them: the parsers and the file formats.

// Output that never panics: `println!` panics when stdout is a closed pipe (`keywarden status |
// head -1`), and a root tool must never panic. What cannot be written is dropped. Only `app`
// prints.
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

// Ground: names and paths, time as a value, the secret type, text made safe to show, plist reads.
pub mod clock;
pub mod paths;
pub mod plistio;
pub mod secret;
pub mod text;

// The seam: the one process runner (and `recording`, which keeps a copy of what it ran), files as
// root must treat them, the writer lock, the log file, and `sys/`, the only `unsafe` (OS timer, utmpx notification, terminal, resource usage).
pub mod files;
pub(crate) mod lock;
pub(crate) mod logging;
pub(crate) mod recording;
pub mod runner;
pub(crate) mod sys;

// The macOS tools: argv builders and pure parsers, one module per tool.
pub mod tools;

// The model: configuration, the status contract, the state, the audit trail, failed keys.
pub mod audit;
pub mod config;
pub mod failed_keys;
pub mod state;
pub mod status;

// The flow: observe, the safety rules, the rotation state machine, decide, act, the boot guard,
// one check, the key operations (validate, rotate), the daemon's loop and the selftest.
pub(crate) mod act;
pub(crate) mod attempt;
pub(crate) mod boot_guard;
pub(crate) mod check;
pub(crate) mod daemon;
pub(crate) mod decide;
pub(crate) mod guards;
pub(crate) mod observe;
pub(crate) mod rotate;
pub(crate) mod rotation;
pub(crate) mod selftest;
pub(crate) mod validate;

// Views: the status for people and inventory, the doctor's advice, the selftest's table and bundle.
pub(crate) mod bundle;
pub(crate) mod doctor;
pub mod report;

// The commands.
pub(crate) mod app;

pub use app::main;

#[cfg(test)]
pub(crate) mod testing {
    //! What the unit tests share.

    use std::path::{Path, PathBuf};

    /// Every file under `dir`, recursively (directories themselves left out).
    pub(crate) fn files_under(dir: &Path) -> Vec<PathBuf> {
        let mut stack = vec![dir.to_owned()];
        let mut files = Vec::new();
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).expect("a readable directory") {
                let path = entry.expect("a directory entry").path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    files.push(path);
                }
            }
        }
        files
    }
}

#[cfg(test)]
mod layers {
    //! Imports point down the layers: a module may use its own layer and those below, never one
    //! above (issue 13). Read from the `crate::` paths of every source file outside its unit tests.

    use std::collections::BTreeMap;
    use std::path::Path;

    /// Each top-level module and its layer, bottom first.
    const LAYERS: &[(&str, &[&str])] = &[
        ("ground", &["clock", "paths", "plistio", "secret", "text"]),
        (
            "seam",
            &["files", "lock", "logging", "recording", "runner", "sys"],
        ),
        ("tools", &["tools"]),
        (
            "model",
            &["audit", "config", "failed_keys", "state", "status"],
        ),
        (
            "flow",
            &[
                "act",
                "attempt",
                "boot_guard",
                "check",
                "daemon",
                "decide",
                "guards",
                "observe",
                "rotate",
                "rotation",
                "selftest",
                "validate",
            ],
        ),
        ("views", &["bundle", "doctor", "report"]),
        ("app", &["app"]),
    ];

    fn layer_of(module: &str) -> Option<usize> {
        LAYERS.iter().position(|(_, ms)| ms.contains(&module))
    }

    /// `crate::NAME` paths in `text`, outside its unit tests (`#[cfg(test)]` then `mod tests`).
    fn imports(text: &str) -> Vec<String> {
        let mut code = text;
        let mut from = 0;
        while let Some(at) = text[from..].find("#[cfg(test)]") {
            let start = from + at;
            let next_line = text[start..].lines().nth(1).unwrap_or("");
            if next_line.contains("mod tests") {
                code = &text[..start];
                break;
            }
            from = start + 1;
        }
        let mut out = Vec::new();
        for line in code.lines() {
            let line = line.split("//").next().unwrap_or("");
            let mut rest = line;
            while let Some(at) = rest.find("crate::") {
                rest = &rest[at + "crate::".len()..];
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if name == "{" || name.is_empty() {
                    // `use crate::{a, b}`: the names up to the closing brace.
                    if let Some(group) = rest.strip_prefix('{') {
                        let group = group.split('}').next().unwrap_or("");
                        out.extend(
                            group
                                .split(',')
                                .map(|g| g.trim().split("::").next().unwrap_or("").to_owned()),
                        );
                    }
                } else {
                    out.push(name);
                }
            }
        }
        out
    }

    #[test]
    fn every_module_imports_only_from_its_layer_and_those_below() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("daemon/src");
        let mut wrong: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut files = 0;
        for path in crate::testing::files_under(&src) {
            let rel = path.strip_prefix(&src).expect("under src");
            let top = rel
                .components()
                .next()
                .and_then(|c| c.as_os_str().to_str())
                .unwrap_or("")
                .trim_end_matches(".rs")
                .to_owned();
            if top == "lib" || top == "main" {
                continue;
            }
            files += 1;
            let Some(own) = layer_of(&top) else {
                wrong
                    .entry(rel.display().to_string())
                    .or_default()
                    .push("is in no layer (add it to LAYERS and to lib.rs)".to_owned());
                continue;
            };
            let text = std::fs::read_to_string(&path).expect("a source file");
            for name in imports(&text) {
                match layer_of(&name) {
                    Some(l) if l > own => {
                        wrong
                            .entry(rel.display().to_string())
                            .or_default()
                            .push(format!(
                                "imports {name} ({}) from {}",
                                LAYERS[l].0, LAYERS[own].0
                            ))
                    }
                    Some(_) | None => {}
                }
            }
        }
        assert!(files > 30, "only {files} source files found");
        assert!(wrong.is_empty(), "imports that point up: {wrong:#?}");
    }
}
