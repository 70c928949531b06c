//! WinRS shell requests: every recorded one parsed, with the values Windows clients send;
//! Disconnect, Reconnect and Connect as the cmd shell receives them.
#![allow(clippy::unwrap_used)] // test helpers: a panic is a failed test

use std::time::Duration;

use wsman_proto::fault::code;
use wsman_proto::ns::{self, action};
use wsman_proto::operation::Action;
use wsman_proto::shell::{
    self, CommandLine, Receive, Send, ShellCreate, Signal, SignalCode, WinrsOptions,
};
use wsman_proto::shell::{BufferMode, Connect, ConnectResponse, Disconnect, Reconnect};
use wsman_proto::xml::{Limits, Node};
use wsman_proto::{parse_request, Request};

mod common;
use common::*;

// ---- parsing every recorded shell request ----

#[test]
fn every_recorded_shell_request_parses() {
    let files = fixture_files("shell", ".request.xml");
    assert!(files.len() >= 20);
    let mut seen = std::collections::BTreeSet::new();
    for f in files {
        let req = parse_request(&std::fs::read_to_string(&f).unwrap(), &Limits::default())
            .unwrap_or_else(|e| panic!("{f:?}: {e}"));
        let body = req.body.as_ref();
        WinrsOptions::parse(&req.options).unwrap_or_else(|e| panic!("{f:?}: {e}"));
        let act = req.action.as_deref().unwrap();
        match act {
            action::CREATE => {
                ShellCreate::parse(body).unwrap_or_else(|e| panic!("{f:?}: {e}"));
            }
            action::SHELL_COMMAND => {
                let c = CommandLine::parse(body).unwrap_or_else(|e| panic!("{f:?}: {e}"));
                assert!(!f.to_string_lossy().contains("/command.") || !c.command.is_empty());
            }
            action::SHELL_SEND => {
                Send::parse(body).unwrap_or_else(|e| panic!("{f:?}: {e}"));
            }
            action::SHELL_RECEIVE => {
                Receive::parse(body).unwrap_or_else(|e| panic!("{f:?}: {e}"));
            }
            action::SHELL_SIGNAL => {
                let s = Signal::parse(body).unwrap_or_else(|e| panic!("{f:?}: {e}"));
                assert!(!matches!(s.code, SignalCode::Other(_)), "{f:?}");
            }
            action::SHELL_DISCONNECT => {
                Disconnect::parse(body).unwrap_or_else(|e| panic!("{f:?}: {e}"));
            }
            action::SHELL_RECONNECT => {
                Reconnect::parse(body).unwrap_or_else(|e| panic!("{f:?}: {e}"));
            }
            action::SHELL_CONNECT => {
                Connect::parse(body).unwrap_or_else(|e| panic!("{f:?}: {e}"));
            }
            _ => {}
        }
        seen.insert(act.rsplit('/').next().unwrap().to_owned());
    }
    for op in [
        "Create",
        "Command",
        "Send",
        "Receive",
        "Signal",
        "Delete",
        "Disconnect",
        "Reconnect",
        "Connect",
    ] {
        assert!(seen.contains(op), "no recorded {op}");
    }
}

/// The WinRS options a recorded request carries (they must parse).
fn winrs_options(r: &Request) -> WinrsOptions {
    WinrsOptions::parse(&r.options).unwrap()
}

#[test]
fn recorded_requests_carry_the_values_windows_clients_send() {
    let r = request("shell/command.request.xml");
    let c = CommandLine::parse(r.body.as_ref()).unwrap();
    assert_eq!(c.command, "cmd.exe");
    assert_eq!(c.arguments, ["/c", "echo", "hi"]);
    assert_eq!(winrs_options(&r).skip_cmd_shell, Some(false));
    let r = request("shell/command.skip-cmd-shell.request.xml");
    assert_eq!(winrs_options(&r).skip_cmd_shell, Some(true));
    let r = request("shell/command.utf8-args.request.xml");
    let c = CommandLine::parse(r.body.as_ref()).unwrap();
    assert_eq!(c.arguments, ["Write-Host こんにちは"]);
    let r = request("shell/send.end.request.xml");
    let s = Send::parse(r.body.as_ref()).unwrap();
    assert!(s.streams[0].end);
    assert_eq!(s.streams[0].data, b"Write-Host \"output 2\";");
    assert_eq!(
        s.streams[0].command_id.as_deref(),
        Some("B0973E54-434E-4D99-B4BE-ADE584CE3BFB")
    );
    let r = request("shell/send.request.xml");
    assert!(!Send::parse(r.body.as_ref()).unwrap().streams[0].end);
    let r = request("shell/receive.request.xml");
    let rc = Receive::parse(r.body.as_ref()).unwrap();
    assert_eq!(rc.streams, ["stdout", "stderr"]);
    assert_eq!(winrs_options(&r).keepalive, Some(true));
    let r = request("shell/signal-terminate.psrp.request.xml");
    assert_eq!(
        Signal::parse(r.body.as_ref()).unwrap().code,
        SignalCode::Terminate
    );
    let r = request("shell/shell-create.noprofile.request.xml");
    assert_eq!(winrs_options(&r).no_profile, Some(true));
    let r = request("shell/shell-create.codepage-65001.request.xml");
    assert_eq!(winrs_options(&r).codepage, Some(65001));
    let r = request("shell/psrp-shell-create.request.xml");
    let c = ShellCreate::parse(r.body.as_ref()).unwrap();
    assert_eq!(
        c.shell_id.as_deref(),
        Some("76056A84-51DC-4F24-9262-CA2A55464B2B")
    );
    assert_eq!(c.input_streams, ["stdin", "pr"]);
}

