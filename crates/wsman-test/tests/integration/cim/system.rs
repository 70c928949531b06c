//! The operating system, computer system, processor, page file and clock classes, checked against
//! `/proc/meminfo`, `/proc/cpuinfo`, `/proc/swaps` and `date`.

use super::*;

#[test]
fn win32_operating_system_matches_meminfo() {
    let f = Fixture::http();
    let r = f.post(&soap::enumerate(
        &format!("{WMI}Win32_OperatingSystem"),
        &enumerate_body(None, ""),
    ));
    assert_eq!(r.status, 200, "{}", r.describe());
    let body = parse(&r.text());
    let meminfo = std::fs::read_to_string("/proc/meminfo").expect("meminfo");
    let kb = |k: &str| {
        meminfo
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k}:")))
            .and_then(|v| v.split_whitespace().next().map(str::to_owned))
    };
    assert_eq!(text_of(&body, "TotalVisibleMemorySize"), kb("MemTotal"));
    assert_eq!(text_of(&body, "SizeStoredInPagingFiles"), kb("SwapTotal"));
    assert_eq!(text_of(&body, "OSType").as_deref(), Some("36"));
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    assert_eq!(text_of(&body, "CSName").as_deref(), Some(hostname.trim()));
    // Get by its key, as the EPR names it.
    let name = text_of(&body, "Name").expect("Name");
    let r = f.post(&soap::get(
        &format!("{WMI}Win32_OperatingSystem"),
        &[("Name", &name)],
    ));
    assert_eq!(r.status, 200, "{}", r.describe());
}

#[test]
fn computer_system_processor_page_files_and_clock_match_their_sources() {
    let f = Fixture::http();
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").expect("cpuinfo");
    let logical = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count();
    let meminfo = std::fs::read_to_string("/proc/meminfo").expect("meminfo");
    let mem_total_kb: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("MemTotal");
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");

    let body = enumerate_all(&f, "Win32_ComputerSystem");
    assert_eq!(text_of(&body, "Name").as_deref(), Some(hostname.trim()));
    assert_eq!(
        text_of(&body, "NumberOfLogicalProcessors"),
        Some(logical.to_string())
    );
    assert_eq!(
        text_of(&body, "TotalPhysicalMemory"),
        Some((mem_total_kb * 1024).to_string())
    );

    // Logical processors summed over the packages are the processors of /proc/cpuinfo.
    let body = enumerate_all(&f, "Win32_Processor");
    let mut counts = Vec::new();
    find_all(&body, "NumberOfLogicalProcessors", &mut counts);
    let sum: usize = counts
        .iter()
        .map(|c| c.trimmed_text().parse::<usize>().expect("number"))
        .sum();
    assert_eq!(sum, logical);
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_owned());
    assert_eq!(text_of(&body, "Name"), model);

    // One instance per swap area, sizes in MB.
    let swaps = std::fs::read_to_string("/proc/swaps").expect("swaps");
    let body = enumerate_all(&f, "Win32_PageFileUsage");
    let mut items = Vec::new();
    find_all(&body, "Win32_PageFileUsage", &mut items);
    assert_eq!(items.len(), swaps.lines().skip(1).count());
    for (item, line) in items.iter().zip(swaps.lines().skip(1)) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(text_of(item, "Name").as_deref(), Some(fields[0]));
        let size_kb: u64 = fields[2].parse().expect("size");
        assert_eq!(
            text_of(item, "AllocatedBaseSize"),
            Some((size_kb / 1024).to_string())
        );
    }

    // The clock: the year read before and after the request brackets the answer.
    let year = || {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs() as i64;
        wsman_proto::cim::CimDateTime::utc(secs * 1_000_000).to_xs()[..4]
            .parse::<u32>()
            .expect("year")
    };
    let before = year();
    let body = enumerate_all(&f, "Win32_UTCTime");
    let after = year();
    let answered: u32 = text_of(&body, "Year")
        .and_then(|y| y.parse().ok())
        .expect("Year");
    assert!((before..=after).contains(&answered));
    let r = f.post(&soap::get(&format!("{WMI}Win32_UTCTime"), &[]));
    assert_eq!(r.status, 200, "{}", r.describe());
}

/// `date` in the zone `tz`, formatted by `format`.
fn date_in(tz: &str, format: &str) -> String {
    let out = std::process::Command::new("date")
        .env("TZ", tz)
        .arg(format)
        .output()
        .expect("run date");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn local_time_and_the_time_zone_follow_the_hosts_zone() {
    // A zone without daylight saving and with a half-hour offset, so neither the date of the
    // test nor a whole-hour shortcut can pass by chance.
    const ZONE: &str = "Asia/Kolkata";
    if !std::path::Path::new("/usr/share/zoneinfo/Asia/Kolkata").exists() {
        assert!(
            std::env::var_os("WSMAN_TEST_REQUIRE_SYSTEMD").is_none(),
            "tzdata is required"
        );
        eprintln!("skipped: no zoneinfo database (Debian's tzdata)");
        return;
    }
    let f = Fixture::http_with_env(|_| {}, &[("TZ", ZONE)]);
    let offset = date_in(ZONE, "+%z"); // +0530
    let sign = if offset.starts_with('-') { -1 } else { 1 };
    let minutes: i64 = sign
        * (offset[1..3].parse::<i64>().expect("hours") * 60
            + offset[3..5].parse::<i64>().expect("minutes"));

    let os = enumerate_all(&f, "Win32_OperatingSystem");
    assert_eq!(text_of(&os, "CurrentTimeZone"), Some(minutes.to_string()));
    // LocalDateTime is a cim:Datetime inside the property, in the zone's offset.
    let mut local = Vec::new();
    find_all(&os, "LocalDateTime", &mut local);
    let local = local.first().expect("LocalDateTime").to_xml();
    let suffix = format!("{}:{}<", &offset[..3], &offset[3..5]);
    assert!(local.contains(&suffix), "{local} in {suffix}");

    // The clock's fields are the zone's wall clock: read `date` before and after, and the
    // answer is one of the two (a minute may turn meanwhile).
    let before = date_in(ZONE, "+%Y %-m %-d %-H %-M");
    let body = enumerate_all(&f, "Win32_LocalTime");
    let after = date_in(ZONE, "+%Y %-m %-d %-H %-M");
    let fields = ["Year", "Month", "Day", "Hour", "Minute"]
        .map(|name| text_of(&body, name).unwrap_or_default())
        .join(" ");
    assert!(
        fields == before || fields == after,
        "Win32_LocalTime {fields:?}, date said {before:?} then {after:?}"
    );
}
