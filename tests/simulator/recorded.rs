//! A simulated Mac made from a `keywarden selftest --bundle` tar.gz (`init --from-bundle`): its
//! tools answer each recorded argv with the recorded stdout, stderr and exit code, and the files
//! Keywarden reads are laid out from the recorded facts. So a bug report becomes a regression
//! test: the Mac that misbehaved answers the same on Linux (docs/selftest.md).
//!
//! It reads the bundle with its own serde structs, never the `keywarden` library (the simulator
//! must not share what it tests; README.md). The bundle is copied to `DIR/.sim/recorded/`; each
//! tool call reads `manifest.json` there. An argv the bundle does not hold exits 1 with a line
//! naming it on stderr (and is logged, as every call is): a recorded Mac never makes an answer up.
//! What it does not lay out: the status (Keywarden writes its own), the configuration
//! (`config.txt` is for reading), and the plaintext deferral key file's contents (a bundle never
//! has them; a stand-in without a key is written where one existed).

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path};

use serde::Deserialize;

use crate::blob;
use crate::layout::{
    io_err, system_time, write_atomic, Mac, CONSOLE, ESCROW_BUDDY_BUNDLE, ESCROW_MANAGED_PREFS,
    FILEVAULT_PRK, TOOLS,
};
use crate::tools::Answer;

/// The only bundle format this simulator reads (`keywarden-selftest/manifest.json` `format`).
const FORMAT: u32 = 1;
/// Every member sits under this directory.
const TOP: &str = "keywarden-selftest/";
/// Where the bundle is kept inside the simulated Mac, under `.sim/`.
pub const DIR_NAME: &str = "recorded";
/// Limits for a bundle: a real one is tens of KiB (a Mac with many profiles a few MiB).
const MAX_MEMBERS: usize = 4096;
const MAX_TOTAL_BYTES: u64 = 256 * 1024 * 1024;

/// What the stand-in of a plaintext key file holds: no key.
const PLAINTEXT_STAND_IN: &str = "keywarden-sim: a plaintext key file existed here on the recorded Mac; a bundle never holds its contents\n";

#[derive(Debug, Deserialize)]
struct Manifest {
    format: u32,
    #[serde(default)]
    redacted_users: bool,
    #[serde(default)]
    with_escrow_file: bool,
    probes: Vec<Probe>,
    files: Vec<FileFact>,
}

#[derive(Debug, Deserialize)]
struct Probe {
    argv: Vec<String>,
    exit: Option<i32>,
    signal: Option<i32>,
    #[serde(default)]
    timed_out: bool,
    not_run: Option<String>,
    stdout: Option<String>,
    stderr: Option<String>,
}

#[derive(Debug, Deserialize)]
struct FileFact {
    path: String,
    kind: String,
    present: bool,
    owner_uid: Option<u32>,
    modified_at: Option<String>,
    sha256: Option<String>,
    recipient: Option<String>,
    contents: Option<String>,
}

/// The members of a bundle, by name under `keywarden-selftest/`.
fn read_members(path: &Path) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let what = |why: String| format!("{}: not a Keywarden selftest bundle: {why}", path.display());
    let file = fs::File::open(path).map_err(|e| io_err(path, e))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut members = BTreeMap::new();
    let mut total = 0u64;
    for entry in archive.entries().map_err(|e| what(e.to_string()))? {
        let mut entry = entry.map_err(|e| what(e.to_string()))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry
            .path()
            .map_err(|e| what(e.to_string()))?
            .to_string_lossy()
            .into_owned();
        let Some(rel) = name.strip_prefix(TOP) else {
            return Err(what(format!("member {name:?} is not under {TOP}")));
        };
        if !safe_member(rel) {
            return Err(what(format!(
                "member name {name:?} is not a plain relative path"
            )));
        }
        total += entry.size();
        if members.len() >= MAX_MEMBERS || total > MAX_TOTAL_BYTES {
            return Err(what("more members or bytes than a bundle holds".into()));
        }
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .map_err(|e| what(e.to_string()))?;
        members.insert(rel.to_owned(), bytes);
    }
    if members.is_empty() {
        return Err(what("no members".into()));
    }
    Ok(members)
}

