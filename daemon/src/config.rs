//! Configuration from the `org.keywarden` preference domain, parsed once per check into a typed
//! `Config`.
//!
//! Managed preferences (a configuration profile, `/Library/Managed Preferences/org.keywarden.plist`)
//! win over local ones (`/Library/Preferences/org.keywarden.plist`). An unknown key, a wrong type or
//! an out-of-range value is a warning (shown in `Daemon.ConfigWarnings`) and the default is used;
//! a file that cannot be read (not a plist, a symlink, a FIFO) is a warning and is ignored. Keys
//! marked restricted (†) are honoured only from the managed file or from a local file owned by
//! root and not writable by group or others: they name accounts and commands run as root.
//!
//! `KEYS` is the one table of keys; the docs, the example profile, the Jamf schema and the
//! ProfileManifests manifest are tested against it. This module reads files through `files` and
//! decides nothing else.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::files::{self, Owners, Trust};
use crate::logging::LogLevel;
use crate::paths::{self, Root};

/// Largest preference file read.
const MAX_PREFS_BYTES: u64 = 1024 * 1024;

/// The type of a key's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyType {
    Integer,
    String,
    Bool,
    StringArray,
}

impl KeyType {
    pub fn name(self) -> &'static str {
        match self {
            KeyType::Integer => "integer",
            KeyType::String => "string",
            KeyType::Bool => "boolean",
            KeyType::StringArray => "array of strings",
        }
    }
}

/// One configuration key.
#[derive(Debug, Clone, Copy)]
pub struct KeySpec {
    pub name: &'static str,
    pub kind: KeyType,
    /// † keys: honoured only from the managed file or a root-owned, not group/world-writable
    /// local file.
    pub restricted: bool,
    /// The default, as an admin would write it.
    pub default: &'static str,
    pub meaning: &'static str,
}

/// Every key Keywarden reads (ARCHITECTURE.md, "Configuration").
pub const KEYS: &[KeySpec] = &[
    KeySpec { name: "CheckInterval", kind: KeyType::Integer, restricted: false, default: "3600", meaning: "Seconds between full checks (jittered by up to 10%). 300 to 86400." },
    KeySpec { name: "ConsolePollSeconds", kind: KeyType::Integer, restricted: false, default: "60", meaning: "How often, in seconds, the console user is looked at between checks. 1 to 3600." },
    KeySpec { name: "ToolTimeout", kind: KeyType::Integer, restricted: false, default: "30", meaning: "Seconds one tool call may take before its process group is killed. 1 to 600." },
    KeySpec { name: "LogLevel", kind: KeyType::String, restricted: false, default: "info", meaning: "error, warn, info or debug." },
    KeySpec { name: "ExpectedSecureTokenAdmins", kind: KeyType::StringArray, restricted: true, default: "[]", meaning: "Admin accounts allowed to hold a SecureToken without being reported." },
    KeySpec { name: "RotationMode", kind: KeyType::String, restricted: false, default: "Request", meaning: "Request (ask for rotations) or Report (only report what would be requested)." },
    KeySpec { name: "RotationMethods", kind: KeyType::StringArray, restricted: true, default: "[EscrowBuddy, MDM]", meaning: "How to request a rotation, in order of preference: EscrowBuddy, MDM, Command." },
    KeySpec { name: "RotationCommand", kind: KeyType::StringArray, restricted: true, default: "(none)", meaning: "argv run as root, without a shell, when the Command method requests a rotation." },
    KeySpec { name: "RotationOverdueDays", kind: KeyType::Integer, restricted: false, default: "14", meaning: "A request older than this many days is reported as RotationOverdue. 1 to 365." },
    KeySpec { name: "MaxKeyAgeDays", kind: KeyType::Integer, restricted: false, default: "0", meaning: "Request a rotation when the key is older than this many days; 0 turns it off. 0 to 3650." },
    KeySpec { name: "RotationRequestID", kind: KeyType::String, restricted: false, default: "(none)", meaning: "A new value requests one rotation (for a push from the MDM)." },
    KeySpec { name: "AllowRotateWithCurrentKey", kind: KeyType::Bool, restricted: true, default: "false", meaning: "Enables `keywarden rotate --current-key`." },
    KeySpec { name: "ValidationDailyCap", kind: KeyType::Integer, restricted: false, default: "3", meaning: "Validations allowed per day. 0 to 10." },
    KeySpec { name: "ValidationFailureCap", kind: KeyType::Integer, restricted: false, default: "10", meaning: "Failed validations allowed for the life of the Mac; at most 20." },
    KeySpec { name: "StaleAfterHours", kind: KeyType::Integer, restricted: false, default: "48", meaning: "A status older than this many hours reads as stale in inventory. 1 to 8760." },
];

