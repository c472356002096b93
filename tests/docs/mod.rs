//! The documentation keeps up with the code: every configuration key, status key, problem code
//! and log event the code defines is documented, a configuration key with the type, range and
//! default the code uses.

use std::collections::BTreeSet;

use crate::support::repo;

fn doc(name: &str) -> String {
    std::fs::read_to_string(repo("docs").join(name)).unwrap_or_else(|e| panic!("docs/{name}: {e}"))
}

/// Each key's "- Type:" line is exactly the one its `KEYS` row renders (`KeySpec::docs_line`),
/// so the type, range, unit, words and default in the docs are the numbers the code checks.
#[test]
fn every_configuration_key_is_documented_with_the_type_range_and_default_its_table_row_renders() {
    let text = doc("configuration.md");
    for spec in keywarden::config::KEYS {
        let heading = format!(
            "### `{}`{}",
            spec.name,
            if spec.restricted { " †" } else { "" }
        );
        let at = text
            .find(&heading)
            .unwrap_or_else(|| panic!("docs/configuration.md has no heading {heading:?}"));
        let section = &text[at..];
        let section = &section[..section[3..].find("\n### ").map_or(section.len(), |i| i + 3)];
        let stated: Vec<&str> = section
            .lines()
            .filter(|l| l.starts_with("- Type:"))
            .collect();
        let rendered = format!("- Type: {}", spec.docs_line());
        assert_eq!(
            stated,
            vec![rendered.as_str()],
            "docs/configuration.md, {}: the type line differs from the table",
            spec.name
        );
        assert!(section.contains("Example:"), "{}: no example", spec.name);
    }
}

/// Every key path of a status plist (`RecoveryKey.State`, `SecureToken.Users`...).
fn keys(v: &plist::Value, prefix: &str, out: &mut BTreeSet<String>) {
    if let plist::Value::Dictionary(d) = v {
        for (k, child) in d {
            let path = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            out.insert(path.clone());
            if !matches!(child, plist::Value::Array(_)) {
                keys(child, &path, out);
            }
        }
    }
}

#[test]
fn every_status_key_and_problem_code_is_documented() {
    let text = doc("status.md");
    let mut all = BTreeSet::new();
    for golden in ["healthy", "no-escrow-profile", "stale-bootstrap-token"] {
        let path = repo(&format!("tests/golden/{golden}.plist"));
        keys(&plist::from_file(&path).unwrap(), "", &mut all);
    }
    for key in &all {
        let leaf = key.rsplit('.').next().unwrap();
        let section = key.split('.').next().unwrap();
        if key.contains('.') {
            assert!(
                text.contains(&format!("## `{section}`")),
                "docs/status.md has no section for {section}"
            );
        }
        assert!(
            text.contains(&format!("`{leaf}`")),
            "docs/status.md does not document {key}"
        );
    }
    for p in keywarden::status::Problem::ALL {
        assert!(
            text.contains(&format!("| `{}` |", p.code())),
            "problem {} is not documented",
            p.code()
        );
    }
    let reasons = text
        .lines()
        .find(|l| l.starts_with("| `Reason` |"))
        .expect("docs/status.md has a row for Rotation.Reason");
    for r in keywarden::status::Reason::ALL {
        assert!(
            reasons.contains(&format!("`{}`", r.as_str())),
            "Rotation.Reason {} is not documented",
            r.as_str()
        );
    }
}

#[test]
fn every_log_event_the_code_emits_is_documented() {
    let text = doc("logging.md");
    let mut events = BTreeSet::new();
    let src = repo("daemon/src");
    let mut stack = vec![src];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let code = std::fs::read_to_string(&p).unwrap();
            let code = code.split("#[cfg(test)]").next().unwrap();
            for (i, _) in code.match_indices("event = \"") {
                let rest = &code[i + 9..];
                events.insert(rest[..rest.find('"').unwrap()].to_owned());
            }
            for (i, _) in code.match_indices("(\"") {
                let rest = &code[i + 2..];
                let name = &rest[..rest.find('"').unwrap_or(0)];
                if name.ends_with("_changed") && !name.contains(' ') {
                    events.insert(name.to_owned());
                }
            }
        }
    }
    assert!(events.len() > 20, "found only {events:?}");
    for e in events {
        assert!(
            text.contains(&format!("`{e}`")),
            "log event {e} is not in docs/logging.md"
        );
    }
}
