//! systemd's service manager over D-Bus: what the `Win32_Service` provider reads and does.
//!
//! A Windows service is a systemd `.service` unit here. This crate knows systemd only: unit
//! names, load/active/sub states, unit file states, the main process, `ExecStart`, `User=`,
//! `Requires=`/`Wants=`, jobs. How those become Win32_Service's State, StartMode or return
//! codes is the provider's business, so this crate can serve other consumers (the console,
//! the eventing source) unchanged.
//!
//! Why D-Bus and not `systemctl`: no process per request, typed replies, job completion
//! signalled instead of polled, and the same API `systemctl` itself uses. The connection is
//! the system bus by default, or any address (the tests boot a real systemd in its own
//! namespaces and connect through its bus socket).
//!
//! Every name that reaches systemd was checked by [`UnitName::service`] first: a request
//! cannot smuggle a path, a pattern or another unit type through it.
#![forbid(unsafe_code)]

mod name;
mod proxy;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use futures_util::StreamExt as _;
use zbus::zvariant::{OwnedObjectPath, OwnedValue};

pub use name::{InvalidUnitName, UnitName};
use proxy::ManagerProxy;

/// Most service units one enumeration returns; a host has hundreds, so this only bounds a
/// misbehaving bus.
pub const MAX_UNITS: usize = 20_000;

/// What can go wrong talking to systemd.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bus could not be reached or refused us.
    #[error("cannot connect to systemd over D-Bus at {address}: {source}")]
    Connect {
        address: String,
        #[source]
        source: Box<zbus::Error>,
    },
    /// No unit of that name is loaded or installed.
    #[error("no such unit: {0}")]
    NoSuchUnit(String),
    /// systemd (polkit) refused the call.
    #[error("systemd refused {operation} of {unit}: {message}")]
    AccessDenied {
        operation: &'static str,
        unit: String,
        message: String,
    },
    /// systemd will not do it in this state: start of a masked unit, mask of a unit whose file
    /// an administrator put in `/etc` (masking would have to overwrite that file).
    #[error("systemd refused {operation} of {unit}: {message}")]
    Refused {
        operation: &'static str,
        unit: String,
        message: String,
    },
    /// The start/stop/restart job ended without success (`failed`, `timeout`, `dependency`,
    /// `canceled`, ...: systemd's job result).
    #[error("{operation} of {unit} ended with job result {result}")]
    JobFailed {
        operation: &'static str,
        unit: String,
        result: String,
    },
    /// The job did not finish within the caller's deadline; it may still finish later.
    #[error("{operation} of {unit} did not finish within {0:?}", .deadline)]
    Timeout {
        operation: &'static str,
        unit: String,
        deadline: Duration,
    },
    /// More units than [`MAX_UNITS`].
    #[error("systemd listed more than {MAX_UNITS} service units")]
    TooManyUnits,
    /// Any other D-Bus failure, with the call that failed.
    #[error("systemd D-Bus call {call} failed: {source}")]
    Bus {
        call: &'static str,
        #[source]
        source: Box<zbus::Error>,
    },
}

/// How a unit is set to start: the part of its unit file state that the Windows start modes
/// map to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enablement {
    /// Started at boot (`systemctl enable`).
    Enabled,
    /// Started only on demand (`systemctl disable`).
    Disabled,
    /// Cannot be started at all (`systemctl mask`).
    Masked,
}

/// What [`Systemd::power`] does to the system.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerAction {
    Reboot,
    PowerOff,
}

/// One command line of `ExecStart=`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecCommand {
    pub path: String,
    pub argv: Vec<String>,
}

/// A service unit as systemd describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceUnit {
    /// The unit name, `ssh.service`.
    pub id: String,
    pub description: String,
    /// `loaded`, `not-found`, `masked`, `error`, ...
    pub load_state: String,
    /// `active`, `inactive`, `failed`, `activating`, `deactivating`, `reloading`.
    pub active_state: String,
    /// `running`, `dead`, `exited`, `start-pre`, ...
    pub sub_state: String,
    /// `enabled`, `disabled`, `static`, `masked`, `indirect`, ... (empty for a unit without a
    /// unit file, such as a transient one).
    pub unit_file_state: String,
    /// The unit file, empty when there is none.
    pub fragment_path: String,
    /// 0 when no main process runs.
    pub main_pid: u32,
    pub exec_start: Vec<ExecCommand>,
    /// `User=`; empty means root.
    pub user: String,
    /// The exit status of the last main process (0 when it never ran).
    pub exit_status: i32,
    /// `Requires=` and `Wants=` of the unit, in systemd's order.
    pub requires: Vec<String>,
    pub wants: Vec<String>,
    /// Whether a manual start or stop is allowed (`RefuseManualStart=`/`RefuseManualStop=`).
    pub can_start: bool,
    pub can_stop: bool,
}

