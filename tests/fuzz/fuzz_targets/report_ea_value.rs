//! `report::ea_value` (`keywarden ea KEY.PATH`, read by Jamf as an extension attribute) with an
//! arbitrary key path over an arbitrary plist.
//!
//! Input: `[now: 4 bytes] [stale_after_hours: 1 byte] [path length] [path] [plist bytes]`.
//! Invariants: no panic; a pure function; a status without a recent `GeneratedAt` reads `Stale`
//! at every path but its own two dates (issue 14), so `Healthy` never reads `true` from it; in a
//! fresh status a path whose first key is not in the status is empty.

#![no_main]

use keywarden::report::ea_value;
use keywarden_fuzz::{now, Bytes};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes::new(data);
    let now = now(&mut b);
    let hours = u32::from(b.byte());
    let n = usize::from(b.byte());
    let path = String::from_utf8_lossy(b.take(n)).into_owned();
    let bytes = b.rest();
    let Ok(status) = keywarden::plistio::value_from_bytes(bytes) else {
        return;
    };
    let shown = ea_value(&status, &path, now, hours);
    assert_eq!(
        shown,
        ea_value(&status, &path, now, hours),
        "not a pure function"
    );

    let dict = status.as_dictionary();
    let first = path.split('.').next().unwrap_or_default();
    let stale = match dict
        .and_then(|d| d.get("GeneratedAt"))
        .and_then(plist::Value::as_date)
    {
        None => true,
        Some(g) => keywarden::report::is_stale(keywarden::clock::from_plist_date(g), now, hours),
    };
    let a_date_of_the_status = path == "GeneratedAt" || path == "Daemon.LastCheckAt";
    if stale && !a_date_of_the_status {
        assert_eq!(shown, "Stale", "{path:?} of a stale status shows {shown:?}");
    } else if dict.is_some_and(|d| !d.contains_key(first)) {
        assert_eq!(shown, "", "{path:?} shows {shown:?}");
    }
});
