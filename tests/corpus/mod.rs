//! Every real macOS tool output in the corpus, run through the parser that handles it.
//!
//! `tests/fixtures/corpus/` is the project's verbatim copy of `../shared/corpus/` (refreshed by
//! `make corpus-sync`); `tests/fixtures/handwritten/` holds outputs for states that have no
//! published sample, written from the wording in PLATFORM.md and PATTERNS.md and labelled
//! `HANDWRITTEN` (provenance in its README). `MAP` says which parser handles each corpus
//! directory, or why none does; each tool module holds a table keyed by file name with the
//! asserted value or error of every file. The tests below make sure nothing is left out.

mod defaults;
mod diskutil;
mod dscl;
mod fdesetup;
mod profiles;
mod security;
mod sw_vers;
mod sysadminctl;
mod sysctl;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use keywarden::runner::Output;

use crate::support::{corpus, fixture, repo};

/// Which stream of the tool a sample was printed on.
#[derive(Debug, Clone, Copy)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// One sample and what its parser must make of it.
pub struct Case {
    /// `DIR/FILE` under `tests/fixtures/corpus/`, or `handwritten/DIR/FILE` under `tests/fixtures/`.
    pub file: &'static str,
    pub stream: Stream,
    pub exit: i32,
    /// Parses the output and asserts the value or the error.
    pub check: fn(&Output),
}

