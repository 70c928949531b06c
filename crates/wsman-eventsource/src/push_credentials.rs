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

use wsman_safe::http::HttpAddress;

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

    /// Whether the list names the host of `address` as the delivery will connect to it: parsed
    /// by the parser the delivery's connection uses ([`HttpAddress`], WinRM's default ports),
    /// named as `host`, or as `host:port` with the port connected to. An address the delivery
    /// could not use is named by nothing.
    pub fn names(&self, address: &str) -> bool {
        let Ok(target) = HttpAddress::parse(address, false) else {
            return false;
        };
        self.hosts.iter().any(|h| target.is_named_by(h))
    }
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
            // No port: the delivery connects to WinRM's HTTPS port, the one listed.
            "https://collector.example.com/wsman",
            "http://[::1]:8080/x",
        ] {
            assert!(list.names(address), "{address}");
        }
        for address in [
            "https://collector.example.com:443/wsman",
            "https://collector.example.com:5985/wsman",
            "https://siem.example.com.evil.test/",
            "https://user@siem.example.com/",
            "ftp://siem.example.com/",
            "https://other.example.com?siem.example.com",
        ] {
            assert!(!list.names(address), "{address}");
        }
        assert!(!CredentialSubscribers::default().names("https://siem.example.com/"));
    }

    /// The policy decides on the port the delivery connects to: an address without a port is
    /// delivered to WinRM's port (5985 for http, as the delivery's parser says), so a list
    /// naming port 80 does not let it through, and one naming 5985 does.
    #[test]
    fn the_port_is_the_one_the_delivery_connects_to() {
        let port_80 = CredentialSubscribers::new(vec!["siem.example.com:80".into()]);
        assert!(!port_80.names("http://siem.example.com/events"));
        let winrm = CredentialSubscribers::new(vec!["siem.example.com:5985".into()]);
        assert!(winrm.names("http://siem.example.com/events"));
        assert_eq!(
            HttpAddress::parse("http://siem.example.com/events", false).map(|a| a.port),
            Ok(5985)
        );
    }
}
