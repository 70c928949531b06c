//! The performance classes against `/proc/stat`, `/proc/meminfo` and sysfs: raw counters in
//! Windows' units, formatted ones over a busy processor, disk writes and free space.

use super::*;

/// (name, idle + iowait ticks, user + nice ticks) of every `cpu` line of /proc/stat.
fn proc_stat_cpus() -> Vec<(String, u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").expect("stat");
    stat.lines()
        .filter(|l| l.starts_with("cpu"))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let n = |i: usize| f[i].parse::<u64>().expect("ticks");
            let name = match &f[0][3..] {
                "" => "_Total".to_owned(),
                i => i.to_owned(),
            };
            (name, n(4) + n(5), n(1) + n(2))
        })
        .collect()
}

/// Now as a FILETIME (100 ns since 1601).
fn filetime_now() -> u64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock");
    116_444_736_000_000_000 + (d.as_nanos() / 100) as u64
}

#[test]
fn perf_raw_processor_counters_are_proc_stat_in_100ns() {
    let f = Fixture::http();
    let before = proc_stat_cpus();
    let t0 = filetime_now();
    let body = enumerate_all(&f, "Win32_PerfRawData_PerfOS_Processor");
    let t1 = filetime_now();
    let after = proc_stat_cpus();
    let processors = (before.len() - 1) as u64;
    let mut items = Vec::new();
    find_all(&body, "Win32_PerfRawData_PerfOS_Processor", &mut items);
    assert_eq!(items.len(), before.len());
    for item in items {
        let name = text_of(item, "Name").expect("Name");
        let num = |p: &str| -> u64 {
            text_of(item, p)
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{p}"))
        };
        let i = before.iter().position(|c| c.0 == name).expect("a cpu line");
        // _Total is the average of the processors; ticks are 100,000 units of 100 ns.
        let divisor = if name == "_Total" { processors } else { 1 };
        let range = |lo: u64, hi: u64| lo * 100_000 / divisor..=hi * 100_000 / divisor;
        assert!(
            range(before[i].1, after[i].1).contains(&num("PercentProcessorTime")),
            "{name}"
        );
        assert!(
            range(before[i].2, after[i].2).contains(&num("PercentUserTime")),
            "{name}"
        );
        assert!((t0..=t1).contains(&num("Timestamp_Sys100NS")));
        assert_eq!(num("Frequency_Sys100NS"), 10_000_000);
    }
}

/// The value of `key` in /proc/stat.
fn proc_stat(key: &str) -> u64 {
    std::fs::read_to_string("/proc/stat")
        .expect("/proc/stat")
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{key} "))?.trim().parse().ok())
        .expect("the key")
}

fn number(e: &Element, name: &str) -> u64 {
    text_of(e, name)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} of\n{}", e.to_xml()))
}

/// Memory: the commit limit does not move; what is available lies between two reads.
fn memory_counters_match_meminfo(f: &Fixture) {
    let meminfo_kb = |key: &str| {
        let text = std::fs::read_to_string("/proc/meminfo").expect("meminfo");
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}:")))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .expect("meminfo key")
    };
    let available_before = meminfo_kb("MemAvailable");
    let memory = enumerate_all(f, "Win32_PerfFormattedData_PerfOS_Memory");
    let available_after = meminfo_kb("MemAvailable");
    assert_eq!(
        number(&memory, "CommitLimit"),
        meminfo_kb("CommitLimit") * 1024
    );
    let available = number(&memory, "AvailableKBytes");
    let slack = available_before.abs_diff(available_after) + 64 * 1024;
    assert!(
        available + slack >= available_before.min(available_after)
            && available <= available_before.max(available_after) + slack,
        "AvailableKBytes {available} vs {available_before}..{available_after}"
    );
    assert_eq!(number(&memory, "AvailableMBytes"), available / 1024);
}

