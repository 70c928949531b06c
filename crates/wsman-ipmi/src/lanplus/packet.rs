//! RMCP+ packets (IPMI 2.0 13.6, 13.8) and the IPMI messages inside them (13.8, table 13-8),
//! sans-I/O: a payload is sealed into a datagram and a datagram opened into its payload.
//!
//! Before the session exists, Open Session and the RAKP messages travel in the clear with
//! session id 0 ([`seal_unprotected`], [`open_unprotected`]). Once it exists every IPMI
//! message is encrypted with AES-CBC-128 under K2 and authenticated with HMAC-SHA1-96 under
//! K1 ([`Protection`]), and an answer that is not is refused: on a network anyone can send
//! a datagram.

use aes::Aes128;
use cbc::cipher::block_padding::NoPadding;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};

use super::rakp::{constant_time_eq, hmac_sha1, SessionKeys};

/// RMCP version 1.0, no RMCP acknowledgement (sequence 0xFF), class IPMI (13.1.3).
const RMCP_HEADER: [u8; 4] = [0x06, 0x00, 0xFF, 0x07];
/// The session header's authentication type that means RMCP+ (IPMI 2.0) format.
const FORMAT_RMCP_PLUS: u8 = 0x06;
const ENCRYPTED: u8 = 0x80;
const AUTHENTICATED: u8 = 0x40;
/// The session trailer's "next header" byte (always 07h).
const NEXT_HEADER: u8 = 0x07;
/// HMAC-SHA1-96: the first 12 bytes of the HMAC.
const AUTH_CODE: usize = 12;
/// The RMCP header and the RMCP+ session header up to the payload.
const HEADERS: usize = 16;
const AES_BLOCK: usize = 16;

/// Payload types (13.27.3).
pub mod payload {
    pub const IPMI: u8 = 0x00;
    pub const OPEN_SESSION_REQUEST: u8 = 0x10;
    pub const OPEN_SESSION_RESPONSE: u8 = 0x11;
    pub const RAKP_1: u8 = 0x12;
    pub const RAKP_2: u8 = 0x13;
    pub const RAKP_3: u8 = 0x14;
    pub const RAKP_4: u8 = 0x15;
}

/// The BMC's (IPMB address 20h) and the remote console's (software id 81h) addresses.
const BMC_ADDRESS: u8 = 0x20;
const CONSOLE_ADDRESS: u8 = 0x81;

/// Why a datagram was not taken.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PacketError {
    #[error("not an RMCP+ packet")]
    NotRmcpPlus,
    #[error("the packet's lengths do not add up")]
    Length,
    #[error("an answer of the session without encryption and authentication")]
    Unprotected,
    #[error("an answer for another session")]
    OtherSession,
    #[error("an answer with a sequence number already seen (a replay or a duplicate)")]
    Replayed,
    #[error("the packet's integrity code is wrong")]
    AuthCode,
    #[error("the encrypted payload is not whole AES blocks with a valid pad")]
    Padding,
    #[error("an IPMI message with a wrong checksum or shorter than its header")]
    Message,
}

/// One parsed packet: its payload type, flags, session id and payload.
struct Packet<'a> {
    payload_type: u8,
    flags: u8,
    session_id: u32,
    sequence: u32,
    payload: &'a [u8],
}

/// Split a datagram into its headers and payload; the trailer (when authenticated) is
/// checked by the caller.
fn parse(datagram: &[u8]) -> Result<Packet<'_>, PacketError> {
    if datagram.len() < HEADERS || datagram[..4] != RMCP_HEADER || datagram[4] != FORMAT_RMCP_PLUS {
        return Err(PacketError::NotRmcpPlus);
    }
    let length = usize::from(u16::from_le_bytes([datagram[14], datagram[15]]));
    let payload = datagram
        .get(HEADERS..HEADERS + length)
        .ok_or(PacketError::Length)?;
    Ok(Packet {
        payload_type: datagram[5] & 0x3F,
        flags: datagram[5] & (ENCRYPTED | AUTHENTICATED),
        session_id: u32::from_le_bytes([datagram[6], datagram[7], datagram[8], datagram[9]]),
        sequence: u32::from_le_bytes([datagram[10], datagram[11], datagram[12], datagram[13]]),
        payload,
    })
}

