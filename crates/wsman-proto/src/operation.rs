//! The typed operation of a request: its [`Action`] and what its ResourceURI addresses
//! ([`Resource`]), classified once when the envelope is parsed.
//!
//! The server routes on this pair alone, so no code outside its router compares action or
//! resource URI strings. Comparison follows Windows: action URIs exactly, resource URIs
//! without case (WinRM treats them so).

use crate::headers::SelectorSet;
use crate::ns::{self, action as act};
use crate::shell;

/// What the request asks for (`wsa:Action`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Action {
    Get,
    Put,
    Create,
    Delete,
    Enumerate,
    Pull,
    Release,
    /// WS-Eventing Subscribe, Renew, GetStatus, Unsubscribe: the eventing engine's, whatever
    /// the resource (it refuses them for resources other than the event logs).
    Subscribe,
    Renew,
    GetStatus,
    Unsubscribe,
    /// WinRS Command, Send, Receive, Signal.
    Command,
    Send,
    Receive,
    Signal,
    /// WinRS Disconnect, Reconnect, Connect (a shell outliving its client's connection).
    Disconnect,
    Reconnect,
    Connect,
    /// Full-duplex end (MS-WSMV 3.1.4.19): HTTP 200, no body, the connection closed.
    End,
    /// A client's answer to a full-duplex operation's prompt (MS-WSMV 2.2.2.5): HTTP 200,
    /// no body.
    InteractiveResponse,
    /// A custom action on the addressed class: `<ResourceURI>/<Method>`, or OMI's
    /// `http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/<Class>/<Method>` for the same class.
    Invoke(String),
    /// Anything else, kept for the fault.
    Other(String),
    /// No `wsa:Action` (only Identify may omit it).
    #[default]
    Absent,
}

use crate::ns::action::EVENTING_PREFIX as WS_EVENTING;

impl Action {
    /// Classify `action` for a request addressed to `resource`.
    pub fn parse(action: Option<&str>, resource_uri: Option<&str>, resource: &Resource) -> Self {
        let Some(a) = action else {
            return Self::Absent;
        };
        match a {
            act::GET => return Self::Get,
            act::PUT => return Self::Put,
            act::CREATE => return Self::Create,
            act::DELETE => return Self::Delete,
            act::ENUMERATE => return Self::Enumerate,
            act::PULL => return Self::Pull,
            act::RELEASE => return Self::Release,
            act::SHELL_COMMAND => return Self::Command,
            act::SHELL_SEND => return Self::Send,
            act::SHELL_RECEIVE => return Self::Receive,
            act::SHELL_SIGNAL => return Self::Signal,
            act::SHELL_DISCONNECT => return Self::Disconnect,
            act::SHELL_RECONNECT => return Self::Reconnect,
            act::SHELL_CONNECT => return Self::Connect,
            act::END => return Self::End,
            act::INTERACTIVE_RESPONSE => return Self::InteractiveResponse,
            _ => {}
        }
        if let Some(rest) = a.strip_prefix(WS_EVENTING) {
            match rest {
                "Subscribe" => return Self::Subscribe,
                "Renew" => return Self::Renew,
                "GetStatus" => return Self::GetStatus,
                "Unsubscribe" => return Self::Unsubscribe,
                _ => {}
            }
        }
        if let Some(method) = invoked_method(a, resource_uri.unwrap_or(""), resource) {
            return Self::Invoke(method.to_owned());
        }
        Self::Other(a.to_owned())
    }
}

/// The method of a custom action on the request's class, when `action` is one.
fn invoked_method<'a>(action: &'a str, resource_uri: &str, resource: &Resource) -> Option<&'a str> {
    let (prefix, method) = action.rsplit_once('/')?;
    if !is_method_name(method) {
        return None;
    }
    if !resource_uri.is_empty() && prefix.eq_ignore_ascii_case(resource_uri) {
        return Some(method);
    }
    // OMI's form: the DMTF class URI of the same class as the one addressed.
    let class = resource.class_name()?;
    match Resource::classify(prefix, &SelectorSet::default()) {
        Resource::Cim {
            class: ClassRef::Named(c),
            ..
        } if c.eq_ignore_ascii_case(class) => Some(method),
        _ => None,
    }
}

fn is_method_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 256 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// A class named in a resource URI, or `*` (every class, only with a filter).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClassRef {
    All,
    Named(String),
}

