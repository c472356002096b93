//! Every name and absolute path Keywarden uses, and the filesystem root they resolve under.
//!
//! This is the one module that owns the preference domain, the LaunchDaemon label, the install
//! location, the status/state/log paths and the paths of the macOS tools it runs. The launchd
//! plist, the profiles and the packaging are tested against these constants so they cannot drift.
//! It does not open or check files (see `files`) and does not start processes (see `runner`).

use std::path::{Component, Path, PathBuf};

/// Preference domain and bundle-identifier prefix.
pub const DOMAIN: &str = "org.keywarden";
/// The LaunchDaemon label (also the stem of the plist in `launchd/`).
pub const LAUNCHD_LABEL: &str = "org.keywarden.daemon";
/// The os_log subsystem (read by the os_log layer, built on macOS with the `oslog` feature).
#[cfg_attr(not(all(target_os = "macos", feature = "oslog")), allow(dead_code))]
pub(crate) const OSLOG_SUBSYSTEM: &str = "org.keywarden";

/// Where the pkg installs the binary.
pub const BINARY: &str = "/Library/Keywarden/keywarden";
/// The convenience symlink on admins' PATH.
pub const BINARY_LINK: &str = "/usr/local/bin/keywarden";
/// Keywarden's install directory (0755): the binary and the status.
pub const STATUS_DIR: &str = "/Library/Keywarden";
/// The status plist: the MDM inventory contract (0644).
pub const STATUS: &str = "/Library/Keywarden/status.plist";
/// State and audit directory (0700, root).
pub const STATE_DIR: &str = "/var/db/keywarden";
/// Persisted state (0600).
pub const STATE: &str = "/var/db/keywarden/state.plist";
/// The lock that makes one writer at a time (daemon or `keywarden check`).
pub(crate) const LOCK: &str = "/var/db/keywarden/keywarden.lock";
/// Append-only audit trail of key operations (0600).
pub const AUDIT: &str = "/var/db/keywarden/audit.jsonl";
/// Keyed hashes of keys that failed validation, and the per-Mac salt (0600).
pub const FAILED_KEYS: &str = "/var/db/keywarden/failed-keys.plist";
/// Directory of the daemon's own log.
pub const LOG_DIR: &str = "/Library/Logs/Keywarden";
/// The daemon's own log, written and rotated by the daemon (0640, group `LOG_READERS`).
pub const LOG: &str = "/Library/Logs/Keywarden/keywarden.log";
/// The group that may read the log: every admin account of a Mac is in `admin`.
pub const LOG_READERS: &str = "admin";
/// launchd's `StandardErrorPath`: only panics end up here.
pub const PANIC_LOG: &str = "/Library/Logs/Keywarden/keywarden-panic.log";

/// Managed preferences (a configuration profile); they win over the local file.
pub const MANAGED_PREFS: &str = "/Library/Managed Preferences/org.keywarden.plist";
/// Local preferences, written by an admin or a script.
pub const LOCAL_PREFS: &str = "/Library/Preferences/org.keywarden.plist";
/// The forced `Location` of the FileVault escrow payload surfaces here (Escrow Buddy reads the
/// same domain: corpus/PATTERNS.md, "Detecting the escrow payload without parsing profiles").
pub(crate) const ESCROW_MANAGED_PREFS: &str =
    "/Library/Managed Preferences/com.apple.security.FDERecoveryKeyEscrow.plist";
/// The escrow file: the current PRK encrypted to the MDM's certificate (corpus/FILEVAULTPRK.md).
pub const FILEVAULT_PRK: &str = "/var/db/FileVaultPRK.dat";
/// Deferred enablement's default output file: it holds the key in plain text (PLATFORM.md).
pub(crate) const DEFERRAL_OUTPUT_DEFAULT: &str = "/var/db/ConfigurationProfiles/fdesetup.plist";
/// Its owner is the console user (root or absent: nobody logged in).
pub(crate) const CONSOLE: &str = "/dev/console";
/// Escrow Buddy's authorization plugin bundle.
pub(crate) const ESCROW_BUDDY_BUNDLE: &str =
    "/Library/Security/SecurityAgentPlugins/Escrow Buddy.bundle";
