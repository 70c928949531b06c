//! The graphs and the fleet health of a Windows host, from answers a Windows Server 2012 host
//! gave (`crates/wsman-proto/tests/fixtures/windows/health/`, with their provenance in that
//! README).
//!
//! The real `wsmand-mgmt` samples every second a host that is an HTTP server on loopback
//! replaying those recorded bodies: an Enumerate is answered with the recording of the class
//! its ResourceURI names, a Pull with the recording that followed the enumeration context it
//! carries, Identify with the recorded (anonymous) Identify of a Windows Server 2012 R2 host,
//! and any other class with Windows' recorded fault for a class it does not serve (HTTP 500).
//! The network counters were recorded twice, 0.156 s apart, the second time as the answer to
//! a query naming every property (its items are `w:XmlFragment`s): the first enumeration gets
//! the first reading, every later one the second, so one rate is defined. The one change to
//! the recorded bytes is `RelatesTo`, set to the request's MessageID, as a client checks it.
//! The recording
//! has no `Win32_PerfFormattedData_PerfOS_Processor` answer, so the host answers that class
//! with the fault, and the processor figure is the sampler's fallback to Win32_Processor's
//! LoadPercentage, which the recording holds.
//!
//! Expected figures are computed here from the recorded values, read from the files as text
//! (not with the console's parser).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;
use common::*;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../wsman-proto/tests/fixtures/windows")
}

/// A recording of the Server 2012 host (`health/server_2012/NAME.xml`).
fn recorded(name: &str) -> String {
    let path = fixtures()
        .join("health/server_2012")
        .join(format!("{name}.xml"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The text of every `NAME` element (any prefix, any attributes) of `xml`, in order.
fn values(xml: &str, name: &str) -> Vec<String> {
    xml.match_indices(name)
        .filter(|(at, _)| {
            // An opening tag: `<NAME` or `<prefix:NAME`, then `>` or an attribute.
            let tag = xml[..*at].rsplit('<').next().unwrap_or_default();
            let next = xml[at + name.len()..].chars().next();
            (tag.is_empty() || tag.ends_with(':'))
                && tag.chars().all(|c| c.is_ascii_alphanumeric() || c == ':')
                && xml[..*at].contains('<')
                && matches!(next, Some('>' | ' '))
        })
        .filter_map(|(at, _)| {
            let open = &xml[at..xml[at..].find('>')? + at];
            if open.ends_with('/') {
                return Some(String::new());
            }
            let rest = &xml[at + open.len() + 1..];
            Some(rest.split('<').next().unwrap_or_default().to_owned())
        })
        .collect()
}

fn value(xml: &str, name: &str) -> f64 {
    let all = values(xml, name);
    assert_eq!(all.len(), 1, "{name}: {all:?}");
    all[0]
        .parse()
        .unwrap_or_else(|e| panic!("{name} {all:?}: {e}"))
}

/// Every recorded answer, by what asks for it: `Identify`, `Enumerate CLASS` (in the order
/// the host gave them: a class enumerated again gets the next recording, the last one once
/// they run out), `Pull CONTEXT`.
struct Recordings {
    identify: String,
    enumerate: HashMap<&'static str, Vec<String>>,
    pull: HashMap<String, String>,
    not_served: String,
}

impl Recordings {
    fn load() -> Self {
        let identify = std::fs::read_to_string(
            fixtures().join("identify/identify.response.anonymous.server2012r2.xml"),
        )
        .expect("identify");
        let not_served =
            std::fs::read_to_string(fixtures().join("faults/fault.enumerate-class-not-found.xml"))
                .expect("fault");
        let nic = "Win32_PerfRawData_Tcpip_NetworkInterface";
        let mut enumerate = HashMap::new();
        for class in [
            "Win32_Processor",
            "Win32_OperatingSystem",
            "Win32_LogicalDisk",
            "Win32_Service",
        ] {
            enumerate.insert(class, vec![recorded(&format!("{class}_star_000"))]);
        }
        // The host's two readings of the network counters, 0.156 s apart.
        enumerate.insert(
            nic,
            vec![
                recorded(&format!("{nic}_star_000")),
                recorded(&format!("{nic}_all_000")),
            ],
        );
        // Each Pull answers the context the previous answer handed out.
        let mut pull = HashMap::new();
        let chains = [
            vec![format!("{nic}_star_000"), format!("{nic}_star_001")],
            vec![format!("{nic}_all_000"), format!("{nic}_all_001")],
            (0..4)
                .map(|n| format!("Win32_Service_star_00{n}"))
                .collect(),
        ];
        for chain in chains {
            for pair in chain.windows(2) {
                let context = values(&recorded(&pair[0]), "EnumerationContext")
                    .into_iter()
                    .find(|c| !c.is_empty())
                    .unwrap_or_else(|| panic!("{} hands out a context", pair[0]));
                pull.insert(context, recorded(&pair[1]));
            }
        }
        Self {
            identify,
            enumerate,
            pull,
            not_served,
        }
    }
}

/// The loopback host replaying [`Recordings`]; counts the enumerations of each class and the
/// connections the console opened.
struct Replay {
    port: u16,
    enumerations: Arc<std::sync::Mutex<HashMap<String, usize>>>,
    connections: Arc<std::sync::atomic::AtomicUsize>,
}

fn start_replay() -> Replay {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let recordings = Arc::new(Recordings::load());
    let enumerations = Arc::new(std::sync::Mutex::new(HashMap::new()));
    let counts = Arc::clone(&enumerations);
    let connections = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let opened = Arc::clone(&connections);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            opened.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let (recordings, counts) = (Arc::clone(&recordings), Arc::clone(&counts));
            std::thread::spawn(move || serve(stream, &recordings, &counts));
        }
    });
    Replay {
        port,
        enumerations,
        connections,
    }
}

