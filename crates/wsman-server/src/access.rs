//! The access policy: which connections are served (Service/IPv4Filter, IPv6Filter), which
//! peers (Service/AllowRemoteAccess), and the check of what an authenticated caller may do:
//! the descriptors a request's engine requires ([`Required`], built by the engines in
//! `crate::engines` from these settings) against the caller's SIDs. Nothing here knows
//! resources: each engine states which descriptors its requests follow. The mapping from
//! Linux users and groups to SIDs is here too; `docs/access-control.md` is its documentation.
//!
//! Why SIDs: RootSDDL is a Windows security descriptor, and operators bring descriptors from
//! Windows. Every caller gets the SIDs a Windows network logon would have (Everyone,
//! Authenticated Users, NETWORK), the built-in groups we can derive (Administrators for uid 0
//! and `wsmand-admins`, Users for any Linux user), and Samba's Unix SIDs (`S-1-22-1-<uid>`,
//! `S-1-22-2-<gid>`) so that ACEs can name Linux users and groups.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use wsman_config::{Access, Config, IpFilter, SecurityDescriptor, Sid};
use wsman_proto::operation::Action;

pub use crate::principal::{base_sids, linux_sids};
use crate::throttle::ThrottlePolicy;

/// The policy snapshot the request path reads (part of [`crate::ServiceSettings`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AccessPolicy {
    /// Service/IPv4Filter: local IPv4 addresses connections may arrive on.
    pub ipv4_filter: IpFilter,
    /// Service/IPv6Filter.
    pub ipv6_filter: IpFilter,
    /// Service/AllowRemoteAccess: false serves loopback peers only.
    pub allow_remote_access: bool,
    /// Service/RootSDDL; `None` when the stored text does not parse (then nothing but
    /// Identify is allowed, and the daemon logs why).
    pub root_sddl: Option<Arc<SecurityDescriptor>>,
    /// `[Security] ShellSDDL`: replaces RootSDDL for the WinRS and PowerShell resources.
    pub shell_sddl: Option<Arc<SecurityDescriptor>>,
    /// The `microsoft.powershell` plug-in's descriptor (`[Security] PowerShellSDDL`, else
    /// Windows' default with the remote users group): replaces ShellSDDL for PowerShell.
    pub powershell_sddl: Option<Arc<SecurityDescriptor>>,
    /// `winrm/config/winrs AllowRemoteShellAccess`: false refuses the shells and every method
    /// that starts a process.
    pub allow_remote_shell_access: bool,
    /// `[Security] EventLogSDDL`: replaces RootSDDL for the event logs when set.
    pub event_log_sddl: Option<Arc<SecurityDescriptor>>,
    /// The event store's default descriptor (administrators and the event readers group,
    /// [`wsman_config::default_event_store_sddl`]), for a store without `[store] sddl`.
    pub event_store_sddl: Option<Arc<SecurityDescriptor>>,
    /// The WMI plug-in's descriptors (`[Security] WmiSDDL`, `winrm configSDDL`): they replace
    /// RootSDDL for the CIM resources, as a plug-in's `Sddl` does on Windows.
    pub wmi: Arc<WmiDescriptors>,
    /// `[Security]` failed-login throttle.
    pub throttle: ThrottlePolicy,
}

impl Default for AccessPolicy {
    /// Windows' defaults.
    fn default() -> Self {
        Self {
            ipv4_filter: IpFilter::Any,
            ipv6_filter: IpFilter::Any,
            allow_remote_access: true,
            root_sddl: parse_sddl(wsman_config::schema::DEFAULT_ROOT_SDDL, "RootSDDL"),
            shell_sddl: parse_sddl(wsman_config::DEFAULT_SHELL_SDDL, "ShellSDDL"),
            powershell_sddl: parse_sddl(wsman_config::WINDOWS_POWERSHELL_SDDL, "PowerShellSDDL"),
            allow_remote_shell_access: true,
            event_log_sddl: None,
            event_store_sddl: parse_sddl(
                &wsman_config::default_event_store_sddl(None),
                "the event store's default descriptor",
            ),
            wmi: Arc::new(WmiDescriptors::default()),
            throttle: ThrottlePolicy::default(),
        }
    }
}

fn parse_sddl(text: &str, what: &str) -> Option<Arc<SecurityDescriptor>> {
    match SecurityDescriptor::parse(text) {
        Ok(sd) => Some(Arc::new(sd)),
        Err(error) => {
            tracing::error!(%error, "{what} does not parse: every request but Identify is refused");
            None
        }
    }
}

