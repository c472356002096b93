//! `tools::sysctl`'s parsers (`parse_boot_session_uuid`, `parse_arm64`), chosen by the first byte.

#![no_main]

use keywarden::runner::Exit;
use keywarden::tools::sysctl::{parse_arm64, parse_boot_session_uuid};
use keywarden_fuzz::{is_blank, output, parse_checked, trimmed, Bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes::new(data);
    let which = b.byte() % 2;
    let out = output(&mut b);
    if which == 0 {
        if let Ok(uuid) =
            parse_checked("sysctl kern.bootsessionuuid", parse_boot_session_uuid, &out)
        {
            assert!(out.exit.success() && is_blank(&out.stderr));
            assert_eq!(uuid.len(), 36, "{uuid:?}");
            assert!(uuid.bytes().all(|c| c.is_ascii_hexdigit() || c == b'-'));
            // The nil UUID would make every boot the same boot (the per-boot latch).
            assert!(uuid.bytes().any(|c| c != b'0' && c != b'-'));
        }
    } else {
        match parse_checked("sysctl hw.optional.arm64", parse_arm64, &out) {
            Ok(true) => {
                assert!(out.exit.success());
                assert_eq!(trimmed(&out.stdout), "1");
            }
            Ok(false) => assert!(matches!(out.exit, Exit::Code(0 | 1))),
            Err(_) => {}
        }
    }
});