/// Network interfaces: every one but loopback, received bytes between two reads.
fn network_counters_match_sysfs(f: &Fixture) {
    let rx = |name: &str| -> u64 {
        std::fs::read_to_string(format!("/sys/class/net/{name}/statistics/rx_bytes"))
            .expect("rx_bytes")
            .trim()
            .parse()
            .expect("a number")
    };
    let links = ip_json(&["link"]);
    let wanted: Vec<&str> = links
        .iter()
        .filter(|l| l["link_type"] != "loopback")
        .filter_map(|l| l["ifname"].as_str())
        .collect();
    let before: Vec<u64> = wanted.iter().map(|n| rx(n)).collect();
    let interfaces = enumerate_all(f, "Win32_PerfRawData_Tcpip_NetworkInterface");
    let after: Vec<u64> = wanted.iter().map(|n| rx(n)).collect();
    let mut items = Vec::new();
    find_all(
        &interfaces,
        "Win32_PerfRawData_Tcpip_NetworkInterface",
        &mut items,
    );
    assert_eq!(items.len(), wanted.len(), "{}", interfaces.to_xml());
    for (i, name) in wanted.iter().enumerate() {
        let item = item_with(
            &interfaces,
            "Win32_PerfRawData_Tcpip_NetworkInterface",
            "Name",
            name,
        );
        let received = number(item, "BytesReceivedPersec");
        assert!(
            (before[i]..=after[i]).contains(&received),
            "{name}: {received}"
        );
    }
}

#[test]
fn performance_counters_match_proc_and_sysfs() {
    let (f, _child, pid) = server_and_sleeper();

    // One process's raw counters, in Windows' units.
    let processes = enumerate_all(&f, "Win32_PerfRawData_PerfProc_Process");
    let item = item_with(
        &processes,
        "Win32_PerfRawData_PerfProc_Process",
        "IDProcess",
        &pid.to_string(),
    );
    assert!(text_of(item, "Name").is_some_and(|n| n == "sleep" || n.starts_with("sleep#")));
    assert_eq!(
        number(item, "CreatingProcessID"),
        u64::from(std::process::id())
    );
    assert_eq!(number(item, "ThreadCount"), stat_field(pid, 20));
    assert_eq!(
        number(item, "PercentProcessorTime"),
        (stat_field(pid, 14) + stat_field(pid, 15)) * 100_000
    );
    assert_eq!(number(item, "VirtualBytes"), stat_field(pid, 23));
    assert_eq!(number(item, "WorkingSet"), status_kb(pid, "VmRSS") * 1024);
    let boot = proc_stat("btime");
    assert_eq!(
        number(item, "ElapsedTime"),
        116_444_736_000_000_000 + boot * 10_000_000 + stat_field(pid, 22) * 100_000
    );
    let names = texts_of(&processes, "Name");
    assert!(names.iter().any(|n| n == "_Total") && names.iter().any(|n| n == "Idle"));
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "instance names are keys");

    // Context switches: between the two reads around the request.
    let before = proc_stat("ctxt");
    let system = enumerate_all(&f, "Win32_PerfRawData_PerfOS_System");
    let after = proc_stat("ctxt");
    let switches = number(&system, "ContextSwitchesPersec");
    assert!(
        (before..=after).contains(&switches),
        "{before} <= {switches} <= {after}"
    );
    assert_eq!(
        number(&system, "SystemUpTime"),
        116_444_736_000_000_000 + boot * 10_000_000
    );

    memory_counters_match_meminfo(&f);
    network_counters_match_sysfs(&f);
}

