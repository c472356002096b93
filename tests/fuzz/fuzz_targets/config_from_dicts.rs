//! `config::from_dicts` over managed and local dictionaries built value by value (known key
//! names, the words the rules match, boundary integers, and arbitrary keys, strings and types).
//!
//! Invariants: no panic; warnings bounded by the keys given (one per unknown key, at most one per
//! known key, one for a Command without a command); the effective configuration is always within
//! the documented ranges; a value's source is a dictionary that holds it; restricted keys come
//! from a local file only when it is trusted; managed wins.

#![no_main]

use arbitrary::{Result, Unstructured};
use keywarden::config::{from_dicts, Config, Source, KEYS};
use keywarden_fuzz::check_config;
use libfuzzer_sys::fuzz_target;
use plist::{Dictionary, Value};

const WORDS: &[&str] = &[
    "error",
    "warn",
    "info",
    "debug",
    "Request",
    "Report",
    "EscrowBuddy",
    "MDM",
    "Command",
    "/usr/local/bin/rotate",
    "rotate",
    "",
    "PayloadUUID",
    "PayloadType",
    "PayloadIdentifier",
];
const NUMBERS: &[i64] = &[
    -1,
    0,
    1,
    2,
    10,
    11,
    14,
    20,
    21,
    30,
    48,
    60,
    299,
    300,
    301,
    365,
    366,
    600,
    601,
    3600,
    3601,
    3650,
    3651,
    8760,
    8761,
    86_400,
    86_401,
    i64::MAX,
    i64::MIN,
];

fn string(u: &mut Unstructured<'_>) -> Result<String> {
    Ok(if u.ratio(3, 4)? {
        (*u.choose(WORDS)?).to_owned()
    } else {
        u.arbitrary::<String>()?
    })
}

fn value(u: &mut Unstructured<'_>, depth: u32) -> Result<Value> {
    let kinds = if depth == 0 { 6 } else { 8 };
    Ok(match u.int_in_range(0..=kinds - 1)? {
        0 => Value::Integer(if u.ratio(3, 4)? {
            (*u.choose(NUMBERS)?).into()
        } else if u.arbitrary()? {
            u.arbitrary::<u64>()?.into()
        } else {
            u.arbitrary::<i64>()?.into()
        }),
        1 => Value::String(string(u)?),
        2 => Value::Boolean(u.arbitrary()?),
        3 => Value::Real(u.arbitrary()?),
        4 => Value::Data(u.arbitrary()?),
        5 => Value::Date(
            (std::time::SystemTime::UNIX_EPOCH
                + std::time::Duration::from_secs(u.int_in_range(0..=4_000_000_000)?))
            .into(),
        ),
        6 => {
            let n = u.int_in_range(0..=6)?;
            Value::Array((0..n).map(|_| value(u, depth - 1)).collect::<Result<_>>()?)
        }
        _ => Value::Dictionary(dict(u, depth - 1)?),
    })
}

fn dict(u: &mut Unstructured<'_>, depth: u32) -> Result<Dictionary> {
    let mut d = Dictionary::new();
    for _ in 0..u.int_in_range(0..=24)? {
        let key = if u.ratio(3, 4)? {
            u.choose(KEYS)?.name.to_owned()
        } else {
            string(u)?
        };
        d.insert(key, value(u, depth)?);
    }
    Ok(d)
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(flags) = u.arbitrary::<u8>() else {
        return;
    };
    let Ok(managed) = dict(&mut u, 2) else { return };
    let Ok(local) = dict(&mut u, 2) else { return };
    let managed = (flags & 1 != 0).then_some(managed);
    let local = (flags & 2 != 0).then_some(local);
    let trusted = flags & 4 != 0;

    let mut warnings = Vec::new();
    let loaded = from_dicts(managed.as_ref(), local.as_ref(), trusted, &mut warnings);
    let mut again = Vec::new();
    assert_eq!(
        loaded,
        from_dicts(managed.as_ref(), local.as_ref(), trusted, &mut again),
        "not a pure function"
    );
    check_config(&loaded.config);

    let given =
        managed.as_ref().map_or(0, Dictionary::len) + local.as_ref().map_or(0, Dictionary::len);
    assert!(
        loaded.warnings.len() <= given + 1,
        "{} warnings for {given} keys: {:?}",
        loaded.warnings.len(),
        loaded.warnings
    );
    if given == 0 {
        assert!(loaded.warnings.is_empty());
        assert_eq!(loaded.config, Config::default());
    }

    for spec in KEYS {
        let source = loaded.sources.get(spec.name).copied();
        assert!(source.is_some(), "{} has no source", spec.name);
        let in_managed = managed.as_ref().and_then(|d| d.get(spec.name));
        let in_local = local.as_ref().and_then(|d| d.get(spec.name));
        match source.expect("checked") {
            Source::Managed => assert!(in_managed.is_some(), "{}", spec.name),
            Source::Local => {
                assert!(in_local.is_some(), "{}", spec.name);
                // Managed wins whenever it names the key.
                assert!(
                    in_managed.is_none(),
                    "{}: local used over managed",
                    spec.name
                );
                assert!(
                    !spec.restricted || trusted,
                    "{}: restricted key from an untrusted file",
                    spec.name
                );
            }
            Source::Default => {}
        }
    }
});
