//! Time as a value: the `Clock` that gives wall-clock time (read in one place and passed down),
//! and the conversions between `jiff::Timestamp` and the forms time takes on disk and in
//! inventory (plist dates in whole seconds, Jamf's `YYYY-MM-DD hh:mm:ss`).
//!
//! Monotonic time for sleeping comes from tokio (whose clock tests pause and advance); the daemon
//! compares wall-clock deadlines after every wake-up because timers stop while a Mac sleeps
//! (PLATFORM.md). This module does not schedule anything.
//!
//! Clocks lie (issue 16, item 4: no RTC battery, a manual change, NTP after a long sleep): a
//! stored time later than now was written by a clock that has since been set back, and is
//! distrusted. `seen_at` and `elapsed` are the one rule every decision uses to compare a stored
//! time with the present: a time in the future counts as now, and no interval is negative.

use std::time::{Duration, SystemTime};

use jiff::Timestamp;

/// Wall-clock time.
pub(crate) trait Clock {
    fn now(&self) -> Timestamp;
}

/// The system's wall clock, truncated to whole seconds (every date Keywarden stores or publishes
/// is whole seconds: CoreFoundation rejects fractional plist dates, TOOLCHAIN.md).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        whole_seconds(Timestamp::now())
    }
}

/// `ts` without its fraction of a second.
pub(crate) fn whole_seconds(ts: Timestamp) -> Timestamp {
    Timestamp::from_second(ts.as_second()).unwrap_or(ts)
}

/// A stored time as the present may trust it: one in the future (written before the clock was set
/// back) counts as now (issue 16, item 4).
pub(crate) fn seen_at(stored: Timestamp, now: Timestamp) -> Timestamp {
    stored.min(now)
}

/// How long ago `stored` was, never negative: a stored time in the future was "just now", so a
/// clock set back neither postpones a deadline nor makes an age negative (issue 16, item 4).
pub(crate) fn elapsed(stored: Timestamp, now: Timestamp) -> jiff::SignedDuration {
    now.duration_since(seen_at(stored, now))
}

/// A stored time found in the future and rewritten to now (`distrust`): what the log says once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Distrusted {
    /// The stored field, as the file names it (e.g. `Rotation.At`).
    pub field: &'static str,
    pub stored: Timestamp,
    pub now: Timestamp,
}

/// Rewrite every time in `times` that is later than `now` (issue 16, item 4: "a time in the
/// future is distrusted (treated as now and logged)"), returning what was rewritten. The latest
/// becomes now and the others the seconds just before it, in the order the wrong clock gave them:
/// the times were written by one clock, so their order is still what happened (a key used after
/// its change stays used after it), while their distance from the present is not. Rewritten
/// rather than only read as now, so the saved state no longer holds them: the log line does not
/// repeat at every check, and a deadline counted from one starts now, not at the wrong clock's
/// date.
pub(crate) fn distrust_all(
    times: Vec<(&'static str, &mut Timestamp)>,
    now: Timestamp,
) -> Vec<Distrusted> {
    let mut future: Vec<Timestamp> = times
        .iter()
        .map(|(_, t)| **t)
        .filter(|t| *t > now)
        .collect();
    future.sort();
    future.dedup();
    let mut found = Vec::new();
    for (field, t) in times {
        if let Ok(rank) = future.binary_search(t) {
            let before = i64::try_from(future.len() - 1 - rank).unwrap_or(i64::MAX);
            let seen = now
                .checked_sub(jiff::SignedDuration::from_secs(before))
                .unwrap_or(now);
            found.push(Distrusted {
                field,
                stored: *t,
                now,
            });
            *t = seen;
        }
    }
    found
}

/// The clock steps every rule is table-tested with (issue 16, item 4): back and forward by a day
/// and by fifty years (with their twelve leap days).
#[cfg(test)]
pub(crate) const STEPS: [(&str, jiff::SignedDuration); 4] = {
    const DAY: i64 = 24 * 3600;
    const FIFTY_YEARS: i64 = (365 * 50 + 12) * DAY;
    [
        ("back a day", jiff::SignedDuration::from_secs(-DAY)),
        (
            "back fifty years",
            jiff::SignedDuration::from_secs(-FIFTY_YEARS),
        ),
        ("forward a day", jiff::SignedDuration::from_secs(DAY)),
        (
            "forward fifty years",
            jiff::SignedDuration::from_secs(FIFTY_YEARS),
        ),
    ]
};

/// A plist `<date>` in whole seconds.
pub(crate) fn to_plist_date(ts: Timestamp) -> plist::Date {
    let secs = ts.as_second();
    let st = if secs >= 0 {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs as u64)
    } else {
        SystemTime::UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    };
    plist::Date::from(st)
}

/// A plist `<date>` as a timestamp (whole seconds).
pub fn from_plist_date(date: plist::Date) -> Timestamp {
    from_system_time(SystemTime::from(date))
}

/// A `SystemTime` (e.g. a file's mtime) as a timestamp in whole seconds.
pub(crate) fn from_system_time(st: SystemTime) -> Timestamp {
    let secs = match st.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs_f64().ceil() as i64),
    };
    Timestamp::from_second(secs).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// Jamf's extension-attribute date format: `YYYY-MM-DD hh:mm:ss`, in UTC.
pub fn ea_format(ts: Timestamp) -> String {
    ts.strftime("%Y-%m-%d %H:%M:%S").to_string()
}

/// Serde helpers that store a `Timestamp` as a plist `<date>` (state and status files).
pub mod plist_date {
    use jiff::Timestamp;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub(crate) fn serialize<S: Serializer>(ts: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        super::to_plist_date(*ts).serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        plist::Date::deserialize(d).map(super::from_plist_date)
    }

    /// The same for `Option<Timestamp>` (use with `skip_serializing_if = "Option::is_none"` and
    /// `default`).
    pub mod option {
        use super::*;

        pub(crate) fn serialize<S: Serializer>(
            ts: &Option<Timestamp>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match ts {
                Some(ts) => super::serialize(ts, s),
                None => s.serialize_none(),
            }
        }

        pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<Timestamp>, D::Error> {
            Option::<plist::Date>::deserialize(d).map(|o| o.map(crate::clock::from_plist_date))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plist_dates_have_no_fraction_of_a_second() {
        let ts: Timestamp = "2026-11-22T05:23:45.987654321Z".parse().unwrap();
        let date = to_plist_date(whole_seconds(ts));
        let mut xml = Vec::new();
        plist::to_writer_xml(&mut xml, &plist::Value::Date(date)).unwrap();
        let xml = String::from_utf8(xml).unwrap();
        assert!(xml.contains("<date>2026-11-22T05:23:45Z</date>"), "{xml}");
        assert_eq!(from_plist_date(date), whole_seconds(ts));
    }

    #[test]
    fn extension_attribute_dates_are_utc_without_a_zone() {
        let ts: Timestamp = "2024-06-01T10:00:09Z".parse().unwrap();
        assert_eq!(ea_format(ts), "2024-06-01 10:00:09");
    }

    #[test]
    fn file_times_before_1970_do_not_panic() {
        let st = SystemTime::UNIX_EPOCH - Duration::from_secs(10);
        assert_eq!(from_system_time(st).as_second(), -10);
    }
}
