//! Views of the status for people and inventory: the readable table of `keywarden status`, its
//! JSON form, the `<result>` of `keywarden ea KEY.PATH` for Jamf extension attributes, and the
//! table of `keywarden audit`.
//!
//! Pure functions of the status (and of `now` and `StaleAfterHours`); reading the file is
//! `status`'s job. All of these work for any user: the status holds no secret.

use std::fmt::Write as _;

use jiff::Timestamp;

use crate::audit::Event;
use crate::clock;
use crate::status::{Problem, RotationStateName, Status};
use crate::text;

/// One line of meaning per problem, for the table (the doctor gives the remedies).
pub(crate) fn problem_summary(p: Problem) -> &'static str {
    match p {
        Problem::FileVaultOff => {
            "FileVault is not protecting this Mac (off, deferred or decrypting)"
        }
        Problem::RecoveryKeyMissing => "FileVault is on but there is no personal recovery key",
        Problem::RecoveryKeyUsed => {
            "the recovery key was used to unlock this Mac and must be replaced"
        }
        Problem::RecoveryKeyNotEscrowed => {
            "the current key was not staged for the installed escrow payload (see Escrow.Evidence)"
        }
        Problem::EscrowProfileMissing => {
            "no FileVault escrow profile is installed: keys cannot reach the MDM"
        }
        Problem::RotationOverdue => "a requested key rotation has not happened in time",
        Problem::RotationNeedsPasswordLogin => {
            "the user logs in with a smart card; a rotation needs a password login"
        }
        Problem::EscrowBuddyMechanismMissing => {
            "Escrow Buddy is installed but missing from the login mechanisms"
        }
        Problem::ConsoleUserWithoutSecureToken => {
            "the logged-in user has no SecureToken and cannot unlock FileVault"
        }
        Problem::AdditionalAdminWithSecureToken => "an extra admin account holds a SecureToken",
        Problem::NoHumanVolumeOwner => {
            "no user account owns the volume: macOS updates cannot be authorised"
        }
        Problem::BootstrapTokenNotEscrowed => {
            "the MDM supports a bootstrap token but none is escrowed"
        }
        Problem::PlaintextKeyOnDisk => {
            "a file from deferred enablement holds a recovery key in plain text"
        }
        Problem::ToolFailed => "a macOS tool failed; some values are stale (see Errors)",
        Problem::StateUnreadable => "Keywarden's state file could not be used and was rebuilt",
        Problem::RotationFlagDuringPasswordReset => "another tool asks for a key rotation during the password reset after a recovery-key unlock",
        Problem::EscrowUnconfirmed => {
            "only dates question the escrow (profile newer than the escrow file); nothing requested"
        }
        Problem::ProfileUnreadable => {
            "a configuration profile could not be read (see Errors); escrow is judged without it"
        }
    }
}

/// How far in the future a status may be dated and still be read as current: clocks drift and
/// are set by hand, but a status from "tomorrow" was written by a clock that was wrong.
pub const FUTURE_ALLOWANCE_SECONDS: i64 = 3600;

/// Whether the status is older than `stale_after_hours`, or dated more than an hour in the
/// future: written with a wrong clock, which was then corrected, by a daemon that has not written
/// since (issue 14 review: it read current until that future date passed).
pub fn is_stale(generated_at: Timestamp, now: Timestamp, stale_after_hours: u32) -> bool {
    let age = now.as_second() - generated_at.as_second();
    age > i64::from(stale_after_hours) * 3600 || age < -FUTURE_ALLOWANCE_SECONDS
}

/// Why the status is stale, in a sentence every reader that prints one uses (`status`, `doctor`;
/// `ea` and `status --json` say `Stale` by the same `is_stale`), or `None` if it is current. A
/// status from the future is not called "older than" anything (issue 16, item 4).
pub fn stale_warning(
    generated_at: Timestamp,
    now: Timestamp,
    stale_after_hours: u32,
) -> Option<String> {
    if !is_stale(generated_at, now, stale_after_hours) {
        return None;
    }
    Some(if generated_at > now {
        format!(
            "this status is dated {} UTC, after the present ({} UTC): it was written by a clock that was wrong, and none has been written since: Keywarden may not be running.",
            clock::ea_format(generated_at),
            clock::ea_format(now)
        )
    } else {
        format!("this status is older than {stale_after_hours} hours (StaleAfterHours): Keywarden may not be running.")
    })
}

