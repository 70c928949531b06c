//! One cgroup per WinRS shell: limits (MaxProcessesPerShell,
//! MaxMemoryPerShellMB) and a reliable list of every process the shell
//! started, so deleting the shell leaves nothing behind.
//!
//! [`CgroupSupport::detect`] looks, in this order, for
//! 1. **cgroup v2 with `pids` delegated to us** (memory too if possible):
//!    the daemon's own group must offer the controllers. v2 forbids
//!    processes in a group that hands controllers to children, so unless the
//!    daemon sits in the root group it moves itself into a leaf
//!    `<own>/<base>-daemon` first (what systemd's `Delegate=yes` expects),
//!    then shells live in `<own>/<base>/<shell>`;
//! 2. **cgroup v1** `pids` and/or `memory` hierarchies where we may create
//!    groups (root on a hybrid layout): `<mount>/<own path>/<base>/<shell>`;
//! 3. nothing: the caller falls back to rlimits (see
//!    [`crate::process::ResourceLimits`] for why they are weaker) and to
//!    killing sessions.
//!
//! Processes join a shell's groups between fork and exec
//! ([`crate::process`]), so nothing escapes by forking early.
//!
//! This module needs no `unsafe`: it only reads and writes cgroupfs files.

#![forbid(unsafe_code)]

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::sleep;
use std::time::Duration;

use crate::signal::{signal_process, ProcessSignal};

mod instances;

pub use instances::StaleCleanup;

/// How one kind of limit is enforced for a shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LimitMechanism {
    /// A cgroup v2 controller (exact, per shell).
    CgroupV2,
    /// A cgroup v1 controller (exact, per shell).
    CgroupV1,
    /// rlimits: per user (RLIMIT_NPROC) or per process (RLIMIT_AS).
    Rlimits,
}

impl fmt::Display for LimitMechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::CgroupV2 => "cgroup v2",
            Self::CgroupV1 => "cgroup v1",
            Self::Rlimits => "rlimits",
        })
    }
}

/// Limits for one shell's group (`None` = unlimited).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CgroupLimits {
    /// `pids.max`: tasks (processes and threads) in the shell.
    pub max_processes: Option<u64>,
    /// `memory.max` / `memory.limit_in_bytes`, swap included where the
    /// kernel accounts it.
    pub max_memory_bytes: Option<u64>,
}

impl CgroupLimits {
    /// Limits with these values.
    pub fn new(max_processes: Option<u64>, max_memory_bytes: Option<u64>) -> Self {
        Self {
            max_processes,
            max_memory_bytes,
        }
    }
}

/// A cgroup operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CgroupError {
    /// Reading or writing a cgroupfs file failed.
    #[error("cgroup file {path:?}: {source}")]
    File {
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// Processes were still alive after every kill round.
    #[error("processes survive in cgroup {path:?}")]
    Survivors {
        /// The group.
        path: PathBuf,
    },
    /// The shell name is not a plain file name.
    #[error("invalid cgroup name {name:?}")]
    InvalidName {
        /// The name.
        name: String,
    },
}

fn file_error(path: &Path) -> impl FnOnce(io::Error) -> CgroupError + '_ {
    move |source| CgroupError::File {
        path: path.to_owned(),
        source,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Layout {
    V2 {
        base: PathBuf,
        memory: bool,
    },
    V1 {
        pids: Option<PathBuf>,
        memory: Option<PathBuf>,
    },
    Unavailable,
}

/// What this host lets the daemon do with cgroups; detected once at start.
/// [`CgroupSupport::instance_scope`] narrows it to one daemon instance (see
/// `cgroup/instances.rs` for why).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupSupport {
    layout: Layout,
    /// The bases are one instance's own directories.
    instance: bool,
}

impl CgroupSupport {
    /// No cgroups: rlimits and sessions only.
    pub fn unavailable() -> Self {
        Self {
            layout: Layout::Unavailable,
            instance: false,
        }
    }

    /// Detects what works here; `base_name` names the directory that holds
    /// the shells' groups (e.g. `wsmand`).
    pub fn detect(base_name: &str) -> Self {
        if !is_plain_name(base_name) {
            return Self::unavailable();
        }
        let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let membership = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        if let Some(layout) = detect_v2(&mounts, &membership, base_name) {
            return Self {
                layout,
                instance: false,
            };
        }
        let pids = v1_base(&mounts, &membership, "pids", base_name);
        let memory = v1_base(&mounts, &membership, "memory", base_name);
        if pids.is_none() && memory.is_none() {
            return Self::unavailable();
        }
        Self {
            layout: Layout::V1 { pids, memory },
            instance: false,
        }
    }

