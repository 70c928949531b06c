//! root/hardware against a real BMC: OpenIPMI's `ipmi_sim` on loopback (see
//! `wsman_test::ipmi`), read by wsmand over RMCP+ and by `ipmitool` over the same protocol.
//! Every value is checked against what ipmitool says about the same simulator, and ClearLog's
//! effect (or its absence) is seen by ipmitool too. The hwmon, thermal and DMI classes are
//! checked against recorded sysfs trees and `dmidecode`.
//!
//! By concern: [`ipmi`] (sensors, the SEL, sessions and `bmc.toml`), [`bmc_accounts`] (BMC
//! accounts below Administrator), [`sysfs`] (hwmon and thermal zones, associations),
//! [`dmi`] (enclosure, system, memory and processor from SMBIOS); the host and the helpers
//! they share are here.

mod bmc_accounts;
mod dmi;
mod ipmi;
mod sysfs;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use wsman_proto::enumeration::dialect::ASSOCIATION as ASSOCIATION_FILTER;
use wsman_proto::ns::action;
use wsman_proto::xml::{self, Element, Limits};
use wsman_test::ipmi::{IpmiSim, SEL_EVENTS};
use wsman_test::{soap, ConfigDir, SERVICE_ACCOUNT, SERVICE_PASSWORD};

use super::{expect_fault, find_all, MethodHost};

const DMTF: &str = "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/";
const WMI_HARDWARE: &str = "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/hardware/";
/// A service account that is not an administrator (its shells run as nobody).
const PLAIN: &str = "plainbmc";
const PLAIN_PASSWORD: &str = "Plain-Bmc-Pass1";

/// The host of the root/hardware tests.
enum HardwareTests {}
type Host = MethodHost<HardwareTests>;

impl Host {
    /// wsmand with `bmc.toml` (mode 0600 unless `mode` says otherwise) when given.
    fn start(bmc_toml: Option<&str>, mode: u32) -> Host {
        Host::start_with(bmc_toml, mode, None)
    }

    /// wsmand reading hwmon, thermal zones and DMI from the recorded sysfs tree.
    fn with_recorded_sysfs() -> Host {
        let root = sysfs_fixture();
        Host::start_with(None, 0o600, Some(&root))
    }

    fn start_with(bmc_toml: Option<&str>, mode: u32, sysfs: Option<&Path>) -> Host {
        let prepare = |config: &ConfigDir| {
            if let Some(text) = bmc_toml {
                let path = config.write_raw("bmc.toml", text);
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
                    .expect("chmod bmc.toml");
            }
            if let Some(root) = sysfs {
                config.write_raw(
                    "hardware.toml",
                    &format!("sysfs_root = \"{}\"\n", root.display()),
                );
            }
        };
        Host::new((PLAIN, PLAIN_PASSWORD), prepare, &[])
    }

    /// Every item of an Enumerate of `uri` (one optimized response), as elements.
    fn enumerate(&self, uri: &str, selectors: &[(&str, &str)], filter: &str) -> Vec<Element> {
        let body = format!(
            "<n:Enumerate xmlns:n=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\" \
             xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\" \
             xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" \
             xmlns:b=\"http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd\">\
             <w:OptimizeEnumeration/><w:MaxElements>32000</w:MaxElements>{filter}</n:Enumerate>"
        );
        let r = self.post(&soap::request(action::ENUMERATE, uri, selectors, &body));
        assert_eq!(r.status, 200, "{uri}\n{}", r.describe());
        let text = r.text();
        assert!(text.contains("EndOfSequence"), "{text}");
        let envelope = xml::parse(&text, &Limits::default()).expect("XML");
        let mut items = Vec::new();
        find_all(&envelope, "Items", &mut items);
        items
            .first()
            .map(|items| items.elements().cloned().collect())
            .unwrap_or_default()
    }

    /// Every instance of the DMTF class `class` (`CIM_Sensor`), unfiltered.
    fn instances(&self, class: &str) -> Vec<Element> {
        self.enumerate(&format!("{DMTF}{class}"), &[], "")
    }

    fn clear_log_as(&self, user: (&str, &str)) -> String {
        let uri = format!("{DMTF}CIM_RecordLog");
        let body = format!("<p:ClearLog_INPUT xmlns:p=\"{uri}\"/>");
        let request = soap::request(
            &format!("{uri}/ClearLog"),
            &uri,
            &[("InstanceID", "IPMI:SEL")],
            &body,
        );
        let r = self.post_as(user.0, user.1, &request);
        assert_eq!(r.status, 200, "{}", r.describe());
        soap::find_text(&r.text(), "ReturnValue").unwrap_or_else(|| panic!("{}", r.describe()))
    }
}

