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
//! `KEYS` is the one table of keys: each row holds the key's type, its range or its words, how its
//! value is stored in a `Config` and how it is shown back (`keywarden doctor`), and renders its
//! line of docs/configuration.md; the docs, the example profile, the Jamf schema and the
//! ProfileManifests manifest are tested against it (issue 13, item 6). This module reads files
//! through `files` and decides nothing else.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::files::{self, Owners, Trust};
use crate::logging::{LogFormat, LogLevel};
use crate::paths::{self, Root};

/// Largest preference file read.
const MAX_PREFS_BYTES: u64 = 1024 * 1024;

/// How an unset optional key is written in `KeySpec::default` and shown by `keywarden doctor`.
const NONE: &str = "(none)";

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

/// The unit of an integer key, as the docs and the ProfileManifests manifest (`pfm_value_unit`)
/// name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Seconds,
    Days,
    Hours,
}

impl Unit {
    pub fn name(self) -> &'static str {
        match self {
            Unit::Seconds => "seconds",
            Unit::Days => "days",
            Unit::Hours => "hours",
        }
    }
}

/// The values an integer key accepts, both ends included; `unit` is `None` for a count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub min: u64,
    pub max: u64,
    pub unit: Option<Unit>,
}

// Named by unit so that each row of `KEYS` states its range on one line.
impl Range {
    const fn seconds(min: u64, max: u64) -> Range {
        Range {
            min,
            max,
            unit: Some(Unit::Seconds),
        }
    }

    const fn days(min: u64, max: u64) -> Range {
        Range {
            min,
            max,
            unit: Some(Unit::Days),
        }
    }

    const fn hours(min: u64, max: u64) -> Range {
        Range {
            min,
            max,
            unit: Some(Unit::Hours),
        }
    }

    const fn count(min: u64, max: u64) -> Range {
        Range {
            min,
            max,
            unit: None,
        }
    }
}

/// How a key's value is checked, stored in a `Config` and shown from it.
///
/// Typed setters and getters, not one `fn(&mut Config, &plist::Value) -> Result<..>` per key: the
/// type check, the range and word checks, their warnings and the way a value is shown are written
/// once, below, for every key. A row says only where its value goes, so it cannot word a warning
/// differently from the others or check a range other than the one the docs render. `set` is
/// called only with a value that passed those checks; where it can still refuse one (a list that
/// must not be empty), it says why.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Rule {
    /// An integer within `range`.
    Integer {
        range: Range,
        set: fn(&mut Config, u64),
        get: fn(&Config) -> u64,
    },
    Bool {
        set: fn(&mut Config, bool),
        get: fn(&Config) -> bool,
    },
    /// One word of `words`, each with what it stores: a word the table lists is always one the
    /// row can store.
    Word {
        words: &'static [WordSetter],
        get: fn(&Config) -> &'static str,
    },
    /// Any string; an optional key is `None` when unset.
    Text {
        set: fn(&mut Config, &str),
        get: fn(&Config) -> Option<&str>,
    },
    /// A list of strings, each one of `words` unless `words` is empty; an optional key is `None`
    /// when unset.
    Strings {
        words: &'static [&'static str],
        set: fn(&mut Config, Vec<String>) -> Result<(), String>,
        get: fn(&Config) -> Option<Vec<&str>>,
    },
}

