//! Packaging (issue 5): the pkg's payload, its scripts and the uninstaller, on Linux.
//!
//! `launchd/stage-pkg.sh` (what `make pkg-stage` and `make pkg` run) lays out the payload from the
//! test build of `keywarden`; its layout, modes, manifest and files are checked against
//! `keywarden::paths` and `launchd/`. The install scripts are run with a recording `launchctl` on
//! PATH, and with `KEYWARDEN_ROOT` against a simulated Mac (`keywarden-sim`) on which the real
//! `keywarden` has run: the uninstaller must withdraw Escrow Buddy's flag only when Keywarden set
//! it. What needs a Mac (pkgbuild, productbuild, codesign, launchd itself) is not tested here;
//! docs/deployment.md says how to check it on one.

use std::collections::BTreeSet;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use keywarden::paths;

use crate::support::*;

mod ci;

const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `make ARGS` at the top of the repository, outside the jobserver of a `make test` this may run
/// under; `None` (after `unavailable`) without make.
fn make(args: &[&str]) -> Option<Output> {
    if !require_program("make", "apt-get install make") {
        return None;
    }
    let out = Command::new("make")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .env_remove("MAKELEVEL")
        .output()
        .expect("run make");
    Some(out)
}

fn daemon_plist() -> String {
    format!("/Library/LaunchDaemons/{}.plist", paths::LAUNCHD_LABEL)
}

/// Where a Mac path lands under a directory (a stage or a simulated Mac).
fn under(dir: &Path, abs: &str) -> PathBuf {
    dir.join(abs.trim_start_matches('/'))
}

struct Staged {
    dir: tempfile::TempDir,
}

impl Staged {
    /// `launchd/stage-pkg.sh` run on the test build of keywarden.
    fn new() -> Staged {
        let dir = tempfile::tempdir().expect("temp dir");
        let out = Command::new(repo("launchd/stage-pkg.sh"))
            .arg(KEYWARDEN)
            .arg(dir.path())
            .arg(VERSION)
            .output()
            .expect("run launchd/stage-pkg.sh");
        assert!(out.status.success(), "stage-pkg.sh failed: {}", text(&out));
        Staged { dir }
    }

    fn stage(&self) -> PathBuf {
        self.dir.path().join("stage")
    }

    fn file(&self, abs: &str) -> PathBuf {
        under(&self.stage(), abs)
    }

    /// `payload.txt`: (mode, owner:group, path) per line.
    fn manifest(&self) -> Vec<(String, String, String)> {
        std::fs::read_to_string(self.dir.path().join("payload.txt"))
            .expect("payload.txt")
            .lines()
            .map(|l| {
                let mut f = l.splitn(3, ' ');
                let mut next = || f.next().unwrap_or_else(|| panic!("short line {l:?}"));
                (next().to_owned(), next().to_owned(), next().to_owned())
            })
            .collect()
    }

    /// The payload as it would land on a Mac: copied into `root` with modes (and owners, as root).
    fn install_into(&self, root: &Path) {
        let out = Command::new("cp")
            .arg("-a")
            .arg(format!("{}/.", self.stage().display()))
            .arg(root)
            .output()
            .expect("cp -a");
        assert!(out.status.success(), "{}", text(&out));
    }
}

