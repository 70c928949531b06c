//! Shared helpers for the engine tests: a manager per test, an owner (the
//! test user `wsmanuser` when it exists, else root), one open shell with the
//! calls a test makes on it ([`Session`]), collecting a command's output, and
//! checking that no process is left over.

#![allow(dead_code, unreachable_pub)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use wsman_os::process::all_processes;
use wsman_os::{lookup_user, LinuxUser};
use wsman_shell::{
    CgroupSupport, CommandSpec, CommandState, OwnerKey, Principal, ReceiveOutcome, ReceiveRequest,
    SendOutcome, ShellError, ShellInfo, ShellLimits, ShellManager, ShellOptions, ShellOwner,
    ShellSignal,
};

/// Tests that run as the test user take this lock, so "no process of the
/// test user is left" is not disturbed by a neighbour test.
pub static USER_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How long a test's Send may wait for room in the stdin queue.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(60);

/// The cgroup directory the tests' shells live under.
pub const CGROUP_BASE: &str = "wsman-shell-test";

/// The unprivileged test account, if this host has it (CI creates it).
pub fn test_user() -> Option<LinuxUser> {
    let name = std::env::var("WSMAN_TEST_USER").unwrap_or_else(|_| "wsmanuser".to_owned());
    lookup_user(&name).ok().flatten()
}

pub fn root_user() -> LinuxUser {
    lookup_user("root").unwrap().unwrap()
}

pub fn limits() -> ShellLimits {
    let mut limits = ShellLimits::default();
    limits.exit_drain_grace = Duration::from_millis(500);
    limits
}

pub fn manager(limits: ShellLimits) -> ShellManager {
    ShellManager::new(limits, CGROUP_BASE).unwrap()
}

/// A manager that limits shells with cgroups; `None` (the test says it skips) where this host
/// has none usable.
pub fn manager_with_cgroups(limits: ShellLimits) -> Option<ShellManager> {
    let manager = manager(limits);
    if manager.limit_report().cgroups {
        return Some(manager);
    }
    eprintln!("skipped: no usable cgroups here");
    None
}

pub fn manager_without_cgroups(limits: ShellLimits) -> ShellManager {
    ShellManager::with_cgroups(limits, CgroupSupport::unavailable()).unwrap()
}

pub fn owner(name: &str, run_as: LinuxUser) -> ShellOwner {
    ShellOwner::new(
        &Principal::linux_user(name),
        run_as,
        Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
    )
}

/// The owner key of the Linux user `name` (what [`owner`] makes owns its shells).
pub fn key(name: &str) -> OwnerKey {
    Principal::linux_user(name).owner_key()
}

/// Options with the working directory set to `/tmp` (the test user's home
/// may not exist).
pub fn options() -> ShellOptions {
    let mut options = ShellOptions::default();
    options.working_directory = Some("/tmp".into());
    options
}

pub async fn shell(manager: &ShellManager, owner: &ShellOwner) -> ShellInfo {
    manager
        .create_shell(owner.clone(), options())
        .await
        .unwrap()
}

pub fn line(command: &str) -> CommandSpec {
    CommandSpec::new(command, Vec::new())
}

/// Everything a command printed and its exit code; receives until Done
/// (bounded: two minutes).
pub async fn collect(
    manager: &ShellManager,
    user: &str,
    shell_id: &str,
    command_id: &str,
) -> (Vec<u8>, Vec<u8>, i32) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let mut ends = 0;
    let request = ReceiveRequest::new(
        vec!["stdout".into(), "stderr".into()],
        Duration::from_secs(10),
    );
    loop {
        assert!(Instant::now() < deadline, "command never finished");
        match manager
            .receive(&key(user), shell_id, command_id, &request)
            .await
            .unwrap()
        {
            ReceiveOutcome::TimedOut => continue,
            ReceiveOutcome::Output(output) => {
                let done = matches!(output.state, CommandState::Done { .. });
                for chunk in output.chunks {
                    // Windows' shape: End only with Done, on an element without data.
                    assert!(!chunk.end || (done && chunk.len == 0), "End out of place");
                    match chunk.stream.as_str() {
                        "stdout" => stdout.extend(chunk.decoded()),
                        "stderr" => stderr.extend(chunk.decoded()),
                        other => panic!("unrequested stream {other}"),
                    }
                    if chunk.end {
                        ends += 1;
                    }
                }
                if let CommandState::Done { exit_code } = output.state {
                    assert_eq!(ends, 2, "End must be sent once per stream by Done");
                    return (stdout, stderr, exit_code);
                }
            }
            other => panic!("unexpected {other:?}"),
        }
    }
}

/// Runs one command line to completion in a fresh shell.
pub async fn run(
    manager: &ShellManager,
    owner: &ShellOwner,
    command: &str,
) -> (String, String, i32) {
    run_in(manager, owner, options(), command).await
}

