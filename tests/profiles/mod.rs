//! The files admins deploy from `profiles/`: configuration profiles, the Jamf JSON schema, the
//! ProfileManifests manifest, the Jamf extension attributes and the osquery/Fleet SQL (issue 5).
//!
//! What is checked on Linux: every profile parses and is well formed (identifiers, unique UUIDs,
//! scope); the example settings give no configuration warning and every value takes effect; the
//! schema and the manifest list exactly `config::KEYS`, with the same types and defaults, and the
//! ranges and lists they offer are exactly what `config::from_dicts` accepts; the escrow, login
//! items and privacy profiles carry the keys and names Keywarden depends on (`paths`). The
//! extension attributes run with `/bin/sh` against status plists written by the real daemon on
//! the simulated Mac, and the SQL runs in SQLite against the same statuses flattened the way
//! osquery's `plist` table flattens them. Whether macOS, Jamf or osquery accept the files is not
//! testable here: profiles/README.md lists what is unverified.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use keywarden::config::{self, Config, KeySpec, KeyType, Source, Unit, KEYS};
use keywarden::paths;
use plist::{Dictionary, Value};

use crate::support::{
    code, repo, require_program, spawn_with_stdin, stderr, stdout, Mac, INSTALL_PYTHON3,
    INSTALL_SHELLCHECK, KEYWARDEN,
};

// ---------------------------------------------------------------------------------------------
// Files

fn profiles_dir() -> PathBuf {
    repo("profiles")
}

fn load(name: &str) -> Value {
    let path = profiles_dir().join(name);
    Value::from_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every file under `profiles/` (recursively), sorted.
fn all_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("profiles/ is readable") {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(&profiles_dir(), &mut out);
    out.sort();
    out
}

fn with_extension(ext: &str) -> Vec<PathBuf> {
    all_files()
        .into_iter()
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some(ext))
        .collect()
}

fn name_of(path: &Path) -> String {
    path.strip_prefix(profiles_dir())
        .unwrap_or(path)
        .display()
        .to_string()
}

fn dict<'a>(v: &'a Value, what: &str) -> &'a Dictionary {
    v.as_dictionary()
        .unwrap_or_else(|| panic!("{what} is not a dictionary"))
}

fn string<'a>(d: &'a Dictionary, key: &str, what: &str) -> &'a str {
    d.get(key)
        .and_then(Value::as_string)
        .unwrap_or_else(|| panic!("{what}: {key} is missing or not a string"))
}

fn integer(d: &Dictionary, key: &str, what: &str) -> i64 {
    d.get(key)
        .and_then(Value::as_signed_integer)
        .unwrap_or_else(|| panic!("{what}: {key} is missing or not an integer"))
}

fn boolean(d: &Dictionary, key: &str, what: &str) -> bool {
    d.get(key)
        .and_then(Value::as_boolean)
        .unwrap_or_else(|| panic!("{what}: {key} is missing or not a boolean"))
}

fn payloads<'a>(profile: &'a Value, what: &str) -> Vec<&'a Dictionary> {
    dict(profile, what)
        .get("PayloadContent")
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("{what}: PayloadContent is missing or not an array"))
        .iter()
        .map(|p| dict(p, what))
        .collect()
}

/// The one payload of `payload_type` in the profile.
fn payload<'a>(profile: &'a Value, payload_type: &str, what: &str) -> &'a Dictionary {
    let found: Vec<_> = payloads(profile, what)
        .into_iter()
        .filter(|p| p.get("PayloadType").and_then(Value::as_string) == Some(payload_type))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "{what}: expected one {payload_type} payload"
    );
    found[0]
}

/// 8-4-4-4-12 hexadecimal digits, as `uuidgen` prints them.
fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

// ---------------------------------------------------------------------------------------------
// Profiles: well formed

const MOBILECONFIGS: [&str; 4] = [
    "org.keywarden.mobileconfig",
    "filevault-escrow.mobileconfig",
    "login-items.mobileconfig",
    "pppc-full-disk-access.mobileconfig",
];

#[test]
fn every_shipped_profile_manifest_and_schema_parses() {
    let found: BTreeSet<String> = with_extension("mobileconfig")
        .iter()
        .map(|p| name_of(p))
        .collect();
    let expected: BTreeSet<String> = MOBILECONFIGS.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        found, expected,
        "profiles/ holds other mobileconfigs than expected"
    );
    let mut parsed = 0;
    for path in with_extension("mobileconfig")
        .into_iter()
        .chain(with_extension("plist"))
    {
        let v = Value::from_file(&path)
            .unwrap_or_else(|e| panic!("{} does not parse: {e}", name_of(&path)));
        assert!(v.as_dictionary().is_some(), "{}", name_of(&path));
        parsed += 1;
    }
    assert_eq!(
        parsed,
        MOBILECONFIGS.len() + 1,
        "the four profiles and the manifest"
    );
    for path in with_extension("json") {
        let text = std::fs::read_to_string(&path).unwrap();
        serde_json::from_str::<serde_json::Value>(&text)
            .unwrap_or_else(|e| panic!("{} does not parse: {e}", name_of(&path)));
    }
}

