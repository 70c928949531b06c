#![allow(clippy::unwrap_used)]
//! The shell API against a scripted in-test server on 127.0.0.1: the requests it sends (the
//! options, selectors and bodies Windows clients send), recorded Windows CreateResponses,
//! polling through `w:TimedOut`, and resending the same SequenceId when an answer is lost.
#![allow(
    clippy::disallowed_methods,
    reason = "a canned server writes its answers"
)]

mod common;
use common::{http_server, parse_soap, soap_response, start};

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use wsman_client::shell::{CommandOptions, Output, Shell, ShellOptions, Signal};
use wsman_client::{Client, ClientOptions, Endpoint, Scheme};
use wsman_proto::response::{envelope, fault_envelope, ResponseHeader};
use wsman_proto::shell::{
    CommandLine, CommandResponse, CommandStateValue, Receive, ReceiveResponse, Send as SendBody,
    ShellCreate, SignalCode, StreamData,
};
use wsman_proto::{ns, Fault, Request};

const SHELL_ID: &str = "4283CBDC-3706-415B-88BD-B385F3E51A53";
const COMMAND_ID: &str = "C0FFEE00-0000-4000-8000-000000000001";

enum Answer {
    Reply(u16, String),
    /// Close the connection without answering (a lost response).
    Drop,
}

type Script = Arc<dyn Fn(&Request, usize) -> Answer + Send + Sync>;

#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<Request>>>);

impl Log {
    fn all(&self) -> Vec<Request> {
        self.0.lock().unwrap().clone()
    }
    fn with_action(&self, suffix: &str) -> Vec<Request> {
        self.all()
            .into_iter()
            .filter(|r| r.action.as_deref().is_some_and(|a| a.ends_with(suffix)))
            .collect()
    }
}

async fn serve(script: Script) -> (SocketAddr, Log) {
    let log = Log::default();
    let seen = log.clone();
    let addr = http_server(None, move || {
        let (script, seen) = (script.clone(), seen.clone());
        move |_head, bytes: Bytes| {
            let parsed = parse_soap(&bytes);
            let n = {
                let mut all = seen.0.lock().unwrap();
                let n = all.iter().filter(|r| r.action == parsed.action).count();
                all.push(parsed.clone());
                n
            };
            std::future::ready(match script(&parsed, n) {
                Answer::Reply(status, body) => soap_response(status, body),
                // Panicking inside the service drops the connection unanswered.
                Answer::Drop => panic!("dropping this connection on purpose"),
            })
        }
    })
    .await;
    (addr, log)
}

/// A 500 answering `req` with `fault`, as the host's WS-Management service sends it.
fn fault(req: &Request, fault: &Fault) -> Answer {
    Answer::Reply(
        500,
        fault_envelope(
            fault,
            "uuid:00000000-0000-4000-8000-0000000000FE",
            req.message_id.as_deref(),
            "host",
        ),
    )
}

fn reply(req: &Request, action: &str, body: &str) -> Answer {
    let header = ResponseHeader {
        action,
        message_id: "uuid:00000000-0000-4000-8000-0000000000FF",
        relates_to: req.message_id.as_deref(),
        operation_id: None,
        sequence_id: None,
        extra: "",
    };
    Answer::Reply(200, envelope(&header, body))
}

fn recorded(name: &str, req: &Request) -> Answer {
    let path = format!(
        "{}/../wsman-proto/tests/fixtures/windows/shell/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let xml = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let start = xml.find("<a:RelatesTo>").unwrap() + "<a:RelatesTo>".len();
    let end = start + xml[start..].find("</a:RelatesTo>").unwrap();
    let id = req.message_id.clone().unwrap();
    Answer::Reply(200, format!("{}{id}{}", &xml[..start], &xml[end..]))
}

fn receive(chunks: Vec<StreamData>, done: Option<i64>) -> String {
    let state = done.map(|code| {
        (
            Some(COMMAND_ID.to_owned()),
            CommandStateValue::Done {
                exit_code: Some(code),
            },
        )
    });
    ReceiveResponse::new(chunks, state).to_xml()
}

fn client(addr: SocketAddr) -> Client {
    let mut options = ClientOptions::default();
    options.operation_timeout = std::time::Duration::from_secs(5);
    Client::new(
        Endpoint::new(Scheme::Http, "127.0.0.1", addr.port()),
        options,
    )
    .unwrap()
}

fn option<'a>(r: &'a Request, name: &str) -> Option<&'a str> {
    r.options.get(name).and_then(|o| o.value.as_deref())
}