/// Why a request was refused by [`AccessPolicy::authorize`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Denial {
    /// AllowRemoteAccess=false and the peer is not on this host.
    RemoteAccessDisabled,
    /// The descriptor does not grant the access.
    Descriptor,
    /// A method that starts a process while `AllowRemoteShellAccess` is false.
    RemoteShellAccessDisabled,
    /// A method that starts a process: ShellSDDL does not grant what a shell needs.
    ShellDescriptor,
}

impl AccessPolicy {
    /// The policy of a configuration.
    pub fn from_config(config: &Config) -> Self {
        let service = &config.service;
        let filter = |text: &str, v6: bool| {
            IpFilter::parse(text, v6).unwrap_or_else(|error| {
                tracing::error!(%error, "IP filter does not parse: no address is served");
                IpFilter::List(Vec::new())
            })
        };
        Self {
            ipv4_filter: filter(&service.ipv4_filter, false),
            ipv6_filter: filter(&service.ipv6_filter, true),
            allow_remote_access: service.allow_remote_access,
            root_sddl: parse_sddl(&service.root_sddl, "RootSDDL"),
            shell_sddl: parse_sddl(&config.security.shell_sddl, "ShellSDDL"),
            powershell_sddl: parse_sddl(&config.security.powershell_sddl(), "PowerShellSDDL"),
            allow_remote_shell_access: config.winrs.allow_remote_shell_access,
            // A descriptor that does not parse denies (like a broken RootSDDL), never opens.
            event_log_sddl: config.security.event_log_sddl.as_deref().map(|text| {
                parse_sddl(text, "EventLogSDDL").unwrap_or_else(|| {
                    Arc::new(
                        SecurityDescriptor::parse("O:NSG:BAD:P").expect("an empty DACL parses"),
                    )
                })
            }),
            event_store_sddl: parse_sddl(
                &config.security.event_store_sddl(),
                "the event store's default descriptor",
            ),
            wmi: Arc::new(WmiDescriptors::from_config(config)),
            throttle: ThrottlePolicy {
                enabled: config.security.failed_login_delay,
                max_delay: Duration::from_millis(config.security.failed_login_max_delay_ms),
            },
        }
    }

    /// Whether a connection that arrived on local address `local` is served: IPv4Filter or
    /// IPv6Filter (by family) must include it. On Windows the filters choose the addresses the
    /// listeners use; checking each accepted connection is the same rule, applied live.
    pub fn admits_connection(&self, local: IpAddr) -> bool {
        match local.to_canonical() {
            ip @ IpAddr::V4(_) => self.ipv4_filter.allows(ip),
            ip @ IpAddr::V6(_) => self.ipv6_filter.allows(ip),
        }
    }

    /// The access check of one request (Identify is not checked: any authenticated caller):
    /// AllowRemoteAccess, then what the request's engine requires ([`Required`], built by
    /// the engine from these settings), against the caller's SIDs. Which descriptor a
    /// resource follows is the engine's to say (`crate::engines`), never decided here.
    pub fn authorize(
        &self,
        remote: IpAddr,
        sids: &[Sid],
        required: &Required,
    ) -> Result<(), Denial> {
        if !self.allow_remote_access && !remote.to_canonical().is_loopback() {
            return Err(Denial::RemoteAccessDisabled);
        }
        if required.remote_shell && !self.allow_remote_shell_access {
            return Err(Denial::RemoteShellAccessDisabled);
        }
        for grant in &required.grants {
            let granted = grant
                .descriptor
                .as_deref()
                .is_some_and(|sd| grant.rights.iter().all(|right| sd.allows(sids, *right)));
            if !granted {
                return Err(grant.denial);
            }
        }
        Ok(())
    }
}

/// What one request needs, as its engine states it: every grant, and remote shell access
/// when it starts a process.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Required {
    pub grants: Vec<Grant>,
    /// The request starts a process (a shell, or a method that runs a command): refused
    /// while `AllowRemoteShellAccess` is false.
    pub remote_shell: bool,
}

/// One descriptor that must grant rights.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// `None`: the configured text does not parse, so nothing is granted.
    pub descriptor: Option<Arc<SecurityDescriptor>>,
    pub rights: Vec<Access>,
    /// How a refusal is reported.
    pub denial: Denial,
}

