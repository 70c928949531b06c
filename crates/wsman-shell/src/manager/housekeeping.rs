//! The manager's background duties: reaping idle and expired shells, and
//! ending at start what an earlier daemon instance left behind.

use std::sync::{PoisonError, Weak};
use std::time::Duration;

use wsman_os::cgroup::CgroupSupport;

use super::{remove_shell, Inner};
use crate::lock;

/// Ends shells idle longer than their IdleTimeOut or older than
/// MaxShellRunTime, and reaps abandoned children. Stops when the manager is gone.
pub(super) async fn reap(inner: Weak<Inner>, interval: Duration) {
    let mut ticker = tokio::time::interval(interval.max(Duration::from_millis(10)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        // Commands whose waiter was given up (see `Command::finish`) are reaped here too.
        wsman_os::process::reap_orphans();
        super::launch::remove_empty_launch_groups(&inner);
        let max_run_time = inner
            .limits
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .max_shell_run_time;
        let expired: Vec<(String, &'static str)> = lock(&inner.registry)
            .shells
            .values()
            .filter_map(|shell| {
                let idle = shell
                    .idle_deadline()
                    .is_some_and(|(timeout, since)| since.elapsed() >= timeout);
                let too_old = max_run_time.is_some_and(|max| shell.created.elapsed() >= max);
                match (idle, too_old) {
                    (_, true) => Some((shell.id.clone(), "max shell run time")),
                    (true, _) => Some((shell.id.clone(), "idle timeout")),
                    _ => None,
                }
            })
            .collect();
        for (id, reason) in expired {
            if let Some(shell) = remove_shell(&inner, &id) {
                tracing::info!(shell_id = %id, reason, "reaping shell");
                tokio::spawn(shell.close(reason));
            }
        }
    }
}

/// Ends what earlier instances left under the base groups, then takes a
/// group of this instance's own (see [`super::ShellManager::with_cgroups`]).
pub(super) fn claim_cgroups(cgroups: CgroupSupport) -> CgroupSupport {
    if !cgroups.is_available() || cgroups.is_instance_scope() {
        return cgroups;
    }
    let cleanup = cgroups.reclaim_stale_instances();
    if !cleanup.is_empty() {
        tracing::warn!(
            daemon_instances = cleanup.instances,
            shells = cleanup.shell_groups,
            processes_killed = cleanup.processes_killed,
            failures = ?cleanup.failures,
            "ended the shells an earlier daemon instance left behind"
        );
    }
    match cgroups.instance_scope() {
        Ok(scoped) => scoped,
        Err(error) => {
            tracing::warn!(%error, "no cgroup directory for this instance: shells left by a crash cannot be found by the next start");
            cgroups
        }
    }
}
