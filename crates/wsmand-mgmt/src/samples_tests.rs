//! The sampler's tests: the ring, the series, the figures from the classes' properties.

use super::*;
use proptest::prelude::*;

/// The interval `mgmt.toml` gives when it sets none.
fn default_interval() -> Duration {
    let seconds = wsman_config::mgmt::MgmtSettings::default().sample_interval_seconds;
    Duration::from_secs(u64::from(seconds))
}

fn instance(properties: &[(&str, &str)]) -> Element {
    let mut out = Element::new(None, "Instance");
    for (name, value) in properties {
        let mut child = Element::new(None, name);
        child
            .children
            .push(wsman_proto::xml::Node::Text((*value).to_owned()));
        out.children.push(wsman_proto::xml::Node::Element(child));
    }
    out
}

fn point(at: u64) -> Point {
    Point {
        at,
        ..Point::default()
    }
}

#[test]
fn the_ring_keeps_the_newest_hour_and_no_more() {
    let mut ring = Ring::new(360);
    for at in 0..1000 {
        ring.push(point(at));
    }
    assert_eq!(ring.len(), 360);
    assert_eq!(ring.capacity(), 360);
    assert_eq!(ring.points().next().map(|p| p.at), Some(640));
    assert_eq!(ring.latest().map(|p| p.at), Some(999));
    assert!(ring.allocated_bytes() < 720 * 16, "allocated once");
}

#[test]
fn a_point_is_kept_in_sixteen_bytes_with_what_the_pages_show() {
    let mut ring = Ring::new(360);
    assert!(
        ring.allocated_bytes() <= 360 * 16,
        "{}",
        ring.allocated_bytes()
    );
    ring.push(Point {
        at: 1_764_000_000,
        cpu: Some(12.3456),
        memory: Some(100.0),
        disk_free: None,
        network: Some(123_456_789.4),
    });
    ring.push(Point {
        at: 1_764_000_010,
        cpu: Some(0.0),
        memory: None,
        disk_free: Some(99.994),
        network: None,
    });
    let points: Vec<Point> = ring.points().collect();
    assert_eq!(points[0].at, 1_764_000_000);
    assert_eq!(points[0].cpu, Some(12.35));
    assert_eq!(points[0].memory, Some(100.0));
    assert_eq!(points[0].disk_free, None);
    // Single precision keeps 24 bits: within 8 bytes/s at 123 MB/s, a whole number.
    let network = points[0].network.unwrap();
    assert!((network - 123_456_789.4).abs() <= 8.0, "{network}");
    assert_eq!(network.fract(), 0.0);
    assert_eq!(points[1].cpu, Some(0.0));
    assert_eq!(points[1].memory, None);
    assert_eq!(points[1].disk_free, Some(99.99));
    assert_eq!(points[1].network, None);
    assert_eq!(ring.latest(), Some(points[1]));
}

#[test]
fn an_hour_is_sized_by_the_interval() {
    let names = ["a", "b"];
    let samples = Samples::new(names.iter().copied(), Duration::from_secs(10));
    let capacity = |samples: &Samples, name| {
        let series = samples.series(name).expect("followed");
        let capacity = series.lock().unwrap().ring.capacity();
        capacity
    };
    assert_eq!(capacity(&samples, "a"), 360);
    let samples = Samples::new(names.iter().copied(), Duration::from_secs(7));
    assert_eq!(capacity(&samples, "b"), 515);
    let samples = Samples::new(names.iter().copied(), Duration::ZERO);
    assert_eq!(samples.interval(), Duration::from_secs(1));
}

/// Hosts added while the service runs get a series; removed ones give theirs back.
#[test]
fn the_series_follow_the_configured_hosts() {
    let samples = Samples::new(["a", "b"].into_iter(), default_interval());
    samples.follow(["b", "c"].into_iter());
    assert!(samples.series("a").is_none());
    assert!(samples.series("b").is_some() && samples.series("c").is_some());
    assert!(samples
        .latest("c")
        .is_some_and(|(reachable, point)| reachable.is_none() && point.is_none()));
}