/// `probes/03.stdout`: plain names only, nothing that could climb out of `.sim/recorded/`.
fn safe_member(rel: &str) -> bool {
    !rel.is_empty()
        && Path::new(rel)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

fn manifest(bytes: &[u8], source: &str) -> Result<Manifest, String> {
    let m: Manifest = serde_json::from_slice(bytes)
        .map_err(|e| format!("{source}: manifest.json does not read: {e}"))?;
    if m.format != FORMAT {
        return Err(format!(
            "{source}: bundle format {} (this keywarden-sim reads format {FORMAT})",
            m.format
        ));
    }
    Ok(m)
}

/// A bundle read whole and checked, before anything is laid out from it.
pub struct Bundle {
    members: BTreeMap<String, Vec<u8>>,
    manifest: Manifest,
    source: String,
}

/// Read and check the bundle at `bundle`: a clear error for anything that is not one.
pub fn read(bundle: &Path) -> Result<Bundle, String> {
    let members = read_members(bundle)?;
    let source = bundle.display().to_string();
    let m = manifest(
        members
            .get("manifest.json")
            .ok_or_else(|| format!("{source}: no {TOP}manifest.json"))?,
        &source,
    )?;
    // Every file fact but a plaintext key file's (a deferral's OutputPath: anywhere) is at its
    // kind's one path: a console fact at `/usr/bin/fdesetup` would chown, as root, the program
    // that link points to, outside DIR.
    for f in &m.files {
        let fixed = match f.kind.as_str() {
            "console" => Some(CONSOLE),
            "escrow_file" => Some(FILEVAULT_PRK),
            "escrow_prefs" => Some(ESCROW_MANAGED_PREFS),
            "escrow_buddy" => Some(ESCROW_BUDDY_BUNDLE),
            _ => None,
        };
        if fixed.is_some_and(|p| p != f.path) {
            return Err(format!(
                "{source}: a file fact of kind {:?} at {:?}, not where that file is",
                f.kind, f.path
            ));
        }
    }
    // Every member the manifest names must be there: a cut bundle fails here, not at a call.
    for p in &m.probes {
        for member in [&p.stdout, &p.stderr].into_iter().flatten() {
            if !members.contains_key(member) {
                return Err(format!(
                    "{source}: manifest.json names {member}, which is missing"
                ));
            }
        }
    }
    Ok(Bundle {
        members,
        manifest: m,
        source,
    })
}

/// Copy the bundle into `DIR/.sim/recorded/` and lay out the recorded files. Returns what the
/// person running `init` should know (a stand-in, a fact that could not be laid out).
pub fn lay_out(mac: &Mac, bundle: &Bundle) -> Result<Vec<String>, String> {
    let Bundle {
        members,
        manifest: m,
        source,
    } = bundle;

    let dir = mac.sim_dir().join(DIR_NAME);
    if dir.exists() {
        fs::remove_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
    }
    for (name, bytes) in members {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).map_err(|e| io_err(parent, e))?;
        }
        write_atomic(&path, bytes, 0o600, None)?;
    }

    let mut notes = Vec::new();
    if m.redacted_users {
        notes.push("the bundle's user names are placeholders (user1, user2...): the recorded Mac answers with them".to_owned());
    }
    // A tool the recorded Mac did not have is not installed here either.
    for p in &m.probes {
        if p.not_run
            .as_deref()
            .is_some_and(|n| n.contains("not installed"))
        {
            if let Some((_, mac_path)) = TOOLS
                .iter()
                .find(|(_, path)| Some(*path) == p.argv.first().map(String::as_str))
            {
                let link = mac.path(mac_path);
                if link.symlink_metadata().is_ok() {
                    fs::remove_file(&link).map_err(|e| io_err(&link, e))?;
                }
            }
        }
    }
    for f in &m.files {
        lay_out_file(mac, f, members, m, source, &mut notes)?;
    }
    Ok(notes)
}

