//! The SELinux module of `dist/selinux` that the rpms carry (`docs/selinux.md`):
//!
//! - it compiles against the reference policy's headers and, linked with its base and user
//!   modules into a kernel policy, `sesearch` finds the rules the doc states: the daemon binds
//!   WinRM's ports, starts the session helper in its domain, which may start commands in
//!   unconfined_t and user_t; the daemon never writes a user's home; the collector's outgoing
//!   ports only under their booleans, off by default;
//! - the module the el9 rpm ships installs with `semodule -i` into a copy of the reference
//!   policy's whole store, beside a stand-in of openwsman's file contexts, and labels the
//!   package's paths as the doc says.
//!
//! Skipped with a printed reason where the SELinux tools are missing (`WSMAN_TEST_REQUIRE_RPM=1`,
//! set by `scripts/test.sh` as root, makes that a failure).

#[allow(dead_code)]
#[path = "rpm/common.rs"]
mod common;

use std::path::{Path, PathBuf};

use wsman_test::binaries::workspace_root;

use common::{built, path_str, run, run_ok, tools_present, REFPOLICY};

/// The module compiled from `dist/selinux` and linked with the reference policy's base and
/// user modules into a kernel policy: its path, in `dir`.
fn linked_policy(dir: &Path) -> PathBuf {
    let root = workspace_root();
    for file in ["wsmand.te", "wsmand.fc", "wsmand.if"] {
        std::fs::copy(root.join("dist/selinux").join(file), dir.join(file))
            .expect("copy the module's sources");
    }
    let made = run_ok(
        "make",
        &["-f", "/usr/share/selinux/devel/Makefile", "wsmand.pp"],
        Some(dir),
    );
    assert!(
        !made.stdout.contains("arning") && !made.stderr.contains("arning"),
        "the module compiles with warnings: {}",
        made.describe()
    );
    let mut link = vec!["-o".to_owned(), "linked.pp".to_owned()];
    for module in ["base", "unconfined", "unprivuser", "staff", "kerberos"] {
        let script = format!("bzcat {REFPOLICY}/{module}.pp.bz2 > {module}.pp");
        run_ok("sh", &["-c", &script], Some(dir));
        link.push(format!("{module}.pp"));
    }
    link.push("wsmand.pp".to_owned());
    let link: Vec<&str> = link.iter().map(String::as_str).collect();
    run_ok("semodule_link", &link, Some(dir));
    run_ok("semodule_expand", &["linked.pp", "policy.bin"], Some(dir));
    dir.join("policy.bin")
}

#[test]
fn the_selinux_module_links_with_the_reference_policy_and_grants_what_the_docs_say() {
    if !tools_present() {
        return;
    }
    let dir = wsman_test::scratch_dir("wsman-selinux-", "the policy");
    let policy = linked_policy(dir.path());
    let policy = path_str(&policy);
    ports_and_the_session_transition(policy);
    no_home_writes_and_outgoing_ports_only_by_boolean(policy);
}

/// `sesearch ARGS policy`'s output, printed for the log.
fn sesearch(policy: &str, args: &[&str]) -> String {
    let mut all = args.to_vec();
    all.push(policy);
    let found = run_ok("sesearch", &all, None).stdout;
    eprintln!("sesearch {}:\n{found}", args.join(" "));
    found
}

fn has(found: &str, rule: &str) {
    assert!(
        found.lines().any(|l| l.trim().starts_with(rule)),
        "no `{rule}` in:\n{found}"
    );
}

/// The daemon binds WinRM's ports, the console its own; the daemon starts the helper in its
/// domain, which may start the user's shell in unconfined_t or user_t.
fn ports_and_the_session_transition(policy: &str) {
    let sesearch = |args: &[&str]| sesearch(policy, args);

    let binds = sesearch(&[
        "-A",
        "-s",
        "wsmand_t",
        "-c",
        "tcp_socket",
        "-p",
        "name_bind",
    ]);
    has(&binds, "allow wsmand_t vnc_port_t:tcp_socket { name_bind");
    has(
        &binds,
        "allow wsmand_t wsmand_port_t:tcp_socket { name_bind",
    );
    let console = sesearch(&[
        "-A",
        "-s",
        "wsmand_mgmt_t",
        "-c",
        "tcp_socket",
        "-p",
        "name_bind",
    ]);
    has(
        &console,
        "allow wsmand_mgmt_t wsmand_mgmt_port_t:tcp_socket name_bind;",
    );

    let helper = sesearch(&["-T", "-s", "wsmand_t", "-t", "wsmand_session_exec_t"]);
    has(
        &helper,
        "type_transition wsmand_t wsmand_session_exec_t:process wsmand_session_t;",
    );
    for user in ["unconfined_t", "user_t"] {
        let to_user = sesearch(&[
            "-A",
            "-s",
            "wsmand_session_t",
            "-t",
            user,
            "-c",
            "process",
            "-p",
            "transition",
        ]);
        has(
            &to_user,
            "allow wsmand_session_t userdomain:process transition;",
        );
        let entry = sesearch(&[
            "-A",
            "-s",
            user,
            "-t",
            "shell_exec_t",
            "-c",
            "file",
            "-p",
            "entrypoint",
        ]);
        has(&entry, &format!("allow {user} shell_exec_t:file {{"));
    }
    let setexec = sesearch(&[
        "-A",
        "-s",
        "wsmand_session_t",
        "-c",
        "process",
        "-p",
        "setexec",
    ]);
    has(
        &setexec,
        "allow wsmand_session_t wsmand_session_t:process {",
    );
}

