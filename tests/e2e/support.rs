//! A simulated Mac in a temp directory, and the real `keywarden` binary pointed at it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const KEYWARDEN: &str = env!("CARGO_BIN_EXE_keywarden");
pub const SIM: &str = env!("CARGO_BIN_EXE_keywarden-sim");

pub struct Mac {
    pub dir: tempfile::TempDir,
}

impl Mac {
    /// The simulator's healthy Mac.
    pub fn healthy() -> Mac {
        let dir = tempfile::tempdir().expect("temp dir");
        let mac = Mac { dir };
        mac.sim(&["init", mac.root_str()]);
        mac
    }

    /// The healthy Mac with these scenario changes (`PATH=JSON`, as `keywarden-sim set` takes).
    pub fn with(changes: &[&str]) -> Mac {
        let mac = Mac::healthy();
        if !changes.is_empty() {
            mac.set(changes);
        }
        mac
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn root_str(&self) -> &str {
        self.dir.path().to_str().expect("UTF-8 temp path")
    }

    pub fn path(&self, abs: &str) -> PathBuf {
        self.root().join(abs.trim_start_matches('/'))
    }

    pub fn sim(&self, args: &[&str]) -> Output {
        let out = Command::new(SIM)
            .args(args)
            .output()
            .expect("run keywarden-sim");
        assert!(
            out.status.success(),
            "keywarden-sim {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    pub fn set(&self, changes: &[&str]) {
        let mut args = vec!["set", self.root_str()];
        args.extend_from_slice(changes);
        self.sim(&args);
    }

    pub fn event(&self, args: &[&str]) {
        let mut a = vec!["event", self.root_str()];
        a.extend_from_slice(args);
        self.sim(&a);
    }

    /// Run `keywarden --root DIR ARGS...`.
    pub fn keywarden(&self, args: &[&str]) -> Output {
        Command::new(KEYWARDEN)
            .arg("--root")
            .arg(self.root())
            .args(args)
            .output()
            .expect("run keywarden")
    }

    pub fn check(&self) -> Output {
        self.keywarden(&["check"])
    }

    pub fn status_bytes(&self) -> Vec<u8> {
        std::fs::read(self.path("/Library/Keywarden/status.plist")).expect("status.plist")
    }

    pub fn status(&self) -> plist::Value {
        plist::from_bytes(&self.status_bytes()).expect("status parses")
    }

    /// Write the managed preferences (a configuration profile's payload).
    pub fn managed_prefs(&self, pairs: &[(&str, plist::Value)]) {
        let dict: plist::Dictionary = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let path = self.path("/Library/Managed Preferences/org.keywarden.plist");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        plist::to_file_xml(&path, &plist::Value::Dictionary(dict)).unwrap();
    }

    /// The simulator's log of calls, one JSON value each.
    pub fn calls(&self) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(self.path("/.sim/calls.jsonl")).unwrap_or_default();
        text.lines()
            .map(|l| serde_json::from_str(l).expect("call log line"))
            .collect()
    }
}

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

pub fn problems(v: &plist::Value) -> Vec<String> {
    strings(v, "Problems")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn code(o: &Output) -> i32 {
    o.status.code().expect("exited, not killed")
}

/// The values that change from run to run (times, durations, memory), replaced by fixed ones so
/// the rest of the status can be compared with a golden file.
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
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.plist"));
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

/// Running (not gone, not a zombie waiting to be reaped).
pub fn alive(pid: i64) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|s| s.split_whitespace().next());
            state != Some("Z") && state != Some("X")
        }
        Err(_) => false,
    }
}
