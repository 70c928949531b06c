//! Win32_Process from /proc: one instance per process, keyed by Handle (the pid as text).
//! Times are in 100 ns units and sizes in bytes, except where Windows reports KB
//! (PeakWorkingSetSize, PageFileUsage, PeakPageFileUsage), as in WMI.

use wsman_proto::cim::{CimDateTime, Instance, Value};

use std::os::fd::OwnedFd;

use super::procfs::{self, ProcessDir, Stat, HUNDRED_NS_PER_TICK, USER_HZ};
use super::schema::{ClassSchema, Declaration, Method};
use super::{Answer, Class, Instances};
use crate::{Context, Filter, Item, ItemSource};

/// `Win32_Process`.
pub struct Process;

/// Whether `operation` invokes a method that starts a process (`Win32_Process.Create`): such
/// a method is a remote shell by another name, so the server authorizes it as one (ShellSDDL,
/// AllowRemoteShellAccess) besides the WMI descriptor, and the launcher counts it in the
/// shell quotas. Decided on the class name in any namespace and URI form, so that no other
/// spelling reaches the method as a query.
pub fn starts_processes(operation: &wsman_proto::operation::Operation) -> bool {
    use wsman_proto::operation::{Action, Resource};
    let Action::Invoke(method) = &operation.action else {
        return false;
    };
    let cim = matches!(
        operation.resource,
        Resource::Wmi { .. } | Resource::Cim { .. }
    );
    cim && method.eq_ignore_ascii_case("Create")
        && operation
            .resource
            .class_name()
            .is_some_and(|class| class.eq_ignore_ascii_case(PROCESS.name))
}

/// What every process instance shares: read once per enumeration.
struct Host {
    name: String,
    os_name: String,
    version: String,
    boot_time: Option<u64>,
}

impl Host {
    fn read() -> Self {
        Self {
            name: procfs::host_name(),
            os_name: "Linux".to_owned(),
            version: procfs::read_text("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_owned())
                .unwrap_or_default(),
            boot_time: procfs::boot_time(),
        }
    }
}

/// Which files of a process an enumeration reads besides `stat` (which every instance needs,
/// and which says whether the process exists): only those the requested properties (the
/// SELECT list and the WHERE clause) come from, so `SELECT Name,ProcessId` reads no fd
/// directory. A property whose file is not read is null, and never rendered or compared.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Reads {
    status: bool,
    cmdline: bool,
    exe: bool,
    open_files: bool,
    io: bool,
}

/// The properties from `/proc/<pid>/io`.
const IO_PROPERTIES: &[&str] = &[
    "ReadOperationCount",
    "ReadTransferCount",
    "WriteOperationCount",
    "WriteTransferCount",
];

/// Whose eyes a process's private values (the `exe` link, the `io` counters) are read with:
/// Linux shows them only to root and to a caller whose user and group are the process's
/// (ptrace's read check), so a caller who is not an administrator sees them, as `ps` run as
/// that caller would, only for processes of its own Linux user and primary group; a caller
/// without a Linux user sees them for none.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Viewer {
    All,
    User { uid: u32, gid: u32 },
    Nobody,
}

impl Viewer {
    pub(super) fn of(ctx: &Context<'_>) -> Self {
        match ctx.caller {
            // Only tests of providers run without a caller.
            None => Self::All,
            Some(caller) if caller.is_administrator => Self::All,
            Some(caller) => caller
                .linux_user
                .as_deref()
                .and_then(|name| nix::unistd::User::from_name(name).ok().flatten())
                .map_or(Self::Nobody, |user| Self::User {
                    uid: user.uid.as_raw(),
                    gid: user.gid.as_raw(),
                }),
        }
    }

    /// Whether this viewer may see the private values of a process whose directory `owner`
    /// (uid, gid) owns (`None`: unknown, so not).
    pub(super) fn sees(self, owner: impl FnOnce() -> Option<(u32, u32)>) -> bool {
        match self {
            Self::All => true,
            Self::User { uid, gid } => owner() == Some((uid, gid)),
            Self::Nobody => false,
        }
    }
}