/// The headers and payload of a packet; `flags` says encrypted and/or authenticated.
fn frame(flags: u8, payload_type: u8, session_id: u32, sequence: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADERS + payload.len() + 32);
    out.extend(RMCP_HEADER);
    out.extend([FORMAT_RMCP_PLUS, flags | payload_type]);
    out.extend(session_id.to_le_bytes());
    out.extend(sequence.to_le_bytes());
    out.extend((payload.len() as u16).to_le_bytes());
    out.extend(payload);
    out
}

/// A session-setup message (session id 0, sequence 0, in the clear).
pub fn seal_unprotected(payload_type: u8, payload: &[u8]) -> Vec<u8> {
    frame(0, payload_type, 0, 0, payload)
}

/// A session-setup answer of `payload_type`; `None` when the datagram is something else.
pub fn open_unprotected(datagram: &[u8], payload_type: u8) -> Result<Option<&[u8]>, PacketError> {
    let packet = parse(datagram)?;
    Ok((packet.payload_type == payload_type && packet.flags == 0).then_some(packet.payload))
}

/// An established session's protection: its keys, ids and our sequence number.
pub struct Protection {
    keys: SessionKeys,
    bmc_session_id: u32,
    console_session_id: u32,
    /// Our last sequence number; the first authenticated packet carries 1 (13.9).
    sequence: u32,
    /// The BMC's highest sequence number accepted: one request is answered at a time, so
    /// each answer's number is higher than the last, and an older one is a replay.
    inbound: u32,
}

impl Protection {
    pub fn new(keys: SessionKeys, bmc_session_id: u32, console_session_id: u32) -> Self {
        Self {
            keys,
            bmc_session_id,
            console_session_id,
            sequence: 0,
            inbound: 0,
        }
    }

    /// The BMC's id of this session (what Close Session names).
    pub fn bmc_session_id(&self) -> u32 {
        self.bmc_session_id
    }

    /// `message` (an IPMI message) encrypted with the initialization vector `iv` (fresh and
    /// random for each packet), framed, padded and authenticated.
    pub fn seal(&mut self, message: &[u8], iv: [u8; 16]) -> Vec<u8> {
        self.sequence = self.sequence.wrapping_add(1).max(1);
        // The confidentiality trailer: pad bytes 01h, 02h, ... then their count, so the
        // plaintext is whole AES blocks (13.29).
        let pad = (AES_BLOCK - (message.len() + 1) % AES_BLOCK) % AES_BLOCK;
        let mut plain = message.to_vec();
        plain.extend((1..=pad as u8).chain([pad as u8]));
        let length = plain.len();
        let encrypted = cbc::Encryptor::<Aes128>::new(&self.keys.aes_key().into(), &iv.into())
            .encrypt_padded_mut::<NoPadding>(&mut plain, length)
            .expect("whole blocks need no padding")
            .to_vec();
        let mut payload = iv.to_vec();
        payload.extend(encrypted);
        let mut out = frame(
            ENCRYPTED | AUTHENTICATED,
            payload::IPMI,
            self.bmc_session_id,
            self.sequence,
            &payload,
        );
        // The integrity pad (FFh bytes) makes the authenticated range (from the format byte
        // through the next header byte) whole 4-byte words (13.28.4).
        let integrity_pad = (4 - (out.len() - 4 + 2) % 4) % 4;
        out.extend(std::iter::repeat_n(0xFF, integrity_pad));
        out.extend([integrity_pad as u8, NEXT_HEADER]);
        let code = hmac_sha1(&self.keys.k1[..], &[&out[4..]]);
        out.extend(&code[..AUTH_CODE]);
        out
    }

