//! Redis's protocol (RESP2): the server's URL, commands written, replies read bounded.
//!
//! Why our own: the Redis output needs a handful of commands (AUTH, SELECT, RPUSH, XADD,
//! WAIT) on a blocking socket, and the replies are untrusted input: a reply may claim any
//! length or nesting. [`parse`] takes bytes already read and answers a complete reply, "need
//! more", or an error, with every length, count and depth bounded by [`ReplyLimits`] before
//! anything is allocated for it.

/// One reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`
    Simple(String),
    /// `-ERR ...`
    Error(String),
    /// `:42`
    Integer(i64),
    /// `$5\r\nhello` (`None`: `$-1`).
    Bulk(Option<Vec<u8>>),
    /// `*2\r\n...` (`None`: `*-1`).
    Array(Option<Vec<Reply>>),
}

/// Bounds of one reply.
#[derive(Clone, Copy, Debug)]
pub struct ReplyLimits {
    /// Longest bulk string.
    pub max_bulk: usize,
    /// Most elements of one array.
    pub max_elements: usize,
    /// Deepest nesting of arrays.
    pub max_depth: usize,
    /// Longest simple string, error or number line.
    pub max_line: usize,
}

impl Default for ReplyLimits {
    fn default() -> ReplyLimits {
        ReplyLimits {
            max_bulk: 64 * 1024,
            max_elements: 4096,
            max_depth: 4,
            max_line: 4096,
        }
    }
}

/// Why a reply was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RespError {
    #[error("reply type byte {0:#04x} is not one of RESP2's")]
    UnknownType(u8),
    #[error("reply line longer than {0} bytes")]
    LineTooLong(usize),
    #[error("reply line is not UTF-8 or has a bare CR")]
    BadLine,
    #[error("reply length or number {0:?} is not a number")]
    BadNumber(String),
    #[error("bulk string of {0} bytes is larger than the limit")]
    BulkTooLarge(i64),
    #[error("array of {0} elements is larger than the limit")]
    ArrayTooLarge(i64),
    #[error("arrays nested deeper than {0}")]
    TooDeep(usize),
    #[error("bulk string not followed by CRLF")]
    MissingCrlf,
}

/// A complete reply at the start of `input` and the bytes it took, `Ok(None)` when `input`
/// holds only the start of one.
pub fn parse(input: &[u8], limits: &ReplyLimits) -> Result<Option<(Reply, usize)>, RespError> {
    parse_at(input, 0, limits, 0)
}

/// The line at `start` (without CRLF) and where the next begins.
fn line<'a>(
    input: &'a [u8],
    start: usize,
    limits: &ReplyLimits,
) -> Result<Option<(&'a str, usize)>, RespError> {
    let rest = &input[start.min(input.len())..];
    let window = &rest[..rest.len().min(limits.max_line + 2)];
    match window.windows(2).position(|w| w == b"\r\n") {
        Some(end) => {
            let text = std::str::from_utf8(&window[..end]).map_err(|_| RespError::BadLine)?;
            if text.contains('\r') {
                return Err(RespError::BadLine);
            }
            Ok(Some((text, start + end + 2)))
        }
        None if rest.len() > limits.max_line + 1 => Err(RespError::LineTooLong(limits.max_line)),
        None => Ok(None),
    }
}

fn number(text: &str) -> Result<i64, RespError> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    if digits.is_empty() || digits.len() > 19 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RespError::BadNumber(text.chars().take(32).collect()));
    }
    text.parse()
        .map_err(|_| RespError::BadNumber(text.chars().take(32).collect()))
}

/// A bulk string's length or an array's count: `None` for -1 (RESP's null), else at most
/// `max` (over it, or negative: `too_large`).
fn length(
    text: &str,
    max: usize,
    too_large: fn(i64) -> RespError,
) -> Result<Option<usize>, RespError> {
    let length = number(text)?;
    if length == -1 {
        return Ok(None);
    }
    usize::try_from(length)
        .ok()
        .filter(|&n| n <= max)
        .map(Some)
        .ok_or(too_large(length))
}

