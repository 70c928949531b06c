//! The access policy: which connections are served (Service/IPv4Filter, IPv6Filter), which
//! peers (Service/AllowRemoteAccess), and what an authenticated caller may do (RootSDDL, and
//! the shell resources' own descriptor). The mapping from Linux users and groups to SIDs is
//! here too; `docs/access-control.md` is its documentation.
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
use wsman_proto::operation::{Action, Resource, ShellResource};
use wsman_proto::Request;
use wsman_providers::cim::CIM_ALL_NAMESPACE;

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
    /// `winrm/config/winrs AllowRemoteShellAccess`: false refuses the shells and every method
    /// that starts a process.
    pub allow_remote_shell_access: bool,
    /// `[Security] EventLogSDDL`: replaces RootSDDL for the event logs when set.
    pub event_log_sddl: Option<Arc<SecurityDescriptor>>,
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
            allow_remote_shell_access: true,
            event_log_sddl: None,
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
            allow_remote_shell_access: config.winrs.allow_remote_shell_access,
            // A descriptor that does not parse denies (like a broken RootSDDL), never opens.
            event_log_sddl: config.security.event_log_sddl.as_deref().map(|text| {
                parse_sddl(text, "EventLogSDDL").unwrap_or_else(|| {
                    Arc::new(
                        SecurityDescriptor::parse("O:NSG:BAD:P").expect("an empty DACL parses"),
                    )
                })
            }),
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

    /// The access check of one request (Identify is not checked: any authenticated caller).
    /// `resource_sd` is the descriptor the resource's provider names instead of RootSDDL.
    pub fn authorize(
        &self,
        remote: IpAddr,
        sids: &[Sid],
        request: &Request,
        resource_sd: Option<&SecurityDescriptor>,
    ) -> Result<(), Denial> {
        let operation = &request.operation;
        if !self.allow_remote_access && !remote.to_canonical().is_loopback() {
            return Err(Denial::RemoteAccessDisabled);
        }
        let descriptor = if open_to_users(&operation.resource) {
            self.shell_sddl.as_deref()
        } else if let (Resource::EventLog, Some(sd)) = (&operation.resource, &self.event_log_sddl) {
            Some(sd.as_ref())
        } else if resource_sd.is_some() {
            resource_sd
        } else if let Some(plugin) = self.wmi.for_resource(request) {
            plugin
        } else {
            self.root_sddl.as_deref()
        };
        match descriptor {
            Some(sd) if sd.allows(sids, access_for(&operation.action)) => {}
            _ => return Err(Denial::Descriptor),
        }
        if wsman_providers::cim::process::starts_processes(operation) {
            self.authorize_process_start(sids, descriptor)?;
        }
        Ok(())
    }

    /// A method that starts a process is a shell by another name: it needs what creating a
    /// shell and running a command in it need (AllowRemoteShellAccess, Write and Execute in
    /// ShellSDDL), and Write besides Execute in the CIM descriptor, as it creates an instance
    /// (the WMI users group's default grant, Read and Execute, therefore runs no command).
    fn authorize_process_start(
        &self,
        sids: &[Sid],
        descriptor: Option<&SecurityDescriptor>,
    ) -> Result<(), Denial> {
        if !self.allow_remote_shell_access {
            return Err(Denial::RemoteShellAccessDisabled);
        }
        let grants_both = |sd: &SecurityDescriptor| {
            [Access::Write, Access::Execute]
                .iter()
                .all(|a| sd.allows(sids, *a))
        };
        if !descriptor.is_some_and(grants_both) {
            return Err(Denial::Descriptor);
        }
        if !self.shell_sddl.as_deref().is_some_and(grants_both) {
            return Err(Denial::ShellDescriptor);
        }
        Ok(())
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

    /// The descriptor for a CIM resource (`None` for other resources); its inner `None`: the
    /// configured text does not parse, so nothing is allowed. `wscim/1/*` and the class
    /// metadata are resolved to the namespace their answer draws from (as the CIM engine
    /// resolves it), never to the plug-in's descriptor, which would bypass the namespace's.
    fn for_resource(&self, request: &Request) -> Option<Option<&SecurityDescriptor>> {
        let namespace = match &request.operation.resource {
            Resource::Wmi { namespace, .. } | Resource::Cim { namespace, .. } => namespace.as_str(),
            Resource::CimAll => CIM_ALL_NAMESPACE,
            Resource::ClassMetadata(_) => metadata_namespace(request),
            _ => return None,
        };
        Some(self.for_namespace(namespace))
    }

    /// The descriptor of `namespace`: its own, else the plug-in's (`None`: it does not parse).
    pub fn for_namespace(&self, namespace: &str) -> Option<&SecurityDescriptor> {
        match self
            .namespaces
            .get(&wsman_config::normalize_namespace(namespace))
        {
            Some(sd) => sd.as_deref(),
            None => self.plugin.as_deref(),
        }
    }
}

