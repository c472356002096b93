//! `audit::parse` over arbitrary trail bytes, then what is computed from a trail: the validation
//! counts behind the caps, `daily_cap_frees_at`, and the `keywarden audit` table.
//!
//! Input: `[now: 4 bytes] [the trail]`.
//! Invariants: no panic; every non-blank line is an event or a skipped line, in order; the reason
//! for a skipped line never quotes it; an event re-serialises to one line that parses back to an
//! event with the same line (a fixed point); the counts are consistent; the table has one line
//! per event and no control character.

#![no_main]

use keywarden::audit::{parse, validation_counts};
use keywarden::report::audit_table;
use keywarden_fuzz::{now, Bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes::new(data);
    let now = now(&mut b);
    let bytes = b.rest();
    let trail = parse(bytes);

    let lines: Vec<&[u8]> = bytes.split(|c| *c == b'\n').collect();
    let non_blank = lines
        .iter()
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .count();
    assert_eq!(trail.events.len() + trail.skipped.len(), non_blank);
    let mut last = 0;
    for s in &trail.skipped {
        assert!(
            s.line > last && s.line <= lines.len(),
            "line {} after {last}",
            s.line
        );
        last = s.line;
        let (kind, rest) = s
            .why
            .split_once(" (column ")
            .unwrap_or_else(|| panic!("unexpected reason {:?}", s.why));
        assert!(
            kind == "not JSON" || kind == "a JSON object that is not an event",
            "{:?}",
            s.why
        );
        let col = rest
            .strip_suffix(')')
            .unwrap_or_else(|| panic!("{:?}", s.why));
        assert!(col.bytes().all(|c| c.is_ascii_digit()), "{:?}", s.why);
    }

    for e in &trail.events {
        let line = e.to_line();
        assert_eq!(line.iter().filter(|c| **c == b'\n').count(), 1);
        assert_eq!(line.last(), Some(&b'\n'));
        let back = parse(&line);
        assert!(
            back.skipped.is_empty(),
            "a written event does not read back: {}",
            String::from_utf8_lossy(&line)
        );
        assert_eq!(back.events.len(), 1);
        assert_eq!(
            back.events[0].to_line(),
            line,
            "re-serialising is not a fixed point"
        );
    }

    let counts = validation_counts(&trail.events, now);
    assert_eq!(counts.today as usize, counts.today_attempts.len());
    assert!(counts.today_attempts.windows(2).all(|w| w[0] <= w[1]));
    for cap in 0..=11 {
        if let Some(at) = counts.daily_cap_frees_at(cap) {
            assert!(cap > 0 && counts.today_attempts.len() >= cap as usize);
            assert!(at >= counts.today_attempts[0]);
        }
    }

    let shown = audit_table(&trail.events);
    assert_eq!(shown.lines().count(), trail.events.len() + 1);
    assert!(
        !shown.chars().any(|c| c.is_control() && c != '\n'),
        "a control character in the table"
    );
});