/// Every entry under `dir`, as a Mac path (`/`, `/Library`, ...).
fn tree(dir: &Path) -> BTreeSet<String> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            let rel = path.strip_prefix(base).expect("under base");
            out.insert(format!("/{}", rel.display()));
            if path.symlink_metadata().expect("lstat").is_dir() {
                walk(base, &path, out);
            }
        }
    }
    let mut out = BTreeSet::from(["/".to_owned()]);
    walk(dir, dir, &mut out);
    out
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn the_payload_holds_the_binary_the_launch_daemon_the_uninstaller_and_the_log_directory_with_their_modes(
) {
    let staged = Staged::new();
    let plist = daemon_plist();
    let uninstaller = format!("{}/uninstall.sh", paths::STATUS_DIR);
    // (path, mode, directory?)
    let expected: Vec<(&str, &str, bool)> = vec![
        ("/", "0755", true),
        ("/Library", "0755", true),
        (paths::STATUS_DIR, "0755", true),
        (paths::BINARY, "0755", false),
        (&uninstaller, "0755", false),
        ("/Library/LaunchDaemons", "0755", true),
        (&plist, "0644", false),
        ("/Library/Logs", "0755", true),
        (paths::LOG_DIR, "0755", true),
    ];
    let manifest = staged.manifest();
    let listed: Vec<(&str, &str)> = manifest
        .iter()
        .map(|(m, _, p)| (p.as_str(), m.as_str()))
        .collect();
    let want: Vec<(&str, &str)> = expected.iter().map(|(p, m, _)| (*p, *m)).collect();
    assert_eq!(listed, want, "payload.txt");

    let owned_by_root = require_root("to check that the stage is owned by 0:0");
    for (path, want_mode, is_dir) in &expected {
        let on_disk = staged.file(path);
        let meta = std::fs::symlink_metadata(&on_disk)
            .unwrap_or_else(|e| panic!("{path} is not staged: {e}"));
        assert_eq!(meta.is_dir(), *is_dir, "{path}: directory?");
        assert!(
            meta.is_dir() || meta.is_file(),
            "{path}: no symlinks in the payload"
        );
        assert_eq!(
            format!("{:04o}", mode(&on_disk)),
            *want_mode,
            "{path}: mode on disk"
        );
        if owned_by_root {
            assert_eq!(
                (meta.uid(), meta.gid()),
                (0, 0),
                "{path}: owned by 0:0 as root"
            );
        }
    }
    // Nothing else is in the payload: no symlink (postinstall makes it), no status, no state.
    let on_disk = tree(&staged.stage());
    let in_manifest: BTreeSet<String> = manifest.iter().map(|(_, _, p)| p.clone()).collect();
    assert_eq!(on_disk, in_manifest, "the stage holds exactly the manifest");
    assert!(!in_manifest.contains(paths::BINARY_LINK));
    assert!(!in_manifest.contains(paths::STATUS));
    assert!(!in_manifest.iter().any(|p| p.starts_with(paths::STATE_DIR)));
}

#[test]
fn the_manifest_gives_every_entry_to_root_wheel_as_pkgbuild_recommended_ownership_does() {
    let staged = Staged::new();
    for (_, owner, path) in staged.manifest() {
        assert_eq!(owner, "root:wheel", "{path}");
    }
}