/// The properties from `/proc/<pid>/status`.
const STATUS_PROPERTIES: &[&str] = &[
    "PageFileUsage",
    "PeakPageFileUsage",
    "PeakVirtualSize",
    "PeakWorkingSetSize",
    "PrivatePageCount",
    "WorkingSetSize",
];

/// The properties from the `exe` link (the name is its last component).
const EXE_PROPERTIES: &[&str] = &["Caption", "Description", "ExecutablePath", "Name"];

impl Reads {
    const ALL: Self = Self {
        status: true,
        cmdline: true,
        exe: true,
        open_files: true,
        io: true,
    };

    fn for_filter(filter: Option<&Filter>) -> Self {
        let Some(Filter::Query(query)) = filter else {
            return Self::ALL;
        };
        if query.properties.is_none() {
            return Self::ALL;
        }
        let names = query.property_names();
        let any = |wanted: &[&str]| {
            names
                .iter()
                .any(|n| wanted.iter().any(|w| w.eq_ignore_ascii_case(n)))
        };
        Self {
            status: any(STATUS_PROPERTIES),
            cmdline: any(&["CommandLine"]),
            exe: any(EXE_PROPERTIES),
            open_files: any(&["HandleCount"]),
            io: any(IO_PROPERTIES),
        }
    }
}

/// The memory figures of `/proc/<pid>/status`, in kB, read in one pass over it.
#[derive(Default)]
struct Memory {
    peak: Option<u64>,
    rss: Option<u64>,
    hwm: Option<u64>,
    rss_anon: Option<u64>,
    swap: Option<u64>,
}

impl Memory {
    fn parse(status: &[u8]) -> Self {
        let mut memory = Self::default();
        for line in status.split(|b| *b == b'\n') {
            let Some(colon) = line.iter().position(|b| *b == b':') else {
                continue;
            };
            let slot = match &line[..colon] {
                b"VmPeak" => &mut memory.peak,
                b"VmRSS" => &mut memory.rss,
                b"VmHWM" => &mut memory.hwm,
                b"RssAnon" => &mut memory.rss_anon,
                b"VmSwap" => &mut memory.swap,
                _ => continue,
            };
            *slot = std::str::from_utf8(&line[colon + 1..])
                .ok()
                .and_then(|v| v.split_whitespace().next()?.parse().ok());
        }
        memory
    }
}

/// Reads process after process: `/proc` is opened once, each process's directory once, and
/// the read buffers are reused from one process to the next.
struct Reader {
    host: Host,
    proc: Option<OwnedFd>,
    reads: Reads,
    viewer: Viewer,
    /// Whether the fd directory's size is the open file count (Linux >= 6.2).
    size_is_count: bool,
    stat: Vec<u8>,
    status: Vec<u8>,
    cmdline: Vec<u8>,
    link: Vec<u8>,
}

impl Reader {
    fn new(reads: Reads, viewer: Viewer) -> Self {
        let host = Host::read();
        Self {
            size_is_count: procfs::fd_dir_size_is_count(&host.version),
            host,
            proc: procfs::proc_dir().ok(),
            reads,
            viewer,
            stat: Vec::new(),
            status: Vec::new(),
            cmdline: Vec::new(),
            link: Vec::new(),
        }
    }

