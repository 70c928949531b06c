//! `wsmand wec` on the subscriptions stored in PostgreSQL, when `DIR/collector.toml` puts the
//! bookmarks there: every collector sharing the database serves them and takes a change
//! within seconds (each change gives the subscription a new version, which forwarders
//! subscribe to at their next refresh). Files of `DIR/subscriptions` stay served beside them
//! (a stored subscription of the same name wins) and `import` copies them in.

use std::io::Read as _;
use std::path::Path;

use anyhow::{bail, Context};
use wsman_collector::store::{self, Backend, Change, PostgresStore};
use wsman_collector::subscription_source;
use wsman_collector::subscriptions::{self, MAX_FILE_BYTES};

use super::{print_subscription, WecCommand};

/// Why `create`, `import` and `delete` are refused with the bookmarks in SQLite.
pub(super) const NEEDS_POSTGRES: &str = "subscriptions are stored in the database only with the bookmarks in PostgreSQL ([bookmarks] backend = \"postgres\" in DIR/collector.toml); on one node, put the file in DIR/subscriptions and reload";

/// Run `command` against the stored subscriptions; `false` when it is not one for them (no
/// PostgreSQL store, or a name that is not stored: the files answer).
pub(super) fn run(
    command: &WecCommand,
    config_dir: &Path,
    database: &Path,
) -> anyhow::Result<bool> {
    if matches!(
        command,
        WecCommand::Clients { .. } | WecCommand::Doctor { .. }
    ) {
        return Ok(false);
    }
    let backend = store::config::load(config_dir, database).map_err(anyhow::Error::msg)?;
    let Backend::Postgres(settings) = &backend else {
        return Ok(false);
    };
    let store = PostgresStore::open(settings).context("cannot open the PostgreSQL store")?;
    match command {
        WecCommand::List => list(&store, config_dir)?,
        WecCommand::Show { name } => {
            let (_, set) = store.subscription_set()?;
            let Some(s) = set.by_name(name) else {
                return Ok(false);
            };
            let (_, stored) = store.stored_subscriptions()?;
            let revision = stored.iter().find(|r| &r.name == name).map(|r| r.revision);
            print_subscription(s, Some(revision.unwrap_or_default()));
        }
        WecCommand::Enable { name } | WecCommand::Disable { name } => {
            let enabled = matches!(command, WecCommand::Enable { .. });
            match store.set_subscription_enabled(name, enabled)? {
                Change::Done(revision) => println!(
                    "{name}: {} (revision {revision}; every collector on the database serves it within seconds)",
                    if enabled { "enabled" } else { "disabled" }
                ),
                Change::Missing | Change::Exists => return Ok(false),
            }
        }
        WecCommand::Create { file, name } => {
            let text = read(file)?;
            let name = match name {
                Some(name) => name.clone(),
                None => stem(file)?,
            };
            match store.put_subscription(&name, &text, false)? {
                Change::Done(revision) => println!("{name}: created (revision {revision})"),
                Change::Exists => {
                    bail!("{name}: a subscription of that name is stored already (wsmand wec import replaces it)")
                }
                Change::Missing => bail!("{name}: not stored"),
            }
        }
        WecCommand::Import { files } => {
            for file in files {
                let name = stem(file)?;
                let text = read(file)?;
                match store.put_subscription(&name, &text, true)? {
                    Change::Done(revision) => {
                        println!(
                            "{name}: imported from {} (revision {revision})",
                            file.display()
                        )
                    }
                    Change::Exists | Change::Missing => bail!("{name}: not stored"),
                }
            }
        }
        WecCommand::Delete { name } => match store.delete_subscription(name)? {
            Change::Done(_) => println!("{name}: deleted (its forwarders' bookmarks are kept)"),
            Change::Missing | Change::Exists => bail!("no stored subscription {name:?}"),
        },
        WecCommand::Clients { .. } | WecCommand::Doctor { .. } => return Ok(false),
    }
    Ok(true)
}

/// `list`: what the collectors serve, by the daemon's own rule
/// ([`subscription_source::merge`]): the stored subscriptions, then the files the database
/// does not shadow.
fn list(store: &PostgresStore, config_dir: &Path) -> anyhow::Result<()> {
    use wsman_collector::store::Store as _;
    let (generation, set) = store.subscription_set()?;
    let files = subscriptions::load_dir(&config_dir.join("subscriptions"));
    let merged = subscription_source::merge(set, files);
    println!(
        "{:<24} {:<8} {:<36} {:>8}  FROM",
        "NAME", "ENABLED", "VERSION", "CLIENTS"
    );
    for (index, s) in merged.set.subscriptions.iter().enumerate() {
        let clients = store.clients(&s.name).map_or(0, |c| c.len());
        let from = if index < merged.stored {
            "database"
        } else {
            "file"
        };
        println!(
            "{:<24} {:<8} {:<36} {:>8}  {from}",
            s.name, s.enabled, s.version, clients
        );
    }
    for s in &merged.shadowed {
        eprintln!(
            "not served: {} (the database holds {})",
            s.file.display(),
            s.name
        );
    }
    for error in &merged.set.errors {
        eprintln!("refused: {error}");
    }
    eprintln!("generation {generation} of the stored subscriptions");
    Ok(())
}

/// A subscription file's text (bounded as the daemon bounds it).
fn read(file: &Path) -> anyhow::Result<String> {
    let handle =
        std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    let mut text = String::new();
    handle
        .take(MAX_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .with_context(|| format!("cannot read {}", file.display()))?;
    if text.len() as u64 > MAX_FILE_BYTES {
        bail!("{}: larger than {MAX_FILE_BYTES} bytes", file.display());
    }
    Ok(text)
}

/// The subscription name a file gives: its stem.
fn stem(file: &Path) -> anyhow::Result<String> {
    file.file_stem()
        .and_then(|s| s.to_str())
        .map(str::to_owned)
        .with_context(|| {
            format!(
                "{}: no file name to take the subscription's from",
                file.display()
            )
        })
}
