//! The access each engine states, checked as the pipeline checks it: which descriptor a
//! request follows is the engine's choice ([`super`]), the check is [`AccessPolicy::authorize`].

use std::net::IpAddr;
use std::sync::Arc;

use wsman_config::{Config, SecurityDescriptor, Sid};
use wsman_proto::ns::{action, event_store};
use wsman_proto::Request;

use super::event_store::EventSearchEngine;
use super::transfer::cim;
use super::{eventing, shells, Services};
use crate::access::{base_sids, linux_sids, AccessPolicy, Denial};
use crate::engine::{Engine as _, Family, Target};
use crate::settings::ServiceSettings;

/// A request of `action` on `uri` with its typed operation, as the envelope parser makes it.
fn op(uri: Option<&str>, action: &str) -> Request {
    let mut request = Request::default();
    request.operation = wsman_proto::Operation::parse(Some(action), uri, &Default::default());
    request
}

/// The decision on `request` from 127.0.0.1: the access its family's engine states under
/// `policy`, checked against `sids`.
fn decide(policy: &AccessPolicy, sids: &[Sid], request: &Request) -> Result<(), Denial> {
    let settings = ServiceSettings {
        access: policy.clone(),
        ..ServiceSettings::default()
    };
    let access = match Target::family_of(request) {
        Some(Target::Family(Family::Shell)) => shells::access(request, &settings),
        Some(Target::Family(Family::Cim)) => cim::access(request, &settings),
        Some(Target::Family(Family::EventLog)) => eventing::access(request, &settings),
        Some(Target::Family(Family::EventStore)) => store_search().access(request, &settings),
        _ => crate::engine::Access::Service,
    };
    assert!(
        !matches!(access, crate::engine::Access::Engine),
        "these engines' descriptors are checked by the pipeline"
    );
    let required = access.required(&settings, request);
    let lo = IpAddr::from([127, 0, 0, 1]);
    policy.authorize(lo, sids, &required)
}

#[test]
fn default_root_sddl_is_administrators_and_shells_are_users() {
    let p = AccessPolicy::default();
    let admin = linux_sids(0, &[0], true);
    let user = linux_sids(1000, &[1000], false);
    let service_account = base_sids(false);
    let cfg = Some(wsman_proto::ns::CONFIG);
    let cmd = Some(wsman_proto::shell::uri::CMD);
    for a in [action::GET, action::PUT, action::ENUMERATE] {
        assert_eq!(decide(&p, &admin, &op(cfg, a)), Ok(()));
        assert_eq!(decide(&p, &user, &op(cfg, a)), Err(Denial::Descriptor));
    }
    for a in [action::CREATE, action::SHELL_COMMAND, action::DELETE] {
        assert_eq!(decide(&p, &user, &op(cmd, a)), Ok(()));
        assert_eq!(decide(&p, &admin, &op(cmd, a)), Ok(()));
        assert_eq!(
            decide(&p, &service_account, &op(cmd, a)),
            Err(Denial::Descriptor)
        );
    }
}

#[test]
fn the_wmi_plugin_descriptor_replaces_root_sddl_for_cim_resources_only() {
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
    assert_eq!(decide(&p, &monitor, &cimv2), Ok(()));
    assert_eq!(decide(&p, &other, &cimv2), Err(Denial::Descriptor));
    assert_eq!(decide(&p, &monitor, &cfg), Err(Denial::Descriptor));
    // A namespace's own descriptor replaces the plug-in's.
    assert_eq!(decide(&p, &monitor, &hardware), Err(Denial::Descriptor));
    // Without the group, the plug-in follows RootSDDL: what was granted there still counts.
    config.security.wmi_users_gid = None;
    config.service.root_sddl = "O:NSG:BAD:P(A;;GR;;;S-1-22-1-1002)".to_owned();
    let p = AccessPolicy::from_config(&config);
    assert_eq!(decide(&p, &other, &cimv2), Ok(()));
    assert_eq!(decide(&p, &monitor, &cimv2), Err(Denial::Descriptor));
}

