//! RFC 4121 (CFX) wrap tokens: the header check every token passes before anyone decrypts
//! it, and [`CfxSealer`], our own sealed wrap/unwrap for contexts whose key is
//! aes128/aes256-cts-hmac-sha1-96 (the keys come from MIT's lucid context export).
//!
//! The header check exists because MIT's `gss_unwrap_iov` accepts integrity-only tokens and
//! libgssapi drops the `conf_state` that would tell, so a token that is not sealed must be
//! refused by its header bytes. Pre-CFX tokens (RC4-HMAC, DES3 session keys) are refused as
//! well: WinRM over AES only.
#![forbid(unsafe_code)]

use super::rfc3961::{Enctype, UsageKeys, BLOCK, CHECKSUM_LEN};

/// TOK_ID of a CFX wrap token.
const WRAP_TOKEN_ID: [u8; 2] = [0x05, 0x04];
/// Flags byte: the token was sent by the context acceptor.
const FLAG_SENT_BY_ACCEPTOR: u8 = 0x01;
/// Flags byte: the payload is encrypted.
const FLAG_SEALED: u8 = 0x02;
/// Bits of the flags byte RFC 4121 defines (AcceptorSubkey is 0x04).
const KNOWN_FLAGS: u8 = 0x07;
/// Filler byte after the flags.
const FILLER: u8 = 0xff;
/// Length of the fixed token header.
pub(super) const CFX_HEADER_LEN: usize = 16;

/// Who sent the token being checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Sender {
    Initiator,
    Acceptor,
}

/// Why a header is refused before decryption.
pub(super) fn check_sealed_wrap_header(header: &[u8], sender: Sender) -> Result<(), &'static str> {
    if header.len() < CFX_HEADER_LEN {
        return Err("wrap token header shorter than 16 bytes");
    }
    if header[0..2] != WRAP_TOKEN_ID {
        return Err("not an RFC 4121 wrap token (only AES session keys are supported)");
    }
    let flags = header[2];
    if flags & !KNOWN_FLAGS != 0 {
        return Err("unknown wrap token flags");
    }
    if header[3] != FILLER {
        return Err("bad wrap token filler byte");
    }
    if flags & FLAG_SEALED == 0 {
        return Err("wrap token is integrity-only, not sealed");
    }
    let from_acceptor = flags & FLAG_SENT_BY_ACCEPTOR != 0;
    if from_acceptor != (sender == Sender::Acceptor) {
        return Err("wrap token direction flag does not match the sender");
    }
    Ok(())
}

/// Flags byte: the acceptor's subkey protects the token.
const FLAG_ACCEPTOR_SUBKEY: u8 = 0x04;
/// RFC 4121 key usages of sealed wrap tokens.
const USAGE_ACCEPTOR_SEAL: u32 = 22;
const USAGE_INITIATOR_SEAL: u32 = 24;
/// Right rotation of our split tokens: the encrypted header copy and the checksum move into
/// the header part, so that the data part is exactly as long as the plaintext (what MIT's
/// `gss_wrap_iov` with HEADER | DATA | PADDING produces, and what MS-WSMV peers expect).
const SPLIT_RRC: usize = BLOCK + CHECKSUM_LEN;
/// Length of the header part of a split token: token header, rotated tail, confounder.
pub(super) const SPLIT_HEADER_LEN: usize = CFX_HEADER_LEN + SPLIT_RRC + BLOCK;

/// Which replay and ordering checks the negotiated context flags ask for, as MIT applies
/// them (and libgssapi turns every supplementary status into an error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SequenceCheck {
    /// GSS_C_SEQUENCE_FLAG: every token must carry the next number.
    Strict,
    /// GSS_C_REPLAY_FLAG only: numbers must increase (gaps allowed, no replays).
    NoReplay,
    /// Neither flag: no check.
    None,
}

/// What a [`CfxSealer`] is built from: the lucid context's CFX key data.
pub(super) struct CfxKeyData<'a> {
    pub(super) enctype_number: u32,
    pub(super) initiator_key: &'a [u8],
    /// The acceptor subkey and its enctype, when the acceptor asserted one.
    pub(super) acceptor_subkey: Option<(u32, &'a [u8])>,
    pub(super) send_seq: u64,
    /// MIT's lucid export gives the *initial* receive number, not how many the handshake
    /// used. A SPNEGO handshake may end with the peer's mechListMIC, which MIT verified
    /// with that number; so with SPNEGO the first wrap token may carry initial + 1.
    pub(super) recv_seq: u64,
    pub(super) handshake_mic_window: u64,
}

