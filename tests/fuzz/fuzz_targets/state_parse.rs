//! `state::parse` over arbitrary bytes (XML or binary plists, or anything else).
//!
//! Invariants: no panic; a parsed state serialises as `state::save` does (it `expect`s that to
//! succeed), and the bytes parse back to the same state, whose serialisation is a fixed point;
//! the reason for a refused file is one bounded line.

#![no_main]

use keywarden::state::{parse, State};
use libfuzzer_sys::fuzz_target;

fn to_xml(s: &State) -> Vec<u8> {
    let mut bytes = Vec::new();
    plist::to_writer_xml(&mut bytes, s)
        .expect("a parsed state serialises (state::save expects it)");
    bytes
}

fuzz_target!(|data: &[u8]| {
    match parse(data) {
        Ok(state) => {
            let bytes = to_xml(&state);
            let back = parse(&bytes).unwrap_or_else(|e| {
                panic!(
                    "a saved state does not load: {e}\n{}",
                    String::from_utf8_lossy(&bytes)
                )
            });
            assert_eq!(back, state, "the state changed through save and load");
            assert_eq!(to_xml(&back), bytes, "serialisation is not a fixed point");
        }
        Err(why) => {
            assert!(!why.is_empty());
        }
    }
});
