//! The config resources over cfg XML (reference §6.1-§6.6): Get, Put, Create, Delete and
//! Enumerate on [`ConfigStore`], shared by the server (remote) and the `winrm` CLI (local).
//!
//! Every Put/Create/Delete validates everything first, then writes the new state atomically,
//! then adopts it: on any fault neither memory nor disk has changed (except that changes
//! another writer made on disk meanwhile are adopted first, see `sync_before_write`).

use wsman_proto::envelope::SelectorSet;
use wsman_proto::fault::SelectorProblem;
use wsman_proto::ns;
use wsman_proto::transfer::ns_matches;
use wsman_proto::xml::{Element, Node, Writer};
use wsman_proto::Fault;

use crate::certs::CertError;
use crate::listener::Listener;
use crate::schema::{Container, Entry, SettingKey, Value};
use crate::sddl::SddlError;
use crate::security::WmiSddlError;
use crate::store::{ConfigStore, Source};

/// `winrm/config/listener`.
pub const LISTENER_URI: &str = wsman_proto::ns::config::LISTENER;

/// A resource of the config tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigResource {
    /// A singleton container: Get and Put.
    Container(Container),
    /// `winrm/config/listener`: Enumerate, Get, Put, Create, Delete (selectors Address,
    /// Transport).
    Listener,
    /// `winrm/config/service/certmapping`: Enumerate, Get, Put, Create, Delete (selectors
    /// Issuer, Subject, URI).
    CertMapping,
    /// `winrm/config/plugin`: Enumerate, Get, Put (selector Name; the WMI plug-in only).
    Plugin,
}

impl ConfigResource {
    /// The canonical (lower-case) resource URI, also the element namespace.
    pub fn uri(self) -> &'static str {
        match self {
            Self::Container(c) => c.resource_uri(),
            Self::Listener => LISTENER_URI,
            Self::CertMapping => crate::CERTMAPPING_URI,
            Self::Plugin => crate::plugin::PLUGIN_URI,
        }
    }

    /// The root element of a representation (`Listener`, `CertMapping`, a container's name).
    pub fn element_name(self) -> &'static str {
        match self {
            Self::Container(c) => c.element_name(),
            Self::Listener => "Listener",
            Self::CertMapping => "CertMapping",
            Self::Plugin => "PlugInConfiguration",
        }
    }
}

/// The config resource a resource URI names, compared without case after
/// `http://schemas.microsoft.com/wbem/wsman/1/config` (clients send `Listener`, `Service`).
pub fn resource(uri: &str) -> Option<ConfigResource> {
    let uri = uri.trim();
    let head = uri.get(..ns::CONFIG.len())?;
    if !head.eq_ignore_ascii_case(ns::CONFIG) {
        return None;
    }
    let rest = uri[ns::CONFIG.len()..].trim_end_matches('/');
    if rest.is_empty() {
        return Some(ConfigResource::Container(Container::Config));
    }
    if rest.eq_ignore_ascii_case("/listener") {
        return Some(ConfigResource::Listener);
    }
    if rest.eq_ignore_ascii_case("/service/certmapping") {
        return Some(ConfigResource::CertMapping);
    }
    if rest.eq_ignore_ascii_case("/plugin") {
        return Some(ConfigResource::Plugin);
    }
    Container::ALL
        .into_iter()
        .find(|c| c.resource_uri()[ns::CONFIG.len()..].eq_ignore_ascii_case(rest))
        .map(ConfigResource::Container)
}

/// One enumerated item: its XML and the selectors of its EPR.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnumItem {
    pub xml: String,
    pub selectors: Vec<(String, String)>,
}

fn lookup(uri: &str) -> Result<ConfigResource, Fault> {
    resource(uri).ok_or_else(|| Fault::destination_unreachable(uri))
}

pub(crate) fn invalid_value(what: &str, text: &str, reason: impl std::fmt::Display) -> Fault {
    Fault::schema_validation_error(format!(
        "The WS-Management service cannot process the request because the value {text:?} is not valid for the setting {what}: {reason}. "
    ))
}

/// A selector whose value the resource's rules refuse: `w:InvalidSelectors`, `InvalidValue`.
pub(crate) fn invalid_selector_value(message: impl std::fmt::Display) -> Fault {
    Fault::invalid_selectors(SelectorProblem::InvalidValue, format!("{message}. "))
}

