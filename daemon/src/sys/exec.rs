//! Executing exactly the file that was checked (issue 16, item 2): a child started through
//! `exec_checked` runs the program `files::open_trusted` opened and checked, not whatever its
//! path names by the time the child execs.
//!
//! On Linux the child calls `fexecve(2)` on the open descriptor: the kernel executes the file
//! object itself, and a path swapped after the check changes nothing. A script (`#!`) is handed
//! to its interpreter as `/dev/fd/N`, so that one descriptor must survive the exec: for a script
//! (decided in the parent, from its first two bytes: `TrustedFile::script`) the child, and only
//! the child, clears its close-on-exec flag (fexecve(3): "ENOENT ... the close-on-exec flag is
//! set and the file is a script"). A binary keeps the flag, so neither it nor what it starts
//! holds a descriptor of it (issue 16, item 2, attack review finding B). The interpreter itself
//! is found by the kernel by path; `files::open_trusted` checked that path by the same rule.
//!
//! macOS has no `fexecve` (libc declares none for Apple targets; jobd issue 74 found the same and
//! fell back to `execve`), and `/dev/fd/N` there is a duplicate of the descriptor that `execve`
//! is not known to run. There the child re-checks that the resolved, symlink-free path still names
//! the same device and inode, then `execve`s that path. The race is closed by the walk, not by
//! the re-check: every directory on that path and the file itself are root's and writable by
//! nobody else, so between the check and the exec only root could put another file at that path,
//! and root needs no race to run a program as root. The re-check catches an honest replacement
//! (an installer updating the program) between the parent's check and the exec.
//!
//! Everything the child needs (argv, envp, the path) is built before `fork`: between `fork` and
//! `exec` the child calls only async-signal-safe functions and allocates nothing.

use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::raw::c_char;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::process::Command;

use crate::files::TrustedFile;

/// The child's image, built in the parent: the checked file and NUL-terminated pointer arrays
/// into `strings`, which it owns.
struct Image {
    /// Executed on Linux. On macOS it is only held open until the exec: an open file's inode
    /// cannot be freed and its number reused by another file, so the device and inode compared
    /// in the child still name the file that was checked.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    fd: OwnedFd,
    /// The file is a script: on Linux its descriptor must survive the exec (module comment).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    script: bool,
    #[cfg_attr(target_os = "linux", allow(dead_code))]
    path: CString,
    #[cfg_attr(target_os = "linux", allow(dead_code))]
    dev: u64,
    #[cfg_attr(target_os = "linux", allow(dead_code))]
    ino: u64,
    argv: Vec<*const c_char>,
    envp: Vec<*const c_char>,
    /// Owns what `argv` and `envp` point into; never touched after the pointers are taken.
    _strings: Vec<CString>,
}

// SAFETY: the raw pointers point into `_strings`, owned by the same value and never mutated or
// moved (a `CString`'s bytes live on the heap; moving the `Vec` does not move them), so the value
// may move to and be shared with another thread like the `CString`s themselves.
unsafe impl Send for Image {}
// SAFETY: as above; nothing in it is mutated after construction.
unsafe impl Sync for Image {}

fn cstring(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "an argument or environment entry holds a NUL byte",
        )
    })
}

/// Make `cmd` execute `program` (and nothing else) with `argv` (program name first) and exactly
/// the environment `env`. The descriptor moves into `cmd` and is closed when `cmd` is dropped.
pub(crate) fn exec_checked(
    cmd: &mut Command,
    program: TrustedFile,
    argv: &[&OsStr],
    env: &[(&str, &str)],
) -> io::Result<()> {
    let script = program.script();
    let mut fd: OwnedFd = program.file.into();
    if fd.as_raw_fd() <= 2 {
        // Started with a standard stream closed, the open may have taken 0, 1 or 2, which the
        // child's stdio set-up overwrites before the exec: move it above them.
        fd = nix::fcntl::fcntl(
            fd.as_raw_fd(),
            nix::fcntl::FcntlArg::F_DUPFD_CLOEXEC(libc::STDERR_FILENO + 1),
        )
        .map(|raw| {
            // SAFETY: `fcntl(F_DUPFD_CLOEXEC)` just returned this new descriptor, owned by no one.
            unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(raw) }
        })?;
    }
    let mut strings = Vec::with_capacity(argv.len() + env.len());
    for a in argv {
        strings.push(cstring(a.as_bytes())?);
    }
    for (k, v) in env {
        strings.push(cstring(format!("{k}={v}").as_bytes())?);
    }
    let mut argv_ptrs: Vec<*const c_char> =
        strings[..argv.len()].iter().map(|s| s.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut envp_ptrs: Vec<*const c_char> =
        strings[argv.len()..].iter().map(|s| s.as_ptr()).collect();
    envp_ptrs.push(std::ptr::null());
    let image = Image {
        fd,
        script,
        path: cstring(program.path.as_os_str().as_bytes())?,
        dev: program.dev,
        ino: program.ino,
        argv: argv_ptrs,
        envp: envp_ptrs,
        _strings: strings,
    };
    // SAFETY: the closure runs in the forked child before exec; it calls only async-signal-safe
    // functions (fcntl, fexecve / stat, execve) on data built above, and allocates nothing: its
    // error is a raw OS error, which `io::Error` holds without allocating.
    unsafe {
        cmd.pre_exec(move || image.exec());
    }
    Ok(())
}

