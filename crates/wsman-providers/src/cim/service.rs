//! `Win32_Service`: the host's systemd service units, and their StartService, StopService and
//! ChangeStartMode methods, through systemd's D-Bus API (`wsman-systemd`).
//!
//! Why D-Bus and not `systemctl`: the same API systemctl uses, with typed answers, jobs waited
//! for by signal, and no command line built from a client's selector.
//!
//! The class runs on the blocking pool like every synchronous class; it awaits the bus through
//! the daemon's runtime handle, so the D-Bus connection's own tasks keep running on the async
//! workers meanwhile. The connection is made on first use (a host without a running systemd
//! still serves every other class) and made again after a bus failure.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use wsman_proto::cim::{Instance, MethodInput, Reference, Value};
use wsman_proto::Fault;
use wsman_systemd::{Enablement, Error, PowerAction, ServiceUnit, Systemd, UnitName};

use super::schema::{ClassSchema, Declaration, Method};
use super::{procfs, Answer, Class, Instances};
use crate::faults::systemd_fault;
use crate::{Context, Filter};

/// Longest a method waits for systemd's job when the request gives no OperationTimeout
/// (WinRM's default OperationTimeout).
const DEFAULT_DEADLINE: Duration = Duration::from_secs(60);

/// Windows' Win32_Service method return values (the ValueMap of StartService and its
/// siblings).
mod return_value {
    pub(super) use super::super::{ACCESS_DENIED, INVALID_PARAMETER, SUCCESS, UNKNOWN_FAILURE};
    pub(super) const NOT_SUPPORTED: u32 = 1;
    pub(super) const CANNOT_ACCEPT_CONTROL: u32 = 5;
    pub(super) const REQUEST_TIMEOUT: u32 = 7;
    pub(super) const ALREADY_RUNNING: u32 = 10;
    pub(super) const DEPENDENCY_FAILURE: u32 = 13;
    pub(super) const DISABLED: u32 = 14;
}

/// The host's service manager, connected on first use.
pub struct ServiceManager {
    runtime: tokio::runtime::Handle,
    /// `None`: the system bus (which honours `DBUS_SYSTEM_BUS_ADDRESS`).
    address: Option<String>,
    connection: Mutex<Option<Systemd>>,
}

impl ServiceManager {
    /// A manager that talks to systemd on `address` (`None`: the system bus) through the
    /// runtime behind `runtime`.
    pub fn new(runtime: tokio::runtime::Handle, address: Option<String>) -> Arc<Self> {
        Arc::new(Self {
            runtime,
            address,
            connection: Mutex::new(None),
        })
    }

    /// Run one call against systemd, connecting first when needed. Must not be called from
    /// an async worker (it blocks until the call ends).
    fn run<T, F>(&self, call: impl FnOnce(Systemd) -> F) -> Result<T, Error>
    where
        F: std::future::Future<Output = Result<T, Error>>,
    {
        let systemd = self.connected()?;
        let result = self.runtime.block_on(call(systemd));
        if let Err(Error::Bus { .. }) = &result {
            // The bus went away (systemd re-executed, the socket closed): connect again next
            // time rather than failing forever.
            *self.connection.lock().unwrap_or_else(|p| p.into_inner()) = None;
        }
        result
    }

    /// Ask systemd to reboot or power off the system (see [`Systemd::power`]).
    pub fn power(&self, action: PowerAction) -> Result<(), Error> {
        self.run(|s| async move { s.power(action).await })
    }

    fn connected(&self) -> Result<Systemd, Error> {
        let mut slot = self.connection.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(systemd) = slot.as_ref() {
            return Ok(systemd.clone());
        }
        let systemd = self
            .runtime
            .block_on(Systemd::connect(self.address.as_deref()))?;
        *slot = Some(systemd.clone());
        Ok(systemd)
    }
}

/// `Win32_Service`, keyed by Name (the unit name without `.service`).
pub struct Service {
    manager: Arc<ServiceManager>,
}

impl Service {
    pub fn new(manager: Arc<ServiceManager>) -> Self {
        Self { manager }
    }
}

