//! The shape of Receive answers, held to Windows' recorded answers (the oracle is the recording,
//! not our codec): a stream's data in elements of its own; the `End` of each stream on an empty
//! element of its own, stdout's then stderr's, after all the data, in the answer that says
//! `Done`; no `End` in an answer that says `Running`. npm's `winrm-client` skips End elements
//! (data put on one was lost) and its polled API stops at the first End (the rest of the other
//! stream was lost when one stream ended early). Issue 47.
#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::*;
use wsman_proto::shell::requests::Receive;
use wsman_proto::xml::{self, Element, Limits};

/// One element of a ReceiveResponse, as far as its shape goes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    /// `<rsp:Stream Name=..>data</rsp:Stream>` (runs of them collapsed into one).
    Data(String),
    /// `<rsp:Stream Name=.. End="true"/>`, with whether it carries data.
    End { stream: String, with_data: bool },
    /// `<rsp:CommandState State=..>`: the state's last URI segment.
    State(String),
}

/// The shape of one ReceiveResponse body (the `s:Body` element).
fn shape(body: &Element) -> Vec<Item> {
    let response = body
        .child(wsman_proto::ns::SHELL, "ReceiveResponse")
        .unwrap_or_else(|| panic!("no ReceiveResponse: {}", body.to_xml()));
    let mut items: Vec<Item> = Vec::new();
    for element in response.elements() {
        let item = match element.name.as_str() {
            "Stream" => {
                let name = element.attr("Name").unwrap().to_owned();
                let with_data = !element.trimmed_text().is_empty();
                if element.attr("End") == Some("true") {
                    Item::End {
                        stream: name,
                        with_data,
                    }
                } else {
                    assert!(with_data, "an empty Stream without End");
                    Item::Data(name)
                }
            }
            "CommandState" => {
                let state = element.attr("State").unwrap();
                Item::State(state.rsplit('/').next().unwrap().to_owned())
            }
            other => panic!("unexpected element {other}"),
        };
        if !(matches!(item, Item::Data(_)) && items.last() == Some(&item)) {
            items.push(item);
        }
    }
    items
}

fn fixture_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../wsman-proto/tests/fixtures/windows/shell")
        .join(name)
}

/// The shape of a recorded Windows ReceiveResponse.
fn recorded(name: &str) -> Vec<Item> {
    let text = std::fs::read_to_string(fixture_path(name)).unwrap();
    let envelope = xml::parse(&text, &Limits::default()).unwrap();
    let body = envelope.child(wsman_proto::ns::SOAP, "Body").unwrap();
    shape(body)
}

impl Shell {
    /// Receives until Done with the envelope limit npm's winrm-client sends (153600): the
    /// shape of every answer, and the bytes of each stream.
    async fn receive_all(&mut self, command_id: &str) -> (Vec<Vec<Item>>, Vec<u8>, Vec<u8>) {
        let headers = format!(
            "{}<w:OperationTimeout>PT5S</w:OperationTimeout>\
             <w:MaxEnvelopeSize s:mustUnderstand=\"true\">153600</w:MaxEnvelopeSize>",
            selector(&self.id)
        );
        let body = Receive::new(Some(command_id), &["stdout", "stderr"]).to_xml();
        let request = envelope(RECEIVE, CMD, &headers, &body);
        let (mut answers, mut out, mut err) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..200 {
            let r = self.conn.post(Some(&self.auth), &[], &request).await;
            if r.status == 500 && fault_code(&r) == "2150858793" {
                continue;
            }
            answers.push(shape(&body_of(&r)));
            if take_output(&r, Some(command_id), &mut out, &mut err).is_some() {
                return (answers, out, err);
            }
        }
        panic!("the command never finished");
    }
}

/// Waits until `path` exists: the command wrote it after closing its output.
async fn wait_for_file(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Every answer but the last says Running and has no End; the last says Done.
fn assert_ends_only_with_done(answers: &[Vec<Item>]) {
    let (last, before) = answers.split_last().unwrap();
    for answer in before {
        assert_eq!(
            answer.last(),
            Some(&Item::State("Running".into())),
            "{answer:?}"
        );
        assert!(
            !answer.iter().any(|i| matches!(i, Item::End { .. })),
            "End in a Running answer: {answer:?}"
        );
    }
    assert_eq!(last.last(), Some(&Item::State("Done".into())), "{last:?}");
}

/// A short command that has ended before the Receive (the case npm's runCommand lost):
/// answered as Windows answered `echo hi` (`receive.done.response.xml`) and a command printing
/// to stdout and stderr and exiting 1 (`receive.done.stdout-stderr.exit1.response.xml`): the
/// same elements in the same order. wsmand put the data on the End element until issue 47.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_command_is_answered_in_the_recorded_windows_shape() {
    let svc = TestService::start("").await;
    let mut shell = Shell::open(&svc).await;
    let cases = [
        (
            "receive.done.response.xml",
            "printf 'hi\\r\\n'",
            &b"hi\r\n"[..],
            &b""[..],
        ),
        (
            "receive.done.stdout-stderr.exit1.response.xml",
            "printf 'out \\r\\n'; printf 'err \\r\\n' >&2",
            &b"out \r\n"[..],
            &b"err \r\n"[..],
        ),
    ];
    for (i, (fixture, line, want_out, want_err)) in cases.into_iter().enumerate() {
        let marker = svc.dir.path().join(format!("closed-{i}"));
        let id = shell
            .run(&format!(
                "{line}; exec >&- 2>&-; : > '{}'; exit 1",
                marker.display()
            ))
            .await;
        wait_for_file(&marker).await;
        let (answers, out, err) = shell.receive_all(&id).await;
        assert_eq!((out.as_slice(), err.as_slice()), (want_out, want_err));
        assert_ends_only_with_done(&answers);
        let got: Vec<Item> = answers.concat();
        let got: Vec<Item> = got
            .into_iter()
            .filter(|i| *i != Item::State("Running".into()))
            .collect();
        assert_eq!(got, recorded(fixture), "{fixture}: {answers:?}");
    }
}

/// The polled 225 KB run of the issue: stdout needs several answers, stderr ends first. No
/// answer before the last may carry an End (Windows sends every End with Done, as the
/// recordings show: `receive.running.response.xml` has data and no End), and the last ends
/// as Windows' `receive.done*` answers end. wsmand sent stderr's End in a Running answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_output_has_no_end_before_done() {
    let svc = TestService::start("").await;
    let mut shell = Shell::open(&svc).await;
    let id = shell.run("echo warning >&2; seq -s, 1 40000").await;
    let (answers, out, err) = shell.receive_all(&id).await;
    let want: Vec<String> = (1..=40000).map(|n| n.to_string()).collect();
    assert_eq!(String::from_utf8(out).unwrap(), want.join(",") + "\n");
    assert_eq!(err, b"warning\n");
    assert!(answers.len() > 1, "one answer: {answers:?}");
    assert_ends_only_with_done(&answers);
    let last = answers.last().unwrap();
    let tail = &last[last.len() - 3..];
    let done = recorded("receive.done.response.xml");
    assert_eq!(tail, &done[done.len() - 3..], "{last:?}");
    // The recorded Running answer: data, no End.
    assert_eq!(
        recorded("receive.running.response.xml"),
        [Item::Data("stdout".into()), Item::State("Running".into())]
    );
}