/// Runs one command line to completion in a fresh shell created with `options`.
pub async fn run_in(
    manager: &ShellManager,
    owner: &ShellOwner,
    options: ShellOptions,
    command: &str,
) -> (String, String, i32) {
    let shell = manager.create_shell(owner.clone(), options).await.unwrap();
    let id = manager
        .run_command(&owner.key, &shell.shell_id, line(command))
        .await
        .unwrap();
    let (out, err, code) = collect(manager, &owner.user_name, &shell.shell_id, &id).await;
    manager
        .delete_shell(&owner.key, &shell.shell_id)
        .await
        .unwrap();
    (
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
        code,
    )
}

/// Waits (bounded) until `predicate` holds.
pub async fn wait_until(what: &str, mut predicate: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !predicate() {
        assert!(Instant::now() < deadline, "gave up waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Live (non-zombie) processes of `uid`.
pub fn processes_of(uid: u32) -> Vec<u32> {
    all_processes()
        .into_iter()
        .filter(|stat| {
            std::fs::read_to_string(format!("/proc/{}/status", stat.pid))
                .ok()
                .and_then(|status| {
                    status
                        .lines()
                        .find_map(|line| line.strip_prefix("Uid:"))
                        .and_then(|ids| ids.split_whitespace().next()?.parse::<u32>().ok())
                })
                == Some(uid)
        })
        .map(|stat| stat.pid)
        .collect()
}

/// Live processes in any of these sessions.
pub fn processes_in_sessions(sessions: &[u32]) -> Vec<u32> {
    all_processes()
        .into_iter()
        .filter(|stat| sessions.contains(&stat.session) || sessions.contains(&stat.pgrp))
        .map(|stat| stat.pid)
        .collect()
}

/// Asserts that nothing of the test user is left (waits a little for the
/// kernel to finish exits).
pub async fn assert_no_user_processes(user: &LinuxUser) {
    if user.uid == 0 {
        return;
    }
    let uid = user.uid;
    wait_until("no process of the test user", || {
        processes_of(uid).is_empty()
    })
    .await;
}

/// The owner for tests that should run as the test user; prints why it
/// falls back to root.
pub fn user_or_root(test: &str) -> (ShellOwner, LinuxUser) {
    match test_user() {
        Some(user) => (owner(&user.name.clone(), user.clone()), user),
        None => {
            eprintln!("{test}: test user 'wsmanuser' does not exist; running as root");
            let root = root_user();
            (owner("root", root.clone()), root)
        }
    }
}

/// Starts `command` in the shell; its command id.
pub async fn start(manager: &ShellManager, user: &str, shell_id: &str, command: &str) -> String {
    manager
        .run_command(&key(user), shell_id, line(command))
        .await
        .unwrap()
}

/// Sends `signal` to a command; the manager must accept it.
pub async fn signal(
    manager: &ShellManager,
    user: &str,
    shell_id: &str,
    command_id: &str,
    signal: ShellSignal,
) {
    manager
        .signal(&key(user), shell_id, command_id, signal)
        .await
        .unwrap();
}

/// Deletes the shell, then asserts that nothing of the test user is left.
pub async fn delete_and_check(
    manager: &ShellManager,
    user_name: &str,
    shell_id: &str,
    user: &LinuxUser,
) {
    manager
        .delete_shell(&key(user_name), shell_id)
        .await
        .unwrap();
    assert_no_user_processes(user).await;
}

/// Sends `data` to the command's stdin (`end`: and closes it) within [`SEND_TIMEOUT`]; the
/// manager must accept it.
pub async fn send_input(
    manager: &ShellManager,
    user: &str,
    shell_id: &str,
    command_id: &str,
    data: &[u8],
    end: bool,
) -> SendOutcome {
    manager
        .send(
            &key(user),
            shell_id,
            command_id,
            "stdin",
            data,
            end,
            SEND_TIMEOUT,
        )
        .await
        .unwrap()
}

/// The process id of the shell's first command.
pub fn first_command_pid(manager: &ShellManager, user: &str, shell_id: &str) -> u32 {
    manager.shell_info(&key(user), shell_id).unwrap().commands[0]
        .process_id
        .unwrap()
}

/// The test user (root where it does not exist), with [`USER_LOCK`] held while this lives.
pub struct TestUser {
    pub owner: ShellOwner,
    pub user: LinuxUser,
    _lock: tokio::sync::MutexGuard<'static, ()>,
}

impl TestUser {
    /// Takes [`USER_LOCK`]; `test` names the test when it falls back to root.
    pub async fn lock(test: &str) -> Self {
        let lock = USER_LOCK.lock().await;
        let (owner, user) = user_or_root(test);
        Self {
            owner,
            user,
            _lock: lock,
        }
    }

    /// Runs one command line to completion in a fresh shell of this user (see [`run`]).
    pub async fn run(&self, manager: &ShellManager, command: &str) -> (String, String, i32) {
        run(manager, &self.owner, command).await
    }

    /// Asserts that nothing of this user is left (see [`assert_no_user_processes`]).
    pub async fn assert_nothing_left(&self) {
        assert_no_user_processes(&self.user).await;
    }
}

/// One test's shell: its manager, owner and shell id, and (for the test user) the
/// [`USER_LOCK`] held until the session is dropped, so each test states what it does rather
/// than the same five arguments on every call.
pub struct Session {
    pub manager: ShellManager,
    pub owner: ShellOwner,
    pub user: LinuxUser,
    pub shell_id: String,
    _lock: Option<tokio::sync::MutexGuard<'static, ()>>,
}

impl Session {
    /// A shell of the test user (root where it does not exist; `test` says so), holding
    /// [`USER_LOCK`].
    pub async fn of_test_user(test: &str, manager: ShellManager) -> Self {
        Self::of_test_user_with(test, manager, options()).await
    }

    /// A shell of the test user created with `options`.
    pub async fn of_test_user_with(
        test: &str,
        manager: ShellManager,
        options: ShellOptions,
    ) -> Self {
        let lock = USER_LOCK.lock().await;
        let (owner, user) = user_or_root(test);
        Self::open(manager, owner, user, options, Some(lock)).await
    }

    /// A shell of root (whose processes nothing counts, so no lock).
    /// A shell of root's on a manager whose commands' input queues hold `bytes`.
    pub async fn of_root_with_input_queue(bytes: usize) -> Self {
        let mut limits = limits();
        limits.input_buffer_bytes = bytes;
        Self::of_root(manager(limits)).await
    }

    pub async fn of_root(manager: ShellManager) -> Self {
        Self::of_root_with(manager, options()).await
    }

    /// A shell of root created with `options`.
    pub async fn of_root_with(manager: ShellManager, options: ShellOptions) -> Self {
        let root = root_user();
        Self::open(manager, owner("root", root.clone()), root, options, None).await
    }

    /// The shell, or the manager's refusal to create it.
    async fn open(
        manager: ShellManager,
        owner: ShellOwner,
        user: LinuxUser,
        options: ShellOptions,
        lock: Option<tokio::sync::MutexGuard<'static, ()>>,
    ) -> Self {
        let shell = manager.create_shell(owner.clone(), options).await.unwrap();
        Self {
            manager,
            owner,
            user,
            shell_id: shell.shell_id,
            _lock: lock,
        }
    }

    pub fn user_name(&self) -> &str {
        &self.owner.user_name
    }

    /// Starts `command` (through the shell); its command id.
    pub async fn start(&self, command: &str) -> String {
        start(&self.manager, self.user_name(), &self.shell_id, command).await
    }

    /// Runs `spec` as given (the manager's answer, refusals included).
    pub async fn run(&self, spec: CommandSpec) -> Result<String, ShellError> {
        self.manager
            .run_command(&key(self.user_name()), &self.shell_id, spec)
            .await
    }

    /// Sends `data` to the command's stdin (`end`: and closes it); must be accepted.
    pub async fn send(&self, id: &str, data: &[u8], end: bool) -> SendOutcome {
        send_input(
            &self.manager,
            self.user_name(),
            &self.shell_id,
            id,
            data,
            end,
        )
        .await
    }

    /// Sends `data` to the command's stdin (`end`: and closes it), waiting up to `timeout` for
    /// room: the manager's answer, a refusal too.
    pub async fn try_send(
        &self,
        id: &str,
        data: &[u8],
        end: bool,
        timeout: Duration,
    ) -> Result<SendOutcome, ShellError> {
        let owner = key(self.user_name());
        self.manager
            .send(&owner, &self.shell_id, id, "stdin", data, end, timeout)
            .await
    }

    /// Sends `signal` to the command; must be accepted.
    pub async fn signal(&self, id: &str, which: ShellSignal) {
        signal(&self.manager, self.user_name(), &self.shell_id, id, which).await;
    }

    /// One Receive, answered as the manager answers it.
    pub async fn receive(
        &self,
        id: &str,
        request: &ReceiveRequest,
    ) -> Result<ReceiveOutcome, ShellError> {
        self.manager
            .receive(&key(self.user_name()), &self.shell_id, id, request)
            .await
    }

    /// Everything the command prints, and its exit code (see [`collect`]).
    pub async fn collect(&self, id: &str) -> (Vec<u8>, Vec<u8>, i32) {
        collect(&self.manager, self.user_name(), &self.shell_id, id).await
    }

    /// The shell as the manager reports it now.
    pub fn info(&self) -> ShellInfo {
        self.manager
            .shell_info(&key(self.user_name()), &self.shell_id)
            .unwrap()
    }

    /// The process id of the shell's first command.
    pub fn first_command_pid(&self) -> u32 {
        first_command_pid(&self.manager, self.user_name(), &self.shell_id)
    }

    /// Deletes the shell; the manager must accept it.
    pub async fn delete(&self) {
        self.manager
            .delete_shell(&key(self.user_name()), &self.shell_id)
            .await
            .unwrap();
    }

    /// Deletes the shell, then asserts that nothing of the test user is left.
    pub async fn close(self) {
        self.delete().await;
        assert_no_user_processes(&self.user).await;
    }
}
