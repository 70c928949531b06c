//! Records a following reader found gone: a jump in the journal's sequence numbers between
//! two entries it read one after the other.
//!
//! Why a jump means loss here: journald numbers every entry it writes from one counter per
//! `__SEQNUM_ID`, across all its files, the user journals included. A reader that opens every
//! file (the in-process reader opens "all journals", `journalctl` without `--system` or
//! `--user` reads every file it may) reads them merged in that order, so two entries it reads
//! in a row with the same `__SEQNUM_ID` are consecutive unless the entries between them were in
//! files it no longer holds (vacuumed, rotated away before it read them). Entries of another
//! `__SEQNUM_ID` (another boot's counter, another machine's files) say nothing about this one's:
//! the check starts again from them, so it may miss a gap there but never claims one.

/// Record ids `first..=last` were gone when the reader got to them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gap {
    pub first: u64,
    pub last: u64,
}

/// The last entry read, to compare the next one with.
#[derive(Debug, Default)]
pub struct GapCheck {
    /// `__SEQNUM_ID` and `__SEQNUM` of the last entry read; none before the first or after one
    /// without them.
    last: Option<(String, u64)>,
}

impl GapCheck {
    /// Takes in the next entry read; the records missing right before it, if any.
    pub fn next(&mut self, seqnum_id: Option<&str>, seqnum: Option<u64>) -> Option<Gap> {
        let (Some(id), Some(seqnum)) = (seqnum_id, seqnum) else {
            self.last = None;
            return None;
        };
        match &mut self.last {
            Some((last_id, last)) if last_id == id => {
                let gap = (seqnum > last.saturating_add(1)).then(|| Gap {
                    first: *last + 1,
                    last: seqnum - 1,
                });
                *last = seqnum;
                gap
            }
            _ => {
                self.last = Some((id.to_owned(), seqnum));
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gaps(entries: &[(Option<&str>, Option<u64>)]) -> Vec<Gap> {
        let mut check = GapCheck::default();
        entries
            .iter()
            .filter_map(|(id, n)| check.next(*id, *n))
            .collect()
    }

    #[test]
    fn consecutive_records_have_no_gap() {
        let a = Some("a");
        assert_eq!(gaps(&[(a, Some(7)), (a, Some(8)), (a, Some(9))]), vec![]);
    }

    #[test]
    fn a_jump_names_the_records_between() {
        let a = Some("a");
        assert_eq!(
            gaps(&[
                (a, Some(7)),
                (a, Some(8)),
                (a, Some(15)),
                (a, Some(16)),
                (a, Some(18))
            ]),
            vec![
                Gap { first: 9, last: 14 },
                Gap {
                    first: 17,
                    last: 17
                }
            ]
        );
    }

    #[test]
    fn another_counter_is_no_gap_and_starts_the_check_again() {
        let (a, b) = (Some("a"), Some("b"));
        // A new counter (journald started a new sequence) and back: nothing is claimed.
        assert_eq!(
            gaps(&[(a, Some(100)), (b, Some(1)), (b, Some(2)), (a, Some(300))]),
            vec![]
        );
        // After the switch, the new counter's own jumps count.
        assert_eq!(
            gaps(&[(a, Some(100)), (b, Some(1)), (b, Some(5))]),
            vec![Gap { first: 2, last: 4 }]
        );
    }

    #[test]
    fn an_entry_without_a_sequence_number_starts_the_check_again() {
        let a = Some("a");
        assert_eq!(
            gaps(&[
                (a, Some(1)),
                (a, None),
                (a, Some(9)),
                (None, Some(10)),
                (a, Some(20))
            ]),
            vec![]
        );
    }

    #[test]
    fn a_number_that_goes_back_is_no_gap() {
        let a = Some("a");
        assert_eq!(gaps(&[(a, Some(10)), (a, Some(4)), (a, Some(5))]), vec![]);
        assert_eq!(gaps(&[(a, Some(10)), (a, Some(10)), (a, Some(11))]), vec![]);
    }
}