pub enum Handler {
    /// The parser (by path) that must accept every file of the directory.
    Parser(&'static str),
    /// Keywarden never runs this command; why.
    NotHandled(&'static str),
}

/// Every corpus directory, and what handles it.
pub const MAP: &[(&str, Handler)] = &[
    ("diskutil-apfs-list", Handler::NotHandled("Keywarden reads crypto users with `listCryptoUsers`; the volume tree is not needed")),
    ("diskutil-apfs-listcryptousers", Handler::Parser("tools::diskutil::parse_list_crypto_users")),
    ("diskutil-apfs-listusers", Handler::Parser("tools::diskutil::parse_list_crypto_users (listUsers is the older alias, same text form)")),
    ("dscl-list-users-uniqueid", Handler::NotHandled("Keywarden reads users with `dscl -plist . -readall /Users`, not the padded text list")),
    ("dscl-read-authenticationauthority", Handler::NotHandled("Keywarden reads AuthenticationAuthority from `dscl -plist . -readall /Users`, never with `dscl . read`; the hand-written -plist samples carry the values these show (`;tokenidentity;...`)")),
    ("dscl-search-users-uniqueid", Handler::NotHandled("Keywarden never searches users by UniqueID")),
    ("fdesetup-add", Handler::NotHandled("Keywarden never adds FileVault users")),
    ("fdesetup-authrestart", Handler::NotHandled("Keywarden never restarts the Mac")),
    ("fdesetup-changerecovery", Handler::Parser("tools::fdesetup::parse_changerecovery")),
    ("fdesetup-disable", Handler::NotHandled("Keywarden never disables FileVault")),
    ("fdesetup-enable", Handler::NotHandled("Keywarden never enables FileVault")),
    ("fdesetup-hasinstitutionalrecoverykey", Handler::Parser("tools::fdesetup::parse_true_false")),
    ("fdesetup-haspersonalrecoverykey", Handler::Parser("tools::fdesetup::parse_true_false")),
    ("fdesetup-isactive", Handler::Parser("tools::fdesetup::parse_true_false (same true/false answer; not run)")),
    ("fdesetup-list", Handler::NotHandled("Keywarden reads FileVault users from `diskutil apfs listCryptoUsers`, which also gives volume owners")),
    ("fdesetup-list-extended", Handler::NotHandled("its ESCROW column says Yes before anything reached the server (PLATFORM.md): not used")),
    ("fdesetup-outputplist", Handler::NotHandled("the deferral output file holds the key in plain text: Keywarden reports that it exists and never reads it")),
    ("fdesetup-showdeferralinfo", Handler::Parser("tools::fdesetup::parse_showdeferralinfo")),
    ("fdesetup-status", Handler::Parser("tools::fdesetup::parse_status")),
    ("fdesetup-supportsauthrestart", Handler::Parser("tools::fdesetup::parse_true_false (same true/false answer; not run)")),
    ("fdesetup-usingrecoverykey", Handler::Parser("tools::fdesetup::parse_usingrecoverykey")),
    ("profiles-list", Handler::NotHandled("Keywarden reads profiles as XML (`profiles -C -o stdout-xml`), not the text listing")),
    ("profiles-show-enrollment", Handler::NotHandled("`profiles show -type enrollment` is rate-limited (PLATFORM.md): never called")),
    ("profiles-status-bootstraptoken", Handler::Parser("tools::profiles::parse_bootstrap_token")),
    ("profiles-status-enrollment", Handler::NotHandled("enrolment state is not part of the status")),
    ("sysadminctl-errors", Handler::Parser("tools::sysadminctl::parse_secure_token_status (the failures it can print)")),
    ("sysadminctl-securetokenstatus", Handler::Parser("tools::sysadminctl::parse_secure_token_status")),
    ("sysadminctl-usage", Handler::Parser("tools::sysadminctl::parse_secure_token_status (usage text means a bad call)")),
];

fn fixtures() -> PathBuf {
    repo("tests/fixtures")
}

fn all_cases() -> Vec<Case> {
    let mut v = Vec::new();
    v.extend(defaults::cases());
    v.extend(diskutil::cases());
    v.extend(dscl::cases());
    v.extend(fdesetup::cases());
    v.extend(profiles::cases());
    v.extend(security::cases());
    v.extend(sw_vers::cases());
    v.extend(sysadminctl::cases());
    v.extend(sysctl::cases());
    v
}

/// The output a case stands for.
pub fn output_of(case: &Case) -> Output {
    let bytes = match case.file.strip_prefix("handwritten/") {
        Some(_) => fixture(case.file),
        None => corpus(case.file),
    };
    match case.stream {
        Stream::Stdout => Output::new(case.exit, bytes, Vec::new()),
        Stream::Stderr => Output::new(case.exit, Vec::new(), bytes),
    }
}

/// Sample files (`DIR/FILE`) under a fixtures tree.
fn samples(tree: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Ok(dirs) = std::fs::read_dir(tree) else {
        return out;
    };
    for dir in dirs.flatten() {
        if !dir.path().is_dir() {
            continue;
        }
        let dname = dir.file_name().to_string_lossy().into_owned();
        for f in std::fs::read_dir(dir.path()).unwrap().flatten() {
            out.insert(format!("{dname}/{}", f.file_name().to_string_lossy()));
        }
    }
    out
}

fn corpus_dirs() -> BTreeSet<String> {
    std::fs::read_dir(fixtures().join("corpus"))
        .expect("tests/fixtures/corpus exists")
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn every_corpus_directory_is_mapped_to_a_parser_or_a_reason() {
    for (dir, handler) in MAP {
        let (Handler::Parser(what) | Handler::NotHandled(what)) = handler;
        assert!(
            !what.is_empty(),
            "{dir}: MAP names neither a parser nor a reason"
        );
    }
    let mapped: BTreeSet<String> = MAP.iter().map(|(d, _)| d.to_string()).collect();
    let dirs = corpus_dirs();
    let unmapped: Vec<_> = dirs.difference(&mapped).collect();
    let stale: Vec<_> = mapped.difference(&dirs).collect();
    assert!(
        unmapped.is_empty(),
        "corpus directories with no entry in MAP: {unmapped:?}"
    );
    assert!(
        stale.is_empty(),
        "MAP names directories the corpus does not have: {stale:?}"
    );
}

#[test]
fn every_sample_of_a_handled_directory_has_an_asserted_outcome() {
    let handled: BTreeSet<&str> = MAP
        .iter()
        .filter(|(_, h)| matches!(h, Handler::Parser(_)))
        .map(|(d, _)| *d)
        .collect();
    let mut expected: BTreeSet<String> = samples(&fixtures().join("corpus"))
        .into_iter()
        .filter(|f| handled.contains(f.split('/').next().unwrap()))
        .collect();
    expected.extend(
        samples(&fixtures().join("handwritten"))
            .into_iter()
            .map(|f| format!("handwritten/{f}")),
    );
    let cases: Vec<String> = all_cases().iter().map(|c| c.file.to_string()).collect();
    let have: BTreeSet<String> = cases.iter().cloned().collect();
    assert_eq!(
        have.len(),
        cases.len(),
        "a sample appears twice in the case tables"
    );
    let missing: Vec<_> = expected.difference(&have).collect();
    let unknown: Vec<_> = have.difference(&expected).collect();
    assert!(
        missing.is_empty(),
        "samples with no asserted outcome: {missing:#?}"
    );
    assert!(
        unknown.is_empty(),
        "cases naming files that do not exist (or sit in an unhandled directory): {unknown:#?}"
    );
}

#[test]
fn every_sample_parses_to_its_asserted_value_or_error() {
    let mut failures = Vec::new();
    for case in all_cases() {
        let out = output_of(&case);
        let result = std::panic::catch_unwind(|| (case.check)(&out));
        if let Err(panic) = result {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{}: {msg}", case.file));
        }
    }
    assert!(
        failures.is_empty(),
        "{} samples failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_handwritten_fixture_has_its_provenance_recorded() {
    let readme = std::fs::read_to_string(fixtures().join("handwritten/README.md"))
        .expect("tests/fixtures/handwritten/README.md");
    for f in samples(&fixtures().join("handwritten")) {
        assert!(
            f.contains("HANDWRITTEN"),
            "{f}: hand-written fixtures carry HANDWRITTEN in their name"
        );
        assert!(
            readme.contains(&f),
            "{f} is not described in tests/fixtures/handwritten/README.md"
        );
    }
}

/// Runs inside `.ci/run` (and everywhere `../shared/corpus` exists): names every sample the
/// shared corpus has and the project's copy lacks or holds differently.
#[test]
fn the_project_copy_of_the_corpus_is_in_step_with_the_shared_corpus() {
    let shared = repo("../shared/corpus");
    if !shared.is_dir() {
        eprintln!("no ../shared/corpus next to this clone: nothing to compare");
        return;
    }
    let ours = fixtures().join("corpus");
    let mut differ = Vec::new();
    let mut files: Vec<String> = samples(&shared).into_iter().collect();
    for top in std::fs::read_dir(&shared).unwrap().flatten() {
        if top.path().is_file() {
            files.push(top.file_name().to_string_lossy().into_owned());
        }
    }
    for f in files {
        let theirs = std::fs::read(shared.join(&f)).unwrap();
        match std::fs::read(ours.join(&f)) {
            Ok(mine) if mine == theirs => {}
            Ok(_) => differ.push(format!("{f} (differs)")),
            Err(_) => differ.push(format!("{f} (missing)")),
        }
    }
    assert!(
        differ.is_empty(),
        "../shared/corpus has samples the project's copy lacks; run `make corpus-sync`, then map and assert them:\n{}",
        differ.join("\n")
    );
}