/// A word a key accepts and what it stores in a `Config`.
pub(crate) type WordSetter = (&'static str, fn(&mut Config));

/// One configuration key.
#[derive(Debug, Clone, Copy)]
pub struct KeySpec {
    pub name: &'static str,
    /// The type `rule` reads (a unit test holds the two together).
    pub kind: KeyType,
    /// † keys: honoured only from the managed file or a root-owned, not group/world-writable
    /// local file.
    pub restricted: bool,
    /// The default, as an admin would write it and `keywarden doctor` shows it.
    pub default: &'static str,
    /// What the key does; its range, words and default are `rule`'s and `default`'s, rendered by
    /// `docs_line`, and not repeated here.
    pub meaning: &'static str,
    pub(crate) rule: Rule,
}

/// Every key Keywarden reads (ARCHITECTURE.md, "Configuration"), in the order the docs and
/// `keywarden doctor` list them.
pub const KEYS: &[KeySpec] = &[
    KeySpec {
        name: "CheckInterval",
        kind: KeyType::Integer,
        restricted: false,
        default: "3600",
        meaning: "Seconds between full checks (jittered by up to 10%).",
        rule: Rule::Integer {
            range: Range::seconds(300, 86_400),
            set: |c, n| c.check_interval = Duration::from_secs(n),
            get: |c| c.check_interval.as_secs(),
        },
    },
    KeySpec {
        name: "ConsolePollSeconds",
        kind: KeyType::Integer,
        restricted: false,
        default: "60",
        meaning: "How often, in seconds, the console user is looked at between checks.",
        rule: Rule::Integer {
            range: Range::seconds(1, 3600),
            set: |c, n| c.console_poll = Duration::from_secs(n),
            get: |c| c.console_poll.as_secs(),
        },
    },
    KeySpec {
        name: "ToolTimeout",
        kind: KeyType::Integer,
        restricted: false,
        default: "30",
        meaning: "Seconds one tool call may take before its process group is killed.",
        rule: Rule::Integer {
            range: Range::seconds(1, 600),
            set: |c, n| c.tool_timeout = Duration::from_secs(n),
            get: |c| c.tool_timeout.as_secs(),
        },
    },
    KeySpec {
        name: "LogLevel",
        kind: KeyType::String,
        restricted: false,
        default: "info",
        meaning: "What is logged.",
        rule: Rule::Word {
            words: &[
                ("error", |c| c.log_level = LogLevel::Error),
                ("warn", |c| c.log_level = LogLevel::Warn),
                ("info", |c| c.log_level = LogLevel::Info),
                ("debug", |c| c.log_level = LogLevel::Debug),
            ],
            get: |c| c.log_level.as_str(),
        },
    },
    KeySpec {
        name: "LogFormat",
        kind: KeyType::String,
        restricted: false,
        default: "text",
        meaning: "How each line of the log file is written: text for people, json (one JSON object per line) for a SIEM.",
        rule: Rule::Word {
            words: &[
                ("text", |c| c.log_format = LogFormat::Text),
                ("json", |c| c.log_format = LogFormat::Json),
            ],
            get: |c| c.log_format.as_str(),
        },
    },
    KeySpec {
        name: "ExpectedSecureTokenAdmins",
        kind: KeyType::StringArray,
        restricted: true,
        default: "[]",
        meaning: "Admin accounts allowed to hold a SecureToken without being reported: short names or patterns (* any run of characters, ? one character, [..] one of a set), e.g. the MDM's managed admin.",
        rule: Rule::Strings {
            words: &[],
            set: |c, names| {
                for name in &names {
                    if let Err(e) = glob::Pattern::new(name) {
                        return Err(format!("{name:?} is not a valid name pattern: {}", e.msg));
                    }
                }
                c.expected_secure_token_admins = names;
                Ok(())
            },
            get: |c| {
                Some(
                    c.expected_secure_token_admins
                        .iter()
                        .map(String::as_str)
                        .collect(),
                )
            },
        },
    },
    KeySpec {
        name: "RotationMode",
        kind: KeyType::String,
        restricted: false,
        default: "Request",
        meaning: "Request asks for rotations; Report only reports what would be requested.",
        rule: Rule::Word {
            words: &[
                ("Request", |c| c.rotation_mode = RotationMode::Request),
                ("Report", |c| c.rotation_mode = RotationMode::Report),
            ],
            get: |c| c.rotation_mode.as_str(),
        },
    },
    KeySpec {
        name: "RotationMethods",
        kind: KeyType::StringArray,
        restricted: true,
        default: "[EscrowBuddy, MDM]",
        meaning: "How to request a rotation, in order of preference.",
        rule: Rule::Strings {
            words: &["EscrowBuddy", "MDM", "Command"],
            set: |c, listed| {
                let mut methods = Vec::new();
                // Only words of the row reach here, and `from_word` knows each (the round-trip
                // test applies every word alone).
                for method in listed.iter().filter_map(|w| RotationMethod::from_word(w)) {
                    if !methods.contains(&method) {
                        methods.push(method);
                    }
                }
                if methods.is_empty() {
                    return Err("must name at least one method".to_owned());
                }
                c.rotation_methods = methods;
                Ok(())
            },
            get: |c| Some(c.rotation_methods.iter().map(|m| m.as_str()).collect()),
        },
    },
    KeySpec {
        name: "RotationCommand",
        kind: KeyType::StringArray,
        restricted: true,
        default: NONE,
        meaning: "argv run as root, without a shell, when the Command method requests a rotation.",
        rule: Rule::Strings {
            words: &[],
            set: |c, argv| match argv.first() {
                None => Err("must not be empty".to_owned()),
                Some(p) if !p.starts_with('/') => Err(format!(
                    "must start with an absolute program path, not {} (no shell, no PATH lookup)",
                    quoted(p)
                )),
                Some(_) => {
                    c.rotation_command = Some(argv);
                    Ok(())
                }
            },
            get: |c| {
                c.rotation_command
                    .as_ref()
                    .map(|argv| argv.iter().map(String::as_str).collect())
            },
        },
    },
    KeySpec {
        name: "RotationOverdueDays",
        kind: KeyType::Integer,
        restricted: false,
        default: "14",
        meaning: "A request older than this many days is reported as RotationOverdue.",
        rule: Rule::Integer {
            range: Range::days(1, 365),
            set: |c, n| c.rotation_overdue_days = small(n),
            get: |c| c.rotation_overdue_days.into(),
        },
    },
    KeySpec {
        name: "MaxKeyAgeDays",
        kind: KeyType::Integer,
        restricted: false,
        default: "0",
        meaning: "Request a rotation when the key is older than this many days; 0 turns it off.",
        rule: Rule::Integer {
            range: Range::days(0, 3650),
            set: |c, n| c.max_key_age_days = small(n),
            get: |c| c.max_key_age_days.into(),
        },
    },
    KeySpec {
        name: "RotationRequestID",
        kind: KeyType::String,
        restricted: false,
        default: NONE,
        meaning: "A new value requests one rotation (for a push from the MDM).",
        rule: Rule::Text {
            // An empty string is no request.
            set: |c, id| c.rotation_request_id = (!id.is_empty()).then(|| id.to_owned()),
            get: |c| c.rotation_request_id.as_deref(),
        },
    },
    KeySpec {
        name: "AllowRotateWithCurrentKey",
        kind: KeyType::Bool,
        restricted: true,
        default: "false",
        meaning: "Enables `keywarden rotate --current-key`.",
        rule: Rule::Bool {
            set: |c, allow| c.allow_rotate_with_current_key = allow,
            get: |c| c.allow_rotate_with_current_key,
        },
    },
    KeySpec {
        name: "EscrowOutsideMDM",
        kind: KeyType::Bool,
        restricted: true,
        default: "false",
        meaning: "Keys are escrowed by something other than an MDM escrow payload (Crypt, an agent, Jamf's legacy policy-based escrow): Keywarden's escrow checks are off, and it says so.",
        rule: Rule::Bool {
            set: |c, yes| c.escrow_outside_mdm = yes,
            get: |c| c.escrow_outside_mdm,
        },
    },
    KeySpec {
        name: "RotateWhenEscrowUnconfirmed",
        kind: KeyType::Bool,
        restricted: true,
        default: "false",
        meaning: "Request a new key when only the dates say escrow is unconfirmed (the escrow profile was installed after the key was staged); off by default, as a re-sent profile does the same.",
        rule: Rule::Bool {
            set: |c, yes| c.rotate_when_escrow_unconfirmed = yes,
            get: |c| c.rotate_when_escrow_unconfirmed,
        },
    },
    KeySpec {
        name: "ValidationDailyCap",
        kind: KeyType::Integer,
        restricted: false,
        default: "3",
        meaning: "Validations allowed per day.",
        rule: Rule::Integer {
            range: Range::count(0, 10),
            set: |c, n| c.validation_daily_cap = small(n),
            get: |c| c.validation_daily_cap.into(),
        },
    },
    KeySpec {
        name: "ValidationFailureCap",
        kind: KeyType::Integer,
        restricted: false,
        default: "10",
        meaning: "Failed validations allowed for the life of the Mac.",
        rule: Rule::Integer {
            // Secure Enclave: 30 attempts per method for the life of the volume (PLATFORM.md);
            // keep at least 10 for people.
            range: Range::count(0, 20),
            set: |c, n| c.validation_failure_cap = small(n),
            get: |c| c.validation_failure_cap.into(),
        },
    },
    KeySpec {
        name: "StaleAfterHours",
        kind: KeyType::Integer,
        restricted: false,
        default: "48",
        meaning: "A status older than this many hours reads as stale in inventory.",
        rule: Rule::Integer {
            range: Range::hours(1, 8760),
            set: |c, n| c.stale_after_hours = small(n),
            get: |c| c.stale_after_hours.into(),
        },
    },
];

/// A value that passed its key's range, for a `u32` field: those ranges end far below
/// `u32::MAX`, and the round-trip test applies each maximum.
fn small(n: u64) -> u32 {
    u32::try_from(n).expect("a u32 key's range fits in a u32")
}

pub fn key_spec(name: &str) -> Option<&'static KeySpec> {
    KEYS.iter().find(|k| k.name == name)
}

