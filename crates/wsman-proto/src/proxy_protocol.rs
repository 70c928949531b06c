//! The PROXY protocol, version 2 (haproxy's `doc/proxy-protocol.txt`, section 2.2): the
//! binary header a TCP load balancer (haproxy's `send-proxy-v2`) writes before the client's
//! bytes, naming the client's address.
//!
//! Why here, sans I/O: the header is untrusted input read before anything else on a
//! connection, so its parser is bounded, fuzzed and property-tested like every other, and the
//! listener only feeds it bytes. Why version 2 only: it is binary with a fixed 16-byte
//! prefix, so the reader knows after 16 bytes exactly how many more belong to the header and
//! never reads into the TLS handshake or the request that follows; version 1 is a text line
//! that needs reading byte by byte.
//!
//! What is taken: the command (LOCAL: the balancer's own connection, a health check, whose
//! addresses are the socket's; PROXY: a relayed one), and for TCP over IPv4 or IPv6 the
//! source and destination address and port. Other families (UNIX sockets, UNSPEC) and
//! transports (UDP) are accepted as the spec asks and leave the socket's addresses in force.
//! TLVs after the addresses (ALPN, authority, CRC32C, ...) are skipped, within the bound.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The 12 bytes every version 2 header starts with.
pub const SIGNATURE: [u8; 12] = [
    0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
];
/// The fixed part: signature, version and command, family and transport, length.
pub const PREFIX_LEN: usize = 16;
/// The most bytes after the prefix this reader takes (addresses and TLVs). The spec allows up
/// to 65,535; UNIX addresses (216 bytes) with the TLVs haproxy sends (ALPN, authority, SSL
/// facts, a unique id of at most 128 bytes) fit well within; a balancer sending more is
/// refused rather than buffered.
pub const MAX_BODY_LEN: usize = 2048;

/// What the header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Header {
    /// LOCAL: the balancer speaking for itself (a health check): the socket's addresses hold.
    Local,
    /// PROXY with TCP over IPv4 or IPv6: the client's address and the one it connected to.
    Tcp {
        source: SocketAddr,
        destination: SocketAddr,
    },
    /// PROXY of another family or transport (UNIX, UNSPEC, UDP): relayed, with no address
    /// this reader takes; the socket's addresses hold.
    Unknown,
}

/// The outcome of feeding bytes to [`parse`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A complete header of `length` bytes; the connection's own data starts after them.
    Complete { header: Header, length: usize },
    /// The bytes so far are a valid beginning: `total` bytes are needed in all (16 until the
    /// prefix is there, then the header's full length).
    Incomplete { total: usize },
}

/// Why a header is refused. The connection is closed: bytes that are not a header cannot be
/// read as anything else.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProxyHeaderError {
    #[error("not a PROXY protocol v2 signature")]
    Signature,
    #[error("PROXY protocol version {0} (only 2 is read)")]
    Version(u8),
    #[error("PROXY protocol command {0} (0 LOCAL or 1 PROXY expected)")]
    Command(u8),
    #[error("PROXY protocol family {family} transport {transport} unknown")]
    Family { family: u8, transport: u8 },
    #[error("PROXY protocol header of {0} bytes after the prefix, more than this reader takes")]
    TooLong(usize),
    #[error("PROXY protocol header of {length} bytes too short for its addresses ({needed})")]
    TooShort { length: usize, needed: usize },
}