    /// How MaxProcessesPerShell is enforced.
    pub fn process_limit_mechanism(&self) -> LimitMechanism {
        match &self.layout {
            Layout::V2 { .. } => LimitMechanism::CgroupV2,
            Layout::V1 { pids: Some(_), .. } => LimitMechanism::CgroupV1,
            _ => LimitMechanism::Rlimits,
        }
    }

    /// How MaxMemoryPerShellMB is enforced.
    pub fn memory_limit_mechanism(&self) -> LimitMechanism {
        match &self.layout {
            Layout::V2 { memory: true, .. } => LimitMechanism::CgroupV2,
            Layout::V1 {
                memory: Some(_), ..
            } => LimitMechanism::CgroupV1,
            _ => LimitMechanism::Rlimits,
        }
    }

    /// Whether shells get a group at all (and so are killed by group).
    pub fn is_available(&self) -> bool {
        self.layout != Layout::Unavailable
    }

    /// Creates the group of one shell (`name` = its id) with `limits`.
    /// `Ok(None)` when cgroups are unavailable.
    pub fn create_shell_group(
        &self,
        name: &str,
        limits: CgroupLimits,
    ) -> Result<Option<ShellCgroup>, CgroupError> {
        if !is_plain_name(name) {
            return Err(CgroupError::InvalidName {
                name: name.to_owned(),
            });
        }
        let group = match &self.layout {
            Layout::Unavailable => return Ok(None),
            Layout::V2 { base, memory } => {
                let dir = base.join(name);
                let group = ShellCgroup::at(Version::V2, vec![dir.clone()]);
                fs::create_dir(&dir).map_err(file_error(&dir))?;
                let applied = apply_v2_limits(&dir, limits, *memory);
                if let Err(error) = applied {
                    let _ = group.remove();
                    return Err(error);
                }
                group
            }
            Layout::V1 { pids, memory } => {
                let mut group = ShellCgroup::at(Version::V1, Vec::new());
                let result = (|| {
                    if let Some(base) = pids {
                        let dir = base.join(name);
                        fs::create_dir(&dir).map_err(file_error(&dir))?;
                        group.dirs.push(dir.clone());
                        if let Some(max) = limits.max_processes {
                            write_value(&dir.join("pids.max"), &pids_max_value(max))?;
                        }
                    }
                    if let Some(base) = memory {
                        let dir = base.join(name);
                        fs::create_dir(&dir).map_err(file_error(&dir))?;
                        group.dirs.push(dir.clone());
                        // Commands' own groups nest in this one: their memory must count
                        // against its limit. Recent kernels always count so (the file is
                        // deprecated); an older one needs it before the first child.
                        let _ = fs::write(dir.join("memory.use_hierarchy"), "1");
                        if let Some(bytes) = limits.max_memory_bytes {
                            write_value(&dir.join("memory.limit_in_bytes"), &bytes.to_string())?;
                            let swap = dir.join("memory.memsw.limit_in_bytes");
                            if swap.exists() {
                                write_value(&swap, &bytes.to_string())?;
                            }
                        }
                    }
                    Ok(())
                })();
                if let Err(error) = result {
                    let _ = group.remove();
                    return Err(error);
                }
                group
            }
        };
        Ok(Some(group))
    }
}