impl KeySpec {
    /// The values an integer key accepts.
    pub fn range(&self) -> Option<Range> {
        match self.rule {
            Rule::Integer { range, .. } => Some(range),
            Rule::Bool { .. } | Rule::Word { .. } | Rule::Text { .. } | Rule::Strings { .. } => {
                None
            }
        }
    }

    /// The words a string key, or each item of a list, must be; empty where any is taken.
    pub fn words(&self) -> Vec<&'static str> {
        match self.rule {
            Rule::Word { words, .. } => words.iter().map(|(w, _)| *w).collect(),
            Rule::Strings { words, .. } => words.to_vec(),
            Rule::Integer { .. } | Rule::Bool { .. } | Rule::Text { .. } => Vec::new(),
        }
    }

    /// The key's type, range or words, and default, as docs/configuration.md states them after
    /// "- Type: " (a test holds the docs to it), e.g. "integer (seconds), 300 to 86400. Default:
    /// `3600`."
    pub fn docs_line(&self) -> String {
        let ticked: Vec<String> = self.words().iter().map(|w| format!("`{w}`")).collect();
        let detail = match self.rule {
            Rule::Integer { range, .. } => format!(
                "{}, {} to {}",
                range
                    .unit
                    .map_or(String::new(), |u| format!(" ({})", u.name())),
                range.min,
                range.max
            ),
            Rule::Word { .. } => format!(": {}", listed(&ticked, " or ")),
            Rule::Strings { .. } if !ticked.is_empty() => format!(": {}", listed(&ticked, ", ")),
            Rule::Bool { .. } | Rule::Text { .. } | Rule::Strings { .. } => String::new(),
        };
        let default = if self.default == NONE {
            "none".to_owned()
        } else {
            format!("`{}`", self.default)
        };
        format!("{}{detail}. Default: {default}.", self.kind.name())
    }

    /// Check `value` and store it in `config`, or say why not (the warning's middle part).
    pub(crate) fn apply(&self, config: &mut Config, value: &plist::Value) -> Result<(), String> {
        match self.rule {
            Rule::Integer { range, set, .. } => set(config, integer(value, range.min, range.max)?),
            Rule::Bool { set, .. } => set(
                config,
                value
                    .as_boolean()
                    .ok_or_else(|| format!("must be a boolean, not {}", type_name(value)))?,
            ),
            Rule::Word { words, .. } => {
                let word = string(value)?;
                let (_, set) = words.iter().find(|(w, _)| *w == word).ok_or_else(|| {
                    format!(
                        "must be {}, not {}",
                        listed(&self.words(), " or "),
                        quoted(word)
                    )
                })?;
                set(config);
            }
            Rule::Text { set, .. } => set(config, string(value)?),
            Rule::Strings { words, set, .. } => {
                let list = string_array(value)?;
                if let Some(other) = list
                    .iter()
                    .find(|s| !words.is_empty() && !words.contains(&s.as_str()))
                {
                    return Err(format!(
                        "must list only {}, not {}",
                        listed(words, " and "),
                        quoted(other)
                    ));
                }
                set(config, list)?;
            }
        }
        Ok(())
    }

    /// The effective value in `config`, as an admin would write it (`keywarden doctor`).
    pub(crate) fn show(&self, config: &Config) -> String {
        match self.rule {
            Rule::Integer { get, .. } => get(config).to_string(),
            Rule::Bool { get, .. } => get(config).to_string(),
            Rule::Word { get, .. } => get(config).to_owned(),
            Rule::Text { get, .. } => get(config).unwrap_or(NONE).to_owned(),
            Rule::Strings { get, .. } => get(config).map_or_else(
                || NONE.to_owned(),
                |items| format!("[{}]", items.join(", ")),
            ),
        }
    }
}

