//! The session establishment messages of RMCP+ (IPMI 2.0 13.17-13.20: Open Session, RAKP
//! Messages 1-4) and the keys they lead to (13.31, 13.32), for cipher suite 3
//! (RAKP-HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128), the one every IPMI 2.0 BMC must offer.
//! Sans-I/O: bytes in, bytes out; [`super::LanSession`] moves them.
//!
//! The privilege asked for is the caller's ([`Privilege`]), in Open Session and in RAKP 1,
//! so an account below Administrator gets a session at its own level.
//!
//! The spec's names: `m` is the remote console (the managing system, us), `c` the BMC (the
//! managed controller); `SID` a session id, `R` a random number, `Kuid` the password.

use hmac::{Hmac, Mac};
use sha1::Sha1;
use zeroize::Zeroizing;

use crate::config::Privilege;

/// Authentication, integrity and confidentiality algorithm numbers of cipher suite 3
/// (IPMI 2.0 13.28).
const RAKP_HMAC_SHA1: u8 = 0x01;
const HMAC_SHA1_96: u8 = 0x01;
const AES_CBC_128: u8 = 0x01;

/// RAKP 1's role byte, bit 4: the BMC looks the account up by its name only, and grants
/// the privilege asked when it is within the account's limit (13.20).
const NAME_ONLY_LOOKUP: u8 = 0x10;

/// The longest user name RAKP 1 carries.
pub const MAX_USER_NAME: usize = 16;
/// The longest password (the key Kuid of 13.31; shorter ones are padded with zeros).
pub const MAX_PASSWORD: usize = 20;

/// What went wrong while opening a session.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RakpError {
    #[error("{message} is shorter than its fixed layout ({length} bytes)")]
    Short {
        message: &'static str,
        length: usize,
    },
    #[error("{message} answered status {status:#04x} ({})", status_text(*status))]
    Status { message: &'static str, status: u8 },
    #[error("{message} is for another session or exchange")]
    Stray { message: &'static str },
    #[error("the BMC chose algorithms other than cipher suite 3's")]
    Algorithms,
    #[error("{message}'s authentication code is wrong (wrong password, or not the BMC)")]
    AuthCode { message: &'static str },
    #[error("the user name is longer than {MAX_USER_NAME} bytes")]
    UserName,
    #[error("the password is longer than {MAX_PASSWORD} bytes")]
    Password,
}

/// The RMCP+ status codes (IPMI 2.0 table 13-15) a BMC answers when it refuses.
fn status_text(status: u8) -> &'static str {
    match status {
        0x01 => "insufficient resources to create a session",
        0x02 => "invalid session ID",
        0x03 => "invalid payload type",
        0x04 => "invalid authentication algorithm",
        0x05 => "invalid integrity algorithm",
        0x06 => "no matching authentication payload",
        0x07 => "no matching integrity payload",
        0x08 => "inactive session ID",
        0x09 => "invalid role: the account may not have the privilege asked",
        0x0A => "unauthorized role or privilege level requested",
        0x0B => "insufficient resources to create a session at the requested role",
        0x0C => "invalid name length",
        0x0D => "unauthorized name",
        0x0E => "unauthorized GUID",
        0x0F => "invalid integrity check value",
        0x10 => "invalid confidentiality algorithm",
        0x11 => "no cipher suite match",
        0x12 => "illegal or unrecognized parameter",
        _ => "reserved",
    }
}

/// Open Session Request (13.17): our session id, the maximum privilege asked, and cipher
/// suite 3's three algorithms.
pub fn open_session_request(tag: u8, privilege: Privilege, console_session_id: u32) -> Vec<u8> {
    let mut out = vec![tag, privilege.level(), 0, 0];
    out.extend(console_session_id.to_le_bytes());
    for (kind, algorithm) in [(0, RAKP_HMAC_SHA1), (1, HMAC_SHA1_96), (2, AES_CBC_128)] {
        out.extend([kind, 0, 0, 8, algorithm, 0, 0, 0]);
    }
    out
}

/// The BMC's Open Session Response (13.18).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenSessionResponse {
    /// The privilege the BMC will allow at most.
    pub max_privilege: u8,
    pub bmc_session_id: u32,
}

