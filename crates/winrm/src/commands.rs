//! Running a parsed invocation: pick the backend, build the request body, print the result.

use std::io::Write;
use std::path::Path;

use wsman_cli::CliError;
use wsman_client::enumerate::dialect;
use wsman_client::{
    BlockingClient, ClientOptions, Endpoint, EnumerateOptions, EnumerationMode, Filter, FilterBody,
    Resource, Scheme,
};
use wsman_config::{ConfigResource, ConfigStore, Transport};
use wsman_proto::xml::Element;

use crate::args::{AuthChoice, Command, Format, Invocation, QuickTransport, ReturnType, Switches};
use crate::backend::{self, Backend, Local, Remote};
use crate::failure::Failure;
use crate::syntax::{usage, ResourceArg};
use crate::{help, prompt, quickconfig, render};

fn resource(r: &ResourceArg) -> Resource {
    let mut out = Resource::new(r.uri.clone());
    out.selectors = r.selectors.clone();
    out
}

/// Prefix, root element name and namespace of a Put/Create body for `uri`: the config
/// resources use their own element names and (lower-case) namespaces; others, as winrm.vbs
/// does, the last URI segment in the URI's namespace.
fn body_root(uri: &str) -> (&'static str, String, String) {
    match wsman_config::resource(uri) {
        Some(ConfigResource::Container(c)) => (
            "cfg",
            c.element_name().to_owned(),
            c.resource_uri().to_owned(),
        ),
        Some(ConfigResource::Listener) => (
            "cfg",
            "Listener".to_owned(),
            wsman_config::LISTENER_URI.to_owned(),
        ),
        Some(ConfigResource::CertMapping) => (
            "cfg",
            "CertMapping".to_owned(),
            wsman_config::CERTMAPPING_URI.to_owned(),
        ),
        Some(ConfigResource::Plugin) => (
            "p",
            "PlugInConfiguration".to_owned(),
            wsman_config::plugin::PLUGIN_CONFIG_NS.to_owned(),
        ),
        None => {
            let last = uri.rsplit('/').next().unwrap_or(uri).to_owned();
            ("p", last, uri.to_owned())
        }
    }
}

fn read_file(path: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(path)
        .map_err(|e| Failure::local(format!("cannot read {}: {e}", path.display())))
}

fn instance_body(uri: &str, hash: &[(String, String)], s: &Switches) -> Result<String, Failure> {
    if let Some(f) = &s.file {
        return read_file(f);
    }
    let (prefix, root, ns) = body_root(uri);
    wsman_client::body::instance_body(prefix, &root, &ns, hash)
        .map_err(|e| usage(e.to_string()).into())
}

fn client_options(s: &Switches) -> Result<ClientOptions, Failure> {
    let user_agent = concat!("wsmand-winrm/", env!("CARGO_PKG_VERSION"));
    let dir = backend::config_dir(s.config_dir.as_deref());
    let settings = wsman_cli::machine::client_settings(&dir)?;
    s.connection
        .client_options(user_agent, &settings, |user| {
            prompt::password_for(user).map_err(|e| std::io::Error::other(e.to_string()))
        })
        .map_err(|e| match e {
            CliError::Usage(u) => usage(u.message).into(),
            other => Failure::local(other.to_string()),
        })
}

fn remote_client(s: &Switches, remote: &str) -> Result<BlockingClient, Failure> {
    // -transport:https (the quickconfig switch) also selects HTTPS for a remote command.
    let https = s.connection.use_ssl || s.transport == QuickTransport::Https;
    let endpoint = Endpoint::parse(remote, https)?;
    Ok(BlockingClient::new(endpoint, client_options(s)?)?)
}

fn enumerate_options(s: &Switches) -> Result<EnumerateOptions, Failure> {
    let mut o = EnumerateOptions::default();
    o.mode = match s.return_type {
        ReturnType::Object => EnumerationMode::Object,
        ReturnType::Epr => EnumerationMode::Epr,
        ReturnType::ObjectEpr => EnumerationMode::ObjectAndEpr,
    };
    if let Some(text) = &s.filter {
        let d = s.dialect.as_deref().unwrap_or("wql");
        o.filter = Some(match d.to_ascii_lowercase().as_str() {
            "wql" => Filter {
                dialect: dialect::WQL.to_owned(),
                body: FilterBody::Text(text.clone()),
            },
            "selector" => {
                let sel = crate::syntax::parse_resource(&format!("winrm?{text}"))?;
                Filter {
                    dialect: dialect::SELECTOR.to_owned(),
                    body: FilterBody::Selectors(sel.selectors),
                }
            }
            "association" => Filter {
                dialect: dialect::ASSOCIATION.to_owned(),
                body: FilterBody::Xml(text.clone()),
            },
            _ if d.contains("://") => Filter {
                dialect: d.to_owned(),
                body: FilterBody::Text(text.clone()),
            },
            _ => {
                return Err(usage(format!(
                    "unknown dialect -dialect:{d} (wql, selector, association or a URI)"
                ))
                .into())
            }
        });
    }
    Ok(o)
}