#[test]
fn a_method_that_starts_a_process_is_authorized_as_a_shell() {
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
    assert_eq!(decide(&p, &monitor, &op(Some(uri), action::GET)), Ok(()));
    assert_eq!(decide(&p, &monitor, &invoke("GetOwner")), Ok(()));
    assert_eq!(
        decide(&p, &monitor, &invoke("Create")),
        Err(Denial::Descriptor)
    );
    assert_eq!(decide(&p, &monitor, &create_lower), Err(Denial::Descriptor));
    assert_eq!(decide(&p, &admin, &invoke("Create")), Ok(()));
    // Granted Full Control on the namespace, the group still needs ShellSDDL.
    config.security.wmi_sddl.insert(
        "root/cimv2".to_owned(),
        "O:NSG:BAD:P(A;;GA;;;BA)(A;;GA;;;S-1-22-2-2000)".to_owned(),
    );
    config.security.shell_sddl = "O:NSG:BAD:P(A;;GA;;;BA)".to_owned();
    let p = AccessPolicy::from_config(&config);
    assert_eq!(
        decide(&p, &monitor, &invoke("Create")),
        Err(Denial::ShellDescriptor)
    );
    assert_eq!(decide(&p, &monitor, &invoke("Terminate")), Ok(()));
    // AllowRemoteShellAccess=false: nobody, administrators included.
    config.winrs.allow_remote_shell_access = false;
    let p = AccessPolicy::from_config(&config);
    assert_eq!(
        decide(&p, &admin, &invoke("Create")),
        Err(Denial::RemoteShellAccessDisabled)
    );
    assert_eq!(decide(&p, &admin, &invoke("GetOwner")), Ok(()));
}

#[test]
fn wscim_all_and_class_metadata_are_checked_in_their_own_namespace() {
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
    assert_eq!(decide(&p, &monitor, &all), Err(Denial::Descriptor));
    let uri = "http://schemas.dmtf.org/wbem/cim-xml/2/cim-schema/2/CIM_Sensor";
    let mut metadata = op(Some(uri), action::GET);
    assert_eq!(decide(&p, &monitor, &metadata), Err(Denial::Descriptor));
    metadata.selectors.0.push(wsman_proto::envelope::Selector {
        name: "__CimNamespace".to_owned(),
        value: wsman_proto::envelope::SelectorValue::Text("ROOT\\hardware".to_owned()),
    });
    assert_eq!(decide(&p, &monitor, &metadata), Ok(()));
    // The engine's question, per namespace.
    use wsman_providers::NamespaceAccess as _;
    let reader = crate::access::NamespaceReader::new(&p, Arc::from(monitor));
    assert!(reader.may_read("root/hardware") && !reader.may_read("Root\\CIMV2"));
}

#[test]
fn the_event_logs_follow_root_sddl_unless_event_log_sddl_is_set() {
    let mut p = AccessPolicy::default();
    let user = linux_sids(1000, &[1000], false);
    let admin = linux_sids(0, &[0], true);
    let subscribe = op(
        Some(wsman_proto::eventing::EVENT_LOG_URI),
        "http://schemas.xmlsoap.org/ws/2004/08/eventing/Subscribe",
    );
    assert_eq!(decide(&p, &user, &subscribe), Err(Denial::Descriptor));
    assert_eq!(decide(&p, &admin, &subscribe), Ok(()));
    p.event_log_sddl = SecurityDescriptor::parse("O:NSG:BAD:P(A;;GR;;;BU)")
        .ok()
        .map(Arc::new);
    assert_eq!(decide(&p, &user, &subscribe), Ok(()));
    // Only the event logs: other resources still follow RootSDDL.
    let cfg = op(Some(wsman_proto::ns::CONFIG), action::GET);
    assert_eq!(decide(&p, &user, &cfg), Err(Denial::Descriptor));
}

/// The store's search with no collector running: no `[store] sddl`, so its default decides.
fn store_search() -> EventSearchEngine {
    let services = Services {
        enumerations: Arc::default(),
        shells: None,
    };
    EventSearchEngine::new(Arc::new(|| None), &services)
}

/// docs/events.md's advice for letting users read this host's Application and System logs.
const USERS_READ_EVENT_LOGS: &str = "O:NSG:BAD:P(A;;GA;;;BA)(A;;GR;;;BU)";

#[test]
fn the_event_store_keeps_its_own_descriptor_whatever_event_log_sddl_grants() {
    let user = linux_sids(1000, &[1000], false);
    let admin = linux_sids(0, &[0], true);
    let mut config = Config::default();
    config.security.event_log_sddl = Some(USERS_READ_EVENT_LOGS.to_owned());
    let p = AccessPolicy::from_config(&config);
    let subscribe = op(
        Some(wsman_proto::eventing::EVENT_LOG_URI),
        "http://schemas.xmlsoap.org/ws/2004/08/eventing/Subscribe",
    );
    assert_eq!(decide(&p, &user, &subscribe), Ok(()));
    // Every forwarder's events, Security included: the users the advice admits to this
    // host's logs do not search them.
    for (uri, a) in [
        (event_store::EVENTS, action::ENUMERATE),
        (event_store::HISTOGRAM, action::ENUMERATE),
        (event_store::EVENTS, action::GET),
        (event_store::CURSOR, action::GET),
    ] {
        let search = op(Some(uri), a);
        assert_eq!(decide(&p, &user, &search), Err(Denial::Descriptor), "{uri}");
        assert_eq!(decide(&p, &admin, &search), Ok(()), "{uri}");
    }
    // Nor does RootSDDL decide: granting users Read of the configuration leaves the store.
    config.service.root_sddl = USERS_READ_EVENT_LOGS.to_owned();
    let p = AccessPolicy::from_config(&config);
    let search = op(Some(event_store::EVENTS), action::ENUMERATE);
    assert_eq!(decide(&p, &user, &search), Err(Denial::Descriptor));
}