impl ClassRef {
    fn from_segment(s: &str) -> Option<Self> {
        if s == "*" {
            Some(Self::All)
        } else if is_method_name(s) {
            Some(Self::Named(s.to_owned()))
        } else {
            None
        }
    }
}

/// Which shell resource a shell URI addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShellResource {
    /// `.../windows/shell/cmd`.
    Cmd,
    /// `.../windows/shell`: the shell inventory.
    Shells,
    /// `.../windows/shell/Command`: the command inventory.
    Commands,
    /// A PowerShell (PSRP) plugin URI: not served, but open to users like the shells.
    PowerShell,
    /// Any other URI under `.../windows/shell`: not served.
    Unserved,
}

/// What a ResourceURI addresses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Resource {
    /// No ResourceURI, or an empty one.
    #[default]
    Absent,
    /// A WinRS or PowerShell shell resource.
    Shell(ShellResource),
    /// `http://schemas.microsoft.com/wbem/wsman/1/wmi/<namespace>/<Class or *>`.
    Wmi { namespace: String, class: ClassRef },
    /// `http://<vendor host>/wbem/wscim/1/cim-schema/2/<Class or *>`: the namespace is the
    /// `__cimnamespace` selector, else `root/hardware` (as Windows).
    Cim { namespace: String, class: ClassRef },
    /// `http://schemas.dmtf.org/wbem/wscim/1/*`: every class, only with a filter.
    CimAll,
    /// `http://schemas.dmtf.org/wbem/cim-xml/2/cim-schema/2/<Class or *>`: class metadata.
    ClassMetadata(ClassRef),
    /// `http://schemas.microsoft.com/wbem/wsman/1/windows/EventLog`: the event logs, served by
    /// the eventing engine (Subscribe, and Pull/Release on a subscription's context).
    EventLog,
    /// `urn:wsmand:event-store/...`: the collector's event store and its search
    /// (`ns::event_store`), served by the collector.
    EventStore,
    /// `http://schemas.microsoft.com/wbem/wsman/1/config` or a URI below it (`/Listener`,
    /// `/Service/Auth`...): the service's configuration tree.
    Config,
    /// Anything else: served by no engine of the daemon.
    Other,
}

pub use crate::ns::{CIM_ALL, CIM_PREFIX, CLASS_METADATA_PREFIX, MICROSOFT_CIM_PREFIX, WMI_PREFIX};
/// The namespace of a CIM class URI without `__cimnamespace` (Windows' default).
pub const DEFAULT_CIM_NAMESPACE: &str = "root/hardware";
/// The selector naming the namespace of a CIM class URI.
pub const CIM_NAMESPACE_SELECTOR: &str = "__cimnamespace";

/// Longest ResourceURI classified; anything longer is [`Resource::Other`].
const MAX_URI: usize = 2048;

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    (s.len() >= prefix.len()
        && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes()))
    .then(|| &s[prefix.len()..])
}

/// Whether `uri` is a CIM class URI of a host whose classes wsmand serves: the DMTF's own
/// ([`CIM_PREFIX`]) or Microsoft's ([`MICROSOFT_CIM_PREFIX`]); other vendors' hosts are
/// classified as [`Resource::Cim`] too, but no engine serves them.
pub fn is_served_cim_class_uri(uri: &str) -> bool {
    [CIM_PREFIX, MICROSOFT_CIM_PREFIX]
        .iter()
        .any(|prefix| strip_prefix_ci(uri, prefix).is_some())
}

