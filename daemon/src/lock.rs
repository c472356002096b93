//! One writer at a time: the daemon and `keywarden check` take the same exclusive lock
//! (`/var/db/keywarden/keywarden.lock`, `flock(2)`) around each check, so neither ever writes a
//! torn status or state over the other. The lock is released when the process dies, so a killed
//! daemon never leaves it held.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::time::Duration;

use nix::fcntl::{Flock, FlockArg};

use crate::files::{self, FileError, Owners};
use crate::paths::{self, Root};

/// How long `keywarden check` waits for a running daemon's check to finish.
pub const CHECK_LOCK_WAIT: Duration = Duration::from_secs(60);

/// The held lock; dropping it releases it.
#[derive(Debug)]
pub struct WriterLock {
    _flock: Flock<std::fs::File>,
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("another Keywarden process (the daemon, or another `keywarden check`) has held {path} for {waited} s; try again when its check has finished")]
    Busy { path: String, waited: u64 },
}

/// Take the writer lock, waiting up to `wait`.
pub async fn acquire(root: &Root, owners: Owners, wait: Duration) -> Result<WriterLock, LockError> {
    let dir = root.resolve(paths::STATE_DIR);
    files::ensure_dir(&dir, 0o700, true, owners)?;
    let path = root.resolve(paths::LOCK);
    if let Some(m) = files::lstat(&path)? {
        if !m.file_type().is_file() {
            return Err(FileError::NotRegular {
                path: path.clone(),
                kind: if m.file_type().is_symlink() {
                    "symbolic link"
                } else {
                    "special file"
                },
            }
            .into());
        }
    }
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&path)
            .map_err(|source| FileError::Io {
                path: path.clone(),
                source,
            })?;
        match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(flock) => return Ok(WriterLock { _flock: flock }),
            Err((_, errno)) if errno == nix::errno::Errno::EWOULDBLOCK => {
                if tokio::time::Instant::now() >= deadline {
                    return Err(LockError::Busy {
                        path: paths::LOCK.to_owned(),
                        waited: wait.as_secs(),
                    });
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err((_, errno)) => {
                return Err(FileError::Io {
                    path: path.clone(),
                    source: std::io::Error::from(errno),
                }
                .into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "current_thread", start_paused = true)]
    async fn a_second_writer_waits_and_then_gets_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let held = acquire(&root, Owners::current(), Duration::ZERO)
            .await
            .unwrap();
        let err = acquire(&root, Owners::current(), Duration::from_secs(60))
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("held /var/db/keywarden/keywarden.lock for 60 s"),
            "{err}"
        );
        drop(held);
        acquire(&root, Owners::current(), Duration::ZERO)
            .await
            .unwrap();
    }
}
