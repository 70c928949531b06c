//! Streaming a command's output through a connection, checked against the same command run
//! here by `sh`: shared by the tests of each scheme (sealed NTLM, Kerberos and CredSSP over
//! HTTP, and HTTPS). Small envelopes (MaxEnvelopeSize 32 KiB) make many answers of little
//! output; the outputs end before, at and after the edge of a full answer, measured from the
//! server's own answers, so the last answer is sometimes full and carries the exit (a Receive
//! sent early after it is read and discarded), sometimes only the exit. Each command runs
//! within a bound that fails the test instead of hanging it.

use std::io::Write as _;
use std::time::Duration;

use wsman_client::shell::{CommandOptions, Output, Shell, ShellOptions};
use wsman_client::{Client, ClientOptions, Endpoint};

/// Small enough for many answers per megabyte, above the protocol's minimum of 8192.
const ENVELOPE: u64 = 32 * 1024;
/// A command's whole exchange; reaching it means a stall, not slowness.
const STALL: Duration = Duration::from_secs(120);

/// Random bytes (from the OS) in a file every user may read, so the mapped user of any
/// scheme can print them.
pub(crate) struct Source {
    _dir: tempfile::TempDir,
    pub(crate) path: std::path::PathBuf,
    pub(crate) bytes: Vec<u8>,
}

impl Source {
    pub(crate) fn new(len: usize) -> Self {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = dir.path().join("source.bin");
        let mut bytes = vec![0u8; len];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
            .unwrap();
        let mut file = std::fs::File::create(&path).unwrap();
        file.write_all(&bytes).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        Self {
            _dir: dir,
            path,
            bytes,
        }
    }
}

/// What the command prints on stdout and stderr and its exit code, run here by `sh`: the
/// expected answer.
fn run_here(command: &str) -> (Vec<u8>, Vec<u8>, i64) {
    let out = std::process::Command::new("sh")
        .args(["-c", command])
        .output()
        .unwrap();
    (
        out.stdout,
        out.stderr,
        i64::from(out.status.code().unwrap()),
    )
}

/// Stdout, stderr, the exit code, and the size of each stdout part as answered.
async fn stream(shell: &Shell, command: &str) -> (Vec<u8>, Vec<u8>, i64, Vec<usize>) {
    let running = shell
        .run(command, &[], &CommandOptions::default())
        .await
        .unwrap();
    let mut reader = running.output().unwrap();
    let (mut stdout, mut stderr, mut parts, mut exit) = (Vec::new(), Vec::new(), Vec::new(), None);
    while let Some(event) = reader.next().await.unwrap() {
        match event {
            Output::Data { stream, data } if stream == "stdout" => {
                parts.push(data.len());
                stdout.extend_from_slice(&data);
            }
            Output::Data { data, .. } => stderr.extend_from_slice(&data),
            Output::Exited { exit_code } => exit = Some(exit_code),
            other => panic!("unexpected output event {other:?}"),
        }
    }
    running
        .signal(wsman_client::shell::Signal::Terminate)
        .await
        .unwrap();
    (stdout, stderr, exit.unwrap(), parts)
}

/// Streams outputs of many sizes through `endpoint` with `options` and checks each against
/// `sh` here.
pub(crate) fn check(label: &str, endpoint: Endpoint, mut options: ClientOptions) {
    options.max_envelope_size = ENVELOPE;
    let source = Source::new(3 * 1024 * 1024);
    let file = source.path.display().to_string();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = Client::new(endpoint, options).unwrap();
        let shell = Shell::open(&client, &ShellOptions::default())
            .await
            .unwrap();
        // The edge: the stdout of a full answer, as the server fills it while the command
        // prints faster than it is read.
        let probe = format!("head -c 1000000 {file}");
        let (stdout, _, _, parts) = tokio::time::timeout(STALL, stream(&shell, &probe))
            .await
            .unwrap_or_else(|_| panic!("{label}: the probe stalled"));
        assert_eq!(stdout, source.bytes[..1_000_000], "{label}: probe");
        // The steady size is the one most answers carry (the larger on a tie): the first
        // answer may carry more, when the command printed before the first Receive went out.
        let count = |size: usize| parts.iter().filter(|&&n| n == size).count();
        let full = *parts.iter().max_by_key(|&&n| (count(n), n)).unwrap();
        let full_answers = count(full);
        assert!(
            full_answers >= 3 && full < 32 * 1024,
            "{label}: no steady answer size among {parts:?}"
        );
        let mut sizes = vec![
            0,
            1,
            full - 1,
            full,
            full + 1,
            2 * full,
            3 * full,
            3 * full + 1,
        ];
        sizes.extend([40 * full + 7, source.bytes.len()]);
        for (i, size) in sizes.into_iter().enumerate() {
            let exit = i % 4;
            let command = format!("head -c {size} {file}; echo err-{size} >&2; exit {exit}");
            let (expected, expected_stderr, expected_exit) = run_here(&command);
            let (stdout, stderr, exit_code, _) =
                tokio::time::timeout(STALL, stream(&shell, &command))
                    .await
                    .unwrap_or_else(|_| panic!("{label}: {size} bytes stalled"));
            assert_eq!(stdout.len(), expected.len(), "{label}: {size} bytes");
            assert!(stdout == expected, "{label}: {size} bytes differ");
            assert_eq!(stderr, expected_stderr, "{label}: {size} bytes");
            assert_eq!(exit_code, expected_exit, "{label}: {size} bytes");
        }
        shell.close().await.unwrap();
    });
}
