//! Files as a root daemon must treat them: read without following symbolic links and only when
//! they are regular files of a bounded size, trusted only when owned by root (or, under a
//! simulated root run by an ordinary user, by that user) and not writable by group or others, and
//! written atomically (temp file in the same directory, mode set, fsync, rename, fsync of the
//! directory) so a reader, a crash or a power cut never sees a torn file and nothing is ever
//! written through a symlink planted at the target.
//!
//! It knows no file formats (see `status`, `state`, `config`) and no paths (see `paths`).

use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Who may own the files Keywarden trusts: root, and the current user when it is not root (a
/// simulated Mac laid out by an ordinary user; the privilege checks keep that to `--root`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owners {
    euid: u32,
}

impl Owners {
    pub fn current() -> Owners {
        Owners {
            euid: nix::unistd::geteuid().as_raw(),
        }
    }

    /// For tests: trust as if running with this effective uid.
    #[cfg(test)]
    pub(crate) fn as_uid(euid: u32) -> Owners {
        Owners { euid }
    }

    pub(crate) fn allows(&self, uid: u32) -> bool {
        uid == 0 || uid == self.euid
    }

    pub(crate) fn running_as_root(&self) -> bool {
        self.euid == 0
    }
}

/// A file problem, with the path and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{}: {source}", .path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{} is a symbolic link; Keywarden never reads or writes through one (remove it)", .path.display())]
    Symlink { path: PathBuf },
    #[error("{} is a {kind}, not a regular file (remove it)", .path.display())]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error("{} is owned by uid {uid}; it must be owned by root (chown root:wheel)", .path.display())]
    Owner { path: PathBuf, uid: u32 },
    #[error("{} has mode {mode:04o}, writable by group or others; it must not be (chmod go-w)", .path.display())]
    Writable { path: PathBuf, mode: u32 },
    #[error("{} has mode {mode:04o}; this directory must be private to root (chmod 0700)", .path.display())]
    NotPrivate { path: PathBuf, mode: u32 },
    #[error("{} is larger than {max} bytes; refusing to read it", .path.display())]
    TooLarge { path: PathBuf, max: u64 },
    /// A directory on the path of a program or file trusted as root (issue 16, item 2).
    #[error("{} is {who}: whoever can write to it can replace what it holds; keep what Keywarden runs as root under directories only root can write, such as /Library/Management (or chown root:wheel and chmod go-w each directory on the path)", .path.display())]
    UnsafeDir { path: PathBuf, who: String },
    #[error("{} is not an absolute path; give the full path from /", .path.display())]
    NotAbsolute { path: PathBuf },
    #[error("{} was replaced while it was being checked; not trusted this time (try again, and find out who replaces it)", .path.display())]
    Replaced { path: PathBuf },
    /// A script whose interpreter fails the trusted-path rule (issue 16, item 2): it would run as
    /// root with the script as input.
    #[error("its interpreter {} (the #! line of {}): {why}", .interpreter.display(), .script.display())]
    Interpreter {
        interpreter: PathBuf,
        script: PathBuf,
        why: Box<FileError>,
    },
    /// A `#!` line Keywarden cannot safely follow.
    #[error("{}: {why}; not run as root", .script.display())]
    BadShebang { script: PathBuf, why: String },
}

