//! `tools::diskutil::parse_list_crypto_users`, both forms (plist and text).

#![no_main]

use keywarden::tools::diskutil::parse_list_crypto_users;
use keywarden_fuzz::{output, parse_checked, Bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let out = output(&mut Bytes::new(data));
    if let Ok(users) = parse_checked(
        "diskutil apfs listCryptoUsers",
        parse_list_crypto_users,
        &out,
    ) {
        assert!(out.exit.success());
        for u in &users {
            // UUIDs are compared upper-case with dscl's GeneratedUID.
            assert_eq!(u.uuid, u.uuid.to_ascii_uppercase());
        }
    }
});