/// A connection to systemd's manager.
#[derive(Clone, Debug)]
pub struct Systemd {
    connection: zbus::Connection,
    manager: ManagerProxy<'static>,
    address: String,
}

impl Systemd {
    /// Connect over the system bus (`address` `None`) or the given D-Bus address
    /// (`unix:path=...`), and subscribe to job signals.
    pub async fn connect(address: Option<&str>) -> Result<Systemd, Error> {
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
        let manager = ManagerProxy::new(&connection)
            .await
            .map_err(connect_error)?;
        // systemd sends JobRemoved only while some client is subscribed.
        manager.subscribe().await.map_err(bus("Subscribe"))?;
        Ok(Systemd {
            connection,
            manager,
            address: shown,
        })
    }

    /// Where this connection goes, for log lines.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Every service a host has: the installed unit files (templates excluded: they are not
    /// services until instantiated; aliases excluded: Windows has one name per service) and the
    /// loaded service units (instances, transient units), sorted by name.
    pub async fn services(&self) -> Result<Vec<ServiceUnit>, Error> {
        let mut names = BTreeMap::new();
        let files = self
            .manager
            .list_unit_files_by_patterns(&[], &["*.service"])
            .await
            .map_err(bus("ListUnitFilesByPatterns"))?;
        for (path, state) in files {
            // An alias is another name of a unit listed under its own name.
            if state == "alias" {
                continue;
            }
            let Some(file_name) = path.rsplit('/').next() else {
                continue;
            };
            if let Ok(name) = UnitName::service(file_name) {
                if !name.is_template() {
                    names.insert(name.as_str().to_owned(), ());
                }
            }
        }
        let loaded = self
            .manager
            .list_units_by_patterns(&[], &["*.service"])
            .await
            .map_err(bus("ListUnitsByPatterns"))?;
        for unit in loaded {
            if unit.2 == "not-found" {
                continue;
            }
            if let Ok(name) = UnitName::service(&unit.0) {
                names.insert(name.as_str().to_owned(), ());
            }
        }
        if names.len() > MAX_UNITS {
            return Err(Error::TooManyUnits);
        }
        let mut services = Vec::with_capacity(names.len());
        for name in names.keys() {
            let name = UnitName::service(name).map_err(|_| Error::NoSuchUnit(name.clone()))?;
            match self.service(&name).await {
                // A loaded alias resolves to its unit, which is listed already.
                Ok(Some(unit)) if unit.id != name.as_str() => {}
                Ok(Some(unit)) => services.push(unit),
                // Removed between the listing and the read: not a service any more.
                Ok(None) | Err(Error::NoSuchUnit(_)) => {}
                Err(other) => return Err(other),
            }
        }
        Ok(services)
    }

    /// One service, or `None` when systemd knows no unit file or loaded unit of that name.
    pub async fn service(&self, name: &UnitName) -> Result<Option<ServiceUnit>, Error> {
        let path = match self.manager.load_unit(name.as_str()).await {
            Ok(path) => path,
            Err(e) => return absent_as_none(e, "LoadUnit"),
        };
        let unit = self
            .properties(&path, "org.freedesktop.systemd1.Unit")
            .await?;
        let load_state = string(&unit, "LoadState");
        if load_state == "not-found" {
            return Ok(None);
        }
        let service = self
            .properties(&path, "org.freedesktop.systemd1.Service")
            .await?;
        Ok(Some(ServiceUnit {
            id: string(&unit, "Id"),
            description: string(&unit, "Description"),
            load_state,
            active_state: string(&unit, "ActiveState"),
            sub_state: string(&unit, "SubState"),
            unit_file_state: string(&unit, "UnitFileState"),
            fragment_path: string(&unit, "FragmentPath"),
            main_pid: service
                .get("MainPID")
                .and_then(|v| u32::try_from(v).ok())
                .unwrap_or(0),
            exec_start: exec_commands(service.get("ExecStart")),
            user: string(&service, "User"),
            exit_status: service
                .get("ExecMainStatus")
                .and_then(|v| i32::try_from(v).ok())
                .unwrap_or(0),
            requires: strings(&unit, "Requires"),
            wants: strings(&unit, "Wants"),
            can_start: boolean(&unit, "CanStart"),
            can_stop: boolean(&unit, "CanStop"),
        }))
    }

