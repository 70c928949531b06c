#![allow(clippy::unwrap_used)]
//! Shells: identity, environment, Delete, the reaper, limits and quotas,
//! and the errors clients can provoke.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::*;
use wsman_shell::{
    CommandSpec, CommandState, LimitMechanism, Principal, ReceiveRequest, ShellError, ShellManager,
    ShellOptions, ShellOwner, ShellSignal,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_as_the_user_with_its_groups_and_login_environment() {
    let Some(user) = test_user() else {
        eprintln!("skipped: test user 'wsmanuser' does not exist");
        return;
    };
    let _guard = USER_LOCK.lock().await;
    let manager = manager(limits());
    let owner = owner(&user.name.clone(), user.clone());
    let (out, err, code) = run(
        &manager,
        &owner,
        "id -u; id -g; id -G; echo \"$HOME|$USER|$LOGNAME|$SHELL\"; pwd",
    )
    .await;
    assert_eq!((err.as_str(), code), ("", 0));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], user.uid.to_string());
    assert_eq!(lines[1], user.gid.to_string());
    let mut groups: Vec<u32> = lines[2].split(' ').map(|g| g.parse().unwrap()).collect();
    let mut expected = user.groups.clone();
    groups.sort_unstable();
    expected.sort_unstable();
    assert_eq!(groups, expected);
    assert_eq!(
        lines[3],
        format!(
            "{}|{}|{}|{}",
            user.home.display(),
            user.name,
            user.name,
            user.shell.display()
        )
    );
    assert_eq!(lines[4], "/tmp");

    // A directory the user may not enter is refused at Create, although
    // the daemon (root) could enter it.
    let private = std::env::temp_dir().join(format!("wsman-private-{}", std::process::id()));
    std::fs::create_dir_all(&private).unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o700)).unwrap();
    let mut options = ShellOptions::default();
    options.working_directory = Some(private.clone());
    let error = refused_shell(&manager, owner.clone(), options).await;
    std::fs::remove_dir(&private).unwrap();
    assert!(
        matches!(error, ShellError::WorkingDirectory { .. }),
        "{error:?}"
    );
    assert_no_user_processes(&user).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn environment_and_noprofile() {
    let manager = manager(limits());
    let mut options = options();
    options.environment = vec![
        ("GREETING".into(), "héllo".into()),
        ("PATH".into(), "/bin".into()),
    ];
    let session = Session::of_root_with(manager.clone(), options).await;
    let id = session
        .start("echo \"$GREETING|$PATH|${SHELL-unset}\"")
        .await;
    let (out, _, _) = session.collect(&id).await;
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "héllo|/bin|/bin/bash\n".replace("/bin/bash", &root_user().shell.display().to_string())
    );
    session.close().await;

    let mut options = common::options();
    options.no_profile = true;
    let session = Session::of_root_with(manager, options).await;
    let id = session
        .start("echo \"$HOME|${SHELL-unset}\"; env | grep -c .")
        .await;
    let (out, _, _) = session.collect(&id).await;
    let out = String::from_utf8(out).unwrap();
    let mut lines = out.lines();
    assert_eq!(lines.next().unwrap(), "/root|unset");
    let count: usize = lines.next().unwrap().parse().unwrap();
    assert!(count <= 6, "HOME USER LOGNAME PATH LANG (+PWD): {out}");
    session.close().await;
}

