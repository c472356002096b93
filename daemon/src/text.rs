//! Text from outside (tool output, preference values, hand-edited audit lines) made safe to show:
//! one printable line, bounded in length. Every message that quotes such text quotes it through
//! here, so the rule for what may reach a status, a log line or a terminal lives once.
//!
//! It decides nothing; it only shortens, escapes and removes any text with a recovery key's shape
//! (`scrub_keys`: the one rule, which the selftest's bundle uses too). The one format it knows is
//! JSON's string escapes (`json_line`), so that the JSON the log and the audit trail write keeps
//! this rule too.

/// How long an excerpt of unrecognised output may be, in characters.
pub const EXCERPT_CHARS: usize = 160;

/// A short, single-line, printable excerpt of tool output for an error message: any recovery-key-
/// shaped text removed (it reaches the status, the log and a terminal), invalid UTF-8 replaced,
/// control characters escaped, newlines shown as `⏎`, cut at `EXCERPT_CHARS`
/// characters of what is shown (an escape counts for its length: found by `make fuzz`, issue 6).
pub(crate) fn excerpt(bytes: &[u8]) -> String {
    // Before the newlines become `⏎`: a key a tool wrapped over two lines is still found.
    let scrubbed = scrub_keys(bytes).0;
    let text = String::from_utf8_lossy(&scrubbed);
    let text = text.trim();
    if text.is_empty() {
        return "(no output)".to_owned();
    }
    printable(text, EXCERPT_CHARS)
}

/// `text` on one printable line (as `excerpt` shows it), cut with `…` after `max` characters.
pub fn printable(text: &str, max: usize) -> String {
    let mut out = String::new();
    let mut shown = 0;
    for c in text.chars() {
        let escaped = c.is_control() && c != '\n' && c != '\t';
        let len = if escaped {
            c.escape_default().count()
        } else {
            1
        };
        if shown + len > max {
            out.push('…');
            break;
        }
        shown += len;
        match c {
            '\n' => out.push('⏎'),
            '\t' => out.push(' '),
            c if escaped => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    out
}

/// `s` cut with `…` after `max` characters (nothing escaped: for fields a format escapes itself,
/// such as the audit trail's JSON strings).
pub(crate) fn bounded(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_owned(),
        Some((cut, _)) => {
            let mut out = s[..cut].to_owned();
            out.push('…');
            out
        }
    }
}

/// Safe for a terminal table cell: control characters (which a hand-edited line could carry)
/// shown as `?`, so no escape sequence reaches the terminal.
pub(crate) fn terminal(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// A whole report for a terminal: its own line breaks kept, every other control character (from
/// a profile's name, an MDM's `Location`, a user record) shown as `?`.
pub(crate) fn terminal_lines(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() && c != '\n' { '?' } else { c })
        .collect()
}

/// `value` as one line of compact JSON, ending in `\n`, in which no control character and no
/// line or paragraph separator appears as itself. serde_json escapes the C0 controls (a newline
/// is `\n`); this also escapes DEL, the C1 controls (U+0080..U+009F: U+009B is a terminal's CSI)
/// and U+2028/U+2029 (line breaks to JavaScript), as `\u00XX`, so a log or audit line shown by
/// `tail` or `jq -c` cannot move the terminal or split (issue 15). The value read back is the
/// same.
pub fn json_line<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, serde_json::Error> {
    let mut out = Vec::new();
    value.serialize(&mut serde_json::Serializer::with_formatter(
        &mut out,
        OneLineFormatter,
    ))?;
    out.push(b'\n');
    // serde_json writes UTF-8, and the escapes below are ASCII.
    Ok(String::from_utf8(out).expect("serde_json writes UTF-8"))
}

/// serde_json's compact format, with the escapes `json_line` adds.
struct OneLineFormatter;

impl serde_json::ser::Formatter for OneLineFormatter {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
                writer.write_all(&fragment.as_bytes()[start..i])?;
                write!(writer, "\\u{:04x}", u32::from(c))?;
                start = i + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }
}

/// A character XML 1.0 allows in a document (its `Char` production: tab, newline, carriage
/// return, U+0020..U+D7FF, U+E000..U+FFFD, U+10000 and above). Any other, a vertical tab in a
/// preference value or a U+FFFE in a tool's output, makes the whole plist unreadable to every
/// reader (issue 16, item 3).
pub fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// One character of every class a string can hold that XML or a terminal line refuses, and
/// some it allows: what the writers' unit and integration tests feed through (issue 16, item 3).
#[doc(hidden)]
pub const EVERY_CLASS: [char; 14] = [
    '\u{1}',
    '\u{b}',
    '\u{1b}',
    '\t',
    '\n',
    '\r',
    '\u{7f}',
    '\u{85}',
    '\u{9b}',
    '\u{2028}',
    '\u{fffe}',
    '\u{ffff}',
    '\u{e000}',
    '\u{1f600}',
];