pub(crate) fn unknown_element(name: &str, parent: &str) -> Fault {
    Fault::schema_validation_error(format!(
        "The WS-Management service cannot process the request because the element {name} is not valid in {parent}. "
    ))
}

/// The body's root element must be `name` in `uri` (both compared without case); a body taken
/// from a Get of the root `winrm/config` namespace is accepted for sub-containers too.
pub(crate) fn check_body_root<'a>(
    body: Option<&'a Element>,
    name: &str,
    uri: &str,
) -> Result<&'a Element, Fault> {
    let body = body.ok_or_else(|| {
        Fault::schema_validation_error(format!(
            "The WS-Management service cannot process the request because the body does not contain a {name} element. "
        ))
    })?;
    if !body.name.eq_ignore_ascii_case(name) {
        return Err(unknown_element(&body.name, "the body"));
    }
    let ns_ok = ns_matches(body.ns.as_deref(), uri) || ns_matches(body.ns.as_deref(), ns::CONFIG);
    if !ns_ok {
        return Err(Fault::invalid_representation(
            "InvalidNamespace",
            format!(
                "The WS-Management service cannot process the request because the namespace of {name} is {:?}, not {uri:?}. ",
                body.ns.as_deref().unwrap_or("")
            ),
        ));
    }
    Ok(body)
}

pub(crate) fn is_config_ns(e: &Element) -> bool {
    match &e.ns {
        None => true,
        Some(n) => n
            .get(..ns::CONFIG.len())
            .is_some_and(|h| h.eq_ignore_ascii_case(ns::CONFIG)),
    }
}

pub(crate) fn leaf_text(e: &Element, what: &str) -> Result<String, Fault> {
    if e.elements().next().is_some() {
        return Err(invalid_value(what, "", "expected a value, found elements"));
    }
    Ok(e.trimmed_text())
}

/// Walk a Put body: every leaf parsed and type/range checked, nested containers followed.
fn collect_changes(
    container: Container,
    body: &Element,
    out: &mut Vec<(SettingKey, Value)>,
) -> Result<(), Fault> {
    for child in body.elements() {
        if !is_config_ns(child) {
            return Err(unknown_element(&child.name, container.element_name()));
        }
        if let Some(setting) = container.setting_ignore_case(&child.name) {
            let key = SettingKey {
                container,
                name: setting.name,
            };
            let path = key.display_path();
            let text = leaf_text(child, &path)?;
            let value = setting
                .ty
                .parse(&text)
                .map_err(|reason| invalid_value(&path, &text, &reason))?;
            out.push((key, value));
        } else if let Some(nested) = container.child_ignore_case(&child.name) {
            collect_changes(nested, child, out)?;
        } else {
            return Err(unknown_element(&child.name, container.element_name()));
        }
    }
    Ok(())
}

/// Build a body for Put or Create from `Key=value` pairs (the CLI's `@{Key="value"}`): the
/// resource's element in its namespace with one leaf per pair.
pub fn body_from_values(uri: &str, values: &[(&str, &str)]) -> Option<Element> {
    let res = resource(uri)?;
    let name = res.element_name();
    let ns_uri = res.uri();
    let mut root = Element::new(Some(ns_uri), name);
    for (k, v) in values {
        let mut leaf = Element::new(Some(ns_uri), k);
        leaf.children.push(Node::Text((*v).to_owned()));
        root.children.push(Node::Element(leaf));
    }
    Some(root)
}

/// The containers are singletons: a selector can only name an instance that does not exist.
fn no_selectors(selectors: &SelectorSet) -> Result<(), Fault> {
    match selectors.0.first() {
        None => Ok(()),
        Some(s) => Err(Fault::invalid_selectors(
            SelectorProblem::Unexpected,
            format!(
                "The WS-Management service cannot process the request because the selector {:?} is not valid for this resource. ",
                s.name
            ),
        )),
    }
}

impl ConfigStore {
    /// Get: the body XML of a config resource. Listeners need Address and Transport.
    pub fn get(&self, uri: &str, selectors: &SelectorSet) -> Result<String, Fault> {
        self.get_with_listening_on(uri, selectors, &|_| Vec::new())
    }

