//! Win32_OperatingSystem from /proc, /etc/os-release and the kernel's identity; its
//! Description (the computer description) from `/etc/machine-info`, where a Put writes it.

use std::path::PathBuf;
use std::sync::Arc;

use wsman_proto::cim::{CimDateTime, Instance, MethodInput};
use wsman_proto::refusal_log::{RefusalLimits, RefusalLog};
use wsman_proto::Fault;
use wsman_systemd::{Error, PowerAction};

use super::schema::{ClassSchema, Declaration, Method};
use super::service::ServiceManager;

use super::{machine_info, procfs};
use super::{Answer, Class, Instances};
use crate::faults::{description_fault, systemd_fault};
use crate::{Context, Filter};

/// `Win32_OperatingSystem`: one instance (a singleton, as Windows' MOF marks it), keyed by Name. Memory sizes are in KB, as
/// Windows reports them; OSType 36 is LINUX in CIM_OperatingSystem's value map. Its Reboot and
/// Shutdown methods go to systemd when the class has the host's service manager; its
/// Description is the machine's, kept in `machine_info` ([`super::machine_info`]).
pub struct OperatingSystem {
    power: Option<Arc<ServiceManager>>,
    machine_info: PathBuf,
    /// Refused Puts, logged at most a few a minute per user (a client repeating a refused
    /// Put costs itself nothing).
    refusals: RefusalLog<String>,
}

impl Default for OperatingSystem {
    fn default() -> Self {
        Self::new(None, machine_info::MACHINE_INFO.into())
    }
}

/// The properties Windows' MOF marks writable (`Write`) that Linux can honour: the others
/// it marks so (ForegroundApplicationBoost, QuantumLength, QuantumType: Windows' scheduler
/// quanta) have no Linux counterpart (docs/cim.md).
const WRITABLE: &[&str] = &["Description"];

impl OperatingSystem {
    /// The class with Reboot and Shutdown through `power` (none: they answer 1, not
    /// supported) and the description kept in `machine_info`.
    pub fn new(power: Option<Arc<ServiceManager>>, machine_info: PathBuf) -> Self {
        Self {
            power,
            machine_info,
            refusals: RefusalLog::new(RefusalLimits {
                interval: std::time::Duration::from_secs(60),
                per_key: 5,
                total: 50,
                max_keys: 256,
            }),
        }
    }

    /// `fault`, a Put of `user` refused because of `why` (the fault's message when `None`),
    /// logged within the refusal log's bounds.
    fn refused(&self, user: &str, why: Option<&str>, fault: Fault) -> Fault {
        let admission = self
            .refusals
            .admit(user.to_owned(), "put", std::time::Instant::now());
        for left in &admission.ended {
            tracing::warn!(
                user = left.key.as_deref().unwrap_or("(other users)"),
                refused = left.count,
                "more Puts of Win32_OperatingSystem refused (not logged one by one)"
            );
        }
        if admission.log {
            tracing::warn!(
                user,
                reason = why.unwrap_or(&fault.message),
                "Put of Win32_OperatingSystem refused"
            );
        }
        fault
    }

    /// Write the changes of a Put (Description, the one writable property).
    fn write(&self, ctx: &Context<'_>, current: &Instance) -> Result<(), Fault> {
        let user = ctx.caller.map_or("", |c| c.user.as_str());
        if !super::is_administrator(ctx) {
            let why = Some("not an administrator");
            return Err(self.refused(user, why, Fault::access_denied()));
        }
        let changes = super::put::changes(ctx, self, current, WRITABLE)
            .map_err(|fault| self.refused(user, None, fault))?;
        for change in changes {
            let value = change.value.unwrap_or_default();
            machine_info::check_description(&value)
                .map_err(|fault| self.refused(user, None, fault))?;
            machine_info::set_description(&self.machine_info, &value).map_err(|error| {
                tracing::warn!(
                    user,
                    path = %self.machine_info.display(),
                    %error,
                    "Win32_OperatingSystem: the description could not be written"
                );
                description_fault(error)
            })?;
            tracing::info!(user, "Win32_OperatingSystem: Description changed");
        }
        Ok(())
    }
}

/// OSType value of CIM_OperatingSystem for Linux.
pub const OS_TYPE_LINUX: u16 = 36;

