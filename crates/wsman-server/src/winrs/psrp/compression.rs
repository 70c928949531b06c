//! A PowerShell shell's `rsp:CompressionType`: when the Create asks for `xpress` (Windows'
//! PowerShell client does unless told not to), the stream data of its Sends arrives and that
//! of its ReceiveResponses leaves in WinRM's Xpress framing ([`wsman_proto::xpress`]). The
//! bridge calls [`Compression::inflate`] on Send and [`Compression::deflate`] on Receive; the
//! fragments in between stay whole and uncompressed.

use wsman_proto::ns;
use wsman_proto::xpress::{self, XpressError};
use wsman_proto::{Fault, Request};

/// Most bytes one Send's stream may decompress to. A Send carries at most a few PSRP
/// fragments (pypsrp and Windows keep them under the envelope size, 500 KB by default);
/// LZ77+Huffman can expand a few hundred bytes into 64 KiB, so the bound is set here, not
/// by the envelope.
pub(super) const MAX_SEND_INFLATED: usize = 8 << 20;

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

    /// A Send's stream data as the host gets it.
    pub(super) fn inflate(self, data: &[u8]) -> Result<Vec<u8>, Fault> {
        match self {
            Self::None => Ok(data.to_vec()),
            Self::Xpress => xpress::decompress(data, MAX_SEND_INFLATED).map_err(refused),
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

fn refused(error: XpressError) -> Fault {
    Fault::invalid_parameter(format!(
        "The stream data of the Send is not valid Xpress-compressed data: {error}. "
    ))
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
        let fault = Compression::Xpress.inflate(&[9, 0, 20, 0]).unwrap_err();
        assert!(fault.to_string().contains("Xpress"), "{fault}");
        assert_eq!(Compression::None.inflate(b"x").unwrap(), b"x");
    }
}
