//! `FailedKeys::load`: the failed-key store as bytes on disk in a private root (0600 in a 0700
//! directory, as Keywarden keeps it).
//!
//! Invariants: no panic; a store that is there either loads or is an error (fail closed: never
//! "no store"), whose message names the file and quotes nothing of it; a loaded store shows no
//! byte of its salt, remembers a key added to it, and saves and re-loads with the same keys.

#![no_main]

use keywarden::failed_keys::{FailedKeys, StoreError};
use keywarden::files::Owners;
use keywarden::paths::FAILED_KEYS;
use keywarden::secret::{RecoveryKey, Secret};
use keywarden_fuzz::{private_root, put_file};
use libfuzzer_sys::fuzz_target;

const KEY: &str = "Q7ZX-W3VJ-K9PL-M2RT-H8YB-N4DF";

fuzz_target!(|data: &[u8]| {
    let root = private_root();
    put_file(root, FAILED_KEYS, data, 0o600, 0o700);
    let me = Owners::current();
    match FailedKeys::load(root, me) {
        Ok(None) => panic!("a store on disk read as no store"),
        Ok(Some(mut store)) => {
            let n = store.len();
            assert_eq!(
                format!("{store:?}"),
                format!("FailedKeys({n} keys, salt <redacted>)")
            );
            let key = RecoveryKey::parse(Secret::new(KEY.into())).expect("a well-formed key");
            let known = store.contains(&key);
            assert_eq!(store.add(&key), !known);
            assert!(store.contains(&key));
            store.save(root, me).expect("the store saves");
            let back = FailedKeys::load(root, me)
                .expect("a saved store loads")
                .expect("it is there");
            assert_eq!(back.len(), store.len());
            assert!(
                back.contains(&key),
                "a failed key was forgotten through save and load"
            );
        }
        Err(e) => {
            let shown = e.to_string();
            if let StoreError::Corrupt { why, .. } = &e {
                assert!(why.len() <= 80, "the reason quotes the file? {why:?}");
            }
            assert!(
                shown.contains("failed-keys.plist") || shown.contains("failed-key store"),
                "{shown}"
            );
        }
    }
});
