//! The privileged PAM helper (Cockpit's pattern): the serving process never runs as root, yet
//! checking another user's password needs root (pam_unix reads `/etc/shadow`). So the service,
//! while still root, starts `wsmand-mgmt pam-helper` on one end of a socket pair (the helper's
//! stdin) and then drops its privileges; the helper keeps root and does one thing only.
//!
//! The protocol is tiny and bounded, because the helper trusts the serving process no more than
//! it trusts the network (a compromised console must not get more than password checks out of
//! it). A request is a 3-byte header, the user name's length (1 byte, at most
//! [`MAX_USER_BYTES`]) and the password's (2 bytes big-endian, at most [`MAX_PASSWORD_BYTES`]),
//! then the name and the password. The answer is one byte, `0` refused, or `1` then the uid
//! (4 bytes) and the groups (a count byte, at most [`MAX_GROUPS`], then 4 bytes each). Anything
//! else ends the helper. It checks one request at a time, at most one per
//! [`MIN_INTERVAL`], answers a refusal no sooner than [`REFUSAL_FLOOR`] after the request (so
//! an unknown user, a wrong password and a user outside the login group look alike), and exits
//! when the socket closes. The password is never logged and is wiped after use.

use std::io::{self, Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

/// Longest user name sent to the helper (Linux names are at most 32 bytes).
pub const MAX_USER_BYTES: usize = 32;
/// Longest password sent to the helper.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Most groups in an answer.
pub const MAX_GROUPS: usize = 64;
/// Bytes of a request's header.
pub const HEADER_BYTES: usize = 3;
/// A refusal is answered no sooner than this after the request arrived.
pub const REFUSAL_FLOOR: Duration = Duration::from_secs(1);
/// The helper starts at most one check per this interval (password guessing through a
/// compromised console stays slow).
pub const MIN_INTERVAL: Duration = Duration::from_millis(200);
/// How long the rest of a request may take after its header.
const BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the service waits for the helper's answer (PAM may sleep on failures).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// Why bytes are not a request or an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// A length is out of bounds.
    #[error("a length is out of bounds")]
    TooLong,
    /// The name is empty or holds a character no Linux user name has.
    #[error("not a user name")]
    BadName,
    /// The password is not UTF-8 or holds a NUL byte.
    #[error("not a password")]
    BadPassword,
    /// Fewer or more bytes than the header announced.
    #[error("wrong frame length")]
    Length,
    /// An answer byte other than 0 or 1.
    #[error("unknown answer")]
    BadAnswer,
}

/// One password check.
pub struct CheckRequest {
    /// The Linux user name.
    pub user: String,
    /// The password, wiped when dropped.
    pub password: Zeroizing<String>,
}

/// The helper's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// PAM accepted the password and the account, and the user is in the login group.
    Accepted {
        /// The user's uid.
        uid: u32,
        /// Its primary and supplementary groups.
        groups: Vec<u32>,
    },
    /// Anything else (one answer for every reason).
    Refused,
}

/// A user name the helper passes to PAM: letters, digits, `.`, `_`, `-`, `@`, not starting
/// with `-` (never an option to anything).
pub fn is_user_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_USER_BYTES
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-@".contains(&b))
}

/// The header's two lengths, checked against the bounds.
pub fn parse_header(header: [u8; HEADER_BYTES]) -> Result<(usize, usize), ProtocolError> {
    let user = usize::from(header[0]);
    let password = usize::from(u16::from_be_bytes([header[1], header[2]]));
    if user == 0 || user > MAX_USER_BYTES || password > MAX_PASSWORD_BYTES {
        return Err(ProtocolError::TooLong);
    }
    Ok((user, password))
}

