//! `tools::profiles`'s parsers (`parse_bootstrap_token`, `parse_computer_profiles`), chosen by the
//! first byte.

#![no_main]

use keywarden::runner::Exit;
use keywarden::tools::profiles::{parse_bootstrap_token, parse_computer_profiles};
use keywarden_fuzz::{output, parse_checked, Bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes::new(data);
    let which = b.byte() % 2;
    let out = output(&mut b);
    if which == 0 {
        if let Ok(t) = parse_checked(
            "profiles status -type bootstraptoken",
            parse_bootstrap_token,
            &out,
        ) {
            assert!(matches!(out.exit, Exit::Code(_)));
            // Supported needs an escrowed line; the answer is never half known.
            if t.supported {
                assert!(t.escrowed.is_some());
            }
        }
    } else if let Ok(profiles) =
        parse_checked("profiles -C -o stdout-xml", parse_computer_profiles, &out)
    {
        assert!(out.exit.success());
        for p in &profiles.installed {
            // Dates are kept as read; any one shown must format.
            if let Some(d) = p.install_date {
                let _ = keywarden::clock::ea_format(d);
            }
        }
        // An unreadable profile is named in one printable line (it reaches the status and log).
        for u in &profiles.unreadable {
            assert!(!u.name.contains(['\n', '\r']), "{:?}", u.name);
            assert!(u.name.chars().count() <= 81, "{:?}", u.name);
        }
    }
});