    /// Get, with the addresses a listener is bound to (the server knows them).
    pub fn get_with_listening_on(
        &self,
        uri: &str,
        selectors: &SelectorSet,
        listening_on: &dyn Fn(&Listener) -> Vec<String>,
    ) -> Result<String, Fault> {
        match lookup(uri)? {
            ConfigResource::Container(c) => {
                no_selectors(selectors)?;
                Ok(self.render_container(c))
            }
            ConfigResource::Listener => self.get_listener(selectors, listening_on),
            ConfigResource::CertMapping => self.get_cert_mapping(selectors),
            ConfigResource::Plugin => self.get_plugin(selectors),
        }
    }

    /// A container with its nested containers, in Windows' element order; the element
    /// namespace is the container's resource URI; policy-pinned leaves carry `Source="GPO"`.
    pub fn render_container(&self, container: Container) -> String {
        let mut w = Writer::new();
        w.start(
            &format!("cfg:{}", container.element_name()),
            &[("xmlns:cfg", container.resource_uri())],
        );
        self.write_entries(container, &mut w);
        w.finish()
    }

    fn write_entries(&self, container: Container, w: &mut Writer) {
        for e in container.layout() {
            match e {
                Entry::Leaf(s) => {
                    let key = SettingKey {
                        container,
                        name: s.name,
                    };
                    let (value, source) = self
                        .value(key)
                        .unwrap_or((s.default.clone(), Source::Default));
                    let attrs: &[(&str, &str)] = if source == Source::Policy {
                        &[("Source", "GPO")]
                    } else {
                        &[]
                    };
                    w.leaf(&format!("cfg:{}", s.name), attrs, &value.to_string());
                }
                Entry::Child(child) => {
                    w.start(&format!("cfg:{}", child.element_name()), &[]);
                    self.write_entries(*child, w);
                    w.end();
                }
            }
        }
    }

    /// Put: a whole container or only some leaves (nested containers inside the parent too),
    /// or a listener's properties. All or nothing; returns the whole updated resource.
    pub fn put(
        &mut self,
        uri: &str,
        selectors: &SelectorSet,
        body: Option<&Element>,
    ) -> Result<String, Fault> {
        self.put_with_listening_on(uri, selectors, body, &|_| Vec::new())
    }

    /// Put, with the addresses a listener is bound to for the returned representation.
    pub fn put_with_listening_on(
        &mut self,
        uri: &str,
        selectors: &SelectorSet,
        body: Option<&Element>,
        listening_on: &dyn Fn(&Listener) -> Vec<String>,
    ) -> Result<String, Fault> {
        match lookup(uri)? {
            ConfigResource::Container(c) => {
                no_selectors(selectors)?;
                self.put_container(c, body)
            }
            ConfigResource::Listener => self.put_listener(selectors, body, listening_on),
            ConfigResource::CertMapping => self.put_cert_mapping(selectors, body),
            ConfigResource::Plugin => self.put_plugin(selectors, body),
        }
    }

    fn put_container(&mut self, c: Container, body: Option<&Element>) -> Result<String, Fault> {
        let _writers = self.sync_before_write().map_err(unreadable_fault)?;
        let body = check_body_root(body, c.element_name(), c.resource_uri())?;
        let mut changes = Vec::new();
        collect_changes(c, body, &mut changes)?;
        let mut next = self.stored.clone();
        let mut changed = false;
        for (key, value) in changes {
            let Some((current, source)) = self.value(key) else {
                continue;
            };
            let setting = key.setting();
            if source == Source::Policy {
                if value != current {
                    return Err(Fault::config_gpo_controlled(key.name));
                }
                continue;
            }
            if setting.is_some_and(|s| s.read_only) {
                if value != current {
                    return Err(Fault::config_readonly(key.name));
                }
                continue;
            }
            // A value equal to the default is not stored (it would pin the default).
            if setting.is_some_and(|s| s.default == value) {
                changed |= next.layer.values.remove(&key).is_some();
            } else if next.layer.values.get(&key) != Some(&value) {
                next.layer.values.insert(key, value);
                changed = true;
            }
        }
        if changed {
            self.commit(next).map_err(save_fault)?;
        }
        Ok(self.render_container(c))
    }

    /// Create a listener or a certificate mapping (a plug-in cannot be added: wsmand loads none). An HTTPS listener without a
    /// CertificateThumbprint gets a new self-signed certificate for its Hostname (or
    /// `host_name`). Returns the new instance's selectors.
    pub fn create(
        &mut self,
        uri: &str,
        selectors: &SelectorSet,
        body: Option<&Element>,
        host_name: &str,
    ) -> Result<Vec<(String, String)>, Fault> {
        match lookup(uri)? {
            ConfigResource::Container(_) | ConfigResource::Plugin => {
                Err(Fault::action_not_supported(ns::action::CREATE))
            }
            ConfigResource::Listener => self.create_listener(selectors, body, host_name),
            ConfigResource::CertMapping => self.create_cert_mapping(selectors, body),
        }
    }

