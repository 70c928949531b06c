//! Why a batch of items could not be taken: below both the enumeration store and the errors
//! table, which maps it to its fault.

/// Why no batch was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unfit {
    /// The first item alone is this long, more than the space.
    TooLarge(usize),
    /// The budget ran out before the first item was made.
    Expired,
}