#[test]
fn an_unreachable_host_adds_no_point() {
    let samples = Samples::new(["h"].into_iter(), default_interval());
    let down = || Read {
        at: 5,
        cpu: Err(ReadError::new("refused", false)),
        memory: Err(ReadError::new("refused", false)),
        disk: Err(ReadError::new("refused", false)),
        network: Err(ReadError::new("refused", false)),
    };
    for _ in 0..3 {
        samples.record("h", down());
    }
    let snapshot = samples.snapshot("h", None).unwrap();
    assert_eq!(snapshot.reachable, Some(false));
    assert!(snapshot.points.is_empty());
    assert!(snapshot.error.unwrap().contains("refused"));
    samples.record(
        "h",
        Read {
            at: 6,
            cpu: Ok(Some(12.0)),
            memory: Err(ReadError::new("class not found", true)),
            disk: Ok(None),
            network: Ok(None),
        },
    );
    let snapshot = samples.snapshot("h", None).unwrap();
    assert_eq!(snapshot.reachable, Some(true));
    assert_eq!(snapshot.points.len(), 1);
    assert_eq!(snapshot.points[0].cpu, Some(12.0));
    assert_eq!(snapshot.points[0].memory, None);
    assert_eq!(samples.snapshot("h", Some(6)).unwrap().points.len(), 0);
    assert_eq!(samples.snapshot("h", Some(5)).unwrap().points.len(), 1);
    assert!(samples.snapshot("other", None).is_none());
}

#[test]
fn a_host_refusing_every_class_is_reachable_without_points() {
    let samples = Samples::new(["w"].into_iter(), default_interval());
    let fault = || Err(ReadError::new("the class is not found", true));
    samples.record(
        "w",
        Read {
            at: 1,
            cpu: fault(),
            memory: fault(),
            disk: fault(),
            network: Err(ReadError::new("the class is not found", true)),
        },
    );
    let snapshot = samples.snapshot("w", None).unwrap();
    assert_eq!(snapshot.reachable, Some(true));
    assert!(snapshot.points.is_empty());
}

#[test]
fn the_network_rate_is_the_counter_difference_over_the_host_clock() {
    let samples = Samples::new(["h"].into_iter(), default_interval());
    let counter = |bytes, timestamp| Read {
        at: timestamp / 10_000_000,
        cpu: Ok(None),
        memory: Ok(None),
        disk: Ok(None),
        network: Ok(Some(NetCounter {
            bytes,
            timestamp,
            frequency: 10_000_000,
        })),
    };
    samples.record("h", counter(1_000, 100_000_000));
    samples.record("h", counter(21_000, 200_000_000));
    // A reboot: the counter goes back, no rate for that interval.
    samples.record("h", counter(10, 300_000_000));
    let points = samples.snapshot("h", None).unwrap().points;
    let rates: Vec<Option<f64>> = points.iter().map(|p| p.network).collect();
    assert_eq!(rates, [None, Some(2_000.0), None]);
}