fn lay_out_file(
    mac: &Mac,
    f: &FileFact,
    members: &BTreeMap<String, Vec<u8>>,
    m: &Manifest,
    source: &str,
    notes: &mut Vec<String>,
) -> Result<(), String> {
    let path = mac.path(&f.path);
    if !f.present {
        return match fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound && !path.is_dir() => {
                Err(io_err(&path, e))
            }
            _ => Ok(()),
        };
    }
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| io_err(parent, e))?;
    }
    match f.kind.as_str() {
        "console" => {
            if path.symlink_metadata().is_err() {
                fs::File::create(&path).map_err(|e| io_err(&path, e))?;
                fs::set_permissions(&path, fs::Permissions::from_mode(0o600))
                    .map_err(|e| io_err(&path, e))?;
            }
            let uid = f.owner_uid.unwrap_or(0);
            if nix::unistd::geteuid().is_root() {
                nix::unistd::chown(&path, Some(nix::unistd::Uid::from_raw(uid)), None)
                    .map_err(|e| format!("{}: chown: {e}", path.display()))?;
            } else if uid != nix::unistd::geteuid().as_raw() {
                notes.push(format!(
                    "{CONSOLE} could not be given to uid {uid} (not root): it stays yours, so Keywarden sees another console user than the recorded Mac had"
                ));
            }
        }
        "escrow_file" => {
            let at = f
                .modified_at
                .as_deref()
                .ok_or_else(|| format!("{source}: the escrow file has no modified_at"))?;
            let bytes = match f.contents.as_ref().and_then(|c| members.get(c)) {
                Some(bytes) => bytes.clone(),
                None => {
                    let seed = f.sha256.clone().unwrap_or_default();
                    let stand_in = match &f.recipient {
                        Some(r) => blob::stand_in(r, &seed)
                            .map_err(|e| format!("{source}: {e}"))?,
                        None => format!("keywarden-sim stand-in for a withheld escrow file that named no recipient ({seed})\n").into_bytes(),
                    };
                    notes.push(format!(
                        "{}: {}: a stand-in (the bundle was made without --with-escrow-file); {} so Keywarden's status differs only in Escrow.FileSHA256",
                        f.path,
                        if m.with_escrow_file { "its member is missing" } else { "withheld" },
                        if f.recipient.is_some() {
                            "a CMS envelope to the recorded recipient,"
                        } else {
                            "text that is not CMS (the recorded file named no recipient either),"
                        }
                    ));
                    stand_in
                }
            };
            write_atomic(&path, &bytes, 0o600, Some(system_time(at)?))?;
        }
        "escrow_prefs" => {
            let bytes = f
                .contents
                .as_ref()
                .and_then(|c| members.get(c))
                .ok_or_else(|| format!("{source}: {} is present but not in the bundle", f.path))?;
            write_atomic(&path, bytes, 0o644, None)?;
        }
        "escrow_buddy" => {
            fs::create_dir_all(path.join("Contents")).map_err(|e| io_err(&path, e))?;
        }
        "plaintext_key_file" => {
            write_atomic(&path, PLAINTEXT_STAND_IN.as_bytes(), 0o600, None)?;
            notes.push(format!(
                "{}: a stand-in without a key (a plaintext key file existed on the recorded Mac)",
                f.path
            ));
        }
        other => notes.push(format!(
            "{}: a file fact of kind {other:?} is not laid out",
            f.path
        )),
    }
    Ok(())
}

/// How a recorded Mac answers one call.
pub enum Replay {
    Answer(Answer),
    /// The call timed out on the recorded Mac: it hangs here too.
    Hang,
}

