//! The audit trail's rotation (`audit::append` past `MAX_AUDIT_BYTES`): the fuzz input is the
//! oldest part of a trail, followed by enough filler lines to pass the bound, so the append
//! that follows folds the input into a `Carried` line.
//!
//! Input: `[what] [at: 4 bytes] [the oldest lines]`.
//! Invariants: no panic; the rotated file is within the bound; the validation caps read the same
//! from the rotated file as from the whole history (the module's promise: "a rotation cannot
//! change the counts"), as long as the counts are far from saturating and the last week holds
//! fewer attempts than a `Carried` line keeps.

#![no_main]

use keywarden::audit::{self, parse, validation_counts, Event, What, MAX_AUDIT_BYTES};
use keywarden::files::Owners;
use keywarden::paths::AUDIT;
use keywarden_fuzz::{now, private_root, put_file, Bytes};
use libfuzzer_sys::fuzz_target;

/// A line of 96 KiB that counts for nothing: not JSON from its first byte, so the reader skips
/// it at once (JSON events would make every run parse a megabyte).
fn filler() -> Vec<u8> {
    let mut line = vec![b'x'; 96 * 1024];
    line[0] = b'#';
    line.push(b'\n');
    line
}

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes::new(data);
    let what = match b.byte() % 4 {
        0 => What::ValidationStarted,
        1 => What::Validated,
        2 => What::RotateWithKeyStarted,
        _ => What::UseDetected,
    };
    let at = now(&mut b);
    let old = b.rest();
    if old.len() > 64 * 1024 {
        return;
    }
    let mut trail = old.to_vec();
    if !trail.is_empty() && trail.last() != Some(&b'\n') {
        trail.push(b'\n');
    }
    let line = filler();
    while (trail.len() as u64) < MAX_AUDIT_BYTES {
        trail.extend_from_slice(&line);
    }
    let root = private_root();
    put_file(root, AUDIT, &trail, 0o600, 0o700);

    let event = Event::new(at, what, "Invalid");
    let mut history = parse(&trail).events;
    history.push(event.clone());
    let before = validation_counts(&history, at);

    audit::append(root, Owners::current(), &event).expect("the append succeeds");
    let after_bytes = std::fs::read(root.resolve(AUDIT)).expect("the trail reads");
    assert!(
        after_bytes.len() as u64 <= MAX_AUDIT_BYTES,
        "{} bytes after a rotation",
        after_bytes.len()
    );
    let rotated = parse(&after_bytes);
    // The input is all folded (the filler after it is more than the half that is kept): the
    // only unreadable lines left are filler.
    for s in &rotated.skipped {
        assert_eq!(
            s.why, "not JSON (column 1)",
            "an unreadable line after a rotation: {s:?}"
        );
    }
    assert_eq!(
        rotated.events.first().map(|e| e.what),
        Some(What::Carried),
        "no Carried line first"
    );
    let after = validation_counts(&rotated.events, at);

    let far = |n: u32| n >= u32::MAX / 4;
    if far(before.validations_ever) || far(before.failures_ever) {
        return;
    }
    assert_eq!(
        before.validations_ever, after.validations_ever,
        "attempts changed by a rotation"
    );
    assert_eq!(
        before.failures_ever, after.failures_ever,
        "failures changed by a rotation"
    );
    // A `Carried` line keeps at most 256 attempt times of the last week: compare today's count
    // only when the history holds fewer times than that, wherever they fall.
    let times: usize = history
        .iter()
        .map(|e| 1 + e.carried.as_ref().map_or(0, |c| c.recent.len() + 1))
        .sum();
    if times < 200 {
        assert_eq!(
            before.today, after.today,
            "today's attempts changed by a rotation"
        );
    }
});
