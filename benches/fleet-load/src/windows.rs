//! The run cut into windows of `--window-seconds` (by when each Events batch was acknowledged):
//! a long run's first minutes against its last (does the collector slow down as it runs?) need
//! the Acks of each window apart, not one percentile over the whole run.

use crate::percentile;

/// One window's Acks.
#[derive(Debug, PartialEq)]
pub(crate) struct Window {
    /// Seconds since the run's start: `from_s` included, `to_s` not.
    pub(crate) from_s: u64,
    pub(crate) to_s: u64,
    pub(crate) acks: usize,
    pub(crate) events: u64,
    /// Milliseconds.
    pub(crate) p50: f64,
    pub(crate) p99: f64,
    pub(crate) max: f64,
}

/// The windows of `width` seconds from the start to `seconds` (the last one shorter when
/// `seconds` is not a multiple of `width`), from each acknowledged batch's `(ms since the
/// start, Ack latency in µs)`; an Ack after `seconds` (the drain) is in none. No window when
/// `width` is 0.
pub(crate) fn summarize(
    acks: &[(u32, u32)],
    per_batch: u64,
    width: u64,
    seconds: u64,
) -> Vec<Window> {
    if width == 0 {
        return Vec::new();
    }
    let count = usize::try_from(seconds.div_ceil(width)).unwrap_or(usize::MAX);
    let mut latencies: Vec<Vec<u32>> = Vec::new();
    latencies.resize_with(count, Vec::new);
    for &(at_ms, micros) in acks {
        let second = u64::from(at_ms) / 1000;
        if second >= seconds {
            continue;
        }
        if let Some(bucket) = usize::try_from(second / width)
            .ok()
            .and_then(|i| latencies.get_mut(i))
        {
            bucket.push(micros);
        }
    }
    latencies
        .into_iter()
        .zip(0u64..)
        .map(|(mut l, i)| {
            l.sort_unstable();
            Window {
                from_s: i * width,
                to_s: ((i + 1) * width).min(seconds),
                acks: l.len(),
                events: l.len() as u64 * per_batch,
                p50: percentile(&l, 0.5),
                p99: percentile(&l, 0.99),
                max: percentile(&l, 1.0),
            }
        })
        .collect()
}

/// The windows as a JSON array, for the run's summary line.
pub(crate) fn json(windows: &[Window]) -> String {
    let items: Vec<String> = windows
        .iter()
        .map(|w| {
            let span = w.to_s.saturating_sub(w.from_s).max(1) as f64;
            format!(
                "{{\"from_s\":{},\"to_s\":{},\"acks\":{},\"events\":{},\"events_per_second\":{:.1},\"ack_ms_p50\":{:.1},\"ack_ms_p99\":{:.1},\"ack_ms_max\":{:.1}}}",
                w.from_s,
                w.to_s,
                w.acks,
                w.events,
                w.events as f64 / span,
                w.p50,
                w.p99,
                w.max
            )
        })
        .collect();
    format!("[{}]", items.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acks_fall_in_the_window_of_their_time_and_the_drain_in_none() {
        // 0-2 s: latencies 1..=100 ms; 2-4 s: 500 ms each; at 4.5 s (after the end): 9 s.
        let mut acks: Vec<(u32, u32)> = (1..=100).map(|i| (i * 19, i * 1000)).collect();
        acks.extend((0..50).map(|i| (2000 + i * 30, 500_000)));
        acks.push((4500, 9_000_000));
        let w = summarize(&acks, 10, 2, 4);
        assert_eq!(w.len(), 2);
        assert_eq!(
            (w[0].from_s, w[0].to_s, w[0].acks, w[0].events),
            (0, 2, 100, 1000)
        );
        assert_eq!(w[0].p99, 99.0);
        assert_eq!(w[0].max, 100.0);
        assert_eq!((w[1].from_s, w[1].to_s, w[1].acks), (2, 4, 50));
        assert_eq!(w[1].p50, 500.0);
        assert_eq!(w[1].max, 500.0);
        let text = json(&w);
        assert!(text.contains("\"events_per_second\":500.0"), "{text}");
        assert!(text.contains("\"events_per_second\":250.0"), "{text}");
    }

    #[test]
    fn the_last_window_is_cut_at_the_end_and_an_empty_one_is_zero() {
        let w = summarize(&[(100, 2000)], 10, 3, 7);
        assert_eq!(w.len(), 3);
        assert_eq!(
            (w[2].from_s, w[2].to_s, w[2].acks, w[2].p99),
            (6, 7, 0, 0.0)
        );
        assert_eq!(w[0].acks, 1);
        assert!(summarize(&[(100, 2000)], 10, 0, 7).is_empty());
    }
}
