//! Listener instances of `winrm/config/listener` (reference §6.6): selectors, body parsing,
//! rendering, and the Get/Put/Create/Delete/Enumerate behind [`ConfigStore`]'s operations.

use wsman_proto::envelope::SelectorSet;
use wsman_proto::fault::{code, SelectorProblem};
use wsman_proto::xml::{Element, Writer};
use wsman_proto::Fault;

use crate::certs;
use crate::listener::{check_url_prefix, Listener, ListenerAddress, StoredListener, Transport};
use crate::resource::{
    certificate_fault, check_body_root, invalid_value, is_config_ns, leaf_text,
    listener_selector_fault, save_fault, unknown_element, unreadable_fault, EnumItem, LISTENER_URI,
};
use crate::schema::{self, ValueType};
use crate::store::ConfigStore;

fn cert_not_found(thumbprint: &str) -> Fault {
    Fault::invalid_parameter(format!(
        "Cannot create or change a WinRM listener on HTTPS because no certificate with the thumbprint {thumbprint:?} is installed in the certificate directory. "
    ))
    .with_code(code::CERT_NOT_FOUND)
}

#[derive(Default)]
struct ListenerChanges {
    port: Option<u16>,
    hostname: Option<String>,
    enabled: Option<bool>,
    url_prefix: Option<String>,
    certificate_thumbprint: Option<String>,
}

fn parse_listener_body(
    body: &Element,
    address: &ListenerAddress,
    transport: Transport,
) -> Result<ListenerChanges, Fault> {
    let mut out = ListenerChanges::default();
    for child in body.elements() {
        if !is_config_ns(child) {
            return Err(unknown_element(&child.name, "Listener"));
        }
        let name = child.name.to_ascii_lowercase();
        let what = format!("Listener/{}", child.name);
        let text = leaf_text(child, &what)?;
        match name.as_str() {
            "address" => {
                let a: ListenerAddress = text
                    .parse()
                    .map_err(|e: crate::AddressError| invalid_value(&what, &text, e))?;
                if a != *address {
                    return Err(invalid_value(
                        &what,
                        &text,
                        "the Address key cannot be changed",
                    ));
                }
            }
            "transport" => {
                let t: Transport = text
                    .parse()
                    .map_err(|e: String| invalid_value(&what, &text, &e))?;
                if t != transport {
                    return Err(invalid_value(
                        &what,
                        &text,
                        "the Transport key cannot be changed",
                    ));
                }
            }
            "port" => {
                let v = schema::PORT
                    .parse(&text)
                    .map_err(|r| invalid_value(&what, &text, &r))?;
                out.port = v.as_number().and_then(|n| u16::try_from(n).ok());
            }
            "hostname" => out.hostname = Some(text),
            "enabled" => {
                let v = ValueType::Bool
                    .parse(&text)
                    .map_err(|r| invalid_value(&what, &text, &r))?;
                out.enabled = v.as_bool();
            }
            "urlprefix" => {
                check_url_prefix(&text).map_err(|r| invalid_value(&what, &text, &r))?;
                out.url_prefix = Some(text);
            }
            "certificatethumbprint" => {
                out.certificate_thumbprint = Some(certs::normalize_thumbprint(&text))
            }
            // Reported, not configured: a whole listener sent back from a Get carries it.
            "listeningon" => {}
            _ => return Err(unknown_element(&child.name, "Listener")),
        }
    }
    Ok(out)
}

fn apply_listener_changes(l: &mut StoredListener, c: ListenerChanges) {
    if c.port.is_some() {
        l.port = c.port;
    }
    if c.hostname.is_some() {
        l.hostname = c.hostname;
    }
    if c.enabled.is_some() {
        l.enabled = c.enabled;
    }
    if c.url_prefix.is_some() {
        l.url_prefix = c.url_prefix;
    }
    if c.certificate_thumbprint.is_some() {
        l.certificate_thumbprint = c.certificate_thumbprint;
    }
}

