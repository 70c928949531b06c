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
pub const XML: &str = crate::xml::XML_NS;
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
    pub const SUBSCRIBE: &str = "http://schemas.xmlsoap.org/ws/2004/08/eventing/Subscribe";
    pub const SUBSCRIBE_RESPONSE: &str =
        "http://schemas.xmlsoap.org/ws/2004/08/eventing/SubscribeResponse";
    pub const RENEW: &str = "http://schemas.xmlsoap.org/ws/2004/08/eventing/Renew";
    pub const UNSUBSCRIBE: &str = "http://schemas.xmlsoap.org/ws/2004/08/eventing/Unsubscribe";
    pub const UNSUBSCRIBE_RESPONSE: &str =
        "http://schemas.xmlsoap.org/ws/2004/08/eventing/UnsubscribeResponse";

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