pub fn key_spec(name: &str) -> Option<&'static KeySpec> {
    KEYS.iter().find(|k| k.name == name)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotationMode {
    Request,
    Report,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RotationMethod {
    EscrowBuddy,
    #[serde(rename = "MDM")]
    Mdm,
    Command,
}

impl RotationMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            RotationMethod::EscrowBuddy => "EscrowBuddy",
            RotationMethod::Mdm => "MDM",
            RotationMethod::Command => "Command",
        }
    }
}

/// The effective configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub check_interval: Duration,
    pub console_poll: Duration,
    pub tool_timeout: Duration,
    pub log_level: LogLevel,
    pub expected_secure_token_admins: Vec<String>,
    pub rotation_mode: RotationMode,
    pub rotation_methods: Vec<RotationMethod>,
    pub rotation_command: Option<Vec<String>>,
    pub rotation_overdue_days: u32,
    pub max_key_age_days: u32,
    pub rotation_request_id: Option<String>,
    pub allow_rotate_with_current_key: bool,
    pub validation_daily_cap: u32,
    pub validation_failure_cap: u32,
    pub stale_after_hours: u32,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            check_interval: Duration::from_secs(3600),
            console_poll: Duration::from_secs(60),
            tool_timeout: Duration::from_secs(30),
            log_level: LogLevel::Info,
            expected_secure_token_admins: Vec::new(),
            rotation_mode: RotationMode::Request,
            rotation_methods: vec![RotationMethod::EscrowBuddy, RotationMethod::Mdm],
            rotation_command: None,
            rotation_overdue_days: 14,
            max_key_age_days: 0,
            rotation_request_id: None,
            allow_rotate_with_current_key: false,
            validation_daily_cap: 3,
            validation_failure_cap: 10,
            stale_after_hours: 48,
        }
    }
}

/// Where an effective value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Managed,
    Local,
    Default,
}

impl Source {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Source::Managed => "managed",
            Source::Local => "local",
            Source::Default => "default",
        }
    }
}

/// A loaded configuration, with the warnings it produced and where each key came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Vec<String>,
    pub sources: BTreeMap<&'static str, Source>,
}

/// Load the configuration of the Mac under `root`, trusting files as `owners` allows.
pub fn load(root: &Root, owners: Owners) -> Loaded {
    let mut warnings = Vec::new();
    // Managed preferences are written by macOS from a profile: root's, never writable by others.
    // One that is not is not a profile's: ignored whole, with a warning.
    let managed = read_prefs(
        &root.resolve(paths::MANAGED_PREFS),
        paths::MANAGED_PREFS,
        Trust::Owned(owners),
        &mut warnings,
    );
    // Local preferences may be anyone's; only the restricted keys need a trusted file (below).
    let local_path = root.resolve(paths::LOCAL_PREFS);
    let local = read_prefs(&local_path, paths::LOCAL_PREFS, Trust::Any, &mut warnings);
    let local_trusted = local.is_some()
        && matches!(
            files::lstat(&local_path),
            Ok(Some(m)) if files::check_trusted(&local_path, &m, owners).is_ok()
        );
    from_dicts(
        managed.as_ref(),
        local.as_ref(),
        local_trusted,
        &mut warnings,
    )
}