/// Keys of one base key: what we seal with and what the peer seals with.
struct KeyPair {
    send: UsageKeys,
    recv: UsageKeys,
}

impl KeyPair {
    fn derive(enctype: Enctype, key: &[u8], we_are: Sender) -> Option<Self> {
        let (send_usage, recv_usage) = match we_are {
            Sender::Initiator => (USAGE_INITIATOR_SEAL, USAGE_ACCEPTOR_SEAL),
            Sender::Acceptor => (USAGE_ACCEPTOR_SEAL, USAGE_INITIATOR_SEAL),
        };
        Some(Self {
            send: UsageKeys::derive(enctype, key, send_usage)?,
            recv: UsageKeys::derive(enctype, key, recv_usage)?,
        })
    }
}

/// Our own sealed RFC 4121 wrap and unwrap for one established context: the same tokens MIT
/// makes and accepts, at the speed of AES-NI and SHA-NI.
pub(super) struct CfxSealer {
    we_are: Sender,
    /// Keys of the initiator's context key (subkey or session key).
    initiator_keys: KeyPair,
    /// Keys of the acceptor subkey, when there is one: then every token is protected by it.
    acceptor_keys: Option<KeyPair>,
    send_seq: u64,
    /// The next sequence number expected from the peer.
    recv_seq: u64,
    check: SequenceCheck,
    /// How many numbers the peer may have used before its first wrap token (see
    /// [`CfxKeyData::handshake_mic_window`]); zero after the first token.
    first_token_window: u64,
}

impl CfxSealer {
    /// `None` when an enctype is not one we implement (the caller keeps MIT) or a key has the
    /// wrong length.
    pub(super) fn new(keys: &CfxKeyData<'_>, we_are: Sender, check: SequenceCheck) -> Option<Self> {
        let enctype = Enctype::from_number(keys.enctype_number)?;
        let initiator_keys = KeyPair::derive(enctype, keys.initiator_key, we_are)?;
        let acceptor_keys = match keys.acceptor_subkey {
            Some((number, key)) => {
                Some(KeyPair::derive(Enctype::from_number(number)?, key, we_are)?)
            }
            None => None,
        };
        Some(Self {
            we_are,
            initiator_keys,
            acceptor_keys,
            send_seq: keys.send_seq,
            recv_seq: keys.recv_seq,
            check,
            first_token_window: keys.handshake_mic_window,
        })
    }

    fn token_header(&mut self, rrc: u16) -> [u8; CFX_HEADER_LEN] {
        let mut flags = FLAG_SEALED;
        if self.we_are == Sender::Acceptor {
            flags |= FLAG_SENT_BY_ACCEPTOR;
        }
        if self.acceptor_keys.is_some() {
            flags |= FLAG_ACCEPTOR_SUBKEY;
        }
        let mut header = [0u8; CFX_HEADER_LEN];
        header[0..2].copy_from_slice(&WRAP_TOKEN_ID);
        header[2] = flags;
        header[3] = FILLER;
        // EC = 0: AES-CTS needs no padding.
        header[6..8].copy_from_slice(&rrc.to_be_bytes());
        header[8..16].copy_from_slice(&self.send_seq.to_be_bytes());
        self.send_seq = self.send_seq.wrapping_add(1);
        header
    }

    fn send_keys(&self) -> &UsageKeys {
        &self
            .acceptor_keys
            .as_ref()
            .unwrap_or(&self.initiator_keys)
            .send
    }

