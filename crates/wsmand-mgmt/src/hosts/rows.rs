//! What the console reads of a host, row by row: the shapes its pages and JSON show, apart from
//! how they are read.

use serde::Serialize;

/// What the fleet page shows of one host.
#[derive(Clone, Debug, Default, Serialize)]
pub struct HostSummary {
    /// The configured name.
    pub name: String,
    /// The configured endpoint.
    pub url: String,
    /// Identify answered.
    pub reachable: bool,
    /// The host answered but refused the configured account what the fleet reads
    /// (`w:AccessDenied`, or HTTP 401): reachable, yet nothing can be read as that account.
    pub access_denied: bool,
    /// The account the console uses on the host (what lacks the rights when access is denied).
    pub username: String,
    /// Why something could not be read.
    pub error: Option<String>,
    /// Identify's ProductVendor.
    pub product_vendor: Option<String>,
    /// Identify's ProductVersion.
    pub product_version: Option<String>,
    /// Win32_OperatingSystem.Caption.
    pub os: Option<String>,
    /// Win32_OperatingSystem.Version.
    pub os_version: Option<String>,
    /// LocalDateTime minus LastBootUpTime, in seconds.
    pub uptime_seconds: Option<u64>,
    /// Win32_Processor.LoadPercentage (the first processor).
    pub load_percentage: Option<u32>,
    /// Services in error, or set to start automatically but stopped.
    pub failed_services: Option<Vec<String>>,
}

/// One service row.
#[derive(Clone, Debug, Serialize)]
pub struct ServiceRow {
    /// Name (the key).
    pub name: String,
    /// DisplayName.
    pub display_name: String,
    /// State (Running, Stopped, ...).
    pub state: String,
    /// StartMode (Auto, Manual, Disabled).
    pub start_mode: String,
    /// Status (OK, Error, ...).
    pub status: String,
    /// ExitCode (the Win32 exit code; 0 when it stopped cleanly or never ran).
    pub exit_code: u32,
}

/// One process row.
#[derive(Clone, Debug, Serialize)]
pub struct ProcessRow {
    /// ProcessId (the Handle key).
    pub pid: u32,
    /// Name.
    pub name: String,
    /// WorkingSetSize in bytes.
    pub working_set: u64,
    /// CommandLine.
    pub command_line: String,
}

/// One `winrm/config` setting.
#[derive(Clone, Debug, Serialize)]
pub struct ConfigRow {
    /// Its path below `Config`, e.g. `Service/Auth/Basic`.
    pub path: String,
    /// Its value as the host sent it.
    pub value: String,
    /// The `Source` attribute (`GPO`: set by policy), if any.
    pub source: Option<String>,
    /// Set by policy (`Source="GPO"`): the host refuses to change it.
    pub locked: bool,
}

/// One event log record (`Win32_NTLogEvent`).
#[derive(Clone, Debug, Serialize)]
pub struct EventRow {
    /// Logfile (Application, System, Security, ...).
    pub logfile: String,
    /// RecordNumber.
    pub record_number: u64,
    /// TimeGenerated as the host sent it.
    pub time_generated: String,
    /// SourceName.
    pub source: String,
    /// Type (Error, Warning, Information, ...).
    pub event_type: String,
    /// EventCode.
    pub event_code: String,
    /// Message.
    pub message: String,
    #[serde(skip)]
    pub(super) micros: i64,
}

/// Why a host did not take a `winrm/config` value: its own words, and the whole error.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{whole}")]
pub struct SetRefused {
    /// The fault's message (the host's validation error), or the failure.
    pub message: String,
    /// Everything the client knows (fault code, status).
    pub whole: String,
}

/// What an action did.
#[derive(Clone, Debug, Serialize)]
pub struct ActionResult {
    /// The WMI method's ReturnValue (0: done).
    pub return_value: Option<u32>,
    /// A transport or protocol failure.
    pub error: Option<String>,
    /// The `winrm` command that does the same.
    pub command: String,
}