/// A whole request (header and body).
pub fn parse_request(frame: &[u8]) -> Result<CheckRequest, ProtocolError> {
    let header: [u8; HEADER_BYTES] = frame
        .get(..HEADER_BYTES)
        .and_then(|h| h.try_into().ok())
        .ok_or(ProtocolError::Length)?;
    let (user_len, password_len) = parse_header(header)?;
    let body = &frame[HEADER_BYTES..];
    if body.len() != user_len + password_len {
        return Err(ProtocolError::Length);
    }
    let user = std::str::from_utf8(&body[..user_len]).map_err(|_| ProtocolError::BadName)?;
    if !is_user_name(user) {
        return Err(ProtocolError::BadName);
    }
    let password =
        std::str::from_utf8(&body[user_len..]).map_err(|_| ProtocolError::BadPassword)?;
    if password.contains('\0') {
        return Err(ProtocolError::BadPassword);
    }
    Ok(CheckRequest {
        user: user.to_owned(),
        password: Zeroizing::new(password.to_owned()),
    })
}

/// The bytes of a request; a name or password the helper would refuse to read is an error.
pub fn encode_request(user: &str, password: &str) -> Result<Zeroizing<Vec<u8>>, ProtocolError> {
    if !is_user_name(user) {
        return Err(ProtocolError::BadName);
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(ProtocolError::TooLong);
    }
    if password.contains('\0') {
        return Err(ProtocolError::BadPassword);
    }
    let mut frame = Zeroizing::new(Vec::with_capacity(
        HEADER_BYTES + user.len() + password.len(),
    ));
    frame.push(user.len() as u8);
    frame.extend_from_slice(&(password.len() as u16).to_be_bytes());
    frame.extend_from_slice(user.as_bytes());
    frame.extend_from_slice(password.as_bytes());
    Ok(frame)
}

/// The bytes of an answer (at most [`MAX_GROUPS`] groups are sent).
pub fn encode_verdict(verdict: &Verdict) -> Vec<u8> {
    match verdict {
        Verdict::Refused => vec![0],
        Verdict::Accepted { uid, groups } => {
            let groups = &groups[..groups.len().min(MAX_GROUPS)];
            let mut out = vec![1];
            out.extend_from_slice(&uid.to_be_bytes());
            out.push(groups.len() as u8);
            for gid in groups {
                out.extend_from_slice(&gid.to_be_bytes());
            }
            out
        }
    }
}

/// Reads one answer from `read_exact`-like reads of `stream`.
async fn read_verdict(
    stream: &mut tokio::net::UnixStream,
) -> Result<Verdict, Box<dyn std::error::Error + Send + Sync>> {
    use tokio::io::AsyncReadExt as _;
    match stream.read_u8().await? {
        0 => Ok(Verdict::Refused),
        1 => {
            let uid = stream.read_u32().await?;
            let count = usize::from(stream.read_u8().await?);
            if count > MAX_GROUPS {
                return Err(ProtocolError::TooLong.into());
            }
            let mut groups = Vec::with_capacity(count);
            for _ in 0..count {
                groups.push(stream.read_u32().await?);
            }
            Ok(Verdict::Accepted { uid, groups })
        }
        _ => Err(ProtocolError::BadAnswer.into()),
    }
}

/// The serving process's end: one check at a time over the socket. An exchange, once its
/// request is written, always runs to its answer on a task of its own (a login request that
/// goes away must not leave an answer for the next one to read); an exchange that fails or
/// times out after writing closes the socket for good, so answers never pair with the wrong
/// request (OS logins are refused from then on, and the helper exits).
pub struct HelperClient {
    stream: std::sync::Arc<tokio::sync::Mutex<Option<tokio::net::UnixStream>>>,
}

type HelperError = Box<dyn std::error::Error + Send + Sync>;

impl HelperClient {
    /// Wraps the service's end of the socket pair (inside the tokio runtime).
    pub fn new(stream: UnixStream) -> io::Result<Self> {
        stream.set_nonblocking(true)?;
        Ok(Self {
            stream: std::sync::Arc::new(tokio::sync::Mutex::new(Some(
                tokio::net::UnixStream::from_std(stream)?,
            ))),
        })
    }

