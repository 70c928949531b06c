//! Event times: microseconds since the Unix epoch (the journal's resolution), written as
//! Windows writes `TimeCreated/@SystemTime` (seven fraction digits, `Z`).

/// A point in time, in microseconds since 1970-01-01T00:00:00Z.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    micros: i64,
}

impl Timestamp {
    pub const fn from_unix_micros(micros: i64) -> Timestamp {
        Timestamp { micros }
    }

    pub const fn unix_micros(self) -> i64 {
        self.micros
    }

    /// The timestamp of a `SystemTime` the caller read (this crate reads no clock); times
    /// before 1970 or past the range clamp to its ends.
    pub fn from_system_time(time: std::time::SystemTime) -> Timestamp {
        let micros = match time.duration_since(std::time::UNIX_EPOCH) {
            Ok(after) => i64::try_from(after.as_micros()).unwrap_or(i64::MAX),
            Err(before) => i64::try_from(before.duration().as_micros()).map_or(i64::MIN, |m| -m),
        };
        Timestamp::from_unix_micros(micros)
    }

    /// `d` later, saturating.
    pub fn saturating_add(self, d: std::time::Duration) -> Timestamp {
        let micros = i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
        Timestamp::from_unix_micros(self.micros.saturating_add(micros))
    }

    /// How long after `earlier` this is (zero when it is not after it).
    pub fn saturating_duration_since(self, earlier: Timestamp) -> std::time::Duration {
        let micros = self.micros.saturating_sub(earlier.micros).max(0);
        std::time::Duration::from_micros(micros.unsigned_abs())
    }

    /// `2026-11-23T04:12:02.1234560Z`: 100 ns resolution as Windows writes it; the journal's
    /// microseconds leave the seventh digit 0.
    pub fn to_system_time(self) -> String {
        let seconds = self.micros.div_euclid(1_000_000);
        let micros = self.micros.rem_euclid(1_000_000);
        let days = seconds.div_euclid(86_400);
        let second_of_day = seconds.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        format!(
            "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:07}Z",
            second_of_day / 3600,
            second_of_day % 3600 / 60,
            second_of_day % 60,
            micros * 10
        )
    }

    /// Parse `YYYY-MM-DDTHH:MM:SS[.fraction]Z` (what `@SystemTime` and CIM/XML times in UTC
    /// look like). Fractions beyond microseconds are truncated.
    pub fn parse_system_time(text: &str) -> Option<Timestamp> {
        let text = text.strip_suffix('Z')?;
        let (date, time) = text.split_once('T')?;
        let mut date_parts = date.splitn(3, '-');
        let year: i64 = date_parts.next()?.parse().ok()?;
        let month: u32 = date_parts.next()?.parse().ok()?;
        let day: u32 = date_parts.next()?.parse().ok()?;
        let (hms, fraction) = match time.split_once('.') {
            Some((hms, fraction)) => (hms, fraction),
            None => (time, ""),
        };
        let mut time_parts = hms.splitn(3, ':');
        let hour: i64 = time_parts.next()?.parse().ok()?;
        let minute: i64 = time_parts.next()?.parse().ok()?;
        let second: i64 = time_parts.next()?.parse().ok()?;
        if !(1..=12).contains(&month)
            || !(1..=31).contains(&day)
            || hour > 23
            || minute > 59
            || second > 60
            || !fraction.bytes().all(|b| b.is_ascii_digit())
            || fraction.len() > 9
        {
            return None;
        }
        let mut micros_fraction = 0i64;
        for (i, digit) in fraction.bytes().take(6).enumerate() {
            micros_fraction += i64::from(digit - b'0') * 10i64.pow(5 - i as u32);
        }
        let days = days_from_civil(year, month, day);
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second;
        Some(Timestamp::from_unix_micros(
            seconds.checked_mul(1_000_000)? + micros_fraction,
        ))
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's
/// algorithm); public for the daemon's other UTC texts (its audit file).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let month = i64::from(month);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn writes_seven_fraction_digits() {
        // 2026-11-23T04:12:02.123456Z
        let t = Timestamp::from_unix_micros(1_795_407_122_123_456);
        assert_eq!(t.to_system_time(), "2026-11-23T04:12:02.1234560Z");
        assert_eq!(
            Timestamp::from_unix_micros(0).to_system_time(),
            "1970-01-01T00:00:00.0000000Z"
        );
        assert_eq!(
            Timestamp::from_unix_micros(951_782_400_000_000).to_system_time(),
            "2000-02-29T00:00:00.0000000Z"
        );
    }

    #[test]
    fn parses_what_windows_writes() {
        let t = Timestamp::parse_system_time("2026-11-23T04:12:02.1234567Z").unwrap();
        assert_eq!(t.unix_micros(), 1_795_407_122_123_456);
        assert!(Timestamp::parse_system_time("2026-13-01T00:00:00Z").is_none());
        assert!(Timestamp::parse_system_time("2026-11-23 04:12:02Z").is_none());
        assert!(Timestamp::parse_system_time("2026-11-23T04:12:02").is_none());
    }

    proptest! {
        #[test]
        fn written_times_parse_back(micros in -62_135_596_800_000_000i64..253_402_300_799_999_999i64) {
            let t = Timestamp::from_unix_micros(micros);
            prop_assert_eq!(Timestamp::parse_system_time(&t.to_system_time()), Some(t));
        }
    }
}