#[test]
fn formatted_processor_percentages_see_a_busy_processor() {
    const CLASS: &str = "Win32_PerfFormattedData_PerfOS_Processor";
    let f = Fixture::http();
    // Processor 0 kept busy by a loop pinned to it: whatever else runs, it is never idle.
    let busy = Sleeper(
        std::process::Command::new("taskset")
            .args(["-c", "0", "sh", "-c", "while :; do :; done"])
            .spawn()
            .expect("run taskset"),
    );
    // The first query samples on its own; the second counts from the first.
    for _ in 0..2 {
        let body = enumerate_all(&f, CLASS);
        let mut items = Vec::new();
        find_all(&body, CLASS, &mut items);
        let logical = std::fs::read_to_string("/proc/stat")
            .expect("/proc/stat")
            .lines()
            .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
            .count();
        assert_eq!(items.len(), logical + 1, "each processor and _Total");
        assert_eq!(
            text_of(items[items.len() - 1], "Name").as_deref(),
            Some("_Total")
        );
        for item in &items {
            let percent = |name| number(item, name);
            let (busy, idle) = (percent("PercentProcessorTime"), percent("PercentIdleTime"));
            assert!(busy <= 100 && idle <= 100);
            // Each is truncated on its own: together 98 to 100.
            assert!((98..=100).contains(&(busy + idle)), "{}", item.to_xml());
            assert!(
                percent("PercentUserTime")
                    + percent("PercentPrivilegedTime")
                    + percent("PercentInterruptTime")
                    <= busy,
                "{}",
                item.to_xml()
            );
        }
        let zero = item_with(&body, CLASS, "Name", "0");
        assert!(
            number(zero, "PercentProcessorTime") >= 80,
            "processor 0 runs a busy loop: {}",
            zero.to_xml()
        );
    }
    drop(busy);
}

#[test]
fn formatted_logical_disk_counters_see_free_space_and_writes() {
    const CLASS: &str = "Win32_PerfFormattedData_PerfDisk_LogicalDisk";
    let f = Fixture::http();
    let dir = tempfile::tempdir_in("/var/tmp").expect("a directory on a disk");
    let target = Command::new("df")
        .args(["--output=target"])
        .arg(dir.path())
        .output()
        .expect("run df");
    let mount = String::from_utf8_lossy(&target.stdout)
        .lines()
        .nth(1)
        .expect("a mount point")
        .trim()
        .to_owned();

    let (_, size, avail_before) = df(&mount);
    let first = enumerate_all(&f, CLASS);
    let (_, _, avail_after) = df(&mount);
    let drive = item_with(&first, CLASS, "Name", &mount);
    let free_mb = number(drive, "FreeMegabytes");
    let mib = 1024 * 1024;
    let (low, high) = (avail_before.min(avail_after), avail_before.max(avail_after));
    assert!(
        (low / mib..=high / mib).contains(&free_mb),
        "FreeMegabytes {free_mb} vs df {low}..{high}"
    );
    assert_eq!(
        number(drive, "PercentFreeSpace"),
        free_mb * mib * 100 / size,
        "within a MiB of df: {}",
        drive.to_xml()
    );
    let mut items = Vec::new();
    find_all(&first, CLASS, &mut items);
    assert_eq!(
        text_of(items[items.len() - 1], "Name").as_deref(),
        Some("_Total")
    );

    // 16 MiB written past the page cache between two queries: the second counts them.
    let written = Command::new("dd")
        .args([
            "if=/dev/zero",
            "bs=1M",
            "count=16",
            "oflag=direct",
            "status=none",
        ])
        .arg(format!("of={}", dir.path().join("data").display()))
        .status()
        .expect("run dd");
    assert!(written.success());
    let second = enumerate_all(&f, CLASS);
    let drive = item_with(&second, CLASS, "Name", &mount);
    match text_of(drive, "DiskWriteBytesPersec").filter(|v| !v.is_empty()) {
        Some(rate) => {
            let rate: u64 = rate.parse().expect("a number");
            assert!(rate > 0, "16 MiB were written: {}", drive.to_xml());
            assert!(number(drive, "DiskWritesPersec") > 0);
            assert!(number(drive, "PercentDiskTime") <= 100);
        }
        // A drive without a block device of its own (overlay, network) has no rates.
        None => eprintln!("{mount}: no block device statistics; rates not checked"),
    }
}