    /// Asks the helper; a name or password it would not read is refused here, after the same
    /// floor the helper keeps. An error means the helper is gone or broke the protocol.
    pub async fn check(&self, user: &str, password: &str) -> Result<Verdict, HelperError> {
        use tokio::io::AsyncWriteExt as _;
        let Ok(frame) = encode_request(user, password) else {
            tokio::time::sleep(REFUSAL_FLOOR).await;
            return Ok(Verdict::Refused);
        };
        let shared = std::sync::Arc::clone(&self.stream);
        let exchange = tokio::spawn(async move {
            let mut guard = tokio::time::timeout(ANSWER_TIMEOUT, shared.lock())
                .await
                .map_err(|_| "the PAM helper is busy")?;
            let stream = guard.as_mut().ok_or("the PAM helper's socket is closed")?;
            let answer = tokio::time::timeout(ANSWER_TIMEOUT, async {
                stream.write_all(&frame).await?;
                read_verdict(stream).await
            })
            .await
            .unwrap_or_else(|_| Err("the PAM helper did not answer in time".into()));
            if answer.is_err() {
                *guard = None;
            }
            answer
        });
        exchange
            .await
            .map_err(|e| -> HelperError { e.to_string().into() })?
    }
}

/// Starts the helper (this executable's `pam-helper`) on a socket pair, as the current user
/// (root, when the service is started by systemd). Returns the child and the service's end.
pub fn spawn(
    pam_service: &str,
    login_group: &str,
) -> io::Result<(std::process::Child, UnixStream)> {
    use std::os::fd::OwnedFd;
    use std::process::{Command, Stdio};
    let (ours, theirs) = UnixStream::pair()?;
    let mut command = Command::new("/proc/self/exe");
    command
        .arg("pam-helper")
        .arg("--pam-service")
        .arg(pam_service)
        .arg("--login-group")
        .arg(login_group)
        .env_clear()
        .stdin(Stdio::from(OwnedFd::from(theirs)))
        .stdout(Stdio::null());
    for name in ["JOURNAL_STREAM", "WSMAND_LOG", "PATH"] {
        if let Some(value) = std::env::var_os(name) {
            command.env(name, value);
        }
    }
    let child = command.spawn()?;
    Ok((child, ours))
}

/// Why a request could not be read: the socket failed, or its bytes are not a request.
#[derive(Debug, thiserror::Error)]
enum RequestError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("{0}")]
    Protocol(#[from] ProtocolError),
}

/// Reads one request; `Ok(None)` when the service closed the socket.
fn read_request(stream: &mut UnixStream) -> Result<Option<CheckRequest>, RequestError> {
    let mut header = [0u8; HEADER_BYTES];
    match stream.read_exact(&mut header) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(error) => return Err(error.into()),
    }
    let (user_len, password_len) = parse_header(header)?;
    let mut frame = Zeroizing::new(vec![0u8; HEADER_BYTES + user_len + password_len]);
    frame[..HEADER_BYTES].copy_from_slice(&header);
    stream.set_read_timeout(Some(BODY_TIMEOUT))?;
    stream.read_exact(&mut frame[HEADER_BYTES..])?;
    stream.set_read_timeout(None)?;
    Ok(Some(parse_request(&frame)?))
}

/// PAM (authenticate and account management), then the login group.
fn decide(pam: &wsman_os::PamAuthenticator, login_group: &str, request: &CheckRequest) -> Verdict {
    let user = request.user.as_str();
    if let Err(error) = pam.authenticate(user, &request.password) {
        tracing::info!(user, %error, "PAM refused an OS login");
        return Verdict::Refused;
    }
    let account = match wsman_os::lookup_user(user) {
        Ok(Some(account)) => account,
        Ok(None) => {
            tracing::warn!(user, "PAM accepted a user NSS does not know");
            return Verdict::Refused;
        }
        Err(error) => {
            tracing::warn!(user, %error, "user lookup failed");
            return Verdict::Refused;
        }
    };
    let member =
        !login_group.is_empty() && wsman_os::is_member_of_group(&account, login_group) == Ok(true);
    if !member {
        tracing::info!(
            user,
            group = login_group,
            "OS login refused: not in the login group"
        );
        return Verdict::Refused;
    }
    Verdict::Accepted {
        uid: account.uid,
        groups: account.groups,
    }
}