/// Read one preference file as a dictionary; problems become warnings and the file is ignored.
fn read_prefs(
    path: &Path,
    shown: &str,
    trust: Trust,
    warnings: &mut Vec<String>,
) -> Option<plist::Dictionary> {
    let bytes = match files::read_file(path, MAX_PREFS_BYTES, trust) {
        Ok(Some(b)) => b,
        Ok(None) => return None,
        Err(e) => {
            warnings.push(format!("{shown}: ignored: {e}"));
            return None;
        }
    };
    match crate::plistio::value_from_bytes(&bytes) {
        Ok(plist::Value::Dictionary(d)) => Some(d),
        Ok(_) => {
            warnings.push(format!(
                "{shown}: ignored: the top level is not a dictionary of keys"
            ));
            None
        }
        Err(e) => {
            warnings.push(format!("{shown}: ignored: {e}"));
            None
        }
    }
}

/// Build the effective configuration from the managed and local dictionaries (pure).
pub fn from_dicts(
    managed: Option<&plist::Dictionary>,
    local: Option<&plist::Dictionary>,
    local_trusted: bool,
    warnings: &mut Vec<String>,
) -> Loaded {
    let mut config = Config::default();
    let mut sources = BTreeMap::new();
    for spec in KEYS {
        sources.insert(spec.name, Source::Default);
    }
    for (file, dict) in [(paths::MANAGED_PREFS, managed), (paths::LOCAL_PREFS, local)] {
        let Some(dict) = dict else { continue };
        let unknown: Vec<&String> = dict
            .keys()
            .filter(|key| key_spec(key).is_none() && !IGNORED_KEYS.contains(&key.as_str()))
            .collect();
        // A few named, the rest counted: a file of thousands of keys must not flood the status
        // and the log (found by `make fuzz`, issue 6).
        for key in unknown.iter().take(MAX_UNKNOWN_KEYS_NAMED) {
            warnings.push(format!(
                "{file}: unknown key {} (ignored)",
                crate::text::printable(key, QUOTED_CHARS)
            ));
        }
        if unknown.len() > MAX_UNKNOWN_KEYS_NAMED {
            warnings.push(format!(
                "{file}: {} more unknown keys (ignored)",
                unknown.len() - MAX_UNKNOWN_KEYS_NAMED
            ));
        }
    }
    for spec in KEYS {
        let chosen = [
            (paths::MANAGED_PREFS, managed, Source::Managed),
            (paths::LOCAL_PREFS, local, Source::Local),
        ]
        .into_iter()
        .find_map(|(file, dict, source)| {
            dict.and_then(|d| d.get(spec.name))
                .map(|v| (file, v, source))
        });
        let Some((file, value, source)) = chosen else {
            continue;
        };
        if spec.restricted && source == Source::Local && !local_trusted {
            warnings.push(format!(
                "{file}: {} is ignored: it is honoured only from a configuration profile or a local file owned by root and not writable by group or others",
                spec.name
            ));
            continue;
        }
        match apply(&mut config, spec, value) {
            Ok(()) => {
                sources.insert(spec.name, source);
            }
            Err(why) => warnings.push(format!(
                "{file}: {} {why}; the default ({}) is used",
                spec.name, spec.default
            )),
        }
    }
    // A Command method needs a command. With nothing else listed, the default methods are
    // used rather than none: a used key must still be rotated (issue 6, fuzz F3).
    if config.rotation_methods.contains(&RotationMethod::Command)
        && config.rotation_command.is_none()
    {
        config
            .rotation_methods
            .retain(|m| *m != RotationMethod::Command);
        if config.rotation_methods.is_empty() {
            config.rotation_methods = Config::default().rotation_methods;
            sources.insert("RotationMethods", Source::Default);
            warnings.push(format!(
                "RotationMethods lists only Command but RotationCommand is not set: the default ({}) is used",
                key_spec("RotationMethods").map_or("", |k| k.default)
            ));
        } else {
            warnings.push(
                "RotationMethods lists Command but RotationCommand is not set: Command is skipped"
                    .to_owned(),
            );
        }
    }
    Loaded {
        config,
        warnings: std::mem::take(warnings),
        sources,
    }
}

