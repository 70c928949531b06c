//! Xpress compression of shell stream data, as WinRM frames it (`rsp:CompressionType` `xpress`).
//!
//! Windows' PowerShell client asks for it on the Create (MS-WSMV 3.1.4.1.31.6, 3.2.4.1.19);
//! the stream data of every Send and ReceiveResponse is then compressed. MS-WSMV's product note
//! <134> names the variant and the framing: MS-XCA's LZ77+Huffman, applied to the bytes of each
//! `rsp:Stream` (before base64) in blocks of at most 64 KiB, each block led by a 4-byte header:
//! the block's original length − 1 and its compressed length − 1, both little-endian u16. A
//! block whose two lengths are equal is stored as it is (Windows stores blocks under 266 bytes
//! so, and any block that compression would not shrink).
//!
//! Why our own: no maintained crate does LZ77+Huffman, and the decoder reads what a client
//! sends, so every output byte is counted against a limit the caller gives ([`decompress`]);
//! a block's declared length is checked against that limit before anything is allocated.

mod decode;
mod encode;

pub use decode::decompress_block;
pub use encode::compress_block;

/// Largest block: MS-XCA's Huffman chunk, and what a u16 length − 1 can say.
pub const BLOCK: usize = 65536;
/// Windows leaves blocks shorter than this uncompressed (MS-WSMV <134>).
pub const MIN_COMPRESSED_BLOCK: usize = 266;
/// Bytes of a block's header.
pub const HEADER: usize = 4;

/// Why compressed stream data was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum XpressError {
    /// The data ends inside a block header or a block.
    #[error("the compressed data ends inside a block")]
    Truncated,
    /// A block says it is longer compressed than uncompressed, which no encoder writes.
    #[error("a block's compressed length {compressed} exceeds its length {original}")]
    Expanded { original: usize, compressed: usize },
    /// The decompressed data would exceed the caller's bound.
    #[error("the decompressed data would exceed {limit} bytes")]
    TooLarge { limit: usize },
    /// The 256-byte table does not describe a complete prefix code.
    #[error("the Huffman table of a block is not a complete prefix code")]
    BadTable,
    /// A match reaches before the block's first byte.
    #[error("a match refers to {distance} bytes back, before the block's start")]
    BadDistance { distance: usize },
    /// A match or literal would write past the block's declared length.
    #[error("a block decodes to more than its declared {expected} bytes")]
    Overrun { expected: usize },
    /// An extended match length is smaller than the 15 its encoding implies.
    #[error("a match length is encoded wrongly")]
    BadLength,
}

/// WinRM's framing of `data`: 64 KiB blocks, each compressed with LZ77+Huffman unless it is
/// shorter than [`MIN_COMPRESSED_BLOCK`] or would not shrink. Empty data is no block.
pub fn compress(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + HEADER * data.len().div_ceil(BLOCK));
    for block in data.chunks(BLOCK) {
        let packed = (block.len() >= MIN_COMPRESSED_BLOCK)
            .then(|| compress_block(block))
            .flatten()
            .filter(|c| c.len() < block.len());
        let body = packed.as_deref().unwrap_or(block);
        // Both lengths are 1..=65536 here, so length − 1 fits the u16.
        out.extend_from_slice(&u16_of(block.len() - 1).to_le_bytes());
        out.extend_from_slice(&u16_of(body.len() - 1).to_le_bytes());
        out.extend_from_slice(body);
    }
    out
}

/// The most [`compress`] can add to `len` bytes: a header per block (stored blocks are never
/// longer than their data). Callers size envelopes with it.
pub fn max_compressed_len(len: usize) -> usize {
    len + HEADER * len.div_ceil(BLOCK)
}

/// The data framed by [`compress`] (or by Windows), refused with a typed error if it is not
/// well formed or would decompress to more than `limit` bytes.
pub fn decompress(mut data: &[u8], limit: usize) -> Result<Vec<u8>, XpressError> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let header = data.get(..HEADER).ok_or(XpressError::Truncated)?;
        let original = usize::from(u16::from_le_bytes([header[0], header[1]])) + 1;
        let compressed = usize::from(u16::from_le_bytes([header[2], header[3]])) + 1;
        if compressed > original {
            return Err(XpressError::Expanded {
                original,
                compressed,
            });
        }
        if out.len().saturating_add(original) > limit {
            return Err(XpressError::TooLarge { limit });
        }
        let body = data
            .get(HEADER..HEADER + compressed)
            .ok_or(XpressError::Truncated)?;
        if compressed == original {
            out.extend_from_slice(body);
        } else {
            decompress_block(body, original, &mut out)?;
        }
        data = &data[HEADER + compressed..];
    }
    Ok(out)
}

fn u16_of(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

#[cfg(test)]
mod tests;
