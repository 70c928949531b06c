//! PackageKit over D-Bus: what the Windows Update classes (`MSFT_WUOperations`) read and do.
//!
//! PackageKit is the distribution-neutral service Cockpit and GNOME Software use: the same
//! calls list and install updates on Debian (apt), Fedora and RHEL (dnf) or SUSE (zypper),
//! through the backend the host has. This crate knows PackageKit only: transactions, package
//! ids, info and restart enums, error codes. How those become Windows' MsrcSeverity, reboot
//! flag or HRESULTs is the provider's business.
//!
//! Why D-Bus and not `apt`/`dnf`: no command line is ever built from a client's input, the
//! answers are typed, progress arrives as signals, and the distribution's own policy (polkit,
//! its repositories, its locks) applies unchanged. The connection is the system bus by default
//! or any address (the tests run a real packagekitd with its dummy backend on a bus of their
//! own).
//!
//! Every answer is bounded ([`MAX_UPDATES`], [`MAX_TEXT`]): the daemon is trusted, but a
//! misbehaving backend must not make the caller buffer without end.
#![forbid(unsafe_code)]

mod proxy;

use futures_util::StreamExt as _;

use proxy::{PackageKitProxy, TransactionProxy};

/// Most updates one scan keeps; a host has at most a few thousand packages pending.
pub const MAX_UPDATES: usize = 10_000;
/// Longest text kept of one field (a description, a changelog); longer is cut.
pub const MAX_TEXT: usize = 16 * 1024;

/// GetUpdates without a filter, as `pkcon get-updates` asks.
const FILTER_NONE: u64 = 0;
/// Transaction flags (`PK_TRANSACTION_FLAG_ENUM_*` as bits).
const FLAG_ONLY_TRUSTED: u64 = 1 << 1;
const FLAG_ONLY_DOWNLOAD: u64 = 1 << 3;
/// `PK_EXIT_ENUM_SUCCESS`.
const EXIT_SUCCESS: u32 = 1;
/// `PK_EXIT_ENUM_CANCELLED`.
const EXIT_CANCELLED: u32 = 3;

/// What can go wrong talking to PackageKit.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bus could not be reached, or PackageKit is not on it.
    #[error("cannot reach PackageKit over D-Bus at {address}: {source}")]
    Connect {
        address: String,
        #[source]
        source: Box<zbus::Error>,
    },
    /// A D-Bus call failed (PackageKit refused it, or the bus went away).
    #[error("PackageKit D-Bus call {call} failed: {source}")]
    Bus {
        call: &'static str,
        #[source]
        source: Box<zbus::Error>,
    },
    /// The transaction ended with PackageKit's ErrorCode (the backend's failure).
    #[error("PackageKit {role} failed with error code {code}: {details}")]
    Failed {
        role: &'static str,
        /// PackageKit's `PkErrorEnum`.
        code: u32,
        details: String,
    },
    /// The transaction ended without success and without an error code (cancelled, killed).
    #[error("PackageKit {role} ended with exit code {exit}")]
    Exit { role: &'static str, exit: u32 },
    /// The transaction did not finish within the time its caller gives it at most.
    #[error("PackageKit {role} did not finish within {after:?}")]
    Stalled {
        role: &'static str,
        after: std::time::Duration,
    },
    /// The backend listed more than [`MAX_UPDATES`] packages.
    #[error("PackageKit listed more than {MAX_UPDATES} updates")]
    TooMany,
}

/// An update's kind, from the info of PackageKit's `Package` signal (`PkInfoEnum`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Info {
    Low,
    Enhancement,
    Normal,
    Bugfix,
    Important,
    Security,
    Critical,
    /// Any other value (installed, available, blocked, ...).
    Other(u32),
}

impl Info {
    /// The enum's value (the low 16 bits of the signal's `info`).
    pub fn from_enum(value: u32) -> Self {
        match value {
            3 => Self::Low,
            4 => Self::Enhancement,
            5 => Self::Normal,
            6 => Self::Bugfix,
            7 => Self::Important,
            8 => Self::Security,
            26 => Self::Critical,
            other => Self::Other(other),
        }
    }
}

/// Whether an update needs a restart (`PkRestartEnum`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restart {
    Unknown,
    None,
    Application,
    Session,
    System,
    SecuritySession,
    SecuritySystem,
}

