//! The catalog of every engine the daemon serves, built here and nowhere else (as a DNS
//! server builds its catalog of zones): the configuration tree, CIM and WMI, the WinRS and
//! PowerShell shells, WS-Eventing on the event logs, and the collector. Each engine is made by
//! its `new` from the services they share, made first, and states its own access
//! ([`wsman_server::engines`]); the catalog only maps keys to engines.

use std::sync::Arc;

use wsman_server::catalog::Catalog;
use wsman_server::collector::engine::{CollectorEngine, Running};
use wsman_server::engines::event_store::{EventSearchEngine, StoreSource};
use wsman_server::engines::eventing::EventingEngine;
use wsman_server::engines::shells::ShellEngine;
use wsman_server::engines::transfer::{cim::CimEngine, config::ConfigEngine};
use wsman_server::live::Starting;

/// The engines made before the catalog, from the daemon's start.
pub(crate) struct Engines {
    /// What `Win32_NTLogEvent` reads.
    pub(crate) event_log: Arc<dyn wsman_providers::cim::ntlogevent::EventLog>,
    /// The host as an event source (WS-Eventing).
    pub(crate) events: Arc<wsman_eventsource::EventSource>,
    pub(crate) collector: wsman_server::collector::engine::Collector,
}

/// Every engine of the daemon, in one catalog. Called on the runtime: `Win32_Service` reaches
/// systemd through it, and Windows Update's classes PackageKit (the system bus, or
/// `DBUS_SYSTEM_BUS_ADDRESS`); root/hardware reads the
/// BMC `config_dir/bmc.toml` names (or `/dev/ipmi0`) and the sysfs `config_dir/hardware.toml`
/// names (or `/sys`); the machine's description is kept in the file `config_dir/host.toml`
/// names (or `/etc/machine-info`); `Win32_NTLogEvent` reads `event_log`; methods that start programs
/// (`Win32_Process.Create`) use the shells' spawn. The hardware handle comes back too: SIGHUP
/// gives it the BMC `bmc.toml` names then.
pub(crate) fn build(
    config_dir: &std::path::Path,
    starting: &mut Starting,
    engines: Engines,
) -> (Catalog, Arc<wsman_providers::cim::hardware::Hardware>) {
    use wsman_providers::cim::{
        hardware::Hardware, service::ServiceManager, update_jobs::UpdateManager, CimProvider,
    };
    let services = ServiceManager::new(tokio::runtime::Handle::current(), None);
    let updates = UpdateManager::new(tokio::runtime::Handle::current(), None);
    let sysfs_root =
        wsman_providers::cim::hardware::sysfs_root(config_dir).unwrap_or_else(|reason| {
            tracing::error!(%reason, "hardware.toml refused, reading /sys");
            std::path::PathBuf::from(wsman_providers::cim::hardware::SYSFS)
        });
    let hardware = Hardware::new(bmc(config_dir), sysfs_root);
    let machine_info = wsman_providers::cim::machine_info::machine_info_path(config_dir)
        .unwrap_or_else(|reason| {
            tracing::error!(%reason, "host.toml refused, keeping /etc/machine-info");
            wsman_providers::cim::machine_info::MACHINE_INFO.into()
        });
    let cim = CimProvider::new()
        .with_services(services)
        .with_updates(updates)
        .with_machine_info(machine_info)
        .with_event_log(engines.event_log)
        .with_hardware(Arc::clone(&hardware));
    #[cfg(feature = "bench-synthetic")]
    let cim = cim.with_synthetic(synthetic_count());
    let services = starting.services();
    let mut catalog = Catalog::new();
    catalog
        .insert(ConfigEngine::new(starting.config_provider(), &services))
        .insert(CimEngine::new(cim, &services))
        .insert(EventingEngine::new(engines.events))
        .insert(EventSearchEngine::new(
            event_store_of(engines.collector.running()),
            &services,
        ))
        .insert(CollectorEngine::new(engines.collector, &services));
    if let Some(shells) = ShellEngine::new(&services) {
        catalog.insert(shells);
    }
    (catalog, hardware)
}

/// The event store of whichever collector `running` holds at each search: the one place the
/// search and the collector's engine meet.
fn event_store_of(running: Running) -> StoreSource {
    Arc::new(move || {
        let running = running.read().unwrap_or_else(|p| p.into_inner());
        running.as_ref()?.event_store().cloned()
    })
}

#[cfg(feature = "bench-synthetic")]
fn synthetic_count() -> u32 {
    std::env::var("WSMAND_BENCH_SYNTHETIC_INSTANCES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000)
}

/// The BMC of `bmc.toml` or `/dev/ipmi0`; a refused file is logged and leaves the host
/// without one, as a refused keytab leaves it without Kerberos.
pub(crate) fn bmc(config_dir: &std::path::Path) -> Option<wsman_ipmi::Bmc> {
    match wsman_ipmi::BmcConfig::load(config_dir) {
        Ok(Some(config)) => {
            tracing::info!(target = ?config.target, "BMC");
            Some(wsman_ipmi::Bmc::new(config))
        }
        Ok(None) => None,
        Err(reason) => {
            tracing::error!(%reason, "BMC off");
            None
        }
    }
}
