//! Who may run what. Commands that change state or run tools as root (`run`, `check`) need root
//! on a real Mac; the read-only views (`status`, `ea`) work for anyone. Under `--root DIR` an
//! ordinary user may run everything against the simulated Mac in DIR; as root, a DIR is refused
//! unless it and the tools in it are owned by root and not writable by group or others, so a
//! user cannot make root run their programs through a simulated root.

use std::path::{Path, PathBuf};

use crate::files::{self, Owners};
use crate::paths::{Root, Tool};

/// Why a command may not run.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("`keywarden {command}` must run as root (try: sudo keywarden {command}); `keywarden status` and `keywarden ea` work for any user")]
    NotRoot { command: &'static str },
    #[error("refusing --root {}: {why} (as root, a simulated Mac must be owned by root and not writable by group or others)", .dir.display())]
    UntrustedRoot { dir: PathBuf, why: String },
}

/// Check that `command`, which needs root on a real Mac, may run.
pub fn require_root(command: &'static str, root: &Root, owners: Owners) -> Result<(), Refusal> {
    if root.is_system() {
        if owners.running_as_root() {
            Ok(())
        } else {
            Err(Refusal::NotRoot { command })
        }
    } else if owners.running_as_root() {
        check_simulated_root(root, owners)
    } else {
        Ok(())
    }
}

/// As root: DIR, the directories down to each tool, and each tool (through symlinks) must be
/// root-owned and not group/world-writable.
pub fn check_simulated_root(root: &Root, owners: Owners) -> Result<(), Refusal> {
    let refuse = |why: String| Refusal::UntrustedRoot {
        dir: root.dir().to_owned(),
        why,
    };
    let check_path = |p: &Path, follow: bool| -> Result<(), Refusal> {
        let meta = if follow {
            std::fs::metadata(p).map(Some).or_else(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    Ok(None)
                } else {
                    Err(e)
                }
            })
        } else {
            files::lstat(p).map_err(|e| std::io::Error::other(e.to_string()))
        }
        .map_err(|e| refuse(format!("{}: {e}", p.display())))?;
        match meta {
            Some(m) => files::check_trusted(p, &m, owners).map_err(|e| refuse(e.to_string())),
            None => Ok(()),
        }
    };
    check_path(root.dir(), true)?;
    for tool in Tool::ALL {
        let path = root.tool(tool);
        let mut dir = root.dir().to_owned();
        let rel = path.strip_prefix(root.dir()).unwrap_or(&path).to_owned();
        let mut comps: Vec<_> = rel.components().collect();
        comps.pop();
        for c in comps {
            dir.push(c);
            check_path(&dir, false)?;
        }
        check_path(&path, true)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn an_ordinary_user_may_not_run_root_commands_on_the_real_mac() {
        let err = require_root("check", &Root::default(), Owners::as_uid(501)).unwrap_err();
        assert!(err.to_string().contains("must run as root"), "{err}");
        assert!(require_root("check", &Root::default(), Owners::as_uid(0)).is_ok());
    }

    #[test]
    fn an_ordinary_user_may_run_anything_against_a_simulated_mac() {
        assert!(require_root("check", &Root::new("/tmp/sim"), Owners::as_uid(501)).is_ok());
    }

    #[test]
    fn as_root_a_simulated_mac_writable_by_others_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("usr/bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(bin.join("fdesetup"), b"#!/bin/sh\n").unwrap();
        for p in [dir.path(), &dir.path().join("usr"), &bin] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        std::fs::set_permissions(bin.join("fdesetup"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        let me = nix::unistd::geteuid().as_raw();
        // Checked as if this user were root: files owned by this user are trusted (uid == euid).
        let owners = Owners::as_uid(me);
        let root = Root::new(dir.path());
        assert!(check_simulated_root(&root, owners).is_ok());
        std::fs::set_permissions(bin.join("fdesetup"), std::fs::Permissions::from_mode(0o777))
            .unwrap();
        let err = check_simulated_root(&root, owners).unwrap_err();
        assert!(err.to_string().contains("fdesetup"), "{err}");
        std::fs::set_permissions(bin.join("fdesetup"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = check_simulated_root(&root, owners).unwrap_err();
        assert!(err.to_string().contains("usr/bin"), "{err}");
    }
}
