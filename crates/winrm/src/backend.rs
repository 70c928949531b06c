//! Where operations go: a remote WS-Management service (through wsman-client) or this
//! machine's configuration directory (through wsman-config's ConfigStore). Both hand back
//! parsed elements, so the output is the same either way.

use std::path::Path;

use wsman_client::{BlockingClient, EnumerateOptions, Resource};
use wsman_config::ConfigStore;
use wsman_proto::envelope::{Selector, SelectorSet, SelectorValue};
use wsman_proto::ns;
use wsman_proto::xml::{self, Element, Limits};

use crate::failure::Failure;

/// The operations every command needs.
pub(crate) trait Backend {
    fn get(&mut self, r: &Resource) -> Result<Element, Failure>;
    fn put(&mut self, r: &Resource, body: &str) -> Result<Option<Element>, Failure>;
    fn create(&mut self, r: &Resource, body: &str) -> Result<Element, Failure>;
    fn delete(&mut self, r: &Resource) -> Result<(), Failure>;
    fn enumerate(&mut self, r: &Resource, o: &EnumerateOptions) -> Result<Vec<Element>, Failure>;
    /// The items as `-format:text` prints them, a blank line between two. The remote one
    /// reads each page in one pass instead of building a tree per item.
    fn enumerate_text(&mut self, r: &Resource, o: &EnumerateOptions) -> Result<String, Failure> {
        let items = self.enumerate(r, o)?;
        let text = crate::render::render_items(&items, crate::args::Format::Text);
        // The command ends soon: handing the items' nodes back to the allocator one by one
        // would cost about a third of a large enumeration's time (benches/cim.sh).
        std::mem::forget(items);
        Ok(text)
    }
    fn invoke(&mut self, r: &Resource, method: &str, body: &str) -> Result<Element, Failure>;
}

/// A remote service.
pub(crate) struct Remote(pub(crate) BlockingClient);

impl Backend for Remote {
    fn get(&mut self, r: &Resource) -> Result<Element, Failure> {
        Ok(self.0.get(r)?)
    }
    fn put(&mut self, r: &Resource, body: &str) -> Result<Option<Element>, Failure> {
        Ok(self.0.put(r, body)?)
    }
    fn create(&mut self, r: &Resource, body: &str) -> Result<Element, Failure> {
        Ok(self.0.create(r, body)?)
    }
    fn delete(&mut self, r: &Resource) -> Result<(), Failure> {
        Ok(self.0.delete(r)?)
    }
    fn enumerate(&mut self, r: &Resource, o: &EnumerateOptions) -> Result<Vec<Element>, Failure> {
        Ok(self.0.enumerate(r, o)?)
    }
    fn enumerate_text(&mut self, r: &Resource, o: &EnumerateOptions) -> Result<String, Failure> {
        let mut text = String::new();
        let mut first = true;
        self.0.enumerate_each(r, o, |item| {
            if !first {
                text.push('\n');
            }
            first = false;
            wsman_cli::windows_text_of_item(item, &mut text);
        })?;
        Ok(text)
    }
    fn invoke(&mut self, r: &Resource, method: &str, body: &str) -> Result<Element, Failure> {
        Ok(self.0.invoke_raw(r, method, body)?)
    }
}

/// The configuration directory of this machine.
pub(crate) struct Local {
    pub(crate) store: ConfigStore,
}

pub(crate) use wsman_cli::machine::config_dir;

/// This machine's host name (for certificates of new HTTPS listeners).
pub(crate) fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

impl Local {
    /// The store, with this host's WMI users and remote users groups looked up (the WMI and
    /// PowerShell plug-ins' default descriptors admit them, as the daemon's do).
    pub(crate) fn open(dir: &Path) -> Result<Self, Failure> {
        let mut store = ConfigStore::open(dir).map_err(|e| Failure::local(e.to_string()))?;
        let group = nix::unistd::Group::from_name(wsman_config::WMI_USERS_GROUP);
        store.set_wmi_users_gid(group.ok().flatten().map(|g| g.gid.as_raw()));
        let group = nix::unistd::Group::from_name(wsman_config::REMOTE_USERS_GROUP);
        store.set_remote_users_gid(group.ok().flatten().map(|g| g.gid.as_raw()));
        Ok(Self { store })
    }

    /// After a write: wait until the daemon serving the directory has applied it
    /// ([`crate::confirm`]); without a daemon, or without its answer, say so on stderr. A
    /// change the daemon refuses is taken back and is this command's failure.
    fn confirm(&mut self) -> Result<(), Failure> {
        use crate::confirm::{self, Outcome};
        let dir = self.store.dir().to_owned();
        let outcome = confirm::request_apply(&dir, confirm::TIMEOUT);
        if let Outcome::Refused(reason) = outcome {
            let kept = match self.store.undo_last_commit() {
                Ok(true) => "the configuration was put back as it was",
                Ok(false) => "another change was written since and is kept",
                Err(_) => "and the change could not be taken back",
            };
            return Err(Failure::local(format!(
                "wsmand refused the change: {reason}; {kept}."
            )));
        }
        if let Some(note) = confirm::note(&dir, &outcome) {
            eprint!("{note}");
        }
        Ok(())
    }
}