/// Answers the requests of one connection (kept alive) until the client closes it.
fn serve(
    stream: TcpStream,
    recordings: &Recordings,
    counts: &std::sync::Mutex<HashMap<String, usize>>,
) {
    let mut writer = stream.try_clone().expect("clone");
    let mut reader = BufReader::new(stream);
    loop {
        let mut length = None;
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse::<usize>().ok();
                }
            }
        }
        let mut body = vec![0; length.expect("a Content-Length")];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let body = String::from_utf8_lossy(&body);
        let (status, answer) = choose(&body, recordings, counts);
        let answer = with_relates_to(&answer, &body);
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/soap+xml;charset=UTF-8\r\n\
             Content-Length: {}\r\n\r\n",
            answer.len()
        );
        if writer.write_all(head.as_bytes()).is_err()
            || writer.write_all(answer.as_bytes()).is_err()
        {
            return;
        }
    }
}

fn choose(
    body: &str,
    recordings: &Recordings,
    counts: &std::sync::Mutex<HashMap<String, usize>>,
) -> (&'static str, String) {
    let not_served = ("500 Internal Server Error", recordings.not_served.clone());
    if body.contains("wsmanidentity.xsd") && body.contains(":Identify") {
        return ("200 OK", recordings.identify.clone());
    }
    if body.contains("enumeration/Pull<") {
        let context = values(body, "EnumerationContext")
            .into_iter()
            .next()
            .unwrap_or_default();
        return match recordings.pull.get(&context) {
            Some(answer) => ("200 OK", answer.clone()),
            None => not_served,
        };
    }
    if body.contains("enumeration/Enumerate<") {
        let uri = values(body, "ResourceURI")
            .into_iter()
            .next()
            .unwrap_or_default();
        let class = uri.rsplit('/').next().unwrap_or_default().to_owned();
        let seen = {
            let mut counts = counts.lock().expect("counts");
            let n = counts.entry(class.clone()).or_insert(0);
            *n += 1;
            *n
        };
        return match recordings.enumerate.get(class.as_str()) {
            Some(answers) => ("200 OK", answers[(seen - 1).min(answers.len() - 1)].clone()),
            None => not_served,
        };
    }
    not_served
}

/// `xml` with its RelatesTo set to the MessageID of `request`.
fn with_relates_to(xml: &str, request: &str) -> String {
    let id = values(request, "MessageID")
        .into_iter()
        .next()
        .unwrap_or_default();
    let Some(start) = xml.find("RelatesTo>").map(|i| i + "RelatesTo>".len()) else {
        return xml.to_owned();
    };
    let end = start + xml[start..].find('<').expect("RelatesTo's end");
    format!("{}{id}{}", &xml[..start], &xml[end..])
}

