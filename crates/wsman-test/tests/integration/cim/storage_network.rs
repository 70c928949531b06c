//! Logical disks and volumes against `df` (statvfs), network adapters, their configurations and
//! routes against `ip`.

use super::*;

#[test]
fn logical_disks_and_volumes_match_statvfs_of_their_mounts() {
    let f = Fixture::http();
    let (fs_type, size, avail_before) = df("/");
    let disks = enumerate_all(&f, "Win32_LogicalDisk");
    let (_, _, avail_after) = df("/");
    let mut items = Vec::new();
    find_all(&disks, "Win32_LogicalDisk", &mut items);
    let root = items
        .iter()
        .find(|i| text_of(i, "DeviceID").as_deref() == Some("/"))
        .unwrap_or_else(|| panic!("no / among the disks\n{}", disks.to_xml()));
    assert_eq!(text_of(root, "FileSystem"), Some(fs_type));
    assert_eq!(text_of(root, "Size"), Some(size.to_string()));
    assert_eq!(text_of(root, "DriveType").as_deref(), Some("3"));
    // Free space moves with every write on the machine: it must lie between the two reads
    // around the request, widened by what moved meanwhile.
    let free: u64 = text_of(root, "FreeSpace")
        .and_then(|v| v.parse().ok())
        .expect("FreeSpace");
    let low = avail_before.min(avail_after);
    let high = avail_before.max(avail_after);
    let slack = (high - low).max(64 << 20);
    assert!(
        free + slack >= low && free <= high + slack,
        "FreeSpace {free} vs df {avail_before}..{avail_after}"
    );
    // Pseudo file systems are no drives.
    for pseudo in ["/proc", "/sys", "/dev/shm"] {
        assert!(
            !items
                .iter()
                .any(|i| text_of(i, "DeviceID").as_deref() == Some(pseudo)),
            "{pseudo} listed as a disk"
        );
    }

    // WQL by key reads the one drive; a volume of the same mount has the same capacity.
    let r = wql(
        &f,
        &format!("{WMI}*"),
        "SELECT DeviceID, Size FROM Win32_LogicalDisk WHERE DeviceID = '/'",
    );
    let fragments = items_of(&r, "XmlFragment");
    assert_eq!(fragments.len(), 1, "{}", r.text());
    assert_eq!(text_of(&fragments[0], "Size"), Some(size.to_string()));

    let volumes = enumerate_all(&f, "Win32_Volume");
    let root = item_with(&volumes, "Win32_Volume", "Name", "/");
    assert_eq!(text_of(root, "Capacity"), Some(size.to_string()));
    assert_eq!(text_of(root, "BootVolume").as_deref(), Some("true"));
    assert!(text_of(root, "DeviceID").is_some_and(|d| !d.is_empty()));
}

#[test]
fn network_adapters_configurations_and_routes_match_ip() {
    let f = Fixture::http();
    let links = ip_json(&["link"]);
    let adapters = enumerate_all(&f, "Win32_NetworkAdapter");
    let mut items = Vec::new();
    find_all(&adapters, "Win32_NetworkAdapter", &mut items);
    assert_eq!(items.len(), links.len(), "{}", adapters.to_xml());
    for link in &links {
        let index = link["ifindex"].as_u64().expect("ifindex").to_string();
        let item = item_with(&adapters, "Win32_NetworkAdapter", "DeviceID", &index);
        assert_eq!(text_of(item, "Name").as_deref(), link["ifname"].as_str());
        let up = link["flags"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f == "UP"));
        assert_eq!(text_of(item, "NetEnabled"), Some(up.to_string()));
        if let Some(mac) = link["address"].as_str() {
            assert_eq!(text_of(item, "MACAddress"), Some(mac.to_ascii_uppercase()));
        }
    }

    let addresses = ip_json(&["addr"]);
    let configurations = enumerate_all(&f, "Win32_NetworkAdapterConfiguration");
    for link in &addresses {
        let index = link["ifindex"].as_u64().expect("ifindex").to_string();
        let item = item_with(
            &configurations,
            "Win32_NetworkAdapterConfiguration",
            "Index",
            &index,
        );
        let mut expected: Vec<String> = link["addr_info"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|i| i["local"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        // An adapter without addresses has a nil IPAddress, as on Windows.
        let mut served: Vec<String> = texts_of(item, "IPAddress")
            .into_iter()
            .filter(|a| !a.is_empty())
            .collect();
        expected.sort();
        served.sort();
        assert_eq!(served, expected, "addresses of interface {index}");
        assert_eq!(
            text_of(item, "IPEnabled"),
            Some((!expected.is_empty()).to_string())
        );
    }

    let routes = ip_json(&["-4", "route", "show", "table", "main"]);
    let table = enumerate_all(&f, "Win32_IP4RouteTable");
    let index_of = |dev: &str| {
        links
            .iter()
            .find(|l| l["ifname"] == dev)
            .and_then(|l| l["ifindex"].as_u64())
            .expect("the route's device")
            .to_string()
    };
    let mut route_items = Vec::new();
    find_all(&table, "Win32_IP4RouteTable", &mut route_items);
    let mut checked = 0;
    for route in routes.iter().filter(|r| r.get("type").is_none()) {
        let dst = route["dst"].as_str().expect("dst");
        let (destination, prefix) = match dst {
            "default" => ("0.0.0.0".to_owned(), 0u32),
            other => match other.split_once('/') {
                Some((d, p)) => (d.to_owned(), p.parse().expect("prefix")),
                None => (other.to_owned(), 32),
            },
        };
        let mask = std::net::Ipv4Addr::from(u32::MAX.checked_shl(32 - prefix).unwrap_or(0));
        let next_hop = route["gateway"].as_str().unwrap_or("0.0.0.0");
        let interface = index_of(route["dev"].as_str().expect("dev"));
        let found = route_items.iter().any(|i| {
            text_of(i, "Destination").as_deref() == Some(destination.as_str())
                && text_of(i, "Mask") == Some(mask.to_string())
                && text_of(i, "NextHop").as_deref() == Some(next_hop)
                && text_of(i, "InterfaceIndex") == Some(interface.clone())
        });
        assert!(found, "route {route} missing\n{}", table.to_xml());
        checked += 1;
    }
    assert_eq!(checked, route_items.len(), "{}", table.to_xml());
}
