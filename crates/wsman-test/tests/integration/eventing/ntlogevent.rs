//! Win32_NTLogEvent over the same journal: the event logs read as Windows' WMI class, newest
//! first, with WQL on the log and the time.

use super::*;

/// The test journal as journalctl reads it, newest first: (seqnum, identifier, message,
/// realtime µs, priority, syslog facility).
fn journal_newest_first(source: &Source) -> Vec<(u64, String, String, i64, u8, Option<u8>)> {
    let out = std::process::Command::new("journalctl")
        .arg("--directory")
        .arg(source.journal.path())
        .args(["--output=json", "--all", "--reverse", "--no-pager"])
        .output()
        .expect("run journalctl");
    assert!(out.status.success(), "journalctl failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line).expect("journalctl JSON");
            let field = |name: &str| v[name].as_str().unwrap_or_default().to_owned();
            (
                // systemd before 254 writes no __SEQNUM: the cursor's `i=` part is the same.
                field("__CURSOR")
                    .split(';')
                    .find_map(|part| part.strip_prefix("i="))
                    .and_then(|hex| u64::from_str_radix(hex, 16).ok())
                    .expect("a seqnum in the cursor"),
                field("SYSLOG_IDENTIFIER"),
                field("MESSAGE"),
                field("__REALTIME_TIMESTAMP").parse().expect("a timestamp"),
                field("PRIORITY").parse().expect("a priority"),
                field("SYSLOG_FACILITY").parse().ok(),
            )
        })
        .collect()
}

fn ntlogevent_query(query: &str) -> String {
    soap::request(
        action::ENUMERATE,
        "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/*",
        &[],
        &format!(
            "<n:Enumerate><w:OptimizeEnumeration/><w:MaxElements>32000</w:MaxElements><w:Filter Dialect=\"http://schemas.microsoft.com/wbem/wsman/1/WQL\">{}</w:Filter></n:Enumerate>",
            xml::escape_text(query)
        ),
    )
}

/// The Win32_NTLogEvent items of an enumeration, in the order they came.
fn log_records(response: &Response) -> Vec<Element> {
    let root = parsed(response);
    let mut out = Vec::new();
    fn walk(e: &Element, out: &mut Vec<Element>) {
        if e.name == "Win32_NTLogEvent" {
            out.push(e.clone());
        }
        for child in e.elements() {
            walk(child, out);
        }
    }
    walk(&root, &mut out);
    assert!(
        response.text().contains("EndOfSequence"),
        "{}",
        response.describe()
    );
    out
}

fn property(e: &Element, name: &str) -> String {
    e.elements()
        .find(|c| c.name == name)
        .map(|c| c.trimmed_text())
        .unwrap_or_else(|| panic!("no {name} in {}", e.to_xml()))
}

#[test]
fn win32_ntlogevent_shows_the_journal_newest_first_with_wql_on_log_and_time() {
    // Every user passes RootSDDL, so the refusal seen for Security is the class's own.
    let Some(source) = source(|c| {
        c.set(
            "Config.Service",
            "RootSDDL",
            "\"O:NSG:BAD:P(A;;GA;;;BA)(A;;GA;;;BU)\"",
        );
    }) else {
        return;
    };
    let journal = journal_newest_first(&source);
    // Facility 4 (auth) is the Security log; the rest of this journal is Application.
    let application: Vec<_> = journal.iter().filter(|e| e.5 != Some(4)).collect();
    assert_eq!(application.len(), 4, "{journal:?}");

    let records = log_records(&source.post(&ntlogevent_query(
        "SELECT * FROM Win32_NTLogEvent WHERE Logfile = 'Application'",
    )));
    assert_eq!(records.len(), application.len());
    for (record, entry) in records.iter().zip(&application) {
        let (seqnum, identifier, message, micros, priority, _) = entry;
        assert_eq!(property(record, "RecordNumber"), seqnum.to_string());
        assert_eq!(property(record, "Logfile"), "Application");
        assert_eq!(property(record, "SourceName"), *identifier);
        assert_eq!(property(record, "Message"), *message);
        let (event_type, type_name) = match priority {
            0..=3 => ("1", "Error"),
            4 => ("2", "Warning"),
            _ => ("3", "Information"),
        };
        assert_eq!(property(record, "EventType"), event_type);
        assert_eq!(property(record, "Type"), type_name);
        let time = wsman_proto::cim::CimDateTime::utc(*micros).to_xs();
        assert!(
            record.to_xml().contains(&time),
            "TimeGenerated {time} in {}",
            record.to_xml()
        );
    }

    // Newer than the second-newest Application entry: only the newest comes, and a WQL
    // datetime in DMTF form is understood.
    let bound = application[1].3;
    let dmtf = {
        let xs = wsman_proto::cim::CimDateTime::utc(bound).to_xs();
        // 2026-11-23T10:00:00.123456Z -> 20261123100000.123456+000
        let digits: String = xs[..19].chars().filter(char::is_ascii_digit).collect();
        format!("{digits}.{}+000", &xs[20..26])
    };
    let newer = log_records(&source.post(&ntlogevent_query(&format!(
        "SELECT * FROM Win32_NTLogEvent WHERE Logfile = 'Application' AND TimeGenerated > '{dmtf}'"
    ))));
    assert_eq!(
        newer
            .iter()
            .map(|r| property(r, "RecordNumber"))
            .collect::<Vec<_>>(),
        [application[0].0.to_string()]
    );

    // Security: administrators only; the sshd entry is there.
    let security = ntlogevent_query("SELECT * FROM Win32_NTLogEvent WHERE Logfile = 'Security'");
    expect_fault(&source.post_user(&security), "AccessDenied");
    let sshd = journal
        .iter()
        .find(|e| e.5 == Some(4))
        .expect("the sshd entry");
    let records = log_records(&source.post(&security));
    assert_eq!(
        records
            .iter()
            .map(|r| property(r, "RecordNumber"))
            .collect::<Vec<_>>(),
        [sshd.0.to_string()]
    );
    // A user who is not an administrator reads Application, and no Security record comes
    // without naming the log.
    let all = log_records(&source.post_user(&ntlogevent_query("SELECT * FROM Win32_NTLogEvent")));
    assert_eq!(all.len(), application.len());
    assert!(all.iter().all(|r| property(r, "Logfile") == "Application"));
}
