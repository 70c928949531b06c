//! Forward-confirmed reverse DNS of a client address: the name its PTR record (or
//! `/etc/hosts`, through the system's resolver) gives, kept only when that name resolves back
//! to the same address. A name that does not confirm is no name: anyone controlling the reverse
//! zone of their own addresses can claim any PTR name.

use std::ffi::CStr;
use std::net::{IpAddr, ToSocketAddrs as _};

use wsman_safe::net::canonical;

/// Longest host name `getnameinfo` writes (`NI_MAXHOST`).
const MAX_HOST: usize = 1025;

/// The reverse name of `ip` (`getnameinfo` with `NI_NAMEREQD`), unconfirmed; `None` when the
/// resolver has none.
pub fn reverse_name(ip: IpAddr) -> Option<String> {
    let mut host = [0 as libc::c_char; MAX_HOST];
    let rc = match ip {
        IpAddr::V4(v4) => {
            // SAFETY: sockaddr_in is plain data; all-zero is a valid value.
            let mut address: libc::sockaddr_in = unsafe { std::mem::zeroed() };
            address.sin_family = libc::AF_INET as libc::sa_family_t;
            address.sin_addr.s_addr = u32::from_ne_bytes(v4.octets());
            name_info(&address, &mut host)
        }
        IpAddr::V6(v6) => {
            // SAFETY: sockaddr_in6 is plain data; all-zero is a valid value.
            let mut address: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
            address.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            address.sin6_addr.s6_addr = v6.octets();
            name_info(&address, &mut host)
        }
    };
    if rc != 0 {
        return None;
    }
    // SAFETY: on success getnameinfo wrote a NUL-terminated string into `host`.
    let name = unsafe { CStr::from_ptr(host.as_ptr()) };
    let name = name
        .to_str()
        .ok()?
        .trim_end_matches('.')
        .to_ascii_lowercase();
    (!name.is_empty()).then_some(name)
}

/// A socket address `getnameinfo` takes: the family's own `sockaddr_*` struct, complete.
trait SocketAddress {}
impl SocketAddress for libc::sockaddr_in {}
impl SocketAddress for libc::sockaddr_in6 {}

/// `getnameinfo` of one address with `NI_NAMEREQD` into `host`; its return code.
fn name_info<A: SocketAddress>(address: &A, host: &mut [libc::c_char; MAX_HOST]) -> libc::c_int {
    // SAFETY: `address` is a complete sockaddr_in or sockaddr_in6 (the only `SocketAddress`
    // types) of the length given; `host` is writable for MAX_HOST bytes, which getnameinfo
    // NUL-terminates on success; no service buffer is asked for (null, 0).
    unsafe {
        libc::getnameinfo(
            std::ptr::from_ref(address).cast(),
            std::mem::size_of::<A>() as libc::socklen_t,
            host.as_mut_ptr(),
            MAX_HOST as libc::socklen_t,
            std::ptr::null_mut(),
            0,
            libc::NI_NAMEREQD,
        )
    }
}

/// The forward-confirmed name of `ip`: its reverse name when that name's addresses include
/// `ip` (IPv4-mapped IPv6 compared as IPv4), else `None`.
pub fn confirmed_name(ip: IpAddr) -> Option<String> {
    let ip = canonical(ip);
    let name = reverse_name(ip)?;
    confirms(&name, ip).then_some(name)
}

/// Whether `name` resolves (forward) to `ip`.
pub fn confirms(name: &str, ip: IpAddr) -> bool {
    let ip = canonical(ip);
    (name, 0)
        .to_socket_addrs()
        .is_ok_and(|mut addresses| addresses.any(|a| canonical(a.ip()) == ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn localhost_confirms_and_a_foreign_name_does_not() {
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(confirms("localhost", loopback));
        // A name that resolves elsewhere (or not at all) never confirms loopback.
        assert!(!confirms("wsmand-no-such-name.invalid", loopback));
        if let Some(name) = reverse_name(loopback) {
            assert_eq!(confirmed_name(loopback), Some(name));
        }
    }
}
