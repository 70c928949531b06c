//! WinRS shell messages built and parsed again (property tests): every message round trips.
#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

use std::time::Duration;

use proptest::prelude::*;
use wsman_proto::ns;
use wsman_proto::shell::{
    self, CommandItem, CommandLine, CommandResponse, CommandStateValue, CreateResponse, Receive,
    ReceiveResponse, Send, ShellCreate, ShellDescription, Signal, SignalCode, StreamData,
    WinrsOptions,
};
use wsman_proto::shell::{BufferMode, Connect, ConnectResponse, Disconnect, Reconnect};
use wsman_proto::xml::{self, Element, Limits};

mod common;
use common::*;

// ---- round trips ----

fn text() -> impl Strategy<Value = String> {
    // XML-safe text without CR (end-of-line normalisation) and without edge whitespace where
    // the parser trims.
    "[\\PC&&[^\\r\\s]]([\\PC&&[^\\r]]{0,20}[\\PC&&[^\\r\\s]])?"
}

fn word() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_]{0,8}"
}

fn id() -> impl Strategy<Value = Option<String>> {
    proptest::option::of("[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}")
}

fn reparse(xml_text: &str) -> Element {
    xml::parse(xml_text, &Limits::default()).unwrap()
}

fn in_body(inner: &str) -> Element {
    reparse(&format!(
        "<s:Body xmlns:s=\"{}\" xmlns:x=\"{}\" xmlns:a=\"{}\" xmlns:w=\"{}\">{inner}</s:Body>",
        ns::SOAP,
        ns::TRANSFER,
        ns::ADDRESSING,
        ns::WSMAN
    ))
}

proptest! {
    #[test]
    fn shell_create_round_trips(
        shell_id in id(),
        name in proptest::option::of(text()),
        input in proptest::collection::vec(word(), 0..3),
        output in proptest::collection::vec(word(), 0..3),
        dir in proptest::option::of(text()),
        env in proptest::collection::vec((word(), text()), 0..4),
        idle in proptest::option::of(0u64..10_000_000),
        life in proptest::option::of(0u64..10_000_000),
    ) {
        let mut c = ShellCreate::default();
        c.shell_id = shell_id;
        c.name = name;
        c.input_streams = input;
        c.output_streams = output;
        c.working_directory = dir;
        c.environment = env;
        c.idle_timeout = idle.map(Duration::from_millis);
        c.lifetime = life.map(Duration::from_millis);
        let back = ShellCreate::parse(Some(&reparse(&c.to_xml()))).unwrap();
        prop_assert_eq!(back, c);
    }

    #[test]
    fn winrs_options_round_trip(
        no_profile in proptest::option::of(any::<bool>()),
        codepage in proptest::option::of(any::<u32>()),
        console in proptest::option::of(any::<bool>()),
        skip in proptest::option::of(any::<bool>()),
        keepalive in proptest::option::of(any::<bool>()),
    ) {
        let mut o = WinrsOptions::default();
        o.no_profile = no_profile;
        o.codepage = codepage;
        o.console_mode_stdin = console;
        o.skip_cmd_shell = skip;
        o.keepalive = keepalive;
        let set = options(&o.to_options().iter().map(|(n, v, m)| (n.as_str(), v.as_str(), *m)).collect::<Vec<_>>());
        prop_assert_eq!(WinrsOptions::parse(&set).unwrap(), o);
    }

    #[test]
    fn command_line_round_trips(command_id in id(), command in text(), args in proptest::collection::vec(text(), 0..5)) {
        let mut c = CommandLine::new(command, args);
        c.command_id = command_id;
        prop_assert_eq!(CommandLine::parse(Some(&reparse(&c.to_xml()))).unwrap(), c);
    }

    #[test]
    fn command_response_round_trips(command_id in "[0-9A-F-]{1,36}") {
        let c = CommandResponse { command_id };
        prop_assert_eq!(CommandResponse::parse(&in_body(&c.to_xml())).unwrap(), c);
    }

    #[test]
    fn send_round_trips(streams in proptest::collection::vec((word(), id(), proptest::collection::vec(any::<u8>(), 0..64), any::<bool>()), 1..4)) {
        let s = Send::new(streams.into_iter().map(|(n, c, d, e)| StreamData::new(&n, c.as_deref(), d, e)).collect());
        prop_assert_eq!(Send::parse(Some(&reparse(&s.to_xml()))).unwrap(), s);
    }

    #[test]
    fn receive_round_trips(seq in proptest::option::of(any::<u64>()), command_id in id(), streams in proptest::collection::vec(word(), 0..3)) {
        let mut r = Receive::new(command_id.as_deref(), &streams.iter().map(String::as_str).collect::<Vec<_>>());
        r.sequence_id = seq;
        prop_assert_eq!(Receive::parse(Some(&reparse(&r.to_xml()))).unwrap(), r);
    }

    #[test]
    fn receive_response_round_trips(
        chunks in proptest::collection::vec((word(), id(), proptest::collection::vec(any::<u8>(), 0..64), any::<bool>()), 0..5),
        state in proptest::option::of((id(), 0u8..4, any::<i32>())),
    ) {
        let r = ReceiveResponse::new(
            chunks.into_iter().map(|(n, c, d, e)| StreamData::new(&n, c.as_deref(), d, e)).collect(),
            state.map(|(c, k, code)| (c, match k {
                0 => CommandStateValue::Pending,
                1 => CommandStateValue::Running,
                2 => CommandStateValue::Done { exit_code: Some(i64::from(code)) },
                _ => CommandStateValue::Done { exit_code: None },
            })),
        );
        prop_assert_eq!(ReceiveResponse::parse(&in_body(&r.to_xml())).unwrap(), r);
    }

    #[test]
    fn signal_round_trips(command_id in id(), k in 0u8..5, other in "urn:[a-z]{1,10}") {
        let code = match k {
            0 => SignalCode::CtrlC,
            1 => SignalCode::CtrlBreak,
            2 => SignalCode::Terminate,
            3 => SignalCode::PsrpStop,
            _ => SignalCode::Other(other),
        };
        let s = Signal::new(command_id.as_deref(), code);
        prop_assert_eq!(Signal::parse(Some(&reparse(&s.to_xml()))).unwrap(), s);
    }

    #[test]
    fn create_response_and_shell_items_round_trip(
        shell_id in "[0-9A-F-]{1,36}",
        owner in text(),
        ip in "[0-9.:a-f]{1,39}",
        idle in 0u64..100_000_000,
        run in 0u64..10_000_000,
        env in proptest::collection::vec((word(), text()), 0..3),
        pid in proptest::option::of(any::<u32>()),
        state in proptest::option::of("Connected|Disconnected"),
        children in proptest::option::of(any::<u32>()),
    ) {
        let mut d = ShellDescription::new(&shell_id, shell::uri::CMD, &owner, &ip);
        d.idle_timeout = Duration::from_millis(idle);
        d.shell_run_time = Duration::from_secs(run);
        d.environment = env;
        d.process_id = pid;
        d.state = state;
        d.child_processes = children;
        d.profile_loaded = Some(true);
        let c = CreateResponse::new("http://host:5985/wsman", d.clone());
        prop_assert_eq!(CreateResponse::parse(&in_body(&c.to_xml())).unwrap(), c);
        prop_assert_eq!(ShellDescription::parse(&reparse(&d.to_xml())).unwrap(), d);
        let item = CommandItem::new(&shell_id, &owner, "Done");
        prop_assert_eq!(CommandItem::parse(&reparse(&item.to_xml())).unwrap(), item);
    }
}

