//! Text from outside (tool output, preference values, hand-edited audit lines) made safe to show:
//! one printable line, bounded in length. Every message that quotes such text quotes it through
//! here, so the rule for what may reach a status, a log line or a terminal lives once.
//!
//! It knows no formats and decides nothing; it only shortens and escapes.

/// How long an excerpt of unrecognised output may be, in characters.
pub const EXCERPT_CHARS: usize = 160;

/// A short, single-line, printable excerpt of tool output for an error message: invalid UTF-8
/// replaced, control characters escaped, newlines shown as `⏎`, cut at `EXCERPT_CHARS`
/// characters of what is shown (an escape counts for its length: found by `make fuzz`, issue 6).
pub(crate) fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
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
}