/// How many unknown keys of one file are named in warnings; the rest are counted.
const MAX_UNKNOWN_KEYS_NAMED: usize = 10;

/// Longest a key or value from a preferences file is quoted in a warning.
const QUOTED_CHARS: usize = 64;

/// A value from a preferences file as a warning quotes it: one printable line in quotes, cut
/// short (the file may hold anything; issue 6).
fn quoted(text: &str) -> String {
    format!("\"{}\"", crate::text::printable(text, QUOTED_CHARS))
}

/// Keys macOS itself may put in a managed preferences file.
const IGNORED_KEYS: &[&str] = &[
    "PayloadUUID",
    "PayloadIdentifier",
    "PayloadType",
    "PayloadVersion",
    "PayloadDisplayName",
];

fn integer(value: &plist::Value, min: u64, max: u64) -> Result<u64, String> {
    let n = match value {
        plist::Value::Integer(i) => i
            .as_unsigned()
            .ok_or_else(|| "must not be negative".to_owned())?,
        other => return Err(format!("must be an integer, not {}", type_name(other))),
    };
    if n < min || n > max {
        return Err(format!("must be between {min} and {max}, not {n}"));
    }
    Ok(n)
}

fn string(value: &plist::Value) -> Result<&str, String> {
    value
        .as_string()
        .ok_or_else(|| format!("must be a string, not {}", type_name(value)))
}

fn string_array(value: &plist::Value) -> Result<Vec<String>, String> {
    let arr = value
        .as_array()
        .ok_or_else(|| format!("must be an array of strings, not {}", type_name(value)))?;
    arr.iter()
        .map(|v| {
            v.as_string()
                .map(str::to_owned)
                .ok_or_else(|| format!("must hold only strings, not {}", type_name(v)))
        })
        .collect()
}

fn type_name(v: &plist::Value) -> &'static str {
    match v {
        plist::Value::Array(_) => "an array",
        plist::Value::Dictionary(_) => "a dictionary",
        plist::Value::Boolean(_) => "a boolean",
        plist::Value::Data(_) => "data",
        plist::Value::Date(_) => "a date",
        plist::Value::Real(_) => "a real number",
        plist::Value::Integer(_) => "an integer",
        plist::Value::String(_) => "a string",
        plist::Value::Uid(_) => "a UID",
        _ => "an unknown type",
    }
}