fn parse_at(
    input: &[u8],
    start: usize,
    limits: &ReplyLimits,
    depth: usize,
) -> Result<Option<(Reply, usize)>, RespError> {
    let Some(&kind) = input.get(start) else {
        return Ok(None);
    };
    let Some((text, next)) = line(input, start + 1, limits)? else {
        return Ok(None);
    };
    match kind {
        b'+' => Ok(Some((Reply::Simple(text.to_owned()), next))),
        b'-' => Ok(Some((Reply::Error(text.to_owned()), next))),
        b':' => Ok(Some((Reply::Integer(number(text)?), next))),
        b'$' => {
            let Some(size) = length(text, limits.max_bulk, RespError::BulkTooLarge)? else {
                return Ok(Some((Reply::Bulk(None), next)));
            };
            let Some(end) = next.checked_add(size) else {
                // `size` came from a non-negative i64: the conversion back cannot fail.
                return Err(RespError::BulkTooLarge(
                    i64::try_from(size).unwrap_or(i64::MAX),
                ));
            };
            if input.len() < end + 2 {
                return Ok(None);
            }
            if &input[end..end + 2] != b"\r\n" {
                return Err(RespError::MissingCrlf);
            }
            Ok(Some((
                Reply::Bulk(Some(input[next..end].to_vec())),
                end + 2,
            )))
        }
        b'*' => {
            let Some(count) = length(text, limits.max_elements, RespError::ArrayTooLarge)? else {
                return Ok(Some((Reply::Array(None), next)));
            };
            if depth >= limits.max_depth {
                return Err(RespError::TooDeep(limits.max_depth));
            }
            // Each element takes at least 3 bytes: no allocation beyond what arrived.
            let mut elements = Vec::with_capacity(count.min(input.len().saturating_sub(next) / 3));
            let mut at = next;
            for _ in 0..count {
                let Some((element, after)) = parse_at(input, at, limits, depth + 1)? else {
                    return Ok(None);
                };
                elements.push(element);
                at = after;
            }
            Ok(Some((Reply::Array(Some(elements)), at)))
        }
        other => Err(RespError::UnknownType(other)),
    }
}

/// `arguments` as one RESP command (an array of bulk strings), appended to `out`.
pub fn command(out: &mut Vec<u8>, arguments: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", arguments.len()).as_bytes());
    for argument in arguments {
        out.extend_from_slice(format!("${}\r\n", argument.len()).as_bytes());
        out.extend_from_slice(argument);
        out.extend_from_slice(b"\r\n");
    }
}

/// Where a Redis server is and how to log in. Its `Debug` shows no password.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub user: Option<String>,
    pub password: Option<String>,
    pub database: u32,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "redis://")?;
        match (&self.user, &self.password) {
            (Some(user), Some(_)) => write!(f, "{user}:***@")?,
            (None, Some(_)) => write!(f, ":***@")?,
            (Some(user), None) => write!(f, "{user}@")?,
            (None, None) => {}
        }
        write!(f, "{}:{}/{}", self.host, self.port, self.database)
    }
}

/// Why a Redis URL is refused (never repeating the URL: it may hold the password).
#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    #[error("the URL must start with redis:// (rediss:// is not supported)")]
    Scheme,
    #[error("the URL has characters it may not have (query, fragment, spaces)")]
    Characters,
    #[error("the URL's password is empty")]
    EmptyPassword,
    #[error("the URL's database is not a number")]
    Database,
    #[error("the URL's port is not a number")]
    Port,
    #[error("the URL's IPv6 address has no ]")]
    Bracket,
    #[error("the URL has no host or port")]
    NoHost,
}

impl Endpoint {
    /// Read `redis://[[user]:password@]host[:port][/db]`. An error never repeats the URL (it
    /// may hold the password).
    pub fn parse(url: &str) -> Result<Endpoint, UrlError> {
        let rest = url.strip_prefix("redis://").ok_or(UrlError::Scheme)?;
        if rest.contains(['?', '#', ' ']) || rest.chars().any(char::is_control) {
            return Err(UrlError::Characters);
        }
        let (credentials, location) = match rest.rsplit_once('@') {
            Some((credentials, location)) => (Some(credentials), location),
            None => (None, rest),
        };
        let (user, password) = match credentials {
            None => (None, None),
            Some(credentials) => match credentials.split_once(':') {
                Some((user, password)) => (
                    (!user.is_empty()).then(|| user.to_owned()),
                    Some(password.to_owned()),
                ),
                None => (Some(credentials.to_owned()), None),
            },
        };
        if password.as_deref() == Some("") {
            return Err(UrlError::EmptyPassword);
        }
        let (hostport, database) = match location.split_once('/') {
            Some((hostport, "")) => (hostport, 0),
            Some((hostport, database)) => (
                hostport,
                database.parse::<u32>().map_err(|_| UrlError::Database)?,
            ),
            None => (location, 0),
        };
        let (host, port) = if hostport.starts_with('[') {
            match hostport.split_once(']') {
                Some((host, "")) => (&host[1..], 6379),
                Some((host, port)) => (
                    &host[1..],
                    port.strip_prefix(':')
                        .and_then(|p| p.parse().ok())
                        .ok_or(UrlError::Port)?,
                ),
                None => return Err(UrlError::Bracket),
            }
        } else {
            match hostport.rsplit_once(':') {
                Some((host, port)) => (host, port.parse().map_err(|_| UrlError::Port)?),
                None => (hostport, 6379),
            }
        };
        if host.is_empty() || port == 0 {
            return Err(UrlError::NoHost);
        }
        Ok(Endpoint {
            host: host.to_owned(),
            port,
            user,
            password,
            database,
        })
    }
}
