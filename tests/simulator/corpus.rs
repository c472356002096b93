//! The real macOS outputs the simulator prints byte for byte.
//!
//! Where `tests/fixtures/corpus` holds a real sample of a state, the simulator prints that file
//! rather than its own rendering, so the daemon meets the exact bytes a Mac printed. Each
//! constant names the state it stands for; provenance is in `corpus/SOURCES.md`. Everything
//! else the simulator prints is built from the wordings in PLATFORM.md and corpus/PATTERNS.md.

/// `fdesetup status`, FileVault on with a FileVaultMaster keychain (10.15.6).
pub const STATUS_ON_MASTER_KEYCHAIN: &[u8] =
    include_bytes!("../fixtures/corpus/fdesetup-status/ttg-10.15.6-on-masterkeychain.txt");

/// `fdesetup haspersonalrecoverykey` → `true`.
pub const HAS_PRK_TRUE: &[u8] = include_bytes!(
    "../fixtures/corpus/fdesetup-haspersonalrecoverykey/ttg-10.15.6-true-DERIVED.txt"
);

/// `fdesetup hasinstitutionalrecoverykey` → `false`.
pub const HAS_IRK_FALSE: &[u8] = include_bytes!(
    "../fixtures/corpus/fdesetup-hasinstitutionalrecoverykey/ttg-10.15.6-false-DERIVED.txt"
);

/// `fdesetup usingrecoverykey` → `false`.
pub const USING_RECOVERY_KEY_FALSE: &[u8] = include_bytes!(
    "../fixtures/corpus/fdesetup-usingrecoverykey/openradar-28163245-10.11.6-false.txt"
);

/// `fdesetup showdeferralinfo` with an active MDM deferral writing to the default OutputPath.
pub const SHOWDEFERRALINFO_ACTIVE: &[u8] =
    include_bytes!("../fixtures/corpus/fdesetup-showdeferralinfo/ttg-10.15.6-defer-active.txt");
/// The OutputPath inside `SHOWDEFERRALINFO_ACTIVE`, replaced when the scenario uses another.
pub const SHOWDEFERRALINFO_OUTPUT_PATH: &str = "/var/db/ConfigurationProfiles/fdesetup.plist";

/// `profiles status -type bootstraptoken` when the server does not support it (one line only).
pub const BOOTSTRAP_NOT_SUPPORTED: &[u8] = include_bytes!(
    "../fixtures/corpus/profiles-status-bootstraptoken/ttg-10.15.6-supported-no.txt"
);

/// The deferral output file as fdesetup writes it (a model for the simulated plaintext file).
pub const DEFERRAL_OUTPUT_PLIST: &str =
    include_str!("../fixtures/corpus/fdesetup-outputplist/ttg-10.15.6-deferral-fdesetup.plist.txt");
/// The (redacted) key inside `DEFERRAL_OUTPUT_PLIST`.
pub const DEFERRAL_OUTPUT_PLIST_KEY: &str = "3QKM-XXXX-XXXX-XXXX-XXXX-XXXX";