impl fmt::Display for CgroupSupport {
    /// For the startup log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.layout {
            Layout::V2 { base, memory } => write!(
                f,
                "cgroup v2 at {} (pids{})",
                base.display(),
                if *memory {
                    ", memory"
                } else {
                    "; memory by rlimit"
                }
            ),
            Layout::V1 { pids, memory } => {
                write!(f, "cgroup v1")?;
                if let Some(path) = pids {
                    write!(f, " pids at {}", path.display())?;
                }
                if let Some(path) = memory {
                    write!(f, " memory at {}", path.display())?;
                }
                Ok(())
            }
            Layout::Unavailable => f.write_str("no usable cgroups (rlimits and sessions)"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

/// The cgroup(s) of one shell: one directory on v2, one per controller on
/// v1. Not removed on drop: call [`ShellCgroup::kill_all`] then
/// [`ShellCgroup::remove`].
#[derive(Debug)]
pub struct ShellCgroup {
    version: Version,
    dirs: Vec<PathBuf>,
    /// Fork refusals counted in groups nested in this one that were removed since (v1 counts
    /// a refusal in the group of the process that forked, and a removed group's count goes
    /// with it).
    retired_limit_hits: Arc<AtomicU64>,
    /// The `retired_limit_hits` of the group this one was made in, if any.
    parent_limit_hits: Option<Arc<AtomicU64>>,
}

impl ShellCgroup {
    fn at(version: Version, dirs: Vec<PathBuf>) -> Self {
        Self {
            version,
            dirs,
            retired_limit_hits: Arc::default(),
            parent_limit_hits: None,
        }
    }

    /// The group directories.
    pub fn paths(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// Opens, for writing, the file through which a new child joins each group (it writes
    /// "0", meaning itself, between fork and exec).
    ///
    /// On v1 that is `tasks`, which moves one thread, not `cgroup.procs`: a forked child has
    /// exactly one thread, so the effect is the same, but a move of the calling thread alone
    /// does not take the kernel's global threadgroup lock for writing, and taking it waits for
    /// an RCU grace period whenever no other move happened recently (measured here: p90 of
    /// one move 0.5 ms through `tasks` against 5-15 ms through `cgroup.procs`, at one move
    /// every few milliseconds). v2 has no such file for a domain group: `cgroup.procs`.
    pub(crate) fn open_procs_files(&self) -> io::Result<Vec<File>> {
        let file = match self.version {
            Version::V1 => "tasks",
            Version::V2 => "cgroup.procs",
        };
        self.dirs
            .iter()
            .map(|dir| OpenOptions::new().write(true).open(dir.join(file)))
            .collect()
    }

    /// A group inside this one (`name` a plain name), without limits of its own: the
    /// processes in it count against this group's limits, and [`ShellCgroup::kill_all`] of
    /// either reaches them. It lets one command of a shell be ended with everything it
    /// started, even what left its session, while the shell's other commands run on.
    pub fn create_child(&self, name: &str) -> Result<ShellCgroup, CgroupError> {
        if !is_plain_name(name) {
            return Err(CgroupError::InvalidName {
                name: name.to_owned(),
            });
        }
        let mut child = ShellCgroup::at(self.version, Vec::with_capacity(self.dirs.len()));
        child.parent_limit_hits = Some(Arc::clone(&self.retired_limit_hits));
        for dir in &self.dirs {
            let dir = dir.join(name);
            if let Err(source) = fs::create_dir(&dir) {
                let _ = child.remove();
                return Err(CgroupError::File { path: dir, source });
            }
            child.dirs.push(dir);
        }
        Ok(child)
    }

    /// Processes now in the shell, those of the groups inside it included.
    pub fn process_ids(&self) -> Vec<u32> {
        let Some(dir) = self.dirs.first() else {
            return Vec::new();
        };
        let nested = ShellCgroup::at(self.version, vec![dir.clone()]);
        nested
            .dirs_with_nested()
            .iter()
            .flat_map(|dir| {
                let members = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
                members
                    .lines()
                    .filter_map(|line| line.trim().parse::<u32>().ok())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Removes the group directories if no process is in them (one attempt, no waiting):
    /// what a command's own group needs when the command ends.
    pub fn remove_if_empty(&self) -> bool {
        if !self.process_ids().is_empty() {
            return false;
        }
        let hits = self.process_limit_hits();
        let removed = self.dirs.iter().all(|dir| remove_tree(dir).is_ok());
        if removed {
            self.retire(hits);
        }
        removed
    }

    /// Hands the fork refusals of this group, removed, to the group it was made in.
    fn retire(&self, hits: u64) {
        if let Some(parent) = &self.parent_limit_hits {
            parent.fetch_add(hits, Ordering::Relaxed);
        }
    }

    /// Memory charged to the shell now, in bytes, if a memory controller
    /// accounts it.
    pub fn memory_used(&self) -> Option<u64> {
        let file = match self.version {
            Version::V2 => "memory.current",
            Version::V1 => "memory.usage_in_bytes",
        };
        self.dirs
            .iter()
            .find_map(|dir| fs::read_to_string(dir.join(file)).ok())
            .and_then(|text| text.trim().parse().ok())
    }

    /// The group directories and every group nested in them.
    fn dirs_with_nested(&self) -> Vec<PathBuf> {
        let mut all = Vec::new();
        let mut pending = self.dirs.clone();
        while let Some(dir) = pending.pop() {
            pending.extend(subdirectories(&dir));
            all.push(dir);
        }
        all
    }

    /// How many times the process limit refused a fork (`pids.events`). Nested groups count:
    /// v1 records a refusal in the group of the process that forked.
    pub fn process_limit_hits(&self) -> u64 {
        self.dirs_with_nested()
            .iter()
            .filter_map(|dir| fs::read_to_string(dir.join("pids.events")).ok())
            .flat_map(|events| {
                events
                    .lines()
                    .filter_map(|line| line.strip_prefix("max "))
                    .filter_map(|count| count.trim().parse::<u64>().ok())
                    .collect::<Vec<_>>()
            })
            .sum::<u64>()
            + self.retired_limit_hits.load(Ordering::Relaxed)
    }

    /// Whether the memory limit made the kernel kill or refuse something.
    pub fn memory_limit_hit(&self) -> bool {
        let counters = match self.version {
            Version::V2 => ("memory.events", ["oom_kill", "max"]),
            Version::V1 => ("memory.oom_control", ["oom_kill", "oom_kill"]),
        };
        self.dirs_with_nested().iter().any(|dir| {
            let events = fs::read_to_string(dir.join(counters.0)).unwrap_or_default();
            let hit_in_events = events.lines().any(|line| {
                let mut words = line.split_whitespace();
                let key = words.next().unwrap_or_default();
                counters.1.contains(&key)
                    && words
                        .next()
                        .and_then(|n| n.parse::<u64>().ok())
                        .unwrap_or(0)
                        > 0
            });
            let failed = self.version == Version::V1
                && fs::read_to_string(dir.join("memory.failcnt"))
                    .ok()
                    .and_then(|text| text.trim().parse::<u64>().ok())
                    .unwrap_or(0)
                    > 0;
            hit_in_events || failed
        })
    }

    /// Kills every process in the shell (SIGKILL, `cgroup.kill` on v2 where
    /// the kernel has it) and waits until the group is empty, up to
    /// `max_rounds` scans 5 ms apart. Blocks.
    pub fn kill_all(&self, max_rounds: u32) -> Result<usize, CgroupError> {
        let Some(dir) = self.dirs.first() else {
            return Ok(0);
        };
        let kill_file = dir.join("cgroup.kill");
        if self.version == Version::V2 && kill_file.exists() {
            write_value(&kill_file, "1")?;
        }
        let mut signalled = 0;
        for _ in 0..max_rounds {
            let members = self.process_ids();
            if members.is_empty() {
                return Ok(signalled);
            }
            for pid in members {
                if matches!(signal_process(pid, ProcessSignal::Kill), Ok(true)) {
                    signalled += 1;
                }
            }
            sleep(Duration::from_millis(5));
        }
        if self.process_ids().is_empty() {
            Ok(signalled)
        } else {
            Err(CgroupError::Survivors { path: dir.clone() })
        }
    }

    /// Removes the group directories (they must be empty of processes;
    /// retried briefly while the kernel finishes exits). Blocks.
    pub fn remove(&self) -> Result<(), CgroupError> {
        let hits = self.process_limit_hits();
        for dir in &self.dirs {
            for child in subdirectories(dir) {
                ShellCgroup::at(self.version, vec![child]).remove()?;
            }
            let mut attempts = 0;
            loop {
                match fs::remove_dir(dir) {
                    Ok(()) => break,
                    Err(error) if error.kind() == io::ErrorKind::NotFound => break,
                    Err(error) if error.raw_os_error() == Some(libc::EBUSY) && attempts < 400 => {
                        attempts += 1;
                        sleep(Duration::from_millis(5));
                    }
                    Err(source) => {
                        return Err(CgroupError::File {
                            path: dir.clone(),
                            source,
                        })
                    }
                }
            }
        }
        self.retire(hits);
        Ok(())
    }
}

/// Removes `dir` and the groups inside it, once each (cgroupfs refuses a group that still
/// holds a process).
fn remove_tree(dir: &Path) -> io::Result<()> {
    for child in subdirectories(dir) {
        remove_tree(&child)?;
    }
    match fs::remove_dir(dir) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

/// The directories directly inside `dir` (the groups nested in a cgroup).
fn subdirectories(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
        .map(|entry| entry.path())
        .collect()
}

fn apply_v2_limits(dir: &Path, limits: CgroupLimits, memory: bool) -> Result<(), CgroupError> {
    if let Some(max) = limits.max_processes {
        write_value(&dir.join("pids.max"), &pids_max_value(max))?;
    }
    if let (Some(bytes), true) = (limits.max_memory_bytes, memory) {
        write_value(&dir.join("memory.max"), &bytes.to_string())?;
        let swap = dir.join("memory.swap.max");
        if swap.exists() {
            write_value(&swap, "0")?;
        }
    }
    Ok(())
}

/// The kernel's highest `pids.max` (PID_MAX_LIMIT); more means "max".
const PIDS_MAX_LIMIT: u64 = 4 * 1024 * 1024;

fn pids_max_value(max: u64) -> String {
    if max > PIDS_MAX_LIMIT {
        "max".to_owned()
    } else {
        max.to_string()
    }
}

fn write_value(path: &Path, value: &str) -> Result<(), CgroupError> {
    let mut file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(file_error(path))?;
    file.write_all(value.as_bytes()).map_err(file_error(path))
}

fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// A mount of `fstype` from mountinfo: (root inside the hierarchy, mount
/// point, super options).
fn mounts_of<'a>(
    mounts: &'a str,
    fstype: &'a str,
) -> impl Iterator<Item = (&'a str, &'a str, &'a str)> {
    mounts.lines().filter_map(move |line| {
        let (left, right) = line.split_once(" - ")?;
        let mut left_fields = left.split_whitespace();
        let root = left_fields.nth(3)?;
        let mount_point = left_fields.next()?;
        let mut right_fields = right.split_whitespace();
        if right_fields.next()? != fstype {
            return None;
        }
        let super_options = right_fields.nth(1).unwrap_or_default();
        Some((root, mount_point, super_options))
    })
}

/// The daemon's group directory in a hierarchy mounted at `mount_point`
/// whose mount shows `root` of the hierarchy.
fn own_dir(mount_point: &str, root: &str, own_path: &str) -> PathBuf {
    let relative = own_path.strip_prefix(root).unwrap_or(own_path);
    let mut dir = PathBuf::from(mount_point);
    dir.extend(relative.split('/').filter(|part| !part.is_empty()));
    dir
}

fn v1_base(mounts: &str, membership: &str, controller: &str, base_name: &str) -> Option<PathBuf> {
    let (root, mount_point, _) = mounts_of(mounts, "cgroup")
        .find(|(_, _, options)| options.split(',').any(|option| option == controller))?;
    let own_path = membership.lines().find_map(|line| {
        let mut parts = line.splitn(3, ':');
        let _id = parts.next()?;
        let controllers = parts.next()?;
        let path = parts.next()?;
        controllers
            .split(',')
            .any(|name| name == controller)
            .then_some(path)
    })?;
    let base = own_dir(mount_point, root, own_path).join(base_name);
    probe_writable(&base).then_some(base)
}

/// Creates `base` if needed and checks we may create groups in it.
fn probe_writable(base: &Path) -> bool {
    if fs::create_dir_all(base).is_err() {
        return false;
    }
    let probe = base.join(format!("probe-{}", std::process::id()));
    if fs::create_dir(&probe).is_err() {
        return false;
    }
    fs::remove_dir(&probe).is_ok()
}

fn detect_v2(mounts: &str, membership: &str, base_name: &str) -> Option<Layout> {
    let (root, mount_point, _) = mounts_of(mounts, "cgroup2").next()?;
    let own_path = membership
        .lines()
        .find_map(|line| line.strip_prefix("0::"))?;
    let own = own_dir(mount_point, root, own_path);
    let offered = read_words(&own.join("cgroup.controllers"));
    if !offered.iter().any(|c| c == "pids") {
        return None;
    }
    let memory = offered.iter().any(|c| c == "memory");
    let wanted = if memory { "+pids +memory" } else { "+pids" };
    let is_root_group = own == Path::new(mount_point);
    if !is_root_group {
        let enabled = read_words(&own.join("cgroup.subtree_control"));
        let has_all = enabled.iter().any(|c| c == "pids")
            && (!memory || enabled.iter().any(|c| c == "memory"));
        if !has_all {
            // v2 allows controllers for children only in a group without
            // processes: move the daemon into a leaf of its own first.
            let leaf = own.join(format!("{base_name}-daemon"));
            fs::create_dir_all(&leaf).ok()?;
            write_value(&leaf.join("cgroup.procs"), &std::process::id().to_string()).ok()?;
            write_value(&own.join("cgroup.subtree_control"), wanted).ok()?;
        }
    } else {
        write_value(&own.join("cgroup.subtree_control"), wanted).ok()?;
    }
    let base = own.join(base_name);
    if !probe_writable(&base) {
        return None;
    }
    write_value(&base.join("cgroup.subtree_control"), wanted).ok()?;
    Some(Layout::V2 { base, memory })
}

fn read_words(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests;