/// Identify without -r: the first enabled listener of the local configuration, on loopback.
fn local_identify_client(dir: &Path, s: &Switches) -> Result<BlockingClient, Failure> {
    let store = ConfigStore::open(dir).map_err(|e| Failure::local(e.to_string()))?;
    let cfg = store.config();
    let Some(l) = cfg.active_listeners().into_iter().next() else {
        return Err(Failure::local(format!(
            "no enabled listener in {}; create one with `winrm quickconfig`",
            dir.display()
        )));
    };
    // Loopback when the listener covers it, else the address it is bound to.
    let v4 = std::net::IpAddr::from([127, 0, 0, 1]);
    let v6 = std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST);
    let host = match l.address {
        wsman_config::ListenerAddress::Ip(ip) => ip.to_string(),
        a if a.contains(v4) => v4.to_string(),
        a if a.contains(v6) => v6.to_string(),
        wsman_config::ListenerAddress::Range(first, _) => first.to_string(),
        wsman_config::ListenerAddress::Any => v4.to_string(),
    };
    let scheme = match l.transport {
        Transport::Http => Scheme::Http,
        Transport::Https => Scheme::Https,
    };
    let mut endpoint = Endpoint::new(scheme, &host, l.port);
    endpoint.path = format!("/{}", l.url_prefix.trim_matches('/'));
    let mut anonymous = s.clone();
    anonymous.connection.username = None;
    anonymous.connection.password = None;
    anonymous.connection.auth = Some(AuthChoice::None);
    let mut o = client_options(&anonymous)?;
    if scheme == Scheme::Https {
        // Trust the listener's own certificate; the name is 127.0.0.1, not the certificate's.
        let (crt, _) = wsman_config::certs::paths(&store.certs_dir(), &l.certificate_thumbprint);
        o.tls.ca_file = Some(crt);
        o.tls.skip_cn_check = true;
    }
    Ok(BlockingClient::new(endpoint, o)?)
}

/// Deleting the last listener leaves a daemon no client can reach (Windows allows it too):
/// say so on stderr. A remote daemon that stopped answering after the delete is told apart by
/// the failed enumeration, and said so too.
fn warn_if_no_listener_is_left(backend: &mut dyn Backend) {
    let listeners = Resource::new(wsman_config::LISTENER_URI.to_owned());
    match backend.enumerate(&listeners, &EnumerateOptions::default()) {
        Ok(items) if items.is_empty() => eprintln!(
            "Warning: no listener is left: the WS-Management service cannot be reached remotely \
             until one is created (locally: winrm create winrm/config/Listener?... --config-dir)."
        ),
        Ok(_) => {}
        Err(_) => eprintln!(
            "Warning: the service could not be asked for its remaining listeners; if this was the \
             last one, it cannot be reached remotely until one is created locally."
        ),
    }
}

/// `winrm events LOG`: subscribe in Pull mode to LOG with `-filter:` (an event XPath, `*` when
/// absent), pull `-batches:` times (stopping at the first empty pull), print each event and the
/// bookmark after the last, and unsubscribe, also when a pull failed.
fn events(
    client: &BlockingClient,
    log: &str,
    s: &Switches,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let options = wsman_client::SubscribeOptions {
        query: wsman_client::events::query_list(log, s.filter.as_deref().unwrap_or("*")),
        read_existing: s.existing,
        expires: Some(std::time::Duration::from_secs(600)),
        send_bookmarks: true,
    };
    let subscription = client.subscribe_pull(&options)?;
    let mut pulled = Ok(None);
    for _ in 0..s.batches.unwrap_or(1) {
        match client.pull_events(
            &subscription,
            s.max_elements.unwrap_or(50),
            std::time::Duration::from_secs(5),
        ) {
            Ok(Some(batch)) => {
                for event in &batch.events {
                    print(out, &render::render_event(event, s.format));
                }
                pulled = Ok(batch.bookmark.or(pulled.unwrap_or(None)));
            }
            Ok(None) => break,
            Err(e) => {
                pulled = Err(e);
                break;
            }
        }
    }
    let ended = client.unsubscribe(&subscription);
    let bookmark = pulled?;
    ended?;
    if let (Some(bookmark), crate::args::Format::Text) = (bookmark, s.format) {
        print(out, &format!("Bookmark: {bookmark}\n"));
    }
    Ok(())
}