/// The namespace of a class-metadata request: its `__cimnamespace` selector, else the default.
fn metadata_namespace(request: &Request) -> &str {
    request
        .selectors
        .get(wsman_proto::operation::CIM_NAMESPACE_SELECTOR)
        .unwrap_or(CIM_ALL_NAMESPACE)
}

/// The CIM engine's question "may this caller read that namespace?", answered with the WMI
/// descriptors for one caller's SIDs ([`wsman_providers::NamespaceAccess`]).
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

/// Whether non-administrators may send requests for `resource`: the shell resources (their
/// owner is checked per shell) and PowerShell URIs (the PowerShell plug-in, bridged to pwsh). They are
/// checked against ShellSDDL.
fn open_to_users(resource: &Resource) -> bool {
    matches!(
        resource,
        Resource::Shell(
            ShellResource::Cmd
                | ShellResource::Shells
                | ShellResource::Commands
                | ShellResource::PowerShell
        )
    )
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

    /// A request of `action` on `uri` with its typed operation, as the envelope parser makes it.
    fn op(uri: Option<&str>, action: &str) -> Request {
        let mut request = Request::default();
        request.operation = wsman_proto::Operation::parse(Some(action), uri, &Default::default());
        request
    }

    #[test]
    fn default_root_sddl_is_administrators_and_shells_are_users() {
        let p = AccessPolicy::default();
        let admin = linux_sids(0, &[0], true);
        let user = linux_sids(1000, &[1000], false);
        let service_account = base_sids(false);
        let cfg = Some(wsman_proto::ns::CONFIG);
        let cmd = Some(wsman_proto::shell::uri::CMD);
        let lo = ip("127.0.0.1");
        for a in [action::GET, action::PUT, action::ENUMERATE] {
            assert_eq!(p.authorize(lo, &admin, &op(cfg, a), None), Ok(()));
            assert_eq!(
                p.authorize(lo, &user, &op(cfg, a), None),
                Err(Denial::Descriptor)
            );
        }
        for a in [action::CREATE, action::SHELL_COMMAND, action::DELETE] {
            assert_eq!(p.authorize(lo, &user, &op(cmd, a), None), Ok(()));
            assert_eq!(p.authorize(lo, &admin, &op(cmd, a), None), Ok(()));
            assert_eq!(
                p.authorize(lo, &service_account, &op(cmd, a), None),
                Err(Denial::Descriptor)
            );
        }
    }

    #[test]
    fn a_resource_descriptor_replaces_root_sddl_but_not_shell_sddl() {
        let p = AccessPolicy::default();
        let user = linux_sids(1000, &[1000], false);
        let lo = ip("127.0.0.1");
        let wmi = Some("http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_Process");
        let users_read = SecurityDescriptor::parse("O:NSG:BAD:P(A;;GR;;;BU)").ok();
        let get = op(wmi, action::GET);
        assert_eq!(p.authorize(lo, &user, &get, None), Err(Denial::Descriptor));
        assert_eq!(p.authorize(lo, &user, &get, users_read.as_ref()), Ok(()));
        assert_eq!(
            p.authorize(lo, &user, &op(wmi, action::PUT), users_read.as_ref()),
            Err(Denial::Descriptor)
        );
        // The shell resources keep ShellSDDL whatever a provider says.
        let nobody = SecurityDescriptor::parse("O:NSG:BAD:P(A;;GA;;;S-1-5-18)").ok();
        assert!(nobody.is_some());
        let cmd = op(Some(wsman_proto::shell::uri::CMD), action::CREATE);
        assert_eq!(p.authorize(lo, &user, &cmd, nobody.as_ref()), Ok(()));
    }

    #[test]
    fn the_wmi_plugin_descriptor_replaces_root_sddl_for_cim_resources_only() {
        let lo = ip("127.0.0.1");
        let monitor = linux_sids(1001, &[1001, 2000], false);
        let other = linux_sids(1002, &[1002], false);
        let mut config = Config::default();
        config.security.wmi_users_gid = Some(2000);
        config.security.wmi_sddl.insert(
            "root/hardware".to_owned(),
            "O:NSG:BAD:P(A;;GA;;;BA)".to_owned(),
        );
        let p = AccessPolicy::from_config(&config);
        let cimv2 = op(
            Some("http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_Process"),
            action::ENUMERATE,
        );
        let hardware = op(
            Some("http://schemas.microsoft.com/wbem/wsman/1/wmi/root/hardware/CIM_Sensor"),
            action::ENUMERATE,
        );
        let cfg = op(Some(wsman_proto::ns::CONFIG), action::GET);
        // The group is admitted by the plug-in's default, and only there.
        assert_eq!(p.authorize(lo, &monitor, &cimv2, None), Ok(()));
        assert_eq!(
            p.authorize(lo, &other, &cimv2, None),
            Err(Denial::Descriptor)
        );
        assert_eq!(
            p.authorize(lo, &monitor, &cfg, None),
            Err(Denial::Descriptor)
        );
        // A namespace's own descriptor replaces the plug-in's.
        assert_eq!(
            p.authorize(lo, &monitor, &hardware, None),
            Err(Denial::Descriptor)
        );
        // Without the group, the plug-in follows RootSDDL: what was granted there still counts.
        config.security.wmi_users_gid = None;
        config.service.root_sddl = "O:NSG:BAD:P(A;;GR;;;S-1-22-1-1002)".to_owned();
        let p = AccessPolicy::from_config(&config);
        assert_eq!(p.authorize(lo, &other, &cimv2, None), Ok(()));
        assert_eq!(
            p.authorize(lo, &monitor, &cimv2, None),
            Err(Denial::Descriptor)
        );
    }

    #[test]
    fn a_method_that_starts_a_process_is_authorized_as_a_shell() {
        let lo = ip("127.0.0.1");
        let monitor = linux_sids(1001, &[1001, 2000], false);
        let admin = linux_sids(0, &[0], true);
        let mut config = Config::default();
        config.security.wmi_users_gid = Some(2000);
        let uri = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_Process";
        let invoke = |method: &str| op(Some(uri), &format!("{uri}/{method}"));
        // Any spelling of the class and method.
        let lower = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/win32_process";
        let create_lower = op(Some(lower), &format!("{lower}/create"));
        let p = AccessPolicy::from_config(&config);
        // The group reads and calls the methods that start nothing, but starts no process.
        assert_eq!(
            p.authorize(lo, &monitor, &op(Some(uri), action::GET), None),
            Ok(())
        );
        assert_eq!(p.authorize(lo, &monitor, &invoke("GetOwner"), None), Ok(()));
        assert_eq!(
            p.authorize(lo, &monitor, &invoke("Create"), None),
            Err(Denial::Descriptor)
        );
        assert_eq!(
            p.authorize(lo, &monitor, &create_lower, None),
            Err(Denial::Descriptor)
        );
        assert_eq!(p.authorize(lo, &admin, &invoke("Create"), None), Ok(()));
        // Granted Full Control on the namespace, the group still needs ShellSDDL.
        config.security.wmi_sddl.insert(
            "root/cimv2".to_owned(),
            "O:NSG:BAD:P(A;;GA;;;BA)(A;;GA;;;S-1-22-2-2000)".to_owned(),
        );
        config.security.shell_sddl = "O:NSG:BAD:P(A;;GA;;;BA)".to_owned();
        let p = AccessPolicy::from_config(&config);
        assert_eq!(
            p.authorize(lo, &monitor, &invoke("Create"), None),
            Err(Denial::ShellDescriptor)
        );
        assert_eq!(
            p.authorize(lo, &monitor, &invoke("Terminate"), None),
            Ok(())
        );
        // AllowRemoteShellAccess=false: nobody, administrators included.
        config.winrs.allow_remote_shell_access = false;
        let p = AccessPolicy::from_config(&config);
        assert_eq!(
            p.authorize(lo, &admin, &invoke("Create"), None),
            Err(Denial::RemoteShellAccessDisabled)
        );
        assert_eq!(p.authorize(lo, &admin, &invoke("GetOwner"), None), Ok(()));
    }

    #[test]
    fn wscim_all_and_class_metadata_are_checked_in_their_own_namespace() {
        let lo = ip("127.0.0.1");
        let monitor = linux_sids(1001, &[1001, 2000], false);
        let mut config = Config::default();
        config.security.wmi_users_gid = Some(2000);
        config.security.wmi_sddl.insert(
            "root/cimv2".to_owned(),
            "O:NSG:BAD:P(A;;GA;;;BA)".to_owned(),
        );
        let p = AccessPolicy::from_config(&config);
        // The plug-in's default admits the group; root/cimv2's own descriptor does not.
        let all = op(Some(wsman_proto::operation::CIM_ALL), action::ENUMERATE);
        assert_eq!(
            p.authorize(lo, &monitor, &all, None),
            Err(Denial::Descriptor)
        );
        let uri = "http://schemas.dmtf.org/wbem/cim-xml/2/cim-schema/2/CIM_Sensor";
        let mut metadata = op(Some(uri), action::GET);
        assert_eq!(
            p.authorize(lo, &monitor, &metadata, None),
            Err(Denial::Descriptor)
        );
        metadata.selectors.0.push(wsman_proto::envelope::Selector {
            name: "__CimNamespace".to_owned(),
            value: wsman_proto::envelope::SelectorValue::Text("ROOT\\hardware".to_owned()),
        });
        assert_eq!(p.authorize(lo, &monitor, &metadata, None), Ok(()));
        // The engine's question, per namespace.
        use wsman_providers::NamespaceAccess as _;
        let reader = NamespaceReader::new(&p, Arc::from(monitor));
        assert!(reader.may_read("root/hardware") && !reader.may_read("Root\\CIMV2"));
    }

    #[test]
    fn the_event_logs_follow_root_sddl_unless_event_log_sddl_is_set() {
        let mut p = AccessPolicy::default();
        let user = linux_sids(1000, &[1000], false);
        let admin = linux_sids(0, &[0], true);
        let lo = ip("127.0.0.1");
        let subscribe = op(
            Some(wsman_proto::eventing::EVENT_LOG_URI),
            "http://schemas.xmlsoap.org/ws/2004/08/eventing/Subscribe",
        );
        assert_eq!(
            p.authorize(lo, &user, &subscribe, None),
            Err(Denial::Descriptor)
        );
        assert_eq!(p.authorize(lo, &admin, &subscribe, None), Ok(()));
        p.event_log_sddl = SecurityDescriptor::parse("O:NSG:BAD:P(A;;GR;;;BU)")
            .ok()
            .map(Arc::new);
        assert_eq!(p.authorize(lo, &user, &subscribe, None), Ok(()));
        // Only the event logs: other resources still follow RootSDDL.
        let cfg = op(Some(wsman_proto::ns::CONFIG), action::GET);
        assert_eq!(p.authorize(lo, &user, &cfg, None), Err(Denial::Descriptor));
    }

    #[test]
    fn groups_in_descriptors_and_remote_access() {
        let mut p = AccessPolicy {
            allow_remote_access: false,
            ..AccessPolicy::default()
        };
        p.root_sddl = SecurityDescriptor::parse("O:NSG:BAD:P(A;;GR;;;S-1-22-2-2000)")
            .ok()
            .map(Arc::new);
        let member = linux_sids(1000, &[1000, 2000], false);
        let cfg = Some(wsman_proto::ns::CONFIG);
        assert_eq!(
            p.authorize(ip("127.0.0.1"), &member, &op(cfg, action::GET), None),
            Ok(())
        );
        assert_eq!(
            p.authorize(ip("::1"), &member, &op(cfg, action::PUT), None),
            Err(Denial::Descriptor)
        );
        assert_eq!(
            p.authorize(ip("10.1.2.3"), &member, &op(cfg, action::GET), None),
            Err(Denial::RemoteAccessDisabled)
        );
        p.root_sddl = None;
        assert_eq!(
            p.authorize(ip("127.0.0.1"), &member, &op(cfg, action::GET), None),
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
