//! MS-XCA 2.1: LZ77+Huffman compression of one block of at most 64 KiB.
//!
//! Three passes, as the specification lays them out: LZ77 matches found through a hash chain
//! (distance at most 65535, length at least 3), canonical Huffman code lengths of at most 15
//! bits over the 512 symbols (EOF, symbol 256, counted once), then the bit stream: 16-bit
//! little-endian words, most significant bit first, with the extra bytes of long match lengths
//! written after the two words the decoder holds in its register.

use super::BLOCK;

const MAX_CODE: u8 = 15;
const MIN_MATCH: usize = 3;
const MAX_DISTANCE: usize = 65535;
const HASH_BITS: u32 = 15;
/// Candidates looked at per position: enough for PSRP's repetitive CLIXML, cheap enough per
/// Receive.
const CHAIN_DEPTH: usize = 48;
const NONE: u32 = u32::MAX;
const EOF: usize = 256;

#[derive(Clone, Copy)]
enum Token {
    Literal(u8),
    Match { length: usize, distance: usize },
}

/// `block` in MS-XCA's LZ77+Huffman format (its table, then the bit stream ending with EOF);
/// `None` if it is longer than one 64 KiB block.
pub fn compress_block(block: &[u8]) -> Option<Vec<u8>> {
    if block.len() > BLOCK {
        return None;
    }
    let tokens = lz77(block);
    let mut counts = [0u32; 512];
    for token in &tokens {
        counts[symbol(*token)] += 1;
    }
    counts[EOF] += 1;
    let lengths = code_lengths(&counts);
    let codes = canonical_codes(&lengths);
    let mut writer = Writer::new(&lengths);
    let put = |writer: &mut Writer, s: usize| {
        writer.bits(u32::from(lengths[s]), u32::from(codes[s]));
    };
    for token in tokens {
        put(&mut writer, symbol(token));
        if let Token::Match { length, distance } = token {
            writer.long_length(length - MIN_MATCH);
            let high = high_bit(distance);
            writer.bits(high, (distance - (1 << high)) as u32);
        }
    }
    put(&mut writer, EOF);
    Some(writer.finish())
}

fn symbol(token: Token) -> usize {
    match token {
        Token::Literal(byte) => usize::from(byte),
        Token::Match { length, distance } => {
            256 + (length - MIN_MATCH).min(15) + 16 * high_bit(distance) as usize
        }
    }
}

/// Index of the highest set bit (`distance` > 0).
fn high_bit(distance: usize) -> u32 {
    usize::BITS - 1 - distance.leading_zeros()
}

fn hash(bytes: &[u8]) -> usize {
    let v = u32::from(bytes[0]) << 16 | u32::from(bytes[1]) << 8 | u32::from(bytes[2]);
    (v.wrapping_mul(0x9E37_79B1) >> (32 - HASH_BITS)) as usize
}

/// Greedy LZ77 over a hash chain.
fn lz77(data: &[u8]) -> Vec<Token> {
    let mut head = vec![NONE; 1 << HASH_BITS];
    let mut previous = vec![NONE; data.len()];
    let mut tokens = Vec::with_capacity(data.len() / 2);
    let mut at = 0;
    while at < data.len() {
        let (length, distance) = longest_match(data, at, &head, &previous);
        insert(data, at, &mut head, &mut previous);
        if length >= MIN_MATCH {
            for next in at + 1..at + length {
                insert(data, next, &mut head, &mut previous);
            }
            tokens.push(Token::Match { length, distance });
            at += length;
        } else {
            tokens.push(Token::Literal(data[at]));
            at += 1;
        }
    }
    tokens
}

fn insert(data: &[u8], at: usize, head: &mut [u32], previous: &mut [u32]) {
    if at + MIN_MATCH <= data.len() {
        let h = hash(&data[at..]);
        previous[at] = head[h];
        head[h] = at as u32;
    }
}

fn longest_match(data: &[u8], at: usize, head: &[u32], previous: &[u32]) -> (usize, usize) {
    if at + MIN_MATCH > data.len() {
        return (0, 0);
    }
    let mut best = (0, 0);
    let mut candidate = head[hash(&data[at..])];
    for _ in 0..CHAIN_DEPTH {
        if candidate == NONE {
            break;
        }
        let from = candidate as usize;
        let distance = at - from;
        if distance > MAX_DISTANCE {
            break;
        }
        let length = data[from..]
            .iter()
            .zip(&data[at..])
            .take_while(|(a, b)| a == b)
            .count();
        if length > best.0 {
            best = (length, distance);
            if at + length == data.len() {
                break;
            }
        }
        candidate = previous[from];
    }
    best
}

