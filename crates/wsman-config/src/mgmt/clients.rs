//! The client restrictions (WMSVC's RemoteRestrictions): address ranges and domains, parsed
//! once and checked on every accepted connection.

use std::net::IpAddr;

use wsman_safe::net::{HostBits, IpRange, IpRangeError};

use super::{ClientAccess, MgmtSettings};

/// Why an entry of the client restrictions was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientRuleError {
    #[error("{0:?} is not an address or ADDR/BITS")]
    NotAnAddress(String),
    #[error("{text:?}: the prefix length must be 0..={max}")]
    PrefixLength { text: String, max: u8 },
    #[error("{0:?} is not a domain name")]
    NotADomain(String),
}

/// An address range of the client restrictions: `ADDR` or `ADDR/BITS` (bits past the prefix
/// cleared), the workspace's one range type ([`IpRange`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientNet(IpRange);

impl ClientNet {
    /// Parses `ADDR` or `ADDR/BITS`, IPv4 or IPv6.
    pub fn parse(text: &str) -> Result<Self, ClientRuleError> {
        let text = text.trim();
        IpRange::parse_cidr(text, HostBits::Cleared)
            .map(Self)
            .map_err(|error| match error {
                IpRangeError::Prefix { max, .. } => ClientRuleError::PrefixLength {
                    text: text.to_owned(),
                    max,
                },
                _ => ClientRuleError::NotAnAddress(text.to_owned()),
            })
    }

    /// True when `ip` is inside this range (IPv4-mapped IPv6 clients count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.contains(ip)
    }
}

/// A domain entry: a DNS name, lower case, without a trailing dot.
pub(super) fn domain(text: &str) -> Result<String, ClientRuleError> {
    let name = text.trim().trim_end_matches('.').to_ascii_lowercase();
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    ok.then_some(name)
        .ok_or_else(|| ClientRuleError::NotADomain(text.to_owned()))
}

/// Whether `name` is `domain` or below it.
fn in_domain(name: &str, domain: &str) -> bool {
    name == domain
        || name
            .strip_suffix(domain)
            .is_some_and(|head| head.ends_with('.'))
}

/// The client restrictions, parsed once: checked on every accepted TCP connection.
#[derive(Clone, Debug)]
pub struct ClientRules {
    allowed: Vec<ClientNet>,
    denied: Vec<ClientNet>,
    allowed_domains: Vec<String>,
    denied_domains: Vec<String>,
    unspecified: ClientAccess,
}

/// The answer for one client address, with the rule that decided (for the log line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientDecision {
    /// Accepted, by this rule.
    Allowed(String),
    /// Refused, by this rule.
    Denied(String),
}

impl ClientRules {
    /// The rules of `settings` (already validated by [`MgmtSettings::validate`], which
    /// names the setting an entry is refused in).
    pub fn from_settings(settings: &MgmtSettings) -> Result<Self, ClientRuleError> {
        let nets = |list: &[String]| {
            list.iter()
                .map(|s| ClientNet::parse(s))
                .collect::<Result<_, _>>()
        };
        let domains = |list: &[String]| list.iter().map(|s| domain(s)).collect::<Result<_, _>>();
        Ok(Self {
            allowed: nets(&settings.allowed_clients)?,
            denied: nets(&settings.denied_clients)?,
            allowed_domains: domains(&settings.allowed_domains)?,
            denied_domains: domains(&settings.denied_domains)?,
            unspecified: settings.unspecified_clients,
        })
    }

    /// Whether a decision needs the client's name (any domain entry): then the caller looks
    /// it up (forward-confirmed) and calls [`ClientRules::decide_named`].
    pub fn needs_name(&self) -> bool {
        !(self.allowed_domains.is_empty() && self.denied_domains.is_empty())
    }

    /// [`ClientRules::decide_named`] for a client without a (confirmed) name.
    pub fn decide(&self, ip: IpAddr) -> ClientDecision {
        self.decide_named(ip, None)
    }

    /// Deny entries first (a deny wins; addresses, then domains), then allow entries
    /// (addresses, then domains), then the unspecified-clients rule. `name` is the client's
    /// forward-confirmed reverse name; without one, no domain entry matches.
    pub fn decide_named(&self, ip: IpAddr, name: Option<&str>) -> ClientDecision {
        // The first entry of one kind (`Denied` or `Allowed`) that matches, as the reason.
        let entry = |kind: &str, nets: &[ClientNet], domains: &[String]| {
            if let Some(net) = nets.iter().find(|n| n.contains(ip)) {
                return Some(format!("{kind}Clients {}", net.0));
            }
            let name = name?;
            let domain = domains.iter().find(|d| in_domain(name, d))?;
            Some(format!("{kind}Domains {domain} ({name})"))
        };
        if let Some(reason) = entry("Denied", &self.denied, &self.denied_domains) {
            return ClientDecision::Denied(reason);
        }
        if let Some(reason) = entry("Allowed", &self.allowed, &self.allowed_domains) {
            return ClientDecision::Allowed(reason);
        }
        match self.unspecified {
            ClientAccess::Allow => ClientDecision::Allowed("UnspecifiedClients Allow".to_owned()),
            ClientAccess::Deny => ClientDecision::Denied("UnspecifiedClients Deny".to_owned()),
        }
    }
}