impl Restart {
    pub fn from_enum(value: u32) -> Self {
        match value {
            1 => Self::None,
            2 => Self::Application,
            3 => Self::Session,
            4 => Self::System,
            5 => Self::SecuritySession,
            6 => Self::SecuritySystem,
            _ => Self::Unknown,
        }
    }

    /// Whether the machine must reboot for the update to take effect.
    pub fn needs_reboot(self) -> bool {
        matches!(self, Self::System | Self::SecuritySystem)
    }
}

/// What GetUpdateDetail says of one update.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Detail {
    pub restart: Restart,
    pub update_text: String,
    pub vendor_urls: Vec<String>,
    pub bugzilla_urls: Vec<String>,
    pub cve_urls: Vec<String>,
    /// ISO 8601 as the backend gives it, empty when unknown.
    pub issued: String,
    pub updated: String,
}

/// One pending update.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Update {
    /// `name;version;arch;repository`.
    pub package_id: String,
    pub info: Info,
    /// The advisory's own grade when the backend gives one (the high 16 bits of `info`,
    /// PackageKit 1.2.4 and later): Low, Normal, Important or Critical.
    pub severity: Option<Info>,
    pub summary: String,
    /// `None` when the backend gave no detail for it.
    pub detail: Option<Detail>,
}

impl Update {
    /// The package name, the first field of the id.
    pub fn name(&self) -> &str {
        self.package_id.split(';').next().unwrap_or("")
    }

    /// The version, the second field of the id.
    pub fn version(&self) -> &str {
        self.package_id.split(';').nth(1).unwrap_or("")
    }
}

/// How an install went.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Installed {
    /// The package ids PackageKit reported as updated or installed.
    pub packages: Vec<String>,
    /// Whether PackageKit's RequireRestart asked for a reboot.
    pub restart_signalled: bool,
}

/// A progress report of a running transaction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// 0..=100, `None` while PackageKit does not know (its 101).
    pub percentage: Option<u32>,
    /// The package being worked on, when one was named.
    pub package: Option<String>,
}

/// A connection to PackageKit.
#[derive(Clone, Debug)]
pub struct PackageKit {
    connection: zbus::Connection,
    daemon: PackageKitProxy<'static>,
    address: String,
}

impl PackageKit {
    /// Connect over the system bus (`address` `None`, which honours
    /// `DBUS_SYSTEM_BUS_ADDRESS`) or the given D-Bus address.
    pub async fn connect(address: Option<&str>) -> Result<PackageKit, Error> {
        let shown = address.unwrap_or("the system bus").to_owned();
        let connect_error = |source| Error::Connect {
            address: shown.clone(),
            source: Box::new(source),
        };
        let builder = match address {
            Some(address) => zbus::connection::Builder::address(address).map_err(connect_error)?,
            None => zbus::connection::Builder::system().map_err(connect_error)?,
        };
        let connection = builder.build().await.map_err(connect_error)?;
        let daemon = PackageKitProxy::new(&connection)
            .await
            .map_err(connect_error)?;
        Ok(PackageKit {
            connection,
            daemon,
            address: shown,
        })
    }

    /// Where this connection goes, for log lines.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// PackageKit's version, `1.2.6` (what `GetWUAVersion` answers with on Linux).
    pub async fn version(&self) -> Result<String, Error> {
        let part = |r: zbus::Result<u32>| r.map_err(bus("Get Version"));
        Ok(format!(
            "{}.{}.{}",
            part(self.daemon.version_major().await)?,
            part(self.daemon.version_minor().await)?,
            part(self.daemon.version_micro().await)?
        ))
    }

    /// Every pending update with its details (GetUpdates, then GetUpdateDetail of them all).
    pub async fn updates(&self) -> Result<Vec<Update>, Error> {
        let listed = self
            .transaction(
                "GetUpdates",
                |t| async move { t.get_updates(FILTER_NONE).await },
            )
            .await?;
        let mut updates = Vec::new();
        for (info, package_id, summary) in listed.packages {
            if updates.len() >= MAX_UPDATES {
                return Err(Error::TooMany);
            }
            let severity = match info >> 16 {
                0 => None,
                grade => Some(Info::from_enum(grade)),
            };
            updates.push(Update {
                package_id,
                info: Info::from_enum(info & 0xffff),
                severity,
                summary,
                detail: None,
            });
        }
        if updates.is_empty() {
            return Ok(updates);
        }
        let ids: Vec<String> = updates.iter().map(|u| u.package_id.clone()).collect();
        let detailed = self
            .transaction("GetUpdateDetail", |t| async move {
                let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
                t.get_update_detail(&ids).await
            })
            .await?;
        for (id, detail) in detailed.details {
            if let Some(update) = updates.iter_mut().find(|u| u.package_id == id) {
                update.detail = Some(detail);
            }
        }
        Ok(updates)
    }

