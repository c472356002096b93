//! The only `unsafe` code in Keywarden: the few system interfaces that neither std, tokio nor nix
//! wrap safely. Each file is small, each `unsafe` block says why it is sound, and the crate denies
//! `unsafe_code` everywhere else (Cargo.toml `[lints]`; a test below holds the line).
//!
//! - `exec`: a child runs exactly the program that was checked (fexecve; a re-checked path on
//!   macOS).
//! - `timer`: a one-shot OS timer for the daemon's naps (timerfd, kqueue).
//! - `utmpx`: the macOS login/logout notification (notify(3)).
//! - `terminal`: echo off while a key is typed, restored even on Ctrl-C (termios, sigaction).
//! - `usage`: this process's resident memory (`proc_pid_rusage` on macOS).
#![allow(unsafe_code)]

pub(crate) mod exec;
pub(crate) mod terminal;
pub(crate) mod timer;
pub(crate) mod usage;
#[cfg(target_os = "macos")]
pub(crate) mod utmpx;

#[cfg(test)]
mod tests {
    /// `unsafe` stays in this folder: any other source file that allows or uses it fails here.
    #[test]
    fn no_source_file_outside_sys_uses_unsafe() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("daemon/src");
        let mut offenders = Vec::new();
        for path in crate::testing::files_under(&src) {
            if path.starts_with(src.join("sys")) {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("a source file");
            let uses = text.lines().any(|l| {
                let code = l.split("//").next().unwrap_or("");
                code.contains("unsafe ") || code.contains("unsafe_code") || code.contains("unsafe{")
            });
            if uses {
                offenders.push(path.display().to_string());
            }
        }
        assert!(
            offenders.is_empty(),
            "unsafe outside daemon/src/sys: {offenders:?}"
        );
    }
}