fn when(ts: Option<Timestamp>) -> String {
    ts.map(|t| format!("{} UTC", clock::ea_format(t)))
        .unwrap_or_else(|| "never".to_owned())
}

fn yes_no(b: Option<bool>) -> &'static str {
    match b {
        Some(true) => "yes",
        Some(false) => "no",
        None => "unknown",
    }
}

fn stale_mark(stale: bool, observed: Option<Timestamp>) -> String {
    if stale {
        format!("  [stale: last observed {}]", when(observed))
    } else {
        String::new()
    }
}

/// The readable table of `keywarden status`.
pub fn table(s: &Status, now: Timestamp, stale_after_hours: u32) -> String {
    let mut o = String::new();
    let age_min = (now.as_second() - s.generated_at.as_second()).max(0) / 60;
    let _ = writeln!(
        o,
        "Keywarden {} status, written {} ({} min ago)",
        s.version,
        when(Some(s.generated_at)),
        age_min
    );
    if let Some(why) = stale_warning(s.generated_at, now, stale_after_hours) {
        let _ = writeln!(o, "WARNING: {why}");
    }
    if s.healthy {
        let _ = writeln!(o, "Healthy:        yes");
    } else {
        let _ = writeln!(o, "Healthy:        no");
        for p in &s.problems {
            let _ = writeln!(o, "  {:<31} {}", p.code(), problem_summary(*p));
        }
    }
    if !s.warnings.is_empty() {
        let _ = writeln!(o, "Warnings:");
        for p in &s.warnings {
            let _ = writeln!(o, "  {:<31} {}", p.code(), problem_summary(*p));
        }
    }
    let _ = writeln!(o);
    let fv = &s.file_vault;
    let mut fv_line = format!("{:?}", fv.state);
    if let Some(p) = fv.percent_complete {
        let _ = write!(fv_line, " ({p}% complete)");
    }
    if fv.restart_required == Some(true) {
        fv_line.push_str(", restart required");
    }
    if let Some(u) = &fv.deferred_user {
        let _ = write!(fv_line, ", deferred for {u}");
    }
    if fv.institutional_key_present == Some(true) {
        fv_line.push_str(", institutional key present");
    }
    if let Some(f) = &fv.plaintext_key_file {
        let _ = write!(fv_line, ", plaintext key file at {f}");
    }
    let _ = writeln!(
        o,
        "FileVault:      {fv_line}{}",
        stale_mark(fv.stale, fv.observed_at)
    );

    let rk = &s.recovery_key;
    let _ = writeln!(
        o,
        "Recovery key:   {:?}, present: {}, used this boot: {} (detection {:?}){}",
        rk.state,
        yes_no(rk.present),
        yes_no(rk.used_this_boot),
        rk.use_detection,
        stale_mark(rk.stale, rk.observed_at)
    );
    if rk.last_used_at.is_some() || rk.last_changed_at.is_some() || rk.last_validated_at.is_some() {
        let _ = writeln!(
            o,
            "                last used {}, last changed {}, last validated {}{}",
            when(rk.last_used_at),
            when(rk.last_changed_at),
            when(rk.last_validated_at),
            rk.last_validation
                .map(|v| format!(" ({v:?})"))
                .unwrap_or_default()
        );
    }
    let e = &s.escrow;
    let _ = writeln!(
        o,
        "Escrow:         {:?}, profile installed: {}{}, escrow file: {}{}",
        e.state,
        yes_no(e.profile_installed),
        e.profile_installed_at
            .map(|t| format!(" ({})", when(Some(t))))
            .unwrap_or_default(),
        match (e.filevault_prk_present, e.filevault_prk_modified_at) {
            (Some(true), Some(t)) => format!("written {}", when(Some(t))),
            (Some(false), _) => "absent".to_owned(),
            _ => "unknown".to_owned(),
        },
        stale_mark(e.stale, e.observed_at)
    );
    if let Some(l) = &e.location {
        let _ = writeln!(o, "                location: {l}");
    }
    // How the state was reached, and the two identities a helpdesk can compare with the MDM's.
    for (label, value) in [
        ("evidence", &e.evidence),
        ("encrypted to", &e.recipient),
        ("escrow file", &e.file_problem),
        ("payload certificate", &e.certificate),
        ("certificate unknown", &e.certificate_problem),
    ] {
        if let Some(v) = value {
            let _ = writeln!(o, "                {label}: {v}");
        }
    }
    let r = &s.rotation;
    let _ = write!(o, "Rotation:       {:?}", r.state);
    if let Some(reason) = &r.reason {
        let _ = write!(o, " ({})", reason.as_str());
    }
    if let Some(m) = &r.method {
        // A pending rotation has asked for nothing: its method is the one it would use (Report
        // mode shows it so a pilot can be counted, issue 14).
        if r.state == RotationStateName::Pending {
            let _ = write!(o, ", would use {}", m.as_str());
        } else {
            let _ = write!(o, " via {}", m.as_str());
        }
    }
    if r.attempts > 0 {
        let _ = write!(o, ", {} attempt(s)", r.attempts);
    }
    if let Some(err) = &r.last_error {
        let _ = write!(o, ", last error: {err}");
    }
    if let Some(at) = r.retry_at {
        let _ = write!(o, ", next attempt {}", when(Some(at)));
    }
    let _ = writeln!(o);
    if let Some(w) = &r.waiting {
        let _ = writeln!(o, "                waiting: {w}");
    }
    if let Some(n) = &r.method_note {
        let _ = writeln!(o, "                not Escrow Buddy: {n}");
    }
    let st = &s.secure_token;
    let _ = writeln!(
        o,
        "SecureToken:    console user {} ({}), human volume owners: {}{}",
        match (&st.console_user, st.console_uid) {
            (Some(name), _) => name.clone(),
            (None, Some(uid)) =>
                format!("(uid {uid}, named by no single local record: not nobody)"),
            (None, None) => "(nobody logged in)".to_owned(),
        },
        match st.console_user_has_token {
            Some(true) => "has a token",
            Some(false) => "NO token",
            None => "token unknown",
        },
        st.human_volume_owners
            .map(|n| n.to_string())
            .unwrap_or_else(|| "unknown".into()),
        stale_mark(st.stale, st.observed_at)
    );
    if !st.users.is_empty() {
        let _ = writeln!(
            o,
            "  {:<20} {:>6}  {:<5}  {:<7}  {:<5}  {:<6}  SMARTCARD",
            "USER", "UID", "ADMIN", "TOKEN", "OWNER", "HIDDEN"
        );
        for u in &st.users {
            let _ = writeln!(
                o,
                "  {:<20} {:>6}  {:<5}  {:<7}  {:<5}  {:<6}  {}",
                u.name,
                u.uid,
                yes_no(Some(u.admin)),
                yes_no(u.secure_token),
                yes_no(u.volume_owner),
                yes_no(Some(u.hidden)),
                yes_no(Some(u.smart_card))
            );
        }
    }
    if !st.additional_admins_with_token.is_empty() {
        let _ = writeln!(
            o,
            "  extra admins with a token: {}",
            st.additional_admins_with_token.join(", ")
        );
    }
    let b = &s.bootstrap_token;
    let _ = writeln!(
        o,
        "Bootstrap token: supported by MDM: {}, escrowed: {}{}",
        yes_no(b.supported),
        yes_no(b.escrowed),
        stale_mark(b.stale, b.observed_at)
    );
    let h = &s.host;
    let _ = writeln!(
        o,
        "Host:           macOS {} ({}), {}, boot session {}{}",
        h.os_version.as_deref().unwrap_or("?"),
        h.os_build.as_deref().unwrap_or("?"),
        match h.apple_silicon {
            Some(true) => "Apple silicon",
            Some(false) => "Intel",
            None => "chip unknown",
        },
        h.boot_session_uuid.as_deref().unwrap_or("?"),
        stale_mark(h.stale, h.observed_at)
    );
    let d = &s.daemon;
    let _ = writeln!(
        o,
        "Daemon:         last check {} ({} ms), next {}, {} KiB resident, {:.2} CPU s",
        when(d.last_check_at),
        d.check_duration_ms,
        d.next_check_at
            .map(|t| when(Some(t)))
            .unwrap_or_else(|| "not scheduled (one-off check)".to_owned()),
        d.resident_memory_bytes / 1024,
        d.cpu_seconds
    );
    for err in &d.errors {
        let _ = writeln!(o, "  error: {err}");
    }
    for w in &d.config_warnings {
        let _ = writeln!(o, "  configuration warning: {w}");
    }
    text::terminal_lines(&o)
}

