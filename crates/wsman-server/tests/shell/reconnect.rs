//! Disconnect, Reconnect and Connect: recorded Windows requests resume a shell's output in order,
//! from the same client or a new one, and only for the shell's owner.

use super::*;

const RECORDED_SHELL_ID: &str = "B6631D8E-65A0-49F2-9053-A1B156C95777";

/// A request Windows' PowerShell client sent (recorded), replayed against our cmd shell: its
/// ResourceURI, ShellId and MessageID rewritten, everything else as recorded (SessionId,
/// OptionSet, the empty Reconnect body, PSRP's connectXml).
fn recorded(name: &str, shell_id: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../wsman-proto/tests/fixtures/windows/shell")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap();
    let message_id = wsman_test::soap::find_text(&text, "MessageID").unwrap();
    text.replace(
        "http://schemas.microsoft.com/powershell/Microsoft.PowerShell",
        CMD,
    )
    .replace(RECORDED_SHELL_ID, shell_id)
    .replace(&message_id, "uuid:0E6C2A1D-5B6A-4E55-9F3B-7A1D2C3B4A59")
}

impl ShellClient {
    /// Replays the recorded PSRP Reconnect against the shell, which must accept it.
    async fn reconnect_recorded(&mut self, shell_id: &str) -> Response {
        let r = self
            .replay_recorded("psrp-reconnect.request.xml", shell_id)
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        r
    }

    /// Replays the [`recorded`] request `name` against the shell `shell_id`.
    async fn replay_recorded(&mut self, name: &str, shell_id: &str) -> Response {
        let auth = self.auth.clone();
        self.conn
            .post(Some(&auth), &[], &recorded(name, shell_id))
            .await
    }

    async fn disconnect(&mut self, shell_id: &str, idle: Option<Duration>) -> Response {
        let body = shell::Disconnect::new(idle).to_xml();
        self.call(
            ns::action::SHELL_DISCONNECT,
            CMD,
            &selector(shell_id),
            &body,
        )
        .await
    }

