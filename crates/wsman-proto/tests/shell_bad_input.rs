//! WinRS shell messages that are wrong: schema errors, option spellings and bounds, the
//! signal codes, and what the client-side parsers report of missing parts.
#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

use std::time::Duration;

use proptest::prelude::*;
use wsman_proto::fault::code;
use wsman_proto::ns;
use wsman_proto::shell::responses::ResponseError;
use wsman_proto::shell::{
    self, CommandLine, CommandResponse, CreateResponse, Receive, ReceiveResponse, Send,
    ShellCreate, Signal, SignalCode, WinrsOptions,
};

mod common;
use common::*;

// ---- bad input ----

#[test]
fn bare_number_idle_timeout_is_a_schema_error() {
    let b = body(&format!(
        "<rsp:Shell {RSP}><rsp:IdleTimeOut>3600000</rsp:IdleTimeOut></rsp:Shell>"
    ));
    let f = ShellCreate::parse(Some(&b)).unwrap_err();
    assert_eq!(f.wsman_code, code::SCHEMA_VALIDATION_ERROR);
    let b = body(&format!(
        "<rsp:Shell {RSP}><rsp:IdleTimeOut>PT3600.000S</rsp:IdleTimeOut></rsp:Shell>"
    ));
    assert_eq!(
        ShellCreate::parse(Some(&b)).unwrap().idle_timeout,
        Some(Duration::from_secs(3600))
    );
}

#[test]
fn invalid_base64_and_bad_end_are_schema_errors() {
    for bad in [
        format!("<rsp:Send {RSP}><rsp:Stream Name=\"stdin\">@@notbase64</rsp:Stream></rsp:Send>"),
        format!(
            "<rsp:Send {RSP}><rsp:Stream Name=\"stdin\" End=\"maybe\">aGk=</rsp:Stream></rsp:Send>"
        ),
        format!("<rsp:Send {RSP}/>"),
        format!("<rsp:Send {RSP}><rsp:Stream>aGk=</rsp:Stream></rsp:Send>"),
    ] {
        let f = Send::parse(Some(&body(&bad))).unwrap_err();
        assert_eq!(f.wsman_code, code::SCHEMA_VALIDATION_ERROR, "{bad}");
    }
    for end in ["TRUE", "True", "true", "1"] {
        let ok = format!(
            "<rsp:Send {RSP}><rsp:Stream Name=\"stdin\" End=\"{end}\">aG\n k=</rsp:Stream></rsp:Send>"
        );
        let s = Send::parse(Some(&body(&ok))).unwrap();
        assert!(s.streams[0].end);
        assert_eq!(s.streams[0].data, b"hi");
    }
}

#[test]
fn wrong_bodies_and_the_argument_typo_are_schema_errors() {
    let f = CommandLine::parse(Some(&body(&format!(
        "<rsp:CommandLine {RSP}><rsp:Command>x</rsp:Command><rsp:Argument>y</rsp:Argument></rsp:CommandLine>"
    ))))
    .unwrap_err();
    assert_eq!(f.wsman_code, code::SCHEMA_VALIDATION_ERROR);
    assert!(f.message.contains("Argument"));
    assert!(CommandLine::parse(None).is_err());
    assert!(Receive::parse(Some(&body(&format!("<rsp:Shell {RSP}/>")))).is_err());
    assert!(Signal::parse(Some(&body(&format!("<rsp:Signal {RSP}/>")))).is_err());
    let f = Receive::parse(Some(&body(&format!(
        "<rsp:Receive {RSP} SequenceId=\"-1\"><rsp:DesiredStream>stdout</rsp:DesiredStream></rsp:Receive>"
    ))))
    .unwrap_err();
    assert_eq!(f.wsman_code, code::SCHEMA_VALIDATION_ERROR);
}