impl FileError {
    /// The file (or a directory on its path) does not exist.
    pub(crate) fn is_not_found(&self) -> bool {
        matches!(self, FileError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }

    pub(crate) fn io(path: &Path, source: io::Error) -> FileError {
        FileError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// What kind of file `meta` describes, for error messages.
pub(crate) fn kind_of(meta: &Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_dir() {
        "directory"
    } else if t.is_symlink() {
        "symbolic link"
    } else if t.is_fifo() {
        "FIFO"
    } else if t.is_socket() {
        "socket"
    } else if t.is_block_device() || t.is_char_device() {
        "device"
    } else {
        "regular file"
    }
}

/// `lstat`: metadata of the path itself, `None` when it does not exist.
pub(crate) fn lstat(path: &Path) -> Result<Option<Metadata>, FileError> {
    match fs::symlink_metadata(path) {
        Ok(m) => Ok(Some(m)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(FileError::io(path, e)),
    }
}

/// Check that `meta` (of `path`) is owned by an allowed owner and not writable by group/others.
pub(crate) fn check_trusted(path: &Path, meta: &Metadata, owners: Owners) -> Result<(), FileError> {
    if !owners.allows(meta.uid()) {
        return Err(FileError::Owner {
            path: path.to_owned(),
            uid: meta.uid(),
        });
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(FileError::Writable {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(())
}

/// How many symbolic links one trusted-path walk follows before giving up (macOS and Linux both
/// stop at a few dozen: `MAXSYMLINKS` is 32 on macOS, 40 on Linux).
const MAX_LINKS: usize = 32;

/// A file that Keywarden runs or trusts as root, checked along its whole path and held open:
/// `file` is the very file the walk checked (its device and inode were compared after opening),
/// so what is run or read is what was checked, whatever happens to the path afterwards.
#[derive(Debug)]
pub(crate) struct TrustedFile {
    /// Open read-only, close-on-exec.
    pub(crate) file: File,
    /// The path the walk ended at: absolute, every symbolic link on it resolved.
    pub(crate) path: PathBuf,
    /// The file's device and inode, as the walk saw them and as the open file has them.
    pub(crate) dev: u64,
    pub(crate) ino: u64,
    /// Its first `SHEBANG_MAX` bytes when it starts with `#!` (read once, at the check): the
    /// kernel hands it to an interpreter (`check_interpreters`), which must read it (on Linux
    /// through `/dev/fd/N`, so only then may the descriptor survive the exec: `sys::exec`).
    pub(crate) shebang: Option<Vec<u8>>,
}

impl TrustedFile {
    /// It starts with `#!`.
    pub(crate) fn script(&self) -> bool {
        self.shebang.is_some()
    }
}

/// Open `mac_path` (an absolute path on the Mac under `root`) as a file Keywarden may run or
/// trust as root: the trusted-path rule (issue 16, item 2).
///
/// Every component from the Mac's root to the file is checked: each directory owned by root (or
/// the simulated root's user, `owners`) and not writable by group or others, a sticky `/tmp`-like
/// directory included (whoever may write into a directory may put another file in a name's
/// place); the file itself a regular file with the same owner rule. A symbolic link is followed
/// only because the directory holding it passed the rule (so only a trusted owner can have put
/// it there), and its target is walked by the same rule: a real Mac's `/etc`, `/tmp` and `/var`
/// are links to `/private/…`. A relative target is walked from the link's directory; an absolute
/// one from `/`, as the kernel resolves it. `..` never climbs above the directory the walk started
/// from. The walk covers the Mac: its root (canonicalised) and every directory under it. What
/// lies above a simulated root (a 1777 `/tmp`), or beside it (the simulator's binary, which its
/// tool links point to), is the host's and not checked; on a real Mac the root is `/` and nothing
/// is outside it.
///
/// The file is then opened (`O_NOFOLLOW`, at the resolved path) and the open file checked again,
/// with its device and inode equal to what the walk saw: a file swapped in between is refused.
pub(crate) fn open_trusted(
    root: &crate::paths::Root,
    mac_path: &Path,
    owners: Owners,
) -> Result<TrustedFile, FileError> {
    if !mac_path.is_absolute() {
        return Err(FileError::NotAbsolute {
            path: mac_path.to_owned(),
        });
    }
    let top = fs::canonicalize(root.dir()).map_err(|e| FileError::io(root.dir(), e))?;
    let program = open_walked(&top, mac_path, owners)?;
    // The kernel finds a script's interpreter on the real filesystem, from `/`, whatever the
    // `--root` (on a real Mac the Mac's root is `/` anyway).
    check_interpreters(&program, Path::new("/"), owners)?;
    Ok(program)
}

/// The walk of `mac_path` under `top`, then the open and its re-check (`open_trusted`).
fn open_walked(top: &Path, mac_path: &Path, owners: Owners) -> Result<TrustedFile, FileError> {
    let (path, meta) = walk(top, mac_path, owners, Want::File)?;
    let file = OpenOptions::new()
        .read(true)
        // Non-blocking: a FIFO swapped in after the walk cannot hang the open.
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(&path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => FileError::Symlink { path: path.clone() },
            _ => FileError::io(&path, e),
        })?;
    let opened = file.metadata().map_err(|e| FileError::io(&path, e))?;
    if !opened.file_type().is_file() {
        return Err(FileError::NotRegular {
            path,
            kind: kind_of(&opened),
        });
    }
    check_trusted(&path, &opened, owners)?;
    if (opened.dev(), opened.ino()) != (meta.dev(), meta.ino()) {
        return Err(FileError::Replaced { path });
    }
    let header = read_header(&file).map_err(|e| FileError::io(&path, e))?;
    Ok(TrustedFile {
        file,
        dev: opened.dev(),
        ino: opened.ino(),
        shebang: header.starts_with(b"#!").then_some(header),
        path,
    })
}

/// How much of a script's first line the kernel reads for its `#!` line: Linux's
/// `BINPRM_BUF_SIZE` is 256 (include/uapi/linux/binfmts.h); XNU reads 512 (`IMG_SHSIZE`). An
/// interpreter path not ended within 256 bytes is refused rather than guessed at.
const SHEBANG_MAX: usize = 256;

/// How many interpreters deep a script may go (an interpreter that is itself a script): Linux
/// stops at 4 (`BINPRM_MAX_RECURSION`); deeper is refused.
const MAX_INTERPRETERS: usize = 4;

/// The first `SHEBANG_MAX` bytes of `file` (fewer if it is shorter), read at offset 0 without
/// moving the file's offset.
fn read_header(file: &File) -> io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; SHEBANG_MAX];
    let mut len = 0;
    while len < buf.len() {
        match file.read_at(&mut buf[len..], len as u64) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(len);
    Ok(buf)
}

/// A script's interpreter runs as root with the script as its input, so it must pass the same
/// rule as the script (issue 16, item 2, attack review finding A: a trusted
/// `/Library/Management/rotate` starting `#!/opt/homebrew/bin/bash` would run a user's bash as
/// root). Each interpreter is walked from `top` (the host's `/`, where the kernel finds it; a
/// test gives its own), and if it is a script too, so is its interpreter, up to
/// `MAX_INTERPRETERS`.
fn check_interpreters(program: &TrustedFile, top: &Path, owners: Owners) -> Result<(), FileError> {
    let mut script = program.path.clone();
    let Some(mut header) = program.shebang.clone() else {
        return Ok(());
    };
    for _ in 0..MAX_INTERPRETERS {
        let interpreter = match parse_shebang(&header) {
            Ok(Some(found)) => found,
            Ok(None) => return Ok(()),
            Err(why) => return Err(FileError::BadShebang { script, why }),
        };
        let refused = |why: FileError| FileError::Interpreter {
            interpreter: interpreter.clone(),
            script: script.clone(),
            why: Box::new(why),
        };
        // A relative interpreter is found from the child's working directory, `/` (runner).
        let opened =
            open_walked(top, &Path::new("/").join(&interpreter), owners).map_err(refused)?;
        let Some(next) = opened.shebang else {
            return Ok(());
        };
        header = next;
        script = opened.path;
    }
    Err(FileError::BadShebang {
        script,
        why: format!("its interpreters are scripts more than {MAX_INTERPRETERS} deep"),
    })
}

/// The interpreter a `#!` line names: the first word after `#!` (spaces and tabs around it), as
/// both kernels take it (Linux fs/binfmt_script.c; XNU `exec_shell_imgact`, bsd/kern/kern_exec.c). `None` when `header` is not a script. `/usr/bin/env NAME` names env, which
/// then looks `NAME` up in the runner's fixed `PATH` (`runner::CHILD_PATH`: `/usr/bin:/bin:
/// /usr/sbin:/sbin`, root's directories); options or assignments given to env (`-S`, `PATH=…`)
/// could point it anywhere, so they are refused.
fn parse_shebang(header: &[u8]) -> Result<Option<PathBuf>, String> {
    use std::os::unix::ffi::OsStrExt;
    let Some(rest) = header.strip_prefix(b"#!") else {
        return Ok(None);
    };
    let line = match rest.iter().position(|&b| b == b'\n') {
        Some(end) => &rest[..end],
        None if header.len() < SHEBANG_MAX => rest,
        None => {
            return Err(format!(
                "its #! line is longer than {SHEBANG_MAX} bytes (name the interpreter by a shorter path)"
            ))
        }
    };
    let mut words = line
        .split(|&b| b == b' ' || b == b'\t')
        .filter(|w| !w.is_empty());
    let Some(interpreter) = words.next() else {
        return Err("its #! line names no interpreter".to_owned());
    };
    if interpreter.contains(&b'#') {
        // XNU ends the line at a `#` (`IS_EOL` in bsd/kern/kern_exec.c), Linux does not: the two
        // kernels would run different interpreters, so neither is assumed.
        return Err(
            "its #! line names an interpreter holding a '#', which macOS takes as the end of the line and Linux does not (rename it)"
                .to_owned(),
        );
    }
    let interpreter = PathBuf::from(std::ffi::OsStr::from_bytes(interpreter));
    if interpreter.file_name() == Some(std::ffi::OsStr::new("env")) {
        let args: Vec<&[u8]> = words.collect();
        let plain = |w: &&[u8]| !w.starts_with(b"-") && !w.contains(&b'=') && !w.contains(&b'/');
        if args.len() != 1 || !args.iter().all(plain) {
            return Err(format!(
                "its #! line gives {} more than a program name: options or assignments could make it run a program from anywhere (name the interpreter by its full path)",
                interpreter.display()
            ));
        }
    }
    Ok(Some(interpreter))
}

/// Whether every directory from the Mac's root down to `mac_dir` (a directory, absolute on the
/// Mac) passes `open_trusted`'s rule: root's (or the simulated root's user's) and writable by
/// nobody else, links followed only to places that pass too. A file read as root from a
/// directory a user can write into is that user's to replace, whatever its own owner and mode
/// (issue 16, item 2: "the same rule for every program and file Keywarden trusts as root").
pub(crate) fn check_trusted_dir(
    root: &crate::paths::Root,
    mac_dir: &Path,
    owners: Owners,
) -> Result<(), FileError> {
    if !mac_dir.is_absolute() {
        return Err(FileError::NotAbsolute {
            path: mac_dir.to_owned(),
        });
    }
    let top = fs::canonicalize(root.dir()).map_err(|e| FileError::io(root.dir(), e))?;
    walk(&top, mac_dir, owners, Want::Dir).map(|_| ())
}

/// What a walk must end at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    File,
    Dir,
}

/// The walk of `open_trusted` (and `check_trusted_dir`): the resolved path of `mac_path` under
/// `top` and its `lstat`.
fn walk(
    top: &Path,
    mac_path: &Path,
    owners: Owners,
    want: Want,
) -> Result<(PathBuf, Metadata), FileError> {
    use std::collections::VecDeque;
    use std::ffi::OsString;
    use std::path::Component;

    fn parts(p: &Path) -> impl Iterator<Item = Option<OsString>> + '_ {
        // `None` stands for `..`; `.` and the root are dropped.
        p.components().filter_map(|c| match c {
            Component::Normal(n) => Some(Some(n.to_owned())),
            Component::ParentDir => Some(None),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
    }

    check_dir(top, owners)?;
    // Where `..` stops: the top of the walk, or `/` after an absolute link.
    let mut floor = top.to_path_buf();
    let mut cur = top.to_path_buf();
    let mut todo: VecDeque<Option<OsString>> = parts(mac_path).collect();
    let mut links = 0;
    while let Some(part) = todo.pop_front() {
        let Some(name) = part else {
            if cur != floor {
                cur.pop();
            }
            continue;
        };
        let next = cur.join(&name);
        let meta = fs::symlink_metadata(&next).map_err(|e| FileError::io(&next, e))?;
        let t = meta.file_type();
        if t.is_symlink() {
            links += 1;
            if links > MAX_LINKS {
                return Err(FileError::io(
                    &next,
                    io::Error::from_raw_os_error(libc::ELOOP),
                ));
            }
            let target = fs::read_link(&next).map_err(|e| FileError::io(&next, e))?;
            if target.is_absolute() {
                cur = PathBuf::from("/");
                floor = cur.clone();
                if cur.starts_with(top) {
                    check_dir(&cur, owners)?;
                }
            }
            for p in parts(&target).collect::<Vec<_>>().into_iter().rev() {
                todo.push_front(p);
            }
        } else if t.is_dir() {
            // Only the Mac's directories: on a real Mac that is every one (`top` is `/`); on a
            // simulated Mac a link may lead out of the `--root` (the simulator's tools are links
            // to its binary, which tests may copy under a 1777 `/tmp`), and what lies outside
            // the Mac is the host's, as what lies above the `--root` is. The file itself is
            // checked wherever it is.
            if next.starts_with(top) {
                check_dir_meta(&next, &meta, owners)?;
            }
            cur = next;
        } else if todo.is_empty() && want == Want::File {
            if !t.is_file() {
                return Err(FileError::NotRegular {
                    path: next,
                    kind: kind_of(&meta),
                });
            }
            check_trusted(&next, &meta, owners)?;
            return Ok((next, meta));
        } else {
            return Err(FileError::io(
                &next,
                io::Error::from_raw_os_error(libc::ENOTDIR),
            ));
        }
    }
    // The path named a directory (or nothing but `/`), each one on the way checked.
    match want {
        Want::Dir => {
            let meta = fs::symlink_metadata(&cur).map_err(|e| FileError::io(&cur, e))?;
            Ok((cur, meta))
        }
        Want::File => Err(FileError::NotRegular {
            path: cur,
            kind: "directory",
        }),
    }
}

fn check_dir(dir: &Path, owners: Owners) -> Result<(), FileError> {
    let meta = fs::symlink_metadata(dir).map_err(|e| FileError::io(dir, e))?;
    check_dir_meta(dir, &meta, owners)
}

/// A directory on a trusted path: whoever may write into it may put another file in place of
/// any name in it, so it must be a trusted owner's and writable by nobody else (the sticky bit
/// does not help: it stops removing others' files, not creating a name that is not there).
fn check_dir_meta(dir: &Path, meta: &Metadata, owners: Owners) -> Result<(), FileError> {
    let uid = meta.uid();
    let mode = meta.mode() & 0o7777;
    let foreign = !owners.allows(uid);
    let open = mode & 0o022 != 0;
    if foreign || open {
        let who = match (foreign, open) {
            (true, true) => {
                format!("owned by uid {uid} and writable by group or others (mode {mode:04o})")
            }
            (true, false) => format!("owned by uid {uid}, not root"),
            (false, _) => format!("writable by group or others (mode {mode:04o})"),
        };
        return Err(FileError::UnsafeDir {
            path: dir.to_owned(),
            who,
        });
    }
    Ok(())
}

/// How much to trust a file being read.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Trust {
    /// Any owner (e.g. the status plist read by a helpdesk user): still no symlink, regular only.
    Any,
    /// Owned by root (or the simulated root's user) and not writable by group or others.
    Owned(Owners),
}

/// Read a whole regular file without following a symlink, refusing FIFOs and devices (opened
/// non-blocking, so a FIFO cannot hang the daemon) and files over `max` bytes. `Ok(None)` when it
/// does not exist.
pub(crate) fn read_file(path: &Path, max: u64, trust: Trust) -> Result<Option<Vec<u8>>, FileError> {
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        // O_NOFOLLOW on a symlink: ELOOP (Linux, macOS).
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err(FileError::Symlink {
                path: path.to_owned(),
            })
        }
        Err(e) => return Err(FileError::io(path, e)),
    };
    let meta = file.metadata().map_err(|e| FileError::io(path, e))?;
    if !meta.file_type().is_file() {
        return Err(FileError::NotRegular {
            path: path.to_owned(),
            kind: kind_of(&meta),
        });
    }
    if let Trust::Owned(owners) = trust {
        check_trusted(path, &meta, owners)?;
    }
    if meta.len() > max {
        return Err(FileError::TooLarge {
            path: path.to_owned(),
            max,
        });
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| FileError::io(path, e))?;
    if bytes.len() as u64 > max {
        return Err(FileError::TooLarge {
            path: path.to_owned(),
            max,
        });
    }
    Ok(Some(bytes))
}

/// Make sure `dir` exists as a real directory (not a symlink) with a trusted owner and mode.
/// Missing directories are created with `mode`. A `private` directory must give group and others
/// no access at all (the state directory, 0700).
pub(crate) fn ensure_dir(
    dir: &Path,
    mode: u32,
    private: bool,
    owners: Owners,
) -> Result<(), FileError> {
    if lstat(dir)?.is_none() {
        if let Some(parent) = dir.parent() {
            if lstat(parent)?.is_none() {
                fs::create_dir_all(parent).map_err(|e| FileError::io(parent, e))?;
            }
        }
        match fs::DirBuilder::new().mode(mode).create(dir) {
            Ok(()) => {
                // The umask may have narrowed the mode; set it exactly.
                fs::set_permissions(dir, fs::Permissions::from_mode(mode))
                    .map_err(|e| FileError::io(dir, e))?;
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(FileError::io(dir, e)),
        }
    }
    let meta = lstat(dir)?
        .ok_or_else(|| FileError::io(dir, io::Error::new(io::ErrorKind::NotFound, "vanished")))?;
    if meta.file_type().is_symlink() {
        return Err(FileError::Symlink {
            path: dir.to_owned(),
        });
    }
    if !meta.is_dir() {
        return Err(FileError::NotRegular {
            path: dir.to_owned(),
            kind: kind_of(&meta),
        });
    }
    check_trusted(dir, &meta, owners)?;
    let actual = meta.mode() & 0o7777;
    if private && actual & 0o077 != 0 {
        return Err(FileError::NotPrivate {
            path: dir.to_owned(),
            mode: actual,
        });
    }
    Ok(())
}

/// Atomically replace `path` with `bytes` at `mode`: a temp file in the same directory, mode set,
/// data fsynced, renamed over the target, directory fsynced. The directory must already be a real
/// directory; a symlink, directory, FIFO or device at `path` is an error and nothing is written.
/// On any failure (a full disk included) the old file is left as it was.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), FileError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    match lstat(dir)? {
        Some(m) if m.file_type().is_symlink() => {
            return Err(FileError::Symlink {
                path: dir.to_owned(),
            })
        }
        Some(m) if !m.is_dir() => {
            return Err(FileError::NotRegular {
                path: dir.to_owned(),
                kind: kind_of(&m),
            })
        }
        Some(_) => {}
        None => {
            return Err(FileError::io(
                dir,
                io::Error::new(io::ErrorKind::NotFound, "directory does not exist"),
            ))
        }
    }
    if let Some(m) = lstat(path)? {
        if m.file_type().is_symlink() {
            return Err(FileError::Symlink {
                path: path.to_owned(),
            });
        }
        if !m.file_type().is_file() {
            return Err(FileError::NotRegular {
                path: path.to_owned(),
                kind: kind_of(&m),
            });
        }
    }
    let mut tmp = tempfile::Builder::new()
        .prefix(".keywarden-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| FileError::io(dir, e))?;
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(mode))
        .map_err(|e| FileError::io(path, e))?;
    tmp.write_all(bytes).map_err(|e| FileError::io(path, e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| FileError::io(path, e))?;
    // rename(2) replaces the directory entry: a symlink swapped in after the check above is
    // replaced, never followed.
    tmp.persist(path)
        .map_err(|e| FileError::io(path, e.error))?;
    if let Ok(d) = File::open(dir) {
        // Best effort: some filesystems refuse fsync on a directory; the rename is done.
        let _ = d.sync_all();
    }
    Ok(())
}

/// Remove temp files an interrupted `write_atomic` left in `dir` (a process killed between
/// creating its temp file and the rename). Call only while holding the writer lock: then no other
/// writer's temp file can be in flight. Returns how many were removed.
pub(crate) fn sweep_temp_files(dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        let is_ours = name.starts_with(".keywarden-") && name.ends_with(".tmp");
        if is_ours
            && e.file_type().map(|t| t.is_file()).unwrap_or(false)
            && fs::remove_file(e.path()).is_ok()
        {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn me() -> Owners {
        Owners::current()
    }

    #[test]
    fn an_atomic_write_creates_the_file_with_its_mode_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("status.plist");
        write_atomic(&p, b"one", 0o644).unwrap();
        write_atomic(&p, b"two", 0o644).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::metadata(&p).unwrap().mode() & 0o7777, 0o644);
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().flatten().collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn temp_files_left_by_a_killed_writer_are_swept_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(".keywarden-abc.tmp"), b"half").unwrap();
        fs::write(dir.path().join("status.plist"), b"whole").unwrap();
        fs::write(dir.path().join(".other.tmp"), b"not ours").unwrap();
        assert_eq!(sweep_temp_files(dir.path()), 1);
        let mut left: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        left.sort();
        assert_eq!(left, [".other.tmp", "status.plist"]);
    }

