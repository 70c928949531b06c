//! Namespace URIs, action URIs and other fixed strings of the protocol, in one place.
//!
//! Prefixes are conventions: parsing matches on these URIs only. The prefixes listed in
//! [`WINDOWS_PREFIXES`] are the ones Windows uses in its own responses, and ours.

pub const SOAP: &str = "http://www.w3.org/2003/05/soap-envelope";
/// SOAP 1.1: recognised only to answer `s:VersionMismatch`.
pub const SOAP11: &str = "http://schemas.xmlsoap.org/soap/envelope/";
pub const ADDRESSING: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing";
pub const WSMAN: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd";
pub const MS_WSMAN: &str = "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd";
pub const TRANSFER: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer";
pub const ENUMERATION: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration";
pub const EVENTING: &str = "http://schemas.xmlsoap.org/ws/2004/08/eventing";
/// The resource of Windows' event logs (MS-WSMV 3.1.4.1.30).
pub const EVENT_LOG_URI: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/EventLog";
pub const CIM_BINDING: &str = "http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd";
pub const SHELL: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell";
pub const CONFIG: &str = "http://schemas.microsoft.com/wbem/wsman/1/config";
pub const IDENTITY: &str = "http://schemas.dmtf.org/wbem/wsman/identity/1/wsmanidentity.xsd";
pub const WSMAN_FAULT: &str = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault";
pub const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// WS-CIM's common elements (`cim:Location`, the address an instance carries in a Put).
pub const WSCIM_COMMON: &str = "http://schemas.dmtf.org/wbem/wscim/1/common";
/// MS-WSMV's interactive events and their answers (`i:InteractiveResponse`, 2.2.4.48).
pub const INTERACTIVE: &str = "http://schemas.microsoft.com/wbem/wsman/1/cim/interactive.xsd";
/// wsmand's own extensions of WinRS (Linux only, off unless a client asks): the terminal
/// window element of the resize signal. A URN, because the project owns no schema host; the
/// option names of the same extensions start with `WSMAND_`.
pub const WSMAND_SHELL: &str = "urn:wsmand:shell";
/// The namespace bound to the `xml` prefix by definition.
pub const XML: &str = "http://www.w3.org/XML/1998/namespace";
/// WS-Policy (2002/12): the `c:Policy` of a Subscribe's `e:NotifyTo`.
pub const WS_POLICY: &str = "http://schemas.xmlsoap.org/ws/2002/12/policy";
/// MS-WSMV 2.2.4.1: the authentication a subscriber accepts (`auth:Authentication`).
pub const WSMAN_AUTHENTICATION: &str = "http://schemas.microsoft.com/wbem/wsman/1/authentication";
/// WS-Trust (2005/02), whose `IssuedTokens` header carries DSP0226's delivery credentials.
pub const WS_TRUST: &str = "http://schemas.xmlsoap.org/ws/2005/02/trust";
/// DSP0226's token type of a certificate thumbprint.
pub const CERTIFICATE_THUMBPRINT_TOKEN: &str =
    "http://schemas.dmtf.org/wbem/wsman/1/wsman/token/certificateThumbprint";
/// MS-WSMV 2.2.4.41: `m:Subscription` and `m:Version` of a subscription manager's answer.
pub const SUBSCRIPTION: &str = "http://schemas.microsoft.com/wbem/wsman/1/subscription";
/// The resource a forwarder enumerates at a subscription manager.
pub const SUBSCRIPTION_RESOURCE: &str =
    "http://schemas.microsoft.com/wbem/wsman/1/SubscriptionManager/Subscription";
/// `m:MachineID`: the sender's host name (Windows' clients and forwarders send it).
pub const MACHINE_ID: &str = "http://schemas.microsoft.com/wbem/wsman/1/machineid";
/// Windows' event schema (`<Event xmlns=...>`).
pub const EVENT: &str = "http://schemas.microsoft.com/win/2004/08/events/event";
/// The dialect of a `w:Filter` holding an event `QueryList`.
pub const EVENT_QUERY_DIALECT: &str = "http://schemas.microsoft.com/win/2004/08/events/eventquery";
/// `w:Bookmark`'s value for "every event still in the logs".
pub const BOOKMARK_EARLIEST: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/bookmark/earliest";

/// `w:Results`-style answers `winrm` renders (DSP0226's results namespace).
pub const WSMAN_RESULTS: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/results";
/// PowerShell remoting's elements (`connectResponseXml`, the PSRP creation XML).
pub const POWERSHELL: &str = "http://schemas.microsoft.com/powershell";