fn os_release(key: &str) -> Option<String> {
    let text = procfs::read_text("/etc/os-release")
        .or_else(|_| procfs::read_text("/usr/lib/os-release"))
        .ok()?;
    text.lines().find_map(|l| {
        let v = l.strip_prefix(key)?.strip_prefix('=')?;
        Some(v.trim_matches('"').to_owned())
    })
}

const OPERATING_SYSTEM: ClassSchema = ClassSchema {
    name: "Win32_OperatingSystem",
    namespace: "root/cimv2",
    keys: &["Name"],
    singleton: true,
    references: &[],
    declaration: Declaration {
        superclass: Some("CIM_OperatingSystem"),
        properties: &[
            ("BootDevice", "string"),
            ("BuildNumber", "string"),
            ("BuildType", "string"),
            ("Caption", "string"),
            ("CodeSet", "string"),
            ("CountryCode", "string"),
            ("CreationClassName", "string"),
            ("CSCreationClassName", "string"),
            ("CSDVersion", "string"),
            ("CSName", "string"),
            ("CurrentTimeZone", "sint16"),
            ("DataExecutionPrevention_32BitApplications", "boolean"),
            ("DataExecutionPrevention_Available", "boolean"),
            ("DataExecutionPrevention_Drivers", "boolean"),
            ("DataExecutionPrevention_SupportPolicy", "uint8"),
            ("Debug", "boolean"),
            ("Description", "string"),
            ("Distributed", "boolean"),
            ("EncryptionLevel", "uint32"),
            ("ForegroundApplicationBoost", "uint8"),
            ("FreePhysicalMemory", "uint64"),
            ("FreeSpaceInPagingFiles", "uint64"),
            ("FreeVirtualMemory", "uint64"),
            ("InstallDate", "datetime"),
            ("LargeSystemCache", "uint32"),
            ("LastBootUpTime", "datetime"),
            ("LocalDateTime", "datetime"),
            ("Locale", "string"),
            ("Manufacturer", "string"),
            ("MaxNumberOfProcesses", "uint32"),
            ("MaxProcessMemorySize", "uint64"),
            ("MUILanguages", "string[]"),
            ("Name", "string"),
            ("NumberOfLicensedUsers", "uint32"),
            ("NumberOfProcesses", "uint32"),
            ("NumberOfUsers", "uint32"),
            ("OperatingSystemSKU", "uint32"),
            ("Organization", "string"),
            ("OSArchitecture", "string"),
            ("OSLanguage", "uint32"),
            ("OSProductSuite", "uint32"),
            ("OSType", "uint16"),
            ("OtherTypeDescription", "string"),
            ("PAEEnabled", "boolean"),
            ("PlusProductID", "string"),
            ("PlusVersionNumber", "string"),
            ("PortableOperatingSystem", "boolean"),
            ("Primary", "boolean"),
            ("ProductType", "uint32"),
            ("QuantumLength", "uint8"),
            ("QuantumType", "uint8"),
            ("RegisteredUser", "string"),
            ("SerialNumber", "string"),
            ("ServicePackMajorVersion", "uint16"),
            ("ServicePackMinorVersion", "uint16"),
            ("SizeStoredInPagingFiles", "uint64"),
            ("Status", "string"),
            ("SuiteMask", "uint32"),
            ("SystemDevice", "string"),
            ("SystemDirectory", "string"),
            ("SystemDrive", "string"),
            ("TotalSwapSpaceSize", "uint64"),
            ("TotalVirtualMemorySize", "uint64"),
            ("TotalVisibleMemorySize", "uint64"),
            ("Version", "string"),
            ("WindowsDirectory", "string"),
        ],
        methods: &[
            Method {
                name: "Reboot",
                is_static: false,
                inputs: &[],
                outputs: &[],
            },
            Method {
                name: "Shutdown",
                is_static: false,
                inputs: &[],
                outputs: &[],
            },
        ],
    },
};