#[test]
fn the_event_readers_group_searches_the_store_and_nothing_more() {
    let reader = linux_sids(1004, &[1004, 2500], false);
    let user = linux_sids(1000, &[1000], false);
    let mut config = Config::default();
    config.security.event_readers_gid = Some(2500);
    let p = AccessPolicy::from_config(&config);
    let search = op(Some(event_store::EVENTS), action::ENUMERATE);
    let get = op(Some(event_store::EVENTS), action::GET);
    assert_eq!(decide(&p, &reader, &search), Ok(()));
    assert_eq!(decide(&p, &reader, &get), Ok(()));
    assert_eq!(decide(&p, &user, &search), Err(Denial::Descriptor));
    // Read only, and only the store.
    let delete = op(Some(event_store::EVENTS), action::DELETE);
    assert_eq!(decide(&p, &reader, &delete), Err(Denial::Descriptor));
    let cfg = op(Some(wsman_proto::ns::CONFIG), action::GET);
    assert_eq!(decide(&p, &reader, &cfg), Err(Denial::Descriptor));
}

#[test]
fn powershell_follows_its_plugin_descriptor_not_shell_sddl() {
    let admin = linux_sids(0, &[0], true);
    let user = linux_sids(1000, &[1000], false);
    let remote = linux_sids(1003, &[1003, 3000], false);
    let mut config = Config::default();
    config.security.remote_users_gid = Some(3000);
    let p = AccessPolicy::from_config(&config);
    let cmd = op(Some(wsman_proto::shell::uri::CMD), action::CREATE);
    let ps = op(
        Some("http://schemas.microsoft.com/powershell/Microsoft.PowerShell"),
        action::CREATE,
    );
    // WinRS is open to every Linux user (ShellSDDL); PowerShell, as on Windows, to the
    // administrators and the remote users group only.
    assert_eq!(decide(&p, &user, &cmd), Ok(()));
    assert_eq!(decide(&p, &user, &ps), Err(Denial::Descriptor));
    assert_eq!(decide(&p, &remote, &ps), Ok(()));
    assert_eq!(decide(&p, &admin, &ps), Ok(()));
    // Its own descriptor, when set, decides; ShellSDDL does not.
    config.security.powershell_sddl = Some("O:NSG:BAD:P(A;;GA;;;BU)".to_owned());
    config.security.shell_sddl = "O:NSG:BAD:P(A;;GA;;;BA)".to_owned();
    let p = AccessPolicy::from_config(&config);
    assert_eq!(decide(&p, &user, &ps), Ok(()));
    assert_eq!(decide(&p, &user, &cmd), Err(Denial::Descriptor));
}

#[test]
fn only_the_microsoft_powershell_configuration_is_served() {
    for name in ["Microsoft.PowerShell", "microsoft.powershell"] {
        let uri = format!("http://schemas.microsoft.com/powershell/{name}");
        let mut create = op(Some(&uri), action::CREATE);
        create.resource_uri = Some(uri);
        assert!(shells::unconfigured_powershell(&create).is_ok(), "{name}");
    }
    for name in [
        "microsoft.powershell32",
        "microsoft.powershell.workflow",
        "microsoft.windows.servermanagerworkflows",
    ] {
        let uri = format!("http://schemas.microsoft.com/powershell/{name}");
        let mut create = op(Some(&uri), action::CREATE);
        create.resource_uri = Some(uri);
        let refused = shells::unconfigured_powershell(&create).err();
        let subcode = refused.and_then(|f| f.subcode).map(|s| s.qname());
        assert_eq!(
            subcode.as_deref(),
            Some("a:DestinationUnreachable"),
            "{name}"
        );
    }
    // WinRS is not a PowerShell configuration.
    let cmd = op(Some(wsman_proto::shell::uri::CMD), action::CREATE);
    assert!(shells::unconfigured_powershell(&cmd).is_ok());
}