/// Microsoft's root of resource URIs (the `winrm` and `wsman` aliases of the command line).
pub const RESOURCE_ROOT: &str = "http://schemas.microsoft.com/wbem/wsman/1";
/// The WMI plug-in's resource (its URIs are prefixes, as on Windows).
pub const WMI: &str = "http://schemas.microsoft.com/wbem/wsman/1/wmi";
/// Prefix of the WMI resource URIs.
pub const WMI_PREFIX: &str = "http://schemas.microsoft.com/wbem/wsman/1/wmi/";
/// WMI's `root/cimv2` namespace, as a resource URI prefix (the `wmicimv2` alias).
pub const WMI_CIMV2: &str = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2";
/// The same with its separator: what the URIs of its classes start with.
pub const WMI_CIMV2_PREFIX: &str = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/";
/// The URI `winrm configSDDL` takes for the whole WMI plug-in.
pub const WMI_NAMESPACE: &str = "http://schemas.microsoft.com/wbem/wsman/1/wmi/WmiNamespace";
/// DMTF's CIM schema (the `cimv2` alias).
pub const CIM_SCHEMA: &str = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2";
/// The DMTF CIM class URI prefix (`wscim/1/cim-schema/2/`).
pub const CIM_PREFIX: &str = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/";
/// Microsoft's form of the same class URIs, which OMI serves and Windows' MI client and
/// SCOM's tools send (`.../wscim/1/cim-schema/2/<Class>?__cimnamespace=...`): served as
/// [`CIM_PREFIX`] is.
pub const MICROSOFT_CIM_PREFIX: &str = "http://schemas.microsoft.com/wbem/wscim/1/cim-schema/2/";
/// Every CIM class (only with a filter).
pub const CIM_ALL: &str = "http://schemas.dmtf.org/wbem/wscim/1/*";
/// Prefix of the class-metadata URIs (Get-CimClass).
pub const CLASS_METADATA_PREFIX: &str = "http://schemas.dmtf.org/wbem/cim-xml/2/cim-schema/2/";
/// Prefix of PowerShell (PSRP) custom shells' resource URIs.
pub const POWERSHELL_PREFIX: &str = "http://schemas.microsoft.com/powershell/";
/// The default PowerShell session configuration, as clients spell it.
pub const POWERSHELL_DEFAULT: &str = "http://schemas.microsoft.com/powershell/Microsoft.PowerShell";
/// The resource of the PowerShell plug-in, as Windows' plug-in entry spells it.
pub const POWERSHELL_PLUGIN: &str = "http://schemas.microsoft.com/powershell/microsoft.powershell";

/// The resources of `winrm/config` (each also the element namespace of a Get on it).
pub mod config {
    pub const CLIENT: &str = "http://schemas.microsoft.com/wbem/wsman/1/config/client";
    pub const CLIENT_AUTH: &str = "http://schemas.microsoft.com/wbem/wsman/1/config/client/auth";
    pub const CLIENT_DEFAULT_PORTS: &str =
        "http://schemas.microsoft.com/wbem/wsman/1/config/client/defaultports";
    pub const SERVICE: &str = "http://schemas.microsoft.com/wbem/wsman/1/config/service";
    pub const SERVICE_AUTH: &str = "http://schemas.microsoft.com/wbem/wsman/1/config/service/auth";
    pub const SERVICE_DEFAULT_PORTS: &str =
        "http://schemas.microsoft.com/wbem/wsman/1/config/service/defaultports";
    pub const CERTMAPPING: &str =
        "http://schemas.microsoft.com/wbem/wsman/1/config/service/certmapping";
    pub const WINRS: &str = "http://schemas.microsoft.com/wbem/wsman/1/config/winrs";
    pub const LISTENER: &str = "http://schemas.microsoft.com/wbem/wsman/1/config/listener";
    pub const PLUGIN: &str = "http://schemas.microsoft.com/wbem/wsman/1/config/plugin";
    /// The namespace of a `PlugInConfiguration` document.
    pub const PLUGIN_CONFIGURATION: &str =
        "http://schemas.microsoft.com/wbem/wsman/1/config/PluginConfiguration";
}

/// Filter dialects.
pub mod dialect {
    pub const WQL: &str = "http://schemas.microsoft.com/wbem/wsman/1/WQL";
    pub const CQL: &str = "http://schemas.dmtf.org/wbem/cql/1/dsp0202.pdf";
    pub const SELECTOR: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/SelectorFilter";
    pub const SELECTOR_MS: &str = "http://schemas.microsoft.com/wbem/wsman/1/wsman/SelectorFilter";
    /// DSP0227's association filter (AssociatedInstances, AssociationInstances).
    pub const ASSOCIATION: &str =
        "http://schemas.dmtf.org/wbem/wsman/1/cimbinding/associationFilter";
    /// The same, as Windows' clients spell it (`winrm enumerate -dialect:association`).
    pub const ASSOCIATION_CLIENT: &str =
        "http://schemas.dmtf.org/wbem/wsman/1/cimbinding/AssociationFilter";
}

