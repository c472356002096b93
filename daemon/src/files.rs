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
}

impl FileError {
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
}