/// No write of a user's home by the daemon; the collector's outgoing ports only under their
/// booleans, each off by default.
fn no_home_writes_and_outgoing_ports_only_by_boolean(policy: &str) {
    let sesearch = |args: &[&str]| sesearch(policy, args);
    for home in ["user_home_t", "user_home_dir_t"] {
        let writes = sesearch(&[
            "-A", "-s", "wsmand_t", "-t", home, "-c", "file,dir", "-p", "write",
        ]);
        assert!(
            writes.trim().is_empty(),
            "wsmand_t may write {home}:\n{writes}"
        );
    }

    for (boolean, port) in [
        ("wsmand_connect_syslog", "syslog_tls_port_t"),
        ("wsmand_connect_kafka", "unreserved_port_type"),
        ("wsmand_connect_hec", "http_port_t"),
        ("wsmand_connect_postgresql", "postgresql_port_t"),
    ] {
        let declared = run_ok("seinfo", &["-b", boolean, "-x", policy], None).stdout;
        assert!(
            declared.contains(&format!("bool {boolean} false;")),
            "{boolean}: {declared}"
        );
        let connects = sesearch(&[
            "-A",
            "-s",
            "wsmand_t",
            "-c",
            "tcp_socket",
            "-p",
            "name_connect",
            "-b",
            boolean,
        ]);
        assert!(
            connects
                .lines()
                .any(|l| l.contains(port) && l.contains(&format!("[ {boolean} ]:True"))),
            "{boolean} does not let wsmand_t connect to {port}:\n{connects}"
        );
    }
    // Never without one of them (the Kafka and HEC booleans' unreserved ports hold 5432 too).
    let always = sesearch(&[
        "-A",
        "-s",
        "wsmand_t",
        "-t",
        "postgresql_port_t",
        "-c",
        "tcp_socket",
        "-p",
        "name_connect",
    ]);
    assert!(
        always.lines().all(|l| l.contains("[ wsmand_connect_")),
        "wsmand_t connects to PostgreSQL without a boolean:\n{always}"
    );
}

/// A stand-in of Fedora's openwsman module for what matters here: its file contexts as the
/// issue quotes them (regular files matching /run/wsmand.* and /var/log/wsmand.*), with types
/// of its own.
const OPENWSMAN_STANDIN: [(&str, &str); 2] = [
    (
        "owstandin.te",
        "policy_module(owstandin, 1.0.0)\ntype owstandin_run_t;\nfiles_runtime_file(owstandin_run_t)\n\
         type owstandin_log_t;\nlogging_log_file(owstandin_log_t)\n",
    ),
    (
        "owstandin.fc",
        "/run/wsmand.*\t--\tgen_context(system_u:object_r:owstandin_run_t,s0)\n\
         /var/log/wsmand.*\t--\tgen_context(system_u:object_r:owstandin_log_t,s0)\n",
    ),
];