    /// Start the unit and wait until its job has finished.
    pub async fn start(&self, name: &UnitName, deadline: Duration) -> Result<(), Error> {
        self.run_job(name, "start", deadline).await
    }

    /// Stop the unit and wait until its job has finished.
    pub async fn stop(&self, name: &UnitName, deadline: Duration) -> Result<(), Error> {
        self.run_job(name, "stop", deadline).await
    }

    /// Restart the unit and wait until its job has finished.
    pub async fn restart(&self, name: &UnitName, deadline: Duration) -> Result<(), Error> {
        self.run_job(name, "restart", deadline).await
    }

    /// Queue a reboot or power-off of the whole system, as `systemctl reboot|poweroff` do
    /// (the target's job, irreversibly: nothing queued later cancels it). Returns once systemd
    /// accepted the job; the system then goes down on its own.
    pub async fn power(&self, action: PowerAction) -> Result<(), Error> {
        let (target, operation) = match action {
            PowerAction::Reboot => ("reboot.target", "reboot"),
            PowerAction::PowerOff => ("poweroff.target", "poweroff"),
        };
        self.manager
            .start_unit(target, "replace-irreversibly")
            .await
            .map(|_| ())
            .map_err(|e| classify(e, operation, target.to_owned(), "StartUnit"))
    }

    /// Set how the unit starts, as `systemctl enable|disable|mask` do, then reload systemd so
    /// the unit's state shows the change at once.
    pub async fn set_enablement(&self, name: &UnitName, to: Enablement) -> Result<(), Error> {
        let unit = [name.as_str()];
        let denied = |operation| {
            let unit = name.as_str().to_owned();
            move |e| classify(e, operation, unit, "ChangeStartMode")
        };
        // Enabled and Disabled unmask first, then enable or disable; Masked disables, then
        // masks.
        if !matches!(to, Enablement::Masked) {
            self.manager
                .unmask_unit_files(&unit, false)
                .await
                .map_err(denied("unmask"))?;
        }
        if matches!(to, Enablement::Enabled) {
            self.manager
                .enable_unit_files(&unit, false, false)
                .await
                .map_err(denied("enable"))?;
        } else {
            self.manager
                .disable_unit_files(&unit, false)
                .await
                .map_err(denied("disable"))?;
        }
        if matches!(to, Enablement::Masked) {
            // Never forced: forcing would replace an administrator's unit file in /etc.
            self.manager
                .mask_unit_files(&unit, false, false)
                .await
                .map_err(denied("mask"))?;
        }
        self.manager.reload().await.map_err(bus("Reload"))
    }

    /// Queue a start/stop/restart job (mode `replace`, as `systemctl` does) and wait for its
    /// `JobRemoved` signal.
    async fn run_job(
        &self,
        name: &UnitName,
        operation: &'static str,
        deadline: Duration,
    ) -> Result<(), Error> {
        // Listen before queueing, so a job that finishes at once is not missed.
        let mut removed = self
            .manager
            .receive_job_removed()
            .await
            .map_err(bus("AddMatch JobRemoved"))?;
        let unit = name.as_str();
        let queued = match operation {
            "start" => self.manager.start_unit(unit, "replace").await,
            "stop" => self.manager.stop_unit(unit, "replace").await,
            _ => self.manager.restart_unit(unit, "replace").await,
        };
        let job = queued.map_err(|e| classify(e, operation, unit.to_owned(), "job"))?;
        let wait = async {
            while let Some(signal) = removed.next().await {
                let Ok(args) = signal.args() else { continue };
                if args.job.as_str() == job.as_str() {
                    return Some(args.result.to_owned());
                }
            }
            None
        };
        match tokio::time::timeout(deadline, wait).await {
            Ok(Some(result)) if result == "done" => Ok(()),
            Ok(Some(result)) => Err(Error::JobFailed {
                operation,
                unit: unit.to_owned(),
                result,
            }),
            Ok(None) => Err(Error::Bus {
                call: "JobRemoved",
                source: Box::new(zbus::Error::Failure("the bus connection closed".to_owned())),
            }),
            Err(_) => Err(Error::Timeout {
                operation,
                unit: unit.to_owned(),
                deadline,
            }),
        }
    }