    /// The instance of process `pid`, or `None` when it is gone (or never was).
    fn instance(&mut self, pid: u32) -> Option<Instance> {
        let dir = ProcessDir::open(self.proc.as_ref()?, pid)?;
        dir.read(c"stat", &mut self.stat).ok()?;
        let stat = Stat::parse(&String::from_utf8_lossy(&self.stat))?;
        let reads = self.reads;
        let memory = if reads.status {
            match dir.read(c"status", &mut self.status) {
                Ok(()) => Memory::parse(&self.status),
                Err(_) => Memory::default(),
            }
        } else {
            Memory::default()
        };
        let command_line = if reads.cmdline && dir.read(c"cmdline", &mut self.cmdline).is_ok() {
            command_line(&self.cmdline)
        } else {
            None
        };
        let private = self.viewer.sees(|| dir.owner());
        let exe = (reads.exe && private)
            .then(|| dir.exe(&mut self.link))
            .flatten()
            .filter(|p| !p.ends_with(" (deleted)"));
        let name = exe
            .as_deref()
            .and_then(|p| p.rsplit('/').next())
            .map_or_else(|| stat.comm.clone(), str::to_owned);
        let handles = reads
            .open_files
            .then(|| dir.open_files(self.size_is_count))
            .flatten();
        let io = (reads.io && private)
            .then(|| dir.read(c"io", &mut self.cmdline).ok())
            .flatten()
            .map(|()| String::from_utf8_lossy(&self.cmdline).into_owned());
        let io_field = |key: &str| io.as_deref().and_then(|text| procfs::field(text, key));
        let host = &self.host;
        let creation = host.boot_time.map(|boot| {
            let micros = boot as i64 * 1_000_000 + (stat.get(22) * 1_000_000 / USER_HZ) as i64;
            CimDateTime::utc(micros)
        });
        let kb_to_bytes = |kb: Option<u64>| kb.map(|k| k * 1024);
        let working_set = if reads.status {
            Value::from(memory.rss.map_or(0, |k| k * 1024))
        } else {
            Value::Null
        };
        let instance = Instance::new("Win32_Process", "root/cimv2")
            .with("Caption", name.clone())
            .with("CommandLine", command_line)
            .with("CreationClassName", "Win32_Process")
            .with("CreationDate", creation)
            .with("CSCreationClassName", "Win32_ComputerSystem")
            .with("CSName", host.name.clone())
            .with("Description", name.clone())
            .with("ExecutablePath", exe)
            .with("ExecutionState", Value::Null)
            .with_key("Handle", pid.to_string())
            .with("HandleCount", handles)
            .with("InstallDate", Value::Null)
            .with("KernelModeTime", stat.get(15) * HUNDRED_NS_PER_TICK)
            .with("Name", name)
            .with("OSCreationClassName", "Win32_OperatingSystem")
            .with("OSName", host.os_name.clone())
            .with("PageFaults", stat.get(12))
            .with("PageFileUsage", memory.swap)
            .with("ParentProcessId", stat.get(4))
            .with("PeakPageFileUsage", memory.swap)
            .with("PeakVirtualSize", kb_to_bytes(memory.peak))
            .with("PeakWorkingSetSize", memory.hwm)
            .with(
                "Priority",
                windows_priority(stat.signed(18), stat.signed(19)),
            )
            .with("PrivatePageCount", kb_to_bytes(memory.rss_anon))
            .with("ProcessId", pid)
            .with("ReadOperationCount", io_field("syscr"))
            .with("ReadTransferCount", io_field("rchar"))
            .with("WriteOperationCount", io_field("syscw"))
            .with("WriteTransferCount", io_field("wchar"))
            .with("SessionId", stat.get(6))
            .with("Status", Value::Null)
            .with("TerminationDate", Value::Null)
            .with("ThreadCount", stat.get(20))
            .with("UserModeTime", stat.get(14) * HUNDRED_NS_PER_TICK)
            .with("VirtualSize", stat.get(23))
            .with("WindowsVersion", host.version.clone())
            .with("WorkingSetSize", working_set);
        Some(instance)
    }
}

/// The arguments of a `cmdline` file joined by spaces; `None` when there are none (a kernel
/// thread, a zombie).
fn command_line(cmdline: &[u8]) -> Option<String> {
    let mut out = String::new();
    for arg in cmdline.split(|b| *b == 0).filter(|a| !a.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&String::from_utf8_lossy(arg));
    }
    (!out.is_empty()).then_some(out)
}

/// The instance of process `pid` with every property.
fn instance(pid: u32, viewer: Viewer) -> Option<Instance> {
    Reader::new(Reads::ALL, viewer).instance(pid)
}

/// The lazy enumeration: the pids listed at Enumerate, each read when pulled.
struct Processes {
    reader: Reader,
    pids: std::vec::IntoIter<u32>,
    count: usize,
}

impl ItemSource for Processes {
    fn next_item(&mut self) -> Option<Item> {
        self.pids
            .by_ref()
            .find_map(|pid| self.reader.instance(pid))
            .map(Item::Instance)
    }
    fn estimate(&self) -> usize {
        self.count
    }
    fn held_bytes(&self) -> usize {
        self.pids.len() * std::mem::size_of::<u32>()
    }
}

