//! A cooperative bound on evaluation work (filters, pattern matching): work counts its steps
//! here, and every [`CHECK_EVERY`] steps the owner's check (a deadline, in the server) is
//! asked whether to go on. Evaluators stay pure: no clock is read in this crate, the check is
//! the caller's.

/// Steps between two checks: often enough that a check comes within microseconds of work,
/// rarely enough that reading a clock costs nothing measurable.
pub const CHECK_EVERY: u64 = 4096;

/// The work was stopped: its budget ran out (the server answers `w:TimedOut`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the evaluation ran past its budget")]
pub struct Expired;

/// Steps spent, and the check that says when to stop.
pub struct Budget<'a> {
    steps: u64,
    next_check: u64,
    expired: Option<&'a (dyn Fn() -> bool + Sync)>,
}

impl Budget<'static> {
    /// A budget that never runs out (it still counts steps).
    pub fn unlimited() -> Self {
        Self {
            steps: 0,
            next_check: u64::MAX,
            expired: None,
        }
    }
}

impl<'a> Budget<'a> {
    /// A budget that runs out once `expired` says so (asked every [`CHECK_EVERY`] steps).
    pub fn checked_by(expired: &'a (dyn Fn() -> bool + Sync)) -> Self {
        Self {
            steps: 0,
            next_check: CHECK_EVERY,
            expired: Some(expired),
        }
    }

    /// Count `n` steps; `Err(Expired)` once the check says the budget is gone.
    pub fn spend(&mut self, n: u64) -> Result<(), Expired> {
        self.steps = self.steps.saturating_add(n);
        if self.steps < self.next_check {
            return Ok(());
        }
        self.next_check = self.steps.saturating_add(CHECK_EVERY);
        match self.expired {
            Some(expired) if expired() => Err(Expired),
            _ => Ok(()),
        }
    }

    /// Steps spent so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[test]
    fn the_check_is_asked_every_so_many_steps() {
        let stop = AtomicBool::new(false);
        let check = || stop.load(Ordering::Relaxed);
        let mut budget = Budget::checked_by(&check);
        for _ in 0..CHECK_EVERY * 2 {
            assert_eq!(budget.spend(1), Ok(()));
        }
        stop.store(true, Ordering::Relaxed);
        let stopped = (0..CHECK_EVERY).any(|_| budget.spend(1).is_err());
        assert!(stopped);
        assert!(Budget::unlimited().spend(u64::MAX).is_ok());
    }
}
