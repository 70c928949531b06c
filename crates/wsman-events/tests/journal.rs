//! The export reader and the mapping against a real journal: journald of a real systemd booted
//! as PID 1 of its own namespaces (`wsman_test::systemd`). Every mapped value is checked against
//! what `journalctl -o json` says of the same entry.

use wsman_events::journal::SYSTEM;
use wsman_events::{ContentFormat, ExportLimits, ExportReader, Guid, Mapping};
use wsman_proto::xml;
use wsman_test::systemd::BootedSystemd;

const UNIT: &str = "[Service]\nType=oneshot\nSyslogIdentifier=wsman-journal-probe\n\
                    ExecStart=/bin/sh -c 'echo \"<3>probe error\"; echo \"<4>probe warning\"; \
                    echo \"<6>probe info <&>\"; echo \"<7>probe debug\"'\n\
                    SyslogLevelPrefix=yes\n";

#[test]
fn real_journal_entries_map_to_windows_events() {
    let Some(systemd) = BootedSystemd::boot() else {
        return;
    };
    systemd.write_file("/etc/systemd/system/wsman-journal-probe.service", UNIT);
    systemd.exec_ok(&["systemctl", "daemon-reload"]);
    systemd.exec_ok(&["systemctl", "start", "wsman-journal-probe.service"]);
    // journald may still be writing: ask until all four lines are there.
    let exported = systemd.journal_until(&["-t", "wsman-journal-probe", "-o", "export"], |out| {
        out.matches("MESSAGE=probe").count() == 4
    });
    let json = systemd.exec_ok(&[
        "journalctl",
        "-t",
        "wsman-journal-probe",
        "-o",
        "json",
        "--no-pager",
    ]);
    let json: Vec<serde_json::Value> = json
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).expect("journalctl -o json"))
        .collect();

    let mut reader = ExportReader::new(ExportLimits::default());
    let mut entries = Vec::new();
    for piece in exported.as_bytes().chunks(97) {
        reader.feed(piece, &mut |e| entries.push(e)).unwrap();
    }
    assert_eq!(entries.len(), 4);
    assert_eq!(json.len(), 4);

    let mapping = Mapping {
        computer: "linux.example.test".to_owned(),
        ..Mapping::default()
    };
    let expected_levels = [2u8, 3, 4, 5];
    let mut last_record = 0;
    for ((entry, truth), level) in entries.iter().zip(&json).zip(expected_levels) {
        let field = |name: &str| truth[name].as_str().unwrap_or_default().to_owned();
        let event = mapping.event(entry);
        assert_eq!(event.provider.name, "wsman-journal-probe");
        assert_eq!(
            event.provider.guid,
            Guid::for_provider_name("wsman-journal-probe")
        );
        assert_eq!(event.level.value(), level, "{}", field("MESSAGE"));
        assert_eq!(event.message, field("MESSAGE"));
        assert_eq!(event.process_id.to_string(), field("_PID"));
        assert_eq!(event.user_sid.as_deref(), Some("S-1-22-1-0"));
        assert_eq!(event.channel, SYSTEM, "a system unit's output");
        let micros: i64 = field("__REALTIME_TIMESTAMP").parse().unwrap();
        assert!(event.time_created.unix_micros() <= micros);
        let cursor = field("__CURSOR");
        let seqnum = cursor
            .split(';')
            .find_map(|p| p.strip_prefix("i="))
            .map(|hex| u64::from_str_radix(hex, 16).unwrap())
            .unwrap();
        assert_eq!(event.record_id, seqnum);
        assert!(event.record_id > last_record, "record ids increase");
        last_record = event.record_id;
        let invocation = field("_SYSTEMD_INVOCATION_ID");
        assert_eq!(event.activity_id, Guid::from_hex_text(&invocation));
        // The rendered event is well-formed XML.
        let text = event.to_xml(ContentFormat::RenderedText);
        xml::parse(&text, &xml::Limits::default()).expect("well-formed event XML");
    }
}
