//! `tools::sysadminctl::parse_secure_token_status` and the NSLog-prefix rule it shares with
//! `defaults` (`strip_nslog_prefix`, run on every line).

#![no_main]

use keywarden::runner::Exit;
use keywarden::tools::sysadminctl::{parse_secure_token_status, strip_nslog_prefix};
use keywarden_fuzz::{output, parse_checked, Bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let out = output(&mut Bytes::new(data));
    let r = parse_checked(
        "sysadminctl -secureTokenStatus",
        parse_secure_token_status,
        &out,
    );
    if let Ok(enabled) = r {
        assert!(matches!(out.exit, Exit::Code(_)));
        let both = [&out.stderr, &out.stdout].map(|s| String::from_utf8_lossy(s).into_owned());
        let word = if enabled {
            "Secure token is ENABLED"
        } else {
            "Secure token is DISABLED"
        };
        assert!(
            both.iter().any(|s| s.contains(word)),
            "{enabled} without {word:?}"
        );
    }
    for stream in [&out.stderr, &out.stdout] {
        for line in String::from_utf8_lossy(stream).lines() {
            if let Some(l) = strip_nslog_prefix(line) {
                assert!(!l.process.is_empty() && !l.process.contains(char::is_whitespace));
                assert!(
                    line.trim_end().ends_with(l.message),
                    "the message is not the line's end"
                );
                assert!(line.len() >= 24 + l.process.len() + l.message.len());
            }
        }
    }
});