impl Resource {
    /// Classify `uri` (with the request's selectors, for `__cimnamespace`).
    pub fn classify(uri: &str, selectors: &SelectorSet) -> Self {
        if uri.is_empty() {
            return Self::Absent;
        }
        if uri.len() > MAX_URI {
            return Self::Other;
        }
        for (u, r) in [
            (shell::uri::CMD, ShellResource::Cmd),
            (shell::uri::SHELLS, ShellResource::Shells),
            (shell::uri::COMMANDS, ShellResource::Commands),
        ] {
            if uri.eq_ignore_ascii_case(u) {
                return Self::Shell(r);
            }
        }
        if uri.eq_ignore_ascii_case(crate::ns::EVENT_LOG_URI) {
            return Self::EventLog;
        }
        if [
            ns::event_store::EVENTS,
            ns::event_store::HISTOGRAM,
            ns::event_store::CURSOR,
        ]
        .iter()
        .any(|u| uri.eq_ignore_ascii_case(u))
        {
            return Self::EventStore;
        }
        if strip_prefix_ci(uri, ns::CONFIG)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        {
            return Self::Config;
        }
        if shell::is_powershell_uri(uri) {
            return Self::Shell(ShellResource::PowerShell);
        }
        if strip_prefix_ci(uri, ns::SHELL).is_some() {
            return Self::Shell(ShellResource::Unserved);
        }
        if let Some(rest) = strip_prefix_ci(uri, WMI_PREFIX) {
            return match rest.rsplit_once('/') {
                Some((namespace, class)) if valid_namespace(namespace) => {
                    match ClassRef::from_segment(class) {
                        Some(class) => Self::Wmi {
                            namespace: namespace.to_ascii_lowercase(),
                            class,
                        },
                        None => Self::Other,
                    }
                }
                _ => Self::Other,
            };
        }
        if uri.eq_ignore_ascii_case(CIM_ALL) {
            return Self::CimAll;
        }
        if let Some(class) = strip_prefix_ci(uri, CLASS_METADATA_PREFIX) {
            return ClassRef::from_segment(class).map_or(Self::Other, Self::ClassMetadata);
        }
        // Any vendor host: `http(s)://<host>/wbem/wscim/1/cim-schema/2/<Class>`.
        const CIM_PATH: &str = "/wbem/wscim/1/cim-schema/2/";
        let after_scheme =
            strip_prefix_ci(uri, "http://").or_else(|| strip_prefix_ci(uri, "https://"));
        if let Some(rest) = after_scheme {
            if let Some(slash) = rest.find('/') {
                if let Some(class) = strip_prefix_ci(&rest[slash..], CIM_PATH) {
                    if let Some(class) = ClassRef::from_segment(class) {
                        let namespace = selectors
                            .get(CIM_NAMESPACE_SELECTOR)
                            .map_or(DEFAULT_CIM_NAMESPACE.to_owned(), |n| {
                                n.replace('\\', "/").to_ascii_lowercase()
                            });
                        return Self::Cim { namespace, class };
                    }
                }
            }
        }
        Self::Other
    }

    /// The class named, when one is (not `*`).
    pub fn class_name(&self) -> Option<&str> {
        match self {
            Self::Wmi {
                class: ClassRef::Named(c),
                ..
            }
            | Self::Cim {
                class: ClassRef::Named(c),
                ..
            }
            | Self::ClassMetadata(ClassRef::Named(c)) => Some(c),
            _ => None,
        }
    }
}

/// `root/cimv2`-like: segments of letters, digits and `_`, at most 8 deep.
fn valid_namespace(ns: &str) -> bool {
    let mut depth = 0;
    for seg in ns.split('/') {
        depth += 1;
        if depth > 8
            || seg.is_empty()
            || !seg.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return false;
        }
    }
    true
}

/// The typed operation of a request: parsed once with the envelope.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Operation {
    pub action: Action,
    pub resource: Resource,
}

