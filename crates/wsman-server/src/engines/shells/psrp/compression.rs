//! A PowerShell shell's `rsp:CompressionType`: when the Create asks for `xpress` (Windows'
//! PowerShell client does unless told not to), the stream data of its Sends arrives and that
//! of its ReceiveResponses leaves in WinRM's Xpress framing ([`wsman_proto::xpress`]). The
//! bridge calls [`Compression::inflate`] on Send and [`Compression::deflate`] on Receive; the
//! fragments in between stay whole and uncompressed.

use wsman_proto::ns;
use wsman_proto::xpress;
use wsman_proto::{Fault, Request};

use crate::error::{psrp_input_quota_fault, xpress_fault};

/// What one request may make of pwsh's input: the bytes of the lines its streams become
/// (`<Data ...>` and the base64 of the data as pwsh reads it), summed over all its streams,
/// within the shell's input queue. LZ77+Huffman turns a few hundred bytes into 64 KiB, so a
/// Send's size says nothing of what it inflates to: each stream is inflated at most to what
/// is left, and a request whose lines would not fit the queue is refused before any of it
/// is queued (the engine refuses a chunk larger than the queue anyway).
#[derive(Clone, Copy, Debug)]
pub(super) struct InputBudget {
    queue: usize,
    left: usize,
}

impl InputBudget {
    /// The budget of a request to a shell whose input queue holds `queue` bytes.
    pub(super) fn of_queue(queue: usize) -> Self {
        Self { queue, left: queue }
    }

    /// The most data bytes a line of `markup` bytes besides its base64 may still carry.
    pub(super) fn room(&self, markup: usize) -> usize {
        self.left.saturating_sub(markup) / 4 * 3
    }

    /// Counts a line of `markup` bytes and `data` bytes of data (base64 in the line).
    pub(super) fn spend(&mut self, markup: usize, data: usize) {
        let line = markup.saturating_add(wsman_proto::shell::encoded_base64_len(data));
        self.left = self.left.saturating_sub(line);
    }

    /// The fault of a request that would make more than the queue holds.
    fn exceeded(&self) -> Fault {
        psrp_input_quota_fault(self.queue)
    }
}

/// What a shell's stream data is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Compression {
    #[default]
    None,
    Xpress,
}

impl Compression {
    /// The Create's choice: `xpress` (any case), or none; another algorithm is a header we do
    /// not understand.
    pub(super) fn of_create(request: &Request) -> Result<Self, Fault> {
        match request.compression_type.as_deref() {
            None => Ok(Self::None),
            Some(name) if name.eq_ignore_ascii_case("xpress") => Ok(Self::Xpress),
            Some(_) => Err(Fault::must_understand(ns::SHELL, "CompressionType")),
        }
    }

    /// The CreateResponse's `rsp:CompressionMode`, as Windows writes it.
    pub(super) fn mode(self) -> &'static str {
        match self {
            Self::None => "NoCompression",
            Self::Xpress => "XpressCompression",
        }
    }

    /// A Send's stream data as the host gets it, at most `budget.room(markup)` bytes (see
    /// [`InputBudget`]). Xpress data is inflated block by block, each block's declared size
    /// checked against what is left before it is decoded; call it off the async workers.
    pub(super) fn inflate(
        self,
        data: Vec<u8>,
        budget: &InputBudget,
        markup: usize,
    ) -> Result<Vec<u8>, Fault> {
        let room = budget.room(markup);
        match self {
            Self::None if data.len() > room => Err(budget.exceeded()),
            Self::None => Ok(data),
            Self::Xpress => match xpress::decompress(&data, room) {
                Ok(inflated) => Ok(inflated),
                Err(error) => Err(xpress_fault(error, budget.queue)),
            },
        }
    }

    /// A Receive's stream data as the client gets it.
    pub(super) fn deflate(self, data: Vec<u8>) -> Vec<u8> {
        match self {
            Self::None => data,
            Self::Xpress => xpress::compress(&data),
        }
    }

    /// Bytes of output that still fit in `capacity` bytes of stream data once framed.
    pub(super) fn capacity(self, capacity: usize) -> usize {
        match self {
            Self::None => capacity,
            // A header per 64 KiB block, stored blocks being no longer than their data.
            Self::Xpress => {
                capacity.saturating_sub(xpress::HEADER * (capacity / xpress::BLOCK + 1))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_leaves_room_for_the_block_headers() {
        for capacity in [8, 300, 65_536, 65_540, 200_000, 512_000] {
            let fitted = Compression::Xpress.capacity(capacity);
            assert!(xpress::max_compressed_len(fitted) <= capacity, "{capacity}");
        }
        assert_eq!(Compression::None.capacity(300), 300);
    }

    #[test]
    fn bad_send_data_is_an_invalid_parameter() {
        let budget = InputBudget::of_queue(1000);
        let fault = Compression::Xpress
            .inflate(vec![9, 0, 20, 0], &budget, 10)
            .unwrap_err();
        assert!(fault.to_string().contains("Xpress"), "{fault}");
        assert_eq!(
            Compression::None
                .inflate(b"x".to_vec(), &budget, 10)
                .unwrap(),
            b"x"
        );
    }

    /// The budget is of the lines pwsh reads: a request's streams together, markup and
    /// base64 counted, never more than the queue; what would pass it is the quota fault.
    #[test]
    fn the_budget_is_the_queue_summed_over_streams() {
        let mut budget = InputBudget::of_queue(1000);
        assert_eq!(budget.room(100), 900 / 4 * 3);
        let block = xpress::compress(&[b'a'; 600]);
        let first = Compression::Xpress
            .inflate(block.clone(), &budget, 100)
            .unwrap();
        budget.spend(100, first.len());
        // 100 + 800 of 1000 spent: the same stream again does not fit.
        assert_eq!(budget.room(100), 0);
        let fault = Compression::Xpress
            .inflate(block, &budget, 100)
            .unwrap_err();
        assert!(format!("{fault:?}").contains("QuotaLimit"), "{fault:?}");
        let plain = Compression::None.inflate(vec![0; 1], &budget, 100);
        assert!(plain.is_err());
    }
}