#[test]
fn the_payload_paths_and_files_are_the_ones_the_code_and_launchd_directory_name() {
    let staged = Staged::new();
    // The binary, where the code (and the plist's ProgramArguments) expect it.
    assert_eq!(
        Path::new(paths::BINARY).parent(),
        Some(Path::new(paths::STATUS_DIR))
    );
    assert_eq!(
        std::fs::read(staged.file(paths::BINARY)).unwrap(),
        std::fs::read(KEYWARDEN).unwrap(),
        "the given binary, byte for byte"
    );
    // The LaunchDaemon, named by its label, identical to launchd/.
    assert_eq!(
        std::fs::read(staged.file(&daemon_plist())).unwrap(),
        std::fs::read(repo(&format!("launchd/{}.plist", paths::LAUNCHD_LABEL))).unwrap(),
        "the staged LaunchDaemon plist is launchd/'s"
    );
    // The log directory holds both logs the daemon and launchd write.
    assert!(staged.file(paths::LOG_DIR).is_dir());
    assert_eq!(
        Path::new(paths::LOG).parent(),
        Some(Path::new(paths::LOG_DIR))
    );
    assert_eq!(
        Path::new(paths::PANIC_LOG).parent(),
        Some(Path::new(paths::LOG_DIR))
    );
    // The uninstaller is the repository's script.
    assert_eq!(
        std::fs::read(staged.file(&format!("{}/uninstall.sh", paths::STATUS_DIR))).unwrap(),
        std::fs::read(repo("launchd/pkg-scripts/uninstall.sh")).unwrap()
    );
    // The scripts pkgbuild runs, and nothing else.
    let scripts: BTreeSet<String> = std::fs::read_dir(staged.dir.path().join("scripts"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        scripts,
        BTreeSet::from(["preinstall".to_owned(), "postinstall".to_owned()])
    );
    for s in &scripts {
        let staged_script = staged.dir.path().join("scripts").join(s);
        assert_eq!(mode(&staged_script), 0o755, "{s}");
        assert_eq!(
            std::fs::read(&staged_script).unwrap(),
            std::fs::read(repo(&format!("launchd/pkg-scripts/{s}"))).unwrap()
        );
    }
}

#[test]
fn the_distribution_asks_for_macos_12_runs_natively_on_both_architectures_and_names_the_package() {
    let staged = Staged::new();
    let xml = std::fs::read_to_string(staged.dir.path().join("distribution.xml")).unwrap();
    for want in [
        r#"hostArchitectures="x86_64,arm64""#.to_owned(),
        r#"<os-version min="12.0"/>"#.to_owned(),
        r#"enable_localSystem="true""#.to_owned(),
        format!(
            r#"<pkg-ref id="org.keywarden.pkg" version="{VERSION}" onConclusion="none">keywarden-component.pkg</pkg-ref>"#
        ),
    ] {
        assert!(xml.contains(&want), "distribution.xml lacks {want}:\n{xml}");
    }
    // The same identifier in the Makefile (pkgbuild), the distribution and the uninstaller
    // (pkgutil --forget), and the component file name pkgbuild writes.
    let makefile = std::fs::read_to_string(repo("Makefile")).unwrap();
    assert!(makefile.contains("PKG_ID := org.keywarden.pkg"));
    assert!(makefile.contains("component/keywarden-component.pkg"));
    assert!(makefile.contains("--ownership recommended"));
    let uninstall = std::fs::read_to_string(repo("launchd/pkg-scripts/uninstall.sh")).unwrap();
    assert!(uninstall.lines().any(|l| l == "PKG_ID=org.keywarden.pkg"));
    // The minimum macOS agrees with the binary's (MACOSX_DEPLOYMENT_TARGET, macho-check.py).
    assert!(makefile.contains("export MACOSX_DEPLOYMENT_TARGET := 12.0"));
}

#[test]
fn make_pkg_stage_stages_the_binary_it_is_given() {
    let out_dir = tempfile::tempdir().unwrap();
    let Some(out) = make(&[
        "--no-print-directory",
        "-s",
        "pkg-stage",
        &format!("BINARY={KEYWARDEN}"),
        &format!("PKG_DIR={}", out_dir.path().display()),
    ]) else {
        return;
    };
    assert!(out.status.success(), "make pkg-stage: {}", text(&out));
    assert_eq!(
        std::fs::read(under(&out_dir.path().join("stage"), paths::BINARY)).unwrap(),
        std::fs::read(KEYWARDEN).unwrap()
    );
    assert!(out_dir.path().join("payload.txt").is_file());
    assert!(out_dir.path().join("scripts/postinstall").is_file());
}

#[cfg(target_os = "linux")]
#[test]
fn make_pkg_install_and_uninstall_on_linux_say_what_they_need_and_fail_without_a_stack_of_errors() {
    for target in ["pkg", "install", "uninstall"] {
        let Some(out) = make(&["--no-print-directory", target]) else {
            return;
        };
        assert!(!out.status.success(), "make {target} succeeded on Linux");
        let said = stdout(&out);
        assert!(said.contains("this is Linux"), "make {target}: {said}");
        let errors = stderr(&out);
        assert!(
            errors.lines().count() <= 1
                && !errors.contains("not found")
                && !errors.contains("No such file"),
            "make {target}: {errors}"
        );
        if target == "pkg" {
            for want in [
                "pkgbuild",
                "productbuild",
                "codesign",
                "DEVELOPER_ID_APPLICATION",
                "DEVELOPER_ID_INSTALLER",
                "NOTARY_PROFILE",
                "make macos-binary",
                "make pkg-stage",
            ] {
                assert!(
                    said.contains(want),
                    "make pkg does not mention {want}: {said}"
                );
            }
        }
    }
}

// ---- The scripts ----------------------------------------------------------------------------

const SCRIPTS: [&str; 4] = [
    "launchd/pkg-scripts/preinstall",
    "launchd/pkg-scripts/postinstall",
    "launchd/pkg-scripts/uninstall.sh",
    "launchd/stage-pkg.sh",
];

#[test]
fn the_scripts_are_executable_posix_sh_with_set_eu_that_parses() {
    for script in SCRIPTS {
        let path = repo(script);
        assert_eq!(mode(&path) & 0o111, 0o111, "{script} is executable");
        let body = std::fs::read_to_string(&path).unwrap();
        assert!(body.starts_with("#!/bin/sh\n"), "{script}: #!/bin/sh");
        assert!(body.lines().any(|l| l == "set -eu"), "{script}: set -eu");
        let out = Command::new("sh").arg("-n").arg(&path).output().unwrap();
        assert!(out.status.success(), "sh -n {script}: {}", text(&out));
    }
}

#[test]
fn the_scripts_pass_shellcheck() {
    if !require_program("shellcheck", INSTALL_SHELLCHECK) {
        return;
    }
    let out = Command::new("shellcheck")
        .args(["--shell=sh", "--severity=style"])
        .args(SCRIPTS.map(repo))
        .output()
        .expect("run shellcheck");
    assert!(out.status.success(), "shellcheck:\n{}", text(&out));
}

#[test]
fn the_scripts_name_the_paths_the_code_uses() {
    let plist = daemon_plist();
    let label = paths::LAUNCHD_LABEL;
    let common = [
        format!("LABEL={label}"),
        format!("BINARY={}", paths::BINARY),
        format!("BINARY_LINK={}", paths::BINARY_LINK),
        format!("PLIST={plist}"),
        format!("LOG_DIR={}", paths::LOG_DIR),
    ];
    let uninstall_only = [
        format!("STATUS_DIR={}", paths::STATUS_DIR),
        format!("STATE_DIR={}", paths::STATE_DIR),
        format!("STATE={}", paths::STATE),
        format!("DEFAULTS={}", paths::Tool::Defaults.path()),
        format!("ESCROW_BUDDY_DOMAIN={}", paths::ESCROW_BUDDY_DOMAIN),
    ];
    let lines = |script: &str| -> Vec<String> {
        std::fs::read_to_string(repo(script))
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    };
    let preinstall = lines("launchd/pkg-scripts/preinstall");
    assert!(preinstall.contains(&format!("LABEL={label}")));
    let postinstall = lines("launchd/pkg-scripts/postinstall");
    for want in &common {
        assert!(postinstall.contains(want), "postinstall: {want}");
    }
    let uninstall = lines("launchd/pkg-scripts/uninstall.sh");
    for want in common.iter().chain(&uninstall_only) {
        assert!(uninstall.contains(want), "uninstall.sh: {want}");
    }
    let stage = lines("launchd/stage-pkg.sh");
    assert!(stage.contains(&format!("label={label}")));
}

/// A directory with a `launchctl` that records its arguments and plays a daemon that is loaded
/// (file `loaded`) until booted out; `BOOTOUT_EXIT` makes bootout fail.
struct FakeLaunchctl {
    dir: tempfile::TempDir,
}

impl FakeLaunchctl {
    fn new(loaded: bool) -> FakeLaunchctl {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        let stub = format!(
            "#!/bin/sh\n\
             echo \"$*\" >>'{d}/calls'\n\
             case $1 in\n\
             print) [ -e '{d}/loaded' ] || {{ echo 'Could not find service' >&2; exit 113; }} ;;\n\
             bootout) rm -f '{d}/loaded'; exit \"${{BOOTOUT_EXIT:-0}}\" ;;\n\
             esac\n\
             exit 0\n"
        );
        let path = dir.path().join("launchctl");
        std::fs::write(&path, stub).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        if loaded {
            std::fs::write(dir.path().join("loaded"), "").unwrap();
        }
        FakeLaunchctl { dir }
    }

    fn path_var(&self) -> String {
        format!(
            "{}:/usr/bin:/bin:/usr/sbin:/sbin",
            self.dir.path().display()
        )
    }

    fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.path().join("calls"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Run an install script as installer does: $1 package, $2 location, $3 target volume, $4 root.
    fn run(&self, script: &str, target: &str, env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(repo(script));
        cmd.args(["/tmp/Keywarden.pkg", "/", target, target])
            .env_clear()
            .env("PATH", self.path_var());
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().expect("run the script")
    }
}

#[test]
fn the_install_scripts_do_nothing_when_the_target_is_not_the_booted_system() {
    for script in [
        "launchd/pkg-scripts/preinstall",
        "launchd/pkg-scripts/postinstall",
    ] {
        for target in ["/Volumes/Macintosh HD 2", "", "/private/tmp"] {
            let launchctl = FakeLaunchctl::new(true);
            let out = launchctl.run(script, target, &[]);
            assert!(out.status.success(), "{script} {target:?}: {}", text(&out));
            assert!(
                stdout(&out).contains("not the booted system: nothing to do"),
                "{script}: {}",
                text(&out)
            );
            assert_eq!(
                launchctl.calls(),
                Vec::<String>::new(),
                "{script} {target:?}"
            );
        }
    }
}

#[test]
fn preinstall_boots_out_a_loaded_daemon_and_never_fails_the_install() {
    let label = paths::LAUNCHD_LABEL;
    // Loaded: booted out (the stub proves the scripts reach launchctl through PATH).
    let launchctl = FakeLaunchctl::new(true);
    let out = launchctl.run("launchd/pkg-scripts/preinstall", "/", &[]);
    assert!(out.status.success(), "{}", text(&out));
    let calls = launchctl.calls();
    assert_eq!(calls[0], format!("print system/{label}"));
    assert_eq!(calls[1], format!("bootout system/{label}"));
    assert!(
        calls[2..].iter().all(|c| c.starts_with("print ")),
        "{calls:?}"
    );

    // Not loaded (a first install): nothing to stop.
    let launchctl = FakeLaunchctl::new(false);
    let out = launchctl.run("launchd/pkg-scripts/preinstall", "/", &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(launchctl.calls(), [format!("print system/{label}")]);
    assert!(stdout(&out).contains("not loaded"));

    // bootout fails (a race, "No such process"): a warning, and the install goes on.
    let launchctl = FakeLaunchctl::new(true);
    let out = launchctl.run(
        "launchd/pkg-scripts/preinstall",
        "/",
        &[("BOOTOUT_EXIT", "3")],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(stdout(&out).contains("warning"), "{}", text(&out));
}

/// A simulated Mac with the staged payload installed into it.
fn installed_mac(changes: &[&str]) -> Mac {
    let mac = Mac::with(changes);
    Staged::new().install_into(mac.root());
    mac
}

fn postinstall(mac: &Mac, launchctl: &FakeLaunchctl) -> Output {
    launchctl.run(
        "launchd/pkg-scripts/postinstall",
        "/",
        &[("KEYWARDEN_ROOT", mac.root_str())],
    )
}

#[test]
fn postinstall_links_the_binary_fixes_the_plist_and_running_it_twice_changes_nothing() {
    if !require_root("to run postinstall against a simulated Mac") {
        return;
    }
    let mac = installed_mac(&[]);
    let plist = mac.path(&daemon_plist());
    std::fs::set_permissions(&plist, std::fs::Permissions::from_mode(0o664)).unwrap();
    let launchctl = FakeLaunchctl::new(false);

    let first = postinstall(&mac, &launchctl);
    assert!(first.status.success(), "{}", text(&first));
    let link = mac.path(paths::BINARY_LINK);
    assert_eq!(std::fs::read_link(&link).unwrap(), Path::new(paths::BINARY));
    assert_eq!(mode(&plist), 0o644, "group-writable plist fixed");
    let meta = std::fs::metadata(&plist).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (0, 0));
    // launchd's part, in the order PLATFORM.md gives, is named (and skipped) under KEYWARDEN_ROOT.
    let said = stdout(&first);
    let enable = said
        .find(&format!(
            "skipped: launchctl enable system/{}",
            paths::LAUNCHD_LABEL
        ))
        .expect("enable");
    let bootstrap = said
        .find(&format!(
            "skipped: launchctl bootstrap system {}",
            daemon_plist()
        ))
        .expect("bootstrap");
    assert!(enable < bootstrap, "{said}");
    assert_eq!(launchctl.calls(), Vec::<String>::new());

    let second = postinstall(&mac, &launchctl);
    assert!(second.status.success(), "{}", text(&second));
    assert!(stdout(&second).contains("already"), "{}", text(&second));
    assert_eq!(std::fs::read_link(&link).unwrap(), Path::new(paths::BINARY));
}

#[test]
fn postinstall_replaces_an_old_symlink_but_never_a_file_someone_put_there() {
    if !require_root("to run postinstall against a simulated Mac") {
        return;
    }
    let launchctl = FakeLaunchctl::new(false);
    let mac = installed_mac(&[]);
    let link = mac.path(paths::BINARY_LINK);
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink("/opt/keywarden/bin/keywarden", &link).unwrap();
    let out = postinstall(&mac, &launchctl);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(std::fs::read_link(&link).unwrap(), Path::new(paths::BINARY));
    assert!(stdout(&out).contains("replaced"), "{}", text(&out));

    let mac = installed_mac(&[]);
    let link = mac.path(paths::BINARY_LINK);
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    std::fs::write(&link, "#!/bin/sh\necho a wrapper an admin wrote\n").unwrap();
    let out = postinstall(&mac, &launchctl);
    assert!(out.status.success(), "{}", text(&out));
    assert!(stdout(&out).contains("warning"), "{}", text(&out));
    assert_eq!(
        std::fs::read_to_string(&link).unwrap(),
        "#!/bin/sh\necho a wrapper an admin wrote\n"
    );
}

// ---- The uninstaller --------------------------------------------------------------------------

const FLAG_DELETE: [&str; 4] = [
    "defaults",
    "delete",
    paths::ESCROW_BUDDY_DOMAIN,
    "GenerateNewKey",
];

/// Run the uninstaller the pkg installed on the simulated Mac.
fn uninstall(mac: &Mac, args: &[&str]) -> Output {
    let launchctl = FakeLaunchctl::new(true);
    let script = mac.path(&format!("{}/uninstall.sh", paths::STATUS_DIR));
    let out = Command::new(&script)
        .args(args)
        .env_clear()
        .env("PATH", launchctl.path_var())
        .env("KEYWARDEN_ROOT", mac.root())
        .output()
        .expect("run uninstall.sh");
    assert_eq!(
        launchctl.calls(),
        Vec::<String>::new(),
        "launchctl is skipped under KEYWARDEN_ROOT"
    );
    out
}

/// The simulator's calls after the first `since`, as argv arrays.
fn calls_since(mac: &Mac, since: usize) -> Vec<serde_json::Value> {
    mac.calls()
        .into_iter()
        .skip(since)
        .map(|c| c["argv"].clone())
        .collect()
}

fn state_has_flag_set_at(mac: &Mac) -> bool {
    let state: plist::Value = plist::from_file(mac.path(paths::STATE)).expect("state.plist");
    state
        .as_dictionary()
        .expect("a dictionary")
        .contains_key("FlagSetAt")
}

/// The lifecycle story up to Keywarden asking Escrow Buddy for a new key (tests/lifecycle).
fn keywarden_sets_the_flag(mac: &Mac) {
    mac.checked();
    mac.event(&["reboot", "--with-recovery-key"]);
    mac.checked();
    mac.event(&["login", "alice"]);
    mac.checked();
    assert_eq!(
        mac.escrow_buddy_flag(),
        Some(true),
        "Keywarden set GenerateNewKey"
    );
    assert!(state_has_flag_set_at(mac), "and recorded it in its state");
}

fn assert_program_removed(mac: &Mac) {
    for gone in [
        daemon_plist().as_str(),
        paths::BINARY_LINK,
        paths::STATUS_DIR,
    ] {
        assert!(
            mac.path(gone).symlink_metadata().is_err(),
            "{gone} is still there"
        );
    }
}

#[test]
fn uninstall_withdraws_the_flag_keywarden_set_removes_keywarden_and_keeps_state_audit_and_logs() {
    if !require_root("to run uninstall.sh against a simulated Mac") {
        return;
    }
    let mac = installed_mac(&[]);
    let launchctl = FakeLaunchctl::new(false);
    assert!(postinstall(&mac, &launchctl).status.success());
    keywarden_sets_the_flag(&mac);
    let before = mac.calls().len();

    let out = uninstall(&mac, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let calls = calls_since(&mac, before);
    assert!(
        calls.contains(&serde_json::json!(FLAG_DELETE)),
        "defaults delete in the call log: {calls:?}"
    );
    assert_eq!(mac.escrow_buddy_flag(), None, "GenerateNewKey withdrawn");
    let said = stdout(&out);
    assert!(
        said.contains("withdrew Escrow Buddy's GenerateNewKey"),
        "{said}"
    );

    assert_program_removed(&mac);
    for kept in [paths::STATE, paths::AUDIT, paths::LOG_DIR] {
        assert!(mac.path(kept).exists(), "{kept} kept without --purge");
    }
    assert!(
        said.contains(&format!("kept {}", paths::STATE_DIR)),
        "{said}"
    );
    assert!(said.contains("skipped: launchctl bootout"), "{said}");
    assert!(
        said.contains("skipped: pkgutil --forget org.keywarden.pkg"),
        "{said}"
    );
}

#[test]
fn uninstall_leaves_a_flag_set_by_another_tool_alone() {
    if !require_root("to run uninstall.sh against a simulated Mac") {
        return;
    }
    // Keywarden has run (it has a state) but did not set the flag: another tool did.
    let mac = installed_mac(&["escrow_buddy.generate_new_key=true"]);
    mac.checked();
    assert!(!state_has_flag_set_at(&mac));
    let before = mac.calls().len();
    let out = uninstall(&mac, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        calls_since(&mac, before),
        Vec::<serde_json::Value>::new(),
        "the uninstaller did not even ask defaults"
    );
    assert_eq!(mac.escrow_buddy_flag(), Some(true));
    assert!(stdout(&out).contains("had not set"), "{}", text(&out));
    assert_program_removed(&mac);

    // Keywarden never ran at all: no state, the flag is not Keywarden's either.
    let mac = installed_mac(&["escrow_buddy.generate_new_key=true"]);
    let out = uninstall(&mac, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(mac.calls().len(), 0);
    assert_eq!(mac.escrow_buddy_flag(), Some(true));
    assert!(
        stdout(&out).contains("no Keywarden state"),
        "{}",
        text(&out)
    );
}

#[test]
fn uninstall_with_purge_also_removes_the_state_the_audit_trail_and_the_logs() {
    if !require_root("to run uninstall.sh against a simulated Mac") {
        return;
    }
    let mac = installed_mac(&[]);
    keywarden_sets_the_flag(&mac);
    let out = uninstall(&mac, &["--purge"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(mac.escrow_buddy_flag(), None);
    assert_program_removed(&mac);
    for gone in [paths::STATE_DIR, paths::LOG_DIR] {
        assert!(!mac.path(gone).exists(), "{gone} purged");
    }
    // Only Keywarden's own directories: their parents and the escrow file stay.
    for kept in ["/var/db", "/Library/Logs", paths::FILEVAULT_PRK] {
        assert!(mac.path(kept).exists(), "{kept} kept");
    }
}

#[test]
fn uninstall_removes_nothing_when_it_cannot_withdraw_keywardens_flag_and_a_second_run_finishes() {
    if !require_root("to run uninstall.sh against a simulated Mac") {
        return;
    }
    let mac = installed_mac(&[]);
    keywarden_sets_the_flag(&mac);
    mac.set(&[r#"faults=[{"argv":["defaults","delete"],"kind":"exit","code":1,"stderr":"cfprefsd is busy","times":1}]"#]);
    let out = uninstall(&mac, &["--purge"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(
        stderr(&out).contains("could not withdraw"),
        "{}",
        text(&out)
    );
    assert_eq!(mac.escrow_buddy_flag(), Some(true));
    for kept in [daemon_plist().as_str(), paths::BINARY, paths::STATE] {
        assert!(mac.path(kept).exists(), "{kept} kept after the failure");
    }

    let out = uninstall(&mac, &["--purge"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(mac.escrow_buddy_flag(), None);
    assert_program_removed(&mac);
}

#[test]
fn uninstall_leaves_a_symlink_that_is_not_keywardens() {
    if !require_root("to run uninstall.sh against a simulated Mac") {
        return;
    }
    let mac = installed_mac(&[]);
    let link = mac.path(paths::BINARY_LINK);
    std::fs::create_dir_all(link.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink("/opt/other/keywarden", &link).unwrap();
    let out = uninstall(&mac, &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        Path::new("/opt/other/keywarden")
    );
    assert!(stdout(&out).contains("not Keywarden"), "{}", text(&out));
}

#[test]
fn uninstall_refuses_to_run_without_root_and_rejects_unknown_arguments() {
    let mac = Mac::healthy();
    let script = repo("launchd/pkg-scripts/uninstall.sh");
    // As nobody (when root), from a copy nobody can read wherever the checkout is: a clone in a
    // private directory is out of nobody's reach.
    let copy = ForEveryone::new(&[&script]);
    let out = as_ordinary_user(Command::new("/bin/sh").arg(copy.get("uninstall.sh")))
        .env("KEYWARDEN_ROOT", mac.root())
        .output()
        .expect("run uninstall.sh");
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(stderr(&out).contains("must run as root"), "{}", text(&out));

    let out = Command::new(&script)
        .arg("--everything")
        .env("KEYWARDEN_ROOT", mac.root())
        .output()
        .unwrap();
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(stderr(&out).contains("usage:"), "{}", text(&out));
}
