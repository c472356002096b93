//! No key leaves through a rotation command (issue 16, item 1): a `RotationCommand` that wraps
//! `fdesetup changerecovery` prints the new key; its output is secret as `changerecovery`'s is
//! and is quoted nowhere, whether the command fails or succeeds.

use crate::support::*;

/// Issue 16, item 1: a `RotationCommand` that wraps `fdesetup changerecovery` prints the new key;
/// whether it then fails or succeeds, the key is nowhere a local user (or a log reader) can read:
/// not in the status, the log, the audit trail or the state.
#[test]
fn issue_16_a_rotation_commands_output_never_leaves_it_whether_it_fails_or_succeeds() {
    const NEW_KEY: &str = "QW3R-TY7U-IO9P-AS2D-FG4H-JK6L";
    // Printed as fdesetup prints it, and spaced as a wrapper script might: no shape rule catches
    // every way a script can print a key, so nothing of its output is quoted at all.
    let spaced = NEW_KEY.replace('-', " ");
    for exit in ["1", "0"] {
        let mac = Mac::with(&["escrow_buddy.installed=false"]);
        mac.use_rotation_command(
            &format!(
                "echo \"New personal recovery key = '{NEW_KEY}'\"\necho \"key {spaced}\" >&2\nexit {exit}\n"
            ),
            &[],
        );
        mac.event(&["reboot", "--with-recovery-key"]);
        mac.event(&["login", "alice"]);
        let s = mac.checked();
        mac.checked();
        assert_ne!(
            string(&s, "Rotation.State"),
            "Idle",
            "the command ran (exit {exit})"
        );
        for file in [
            "/Library/Keywarden/status.plist",
            "/Library/Logs/Keywarden/keywarden.log",
            "/var/db/keywarden/audit.jsonl",
            "/var/db/keywarden/state.plist",
        ] {
            let text = std::fs::read_to_string(mac.path(file)).unwrap_or_default();
            for part in NEW_KEY.split('-') {
                assert!(
                    !text.contains(part),
                    "exit {exit}: a piece of the new key ({part}) is in {file}"
                );
            }
        }
    }
}