/// Windows' State from systemd's ActiveState.
fn state(unit: &ServiceUnit) -> &'static str {
    match unit.active_state.as_str() {
        "active" | "reloading" => "Running",
        "activating" => "Start Pending",
        "deactivating" => "Stop Pending",
        _ => "Stopped",
    }
}

/// Windows' StartMode from the unit file state: enabled units start at boot (Auto), masked
/// ones cannot start (Disabled), everything else starts on demand (Manual).
fn start_mode(unit: &ServiceUnit) -> &'static str {
    match unit.unit_file_state.as_str() {
        "enabled" | "enabled-runtime" => "Auto",
        "masked" | "masked-runtime" => "Disabled",
        _ if unit.load_state == "masked" => "Disabled",
        _ => "Manual",
    }
}

/// The first `ExecStart=` command line, each argument quoted when it needs it, as Windows
/// shows a service's image path with its arguments.
fn path_name(unit: &ServiceUnit) -> Value {
    let Some(command) = unit.exec_start.first() else {
        return Value::Null;
    };
    let quote = |a: &String| {
        if a.is_empty() || a.contains(char::is_whitespace) {
            format!("\"{a}\"")
        } else {
            a.clone()
        }
    };
    let args = if command.argv.is_empty() {
        vec![quote(&command.path)]
    } else {
        command.argv.iter().map(quote).collect()
    };
    Value::Text(args.join(" "))
}

fn instance(unit: &ServiceUnit, system_name: &str) -> Instance {
    let name = unit.id.strip_suffix(".service").unwrap_or(&unit.id);
    let state = state(unit);
    let running = state == "Running";
    // Windows reports a service-specific exit code through ERROR_SERVICE_SPECIFIC_ERROR.
    let (exit_code, specific) = match unit.exit_status {
        0 => (0u32, 0u32),
        status => (1066, status as u32),
    };
    let display = if unit.description.is_empty() {
        name.to_owned()
    } else {
        unit.description.clone()
    };
    Instance::new("Win32_Service", "root/cimv2")
        .with("AcceptPause", false)
        .with("AcceptStop", running && unit.can_stop)
        .with("Caption", display.clone())
        .with("CheckPoint", 0u32)
        .with("CreationClassName", "Win32_Service")
        .with("DelayedAutoStart", false)
        .with("Description", unit.description.clone())
        .with("DesktopInteract", false)
        .with("DisplayName", display)
        .with("ErrorControl", "Normal")
        .with("ExitCode", exit_code)
        .with("InstallDate", Value::Null)
        .with_key("Name", name.to_owned())
        .with("PathName", path_name(unit))
        .with("ProcessId", unit.main_pid)
        .with("ServiceSpecificExitCode", specific)
        .with("ServiceType", "Own Process")
        .with("Started", running)
        .with("StartMode", start_mode(unit))
        .with(
            "StartName",
            match unit.user.as_str() {
                "" | "root" => "LocalSystem".to_owned(),
                user => user.to_owned(),
            },
        )
        .with("State", state)
        .with(
            "Status",
            if unit.active_state == "failed" {
                "Error"
            } else {
                "OK"
            },
        )
        .with("SystemCreationClassName", "Win32_ComputerSystem")
        .with("SystemName", system_name.to_owned())
        .with("TagId", 0u32)
        .with("WaitHint", 0u32)
}

/// The unit addressed by the Name key; a name systemd would not accept is no instance.
fn unit_name(keys: &[(&str, &str)]) -> Result<UnitName, Fault> {
    keys.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Name"))
        .and_then(|(_, v)| UnitName::service(v.trim()).ok())
        .filter(|n| !n.is_template())
        .ok_or_else(super::not_found)
}

/// The unit a `Name = '...'` filter pins, so one unit is read instead of every unit.
fn pinned_name(filter: Option<&Filter>) -> Option<UnitName> {
    UnitName::service(filter?.pinned("Name")?.trim()).ok()
}

