//! `wsmand wec doctor`: a Kerberos collector setup checked end to end, each problem said in
//! words with its fix.
//!
//! Why in-process GSS-API rather than reading files: a keytab can look right (the SPN is
//! there) and still be useless (re-keyed in the KDC since it was exported, a host name the
//! forwarders do not use, a clock the KDC refuses). The one proof is what a forwarder does:
//! get a ticket for `HTTP/<host>` from the KDC and have the collector's acceptor take it. The
//! doctor does both in one process, the initiator acting as the service principal with the
//! keytab's own key (as `kinit -k` then `kvno` would), so a stale key, an unknown SPN, an
//! unreachable KDC and a skewed clock each fail with MIT's own reason, mapped to a fix.

use std::net::{IpAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use wsman_auth::keytab::{enctype_name, Keytab, PrincipalKeys};
use wsman_collector::subscriptions::{self, OutputConfig};
use wsman_gss::{AcceptStep, AcceptorOptions, InitStep, InitiatorMechanism, KerberosAcceptor};

/// Clock skew MIT Kerberos tolerates by default (`clockskew` in krb5.conf).
const ALLOWED_SKEW: Duration = Duration::from_secs(300);
/// Skew the doctor reports as a failure: close enough to the limit to break soon.
const SKEW_FAILURE: Duration = Duration::from_secs(240);
/// Enctypes Windows forwarders and current KDCs use by default.
const STRONG_ENCTYPES: [u16; 4] = [17, 18, 19, 20];

/// What the doctor was asked to check.
#[derive(Debug)]
pub(crate) struct DoctorOptions {
    /// The name forwarders use for the collector; `None`: a listener's `Hostname`, else this
    /// machine's host name.
    pub host: Option<String>,
    /// The keytab; `None`: `DIR/krb5.keytab`, the daemon's.
    pub keytab: Option<PathBuf>,
    /// Also check `WSMAN/<host>`.
    pub wsman: bool,
}

/// The outcome of the checks, in order.
#[derive(Debug, Default)]
pub(crate) struct Report {
    lines: Vec<(bool, String)>,
}

impl Report {
    fn pass(&mut self, text: String) {
        self.lines.push((true, text));
    }

    fn fail(&mut self, text: String) {
        self.lines.push((false, text));
    }

    /// How many checks failed.
    pub(crate) fn failures(&self) -> usize {
        self.lines.iter().filter(|(ok, _)| !ok).count()
    }

    /// One line per check: `ok:` or `FAIL:` and what to do.
    pub(crate) fn print(&self) {
        for (ok, text) in &self.lines {
            if *ok {
                println!("ok: {text}");
            } else {
                println!("FAIL: {text}");
            }
        }
    }
}

/// Run every check against the configuration in `config_dir`.
pub(crate) fn run(options: &DoctorOptions, config_dir: &Path, database: &Path) -> Report {
    let mut report = Report::default();
    let config = wsman_config::ConfigStore::open(config_dir);
    let host = options
        .host
        .clone()
        .or_else(|| {
            config.as_ref().ok().and_then(|store| {
                store
                    .config()
                    .active_listeners()
                    .into_iter()
                    .map(|l| l.hostname)
                    .find(|h| !h.is_empty())
            })
        })
        .or_else(|| wsman_os::host::host_name().ok())
        .unwrap_or_default();
    check_service(&mut report, config.as_ref().ok(), config.as_ref().err());
    check_dns(&mut report, &host);
    let keytab_path = options
        .keytab
        .clone()
        .unwrap_or_else(|| config_dir.join(wsman_server::auth::kerberos::KEYTAB_FILE));
    let mut services = vec!["HTTP"];
    if options.wsman {
        services.push("WSMAN");
    }
    if let Some(keytab) = check_keytab(&mut report, &keytab_path, &host, &services) {
        for service in &services {
            if let Some(keys) = keys_for(&keytab, service, &host) {
                check_handshake(&mut report, &keytab_path, &keys, service, &host);
            }
        }
    }
    check_subscriptions(&mut report, config_dir, database);
    report
}

/// Forwarders whose deliveries the collector refuses (a forged or unmapped `Computer`, not
/// allowed), each named with why and the fix: they connect and authenticate, so nothing else
/// here would show them.
fn check_refusals(
    report: &mut Report,
    enabled: &[&subscriptions::Subscription],
    config_dir: &Path,
    database: &Path,
) {
    let Ok(store) = super::open_store(config_dir, database) else {
        return;
    };
    for subscription in enabled {
        let refused = store
            .clients(&subscription.name)
            .map_err(anyhow::Error::from)
            .and_then(|clients| {
                super::clients::refused_now(store.as_ref(), &subscription.name, &clients)
            });
        match refused {
            Ok(refused) if refused.is_empty() => report.pass(format!(
                "subscription {}: no forwarder's deliveries are refused",
                subscription.name
            )),
            Ok(refused) => {
                for r in refused {
                    report.fail(format!(
                        "subscription {}: the deliveries of forwarder {} are refused ({}, last at {}): {}",
                        subscription.name,
                        r.client,
                        r.reason.escape_debug(),
                        r.at.to_system_time(),
                        super::clients::fix_for(&r.reason)
                    ));
                }
            }
            Err(e) => report.fail(format!(
                "subscription {}: the refused forwarders cannot be read ({e})",
                subscription.name
            )),
        }
    }
}

fn check_service(
    report: &mut Report,
    store: Option<&wsman_config::ConfigStore>,
    error: Option<&wsman_config::ConfigError>,
) {
    let Some(store) = store else {
        report.fail(format!(
            "the configuration is refused ({}): fix it (wsmand check-config)",
            error.map(ToString::to_string).unwrap_or_default()
        ));
        return;
    };
    let config = store.config();
    if config.service.auth.kerberos {
        report.pass("Kerberos is allowed (winrm/config/service/auth Kerberos=true)".to_owned());
    } else {
        report.fail(
            "Kerberos is off for the service: winrm set winrm/config/service/auth @{Kerberos=\"true\"}"
                .to_owned(),
        );
    }
    let listeners = config.active_listeners();
    if listeners.is_empty() {
        report.fail(
            "no listener is active: forwarders cannot connect; winrm quickconfig, or winrm create winrm/config/listener?Address=*+Transport=HTTP"
                .to_owned(),
        );
    } else {
        let names: Vec<String> = listeners
            .iter()
            .map(|l| format!("{}:{}", l.transport, l.port))
            .collect();
        report.pass(format!("listening on {}", names.join(", ")));
    }
}

/// The name forwarders use must resolve, and its addresses back to it: Windows asks for
/// `HTTP/<the name in Server=>`, and a Kerberos client that canonicalises names asks for
/// the reverse name.
fn check_dns(report: &mut Report, host: &str) {
    if host.is_empty() {
        report.fail("no host name to check: give the one forwarders use (--host NAME)".to_owned());
        return;
    }
    let addresses: Vec<IpAddr> = match (host, 0).to_socket_addrs() {
        Ok(found) => {
            let mut ips: Vec<IpAddr> = found.map(|a| a.ip()).collect();
            ips.sort();
            ips.dedup();
            ips
        }
        Err(e) => {
            report.fail(format!(
                "{host} does not resolve ({e}): forwarders cannot reach the collector by that name; add its A/AAAA record (or /etc/hosts entry), or give the name forwarders use (--host NAME)"
            ));
            return;
        }
    };
    let shown: Vec<String> = addresses.iter().map(ToString::to_string).collect();
    report.pass(format!("{host} resolves to {}", shown.join(", ")));
    for address in addresses {
        match wsman_os::resolve::reverse_name(address) {
            Some(name) if name.eq_ignore_ascii_case(host) => {
                report.pass(format!("{address} resolves back to {host}"));
            }
            Some(name) => report.fail(format!(
                "{address} resolves back to {name} rather than {host}: clients that canonicalise names (rdns) ask for HTTP/{name}; fix the PTR record (or /etc/hosts) so {address} names {host}"
            )),
            None => report.fail(format!(
                "{address} has no reverse name: add a PTR record for {host} (clients with rdns=true ask for the reverse name)"
            )),
        }
    }
}

fn keys_for(keytab: &Keytab, service: &str, host: &str) -> Option<PrincipalKeys> {
    keytab.principals().into_iter().find(|keys| {
        keys.principal
            .service()
            .is_some_and(|s| s.eq_ignore_ascii_case(service))
            && keys
                .principal
                .host()
                .is_some_and(|h| h.eq_ignore_ascii_case(host))
    })
}

fn check_keytab(report: &mut Report, path: &Path, host: &str, services: &[&str]) -> Option<Keytab> {
    let keytab = match wsman_auth::keytab::read_keytab_file(path, wsman_os::process::daemon_uid()) {
        Ok(keytab) => keytab,
        Err(e) => {
            report.fail(format!(
                    "the keytab cannot be used ({e}): install the collector's keytab as {} (owned by the daemon's user, mode 0600)",
                    path.display()
                ));
            return None;
        }
    };
    for service in services {
        let Some(keys) = keys_for(&keytab, service, host) else {
            let elsewhere = keytab.hosts_for(service);
            if elsewhere.is_empty() {
                let held: Vec<String> = keytab
                    .principals()
                    .iter()
                    .map(|k| k.principal.to_string())
                    .collect();
                report.fail(format!(
                    "the keytab {} has no {service}/ principal at all (it holds: {}): export {service}/{host} into it (MIT: kadmin ktadd -k KEYTAB {service}/{host}; Active Directory: setspn -S {service}/{host} ACCOUNT, then ktpass)",
                    path.display(),
                    if held.is_empty() { "nothing".to_owned() } else { held.join(", ") }
                ));
            } else {
                report.fail(format!(
                    "the keytab has no key for {service}/{host}, only for {service}/{}: forwarders ask for {service}/<the host name in their Server= value>; if that is {host}, add {service}/{host} to the keytab, else run the doctor with that name (--host NAME)",
                    elsewhere.join(", ")
                ));
            }
            continue;
        };
        let strong: Vec<&str> = keys
            .enctypes
            .iter()
            .filter(|e| STRONG_ENCTYPES.contains(e))
            .filter_map(|e| enctype_name(*e))
            .collect();
        let kvno = keys.kvnos.last().copied().unwrap_or(0);
        if strong.is_empty() {
            let weak: Vec<String> = keys
                .enctypes
                .iter()
                .map(|e| enctype_name(*e).map_or(e.to_string(), str::to_owned))
                .collect();
            report.fail(format!(
                "{} (kvno {kvno}) has only {} keys, which Windows forwarders and current KDCs refuse: export it again with aes256-cts-hmac-sha1-96 (ktpass /crypto AES256-SHA1, or kadmin ktadd -e aes256-cts-hmac-sha1-96:normal)",
                keys.principal,
                weak.join(", ")
            ));
        } else {
            report.pass(format!(
                "the keytab has {} (kvno {kvno}; {})",
                keys.principal,
                strong.join(", ")
            ));
        }
    }
    Some(keytab)
}

/// A forwarder's view: a ticket for `service/host` got from the KDC with the keytab's own
/// key, taken by an acceptor over the same keytab; then the clock against the ticket's
/// authentication time (the KDC's clock).
fn check_handshake(
    report: &mut Report,
    keytab: &Path,
    keys: &PrincipalKeys,
    service: &str,
    host: &str,
) {
    let principal = keys.principal.to_string();
    let kvno = keys.kvnos.last().copied().unwrap_or(0);
    let ccache = format!("MEMORY:wsmand-doctor-{}-{service}", std::process::id());
    // The acceptor's replay cache: our own, removed afterwards (the daemon's is left alone).
    let replay_dir =
        std::env::temp_dir().join(format!("wsmand-doctor-{}-{service}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&replay_dir) {
        report.fail(format!(
            "cannot create a temporary replay cache in {} ({e})",
            replay_dir.display()
        ));
        return;
    }
    let outcome = (|| -> Result<SystemTime, wsman_gss::GssError> {
        let acceptor = KerberosAcceptor::new(&AcceptorOptions {
            keytab: keytab.to_owned(),
            replay_cache: Some(replay_dir.join("rcache")),
        })?;
        let initiator = wsman_gss::KerberosInitiator::from_keytab(
            &principal,
            keytab,
            &ccache,
            service,
            host,
            InitiatorMechanism::Kerberos,
        )?;
        let mut client = initiator.context(None)?;
        let mut server = acceptor.context(None);
        let mut token = match client.step(None)? {
            InitStep::Continue(token) => token,
            InitStep::Complete { .. } => {
                return Err(wsman_gss::GssError::State("completed without a token"))
            }
        };
        for _ in 0..4 {
            match server.step(&token)? {
                AcceptStep::Complete(_) => return server.ticket_auth_time(),
                AcceptStep::Continue(next) => {
                    token = match client.step(Some(&next))? {
                        InitStep::Continue(token) => token,
                        InitStep::Complete { .. } => break,
                    };
                }
            }
        }
        Err(wsman_gss::GssError::State("the handshake did not complete"))
    })();
    let _ = std::fs::remove_dir_all(&replay_dir);
    match outcome {
        Ok(auth_time) => {
            report.pass(format!(
                "a ticket for {service}/{host} from the KDC is accepted with the keytab's key (kvno {kvno})"
            ));
            let now = SystemTime::now();
            let (skew, ahead) = match now.duration_since(auth_time) {
                Ok(behind) => (behind, true),
                Err(e) => (e.duration(), false),
            };
            let direction = if ahead { "ahead of" } else { "behind" };
            let text = format!(
                "this clock is {} s {direction} the KDC's (the ticket's authentication time; Kerberos allows {} s)",
                skew.as_secs(),
                ALLOWED_SKEW.as_secs()
            );
            if skew > SKEW_FAILURE {
                report.fail(format!(
                    "{text}: synchronise this host's clock with the domain's time source (chrony or systemd-timesyncd against the domain controllers)"
                ));
            } else {
                report.pass(text);
            }
        }
        Err(error) => report.fail(explain(&error.to_string(), service, host, kvno)),
    }
}

/// MIT's reason for a failed handshake, in words, with the fix.
fn explain(reason: &str, service: &str, host: &str, kvno: u32) -> String {
    let lower = reason.to_ascii_lowercase();
    let spn = format!("{service}/{host}");
    if lower.contains("key version")
        || lower.contains("kvno")
        || lower.contains("preauthentication failed")
        || lower.contains("password incorrect")
        || lower.contains("integrity check")
        || lower.contains("bad encryption type")
    {
        format!(
            "the keytab's key for {spn} (kvno {kvno}) is not the KDC's current key: the principal was re-keyed after this keytab was exported (a password reset of its account, ktpass /setpass, or another ktadd); export the keytab again and install it ({reason})"
        )
    } else if lower.contains("clock skew") {
        format!(
            "this clock differs from the KDC's by more than Kerberos allows: synchronise it with the domain's time source (chrony or systemd-timesyncd) ({reason})"
        )
    } else if lower.contains("not found in kerberos database") {
        format!(
            "the KDC does not know {spn}: register it for the collector (Active Directory: setspn -S {spn} ACCOUNT; MIT: kadmin addprinc -randkey {spn}), or use the name the KDC knows ({reason})"
        )
    } else if lower.contains("cannot contact") || lower.contains("cannot find kdc") {
        format!(
            "no KDC of the realm answers: check krb5.conf ([realms] kdc, or DNS SRV records _kerberos._udp.REALM) and that port 88 is reachable ({reason})"
        )
    } else {
        format!("Kerberos to {spn} failed: {reason}")
    }
}

fn check_subscriptions(report: &mut Report, config_dir: &Path, database: &Path) {
    let dir = config_dir.join("subscriptions");
    let set = subscriptions::load_dir(&dir);
    for error in &set.errors {
        report.fail(format!(
            "a subscription is refused: {error}; fix the file (wsmand wec list shows them)"
        ));
    }
    let enabled: Vec<_> = set.subscriptions.iter().filter(|s| s.enabled).collect();
    if enabled.is_empty() {
        report.fail(format!(
            "no enabled subscription in {}: forwarders get nothing to subscribe to; add one (docs/collector.md) or wsmand wec enable NAME",
            dir.display()
        ));
        return;
    }
    let names: Vec<&str> = enabled.iter().map(|s| s.name.as_str()).collect();
    report.pass(format!("enabled subscriptions: {}", names.join(", ")));
    for subscription in &enabled {
        if subscription.outputs.is_empty() {
            report.fail(format!(
                "subscription {} has no output: its events are stored nowhere; add an [[outputs]] table",
                subscription.name
            ));
        }
        for output in &subscription.outputs {
            // A Kafka output's settings are checked when it starts (`check-config` starts
            // every output); its brokers are a network check this Kerberos doctor leaves out.
            let OutputConfig::File { path, .. } = output else {
                continue;
            };
            let fixed = fixed_directory(path);
            match writable(&fixed) {
                Ok(()) => report.pass(format!(
                    "subscription {}: the output directory {} is writable",
                    subscription.name,
                    fixed.display()
                )),
                Err(e) => report.fail(format!(
                    "subscription {}: cannot write under {} ({e}): create it, writable by the daemon's user",
                    subscription.name,
                    fixed.display()
                )),
            }
        }
    }
    check_refusals(report, &enabled, config_dir, database);
    match wsman_collector::store::config::load(config_dir, database) {
        Err(e) => report.fail(format!("the bookmark store's settings: {e}")),
        Ok(wsman_collector::store::Backend::Sqlite { path }) => {
            if let Some(parent) = path.parent() {
                if let Err(e) = writable(parent) {
                    report.fail(format!(
                        "the bookmark database's directory {} is not writable ({e}): create it, writable by the daemon's user (--wec-database FILE)",
                        parent.display()
                    ));
                }
            }
        }
        Ok(backend @ wsman_collector::store::Backend::Postgres(_)) => {
            match wsman_collector::store::open(&backend) {
                Ok(_) => report.pass("the bookmark store (PostgreSQL) answers and its schema is current".to_owned()),
                Err(e) => report.fail(format!(
                    "the bookmark store: {e}; check [bookmarks] in collector.toml and that the database accepts this host"
                )),
            }
        }
    }
}

/// The part of an output path template before its first placeholder, as a directory: what
/// must exist (or be creatable) before any forwarder delivers.
fn fixed_directory(template: &str) -> PathBuf {
    let mut fixed = PathBuf::from("/");
    let mut parts = template.split('/').filter(|p| !p.is_empty()).peekable();
    while let Some(part) = parts.next() {
        if part.contains('{') || parts.peek().is_none() {
            break;
        }
        fixed.push(part);
    }
    fixed
}

/// Whether a file can be created in `dir` (or in its nearest existing ancestor, where the
/// output would create the rest).
fn writable(dir: &Path) -> std::io::Result<()> {
    let mut existing = dir;
    while !existing.exists() {
        existing = existing.parent().unwrap_or(Path::new("/"));
    }
    let probe = existing.join(format!(".wsmand-doctor-{}", std::process::id()));
    std::fs::File::create(&probe)?;
    std::fs::remove_file(&probe)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixed_directory_stops_at_the_first_placeholder() {
        assert_eq!(
            fixed_directory("/var/log/wec/{subscription}/{client}.log"),
            PathBuf::from("/var/log/wec")
        );
        assert_eq!(
            fixed_directory("/var/log/wec/all.log"),
            PathBuf::from("/var/log/wec")
        );
    }

    #[test]
    fn mit_reasons_map_to_their_fix() {
        let stale = explain(
            "Kerberos authentication failed: Preauthentication failed",
            "HTTP",
            "h",
            3,
        );
        assert!(stale.contains("re-keyed"), "{stale}");
        let skew = explain("Clock skew too great", "HTTP", "h", 3);
        assert!(skew.contains("synchronise"), "{skew}");
        let unknown = explain(
            "Server HTTP/h@R not found in Kerberos database",
            "HTTP",
            "h",
            3,
        );
        assert!(unknown.contains("setspn"), "{unknown}");
    }
}