impl Class for OperatingSystem {
    schema!(OPERATING_SYSTEM);
    /// Reboot and Shutdown: the whole system, for administrators only (others get
    /// ReturnValue 2); 0 once systemd accepted the job, as Windows answers before it goes down.
    fn invoke(&self, ctx: &Context<'_>, keys: &[(&str, &str)], method: &str) -> Answer {
        let (method, action) = match method.to_ascii_lowercase().as_str() {
            "reboot" => ("Reboot", PowerAction::Reboot),
            "shutdown" => ("Shutdown", PowerAction::PowerOff),
            _ => return Err(crate::not_supported(ctx)),
        };
        MethodInput::read(ctx.request.body.as_ref(), method)?;
        if !keys.is_empty() {
            self.get(ctx, keys)?;
        }
        let output = |code: u32| super::method_output(self, method, code);
        let user = ctx.caller.map_or("", |c| c.user.as_str());
        if let Some(refused) = super::refuse_unless_administrator(ctx, self, method) {
            return Ok(refused);
        }
        let Some(power) = &self.power else {
            // 1: not supported (no service manager to ask).
            return Ok(output(1));
        };
        match power.power(action) {
            Ok(()) => {
                tracing::warn!(
                    user,
                    method,
                    "Win32_OperatingSystem: the system is going down"
                );
                Ok(output(0))
            }
            Err(Error::AccessDenied { .. }) => Ok(output(super::ACCESS_DENIED)),
            Err(error @ (Error::Connect { .. } | Error::Bus { .. })) => Err(systemd_fault(&error)),
            Err(error) => {
                tracing::warn!(user, method, %error, "Win32_OperatingSystem");
                Ok(output(8))
            }
        }
    }

    /// A Put changes the Description, for administrators only (others: access denied, as
    /// Windows refuses a user who may not write the computer description).
    fn put(&self, ctx: &Context<'_>, current: Instance) -> Answer {
        self.write(ctx, &current)?;
        let keys = current.selectors();
        let keys: Vec<(&str, &str)> = keys.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        self.get(ctx, &keys)
    }

    fn instances(&self, _ctx: &Context<'_>, _filter: Option<&Filter>) -> Instances {
        let meminfo = procfs::read_required("/proc/meminfo")?;
        let kb = |k| procfs::field(&meminfo, k);
        let (total, available) = (kb("MemTotal"), kb("MemAvailable"));
        let (swap_total, swap_free) = (kb("SwapTotal"), kb("SwapFree"));
        let caption = os_release("PRETTY_NAME").unwrap_or_else(|| "Linux".to_owned());
        let release = procfs::read_text("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as i64);
        let boot = procfs::boot_time().map(|s| CimDateTime::utc(s as i64 * 1_000_000));
        let arch = match std::env::consts::ARCH {
            "x86_64" | "aarch64" | "powerpc64" | "s390x" | "riscv64" => "64-bit",
            _ => "32-bit",
        };
        let instance = Instance::new(self.name(), self.namespace())
            .with("BootDevice", Option::<String>::None)
            .with("BuildNumber", release.clone())
            .with("Caption", caption.clone())
            .with("CreationClassName", self.name())
            .with("CSCreationClassName", "Win32_ComputerSystem")
            .with("CSName", procfs::host_name())
            .with("Description", machine_info::description(&self.machine_info))
            .with("FreePhysicalMemory", available)
            .with("FreeSpaceInPagingFiles", swap_free)
            .with(
                "FreeVirtualMemory",
                available.zip(swap_free).map(|(a, b)| a + b),
            )
            .with("LastBootUpTime", boot)
            .with(
                "CurrentTimeZone",
                i64::from(super::system::local_offset_minutes(now)),
            )
            .with(
                "LocalDateTime",
                CimDateTime::Instant {
                    micros: now,
                    offset_minutes: super::system::local_offset_minutes(now),
                },
            )
            .with("Manufacturer", os_release("NAME"))
            // Windows' Name is "Caption|WindowsDirectory|boot partition"; the same shape here.
            .with_key("Name", format!("{caption}|/|/"))
            .with("NumberOfProcesses", procfs::pids().len() as u64)
            .with("OSArchitecture", arch)
            .with("OSType", OS_TYPE_LINUX)
            .with("SizeStoredInPagingFiles", swap_total)
            .with("Status", "OK")
            .with(
                "TotalVirtualMemorySize",
                total.zip(swap_total).map(|(a, b)| a + b),
            )
            .with("TotalVisibleMemorySize", total)
            .with("Version", release);
        Ok(vec![instance.sorted()])
    }
}
