//! `tools::security::parse_mechanisms` (`security authorizationdb read`).

#![no_main]

use keywarden::tools::security::parse_mechanisms;
use keywarden_fuzz::{output, parse_checked, Bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let out = output(&mut Bytes::new(data));
    if parse_checked("security authorizationdb read", parse_mechanisms, &out).is_ok() {
        assert!(out.exit.success());
    }
});