/// Windows' remote shell: its resource URIs, response actions, signals and command states.
pub mod shell {
    /// Resource URIs of the shell subsystem.
    pub mod uri {
        /// The text command shell.
        pub const CMD: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd";
        /// Shell inventory: Enumerate the caller's shells, Get one by ShellId.
        pub const SHELLS: &str = crate::ns::SHELL;
        /// Command inventory: Enumerate the commands of a shell (SelectorFilter on ShellId).
        pub const COMMANDS: &str = crate::ns::action::SHELL_COMMAND;
        /// Prefix of PowerShell (PSRP) custom shells.
        pub const POWERSHELL_PREFIX: &str = crate::ns::POWERSHELL_PREFIX;
    }

    /// Response actions of the shell-specific operations.
    pub mod action {
        pub const COMMAND_RESPONSE: &str =
            "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandResponse";
        pub const SEND_RESPONSE: &str =
            "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/SendResponse";
        pub const RECEIVE_RESPONSE: &str =
            "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/ReceiveResponse";
        pub const SIGNAL_RESPONSE: &str =
            "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/SignalResponse";
        pub const DISCONNECT_RESPONSE: &str =
            "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/DisconnectResponse";
        pub const RECONNECT_RESPONSE: &str =
            "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/ReconnectResponse";
        pub const CONNECT_RESPONSE: &str =
            "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/ConnectResponse";
    }

    /// `rsp:Signal/rsp:Code` URIs.
    pub mod signal {
        pub const CTRL_C: &str =
            "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/ctrl_c";
        pub const CTRL_BREAK: &str =
            "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/ctrl_break";
        pub const TERMINATE: &str =
            "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/terminate";
        /// PSRP pipeline stop as MS-PSRP spells it (sic) and PowerShell sends it.
        pub const PSRP_CRTL_C: &str = "http://schemas.microsoft.com/powershell/signal/crtl_c";
        /// PSRP pipeline stop as MS-WSMV spells it (pypsrp sends this).
        pub const PSRP_CTRL_C: &str = "http://schemas.microsoft.com/powershell/signal/ctrl_c";
        /// wsmand's extension: the client's terminal changed size; the body carries
        /// `<l:WindowSize Rows=".." Columns=".."/>` in [`crate::ns::WSMAND_SHELL`].
        pub const WINDOW_SIZE: &str = "urn:wsmand:shell:signal:window-size";
    }

    /// `rsp:CommandState@State` URIs.
    pub mod state {
        pub const DONE: &str =
            "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done";
        pub const RUNNING: &str =
            "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Running";
        pub const PENDING: &str =
            "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Pending";
    }
}

/// The collector's event store and its search (`docs/event-search.md`): URNs of wsmand, as
/// [`WSMAND_SHELL`] is.
pub mod event_store {
    /// The stored events: Enumerate with a [`DIALECT`] filter, Get of one by its `Id`.
    pub const EVENTS: &str = "urn:wsmand:event-store/Event";
    /// The matches counted per bucket of time (Enumerate).
    pub const HISTOGRAM: &str = "urn:wsmand:event-store/Histogram";
    /// The newest stored event's id, where a live tail starts (Get).
    pub const CURSOR: &str = "urn:wsmand:event-store/Cursor";
    /// The filter dialect of a search.
    pub const DIALECT: &str = "urn:wsmand:event-store:search";
    /// The namespace of the filter's and the answers' elements.
    pub const NS: &str = "urn:wsmand:event-store";
    /// The selector naming one stored event.
    pub const ID_SELECTOR: &str = "Id";
}

/// The delivery modes of WS-Management eventing (`e:Delivery/@Mode`).
pub mod delivery_mode {
    pub const PUSH: &str = "http://schemas.xmlsoap.org/ws/2004/08/eventing/DeliveryModes/Push";
    pub const PUSH_WITH_ACK: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/PushWithAck";
    pub const EVENTS: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/Events";
    pub const PULL: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/Pull";
}

/// The anonymous reply address: the only `wsa:ReplyTo` WinRM accepts.
pub const ANONYMOUS: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous";
/// Prefix of every `w:FaultDetail` URI.
pub const FAULT_DETAIL: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/";

/// (prefix, namespace) pairs declared on every response envelope, as Windows does.
pub const WINDOWS_PREFIXES: &[(&str, &str)] = &[
    ("s", SOAP),
    ("a", ADDRESSING),
    ("x", TRANSFER),
    ("e", EVENTING),
    ("n", ENUMERATION),
    ("w", WSMAN),
    ("p", MS_WSMAN),
];