/// Escrow Buddy's preference domain, given to `defaults` as a path (never edited as a file).
pub const ESCROW_BUDDY_DOMAIN: &str = "/Library/Preferences/com.netflix.Escrow-Buddy";

/// The macOS tools Keywarden runs, each at its absolute path (ARCHITECTURE.md, "The commands it
/// runs"). Nothing is looked up on PATH.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Tool {
    Fdesetup,
    Diskutil,
    Dscl,
    Sysadminctl,
    Profiles,
    Sysctl,
    SwVers,
    Security,
    Defaults,
}

impl Tool {
    pub const ALL: [Tool; 9] = [
        Tool::Fdesetup,
        Tool::Diskutil,
        Tool::Dscl,
        Tool::Sysadminctl,
        Tool::Profiles,
        Tool::Sysctl,
        Tool::SwVers,
        Tool::Security,
        Tool::Defaults,
    ];

    /// Absolute path on a Mac.
    pub fn path(self) -> &'static str {
        match self {
            Tool::Fdesetup => "/usr/bin/fdesetup",
            Tool::Diskutil => "/usr/sbin/diskutil",
            Tool::Dscl => "/usr/bin/dscl",
            Tool::Sysadminctl => "/usr/sbin/sysadminctl",
            Tool::Profiles => "/usr/bin/profiles",
            Tool::Sysctl => "/usr/sbin/sysctl",
            Tool::SwVers => "/usr/bin/sw_vers",
            Tool::Security => "/usr/bin/security",
            Tool::Defaults => "/usr/bin/defaults",
        }
    }
}

/// The filesystem root every absolute path is resolved under: `/` in production, a directory
/// holding a simulated Mac under `--root DIR`. The program has no other notion of simulation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root(PathBuf);

impl Default for Root {
    fn default() -> Self {
        Root(PathBuf::from("/"))
    }
}

impl Root {
    pub fn new(dir: impl Into<PathBuf>) -> Root {
        Root(dir.into())
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.0
    }

    /// True for the real root `/`.
    pub(crate) fn is_system(&self) -> bool {
        self.0 == Path::new("/")
    }

    /// `abs` (an absolute path on a Mac) under this root. Components that could climb out of the
    /// root (`..`) are dropped: a configured path cannot escape a simulated Mac.
    pub fn resolve(&self, abs: impl AsRef<Path>) -> PathBuf {
        let mut out = self.0.clone();
        for c in abs.as_ref().components() {
            if let Component::Normal(part) = c {
                out.push(part);
            }
        }
        out
    }

    pub(crate) fn tool(&self, tool: Tool) -> PathBuf {
        self.resolve(tool.path())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_root_resolves_paths_to_themselves() {
        assert_eq!(Root::default().resolve(STATUS), PathBuf::from(STATUS));
        assert!(Root::default().is_system());
    }

    #[test]
    fn a_simulated_root_prefixes_every_path() {
        let root = Root::new("/tmp/mac");
        assert_eq!(
            root.tool(Tool::Fdesetup),
            PathBuf::from("/tmp/mac/usr/bin/fdesetup")
        );
        assert_eq!(
            root.resolve(MANAGED_PREFS),
            PathBuf::from("/tmp/mac/Library/Managed Preferences/org.keywarden.plist")
        );
    }

    #[test]
    fn a_path_cannot_climb_out_of_a_simulated_root() {
        let root = Root::new("/tmp/mac");
        assert_eq!(
            root.resolve("/var/../../etc/passwd"),
            PathBuf::from("/tmp/mac/var/etc/passwd")
        );
    }

    #[test]
    fn every_tool_has_an_absolute_path() {
        for tool in Tool::ALL {
            assert!(tool.path().starts_with("/usr/"));
        }
    }
}