fn apply(config: &mut Config, spec: &KeySpec, value: &plist::Value) -> Result<(), String> {
    match spec.name {
        "CheckInterval" => {
            config.check_interval = Duration::from_secs(integer(value, 300, 86_400)?)
        }
        "ConsolePollSeconds" => config.console_poll = Duration::from_secs(integer(value, 1, 3600)?),
        "ToolTimeout" => config.tool_timeout = Duration::from_secs(integer(value, 1, 600)?),
        "LogLevel" => {
            config.log_level = match string(value)? {
                "error" => LogLevel::Error,
                "warn" => LogLevel::Warn,
                "info" => LogLevel::Info,
                "debug" => LogLevel::Debug,
                other => {
                    return Err(format!(
                        "must be error, warn, info or debug, not {}",
                        quoted(other)
                    ))
                }
            }
        }
        "ExpectedSecureTokenAdmins" => config.expected_secure_token_admins = string_array(value)?,
        "RotationMode" => {
            config.rotation_mode = match string(value)? {
                "Request" => RotationMode::Request,
                "Report" => RotationMode::Report,
                other => return Err(format!("must be Request or Report, not {}", quoted(other))),
            }
        }
        "RotationMethods" => {
            let mut methods = Vec::new();
            for m in string_array(value)? {
                let method = match m.as_str() {
                    "EscrowBuddy" => RotationMethod::EscrowBuddy,
                    "MDM" => RotationMethod::Mdm,
                    "Command" => RotationMethod::Command,
                    other => {
                        return Err(format!(
                            "must list only EscrowBuddy, MDM and Command, not {}",
                            quoted(other)
                        ))
                    }
                };
                if !methods.contains(&method) {
                    methods.push(method);
                }
            }
            if methods.is_empty() {
                return Err("must name at least one method".to_owned());
            }
            config.rotation_methods = methods;
        }
        "RotationCommand" => {
            let argv = string_array(value)?;
            match argv.first() {
                None => return Err("must not be empty".to_owned()),
                Some(p) if !p.starts_with('/') => {
                    return Err(format!(
                    "must start with an absolute program path, not {} (no shell, no PATH lookup)",
                    quoted(p)
                ))
                }
                Some(_) => config.rotation_command = Some(argv),
            }
        }
        "RotationOverdueDays" => config.rotation_overdue_days = integer(value, 1, 365)? as u32,
        "MaxKeyAgeDays" => config.max_key_age_days = integer(value, 0, 3650)? as u32,
        "RotationRequestID" => {
            let id = string(value)?;
            config.rotation_request_id = (!id.is_empty()).then(|| id.to_owned());
        }
        "AllowRotateWithCurrentKey" => {
            config.allow_rotate_with_current_key = value
                .as_boolean()
                .ok_or_else(|| format!("must be a boolean, not {}", type_name(value)))?
        }
        "ValidationDailyCap" => config.validation_daily_cap = integer(value, 0, 10)? as u32,
        // Secure Enclave: 30 attempts per method for the life of the volume (PLATFORM.md); keep
        // at least 10 for people.
        "ValidationFailureCap" => config.validation_failure_cap = integer(value, 0, 20)? as u32,
        "StaleAfterHours" => config.stale_after_hours = integer(value, 1, 8760)? as u32,
        other => unreachable!("KEYS lists {other} without a rule in apply()"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use plist::{Dictionary, Value};

    fn dict(pairs: &[(&str, Value)]) -> Dictionary {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    fn strings(v: &[&str]) -> Value {
        Value::Array(v.iter().map(|s| Value::String(s.to_string())).collect())
    }

    #[test]
    fn no_preferences_give_the_documented_defaults_and_no_warnings() {
        let loaded = from_dicts(None, None, false, &mut Vec::new());
        assert_eq!(loaded.config, Config::default());
        assert!(loaded.warnings.is_empty());
        assert!(loaded.sources.values().all(|s| *s == Source::Default));
    }

    #[test]
    fn every_key_in_the_table_has_a_rule() {
        for spec in KEYS {
            let value = match spec.kind {
                KeyType::Integer => Value::Integer(1000.into()),
                KeyType::String => Value::String("x".into()),
                KeyType::Bool => Value::Boolean(true),
                KeyType::StringArray => strings(&["/usr/bin/true"]),
            };
            let mut config = Config::default();
            // Must not hit unreachable!(); a value out of range is fine here.
            let _ = apply(&mut config, spec, &value);
        }
    }

    #[test]
    fn managed_values_win_over_local_ones() {
        let managed = dict(&[("CheckInterval", Value::Integer(7200.into()))]);
        let local = dict(&[
            ("CheckInterval", Value::Integer(600.into())),
            ("StaleAfterHours", Value::Integer(24.into())),
        ]);
        let loaded = from_dicts(Some(&managed), Some(&local), true, &mut Vec::new());
        assert_eq!(loaded.config.check_interval, Duration::from_secs(7200));
        assert_eq!(loaded.config.stale_after_hours, 24);
        assert_eq!(loaded.sources["CheckInterval"], Source::Managed);
        assert_eq!(loaded.sources["StaleAfterHours"], Source::Local);
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    }

    #[test]
    fn wrong_types_and_unknown_keys_are_warnings_and_defaults_are_used() {
        let managed = dict(&[
            ("CheckInterval", Value::String("3600".into())),
            ("ToolTimeout", Value::Integer(0.into())),
            ("LogLevel", Value::String("verbose".into())),
            ("ChekInterval", Value::Integer(5.into())),
            ("ValidationFailureCap", Value::Integer(50.into())),
        ]);
        let loaded = from_dicts(Some(&managed), None, false, &mut Vec::new());
        assert_eq!(loaded.config, Config::default());
        let w = loaded.warnings.join("\n");
        assert!(
            w.contains(
                "CheckInterval must be an integer, not a string; the default (3600) is used"
            ),
            "{w}"
        );
        assert!(
            w.contains("ToolTimeout must be between 1 and 600, not 0"),
            "{w}"
        );
        assert!(
            w.contains("LogLevel must be error, warn, info or debug, not \"verbose\""),
            "{w}"
        );
        assert!(w.contains("unknown key ChekInterval"), "{w}");
        assert!(
            w.contains("ValidationFailureCap must be between 0 and 20, not 50"),
            "{w}"
        );
        assert!(w.contains(paths::MANAGED_PREFS), "{w}");
    }

    #[test]
    fn restricted_keys_from_an_untrusted_local_file_are_ignored_with_a_warning_naming_file_and_key()
    {
        let local = dict(&[
            ("RotationCommand", strings(&["/bin/sh", "-c", "evil"])),
            ("ExpectedSecureTokenAdmins", strings(&["mallory"])),
            ("CheckInterval", Value::Integer(900.into())),
        ]);
        let loaded = from_dicts(None, Some(&local), false, &mut Vec::new());
        assert_eq!(loaded.config.rotation_command, None);
        assert!(loaded.config.expected_secure_token_admins.is_empty());
        assert_eq!(loaded.config.check_interval, Duration::from_secs(900));
        let w = loaded.warnings.join("\n");
        assert!(
            w.contains("/Library/Preferences/org.keywarden.plist: RotationCommand is ignored"),
            "{w}"
        );
        assert!(w.contains("ExpectedSecureTokenAdmins is ignored"), "{w}");
        // From a trusted local file they count.
        let loaded = from_dicts(None, Some(&local), true, &mut Vec::new());
        assert_eq!(loaded.config.expected_secure_token_admins, vec!["mallory"]);
    }

    #[test]
    fn a_rotation_command_must_be_an_absolute_argv() {
        let managed = dict(&[("RotationCommand", strings(&["jamf", "policy"]))]);
        let loaded = from_dicts(Some(&managed), None, false, &mut Vec::new());
        assert_eq!(loaded.config.rotation_command, None);
        assert!(
            loaded.warnings[0].contains("absolute program path"),
            "{:?}",
            loaded.warnings
        );
    }

    #[test]
    fn the_command_method_without_a_command_is_dropped_with_a_warning() {
        let managed = dict(&[("RotationMethods", strings(&["Command", "MDM"]))]);
        let loaded = from_dicts(Some(&managed), None, false, &mut Vec::new());
        assert_eq!(loaded.config.rotation_methods, vec![RotationMethod::Mdm]);
        assert!(loaded.warnings[0].contains("RotationCommand is not set"));
    }

    /// `[Command]` alone without a command left no method at all, so a used key could never
    /// be rotated (issue 6, fuzz F3): the default methods are used instead, with a warning.
    #[test]
    fn fuzz_found_only_the_command_method_without_a_command_left_no_method() {
        let managed = dict(&[("RotationMethods", strings(&["Command"]))]);
        let loaded = from_dicts(Some(&managed), None, false, &mut Vec::new());
        assert_eq!(
            loaded.config.rotation_methods,
            Config::default().rotation_methods
        );
        assert_eq!(loaded.sources["RotationMethods"], Source::Default);
        assert!(
            loaded.warnings[0].contains("the default ([EscrowBuddy, MDM]) is used"),
            "{:?}",
            loaded.warnings
        );
    }

    /// A preferences file of thousands of long, odd keys gives a few bounded warnings, not one
    /// per key quoted whole (issue 6, fuzz F4).
    #[test]
    fn fuzz_found_unbounded_warnings_for_unknown_keys_and_values() {
        let mut pairs: Vec<(String, Value)> = (0..5000)
            .map(|n| {
                (
                    format!("Junk{n}\n{}", "k".repeat(500)),
                    Value::Boolean(true),
                )
            })
            .collect();
        pairs.push((
            "LogLevel".into(),
            Value::String(format!("loud\u{7}{}", "!".repeat(5000))),
        ));
        let refs: Vec<(&str, Value)> = pairs.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
        let managed = dict(&refs);
        let loaded = from_dicts(Some(&managed), None, false, &mut Vec::new());
        assert_eq!(
            loaded.warnings.len(),
            MAX_UNKNOWN_KEYS_NAMED + 2,
            "{:?}",
            loaded.warnings
        );
        assert!(loaded
            .warnings
            .iter()
            .any(|w| w.contains("4990 more unknown keys")));
        for w in &loaded.warnings {
            assert!(w.chars().count() < 200, "{w}");
            assert!(!w.chars().any(char::is_control), "{w:?}");
        }
        assert_eq!(loaded.config.log_level, Config::default().log_level);
    }

    #[test]
    fn files_that_are_not_plists_or_are_symlinks_are_ignored_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let managed = root.resolve(paths::MANAGED_PREFS);
        std::fs::create_dir_all(managed.parent().unwrap()).unwrap();
        std::fs::write(&managed, b"this is not a plist").unwrap();
        let local = root.resolve(paths::LOCAL_PREFS);
        std::fs::create_dir_all(local.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", &local).unwrap();
        let loaded = load(&root, Owners::current());
        assert_eq!(loaded.config, Config::default());
        let w = loaded.warnings.join("\n");
        assert!(
            w.contains("org.keywarden.plist: ignored: not a readable property list"),
            "{w}"
        );
        assert!(w.contains("symbolic link"), "{w}");
    }

    #[test]
    fn a_managed_file_others_can_write_is_ignored_whole() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let managed = root.resolve(paths::MANAGED_PREFS);
        std::fs::create_dir_all(managed.parent().unwrap()).unwrap();
        let d = dict(&[("CheckInterval", Value::Integer(900.into()))]);
        plist::to_file_xml(&managed, &Value::Dictionary(d)).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&managed, std::fs::Permissions::from_mode(0o666)).unwrap();
        let loaded = load(&root, Owners::current());
        assert_eq!(loaded.config, Config::default());
        assert!(
            loaded.warnings[0].contains("writable by group or others"),
            "{:?}",
            loaded.warnings
        );
        std::fs::set_permissions(&managed, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(
            load(&root, Owners::current()).config.check_interval,
            Duration::from_secs(900)
        );
    }

    #[test]
    fn a_trusted_local_file_on_disk_carries_restricted_keys() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path());
        let local = root.resolve(paths::LOCAL_PREFS);
        std::fs::create_dir_all(local.parent().unwrap()).unwrap();
        let d = dict(&[("ExpectedSecureTokenAdmins", strings(&["itadmin"]))]);
        plist::to_file_xml(&local, &Value::Dictionary(d)).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&local, std::fs::Permissions::from_mode(0o644)).unwrap();
        let loaded = load(&root, Owners::current());
        assert_eq!(loaded.config.expected_secure_token_admins, vec!["itadmin"]);
        std::fs::set_permissions(&local, std::fs::Permissions::from_mode(0o666)).unwrap();
        let loaded = load(&root, Owners::current());
        assert!(loaded.config.expected_secure_token_admins.is_empty());
        assert!(loaded.warnings[0].contains("ExpectedSecureTokenAdmins is ignored"));
    }
}
