//! `tools::fdesetup`'s public parsers (`parse_status`, `parse_showdeferralinfo`,
//! `parse_true_false`, `parse_usingrecoverykey`), chosen by the first byte.

#![no_main]

use keywarden::runner::Exit;
use keywarden::tools::fdesetup::{
    parse_showdeferralinfo, parse_status, parse_true_false, parse_usingrecoverykey, Conversion,
    UsingRecoveryKey,
};
use keywarden_fuzz::{is_blank, output, parse_checked, trimmed, Bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes::new(data);
    let which = b.byte() % 4;
    let out = output(&mut b);
    match which {
        0 => {
            if let Ok(s) = parse_checked("fdesetup status", parse_status, &out) {
                assert!(matches!(out.exit, Exit::Code(0..=2)), "{:?}", out.exit);
                assert!(is_blank(&out.stderr));
                assert!(trimmed(&out.stdout).starts_with("FileVault is O"));
                if let Some(
                    Conversion::Encrypting { percent: Some(p) }
                    | Conversion::Decrypting { percent: Some(p) },
                ) = s.conversion
                {
                    assert!((0.0..=100.0).contains(&p), "{p}");
                }
                if let Some(user) = s.deferred.and_then(|d| d.user) {
                    assert!(
                        !user.is_empty()
                            && !user.contains('\'')
                            && !user.contains(char::is_control)
                    );
                }
            }
        }
        1 => {
            if let Ok(d) = parse_checked("fdesetup showdeferralinfo", parse_showdeferralinfo, &out)
            {
                assert!(is_blank(&out.stderr));
                if d.configured {
                    assert!(out.exit.success());
                    assert!(d.output_path.as_deref() != Some(""));
                } else {
                    assert_eq!(trimmed(&out.stdout), "Not found.");
                    assert!(d.output_path.is_none());
                }
            }
        }
        2 => match parse_checked("fdesetup true/false", parse_true_false, &out) {
            Ok(true) => {
                assert_eq!(out.exit, Exit::Code(0));
                assert_eq!(trimmed(&out.stdout), "true");
            }
            Ok(false) => {
                assert!(matches!(out.exit, Exit::Code(0 | 1)));
                assert_eq!(trimmed(&out.stdout), "false");
            }
            Err(_) => {}
        },
        _ => {
            let r = parse_checked("fdesetup usingrecoverykey", parse_usingrecoverykey, &out);
            match r {
                Ok(UsingRecoveryKey::NotSupported) => assert!(matches!(out.exit, Exit::Code(_))),
                Ok(UsingRecoveryKey::Yes) => assert_eq!(parse_true_false(&out), Ok(true)),
                Ok(UsingRecoveryKey::No) => assert_eq!(parse_true_false(&out), Ok(false)),
                Err(_) => {}
            }
        }
    }
});
