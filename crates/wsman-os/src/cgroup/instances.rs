//! One directory per daemon instance under the base groups, so that the
//! shells of a daemon that died without cleaning up (SIGKILL, crash, OOM
//! kill) can be told apart from those of a daemon still running, and ended
//! by the next one.
//!
//! Layout: `<base>/instance-<pid>-<start time>-<n>/<shell id>`, where pid
//! and start time (clock ticks after boot, `/proc/PID/stat` field 22) name
//! the daemon process (the pair survives pid reuse) and `n` counts the
//! managers of that process. An instance directory whose process is gone is
//! stale: [`CgroupSupport::reclaim_stale_instances`] kills what is left in
//! it and removes it. Directories of live processes, and anything not named
//! like an instance, are never touched, so several daemons (or test
//! processes) may share a base.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{
    file_error, subdirectories, write_value, CgroupError, CgroupSupport, Layout, ShellCgroup,
    Version,
};
use crate::signal::process_stat;

/// Prefix of an instance directory's name.
const INSTANCE_PREFIX: &str = "instance-";
/// Kill-and-rescan rounds per stale shell group.
const KILL_ROUNDS: u32 = 400;

/// Managers created in this process so far (the `n` of the name).
static NEXT_INSTANCE: AtomicU64 = AtomicU64::new(0);

/// What [`CgroupSupport::reclaim_stale_instances`] cleaned up.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StaleCleanup {
    /// Instance directories of daemons no longer running, removed.
    pub instances: usize,
    /// Shell groups found in them, emptied and removed.
    pub shell_groups: usize,
    /// Processes killed in them.
    pub processes_killed: usize,
    /// Groups that could not be emptied or removed, with the reason.
    pub failures: Vec<String>,
}

impl StaleCleanup {
    /// Whether anything was found.
    pub fn is_empty(&self) -> bool {
        self.instances == 0 && self.failures.is_empty()
    }
}

impl CgroupSupport {
    /// The base directories with the cgroup version of each.
    fn base_dirs(&self) -> Vec<(Version, PathBuf)> {
        match &self.layout {
            Layout::V2 { base, .. } => vec![(Version::V2, base.clone())],
            Layout::V1 { pids, memory } => pids
                .iter()
                .chain(memory)
                .map(|dir| (Version::V1, dir.clone()))
                .collect(),
            Layout::Unavailable => Vec::new(),
        }
    }

    /// Whether this is the scope of one daemon instance
    /// ([`CgroupSupport::instance_scope`]).
    pub fn is_instance_scope(&self) -> bool {
        self.instance
    }

    /// A new instance directory under every base, for this process; shells
    /// created through the returned support live in it. Unavailable
    /// support is returned unchanged. Blocks (cgroupfs writes).
    pub fn instance_scope(&self) -> Result<Self, CgroupError> {
        if self.instance || !self.is_available() {
            return Ok(self.clone());
        }
        let pid = std::process::id();
        let start_time = process_stat(pid).map_or(0, |stat| stat.start_time);
        let sequence = NEXT_INSTANCE.fetch_add(1, Ordering::Relaxed);
        let name = format!("{INSTANCE_PREFIX}{pid}-{start_time}-{sequence}");
        let mut created: Vec<PathBuf> = Vec::new();
        let result = (|| {
            let layout = match &self.layout {
                Layout::V2 { base, memory } => {
                    let dir = base.join(&name);
                    fs::create_dir(&dir).map_err(file_error(&dir))?;
                    created.push(dir.clone());
                    // v2 hands controllers down one level at a time.
                    let wanted = if *memory { "+pids +memory" } else { "+pids" };
                    write_value(&dir.join("cgroup.subtree_control"), wanted)?;
                    Layout::V2 {
                        base: dir,
                        memory: *memory,
                    }
                }
                Layout::V1 { pids, memory } => {
                    let mut scoped = |base: &Option<PathBuf>| -> Result<_, CgroupError> {
                        let Some(base) = base else {
                            return Ok(None);
                        };
                        let dir = base.join(&name);
                        fs::create_dir(&dir).map_err(file_error(&dir))?;
                        created.push(dir.clone());
                        Ok(Some(dir))
                    };
                    let pids = scoped(pids)?;
                    let memory = scoped(memory)?;
                    Layout::V1 { pids, memory }
                }
                Layout::Unavailable => Layout::Unavailable,
            };
            Ok(Self {
                layout,
                instance: true,
            })
        })();
        if result.is_err() {
            for dir in &created {
                let _ = fs::remove_dir(dir);
            }
        }
        result
    }

    /// Removes this instance's directories (every shell group in them must
    /// be removed first). Nothing for a support that is not an instance
    /// scope. Blocks.
    pub fn remove_instance_scope(&self) -> Result<(), CgroupError> {
        if !self.instance {
            return Ok(());
        }
        for (version, dir) in self.base_dirs() {
            ShellCgroup::at(version, vec![dir]).remove()?;
        }
        Ok(())
    }