#[test]
fn every_profile_has_the_required_keys_and_uuids_unique_across_payloads_and_files() {
    let mut uuids = BTreeSet::new();
    let mut profile_ids = BTreeSet::new();
    for name in MOBILECONFIGS {
        let v = load(name);
        let top = dict(&v, name);
        assert_eq!(string(top, "PayloadType", name), "Configuration", "{name}");
        assert_eq!(integer(top, "PayloadVersion", name), 1, "{name}");
        // Every one of them configures the computer: managed preferences, FileVault, escrow
        // (system-scoped only), login items and privacy are device-channel payloads.
        assert_eq!(string(top, "PayloadScope", name), "System", "{name}");
        assert!(
            !string(top, "PayloadDisplayName", name).is_empty(),
            "{name}"
        );
        let id = string(top, "PayloadIdentifier", name);
        assert!(id.contains('.'), "{name}: {id} is not reverse-DNS");
        // The same identifier in two files would make one profile replace the other.
        assert!(
            profile_ids.insert(id.to_owned()),
            "{name}: identifier {id} is reused"
        );
        let uuid = string(top, "PayloadUUID", name);
        assert!(is_uuid(uuid), "{name}: {uuid} is not a UUID");
        assert!(
            uuids.insert(uuid.to_uppercase()),
            "{name}: UUID {uuid} is reused"
        );

        let inner = payloads(&v, name);
        assert!(!inner.is_empty(), "{name}: no payload");
        let mut ids = BTreeSet::new();
        for p in inner {
            let ptype = string(p, "PayloadType", name);
            let what = format!("{name} {ptype}");
            assert!(!ptype.is_empty(), "{what}");
            assert_eq!(integer(p, "PayloadVersion", &what), 1, "{what}");
            assert!(!string(p, "PayloadDisplayName", &what).is_empty(), "{what}");
            let pid = string(p, "PayloadIdentifier", &what);
            assert!(
                pid.starts_with(&format!("{id}.")),
                "{what}: {pid} does not extend {id}"
            );
            assert!(
                ids.insert(pid.to_owned()),
                "{what}: identifier {pid} is reused"
            );
            let puuid = string(p, "PayloadUUID", &what);
            assert!(is_uuid(puuid), "{what}: {puuid} is not a UUID");
            assert!(
                uuids.insert(puuid.to_uppercase()),
                "{what}: UUID {puuid} is reused"
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The example settings

/// A setting's effective value in a `Config`, as it would be written in a profile; `None` for an
/// unset optional key. Every key of `KEYS` must be here: a new key fails this test until added.
fn effective(c: &Config, key: &str) -> Option<Value> {
    let int = |n: u64| Some(Value::Integer(n.into()));
    let strings = |v: &[String]| {
        Some(Value::Array(
            v.iter().map(|s| Value::String(s.clone())).collect(),
        ))
    };
    match key {
        "CheckInterval" => int(c.check_interval.as_secs()),
        "ConsolePollSeconds" => int(c.console_poll.as_secs()),
        "ToolTimeout" => int(c.tool_timeout.as_secs()),
        "LogLevel" => Some(Value::String(c.log_level.as_str().into())),
        "LogFormat" => Some(Value::String(c.log_format.as_str().into())),
        "ExpectedSecureTokenAdmins" => strings(&c.expected_secure_token_admins),
        "RotationMode" => Some(Value::String(
            match c.rotation_mode {
                config::RotationMode::Request => "Request",
                config::RotationMode::Report => "Report",
            }
            .into(),
        )),
        "RotationMethods" => Some(Value::Array(
            c.rotation_methods
                .iter()
                .map(|m| Value::String(m.as_str().into()))
                .collect(),
        )),
        "RotationCommand" => c.rotation_command.as_deref().and_then(strings),
        "RotationOverdueDays" => int(c.rotation_overdue_days.into()),
        "MaxKeyAgeDays" => int(c.max_key_age_days.into()),
        "RotationRequestID" => c
            .rotation_request_id
            .as_ref()
            .map(|s| Value::String(s.clone())),
        "AllowRotateWithCurrentKey" => Some(Value::Boolean(c.allow_rotate_with_current_key)),
        "EscrowOutsideMDM" => Some(Value::Boolean(c.escrow_outside_mdm)),
        "RotateWhenEscrowUnconfirmed" => Some(Value::Boolean(c.rotate_when_escrow_unconfirmed)),
        "ValidationDailyCap" => int(c.validation_daily_cap.into()),
        "ValidationFailureCap" => int(c.validation_failure_cap.into()),
        "StaleAfterHours" => int(c.stale_after_hours.into()),
        other => panic!("{other} is in config::KEYS but not in this test's effective()"),
    }
}

/// `KeySpec::default` ("3600", "[EscrowBuddy, MDM]", "(none)", ...) as a plist value.
fn expected_default(spec: &KeySpec) -> Option<Value> {
    if spec.default == "(none)" {
        return None;
    }
    Some(match spec.kind {
        KeyType::Integer => Value::Integer(
            spec.default
                .parse::<i64>()
                .unwrap_or_else(|_| panic!("{}: default {}", spec.name, spec.default))
                .into(),
        ),
        KeyType::Bool => Value::Boolean(spec.default == "true"),
        KeyType::String => Value::String(spec.default.into()),
        KeyType::StringArray => {
            let inner = spec
                .default
                .strip_prefix('[')
                .and_then(|d| d.strip_suffix(']'))
                .unwrap_or_else(|| panic!("{}: default {}", spec.name, spec.default));
            Value::Array(
                inner
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| Value::String(s.into()))
                    .collect(),
            )
        }
    })
}

fn from_managed(d: &Dictionary) -> config::Loaded {
    config::from_dicts(Some(d), None, false, &mut Vec::new())
}

fn one(key: &str, value: Value) -> Dictionary {
    let mut d = Dictionary::new();
    d.insert(key.into(), value);
    d
}

#[test]
fn the_table_defaults_are_the_config_defaults() {
    // The schema and the manifest are compared with KEYS' defaults; this ties those to the code.
    for spec in KEYS {
        assert_eq!(
            effective(&Config::default(), spec.name),
            expected_default(spec),
            "{}",
            spec.name
        );
    }
}

#[test]
fn the_example_settings_give_no_warning_and_every_value_takes_effect() {
    let v = load("org.keywarden.mobileconfig");
    let p = payload(&v, paths::DOMAIN, "org.keywarden.mobileconfig");

    // What macOS writes to /Library/Managed Preferences/org.keywarden.plist: the payload's keys,
    // its Payload keys included; Keywarden ignores those (every `Payload*` key) and nothing else.
    let loaded = from_managed(p);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);

    let settings: Dictionary = p
        .iter()
        .filter(|(k, _)| !k.starts_with("Payload"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let loaded = from_managed(&settings);
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    for (key, value) in &settings {
        let spec = config::key_spec(key).unwrap_or_else(|| panic!("{key} is not a setting"));
        assert_eq!(loaded.sources[spec.name], Source::Managed, "{key}");
        assert_eq!(
            effective(&loaded.config, key).as_ref(),
            Some(value),
            "{key} did not take effect"
        );
    }
    assert!(
        settings.len() + 2 >= KEYS.len(),
        "the example should show most keys, it has {}",
        settings.len()
    );
    // Left out on purpose, each explained in the file: a first RotationRequestID requests a
    // rotation on every Mac in scope, and RotationCommand runs as root.
    assert!(!settings.contains_key("RotationRequestID"));
    assert!(!settings.contains_key("RotationCommand"));
}

// ---------------------------------------------------------------------------------------------
// The Jamf schema and the ProfileManifests manifest against config::KEYS

/// One key as a schema or manifest describes it.
#[derive(Debug, Default)]
struct Described {
    name: String,
    kind: String,
    item_kind: Option<String>,
    default: Option<Value>,
    min: Option<i64>,
    max: Option<i64>,
    list: Option<Vec<String>>,
    item_list: Option<Vec<String>>,
    min_items: Option<u64>,
    restricted_mark: bool,
    /// The unit of an integer ("seconds"), as the file states it.
    unit: Option<String>,
    description: String,
}

/// "seconds" of a title "Check interval (seconds)": the only place the Jamf schema states a unit.
fn title_unit(title: &str) -> Option<String> {
    title
        .trim_end_matches('†')
        .trim_end()
        .strip_suffix(')')
        .and_then(|t| t.rsplit_once('('))
        .map(|(_, unit)| unit.to_owned())
}

fn schema_kind(kind: KeyType) -> &'static str {
    // JSON Schema and pfm_type use the same words.
    match kind {
        KeyType::Integer => "integer",
        KeyType::String => "string",
        KeyType::Bool => "boolean",
        KeyType::StringArray => "array",
    }
}

fn json_to_plist(v: &serde_json::Value, what: &str) -> Value {
    match v {
        serde_json::Value::Bool(b) => Value::Boolean(*b),
        serde_json::Value::Number(n) => Value::Integer(
            n.as_i64()
                .unwrap_or_else(|| panic!("{what}: {n} is not an integer"))
                .into(),
        ),
        serde_json::Value::String(s) => Value::String(s.clone()),
        serde_json::Value::Array(a) => {
            Value::Array(a.iter().map(|x| json_to_plist(x, what)).collect())
        }
        other => panic!("{what}: unexpected default {other}"),
    }
}

fn json_strings(v: Option<&serde_json::Value>, what: &str) -> Option<Vec<String>> {
    v.map(|v| {
        v.as_array()
            .unwrap_or_else(|| panic!("{what}: not an array"))
            .iter()
            .map(|s| {
                s.as_str()
                    .unwrap_or_else(|| panic!("{what}: not a string"))
                    .to_owned()
            })
            .collect()
    })
}

fn jamf_schema() -> Vec<Described> {
    let path = profiles_dir().join("jamf-schema.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let schema: serde_json::Value = serde_json::from_str(&text).expect("jamf-schema.json");
    assert!(schema["title"]
        .as_str()
        .is_some_and(|t| t.contains(paths::DOMAIN)));
    assert!(schema["description"]
        .as_str()
        .is_some_and(|d| !d.is_empty()));
    let props = schema["properties"].as_object().expect("properties");
    let mut orders = BTreeSet::new();
    props
        .iter()
        .map(|(name, p)| {
            let what = format!("jamf-schema.json {name}");
            let title = p["title"]
                .as_str()
                .unwrap_or_else(|| panic!("{what}: title"));
            assert!(!title.is_empty(), "{what}");
            let description = p["description"]
                .as_str()
                .unwrap_or_else(|| panic!("{what}: description"));
            assert!(description.len() > 20, "{what}: description");
            let order = p["property_order"]
                .as_u64()
                .unwrap_or_else(|| panic!("{what}: property_order"));
            assert!(
                orders.insert(order),
                "{what}: property_order {order} is reused"
            );
            for holder in [p, &p["items"]] {
                if let Some(values) = holder.get("enum").and_then(|e| e.as_array()) {
                    let titles = holder["options"]["enum_titles"]
                        .as_array()
                        .unwrap_or_else(|| panic!("{what}: enum without options.enum_titles"));
                    assert_eq!(titles.len(), values.len(), "{what}: enum_titles");
                }
            }
            if let Some(links) = p.get("links") {
                for l in links.as_array().expect("links is an array") {
                    assert!(
                        l["rel"].as_str().is_some_and(|r| !r.is_empty()),
                        "{what}: rel"
                    );
                    assert!(
                        l["href"]
                            .as_str()
                            .is_some_and(|h| h.starts_with("https://")),
                        "{what}: href"
                    );
                }
            }
            Described {
                name: name.clone(),
                kind: p["type"]
                    .as_str()
                    .unwrap_or_else(|| panic!("{what}: type"))
                    .to_owned(),
                item_kind: p["items"]["type"].as_str().map(str::to_owned),
                default: p.get("default").map(|d| json_to_plist(d, &what)),
                min: p["minimum"].as_i64(),
                max: p["maximum"].as_i64(),
                list: json_strings(p.get("enum"), &what),
                item_list: json_strings(p["items"].get("enum"), &what),
                min_items: p["minItems"].as_u64(),
                restricted_mark: title.contains('†'),
                unit: title_unit(title),
                description: description.to_owned(),
            }
        })
        .collect()
}

/// The Payload keys every ProfileManifests payload manifest describes (ProfileCreator's
/// `kPayloadSubkeys`); they are the payload's, not Keywarden's.
const MANIFEST_PAYLOAD_KEYS: [&str; 7] = [
    "PayloadDescription",
    "PayloadDisplayName",
    "PayloadIdentifier",
    "PayloadType",
    "PayloadUUID",
    "PayloadVersion",
    "PayloadOrganization",
];

fn pfm_strings(v: Option<&Value>, what: &str) -> Option<Vec<String>> {
    v.map(|v| {
        v.as_array()
            .unwrap_or_else(|| panic!("{what}: not an array"))
            .iter()
            .map(|s| {
                s.as_string()
                    .unwrap_or_else(|| panic!("{what}: not a string"))
                    .to_owned()
            })
            .collect()
    })
}

fn manifest() -> Vec<Described> {
    let v = load("org.keywarden.plist");
    let m = dict(&v, "org.keywarden.plist");
    assert_eq!(string(m, "pfm_domain", "manifest"), paths::DOMAIN);
    assert!(!string(m, "pfm_title", "manifest").is_empty());
    assert!(!string(m, "pfm_description", "manifest").is_empty());
    assert!(integer(m, "pfm_format_version", "manifest") >= 1);
    let subkeys = m
        .get("pfm_subkeys")
        .and_then(Value::as_array)
        .expect("pfm_subkeys");
    let mut out = Vec::new();
    for sk in subkeys {
        let sk = dict(sk, "pfm_subkeys item");
        let name = string(sk, "pfm_name", "manifest subkey");
        let what = format!("org.keywarden.plist {name}");
        if name.starts_with("Payload") {
            assert!(
                MANIFEST_PAYLOAD_KEYS.contains(&name),
                "{what} is not a standard Payload key"
            );
            if name == "PayloadType" {
                assert_eq!(
                    sk.get("pfm_default").and_then(Value::as_string),
                    Some(paths::DOMAIN)
                );
            }
            continue;
        }
        assert!(!string(sk, "pfm_title", &what).is_empty(), "{what}");
        let description = string(sk, "pfm_description", &what);
        assert!(description.len() > 20, "{what}");
        let item = sk.get("pfm_subkeys").and_then(Value::as_array).map(|a| {
            assert_eq!(a.len(), 1, "{what}: an array has one item description");
            dict(&a[0], &what)
        });
        for holder in std::iter::once(sk).chain(item) {
            if let Some(list) = holder.get("pfm_range_list").and_then(Value::as_array) {
                let titles = holder
                    .get("pfm_range_list_titles")
                    .and_then(Value::as_array)
                    .unwrap_or_else(|| panic!("{what}: pfm_range_list without titles"));
                assert_eq!(titles.len(), list.len(), "{what}: pfm_range_list_titles");
            }
        }
        out.push(Described {
            name: name.to_owned(),
            kind: string(sk, "pfm_type", &what).to_owned(),
            item_kind: item.map(|i| string(i, "pfm_type", &what).to_owned()),
            default: sk.get("pfm_default").cloned(),
            min: sk.get("pfm_range_min").and_then(Value::as_signed_integer),
            max: sk.get("pfm_range_max").and_then(Value::as_signed_integer),
            list: pfm_strings(sk.get("pfm_range_list"), &what),
            item_list: pfm_strings(item.and_then(|i| i.get("pfm_range_list")), &what),
            min_items: sk
                .get("pfm_repetition_min")
                .and_then(Value::as_unsigned_integer),
            restricted_mark: sk.get("pfm_note").is_some(),
            unit: sk
                .get("pfm_value_unit")
                .and_then(Value::as_string)
                .map(str::to_owned),
            description: description.to_owned(),
        });
    }
    out
}

/// Does Keywarden accept `value` for `key` from a profile, without a warning, and use it?
fn accepted(key: &str, value: Value) -> bool {
    let mut d = one(key, value.clone());
    // A Command method needs a command; give it one so only the tested value matters.
    if key == "RotationMethods" && !d.contains_key("RotationCommand") {
        d.insert(
            "RotationCommand".into(),
            Value::Array(vec![Value::String("/usr/bin/true".into())]),
        );
    }
    let loaded = from_managed(&d);
    loaded.warnings.is_empty() && effective(&loaded.config, key) == Some(value)
}

fn strings_value(v: &[&str]) -> Value {
    Value::Array(v.iter().map(|s| Value::String((*s).into())).collect())
}

/// The keys described are exactly `KEYS`, with their types and defaults, ranges (numbers, unit
/// and the description's "MIN to MAX.") and words as the table states them, and every range, list
/// and minimum length they offer is exactly what `config::from_dicts` accepts.
fn check_against_keys(source: &str, described: Vec<Described>) {
    let names: BTreeSet<&str> = described.iter().map(|d| d.name.as_str()).collect();
    let keys: BTreeSet<&str> = KEYS.iter().map(|k| k.name).collect();
    assert_eq!(names, keys, "{source}: the keys differ from config::KEYS");
    assert_eq!(
        described.len(),
        KEYS.len(),
        "{source}: a key is described twice"
    );

    let mut defaults = Dictionary::new();
    for d in &described {
        let spec = config::key_spec(&d.name).expect("checked above");
        let what = format!("{source} {}", d.name);
        assert_eq!(d.kind, schema_kind(spec.kind), "{what}: type");
        match spec.kind {
            KeyType::StringArray => assert_eq!(d.item_kind.as_deref(), Some("string"), "{what}"),
            _ => assert_eq!(d.item_kind, None, "{what}"),
        }
        assert_eq!(d.default, expected_default(spec), "{what}: default");
        if let Some(v) = &d.default {
            defaults.insert(d.name.clone(), v.clone());
        }
        assert_eq!(
            d.restricted_mark, spec.restricted,
            "{what}: restricted (†) mark"
        );

        let range = spec.range();
        assert_eq!(
            d.unit.as_deref(),
            range.and_then(|r| r.unit).map(Unit::name),
            "{what}: unit"
        );
        if let Some(r) = range {
            let table = (i64::try_from(r.min).ok(), i64::try_from(r.max).ok());
            assert_eq!((d.min, d.max), table, "{what}: minimum and maximum");
            let prose = format!("{} to {}.", r.min, r.max);
            assert!(
                d.description.contains(&prose),
                "{what}: the description does not say {prose:?}"
            );
        }
        let words = spec.words();
        let words = (!words.is_empty()).then(|| words.iter().map(|w| w.to_string()).collect());
        match spec.kind {
            KeyType::String => assert_eq!(d.list, words, "{what}: the words"),
            KeyType::StringArray => assert_eq!(d.item_list, words, "{what}: the words"),
            KeyType::Integer | KeyType::Bool => {
                assert_eq!((&d.list, &d.item_list), (&None, &None), "{what}: words")
            }
        }

        match spec.kind {
            KeyType::Integer => {
                let (min, max) = (
                    d.min.unwrap_or_else(|| panic!("{what}: no minimum")),
                    d.max.unwrap_or_else(|| panic!("{what}: no maximum")),
                );
                let int = |n: i64| Value::Integer(n.into());
                assert!(
                    accepted(&d.name, int(min)),
                    "{what}: the minimum {min} is refused"
                );
                assert!(
                    accepted(&d.name, int(max)),
                    "{what}: the maximum {max} is refused"
                );
                assert!(
                    !accepted(&d.name, int(min - 1)),
                    "{what}: {} is accepted",
                    min - 1
                );
                assert!(
                    !accepted(&d.name, int(max + 1)),
                    "{what}: {} is accepted",
                    max + 1
                );
            }
            _ => assert!(
                d.min.is_none() && d.max.is_none(),
                "{what}: a range on a non-integer"
            ),
        }
        match &d.list {
            Some(list) => {
                for value in list {
                    assert!(
                        accepted(&d.name, Value::String(value.clone())),
                        "{what}: {value} is refused"
                    );
                }
                assert!(
                    !accepted(&d.name, Value::String("NotAValue".into())),
                    "{what}"
                );
            }
            None if spec.kind == KeyType::String => {
                assert!(
                    accepted(&d.name, Value::String("any text".into())),
                    "{what}"
                )
            }
            None => {}
        }
        if let Some(list) = &d.item_list {
            for value in list {
                assert!(
                    accepted(&d.name, strings_value(&[value])),
                    "{what}: {value} is refused"
                );
            }
            let all: Vec<&str> = list.iter().map(String::as_str).collect();
            assert!(
                accepted(&d.name, strings_value(&all)),
                "{what}: the whole list"
            );
            assert!(!accepted(&d.name, strings_value(&["NotAValue"])), "{what}");
        }
        if spec.kind == KeyType::StringArray {
            let empty_ok = accepted(&d.name, Value::Array(Vec::new()));
            match d.min_items {
                Some(1) => assert!(
                    !empty_ok,
                    "{what}: at least one item, but empty is accepted"
                ),
                None => assert!(
                    empty_ok,
                    "{what}: an empty array is refused; say minItems 1"
                ),
                Some(n) => panic!("{what}: unexpected minimum of {n} items"),
            }
        }
    }
    // Deploying every default as is changes nothing and warns about nothing.
    let loaded = from_managed(&defaults);
    assert!(
        loaded.warnings.is_empty(),
        "{source}: {:?}",
        loaded.warnings
    );
    assert_eq!(loaded.config, Config::default(), "{source}");
}

#[test]
fn the_jamf_schema_lists_exactly_the_configuration_keys_with_their_types_defaults_and_ranges() {
    check_against_keys("jamf-schema.json", jamf_schema());
}

#[test]
fn the_profile_manifest_lists_exactly_the_configuration_keys_with_their_types_defaults_and_ranges()
{
    check_against_keys("org.keywarden.plist", manifest());
}

// ---------------------------------------------------------------------------------------------
// Escrow, login items, privacy

#[test]
fn the_escrow_profile_escrows_to_its_certificate_payload_and_enables_filevault_silently() {
    let name = "filevault-escrow.mobileconfig";
    let v = load(name);

    let escrow = payload(&v, "com.apple.security.FDERecoveryKeyEscrow", name);
    assert!(
        string(escrow, "Location", name).len() > 10,
        "a Location the user can act on"
    );
    let cert_uuid = string(escrow, "EncryptCertPayloadUUID", name);
    let cert = payload(&v, "com.apple.security.pkcs1", name);
    assert_eq!(cert_uuid, string(cert, "PayloadUUID", name));
    // The certificate is a placeholder, marked as such where an admin looks.
    let data = cert
        .get("PayloadContent")
        .and_then(Value::as_data)
        .expect("pkcs1 PayloadContent is data");
    assert!(String::from_utf8_lossy(data).starts_with("REPLACE-ME"));
    assert!(string(cert, "PayloadDisplayName", name).contains("REPLACE"));

    let fv = payload(&v, "com.apple.MCX.FileVault2", name);
    assert_eq!(string(fv, "Enable", name), "On");
    assert!(boolean(fv, "Defer", name));
    assert_eq!(
        integer(fv, "DeferForceAtUserLoginMaxBypassAttempts", name),
        0
    );
    assert!(boolean(fv, "UseRecoveryKey", name));
    assert!(!boolean(fv, "ShowRecoveryKey", name));
    assert!(!boolean(fv, "UseKeychain", name));
    // OutputPath would name a file holding the key in plain text (PlaintextKeyOnDisk).
    assert!(!fv.contains_key("OutputPath"));
    // No credential in the profile: Defer asks the user at login.
    assert!(!fv.contains_key("Password") && !fv.contains_key("Username"));

    let mcx = payload(&v, "com.apple.MCX", name);
    assert!(boolean(mcx, "dontAllowFDEDisable", name));
}

#[test]
fn the_login_items_profile_locks_the_daemon_by_its_launchd_label() {
    let name = "login-items.mobileconfig";
    let v = load(name);
    let sm = payload(&v, "com.apple.servicemanagement", name);
    let rules = sm.get("Rules").and_then(Value::as_array).expect("Rules");
    let labels: Vec<&str> = rules
        .iter()
        .map(|r| dict(r, name))
        .filter(|r| string(r, "RuleType", name) == "Label")
        .map(|r| string(r, "RuleValue", name))
        .collect();
    assert_eq!(labels, vec![paths::LAUNCHD_LABEL]);
    for r in rules {
        let r = dict(r, name);
        assert!([
            "BundleIdentifier",
            "BundleIdentifierPrefix",
            "Label",
            "LabelPrefix",
            "TeamIdentifier"
        ]
        .contains(&string(r, "RuleType", name)));
        // A placeholder Team ID would match nothing: it stays commented out in the file.
        assert!(!r.contains_key("TeamIdentifier"), "{r:?}");
    }
}

#[test]
fn the_privacy_profile_names_the_installed_binary_and_a_placeholder_requirement() {
    let name = "pppc-full-disk-access.mobileconfig";
    let v = load(name);
    let tcc = payload(&v, "com.apple.TCC.configuration-profile-policy", name);
    let services = tcc
        .get("Services")
        .and_then(Value::as_dictionary)
        .expect("Services");
    let fda = services
        .get("SystemPolicyAllFiles")
        .and_then(Value::as_array)
        .expect("SystemPolicyAllFiles");
    assert_eq!(fda.len(), 1);
    let id = dict(&fda[0], name);
    assert_eq!(string(id, "Identifier", name), paths::BINARY);
    assert_eq!(string(id, "IdentifierType", name), "path");
    assert!(string(id, "CodeRequirement", name).contains("REPLACE-WITH"));
    // Apple: every entry has Allowed or Authorization, never both.
    assert!(boolean(id, "Allowed", name));
    assert!(!id.contains_key("Authorization"));
}

// ---------------------------------------------------------------------------------------------
// Jamf extension attributes

/// The fields admins build smart groups on, one script each.
const EA_FIELDS: [&str; 10] = [
    "Healthy",
    "Problems",
    "Warnings",
    "RecoveryKey.State",
    "Rotation.State",
    "Escrow.State",
    "SecureToken.ConsoleUserHasToken",
    "BootstrapToken.Escrowed",
    "RecoveryKey.LastUsedAt",
    "Daemon.LastCheckAt",
];

/// Each extension attribute script with the key path it reads.
fn ea_scripts() -> Vec<(PathBuf, String)> {
    let dir = profiles_dir().join("inventory");
    let mut out: Vec<(PathBuf, String)> = with_extension("sh")
        .into_iter()
        .map(|path| {
            assert_eq!(path.parent(), Some(dir.as_path()), "{}", path.display());
            let text = std::fs::read_to_string(&path).unwrap();
            let key_path = text
                .lines()
                .find_map(|l| l.strip_prefix("key_path="))
                .unwrap_or_else(|| panic!("{}: no key_path=", path.display()))
                .to_owned();
            (path, key_path)
        })
        .collect();
    out.sort();
    out
}

/// Run a script with `/bin/sh`, a cleared environment and a PATH where nothing exists: it can
/// only use shell builtins and the absolute path it is given.
fn run_script(script: &Path, env: &[(&str, OsString)]) -> String {
    let out = Command::new("/bin/sh")
        .arg(script)
        .env_clear()
        .env("PATH", "/nonexistent")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("run /bin/sh");
    assert_eq!(code(&out), 0, "{}: {}", script.display(), stderr(&out));
    stdout(&out)
}

fn on_mac(mac: &Mac) -> [(&'static str, OsString); 2] {
    [
        ("KEYWARDEN_BIN", KEYWARDEN.into()),
        ("KEYWARDEN_ROOT", mac.root().into()),
    ]
}

/// The simulated Mac after `keywarden check`.
fn checked(mac: Mac) -> Mac {
    let out = mac.check();
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    mac
}

fn healthy() -> Mac {
    checked(Mac::healthy())
}

/// Checked once (the daemon knows alice as the last console user), then a restart unlocked with
/// the recovery key, and a check before anyone logs in.
fn key_used() -> Mac {
    let mac = healthy();
    mac.event(&["reboot", "--with-recovery-key"]);
    checked(mac)
}

fn escrow_missing() -> Mac {
    checked(Mac::with(&["escrow.profile_installed=false"]))
}

fn stale() -> Mac {
    let mac = healthy();
    mac.sim(&["age", mac.root_str(), "3d"]);
    mac
}

/// Healthy, written by a clock two hours ahead (then corrected): stale too (issue 14 review).
fn from_the_future() -> Mac {
    let mac = healthy();
    let path = mac.path("/Library/Keywarden/status.plist");
    let mut v = mac.status();
    let ahead = std::time::SystemTime::now() + std::time::Duration::from_secs(2 * 3600);
    v.as_dictionary_mut()
        .unwrap()
        .insert("GeneratedAt".into(), Value::Date(plist::Date::from(ahead)));
    plist::to_file_xml(&path, &v).unwrap();
    mac
}

/// `YYYY-MM-DD hh:mm:ss`, Jamf's date format.
fn is_jamf_date(s: &str) -> bool {
    s.len() == 19
        && s.char_indices().all(|(i, c)| match i {
            4 | 7 => c == '-',
            10 => c == ' ',
            13 | 16 => c == ':',
            _ => c.is_ascii_digit(),
        })
}

fn result(text: &str) -> &str {
    text.strip_prefix("<result>")
        .and_then(|t| t.strip_suffix("</result>\n"))
        .unwrap_or_else(|| panic!("not one <result> line: {text:?}"))
}

#[test]
fn there_is_one_extension_attribute_per_field_admins_group_on() {
    let fields: Vec<String> = ea_scripts().into_iter().map(|(_, k)| k).collect();
    let mut expected: Vec<String> = EA_FIELDS.iter().map(|s| s.to_string()).collect();
    expected.sort();
    let mut found = fields.clone();
    found.sort();
    assert_eq!(found, expected);
}

#[test]
fn extension_attributes_are_thin_wrappers_that_run_no_macos_tool() {
    // Anything that would run a tool: the macOS ones Keywarden wraps, the usual plist readers,
    // interpreters and the tool directories.
    const FORBIDDEN: [&str; 18] = [
        "fdesetup",
        "sysadminctl",
        "profiles",
        "defaults",
        "plutil",
        "PlistBuddy",
        "diskutil",
        "dscl",
        "security",
        "launchctl",
        "sw_vers",
        "sysctl",
        "osascript",
        "python",
        "awk",
        "/usr/bin/",
        "/usr/sbin/",
        "/usr/local/bin/keywarden",
    ];
    for (path, key_path) in ea_scripts() {
        let what = name_of(&path);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("#!/bin/sh\n"), "{what}");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o111, 0o111, "{what} is not executable");
        // The installed binary, from paths; the test-only overrides are documented.
        assert!(
            text.contains(&format!("KEYWARDEN_BIN:-{}}}", paths::BINARY)),
            "{what}"
        );
        assert!(text.contains("--root \"$KEYWARDEN_ROOT\""), "{what}");
        let comments = text
            .lines()
            .filter(|l| l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n");
        assert!(
            comments.contains("ONLY for Keywarden's own tests"),
            "{what}"
        );
        assert!(
            comments.contains(&format!("keywarden ea {key_path}")),
            "{what}"
        );
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            for tool in FORBIDDEN {
                assert!(!line.contains(tool), "{what} runs {tool}: {line}");
            }
        }
    }
}

#[test]
fn extension_attributes_pass_shellcheck() {
    if !require_program("shellcheck", INSTALL_SHELLCHECK) {
        return;
    }
    let scripts: Vec<PathBuf> = ea_scripts().into_iter().map(|(p, _)| p).collect();
    let out = Command::new("shellcheck")
        .args(["--shell=sh", "--severity=style"])
        .args(&scripts)
        .output()
        .expect("run shellcheck");
    assert!(out.status.success(), "{}", stdout(&out));
}

#[test]
fn extension_attributes_report_what_keywarden_ea_reports_on_a_simulated_mac() {
    let expect: [(&str, Mac, [&str; 10]); 4] = [
        // Healthy, Problems, Warnings, RecoveryKey.State, Rotation.State, Escrow.State,
        // ConsoleUserHasToken, BootstrapToken.Escrowed, RecoveryKey.LastUsedAt, LastCheckAt
        (
            "healthy",
            healthy(),
            [
                "true", "", "", "Staged", "Idle", "Staged", "true", "true", "", "DATE",
            ],
        ),
        (
            "key used (reboot with the recovery key, nobody logged in yet)",
            key_used(),
            [
                "false",
                "RecoveryKeyUsed",
                "",
                "Used",
                "Pending",
                "Staged",
                "",
                "true",
                "DATE",
                "DATE",
            ],
        ),
        (
            "escrow profile missing",
            escrow_missing(),
            [
                "false",
                "EscrowProfileMissing",
                "",
                "NotEscrowed",
                "Idle",
                "NotConfigured",
                "true",
                "true",
                "",
                "DATE",
            ],
        ),
        (
            "stale (healthy, then three days without a check): every value but the date of the check reads Stale (issue 14)",
            stale(),
            [
                "Stale", "Stale", "Stale", "Stale", "Stale", "Stale", "Stale", "Stale", "Stale",
                "DATE",
            ],
        ),
    ];
    let scripts: BTreeMap<String, PathBuf> =
        ea_scripts().into_iter().map(|(p, k)| (k, p)).collect();
    for (case, mac, values) in &expect {
        for (field, want) in EA_FIELDS.iter().zip(values) {
            let script = &scripts[*field];
            let got = run_script(script, &on_mac(mac));
            // A thin wrapper: byte for byte what `keywarden ea` prints.
            assert_eq!(
                got,
                stdout(&mac.keywarden(&["ea", field])),
                "{case}: {}",
                name_of(script)
            );
            let value = result(&got);
            if *want == "DATE" {
                assert!(is_jamf_date(value), "{case}: {field} = {value:?}");
            } else {
                assert_eq!(value, *want, "{case}: {field}");
            }
        }
    }
    // The stale status is the one written three days ago: its date says so, its Healthy does not
    // say true.
    let (_, mac, _) = &expect[3];
    let last = result(&run_script(&scripts["Daemon.LastCheckAt"], &on_mac(mac))).to_owned();
    let last: jiff::Timestamp = format!("{}Z", last.replace(' ', "T")).parse().unwrap();
    let age = jiff::Timestamp::now().as_second() - last.as_second();
    assert!((3 * 86_400..3 * 86_400 + 600).contains(&age), "age {age} s");
}

#[test]
fn extension_attributes_say_not_installed_without_keywarden_or_its_status() {
    let scripts = ea_scripts();
    let dir = tempfile::tempdir().unwrap();
    let not_executable = dir.path().join("keywarden");
    std::fs::write(&not_executable, b"#!/bin/sh\necho '<result>ran</result>'\n").unwrap();
    let no_status = Mac::healthy(); // installed, never checked: no status.plist yet
    let cases: [(&str, Vec<(&str, OsString)>); 4] = [
        (
            "no binary",
            vec![("KEYWARDEN_BIN", dir.path().join("missing/keywarden").into())],
        ),
        (
            "a binary that is not executable",
            vec![("KEYWARDEN_BIN", not_executable.clone().into())],
        ),
        (
            "a directory where the binary should be",
            vec![("KEYWARDEN_BIN", dir.path().into())],
        ),
        ("installed, no status yet", on_mac(&no_status).to_vec()),
    ];
    for (case, env) in &cases {
        for (script, _) in &scripts {
            assert_eq!(
                run_script(script, env),
                "<result>NotInstalled</result>\n",
                "{case}: {}",
                name_of(script)
            );
        }
    }
    // Without the test overrides the scripts look at the installed path only, which does not
    // exist on a development machine.
    if !Path::new(paths::BINARY).exists() {
        for (script, _) in &scripts {
            assert_eq!(run_script(script, &[]), "<result>NotInstalled</result>\n");
        }
    }
}

#[test]
fn an_unreadable_status_is_reported_as_such_not_as_healthy() {
    let mac = healthy();
    std::fs::write(mac.path(paths::STATUS), b"not a property list").unwrap();
    let scripts: BTreeMap<String, PathBuf> =
        ea_scripts().into_iter().map(|(p, k)| (k, p)).collect();
    assert_eq!(
        run_script(&scripts["Healthy"], &on_mac(&mac)),
        "<result>Unreadable</result>\n"
    );
}

// ---------------------------------------------------------------------------------------------
// osquery / Fleet SQL

/// A status as osquery's `plist` table shows it: rows (key, subkey, value). Follows osquery's
/// `genOSXPlist` (osquery/tables/system/darwin/preferences.cpp): `key` is the top-level key,
/// `subkey` the path below it joined with '/', array items numbered with a counter that is only
/// appended below the top level (items of a top-level array all have an empty subkey), an empty
/// array or dictionary one row with an empty value; and `parsePlist`
/// (osquery/utils/darwin/plist.mm): numbers and booleans through -[NSNumber stringValue] (so
/// booleans read "1"/"0"), dates as seconds since 1970.
fn osquery_rows(status: &Value) -> Vec<(String, String, String)> {
    fn leaf(v: &Value) -> String {
        match v {
            Value::String(s) => s.clone(),
            Value::Boolean(b) => if *b { "1" } else { "0" }.to_owned(),
            Value::Integer(i) => i.to_string(),
            Value::Real(r) => r.to_string(),
            Value::Date(d) => {
                let t = SystemTime::from(*d);
                let secs = t
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .unwrap_or(Duration::ZERO);
                secs.as_secs().to_string()
            }
            other => panic!("unexpected value in a status: {other:?}"),
        }
    }
    fn walk(
        v: &Value,
        key: &str,
        subkey: String,
        mut level: usize,
        out: &mut Vec<(String, String, String)>,
    ) {
        let children: Vec<(String, &Value)> = match v {
            Value::Dictionary(d) => d.iter().map(|(k, v)| (k.clone(), v)).collect(),
            Value::Array(a) => a.iter().map(|v| (String::new(), v)).collect(),
            other => {
                out.push((key.to_owned(), subkey, leaf(other)));
                return;
            }
        };
        if children.is_empty() {
            out.push((key.to_owned(), subkey, String::new()));
            return;
        }
        for (name, child) in children {
            let mut s = subkey.clone();
            if !s.is_empty() {
                s.push('/');
                if name.is_empty() {
                    s.push_str(&level.to_string());
                    level += 1;
                }
            }
            s.push_str(&name);
            walk(child, key, s, level, out);
        }
    }
    let mut out = Vec::new();
    for (key, v) in dict(status, "status") {
        walk(v, key, String::new(), 0, &mut out);
    }
    out
}

/// Run `sql` in SQLite (Python's sqlite3) over a `plist` table holding `rows` for the status
/// path.
fn run_sql(sql: &str, rows: &[(String, String, String)]) -> Vec<serde_json::Value> {
    const PROGRAM: &str = r#"
import json, sqlite3, sys
job = json.load(sys.stdin)
db = sqlite3.connect(":memory:")
db.row_factory = sqlite3.Row
db.execute("CREATE TABLE plist (key TEXT, subkey TEXT, value TEXT, path TEXT)")
db.executemany("INSERT INTO plist VALUES (?, ?, ?, ?)", [r + [job["path"]] for r in job["rows"]])
print(json.dumps([dict(r) for r in db.execute(job["sql"]).fetchall()]))
"#;
    let job = serde_json::json!({"sql": sql, "rows": rows, "path": paths::STATUS});
    let out = spawn_with_stdin(
        Command::new("python3").args(["-c", PROGRAM]),
        job.to_string().as_bytes(),
    )
    .expect("run python3")
    .wait_with_output()
    .unwrap();
    assert!(out.status.success(), "SQL failed: {}\n{sql}", stderr(&out));
    serde_json::from_str(&stdout(&out)).expect("JSON rows")
}

fn sql_files() -> BTreeMap<String, String> {
    with_extension("sql")
        .into_iter()
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

#[test]
fn the_osquery_plist_emulation_matches_osquerys_shape() {
    let mac = healthy();
    let rows = osquery_rows(&mac.status());
    let has = |k: &str, s: &str, v: &str| rows.iter().any(|r| r == &(k.into(), s.into(), v.into()));
    assert!(has("Healthy", "", "1"));
    assert!(has("RecoveryKey", "State", "Staged"));
    assert!(has("Problems", "", ""), "an empty array is one empty row");
    assert!(has("SecureToken", "Users/0/Name", "alice"));
    assert!(has("SecureToken", "Users/1/Name", "itadmin"));
}

#[test]
fn the_osquery_policies_pass_and_fail_as_documented() {
    let statuses: [(&str, Option<Mac>); 6] = [
        ("healthy", Some(healthy())),
        ("key used", Some(key_used())),
        ("escrow missing", Some(escrow_missing())),
        ("stale", Some(stale())),
        ("no status", None),
        ("from the future", Some(from_the_future())),
    ];
    // Passes (returns a row) per status, in the order above.
    let policies: BTreeMap<&str, [bool; 6]> = [
        (
            "policy-keywarden-reporting.sql",
            [true, true, true, false, false, false],
        ),
        (
            "policy-keywarden-healthy.sql",
            [true, false, false, false, false, false],
        ),
        (
            "policy-recovery-key-staged.sql",
            [true, false, false, false, false, false],
        ),
        (
            "policy-recovery-key-escrowed.sql",
            [true, true, false, false, false, false],
        ),
    ]
    .into_iter()
    .collect();
    let files = sql_files();
    let mut expected_files: BTreeSet<&str> = policies.keys().copied().collect();
    expected_files.insert("keywarden-status.sql");
    assert_eq!(
        files.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        expected_files
    );

    if !require_program("python3", INSTALL_PYTHON3) {
        return;
    }
    for (i, (case, mac)) in statuses.iter().enumerate() {
        let rows = mac
            .as_ref()
            .map(|m| osquery_rows(&m.status()))
            .unwrap_or_default();
        for (file, passes) in &policies {
            let result = run_sql(&files[*file], &rows);
            assert_eq!(
                !result.is_empty(),
                passes[i],
                "{file} on {case}: {result:?}"
            );
        }
        let inventory = run_sql(&files["keywarden-status.sql"], &rows);
        match *case {
            "no status" => assert!(inventory.is_empty(), "{inventory:?}"),
            _ => {
                assert_eq!(inventory.len(), 1, "{case}: {inventory:?}");
                let row = &inventory[0];
                let stale = *case == "stale" || *case == "from the future";
                assert_eq!(
                    row["stale"],
                    serde_json::json!(i64::from(stale)),
                    "{case}: {row}"
                );
                let healthy = if *case == "healthy" || stale {
                    "1"
                } else {
                    "0"
                };
                assert_eq!(row["healthy"], healthy, "{case}: {row}");
                assert!(row["generated_at"].as_i64().is_some(), "{case}: {row}");
                match *case {
                    "key used" => {
                        assert_eq!(row["recovery_key_state"], "Used");
                        assert_eq!(row["problems"], "RecoveryKeyUsed");
                        assert!(row["recovery_key_last_used_at"].as_i64().is_some());
                    }
                    "escrow missing" => {
                        assert_eq!(row["escrow_state"], "NotConfigured");
                        assert_eq!(row["problems"], "EscrowProfileMissing");
                    }
                    _ => {
                        assert_eq!(row["recovery_key_state"], "Staged", "{case}: {row}");
                        assert_eq!(row["warnings"], serde_json::Value::Null, "{case}: {row}");
                        assert_eq!(row["problems"], serde_json::Value::Null, "{case}: {row}");
                        assert_eq!(row["filevault_state"], "On");
                        assert_eq!(row["rotation_state"], "Idle");
                        assert_eq!(row["console_user_has_token"], "1");
                        assert_eq!(row["bootstrap_token_escrowed"], "1");
                    }
                }
            }
        }
    }
}

#[test]
fn the_fleet_yaml_in_the_docs_is_the_sql_shipped() {
    let doc = std::fs::read_to_string(profiles_dir().join("inventory/osquery.md")).unwrap();
    let files: BTreeMap<String, String> = sql_files()
        .into_iter()
        .map(|(name, sql)| (normalise_sql(&sql), name))
        .collect();
    let mut blocks = 0;
    let mut lines = doc.lines();
    while let Some(line) = lines.next() {
        if line.trim() != "query: |" {
            continue;
        }
        let indent = line.len() - line.trim_start().len() + 2;
        let body: Vec<&str> = lines
            .clone()
            .take_while(|l| l.starts_with(&" ".repeat(indent)))
            .collect();
        let sql = normalise_sql(&body.join("\n"));
        assert!(
            files.contains_key(&sql),
            "a query in osquery.md is not a shipped file:\n{sql}"
        );
        blocks += 1;
    }
    assert!(blocks >= 2, "the Fleet YAML example is gone");
}

/// The SQL without its comments, whitespace collapsed.
fn normalise_sql(sql: &str) -> String {
    sql.lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .flat_map(str::split_whitespace)
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn the_shell_examples_in_the_docs_are_valid_sh() {
    let shellcheck = require_program("shellcheck", INSTALL_SHELLCHECK);
    for doc in ["README.md", "inventory/osquery.md"] {
        let text = std::fs::read_to_string(profiles_dir().join(doc)).unwrap();
        let mut in_block = false;
        let mut block = String::new();
        let mut checked = 0;
        for line in text.lines() {
            if line.starts_with("```") {
                if in_block && block.starts_with("#!/bin/sh") {
                    let dir = tempfile::tempdir().unwrap();
                    let script = dir.path().join("example.sh");
                    std::fs::write(&script, &block).unwrap();
                    let out = Command::new("/bin/sh")
                        .arg("-n")
                        .arg(&script)
                        .output()
                        .unwrap();
                    assert!(out.status.success(), "{doc}: {}\n{block}", stderr(&out));
                    if shellcheck {
                        let out = Command::new("shellcheck")
                            .arg("--shell=sh")
                            .arg(&script)
                            .output()
                            .expect("run shellcheck");
                        assert!(out.status.success(), "{doc}: {}\n{block}", stdout(&out));
                    }
                    checked += 1;
                }
                in_block = !in_block;
                block.clear();
            } else if in_block {
                block.push_str(line);
                block.push('\n');
            }
        }
        if doc.ends_with("osquery.md") {
            assert!(checked >= 3, "{doc}: the Kandji and Intune scripts");
        }
    }
}

#[test]
fn every_shipped_file_is_documented() {
    let readme = std::fs::read_to_string(profiles_dir().join("README.md")).unwrap();
    let osquery = std::fs::read_to_string(profiles_dir().join("inventory/osquery.md")).unwrap();
    for path in all_files() {
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        if file == "README.md" {
            continue;
        }
        assert!(
            readme.contains(&file) || osquery.contains(&file),
            "{} is not mentioned in profiles/README.md or inventory/osquery.md",
            name_of(&path)
        );
    }
}
