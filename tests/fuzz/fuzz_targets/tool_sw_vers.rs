//! `tools::sw_vers`'s parsers (`parse_product_version`, `parse_build_version`), chosen by the
//! first byte.

#![no_main]

use keywarden::tools::sw_vers::{parse_build_version, parse_product_version};
use keywarden_fuzz::{is_blank, output, parse_checked, Bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes::new(data);
    let which = b.byte() % 2;
    let out = output(&mut b);
    let value = if which == 0 {
        parse_checked("sw_vers -productVersion", parse_product_version, &out)
            .inspect(|v| assert!(v.bytes().all(|c| c.is_ascii_digit() || c == b'.'), "{v:?}"))
    } else {
        parse_checked("sw_vers -buildVersion", parse_build_version, &out)
            .inspect(|v| assert!(v.bytes().all(|c| c.is_ascii_alphanumeric()), "{v:?}"))
    };
    if let Ok(v) = value {
        assert!(out.exit.success() && is_blank(&out.stderr));
        assert!(!v.is_empty() && v.len() <= 16, "{v:?}");
    }
});
