//! `wsmand wec`: the collector's subscriptions and forwarders, as `wecutil` shows them.
//!
//! Reads `DIR/subscriptions/*.toml` and the bookmark database directly (a running daemon is
//! not needed); `enable` and `disable` rewrite the subscription's file, and a running daemon
//! takes the change on SIGHUP (`systemctl reload wsmand`). With the bookmarks in PostgreSQL,
//! the subscriptions stored there are listed, shown and edited there ([`shared`]), and every
//! node serving that database takes a change within seconds.

mod clients;
mod doctor;
mod shared;

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{bail, Context};
use std::sync::Arc;

use wsman_collector::store::{self, Backend, Store};
use wsman_collector::subscriptions::{self, Subscription};
use wsman_events::Timestamp;

#[derive(Debug, clap::Subcommand)]
pub(crate) enum WecCommand {
    /// List every subscription of DIR/subscriptions: name, enabled, version, forwarders,
    /// and the files that were refused with why.
    List,
    /// Show one subscription in full: its file, identifier, version, query, delivery
    /// settings, who may have it, and its outputs.
    Show { name: String },
    /// Set `enabled = true` in the subscription's file (forwarders get it at their next
    /// refresh once the daemon has reloaded: `systemctl reload wsmand`), or in the PostgreSQL
    /// store when it is stored there (every node takes it within seconds; its version changes).
    Enable { name: String },
    /// Set `enabled = false` in the subscription's file (after a reload, forwarders are no
    /// longer offered it and their deliveries to it are refused), or in the PostgreSQL store.
    Disable { name: String },
    /// Store a new subscription in the PostgreSQL store from FILE (the format of
    /// DIR/subscriptions/*.toml; its name is the file's stem unless --name). Needs the bookmarks
    /// in PostgreSQL (DIR/collector.toml); refused when the name is stored already.
    Create {
        file: PathBuf,
        #[arg(long)]
        name: Option<String>,
    },
    /// Copy subscription files (DIR/subscriptions/*.toml, say) into the PostgreSQL store,
    /// replacing stored ones of the same names; each change gives a new version, which
    /// forwarders subscribe to at their next refresh.
    Import {
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Remove a subscription from the PostgreSQL store (its forwarders' bookmarks are kept).
    Delete { name: String },
    /// The forwarders of one subscription: last event, last heartbeat and state. Active: an
    /// event within the subscription's heartbeat interval; alive: a heartbeat (or event)
    /// within the interval plus half of it (at most a minute more); dead: neither.
    Clients {
        name: String,
        /// Only the forwarders silent (no event, no heartbeat) for more than N heartbeat
        /// intervals, the longest silent first, with how long; N is `[clients]
        /// silent_after_heartbeats` of collector.toml (default 3), as the daemon's
        /// `wsman_wec_silent_clients` counts them.
        #[arg(long)]
        silent: bool,
        /// N for `--silent` instead of collector.toml's.
        #[arg(long, value_name = "N", requires = "silent")]
        silent_after: Option<u32>,
    },
    /// Check a Kerberos collector setup end to end and say what is wrong: the host name
    /// forwarders use (DNS forward and reverse), the keytab's HTTP/<host> (and WSMAN/<host>)
    /// with usable enctypes, a ticket from the KDC accepted with the keytab's key (a stale
    /// kvno fails here), the clock against the KDC's, Kerberos allowed, a listener, an
    /// enabled subscription, writable outputs. Exit status 0 only when every check passes.
    Doctor {
        /// The host name forwarders use for the collector (the one in their Group Policy
        /// Server= value); default: a listener's Hostname, else this machine's host name.
        #[arg(long)]
        host: Option<String>,
        /// The keytab to check (default: DIR/krb5.keytab, the daemon's).
        #[arg(long)]
        keytab: Option<PathBuf>,
        /// Also check WSMAN/<host> (for clients that ask for the WSMAN service class).
        #[arg(long)]
        wsman: bool,
    },
}

/// Run `wsmand wec COMMAND` against DIR and the bookmark database.
pub(crate) fn run(command: WecCommand, config_dir: &Path, database: &Path) -> anyhow::Result<()> {
    if let WecCommand::Doctor {
        host,
        keytab,
        wsman,
    } = command
    {
        let report = doctor::run(
            &doctor::DoctorOptions {
                host,
                keytab,
                wsman,
            },
            config_dir,
            database,
        );
        report.print();
        let failures = report.failures();
        if failures > 0 {
            bail!("{failures} check(s) failed");
        }
        println!("the collector's Kerberos setup is sound");
        return Ok(());
    }
    if shared::run(&command, config_dir, database)? {
        return Ok(());
    }
    let set = subscriptions::load_dir(&config_dir.join("subscriptions"));
    let find = |name: &str| -> anyhow::Result<&Subscription> {
        set.by_name(name).with_context(|| {
            format!(
                "no subscription {name:?} in {}",
                config_dir.join("subscriptions").display()
            )
        })
    };
    match command {
        WecCommand::List => {
            println!(
                "{:<24} {:<8} {:<36} {:>8}",
                "NAME", "ENABLED", "VERSION", "CLIENTS"
            );
            let store = open_store(config_dir, database).ok();
            for s in &set.subscriptions {
                let clients = store
                    .as_ref()
                    .and_then(|st| st.clients(&s.name).ok())
                    .map_or(0, |c| c.len());
                println!(
                    "{:<24} {:<8} {:<36} {:>8}",
                    s.name, s.enabled, s.version, clients
                );
            }
            for error in &set.errors {
                eprintln!("refused: {error}");
            }
        }
        WecCommand::Show { name } => print_subscription(find(&name)?, None),
        WecCommand::Enable { name } | WecCommand::Disable { name }
            if set.by_name(&name).is_none() =>
        {
            find(&name)?;
        }
        WecCommand::Enable { name } => {
            subscriptions::set_enabled(&find(&name)?.file, true)?;
            println!("{name}: enabled (reload the daemon to apply)");
        }
        WecCommand::Disable { name } => {
            subscriptions::set_enabled(&find(&name)?.file, false)?;
            println!("{name}: disabled (reload the daemon to apply)");
        }
        WecCommand::Create { .. } | WecCommand::Import { .. } | WecCommand::Delete { .. } => {
            bail!("{}", shared::NEEDS_POSTGRES)
        }
        WecCommand::Doctor { .. } => {}
        WecCommand::Clients {
            name,
            silent,
            silent_after,
        } => {
            let s = find(&name)?;
            let store = open_store(config_dir, database)?;
            let now = Timestamp::from_system_time(SystemTime::now());
            let list = store.clients(&s.name)?;
            if silent {
                let after = match silent_after {
                    Some(n) => n,
                    None => store::config::silent_after(config_dir).map_err(anyhow::Error::msg)?,
                };
                clients::print_silent(s, list, after, now);
            } else {
                clients::print_clients(s, &list, now);
                clients::print_refused(&clients::refused_now(store.as_ref(), &s.name, &list)?);
            }
        }
    }
    Ok(())
}

/// `wsmand wec show`: a subscription in full; `stored` names its revision when it is in the
/// PostgreSQL store (else it is a file).
fn print_subscription(s: &Subscription, stored: Option<i64>) {
    println!("Name: {}", s.name);
    match stored {
        Some(revision) => println!("Stored: PostgreSQL (revision {revision})"),
        None => println!("File: {}", s.file.display()),
    }
    println!("Enabled: {}", s.enabled);
    println!("Identifier: {}", s.identifier);
    println!("Version: {}", s.version);
    println!("URIs: {}", s.uris.join(", "));
    println!("Query: {}", s.query.trim());
    println!(
        "MaxItems: {}",
        s.max_items.map_or("(none)".to_owned(), |m| m.to_string())
    );
    println!("MaxLatency: {} s", s.max_latency.as_secs());
    println!("Heartbeat: {} s", s.heartbeat.as_secs());
    println!("ContentFormat: {:?}", s.content_format);
    println!("ReadExistingEvents: {}", s.read_existing_events);
    println!("AllowedPrincipals: {}", s.allowed_principals.join(", "));
    println!("AllowedGroups: {}", s.allowed_groups.join(", "));
    for output in &s.outputs {
        println!("Output: {}", output.summary());
    }
    println!(
        "AllowedAddresses: {}",
        s.allowed_addresses
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
}

fn open_store(config_dir: &Path, database: &Path) -> anyhow::Result<Arc<dyn Store>> {
    let backend = store::config::load(config_dir, database).map_err(anyhow::Error::msg)?;
    if let Backend::Sqlite { path } = &backend {
        if !path.exists() {
            bail!(
                "no bookmark database at {} (no forwarder has delivered yet)",
                path.display()
            );
        }
    }
    store::open(&backend).context("cannot open the bookmark store")
}