const SERVICE: ClassSchema = ClassSchema {
    name: "Win32_Service",
    namespace: "root/cimv2",
    keys: &["Name"],
    singleton: false,
    references: &[],
    declaration: Declaration {
        superclass: Some("Win32_BaseService"),
        properties: &[
            ("AcceptPause", "boolean"),
            ("AcceptStop", "boolean"),
            ("Caption", "string"),
            ("CheckPoint", "uint32"),
            ("CreationClassName", "string"),
            ("DelayedAutoStart", "boolean"),
            ("Description", "string"),
            ("DesktopInteract", "boolean"),
            ("DisplayName", "string"),
            ("ErrorControl", "string"),
            ("ExitCode", "uint32"),
            ("InstallDate", "datetime"),
            ("Name", "string"),
            ("PathName", "string"),
            ("ProcessId", "uint32"),
            ("ServiceSpecificExitCode", "uint32"),
            ("ServiceType", "string"),
            ("Started", "boolean"),
            ("StartMode", "string"),
            ("StartName", "string"),
            ("State", "string"),
            ("Status", "string"),
            ("SystemCreationClassName", "string"),
            ("SystemName", "string"),
            ("TagId", "uint32"),
            ("WaitHint", "uint32"),
        ],
        methods: &[
            Method {
                name: "StartService",
                is_static: false,
                inputs: &[],
                outputs: &[],
            },
            Method {
                name: "StopService",
                is_static: false,
                inputs: &[],
                outputs: &[],
            },
            Method {
                name: "ChangeStartMode",
                is_static: false,
                inputs: &[("StartMode", "string")],
                outputs: &[],
            },
        ],
    },
};

impl Class for Service {
    schema!(SERVICE);
    fn instances(&self, _ctx: &Context<'_>, filter: Option<&Filter>) -> Instances {
        let host = procfs::host_name();
        let units = match pinned_name(filter) {
            Some(name) => self
                .manager
                .run(|s| async move { s.service(&name).await })
                .map(|u| u.into_iter().collect::<Vec<_>>()),
            None => self.manager.run(|s| async move { s.services().await }),
        }
        .map_err(|e| systemd_fault(&e))?;
        Ok(units.iter().map(|u| instance(u, &host)).collect())
    }

    fn get(&self, _ctx: &Context<'_>, keys: &[(&str, &str)]) -> Answer {
        let name = unit_name(keys)?;
        let shown = name.clone();
        match self.manager.run(|s| async move { s.service(&name).await }) {
            // An alias names its unit: Windows has one name per service.
            Ok(Some(unit)) if unit.id == shown.as_str() => {
                Ok(instance(&unit, &procfs::host_name()))
            }
            Ok(_) | Err(Error::NoSuchUnit(_)) => Err(super::not_found()),
            Err(e) => Err(systemd_fault(&e)),
        }
    }