#[test]
fn options_in_any_case() {
    let o = WinrsOptions::parse(&options(&[
        ("winrs_noprofile", "True", false),
        ("Winrs_CodePage", " 437 ", false),
        ("WINRS_CONSOLEMODE_STDIN", "FALSE", false),
        ("winrs_skip_cmd_shell", "1", true),
        ("wsman_cmdshell_option_keepalive", "true", false),
        ("protocolversion", "2.3", true),
        ("SomethingElse", "x", false),
    ]))
    .unwrap();
    assert_eq!(o.no_profile, Some(true));
    assert_eq!(o.codepage, Some(437));
    assert_eq!(o.console_mode_stdin, Some(false));
    assert_eq!(o.skip_cmd_shell, Some(true));
    assert_eq!(o.keepalive, Some(true));
    let f = WinrsOptions::parse(&options(&[("WINRS_NOPROFILE", "perhaps", false)])).unwrap_err();
    assert_eq!(f.wsman_code, code::OPTIONS_INVALID_VALUE);
    let f = WinrsOptions::parse(&options(&[("WINRS_CODEPAGE", "utf8", false)])).unwrap_err();
    assert_eq!(f.wsman_code, code::OPTIONS_INVALID_VALUE);
    let f = WinrsOptions::parse(&options(&[("Unknown", "x", true)])).unwrap_err();
    assert_eq!(f.wsman_code, code::OPTIONS_NOT_SUPPORTED);
}

#[test]
fn terminal_options_parse_with_defaults_and_bounds() {
    // Absent or FALSE: pipes.
    assert_eq!(WinrsOptions::parse(&options(&[])).unwrap().terminal, None);
    let off = options(&[
        ("WSMAND_PTY", "FALSE", false),
        ("WSMAND_PTY_ROWS", "9", false),
    ]);
    assert_eq!(WinrsOptions::parse(&off).unwrap().terminal, None);
    let on = options(&[
        ("wsmand_pty", "true", false),
        ("WSMAND_PTY_TERM", " screen-256color ", false),
        ("WSMAND_PTY_COLUMNS", "132", false),
        ("WSMAND_PTY_ROWS", "43", false),
    ]);
    let terminal = WinrsOptions::parse(&on).unwrap().terminal.unwrap();
    assert_eq!(terminal.term, "screen-256color");
    assert_eq!((terminal.size.rows, terminal.size.columns), (43, 132));
    let bare = WinrsOptions::parse(&options(&[("WSMAND_PTY", "TRUE", true)]))
        .unwrap()
        .terminal
        .unwrap();
    assert_eq!(bare.term, shell::DEFAULT_TERM);
    assert_eq!((bare.size.rows, bare.size.columns), (24, 80));
    for (name, value) in [
        ("WSMAND_PTY_TERM", "../../tmp/evil"),
        ("WSMAND_PTY_TERM", ""),
        ("WSMAND_PTY_TERM", &"x".repeat(65)),
        ("WSMAND_PTY_COLUMNS", "0"),
        ("WSMAND_PTY_COLUMNS", "65536"),
        ("WSMAND_PTY_ROWS", "-1"),
        ("WSMAND_PTY_ROWS", "twenty"),
    ] {
        let set = options(&[("WSMAND_PTY", "TRUE", false), (name, value, false)]);
        let fault = WinrsOptions::parse(&set).unwrap_err();
        assert_eq!(
            fault.wsman_code,
            code::OPTIONS_INVALID_VALUE,
            "{name}={value}"
        );
    }
    // What a client writes parses back.
    let mut ours = WinrsOptions::default();
    ours.terminal = Some(terminal.clone());
    let written = ours.to_options();
    let pairs: Vec<(&str, &str, bool)> = written
        .iter()
        .map(|(n, v, m)| (n.as_str(), v.as_str(), *m))
        .collect();
    assert!(written.iter().all(|(_, _, must_comply)| !must_comply));
    assert_eq!(
        WinrsOptions::parse(&options(&pairs)).unwrap().terminal,
        Some(terminal)
    );
}