/// Huffman code lengths of at most 15 bits for every counted symbol, a complete code (two
/// symbols at least: a lone symbol gets a partner, as the decoder's table must be full).
fn code_lengths(counts: &[u32; 512]) -> [u8; 512] {
    let mut weights: Vec<(usize, u64)> = counts
        .iter()
        .enumerate()
        .filter(|(_, c)| **c > 0)
        .map(|(s, c)| (s, u64::from(*c)))
        .collect();
    if weights.len() == 1 {
        let partner = if weights[0].0 == 0 { 1 } else { 0 };
        weights.push((partner, 1));
    }
    loop {
        let lengths = huffman_lengths(&weights);
        if lengths.iter().all(|l| *l <= MAX_CODE) {
            return lengths;
        }
        // Too deep: flatten the counts and build again (a rare case on 64 KiB blocks).
        for (_, w) in &mut weights {
            *w = (*w).div_ceil(2);
        }
    }
}

/// Plain Huffman code lengths (unlimited depth) for the weighted symbols.
fn huffman_lengths(weights: &[(usize, u64)]) -> [u8; 512] {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    // Nodes: the leaves first, then the merged ones; each remembers its parent.
    let mut parent = vec![usize::MAX; weights.len()];
    let mut heap: BinaryHeap<Reverse<(u64, usize)>> = weights
        .iter()
        .enumerate()
        .map(|(i, (_, w))| Reverse((*w, i)))
        .collect();
    while heap.len() > 1 {
        let (Some(Reverse((wa, a))), Some(Reverse((wb, b)))) = (heap.pop(), heap.pop()) else {
            break;
        };
        let node = parent.len();
        parent.push(usize::MAX);
        parent[a] = node;
        parent[b] = node;
        heap.push(Reverse((wa + wb, node)));
    }
    let mut depth = vec![0u32; parent.len()];
    // Parents come after their children, so walking down from the root fills every depth.
    for node in (0..parent.len()).rev() {
        if parent[node] != usize::MAX {
            depth[node] = depth[parent[node]] + 1;
        }
    }
    let mut lengths = [0u8; 512];
    for (i, (symbol, _)) in weights.iter().enumerate() {
        lengths[*symbol] = u8::try_from(depth[i]).unwrap_or(u8::MAX);
    }
    lengths
}

/// Codes in canonical order: by length, then by symbol, counting up from zero.
fn canonical_codes(lengths: &[u8; 512]) -> [u16; 512] {
    let mut codes = [0u16; 512];
    let mut code = 0u32;
    for length in 1..=MAX_CODE {
        for (symbol, _) in lengths.iter().enumerate().filter(|(_, l)| **l == length) {
            codes[symbol] = code as u16;
            code += 1;
        }
        code <<= 1;
    }
    codes
}

/// MS-XCA's output: two reserved words ahead of the extra bytes, filled as bits complete.
struct Writer {
    out: Vec<u8>,
    first: usize,
    second: usize,
    pending: u32,
    count: u32,
}

impl Writer {
    fn new(lengths: &[u8; 512]) -> Self {
        let mut out = Vec::with_capacity(BLOCK / 2);
        out.extend(lengths.chunks(2).map(|pair| pair[0] | (pair[1] << 4)));
        out.extend_from_slice(&[0; 4]);
        Self {
            out,
            first: 256,
            second: 258,
            pending: 0,
            count: 0,
        }
    }

    /// Appends the low `n` (at most 15) bits of `value`; at most 16 bits stay pending.
    fn bits(&mut self, n: u32, value: u32) {
        if n == 0 {
            return;
        }
        self.pending = (self.pending << n) | (value & ((1 << n) - 1));
        self.count += n;
        // A word is written only once a bit beyond it arrives (MS-XCA's WriteBits): until
        // then, extra length bytes go after the two reserved words, where the decoder,
        // which has not yet refilled, reads them.
        if self.count > 16 {
            self.count -= 16;
            let word = (self.pending >> self.count) as u16;
            self.pending &= (1 << self.count) - 1;
            self.out[self.first..self.first + 2].copy_from_slice(&word.to_le_bytes());
            self.first = self.second;
            self.second = self.out.len();
            self.out.extend_from_slice(&[0; 2]);
        }
    }

    /// The extra bytes of a match of `length` − 3 = `rest` ≥ 15.
    fn long_length(&mut self, rest: usize) {
        if rest < 15 {
            return;
        }
        let beyond = rest - 15;
        if beyond < 255 {
            self.out.push(beyond as u8);
            return;
        }
        self.out.push(255);
        match u16::try_from(rest) {
            Ok(short) => self.out.extend_from_slice(&short.to_le_bytes()),
            Err(_) => {
                self.out.extend_from_slice(&[0, 0]);
                self.out
                    .extend_from_slice(&u32::try_from(rest).unwrap_or(u32::MAX).to_le_bytes());
            }
        }
    }

    fn finish(mut self) -> Vec<u8> {
        if self.count > 0 {
            let word = (self.pending << (16 - self.count)) as u16;
            self.out[self.first..self.first + 2].copy_from_slice(&word.to_le_bytes());
        }
        self.out
    }
}