/// The status as JSON (dates as RFC 3339 strings in UTC, whole seconds).
pub fn to_json(v: &plist::Value) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        plist::Value::Array(a) => J::Array(a.iter().map(to_json).collect()),
        plist::Value::Dictionary(d) => {
            J::Object(d.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
        }
        plist::Value::Boolean(b) => J::Bool(*b),
        plist::Value::Date(d) => J::String(clock::from_plist_date(*d).to_string()),
        plist::Value::Real(r) => serde_json::Number::from_f64(*r)
            .map(J::Number)
            .unwrap_or(J::Null),
        plist::Value::Integer(i) => match (i.as_signed(), i.as_unsigned()) {
            (Some(s), _) => J::from(s),
            (None, Some(u)) => J::from(u),
            (None, None) => J::Null,
        },
        plist::Value::String(s) => J::String(s.clone()),
        plist::Value::Data(d) => J::Array(d.iter().map(|b| J::from(*b)).collect()),
        _ => J::Null,
    }
}

/// The one value an extension attribute reads at every path when the status is too old: a dead
/// daemon's last "Staged" or "true" must not stand in inventory for a key nobody is watching.
pub const STALE: &str = "Stale";

/// The status's age against `stale_after_hours`: `None` when it has no readable `GeneratedAt`
/// (then nothing in it can be trusted as current either).
fn stale_value(status: &plist::Value, now: Timestamp, stale_after_hours: u32) -> bool {
    let generated = status
        .as_dictionary()
        .and_then(|d| d.get("GeneratedAt"))
        .and_then(|v| v.as_date())
        .map(clock::from_plist_date);
    match generated {
        Some(g) => is_stale(g, now, stale_after_hours),
        None => true,
    }
}