/// A background child and a grandchild in a subshell (reparented to init);
/// with `escape`, also one that leaves the session with setsid(1), which
/// only a cgroup can catch.
async fn delete_kills_the_whole_tree(manager: ShellManager, escape: bool) {
    let session = Session::of_test_user("delete_kills_the_whole_tree", manager).await;
    let escapee = if escape { "(setsid sleep 303 &);" } else { "" };
    let script = format!("sleep 301 & (sleep 302 &); {escapee} echo up; sleep 304");
    let id = session.start(&script).await;
    let pid = session.first_command_pid();
    let request = ReceiveRequest::new(vec!["stdout".into()], Duration::from_secs(30));
    session.receive(&id, &request).await.unwrap();
    wait_until("the sleeps run", || {
        processes_in_sessions(&[pid]).len() >= 4
    })
    .await;
    let members = processes_in_sessions(&[pid]);
    session.delete().await;
    wait_until("the tree is gone", || {
        members
            .iter()
            .all(|member| wsman_os::process::process_stat(*member).is_none_or(|s| s.state == 'Z'))
    })
    .await;
    let error = session
        .manager
        .shell_info(&key(session.user_name()), &session.shell_id)
        .unwrap_err();
    assert!(matches!(error, ShellError::UnknownShell { .. }));
    assert_no_user_processes(&session.user).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_kills_the_whole_tree_with_cgroups() {
    if let Some(manager) = manager_with_cgroups(limits()) {
        delete_kills_the_whole_tree(manager, true).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_kills_the_whole_tree_without_cgroups() {
    delete_kills_the_whole_tree(manager_without_cgroups(limits()), false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_processes_per_shell_stops_a_fork_bomb() {
    let mut limits = limits();
    limits.max_processes_per_shell = 12;
    let manager = manager(limits);
    if manager.limit_report().processes == LimitMechanism::Rlimits {
        eprintln!("skipped: no cgroup limits processes here (rlimits do not bind root)");
        return;
    }
    let session = Session::of_test_user("fork_bomb", manager).await;
    // Deterministic part: 30 background sleeps, at most 12 tasks allowed.
    let id = session
        .start("i=0; while [ $i -lt 30 ]; do sleep 300 & i=$((i+1)); done; echo spawned")
        .await;
    let request = ReceiveRequest::new(
        vec!["stdout".into(), "stderr".into()],
        Duration::from_secs(30),
    );
    let mut stderr = Vec::new();
    let mut stdout = Vec::new();
    while !stdout.ends_with(b"spawned\n") {
        if let wsman_shell::ReceiveOutcome::Output(output) =
            session.receive(&id, &request).await.unwrap()
        {
            for chunk in output.chunks {
                if chunk.stream == "stderr" {
                    stderr.extend(chunk.decoded());
                } else {
                    stdout.extend(chunk.decoded());
                }
            }
            if matches!(output.state, CommandState::Done { .. }) {
                break;
            }
        }
    }
    let count = session.info().process_count;
    assert!(count <= 12, "{count} processes in the shell");
    assert!(
        !stderr.is_empty(),
        "fork failures must be reported on stderr"
    );
    let refused = session.info().process_limit_hits;
    assert!(refused > 0, "the cgroup must have refused forks");
    session.signal(&id, ShellSignal::Terminate).await;
    wait_until("the sleeps are gone", || session.info().process_count == 0).await;
    // The classic bomb: it grows to the limit, never past it, and Delete
    // ends it.
    session.start("b() { b | b & }; b").await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let info = session.info();
        assert!(info.process_count <= 12, "{} processes", info.process_count);
        if info.process_limit_hits > refused {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the limit never refused a fork"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    session.close().await;
}

/// 200 MB held in one shell variable.
const MEMORY_HOG: &str = "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo ${#x}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_memory_per_shell_stops_a_memory_hog() {
    let mut limits = limits();
    limits.max_memory_per_shell_mb = 32;
    let manager = manager(limits);
    eprintln!("memory limit by {}", manager.limit_report().memory);
    let user = TestUser::lock("memory_hog").await;
    let (out, _, code) = user.run(&manager, MEMORY_HOG).await;
    eprintln!("memory hog ended with exit code {code}");
    assert_ne!(code, 0, "the hog must fail (stdout: {out})");
    assert!(!out.contains("200000000"));
    if manager.limit_report().memory != LimitMechanism::Rlimits {
        assert_eq!(code, 137, "the cgroup's OOM killer ends it with SIGKILL");
    }
    user.assert_nothing_left().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_memory_per_shell_falls_back_to_rlimit_as() {
    let mut limits = limits();
    limits.max_memory_per_shell_mb = 32;
    let manager = manager_without_cgroups(limits);
    let user = TestUser::lock("memory_hog_rlimit").await;
    let (out, err, code) = user.run(&manager, MEMORY_HOG).await;
    assert_ne!(code, 0, "the hog must fail (stdout: {out}, stderr: {err})");
    assert!(!out.contains("200000000"));
    user.assert_nothing_left().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_shells_are_reaped_with_their_processes() {
    let mut limits = limits();
    limits.idle_timeout = Duration::from_millis(300);
    limits.reap_interval = Duration::from_millis(50);
    let mut options = options();
    options.idle_timeout = Some(Duration::from_secs(3600));
    let session = Session::of_test_user_with("idle_reaping", manager(limits), options).await;
    assert_eq!(
        session.info().idle_timeout,
        Duration::from_millis(300),
        "capped by config"
    );
    session.start("sleep 300").await;
    let pid = session.first_command_pid();
    wait_until("the shell is reaped", || {
        session
            .manager
            .list_shells(&key(session.user_name()))
            .is_empty()
    })
    .await;
    wait_until("its process is gone", || {
        processes_in_sessions(&[pid]).is_empty()
    })
    .await;
    let error = session.run(line("true")).await.unwrap_err();
    assert!(
        matches!(error, ShellError::UnknownShell { .. }),
        "{error:?}"
    );
    assert_no_user_processes(&session.user).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_shell_run_time_ends_busy_shells_too() {
    let mut limits = limits();
    limits.max_shell_run_time = Some(Duration::from_millis(500));
    limits.reap_interval = Duration::from_millis(50);
    let session = Session::of_test_user("max_shell_run_time", manager(limits)).await;
    let id = session
        .start("while :; do echo tick; sleep 0.05; done")
        .await;
    // Keep it busy: it is not idle, but it is too old.
    let request = ReceiveRequest::new(vec!["stdout".into()], Duration::from_secs(1));
    let mut ended = None;
    for _ in 0..1000 {
        if let Err(error) = session.receive(&id, &request).await {
            ended = Some(error);
            break;
        }
    }
    assert!(
        matches!(ended, Some(ShellError::UnknownShell { .. })),
        "{ended:?}"
    );
    assert_no_user_processes(&session.user).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_shells_per_user_counts_per_linux_user() {
    // A service account run as a Linux user and that user itself share one quota: the limit
    // is about the Linux user's resources, not about how it authenticated.
    let mut limits = limits();
    limits.max_shells_per_user = 2;
    let manager = manager(limits);
    let service_account = owner("svc", root_user());
    let linux_user = owner("root", root_user());
    let _first = shell(&manager, &service_account).await;
    let _second = shell(&manager, &linux_user).await;
    for who in [&service_account, &linux_user] {
        let error = refused_shell(&manager, who.clone(), options()).await;
        assert!(
            matches!(error, ShellError::TooManyShells { limit: 2, .. }),
            "{}: {error:?}",
            who.user_name
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_are_typed_errors() {
    let mut limits = limits();
    limits.max_shells_per_user = 2;
    limits.max_concurrent_users = 1;
    limits.max_concurrent_operations_per_user = 2;
    let manager = manager(limits.clone());
    let alice = owner("alice", root_user());
    // Another Linux user (shells count per Linux user); never runs anything here.
    let mut bob_linux = root_user();
    bob_linux.name = "bob-linux".into();
    bob_linux.uid = 65534;
    let bob = owner("bob", bob_linux);
    let first = shell(&manager, &alice).await;
    let _second = shell(&manager, &alice).await;
    let error = refused_shell(&manager, alice.clone(), options()).await;
    assert!(
        matches!(error, ShellError::TooManyShells { limit: 2, .. }),
        "{error:?}"
    );
    let error = refused_shell(&manager, bob.clone(), options()).await;
    assert!(
        matches!(error, ShellError::TooManyUsers { limit: 1 }),
        "{error:?}"
    );
    // Bob cannot see or use Alice's shells.
    assert!(manager.list_shells(&key("bob")).is_empty());
    assert_eq!(manager.list_shells(&key("alice")).len(), 2);
    let error = refused_command(&manager, "bob", &first.shell_id, line("true")).await;
    assert!(
        matches!(error, ShellError::UnknownShell { .. }),
        "{error:?}"
    );

    // Two running commands use both operation slots.
    let a = start(&manager, "alice", &first.shell_id, "sleep 300").await;
    start(&manager, "alice", &first.shell_id, "sleep 300").await;
    let error = refused_command(&manager, "alice", &first.shell_id, line("true")).await;
    assert!(
        matches!(error, ShellError::TooManyOperations { limit: 2, .. }),
        "{error:?}"
    );
    signal(
        &manager,
        "alice",
        &first.shell_id,
        &a,
        ShellSignal::Terminate,
    )
    .await;
    wait_until("the slot is free", || {
        manager
            .shell_info(&key("alice"), &first.shell_id)
            .unwrap()
            .commands
            .len()
            == 1
    })
    .await;
    let mut ran = None;
    for _ in 0..200 {
        match manager
            .run_command(&key("alice"), &first.shell_id, line("true"))
            .await
        {
            Ok(id) => {
                ran = Some(id);
                break;
            }
            Err(ShellError::TooManyOperations { .. }) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(other) => panic!("{other:?}"),
        }
    }
    assert!(
        ran.is_some(),
        "the slot of the terminated command was not released"
    );

    manager
        .delete_shell(&key("alice"), &first.shell_id)
        .await
        .unwrap();
    for info in manager.list_all_shells() {
        manager
            .delete_shell(&key(&info.owner), &info.shell_id)
            .await
            .unwrap();
    }
    assert!(manager.list_all_shells().is_empty());
    let _bob_now = shell(&manager, &bob).await;

    limits.allow_remote_shell_access = false;
    manager.set_limits(limits);
    let error = manager.create_shell(alice, options()).await.unwrap_err();
    assert!(
        matches!(error, ShellError::RemoteShellAccessDisabled),
        "{error:?}"
    );
    manager.shutdown().await;
}

/// The manager's refusal to create a shell of `owner` with `options`.
async fn refused_shell(
    manager: &ShellManager,
    owner: ShellOwner,
    options: ShellOptions,
) -> ShellError {
    manager.create_shell(owner, options).await.unwrap_err()
}

/// The manager's refusal to run `spec` in the shell.
async fn refused_command(
    manager: &ShellManager,
    user: &str,
    shell_id: &str,
    spec: CommandSpec,
) -> ShellError {
    manager
        .run_command(&key(user), shell_id, spec)
        .await
        .unwrap_err()
}

/// The manager's refusal of a Send of `data` (not the end) to `stream` of the command.
async fn refused_send(
    manager: &ShellManager,
    user: &str,
    shell_id: &str,
    command_id: &str,
    stream: &str,
    data: &[u8],
) -> ShellError {
    manager
        .send(
            &key(user),
            shell_id,
            command_id,
            stream,
            data,
            false,
            SEND_TIMEOUT,
        )
        .await
        .unwrap_err()
}

/// The manager's refusal of `request` on the command.
async fn refused_receive(
    manager: &ShellManager,
    user: &str,
    shell_id: &str,
    command_id: &str,
    request: &ReceiveRequest,
) -> ShellError {
    manager
        .receive(&key(user), shell_id, command_id, request)
        .await
        .unwrap_err()
}

/// A shell created under the ShellId the client chose (upper-cased), and the shells refused
/// for that id in use, an id not a GUID, a bad environment name and a missing directory; the
/// created shell's id, lower-cased, for the rest of [`ids_and_bad_requests`].
async fn shell_ids_and_options_checked(manager: &ShellManager) -> String {
    let owner = owner("root", root_user());
    let mut options = options();
    options.shell_id = Some("0d7e5c11-0000-4000-8000-00000000000a".into());
    let shell = manager
        .create_shell(owner.clone(), options.clone())
        .await
        .unwrap();
    assert_eq!(shell.shell_id, "0D7E5C11-0000-4000-8000-00000000000A");
    let error = refused_shell(manager, owner.clone(), options.clone()).await;
    assert!(
        matches!(error, ShellError::ShellIdInUse { .. }),
        "{error:?}"
    );
    options.shell_id = Some("not-a-guid".into());
    let error = refused_shell(manager, owner.clone(), options).await;
    assert!(
        matches!(error, ShellError::InvalidShellId { .. }),
        "{error:?}"
    );
    let mut bad_env = common::options();
    bad_env.environment = vec![("A=B".into(), "x".into())];
    let error = refused_shell(manager, owner.clone(), bad_env).await;
    assert!(
        matches!(error, ShellError::InvalidEnvironment { .. }),
        "{error:?}"
    );
    let mut missing_dir = ShellOptions::default();
    missing_dir.working_directory = Some("/nonexistent-wsman".into());
    let error = refused_shell(manager, owner.clone(), missing_dir).await;
    assert!(
        matches!(error, ShellError::WorkingDirectory { .. }),
        "{error:?}"
    );

    shell.shell_id.to_ascii_lowercase()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_and_bad_requests() {
    let manager = manager(limits());
    let shell_id = shell_ids_and_options_checked(&manager).await;
    let mut spec = CommandSpec::new("cat", Vec::new());
    spec.command_id = Some("1D7E5C11-0000-4000-8000-00000000000C".into());
    let id = manager
        .run_command(&key("root"), &shell_id, spec.clone())
        .await
        .unwrap();
    assert_eq!(id, "1D7E5C11-0000-4000-8000-00000000000C");
    let error = refused_command(&manager, "root", &shell_id, spec).await;
    assert!(
        matches!(error, ShellError::CommandIdInUse { .. }),
        "{error:?}"
    );
    let mut bad = CommandSpec::new("true", Vec::new());
    bad.command_id = Some("x".into());
    let error = refused_command(&manager, "root", &shell_id, bad).await;
    assert!(
        matches!(error, ShellError::InvalidCommandId { .. }),
        "{error:?}"
    );
    let error = refused_command(&manager, "root", &shell_id, line("  ")).await;
    assert!(
        matches!(error, ShellError::InvalidCommandLine { .. }),
        "{error:?}"
    );

    let error = refused_send(&manager, "root", &shell_id, &id, "stdout", b"x").await;
    assert!(
        matches!(error, ShellError::UnknownInputStream { .. }),
        "{error:?}"
    );
    let request = ReceiveRequest::new(vec!["pr".into()], Duration::from_secs(1));
    let error = refused_receive(&manager, "root", &shell_id, &id, &request).await;
    assert!(
        matches!(error, ShellError::UnknownOutputStream { .. }),
        "{error:?}"
    );
    send_input(&manager, "root", &shell_id, &id, b"x", true).await;
    let error = refused_send(&manager, "root", &shell_id, &id, "stdin", b"y").await;
    assert!(
        matches!(error, ShellError::InputAlreadyEnded { .. }),
        "{error:?}"
    );
    let (out, _, code) = collect(&manager, "root", &shell_id, &id).await;
    assert_eq!((out.as_slice(), code), (&b"x"[..], 0));
    let request = ReceiveRequest::new(Vec::new(), Duration::from_secs(1));
    let error = refused_receive(&manager, "root", &shell_id, &id, &request).await;
    assert!(
        matches!(error, ShellError::CommandAlreadyDone { .. }),
        "{error:?}"
    );

    let unknown = "2D7E5C11-0000-4000-8000-00000000000C";
    let error = refused_receive(&manager, "root", &shell_id, unknown, &request).await;
    assert!(
        matches!(error, ShellError::UnknownCommand { .. }),
        "{error:?}"
    );
    let error = manager
        .signal(&key("root"), unknown, unknown, ShellSignal::CtrlC)
        .await
        .unwrap_err();
    assert!(
        matches!(error, ShellError::UnknownShell { .. }),
        "{error:?}"
    );
    manager.delete_shell(&key("root"), &shell_id).await.unwrap();
    let error = manager
        .delete_shell(&key("root"), &shell_id)
        .await
        .unwrap_err();
    assert!(
        matches!(error, ShellError::UnknownShell { .. }),
        "{error:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_names_the_mechanism() {
    let manager = manager(limits());
    let report = manager.limit_report();
    eprintln!("limits here: {report:?}");
    if report.cgroups {
        assert_ne!(report.processes, LimitMechanism::Rlimits);
    }
    let fallback = manager_without_cgroups(limits()).limit_report();
    assert_eq!(fallback.processes, LimitMechanism::Rlimits);
    assert_eq!(fallback.memory, LimitMechanism::Rlimits);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_manager_kills_every_process() {
    let _guard = USER_LOCK.lock().await;
    let (owner, user) = user_or_root("dropping_the_manager");
    let manager = manager(limits());
    let shell = shell(&manager, &owner).await;
    start(
        &manager,
        &owner.user_name,
        &shell.shell_id,
        "sleep 300 & sleep 301",
    )
    .await;
    let pid = first_command_pid(&manager, &owner.user_name, &shell.shell_id);
    wait_until("both sleeps run", || {
        processes_in_sessions(&[pid]).len() >= 3
    })
    .await;
    drop(manager);
    wait_until("the processes are gone", || {
        processes_in_sessions(&[pid]).is_empty()
    })
    .await;
    assert_no_user_processes(&user).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_get_a_login_umask() {
    let manager = manager(limits());
    let owner = owner("root", root_user());
    let (out, _, _) = run(&manager, &owner, "umask").await;
    assert_eq!(out.trim(), "0022");
}

/// A shell belongs to its principal, not to its name: the service account `alice` (run as
/// root), the Kerberos principal `alice@EXAMPLE.TEST` and the Linux user `alice` are three
/// callers; neither of the others lists, uses, disconnects, reconnects, connects to or deletes
/// the account's shell.
#[tokio::test]
async fn a_shell_belongs_to_its_principal_not_to_its_name() {
    let manager = manager(limits());
    let account = ShellOwner::new(&Principal::service_account("alice"), root_user(), None);
    let others = [
        Principal::kerberos("alice@EXAMPLE.TEST").owner_key(),
        key("alice"),
    ];
    let info = manager
        .create_shell(account.clone(), options())
        .await
        .unwrap();
    let id = manager
        .run_command(&account.key, &info.shell_id, line("cat"))
        .await
        .unwrap();
    let receive = ReceiveRequest::new(vec!["stdout".into()], Duration::from_secs(1));
    for other in &others {
        assert!(manager.list_shells(other).is_empty(), "{other}");
        let unknown = manager.shell_info(other, &info.shell_id);
        assert!(unknown_shell(&unknown), "{other}");
        let run = manager.run_command(other, &info.shell_id, line("id")).await;
        assert!(unknown_shell(&run), "{other}");
        let send = manager
            .send(
                other,
                &info.shell_id,
                &id,
                "stdin",
                b"id\n",
                false,
                SEND_TIMEOUT,
            )
            .await;
        assert!(unknown_shell(&send), "{other}");
        let received = manager.receive(other, &info.shell_id, &id, &receive).await;
        assert!(unknown_shell(&received), "{other}");
        let terminate = manager
            .signal(other, &info.shell_id, &id, ShellSignal::Terminate)
            .await;
        assert!(unknown_shell(&terminate), "{other}");
        let left = manager.disconnect(other, &info.shell_id, None);
        assert!(not_owner(&left), "{other}");
        let deleted = manager.delete_shell(other, &info.shell_id).await;
        assert!(unknown_shell(&deleted), "{other}");
    }
    manager
        .disconnect(&account.key, &info.shell_id, None)
        .unwrap();
    for other in &others {
        let connect = manager.connect(other, &info.shell_id, None);
        assert!(not_owner(&connect), "{other}");
        let reconnect = manager.reconnect(other, &info.shell_id, None);
        assert!(not_owner(&reconnect), "{other}");
    }
    manager.connect(&account.key, &info.shell_id, None).unwrap();
    assert_eq!(manager.list_shells(&account.key).len(), 1);
    manager
        .delete_shell(&account.key, &info.shell_id)
        .await
        .unwrap();
}

/// Whether `result` is [`ShellError::UnknownShell`]: another user is not told the shell exists.
fn unknown_shell<T>(result: &Result<T, ShellError>) -> bool {
    matches!(result, Err(ShellError::UnknownShell { .. }))
}

/// Whether `result` is [`ShellError::NotShellOwner`].
fn not_owner<T>(result: &Result<T, ShellError>) -> bool {
    matches!(result, Err(ShellError::NotShellOwner { .. }))
}
