//! `Win32_NetworkAdapter`, `Win32_NetworkAdapterConfiguration` and `Win32_IP4RouteTable`: the
//! host's network interfaces from /sys/class/net, their addresses from `getifaddrs`, and the
//! IPv4 routing table from /proc/net/route.
//!
//! One adapter per kernel interface, keyed as Windows keys them: DeviceID / Index is the
//! interface index (stable while the interface exists, as Windows' adapter index is).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use wsman_proto::cim::{Instance, Value};

use super::schema::{merged, ClassSchema, Property, LOGICAL_DEVICE};
use super::{procfs, Class, Instances};
use crate::{Context, Filter};

/// One interface as /sys/class/net shows it.
struct Interface {
    name: String,
    index: u32,
    /// `ARPHRD_*` of the link (1 Ethernet, 772 loopback).
    link_type: u32,
    mac: Option<String>,
    up: bool,
    /// `operstate` (`up`, `down`, `unknown`, `dormant`, ...).
    operstate: String,
    /// Link speed in Mb/s when the driver knows it.
    speed_mbps: Option<u64>,
    mtu: Option<u32>,
    /// The driver behind a physical device.
    driver: Option<String>,
    physical: bool,
}

fn sys(name: &str, file: &str) -> Option<String> {
    procfs::read_text(format!("/sys/class/net/{name}/{file}"))
        .ok()
        .map(|s| s.trim().to_owned())
}

/// Every interface, by index.
fn interfaces() -> Vec<Interface> {
    let Ok(dir) = std::fs::read_dir("/sys/class/net") else {
        return Vec::new();
    };
    let mut out: Vec<Interface> = dir
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let name = entry.file_name().to_str()?.to_owned();
            let index = sys(&name, "ifindex")?.parse().ok()?;
            let flags = sys(&name, "flags")
                .and_then(|f| u32::from_str_radix(f.trim_start_matches("0x"), 16).ok())
                .unwrap_or(0);
            let mac = sys(&name, "address")
                .filter(|a| !a.is_empty())
                .map(|a| a.to_ascii_uppercase());
            let device = std::path::Path::new("/sys/class/net")
                .join(&name)
                .join("device");
            let driver = std::fs::read_link(device.join("driver"))
                .ok()
                .and_then(|p| p.file_name()?.to_str().map(str::to_owned));
            Some(Interface {
                index,
                link_type: sys(&name, "type").and_then(|t| t.parse().ok()).unwrap_or(0),
                mac,
                // IFF_UP
                up: flags & 0x1 != 0,
                operstate: sys(&name, "operstate").unwrap_or_default(),
                // -1 (and an error for a link that is down) when the driver does not know.
                speed_mbps: sys(&name, "speed")
                    .and_then(|s| s.parse::<i64>().ok())
                    .and_then(|s| u64::try_from(s).ok())
                    .filter(|&s| s > 0),
                mtu: sys(&name, "mtu").and_then(|m| m.parse().ok()),
                driver,
                physical: device.exists(),
                name,
            })
        })
        .collect();
    out.sort_by_key(|i| i.index);
    out
}

/// Windows' NetConnectionStatus: 2 connected, 7 media disconnected, 0 disconnected (the
/// interface is down).
fn connection_status(i: &Interface) -> u16 {
    match (i.up, i.operstate.as_str()) {
        (false, _) => 0,
        (true, "up" | "unknown") => 2,
        (true, _) => 7,
    }
}

fn adapter_type(i: &Interface) -> Option<&'static str> {
    match i.link_type {
        1 => Some("Ethernet 802.3"),
        _ => None,
    }
}

/// `Win32_NetworkAdapter`, keyed by DeviceID (the interface index as text).
pub struct NetworkAdapter;

fn adapter(i: &Interface, host: &str) -> Instance {
    let description = i.driver.clone().unwrap_or_else(|| i.name.clone());
    Instance::new("Win32_NetworkAdapter", "root/cimv2")
        .with("AdapterType", adapter_type(i).map(str::to_owned))
        .with(
            "AdapterTypeID",
            if i.link_type == 1 {
                Value::from(0u16)
            } else {
                Value::Null
            },
        )
        // 3: running or full power.
        .with("Availability", 3u16)
        .with("Caption", format!("[{:08}] {description}", i.index))
        .with("CreationClassName", "Win32_NetworkAdapter")
        .with("Description", description)
        .with_key("DeviceID", i.index.to_string())
        .with("Index", i.index)
        .with("InterfaceIndex", i.index)
        .with("MACAddress", i.mac.clone())
        .with("Name", i.name.clone())
        .with("NetConnectionID", i.name.clone())
        .with("NetConnectionStatus", connection_status(i))
        .with("NetEnabled", i.up)
        .with("PhysicalAdapter", i.physical)
        .with("ProductName", i.driver.clone())
        .with("ServiceName", i.driver.clone())
        .with("Speed", i.speed_mbps.map(|s| s.saturating_mul(1_000_000)))
        .with("SystemCreationClassName", "Win32_ComputerSystem")
        .with("SystemName", host.to_owned())
}