#[test]
fn the_window_size_signal_carries_its_size() {
    let parsed = Signal::parse(Some(&body(&format!(
        "<rsp:Signal {RSP} CommandId=\"C\"><rsp:Code>{}</rsp:Code>\
         <l:WindowSize xmlns:l=\"urn:wsmand:shell\" Rows=\" 50\" Columns=\"160\"/></rsp:Signal>",
        shell::signal::WINDOW_SIZE
    ))))
    .unwrap();
    assert_eq!(parsed.code, SignalCode::WindowSize);
    let size = parsed.window_size.unwrap();
    assert_eq!((size.rows, size.columns), (50, 160));
    // Without the element, or with a size that is no window: a schema error.
    for extra in [
        "",
        "<l:WindowSize xmlns:l=\"urn:wsmand:shell\" Rows=\"50\"/>",
        "<l:WindowSize xmlns:l=\"urn:wsmand:shell\" Rows=\"0\" Columns=\"1\"/>",
        "<l:WindowSize xmlns:l=\"urn:wsmand:shell\" Rows=\"70000\" Columns=\"1\"/>",
        "<WindowSize Rows=\"5\" Columns=\"5\"/>",
    ] {
        let fault = Signal::parse(Some(&body(&format!(
            "<rsp:Signal {RSP} CommandId=\"C\"><rsp:Code>{}</rsp:Code>{extra}</rsp:Signal>",
            shell::signal::WINDOW_SIZE
        ))))
        .unwrap_err();
        assert_eq!(fault.wsman_code, code::SCHEMA_VALIDATION_ERROR, "{extra}");
    }
}

proptest! {
    /// Any window survives build -> parse; any option text either parses within the bounds
    /// or is refused with InvalidValue (never a panic).
    #[test]
    fn terminal_sizes_round_trip_and_option_text_is_bounded(
        rows in 1u16..,
        columns in 1u16..,
        term in ".{0,80}",
        dimension in ".{0,12}",
    ) {
        let size = shell::TerminalSize { rows, columns };
        let signal = Signal::window_size("C", size);
        let parsed = Signal::parse(Some(&body(&signal.to_xml()))).unwrap();
        prop_assert_eq!(parsed.window_size, Some(size));
        let set = options(&[
            ("WSMAND_PTY", "TRUE", false),
            ("WSMAND_PTY_TERM", &term, false),
            ("WSMAND_PTY_ROWS", &dimension, false),
        ]);
        match WinrsOptions::parse(&set) {
            Ok(o) => {
                let t = o.terminal.unwrap();
                prop_assert!(shell::is_terminal_type(&t.term));
                prop_assert!(t.size.rows >= 1);
            }
            Err(f) => prop_assert_eq!(f.wsman_code, code::OPTIONS_INVALID_VALUE),
        }
    }
}

#[test]
fn signal_codes_any_case_and_psrp_spellings() {
    for (uri, code) in [
        (shell::signal::TERMINATE, SignalCode::Terminate),
        (
            "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/Terminate",
            SignalCode::Terminate,
        ),
        (
            "HTTP://SCHEMAS.MICROSOFT.COM/WBEM/WSMAN/1/WINDOWS/SHELL/SIGNAL/CTRL_C",
            SignalCode::CtrlC,
        ),
        (shell::signal::CTRL_BREAK, SignalCode::CtrlBreak),
        (shell::signal::PSRP_CRTL_C, SignalCode::PsrpStop),
        (shell::signal::PSRP_CTRL_C, SignalCode::PsrpStop),
        (shell::signal::WINDOW_SIZE, SignalCode::WindowSize),
    ] {
        assert_eq!(SignalCode::from_uri(&format!(" {uri}\n")), code, "{uri}");
    }
    assert_eq!(
        SignalCode::from_uri("urn:other"),
        SignalCode::Other("urn:other".into())
    );
    assert!(shell::is_powershell_uri(
        "http://schemas.microsoft.com/powershell/Microsoft.PowerShell"
    ));
    assert!(!shell::is_powershell_uri(shell::uri::CMD));
}

#[test]
fn client_side_parsers_report_missing_parts() {
    let empty = body(&format!("<s:Body xmlns:s=\"{}\"/>", ns::SOAP));
    assert_eq!(
        CreateResponse::parse(&empty).unwrap_err(),
        ResponseError::Missing {
            element: "ResourceCreated"
        }
    );
    assert!(CommandResponse::parse(&empty).is_err());
    assert!(ReceiveResponse::parse(&empty).is_err());
}