/// The module the el9 rpm ships, installed as its `%post` does (`semodule -i`) into a copy of
/// the reference policy's store (every module of Debian's selinux-policy-default), beside the
/// openwsman stand-in: libsemanage links, sorts the file contexts and validates them with
/// setfiles, as on a host. The labels of the package's paths are then what docs/selinux.md says,
/// ours winning inside /run/wsmand and /var/log/wsmand; and in the whole policy too wsmand_t
/// writes no user's home.
#[test]
fn the_shipped_module_installs_into_the_reference_policys_store_and_labels_our_paths() {
    if !tools_present() {
        return;
    }
    let dir = wsman_test::scratch_dir("wsman-store-", "the policy store");
    let root = dir.path().join("root");
    for (from, to) in [
        ("/var/lib/selinux/default", "var/lib/selinux"),
        ("/etc/selinux/default", "etc/selinux"),
    ] {
        std::fs::create_dir_all(root.join(to)).expect("the store's directories");
        run_ok("cp", &["-a", from, path_str(&root.join(to))], None);
    }
    let (_, _, selinux_rpm) = &built(&["el9"]).rpms[0];
    let shipped = "./usr/share/selinux/packages/wsmand/wsmand.pp.bz2";
    let unpack =
        format!("rpm2cpio \"$1\" | cpio --quiet -i --to-stdout {shipped} | bunzip2 > wsmand.pp");
    run_ok(
        "sh",
        &["-c", &unpack, "sh", path_str(selinux_rpm)],
        Some(dir.path()),
    );
    for (file, text) in OPENWSMAN_STANDIN {
        std::fs::write(dir.path().join(file), text).expect("the stand-in's sources");
    }
    let makefile = "/usr/share/selinux/devel/Makefile";
    run_ok("make", &["-f", makefile, "owstandin.pp"], Some(dir.path()));
    // What %post compiles where the host's policy refuses the shipped module: the shipped
    // sources and interface file compile against the policy headers as they are.
    let sources = dir.path().join("sources");
    std::fs::create_dir(&sources).expect("a directory for the sources");
    let unpack = "rpm2cpio \"$1\" | cpio --quiet -i --to-stdout \"$2\" > \"$3\"";
    for (shipped, name) in [
        ("./usr/share/selinux/devel/wsmand/wsmand.te", "wsmand.te"),
        ("./usr/share/selinux/devel/wsmand/wsmand.fc", "wsmand.fc"),
        (
            "./usr/share/selinux/devel/include/distributed/wsmand.if",
            "wsmand.if",
        ),
    ] {
        let to = sources.join(name);
        let args = [
            "-c",
            unpack,
            "sh",
            path_str(selinux_rpm),
            shipped,
            path_str(&to),
        ];
        run_ok("sh", &args, None);
    }
    run_ok("make", &["-f", makefile, "wsmand.pp"], Some(&sources));
    let installed = run(
        "semodule",
        &[
            "-p",
            path_str(&root),
            "-s",
            "default",
            "-n",
            "-i",
            "wsmand.pp",
            "owstandin.pp",
        ],
        Some(dir.path()),
    );
    assert!(
        installed.status.success(),
        "semodule -i: {}",
        installed.describe()
    );

    let contexts = root.join("etc/selinux/default/contexts/files/file_contexts");
    the_package_paths_are_labelled(&contexts);
    let policy = root.join("etc/selinux/default/policy/policy.33");
    the_whole_policy_keeps_the_daemon_out_of_homes(path_str(&policy));
}

/// `matchpathcon` on the store's file contexts: each path of the package has its type.
fn the_package_paths_are_labelled(contexts: &Path) {
    for (mode, path, label) in [
        ("file", "/usr/bin/wsmand", "wsmand_exec_t"),
        ("file", "/usr/bin/wsmand-mgmt", "wsmand_mgmt_exec_t"),
        (
            "file",
            "/usr/lib/wsmand/wsmand-session",
            "wsmand_session_exec_t",
        ),
        ("file", "/etc/wsmand/config.toml", "wsmand_conf_t"),
        ("file", "/etc/wsmand/certs/ABCD.key", "wsmand_cert_t"),
        (
            "file",
            "/etc/wsmand/mgmt-certs/console.key",
            "wsmand_cert_t",
        ),
        ("file", "/var/lib/wsmand/krb5.rcache", "wsmand_var_lib_t"),
        ("dir", "/run/wsmand", "wsmand_runtime_t"),
        ("file", "/run/wsmand/.config.lock", "wsmand_runtime_t"),
        ("sock_file", "/run/wsmand/.control.sock", "wsmand_runtime_t"),
        ("file", "/var/log/wsmand/audit.json", "wsmand_log_t"),
        // What the stand-in labels outside our directories stays its own.
        ("file", "/run/wsmand.pid", "owstandin_run_t"),
    ] {
        let found = run_ok(
            "matchpathcon",
            &["-N", "-f", path_str(contexts), "-m", mode, path],
            None,
        )
        .stdout;
        assert!(
            found.trim().ends_with(&format!(":object_r:{label}:s0")),
            "{path} ({mode}) is {found:?}, not {label}"
        );
    }
}

/// In the policy of the whole store: no write of a user's home by wsmand_t, and the session
/// helper's transition to staff_t, a user domain the five modules of the linked test lack.
fn the_whole_policy_keeps_the_daemon_out_of_homes(policy: &str) {
    for home in ["user_home_t", "user_home_dir_t"] {
        let writes = sesearch(
            policy,
            &[
                "-A", "-s", "wsmand_t", "-t", home, "-c", "file,dir", "-p", "write",
            ],
        );
        assert!(
            writes.trim().is_empty(),
            "wsmand_t may write {home}:\n{writes}"
        );
    }
    let to_staff = sesearch(
        policy,
        &[
            "-A",
            "-s",
            "wsmand_session_t",
            "-t",
            "staff_t",
            "-c",
            "process",
            "-p",
            "transition",
        ],
    );
    has(
        &to_staff,
        "allow wsmand_session_t userdomain:process transition;",
    );
}