/// Windows' base priority (0..31, higher runs first) for the kernel's `priority` and `nice`
/// fields of `/proc/<pid>/stat`: the base of the Windows priority class each nice range
/// stands for (idle 4, below normal 6, normal 8, above normal 10, high 13), and real time 24
/// for the real-time policies (whose kernel priority is negative). The kernel's own numbers
/// run the other way (lower first) and go below zero, which Windows' uint32 cannot carry.
fn windows_priority(priority: i64, nice: i64) -> u32 {
    match (priority, nice) {
        (p, _) if p < 0 => 24,
        (_, n) if n <= -10 => 13,
        (_, n) if n < 0 => 10,
        (_, 0) => 8,
        (_, n) if n < 15 => 6,
        _ => 4,
    }
}

/// The pid a filter names by key (`Handle = 'n'` or `ProcessId = n`), so that such a query
/// reads one process, not all of them.
fn pinned_pid(filter: Option<&Filter>) -> Option<u32> {
    let filter = filter?;
    filter
        .pinned("Handle")
        .or_else(|| filter.pinned("ProcessId"))?
        .trim()
        .parse()
        .ok()
}

const PROCESS: ClassSchema = ClassSchema {
    name: "Win32_Process",
    namespace: "root/cimv2",
    keys: &["Handle"],
    singleton: false,
    references: &[],
    declaration: Declaration {
        superclass: Some("CIM_Process"),
        properties: &[
            ("Caption", "string"),
            ("CommandLine", "string"),
            ("CreationClassName", "string"),
            ("CreationDate", "datetime"),
            ("CSCreationClassName", "string"),
            ("CSName", "string"),
            ("Description", "string"),
            ("ExecutablePath", "string"),
            ("ExecutionState", "uint16"),
            ("Handle", "string"),
            ("HandleCount", "uint32"),
            ("InstallDate", "datetime"),
            ("KernelModeTime", "uint64"),
            ("MaximumWorkingSetSize", "uint32"),
            ("MinimumWorkingSetSize", "uint32"),
            ("Name", "string"),
            ("OSCreationClassName", "string"),
            ("OSName", "string"),
            ("OtherOperationCount", "uint64"),
            ("OtherTransferCount", "uint64"),
            ("PageFaults", "uint32"),
            ("PageFileUsage", "uint32"),
            ("ParentProcessId", "uint32"),
            ("PeakPageFileUsage", "uint32"),
            ("PeakVirtualSize", "uint64"),
            ("PeakWorkingSetSize", "uint32"),
            ("Priority", "uint32"),
            ("PrivatePageCount", "uint64"),
            ("ProcessId", "uint32"),
            ("QuotaNonPagedPoolUsage", "uint32"),
            ("QuotaPagedPoolUsage", "uint32"),
            ("QuotaPeakNonPagedPoolUsage", "uint32"),
            ("QuotaPeakPagedPoolUsage", "uint32"),
            ("ReadOperationCount", "uint64"),
            ("ReadTransferCount", "uint64"),
            ("SessionId", "uint32"),
            ("Status", "string"),
            ("TerminationDate", "datetime"),
            ("ThreadCount", "uint32"),
            ("UserModeTime", "uint64"),
            ("VirtualSize", "uint64"),
            ("WindowsVersion", "string"),
            ("WorkingSetSize", "uint64"),
            ("WriteOperationCount", "uint64"),
            ("WriteTransferCount", "uint64"),
        ],
        methods: &[
            Method {
                name: "Create",
                is_static: true,
                inputs: &[("CommandLine", "string"), ("CurrentDirectory", "string")],
                outputs: &[("ProcessId", "uint32")],
            },
            Method {
                name: "Terminate",
                is_static: false,
                inputs: &[("Reason", "uint32")],
                outputs: &[],
            },
            Method {
                name: "GetOwner",
                is_static: false,
                inputs: &[],
                outputs: &[("Domain", "string"), ("User", "string")],
            },
        ],
    },
};