impl Required {
    /// `descriptor` must grant `right`.
    pub fn one(descriptor: Option<&Arc<SecurityDescriptor>>, right: Access) -> Self {
        Self::default().and(descriptor, &[right], Denial::Descriptor)
    }

    /// Also `descriptor` must grant every one of `rights`.
    pub fn and(
        mut self,
        descriptor: Option<&Arc<SecurityDescriptor>>,
        rights: &[Access],
        denial: Denial,
    ) -> Self {
        self.grants.push(Grant {
            descriptor: descriptor.cloned(),
            rights: rights.to_vec(),
            denial,
        });
        self
    }

    /// RootSDDL grants the operation's right: the service's own resources (the
    /// configuration tree, and what no engine serves: refused after this, as Windows does).
    pub fn service(policy: &AccessPolicy, action: &Action) -> Self {
        Self::one(policy.root_sddl.as_ref(), access_for(action))
    }
}

/// The WMI plug-in's descriptors, parsed: one for the plug-in as a whole and one per namespace
/// that has its own. `None`: the text does not parse (then the resource is refused to all).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WmiDescriptors {
    /// For every namespace without its own (`WmiNamespace`), and for the class metadata and
    /// `wscim/1/*` resources, which name no namespace.
    pub plugin: Option<Arc<SecurityDescriptor>>,
    /// By namespace, as [`wsman_config::normalize_namespace`] writes it.
    pub namespaces: std::collections::BTreeMap<String, Option<Arc<SecurityDescriptor>>>,
}

impl Default for WmiDescriptors {
    /// Without a WMI users group: RootSDDL's default.
    fn default() -> Self {
        Self {
            plugin: parse_sddl(wsman_config::schema::DEFAULT_ROOT_SDDL, "WmiSDDL"),
            namespaces: Default::default(),
        }
    }
}

impl WmiDescriptors {
    fn from_config(config: &Config) -> Self {
        let security = &config.security;
        let root = &config.service.root_sddl;
        Self {
            plugin: parse_sddl(&security.wmi_sddl(None, root), "WmiSDDL"),
            namespaces: security
                .wmi_sddl
                .iter()
                .filter(|(key, _)| key.as_str() != wsman_config::WMI_PLUGIN_KEY)
                .map(|(ns, text)| (ns.clone(), parse_sddl(text, "WmiSDDL")))
                .collect(),
        }
    }

    /// The descriptor of `namespace`: its own, else the plug-in's (`None`: it does not parse).
    pub fn for_namespace(&self, namespace: &str) -> Option<&Arc<SecurityDescriptor>> {
        match self
            .namespaces
            .get(&wsman_config::normalize_namespace(namespace))
        {
            Some(sd) => sd.as_ref(),
            None => self.plugin.as_ref(),
        }
    }
}

/// The CIM engine's question "may this caller read that namespace?", answered with the WMI
/// descriptors for one caller's SIDs ([`wsman_providers::NamespaceAccess`]): how an answer
/// that draws from several namespaces (associations, their targets) is held to each one's.
#[derive(Debug)]
pub struct NamespaceReader {
    wmi: Arc<WmiDescriptors>,
    sids: Arc<[Sid]>,
}

impl NamespaceReader {
    pub fn new(policy: &AccessPolicy, sids: Arc<[Sid]>) -> Self {
        Self {
            wmi: Arc::clone(&policy.wmi),
            sids,
        }
    }
}

impl wsman_providers::NamespaceAccess for NamespaceReader {
    fn may_read(&self, namespace: &str) -> bool {
        self.wmi
            .for_namespace(namespace)
            .is_some_and(|sd| sd.allows(&self.sids, Access::Read))
    }
}

/// The right an operation needs, as `winrm configSDDL` names them: Read (Get, Enumerate and
/// its Pull/Release, Subscribe), Write (Put, Create, Delete), Execute (everything else: Invoke,
/// and the WinRS Command, Send, Receive, Signal).
pub fn access_for(action: &Action) -> Access {
    match action {
        Action::Get | Action::Enumerate | Action::Pull | Action::Release => Access::Read,
        Action::Subscribe | Action::Renew | Action::GetStatus | Action::Unsubscribe => Access::Read,
        // Any other WS-Eventing action too, as before the actions were typed.
        Action::Other(a) if a.starts_with(wsman_proto::ns::EVENTING) => Access::Read,
        Action::Put | Action::Create | Action::Delete => Access::Write,
        _ => Access::Execute,
    }
}

