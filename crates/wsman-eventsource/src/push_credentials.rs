//! Which subscribers the daemon authenticates to with its own credentials.
//!
//! A push subscription whose NotifyTo policy names an authentication profile makes the daemon
//! prove itself to the subscriber's address: with the machine's Kerberos credentials or a
//! client certificate of `certs/`. Administrators may subscribe with push, and the
//! administrators group is wider than root (`wsmand-admins`), so without a bound any member
//! could have the daemon authenticate as the machine to an address of their choosing (and
//! relay or collect those credentials). So: a subscription made as uid 0 may name any
//! address; any other's may name only the hosts the operator listed (`push.toml`). A
//! subscription without an authentication profile sends no credentials and is not bounded
//! here.

/// The hosts (`host` or `host:port`, compared without case) a subscriber other than root may
/// have the daemon authenticate to. Empty (the default): root only.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CredentialSubscribers {
    hosts: Vec<String>,
}

impl CredentialSubscribers {
    pub fn new(hosts: Vec<String>) -> CredentialSubscribers {
        CredentialSubscribers { hosts }
    }

    /// Whether the list names the host of `address` (an `http://` or `https://` URL): as
    /// `host`, or as `host:port` with the port the address uses (its scheme's when it names
    /// none).
    pub fn names(&self, address: &str) -> bool {
        let Some((host, port)) = host_and_port(address) else {
            return false;
        };
        let with_port = format!("{host}:{port}");
        self.hosts
            .iter()
            .any(|h| h.eq_ignore_ascii_case(host) || h.eq_ignore_ascii_case(&with_port))
    }
}

/// The host and port of an `http://` or `https://` address; `None` for anything else (another
/// scheme, user information, no host).
fn host_and_port(address: &str) -> Option<(&str, u16)> {
    let (scheme, rest) = address.split_once("://")?;
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.contains('@') || authority.is_empty() {
        return None;
    }
    // `[v6]:port`, `[v6]`, `host:port`, `host`.
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6.split_once(']')?;
            (host, after.strip_prefix(':'))
        }
        None => match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    let port = match port {
        Some(port) => port.parse().ok()?,
        None => default_port,
    };
    (!host.is_empty()).then_some((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_matched_with_or_without_their_port() {
        let list = CredentialSubscribers::new(vec![
            "siem.example.com".into(),
            "collector.example.com:5986".into(),
            "::1".into(),
        ]);
        for address in [
            "https://SIEM.example.com:5986/wsman",
            "http://siem.example.com/events",
            "https://collector.example.com:5986/wsman",
            "http://[::1]:8080/x",
        ] {
            assert!(list.names(address), "{address}");
        }
        for address in [
            "https://collector.example.com/wsman",
            "https://collector.example.com:5985/wsman",
            "https://siem.example.com.evil.test/",
            "https://user@siem.example.com/",
            "ftp://siem.example.com/",
            "siem.example.com",
            "https://other.example.com?siem.example.com",
        ] {
            assert!(!list.names(address), "{address}");
        }
        assert!(!CredentialSubscribers::default().names("https://siem.example.com/"));
    }
}