/// The Address and Transport selectors, Windows-like faults when missing or bad.
fn listener_keys(selectors: &SelectorSet) -> Result<(ListenerAddress, Transport), Fault> {
    for s in &selectors.0 {
        if !s.name.eq_ignore_ascii_case("Address") && !s.name.eq_ignore_ascii_case("Transport") {
            return Err(Fault::invalid_selectors(
                SelectorProblem::Unexpected,
                format!(
                    "The WS-Management service cannot process the request because the selector {:?} is not valid for a listener. ",
                    s.name
                ),
            ));
        }
    }
    let (Some(address), Some(transport)) = (selectors.get("Address"), selectors.get("Transport"))
    else {
        return Err(Fault::invalid_selectors(
            SelectorProblem::Insufficient,
            "The WS-Management service cannot process the request because a listener is addressed by the selectors Address and Transport. ",
        ));
    };
    let address: ListenerAddress = address.parse().map_err(listener_selector_fault)?;
    let transport: Transport = transport.parse().map_err(listener_selector_fault)?;
    Ok((address, transport))
}

fn no_such_listener(address: &ListenerAddress, transport: Transport) -> Fault {
    Fault::invalid_selectors(
        SelectorProblem::Unexpected,
        format!(
            "The WS-Management service cannot find the listener Address={address} Transport={transport}. "
        ),
    )
}

/// One listener as `cfg:Listener` (reference §6.6), with `xml:lang` and repeated ListeningOn.
pub fn render_listener(l: &Listener, listening_on: &[String]) -> String {
    let mut w = Writer::new();
    w.start(
        "cfg:Listener",
        &[("xmlns:cfg", LISTENER_URI), ("xml:lang", "en-US")],
    );
    w.leaf("cfg:Address", &[], &l.address.to_string());
    w.leaf("cfg:Transport", &[], l.transport.as_str());
    w.leaf("cfg:Port", &[], &l.port.to_string());
    w.leaf("cfg:Hostname", &[], &l.hostname);
    w.leaf("cfg:Enabled", &[], if l.enabled { "true" } else { "false" });
    w.leaf("cfg:URLPrefix", &[], &l.url_prefix);
    w.leaf("cfg:CertificateThumbprint", &[], &l.certificate_thumbprint);
    for a in listening_on {
        w.leaf("cfg:ListeningOn", &[], a);
    }
    w.finish()
}

impl ConfigStore {
    pub(crate) fn get_listener(
        &self,
        selectors: &SelectorSet,
        listening_on: &dyn Fn(&Listener) -> Vec<String>,
    ) -> Result<String, Fault> {
        let (address, transport) = listener_keys(selectors)?;
        let l = self
            .config()
            .listeners
            .iter()
            .find(|l| l.address == address && l.transport == transport)
            .ok_or_else(|| no_such_listener(&address, transport))?;
        Ok(render_listener(l, &listening_on(l)))
    }

    pub(crate) fn put_listener(
        &mut self,
        selectors: &SelectorSet,
        body: Option<&Element>,
        listening_on: &dyn Fn(&Listener) -> Vec<String>,
    ) -> Result<String, Fault> {
        let (address, transport) = listener_keys(selectors)?;
        let _writers = self.sync_before_write().map_err(unreadable_fault)?;
        let body = check_body_root(body, "Listener", LISTENER_URI)?;
        let changes = parse_listener_body(body, &address, transport)?;
        let mut next = self.stored.clone();
        let entry = next
            .listeners
            .iter_mut()
            .find(|l| l.same_keys(&address, transport))
            .ok_or_else(|| no_such_listener(&address, transport))?;
        apply_listener_changes(entry, changes);
        if transport == Transport::Https {
            let thumb = entry.certificate_thumbprint.clone().unwrap_or_default();
            self.check_certificate(&thumb)?;
        }
        if next != self.stored {
            self.commit(next).map_err(save_fault)?;
        }
        self.get_listener(selectors, listening_on)
    }