/// Check an Open Session Response against the request `tag` and `console_session_id`.
pub fn parse_open_session_response(
    data: &[u8],
    tag: u8,
    console_session_id: u32,
) -> Result<OpenSessionResponse, RakpError> {
    const MESSAGE: &str = "Open Session";
    check_status(MESSAGE, data, tag)?;
    let data = fixed(MESSAGE, data, 36)?;
    if u32_at(data, 4) != console_session_id {
        return Err(RakpError::Stray { message: MESSAGE });
    }
    let chosen = [data[12], data[16], data[20], data[24], data[28], data[32]];
    if chosen != [0, RAKP_HMAC_SHA1, 1, HMAC_SHA1_96, 2, AES_CBC_128] {
        return Err(RakpError::Algorithms);
    }
    Ok(OpenSessionResponse {
        max_privilege: data[2] & 0x0F,
        bmc_session_id: u32_at(data, 8),
    })
}

/// Everything both sides know once RAKP 2 has arrived, from which the codes of RAKP 2-4
/// and the session keys follow (13.31).
pub struct Exchange {
    /// The role byte of RAKP 1 (privilege and lookup bit), part of every code.
    role: u8,
    user: Vec<u8>,
    /// Kuid: the password, zero-padded to 20 bytes.
    password: Zeroizing<[u8; MAX_PASSWORD]>,
    console_session_id: u32,
    bmc_session_id: u32,
    console_random: [u8; 16],
    bmc_random: [u8; 16],
    bmc_guid: [u8; 16],
}

impl Exchange {
    /// The exchange for `user` and `password` asking `privilege`, before RAKP 2.
    pub fn new(
        user: &str,
        password: &[u8],
        privilege: Privilege,
        console_session_id: u32,
        bmc_session_id: u32,
        console_random: [u8; 16],
    ) -> Result<Self, RakpError> {
        if user.len() > MAX_USER_NAME {
            return Err(RakpError::UserName);
        }
        if password.len() > MAX_PASSWORD {
            return Err(RakpError::Password);
        }
        let mut key = Zeroizing::new([0u8; MAX_PASSWORD]);
        key[..password.len()].copy_from_slice(password);
        Ok(Self {
            role: privilege.level() | NAME_ONLY_LOOKUP,
            user: user.as_bytes().to_vec(),
            password: key,
            console_session_id,
            bmc_session_id,
            console_random,
            bmc_random: [0; 16],
            bmc_guid: [0; 16],
        })
    }

    /// RAKP Message 1 (13.20): our random number, the role and the user name.
    pub fn rakp1(&self, tag: u8) -> Vec<u8> {
        let mut out = vec![tag, 0, 0, 0];
        out.extend(self.bmc_session_id.to_le_bytes());
        out.extend(self.console_random);
        out.extend([self.role, 0, 0, self.user.len() as u8]);
        out.extend(&self.user);
        out
    }

    /// Take RAKP Message 2 (13.21): the BMC's random number and GUID, and its proof that it
    /// knows the password.
    pub fn accept_rakp2(&mut self, data: &[u8], tag: u8) -> Result<(), RakpError> {
        const MESSAGE: &str = "RAKP 2";
        check_status(MESSAGE, data, tag)?;
        let data = fixed(MESSAGE, data, 60)?;
        if u32_at(data, 4) != self.console_session_id {
            return Err(RakpError::Stray { message: MESSAGE });
        }
        self.bmc_random.copy_from_slice(&data[8..24]);
        self.bmc_guid.copy_from_slice(&data[24..40]);
        let expected = self.rakp2_code();
        if !constant_time_eq(&data[40..60], &expected) {
            return Err(RakpError::AuthCode { message: MESSAGE });
        }
        Ok(())
    }

    /// The code the BMC proves itself with in RAKP 2:
    /// HMAC-SHA1 under Kuid of (SIDm, SIDc, Rm, Rc, GUIDc, ROLEm, ULENGTHm, UNAMEm).
    pub fn rakp2_code(&self) -> [u8; 20] {
        hmac_sha1(
            &self.password[..],
            &[
                &self.console_session_id.to_le_bytes(),
                &self.bmc_session_id.to_le_bytes(),
                &self.console_random,
                &self.bmc_random,
                &self.bmc_guid,
                &[self.role, self.user.len() as u8],
                &self.user,
            ],
        )
    }

