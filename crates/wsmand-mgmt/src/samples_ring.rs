//! A host's hour of points, kept packed: at thousands of hosts the rings are most of what the
//! console holds for each host, so a point is kept in 16 bytes rather than a [`Point`]'s 72.

use std::collections::VecDeque;

use super::Point;

/// A percentage kept in hundredths (0.01 % is finer than any page shows); `NO_PERCENT`: none.
const NO_PERCENT: u16 = u16::MAX;

/// A point as the ring keeps it. Times are seconds since 1970 in 32 bits (enough until 2106;
/// a later clock reads as 2106, which only orders the points it already orders).
#[derive(Clone, Copy, Debug)]
struct Packed {
    at: u32,
    cpu: u16,
    memory: u16,
    disk_free: u16,
    /// Bytes per second in single precision (exact to the byte below 16 MB/s, within a
    /// ten-millionth above), NaN for none.
    network: f32,
}

fn pack_percent(value: Option<f64>) -> u16 {
    match value {
        // `as` saturates (a negative figure reads 0); the largest value is kept for "none".
        Some(v) if v.is_finite() => ((v * 100.0).round() as u16).min(NO_PERCENT - 1),
        _ => NO_PERCENT,
    }
}

fn unpack_percent(value: u16) -> Option<f64> {
    (value != NO_PERCENT).then(|| f64::from(value) / 100.0)
}

impl Packed {
    fn new(point: &Point) -> Self {
        Self {
            at: u32::try_from(point.at).unwrap_or(u32::MAX),
            cpu: pack_percent(point.cpu),
            memory: pack_percent(point.memory),
            disk_free: pack_percent(point.disk_free),
            network: point
                .network
                .filter(|v| v.is_finite())
                .map_or(f32::NAN, |v| v as f32),
        }
    }

    fn point(self) -> Point {
        Point {
            at: u64::from(self.at),
            cpu: unpack_percent(self.cpu),
            memory: unpack_percent(self.memory),
            disk_free: unpack_percent(self.disk_free),
            // Whole bytes: what single precision keeps of a rate, without its binary tail.
            network: (!self.network.is_nan()).then(|| f64::from(self.network).round()),
        }
    }
}

/// The newest points of one host, at most `capacity` (an hour at the interval): pushing one
/// more drops the oldest, so the memory is fixed from the start.
#[derive(Debug)]
pub struct Ring {
    points: VecDeque<Packed>,
    capacity: usize,
}

impl Ring {
    /// An empty ring of `capacity` points (at least one), allocated now.
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            points: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    /// Adds `point`, dropping the oldest when full. Percentages are kept to 0.01 and the
    /// network rate to the byte per second.
    pub fn push(&mut self, point: Point) {
        if self.points.len() == self.capacity {
            self.points.pop_front();
        }
        self.points.push_back(Packed::new(&point));
    }

    /// The points, oldest first.
    pub fn points(&self) -> impl Iterator<Item = Point> + '_ {
        self.points.iter().map(|p| p.point())
    }

    /// The newest point.
    pub fn latest(&self) -> Option<Point> {
        self.points.back().map(|p| p.point())
    }

    /// How many points it holds.
    pub fn len(&self) -> usize {
        self.points.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty()
    }

    /// The most it holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The bytes its points take (allocated at [`Ring::new`]).
    #[cfg(test)]
    pub fn allocated_bytes(&self) -> usize {
        self.points.capacity() * std::mem::size_of::<Packed>()
    }
}