    fn invoke(&self, ctx: &Context<'_>, keys: &[(&str, &str)], method: &str) -> Answer {
        let method = ["StartService", "StopService", "ChangeStartMode"]
            .into_iter()
            .find(|m| m.eq_ignore_ascii_case(method))
            .ok_or_else(|| crate::not_supported(ctx))?;
        // The parameters are checked before anything else, so a bad call is a fault whoever
        // makes it; the instance must exist before the caller's rights are looked at.
        let input = MethodInput::read(ctx.request.body.as_ref(), method)?;
        let mode = match method {
            "ChangeStartMode" => Some(parse_start_mode(input.required(method, "StartMode")?)?),
            _ => None,
        };
        let current = self.get(ctx, keys)?;
        let output = |code: u32| super::method_output(self, method, code);
        if let Some(refused) = super::refuse_unless_administrator(ctx, self, method) {
            return Ok(refused);
        }
        let name = unit_name(keys)?;
        let running = matches!(current.get("State"), Some(Value::Text(s)) if s == "Running");
        let disabled = matches!(current.get("StartMode"), Some(Value::Text(s)) if s == "Disabled");
        let deadline = ctx
            .request
            .operation_timeout
            .unwrap_or(DEFAULT_DEADLINE)
            .saturating_sub(Duration::from_secs(1))
            .max(Duration::from_secs(1));
        let result = match (method, mode) {
            ("StartService", _) if running => return Ok(output(return_value::ALREADY_RUNNING)),
            ("StartService", _) if disabled => return Ok(output(return_value::DISABLED)),
            ("StartService", _) => self
                .manager
                .run(|s| async move { s.start(&name, deadline).await }),
            ("StopService", _) if !running => {
                return Ok(output(return_value::CANNOT_ACCEPT_CONTROL))
            }
            ("StopService", _) => self
                .manager
                .run(|s| async move { s.stop(&name, deadline).await }),
            (_, Some(None)) => return Ok(output(return_value::INVALID_PARAMETER)),
            (_, Some(Some(to))) => self
                .manager
                .run(|s| async move { s.set_enablement(&name, to).await }),
            (_, None) => return Err(crate::not_supported(ctx)),
        };
        let code = match &result {
            Ok(()) => return_value::SUCCESS,
            Err(Error::AccessDenied { .. }) => return_value::ACCESS_DENIED,
            Err(Error::Refused { .. }) => return_value::NOT_SUPPORTED,
            Err(Error::Timeout { .. }) => return_value::REQUEST_TIMEOUT,
            Err(Error::JobFailed { result, .. }) if result == "dependency" => {
                return_value::DEPENDENCY_FAILURE
            }
            Err(Error::NoSuchUnit(_)) => return Err(super::not_found()),
            Err(error @ (Error::Connect { .. } | Error::Bus { .. })) => {
                return Err(systemd_fault(error))
            }
            Err(_) => return_value::UNKNOWN_FAILURE,
        };
        let caller = ctx.caller.map_or("", |c| c.user.as_str());
        match &result {
            Ok(()) => {
                tracing::info!(user = caller, method, unit = %keys_name(keys), "Win32_Service")
            }
            Err(error) => {
                tracing::warn!(user = caller, method, %error, return_value = code, "Win32_Service")
            }
        }
        Ok(output(code))
    }
}

/// `Win32_DependentService`: one association per `Requires=` or `Wants=` between two
/// services. Antecedent is the service needed, Dependent the one that needs it, as on Windows.
pub struct DependentService {
    manager: Arc<ServiceManager>,
}

impl DependentService {
    pub fn new(manager: Arc<ServiceManager>) -> Self {
        Self { manager }
    }
}

/// A reference to the `Win32_Service` of unit `id` (`x.service`).
fn service_reference(id: &str) -> Reference {
    Reference {
        resource_uri: wsman_proto::cim::class_uri("root/cimv2", "Win32_Service"),
        selectors: vec![(
            "Name".to_owned(),
            id.strip_suffix(".service").unwrap_or(id).to_owned(),
        )],
    }
}

/// The dependencies of `unit` on other services: (needed unit, TypeOfDependency). Requires is
/// Windows' 3 ("service must be started"), Wants is 1 ("other": wanted, not needed); units of
/// other types (sockets, targets) are no services and are left out.
fn dependencies(unit: &ServiceUnit) -> Vec<(&str, u16)> {
    let mut out: Vec<(&str, u16)> = Vec::new();
    let listed = unit
        .requires
        .iter()
        .map(|r| (r, 3u16))
        .chain(unit.wants.iter().map(|w| (w, 1u16)));
    for (needed, kind) in listed {
        let is_service = UnitName::service(needed)
            .is_ok_and(|n| n.as_str() == needed.as_str() && !n.is_template());
        if is_service && needed != &unit.id && !out.iter().any(|(n, _)| n == needed) {
            out.push((needed, kind));
        }
    }
    out
}

const DEPENDENT_SERVICE: ClassSchema = ClassSchema::association(
    "Win32_DependentService",
    "root/cimv2",
    "CIM_ServiceServiceDependency",
    &["Antecedent", "Dependent"],
    &[
        ("Antecedent", "ref:Win32_BaseService"),
        ("Dependent", "ref:Win32_BaseService"),
        ("TypeOfDependency", "uint16"),
    ],
);