/// Action URIs (§3.1 of the reference).
pub mod action {
    pub const GET: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get";
    pub const GET_RESPONSE: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/GetResponse";
    pub const PUT: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Put";
    pub const PUT_RESPONSE: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/PutResponse";
    pub const CREATE: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Create";
    pub const CREATE_RESPONSE: &str =
        "http://schemas.xmlsoap.org/ws/2004/09/transfer/CreateResponse";
    pub const DELETE: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/Delete";
    pub const DELETE_RESPONSE: &str =
        "http://schemas.xmlsoap.org/ws/2004/09/transfer/DeleteResponse";
    pub const ENUMERATE: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate";
    pub const ENUMERATE_RESPONSE: &str =
        "http://schemas.xmlsoap.org/ws/2004/09/enumeration/EnumerateResponse";
    pub const PULL: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Pull";
    pub const PULL_RESPONSE: &str =
        "http://schemas.xmlsoap.org/ws/2004/09/enumeration/PullResponse";
    pub const RELEASE: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Release";
    pub const RELEASE_RESPONSE: &str =
        "http://schemas.xmlsoap.org/ws/2004/09/enumeration/ReleaseResponse";
    pub const SHELL_COMMAND: &str =
        "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Command";
    pub const SHELL_SEND: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Send";
    pub const SHELL_RECEIVE: &str =
        "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Receive";
    pub const SHELL_SIGNAL: &str = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Signal";
    pub const SHELL_DISCONNECT: &str =
        "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Disconnect";
    pub const SHELL_RECONNECT: &str =
        "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Reconnect";
    pub const SHELL_CONNECT: &str =
        "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/Connect";
    /// Full-duplex end (MS-WSMV 3.1.4.19; answered with HTTP 200 and no body, 4.11.1).
    pub const END: &str = "http://schemas.microsoft.com/wbem/wsman/1/wsman/End";
    /// The client's answer to a prompt of a full-duplex CIM operation: the action is this
    /// relative URI, as MS-WSMV 2.2.2.5 and 4.11.1 write it (answered with HTTP 200 and no
    /// body).
    pub const INTERACTIVE_RESPONSE: &str = "/InteractiveResponse";
    /// What every WS-Eventing action starts with.
    pub const EVENTING_PREFIX: &str = "http://schemas.xmlsoap.org/ws/2004/08/eventing/";
    pub const SUBSCRIBE: &str = "http://schemas.xmlsoap.org/ws/2004/08/eventing/Subscribe";
    pub const SUBSCRIBE_RESPONSE: &str =
        "http://schemas.xmlsoap.org/ws/2004/08/eventing/SubscribeResponse";
    pub const UNSUBSCRIBE: &str = "http://schemas.xmlsoap.org/ws/2004/08/eventing/Unsubscribe";
    pub const UNSUBSCRIBE_RESPONSE: &str =
        "http://schemas.xmlsoap.org/ws/2004/08/eventing/UnsubscribeResponse";
    pub const GET_STATUS_RESPONSE: &str =
        "http://schemas.xmlsoap.org/ws/2004/08/eventing/GetStatusResponse";
    /// The deliveries of WS-Management eventing and their acknowledgement.
    pub const EVENTS: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/Events";
    pub const HEARTBEAT: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/Heartbeat";
    pub const EVENT: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/Event";
    pub const ACK: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/Ack";
    pub const SUBSCRIPTION_END: &str =
        "http://schemas.xmlsoap.org/ws/2004/08/eventing/SubscriptionEnd";
    /// `e:Status` of a SubscriptionEnd.
    pub const DELIVERY_FAILURE: &str =
        "http://schemas.xmlsoap.org/ws/2004/08/eventing/DeliveryFailure";
    pub const SOURCE_SHUTTING_DOWN: &str =
        "http://schemas.xmlsoap.org/ws/2004/08/eventing/SourceShuttingDown";
    pub const SOURCE_CANCELLING: &str =
        "http://schemas.xmlsoap.org/ws/2004/08/eventing/SourceCancelling";

    pub const FAULT_WSMAN: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault";
    pub const FAULT_ADDRESSING: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing/fault";
    pub const FAULT_TRANSFER: &str = "http://schemas.xmlsoap.org/ws/2004/09/transfer/fault";
    pub const FAULT_ENUMERATION: &str = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/fault";
    pub const FAULT_EVENTING: &str = "http://schemas.xmlsoap.org/ws/2004/08/eventing/fault";
    pub const FAULT_CIM_BINDING: &str = "http://schemas.dmtf.org/wbem/wsman/1/cimbinding/fault";
}

/// Security profile URIs reported by an authenticated Identify.
pub mod secprofile {
    pub const HTTP_BASIC: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/basic";
    pub const HTTPS_BASIC: &str =
        "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/basic";
    pub const HTTP_SPNEGO_KERBEROS: &str =
        "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/spnego-kerberos";
    pub const HTTPS_SPNEGO_KERBEROS: &str =
        "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/spnego-kerberos";
    pub const HTTPS_MUTUAL: &str =
        "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual";
}