    /// Finds the instance directories of daemons that are no longer
    /// running under the base groups, kills every process left in their
    /// shell groups and removes the groups. Blocks (up to a few seconds per
    /// group whose processes do not die at once).
    pub fn reclaim_stale_instances(&self) -> StaleCleanup {
        let mut cleanup = StaleCleanup::default();
        let mut instances = BTreeSet::new();
        let mut groups = BTreeSet::new();
        for (version, dir) in self.base_dirs() {
            // An instance scope looks beside itself.
            let base = match (self.instance, dir.parent()) {
                (true, Some(parent)) => parent.to_owned(),
                _ => dir,
            };
            for instance in stale_instances(&base) {
                let Some(name) = instance.file_name().map(|n| n.to_owned()) else {
                    continue;
                };
                let mut cleaned = true;
                let mut members: Vec<PathBuf> = subdirectories(&instance);
                // Processes directly in the instance group too (none expected).
                members.push(instance.clone());
                for member in &members {
                    let group = ShellCgroup::at(version, vec![member.clone()]);
                    match group.kill_all(KILL_ROUNDS) {
                        Ok(killed) => cleanup.processes_killed += killed,
                        Err(error) => {
                            cleanup.failures.push(error.to_string());
                            cleaned = false;
                            continue;
                        }
                    }
                    if let Err(error) = group.remove() {
                        cleanup.failures.push(error.to_string());
                        cleaned = false;
                    } else if member != &instance {
                        groups.insert((name.clone(), member.file_name().map(|n| n.to_owned())));
                    }
                }
                if cleaned {
                    instances.insert(name);
                }
            }
        }
        cleanup.instances = instances.len();
        cleanup.shell_groups = groups.len();
        cleanup
    }
}

/// Instance directories under `base` whose daemon process is gone.
fn stale_instances(base: &Path) -> Vec<PathBuf> {
    subdirectories(base)
        .into_iter()
        .filter(|dir| {
            let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            instance_owner(name).is_some_and(|(pid, start_time)| !is_running(pid, start_time))
        })
        .collect()
}

/// The (pid, start time) an instance directory name records.
fn instance_owner(name: &str) -> Option<(u32, u64)> {
    let mut parts = name.strip_prefix(INSTANCE_PREFIX)?.split('-');
    let pid = parts.next()?.parse().ok()?;
    let start_time = parts.next()?.parse().ok()?;
    let _sequence: u64 = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((pid, start_time))
}

/// Whether the process that created an instance still runs.
fn is_running(pid: u32, start_time: u64) -> bool {
    process_stat(pid).is_some_and(|stat| stat.start_time == start_time && stat.state != 'Z')
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn instance_names_record_their_process() {
        assert_eq!(instance_owner("instance-42-1234-0"), Some((42, 1234)));
        for name in [
            "instance-42-1234",
            "instance-x-1-0",
            "instance-1-2-3-4",
            "0D7E5C11-0000-4000-8000-00000000000A",
            "wsmand-daemon",
        ] {
            assert_eq!(instance_owner(name), None, "{name}");
        }
        let own = process_stat(std::process::id()).unwrap();
        assert!(is_running(own.pid, own.start_time));
        assert!(!is_running(own.pid, own.start_time + 1));
    }

    /// Runs for real where the host allows groups (root here and in CI): a
    /// stale instance (a process that is gone) is emptied and removed, a
    /// live one and a foreign directory are left alone.
    #[test]
    fn stale_instances_are_killed_and_removed_live_ones_kept() {
        let Some(support) = super::super::tests::usable_support("wsman-os-instance-test") else {
            return;
        };
        let live = support.instance_scope().unwrap();
        let live_group = live
            .create_shell_group("LIVE", crate::cgroup::CgroupLimits::default())
            .unwrap()
            .unwrap();
        // A process that has exited stands for a killed daemon.
        let mut gone = std::process::Command::new("true").spawn().unwrap();
        let gone_pid = gone.id();
        gone.wait().unwrap();
        let (_, base) = support.base_dirs().remove(0);
        let stale = base.join(format!("{INSTANCE_PREFIX}{gone_pid}-1-0"));
        let shell = stale.join("STALE");
        fs::create_dir_all(&shell).unwrap();
        let foreign = base.join("not-an-instance");
        fs::create_dir_all(&foreign).unwrap();
        let mut orphan = std::process::Command::new("sleep")
            .arg("300")
            .spawn()
            .unwrap();
        fs::write(shell.join("cgroup.procs"), orphan.id().to_string()).unwrap();

        let cleanup = support.reclaim_stale_instances();
        let orphan_status = orphan.wait().unwrap();
        let stale_left = stale.exists();
        let live_kept = live_group.paths().iter().all(|p| p.exists());
        let foreign_kept = foreign.exists();
        let _ = fs::remove_dir(&foreign);
        live_group.remove().unwrap();
        live.remove_instance_scope().unwrap();
        assert!(!stale_left, "{cleanup:?}");
        assert!(live_kept && foreign_kept);
        assert!(
            cleanup.instances >= 1 && cleanup.shell_groups >= 1,
            "{cleanup:?}"
        );
        assert!(cleanup.processes_killed >= 1, "{cleanup:?}");
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&orphan_status),
            Some(9)
        );
    }
}