    /// The IPMI message of an answer of this session, once its integrity code is checked,
    /// its sequence number found newer than the last one's, and it is decrypted.
    pub fn open(&mut self, datagram: &[u8]) -> Result<Vec<u8>, PacketError> {
        let packet = parse(datagram)?;
        if packet.flags != ENCRYPTED | AUTHENTICATED || packet.payload_type != payload::IPMI {
            return Err(PacketError::Unprotected);
        }
        if packet.session_id != self.console_session_id {
            return Err(PacketError::OtherSession);
        }
        // The trailer: integrity pad, its length, next header, the code.
        let trailer = datagram.len() - HEADERS - packet.payload.len();
        let Some(covered) = datagram
            .len()
            .checked_sub(AUTH_CODE)
            .filter(|_| trailer >= 14)
        else {
            return Err(PacketError::Length);
        };
        let code = hmac_sha1(&self.keys.k1[..], &[&datagram[4..covered]]);
        if !constant_time_eq(&datagram[covered..], &code[..AUTH_CODE]) {
            return Err(PacketError::AuthCode);
        }
        let pad = usize::from(datagram[covered - 2]);
        if datagram[covered - 1] != NEXT_HEADER || trailer != pad + 2 + AUTH_CODE {
            return Err(PacketError::Length);
        }
        if packet.sequence <= self.inbound {
            return Err(PacketError::Replayed);
        }
        let message = self.decrypt(packet.payload)?;
        self.inbound = packet.sequence;
        Ok(message)
    }

    fn decrypt(&self, payload: &[u8]) -> Result<Vec<u8>, PacketError> {
        if payload.len() < 2 * AES_BLOCK || !payload.len().is_multiple_of(AES_BLOCK) {
            return Err(PacketError::Padding);
        }
        let (iv, encrypted) = payload.split_at(AES_BLOCK);
        let mut plain = encrypted.to_vec();
        let iv: [u8; AES_BLOCK] = iv.try_into().expect("split at the block size");
        let plain = cbc::Decryptor::<Aes128>::new(&self.keys.aes_key().into(), &iv.into())
            .decrypt_padded_mut::<NoPadding>(&mut plain)
            .map_err(|_| PacketError::Padding)?;
        let (&pad, rest) = plain.split_last().ok_or(PacketError::Padding)?;
        let kept = rest
            .len()
            .checked_sub(usize::from(pad))
            .filter(|_| usize::from(pad) < AES_BLOCK)
            .ok_or(PacketError::Padding)?;
        Ok(rest[..kept].to_vec())
    }
}

/// An IPMI request message on a LAN (13.8): to the BMC, from the remote console.
pub fn ipmi_request(netfn: u8, lun: u8, sequence: u8, command: u8, data: &[u8]) -> Vec<u8> {
    let mut out = vec![BMC_ADDRESS, netfn << 2 | (lun & 0x03)];
    out.push(checksum(&out));
    out.extend([CONSOLE_ADDRESS, sequence << 2, command]);
    out.extend(data);
    out.push(checksum(&out[3..]));
    out
}

/// An IPMI response message: its network function (the response's), sequence number,
/// command, and its completion code followed by its data.
#[derive(Debug, PartialEq, Eq)]
pub struct IpmiResponse {
    pub netfn: u8,
    pub sequence: u8,
    pub command: u8,
    pub data: Vec<u8>,
}

/// Parse an IPMI response message, checking both checksums.
pub fn ipmi_response(message: &[u8]) -> Result<IpmiResponse, PacketError> {
    // rqAddr, netFn/rqLUN, checksum, rsAddr, rqSeq/rsLUN, cmd, completion code, checksum.
    if message.len() < 8 || checksum(&message[..3]) != 0 || checksum(&message[3..]) != 0 {
        return Err(PacketError::Message);
    }
    Ok(IpmiResponse {
        netfn: message[1] >> 2,
        sequence: message[4] >> 2,
        command: message[5],
        data: message[6..message.len() - 1].to_vec(),
    })
}

/// The two's complement of the bytes' sum: what makes their sum with it zero.
fn checksum(bytes: &[u8]) -> u8 {
    0u8.wrapping_sub(bytes.iter().fold(0u8, |sum, b| sum.wrapping_add(*b)))
}