impl Class for Process {
    schema!(PROCESS);
    fn instances(&self, ctx: &Context<'_>, filter: Option<&Filter>) -> Instances {
        let viewer = Viewer::of(ctx);
        if let Some(pid) = pinned_pid(filter) {
            return Ok(instance(pid, viewer).into_iter().collect());
        }
        let mut reader = Reader::new(Reads::for_filter(filter), viewer);
        Ok(procfs::pids()
            .into_iter()
            .filter_map(|pid| reader.instance(pid))
            .collect())
    }

    /// Every process, each read from /proc when its page is sent: the pids are listed once,
    /// at Enumerate, so a Pull never sends a process twice; one that ended meanwhile is left
    /// out, one started meanwhile is not in this enumeration. A filter pinning one pid reads
    /// that one at once instead.
    fn instances_lazily(
        &self,
        ctx: &Context<'_>,
        filter: Option<&Filter>,
    ) -> Option<Box<dyn ItemSource>> {
        if pinned_pid(filter).is_some() {
            return None;
        }
        let pids = procfs::pids();
        Some(Box::new(Processes {
            reader: Reader::new(Reads::for_filter(filter), Viewer::of(ctx)),
            count: pids.len(),
            pids: pids.into_iter(),
        }))
    }

    fn get(&self, ctx: &Context<'_>, keys: &[(&str, &str)]) -> Answer {
        let viewer = Viewer::of(ctx);
        handle(keys)
            .and_then(|pid| instance(pid, viewer))
            .ok_or_else(super::not_found)
    }

    fn invoke(&self, ctx: &Context<'_>, keys: &[(&str, &str)], method: &str) -> Answer {
        if method.eq_ignore_ascii_case("Terminate") {
            return terminate(self, ctx, keys);
        }
        if method.eq_ignore_ascii_case("Create") {
            return create(ctx);
        }
        if !method.eq_ignore_ascii_case("GetOwner") {
            return Err(crate::not_supported(ctx));
        }
        let pid = handle(keys).ok_or_else(super::not_found)?;
        let status =
            procfs::read_text(format!("/proc/{pid}/status")).map_err(|_| super::not_found())?;
        let output = Instance::new("GetOwner_OUTPUT", self.namespace());
        // Real uid: the first of the four on the Uid line.
        let uid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|v| v.split_whitespace().next()?.parse::<u32>().ok());
        Ok(match uid {
            // A local account: Windows names the computer as its domain.
            Some(uid) => output
                .with("Domain", procfs::host_name())
                .with("ReturnValue", 0u32)
                .with("User", user_name(uid)),
            // Windows' "unknown failure".
            None => output.with("ReturnValue", 8u32),
        })
    }
}

