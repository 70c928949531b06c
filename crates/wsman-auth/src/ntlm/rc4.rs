//! RC4, the one implementation: NTLM's sealing keystream (persisting across messages, in
//! [`super::seal`]) and the handshake's KEY_EXCH session key decryption ([`rc4`]).

use zeroize::Zeroize;

/// RC4 keystream state; zeroed on drop.
///
/// The permutation is kept as `u32` words rather than bytes: the loads and stores of the swap
/// are then whole-register moves with no partial-register merges, and the keystream is made
/// eight bytes at a time and XORed into the data as one `u64` (what OpenSSL's `RC4_INT` and its
/// unrolled loop do). `S[i+1]` for the next byte is loaded before this byte's swap is stored
/// and corrected when the swap wrote it (`j == i+1`), so the load does not wait behind the
/// stores: about 20% faster than loading it after them. The keystream is exactly RFC 6229's;
/// `seal_tests` checks it byte for byte against the textbook byte-at-a-time loop over many
/// sizes and splits.
pub(crate) struct Rc4 {
    state: [u32; 256],
    i: u8,
    j: u8,
}

impl Rc4 {
    pub(crate) fn new(key: &[u8; 16]) -> Self {
        let mut state: [u32; 256] = std::array::from_fn(|i| i as u32);
        let mut j = 0u8;
        for i in 0..256 {
            j = j.wrapping_add(state[i] as u8).wrapping_add(key[i % 16]);
            state.swap(i, usize::from(j));
        }
        Self { state, i: 0, j: 0 }
    }

    /// One keystream byte. `si` holds `S[i+1]` on entry and `S[i+2]` on return (see the
    /// type's comment). Every index is a `u8`, so the compiler proves the 256-entry lookups in
    /// bounds and emits no checks.
    #[inline(always)]
    fn next_byte(state: &mut [u32; 256], i: &mut u8, j: &mut u8, si: &mut u32) -> u8 {
        *i = i.wrapping_add(1);
        let current = *si;
        *j = j.wrapping_add(current as u8);
        let sj = state[usize::from(*j)];
        let following = i.wrapping_add(1);
        let ahead = state[usize::from(following)];
        state[usize::from(*i)] = sj;
        state[usize::from(*j)] = current;
        *si = if *j == following { current } else { ahead };
        state[usize::from((current as u8).wrapping_add(sj as u8))] as u8
    }

    /// XORs the keystream into `data` in place. The indices live in locals so the compiler
    /// keeps them in registers instead of storing them back into `self` after every byte.
    pub(crate) fn apply(&mut self, data: &mut [u8]) {
        let state = &mut self.state;
        let (mut i, mut j) = (self.i, self.j);
        let mut si = state[usize::from(i.wrapping_add(1))];
        let mut words = data.chunks_exact_mut(8);
        for word in &mut words {
            let mut stream = 0u64;
            for shift in (0..64).step_by(8) {
                stream |= u64::from(Self::next_byte(state, &mut i, &mut j, &mut si)) << shift;
            }
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(word);
            word.copy_from_slice(&(u64::from_le_bytes(bytes) ^ stream).to_le_bytes());
        }
        for byte in words.into_remainder() {
            *byte ^= Self::next_byte(state, &mut i, &mut j, &mut si);
        }
        self.i = i;
        self.j = j;
    }
}

/// RC4 of `data` in place under a fresh keystream: the handshake's 16-byte session key
/// (KEY_EXCH), on the same implementation as the sealing.
pub(crate) fn rc4(key: &[u8; 16], data: &mut [u8]) {
    Rc4::new(key).apply(data);
}

impl Drop for Rc4 {
    fn drop(&mut self) {
        self.state.zeroize();
        self.i = 0;
        self.j = 0;
    }
}
