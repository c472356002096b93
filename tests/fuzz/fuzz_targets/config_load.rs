//! `config::load`: the managed and local preference files as bytes on disk (XML, binary or
//! garbage), each present or not, trusted or writable by others, read from a private root.
//!
//! Input: `[flags] [len_hi] [len_lo] [managed: len bytes] [local: the rest]`; flags bit 0 a
//! managed file, bit 1 a local file, bit 2 the managed file mode 0666, bit 3 the local one.
//! Invariants: no panic; the configuration is within its ranges; warnings bounded by the keys
//! given plus one per unreadable file; nothing comes from an untrusted managed file and no
//! restricted key from an untrusted local file.

#![no_main]

use keywarden::config::{load, Source, KEYS};
use keywarden::files::Owners;
use keywarden::paths::{LOCAL_PREFS, MANAGED_PREFS};
use keywarden_fuzz::{check_config, private_root, put_file, remove_file, Bytes};
use libfuzzer_sys::fuzz_target;

fn keys(bytes: &[u8]) -> usize {
    match keywarden::plistio::value_from_bytes(bytes) {
        Ok(plist::Value::Dictionary(d)) => d.len(),
        _ => 0,
    }
}

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes::new(data);
    let flags = b.byte();
    let len = usize::from(b.u16());
    let managed = b.take(len);
    let local = b.rest();
    let root = private_root();
    let mode = |bit: u8| if flags & bit != 0 { 0o666 } else { 0o644 };
    for (present, abs, bytes, m) in [
        (flags & 1 != 0, MANAGED_PREFS, managed, mode(4)),
        (flags & 2 != 0, LOCAL_PREFS, local, mode(8)),
    ] {
        if present {
            put_file(root, abs, bytes, m, 0o755);
        } else {
            remove_file(root, abs);
        }
    }

    let loaded = load(root, Owners::current());
    check_config(&loaded.config);
    let given = if flags & 1 != 0 { keys(managed) } else { 0 }
        + if flags & 2 != 0 { keys(local) } else { 0 };
    assert!(
        loaded.warnings.len() <= given + 3,
        "{} warnings for {given} keys: {:?}",
        loaded.warnings.len(),
        loaded.warnings
    );
    for spec in KEYS {
        match loaded.sources.get(spec.name) {
            Some(Source::Managed) => assert!(
                flags & 1 != 0 && flags & 4 == 0,
                "{} from an untrusted managed file",
                spec.name
            ),
            Some(Source::Local) => {
                assert!(flags & 2 != 0);
                assert!(
                    !spec.restricted || flags & 8 == 0,
                    "{} from an untrusted local file",
                    spec.name
                );
            }
            Some(Source::Default) => {}
            None => panic!("{} has no source", spec.name),
        }
    }
});