/// The two dates that say when the status was written: they show how old a stale status is, so
/// they are the only values that do not read `Stale`.
const DATES_OF_THE_STATUS: [&str; 2] = ["GeneratedAt", "Daemon.LastCheckAt"];

/// The value of `KEY.PATH` for a Jamf extension attribute (without the `<result>` tags). Every
/// path reads `Stale` when the status is older than `stale_after_hours` (issue 14; before, only
/// `Healthy` did, and a dead daemon reported its last key state forever), except the dates of
/// the status itself.
pub fn ea_value(
    status: &plist::Value,
    path: &str,
    now: Timestamp,
    stale_after_hours: u32,
) -> String {
    if !DATES_OF_THE_STATUS.contains(&path) && stale_value(status, now, stale_after_hours) {
        return STALE.to_owned();
    }
    let mut cur = status;
    for part in path.split('.') {
        let next = match cur {
            plist::Value::Dictionary(d) => d.get(part),
            plist::Value::Array(a) => part.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        };
        match next {
            Some(v) => cur = v,
            None => return String::new(),
        }
    }
    render(cur)
}

/// The extension attribute's whole output, `<result>VALUE</result>`, with the value escaped for
/// XML: Jamf parses the output as XML, and free-text fields (`Escrow.Location`, a user's name)
/// may hold `&` or `<` (issue 14). On one line, and only what XML 1.0 allows: a line break or
/// another control character becomes a space, any other character XML forbids U+FFFD (issue 16,
/// item 3), so a value never breaks its tags or spans lines.
pub fn ea_result(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            c if c.is_control() => escaped.push(' '),
            c if !crate::text::xml_char(c) => escaped.push('\u{FFFD}'),
            c => escaped.push(c),
        }
    }
    format!("<result>{escaped}</result>")
}

