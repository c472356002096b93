//! Reading a status plist in assertions: values by dotted path (`RecoveryKey.State`,
//! `SecureToken.Users.0.Name`), typed, with a panic naming the path when one is missing or of
//! another type; and the comparison with the golden files in `tests/golden`.

/// `status["A"]["B"]...` by dotted path.
pub fn get<'a>(v: &'a plist::Value, path: &str) -> Option<&'a plist::Value> {
    let mut cur = v;
    for part in path.split('.') {
        cur = match cur {
            plist::Value::Dictionary(d) => d.get(part)?,
            plist::Value::Array(a) => a.get(part.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(cur)
}

pub fn string(v: &plist::Value, path: &str) -> String {
    get(v, path)
        .and_then(|x| x.as_string())
        .unwrap_or_else(|| panic!("{path} is not a string in the status"))
        .to_owned()
}

pub fn boolean(v: &plist::Value, path: &str) -> bool {
    get(v, path)
        .and_then(|x| x.as_boolean())
        .unwrap_or_else(|| panic!("{path} is not a boolean in the status"))
}

pub fn strings(v: &plist::Value, path: &str) -> Vec<String> {
    get(v, path)
        .and_then(|x| x.as_array())
        .unwrap_or_else(|| panic!("{path} is not an array in the status"))
        .iter()
        .map(|s| s.as_string().expect("string item").to_owned())
        .collect()
}

/// The critical codes (`Problems`).
pub fn problems(v: &plist::Value) -> Vec<String> {
    strings(v, "Problems")
}

/// The hygiene codes (`Warnings`, schema 2).
pub fn warnings(v: &plist::Value) -> Vec<String> {
    strings(v, "Warnings")
}

/// Every code, critical or not.
pub fn codes(v: &plist::Value) -> Vec<String> {
    let mut all = problems(v);
    all.extend(warnings(v));
    all
}

/// The values that change from run to run (times, durations, memory), replaced by fixed ones so
/// the rest of the status can be compared with a golden file (or with another Mac's, `selftest`).
pub fn normalised(status: &plist::Value) -> plist::Value {
    let fixed = plist::Value::Date(plist::Date::from(
        std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(946_684_800),
    ));
    let mut v = status.clone();
    let d = v.as_dictionary_mut().expect("status is a dictionary");
    d.insert("GeneratedAt".into(), fixed.clone());
    d.insert("Version".into(), plist::Value::String("VERSION".into()));
    for (_, section) in d.iter_mut() {
        if let plist::Value::Dictionary(s) = section {
            if s.contains_key("ObservedAt") {
                s.insert("ObservedAt".into(), fixed.clone());
            }
        }
    }
    if let Some(plist::Value::Dictionary(daemon)) = d.get_mut("Daemon") {
        for k in ["LastCheckAt", "NextCheckAt"] {
            if daemon.contains_key(k) {
                daemon.insert(k.into(), fixed.clone());
            }
        }
        daemon.insert("CheckDurationMs".into(), plist::Value::Integer(0.into()));
        daemon.insert(
            "ResidentMemoryBytes".into(),
            plist::Value::Integer(0.into()),
        );
        daemon.insert("CPUSeconds".into(), plist::Value::Real(0.0));
    }
    v
}

/// Compare with `tests/golden/NAME.plist`; `UPDATE_GOLDEN=1` rewrites it instead.
pub fn assert_golden(name: &str, status: &plist::Value) {
    let path = super::repo("tests/golden").join(format!("{name}.plist"));
    let mut actual = Vec::new();
    plist::to_writer_xml(&mut actual, &normalised(status)).unwrap();
    actual.push(b'\n');
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &actual).unwrap();
        return;
    }
    let expected = std::fs::read(&path).unwrap_or_else(|_| {
        panic!(
            "{} is missing: run the test with UPDATE_GOLDEN=1 once and review it",
            path.display()
        )
    });
    if expected != actual {
        panic!(
            "the status no longer matches {} (a schema change? then review and UPDATE_GOLDEN=1):\n--- expected\n{}\n--- actual\n{}",
            path.display(),
            String::from_utf8_lossy(&expected),
            String::from_utf8_lossy(&actual)
        );
    }
}
