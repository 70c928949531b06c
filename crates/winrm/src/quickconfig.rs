//! `winrm quickconfig`: make this machine ready for remote management, idempotently, and say
//! what changed in Windows' words.

use std::io::{BufRead, Read, Write};
use std::path::Path;
use std::process::Command as Process;

use wsman_config::{ConfigStore, Listener, ListenerAddress, Transport, LISTENER_URI};
use wsman_proto::envelope::{Selector, SelectorSet, SelectorValue};

use crate::args::{QuickTransport, Switches};
use crate::backend::{host_name, parse_xml};
use crate::failure::Failure;
use crate::firewall::{self, Inspection};

const SERVICE_AUTH_URI: &str = wsman_proto::ns::config::SERVICE_AUTH;
const DEFAULT_DIR: &str = "/etc/wsmand";
const UNIT: &str = "wsmand.service";

enum Step {
    CreateListener,
    EnableListener,
    EnableBasic,
    StartService,
    OpenFirewall(Inspection),
}

fn listener_selectors(t: Transport) -> SelectorSet {
    let sel = |n: &str, v: &str| Selector {
        name: n.to_owned(),
        value: SelectorValue::Text(v.to_owned()),
    };
    SelectorSet(vec![sel("Address", "*"), sel("Transport", t.as_str())])
}

fn systemd_running() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

fn unit_installed() -> bool {
    [
        "/etc/systemd/system",
        "/lib/systemd/system",
        "/usr/lib/systemd/system",
        "/usr/local/lib/systemd/system",
    ]
    .iter()
    .any(|d| Path::new(d).join(UNIT).is_file())
}