    /// RAKP Message 3 (13.22): our proof that we know the password:
    /// HMAC-SHA1 under Kuid of (Rc, SIDm, ROLEm, ULENGTHm, UNAMEm).
    pub fn rakp3(&self, tag: u8) -> Vec<u8> {
        let code = hmac_sha1(
            &self.password[..],
            &[
                &self.bmc_random,
                &self.console_session_id.to_le_bytes(),
                &[self.role, self.user.len() as u8],
                &self.user,
            ],
        );
        let mut out = vec![tag, 0, 0, 0];
        out.extend(self.bmc_session_id.to_le_bytes());
        out.extend(code);
        out
    }

    /// The Session Integrity Key (13.31): HMAC-SHA1 under Kg of (Rm, Rc, ROLEm, ULENGTHm,
    /// UNAMEm); Kg is Kuid where the BMC has no key of its own set ("one-key logins").
    pub fn sik(&self) -> Zeroizing<[u8; 20]> {
        Zeroizing::new(hmac_sha1(
            &self.password[..],
            &[
                &self.console_random,
                &self.bmc_random,
                &[self.role, self.user.len() as u8],
                &self.user,
            ],
        ))
    }

    /// Take RAKP Message 4 (13.23): the BMC's integrity check value, HMAC-SHA1-96 under the
    /// SIK of (Rm, SIDc, GUIDc), which shows both derived the same SIK.
    pub fn accept_rakp4(&self, data: &[u8], tag: u8) -> Result<SessionKeys, RakpError> {
        const MESSAGE: &str = "RAKP 4";
        check_status(MESSAGE, data, tag)?;
        let data = fixed(MESSAGE, data, 20)?;
        if u32_at(data, 4) != self.console_session_id {
            return Err(RakpError::Stray { message: MESSAGE });
        }
        let sik = self.sik();
        let icv = hmac_sha1(
            &sik[..],
            &[
                &self.console_random,
                &self.bmc_session_id.to_le_bytes(),
                &self.bmc_guid,
            ],
        );
        if !constant_time_eq(&data[8..20], &icv[..12]) {
            return Err(RakpError::AuthCode { message: MESSAGE });
        }
        Ok(SessionKeys::from_sik(&sik))
    }
}

/// The keys of an established session (13.32): K1 keys the integrity codes, the first 16
/// bytes of K2 the AES-CBC-128 encryption.
pub struct SessionKeys {
    pub k1: Zeroizing<[u8; 20]>,
    pub k2: Zeroizing<[u8; 20]>,
}

impl SessionKeys {
    /// K1 = HMAC(SIK, 20 × 0x01), K2 = HMAC(SIK, 20 × 0x02).
    pub fn from_sik(sik: &[u8; 20]) -> Self {
        Self {
            k1: Zeroizing::new(hmac_sha1(sik, &[&[0x01; 20]])),
            k2: Zeroizing::new(hmac_sha1(sik, &[&[0x02; 20]])),
        }
    }

    /// The AES-128 key: K2's first 16 bytes.
    pub fn aes_key(&self) -> [u8; 16] {
        let mut key = [0; 16];
        key.copy_from_slice(&self.k2[..16]);
        key
    }
}

/// HMAC-SHA1 under `key` of the concatenated `parts`.
pub fn hmac_sha1(key: &[u8], parts: &[&[u8]]) -> [u8; 20] {
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Equal contents, compared without an early exit (the codes are secrets' proofs).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The tag and status every answer starts with: the tag ours, the status success.
fn check_status(message: &'static str, data: &[u8], tag: u8) -> Result<(), RakpError> {
    let [answer_tag, status, ..] = data else {
        return Err(RakpError::Short { message, length: 2 });
    };
    if *answer_tag != tag {
        return Err(RakpError::Stray { message });
    }
    if *status != 0 {
        return Err(RakpError::Status {
            message,
            status: *status,
        });
    }
    Ok(())
}

fn fixed<'a>(message: &'static str, data: &'a [u8], length: usize) -> Result<&'a [u8], RakpError> {
    data.get(..length)
        .ok_or(RakpError::Short { message, length })
}

fn u32_at(data: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]])
}