impl Class for DependentService {
    schema!(DEPENDENT_SERVICE);
    fn instances(&self, _ctx: &Context<'_>, _filter: Option<&Filter>) -> Instances {
        let units = self
            .manager
            .run(|s| async move { s.services().await })
            .map_err(|e| systemd_fault(&e))?;
        Ok(units
            .iter()
            .flat_map(|unit| {
                dependencies(unit).into_iter().map(|(needed, kind)| {
                    Instance::new("Win32_DependentService", "root/cimv2")
                        .with_key("Antecedent", service_reference(needed))
                        .with_key("Dependent", service_reference(&unit.id))
                        .with("TypeOfDependency", kind)
                })
            })
            .collect())
    }
}

fn keys_name<'a>(keys: &[(&str, &'a str)]) -> &'a str {
    keys.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Name"))
        .map_or("", |(_, v)| v)
}

/// ChangeStartMode's StartMode: `Some(None)` for the modes of drivers (Boot, System), which no
/// service has; a value outside Windows' list is an invalid parameter.
fn parse_start_mode(text: &str) -> Result<Option<Enablement>, Fault> {
    Ok(Some(match text.to_ascii_lowercase().as_str() {
        "automatic" | "auto" => Enablement::Enabled,
        "manual" => Enablement::Disabled,
        "disabled" => Enablement::Masked,
        "boot" | "system" => return Ok(None),
        _ => {
            return Err(Fault::invalid_parameter(format!(
                "StartMode {text:?} is not one of Boot, System, Automatic, Manual, Disabled. "
            )))
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use wsman_systemd::ExecCommand;

    fn unit() -> ServiceUnit {
        ServiceUnit {
            id: "probe.service".into(),
            description: "A probe".into(),
            load_state: "loaded".into(),
            active_state: "active".into(),
            sub_state: "running".into(),
            unit_file_state: "enabled".into(),
            fragment_path: "/lib/systemd/system/probe.service".into(),
            main_pid: 42,
            exec_start: vec![ExecCommand {
                path: "/bin/sleep".into(),
                argv: vec!["/bin/sleep".into(), "a b".into()],
            }],
            user: String::new(),
            exit_status: 0,
            requires: vec![],
            wants: vec![],
            can_start: true,
            can_stop: true,
        }
    }

    #[test]
    fn maps_unit_states_as_windows_names_them() {
        let i = instance(&unit(), "host");
        assert_eq!(i.get("Name"), Some(&Value::Text("probe".into())));
        assert_eq!(i.get("State"), Some(&Value::Text("Running".into())));
        assert_eq!(i.get("StartMode"), Some(&Value::Text("Auto".into())));
        assert_eq!(i.get("StartName"), Some(&Value::Text("LocalSystem".into())));
        assert_eq!(
            i.get("PathName"),
            Some(&Value::Text("/bin/sleep \"a b\"".into()))
        );
        assert_eq!(i.get("AcceptStop"), Some(&Value::Bool(true)));
        let mut failed = unit();
        failed.active_state = "failed".into();
        failed.unit_file_state = "masked".into();
        failed.exit_status = 3;
        failed.user = "nobody".into();
        let i = instance(&failed, "host");
        assert_eq!(i.get("State"), Some(&Value::Text("Stopped".into())));
        assert_eq!(i.get("Status"), Some(&Value::Text("Error".into())));
        assert_eq!(i.get("StartMode"), Some(&Value::Text("Disabled".into())));
        assert_eq!(i.get("ExitCode"), Some(&Value::Unsigned(1066)));
        assert_eq!(i.get("ServiceSpecificExitCode"), Some(&Value::Unsigned(3)));
        assert_eq!(i.get("StartName"), Some(&Value::Text("nobody".into())));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let class = Service::new(ServiceManager::new(runtime.handle().clone(), None));
        for name in class.properties() {
            assert!(i.get(name).is_some(), "{name} declared but not built");
        }
    }

    #[test]
    fn start_modes_follow_windows_value_map() {
        assert_eq!(
            parse_start_mode("Automatic").unwrap(),
            Some(Enablement::Enabled)
        );
        assert_eq!(
            parse_start_mode("manual").unwrap(),
            Some(Enablement::Disabled)
        );
        assert_eq!(
            parse_start_mode("Disabled").unwrap(),
            Some(Enablement::Masked)
        );
        assert_eq!(parse_start_mode("Boot").unwrap(), None);
        assert!(parse_start_mode("Sometimes").is_err());
    }
}