/// The simulator with [`SEL_EVENTS`] in its SEL and wsmand reading it as `account` (`None`: the
/// administrator of [`IpmiSim::bmc_toml`]); `None` where the simulator's tools are missing.
fn sim_with_sel_events(account: Option<(&str, &str, &str)>) -> Option<(IpmiSim, Host)> {
    let sim = IpmiSim::start()?;
    sim.add_sel_events(SEL_EVENTS);
    let bmc_toml = account.map_or_else(|| sim.bmc_toml(), |account| sim.bmc_toml_as(account));
    let host = Host::start(Some(&bmc_toml), 0o600);
    Some((sim, host))
}

/// A property of an instance element (`None`: absent or nil).
fn prop(item: &Element, name: &str) -> Option<String> {
    let e = item.elements().find(|c| c.name == name)?;
    let nil = e
        .attr_ns("http://www.w3.org/2001/XMLSchema-instance", "nil")
        .is_some_and(|v| v == "true");
    (!nil).then(|| e.trimmed_text())
}

fn by_name<'a>(items: &'a [Element], name: &str) -> &'a Element {
    items
        .iter()
        .find(|i| prop(i, "ElementName").as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no sensor {name:?} among {} items", items.len()))
}

/// `CurrentReading * 10^UnitModifier`-style value of an integer property.
fn scaled(item: &Element, name: &str) -> Option<f64> {
    let mantissa: f64 = prop(item, name)?.parse().expect("a number");
    let modifier: i32 = prop(item, "UnitModifier")
        .expect("UnitModifier")
        .parse()
        .expect("a number");
    Some(mantissa * 10f64.powi(modifier))
}

fn same(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0),
        _ => false,
    }
}

/// ipmitool's number column (`na`: none).
fn column(value: &str) -> Option<f64> {
    let v = value.trim();
    (v != "na").then(|| v.parse().unwrap_or_else(|_| panic!("not a number: {v:?}")))
}

/// One line of `ipmitool sensor list`, split on `|`.
fn sensor_lines(sim: &IpmiSim) -> Vec<Vec<String>> {
    sim.ipmitool(&["sensor", "list"])
        .lines()
        .filter(|l| l.contains('|'))
        .map(|l| l.split('|').map(|f| f.trim().to_owned()).collect())
        .collect()
}

/// The SEL's record ids as `ipmitool sel list` prints them (hexadecimal).
fn sel_ids(sim: &IpmiSim) -> Vec<u16> {
    sim.ipmitool(&["sel", "list"])
        .lines()
        .filter_map(|l| l.split('|').next())
        .filter_map(|id| u16::from_str_radix(id.trim(), 16).ok())
        .collect()
}

fn sel_entries(sim: &IpmiSim) -> u64 {
    sim.ipmitool(&["sel", "info"])
        .lines()
        .find_map(|l| l.strip_prefix("Entries"))
        .and_then(|l| l.trim_start_matches([' ', ':']).trim().parse().ok())
        .expect("sel info gives Entries")
}

/// Whether `path` exists on this host, printing `skipped` (why the test stops there) if so.
fn skipped_where_exists(path: &str, skipped: &str) -> bool {
    let exists = Path::new(path).exists();
    if exists {
        eprintln!("{skipped}");
    }
    exists
}

/// The sysfs tree recorded from real machines (node_exporter's fixture, see its README).
fn sysfs_fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../wsman-providers/tests/fixtures/sysfs")
        .canonicalize()
        .expect("the sysfs fixture")
}

/// An HTTP fixture whose daemon reads DMI, hwmon and thermal zones from [`sysfs_fixture`], so
/// that the hardware classes have instances wherever the test runs.
pub(crate) fn fixture_with_recorded_sysfs() -> wsman_test::Fixture {
    let root = sysfs_fixture();
    wsman_test::Fixture::http_with(|config| {
        config.write_raw(
            "hardware.toml",
            &format!("sysfs_root = \"{}\"\n", root.display()),
        );
    })
}

fn read_trimmed(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    let text = String::from_utf8_lossy(&bytes).trim().to_owned();
    (!text.is_empty()).then_some(text)
}
