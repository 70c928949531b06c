//! WinRS shells end to end over raw HTTP on 127.0.0.1: the lifecycle, the faults of every bad
//! input, ownership, quotas, and a client that vanishes mid-command.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use wsman_proto::ns;
use wsman_proto::shell::requests::{CommandLine, Receive, Send, ShellCreate, Signal};
use wsman_proto::shell::responses::ReceiveResponse;
use wsman_proto::shell::StreamData;
use wsman_proto::shell::{self, CommandResponse, CreateResponse, ShellDescription, SignalCode};

/// A service account mapped to the unprivileged Linux user `wsmanuser` (when it exists).
const SHELL_USER: &str = "shelluser";

fn timeout_header(seconds: u32) -> String {
    format!("<w:OperationTimeout>PT{seconds}S</w:OperationTimeout>")
}

fn account_exists(name: &str) -> bool {
    wsman_os::lookup_user(name).ok().flatten().is_some()
}

fn add_account(svc: &TestService, name: &str, run_as: Option<&str>) {
    let mut store = wsman_config::accounts::load(svc.dir.path()).unwrap();
    store
        .add(name, PASSWORD, run_as.map(str::to_owned))
        .unwrap();
}

/// A service with no extra settings, and clients of its administrator `USER` and of
/// `SHELL_USER` (added, run as the Linux user `wsmanuser`); `None`, with the reason printed,
/// when that Linux user does not exist.
async fn admin_and_user() -> Option<(TestService, ShellClient, ShellClient)> {
    if !account_exists("wsmanuser") {
        eprintln!("skipped: no Linux user wsmanuser");
        return None;
    }
    let svc = TestService::start("").await;
    add_account(&svc, SHELL_USER, Some("wsmanuser"));
    let admin = ShellClient::new(&svc, USER).await;
    let user = ShellClient::new(&svc, SHELL_USER).await;
    Some((svc, admin, user))
}

/// A client of one shell user on one connection.
struct ShellClient {
    conn: Client,
    auth: String,
}

impl ShellClient {
    async fn new(svc: &TestService, user: &str) -> Self {
        Self {
            conn: svc.connect().await,
            auth: basic(user, PASSWORD),
        }
    }

    /// A service with no extra settings and a client of its administrator with a shell
    /// opened, as [`ShellClient::with_shell`].
    async fn served_with_shell() -> (TestService, Self, String) {
        let svc = TestService::start("").await;
        let (client, shell_id) = Self::with_shell(&svc).await;
        (svc, client, shell_id)
    }

    /// A client of the test's administrator ([`USER`]) with a shell opened; its id.
    async fn with_shell(svc: &TestService) -> (Self, String) {
        let mut client = Self::new(svc, USER).await;
        let shell_id = client.open().await;
        (client, shell_id)
    }

    /// Posts a Receive of `command_id`'s output (waiting up to `seconds`) without reading the
    /// answer, as a client that is cut off before it comes.
    async fn send_receive(&mut self, shell_id: &str, command_id: &str, seconds: u32) {
        let request = envelope(
            RECEIVE,
            CMD,
            &format!("{}{}", selector(shell_id), timeout_header(seconds)),
            &Receive::new(Some(command_id), &["stdout", "stderr"]).to_xml(),
        );
        let auth = self.auth.clone();
        self.conn
            .send(
                "POST",
                "/wsman",
                &[("Content-Type", SOAP.to_owned()), ("Authorization", auth)],
                request.as_bytes(),
            )
            .await;
    }