fn lifecycle_script(req: &Request, n: usize) -> Answer {
    let action = req.action.clone().unwrap_or_default();
    let a = action.rsplit('/').next().unwrap_or_default();
    match (a, n) {
        ("Create", _) => recorded("shell-create.response.xml", req),
        ("Command", _) => {
            let body = CommandResponse {
                command_id: COMMAND_ID.to_owned(),
            };
            reply(
                req,
                wsman_proto::shell::action::COMMAND_RESPONSE,
                &body.to_xml(),
            )
        }
        ("Send", _) => reply(
            req,
            wsman_proto::shell::action::SEND_RESPONSE,
            &wsman_proto::shell::responses::send_response(),
        ),
        ("Receive", 0) => fault(req, &Fault::timed_out()),
        ("Receive", 1) => reply(
            req,
            wsman_proto::shell::action::RECEIVE_RESPONSE,
            &receive(
                vec![
                    StreamData::new("stdout", Some(COMMAND_ID), b"hi\n".to_vec(), false),
                    StreamData::new("stderr", Some(COMMAND_ID), b"oops\n".to_vec(), false),
                ],
                None,
            ),
        ),
        ("Receive", 2) => Answer::Drop,
        ("Receive", _) => reply(
            req,
            wsman_proto::shell::action::RECEIVE_RESPONSE,
            &receive(
                vec![
                    StreamData::new("stdout", Some(COMMAND_ID), "ünï\n".into(), true),
                    StreamData::new("stderr", Some(COMMAND_ID), Vec::new(), true),
                ],
                Some(42),
            ),
        ),
        ("Signal", _) => reply(
            req,
            wsman_proto::shell::action::SIGNAL_RESPONSE,
            &wsman_proto::shell::responses::signal_response(),
        ),
        ("Delete", _) => reply(req, ns::action::DELETE_RESPONSE, ""),
        other => panic!("unexpected request {other:?}"),
    }
}

