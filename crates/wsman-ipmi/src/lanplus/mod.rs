//! Our own RMCP+ ("lanplus") session: `ipmi-rs`'s always asks the BMC for Administrator
//! privilege, which a BMC refuses to an Operator or User account. This one asks for the
//! privilege `bmc.toml` gives ([`Privilege`]) and then raises the session to it with Set
//! Session Privilege Level (a session starts at User, 13.14), so every account is usable
//! for what its privilege allows.
//!
//! The messages and keys are sans-I/O ([`rakp`], [`packet`]); [`LanSession`] moves them over
//! UDP and is an [`IpmiConnection`], so `ipmi-rs`'s command encoding works on it unchanged.
//! Every wait is bounded by the configured timeout; datagrams that are not the answer
//! awaited (another session's, a stale retransmission, a forged one) are dropped unread.

pub mod packet;
pub mod rakp;

use std::net::{ToSocketAddrs, UdpSocket};
use std::time::{Duration, Instant};

use ipmi_rs::connection::{IpmiConnection, Message, Request, Response};

use crate::config::Privilege;
use packet::{payload, PacketError, Protection};
use rakp::{Exchange, RakpError};

/// The largest datagram read: an IPMI message is at most a few hundred bytes.
const MAX_DATAGRAM: usize = 2048;
/// Set Session Privilege Level (IPMI 2.0 22.18), network function App.
const SET_SESSION_PRIVILEGE: u8 = 0x3B;
/// Close Session (22.19).
const CLOSE_SESSION: u8 = 0x3C;
const NETFN_APP: u8 = 0x06;

/// Why the session failed.
#[derive(Debug, thiserror::Error)]
pub enum LanError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("no answer from the BMC within {0:?}")]
    Timeout(Duration),
    #[error("session setup: {0}")]
    Rakp(#[from] RakpError),
    #[error("{0}")]
    Packet(#[from] PacketError),
    #[error("the BMC refused the privilege {privilege:?}: completion code {code:#04x}")]
    Privilege { privilege: Privilege, code: u8 },
    #[error("an IPMI response without a completion code")]
    EmptyResponse,
}

/// An established RMCP+ session with one BMC.
pub struct LanSession {
    socket: UdpSocket,
    protection: Protection,
    timeout: Duration,
    /// The IPMI request sequence number (6 bits) of the last request.
    sequence: u8,
}

impl LanSession {
    /// Open a session with the BMC at `address` as `user`, at `privilege`.
    pub fn open(
        address: &str,
        user: &str,
        password: &str,
        privilege: Privilege,
        timeout: Duration,
    ) -> Result<Self, LanError> {
        let target = address
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| std::io::Error::other("the address resolves to nothing"))?;
        let socket = UdpSocket::bind(if target.is_ipv4() {
            "0.0.0.0:0"
        } else {
            "[::]:0"
        })?;
        socket.connect(target)?;
        let console_session_id = u32::from_le_bytes(random()?).max(1);
        let setup = Setup {
            socket: &socket,
            timeout,
        };
        let tag = random::<1>()?[0];
        let open = setup.exchange(
            payload::OPEN_SESSION_REQUEST,
            &rakp::open_session_request(tag, privilege, console_session_id),
            payload::OPEN_SESSION_RESPONSE,
            |answer| rakp::parse_open_session_response(answer, tag, console_session_id),
        )?;
        let mut exchange = Exchange::new(
            user,
            password.as_bytes(),
            privilege,
            console_session_id,
            open.bmc_session_id,
            random()?,
        )?;
        let tag = tag.wrapping_add(1);
        setup.exchange(
            payload::RAKP_1,
            &exchange.rakp1(tag),
            payload::RAKP_2,
            |answer| exchange.accept_rakp2(answer, tag),
        )?;
        let tag = tag.wrapping_add(1);
        let keys = setup.exchange(
            payload::RAKP_3,
            &exchange.rakp3(tag),
            payload::RAKP_4,
            |answer| exchange.accept_rakp4(answer, tag),
        )?;
        let mut session = Self {
            socket,
            protection: Protection::new(keys, open.bmc_session_id, console_session_id),
            timeout,
            sequence: 0,
        };
        if privilege > Privilege::User {
            let answer = session.call(NETFN_APP, 0, SET_SESSION_PRIVILEGE, &[privilege.level()])?;
            match answer.data.first() {
                Some(0) => {}
                Some(&code) => return Err(LanError::Privilege { privilege, code }),
                None => return Err(LanError::EmptyResponse),
            }
        }
        Ok(session)
    }

    /// One IPMI request and its answer (the response's completion code first in `data`).
    fn call(
        &mut self,
        netfn: u8,
        lun: u8,
        command: u8,
        data: &[u8],
    ) -> Result<packet::IpmiResponse, LanError> {
        self.sequence = (self.sequence + 1) & 0x3F;
        let message = packet::ipmi_request(netfn, lun, self.sequence, command, data);
        self.socket
            .send(&self.protection.seal(&message, random()?))?;
        let deadline = Instant::now() + self.timeout;
        loop {
            let datagram = receive(&self.socket, deadline, self.timeout)?;
            // A datagram that is not this session's protected answer to this request is
            // dropped: the wait goes on until the deadline.
            let Ok(message) = self.protection.open(&datagram) else {
                continue;
            };
            match packet::ipmi_response(&message) {
                Ok(answer)
                    if answer.sequence == self.sequence
                        && answer.command == command
                        && answer.netfn == netfn | 1 =>
                {
                    return if answer.data.is_empty() {
                        Err(LanError::EmptyResponse)
                    } else {
                        Ok(answer)
                    };
                }
                _ => continue,
            }
        }
    }
}