fn selector_set(r: &Resource) -> SelectorSet {
    SelectorSet(
        r.selectors
            .iter()
            .map(|(n, v)| Selector {
                name: n.clone(),
                value: SelectorValue::Text(v.clone()),
            })
            .collect(),
    )
}

/// Parse XML we produced or the user gave (`-file:`).
pub(crate) fn parse_xml(text: &str) -> Result<Element, Failure> {
    xml::parse(text, &Limits::default())
        .map_err(|e| Failure::local(format!("the XML is not valid: {e}")))
}

fn local_failure(fault: wsman_proto::Fault) -> Failure {
    Failure::LocalFault { fault }
}

fn not_local(uri: &str) -> Failure {
    Failure::LocalFault {
        fault: wsman_proto::Fault::destination_unreachable(uri).with_message(format!(
            "Without -r: only the winrm/config resources of this machine are available; {uri} needs -r:. "
        )),
    }
}

/// The `x:ResourceCreated` element a server would send, for printing a local Create alike.
pub(crate) fn resource_created(
    address: &str,
    uri: &str,
    selectors: &[(String, String)],
) -> Result<Element, Failure> {
    let pairs: Vec<(&str, &str)> = selectors
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let inner = wsman_proto::transfer::resource_created(address, uri, &pairs);
    // The fragment uses the envelope's prefixes; declare them for a standalone parse.
    let wrapped = format!(
        "<wrap xmlns:x=\"{}\" xmlns:a=\"{}\" xmlns:w=\"{}\">{inner}</wrap>",
        ns::TRANSFER,
        ns::ADDRESSING,
        ns::WSMAN
    );
    let root = parse_xml(&wrapped)?;
    let first = root.elements().next().cloned();
    first.ok_or_else(|| Failure::local("empty ResourceCreated"))
}

impl Backend for Local {
    fn get(&mut self, r: &Resource) -> Result<Element, Failure> {
        if wsman_config::resource(&r.uri).is_none() {
            return Err(not_local(&r.uri));
        }
        let text = self
            .store
            .get(&r.uri, &selector_set(r))
            .map_err(local_failure)?;
        parse_xml(&text)
    }

    fn put(&mut self, r: &Resource, body: &str) -> Result<Option<Element>, Failure> {
        if wsman_config::resource(&r.uri).is_none() {
            return Err(not_local(&r.uri));
        }
        let body = parse_xml(body)?;
        let text = self
            .store
            .put(&r.uri, &selector_set(r), Some(&body))
            .map_err(local_failure)?;
        self.confirm()?;
        parse_xml(&text).map(Some)
    }

    fn create(&mut self, r: &Resource, body: &str) -> Result<Element, Failure> {
        if wsman_config::resource(&r.uri).is_none() {
            return Err(not_local(&r.uri));
        }
        let body = if body.trim().is_empty() {
            None
        } else {
            Some(parse_xml(body)?)
        };
        let selectors = self
            .store
            .create(&r.uri, &selector_set(r), body.as_ref(), &host_name())
            .map_err(local_failure)?;
        self.confirm()?;
        resource_created(ns::ANONYMOUS, &r.uri, &selectors)
    }

    fn delete(&mut self, r: &Resource) -> Result<(), Failure> {
        if wsman_config::resource(&r.uri).is_none() {
            return Err(not_local(&r.uri));
        }
        self.store
            .delete(&r.uri, &selector_set(r))
            .map_err(local_failure)?;
        self.confirm()
    }

    fn enumerate(&mut self, r: &Resource, o: &EnumerateOptions) -> Result<Vec<Element>, Failure> {
        if wsman_config::resource(&r.uri).is_none() {
            return Err(not_local(&r.uri));
        }
        if o.filter.is_some() {
            return Err(local_failure(wsman_proto::Fault::filtering_not_supported()));
        }
        let items = self
            .store
            .enumerate(&r.uri, &|_| Vec::new())
            .map_err(local_failure)?;
        let uri = wsman_config::resource(&r.uri)
            .map(|c| c.uri())
            .unwrap_or(&r.uri);
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let object = parse_xml(&item.xml)?;
            let pairs: Vec<(&str, &str)> = item
                .selectors
                .iter()
                .map(|(a, b)| (a.as_str(), b.as_str()))
                .collect();
            let epr = || -> Result<Element, Failure> {
                let text = wsman_proto::enumeration::epr_item(ns::ANONYMOUS, uri, &pairs);
                let wrapped = format!(
                    "<wrap xmlns:a=\"{}\" xmlns:w=\"{}\">{text}</wrap>",
                    ns::ADDRESSING,
                    ns::WSMAN
                );
                let root = parse_xml(&wrapped)?;
                let first = root.elements().next().cloned();
                first.ok_or_else(|| Failure::local("empty EPR"))
            };
            match o.mode {
                wsman_client::EnumerationMode::Object => out.push(object),
                wsman_client::EnumerationMode::Epr => out.push(epr()?),
                _ => {
                    let mut item = Element::new(Some(ns::WSMAN), "Item");
                    item.prefix = Some("w".to_owned());
                    item.children.push(xml::Node::Element(object));
                    item.children.push(xml::Node::Element(epr()?));
                    out.push(item);
                }
            }
        }
        Ok(out)
    }

    fn invoke(&mut self, r: &Resource, _method: &str, _body: &str) -> Result<Element, Failure> {
        Err(not_local(&r.uri))
    }
}
