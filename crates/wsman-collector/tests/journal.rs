//! The journal output against a real journald: that of a systemd booted as PID 1 of its own
//! namespaces (`wsman_test::systemd::BootedSystemd`, the root `scripts/sysroot.sh` makes),
//! whose native socket the output writes to from the host, read back with `journalctl -o
//! json` inside that system. Every field is compared with the event XML the test wrote; an
//! entry larger than a datagram goes through a sealed memfd and arrives whole; a journal that
//! is not there fails the batch (503 to the forwarder).

mod common;

use common::{refusal, set, write};
use serde_json::Value;
use wsman_collector::ingest::ReceivedEvent;
use wsman_collector::subscription_outputs::Outputs;
use wsman_outputs::OutputError;
use wsman_test::systemd::BootedSystemd;

const CLIENT: &str = "WEB01$@EXAMPLE.COM";

fn event(record: u64, level: u8, data: &str) -> ReceivedEvent {
    let text = format!("<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-Security-Auditing' Guid='{{54849625-5478-4994-A5BA-3E3B0328C30D}}'/><EventID>4624</EventID><Version>2</Version><Level>{level}</Level><Task>12544</Task><Opcode>0</Opcode><Keywords>0x8020000000000000</Keywords><TimeCreated SystemTime='2026-11-24T03:04:05.123456700Z'/><EventRecordID>{record}</EventRecordID><Correlation ActivityID='{{B3B5E7E4-0001-0000-0000-000000000000}}'/><Execution ProcessID='812' ThreadID='{record}'/><Channel>Security</Channel><Computer>web01.example.com</Computer><Security/></System><EventData><Data Name='TargetUserName'>alice{record}</Data><Data Name='LogonType'>3</Data><Data Name='Payload'>{data}</Data></EventData></Event>");
    common::received(text, "web01.example.com", record)
}