/// What the recording says the console should show.
struct Expected {
    cpu: f64,
    memory: f64,
    disk_free: f64,
    network: f64,
    os: String,
    uptime_seconds: u64,
    load: u64,
    services: usize,
    failed: Vec<String>,
}

fn expected() -> Expected {
    let processor = recorded("Win32_Processor_star_000");
    let os = recorded("Win32_OperatingSystem_star_000");
    let disk = recorded("Win32_LogicalDisk_star_000");
    let total = value(&os, "TotalVisibleMemorySize");
    let free = value(&os, "FreePhysicalMemory");
    let nic = "Win32_PerfRawData_Tcpip_NetworkInterface";
    let reading = |first: &str, rest: &str| -> (f64, f64) {
        let (first, rest) = (recorded(first), recorded(rest));
        let bytes: f64 = [&first, &rest]
            .iter()
            .flat_map(|x| values(x, "BytesTotalPersec"))
            .map(|v| v.parse::<f64>().expect("bytes"))
            .sum();
        let at = values(&first, "Timestamp_Sys100NS")[0]
            .parse()
            .expect("timestamp");
        (bytes, at)
    };
    let (bytes0, at0) = reading(&format!("{nic}_star_000"), &format!("{nic}_star_001"));
    let (bytes1, at1) = reading(&format!("{nic}_all_000"), &format!("{nic}_all_001"));
    let frequency = values(&recorded(&format!("{nic}_star_000")), "Frequency_Sys100NS")[0]
        .parse::<f64>()
        .expect("frequency");
    // Uptime: LocalDateTime minus LastBootUpTime, both UTC here (CurrentTimeZone 0).
    let seconds = |name: &str| -> f64 {
        let after = os.split(&format!("{name}>")).nth(1).expect(name);
        let text = values(after, "Datetime")
            .into_iter()
            .next()
            .expect("a Datetime");
        let (day, time) = text.split_once('T').expect("date and time");
        assert_eq!(day, "2013-04-15", "{name}: {text}");
        let parts: Vec<f64> = time
            .trim_end_matches('Z')
            .split(':')
            .map(|p| p.parse().expect("hh:mm:ss"))
            .collect();
        parts[0] * 3600.0 + parts[1] * 60.0 + parts[2]
    };
    let services: String = (0..4)
        .map(|n| recorded(&format!("Win32_Service_star_00{n}")))
        .collect();
    let mut failed = Vec::new();
    // Each item: an element declaring its class's namespace (Windows includes instances of
    // subclasses: Remote Desktop Services is a Win32_TerminalService).
    let instances: Vec<&str> = services
        .split("<p:")
        .filter(|part| {
            let open = part.split('>').next().unwrap_or_default();
            part.starts_with("Win32_") && open.contains(" xmlns:p=")
        })
        .collect();
    for instance in &instances {
        let field = |name: &str| {
            values(instance, name)
                .into_iter()
                .next()
                .unwrap_or_default()
        };
        let exit: u32 = field("ExitCode").parse().unwrap_or(0);
        // In error, or automatic yet stopped with a failure (1077: never started).
        if field("Status") == "Error"
            || (field("StartMode") == "Auto"
                && field("State") == "Stopped"
                && exit != 0
                && exit != 1077)
        {
            failed.push(field("Name"));
        }
    }
    Expected {
        cpu: value(&processor, "LoadPercentage"),
        memory: 100.0 * (total - free) / total,
        disk_free: 100.0 * value(&disk, "FreeSpace") / value(&disk, "Size"),
        network: (bytes1 - bytes0) * frequency / (at1 - at0),
        os: values(&os, "Caption")[0].clone(),
        uptime_seconds: (seconds("LocalDateTime") - seconds("LastBootUpTime")) as u64,
        load: value(&processor, "LoadPercentage") as u64,
        services: instances.len(),
        failed,
    }
}

/// `got` is `want` as the console keeps a point (`samples_ring.rs`): a percentage to the
/// hundredth.
fn close(got: &serde_json::Value, want: f64, what: &str) {
    within(got, want, 0.005 + 1e-9, what);
}

/// `got` is `want` within `tolerance`.
fn within(got: &serde_json::Value, want: f64, tolerance: f64, what: &str) {
    let got = got.as_f64().unwrap_or_else(|| panic!("{what}: {got}"));
    assert!(
        (got - want).abs() <= tolerance,
        "{what}: {got} against {want}"
    );
}