/// "a, b, c{last}d": a list as a sentence says it.
fn listed<S: std::borrow::Borrow<str>>(items: &[S], last: &str) -> String {
    match items.split_last() {
        None => String::new(),
        Some((only, [])) => only.borrow().to_owned(),
        Some((final_item, before)) => {
            format!("{}{last}{}", before.join(", "), final_item.borrow())
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotationMode {
    Request,
    Report,
}

impl RotationMode {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RotationMode::Request => "Request",
            RotationMode::Report => "Report",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RotationMethod {
    EscrowBuddy,
    #[serde(rename = "MDM")]
    Mdm,
    Command,
}

impl RotationMethod {
    const ALL: [RotationMethod; 3] = [
        RotationMethod::EscrowBuddy,
        RotationMethod::Mdm,
        RotationMethod::Command,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RotationMethod::EscrowBuddy => "EscrowBuddy",
            RotationMethod::Mdm => "MDM",
            RotationMethod::Command => "Command",
        }
    }

    fn from_word(word: &str) -> Option<RotationMethod> {
        RotationMethod::ALL.into_iter().find(|m| m.as_str() == word)
    }
}

/// The effective configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub check_interval: Duration,
    pub console_poll: Duration,
    pub tool_timeout: Duration,
    pub log_level: LogLevel,
    /// `LogFormat`: the log file's lines as text or JSON (issue 15).
    pub log_format: LogFormat,
    pub expected_secure_token_admins: Vec<String>,
    pub rotation_mode: RotationMode,
    pub rotation_methods: Vec<RotationMethod>,
    pub rotation_command: Option<Vec<String>>,
    pub rotation_overdue_days: u32,
    pub max_key_age_days: u32,
    pub rotation_request_id: Option<String>,
    pub allow_rotate_with_current_key: bool,
    /// `EscrowOutsideMDM`: escrow is someone else's business; no escrow check applies.
    pub escrow_outside_mdm: bool,
    /// `RotateWhenEscrowUnconfirmed`: `EscrowUnconfirmed` is a rotation reason too.
    pub rotate_when_escrow_unconfirmed: bool,
    pub validation_daily_cap: u32,
    pub validation_failure_cap: u32,
    pub stale_after_hours: u32,
}

impl Config {
    /// Whether `name` is an admin allowed to hold a SecureToken (`ExpectedSecureTokenAdmins`):
    /// an exact short name or a pattern, such as `jamf*` for an MDM's managed admin whose name
    /// varies (issue 14). Case-sensitive, as the names in the status are.
    pub fn expects_token_admin(&self, name: &str) -> bool {
        self.expected_secure_token_admins.iter().any(|pattern| {
            // Every pattern was checked when it was read; one that no longer parses matches
            // only itself.
            glob::Pattern::new(pattern).map_or(pattern == name, |p| p.matches(name))
        })
    }
}

impl Default for Config {
    fn default() -> Config {
        Config {
            check_interval: Duration::from_secs(3600),
            console_poll: Duration::from_secs(60),
            tool_timeout: Duration::from_secs(30),
            log_level: LogLevel::Info,
            log_format: LogFormat::Text,
            expected_secure_token_admins: Vec::new(),
            rotation_mode: RotationMode::Request,
            rotation_methods: vec![RotationMethod::EscrowBuddy, RotationMethod::Mdm],
            rotation_command: None,
            rotation_overdue_days: 14,
            max_key_age_days: 0,
            rotation_request_id: None,
            allow_rotate_with_current_key: false,
            escrow_outside_mdm: false,
            rotate_when_escrow_unconfirmed: false,
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
    // So is every directory above it: a user who can write into one could put their own file
    // there, with RotationCommand naming a root program (issue 16, item 2).
    let managed = read_prefs(
        &root.resolve(paths::MANAGED_PREFS),
        paths::MANAGED_PREFS,
        Trust::Owned(owners),
        &mut warnings,
    )
    .filter(|_| match dir_problem(root, paths::MANAGED_PREFS, owners) {
        None => true,
        Some(e) => {
            warnings.push(format!("{}: ignored: {e}", paths::MANAGED_PREFS));
            false
        }
    });
    // Local preferences may be anyone's; only the restricted keys need a trusted file, in
    // directories only root can write (below).
    let local_path = root.resolve(paths::LOCAL_PREFS);
    let local = read_prefs(&local_path, paths::LOCAL_PREFS, Trust::Any, &mut warnings);
    let local_trusted = local.is_some()
        && matches!(
            files::lstat(&local_path),
            Ok(Some(m)) if files::check_trusted(&local_path, &m, owners).is_ok()
        )
        && dir_problem(root, paths::LOCAL_PREFS, owners).is_none();
    from_dicts(
        managed.as_ref(),
        local.as_ref(),
        local_trusted,
        &mut warnings,
    )
}

/// Why the directories holding the preference file `mac_path` are not trusted, if they are not
/// (`files::check_trusted_dir`).
fn dir_problem(root: &Root, mac_path: &str, owners: Owners) -> Option<files::FileError> {
    let dir = Path::new(mac_path).parent()?;
    files::check_trusted_dir(root, dir, owners).err()
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
        if let Some(content) = dict.get(PAYLOAD_CONTENT) {
            warnings.push(payload_content_warning(file, content));
        }
        let unknown: Vec<&String> = dict
            .keys()
            .filter(|key| {
                key_spec(key).is_none() && !is_payload_key(key) && key.as_str() != PAYLOAD_CONTENT
            })
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
                "{file}: {} is ignored: it is honoured only from a configuration profile or a local file owned by root and not writable by group or others, in directories only root can write",
                spec.name
            ));
            continue;
        }
        match spec.apply(&mut config, value) {
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
    // A pattern that matches names it was never written for (`*`) hides every admin holding a
    // token: honoured, as the admin may mean it, and said (issue 14 review).
    for pattern in &config.expected_secure_token_admins {
        let matches_any = glob::Pattern::new(pattern)
            .is_ok_and(|p| ["zz-keywarden-probe-7q", "x"].iter().all(|n| p.matches(n)));
        if matches_any {
            warnings.push(format!(
                "ExpectedSecureTokenAdmins: {} matches any account name, so no admin holding a SecureToken is reported (AdditionalAdminWithSecureToken is off)",
                quoted(pattern)
            ));
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

/// A payload's own keys that land in a managed preferences file beside the settings: not
/// unknown settings. Every `Payload*` key, not a list: ProfileManifests-made profiles carry
/// `PayloadDescription`, others `PayloadOrganization` or `PayloadScope` (issue 14). Not
/// `PayloadContent`: settings found there were nested one level too deep and are not read
/// (`payload_content_warning`).
fn is_payload_key(key: &str) -> bool {
    key.starts_with("Payload") && key != PAYLOAD_CONTENT
}

const PAYLOAD_CONTENT: &str = "PayloadContent";
/// How deep, and how many setting names, `payload_content_warning` looks for and names.
const NESTED_DEPTH: usize = 8;
const NESTED_NAMED: usize = 10;

/// A `PayloadContent` key in the preferences file: a profile built with its settings wrapped one
/// level too deep (a custom-settings payload inside another, or an MCX `Forced` /
/// `mcx_preference_settings` dictionary pasted into a custom-settings payload). macOS writes it
/// to the file as it is, and the settings inside never take effect; said loudly, naming the
/// settings found inside, since an admin believes them applied (issue 14 review).
fn payload_content_warning(file: &str, content: &plist::Value) -> String {
    fn walk(v: &plist::Value, depth: usize, found: &mut Vec<&'static str>) {
        if depth == 0 {
            return;
        }
        match v {
            plist::Value::Dictionary(d) => {
                for (k, v) in d {
                    if let Some(spec) = key_spec(k) {
                        if !found.contains(&spec.name) {
                            found.push(spec.name);
                        }
                    }
                    walk(v, depth - 1, found);
                }
            }
            plist::Value::Array(a) => a.iter().for_each(|v| walk(v, depth - 1, found)),
            _ => {}
        }
    }
    let mut found = Vec::new();
    walk(content, NESTED_DEPTH, &mut found);
    if found.is_empty() {
        return format!("{file}: {PAYLOAD_CONTENT} is not a setting (ignored)");
    }
    let more = found.len().saturating_sub(NESTED_NAMED);
    found.truncate(NESTED_NAMED);
    format!(
        "{file}: settings nested inside {PAYLOAD_CONTENT} are NOT applied ({}{}): the profile wraps them one level too deep; put the keys directly in the custom-settings payload for org.keywarden (docs/configuration.md)",
        found.join(", "),
        if more > 0 { format!(" and {more} more") } else { String::new() }
    )
}

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

    /// Values each key must take, from its rule: both ends of a range, every word (alone, and
    /// for a list all of them), an argv for a free list (also a fine list of account names).
    fn valid_values(spec: &KeySpec) -> Vec<Value> {
        match spec.rule {
            Rule::Integer { range, .. } => vec![
                Value::Integer(range.min.into()),
                Value::Integer(range.max.into()),
            ],
            Rule::Bool { .. } => vec![Value::Boolean(true), Value::Boolean(false)],
            Rule::Word { .. } => spec.words().into_iter().map(Value::from).collect(),
            Rule::Text { .. } => vec![Value::from("INC-4711")],
            Rule::Strings { words: [], .. } => vec![strings(&["/usr/local/bin/rotate", "--now"])],
            Rule::Strings { .. } => {
                let mut each: Vec<Value> =
                    spec.words().into_iter().map(|w| strings(&[w])).collect();
                each.push(strings(&spec.words()));
                each
            }
        }
    }

    /// A plist value as an admin writes it, the way `keywarden doctor` shows values.
    fn as_written(v: &Value) -> String {
        match v {
            Value::Integer(n) => n.to_string(),
            Value::Boolean(b) => b.to_string(),
            Value::String(s) => s.clone(),
            Value::Array(items) => {
                let items: Vec<String> = items.iter().map(as_written).collect();
                format!("[{}]", items.join(", "))
            }
            other => panic!("no key takes {other:?}"),
        }
    }

    /// Also: a key's value lands in its own field, not in another key's (each other key shows
    /// what it showed before).
    #[test]
    fn every_key_applies_a_valid_value_from_the_managed_file_and_shows_it_back_as_written() {
        // The Command method needs a command; a key's own value replaces this one.
        let base = dict(&[("RotationCommand", strings(&["/usr/bin/true"]))]);
        let before = from_dicts(Some(&base), None, false, &mut Vec::new()).config;
        for spec in KEYS {
            for value in valid_values(spec) {
                let mut managed = base.clone();
                managed.insert(spec.name.to_owned(), value.clone());
                let loaded = from_dicts(Some(&managed), None, false, &mut Vec::new());
                for other in KEYS.iter().filter(|k| k.name != spec.name) {
                    assert_eq!(
                        other.show(&loaded.config),
                        other.show(&before),
                        "{} = {value:?} changed {}",
                        spec.name,
                        other.name
                    );
                }
                assert!(
                    loaded.warnings.is_empty(),
                    "{}: {:?}",
                    spec.name,
                    loaded.warnings
                );
                assert_eq!(loaded.sources[spec.name], Source::Managed, "{}", spec.name);
                assert_eq!(
                    spec.show(&loaded.config),
                    as_written(&value),
                    "{} = {value:?}",
                    spec.name
                );
            }
        }
    }

    #[test]
    fn every_integer_key_refuses_one_below_and_one_above_its_range_with_the_bounds_in_the_warning()
    {
        let mut integers = 0;
        for spec in KEYS {
            let Some(Range { min, max, .. }) = spec.range() else {
                continue;
            };
            integers += 1;
            let below = i64::try_from(min).unwrap() - 1;
            let above = i64::try_from(max).unwrap() + 1;
            for n in [below, above] {
                let managed = dict(&[(spec.name, Value::Integer(n.into()))]);
                let loaded = from_dicts(Some(&managed), None, false, &mut Vec::new());
                // Below a range starting at 0 is negative, refused as such before the range.
                let why = if n < 0 {
                    "must not be negative".to_owned()
                } else {
                    format!("must be between {min} and {max}, not {n}")
                };
                assert_eq!(
                    loaded.warnings,
                    vec![format!(
                        "{}: {} {why}; the default ({}) is used",
                        paths::MANAGED_PREFS,
                        spec.name,
                        spec.default
                    )]
                );
                assert_eq!(loaded.config, Config::default(), "{}", spec.name);
                assert_eq!(loaded.sources[spec.name], Source::Default, "{}", spec.name);
            }
        }
        let declared = KEYS.iter().filter(|k| k.kind == KeyType::Integer).count();
        assert!(
            integers > 0 && integers == declared,
            "{integers} of {declared}"
        );
    }

    #[test]
    fn every_key_shows_its_table_default_from_the_default_configuration() {
        for spec in KEYS {
            assert_eq!(spec.show(&Config::default()), spec.default, "{}", spec.name);
        }
    }

    #[test]
    fn every_key_is_declared_with_the_type_its_rule_reads() {
        for spec in KEYS {
            let read = match spec.rule {
                Rule::Integer { .. } => KeyType::Integer,
                Rule::Bool { .. } => KeyType::Bool,
                Rule::Word { .. } | Rule::Text { .. } => KeyType::String,
                Rule::Strings { .. } => KeyType::StringArray,
            };
            assert_eq!(spec.kind, read, "{}", spec.name);
        }
    }

    #[test]
    fn the_docs_line_names_the_unit_range_words_and_default() {
        let line = |name| key_spec(name).unwrap().docs_line();
        assert_eq!(
            line("CheckInterval"),
            "integer (seconds), 300 to 86400. Default: `3600`."
        );
        assert_eq!(
            line("ValidationDailyCap"),
            "integer, 0 to 10. Default: `3`."
        );
        assert_eq!(
            line("LogLevel"),
            "string: `error`, `warn`, `info` or `debug`. Default: `info`."
        );
        assert_eq!(
            line("RotationMethods"),
            "array of strings: `EscrowBuddy`, `MDM`, `Command`. Default: `[EscrowBuddy, MDM]`."
        );
        assert_eq!(line("RotationCommand"), "array of strings. Default: none.");
        assert_eq!(
            line("AllowRotateWithCurrentKey"),
            "boolean. Default: `false`."
        );
    }

    /// `KEYS` is the one place a key's rule lives: no `match` arm on a key name anywhere in the
    /// daemon's source (issue 13, item 6). Read from the files, unit tests included.
    #[test]
    fn no_key_name_is_matched_on_anywhere_in_the_daemon_source() {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("daemon/src");
        let mut stack = vec![src];
        let mut found = Vec::new();
        let mut files = 0;
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                files += 1;
                let text = std::fs::read_to_string(&path).unwrap();
                for spec in KEYS {
                    let quoted = format!("\"{}\"", spec.name);
                    for arm in [
                        format!("{quoted} =>"),
                        format!("{quoted} |"),
                        format!("| {quoted}"),
                    ] {
                        if text.contains(&arm) {
                            found.push(format!("{}: {arm}", path.display()));
                        }
                    }
                }
            }
        }
        assert!(files > 30, "read only {files} files");
        assert!(found.is_empty(), "{found:#?}");
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

    #[test]
    fn every_payload_key_of_a_profile_is_ignored_without_a_warning_issue_14() {
        let managed = dict(&[
            (
                "PayloadDescription",
                Value::String("Made with ProfileCreator".into()),
            ),
            ("PayloadOrganization", Value::String("Acme".into())),
            (
                "PayloadUUID",
                Value::String("5D3B4F2A-0000-0000-0000-000000000000".into()),
            ),
            ("CheckInterval", Value::Integer(900.into())),
        ]);
        let loaded = from_dicts(Some(&managed), None, false, &mut Vec::new());
        assert_eq!(loaded.warnings, Vec::<String>::new());
        assert_eq!(loaded.config.check_interval, Duration::from_secs(900));
    }

    #[test]
    fn settings_nested_inside_payload_content_are_named_as_not_applied_issue_14() {
        // The shape of an MCX payload pasted into a custom-settings payload.
        let nested = dict(&[(
            "org.keywarden",
            Value::Dictionary(dict(&[(
                "Forced",
                Value::Array(vec![Value::Dictionary(dict(&[(
                    "mcx_preference_settings",
                    Value::Dictionary(dict(&[
                        ("RotationMode", Value::String("Report".into())),
                        ("CheckInterval", Value::Integer(900.into())),
                    ])),
                )]))]),
            )])),
        )]);
        let managed = dict(&[
            ("PayloadContent", Value::Dictionary(nested)),
            ("PayloadUUID", Value::String("X".into())),
        ]);
        let loaded = from_dicts(Some(&managed), None, false, &mut Vec::new());
        assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
        let w = &loaded.warnings[0];
        assert!(w.contains("NOT applied"), "{w}");
        assert!(
            w.contains("RotationMode, CheckInterval") || w.contains("CheckInterval, RotationMode"),
            "{w}"
        );
        assert_eq!(
            loaded.config.rotation_mode,
            Config::default().rotation_mode,
            "not read from inside"
        );
        // A PayloadContent with no setting inside is still said, once.
        let managed = dict(&[("PayloadContent", Value::Array(vec![]))]);
        let loaded = from_dicts(Some(&managed), None, false, &mut Vec::new());
        assert_eq!(
            loaded.warnings,
            vec![format!(
                "{}: PayloadContent is not a setting (ignored)",
                paths::MANAGED_PREFS
            )]
        );
    }

    #[test]
    fn expected_secure_token_admins_match_by_name_or_pattern_issue_14() {
        let managed = dict(&[(
            "ExpectedSecureTokenAdmins",
            strings(&["itadmin", "jamf*", "mdm-admin-??"]),
        )]);
        let loaded = from_dicts(Some(&managed), None, false, &mut Vec::new());
        assert_eq!(loaded.warnings, Vec::<String>::new());
        let c = loaded.config;
        for yes in ["itadmin", "jamfadmin", "jamf", "mdm-admin-01"] {
            assert!(c.expects_token_admin(yes), "{yes}");
        }
        for no in ["itadmin2", "alice", "xjamf", "mdm-admin-1", "JAMFADMIN"] {
            assert!(!c.expects_token_admin(no), "{no}");
        }
    }

    #[test]
    fn an_invalid_admin_pattern_is_a_warning_naming_it_and_nothing_is_expected() {
        let managed = dict(&[("ExpectedSecureTokenAdmins", strings(&["itadmin", "[oops"]))]);
        let loaded = from_dicts(Some(&managed), None, false, &mut Vec::new());
        let w = loaded.warnings.join("\n");
        assert!(
            w.contains("ExpectedSecureTokenAdmins")
                && w.contains("\"[oops\" is not a valid name pattern"),
            "{w}"
        );
        assert!(!loaded.config.expects_token_admin("itadmin"));
    }

    #[test]
    fn a_pattern_that_matches_any_name_is_honoured_and_said_issue_14() {
        let managed = dict(&[("ExpectedSecureTokenAdmins", strings(&["itadmin", "*"]))]);
        let loaded = from_dicts(Some(&managed), None, false, &mut Vec::new());
        assert!(loaded.config.expects_token_admin("anyone"));
        assert_eq!(
            loaded.warnings,
            ["ExpectedSecureTokenAdmins: \"*\" matches any account name, so no admin holding a SecureToken is reported (AdditionalAdminWithSecureToken is off)"]
        );
        let narrow = dict(&[("ExpectedSecureTokenAdmins", strings(&["jamf*", "mdm-??"]))]);
        assert_eq!(
            from_dicts(Some(&narrow), None, false, &mut Vec::new()).warnings,
            Vec::<String>::new()
        );
    }
}