    #[test]
    fn nothing_is_written_through_a_symlink_at_the_target() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, b"precious").unwrap();
        let p = dir.path().join("status.plist");
        symlink(&victim, &p).unwrap();
        let err = write_atomic(&p, b"evil", 0o644).unwrap_err();
        assert!(matches!(err, FileError::Symlink { .. }), "{err}");
        assert!(err.to_string().contains("symbolic link"));
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
    }

    #[test]
    fn a_directory_or_fifo_at_the_target_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("status.plist");
        fs::create_dir(&p).unwrap();
        let err = write_atomic(&p, b"x", 0o644).unwrap_err();
        assert!(
            err.to_string()
                .contains("is a directory, not a regular file"),
            "{err}"
        );
        let f = dir.path().join("fifo");
        nix::unistd::mkfifo(&f, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let err = write_atomic(&f, b"x", 0o644).unwrap_err();
        assert!(err.to_string().contains("FIFO"), "{err}");
        let err = read_file(&f, 100, Trust::Any).unwrap_err();
        assert!(err.to_string().contains("FIFO"), "{err}");
    }

    #[test]
    fn a_symlinked_directory_is_not_written_into() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        fs::create_dir(&real).unwrap();
        let link = dir.path().join("Keywarden");
        symlink(&real, &link).unwrap();
        let err = write_atomic(&link.join("status.plist"), b"x", 0o644).unwrap_err();
        assert!(matches!(err, FileError::Symlink { .. }), "{err}");
        assert!(fs::read_dir(&real).unwrap().next().is_none());
        let err = ensure_dir(&link, 0o755, false, me()).unwrap_err();
        assert!(matches!(err, FileError::Symlink { .. }), "{err}");
    }

    #[test]
    fn reading_refuses_symlinks_and_oversized_files_and_reports_missing_ones_as_none() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("prefs.plist");
        assert!(read_file(&p, 10, Trust::Any).unwrap().is_none());
        fs::write(&p, b"0123456789AB").unwrap();
        assert!(matches!(
            read_file(&p, 10, Trust::Any),
            Err(FileError::TooLarge { .. })
        ));
        let link = dir.path().join("link.plist");
        symlink(&p, &link).unwrap();
        assert!(matches!(
            read_file(&link, 100, Trust::Any),
            Err(FileError::Symlink { .. })
        ));
        assert_eq!(
            read_file(&p, 100, Trust::Any).unwrap().unwrap(),
            b"0123456789AB"
        );
    }

    #[test]
    fn a_group_writable_file_is_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("prefs.plist");
        fs::write(&p, b"x").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o664)).unwrap();
        let err = read_file(&p, 100, Trust::Owned(me())).unwrap_err();
        assert!(
            err.to_string().contains("writable by group or others"),
            "{err}"
        );
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(read_file(&p, 100, Trust::Owned(me())).unwrap().is_some());
    }

    #[test]
    fn a_file_owned_by_someone_else_is_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("prefs.plist");
        fs::write(&p, b"x").unwrap();
        let mine = fs::metadata(&p).unwrap().uid();
        // Trust as a different, non-root user: the file's owner is neither root nor that user
        // (unless the test runs as root, whose files root trusts).
        let other = Owners::as_uid(mine + 12345);
        let result = read_file(&p, 100, Trust::Owned(other));
        if mine == 0 {
            assert!(result.is_ok());
        } else {
            assert!(matches!(result, Err(FileError::Owner { .. })));
        }
    }

    /// A Mac laid out as a real one: `/private/etc` behind the `/etc` link, `/usr/bin`, all 0755.
    fn mac() -> tempfile::TempDir {
        let mac = tempfile::tempdir().unwrap();
        for d in ["private/etc", "usr/bin", "Library/Management"] {
            fs::create_dir_all(mac.path().join(d)).unwrap();
        }
        symlink("private/etc", mac.path().join("etc")).unwrap();
        for f in [
            "private/etc/tool",
            "usr/bin/tool",
            "Library/Management/rotate",
        ] {
            fs::write(mac.path().join(f), b"#!/bin/sh\n").unwrap();
            fs::set_permissions(mac.path().join(f), fs::Permissions::from_mode(0o755)).unwrap();
        }
        mac
    }

    fn open(mac: &tempfile::TempDir, path: &str) -> Result<TrustedFile, FileError> {
        open_trusted(&crate::paths::Root::new(mac.path()), Path::new(path), me())
    }

    #[test]
    fn issue_16_a_trusted_path_follows_links_to_trusted_places_and_ends_at_the_real_file() {
        let mac = mac();
        let real = fs::canonicalize(mac.path()).unwrap();
        let t = open(&mac, "/etc/tool").unwrap();
        assert_eq!(t.path, real.join("private/etc/tool"));
        let meta = fs::metadata(real.join("private/etc/tool")).unwrap();
        assert_eq!((t.dev, t.ino), (meta.dev(), meta.ino()));
        // `..` and `.` as the kernel takes them, never above the Mac's root.
        let t = open(&mac, "/usr/../../../usr/./bin/tool").unwrap();
        assert_eq!(t.path, real.join("usr/bin/tool"));
        // A link to an absolute path, and a link to a link.
        symlink(real.join("usr/bin"), real.join("Library/bin")).unwrap();
        symlink("Library/bin", real.join("bin")).unwrap();
        assert_eq!(
            open(&mac, "/bin/tool").unwrap().path,
            real.join("usr/bin/tool")
        );
    }

    #[test]
    fn issue_16_every_directory_on_a_trusted_path_is_checked_and_the_first_loose_one_named() {
        let mac = mac();
        let real = fs::canonicalize(mac.path()).unwrap();
        for (dir, mode) in [
            ("", 0o777),
            ("private", 0o775),
            ("private/etc", 0o1777),
            ("usr", 0o757),
        ] {
            let d = if dir.is_empty() {
                real.clone()
            } else {
                real.join(dir)
            };
            fs::set_permissions(&d, fs::Permissions::from_mode(mode)).unwrap();
            let path = if dir.starts_with("usr") {
                "/usr/bin/tool"
            } else {
                "/etc/tool"
            };
            let err = open(&mac, path).unwrap_err();
            assert!(matches!(err, FileError::UnsafeDir { .. }), "{dir}: {err}");
            let said = err.to_string();
            assert!(
                said.starts_with(&format!(
                    "{} is writable by group or others (mode {mode:04o})",
                    d.display()
                )),
                "{dir}: {said}"
            );
            fs::set_permissions(&d, fs::Permissions::from_mode(0o755)).unwrap();
        }
        let other = Owners::as_uid(nix::unistd::geteuid().as_raw() + 12345);
        let root = crate::paths::Root::new(mac.path());
        let result = open_trusted(&root, Path::new("/usr/bin/tool"), other);
        if me().running_as_root() {
            assert!(result.is_ok(), "root's files are trusted");
        } else {
            let said = result.unwrap_err().to_string();
            assert!(said.contains(", not root:"), "{said}");
        }
    }

    #[test]
    fn issue_16_a_trusted_path_refuses_what_is_not_a_plain_trusted_file() {
        let mac = mac();
        let real = fs::canonicalize(mac.path()).unwrap();
        fs::set_permissions(real.join("usr/bin/tool"), fs::Permissions::from_mode(0o775)).unwrap();
        assert!(matches!(
            open(&mac, "/usr/bin/tool"),
            Err(FileError::Writable { .. })
        ));
        assert!(matches!(
            open(&mac, "/usr/bin"),
            Err(FileError::NotRegular { .. })
        ));
        assert!(matches!(
            open(&mac, "usr/bin/tool"),
            Err(FileError::NotAbsolute { .. })
        ));
        assert!(open(&mac, "/usr/bin/missing").unwrap_err().is_not_found());
        assert!(open(&mac, "/usr/bin/tool/more").is_err());
        symlink("loop", real.join("usr/bin/loop")).unwrap();
        assert!(open(&mac, "/usr/bin/loop").is_err(), "a link loop ends");
        nix::unistd::mkfifo(
            &real.join("usr/bin/fifo"),
            nix::sys::stat::Mode::from_bits_truncate(0o700),
        )
        .unwrap();
        assert!(matches!(
            open(&mac, "/usr/bin/fifo"),
            Err(FileError::NotRegular { .. })
        ));
    }

    #[test]
    fn a_private_directory_is_created_private_and_a_loose_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("var/db/keywarden");
        ensure_dir(&state, 0o700, true, me()).unwrap();
        assert_eq!(fs::metadata(&state).unwrap().mode() & 0o7777, 0o700);
        fs::set_permissions(&state, fs::Permissions::from_mode(0o755)).unwrap();
        let err = ensure_dir(&state, 0o700, true, me()).unwrap_err();
        assert!(err.to_string().contains("private"), "{err}");
        fs::set_permissions(&state, fs::Permissions::from_mode(0o777)).unwrap();
        let err = ensure_dir(&state, 0o700, true, me()).unwrap_err();
        assert!(
            err.to_string().contains("writable by group or others"),
            "{err}"
        );
    }

    /// A file at `path` (under `top`, absolute from it) with `body` and mode 0755.
    fn program(top: &Path, path: &str, body: &[u8]) {
        let p = top.join(path.trim_start_matches('/'));
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, body).unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// Open `path` under `top` and check its interpreters walked from `top` too.
    fn interpreted(top: &Path, path: &str) -> Result<TrustedFile, FileError> {
        let f = open_walked(top, Path::new(path), me())?;
        check_interpreters(&f, top, me())?;
        Ok(f)
    }

    /// Issue 16, item 2 (attack review finding A): a trusted script whose `#!` names an
    /// interpreter in a directory others can write is refused, naming the interpreter and that
    /// directory; the same interpreter in a root-only directory passes, by absolute or relative
    /// name (the child's working directory is `/`).
    #[test]
    fn issue_16_a_script_whose_interpreter_is_in_a_directory_others_can_write_is_refused_naming_both(
    ) {
        let dir = tempfile::tempdir().unwrap();
        let top = fs::canonicalize(dir.path()).unwrap();
        // Not a script: its content is never run here, only its path and first bytes read.
        program(&top, "/opt/homebrew/bin/bash", b"\x7fELF...");
        program(
            &top,
            "/Library/Management/rotate",
            b"#!/opt/homebrew/bin/bash -e\necho hi\n",
        );
        let brew = top.join("opt/homebrew/bin");
        fs::set_permissions(&brew, fs::Permissions::from_mode(0o777)).unwrap();
        let err = interpreted(&top, "/Library/Management/rotate").unwrap_err();
        let said = err.to_string();
        assert!(matches!(err, FileError::Interpreter { .. }), "{said}");
        assert!(
            said.starts_with(&format!(
                "its interpreter /opt/homebrew/bin/bash (the #! line of {}): {} is writable by group or others (mode 0777)",
                top.join("Library/Management/rotate").display(),
                brew.display()
            )),
            "{said}"
        );
        fs::set_permissions(&brew, fs::Permissions::from_mode(0o755)).unwrap();
        let ok = interpreted(&top, "/Library/Management/rotate").unwrap();
        assert!(ok.script());
        program(
            &top,
            "/Library/Management/relative",
            b"#!opt/homebrew/bin/bash\n",
        );
        assert!(interpreted(&top, "/Library/Management/relative").is_ok());
        fs::set_permissions(&brew, fs::Permissions::from_mode(0o775)).unwrap();
        let said = interpreted(&top, "/Library/Management/relative")
            .unwrap_err()
            .to_string();
        assert!(
            said.contains(&format!("{} is writable", brew.display())),
            "{said}"
        );
    }

    /// The same through `open_trusted`, whose interpreter walk starts at the host's `/`: an
    /// interpreter under this test's temporary directory lies under a 1777 `/tmp` (or another
    /// directory root does not keep to itself) and is refused, while `/bin/sh` passes.
    #[test]
    fn issue_16_a_script_is_trusted_only_when_its_interpreter_is_on_a_path_only_root_can_write() {
        let mac = mac();
        let real = fs::canonicalize(mac.path()).unwrap();
        assert!(
            open(&mac, "/Library/Management/rotate").is_ok(),
            "#!/bin/sh"
        );
        program(&real, "/opt/homebrew/bin/bash", b"\x7fELF...");
        program(
            &real,
            "/Library/Management/rotate",
            format!("#!{}\n", real.join("opt/homebrew/bin/bash").display()).as_bytes(),
        );
        let err = open(&mac, "/Library/Management/rotate").unwrap_err();
        let said = err.to_string();
        assert!(
            said.starts_with(&format!(
                "its interpreter {}",
                real.join("opt/homebrew/bin/bash").display()
            )),
            "{said}"
        );
        assert!(said.contains("only root can write"), "what to do: {said}");
    }

    /// An interpreter that is itself a script has its own interpreter checked, and so on, up to
    /// four deep; a loop is refused, not followed forever.
    #[test]
    fn issue_16_an_interpreter_that_is_a_script_has_its_own_interpreter_checked() {
        let dir = tempfile::tempdir().unwrap();
        let top = fs::canonicalize(dir.path()).unwrap();
        program(&top, "/usr/bin/real", b"\x7fELF...");
        program(&top, "/usr/bin/wrapper", b"#!/opt/homebrew/bin/bash\n");
        program(&top, "/opt/homebrew/bin/bash", b"\x7fELF...");
        program(&top, "/Library/Management/rotate", b"#!/usr/bin/wrapper\n");
        assert!(interpreted(&top, "/Library/Management/rotate").is_ok());
        let brew = top.join("opt/homebrew/bin");
        fs::set_permissions(&brew, fs::Permissions::from_mode(0o777)).unwrap();
        let said = interpreted(&top, "/Library/Management/rotate")
            .unwrap_err()
            .to_string();
        assert!(
            said.starts_with(&format!(
                "its interpreter /opt/homebrew/bin/bash (the #! line of {}): {} is writable",
                top.join("usr/bin/wrapper").display(),
                brew.display()
            )),
            "{said}"
        );
        program(&top, "/usr/bin/itself", b"#!/usr/bin/itself\n");
        let said = interpreted(&top, "/usr/bin/itself")
            .unwrap_err()
            .to_string();
        assert!(said.contains("more than 4 deep"), "{said}");
    }

    /// `#!/usr/bin/env NAME` passes when env does (env then searches the runner's fixed PATH of
    /// root's directories); env given options or assignments (`-S`, `PATH=`), a line naming no
    /// interpreter, and one too long to know where its interpreter ends are refused, naming the
    /// script.
    #[test]
    fn issue_16_a_shebang_line_that_could_lead_anywhere_is_refused_naming_the_script() {
        let dir = tempfile::tempdir().unwrap();
        let top = fs::canonicalize(dir.path()).unwrap();
        program(&top, "/usr/bin/env", b"\x7fELF...");
        program(&top, "/usr/bin/ok", b"#!/usr/bin/env python3\n");
        assert!(interpreted(&top, "/usr/bin/ok").is_ok());
        let long = format!("#!/usr/bin/{}\n", "x".repeat(300));
        for body in [
            "#!/usr/bin/env -S PATH=/opt/homebrew/bin bash\n",
            "#!/usr/bin/env PATH=/opt/homebrew/bin bash\n",
            "#!/usr/bin/env /opt/homebrew/bin/bash\n",
            "#!  \nexit 0\n",
            "#!/usr/bin/x#/bin/sh\n",
            &long,
        ] {
            program(&top, "/usr/bin/odd", body.as_bytes());
            let err = interpreted(&top, "/usr/bin/odd").unwrap_err();
            let said = err.to_string();
            assert!(
                matches!(err, FileError::BadShebang { .. }),
                "{body}: {said}"
            );
            assert!(
                said.starts_with(&format!(
                    "{}: its #! line",
                    top.join("usr/bin/odd").display()
                )),
                "{body}: {said}"
            );
        }
    }
}