proptest! {
    /// A server holding output already as base64 writes the text between the pieces of
    /// `render_around`: the result is exactly what `render` produces from the bytes.
    #[test]
    fn markup_around_encoded_text_equals_the_rendered_response(
        outputs in proptest::collection::vec(
            (proptest::collection::vec(any::<u8>(), 0..200), any::<bool>()),
            0..3,
        ),
        done in proptest::option::of(any::<i32>()),
    ) {
        use wsman_proto::shell::{StreamHead, StreamPart};
        let names = ["stdout", "stderr", "pr"];
        let parts: Vec<StreamPart<'_>> = outputs
            .iter()
            .zip(names)
            .map(|((data, end), name)| StreamPart { name, command_id: Some("C1"), data, end: *end })
            .collect();
        let heads: Vec<StreamHead<'_>> = parts
            .iter()
            .map(|p| StreamHead { name: p.name, command_id: p.command_id, end: p.end })
            .collect();
        let state = done.map(|code| CommandStateValue::Done { exit_code: Some(i64::from(code)) });
        let state = state.as_ref().map(|s| (Some("C1"), s));
        let pieces = ReceiveResponse::render_around(&heads, state, String::new());
        prop_assert_eq!(pieces.len(), parts.len() + 1);
        let mut joined = pieces[0].clone();
        for (part, piece) in parts.iter().zip(&pieces[1..]) {
            joined.push_str(&wsman_proto::shell::encode_base64(part.data));
            joined.push_str(piece);
        }
        let rendered = ReceiveResponse::render(&parts, state);
        prop_assert_eq!(joined, rendered);
    }
}

proptest! {
    #[test]
    fn disconnect_reconnect_connect_round_trip(
        idle in proptest::option::of(0u64..10_000_000),
        drop_mode in proptest::option::of(any::<bool>()),
        command_id in id(),
        input in proptest::collection::vec(word(), 0..3),
        output in proptest::collection::vec(word(), 0..3),
    ) {
        let mode = drop_mode.map(|d| if d { BufferMode::Drop } else { BufferMode::Block });
        let mut d = Disconnect::new(idle.map(Duration::from_millis));
        d.buffer_mode = mode;
        prop_assert_eq!(Disconnect::parse(Some(&reparse(&d.to_xml()))).unwrap(), d);
        let mut r = Reconnect::default();
        r.buffer_mode = mode;
        r.command_id = command_id.clone();
        let text = r.to_xml();
        let parsed = if text.is_empty() { Reconnect::parse(None) } else { Reconnect::parse(Some(&reparse(&text))) };
        prop_assert_eq!(parsed.unwrap(), r);
        let mut c = Connect::default();
        c.command_id = command_id;
        prop_assert_eq!(Connect::parse(Some(&reparse(&c.to_xml()))).unwrap(), c);
        let cr = ConnectResponse::new(input, output);
        prop_assert_eq!(ConnectResponse::parse(&in_body(&cr.to_xml())).unwrap(), cr);
    }
}