    /// Update these packages (UpdatePackages, trusted packages only; `download_only`: fetch
    /// them without installing), reporting progress, until PackageKit's Finished.
    pub async fn update(
        &self,
        package_ids: &[String],
        download_only: bool,
        progress: &(dyn Fn(Progress) + Send + Sync),
    ) -> Result<Installed, Error> {
        let flags = FLAG_ONLY_TRUSTED | if download_only { FLAG_ONLY_DOWNLOAD } else { 0 };
        let ids = package_ids.to_vec();
        let events = self
            .transaction_with_progress(
                "UpdatePackages",
                |t| async move {
                    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
                    t.update_packages(flags, &ids).await
                },
                progress,
            )
            .await?;
        Ok(Installed {
            packages: events
                .packages
                .into_iter()
                // updating, installing, finished: what was done (not what was downloaded)
                .filter(|(info, _, _)| matches!(info & 0xffff, 11 | 12 | 18))
                .map(|(_, id, _)| id)
                .collect(),
            restart_signalled: events.restart_signalled,
        })
    }

    async fn transaction<F, Fut>(&self, role: &'static str, start: F) -> Result<Events, Error>
    where
        F: FnOnce(TransactionProxy<'static>) -> Fut,
        Fut: std::future::Future<Output = zbus::Result<()>>,
    {
        self.transaction_with_progress(role, start, &|_| {}).await
    }

    /// A new transaction, told that no one can answer a polkit dialog (refuse rather than wait
    /// for one).
    async fn new_transaction(&self) -> Result<TransactionProxy<'static>, Error> {
        let path = self
            .daemon
            .create_transaction()
            .await
            .map_err(bus("CreateTransaction"))?;
        let transaction = TransactionProxy::builder(&self.connection)
            .path(path)
            .map_err(bus("Transaction"))?
            .build()
            .await
            .map_err(bus("Transaction"))?;
        transaction
            .set_hints(&["interactive=false", "locale=C"])
            .await
            .map_err(bus("SetHints"))?;
        Ok(transaction)
    }

    /// Create a transaction, listen to its signals, start it with `start`, and collect what
    /// it signals until Finished.
    async fn transaction_with_progress<F, Fut>(
        &self,
        role: &'static str,
        start: F,
        progress: &(dyn Fn(Progress) + Send + Sync),
    ) -> Result<Events, Error>
    where
        F: FnOnce(TransactionProxy<'static>) -> Fut,
        Fut: std::future::Future<Output = zbus::Result<()>>,
    {
        let transaction = self.new_transaction().await?;
        // Listen before starting, so a transaction that finishes at once is not missed.
        let mut packages = transaction
            .receive_package()
            .await
            .map_err(bus("AddMatch Package"))?;
        let mut details = transaction
            .receive_update_detail()
            .await
            .map_err(bus("AddMatch UpdateDetail"))?;
        let mut errors = transaction
            .receive_error_code()
            .await
            .map_err(bus("AddMatch ErrorCode"))?;
        let mut restarts = transaction
            .receive_require_restart()
            .await
            .map_err(bus("AddMatch RequireRestart"))?;
        let mut finished = transaction
            .receive_finished()
            .await
            .map_err(bus("AddMatch Finished"))?;
        let mut percentages = transaction.receive_percentage_changed().await;
        start(transaction.clone()).await.map_err(bus(role))?;
        let mut events = Events::default();
        let mut last = Progress::default();
        let exit = loop {
            // Biased, Finished last: the bus delivers a transaction's signals in order, so
            // every signal sent before Finished is already queued on its stream and is taken
            // first.
            tokio::select! {
                biased;
                Some(signal) = packages.next() => {
                    let Ok(args) = signal.args() else { continue };
                    if events.packages.len() < MAX_UPDATES {
                        events.packages.push((
                            args.info,
                            bounded(args.package_id),
                            bounded(args.summary),
                        ));
                    }
                    last.package = Some(bounded(args.package_id));
                    progress(last.clone());
                }
                Some(signal) = details.next() => {
                    let Ok(args) = signal.args() else { continue };
                    if events.details.len() < MAX_UPDATES {
                        events.details.push(detail_of(&args));
                    }
                }
                Some(signal) = errors.next() => {
                    let Ok(args) = signal.args() else { continue };
                    events.error.get_or_insert((args.code, bounded(args.details)));
                }
                Some(signal) = restarts.next() => {
                    let Ok(args) = signal.args() else { continue };
                    events.restart_signalled |= Restart::from_enum(args.kind).needs_reboot();
                }
                Some(changed) = percentages.next() => {
                    let Ok(value) = changed.get().await else { continue };
                    last.percentage = (value <= 100).then_some(value);
                    progress(last.clone());
                }
                signal = finished.next() => {
                    let Some(signal) = signal else {
                        return Err(Error::Bus {
                            call: role,
                            source: Box::new(zbus::Error::Failure(
                                "the bus connection closed".to_owned(),
                            )),
                        });
                    };
                    break signal.args().map(|a| a.exit).unwrap_or(0);
                }
            }
        };
        outcome(role, exit, events)
    }
}

/// An UpdateDetail signal's package id and detail, bounded.
fn detail_of(a: &proxy::UpdateDetailArgs<'_>) -> (String, Detail) {
    let detail = Detail {
        restart: Restart::from_enum(a.restart),
        update_text: bounded(a.update_text),
        vendor_urls: bounded_list(&a.vendor_urls),
        bugzilla_urls: bounded_list(&a.bugzilla_urls),
        cve_urls: bounded_list(&a.cve_urls),
        issued: bounded(a.issued),
        updated: bounded(a.updated),
    };
    (bounded(a.package_id), detail)
}

/// A finished transaction's events, or its failure: PackageKit's ErrorCode first, then an
/// exit other than success.
fn outcome(role: &'static str, exit: u32, mut events: Events) -> Result<Events, Error> {
    match (exit, events.error.take()) {
        (_, Some((code, details))) => Err(Error::Failed {
            role,
            code,
            details,
        }),
        (EXIT_SUCCESS, None) => Ok(events),
        (exit, None) => Err(Error::Exit {
            role: if exit == EXIT_CANCELLED {
                "transaction (cancelled)"
            } else {
                role
            },
            exit,
        }),
    }
}

/// What a transaction signalled.
#[derive(Default)]
struct Events {
    /// (info, package id, summary)
    packages: Vec<(u32, String, String)>,
    details: Vec<(String, Detail)>,
    error: Option<(u32, String)>,
    restart_signalled: bool,
}

fn bus(call: &'static str) -> impl Fn(zbus::Error) -> Error {
    move |source| Error::Bus {
        call,
        source: Box::new(source),
    }
}

/// `text` cut to [`MAX_TEXT`] bytes at a character boundary.
fn bounded(text: &str) -> String {
    if text.len() <= MAX_TEXT {
        return text.to_owned();
    }
    let mut end = MAX_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

fn bounded_list(items: &[&str]) -> Vec<String> {
    items.iter().take(64).map(|s| bounded(s)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_follow_packagekit() {
        assert_eq!(Info::from_enum(8), Info::Security);
        assert_eq!(Info::from_enum(6), Info::Bugfix);
        assert_eq!(Info::from_enum(26), Info::Critical);
        assert_eq!(Info::from_enum(2), Info::Other(2));
        assert!(Restart::from_enum(4).needs_reboot());
        assert!(Restart::from_enum(6).needs_reboot());
        assert!(!Restart::from_enum(3).needs_reboot());
        assert!(!Restart::from_enum(99).needs_reboot());
    }

    #[test]
    fn text_is_bounded_at_a_character() {
        let long = "é".repeat(MAX_TEXT);
        let cut = bounded(&long);
        assert!(cut.len() <= MAX_TEXT && cut.chars().all(|c| c == 'é'));
        assert_eq!(bounded("short"), "short");
        let update = Update {
            package_id: "kernel;2.6;i386;fedora".into(),
            info: Info::Bugfix,
            severity: None,
            summary: String::new(),
            detail: None,
        };
        assert_eq!((update.name(), update.version()), ("kernel", "2.6"));
    }
}
