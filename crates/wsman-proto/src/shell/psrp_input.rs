//! The client's PSRP fragments, checked before they reach pwsh (MS-PSRP 2.2.4, 3.1.5.1.1):
//! each Send (and a Create's `creationXml`, a Command's `Arguments`) carries whole fragments;
//! per PSGuid and stream, a message's fragments come in order (FragmentId 0 with the start
//! flag, then one up each, the last with the end flag) and a message ends before the next
//! begins. What breaks that is refused whole with a fault and never written, so a client's
//! bad input cannot wedge or kill the pool's pwsh (pwsh's defragmenter would fail the session).
//! Beside the codec, so that the server's errors table maps [`InputError`] without reaching up
//! into the shells engine.

use super::psrp::{FragmentHeader, FRAGMENT_HEADER, MAX_FRAGMENT};

/// Where the client's fragments of one PSGuid and stream are: between messages, or inside
/// one, expecting its next fragment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InputOrder {
    open: Option<(u64, u64)>,
}

/// Why a client's data is not the fragments that may come next.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error(
        "the data ends inside a fragment (a fragment of {declared} bytes of blob holds {held})"
    )]
    NotWhole { declared: usize, held: usize },
    #[error("a fragment's blob of {0} bytes is longer than {MAX_FRAGMENT}")]
    TooLong(usize),
    #[error("fragment {fragment_id} of object {object_id} is out of order ({expected})")]
    OutOfOrder {
        object_id: u64,
        fragment_id: u64,
        expected: String,
    },
}

impl InputOrder {
    /// The order after `data`, if every fragment of it is whole and comes in order.
    pub fn after(self, data: &[u8]) -> Result<Self, InputError> {
        let mut order = self;
        let mut rest = data;
        while !rest.is_empty() {
            let short = InputError::NotWhole {
                declared: FRAGMENT_HEADER,
                held: rest.len(),
            };
            let Some(h) = FragmentHeader::parse(rest) else {
                return Err(short);
            };
            let blob = h.blob_len;
            if blob > MAX_FRAGMENT {
                return Err(InputError::TooLong(blob));
            }
            let held = rest.len() - FRAGMENT_HEADER;
            if held < blob {
                return Err(InputError::NotWhole {
                    declared: blob,
                    held,
                });
            }
            let expected = match order.open {
                Some((object, next)) => {
                    (h.object_id == object && h.fragment_id == next && !h.start)
                        .then_some(())
                        .ok_or_else(|| format!("expected fragment {next} of object {object}"))
                }
                None => (h.start && h.fragment_id == 0)
                    .then_some(())
                    .ok_or_else(|| "expected the start fragment of a message".to_owned()),
            };
            if let Err(expected) = expected {
                return Err(InputError::OutOfOrder {
                    object_id: h.object_id,
                    fragment_id: h.fragment_id,
                    expected,
                });
            }
            order.open = (!h.end).then_some((h.object_id, h.fragment_id + 1));
            rest = &rest[FRAGMENT_HEADER + blob..];
        }
        Ok(order)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frag(object_id: u64, fragment_id: u64, start: bool, end: bool) -> Vec<u8> {
        let h = FragmentHeader {
            object_id,
            fragment_id,
            start,
            end,
            blob_len: 4,
        };
        h.fragment(b"blob")
    }

    #[test]
    fn messages_in_order_across_sends_are_taken() {
        let order = InputOrder::default();
        let order = order.after(&frag(1, 0, true, true)).unwrap();
        let order = order.after(&frag(2, 0, true, false)).unwrap();
        let mut two = frag(2, 1, false, false);
        two.extend(frag(2, 2, false, true));
        let order = order.after(&two).unwrap();
        assert_eq!(order, InputOrder::default());
        assert_eq!(order.after(b""), Ok(order));
    }

    #[test]
    fn out_of_order_fragments_are_refused() {
        let fresh = InputOrder::default();
        let open = fresh.after(&frag(5, 0, true, false)).unwrap();
        // Before any message, and within message 5 (its fragment 0 taken).
        let cases = [
            (fresh, frag(1, 1, false, true)),
            (fresh, frag(1, 1, true, true)),
            (fresh, frag(1, 0, false, true)),
            (open, frag(6, 0, true, true)),
            (open, frag(5, 2, false, true)),
            (open, frag(5, 1, true, true)),
        ];
        for (order, bad) in cases {
            let refused = order.after(&bad);
            assert!(
                matches!(refused, Err(InputError::OutOfOrder { .. })),
                "{order:?}"
            );
        }
        // A refused Send leaves the order where it was.
        assert!(open.after(&frag(5, 1, false, true)).is_ok());
    }

    #[test]
    fn cut_or_oversized_fragments_are_refused() {
        let whole = frag(1, 0, true, true);
        for cut in 1..whole.len() {
            assert!(matches!(
                InputOrder::default().after(&whole[..cut]),
                Err(InputError::NotWhole { .. })
            ));
        }
        let mut huge = whole.clone();
        huge[17..21].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(
            InputOrder::default().after(&huge),
            Err(InputError::TooLong(u32::MAX as usize))
        );
    }
}