#[test]
fn a_windows_hosts_graphs_and_health_come_from_its_recorded_answers() {
    let want = expected();
    // The recording itself: one processor, one local disk, a network counter that moved.
    assert_eq!((want.cpu, want.services), (19.0, 131));
    assert!(want.network > 0.0 && want.disk_free > 0.0 && want.memory > 0.0);
    let replay = start_replay();
    let (service, _secrets) = console_of(&replay);
    let (session, _) = service.manager_session();
    assert_graphs(&service, &session, &want, &replay);
    assert_fleet_health(&service, &session, &want);
    assert_services_and_fleet_page(&service, &session, &want);
}

/// A console whose one host, `win2012`, is `replay`, sampled every second; with the directory
/// of the host's password file, which must outlive it.
fn console_of(replay: &Replay) -> (Service, tempfile::TempDir) {
    let host = format!(
        "UnspecifiedClients = \"Allow\"\nSessionIdleMinutes = 15\nDeniedClients = []\n\
         Credentials = \"os+manager\"\nSampleIntervalSeconds = 1\n\n\
         [[Host]]\nName = \"win2012\"\nUrl = \"http://127.0.0.1:{}/wsman\"\n\
         Username = \"Administrator\"\nPasswordFile = \"{{PASSWORD}}\"\nAllowUnencrypted = true\n",
        replay.port
    );
    let secrets = tempfile::tempdir().expect("tempdir");
    let password = write_host_password(secrets.path());
    let extra = host.replace("{PASSWORD}", &password.display().to_string());
    let service = Service::start_layout(&Layout {
        hosts: 0,
        extra: &extra,
        ..Layout::default()
    });
    (service, secrets)
}