/// The helper's whole life: answer checks on `stream` (its stdin) until it closes or breaks
/// the protocol. Runs as root; nothing but the checks is ever done for the other end.
pub fn serve(mut stream: UnixStream, pam_service: &str, login_group: &str) -> anyhow::Result<()> {
    // Ends with the service even while PAM is busy (the socket's EOF covers the idle case).
    let _ = nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL);
    if nix::unistd::getppid() == nix::unistd::Pid::from_raw(1) {
        anyhow::bail!("the service ended before the PAM helper started");
    }
    let pam = wsman_os::PamAuthenticator::new(pam_service)?;
    tracing::info!(
        pam_service,
        login_group,
        uid = nix::unistd::getuid().as_raw(),
        "PAM helper ready"
    );
    let mut last_start: Option<Instant> = None;
    loop {
        let request = match read_request(&mut stream) {
            Ok(Some(request)) => request,
            Ok(None) => {
                tracing::info!("the service closed the PAM helper's socket; exiting");
                return Ok(());
            }
            Err(error) => anyhow::bail!("PAM helper: bad request ({error}); exiting"),
        };
        if let Some(last) = last_start {
            std::thread::sleep(MIN_INTERVAL.saturating_sub(last.elapsed()));
        }
        let started = Instant::now();
        last_start = Some(started);
        let verdict = decide(&pam, login_group, &request);
        drop(request);
        if verdict == Verdict::Refused {
            std::thread::sleep(REFUSAL_FLOOR.saturating_sub(started.elapsed()));
        }
        stream.write_all(&encode_verdict(&verdict))?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn requests_round_trip_and_bounds_hold() {
        let frame = encode_request("wsmantest", "pässword").unwrap();
        let request = parse_request(&frame).unwrap();
        assert_eq!(request.user, "wsmantest");
        assert_eq!(request.password.as_str(), "pässword");
        assert!(encode_request("", "x").is_err());
        assert!(encode_request("-rf", "x").is_err());
        assert!(encode_request(&"a".repeat(33), "x").is_err());
        assert!(encode_request("a", &"x".repeat(1025)).is_err());
        assert!(encode_request("a", "x\0y").is_err());
        assert_eq!(parse_header([0, 0, 1]), Err(ProtocolError::TooLong));
        assert_eq!(parse_header([33, 0, 1]), Err(ProtocolError::TooLong));
        assert_eq!(parse_header([1, 0x04, 0x01]), Err(ProtocolError::TooLong));
        let mut short = frame.to_vec();
        short.pop();
        assert_eq!(parse_request(&short).err(), Some(ProtocolError::Length));
    }

    #[test]
    fn verdicts_encode_their_groups() {
        assert_eq!(encode_verdict(&Verdict::Refused), vec![0]);
        let bytes = encode_verdict(&Verdict::Accepted {
            uid: 1001,
            groups: vec![1001, 994],
        });
        assert_eq!(bytes.len(), 1 + 4 + 1 + 8);
        assert_eq!(bytes[5], 2);
    }

    proptest! {
        #[test]
        fn any_bytes_parse_or_fail_cleanly(bytes in proptest::collection::vec(any::<u8>(), 0..1200)) {
            if let Ok(request) = parse_request(&bytes) {
                prop_assert!(is_user_name(&request.user));
                prop_assert!(request.password.len() <= MAX_PASSWORD_BYTES);
            }
        }

        #[test]
        fn valid_requests_round_trip(user in "[a-z_][a-z0-9_.-]{0,31}", password in "[^\\x00]{0,200}") {
            let frame = encode_request(&user, &password).unwrap();
            let request = parse_request(&frame).unwrap();
            prop_assert_eq!(request.user, user);
            prop_assert_eq!(request.password.as_str(), password.as_str());
        }
    }
}
