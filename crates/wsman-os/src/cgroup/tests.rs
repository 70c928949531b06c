#![allow(clippy::unwrap_used)]
use super::*;

/// The cgroups of `base` for a test that needs them, or `None` (the reason printed, the
/// test skipped) where the host offers none.
pub(crate) fn usable_support(base: &str) -> Option<CgroupSupport> {
    let support = CgroupSupport::detect(base);
    if !support.is_available() {
        eprintln!("skipped: no usable cgroups here ({support})");
        return None;
    }
    Some(support)
}

const MOUNTINFO: &str = "\
30 25 0:26 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
31 25 0:27 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
32 25 0:28 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

#[test]
fn parses_mountinfo_and_membership() {
    let v1: Vec<_> = mounts_of(MOUNTINFO, "cgroup").collect();
    assert_eq!(v1.len(), 2);
    assert_eq!(v1[1], ("/", "/sys/fs/cgroup/memory", "rw,memory"));
    let v2: Vec<_> = mounts_of(MOUNTINFO, "cgroup2").collect();
    assert_eq!(v2, vec![("/", "/sys/fs/cgroup/unified", "rw")]);
    assert_eq!(
        own_dir("/sys/fs/cgroup/memory", "/", "/a/b"),
        PathBuf::from("/sys/fs/cgroup/memory/a/b")
    );
    assert_eq!(
        own_dir("/sys/fs/cgroup", "/lxc", "/lxc/x"),
        PathBuf::from("/sys/fs/cgroup/x")
    );
}

#[test]
fn rejects_names_that_are_paths() {
    for name in ["", ".", "..", "a/b", "a b"] {
        assert!(!is_plain_name(name), "{name:?}");
    }
    assert!(is_plain_name("0D7E5C11-0000-4000-8000-00000000000A"));
    let support = CgroupSupport::unavailable();
    assert!(matches!(
        support.create_shell_group("../x", CgroupLimits::default()),
        Err(CgroupError::InvalidName { .. })
    ));
    assert_eq!(support.process_limit_mechanism(), LimitMechanism::Rlimits);
}

/// The v2 delegation steps, on a fake cgroupfs made of plain files.
#[test]
fn v2_detection_moves_the_daemon_into_a_leaf_and_enables_controllers() {
    let root = std::env::temp_dir().join(format!("wsman-fake-cgroup2-{}", std::process::id()));
    let own = root.join("system.slice/wsmand.service");
    fs::create_dir_all(own.join("wsmand-daemon")).unwrap();
    fs::create_dir_all(own.join("wsmand")).unwrap();
    fs::write(own.join("cgroup.controllers"), "cpu io memory pids\n").unwrap();
    fs::write(own.join("cgroup.subtree_control"), "").unwrap();
    fs::write(own.join("wsmand-daemon/cgroup.procs"), "").unwrap();
    fs::write(own.join("wsmand/cgroup.subtree_control"), "").unwrap();
    let mounts = format!(
        "40 25 0:30 / {} rw,relatime - cgroup2 cgroup2 rw\n",
        root.display()
    );
    let layout = detect_v2(&mounts, "0::/system.slice/wsmand.service\n", "wsmand");
    let read = |path: &str| fs::read_to_string(own.join(path)).unwrap();
    let moved = read("wsmand-daemon/cgroup.procs");
    let enabled = read("cgroup.subtree_control");
    let enabled_below = read("wsmand/cgroup.subtree_control");
    fs::remove_dir_all(&root).unwrap();
    assert_eq!(
        layout,
        Some(Layout::V2 {
            base: own.join("wsmand"),
            memory: true
        })
    );
    assert_eq!(moved, std::process::id().to_string());
    assert_eq!(enabled, "+pids +memory");
    assert_eq!(enabled_below, "+pids +memory");

    // Without the pids controller offered, v2 is not used.
    let layout = detect_v2(&mounts, "0::/elsewhere\n", "wsmand");
    assert_eq!(layout, None);
}

/// Runs for real where the host allows groups (root here and in CI).
#[test]
fn shell_group_limits_and_kills() {
    let Some(support) = usable_support("wsman-os-test") else {
        return;
    };
    let name = format!("unit-{}", std::process::id());
    let group = support
        .create_shell_group(&name, CgroupLimits::new(Some(50), Some(64 << 20)))
        .unwrap()
        .unwrap();
    let files = group.open_procs_files().unwrap();
    assert_eq!(files.len(), group.paths().len());
    drop(files);
    assert!(group.process_ids().is_empty());
    group.kill_all(10).unwrap();
    group.remove().unwrap();
    assert!(group.paths().iter().all(|path| !path.exists()));
}

/// A command's own group inside its shell's: killing it ends a process that left the
/// command's session (`setsid -f`) and leaves the shell's other processes alone; the
/// shell's group counts, kills and removes what is nested in it.
#[test]
fn a_command_group_inside_a_shell_group_ends_what_left_the_session() {
    use crate::process::{PreparedCommand, Program, RunAs, SpawnRequest};
    // A base of its own: tests probing one base at once race on its probe directory.
    let Some(support) = usable_support("wsman-os-test-nested") else {
        return;
    };
    let shell = support
        .create_shell_group(
            &format!("nested-{}", std::process::id()),
            CgroupLimits::default(),
        )
        .unwrap()
        .unwrap();
    let start = |group: &ShellCgroup, line: &str| {
        let program = Program::ShellCommandLine { line: line.into() };
        let path = vec![("PATH".to_owned(), "/usr/bin:/bin".to_owned())];
        let mut request = SpawnRequest::new(program, RunAs::Daemon, path, "/".into());
        request.cgroup = Some(group);
        request.piped = false;
        PreparedCommand::new(request).unwrap().spawn().unwrap()
    };
    let first = shell.create_child("first").unwrap();
    let second = shell.create_child("second").unwrap();
    let mut escaping = start(&first, "setsid -f sleep 600.301; sleep 600.302");
    let mut bystander = start(&second, "exec sleep 600.303");
    let running = |marker: &str| {
        let argv = format!("sleep\0{marker}\0");
        shell.process_ids().into_iter().any(|pid| {
            fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|line| line == argv.as_bytes())
        })
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !["600.301", "600.302", "600.303"]
        .iter()
        .all(|marker| running(marker))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the sleeps never all ran"
        );
        sleep(Duration::from_millis(10));
    }
    assert_eq!(shell.process_ids().len(), 4);
    first.kill_all(200).unwrap();
    let _ = escaping.wait();
    assert!(first.remove_if_empty(), "the command's group is left empty");
    assert!(!running("600.301") && !running("600.302"));
    assert_eq!(shell.process_ids(), vec![bystander.id()]);
    shell.kill_all(200).unwrap();
    let _ = bystander.wait();
    shell.remove().unwrap();
    assert!(shell.paths().iter().all(|path| !path.exists()));
}