/// `status --json`: the status with, first, whether it is stale and the threshold it was judged
/// by, so a script reading it cannot miss that the daemon stopped (issue 14).
pub fn status_json(
    status: &plist::Value,
    now: Timestamp,
    stale_after_hours: u32,
) -> serde_json::Value {
    let mut top = serde_json::Map::new();
    top.insert(
        "Stale".into(),
        serde_json::Value::Bool(stale_value(status, now, stale_after_hours)),
    );
    top.insert(
        "StaleAfterHours".into(),
        serde_json::Value::from(stale_after_hours),
    );
    match to_json(status) {
        serde_json::Value::Object(fields) => top.extend(fields),
        other => {
            top.insert("Status".into(), other);
        }
    }
    serde_json::Value::Object(top)
}

fn render(v: &plist::Value) -> String {
    match v {
        plist::Value::String(s) => s.clone(),
        plist::Value::Boolean(b) => b.to_string(),
        plist::Value::Date(d) => clock::ea_format(clock::from_plist_date(*d)),
        plist::Value::Integer(i) => i.to_string(),
        plist::Value::Real(r) => r.to_string(),
        plist::Value::Array(a) => a.iter().map(render).collect::<Vec<_>>().join(", "),
        plist::Value::Dictionary(d) => d
            .iter()
            .map(|(k, v)| format!("{k}={}", render(v)))
            .collect::<Vec<_>>()
            .join("; "),
        plist::Value::Data(d) => format!("<{} bytes>", d.len()),
        _ => String::new(),
    }
}