#[test]
fn the_figures_come_from_the_classes_properties() {
    let processors = [
        instance(&[("Name", "0"), ("PercentProcessorTime", "90")]),
        instance(&[("Name", "_Total"), ("PercentProcessorTime", "45")]),
    ];
    assert_eq!(processor_percent(&processors), Some(45.0));
    assert_eq!(processor_percent(&processors[..1]), None);
    let os = [instance(&[
        ("TotalVisibleMemorySize", "8000"),
        ("FreePhysicalMemory", "2000"),
    ])];
    assert_eq!(memory_percent(&os), Some(75.0));
    let disks = [
        instance(&[("DriveType", "3"), ("Size", "1000"), ("FreeSpace", "500")]),
        instance(&[("DriveType", "3"), ("Size", "1000"), ("FreeSpace", "100")]),
        instance(&[("DriveType", "4"), ("Size", "1000"), ("FreeSpace", "0")]),
        instance(&[("DriveType", "3"), ("Size", "0"), ("FreeSpace", "0")]),
    ];
    assert_eq!(disk_free_percent(&disks), Some(10.0));
    let nics = [
        instance(&[
            ("BytesTotalPersec", "100"),
            ("Timestamp_Sys100NS", "5"),
            ("Frequency_Sys100NS", "10000000"),
        ]),
        instance(&[("BytesTotalPersec", "23")]),
    ];
    assert_eq!(
        network_counter(&nics),
        Some(NetCounter {
            bytes: 123,
            timestamp: 5,
            frequency: 10_000_000
        })
    );
}

#[test]
fn the_load_of_win32_processor_is_averaged_over_the_processors() {
    let processors = [
        instance(&[("DeviceID", "CPU0"), ("LoadPercentage", "19")]),
        instance(&[("DeviceID", "CPU1"), ("LoadPercentage", "41")]),
        instance(&[("DeviceID", "CPU2")]),
    ];
    assert_eq!(load_percent(&processors), Some(30.0));
    assert_eq!(load_percent(&processors[2..]), None);
    assert_eq!(load_percent(&[]), None);
    let over = [instance(&[("LoadPercentage", "250")])];
    assert_eq!(load_percent(&over), Some(100.0));
}

proptest! {
    #[test]
    fn any_property_text_gives_a_bounded_figure_or_none(
        total in "\\PC{0,12}", free in "\\PC{0,12}", cpu in "\\PC{0,12}",
    ) {
        let os = [instance(&[("TotalVisibleMemorySize", &total), ("FreePhysicalMemory", &free)])];
        if let Some(m) = memory_percent(&os) { prop_assert!((0.0..=100.0).contains(&m)); }
        let p = [instance(&[("Name", "_Total"), ("PercentProcessorTime", &cpu)])];
        if let Some(c) = processor_percent(&p) { prop_assert!((0.0..=100.0).contains(&c)); }
        let d = [instance(&[("DriveType", "3"), ("Size", &total), ("FreeSpace", &free)])];
        if let Some(f) = disk_free_percent(&d) { prop_assert!((0.0..=100.0).contains(&f)); }
        let l = [instance(&[("LoadPercentage", &cpu)]), instance(&[("LoadPercentage", &total)])];
        if let Some(l) = load_percent(&l) { prop_assert!((0.0..=100.0).contains(&l)); }
    }

    #[test]
    fn the_ring_never_exceeds_its_capacity(capacity in 1usize..50, pushes in 0usize..200) {
        let mut ring = Ring::new(capacity);
        for at in 0..pushes { ring.push(point(at as u64)); }
        prop_assert_eq!(ring.len(), pushes.min(capacity));
        if pushes > 0 { prop_assert_eq!(ring.latest().map(|p| p.at), Some(pushes as u64 - 1)); }
    }

    #[test]
    fn a_packed_percent_is_within_a_two_hundredth_and_none_stays_none(
        cpu in proptest::option::of(0.0f64..=100.0),
        rate in proptest::option::of(0.0f64..1e9),
    ) {
        let mut ring = Ring::new(1);
        ring.push(Point { at: 7, cpu, memory: None, disk_free: None, network: rate });
        let kept = ring.latest().unwrap();
        prop_assert_eq!(kept.cpu.is_some(), cpu.is_some());
        if let (Some(a), Some(b)) = (cpu, kept.cpu) { prop_assert!((a - b).abs() <= 0.005 + 1e-9); }
        prop_assert_eq!(kept.network.is_some(), rate.is_some());
        if let (Some(a), Some(b)) = (rate, kept.network) { prop_assert!((a - b).abs() <= 0.5 + a * 1e-7); }
    }
}