    fn check_certificate(&self, thumbprint: &str) -> Result<(), Fault> {
        if thumbprint.is_empty() {
            return Err(Fault::invalid_parameter(
                "An HTTPS listener needs a CertificateThumbprint. ",
            )
            .with_code(code::CERT_THUMBPRINT_BLANK));
        }
        if !certs::exists(&self.certs_dir(), thumbprint) {
            return Err(cert_not_found(thumbprint));
        }
        Ok(())
    }

    pub(crate) fn create_listener(
        &mut self,
        selectors: &SelectorSet,
        body: Option<&Element>,
        host_name: &str,
    ) -> Result<Vec<(String, String)>, Fault> {
        let (address, transport) = listener_keys(selectors)?;
        let _writers = self.sync_before_write().map_err(unreadable_fault)?;
        if self
            .stored
            .listeners
            .iter()
            .any(|l| l.same_keys(&address, transport))
        {
            return Err(Fault::already_exists());
        }
        let mut entry = StoredListener::new(address, transport);
        if let Some(b) = body {
            let b = check_body_root(Some(b), "Listener", LISTENER_URI)?;
            apply_listener_changes(&mut entry, parse_listener_body(b, &address, transport)?);
        }
        // Windows fixes the port at creation; a later DefaultPorts change does not move it.
        if entry.port.is_none() {
            entry.port = Some(self.config().service.default_ports.for_transport(transport));
        }
        if transport == Transport::Https {
            match entry.certificate_thumbprint.as_deref() {
                Some(t) if !t.is_empty() => self.check_certificate(t)?,
                _ => {
                    let name = entry
                        .hostname
                        .as_deref()
                        .filter(|h| !h.is_empty())
                        .unwrap_or(host_name);
                    let thumb = certs::generate_self_signed(&self.certs_dir(), name)
                        .map_err(certificate_fault)?;
                    entry.certificate_thumbprint = Some(thumb);
                }
            }
        }
        let mut next = self.stored.clone();
        next.listeners.push(entry);
        self.commit(next).map_err(save_fault)?;
        Ok(vec![
            ("Address".to_owned(), address.to_string()),
            ("Transport".to_owned(), transport.to_string()),
        ])
    }

    pub(crate) fn delete_listener(&mut self, selectors: &SelectorSet) -> Result<(), Fault> {
        let (address, transport) = listener_keys(selectors)?;
        let _writers = self.sync_before_write().map_err(unreadable_fault)?;
        let mut next = self.stored.clone();
        let before = next.listeners.len();
        let removed: Vec<String> = next
            .listeners
            .iter()
            .filter(|l| l.same_keys(&address, transport))
            .filter_map(|l| l.certificate_thumbprint.clone())
            .collect();
        next.listeners.retain(|l| !l.same_keys(&address, transport));
        if next.listeners.len() == before {
            return Err(no_such_listener(&address, transport));
        }
        let still_used = |thumb: &str| {
            next.listeners.iter().any(|l| {
                l.certificate_thumbprint.as_deref().is_some_and(|t| {
                    certs::normalize_thumbprint(t) == certs::normalize_thumbprint(thumb)
                })
            })
        };
        let orphaned: Vec<String> = removed.into_iter().filter(|t| !still_used(t)).collect();
        self.commit(next).map_err(save_fault)?;
        // The certificate wsmand generated for this listener goes with it; re-creating the
        // listener generates a new one.
        for thumbprint in orphaned {
            certs::remove_generated(&self.certs_dir(), &thumbprint);
        }
        Ok(())
    }

    pub(crate) fn enumerate_listeners(
        &self,
        listening_on: &dyn Fn(&Listener) -> Vec<String>,
    ) -> Vec<EnumItem> {
        self.config()
            .listeners
            .iter()
            .map(|l| EnumItem {
                xml: render_listener(l, &listening_on(l)),
                selectors: l.selectors(),
            })
            .collect()
    }
}