    /// confounder | plain | header copy (RRC zero), encrypted, checksum appended (a large
    /// message on two threads, see [`super::rfc3961::UsageKeys::encrypt_parts`]).
    fn seal(&self, header: &[u8; CFX_HEADER_LEN], plain: &[u8]) -> Result<Vec<u8>, &'static str> {
        let confounder = new_confounder()?;
        Ok(self
            .send_keys()
            .encrypt_parts(&[&confounder, plain, &header_copy(header)]))
    }

    /// Seal `plain` for MS-WSMV: (header part, data part), the data part as long as `plain`.
    pub(super) fn wrap_split(&mut self, plain: &[u8]) -> Result<(Vec<u8>, Vec<u8>), &'static str> {
        let mut token = Vec::with_capacity(SPLIT_HEADER_LEN + plain.len() + CHECKSUM_LEN);
        let header_len = self.wrap_split_into(&[plain], &mut token)?;
        let data = token.split_off(header_len);
        Ok((token, data))
    }

    /// [`CfxSealer::wrap_split`] of `parts` joined, appended to `out` as the header part then
    /// the data part; returns the header part's length. The plaintext is copied once, into
    /// `out`, and encrypted there: a sealed Receive answer is the daemon's largest message.
    pub(super) fn wrap_split_into(
        &mut self,
        parts: &[&[u8]],
        out: &mut Vec<u8>,
    ) -> Result<usize, &'static str> {
        let confounder = new_confounder()?;
        let header = self.token_header(SPLIT_RRC as u16);
        Ok(self.wrap_split_into_with(&header, &confounder, parts, out))
    }

    /// [`CfxSealer::wrap_split_into`] with a given header and confounder (the tests fix them).
    /// On the wire: header | rotate_right(sealed, RRC) = header | tail | confounder | data,
    /// where sealed = E(confounder | data | header copy) | checksum and the tail is its last
    /// RRC bytes. The ciphertext is written after a placeholder for the tail, which is then
    /// moved into it.
    fn wrap_split_into_with(
        &self,
        header: &[u8; CFX_HEADER_LEN],
        confounder: &[u8; BLOCK],
        parts: &[&[u8]],
        out: &mut Vec<u8>,
    ) -> usize {
        let start = out.len();
        out.extend_from_slice(header);
        out.resize(start + CFX_HEADER_LEN + SPLIT_RRC, 0);
        let copy = header_copy(header);
        let mut sealed_parts = Vec::with_capacity(parts.len() + 2);
        sealed_parts.push(&confounder[..]);
        sealed_parts.extend_from_slice(parts);
        sealed_parts.push(&copy[..]);
        self.send_keys().encrypt_parts_into(&sealed_parts, out);
        let tail_start = out.len() - SPLIT_RRC;
        out.copy_within(tail_start.., start + CFX_HEADER_LEN);
        out.truncate(tail_start);
        SPLIT_HEADER_LEN
    }

    /// Seal `plain` as one whole token (RRC zero), the form `gss_wrap` produces.
    pub(super) fn wrap_token(&mut self, plain: &[u8]) -> Result<Vec<u8>, &'static str> {
        let header = self.token_header(0);
        let sealed = self.seal(&header, plain)?;
        let mut token = Vec::with_capacity(CFX_HEADER_LEN + sealed.len());
        token.extend_from_slice(&header);
        token.extend_from_slice(&sealed);
        Ok(token)
    }

    /// Open a sealed token from the peer, given as its header part and the rest (either may
    /// hold any share of it; any EC and RRC). Refuses a bad header, checksum, header copy or
    /// sequence number.
    pub(super) fn unwrap(&mut self, header: &[u8], rest: &[u8]) -> Result<Vec<u8>, &'static str> {
        let mut plain = Vec::new();
        self.unwrap_into(header, rest, &mut plain)?;
        Ok(plain)
    }

    /// [`CfxSealer::unwrap`], appending the plaintext to `out`; on failure `out` holds what
    /// it held before. The ciphertext after the confounder is copied once, into `out`, and
    /// decrypted there: the token's rotation is undone by the copy, and the confounder block
    /// is decrypted aside and only fed to the checksum.
    pub(super) fn unwrap_into(
        &mut self,
        header: &[u8],
        rest: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), &'static str> {
        let start = out.len();
        match self.open_into(header, rest, out) {
            Ok(plain_len) => {
                out.truncate(start + plain_len);
                Ok(())
            }
            Err(reason) => {
                out.truncate(start);
                Err(reason)
            }
        }
    }

    /// The checks and the decryption of [`CfxSealer::unwrap_into`]: appends data | filler |
    /// header copy to `out` and returns the data's length (the caller cuts the rest, or all of
    /// it on failure).
    fn open_into(
        &mut self,
        header: &[u8],
        rest: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<usize, &'static str> {
        let start = out.len();
        let opened = self.open_header(header, rest)?;
        let token_header = opened.header;
        let plain_len = Self::decrypt_into(&opened, out)?;
        // out[start..]: data | filler (EC bytes) | header copy
        let copy = &out[start + plain_len + opened.ec..];
        if copy[0..6] != token_header[0..6] || copy[8..16] != token_header[8..16] {
            return Err("encrypted header copy does not match the token header");
        }
        let seq = u64::from_be_bytes(token_header[8..16].try_into().unwrap_or([0; 8]));
        self.check_sequence(seq)?;
        Ok(plain_len)
    }

    /// The checks before decryption: the token header (wherever the parts split it), the key
    /// it names, and a length that fits its extra count.
    fn open_header<'a>(
        &'a self,
        header: &'a [u8],
        rest: &'a [u8],
    ) -> Result<Opened<'a>, &'static str> {
        let peer = match self.we_are {
            Sender::Initiator => Sender::Acceptor,
            Sender::Acceptor => Sender::Initiator,
        };
        let mut token_header = [0u8; CFX_HEADER_LEN];
        let (first, second): (&[u8], &[u8]) = if header.len() >= CFX_HEADER_LEN {
            token_header.copy_from_slice(&header[..CFX_HEADER_LEN]);
            (&header[CFX_HEADER_LEN..], rest)
        } else if header.len() + rest.len() >= CFX_HEADER_LEN {
            let from_rest = CFX_HEADER_LEN - header.len();
            token_header[..header.len()].copy_from_slice(header);
            token_header[header.len()..].copy_from_slice(&rest[..from_rest]);
            (&[], &rest[from_rest..])
        } else {
            return Err("wrap token shorter than its header");
        };
        check_sealed_wrap_header(&token_header, peer)?;
        let keys = match (
            token_header[2] & FLAG_ACCEPTOR_SUBKEY != 0,
            &self.acceptor_keys,
        ) {
            (true, Some(acceptor)) => &acceptor.recv,
            (true, None) => return Err("wrap token claims an acceptor subkey the context lacks"),
            (false, _) => &self.initiator_keys.recv,
        };
        let ec = usize::from(u16::from_be_bytes([token_header[4], token_header[5]]));
        let rrc = usize::from(u16::from_be_bytes([token_header[6], token_header[7]]));
        let body_len = first.len() + second.len();
        if body_len < BLOCK + ec + CFX_HEADER_LEN + CHECKSUM_LEN {
            return Err("wrap token too short for its extra count");
        }
        Ok(Opened {
            header: token_header,
            keys,
            ec,
            body: RotatedBody {
                first,
                second,
                rotation: rrc % body_len,
            },
        })
    }

    /// Decrypts the token's confounder | data | filler | header copy, appending all but the
    /// confounder to `out` (left as it was on a checksum mismatch is the caller's job);
    /// returns the data's length.
    fn decrypt_into(opened: &Opened<'_>, out: &mut Vec<u8>) -> Result<usize, &'static str> {
        let body = &opened.body;
        let sealed_len = body.len() - CHECKSUM_LEN;
        let mut checksum = [0u8; CHECKSUM_LEN];
        body.copy_to(sealed_len, &mut checksum);
        let mut confounder = [0u8; BLOCK];
        body.copy_to(0, &mut confounder);
        let start = out.len();
        body.append_range(BLOCK, sealed_len, out);
        let verified =
            opened
                .keys
                .decrypt_after_confounder(&confounder, &mut out[start..], &checksum);
        if !verified {
            return Err("wrap token checksum mismatch");
        }
        Ok(sealed_len - BLOCK - opened.ec - CFX_HEADER_LEN)
    }

    fn check_sequence(&mut self, seq: u64) -> Result<(), &'static str> {
        let window = std::mem::take(&mut self.first_token_window);
        match self.check {
            SequenceCheck::Strict
                if seq < self.recv_seq || seq > self.recv_seq.saturating_add(window) =>
            {
                return Err("wrap token out of sequence (replayed, reordered or lost)")
            }
            SequenceCheck::NoReplay if seq < self.recv_seq => return Err("wrap token replayed"),
            _ => {}
        }
        self.recv_seq = seq.wrapping_add(1);
        Ok(())
    }
}

