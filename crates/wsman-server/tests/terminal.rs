//! wsmand's terminal extension of WinRS over raw HTTP on 127.0.0.1: a Create with the
//! `WSMAND_PTY` options and the window-size Signal, both from hand-written fixtures
//! (`tests/fixtures/terminal-*.request.xml`), reach a real pseudo-terminal that `tty` and
//! `stty` report on; bad terminal options and resizes get their faults.
#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use wsman_proto::shell::requests::{CommandLine, Receive, Send};
use wsman_proto::shell::responses::{CommandStateValue, ReceiveResponse};
use wsman_proto::shell::{CommandResponse, CreateResponse, StreamData};

fn fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    // The fixture's comment precedes the envelope.
    text[text.find("<s:Envelope").unwrap()..].to_owned()
}

struct Session {
    conn: Client,
    auth: String,
}

impl Session {
    /// A service with its defaults and a connection to it as the administrator.
    async fn start() -> (TestService, Session) {
        let svc = TestService::start("").await;
        let session = Session {
            conn: svc.connect().await,
            auth: basic(USER, PASSWORD),
        };
        (svc, session)
    }

    async fn post(&mut self, text: &str) -> Response {
        let auth = self.auth.clone();
        self.conn.post(Some(&auth), &[], text).await
    }

    async fn call(&mut self, action: &str, headers: &str, body: &str) -> Response {
        self.post(&envelope(action, CMD, headers, body)).await
    }

    async fn run(&mut self, shell_id: &str, line: &str) -> String {
        let body = CommandLine::new(line, Vec::new()).to_xml();
        let r = self.call(COMMAND, &selector(shell_id), &body).await;
        assert_eq!(r.status, 200, "{}", r.text());
        CommandResponse::parse(&body_of(&r)).unwrap().command_id
    }

    /// One Receive: stdout, stderr, and the exit code once Done.
    async fn receive(&mut self, shell_id: &str, id: &str) -> (Vec<u8>, Vec<u8>, Option<i64>) {
        let body = Receive::new(Some(id), &["stdout", "stderr"]).to_xml();
        let headers = format!(
            "{}<w:OperationTimeout>PT5S</w:OperationTimeout>",
            selector(shell_id)
        );
        let r = self.call(RECEIVE, &headers, &body).await;
        if r.status == 500 && fault_code(&r) == "2150858793" {
            return (Vec::new(), Vec::new(), None);
        }
        assert_eq!(r.status, 200, "{}", r.text());
        let parsed = ReceiveResponse::parse(&body_of(&r)).unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        for s in parsed.streams {
            match s.name.as_str() {
                "stdout" => out.extend(s.data),
                _ => err.extend(s.data),
            }
        }
        let done = match parsed.state {
            Some((_, CommandStateValue::Done { exit_code })) => exit_code,
            _ => None,
        };
        (out, err, done)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_terminal_fixtures_reach_a_real_pseudo_terminal() {
    let (_svc, mut c) = Session::start().await;
    let r = c.post(&fixture("terminal-create.request.xml")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let shell_id = CreateResponse::parse(&body_of(&r)).unwrap().shell.shell_id;
    let id = c
        .run(
            &shell_id,
            "tty; stty size; echo \"term=$TERM\"; echo err >&2; read line; stty size",
        )
        .await;
    let (mut out, mut err) = (Vec::new(), Vec::new());
    while !String::from_utf8_lossy(&out).contains("term=") {
        let (o, e, done) = c.receive(&shell_id, &id).await;
        assert!(done.is_none(), "{}", String::from_utf8_lossy(&out));
        out.extend(o);
        err.extend(e);
    }
    let signal = fixture("terminal-resize.request.xml")
        .replace("SHELL_ID", &shell_id)
        .replace("COMMAND_ID", &id);
    let r = c.post(&signal).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let body = Send::new(vec![StreamData::new(
        "stdin",
        Some(&id),
        b"\n".to_vec(),
        false,
    )])
    .to_xml();
    let r = c.call(SEND, &selector(&shell_id), &body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let code = loop {
        let (o, e, done) = c.receive(&shell_id, &id).await;
        out.extend(o);
        err.extend(e);
        if let Some(code) = done {
            break code;
        }
    };
    assert_eq!(code, 0);
    let out = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = out.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert!(lines[0].starts_with("/dev/pts/"), "{out:?}");
    // The sizes the fixtures carry, as stty reads them from the kernel.
    assert_eq!(lines[1], "29 91");
    assert_eq!(lines[2], "term=vt220");
    assert_eq!(lines[3], "err", "stderr is the terminal too");
    assert_eq!(lines.last(), Some(&"61 203"));
    assert!(err.is_empty());
    let r = c.call(DELETE, &selector(&shell_id), "").await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_terminal_options_and_resizes_get_faults() {
    let (_svc, mut c) = Session::start().await;
    // A window of no rows: InvalidOptions/InvalidValue.
    let zero_rows = fixture("terminal-create.request.xml").replace(
        "<w:Option Name=\"WSMAND_PTY_ROWS\">29</w:Option>",
        "<w:Option Name=\"WSMAND_PTY_ROWS\">0</w:Option>",
    );
    assert_eq!(fault_code(&c.post(&zero_rows).await), "2150858835");
    let path_term = fixture("terminal-create.request.xml").replace(">vt220<", ">../../x<");
    assert_eq!(fault_code(&c.post(&path_term).await), "2150858835");

    // A shell without the option has pipes: `tty` says so, and it has nothing to resize.
    let r = c
        .call(
            common::CREATE,
            "",
            "<rsp:Shell xmlns:rsp=\"http://schemas.microsoft.com/wbem/wsman/1/windows/shell\"/>",
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let shell_id = CreateResponse::parse(&body_of(&r)).unwrap().shell.shell_id;
    let id = c.run(&shell_id, "tty").await;
    let mut out = Vec::new();
    loop {
        let (o, _, done) = c.receive(&shell_id, &id).await;
        out.extend(o);
        if done.is_some() {
            break;
        }
    }
    assert_eq!(String::from_utf8(out).unwrap(), "not a tty\n");
    let signal = fixture("terminal-resize.request.xml")
        .replace("SHELL_ID", &shell_id)
        .replace("COMMAND_ID", &id);
    assert_eq!(fault_code(&c.post(&signal).await), "87");
    // The window-size code without its window: a schema error.
    let bare = fixture("terminal-resize.request.xml")
        .replace("SHELL_ID", &shell_id)
        .replace("COMMAND_ID", &id)
        .replace(
            "<l:WindowSize xmlns:l=\"urn:wsmand:shell\" Rows=\"61\" Columns=\"203\"/>",
            "",
        );
    assert_eq!(fault_code(&c.post(&bare).await), "2150858817");
    let r = c.call(DELETE, &selector(&shell_id), "").await;
    assert_eq!(r.status, 200, "{}", r.text());
}