/// The real uid of process `pid` (the first of the four on the Uid line of its status).
fn owner(pid: u32) -> Option<u32> {
    procfs::read_text(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// `Terminate`: the process ends at once (SIGKILL, as TerminateProcess ends a Windows
/// process). A caller may end the processes of its own Linux user; an administrator any but
/// PID 1 and the daemon itself. Others get ReturnValue 2. The process is held by a pidfd from
/// before its owner is read until the signal, so a pid reused meanwhile is never hit. A
/// process `Create` started ends with everything it started, what called `setsid` included
/// (the launcher's cgroup of it): a Linux command leaves helpers behind that a Windows
/// program would not, and a client ending what it created expects nothing left running.
fn terminate(class: &Process, ctx: &Context<'_>, keys: &[(&str, &str)]) -> Answer {
    use rustix::process::{pidfd_open, pidfd_send_signal, Pid, PidfdFlags, Signal};
    wsman_proto::cim::MethodInput::read(ctx.request.body.as_ref(), "Terminate")?;
    let pid = handle(keys).ok_or_else(super::not_found)?;
    let output = |code: u32| super::method_output(class, "Terminate", code);
    let target = i32::try_from(pid).ok().and_then(Pid::from_raw);
    let Some(pidfd) = target.and_then(|p| pidfd_open(p, PidfdFlags::empty()).ok()) else {
        return Err(super::not_found());
    };
    let Some(uid) = owner(pid) else {
        return Err(super::not_found());
    };
    let user = ctx.caller.map_or("", |c| c.user.as_str());
    let protected = pid == 1 || pid == std::process::id();
    if protected || !may_end(ctx, uid) {
        tracing::info!(user, pid, "Win32_Process.Terminate: refused");
        return Ok(output(super::ACCESS_DENIED));
    }
    let launched = ctx
        .launcher
        .and_then(|launcher| launcher.terminate_launched(pid));
    let ended = match launched {
        Some(Ok(())) => Ok(()),
        Some(Err(error)) => {
            tracing::warn!(user, pid, %error, "Win32_Process.Terminate: the process tree");
            return Ok(output(8));
        }
        None => pidfd_send_signal(&pidfd, Signal::KILL),
    };
    match ended {
        Ok(()) => {
            tracing::info!(user, pid, "Win32_Process.Terminate");
            Ok(output(0))
        }
        // ESRCH: it ended on its own meanwhile.
        Err(rustix::io::Errno::SRCH) => Err(super::not_found()),
        Err(error) => {
            tracing::warn!(user, pid, %error, "Win32_Process.Terminate");
            Ok(output(8))
        }
    }
}

/// Windows' Win32_Process.Create return values.
mod create_return {
    pub(super) use super::super::{ACCESS_DENIED, INVALID_PARAMETER, SUCCESS, UNKNOWN_FAILURE};
    pub(super) const INSUFFICIENT_PRIVILEGE: u32 = 3;
    pub(super) const PATH_NOT_FOUND: u32 = 9;
}

/// `Create` (a static method: no selectors): `/bin/sh -c CommandLine` as the caller's Linux
/// user, in `CurrentDirectory` (the user's home when absent), started by the daemon's
/// [`crate::Launcher`] with the spawn and limits of a WinRS command and left running.
/// `ProcessStartupInformation` is not used (there is no window to place). A missing
/// CommandLine is `w:InvalidParameter`; a process that cannot start is a non-zero
/// ReturnValue, as on Windows.
fn create(ctx: &Context<'_>) -> Answer {
    use crate::LaunchError;
    use create_return::*;
    let input = wsman_proto::cim::MethodInput::read(ctx.request.body.as_ref(), "Create")?;
    let command_line = input.required("Create", "CommandLine")?;
    let directory = input.text("CurrentDirectory").map(std::path::Path::new);
    // Windows writes ProcessId before ReturnValue, nil when nothing started.
    let output = |code: u32| {
        Instance::new("Create_OUTPUT", "root/cimv2")
            .with("ProcessId", Value::Null)
            .with("ReturnValue", code)
    };
    let Some(caller) = ctx.caller else {
        return Ok(output(ACCESS_DENIED));
    };
    let Some(launcher) = ctx.launcher else {
        tracing::warn!(user = %caller.user, "Win32_Process.Create: this daemon starts no processes (no shell engine)");
        return Ok(output(UNKNOWN_FAILURE));
    };
    match launcher.launch(caller, command_line, directory) {
        Ok(pid) => {
            tracing::info!(user = %caller.user, pid, "Win32_Process.Create");
            Ok(Instance::new("Create_OUTPUT", "root/cimv2")
                .with("ProcessId", pid)
                .with("ReturnValue", SUCCESS))
        }
        Err(LaunchError::Refused(fault)) => {
            tracing::warn!(user = %caller.user, %fault, "Win32_Process.Create: refused");
            Err(*fault)
        }
        Err(error) => {
            tracing::info!(user = %caller.user, %error, "Win32_Process.Create: refused or failed");
            Ok(output(match error {
                LaunchError::AccessDenied(_) => ACCESS_DENIED,
                LaunchError::InsufficientPrivilege(_) => INSUFFICIENT_PRIVILEGE,
                LaunchError::PathNotFound(_) => PATH_NOT_FOUND,
                LaunchError::InvalidParameter(_) => INVALID_PARAMETER,
                _ => UNKNOWN_FAILURE,
            }))
        }
    }
}

/// Whether the caller may end a process whose real uid is `uid`: an administrator any, another
/// caller those of its own Linux user, told by uid (as the kernel tells owners), never by
/// name: two names can share a uid, an account only NSS knows has no line in /etc/passwd,
/// and a name made of digits would match the number shown for such an account.
fn may_end(ctx: &Context<'_>, uid: u32) -> bool {
    match Viewer::of(ctx) {
        Viewer::All => ctx.caller.is_some(),
        Viewer::User { uid: own, .. } => own == uid,
        Viewer::Nobody => false,
    }
}

/// The pid of the Handle key.
fn handle(keys: &[(&str, &str)]) -> Option<u32> {
    keys.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Handle"))
        .and_then(|(_, v)| v.trim().parse::<u32>().ok())
}

/// The name of user `uid` as NSS (the system's account databases) names it, by number when no
/// database knows it.
fn user_name(uid: u32) -> String {
    nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
        .ok()
        .flatten()
        .map_or_else(|| uid.to_string(), |user| user.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reads(query: &str) -> Reads {
        let query = wsman_proto::wql::parse(query).unwrap_or_else(|e| panic!("{e:?}"));
        Reads::for_filter(Some(&Filter::Query(query)))
    }

    #[test]
    fn a_select_reads_only_the_files_its_properties_come_from() {
        let none = Reads {
            status: false,
            cmdline: false,
            exe: false,
            open_files: false,
            io: false,
        };
        assert_eq!(reads("SELECT * FROM Win32_Process"), Reads::ALL);
        assert_eq!(Reads::for_filter(None), Reads::ALL);
        assert_eq!(
            reads("SELECT Name, ProcessId FROM Win32_Process"),
            Reads { exe: true, ..none }
        );
        assert_eq!(
            reads("SELECT ProcessId FROM Win32_Process WHERE handlecount > 3"),
            Reads {
                open_files: true,
                ..none
            }
        );
        assert_eq!(
            reads("SELECT CommandLine FROM Win32_Process WHERE WorkingSetSize > 0"),
            Reads {
                status: true,
                cmdline: true,
                ..none
            }
        );
        assert_eq!(reads("SELECT ParentProcessId FROM Win32_Process"), none);
    }

    /// Terminate's ownership is the uid: a caller whose Linux user name is the number shown for
    /// an account without a name owns nothing of it (a name comparison with the number
    /// GetOwner shows for such a uid granted it), and a name resolves to its own uid.
    #[test]
    fn ownership_is_decided_by_uid_not_by_name() {
        let request = wsman_proto::Request::default();
        let caller = |name: &str, is_administrator: bool| crate::Caller {
            user: name.to_owned(),
            principal: wsman_principal::Principal::linux_user(name),
            linux_user: Some(name.to_owned()),
            sids: std::sync::Arc::from(Vec::new()),
            is_administrator,
            client_ip: None,
            linux_account: true,
        };
        let nameless = (4242..5000)
            .find(|uid| {
                nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(*uid))
                    .is_ok_and(|u| u.is_none())
                    && nix::unistd::User::from_name(&uid.to_string()).is_ok_and(|u| u.is_none())
            })
            .expect("a uid without an account");
        assert_eq!(user_name(nameless), nameless.to_string());
        let numeric = caller(&nameless.to_string(), false);
        let ctx = Context::new(&request, "").with_caller(Some(&numeric));
        assert!(!may_end(&ctx, nameless));
        let root = caller("root", false);
        let ctx = Context::new(&request, "").with_caller(Some(&root));
        assert!(may_end(&ctx, 0));
        assert!(!may_end(&ctx, nameless));
        let admin = caller("nobody-here", true);
        let ctx = Context::new(&request, "").with_caller(Some(&admin));
        assert!(may_end(&ctx, nameless));
        assert_eq!(user_name(0), "root");
    }

    #[test]
    fn memory_of_this_process_as_its_status_lists_it() {
        let status = procfs::read_text("/proc/self/status").unwrap_or_default();
        let memory = Memory::parse(status.as_bytes());
        assert_eq!(memory.rss, procfs::field(&status, "VmRSS"));
        assert_eq!(memory.peak, procfs::field(&status, "VmPeak"));
        assert_eq!(memory.hwm, procfs::field(&status, "VmHWM"));
        assert_eq!(memory.rss_anon, procfs::field(&status, "RssAnon"));
        assert_eq!(memory.swap, procfs::field(&status, "VmSwap"));
        assert!(memory.rss.is_some());
    }
}