const NETWORK_ADAPTER_PROPERTIES: [Property; 40] = merged(
    LOGICAL_DEVICE,
    &[
        ("AdapterType", "string"),
        ("AdapterTypeID", "uint16"),
        ("AutoSense", "boolean"),
        ("GUID", "string"),
        ("Index", "uint32"),
        ("Installed", "boolean"),
        ("InterfaceIndex", "uint32"),
        ("MACAddress", "string"),
        ("Manufacturer", "string"),
        ("MaxNumberControlled", "uint32"),
        ("MaxSpeed", "uint64"),
        ("NetConnectionID", "string"),
        ("NetConnectionStatus", "uint16"),
        ("NetEnabled", "boolean"),
        ("NetworkAddresses", "string[]"),
        ("PermanentAddress", "string"),
        ("PhysicalAdapter", "boolean"),
        ("ProductName", "string"),
        ("ServiceName", "string"),
        ("Speed", "uint64"),
        ("TimeOfLastReset", "datetime"),
    ],
);

const NETWORK_ADAPTER: ClassSchema = ClassSchema::without_methods(
    "Win32_NetworkAdapter",
    "root/cimv2",
    &["DeviceID"],
    &[],
    "CIM_NetworkAdapter",
    &NETWORK_ADAPTER_PROPERTIES,
);

impl Class for NetworkAdapter {
    schema!(NETWORK_ADAPTER);
    fn instances(&self, _ctx: &Context<'_>, _filter: Option<&Filter>) -> Instances {
        let host = procfs::host_name();
        Ok(interfaces().iter().map(|i| adapter(i, &host)).collect())
    }
}

/// The addresses of each interface by name, IPv4 first, each with its subnet as Windows
/// writes it: a dotted mask for IPv4, the prefix length for IPv6.
fn addresses() -> BTreeMap<String, Vec<(IpAddr, String)>> {
    let mut out: BTreeMap<String, Vec<(IpAddr, String)>> = BTreeMap::new();
    let Ok(list) = nix::ifaddrs::getifaddrs() else {
        return out;
    };
    for entry in list {
        let Some(address) = entry.address else {
            continue;
        };
        let (ip, subnet) = if let Some(v4) = address.as_sockaddr_in() {
            let mask = entry
                .netmask
                .and_then(|m| m.as_sockaddr_in().map(|m| m.ip()))
                .unwrap_or(Ipv4Addr::UNSPECIFIED);
            (IpAddr::V4(v4.ip()), mask.to_string())
        } else if let Some(v6) = address.as_sockaddr_in6() {
            let prefix = entry
                .netmask
                .and_then(|m| m.as_sockaddr_in6().map(|m| u128::from(m.ip()).count_ones()))
                .unwrap_or(0);
            (IpAddr::V6(v6.ip()), prefix.to_string())
        } else {
            continue;
        };
        out.entry(entry.interface_name)
            .or_default()
            .push((ip, subnet));
    }
    for list in out.values_mut() {
        list.sort_by_key(|(ip, _)| ip.is_ipv6());
    }
    out
}

/// One IPv4 route of /proc/net/route.
struct Route {
    interface: String,
    destination: Ipv4Addr,
    gateway: Ipv4Addr,
    mask: Ipv4Addr,
    metric: i32,
}

/// /proc/net/route writes each address as the hex of its in-memory (network order) bytes read
/// as a native integer.
fn route_address(hex: &str) -> Option<Ipv4Addr> {
    u32::from_str_radix(hex, 16)
        .ok()
        .map(|v| Ipv4Addr::from(v.to_ne_bytes()))
}

fn parse_routes(text: &str) -> Vec<Route> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let flags = u32::from_str_radix(f.get(3)?, 16).ok()?;
            // RTF_UP: only routes in use.
            if flags & 0x1 == 0 {
                return None;
            }
            Some(Route {
                interface: (*f.first()?).to_owned(),
                destination: route_address(f.get(1)?)?,
                gateway: route_address(f.get(2)?)?,
                metric: f.get(6)?.parse().ok()?,
                mask: route_address(f.get(7)?)?,
            })
        })
        .collect()
}

fn routes() -> Vec<Route> {
    parse_routes(&procfs::read_text("/proc/net/route").unwrap_or_default())
}

/// The name servers of /etc/resolv.conf, in order.
fn name_servers() -> Vec<String> {
    procfs::read_text("/etc/resolv.conf")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .map(|s| s.trim().to_owned())
        .filter(|s| s.parse::<IpAddr>().is_ok())
        .collect()
}