/// A random confounder for one token.
fn new_confounder() -> Result<[u8; BLOCK], &'static str> {
    let mut confounder = [0u8; BLOCK];
    getrandom::getrandom(&mut confounder).map_err(|_| "the OS random source failed")?;
    Ok(confounder)
}

/// The copy of the token header that is encrypted after the data: its RRC reads zero.
fn header_copy(header: &[u8; CFX_HEADER_LEN]) -> [u8; CFX_HEADER_LEN] {
    let mut copy = *header;
    copy[6..8].fill(0);
    copy
}

/// A token whose header passed the checks before decryption.
struct Opened<'a> {
    header: [u8; CFX_HEADER_LEN],
    keys: &'a UsageKeys,
    ec: usize,
    body: RotatedBody<'a>,
}

/// The token after its header, as it arrived in two slices and rotated right by `rotation`
/// bytes: byte `i` of the unrotated body (confounder first) is byte `(i + rotation) % len`
/// of `first` followed by `second`.
struct RotatedBody<'a> {
    first: &'a [u8],
    second: &'a [u8],
    rotation: usize,
}

impl RotatedBody<'_> {
    fn len(&self) -> usize {
        self.first.len() + self.second.len()
    }

    /// Calls `each` with the slices that hold unrotated bytes `from..to`, in order.
    fn for_each_slice(&self, from: usize, to: usize, mut each: impl FnMut(&[u8])) {
        let len = self.len();
        let mut stored = |from: usize, to: usize| {
            // `from..to` of first | second, not wrapping.
            let split = self.first.len();
            if from < split {
                each(&self.first[from..to.min(split)]);
            }
            if to > split {
                each(&self.second[from.max(split) - split..to - split]);
            }
        };
        let (begin, end) = (from + self.rotation, to + self.rotation);
        if end <= len {
            stored(begin, end);
        } else if begin >= len {
            stored(begin - len, end - len);
        } else {
            stored(begin, len);
            stored(0, end - len);
        }
    }

    /// Appends unrotated bytes `from..to` to `out`.
    fn append_range(&self, from: usize, to: usize, out: &mut Vec<u8>) {
        out.reserve(to - from);
        self.for_each_slice(from, to, |slice| out.extend_from_slice(slice));
    }

    /// Copies unrotated bytes from `from` on into `into`, filling it.
    fn copy_to(&self, from: usize, into: &mut [u8]) {
        let mut at = 0;
        self.for_each_slice(from, from + into.len(), |slice| {
            into[at..at + slice.len()].copy_from_slice(slice);
            at += slice.len();
        });
    }
}