    async fn properties(
        &self,
        path: &OwnedObjectPath,
        interface: &'static str,
    ) -> Result<HashMap<String, OwnedValue>, Error> {
        let properties = zbus::fdo::PropertiesProxy::builder(&self.connection)
            .destination("org.freedesktop.systemd1")
            .and_then(|b| b.path(path.clone()))
            .map_err(bus("Properties"))?
            .cache_properties(zbus::proxy::CacheProperties::No)
            .build()
            .await
            .map_err(bus("Properties"))?;
        let interface = zbus::names::InterfaceName::from_static_str_unchecked(interface);
        properties.get_all(interface).await.map_err(|e| Error::Bus {
            call: "GetAll",
            source: Box::new(e.into()),
        })
    }
}

fn bus(call: &'static str) -> impl Fn(zbus::Error) -> Error {
    move |source| Error::Bus {
        call,
        source: Box::new(source),
    }
}

/// `NoSuchUnit` and access denials get their own errors; the rest stays a bus error.
fn classify(
    error: zbus::Error,
    operation: &'static str,
    unit: String,
    call: &'static str,
) -> Error {
    if let zbus::Error::MethodError(name, message, _) = &error {
        match name.as_str() {
            "org.freedesktop.systemd1.NoSuchUnit" | "org.freedesktop.systemd1.LoadFailed" => {
                return Error::NoSuchUnit(unit)
            }
            "org.freedesktop.DBus.Error.AccessDenied"
            | "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired" => {
                return Error::AccessDenied {
                    operation,
                    unit,
                    message: message.clone().unwrap_or_default(),
                }
            }
            "org.freedesktop.systemd1.UnitMasked" | "org.freedesktop.systemd1.UnitExists" => {
                return Error::Refused {
                    operation,
                    unit,
                    message: message.clone().unwrap_or_default(),
                }
            }
            _ => {}
        }
    }
    Error::Bus {
        call,
        source: Box::new(error),
    }
}

fn absent_as_none<T>(error: zbus::Error, call: &'static str) -> Result<Option<T>, Error> {
    match &error {
        zbus::Error::MethodError(name, _, _)
            if name.as_str() == "org.freedesktop.systemd1.NoSuchUnit" =>
        {
            Ok(None)
        }
        _ => Err(Error::Bus {
            call,
            source: Box::new(error),
        }),
    }
}

fn string(properties: &HashMap<String, OwnedValue>, name: &str) -> String {
    properties
        .get(name)
        .and_then(|v| v.downcast_ref::<&str>().ok().map(str::to_owned))
        .unwrap_or_default()
}

fn boolean(properties: &HashMap<String, OwnedValue>, name: &str) -> bool {
    properties
        .get(name)
        .and_then(|v| bool::try_from(v).ok())
        .unwrap_or(false)
}

fn strings(properties: &HashMap<String, OwnedValue>, name: &str) -> Vec<String> {
    properties
        .get(name)
        .and_then(|v| v.try_clone().ok())
        .and_then(|v| Vec::<String>::try_from(v).ok())
        .unwrap_or_default()
}

/// `ExecStart`, D-Bus type `a(sasbttttuii)`: path, argv, ignore-failure, four timestamps, pid,
/// code, status. Only the command line is kept.
type ExecStartEntry = (String, Vec<String>, bool, u64, u64, u64, u64, u32, i32, i32);

fn exec_commands(value: Option<&OwnedValue>) -> Vec<ExecCommand> {
    value
        .and_then(|v| v.try_clone().ok())
        .and_then(|v| Vec::<ExecStartEntry>::try_from(v).ok())
        .unwrap_or_default()
        .into_iter()
        .map(|entry| ExecCommand {
            path: entry.0,
            argv: entry.1,
        })
        .collect()
}