/// The readable table of `keywarden audit`: time (UTC), what, result, console user, caller,
/// detail; `-` for an empty field.
pub fn audit_table(events: &[Event]) -> String {
    let header = [
        "TIME (UTC)",
        "WHAT",
        "RESULT",
        "CONSOLE USER",
        "CALLER",
        "DETAIL",
    ];
    let rows: Vec<[String; 6]> = events
        .iter()
        .map(|e| {
            [
                clock::ea_format(e.at),
                e.what.name().to_owned(),
                text::terminal(&e.result),
                e.console_user
                    .as_deref()
                    .map_or("-".to_owned(), text::terminal),
                text::terminal(&e.caller),
                e.detail.as_deref().map_or("-".to_owned(), text::terminal),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row.iter()) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut push_row = |cells: [&str; 6]| {
        let mut line = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i == cells.len() - 1 {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                let pad = widths[i] - cell.chars().count() + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    };
    push_row(header);
    for row in &rows {
        push_row([
            row[0].as_str(),
            row[1].as_str(),
            row[2].as_str(),
            row[3].as_str(),
            row[4].as_str(),
            row[5].as_str(),
        ]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use plist::{Dictionary, Value};

    fn status_value(generated: &str) -> Value {
        let ts: Timestamp = generated.parse().unwrap();
        let mut user = Dictionary::new();
        user.insert("Name".into(), Value::String("alice".into()));
        user.insert("UID".into(), Value::Integer(501.into()));
        let mut st = Dictionary::new();
        st.insert("Users".into(), Value::Array(vec![Value::Dictionary(user)]));
        st.insert(
            "UsersWithoutToken".into(),
            Value::Array(vec![
                Value::String("bob".into()),
                Value::String("carol".into()),
            ]),
        );
        let mut d = Dictionary::new();
        d.insert("GeneratedAt".into(), Value::Date(clock::to_plist_date(ts)));
        d.insert("Healthy".into(), Value::Boolean(true));
        d.insert("SecureToken".into(), Value::Dictionary(st));
        let mut dm = Dictionary::new();
        dm.insert("CPUSeconds".into(), Value::Real(0.25));
        d.insert("Daemon".into(), Value::Dictionary(dm));
        Value::Dictionary(d)
    }

    fn now() -> Timestamp {
        "2026-11-22T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn extension_attributes_render_each_type_as_jamf_expects() {
        let v = status_value("2026-11-22T11:00:00Z");
        assert_eq!(ea_value(&v, "Healthy", now(), 48), "true");
        assert_eq!(
            ea_value(&v, "GeneratedAt", now(), 48),
            "2026-11-22 11:00:00"
        );
        assert_eq!(ea_value(&v, "SecureToken.Users.0.Name", now(), 48), "alice");
        assert_eq!(ea_value(&v, "SecureToken.Users.0.UID", now(), 48), "501");
        assert_eq!(
            ea_value(&v, "SecureToken.UsersWithoutToken", now(), 48),
            "bob, carol"
        );
        assert_eq!(ea_value(&v, "Daemon.CPUSeconds", now(), 48), "0.25");
        assert_eq!(ea_value(&v, "SecureToken.Users.7.Name", now(), 48), "");
        assert_eq!(ea_value(&v, "No.Such.Key", now(), 48), "");
    }

    #[test]
    fn an_old_status_reads_stale_at_every_path_but_its_date_issue_14() {
        let v = status_value("2026-11-20T11:59:59Z");
        for path in [
            "Healthy",
            "SecureToken.Users.0.Name",
            "Daemon.CPUSeconds",
            "No.Such.Key",
        ] {
            assert_eq!(ea_value(&v, path, now(), 48), "Stale", "{path}");
        }
        assert_eq!(
            ea_value(&v, "GeneratedAt", now(), 48),
            "2026-11-20 11:59:59"
        );
        assert_eq!(ea_value(&v, "Healthy", now(), 49), "true");
    }

    #[test]
    fn a_status_dated_more_than_an_hour_in_the_future_reads_stale() {
        let future = status_value("2026-11-22T13:30:00Z");
        assert_eq!(ea_value(&future, "Healthy", now(), 48), "Stale");
        assert_eq!(status_json(&future, now(), 48)["Stale"], true);
        let drift = status_value("2026-11-22T12:30:00Z");
        assert_eq!(ea_value(&drift, "Healthy", now(), 48), "true");
    }

    #[test]
    fn a_status_without_a_date_reads_stale() {
        let mut v = status_value("2026-11-22T11:00:00Z");
        v.as_dictionary_mut().unwrap().remove("GeneratedAt");
        assert_eq!(ea_value(&v, "Healthy", now(), 48), "Stale");
        assert_eq!(ea_value(&v, "SecureToken.Users.0.Name", now(), 48), "Stale");
    }

    #[test]
    fn extension_attribute_values_are_escaped_for_jamfs_xml_issue_14() {
        assert_eq!(
            ea_result("Acme & Sons <IT> escrow"),
            "<result>Acme &amp; Sons &lt;IT&gt; escrow</result>"
        );
        assert_eq!(ea_result(""), "<result></result>");
    }

    #[test]
    fn an_extension_attribute_value_is_one_line_of_xml_whatever_it_holds_issue_16() {
        for c in crate::text::EVERY_CLASS {
            let shown = ea_result(&format!("a{c}b<&>"));
            assert!(
                shown.starts_with("<result>") && shown.ends_with("</result>"),
                "{c:?}: {shown:?}"
            );
            assert_eq!(shown.lines().count(), 1, "{c:?}: {shown:?}");
            assert!(shown.chars().all(crate::text::xml_char), "{c:?}: {shown:?}");
            assert!(!shown.chars().any(char::is_control), "{c:?}: {shown:?}");
            assert!(
                shown.contains("a") && shown.contains("b&lt;&amp;&gt;"),
                "{shown:?}"
            );
        }
        assert_eq!(
            ea_result("x\u{1f600}\u{e000}"),
            "<result>x\u{1f600}\u{e000}</result>"
        );
    }

    #[test]
    fn status_json_says_first_whether_the_status_is_stale_issue_14() {
        let old = status_json(&status_value("2026-11-20T11:59:59Z"), now(), 48);
        let keys: Vec<&String> = old.as_object().unwrap().keys().collect();
        assert_eq!(keys[..2], ["Stale", "StaleAfterHours"]);
        assert_eq!(old["Stale"], true);
        assert_eq!(old["StaleAfterHours"], 48);
        assert_eq!(old["Healthy"], true, "the values themselves are kept");
        let fresh = status_json(&status_value("2026-11-22T11:00:00Z"), now(), 48);
        assert_eq!(fresh["Stale"], false);
    }

    /// Issue 16, item 4: one rule (`is_stale`, `stale_warning`) for every reader, with the clock
    /// stepped back and forward by a day and by fifty years after the status was written. Before,
    /// `status` and `doctor` told a status from the future it was "older than 48 hours".
    #[test]
    fn issue_16_every_reader_calls_a_status_from_the_future_stale_and_says_why() {
        let mut s = Status::from_bytes(include_bytes!("../../tests/golden/healthy.plist")).unwrap();
        s.generated_at = now();
        let v = status_value(&now().to_string());
        let wants = [
            (true, "after the present"),
            (true, "after the present"),
            (false, ""),
            (true, "older than 48 hours"),
        ];
        for ((step, by), (stale, said)) in crate::clock::STEPS.iter().zip(wants) {
            let at = now() + *by;
            let ea = ea_value(&v, "Healthy", at, 48);
            assert_eq!(ea == STALE, stale, "ea, clock {step}: {ea}");
            assert_eq!(
                status_json(&v, at, 48)["Stale"],
                stale,
                "--json, clock {step}"
            );
            let t = table(&s, at, 48);
            assert_eq!(t.contains("WARNING"), stale, "status, clock {step}: {t}");
            assert!(t.contains(said), "status, clock {step}: {t}");
            let warning = stale_warning(now(), at, 48).unwrap_or_default();
            assert!(warning.contains(said), "clock {step}: {warning}");
        }
    }

    #[test]
    fn a_pending_rotation_in_report_mode_reads_as_what_it_would_do_not_as_a_request_issue_14() {
        let mut s = Status::from_bytes(include_bytes!("../../tests/golden/healthy.plist")).unwrap();
        s.rotation.state = RotationStateName::Pending;
        s.rotation.reason = Some(crate::status::Reason::KeyUsed);
        s.rotation.method = Some(crate::config::RotationMethod::EscrowBuddy);
        s.rotation.waiting = Some("RotationMode is Report: nothing is requested".into());
        let t = table(&s, s.generated_at, 48);
        assert!(
            t.contains("Rotation:       Pending (KeyUsed), would use EscrowBuddy\n                waiting: RotationMode is Report: nothing is requested\n"),
            "{t}"
        );
        s.rotation.state = RotationStateName::Requested;
        s.rotation.waiting = None;
        let t = table(&s, s.generated_at, 48);
        assert!(
            t.contains("Rotation:       Requested (KeyUsed) via EscrowBuddy\n"),
            "{t}"
        );
    }

    #[test]
    fn json_dates_are_rfc3339_strings() {
        let v = status_value("2026-11-22T11:00:00Z");
        let j = to_json(&v);
        assert_eq!(j["GeneratedAt"], "2026-11-22T11:00:00Z");
        assert_eq!(j["SecureToken"]["Users"][0]["UID"], 501);
    }

    fn ev(at: &str, what: crate::audit::What, result: &str) -> Event {
        Event::new(at.parse().unwrap(), what, result)
    }

    #[test]
    fn the_table_has_a_header_a_row_per_event_and_dashes_for_empty_fields() {
        let events = vec![
            Event {
                caller: "alice".into(),
                ..ev(
                    "2026-11-22T10:00:00Z",
                    crate::audit::What::ValidationStarted,
                    "Started",
                )
                .console(Some("alice"))
            },
            Event {
                caller: "daemon".into(),
                ..ev(
                    "2026-11-22T10:00:01Z",
                    crate::audit::What::RotationRequested,
                    "KeyUsed via EscrowBuddy",
                )
                .detail("bell\x07")
            },
        ];
        let text = audit_table(&events);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("TIME (UTC)           WHAT"), "{text}");
        assert!(
            lines[1].starts_with("2026-11-22 10:00:00  ValidationStarted  Started"),
            "{text}"
        );
        assert!(lines[1].ends_with("alice         alice   -"), "{text}");
        assert!(lines[2].contains("  -             daemon  bell?"), "{text}");
    }
}