fn systemctl_ok(args: &[&str]) -> bool {
    Process::new("systemctl")
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn confirm(out: &mut dyn Write) -> Result<bool, Failure> {
    let _ = write!(out, "Make these changes [y/n]? ");
    let _ = out.flush();
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .take(256)
        .read_line(&mut line)
        .map_err(|e| Failure::local(format!("cannot read the answer: {e}")))?;
    let _ = writeln!(out);
    Ok(matches!(
        line.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

/// The `*` listener of `transport`, if configured.
fn any_listener(store: &ConfigStore, transport: Transport) -> Option<&Listener> {
    store
        .config()
        .listeners
        .iter()
        .find(|l| l.address == ListenerAddress::Any && l.transport == transport)
}

/// Run quickconfig on `dir`, printing to `out`.
pub(crate) fn run(dir: &Path, s: &Switches, out: &mut dyn Write) -> Result<(), Failure> {
    let mut store = ConfigStore::open(dir).map_err(|e| Failure::local(e.to_string()))?;
    let transport = match s.transport {
        QuickTransport::Http => Transport::Http,
        QuickTransport::Https => Transport::Https,
    };
    // The system unit serves the default directory; for another directory we only say how
    // to start the daemon.
    let manage_unit = dir == Path::new(DEFAULT_DIR) && systemd_running() && unit_installed();
    let running = manage_unit
        && systemctl_ok(&["is-active", "--quiet", UNIT])
        && systemctl_ok(&["is-enabled", "--quiet", UNIT]);

    let mut steps = Vec::new();
    match any_listener(&store, transport) {
        None => steps.push(Step::CreateListener),
        Some(l) if !l.enabled => steps.push(Step::EnableListener),
        Some(_) => {}
    }
    if !store.config().service.auth.basic {
        steps.push(Step::EnableBasic);
    }
    if manage_unit && !running {
        steps.push(Step::StartService);
    }
    // The port the listener has, or will have once created.
    let port = any_listener(&store, transport).map_or_else(
        || {
            store
                .config()
                .service
                .default_ports
                .for_transport(transport)
        },
        |l| l.port,
    );
    let firewall_note = firewall_step(s.skip_firewall, port, &mut steps);

    if running {
        let _ = writeln!(out, "WinRM service is already running on this machine.");
    }
    if steps.is_empty() {
        let _ = writeln!(
            out,
            "WinRM is already set up for remote management on this computer."
        );
        let _ = writeln!(out, "{firewall_note}");
        footer(dir, transport, &store, manage_unit, out);
        return Ok(());
    }
    announce(&steps, transport, port, out);
    let confirmed = s.quiet || s.force || confirm(out)?;
    if !confirmed {
        let _ = writeln!(out, "No changes were made.");
        return Err(Failure::local(
            "quickconfig was not confirmed; nothing changed",
        ));
    }

    let mut done = Vec::new();
    for step in &steps {
        done.push(apply(step, &mut store, transport, port)?);
    }
    let _ = writeln!(out, "WinRM has been updated for remote management.\n");
    for d in done {
        let _ = writeln!(out, "{d}");
    }
    if !firewall_note.is_empty() {
        let _ = writeln!(out, "{firewall_note}");
    }
    footer(dir, transport, &store, manage_unit, out);
    Ok(())
}

/// What the host firewall needs for `port`: a step pushed onto `steps` when it must be
/// opened, else the sentence that says why not (empty when a step was pushed).
fn firewall_step(skip_firewall: bool, port: u16, steps: &mut Vec<Step>) -> String {
    if skip_firewall {
        return format!("The host firewall was not changed (-skipFirewall): TCP port {port} may still be closed.");
    }
    match firewall::inspect(port) {
        Inspection::NoFirewall => format!(
            "No active host firewall (firewalld, ufw or nftables) was found: TCP port {port} needs no exception."
        ),
        Inspection::AlreadyOpen { firewall } => {
            format!("The WinRM firewall exception is already enabled: {firewall} accepts TCP port {port}.")
        }
        Inspection::Unknown { reason } => format!(
            "Warning: the host firewall could not be read ({reason}); make sure TCP port {port} is open."
        ),
        needed => {
            steps.push(Step::OpenFirewall(needed));
            String::new()
        }
    }
}

/// The changes about to be made, one line each, as Windows' quickconfig lists them.
fn announce(steps: &[Step], transport: Transport, port: u16, out: &mut dyn Write) {
    let t = transport.as_str();
    let _ = writeln!(
        out,
        "WinRM is not set up to allow remote access to this machine for management."
    );
    let _ = writeln!(out, "The following changes must be made:\n");
    for step in steps {
        let _ = match step {
            Step::CreateListener => writeln!(out, "Create a WinRM listener on {t}://* to accept WS-Man requests to any IP on this machine."),
            Step::EnableListener => writeln!(out, "Enable the WinRM listener on {t}://*."),
            Step::EnableBasic => writeln!(out, "Enable Basic authentication (Service/Auth/Basic), the authentication scheme wsmand offers."),
            Step::StartService => writeln!(out, "Enable and start the WinRM service (systemctl enable --now {UNIT})."),
            Step::OpenFirewall(_) => writeln!(out, "Enable the WinRM firewall exception: accept TCP port {port} in the host firewall."),
        };
    }
    let _ = writeln!(out);
}

/// Make one change; what was done, in a sentence.
fn apply(
    step: &Step,
    store: &mut ConfigStore,
    transport: Transport,
    port: u16,
) -> Result<String, Failure> {
    let t = transport.as_str();
    match step {
        Step::CreateListener => {
            store
                .create(
                    LISTENER_URI,
                    &listener_selectors(transport),
                    None,
                    &host_name(),
                )
                .map_err(|fault| Failure::LocalFault { fault })?;
            let mut line = format!("Created a WinRM listener on {t}://* to accept WS-Man requests to any IP on this machine.");
            if transport == Transport::Https {
                if let Some(l) = any_listener(store, transport) {
                    line.push_str(&format!(
                        "\nCertificate thumbprint: {}",
                        l.certificate_thumbprint
                    ));
                }
            }
            Ok(line)
        }
        Step::EnableListener => {
            let body = parse_xml(&format!(
                "<cfg:Listener xmlns:cfg=\"{LISTENER_URI}\"><cfg:Enabled>true</cfg:Enabled></cfg:Listener>"
            ))?;
            store
                .put(LISTENER_URI, &listener_selectors(transport), Some(&body))
                .map_err(|fault| Failure::LocalFault { fault })?;
            Ok(format!("Enabled the WinRM listener on {t}://*."))
        }
        Step::EnableBasic => {
            let body = parse_xml(&format!(
                "<cfg:Auth xmlns:cfg=\"{SERVICE_AUTH_URI}\"><cfg:Basic>true</cfg:Basic></cfg:Auth>"
            ))?;
            store
                .put(SERVICE_AUTH_URI, &SelectorSet::default(), Some(&body))
                .map_err(|fault| Failure::LocalFault { fault })?;
            Ok("Enabled Basic authentication (Service/Auth/Basic = true): it is the authentication scheme wsmand offers today.".to_owned())
        }
        Step::StartService => {
            let status = Process::new("systemctl")
                .args(["enable", "--now", UNIT])
                .status()
                .map_err(|e| Failure::local(format!("cannot run systemctl: {e}")))?;
            if !status.success() {
                return Err(Failure::local(format!(
                    "systemctl enable --now {UNIT} failed ({status}); see journalctl -u {UNIT}"
                )));
            }
            Ok(format!("Enabled and started the WinRM service ({UNIT})."))
        }
        Step::OpenFirewall(inspection) => {
            firewall::open(inspection, port).map_err(|e| Failure::local(e.to_string()))
        }
    }
}

fn footer(
    dir: &Path,
    transport: Transport,
    store: &ConfigStore,
    manage_unit: bool,
    out: &mut dyn Write,
) {
    let cfg = store.config();
    if transport == Transport::Http && !cfg.service.allow_unencrypted {
        let _ = writeln!(
            out,
            "\nNote: Basic authentication over HTTP also needs Service/AllowUnencrypted=true, which \
             sends passwords in clear text; prefer `winrm quickconfig -transport:https`."
        );
    }
    if !manage_unit {
        let _ = writeln!(
            out,
            "\nThe wsmand service is not managed by systemd here; start the daemon with:\n    wsmand --config-dir {}",
            dir.display()
        );
    }
}