    /// Polls Get of the shell until it faults as unknown (the reaper ended it), at most
    /// `within`; `what` names the failure.
    async fn wait_until_gone(&mut self, shell_id: &str, within: Duration, what: &str) {
        let deadline = Instant::now() + within;
        loop {
            let r = self
                .call(common::GET, shell::uri::SHELLS, &selector(shell_id), "")
                .await;
            if r.status == 500 {
                assert_eq!(fault_code(&r), "2150858843");
                break;
            }
            assert!(Instant::now() < deadline, "{what}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn call(&mut self, action: &str, uri: &str, headers: &str, body: &str) -> Response {
        let auth = self.auth.clone();
        self.conn
            .post(Some(&auth), &[], &envelope(action, uri, headers, body))
            .await
    }

    async fn create(&mut self, body: &ShellCreate) -> Response {
        self.call(CREATE, CMD, "", &body.to_xml()).await
    }

    async fn open(&mut self) -> String {
        let r = self.create(&ShellCreate::default()).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let created = CreateResponse::parse(&body_of(&r)).unwrap();
        assert_eq!(created.selector_shell_id, created.shell.shell_id);
        created.shell.shell_id
    }

    async fn command(&mut self, shell_id: &str, line: &str) -> Response {
        let body = CommandLine::new(line, Vec::new()).to_xml();
        self.call(COMMAND, CMD, &selector(shell_id), &body).await
    }

    async fn run(&mut self, shell_id: &str, line: &str) -> String {
        let r = self.command(shell_id, line).await;
        assert_eq!(r.status, 200, "{}", r.text());
        CommandResponse::parse(&body_of(&r)).unwrap().command_id
    }

    async fn send(&mut self, shell_id: &str, command_id: &str, data: &[u8], end: bool) -> Response {
        let body = Send::new(vec![StreamData::new(
            "stdin",
            Some(command_id),
            data.to_vec(),
            end,
        )])
        .to_xml();
        self.call(SEND, CMD, &selector(shell_id), &body).await
    }

    async fn receive(&mut self, shell_id: &str, command_id: &str, seconds: u32) -> Response {
        let body = Receive::new(Some(command_id), &["stdout", "stderr"]).to_xml();
        let headers = format!("{}{}", selector(shell_id), timeout_header(seconds));
        self.call(RECEIVE, CMD, &headers, &body).await
    }

    /// Receive until Done: (stdout, stderr, exit code). Timeouts are retried, as clients do.
    async fn collect(&mut self, shell_id: &str, command_id: &str) -> (Vec<u8>, Vec<u8>, i64) {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        for _ in 0..100 {
            let r = self.receive(shell_id, command_id, 5).await;
            if r.status == 500 && fault_code(&r) == "2150858793" {
                continue;
            }
            if let Some(code) = take_output(&r, Some(command_id), &mut out, &mut err) {
                return (out, err, code);
            }
        }
        panic!("command never finished")
    }

    async fn signal(&mut self, shell_id: &str, command_id: &str, code: SignalCode) -> Response {
        let body = Signal::new(Some(command_id), code).to_xml();
        self.call(SIGNAL, CMD, &selector(shell_id), &body).await
    }

    async fn delete(&mut self, shell_id: &str) -> Response {
        self.call(DELETE, CMD, &selector(shell_id), "").await
    }

    /// The ShellIds of the shells an Enumerate shows this client.
    async fn shell_ids(&mut self) -> Vec<String> {
        let shells = self.enumerate_shells().await;
        shells.into_iter().map(|d| d.shell_id).collect()
    }

    async fn enumerate_shells(&mut self) -> Vec<ShellDescription> {
        let body = "<n:Enumerate><w:OptimizeEnumeration/><w:MaxElements>32000</w:MaxElements></n:Enumerate>";
        let r = self.call(ENUMERATE, shell::uri::SHELLS, "", body).await;
        assert_eq!(r.status, 200, "{}", r.text());
        let body = body_of(&r);
        let items = body
            .child(ns::ENUMERATION, "EnumerateResponse")
            .and_then(|e| e.child(ns::WSMAN, "Items"));
        items
            .map(|i| {
                i.elements()
                    .map(|s| ShellDescription::parse(s).unwrap())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Processes whose command line contains `marker`.
/// Polls `done` every `every_ms` until it holds, failing with `what` after `within`.
async fn wait_for(what: &str, within: Duration, every_ms: u64, done: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(every_ms)).await;
    }
}

fn processes_with(marker: &str) -> usize {
    let mut n = 0;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if !entry
            .file_name()
            .to_string_lossy()
            .bytes()
            .all(|b| b.is_ascii_digit())
        {
            continue;
        }
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            if String::from_utf8_lossy(&cmdline).contains(marker) {
                n += 1;
            }
        }
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_lifecycle() {
    let (_svc, mut c, shell_id) = ShellClient::served_with_shell().await;

    // stdout, stderr and the exit code
    let id = c.run(&shell_id, "echo hello; echo oops >&2; exit 42").await;
    let (out, err, code) = c.collect(&shell_id, &id).await;
    assert_eq!(out, b"hello\n");
    assert_eq!(err, b"oops\n");
    assert_eq!(code, 42);
    // the final Signal clients send after Done succeeds
    let r = c.signal(&shell_id, &id, SignalCode::Terminate).await;
    assert_eq!(r.status, 200, "{}", r.text());

    // stdin in two Sends, End in the second; UTF-8 both ways
    let id = c.run(&shell_id, "cat").await;
    let r = c.send(&shell_id, &id, "héllo ".as_bytes(), false).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = c.send(&shell_id, &id, "wörld".as_bytes(), true).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let (out, _, code) = c.collect(&shell_id, &id).await;
    assert_eq!(String::from_utf8(out).unwrap(), "héllo wörld");
    assert_eq!(code, 0);
    // Send after End
    let r = c.send(&shell_id, &id, b"more", false).await;
    assert_eq!(fault_code(&r), "87");
    // Receive on a command whose Done was received
    let r = c.receive(&shell_id, &id, 1).await;
    assert_eq!(fault_code(&r), "2150858843");
    let r = c.signal(&shell_id, &id, SignalCode::CtrlC).await;
    assert_eq!(r.status, 200, "{}", r.text());

    // ctrl_c reaches the process group of a running command
    let id = c
        .run(
            &shell_id,
            "trap 'echo got-int; exit 7' INT; echo ready; while :; do sleep 0.1; done",
        )
        .await;
    let r = c.receive(&shell_id, &id, 10).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = c.signal(&shell_id, &id, SignalCode::CtrlC).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let (out, _, code) = c.collect(&shell_id, &id).await;
    assert!(String::from_utf8_lossy(&out).contains("got-int"));
    assert_eq!(code, 7);

    // terminate a running command: its id is released
    let id = c.run(&shell_id, "sleep 3007").await;
    let r = c.signal(&shell_id, &id, SignalCode::Terminate).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = c.receive(&shell_id, &id, 1).await;
    assert_eq!(fault_code(&r), "2150858843");

    // Get on the shell resource and on the inventory
    let r = c
        .call(common::GET, shell::uri::SHELLS, &selector(&shell_id), "")
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let d = ShellDescription::parse(&body_of(&r)).unwrap();
    assert_eq!(d.shell_id, shell_id);
    assert_eq!(d.owner, USER);
    assert_eq!(d.client_ip, "127.0.0.1");

    // Delete ends everything the shell started
    let id = c.run(&shell_id, "sleep 3008 & sleep 3009").await;
    let _ = id;
    let r = c.delete(&shell_id).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(processes_with("sleep 3008"), 0);
    assert_eq!(processes_with("sleep 3009"), 0);
    let r = c.delete(&shell_id).await;
    assert_eq!(fault_code(&r), "2150858843");
}

/// A command's Signal terminate ends what it started that left its session (`setsid -f`,
/// `(setsid ... &)`), before any Delete: the command's own cgroup holds them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminate_ends_what_the_command_started_outside_its_session() {
    if !wsman_os::cgroup::CgroupSupport::detect("wsmand").is_available() {
        eprintln!("skipped: no usable cgroups here");
        return;
    }
    let (_svc, mut c, shell_id) = ShellClient::served_with_shell().await;
    let markers = ["sleep 600.421", "sleep 600.422", "sleep 600.423"];
    let line = "setsid -f sleep 600.421; (setsid sleep 600.422 &); sleep 600.423";
    let id = c.run(&shell_id, line).await;
    wait_for(
        "the sleeps never all ran",
        Duration::from_secs(30),
        20,
        || markers.iter().all(|marker| processes_with(marker) > 0),
    )
    .await;
    let r = c.signal(&shell_id, &id, SignalCode::Terminate).await;
    assert_eq!(r.status, 200, "{}", r.text());
    // Terminate answers once the command's group is empty: nothing is left to wait for.
    for marker in markers {
        assert_eq!(processes_with(marker), 0, "{marker} survived the terminate");
    }
    let r = c.delete(&shell_id).await;
    assert_eq!(r.status, 200, "{}", r.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_ids_invalid_input_and_options() {
    let svc = TestService::start("").await;
    let mut c = ShellClient::new(&svc, USER).await;
    let missing = "00000000-0000-4000-8000-000000000000";
    // unknown ShellId: InvalidSelectors / 2150858843, HTTP 500
    let r = c.command(missing, "true").await;
    assert_eq!(fault_code(&r), "2150858843");
    assert!(r.text().contains("w:InvalidSelectors"));
    assert!(r.text().contains("faultDetail/UnexpectedSelectors"));
    let shell_id = c.open().await;
    // unknown CommandId
    let r = c.receive(&shell_id, missing, 1).await;
    assert_eq!(fault_code(&r), "2150858843");
    let r = c.send(&shell_id, missing, b"x", true).await;
    assert_eq!(fault_code(&r), "2150858843");
    // no ShellId at all
    let r = c
        .call(COMMAND, CMD, "", &CommandLine::new("true", vec![]).to_xml())
        .await;
    assert_eq!(fault_code(&r), "2150858842");
    // invalid base64
    let id = c.run(&shell_id, "cat").await;
    let bad = format!(
        "<rsp:Send xmlns:rsp=\"{}\"><rsp:Stream Name=\"stdin\" CommandId=\"{id}\">%%%not base64</rsp:Stream></rsp:Send>",
        ns::SHELL
    );
    let r = c.call(SEND, CMD, &selector(&shell_id), &bad).await;
    assert_eq!(fault_code(&r), "2150858817");
    // Receive without CommandId on a cmd shell: InvalidParameter / 87
    let body = Receive::new(None, &["stdout"]).to_xml();
    let r = c.call(RECEIVE, CMD, &selector(&shell_id), &body).await;
    assert_eq!(fault_code(&r), "87");
    // an IdleTimeOut that is a bare number
    let bad = format!(
        "<rsp:Shell xmlns:rsp=\"{}\"><rsp:IdleTimeOut>3600000</rsp:IdleTimeOut></rsp:Shell>",
        ns::SHELL
    );
    let r = c.call(CREATE, CMD, "", &bad).await;
    assert_eq!(fault_code(&r), "2150858817");
    // options in any case (pypsrp's mustUnderstand OptionSet)
    let options = "<w:OptionSet s:mustUnderstand=\"true\"><w:Option Name=\"winrs_noprofile\">True</w:Option><w:Option Name=\"WINRS_CODEPAGE\">65001</w:Option></w:OptionSet>";
    let r = c
        .call(CREATE, CMD, options, &ShellCreate::default().to_xml())
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    // a client-chosen ShellId is honoured; reusing it is AlreadyExists
    let mut body = ShellCreate::default();
    body.shell_id = Some("5a9a1b2c-0000-4000-8000-0000000000aa".to_owned());
    let r = c.create(&body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let created = CreateResponse::parse(&body_of(&r)).unwrap();
    assert_eq!(
        created.shell.shell_id,
        "5A9A1B2C-0000-4000-8000-0000000000AA"
    );
    let r = c.create(&body).await;
    assert!(r.text().contains("w:AlreadyExists"), "{}", r.text());
    // stdin larger than the envelope limit (500 KiB): 413 before the body is read
    let huge = Send::new(vec![StreamData::new(
        "stdin",
        Some(&id),
        vec![b'a'; 600 * 1024],
        false,
    )]);
    let request = envelope(SEND, CMD, &selector(&shell_id), &huge.to_xml());
    let head = format!(
        "POST /wsman HTTP/1.1\r\nHost: h\r\nContent-Type: {SOAP}\r\nAuthorization: {}\r\nContent-Length: {}\r\n\r\n",
        c.auth,
        request.len()
    );
    c.conn.write_raw(head.as_bytes()).await;
    let r = c.conn.read_response().await;
    assert_eq!(r.status, 413);
    // the shell and its command are unharmed
    let mut again = ShellClient::new(&svc, USER).await;
    let r = again.send(&shell_id, &id, b"ok", true).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let (out, _, _) = again.collect(&shell_id, &id).await;
    assert_eq!(out, b"ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receive_times_out_in_time_and_keeps_the_command() {
    let svc = TestService::start_with(|port, _| {
        format!(
            "[Config]\nMaxTimeoutms = 2000\n[Config.Service]\nAllowUnencrypted = true\n\
             [Config.Service.Auth]\nBasic = true\n\
             [[Listener]]\nAddress = \"IP:127.0.0.1\"\nTransport = \"HTTP\"\nPort = {port}\n"
        )
    })
    .await;
    let (mut c, shell_id) = ShellClient::with_shell(&svc).await;
    let id = c.run(&shell_id, "sleep 2; echo late").await;
    let r = c.receive(&shell_id, &id, 1).await;
    assert_eq!(fault_code(&r), "2150858793");
    assert!(r.text().contains("w:TimedOut"));
    // the command goes on and its output is not lost
    let (out, _, code) = c.collect(&shell_id, &id).await;
    assert_eq!(out, b"late\n");
    assert_eq!(code, 0);
    // MaxTimeoutms (2 s here) caps a larger OperationTimeout: the fault comes long before
    // the 600 s the client asked for (the harness gives up after 30 s)
    let id = c.run(&shell_id, "sleep 3010").await;
    let r = c.receive(&shell_id, &id, 600).await;
    assert_eq!(fault_code(&r), "2150858793");
    let r = c.delete(&shell_id).await;
    assert_eq!(r.status, 200);
    assert_eq!(processes_with("sleep 3010"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn output_larger_than_one_envelope_arrives_whole_in_bounded_responses() {
    let (_svc, mut c, shell_id) = ShellClient::served_with_shell().await;
    let id = c
        .run(&shell_id, "head -c 1000000 /dev/zero | tr '\\0' x")
        .await;
    let (out, _, code) = c.collect(&shell_id, &id).await;
    assert_eq!(out.len(), 1_000_000);
    assert!(out.iter().all(|b| *b == b'x'));
    assert_eq!(code, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn powershell_create_without_creation_xml_gets_a_clean_fault() {
    // The PowerShell plug-in is served (bridged to pwsh -s, tests/interop/test_psrp.py); a
    // Create without the runspace pool's creationXml starts nothing.
    let svc = TestService::start("").await;
    let mut c = ShellClient::new(&svc, USER).await;
    let r = c
        .call(
            CREATE,
            "http://schemas.microsoft.com/powershell/Microsoft.PowerShell",
            "",
            &ShellCreate::default().to_xml(),
        )
        .await;
    assert!(r.text().contains("w:InvalidParameter"), "{}", r.text());
    assert!(r.text().contains("creationXml"), "{}", r.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shells_are_private_to_their_owner() {
    let Some((_svc, mut admin, mut user)) = admin_and_user().await else {
        return;
    };
    let admin_shell = admin.open().await;
    // a non-administrator with a Linux user may open shells; they run as that user
    let user_shell = user.open().await;
    let id = user.run(&user_shell, "id -un; echo $HOME").await;
    let (out, _, code) = user.collect(&user_shell, &id).await;
    assert_eq!(code, 0);
    assert_eq!(
        String::from_utf8_lossy(&out),
        "wsmanuser\n/home/wsmanuser\n"
    );
    // Enumerate shows only the caller's shells
    let mine = user.shell_ids().await;
    assert_eq!(mine, vec![user_shell.clone()]);
    let theirs = admin.shell_ids().await;
    assert_eq!(theirs, vec![admin_shell.clone()]);
    // another user's shell does not exist for them
    let r = user.command(&admin_shell, "true").await;
    assert_eq!(fault_code(&r), "2150858843");
    let r = user.delete(&admin_shell).await;
    assert_eq!(fault_code(&r), "2150858843");
    // the command inventory of a shell, by SelectorFilter
    let filter = format!(
        "<n:Enumerate><w:OptimizeEnumeration/><w:Filter Dialect=\"http://schemas.dmtf.org/wbem/wsman/1/wsman/SelectorFilter\">{}</w:Filter></n:Enumerate>",
        selector(&user_shell)
    );
    let r = user
        .call(ENUMERATE, shell::uri::COMMANDS, "", &filter)
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains(&id), "{}", r.text());
    // config stays administrators-only
    let r = user.call(common::GET, CONFIG_URI, "", "").await;
    assert_eq!(fault_code(&r), "5");
    assert_eq!(user.delete(&user_shell).await.status, 200);
    assert_eq!(admin.delete(&admin_shell).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identities_without_a_linux_user_get_access_denied() {
    let svc = TestService::start("").await;
    let mut c = ShellClient::new(&svc, PLAIN_USER).await;
    let r = c.create(&ShellCreate::default()).await;
    assert_eq!(fault_code(&r), "5");
    assert!(r.text().contains("w:AccessDenied"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_shells_per_user_and_live_limit_changes() {
    let svc = TestService::start_with(|port, _| {
        format!(
            "[Config.Service]\nAllowUnencrypted = true\n[Config.Service.Auth]\nBasic = true\n\
             [Config.Winrs]\nMaxShellsPerUser = 2\n\
             [[Listener]]\nAddress = \"IP:127.0.0.1\"\nTransport = \"HTTP\"\nPort = {port}\n"
        )
    })
    .await;
    let mut c = ShellClient::new(&svc, USER).await;
    let a = c.open().await;
    let _b = c.open().await;
    let r = c.create(&ShellCreate::default()).await;
    assert_eq!(fault_code(&r), "2150859173");
    assert!(r.text().contains("w:QuotaLimit"));
    // a freed slot can be used again
    assert_eq!(c.delete(&a).await.status, 200);
    let _c = c.open().await;
    // AllowRemoteShellAccess=false applies live
    let config = std::fs::read_to_string(svc.config_path()).unwrap().replace(
        "MaxShellsPerUser = 2",
        "MaxShellsPerUser = 5\nAllowRemoteShellAccess = false",
    );
    std::fs::write(svc.config_path(), config).unwrap();
    assert!(svc.service.check_files().await.unwrap());
    let r = c.create(&ShellCreate::default()).await;
    assert_eq!(fault_code(&r), "2150859180");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vanished_client_leaves_no_process_after_the_idle_timeout() {
    let svc = TestService::start("").await;
    let mut c = ShellClient::new(&svc, USER).await;
    let mut body = ShellCreate::default();
    body.idle_timeout = Some(Duration::from_secs(2));
    let r = c.create(&body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let shell_id = CreateResponse::parse(&body_of(&r)).unwrap().shell.shell_id;
    let id = c
        .run(&shell_id, "sleep 3011 & sleep 3012; echo never")
        .await;
    // a Receive in flight, then the connection is gone
    c.send_receive(&shell_id, &id, 3).await;
    drop(c);
    assert!(processes_with("sleep 3012") > 0);
    // the reaper ends the shell after its IdleTimeOut; wait (bounded) for that
    let mut other = ShellClient::new(&svc, USER).await;
    other
        .wait_until_gone(&shell_id, Duration::from_secs(60), "shell never reaped")
        .await;
    wait_for(
        "processes left behind",
        Duration::from_secs(20),
        100,
        || processes_with("sleep 3011") + processes_with("sleep 3012") == 0,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receive_cut_off_by_a_disconnect_loses_no_output() {
    let (svc, mut c, shell_id) = ShellClient::served_with_shell().await;
    let id = c.run(&shell_id, "sleep 1; echo after-disconnect").await;
    c.send_receive(&shell_id, &id, 20).await;
    // The client goes away while its Receive waits for output.
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(c);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut again = ShellClient::new(&svc, USER).await;
    let (out, _, code) = again.collect(&shell_id, &id).await;
    assert_eq!(out, b"after-disconnect\n");
    assert_eq!(code, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_concurrent_operations_per_user_is_a_quota_fault() {
    let svc = TestService::start("MaxConcurrentOperationsPerUser = 2").await;
    let (mut c, shell_id) = ShellClient::with_shell(&svc).await;
    let _a = c.run(&shell_id, "sleep 3013").await;
    let _b = c.run(&shell_id, "sleep 3013").await;
    let r = c.command(&shell_id, "true").await;
    assert_eq!(fault_code(&r), "2150859174");
    assert!(r.text().contains("w:QuotaLimit"));
    assert_eq!(c.delete(&shell_id).await.status, 200);
    assert_eq!(processes_with("sleep 3013"), 0);
    // the slots are free again
    let shell_id = c.open().await;
    let id = c.run(&shell_id, "true").await;
    let (_, _, code) = c.collect(&shell_id, &id).await;
    assert_eq!(code, 0);
}

// Disconnect, Reconnect, Connect.
#[path = "shell/reconnect.rs"]
mod reconnect;