/// `Win32_NetworkAdapterConfiguration`, keyed by Index (the interface index).
pub struct NetworkAdapterConfiguration;

const NETWORK_ADAPTER_CONFIGURATION: ClassSchema = ClassSchema::without_methods(
    "Win32_NetworkAdapterConfiguration",
    "root/cimv2",
    &["Index"],
    &[],
    "CIM_Setting",
    &[
        ("ArpAlwaysSourceRoute", "boolean"),
        ("ArpUseEtherSNAP", "boolean"),
        ("Caption", "string"),
        ("DatabasePath", "string"),
        ("DeadGWDetectEnabled", "boolean"),
        ("DefaultIPGateway", "string[]"),
        ("DefaultTOS", "uint8"),
        ("DefaultTTL", "uint8"),
        ("Description", "string"),
        ("DHCPEnabled", "boolean"),
        ("DHCPLeaseExpires", "datetime"),
        ("DHCPLeaseObtained", "datetime"),
        ("DHCPServer", "string"),
        ("DNSDomain", "string"),
        ("DNSDomainSuffixSearchOrder", "string[]"),
        ("DNSEnabledForWINSResolution", "boolean"),
        ("DNSHostName", "string"),
        ("DNSServerSearchOrder", "string[]"),
        ("DomainDNSRegistrationEnabled", "boolean"),
        ("ForwardBufferMemory", "uint32"),
        ("FullDNSRegistrationEnabled", "boolean"),
        ("GatewayCostMetric", "uint16[]"),
        ("IGMPLevel", "uint8"),
        ("Index", "uint32"),
        ("InterfaceIndex", "uint32"),
        ("IPAddress", "string[]"),
        ("IPConnectionMetric", "uint32"),
        ("IPEnabled", "boolean"),
        ("IPFilterSecurityEnabled", "boolean"),
        ("IPPortSecurityEnabled", "boolean"),
        ("IPSecPermitIPProtocols", "string[]"),
        ("IPSecPermitTCPPorts", "string[]"),
        ("IPSecPermitUDPPorts", "string[]"),
        ("IPSubnet", "string[]"),
        ("IPUseZeroBroadcast", "boolean"),
        ("IPXAddress", "string"),
        ("IPXEnabled", "boolean"),
        ("IPXFrameType", "uint32[]"),
        ("IPXMediaType", "uint32"),
        ("IPXNetworkNumber", "string[]"),
        ("IPXVirtualNetNumber", "string"),
        ("KeepAliveInterval", "uint32"),
        ("KeepAliveTime", "uint32"),
        ("MACAddress", "string"),
        ("MTU", "uint32"),
        ("NumForwardPackets", "uint32"),
        ("PMTUBHDetectEnabled", "boolean"),
        ("PMTUDiscoveryEnabled", "boolean"),
        ("ServiceName", "string"),
        ("SettingID", "string"),
        ("TcpipNetbiosOptions", "uint32"),
        ("TcpMaxConnectRetransmissions", "uint32"),
        ("TcpMaxDataRetransmissions", "uint32"),
        ("TcpNumConnections", "uint32"),
        ("TcpUseRFC1122UrgentPointer", "boolean"),
        ("TcpWindowSize", "uint16"),
        ("WINSEnableLMHostsLookup", "boolean"),
        ("WINSHostLookupFile", "string"),
        ("WINSPrimaryServer", "string"),
        ("WINSScopeID", "string"),
        ("WINSSecondaryServer", "string"),
    ],
);

impl Class for NetworkAdapterConfiguration {
    schema!(NETWORK_ADAPTER_CONFIGURATION);
    fn instances(&self, _ctx: &Context<'_>, _filter: Option<&Filter>) -> Instances {
        let host = procfs::host_name();
        let addresses = addresses();
        let routes = routes();
        let servers = name_servers();
        Ok(interfaces()
            .iter()
            .map(|i| {
                let own = addresses.get(&i.name).map(Vec::as_slice).unwrap_or(&[]);
                let enabled = !own.is_empty();
                // Windows leaves the array properties nil on an adapter without IP.
                let array = |v: Vec<String>| if v.is_empty() { Value::Null } else { v.into() };
                let gateways: Vec<String> = routes
                    .iter()
                    .filter(|r| {
                        r.interface == i.name
                            && r.destination.is_unspecified()
                            && r.mask.is_unspecified()
                    })
                    .map(|r| r.gateway.to_string())
                    .collect();
                let dns = if enabled && i.link_type != 772 {
                    servers.clone()
                } else {
                    Vec::new()
                };
                let description = i.driver.clone().unwrap_or_else(|| i.name.clone());
                Instance::new("Win32_NetworkAdapterConfiguration", "root/cimv2")
                    .with("Caption", format!("[{:08}] {description}", i.index))
                    .with("DefaultIPGateway", array(gateways))
                    .with("Description", description)
                    // Which daemon configured an address is not visible to the kernel.
                    .with("DHCPEnabled", Value::Null)
                    .with("DNSHostName", host.clone())
                    .with("DNSServerSearchOrder", array(dns))
                    .with_key("Index", i.index)
                    .with("InterfaceIndex", i.index)
                    .with(
                        "IPAddress",
                        array(own.iter().map(|(ip, _)| ip.to_string()).collect()),
                    )
                    .with("IPEnabled", enabled)
                    .with(
                        "IPSubnet",
                        array(own.iter().map(|(_, s)| s.clone()).collect()),
                    )
                    .with("MACAddress", i.mac.clone())
                    .with("MTU", i.mtu)
                    .with("ServiceName", i.driver.clone())
                    .with("SettingID", i.name.clone())
            })
            .collect())
    }
}

