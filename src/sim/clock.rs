//! Simulated time: the real wall clock plus an offset that only moves forward
//! (`POST /_sim/clock`). Lifecycles store absolute simulated timestamps and are settled lazily
//! when an account is next read, so advancing the clock needs no background task.
//!
//! Nonces are checked against the *real* clock (see `auth`), never against this one.

use std::{
    sync::atomic::{AtomicI64, Ordering},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

/// Milliseconds since the Unix epoch, on the simulated clock.
pub(crate) type Millis = i64;

/// The simulated clock.
#[derive(Debug, Default)]
pub(crate) struct Clock {
    offset_ms: AtomicI64,
}

impl Clock {
    /// Simulated now.
    pub(crate) fn now(&self) -> Millis {
        real_now_ms().saturating_add(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Moves simulated time forward.
    pub(crate) fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        let _ = self
            .offset_ms
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| {
                Some(old.saturating_add(ms))
            });
    }

    /// How far simulated time is ahead of real time.
    pub(crate) fn offset(&self) -> Duration {
        Duration::from_millis(u64::try_from(self.offset_ms.load(Ordering::Relaxed)).unwrap_or(0))
    }
}

/// Real wall-clock time in milliseconds since the epoch.
pub(crate) fn real_now_ms() -> Millis {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Adds a duration to a timestamp.
pub(crate) fn after(at: Millis, duration: Duration) -> Millis {
    at.saturating_add(i64::try_from(duration.as_millis()).unwrap_or(i64::MAX))
}

/// `YYYY-MM-DDTHH:MM:SSZ`, the form of `volume/list`'s `time_created`.
pub(crate) fn rfc3339(ms: Millis) -> String {
    let (date, secs_of_day) = civil(ms);
    format!(
        "{date}T{:02}:{:02}:{:02}Z",
        secs_of_day / 3600,
        secs_of_day / 60 % 60,
        secs_of_day % 60
    )
}

/// `YYYY-MM-DDTHH:MM:SS.000000`, the form of `image/details`'s `time_created`.
pub(crate) fn iso_micros(ms: Millis) -> String {
    let (date, secs_of_day) = civil(ms);
    format!(
        "{date}T{:02}:{:02}:{:02}.{:06}",
        secs_of_day / 3600,
        secs_of_day / 60 % 60,
        secs_of_day % 60,
        ms.rem_euclid(1000) * 1000
    )
}

/// `YYYY-MM-DD HH:MM:SS`, a MySQL-style timestamp as PHP applications print them.
pub(crate) fn sql_time(ms: Millis) -> String {
    let (date, secs_of_day) = civil(ms);
    format!(
        "{date} {:02}:{:02}:{:02}",
        secs_of_day / 3600,
        secs_of_day / 60 % 60,
        secs_of_day % 60
    )
}

/// The calendar date (proleptic Gregorian, UTC) and the seconds into that day.
fn civil(ms: Millis) -> (String, i64) {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let secs_of_day = secs.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (format!("{year:04}-{month:02}-{day:02}"), secs_of_day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        // 2018-12-17T01:00:15Z, from the volume/list sample in the reference.
        assert_eq!(rfc3339(1_545_008_415_000), "2018-12-17T01:00:15Z");
        assert_eq!(iso_micros(1_545_006_189_000), "2018-12-17T00:23:09.000000");
        assert_eq!(sql_time(951_782_400_000), "2000-02-29 00:00:00");
    }

    #[test]
    fn clock_only_moves_forward_by_the_offset() {
        let clock = Clock::default();
        let before = clock.now();
        clock.advance(Duration::from_secs(30));
        assert!(clock.now() >= before + 30_000);
        assert_eq!(clock.offset(), Duration::from_secs(30));
    }
}
