//! `xs:duration` as WS-Management uses it for OperationTimeout, MaxTime and Expires.

use std::time::Duration;

/// Parse `PnYnMnDTnHnMnS` (fractional seconds allowed). Years and months are refused: they
/// have no fixed length and no client sends them. Negative durations are refused.
pub fn parse(text: &str) -> Option<Duration> {
    let s = text.trim();
    let rest = s.strip_prefix('P')?;
    if rest.is_empty() {
        return None;
    }
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) => {
            if t.is_empty() {
                return None;
            }
            (d, Some(t))
        }
        None => (rest, None),
    };
    let mut total_ms: u128 = 0;
    let mut num = String::new();
    for c in date.chars() {
        match c {
            '0'..='9' => num.push(c),
            'D' => {
                total_ms += take_int(&mut num)? * 86_400_000;
            }
            'Y' | 'M' => {
                // Only zero years/months are meaningful without a calendar ("P0Y0M1D").
                if take_int(&mut num)? != 0 {
                    return None;
                }
            }
            _ => return None,
        }
    }
    if !num.is_empty() {
        return None;
    }
    if let Some(time) = time {
        for c in time.chars() {
            match c {
                '0'..='9' | '.' => num.push(c),
                'H' => total_ms += take_int(&mut num)? * 3_600_000,
                'M' => total_ms += take_int(&mut num)? * 60_000,
                'S' => total_ms += take_seconds_ms(&mut num)?,
                _ => return None,
            }
        }
        if !num.is_empty() {
            return None;
        }
    }
    let ms = u64::try_from(total_ms).ok()?;
    Some(Duration::from_millis(ms))
}

fn take_int(num: &mut String) -> Option<u128> {
    if num.is_empty() || num.contains('.') || num.len() > 20 {
        return None;
    }
    let v = num.parse::<u128>().ok()?;
    num.clear();
    Some(v)
}

fn take_seconds_ms(num: &mut String) -> Option<u128> {
    if num.is_empty() || num.len() > 30 {
        return None;
    }
    let (int, frac) = match num.split_once('.') {
        Some((i, f)) => (i, f),
        None => (num.as_str(), ""),
    };
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !frac.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let secs: u128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut frac_ms = String::from(frac);
    frac_ms.truncate(3);
    while frac_ms.len() < 3 {
        frac_ms.push('0');
    }
    let ms: u128 = frac_ms.parse().ok()?;
    num.clear();
    Some(secs * 1000 + ms)
}

/// Format as Windows does: `PT60.000S`.
pub fn format(d: Duration) -> String {
    format!("PT{}.{:03}S", d.as_secs(), d.subsec_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_forms() {
        assert_eq!(parse("PT20S"), Some(Duration::from_secs(20)));
        assert_eq!(parse("PT60.000S"), Some(Duration::from_secs(60)));
        assert_eq!(parse("PT0.500S"), Some(Duration::from_millis(500)));
        assert_eq!(parse("P0DT0H0M0S"), Some(Duration::ZERO));
        assert_eq!(
            parse("P1DT1H1M1.5S"),
            Some(Duration::from_millis(90_061_500))
        );
        assert_eq!(parse(" PT3600.000S\n"), Some(Duration::from_secs(3600)));
    }

    #[test]
    fn refused_forms() {
        for bad in [
            "PT-1S", "-PT1S", "P", "PT", "T1S", "PT1", "P1M", "PTS", "PT1.2.3S", "PT.S", "abc", "",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn round_trip() {
        for ms in [0u64, 1, 500, 60_000, 7_200_000] {
            let d = Duration::from_millis(ms);
            assert_eq!(parse(&format(d)), Some(d));
        }
    }
}