impl Operation {
    pub fn parse(
        action: Option<&str>,
        resource_uri: Option<&str>,
        selectors: &SelectorSet,
    ) -> Self {
        let resource = Resource::classify(resource_uri.unwrap_or(""), selectors);
        let action = Action::parse(action, resource_uri, &resource);
        Self { action, resource }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(action: &str, uri: &str) -> Operation {
        Operation::parse(Some(action), Some(uri), &SelectorSet::default())
    }

    #[test]
    fn standard_actions_and_shell_resources() {
        let o = op(
            act::GET,
            "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CMD",
        );
        assert_eq!(o.action, Action::Get);
        assert_eq!(o.resource, Resource::Shell(ShellResource::Cmd));
        let o = op(act::SHELL_RECEIVE, shell::uri::CMD);
        assert_eq!(o.action, Action::Receive);
        assert_eq!(
            op(
                act::CREATE,
                "http://schemas.microsoft.com/powershell/Microsoft.PowerShell"
            )
            .resource,
            Resource::Shell(ShellResource::PowerShell)
        );
        assert_eq!(
            op(act::GET, "http://schemas.microsoft.com/wbem/wsman/1/config").resource,
            Resource::Config
        );
        assert_eq!(
            op(
                act::GET,
                "http://schemas.microsoft.com/wbem/wsman/1/CONFIG/Service/auth"
            )
            .resource,
            Resource::Config
        );
        assert_eq!(
            op(
                act::GET,
                "http://schemas.microsoft.com/wbem/wsman/1/configuration"
            )
            .resource,
            Resource::Other
        );
        assert_eq!(
            Operation::parse(None, None, &SelectorSet::default()).action,
            Action::Absent
        );
    }

    #[test]
    fn the_event_log_resource_without_case() {
        let o = op(
            "http://schemas.xmlsoap.org/ws/2004/08/eventing/Subscribe",
            "http://schemas.microsoft.com/wbem/wsman/1/windows/eventlog",
        );
        assert_eq!(o.action, Action::Subscribe);
        assert_eq!(o.resource, Resource::EventLog);
        assert_eq!(
            op(act::PULL, crate::ns::EVENT_LOG_URI).resource,
            Resource::EventLog
        );
    }

    #[test]
    fn the_six_cim_forms() {
        let wmi = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_Service";
        assert_eq!(
            op(act::ENUMERATE, wmi).resource,
            Resource::Wmi {
                namespace: "root/cimv2".into(),
                class: ClassRef::Named("Win32_Service".into())
            }
        );
        assert_eq!(
            op(
                act::ENUMERATE,
                "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/*"
            )
            .resource,
            Resource::Wmi {
                namespace: "root/cimv2".into(),
                class: ClassRef::All
            }
        );
        assert_eq!(
            op(
                act::ENUMERATE,
                "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_Sensor"
            )
            .resource,
            Resource::Cim {
                namespace: DEFAULT_CIM_NAMESPACE.into(),
                class: ClassRef::Named("CIM_Sensor".into())
            }
        );
        let mut sel = SelectorSet::default();
        sel.0.push(crate::headers::Selector {
            name: "__CIMNamespace".into(),
            value: crate::headers::SelectorValue::Text("root/cimv2".into()),
        });
        assert_eq!(
            Operation::parse(
                Some(act::GET),
                Some("http://schemas.dell.com/wbem/wscim/1/cim-schema/2/DCIM_View"),
                &sel
            )
            .resource,
            Resource::Cim {
                namespace: "root/cimv2".into(),
                class: ClassRef::Named("DCIM_View".into())
            }
        );
        assert_eq!(op(act::ENUMERATE, CIM_ALL).resource, Resource::CimAll);
        assert_eq!(
            Operation::parse(
                Some(act::GET),
                Some("http://schemas.microsoft.com/wbem/wscim/1/cim-schema/2/Win32_Process"),
                &sel
            )
            .resource,
            Resource::Cim {
                namespace: "root/cimv2".into(),
                class: ClassRef::Named("Win32_Process".into())
            }
        );
        assert_eq!(
            op(
                act::GET,
                "http://schemas.dmtf.org/wbem/cim-xml/2/cim-schema/2/*"
            )
            .resource,
            Resource::ClassMetadata(ClassRef::All)
        );
        assert_eq!(
            op(
                act::GET,
                "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/a b"
            )
            .resource,
            Resource::Other
        );
    }

    /// Microsoft's (OMI's) host is served as the DMTF's; other vendors' are classified only.
    #[test]
    fn the_served_cim_hosts() {
        for (uri, served) in [
            (
                "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_Sensor",
                true,
            ),
            (
                "HTTP://Schemas.Microsoft.com/wbem/wscim/1/cim-schema/2/Win32_Process",
                true,
            ),
            (
                "http://schemas.microsoft.com/wbem/wscim/1/cim-schema/2/*",
                true,
            ),
            (
                "http://schemas.dell.com/wbem/wscim/1/cim-schema/2/DCIM_View",
                false,
            ),
            (
                "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_Process",
                false,
            ),
            (
                "http://schemas.microsoft.com/wbem/wscim/1/cim-schema/",
                false,
            ),
        ] {
            assert_eq!(is_served_cim_class_uri(uri), served, "{uri}");
        }
    }

    #[test]
    fn invoke_in_both_forms() {
        let wmi = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_Process";
        assert_eq!(
            op(&format!("{wmi}/Create"), wmi).action,
            Action::Invoke("Create".into())
        );
        assert_eq!(
            op(
                "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/Win32_Process/Terminate",
                wmi
            )
            .action,
            Action::Invoke("Terminate".into())
        );
        assert_eq!(
            op(
                "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/Other/Terminate",
                wmi
            )
            .action,
            Action::Other(
                "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/Other/Terminate".into()
            )
        );
        assert_eq!(
            op(
                "http://schemas.xmlsoap.org/ws/2004/08/eventing/Subscribe",
                wmi
            )
            .action,
            Action::Subscribe
        );
    }
}