/// Resolve an authenticated identity once per connection: its Linux user (a service account
/// counts as its run-as user), whether it is an administrator, and its SIDs. No Linux user, or
/// one NSS does not know: not an administrator, base SIDs only.
pub fn resolve_principal(
    identity: wsman_auth::Identity,
) -> Result<crate::principal::Principal, wsman_os::UserError> {
    let user = match &identity.linux_user {
        Some(name) => wsman_os::lookup_user(name)?,
        None => None,
    };
    let Some(user) = user else {
        return Ok(crate::principal::Principal::new(identity, false));
    };
    let is_administrator = wsman_os::is_administrator(&user)?;
    let mut gids = vec![user.gid];
    gids.extend(user.groups.iter().copied());
    let sids = linux_sids(user.uid, &gids, is_administrator);
    Ok(crate::principal::Principal::new(identity, is_administrator).with_sids(sids))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse()
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
    }

    use wsman_proto::ns::action;
    use wsman_proto::Request;

    /// A request of `action` on `uri` with its typed operation, as the envelope parser makes it.
    fn op(uri: Option<&str>, action: &str) -> Request {
        let mut request = Request::default();
        request.operation = wsman_proto::Operation::parse(Some(action), uri, &Default::default());
        request
    }

    #[test]
    fn groups_in_descriptors_and_remote_access() {
        let cfg = Some(wsman_proto::ns::CONFIG);
        let root = |p: &AccessPolicy, a| Required::service(p, &op(cfg, a).operation.action);
        let mut p = AccessPolicy {
            allow_remote_access: false,
            ..AccessPolicy::default()
        };
        p.root_sddl = SecurityDescriptor::parse("O:NSG:BAD:P(A;;GR;;;S-1-22-2-2000)")
            .ok()
            .map(Arc::new);
        let member = linux_sids(1000, &[1000, 2000], false);
        assert_eq!(
            p.authorize(ip("127.0.0.1"), &member, &root(&p, action::GET)),
            Ok(())
        );
        assert_eq!(
            p.authorize(ip("::1"), &member, &root(&p, action::PUT)),
            Err(Denial::Descriptor)
        );
        assert_eq!(
            p.authorize(ip("10.1.2.3"), &member, &root(&p, action::GET)),
            Err(Denial::RemoteAccessDisabled)
        );
        p.root_sddl = None;
        assert_eq!(
            p.authorize(ip("127.0.0.1"), &member, &root(&p, action::GET)),
            Err(Denial::Descriptor)
        );
    }

    #[test]
    fn operations_map_to_rights() {
        let right = |a: &str| access_for(&op(Some("http://example"), a).operation.action);
        assert_eq!(right(action::GET), Access::Read);
        assert_eq!(right(action::PULL), Access::Read);
        assert_eq!(right(action::PUT), Access::Write);
        assert_eq!(right(action::DELETE), Access::Write);
        assert_eq!(right(action::SHELL_RECEIVE), Access::Execute);
        assert_eq!(right("http://example/Invoke"), Access::Execute);
        assert_eq!(
            right("http://schemas.xmlsoap.org/ws/2004/08/eventing/Subscribe"),
            Access::Read
        );
    }

    #[test]
    fn filters_apply_to_the_local_address_by_family() {
        let p = AccessPolicy {
            ipv4_filter: IpFilter::parse("10.0.0.1-10.0.0.9", false).unwrap_or(IpFilter::Any),
            ipv6_filter: IpFilter::List(Vec::new()),
            ..AccessPolicy::default()
        };
        assert!(p.admits_connection(ip("10.0.0.5")));
        assert!(p.admits_connection(ip("::ffff:10.0.0.5")));
        assert!(!p.admits_connection(ip("127.0.0.1")));
        assert!(!p.admits_connection(ip("::1")));
    }

    #[test]
    fn unix_sids_are_deduplicated() {
        let s = linux_sids(5, &[7, 7, 8], false);
        assert_eq!(s.iter().filter(|x| **x == Sid::unix_group(7)).count(), 1);
        assert!(s.contains(&Sid::unix_user(5)) && s.contains(&Sid::builtin_users()));
        assert!(!s.contains(&Sid::builtin_administrators()));
    }
}