// ---- Disconnect, Reconnect, Connect ----

/// A recorded PSRP request addressed to the cmd shell instead (the body is the same message).
fn as_cmd_request(rel: &str) -> Request {
    let text = fixture(rel).replace(
        "http://schemas.microsoft.com/powershell/Microsoft.PowerShell",
        shell::uri::CMD,
    );
    parse_request(&text, &Limits::default()).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[test]
fn recorded_disconnect_reconnect_connect_parse_as_cmd_shell_requests() {
    let d = as_cmd_request("shell/psrp-disconnect.request.xml");
    assert_eq!(d.operation.action, Action::Disconnect);
    assert_eq!(
        d.selectors.get("ShellId"),
        Some("B6631D8E-65A0-49F2-9053-A1B156C95777")
    );
    assert_eq!(
        Disconnect::parse(d.body.as_ref()).unwrap(),
        Disconnect::default()
    );
    assert_eq!(
        d.session_id.as_deref(),
        Some("uuid:96676D7F-B39C-41F1-9C6C-02F79AE9C9B5")
    );
    let r = as_cmd_request("shell/psrp-reconnect.request.xml");
    assert_eq!(r.operation.action, Action::Reconnect);
    // PowerShell's Reconnect has an empty s:Body.
    assert_eq!(
        Reconnect::parse(r.body.as_ref()).unwrap(),
        Reconnect::default()
    );
    let c = as_cmd_request("shell/psrp-connect.request.xml");
    assert_eq!(c.operation.action, Action::Connect);
    let connect = Connect::parse(c.body.as_ref()).unwrap();
    assert_eq!(connect.command_id, None);
    let (name, namespace, text) = connect.open_content.unwrap();
    assert_eq!(name, "connectXml");
    assert_eq!(
        namespace.as_deref(),
        Some("http://schemas.microsoft.com/powershell")
    );
    assert!(text.starts_with("AAAAAAAAAAEAAAAA"));
}

#[test]
fn disconnect_reconnect_connect_responses_match_windows() {
    assert_matches_windows(
        shell::action::DISCONNECT_RESPONSE,
        "",
        "shell/psrp-disconnect.response.xml",
    );
    assert_matches_windows(
        shell::action::RECONNECT_RESPONSE,
        "",
        "shell/psrp-reconnect.response.xml",
    );
    // Windows' ConnectResponse of a PSRP shell: the streams, then PSRP's open content.
    let doc = parse(&fixture("shell/psrp-connect.response.xml"));
    assert_eq!(action_of(&doc), shell::action::CONNECT_RESPONSE);
    let windows = ConnectResponse::parse(&body_of(&doc)).unwrap();
    assert_eq!(windows.input_streams, ["stdin", "pr"]);
    assert_eq!(windows.output_streams, ["stdout"]);
    assert!(windows
        .connect_response_xml
        .as_deref()
        .is_some_and(|x| x.starts_with("AAAAAAAAAAQ")));
    let plain = ConnectResponse::new(
        windows.input_streams.clone(),
        windows.output_streams.clone(),
    );
    // Without PSRP's element, ours is Windows' without it: the same streams in the same order.
    let mut expected = body_of(&doc)
        .child(ns::SHELL, "ConnectResponse")
        .unwrap()
        .clone();
    let whole = expected.clone();
    expected
        .children
        .retain(|c| !matches!(c, Node::Element(e) if e.ns.as_deref() != Some(ns::SHELL)));
    assert_eq!(normalise(&parse(&plain.to_xml())), normalise(&expected));
    // With it (the PowerShell plug-in's answer), ours is Windows' whole.
    assert_eq!(normalise(&parse(&windows.to_xml())), normalise(&whole));
}

#[test]
fn disconnect_bodies_with_idle_timeout_and_buffer_mode() {
    let b = body(&format!(
        "<rsp:Disconnect {RSP}><rsp:IdleTimeOut>PT60.000S</rsp:IdleTimeOut><rsp:BufferMode>block</rsp:BufferMode></rsp:Disconnect>"
    ));
    let d = Disconnect::parse(Some(&b)).unwrap();
    assert_eq!(d.idle_timeout, Some(Duration::from_secs(60)));
    assert_eq!(d.buffer_mode, Some(BufferMode::Block));
    for bad in [
        format!("<rsp:Disconnect {RSP}><rsp:IdleTimeOut>60000</rsp:IdleTimeOut></rsp:Disconnect>"),
        format!("<rsp:Disconnect {RSP}><rsp:BufferMode>Keep</rsp:BufferMode></rsp:Disconnect>"),
        format!("<rsp:Disconnect {RSP}><rsp:Idle>PT1S</rsp:Idle></rsp:Disconnect>"),
        format!("<rsp:Reconnect {RSP}/>"),
    ] {
        let f = Disconnect::parse(Some(&body(&bad))).unwrap_err();
        assert_eq!(f.wsman_code, code::SCHEMA_VALIDATION_ERROR, "{bad}");
    }
    assert!(Disconnect::parse(None).is_err());
    assert!(Connect::parse(None).is_err());
    let f = Reconnect::parse(Some(&body(&format!("<rsp:Disconnect {RSP}/>")))).unwrap_err();
    assert_eq!(f.wsman_code, code::SCHEMA_VALIDATION_ERROR);
    let r = Reconnect::parse(Some(&body(&format!(
        "<rsp:Reconnect {RSP}><rsp:BufferMode>Drop</rsp:BufferMode><rsp:CommandId>X</rsp:CommandId></rsp:Reconnect>"
    ))))
    .unwrap();
    assert_eq!(r.buffer_mode, Some(BufferMode::Drop));
    assert_eq!(r.command_id.as_deref(), Some("X"));
}