/// The physical disks as the provider counts them: the block devices with a `device` link, in
/// name order, with the fields of their `stat` file.
fn physical_disks() -> Vec<(String, Vec<u64>)> {
    let mut names: Vec<String> = std::fs::read_dir("/sys/block")
        .expect("/sys/block")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| {
            std::path::Path::new("/sys/block")
                .join(n)
                .join("device")
                .exists()
        })
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|n| {
            let text = std::fs::read_to_string(format!("/sys/block/{n}/stat")).expect("stat");
            let fields = text.split_whitespace().map(|v| v.parse().expect("a count"));
            (n, fields.collect())
        })
        .collect()
}

/// The raw physical disk counters are the kernel's `/sys/block/<disk>/stat` in Windows' units
/// (bytes, 100 ns), each between the values this test reads just before and just after the
/// query, per disk and summed in `_Total`; the formatted class counts 16 MiB read past the page
/// cache between two queries when they reach a physical disk.
#[test]
fn physical_disk_counters_are_the_kernels_block_stat() {
    const RAW: &str = "Win32_PerfRawData_PerfDisk_PhysicalDisk";
    const FORMATTED: &str = "Win32_PerfFormattedData_PerfDisk_PhysicalDisk";
    let f = Fixture::http();
    let before = physical_disks();
    let body = enumerate_all(&f, RAW);
    let after = physical_disks();
    assert_eq!(
        before.iter().map(|(n, _)| n).collect::<Vec<_>>(),
        after.iter().map(|(n, _)| n).collect::<Vec<_>>()
    );
    // (property, stat field, factor): reads, sectors read and written in bytes, the weighted
    // time in queue in 100 ns.
    let checks = [
        ("DiskReadsPersec", 0, 1),
        ("DiskReadBytesPersec", 2, 512),
        ("DiskWriteBytesPersec", 6, 512),
        ("AvgDiskQueueLength", 10, 10_000),
    ];
    let sum = |disks: &[(String, Vec<u64>)], field: usize| -> u64 {
        disks.iter().map(|(_, s)| s[field]).sum()
    };
    for (property, field, factor) in checks {
        for (n, ((disk, then), (_, now))) in before.iter().zip(&after).enumerate() {
            let item = item_with(&body, RAW, "Name", &format!("{n} {disk}"));
            let value = number(item, property);
            assert!(
                then[field] * factor <= value && value <= now[field] * factor,
                "{disk} {property}: {value} not within the kernel's {} .. {}",
                then[field] * factor,
                now[field] * factor
            );
        }
        let total = number(item_with(&body, RAW, "Name", "_Total"), property);
        assert!(sum(&before, field) * factor <= total && total <= sum(&after, field) * factor);
    }

    // 16 MiB of the daemon's executable read past the page cache between two queries (a read,
    // so that no file system's free space moves under the other disk tests; a file, since a
    // container may not open the disk itself).
    enumerate_all(&f, FORMATTED);
    let read_before = sum(&physical_disks(), 2);
    let dd = Command::new("dd")
        .args([
            "of=/dev/null",
            "bs=1M",
            "count=16",
            "iflag=direct",
            "status=none",
        ])
        .arg(format!("if={}", wsman_test::binaries::wsmand().display()))
        .status()
        .expect("run dd");
    let second = enumerate_all(&f, FORMATTED);
    let total = item_with(&second, FORMATTED, "Name", "_Total");
    assert!(number(total, "PercentDiskTime") <= 100);
    assert_eq!(
        number(total, "PercentDiskTime") + number(total, "PercentIdleTime"),
        100
    );
    if dd.success() && sum(&physical_disks(), 2) - read_before >= 16 * 2048 {
        assert!(
            number(total, "DiskReadBytesPersec") > 0,
            "{}",
            total.to_xml()
        );
        assert!(number(total, "DiskReadsPersec") > 0);
    } else {
        eprintln!("the executable is on no physical disk; read rates not checked");
    }
}