fn print(out: &mut dyn Write, text: &str) {
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// An Invoke's input: the `-file:` given, else the body built from the command line's
/// `@{...}` parameters.
fn invoke_body(
    s: &Switches,
    r: &ResourceArg,
    method: &str,
    hash: &[(String, String)],
) -> Result<String, Failure> {
    match &s.file {
        Some(f) => read_file(f),
        None => wsman_client::body::invoke_body(&r.uri, method, hash)
            .map_err(|e| Failure::from(usage(e.to_string()))),
    }
}

/// The operation `-r:` of several hosts fans out: only the reads (and Invoke), since a change
/// made on some hosts and refused on others is not a command's single answer.
fn fanout_operation(command: &Command, s: &Switches) -> Result<crate::fanout::Operation, Failure> {
    Ok(match command {
        Command::Identify => crate::fanout::Operation::Identify,
        Command::Get(r) => crate::fanout::Operation::Get(resource(r)),
        Command::Enumerate(r) => {
            crate::fanout::Operation::Enumerate(resource(r), enumerate_options(s)?)
        }
        Command::Invoke(method, r, hash) => {
            let body = invoke_body(s, r, method, hash)?;
            crate::fanout::Operation::Invoke(resource(r), method.clone(), body)
        }
        _ => {
            return Err(usage(
                "-r: of several hosts works with identify, get, enumerate and invoke; \
                 this command takes one host",
            )
            .into())
        }
    })
}

/// Execute `inv`, writing results to `out`.
pub(crate) fn run(inv: Invocation, out: &mut dyn Write) -> Result<(), Failure> {
    let s = &inv.switches;
    let dir = backend::config_dir(s.config_dir.as_deref());
    let format = s.format;
    let make_backend = || -> Result<Box<dyn Backend>, Failure> {
        match &s.connection.remote {
            Some(r) => Ok(Box::new(Remote(remote_client(s, r)?))),
            None => Ok(Box::new(Local::open(&dir)?)),
        }
    };
    // -r: of several hosts: the read operations fan out; the others take one host.
    let help = matches!(inv.command, Command::Help(_) | Command::Man);
    if let Some(hosts) = (!help)
        .then(|| crate::fanout::hosts(s))
        .transpose()?
        .flatten()
    {
        let operation = fanout_operation(&inv.command, s)?;
        return crate::fanout::run(s, hosts, client_options(s)?, operation, out);
    }
    match &inv.command {
        Command::Help(topic) => match help::topic(topic.as_deref()) {
            Some(text) => print(out, &text),
            None => {
                return Err(usage(format!(
                "no help topic {:?} (config, uris, aliases, switches, remoting, or an operation)",
                topic.as_deref().unwrap_or("")
            ))
                .into())
            }
        },
        Command::Man => print(out, &help::man_page()),
        Command::Completion(shell) => print(out, &help::completion(*shell)),
        Command::QuickConfig => quickconfig::run(&dir, s, out)?,
        Command::Identify => {
            let client = match &s.connection.remote {
                Some(r) => remote_client(s, r)?,
                None => local_identify_client(&dir, s)?,
            };
            let e = client.identify()?;
            print(out, &render::render(&e, format));
        }
        Command::Get(r) => {
            let e = make_backend()?.get(&resource(r))?;
            print(out, &render::render(&e, format));
        }
        Command::Set(r, hash) => {
            let body = instance_body(&r.uri, hash, s)?;
            if let Some(e) = make_backend()?.put(&resource(r), &body)? {
                print(out, &render::render(&e, format));
            }
        }
        Command::Create(r, hash) => {
            let body = instance_body(&r.uri, hash, s)?;
            let e = make_backend()?.create(&resource(r), &body)?;
            print(out, &render::render(&e, format));
        }
        Command::Delete(r) => {
            let mut backend = make_backend()?;
            backend.delete(&resource(r))?;
            if wsman_config::resource(&r.uri) == Some(wsman_config::ConfigResource::Listener) {
                warn_if_no_listener_is_left(backend.as_mut());
            }
        }
        Command::Enumerate(r) if format == Format::Text => {
            let o = enumerate_options(s)?;
            let text = make_backend()?.enumerate_text(&resource(r), &o)?;
            print(out, &text);
        }
        Command::Enumerate(r) => {
            let o = enumerate_options(s)?;
            let items: Vec<Element> = make_backend()?.enumerate(&resource(r), &o)?;
            print(out, &render::render_items(&items, format));
            // The command ends here: handing the items' nodes back to the allocator one by
            // one would cost about a third of a large enumeration's time (benches/cim.sh).
            std::mem::forget(items);
        }
        Command::ConfigSddl(uri) => {
            crate::configsddl::run(make_backend()?.as_mut(), uri, &s.sddl_edits, out)?;
        }
        Command::Events(log) => {
            let remote = s
                .connection
                .remote
                .as_deref()
                .ok_or_else(|| Failure::from(usage("winrm events needs -r:")))?;
            events(&remote_client(s, remote)?, log, s, out)?;
        }
        Command::Invoke(method, r, hash) => {
            let body = invoke_body(s, r, method, hash)?;
            let e = make_backend()?.invoke(&resource(r), method, &body)?;
            print(out, &render::render(&e, format));
        }
    }
    Ok(())
}