/// `s` with every character XML 1.0 does not allow replaced by U+FFFD.
pub(crate) fn xml_safe(s: &str) -> std::borrow::Cow<'_, str> {
    if s.chars().all(xml_char) {
        std::borrow::Cow::Borrowed(s)
    } else {
        std::borrow::Cow::Owned(
            s.chars()
                .map(|c| if xml_char(c) { c } else { '\u{FFFD}' })
                .collect(),
        )
    }
}

/// What `scrub_keys` puts where it removed a key.
pub const KEY_REMOVED: &str = "[recovery-key-shaped text removed]";

/// Replaces every text with a recovery key's shape and says how many it replaced: six groups of
/// four letters or digits (either case) joined by dashes (`secret::RecoveryKey`'s rule), and not
/// followed by a letter or digit. Nothing before it hides it (`--KEY`, `xKEY`), nor a dash after
/// it, nor a line break or spaces around a dash (a tool or a terminal that wrapped the key:
/// `ABCD-EFGH-\nJKLM-...`). GeneratedUIDs and boot session UUIDs (8-4-4-4-12) never match: their
/// last group is longer than four.
pub(crate) fn scrub_keys(bytes: &[u8]) -> (Vec<u8>, usize) {
    const WITH: &[u8] = KEY_REMOVED.as_bytes();
    let alnum = |i: usize| bytes.get(i).is_some_and(u8::is_ascii_alphanumeric);
    let space = |i: usize| bytes.get(i).is_some_and(u8::is_ascii_whitespace);
    // The end of a key starting at `start`, if one does.
    let key_at = |start: usize| -> Option<usize> {
        let mut i = start;
        for group in 0..6 {
            if group > 0 {
                while space(i) {
                    i += 1;
                }
                if bytes.get(i) != Some(&b'-') {
                    return None;
                }
                i += 1;
                while space(i) {
                    i += 1;
                }
            }
            if !(i..i + 4).all(alnum) {
                return None;
            }
            i += 4;
        }
        (!alnum(i)).then_some(i)
    };
    let mut out = Vec::with_capacity(bytes.len());
    let mut n = 0;
    let mut i = 0;
    while i < bytes.len() {
        if let Some(end) = key_at(i) {
            out.extend_from_slice(WITH);
            n += 1;
            i = end;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    (out, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_excerpt_is_one_printable_line_of_bounded_length() {
        let e = excerpt(b"line one\nline\ttwo\x07\xff");
        assert_eq!(e, "line one⏎line two\\u{7}\u{fffd}");
        let long = "x".repeat(1000);
        assert_eq!(excerpt(long.as_bytes()).chars().count(), EXCERPT_CHARS + 1);
        assert_eq!(excerpt(b"  \n"), "(no output)");
    }

    /// Escapes are longer than the character they show; the cut counts what is shown, so an
    /// output of control characters cannot make an excerpt six times as long (issue 6).
    #[test]
    fn fuzz_found_an_excerpt_of_control_characters_longer_than_the_limit() {
        let bells = vec![0x07u8; 1000];
        let e = excerpt(&bells);
        assert!(
            e.chars().count() <= EXCERPT_CHARS + 1,
            "{} characters",
            e.chars().count()
        );
        assert!(e.starts_with("\\u{7}") && e.ends_with('…'));
    }

    #[test]
    fn a_bounded_field_is_cut_with_an_ellipsis_after_its_limit() {
        assert_eq!(bounded("abc", 3), "abc");
        assert_eq!(bounded("abcd", 3), "abc…");
        assert_eq!(bounded("äöüß", 2), "äö…");
    }

    #[test]
    fn a_terminal_cell_never_carries_a_control_character() {
        assert_eq!(terminal("a\x1b[31mb\nc"), "a?[31mb?c");
    }

    #[test]
    fn a_json_line_escapes_every_control_character_and_line_separator_and_reads_back_the_same() {
        let value = "a\nb\r\u{1b}[2J\u{7f}\u{9b}31m\u{2028}\u{2029}\t\"\\ é ✓";
        let line = json_line(&serde_json::json!({ "v": value })).unwrap();
        assert!(line.ends_with('\n'));
        let body = &line[..line.len() - 1];
        assert!(
            !body
                .chars()
                .any(|c| c.is_control() || c == '\u{2028}' || c == '\u{2029}'),
            "{body:?}"
        );
        assert!(body.contains("\\u007f") && body.contains("\\u009b") && body.contains("\\u2028"));
        let back: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(back["v"], value);
        // Plain text is written as compactly as serde_json writes it.
        assert_eq!(
            json_line(&serde_json::json!({ "a": [1, true, "x y"] })).unwrap(),
            "{\"a\":[1,true,\"x y\"]}\n"
        );
    }

    #[test]
    fn a_key_next_to_a_dash_or_wrapped_across_lines_is_removed_issue_15() {
        for (input, want) in [
            (
                "--ABCD-EFGH-JKLM-NPQR-STUV-WXYZ",
                "--[recovery-key-shaped text removed]",
            ),
            (
                "ABCD-EFGH-JKLM-NPQR-STUV-WXYZ-",
                "[recovery-key-shaped text removed]-",
            ),
            (
                "k=abcd-efgh-jklm-npqr-stuv-wxyz.",
                "k=[recovery-key-shaped text removed].",
            ),
            (
                "ABCD-EFGH-JKLM-\nNPQR-STUV-WXYZ\n",
                "[recovery-key-shaped text removed]\n",
            ),
            (
                "ABCD-EFGH-JKLM\r\n -NPQR-STUV-WXYZ",
                "[recovery-key-shaped text removed]",
            ),
            (
                "<string>ABCD-EFGH-JKLM-NPQR-STUV-WXYZ</string>",
                "<string>[recovery-key-shaped text removed]</string>",
            ),
            (
                "xABCD-EFGH-JKLM-NPQR-STUV-WXYZ",
                "x[recovery-key-shaped text removed]",
            ),
            (
                "3C7DB8EE-5EA4-4C18-A7E4-25C6C0F94667",
                "3C7DB8EE-5EA4-4C18-A7E4-25C6C0F94667",
            ),
        ] {
            let (out, _) = scrub_keys(input.as_bytes());
            assert_eq!(String::from_utf8(out).unwrap(), want, "{input:?}");
        }
    }

    #[test]
    fn a_recovery_key_shaped_text_is_removed_and_uuids_are_kept() {
        let (out, n) = scrub_keys(
            b"key ABCD-EFGH-JKLM-NPQR-STUV-WXYZ; uuid 3C7DB8EE-5EA4-4C18-A7E4-25C6C0F94667",
        );
        assert_eq!(n, 1);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "key [recovery-key-shaped text removed]; uuid 3C7DB8EE-5EA4-4C18-A7E4-25C6C0F94667"
        );
    }
    #[test]
    fn an_excerpt_never_shows_a_key_even_one_wrapped_over_two_lines_issue_15() {
        let e = excerpt(b"oops ABCD-EFGH-JKLM-\nNPQR-STUV-WXYZ\nmore");
        assert_eq!(e, "oops [recovery-key-shaped text removed]⏎more");
    }

    proptest::proptest! {
        /// Whatever surrounds it, and however a tool or terminal wrapped it (spaces or a line
        /// break around a dash, either case), a key in any text is gone after the scrub, and a
        /// text without one comes back unchanged (issue 15).
        #[test]
        fn no_key_survives_the_scrub_whatever_surrounds_or_wraps_it(
            before in "[ -~\n]{0,40}",
            // A letter or digit right after the last group makes it a longer word, not a key (a
            // UUID's last group is twelve): what follows starts with anything else.
            after in "([^A-Za-z0-9][ -~\n]{0,39})?",
            groups in proptest::collection::vec("[A-Za-z0-9]{4}", 6),
            joints in proptest::collection::vec("(-| -|- |-\n|\n-|\r\n-)", 5),
        ) {
            let mut key = groups[0].clone();
            for (g, j) in groups[1..].iter().zip(&joints) {
                key.push_str(j);
                key.push_str(g);
            }
            let text = format!("{before}{key}{after}");
            let (out, n) = scrub_keys(text.as_bytes());
            let out = String::from_utf8(out).unwrap();
            proptest::prop_assert!(n >= 1, "{text:?}");
            let dashed: String = out.chars().filter(|c| !c.is_whitespace()).collect();
            let compact_key: String = key.chars().filter(|c| !c.is_whitespace()).collect();
            proptest::prop_assert!(!dashed.contains(&compact_key), "{text:?} -> {out:?}");
            let (plain, m) = scrub_keys(before.as_bytes());
            if m == 0 {
                proptest::prop_assert_eq!(plain, before.as_bytes().to_vec());
            }
        }
    }
}