impl Drop for LanSession {
    /// Close the session, so the BMC's few session slots are not held until its timeout.
    /// The answer is not waited for.
    fn drop(&mut self) {
        self.sequence = (self.sequence + 1) & 0x3F;
        let id = self.protection.bmc_session_id().to_le_bytes();
        let message = packet::ipmi_request(NETFN_APP, 0, self.sequence, CLOSE_SESSION, &id);
        if let Ok(iv) = random() {
            let _ = self.socket.send(&self.protection.seal(&message, iv));
        }
    }
}

impl IpmiConnection for LanSession {
    type SendError = LanError;
    type RecvError = LanError;
    type Error = LanError;

    /// Requests and answers are paired by [`IpmiConnection::send_recv`]; a lone send is
    /// not how this crate talks to a BMC.
    fn send(&mut self, _: &mut Request) -> Result<(), LanError> {
        Err(LanError::Io(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "an RMCP+ request is sent with its answer awaited (send_recv)",
        )))
    }

    fn recv(&mut self) -> Result<Response, LanError> {
        Err(LanError::Io(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            "an RMCP+ answer is awaited with its request (send_recv)",
        )))
    }

    fn send_recv(&mut self, request: &mut Request) -> Result<Response, LanError> {
        let lun = request.target().lun().value();
        let (netfn, command) = (request.netfn_raw(), request.cmd());
        let answer = self.call(netfn, lun, command, request.data())?;
        let sequence = i64::from(answer.sequence);
        Response::new(
            Message::new_raw(answer.netfn, answer.command, answer.data),
            sequence,
        )
        .ok_or(LanError::EmptyResponse)
    }
}

/// The session-setup half of the conversation: one message out, its answer back.
struct Setup<'a> {
    socket: &'a UdpSocket,
    timeout: Duration,
}

impl Setup<'_> {
    /// Send `message` as `out_type` and wait for an answer of `in_type` that `accept` takes;
    /// answers of other types are dropped, a refusal `accept` reports ends the setup.
    fn exchange<T>(
        &self,
        out_type: u8,
        message: &[u8],
        in_type: u8,
        mut accept: impl FnMut(&[u8]) -> Result<T, RakpError>,
    ) -> Result<T, LanError> {
        self.socket
            .send(&packet::seal_unprotected(out_type, message))?;
        let deadline = Instant::now() + self.timeout;
        loop {
            let datagram = receive(self.socket, deadline, self.timeout)?;
            match packet::open_unprotected(&datagram, in_type) {
                Ok(Some(answer)) => match accept(answer) {
                    // Another exchange's answer (an old tag or session id): not ours.
                    Err(RakpError::Stray { .. }) => continue,
                    other => return other.map_err(LanError::from),
                },
                Ok(None) | Err(_) => continue,
            }
        }
    }
}

/// The next datagram, waiting until `deadline` at most.
fn receive(socket: &UdpSocket, deadline: Instant, timeout: Duration) -> Result<Vec<u8>, LanError> {
    let mut buffer = vec![0u8; MAX_DATAGRAM];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(LanError::Timeout(timeout));
        }
        socket.set_read_timeout(Some(left))?;
        match socket.recv(&mut buffer) {
            Ok(length) => {
                buffer.truncate(length);
                return Ok(buffer);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(LanError::Timeout(timeout))
            }
            // An interrupted wait: wait on.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(LanError::Io(e)),
        }
    }
}

/// `N` random bytes from the operating system (session ids, random numbers, IVs).
fn random<const N: usize>() -> Result<[u8; N], LanError> {
    let mut out = [0u8; N];
    getrandom::getrandom(&mut out).map_err(|e| LanError::Io(e.into()))?;
    Ok(out)
}