/// A connected pair of sealers over fixed keys (initiator, acceptor), for the fuzz target
/// and the property tests: each opens what the other seals.
pub(super) fn sealer_pair(aes256: bool, acceptor_subkey: bool) -> (CfxSealer, CfxSealer) {
    let (enctype, len) = if aes256 { (18, 32) } else { (17, 16) };
    let initiator_key = vec![0x11; len];
    let subkey = vec![0x22; len];
    let keys = |send_seq, recv_seq| CfxKeyData {
        enctype_number: enctype,
        initiator_key: &initiator_key,
        acceptor_subkey: acceptor_subkey.then_some((enctype, subkey.as_slice())),
        send_seq,
        recv_seq,
        handshake_mic_window: 0,
    };
    let make = |data: &CfxKeyData<'_>, role| {
        CfxSealer::new(data, role, SequenceCheck::Strict).unwrap_or_else(|| unreachable!())
    };
    (
        make(&keys(1000, 2000), Sender::Initiator),
        make(&keys(2000, 1000), Sender::Acceptor),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn split_and_whole_tokens_round_trip_between_roles(
            plain in proptest::collection::vec(any::<u8>(), 0..2048),
            aes256 in any::<bool>(),
            subkey in any::<bool>(),
        ) {
            let (mut initiator, mut acceptor) = sealer_pair(aes256, subkey);
            let (header, data) = initiator.wrap_split(&plain).unwrap();
            prop_assert_eq!(header.len(), SPLIT_HEADER_LEN);
            prop_assert_eq!(data.len(), plain.len());
            prop_assert_eq!(acceptor.unwrap(&header, &data).unwrap(), plain.clone());
            let token = acceptor.wrap_token(&plain).unwrap();
            prop_assert_eq!(initiator.unwrap(&token, &[]).unwrap(), plain.clone());
            // The boundary between the parts does not matter.
            let (header, data) = initiator.wrap_split(&plain).unwrap();
            let whole: Vec<u8> = header.iter().chain(data.iter()).copied().collect();
            let cut = whole.len() / 3;
            prop_assert_eq!(acceptor.unwrap(&whole[..cut], &whole[cut..]).unwrap(), plain);
        }

        /// The token sealed into a buffer is byte for byte the token of the implementation
        /// before it (the parts joined, sealed whole, rotated), for the same header and
        /// confounder, wherever the parts are cut.
        #[test]
        fn sealing_into_the_body_matches_sealing_whole(
            plain in proptest::collection::vec(any::<u8>(), 0..3000),
            cut in any::<prop::sample::Index>(),
            aes256 in any::<bool>(),
            confounder in any::<[u8; BLOCK]>(),
        ) {
            let (mut initiator, _) = sealer_pair(aes256, false);
            let header = initiator.token_header(SPLIT_RRC as u16);
            let mut sealed = initiator
                .send_keys()
                .encrypt_parts(&[&confounder, &plain, &header_copy(&header)]);
            let tail_start = sealed.len() - SPLIT_RRC;
            let mut expected = header.to_vec();
            expected.extend_from_slice(&sealed[tail_start..]);
            expected.extend_from_slice(&sealed[..BLOCK]);
            sealed.truncate(tail_start);
            expected.extend_from_slice(&sealed[BLOCK..]);
            let (a, b) = plain.split_at(cut.index(plain.len() + 1));
            let mut out = b"kept".to_vec();
            let header_len = initiator.wrap_split_into_with(&header, &confounder, &[a, b], &mut out);
            prop_assert_eq!(header_len, SPLIT_HEADER_LEN);
            prop_assert_eq!(&out[..4], b"kept");
            prop_assert!(out[4..] == expected[..]);
        }

        /// Any rotation (RRC) and any cut between the two slices opens to the plaintext,
        /// appended after what the buffer held; a damaged token leaves the buffer as it was.
        #[test]
        fn unsealing_into_a_buffer_takes_any_rotation_and_cut(
            plain in proptest::collection::vec(any::<u8>(), 0..3000),
            rrc in 0u16..4000,
            cut in any::<prop::sample::Index>(),
            damage in any::<Option<prop::sample::Index>>(),
            aes256 in any::<bool>(),
        ) {
            let (mut initiator, mut acceptor) = sealer_pair(aes256, true);
            // A whole token (RRC zero) rotated right by `rrc`, the header saying so: the
            // header copy inside the ciphertext keeps RRC zero, as RFC 4121 says.
            let token = initiator.wrap_token(&plain).unwrap();
            let mut body = token[CFX_HEADER_LEN..].to_vec();
            let rotation = usize::from(rrc) % body.len();
            body.rotate_right(rotation);
            let mut whole = token[..CFX_HEADER_LEN].to_vec();
            whole[6..8].copy_from_slice(&rrc.to_be_bytes());
            whole.extend_from_slice(&body);
            if let Some(at) = &damage {
                let at = CFX_HEADER_LEN + at.index(whole.len() - CFX_HEADER_LEN);
                whole[at] ^= 0x10;
            }
            let (header, rest) = whole.split_at(cut.index(whole.len() + 1));
            let mut out = b"kept".to_vec();
            let result = acceptor.unwrap_into(header, rest, &mut out);
            if damage.is_some() {
                prop_assert!(result.is_err());
                prop_assert_eq!(&out[..], b"kept");
            } else {
                prop_assert_eq!(result, Ok(()));
                prop_assert_eq!(&out[..4], b"kept");
                prop_assert!(out[4..] == plain[..]);
            }
        }

        #[test]
        fn any_flipped_byte_is_refused(
            plain in proptest::collection::vec(any::<u8>(), 0..256),
            position in any::<prop::sample::Index>(),
            bit in 0u8..8,
        ) {
            let (mut initiator, mut acceptor) = sealer_pair(true, true);
            let (header, data) = initiator.wrap_split(&plain).unwrap();
            let mut whole: Vec<u8> = header.iter().chain(data.iter()).copied().collect();
            let at = position.index(whole.len());
            let rrc_before = u16::from_be_bytes([whole[6], whole[7]]);
            whole[at] ^= 1 << bit;
            // The RRC is outside the checksum (RFC 4121 4.2.5) and a rotation counts modulo
            // the body's length (as MIT's gss_unwrap reads it): a flip that leaves the same
            // rotation is the same token, not damage.
            let body_len = whole.len() - CFX_HEADER_LEN;
            let rrc_after = u16::from_be_bytes([whole[6], whole[7]]);
            prop_assume!(
                rrc_after == rrc_before
                    || usize::from(rrc_after) % body_len != usize::from(rrc_before) % body_len
            );
            let (damaged_header, damaged_data) = whole.split_at(header.len());
            prop_assert!(acceptor.unwrap(damaged_header, damaged_data).is_err());
        }

        #[test]
        fn arbitrary_bytes_never_panic(
            header in proptest::collection::vec(any::<u8>(), 0..128),
            rest in proptest::collection::vec(any::<u8>(), 0..256),
            flags in any::<u8>(),
        ) {
            let (_, mut acceptor) = sealer_pair(false, flags & 1 != 0);
            let mut header = header;
            if header.len() >= CFX_HEADER_LEN && flags & 2 != 0 {
                // A valid-looking header so that the length and rotation paths run.
                header[..4].copy_from_slice(&[0x05, 0x04, 0x02 | (flags & 0x04), 0xff]);
            }
            let _ = acceptor.unwrap(&header, &rest);
        }
    }

    #[test]
    fn replayed_and_reordered_tokens_are_refused() {
        let (mut initiator, mut acceptor) = sealer_pair(true, false);
        let first = initiator.wrap_split(b"one").unwrap();
        let second = initiator.wrap_split(b"two").unwrap();
        assert!(acceptor.unwrap(&second.0, &second.1).is_err());
        let (mut initiator, mut acceptor) = sealer_pair(true, false);
        let first_again = initiator.wrap_split(b"one").unwrap();
        assert_eq!(
            acceptor.unwrap(&first_again.0, &first_again.1).unwrap(),
            b"one"
        );
        assert!(acceptor.unwrap(&first_again.0, &first_again.1).is_err());
        let _ = first;
    }

    fn header(flags: u8) -> Vec<u8> {
        let mut h = vec![0x05, 0x04, flags, 0xff, 0, 0, 0, 28];
        h.extend_from_slice(&[0; 8]);
        h.extend_from_slice(&[0xab; 44]);
        h
    }

    #[test]
    fn sealed_tokens_in_the_right_direction_pass() {
        for (flags, sender) in [
            (0x06, Sender::Initiator),
            (0x02, Sender::Initiator),
            (0x07, Sender::Acceptor),
            (0x03, Sender::Acceptor),
        ] {
            assert_eq!(
                check_sealed_wrap_header(&header(flags), sender),
                Ok(()),
                "flags {flags:#04x} from {sender:?}"
            );
        }
    }

    #[test]
    fn integrity_only_and_reflected_tokens_fail() {
        assert!(check_sealed_wrap_header(&header(0x04), Sender::Initiator).is_err());
        assert!(check_sealed_wrap_header(&header(0x05), Sender::Acceptor).is_err());
        // Our own acceptor token reflected back at us.
        assert!(check_sealed_wrap_header(&header(0x07), Sender::Initiator).is_err());
        assert!(check_sealed_wrap_header(&header(0x06), Sender::Acceptor).is_err());
    }

    #[test]
    fn malformed_headers_fail() {
        assert!(check_sealed_wrap_header(&[], Sender::Initiator).is_err());
        assert!(check_sealed_wrap_header(&header(0x06)[..15], Sender::Initiator).is_err());
        let mut mic = header(0x06);
        mic[1] = 0x04;
        mic[0] = 0x04; // a MIC token id
        assert!(check_sealed_wrap_header(&mic, Sender::Initiator).is_err());
        let mut rc4 = header(0x06);
        rc4[0] = 0x60; // an RFC 1964 (RC4/DES) framed token
        assert!(check_sealed_wrap_header(&rc4, Sender::Initiator).is_err());
        assert!(check_sealed_wrap_header(&header(0x0e), Sender::Initiator).is_err());
        let mut filler = header(0x06);
        filler[3] = 0;
        assert!(check_sealed_wrap_header(&filler, Sender::Initiator).is_err());
    }
}