#[test]
fn windows_events_become_structured_journal_entries() {
    let Some(systemd) = BootedSystemd::boot() else {
        return;
    };
    let socket = systemd.root().join("run/systemd/journal/socket");
    let identifier = "wsman-wec-journal-probe";
    let outputs = Outputs::new();
    let problems = outputs.configure(&set(&format!(
        "[[outputs]]\ntype = \"journal\"\nsocket = \"{}\"\nsyslog_identifier = \"{identifier}\"\nevent_xml = true\n",
        socket.display()
    )));
    assert!(problems.is_empty(), "{problems:?}");
    // Levels 1 (critical), 2 (error), 3 (warning), 4 (information), 5 (verbose), and one
    // event of 300 KiB: more than one datagram takes, so it goes in a memfd.
    let mut events: Vec<ReceivedEvent> = (1..=5u8)
        .map(|level| event(u64::from(level), level, "short\nwith a line break"))
        .collect();
    events.push(event(6, 4, &"y".repeat(300 * 1024)));
    write(&outputs, CLIENT, &events[..3]).expect("the journal takes the batch");
    write(&outputs, CLIENT, &events[3..]).expect("the journal takes the batch");

    let printed = systemd.journal_until(&["-t", identifier, "-o", "json", "--all"], |out| {
        out.lines().count() >= events.len()
    });
    let entries: Vec<Value> = printed
        .lines()
        .map(|line| serde_json::from_str(line).expect("journalctl JSON"))
        .collect();
    assert_eq!(entries.len(), events.len(), "{printed}");
    // syslog(3) priorities for Windows levels: critical, error, warning, information, debug.
    let priorities = ["2", "3", "4", "6", "7", "6"];
    for ((entry, event), priority) in entries.iter().zip(&events).zip(priorities) {
        let tree = event.element();
        let system = tree
            .elements()
            .find(|e| e.name == "System")
            .expect("System");
        let text = |name: &str| {
            system
                .elements()
                .find(|e| e.name == name)
                .map(|e| e.text())
                .expect(name)
        };
        let attribute = |name: &str, attribute: &str| {
            system
                .elements()
                .find(|e| e.name == name)
                .and_then(|e| e.attr(attribute))
                .expect(name)
                .to_owned()
        };
        let data = |name: &str| {
            tree.elements()
                .find(|e| e.name == "EventData")
                .and_then(|d| d.elements().find(|e| e.attr("Name") == Some(name)))
                .map(|e| e.text())
                .expect(name)
        };
        let field = |name: &str| {
            entry[name]
                .as_str()
                .unwrap_or_else(|| panic!("{name} in {entry}"))
                .to_owned()
        };
        assert_eq!(field("SYSLOG_IDENTIFIER"), identifier);
        assert_eq!(field("PRIORITY"), priority);
        assert_eq!(field("WINDOWS_EVENT_ID"), text("EventID"));
        assert_eq!(field("WINDOWS_RECORD_ID"), text("EventRecordID"));
        assert_eq!(field("WINDOWS_LEVEL"), text("Level"));
        assert_eq!(field("WINDOWS_TASK"), text("Task"));
        assert_eq!(field("WINDOWS_KEYWORDS"), text("Keywords"));
        assert_eq!(field("WINDOWS_CHANNEL"), text("Channel"));
        assert_eq!(field("WINDOWS_COMPUTER"), text("Computer"));
        assert_eq!(field("WINDOWS_PROVIDER"), attribute("Provider", "Name"));
        assert_eq!(
            field("WINDOWS_PROVIDER_GUID"),
            attribute("Provider", "Guid")
        );
        assert_eq!(
            field("WINDOWS_TIME_CREATED"),
            attribute("TimeCreated", "SystemTime")
        );
        assert_eq!(
            field("WINDOWS_ACTIVITY_ID"),
            attribute("Correlation", "ActivityID")
        );
        assert_eq!(
            field("WINDOWS_PROCESS_ID"),
            attribute("Execution", "ProcessID")
        );
        assert_eq!(
            field("WINDOWS_THREAD_ID"),
            attribute("Execution", "ThreadID")
        );
        assert_eq!(field("WINDOWS_FORWARDER"), CLIENT);
        assert_eq!(field("WINDOWS_SUBSCRIPTION"), "sec");
        assert_eq!(field("WINDOWS_DATA_TARGETUSERNAME"), data("TargetUserName"));
        assert_eq!(field("WINDOWS_DATA_LOGONTYPE"), data("LogonType"));
        // A value with a line break (the binary-safe field form) and one of 300 KiB arrive
        // whole.
        assert_eq!(field("WINDOWS_DATA_PAYLOAD"), data("Payload"));
        assert_eq!(field("EVENT_XML"), event.xml);
        let message = field("MESSAGE");
        assert!(message.contains(&text("EventID")), "{message}");
        assert!(message.contains(&text("Computer")), "{message}");
    }
}

#[test]
fn a_journal_that_is_not_there_fails_the_batch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let outputs = Outputs::new();
    let problems = outputs.configure(&set(&format!(
        "[[outputs]]\ntype = \"journal\"\nsocket = \"{}\"\n",
        dir.path().join("no-journal.socket").display()
    )));
    assert!(problems.is_empty(), "{problems:?}");
    let error = write(&outputs, CLIENT, &[event(1, 4, "x")]).expect_err("no journal");
    assert!(matches!(error, OutputError::Failed { .. }), "{error}");
    assert!(error.to_string().contains("no-journal.socket"), "{error}");

    for (more, reason) in [
        ("socket = \"run/journal.socket\"\n", "not an absolute path"),
        ("syslog_identifier = \"\"\n", "syslog_identifier"),
        ("send_timeout_ms = 1\n", "send_timeout_ms"),
    ] {
        let error = refusal(&format!("[[outputs]]\ntype = \"journal\"\n{more}"));
        assert!(error.contains(reason), "{more}: {error}");
    }
}
