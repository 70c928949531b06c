//! `wsmand wec`: the collector's subscriptions and forwarders, as `wecutil` shows them.
//!
//! Reads `DIR/subscriptions/*.toml` and the bookmark database directly (a running daemon is
//! not needed); `enable` and `disable` rewrite the subscription's file, and a running daemon
//! takes the change on SIGHUP (`systemctl reload wsmand`).

use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context};
use wsman_collector::bookmarks::BookmarkStore;
use wsman_collector::subscriptions::{self, Subscription};
use wsman_events::Timestamp;

/// A forwarder that sent an event within this long is active.
const ACTIVE: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, clap::Subcommand)]
pub(crate) enum WecCommand {
    /// List every subscription of DIR/subscriptions: name, enabled, version, forwarders,
    /// and the files that were refused with why.
    List,
    /// Show one subscription in full: its file, identifier, version, query, delivery
    /// settings, who may have it, and its outputs.
    Show { name: String },
    /// Set `enabled = true` in the subscription's file (forwarders get it at their next
    /// refresh once the daemon has reloaded: `systemctl reload wsmand`).
    Enable { name: String },
    /// Set `enabled = false` in the subscription's file (after a reload, forwarders are no
    /// longer offered it and their deliveries to it are refused).
    Disable { name: String },
    /// The forwarders of one subscription: last event, last heartbeat and state. Active: an
    /// event in the last 15 minutes; alive: a heartbeat (or event) within the subscription's
    /// heartbeat interval (twice it, to allow for a late one); dead: neither.
    Clients { name: String },
}

/// Run `wsmand wec COMMAND` against DIR and the bookmark database.
pub(crate) fn run(command: WecCommand, config_dir: &Path, database: &Path) -> anyhow::Result<()> {
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
            let store = open_store(database).ok();
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
        WecCommand::Show { name } => {
            let s = find(&name)?;
            println!("Name: {}", s.name);
            println!("File: {}", s.file.display());
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
                match output {
                    subscriptions::OutputConfig::File { path, format } => {
                        println!("Output: file {path} ({format:?})")
                    }
                    subscriptions::OutputConfig::Kafka(kafka) => println!(
                        "Output: kafka topic {} at {} ({:?})",
                        kafka.topic,
                        kafka.brokers.join(","),
                        kafka.format
                    ),
                }
            }
        }
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
        WecCommand::Clients { name } => {
            let s = find(&name)?;
            let store = open_store(database)?;
            let now = Timestamp::from_system_time(SystemTime::now());
            println!(
                "{:<40} {:<30} {:<30} STATE",
                "CLIENT", "LAST EVENT", "LAST HEARTBEAT"
            );
            for client in store.clients(&s.name)? {
                let state = client_state(&client, s.heartbeat, now);
                let show =
                    |t: Option<Timestamp>| t.map_or("-".to_owned(), Timestamp::to_system_time);
                println!(
                    "{:<40} {:<30} {:<30} {state}",
                    client.client,
                    show(client.last_event),
                    show(client.last_heartbeat)
                );
            }
        }
    }
    Ok(())
}

fn open_store(database: &Path) -> anyhow::Result<BookmarkStore> {
    if !database.exists() {
        bail!(
            "no bookmark database at {} (no forwarder has delivered yet)",
            database.display()
        );
    }
    BookmarkStore::open(database).with_context(|| format!("cannot open {}", database.display()))
}

/// Active, alive or dead, as `Clients` explains.
pub(crate) fn client_state(
    client: &wsman_collector::bookmarks::ClientState,
    heartbeat: Duration,
    now: Timestamp,
) -> &'static str {
    let within = |t: Option<Timestamp>, d: Duration| {
        t.is_some_and(|t| now.saturating_duration_since(t) <= d)
    };
    if within(client.last_event, ACTIVE) {
        "active"
    } else if within(client.last_heartbeat, heartbeat * 2)
        || within(client.last_event, heartbeat * 2)
    {
        "alive"
    } else {
        "dead"
    }
}
