//! A reboot at a time the administrator picks, in the host's own time zone: the time of day
//! as typed (`HH:MM`), the host's offset from UTC as the host itself reports it
//! (`Win32_OperatingSystem.CurrentTimeZone`, minutes, which Windows and wsmand both serve), and
//! the wait until that time next comes on the host's clock. The offset is read when the reboot
//! is scheduled: a change of daylight saving time before it comes shifts it by that change.

use std::time::Duration;

use wsman_client::{EnumerateOptions, Resource};

use crate::hosts::{property, Host, HostError};

/// A time of day on the host's clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalTime {
    /// 0 to 23.
    pub hour: u8,
    /// 0 to 59.
    pub minute: u8,
}

impl LocalTime {
    /// `HH:MM` (24-hour, one or two digits each); anything else `None`.
    pub fn parse(text: &str) -> Option<Self> {
        let (hour, minute) = text.trim().split_once(':')?;
        let digits =
            |s: &str| !s.is_empty() && s.len() <= 2 && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(hour) || !digits(minute) {
            return None;
        }
        let (hour, minute) = (hour.parse().ok()?, minute.parse().ok()?);
        (hour < 24 && minute < 60).then_some(Self { hour, minute })
    }

    /// `HH:MM`.
    pub fn text(self) -> String {
        format!("{:02}:{:02}", self.hour, self.minute)
    }
}

/// Seconds from `now` (seconds since 1970, UTC) until `at` next comes on a clock
/// `offset_minutes` ahead of UTC: more than 0, at most a day.
pub fn seconds_until(now: i64, offset_minutes: i32, at: LocalTime) -> u64 {
    const DAY: i64 = 86_400;
    let local = (now + i64::from(offset_minutes) * 60).rem_euclid(DAY);
    let target = i64::from(at.hour) * 3600 + i64::from(at.minute) * 60;
    let wait = (target - local).rem_euclid(DAY);
    if wait == 0 {
        DAY as u64
    } else {
        wait as u64
    }
}

/// An offset as `UTC+05:30`.
pub fn offset_text(offset_minutes: i32) -> String {
    let sign = if offset_minutes < 0 { '-' } else { '+' };
    let minutes = offset_minutes.unsigned_abs();
    format!("UTC{sign}{:02}:{:02}", minutes / 60, minutes % 60)
}

/// The host's offset from UTC, in minutes, as its `Win32_OperatingSystem` says.
pub async fn host_offset(host: &Host) -> Result<i32, HostError> {
    let os = Resource::new(crate::delegation::cim_class("Win32_OperatingSystem"));
    let options = EnumerateOptions::default();
    let read = host.client().enumerate(&os, &options);
    let items = match tokio::time::timeout(Duration::from_secs(30), read).await {
        Ok(items) => items?,
        Err(_) => return Err(HostError::NoAnswer),
    };
    Ok(items
        .first()
        .and_then(|os| property(os, "CurrentTimeZone"))
        .and_then(|minutes| minutes.parse().ok())
        .filter(|minutes: &i32| minutes.abs() <= 26 * 60)
        .unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_is_hours_and_minutes_or_nothing() {
        assert_eq!(
            LocalTime::parse(" 3:05 "),
            Some(LocalTime { hour: 3, minute: 5 })
        );
        assert_eq!(
            LocalTime::parse("23:59").map(LocalTime::text),
            Some("23:59".into())
        );
        for bad in [
            "24:00", "12:60", "12", "1:2:3", "-1:00", "+1:00", "ab:cd", "123:00", "",
        ] {
            assert_eq!(LocalTime::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_wait_follows_the_hosts_clock_not_the_consoles() {
        // 2026-01-01 00:00 UTC is 05:30 in India (+330) and 19:00 the day before in New York.
        let now = 1_767_225_600;
        let at = |hour, minute| LocalTime { hour, minute };
        assert_eq!(seconds_until(now, 330, at(6, 0)), 30 * 60);
        assert_eq!(seconds_until(now, -300, at(20, 0)), 3600);
        assert_eq!(seconds_until(now, 0, at(0, 1)), 60);
        // Passed today on the host's clock: tomorrow; exactly now: a day.
        assert_eq!(seconds_until(now, 330, at(5, 0)), 86_400 - 30 * 60);
        assert_eq!(seconds_until(now, 330, at(5, 30)), 86_400);
        assert_eq!(offset_text(330), "UTC+05:30");
        assert_eq!(offset_text(-300), "UTC-05:00");
    }
}