    /// Delete a listener or a certificate mapping.
    pub fn delete(&mut self, uri: &str, selectors: &SelectorSet) -> Result<(), Fault> {
        match lookup(uri)? {
            ConfigResource::Container(_) | ConfigResource::Plugin => {
                Err(Fault::action_not_supported(ns::action::DELETE))
            }
            ConfigResource::Listener => self.delete_listener(selectors),
            ConfigResource::CertMapping => self.delete_cert_mapping(selectors),
        }
    }

    /// Enumerate: the listeners, the certificate mappings or the plug-ins, each with its selectors. Other
    /// config resources are not enumerable (ActionNotSupported, as Windows).
    pub fn enumerate(
        &self,
        uri: &str,
        listening_on: &dyn Fn(&Listener) -> Vec<String>,
    ) -> Result<Vec<EnumItem>, Fault> {
        match lookup(uri)? {
            ConfigResource::Container(_) => Err(Fault::action_not_supported(ns::action::ENUMERATE)),
            ConfigResource::Listener => Ok(self.enumerate_listeners(listening_on)),
            ConfigResource::CertMapping => Ok(self.enumerate_cert_mappings()),
            ConfigResource::Plugin => Ok(self.enumerate_plugins()),
        }
    }
}

// The config store's errors and their faults: this crate's errors table (the server's is its
// `error.rs`; this store also answers the local `winrm` without a server, so its faults are
// decided here). The rows are in `resource_tests.rs`.

/// The fault of a change refused because the configuration on disk could not be read first.
pub(crate) fn unreadable_fault(e: crate::ConfigError) -> Fault {
    Fault::internal_error(format!(
        "The configuration on disk cannot be read, so it was not changed: {e}. "
    ))
}

/// The fault of a change that could not be written.
pub(crate) fn save_fault(e: crate::ConfigError) -> Fault {
    Fault::internal_error(format!("The configuration could not be saved: {e}. "))
}

/// The fault of a listener's `Address` selector that is no address (`AddressError`) or its
/// `Transport` selector that is neither HTTP nor HTTPS (its parse says why as text):
/// `w:InvalidSelectors` InvalidValue, as for any selector value the resource does not have.
pub(crate) fn listener_selector_fault(why: impl std::fmt::Display) -> Fault {
    invalid_selector_value(why)
}

/// The fault of a certificate mapping whose issuer certificate is not installed at `path`:
/// `w:InvalidParameter` with Windows' code for a certificate not found (2150858882).
pub(crate) fn issuer_fault(e: CertError, issuer: &str, path: &std::path::Path) -> Fault {
    Fault::invalid_parameter(format!(
        "The issuer certificate {issuer} must be installed as {} before a mapping can use it: {e}. ",
        path.display()
    ))
    .with_code(wsman_proto::fault::code::CERT_NOT_FOUND)
}

/// The fault of the HTTPS listener's self-signed certificate that could not be made: a
/// failure of this host, `w:InternalError` saying why.
pub(crate) fn certificate_fault(e: CertError) -> Fault {
    Fault::internal_error(format!(
        "A certificate for the HTTPS listener could not be created: {e}. "
    ))
}

/// The fault of the PowerShell plug-in's one Security entry that is no descriptor:
/// `w:SchemaValidationError`, as for any value of the body that breaks its schema.
pub(crate) fn plugin_sddl_fault(e: SddlError) -> Fault {
    Fault::schema_validation_error(format!(
        "The WS-Management service cannot process the request because the Security entry of the plug-in is not valid: {e}. "
    ))
}

/// The fault of the WMI plug-in's Security entries (a namespace or a descriptor not valid,
/// too many): `w:SchemaValidationError`, as [`plugin_sddl_fault`].
pub(crate) fn wmi_sddl_fault(e: WmiSddlError) -> Fault {
    Fault::schema_validation_error(format!(
        "The WS-Management service cannot process the request because a Security entry of the plug-in is not valid: {e}. "
    ))
}

#[cfg(test)]
#[path = "resource_tests.rs"]
mod tests;