/// Parse the header at the start of `input` (which may hold more: the connection's data).
/// Never reads beyond the header, never needs more than [`PREFIX_LEN`] + [`MAX_BODY_LEN`].
pub fn parse(input: &[u8]) -> Result<Parsed, ProxyHeaderError> {
    let seen = input.len().min(SIGNATURE.len());
    if input[..seen] != SIGNATURE[..seen] {
        return Err(ProxyHeaderError::Signature);
    }
    if input.len() < PREFIX_LEN {
        return Ok(Parsed::Incomplete { total: PREFIX_LEN });
    }
    let version = input[12] >> 4;
    let command = input[12] & 0x0F;
    if version != 2 {
        return Err(ProxyHeaderError::Version(version));
    }
    if command > 1 {
        return Err(ProxyHeaderError::Command(command));
    }
    let family = input[13] >> 4;
    let transport = input[13] & 0x0F;
    if family > 3 || transport > 2 {
        return Err(ProxyHeaderError::Family { family, transport });
    }
    let length = usize::from(u16::from_be_bytes([input[14], input[15]]));
    if length > MAX_BODY_LEN {
        return Err(ProxyHeaderError::TooLong(length));
    }
    let total = PREFIX_LEN + length;
    if input.len() < total {
        return Ok(Parsed::Incomplete { total });
    }
    let body = &input[PREFIX_LEN..total];
    let needed = match family {
        1 => 12,
        2 => 36,
        3 => 216,
        _ => 0,
    };
    // A LOCAL header's addresses are to be ignored whatever they hold; a PROXY one must carry
    // what its family says.
    if command == 1 && body.len() < needed {
        return Err(ProxyHeaderError::TooShort {
            length: body.len(),
            needed,
        });
    }
    let header = match (command, family, transport) {
        (0, _, _) => Header::Local,
        (_, 1, 1) => {
            let ip = |at: usize| {
                IpAddr::V4(Ipv4Addr::new(
                    body[at],
                    body[at + 1],
                    body[at + 2],
                    body[at + 3],
                ))
            };
            let port = |at: usize| u16::from_be_bytes([body[at], body[at + 1]]);
            Header::Tcp {
                source: SocketAddr::new(ip(0), port(8)),
                destination: SocketAddr::new(ip(4), port(10)),
            }
        }
        (_, 2, 1) => {
            let ip = |at: usize| {
                let mut octets = [0u8; 16];
                octets.copy_from_slice(&body[at..at + 16]);
                IpAddr::V6(Ipv6Addr::from(octets))
            };
            let port = |at: usize| u16::from_be_bytes([body[at], body[at + 1]]);
            Header::Tcp {
                source: SocketAddr::new(ip(0), port(32)),
                destination: SocketAddr::new(ip(16), port(34)),
            }
        }
        _ => Header::Unknown,
    };
    Ok(Parsed::Complete {
        header,
        length: total,
    })
}