    /// The `rsp:State` Enumerate shows for the shell.
    async fn state(&mut self, shell_id: &str) -> Option<String> {
        let shells = self.enumerate_shells().await;
        shells
            .iter()
            .find(|d| d.shell_id == shell_id)
            .and_then(|d| d.state.clone())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_disconnect_and_reconnect_resume_the_output_in_order() {
    let (svc, mut c, shell_id) = ShellClient::served_with_shell().await;
    let id = c
        .run(
            &shell_id,
            "for i in $(seq 1 30); do echo line$i; sleep 0.05; done; exit 3",
        )
        .await;
    let r = c
        .replay_recorded("psrp-disconnect.request.xml", &shell_id)
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains(shell::action::DISCONNECT_RESPONSE));
    // Disconnected: only Get, Enumerate, Delete, Reconnect and Connect reach it.
    assert_eq!(c.state(&shell_id).await.as_deref(), Some("Disconnected"));
    let r = c.receive(&shell_id, &id, 1).await;
    assert_eq!(fault_code(&r), "2150859204");
    let r = c.command(&shell_id, "true").await;
    assert_eq!(fault_code(&r), "2150859204");
    let r = c.signal(&shell_id, &id, SignalCode::CtrlC).await;
    assert_eq!(fault_code(&r), "2150859204");
    let r = c.disconnect(&shell_id, None).await;
    assert_eq!(fault_code(&r), "2150859204");
    drop(c);
    // The command prints on while nobody is connected.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let mut again = ShellClient::new(&svc, USER).await;
    let r = again.reconnect_recorded(&shell_id).await;
    assert!(r.text().contains(shell::action::RECONNECT_RESPONSE));
    // The same client session again: a no-op, as MS-WSMV asks.
    again.reconnect_recorded(&shell_id).await;
    // Connect to a connected shell, and a Reconnect without the session: refused.
    let r = again
        .replay_recorded("psrp-connect.request.xml", &shell_id)
        .await;
    assert_eq!(fault_code(&r), "2150859213");
    let r = again
        .call(ns::action::SHELL_RECONNECT, CMD, &selector(&shell_id), "")
        .await;
    assert_eq!(fault_code(&r), "2150859213");
    let (out, _, code) = again.collect(&shell_id, &id).await;
    let expected: String = (1..=30).map(|i| format!("line{i}\n")).collect();
    assert_eq!(String::from_utf8_lossy(&out), expected);
    assert_eq!(code, 3);
    assert_eq!(again.state(&shell_id).await.as_deref(), Some("Connected"));
    assert_eq!(again.delete(&shell_id).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_from_a_new_client_gets_what_a_blocked_command_printed_meanwhile() {
    let (svc, mut c, shell_id) = ShellClient::served_with_shell().await;
    // Far more than the per-stream buffer (1 MiB): the command blocks while disconnected.
    let id = c
        .run(&shell_id, "head -c 6000000 /dev/zero | tr '\\0' y")
        .await;
    assert_eq!(c.disconnect(&shell_id, None).await.status, 200);
    drop(c);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut other = ShellClient::new(&svc, USER).await;
    let r = other
        .replay_recorded("psrp-connect.request.xml", &shell_id)
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let connected = shell::ConnectResponse::parse(&body_of(&r)).unwrap();
    assert_eq!(connected.input_streams, ["stdin"]);
    assert_eq!(connected.output_streams, ["stdout", "stderr"]);
    let (out, err, code) = other.collect(&shell_id, &id).await;
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
    assert_eq!(out.len(), 6_000_000);
    assert!(out.iter().all(|&b| b == b'y'));
    assert_eq!(other.delete(&shell_id).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disconnected_shell_ends_after_its_idle_timeout_with_its_processes() {
    let (svc, mut c, shell_id) = ShellClient::served_with_shell().await;
    c.run(&shell_id, "sleep 3021").await;
    wait_for(
        "the command never started",
        Duration::from_secs(10),
        50,
        || processes_with("sleep 3021") > 0,
    )
    .await;
    assert_eq!(
        c.disconnect(&shell_id, Some(Duration::from_secs(1)))
            .await
            .status,
        200
    );
    let shells = c.enumerate_shells().await;
    let described = shells.iter().find(|d| d.shell_id == shell_id).unwrap();
    assert_eq!(described.idle_timeout, Duration::from_secs(1));
    drop(c);
    let mut other = ShellClient::new(&svc, USER).await;
    other
        .wait_until_gone(
            &shell_id,
            Duration::from_secs(30),
            "disconnected shell never reaped",
        )
        .await;
    wait_for(
        "processes left behind",
        Duration::from_secs(20),
        100,
        || processes_with("sleep 3021") == 0,
    )
    .await;
    // Gone for Reconnect too.
    let r = other
        .replay_recorded("psrp-reconnect.request.xml", &shell_id)
        .await;
    assert_eq!(fault_code(&r), "2150858843");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_user_may_not_disconnect_reconnect_or_connect() {
    let Some((_svc, mut owner, mut intruder)) = admin_and_user().await else {
        return;
    };
    let shell_id = owner.open().await;
    let r = intruder.disconnect(&shell_id, None).await;
    assert_eq!(fault_code(&r), "5");
    assert_eq!(owner.disconnect(&shell_id, None).await.status, 200);
    for name in ["psrp-reconnect.request.xml", "psrp-connect.request.xml"] {
        let r = intruder.replay_recorded(name, &shell_id).await;
        assert_eq!(fault_code(&r), "5", "{name}");
        assert!(r.text().contains("w:AccessDenied"), "{name}");
    }
    // BufferMode Drop is refused (output is never dropped).
    let drop_body = format!(
        "<rsp:Disconnect xmlns:rsp=\"{}\"><rsp:BufferMode>Drop</rsp:BufferMode></rsp:Disconnect>",
        ns::SHELL
    );
    let r = owner
        .call(
            ns::action::SHELL_DISCONNECT,
            CMD,
            &selector(&shell_id),
            &drop_body,
        )
        .await;
    assert_eq!(r.status, 500);
    assert_eq!(
        owner.state(&shell_id).await.as_deref(),
        Some("Disconnected")
    );
    owner.reconnect_recorded(&shell_id).await;
    assert_eq!(owner.delete(&shell_id).await.status, 200);
}

/// The stdout of a Receive with a SequenceId.
async fn receive_numbered(c: &mut ShellClient, shell_id: &str, id: &str, seq: u64) -> String {
    let mut body = Receive::new(Some(id), &["stdout"]);
    body.sequence_id = Some(seq);
    let headers = format!("{}{}", selector(shell_id), timeout_header(10));
    let r = c.call(RECEIVE, CMD, &headers, &body.to_xml()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let parsed = ReceiveResponse::parse(&body_of(&r)).unwrap();
    parsed
        .streams
        .iter()
        .map(|s| String::from_utf8_lossy(&s.data).into_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_client_after_reconnect_gets_the_unacknowledged_response_again() {
    let (svc, mut c, shell_id) = ShellClient::served_with_shell().await;
    let id = c.run(&shell_id, "echo one; sleep 1; echo two").await;
    // The old client's last response (SequenceId 5) may never have reached it.
    assert_eq!(receive_numbered(&mut c, &shell_id, &id, 5).await, "one\n");
    assert_eq!(c.disconnect(&shell_id, None).await.status, 200);
    drop(c);
    let mut again = ShellClient::new(&svc, USER).await;
    again.reconnect_recorded(&shell_id).await;
    // A new client numbers from 0: it gets that response first, then what follows.
    assert_eq!(
        receive_numbered(&mut again, &shell_id, &id, 0).await,
        "one\n"
    );
    assert_eq!(
        receive_numbered(&mut again, &shell_id, &id, 1).await,
        "two\n"
    );
    assert_eq!(again.delete(&shell_id).await.status, 200);
}