impl Image {
    /// In the child: replace this process with the checked program. Returns only on failure.
    #[cfg(target_os = "linux")]
    fn exec(&self) -> io::Result<()> {
        let fd = self.fd.as_raw_fd();
        // SAFETY: `fd` is open (owned by `self`); F_SETFD with 0 clears FD_CLOEXEC on it, in this
        // child only, so a script's interpreter can open /dev/fd/N. A binary keeps the flag.
        if self.script && unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } == -1 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `argv` and `envp` are NULL-terminated arrays of pointers to NUL-terminated
        // strings owned by `self`, alive for this call; fexecve returns only on failure.
        unsafe { libc::fexecve(fd, self.argv.as_ptr(), self.envp.as_ptr()) };
        Err(io::Error::last_os_error())
    }

    /// In the child: re-check the path still names the checked file, then execute it (see the
    /// module comment for why the walk makes this safe without `fexecve`).
    #[cfg(not(target_os = "linux"))]
    fn exec(&self) -> io::Result<()> {
        let mut st = std::mem::MaybeUninit::<libc::stat>::zeroed();
        // SAFETY: `path` is NUL-terminated and owned by `self`; `st` is writable stat storage.
        if unsafe { libc::stat(self.path.as_ptr(), st.as_mut_ptr()) } == -1 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: stat succeeded, so it filled `st` (and it was zeroed before).
        let st = unsafe { st.assume_init() };
        // `st_dev` is an i32 on macOS, cast as std's `MetadataExt::dev` casts it; `st_ino` a u64.
        if st.st_dev as u64 != self.dev || st.st_ino != self.ino {
            // Replaced since the check: a raw OS error, which needs no allocation here.
            return Err(io::Error::from_raw_os_error(libc::ESTALE));
        }
        // SAFETY: as for fexecve: NULL-terminated arrays of strings owned by `self`.
        unsafe { libc::execve(self.path.as_ptr(), self.argv.as_ptr(), self.envp.as_ptr()) };
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::{open_trusted, Owners};
    use crate::paths::Root;
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    fn script(path: &Path, body: &str) {
        std::fs::write(path, format!("#!/bin/sh\n{body}")).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// Issue 16, item 2: the check and the exec are one file. A script is opened and checked,
    /// then another script (writing a marker) is renamed over its path, as a user owning the
    /// directory could between a check by path and an exec by path: the original runs.
    #[test]
    fn issue_16_the_file_checked_is_the_file_run_even_when_its_path_is_swapped_after_the_check() {
        let mac = tempfile::tempdir().unwrap();
        let bin = mac.path().join("bin");
        std::fs::create_dir(&bin).unwrap();
        let prog = bin.join("rotate");
        let ran = mac.path().join("ran");
        script(&prog, &format!("echo original >> {}\n", ran.display()));
        let checked = open_trusted(
            &Root::new(mac.path()),
            Path::new("/bin/rotate"),
            Owners::current(),
        )
        .unwrap();

        let swapped = bin.join("swapped");
        script(&swapped, &format!("echo swapped >> {}\n", ran.display()));
        std::fs::rename(&swapped, &prog).unwrap();

        let mut cmd = Command::new(&prog);
        exec_checked(
            &mut cmd,
            checked,
            &[prog.as_os_str(), OsStr::new("an argument")],
            &[("PATH", "/usr/bin:/bin")],
        )
        .unwrap();
        let status = cmd.status().unwrap();
        assert!(status.success(), "{status:?}");
        assert_eq!(std::fs::read_to_string(&ran).unwrap(), "original\n");
    }

    /// The child gets the argv and environment given, and nothing of this process's environment.
    #[test]
    fn the_checked_program_gets_exactly_its_argv_and_environment() {
        let mac = tempfile::tempdir().unwrap();
        let prog = mac.path().join("show");
        script(&prog, "echo \"$0|$1|$2|$(env | sort | tr '\\n' ' ')\"\n");
        let checked = open_trusted(
            &Root::new(mac.path()),
            Path::new("/show"),
            Owners::current(),
        )
        .unwrap();
        let mut cmd = Command::new(&prog);
        cmd.env("LEAKED", "yes");
        exec_checked(
            &mut cmd,
            checked,
            &[OsStr::new("/show"), OsStr::new("one two"), OsStr::new("")],
            &[("PATH", "/usr/bin:/bin"), ("LC_ALL", "C")],
        )
        .unwrap();
        let out = cmd.output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("|one two||"), "{text}");
        assert!(text.contains("LC_ALL=C"), "{text}");
        assert!(!text.contains("LEAKED"), "{text}");
    }

    /// Issue 16, item 2 (attack review finding B): only a script's descriptor survives the exec
    /// (its interpreter reads it as /dev/fd/N); a binary, and what it starts, holds no descriptor
    /// of itself.
    #[cfg(target_os = "linux")]
    #[test]
    fn issue_16_a_binary_run_from_its_checked_file_holds_no_descriptor_of_itself() {
        let mac = tempfile::tempdir().unwrap();
        let real = std::fs::canonicalize(mac.path()).unwrap();
        std::fs::create_dir(real.join("bin")).unwrap();
        let sh = real.join("bin/sh");
        std::fs::copy("/bin/sh", &sh).unwrap();
        std::fs::set_permissions(&sh, std::fs::Permissions::from_mode(0o755)).unwrap();
        let checked =
            open_trusted(&Root::new(&real), Path::new("/bin/sh"), Owners::current()).unwrap();
        assert!(!checked.script());
        let mut cmd = Command::new(&sh);
        exec_checked(
            &mut cmd,
            checked,
            &[
                OsStr::new("/bin/sh"),
                OsStr::new("-c"),
                OsStr::new("ls -l /proc/$$/fd; /bin/ls -l /proc/self/fd"),
            ],
            &[("PATH", "/usr/bin:/bin")],
        )
        .unwrap();
        let out = cmd.output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && text.contains("/proc/"), "{text}");
        assert!(!text.contains(&sh.display().to_string()), "{text}");
    }
}
