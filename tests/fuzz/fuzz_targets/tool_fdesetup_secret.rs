//! `tools::fdesetup`'s secret parsers (`parse_validaterecovery`, `parse_changerecovery`) over a
//! `SecretOutput` in which a known key may be planted: no byte run of the key longer than four
//! (a group and its dash) ever shows in the result, its `Display` or the wrapping errors.
//!
//! Input: `[parser] [plant] [output layout of lib.rs]`. `plant` bit 0 plants, bits 1-2 pick the
//! line that carries the key, bit 3 the stream, the rest where in the stream (in 32nds).

#![no_main]

use keywarden::runner::Exit;
use keywarden::tools::fdesetup::{
    parse_changerecovery, parse_validaterecovery, SecretCommandError, SecretToolError, Validation,
};
use keywarden_fuzz::{parts, secret_output, Bytes};
use libfuzzer_sys::fuzz_target;

/// Made up; no group of it occurs in any fixed wording of the parsers.
const KEY: &str = "Q7ZX-W3VJ-K9PL-M2RT-H8YB-N4DF";

fn lines_with_key(pick: u8) -> String {
    match pick % 4 {
        0 => format!("New personal recovery key = '{KEY}'\n"),
        1 => format!("{KEY}\n"),
        2 => format!("Error: Unable to change key. {KEY}\n"),
        _ => format!("fdesetup: {KEY}\n"),
    }
}

/// No five consecutive bytes of the key appear in `shown`.
fn assert_no_key(shown: &str) {
    for w in KEY.as_bytes().windows(5) {
        let w = std::str::from_utf8(w).expect("ASCII");
        assert!(
            !shown.contains(w),
            "{w:?} of the planted key shows in {shown:?}"
        );
    }
}

fn plant(stream: &mut Vec<u8>, at_32nds: u8, line: &str) {
    let mut at = stream.len() * usize::from(at_32nds) / 32;
    // At a line start, so that the planted line is a line of its own.
    while at > 0 && stream[at - 1] != b'\n' {
        at -= 1;
    }
    stream.splice(at..at, line.bytes());
}

fn check_error(e: &SecretToolError, exit: Exit) {
    match (e, exit) {
        (SecretToolError::Killed(s), Exit::Signal(t)) => assert_eq!(*s, t),
        (SecretToolError::Killed(_), Exit::Code(_)) => panic!("Killed for an exit code"),
        (_, Exit::Signal(_)) => panic!("{e:?} for a signal"),
        (SecretToolError::Unrecognised(c), Exit::Code(d)) => assert_eq!(*c, d),
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes::new(data);
    let which = b.byte() % 2;
    let p = b.byte();
    let parts = parts(&mut b);
    let (mut stdout, mut stderr) = (parts.stdout.to_vec(), parts.stderr.to_vec());
    let planted = p & 1 != 0;
    if planted {
        let line = lines_with_key(p >> 1);
        let stream = if p & 8 != 0 { &mut stderr } else { &mut stdout };
        plant(stream, p >> 4 << 1, &line);
    }
    // A key on a line that is not one of fdesetup's verbose lines (those are skipped).
    let any_key = |s: &[u8]| {
        s.split(|b| *b == b'\n').any(|l| {
            !l.trim_ascii().starts_with(b"fdesetup: ")
                && l.windows(KEY.len()).any(|w| w == KEY.as_bytes())
        })
    };
    let carries_key = any_key(&stdout) || any_key(&stderr);
    let text = |s: &[u8]| String::from_utf8_lossy(s).into_owned();
    let (out_text, err_text) = (text(&stdout), text(&stderr));
    let out = secret_output(parts.exit, parts.truncated, stdout, stderr);
    assert_no_key(&format!("{out:?}"));

    if which == 0 {
        let r = parse_validaterecovery(&out);
        assert_eq!(r, parse_validaterecovery(&out), "not a pure function");
        assert_no_key(&format!("{r:?}"));
        match r {
            Ok(v) => {
                assert!(!out.truncated, "an answer read from a cut-off output");
                match v {
                    Validation::Valid => {
                        assert_eq!(out.exit, Exit::Code(0));
                        assert!(out_text.contains("true") || err_text.contains("true"));
                    }
                    Validation::Invalid => {
                        assert!(matches!(out.exit, Exit::Code(_)));
                        assert!(out_text.contains("false") || err_text.contains("false"));
                    }
                }
                // A line with a key is never an answer.
                assert!(!carries_key, "{v:?} with a key in the output");
            }
            Err(e) => {
                check_error(&e, out.exit);
                assert_no_key(&e.to_string());
                assert_no_key(
                    &SecretCommandError::Tool {
                        command: "validaterecovery",
                        code: e,
                    }
                    .to_string(),
                );
            }
        }
    } else {
        let r = parse_changerecovery(&out);
        assert_eq!(r, parse_changerecovery(&out), "not a pure function");
        assert_no_key(&format!("{r:?}"));
        match r {
            Ok(()) => {
                assert!(!out.truncated, "a success read from a cut-off output");
                assert_eq!(out.exit, Exit::Code(0));
                let needle = "New personal recovery key = '";
                assert!(out_text.contains(needle) || err_text.contains(needle));
            }
            Err(e) => {
                check_error(&e, out.exit);
                assert_no_key(&e.to_string());
                assert_no_key(
                    &SecretCommandError::Tool {
                        command: "changerecovery",
                        code: e,
                    }
                    .to_string(),
                );
            }
        }
    }
});