/// `Win32_IP4RouteTable`, keyed by Destination, InterfaceIndex, Mask and NextHop.
pub struct Ip4RouteTable;

const IP4_ROUTE_TABLE: ClassSchema = ClassSchema::without_methods(
    "Win32_IP4RouteTable",
    "root/cimv2",
    &["Destination", "InterfaceIndex", "Mask", "NextHop"],
    &[],
    "CIM_LogicalElement",
    // Windows' 18 properties and their types (its published MOF syntax: Age is sint32).
    &[
        ("Age", "sint32"),
        ("Caption", "string"),
        ("Description", "string"),
        ("Destination", "string"),
        ("Information", "string"),
        ("InstallDate", "datetime"),
        ("InterfaceIndex", "sint32"),
        ("Mask", "string"),
        ("Metric1", "sint32"),
        ("Metric2", "sint32"),
        ("Metric3", "sint32"),
        ("Metric4", "sint32"),
        ("Metric5", "sint32"),
        ("Name", "string"),
        ("NextHop", "string"),
        ("Protocol", "uint32"),
        ("Status", "string"),
        ("Type", "uint32"),
    ],
);

impl Class for Ip4RouteTable {
    schema!(IP4_ROUTE_TABLE);
    fn instances(&self, _ctx: &Context<'_>, _filter: Option<&Filter>) -> Instances {
        let index: BTreeMap<String, u32> = interfaces()
            .into_iter()
            .map(|i| (i.name, i.index))
            .collect();
        Ok(routes()
            .iter()
            .map(|r| {
                let destination = r.destination.to_string();
                Instance::new("Win32_IP4RouteTable", "root/cimv2")
                    .with("Age", Value::Null)
                    .with("Caption", destination.clone())
                    .with(
                        "Description",
                        format!("{destination} - {} - {}", r.mask, r.gateway),
                    )
                    .with_key("Destination", destination.clone())
                    .with("Information", "0.0")
                    .with_key("InterfaceIndex", index.get(&r.interface).map(|&i| i as i32))
                    .with_key("Mask", r.mask.to_string())
                    .with("Metric1", r.metric)
                    .with("Metric2", -1i32)
                    .with("Metric3", -1i32)
                    .with("Metric4", -1i32)
                    .with("Metric5", -1i32)
                    .with("Name", destination)
                    .with_key("NextHop", r.gateway.to_string())
                    // 1: other (the kernel's table does not say who added a route).
                    .with("Protocol", 1u32)
                    // 3: direct (on the link), 4: indirect (through a gateway).
                    .with(
                        "Type",
                        if r.gateway.is_unspecified() {
                            3u32
                        } else {
                            4u32
                        },
                    )
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_read_as_the_kernel_writes_them() {
        let hex = |a: [u8; 4]| format!("{:08X}", u32::from_ne_bytes(a));
        let text = format!(
            "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n\
             eth0\t{}\t{}\t0003\t0\t0\t100\t{}\t0\t0\t0\n\
             eth0\t{}\t{}\t0001\t0\t0\t0\t{}\t0\t0\t0\n\
             eth1\t{}\t{}\t0000\t0\t0\t0\t{}\t0\t0\t0\n",
            hex([0, 0, 0, 0]),
            hex([192, 0, 2, 1]),
            hex([0, 0, 0, 0]),
            hex([192, 0, 2, 0]),
            hex([0, 0, 0, 0]),
            hex([255, 255, 255, 0]),
            hex([10, 0, 0, 0]),
            hex([0, 0, 0, 0]),
            hex([255, 0, 0, 0]),
        );
        let routes = parse_routes(&text);
        assert_eq!(routes.len(), 2, "the route that is not up is left out");
        assert_eq!(routes[0].gateway, Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(routes[0].metric, 100);
        assert_eq!(routes[1].destination, Ipv4Addr::new(192, 0, 2, 0));
        assert_eq!(routes[1].mask, Ipv4Addr::new(255, 255, 255, 0));
    }
}