/// The recorded answer to `argv` (tool name first), or exit 1 naming the argv.
pub fn answer(mac: &Mac, argv: &[String]) -> Result<Replay, String> {
    let dir = mac.sim_dir().join(DIR_NAME);
    let path = dir.join("manifest.json");
    let bytes = fs::read(&path).map_err(|e| io_err(&path, e))?;
    let m = manifest(&bytes, &path.display().to_string())?;
    let Some(p) = m.probes.iter().find(|p| same_call(&p.argv, argv)) else {
        return Ok(Replay::Answer(Answer::stderr(
            format!(
                "keywarden-sim: {argv:?} was not recorded in the bundle this Mac was made from (exit 1)\n"
            ),
            1,
        )));
    };
    if p.timed_out {
        return Ok(Replay::Hang);
    }
    let read = |member: &Option<String>| -> Result<Vec<u8>, String> {
        match member {
            Some(name) => {
                let path = dir.join(name);
                fs::read(&path).map_err(|e| io_err(&path, e))
            }
            None => Ok(Vec::new()),
        }
    };
    // A signal is replayed as the shell shows it (128 + N): an answer has an exit code only.
    let exit = match (p.exit, p.signal, &p.not_run) {
        (Some(code), _, _) => code,
        (None, Some(sig), _) => 128 + sig,
        (None, None, _) => 1,
    };
    Ok(Replay::Answer(Answer {
        stdout: read(&p.stdout)?,
        stderr: read(&p.stderr)?,
        exit,
    }))
}

/// The recorded argv starts with the tool's macOS path; the call's with its name.
fn same_call(recorded: &[String], argv: &[String]) -> bool {
    let base = |s: &str| {
        Path::new(s)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    };
    !recorded.is_empty()
        && recorded.len() == argv.len()
        && base(&recorded[0]) == argv[0]
        && recorded[1..] == argv[1..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_member_name_that_climbs_out_is_refused() {
        assert!(safe_member("probes/00.stdout"));
        assert!(!safe_member("../x"));
        assert!(!safe_member("/etc/passwd"));
        assert!(!safe_member(""));
    }

    /// A tar.gz of `members` under `TOP`.
    fn tgz(members: &[(&str, &[u8])]) -> Vec<u8> {
        let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        for (name, bytes) in members {
            let mut h = tar::Header::new_gnu();
            h.set_size(bytes.len() as u64);
            h.set_mode(0o600);
            tar.append_data(&mut h, format!("{TOP}{name}"), *bytes)
                .unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn a_file_fact_away_from_its_kinds_path_is_refused_before_anything_is_laid_out_issue_15() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.tgz");
        for (kind, at) in [
            ("console", "/usr/bin/fdesetup"),
            ("escrow_file", "/usr/bin/sw_vers"),
            ("escrow_prefs", "/var/db/FileVaultPRK.dat"),
            ("escrow_buddy", "/usr/bin"),
        ] {
            let manifest = format!(
                r#"{{"format":1,"probes":[],"files":[{{"path":"{at}","kind":"{kind}","present":true,"owner_uid":0}}]}}"#
            );
            fs::write(&path, tgz(&[("manifest.json", manifest.as_bytes())])).unwrap();
            let e = read(&path).err().unwrap_or_default();
            assert!(e.contains("not where that file is"), "{kind}: {e}");
        }
        let ok = r#"{"format":1,"probes":[],"files":[{"path":"/dev/console","kind":"console","present":true,"owner_uid":0}]}"#;
        fs::write(&path, tgz(&[("manifest.json", ok.as_bytes())])).unwrap();
        assert!(read(&path).is_ok());
    }

    #[test]
    fn a_file_that_is_not_a_bundle_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("b.tgz");
        fs::write(&path, b"not gzip at all").unwrap();
        let e = read_members(&path).unwrap_err();
        assert!(e.contains("not a Keywarden selftest bundle"), "{e}");
    }

    #[test]
    fn a_manifest_of_another_format_is_refused_with_both_numbers() {
        let e = manifest(br#"{"format":2,"probes":[],"files":[]}"#, "b").unwrap_err();
        assert!(e.contains("format 2") && e.contains("format 1"), "{e}");
    }
}