/// A header for `source` → `destination` (PROXY, TCP): what a balancer writes. For tests and
/// the benchmark's load generator (which stands in for a balancer); the parser is checked
/// against bytes haproxy wrote, not against this.
pub fn encode(source: SocketAddr, destination: SocketAddr) -> Vec<u8> {
    let mut out = SIGNATURE.to_vec();
    out.push(0x21);
    match (source, destination) {
        (SocketAddr::V4(s), SocketAddr::V4(d)) => {
            out.push(0x11);
            out.extend_from_slice(&12u16.to_be_bytes());
            out.extend_from_slice(&s.ip().octets());
            out.extend_from_slice(&d.ip().octets());
        }
        (s, d) => {
            let v6 = |a: SocketAddr| match a.ip() {
                IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                IpAddr::V6(v6) => v6,
            };
            out.push(0x21);
            out.extend_from_slice(&36u16.to_be_bytes());
            out.extend_from_slice(&v6(s).octets());
            out.extend_from_slice(&v6(d).octets());
        }
    }
    out.extend_from_slice(&source.port().to_be_bytes());
    out.extend_from_slice(&destination.port().to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A header haproxy wrote with `send-proxy-v2` (TCP over IPv4, 172.19.0.1:42578 to
    /// 172.19.0.3:80), as a netcat behind it dumped it, followed by the request it relayed:
    /// the hex dump published in github.com/seriousben/experiment-proxy-protocol's README.
    const HAPROXY_IPV4: [u8; 32] = [
        0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a, 0x21, 0x11, 0x00,
        0x0c, 0xac, 0x13, 0x00, 0x01, 0xac, 0x13, 0x00, 0x03, 0xa6, 0x52, 0x00, 0x50, b'G', b'E',
        b'T', b' ',
    ];

    #[test]
    fn a_header_haproxy_wrote_gives_the_client_address_and_stops_at_its_end() {
        let parsed = parse(&HAPROXY_IPV4).expect("parses");
        assert_eq!(
            parsed,
            Parsed::Complete {
                header: Header::Tcp {
                    source: "172.19.0.1:42578".parse().expect("address"),
                    destination: "172.19.0.3:80".parse().expect("address"),
                },
                length: 28,
            }
        );
        assert_eq!(&HAPROXY_IPV4[28..], b"GET ");
    }

    #[test]
    fn the_spec_signature_and_its_fields() {
        // proxy-protocol.txt 2.2: "\x0D\x0A\x0D\x0A\x00\x0D\x0A\x51\x55\x49\x54\x0A", then
        // 0x2 in the version nibble, 0x0 LOCAL / 0x1 PROXY, 0x11 TCP over IPv4, 0x21 TCP over
        // IPv6, 0x31 UNIX stream, the length in network order.
        assert_eq!(&SIGNATURE[7..11], b"QUIT");
        let localhost = Ipv6Addr::LOCALHOST.octets();
        for (fields, header, length) in [
            (signed(&[&[0x20, 0x00, 0x00, 0x00]]), Header::Local, 16),
            (
                signed(&[&[0x21, 0x31, 0x00, 0xd8], &[0u8; 216]]),
                Header::Unknown,
                232,
            ),
            (
                signed(&[
                    &[0x21, 0x21, 0x00, 0x24],
                    &localhost,
                    &localhost,
                    &[0x04, 0xd2, 0x16, 0x2e],
                ]),
                Header::Tcp {
                    source: "[::1]:1234".parse().expect("address"),
                    destination: "[::1]:5678".parse().expect("address"),
                },
                52,
            ),
        ] {
            assert_eq!(parse(&fields), Ok(Parsed::Complete { header, length }));
        }
    }

    /// The signature followed by `fields`.
    fn signed(fields: &[&[u8]]) -> Vec<u8> {
        let mut out = SIGNATURE.to_vec();
        for field in fields {
            out.extend_from_slice(field);
        }
        out
    }

    #[test]
    fn bad_headers_are_refused() {
        let with = |byte: usize, value: u8| {
            let mut h = HAPROXY_IPV4.to_vec();
            h[byte] = value;
            parse(&h)
        };
        assert_eq!(with(0, b'G'), Err(ProxyHeaderError::Signature));
        assert_eq!(with(12, 0x11), Err(ProxyHeaderError::Version(1)));
        assert_eq!(with(12, 0x22), Err(ProxyHeaderError::Command(2)));
        assert!(matches!(
            with(13, 0x41),
            Err(ProxyHeaderError::Family { .. })
        ));
        assert_eq!(
            with(15, 0x04),
            Err(ProxyHeaderError::TooShort {
                length: 4,
                needed: 12
            })
        );
        let long = signed(&[&[0x21, 0x11, 0x08, 0x01]]);
        assert_eq!(parse(&long), Err(ProxyHeaderError::TooLong(2049)));
        assert_eq!(parse(b"\x16\x03\x01"), Err(ProxyHeaderError::Signature));
        assert_eq!(parse(b"POST /wsman"), Err(ProxyHeaderError::Signature));
    }

    #[test]
    fn prefixes_ask_for_more() {
        for cut in 0..28 {
            let expected_total = if cut < 16 { 16 } else { 28 };
            assert_eq!(
                parse(&HAPROXY_IPV4[..cut]),
                Ok(Parsed::Incomplete {
                    total: expected_total
                }),
                "{cut}"
            );
        }
    }

    proptest! {
        /// Any bytes: an answer, never a panic, and a complete header never longer than the
        /// input or the bound.
        #[test]
        fn arbitrary_bytes_are_bounded(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            match parse(&bytes) {
                Ok(Parsed::Complete { length, .. }) => {
                    prop_assert!(length <= bytes.len());
                    prop_assert!(length <= PREFIX_LEN + MAX_BODY_LEN);
                }
                Ok(Parsed::Incomplete { total }) => {
                    prop_assert!(total > bytes.len());
                    prop_assert!(total <= PREFIX_LEN + MAX_BODY_LEN);
                }
                Err(_) => {}
            }
        }

        /// Arbitrary bytes behind a valid signature: the same bounds, and a PROXY TCP header
        /// read whole names the addresses at its fixed offsets.
        #[test]
        fn signed_headers_are_bounded(tail in proptest::collection::vec(any::<u8>(), 0..300)) {
            let bytes = signed(&[&tail]);
            if let Ok(Parsed::Complete { length, header }) = parse(&bytes) {
                prop_assert!(length <= bytes.len());
                if let Header::Tcp { source, .. } = header {
                    prop_assert!(matches!(bytes[13], 0x11 | 0x21));
                    let port_at = if bytes[13] == 0x11 { 24 } else { 48 };
                    prop_assert_eq!(source.port(), u16::from_be_bytes([bytes[port_at], bytes[port_at + 1]]));
                }
            }
        }

        /// Every prefix of a valid header asks for more (never refuses, never completes early),
        /// and data after it is left alone.
        #[test]
        fn encoded_headers_read_back(a in any::<[u8; 4]>(), b in any::<[u8; 16]>(), p in any::<u16>(), q in any::<u16>(), v6 in any::<bool>(), rest in proptest::collection::vec(any::<u8>(), 0..20)) {
            let source = if v6 { SocketAddr::new(IpAddr::V6(Ipv6Addr::from(b)), p) } else { SocketAddr::new(IpAddr::V4(Ipv4Addr::from(a)), p) };
            let destination = SocketAddr::new(if v6 { IpAddr::V6(Ipv6Addr::LOCALHOST) } else { IpAddr::V4(Ipv4Addr::LOCALHOST) }, q);
            let header = encode(source, destination);
            for cut in 0..header.len() {
                let incomplete = matches!(parse(&header[..cut]), Ok(Parsed::Incomplete { .. }));
                prop_assert!(incomplete, "cut at {}", cut);
            }
            let mut with_rest = header.clone();
            with_rest.extend_from_slice(&rest);
            prop_assert_eq!(parse(&with_rest), Ok(Parsed::Complete { header: Header::Tcp { source, destination }, length: header.len() }));
        }
    }
}