/// The graphs' JSON: a point per sample, the network rate once two readings are in, and the
/// processor figure from Win32_Processor after the performance class was refused.
fn assert_graphs(service: &Service, session: &str, want: &Expected, replay: &Replay) {
    let start = Instant::now();
    let points = loop {
        let reply = service.get_json(session, "/hosts/win2012/samples.json");
        assert_eq!(reply.status, 200, "{}", reply.body);
        let json = reply.json();
        let points = json["points"].as_array().cloned().unwrap_or_default();
        if points.iter().any(|p| !p["network"].is_null()) {
            assert_eq!(json["reachable"], true, "{json}");
            break points;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no network rate within a minute: {json}\n{}",
            service.log()
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    for point in &points {
        close(&point["cpu"], want.cpu, "cpu");
        close(&point["memory"], want.memory, "memory");
        close(&point["disk_free"], want.disk_free, "disk_free");
    }
    assert!(points[0]["network"].is_null(), "{}", points[0]);
    let rates: Vec<&serde_json::Value> = points
        .iter()
        .map(|p| &p["network"])
        .filter(|n| !n.is_null())
        .collect();
    assert_eq!(rates.len(), 1, "{points:?}");
    // A rate is kept in single precision and read back to the byte per second.
    let rate_tolerance = 0.5 + want.network.abs() * f64::from(f32::EPSILON);
    within(rates[0], want.network, rate_tolerance, "network");
    let counts = replay.enumerations.lock().expect("counts").clone();
    assert!(
        counts
            .get("Win32_PerfFormattedData_PerfOS_Processor")
            .is_some_and(|n| *n >= 2),
        "{counts:?}"
    );
    assert!(
        counts.get("Win32_Processor").is_some_and(|n| *n >= 2),
        "{counts:?}"
    );
    // Two samples and the facts (Identify, the OS, the processor, the services' Enumerate and
    // Pulls), read one after another on one kept connection.
    assert_eq!(
        replay.connections.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "the sampler keeps one connection to a host"
    );
}

/// The fleet's health in JSON: what Identify, the OS, the processor and the services say.
fn assert_fleet_health(service: &Service, session: &str, want: &Expected) {
    let fleet = service.get_json(session, "/fleet");
    assert_eq!(fleet.status, 200, "{}", fleet.body);
    let json = fleet.json();
    let summary = &json["hosts"][0];
    assert_eq!(summary["name"], "win2012", "{json}");
    assert_eq!(summary["reachable"], true, "{json}");
    assert_eq!(summary["access_denied"], false, "{json}");
    assert_eq!(summary["os"], want.os.as_str(), "{json}");
    // The fleet counts the uptime on from when the sampler read the host's facts: the recorded
    // uptime plus the seconds since (the test's own run time bounds them).
    let uptime = summary["uptime_seconds"].as_u64().expect("an uptime");
    assert!(
        (want.uptime_seconds..=want.uptime_seconds + 120).contains(&uptime),
        "uptime {uptime}, recorded {}: {json}",
        want.uptime_seconds
    );
    assert_eq!(summary["load_percentage"], want.load, "{json}");
    assert_eq!(
        summary["failed_services"],
        serde_json::json!(want.failed),
        "{json}"
    );
    assert_eq!(summary["product_vendor"], "Microsoft Corporation", "{json}");
    close(&json["latest"]["win2012"]["cpu"], want.cpu, "latest cpu");
    close(
        &json["latest"]["win2012"]["memory"],
        want.memory,
        "latest memory",
    );
    close(
        &json["latest"]["win2012"]["disk_free"],
        want.disk_free,
        "latest disk",
    );
}

/// Every recorded service, through the three Pulls that followed the Enumerate; and the fleet
/// page, with the same figures as its cells print them.
fn assert_services_and_fleet_page(service: &Service, session: &str, want: &Expected) {
    let services = service.get_json(session, "/hosts/win2012/services");
    assert_eq!(services.status, 200, "{}", services.body);
    let listed = services.json();
    let rows = listed["services"].as_array().expect("services");
    assert_eq!(rows.len(), want.services, "{listed}");

    // The fleet page: the same figures, as its cells print them.
    let page = service.page(session, "/fleet");
    page.assert_shows(200, &["<strong>1</strong> reachable"]);
    for cell in [
        format!("{:.1} %", want.cpu),
        format!("{:.1} %", want.memory),
        format!("{:.1} %", want.disk_free),
        format!("{}%", want.load),
        want.os.clone(),
    ] {
        assert!(
            page.body.contains(&cell),
            "{cell} on the fleet page: {}",
            page.body
        );
    }
    // The uptime as the page prints it, counted on from the facts' reading like the JSON's.
    let shown = |seconds: u64| format!("0d {:02}:{:02}", seconds / 3600, seconds % 3600 / 60);
    assert!(
        (want.uptime_seconds..=want.uptime_seconds + 120)
            .step_by(60)
            .chain([want.uptime_seconds + 120])
            .any(|seconds| page.body.contains(&shown(seconds))),
        "the uptime near {} on the fleet page: {}",
        shown(want.uptime_seconds),
        page.body
    );
}

/// The replay serves what Windows was recorded answering and nothing else: a class with no
/// recording gets Windows' fault, so the test above cannot pass on answers it made up.
#[test]
fn the_replay_answers_only_what_windows_was_recorded_answering() {
    let recordings = Recordings::load();
    let counts = std::sync::Mutex::new(HashMap::new());
    let enumerate = |class: &str| {
        format!(
            "<a:Action>http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate</a:Action>\
             <w:ResourceURI>http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/{class}</w:ResourceURI>\
             <a:MessageID>uuid:1</a:MessageID>"
        )
    };
    let request = enumerate("Win32_PerfFormattedData_PerfOS_Processor");
    let (status, answer) = choose(&request, &recordings, &counts);
    assert!(
        status.starts_with("500") && answer.contains("Fault"),
        "{status}"
    );
    let request = enumerate("Win32_LogicalDisk");
    let (status, answer) = choose(&request, &recordings, &counts);
    assert!(
        status.starts_with("200") && answer.contains("p:Win32_LogicalDisk"),
        "{status}"
    );
    let answered = with_relates_to(&answer, &request);
    assert_eq!(
        answered.matches("RelatesTo>uuid:1<").count(),
        1,
        "{answered}"
    );
    assert_eq!(
        answered.len(),
        answer.len() - values(&answer, "RelatesTo")[0].len() + 6
    );
    let pull = "<a:Action>http://schemas.xmlsoap.org/ws/2004/09/enumeration/Pull</a:Action>\
                <n:EnumerationContext>uuid:unknown</n:EnumerationContext>";
    assert!(choose(pull, &recordings, &counts).0.starts_with("500"));
}