#[tokio::test]
async fn lifecycle_sends_what_windows_sends_and_survives_timeouts_and_lost_answers() {
    let (addr, log) = serve(Arc::new(lifecycle_script)).await;
    let client = client(addr);
    let mut options = ShellOptions::default();
    options.working_directory = Some("/tmp".to_owned());
    options.environment = vec![("LANG".to_owned(), "C.UTF-8".to_owned())];
    let shell = Shell::open(&client, &options).await.unwrap();
    assert_eq!(shell.id(), SHELL_ID);
    let command = shell
        .run("echo", &["hi there".to_owned()], &CommandOptions::default())
        .await
        .unwrap();
    assert_eq!(command.id(), COMMAND_ID);
    command.send(b"input", false).await.unwrap();
    command.send(b"", true).await.unwrap();
    let mut reader = command.output().unwrap();
    let mut events = Vec::new();
    while let Some(e) = reader.next().await.unwrap() {
        events.push(e);
    }
    command.signal(Signal::Terminate).await.unwrap();
    shell.close().await.unwrap();

    let data = |stream: &str, data: &[u8]| Output::Data {
        stream: stream.to_owned(),
        data: data.to_vec(),
    };
    assert_eq!(
        events,
        vec![
            data("stdout", b"hi\n"),
            data("stderr", b"oops\n"),
            data("stdout", "ünï\n".as_bytes()),
            Output::Exited { exit_code: 42 },
        ]
    );

    let create = &log.with_action("/Create")[0];
    assert_eq!(
        create.resource_uri.as_deref(),
        Some(wsman_client::shell::CMD_SHELL_URI)
    );
    assert_eq!(option(create, "WINRS_NOPROFILE"), Some("FALSE"));
    assert_eq!(option(create, "WINRS_CODEPAGE"), Some("65001"));
    let body = ShellCreate::parse(create.body.as_ref()).unwrap();
    assert_eq!(body.input_streams, vec!["stdin"]);
    assert_eq!(body.output_streams, vec!["stdout", "stderr"]);
    assert_eq!(body.working_directory.as_deref(), Some("/tmp"));
    assert_eq!(
        body.environment,
        vec![("LANG".to_owned(), "C.UTF-8".to_owned())]
    );

    let cmd = &log.with_action("/Command")[0];
    assert_eq!(cmd.selectors.get("ShellId"), Some(SHELL_ID));
    assert_eq!(option(cmd, "WINRS_CONSOLEMODE_STDIN"), Some("TRUE"));
    assert_eq!(option(cmd, "WINRS_SKIP_CMD_SHELL"), Some("FALSE"));
    let line = CommandLine::parse(cmd.body.as_ref()).unwrap();
    assert_eq!(
        (line.command.as_str(), line.arguments.clone()),
        ("echo", vec!["hi there".to_owned()])
    );

    let sends: Vec<SendBody> = log
        .with_action("/Send")
        .iter()
        .map(|r| SendBody::parse(r.body.as_ref()).unwrap())
        .collect();
    assert_eq!(sends.len(), 2);
    assert_eq!(sends[0].streams[0].data, b"input");
    assert!(!sends[0].streams[0].end);
    assert!(sends[1].streams[0].end && sends[1].streams[0].data.is_empty());
    assert_eq!(sends[0].streams[0].command_id.as_deref(), Some(COMMAND_ID));

    let receives: Vec<Receive> = log
        .with_action("/Receive")
        .iter()
        .map(|r| {
            assert_eq!(option(r, "WSMAN_CMDSHELL_OPTION_KEEPALIVE"), Some("TRUE"));
            Receive::parse(r.body.as_ref()).unwrap()
        })
        .collect();
    let sequence: Vec<Option<u64>> = receives.iter().map(|r| r.sequence_id).collect();
    // TimedOut delivers nothing (same id again); the lost answer is asked for again (1, 1).
    assert_eq!(sequence, vec![Some(0), Some(0), Some(1), Some(1)]);
    assert!(receives
        .iter()
        .all(|r| r.command_id.as_deref() == Some(COMMAND_ID) && r.streams == ["stdout", "stderr"]));

    let signal = &log.with_action("/Signal")[0];
    let parsed = wsman_proto::shell::Signal::parse(signal.body.as_ref()).unwrap();
    assert_eq!(parsed.code, SignalCode::Terminate);
    assert_eq!(parsed.command_id.as_deref(), Some(COMMAND_ID));
    let delete = &log.with_action("/Delete")[0];
    assert_eq!(delete.selectors.get("ShellId"), Some(SHELL_ID));

    // One SessionId for everything, although several connections were used.
    let sessions: std::collections::BTreeSet<_> =
        log.all().iter().map(|r| r.session_id.clone()).collect();
    assert_eq!(sessions.len(), 1, "{sessions:?}");
}

#[tokio::test]
async fn shell_id_from_the_selector_when_rsp_shell_is_absent() {
    // Windows before 2012 answers Create with the EPR only.
    let script = |req: &Request, _n: usize| {
        let body = wsman_proto::transfer::resource_created(
            "http://h:5985/wsman",
            wsman_client::shell::CMD_SHELL_URI,
            &[("ShellId", SHELL_ID)],
        );
        reply(req, ns::action::CREATE_RESPONSE, &body)
    };
    let (addr, _log) = serve(Arc::new(script)).await;
    let shell = Shell::open(&client(addr), &ShellOptions::default())
        .await
        .unwrap();
    assert_eq!(shell.id(), SHELL_ID);
}

#[tokio::test]
async fn faults_other_than_timeout_end_the_output() {
    let script = |req: &Request, _n: usize| {
        let a = req.action.clone().unwrap_or_default();
        if a.ends_with("/Create") {
            return recorded("shell-create.response.xml", req);
        }
        if a.ends_with("/Command") {
            let body = CommandResponse {
                command_id: COMMAND_ID.to_owned(),
            };
            return reply(
                req,
                wsman_proto::shell::action::COMMAND_RESPONSE,
                &body.to_xml(),
            );
        }
        fault(req, &Fault::access_denied())
    };
    let (addr, _log) = serve(Arc::new(script)).await;
    let shell = Shell::open(&client(addr), &ShellOptions::default())
        .await
        .unwrap();
    let command = start(&shell, "x").await;
    let err = command.output().unwrap().next().await.unwrap_err();
    assert!(
        matches!(
            err,
            wsman_client::ClientError::Fault {
                wsman_code: Some(5),
                ..
            }
        ),
        "{err:?}"
    );
}
