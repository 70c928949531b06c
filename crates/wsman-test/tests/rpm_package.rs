//! The rpm packages of `scripts/rpm.sh` (from the debug binaries, stripped, as `package.rs`
//! packages the .deb) and the floor of `scripts/abi-floor.sh` that both packages'
//! dependencies promise (their SELinux module: `rpm_selinux.rs`; installed: `rpm_install.rs`):
//!
//! - the floor check refuses a program built here that needs `GLIBC_2.36` (`arc4random`) or
//!   links a library outside its list, passes the same program without them, and passes every
//!   binary we ship; the .deb's Depends names the same floor (libc6 (>= 2.34) at most);
//! - each variant (el9, el10, sles16): Requires are exactly the sonames and symbol versions
//!   the binaries need (read here with readelf), the config files are the two
//!   `%config(noreplace)` ones, the scriptlets are `dist/rpm/`'s without systemd's macros, the
//!   family's PAM file is `/etc/pam.d/wsmand`, the same files as the .deb in the families'
//!   places; rpmlint reports no error and no warning but the waived ones; the firewalld
//!   services read by firewalld's own reader; `RESTART_ON_UPGRADE` read, never run.
//!
//! Skipped with a printed reason where rpmbuild, rpmlint or the other tools are missing
//! (`WSMAN_TEST_REQUIRE_RPM=1`, set by `scripts/test.sh` as root, makes that a failure).

#[allow(dead_code)]
#[path = "rpm/common.rs"]
mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use wsman_test::binaries::{self, workspace_root};
use wsman_test::process::{self, Finished};

use common::{built, path_str, payload_file, query, run, run_ok, tools_present, Built, VARIANTS};

/// What the package ships as programs: five commands and the session helper.
const PROGRAMS: [&str; 6] = [
    "wsmand",
    "wsmand-mgmt",
    "winrm",
    "winrs",
    "wevtutil",
    "wsmand-session",
];

/// What readelf says `file` needs, in rpm's notation: `SONAME()(64bit)` for each DT_NEEDED and
/// `SONAME(VERSION)(64bit)` for each version it needs of it.
fn elf_needs(file: &Path) -> BTreeSet<String> {
    let mut needs = BTreeSet::new();
    let dynamic = run_ok("readelf", &["-d", "--wide", path_str(file)], None).stdout;
    for line in dynamic.lines().filter(|l| l.contains("(NEEDED)")) {
        if let Some((_, soname)) = line.split_once('[') {
            needs.insert(format!("{}()(64bit)", soname.trim_end_matches(']')));
        }
    }
    let versions = run_ok("readelf", &["-V", "--wide", path_str(file)], None).stdout;
    let needs_section = versions
        .split("Version needs section")
        .nth(1)
        .unwrap_or_default();
    let mut library = String::new();
    for line in needs_section.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let after = |key: &str| {
            words
                .iter()
                .position(|w| *w == key)
                .and_then(|i| words.get(i + 1))
                .map(|w| (*w).to_owned())
        };
        if let Some(file) = after("File:") {
            library = file;
        } else if let Some(version) = after("Name:") {
            if !version.ends_with("_PRIVATE") {
                needs.insert(format!("{library}({version})(64bit)"));
            }
        }
    }
    needs
}

#[test]
fn the_floor_check_refuses_glibc_2_36_and_foreign_libraries_and_passes_our_binaries() {
    if !tools_present() {
        return;
    }
    let dir = wsman_test::scratch_dir("wsman-floor-", "the programs");
    let root = workspace_root();
    let floor = root.join("scripts/abi-floor.sh");
    let program = |name: &str, source: &str, libraries: &[&str]| {
        let c = dir.path().join(format!("{name}.c"));
        std::fs::write(&c, source).expect("write the program");
        let exe = dir.path().join(name);
        let mut args = vec!["-O0", "-o", path_str(&exe), path_str(&c)];
        args.extend_from_slice(libraries);
        run_ok("gcc", &args, None);
        exe
    };
    // Debian 12's glibc is 2.36: arc4random is one of its GLIBC_2.36 symbols.
    let newer = program(
        "arc4random",
        "#include <stdio.h>\n#include <stdlib.h>\n\
         int main(void) { printf(\"%u\\n\", arc4random()); return 0; }\n",
        &[],
    );
    let foreign = program(
        "crypt",
        "#include <crypt.h>\n#include <stdio.h>\n\
         int main(void) { puts(crypt(\"a\", \"$5$salt\")); return 0; }\n",
        &["-lcrypt"],
    );
    let plain = program(
        "plain",
        "#include <stdio.h>\nint main(void) { puts(\"ok\"); return 0; }\n",
        &[],
    );
    let check = |file: &Path| run("bash", &[path_str(&floor), path_str(file)], None);

    let refused = check(&newer);
    eprintln!(
        "the floor check on {}:\n{}",
        newer.display(),
        refused.stdout
    );
    assert_eq!(refused.code(), 1, "{}", refused.describe());
    assert_eq!(
        refused.stdout.trim(),
        format!(
            "{}: needs GLIBC_2.36 (the floor is GLIBC_2.34)",
            newer.display()
        )
    );
    let refused = check(&foreign);
    assert_eq!(refused.code(), 1, "{}", refused.describe());
    assert!(
        refused
            .stdout
            .contains(": links libcrypt.so.1, not in the allowed list"),
        "{}",
        refused.describe()
    );
    let passed = check(&plain);
    assert_eq!(passed.code(), 0, "{}", passed.describe());

    let ours: Vec<PathBuf> = PROGRAMS.iter().map(|p| binaries::path(p)).collect();
    let mut args = vec![path_str(&floor)];
    args.extend(ours.iter().map(|p| path_str(p)));
    let passed = run("bash", &args, None);
    assert_eq!(passed.code(), 0, "{}", passed.describe());
}

#[test]
fn the_debs_depends_names_the_same_floor() {
    if !tools_present() {
        return;
    }
    let dir = wsman_test::scratch_dir("wsman-deb-", "the .deb");
    let root = workspace_root();
    let script = root.join("scripts/deb.sh");
    let args = [
        path_str(&script),
        "--no-build",
        "--no-compress",
        "--output",
        path_str(dir.path()),
    ];
    let made = run_ok("bash", &args, Some(&root));
    let deb = root.join(made.stdout.trim());
    let depends = run_ok("dpkg-deb", &["-f", path_str(&deb), "Depends"], None).stdout;
    // At most what Ubuntu 22.04 has: glibc 2.35 there, 2.34 in RHEL 9; OpenSSL 3.0.2.
    for (package, most) in [("libc6", "2.34"), ("libssl3", "3.0.0")] {
        let version = depends
            .split(", ")
            .find_map(|d| d.strip_prefix(&format!("{package} (>= ")))
            .map(|v| v.trim().trim_end_matches(')'))
            .unwrap_or_else(|| panic!("Depends {depends:?} names no version of {package}"));
        let newer = run("dpkg", &["--compare-versions", version, "gt", most], None);
        assert!(
            !newer.status.success(),
            "Depends asks {package} (>= {version}), past the floor {most}: {depends}"
        );
    }
}

#[test]
fn each_rpm_requires_what_the_binaries_link_and_ships_what_the_deb_ships() {
    if !tools_present() {
        return;
    }
    let root = workspace_root();
    let mut wanted = BTreeSet::new();
    for program in PROGRAMS {
        wanted.extend(elf_needs(&binaries::path(program)));
    }
    assert!(
        [
            "libssl.so.3()(64bit)",
            "libpam.so.0()(64bit)",
            "libz.so.1()(64bit)"
        ]
        .iter()
        .all(|s| wanted.contains(*s)),
        "readelf found {wanted:?}"
    );
    for (variant, rpm, selinux) in &all_variants().rpms {
        let requires: BTreeSet<String> = query(rpm, &["--requires"]).into_iter().collect();
        let libraries: BTreeSet<String> = requires
            .iter()
            .filter(|r| r.contains(".so."))
            .cloned()
            .collect();
        assert_eq!(libraries, wanted, "{variant}: the library Requires");
        for other in [
            "/usr/sbin/useradd",
            "/usr/sbin/userdel",
            "(wsmand-selinux = 0.1.0-1.",
        ] {
            assert!(
                requires.iter().any(|r| r.starts_with(other)),
                "{variant}: no Requires {other}: {requires:?}"
            );
        }
        let provides = query(rpm, &["--provides"]);
        let release = format!("wsmand = 0.1.0-1.{variant}");
        assert!(provides.contains(&release), "{variant}: {provides:?}");

        let configs = query(rpm, &["--configfiles"]);
        assert_eq!(configs, ["/etc/pam.d/wsmand", "/etc/sysconfig/wsmand"]);
        let state = query(rpm, &["--qf", "[%{FILENAMES} %{FILEFLAGS:fflags}\n]"]);
        for config in &configs {
            assert!(
                state.contains(&format!("{config} cn")),
                "{variant}: {config} is not %config(noreplace): {state:?}"
            );
        }

        let scripts = query(rpm, &["--scripts"]).join("\n");
        assert!(!scripts.contains("systemd_"), "{variant}: systemd macros");
        for (name, file) in [
            ("postinstall", "post"),
            ("preuninstall", "preun"),
            ("postuninstall", "postun"),
        ] {
            let text = std::fs::read_to_string(root.join("dist/rpm").join(file))
                .expect("a scriptlet of dist/rpm");
            assert!(
                scripts.contains(&format!(
                    "{name} scriptlet (using /bin/sh):\n{}",
                    text.trim()
                )),
                "{variant}: the {name} scriptlet is not dist/rpm/{file}"
            );
        }
        let pam_file = VARIANTS
            .iter()
            .find(|(v, _)| v == variant)
            .map(|(_, f)| root.join(f))
            .expect("the variant's PAM file");
        let pam = std::fs::read_to_string(pam_file).expect("the PAM file");
        assert_eq!(payload_file(rpm, "./etc/pam.d/wsmand"), pam, "{variant}");
        let unit = payload_file(rpm, "./usr/lib/systemd/system/wsmand.service");
        assert!(unit.contains("\nExecStart=/usr/bin/wsmand --config-dir /etc/wsmand\n"));
        let preset = payload_file(rpm, "./usr/lib/systemd/system-preset/80-wsmand.preset");
        assert!(preset.contains("\nenable wsmand.service\ndisable wsmand-mgmt.service\n"));

        the_files_of_the_deb_are_there(variant, rpm);
        let selinux_files = query(selinux, &["-l"]);
        for file in [
            "/usr/share/selinux/packages/wsmand/wsmand.pp.bz2",
            "/usr/share/selinux/devel/include/distributed/wsmand.if",
            "/usr/share/selinux/devel/wsmand/wsmand.te",
            "/usr/share/selinux/devel/wsmand/wsmand.fc",
        ] {
            assert!(
                selinux_files.iter().any(|f| f == file),
                "{variant}: {selinux_files:?}"
            );
        }
        let selinux_scripts = query(selinux, &["--scripts"]).join("\n");
        assert!(
            selinux_scripts.contains("selinuxenabled || exit 0"),
            "{variant}: {selinux_scripts}"
        );
    }
}

/// The programs, units, man pages, completions, firewalld services and docs of the .deb, in
/// the RHEL and SUSE families' places.
fn the_files_of_the_deb_are_there(variant: &str, rpm: &Path) {
    let listed: BTreeSet<String> = query(rpm, &["-l"]).into_iter().collect();
    let mut expected = vec![
        "/usr/lib/wsmand/wsmand-session".to_owned(),
        "/usr/lib/systemd/system/wsmand.service".to_owned(),
        "/usr/lib/systemd/system/wsmand-mgmt.service".to_owned(),
        "/usr/lib/firewalld/services/wsmand.xml".to_owned(),
        "/usr/lib/firewalld/services/wsmand-mgmt.xml".to_owned(),
        "/usr/share/doc/wsmand/README.md".to_owned(),
        "/usr/share/doc/wsmand/management-service.md".to_owned(),
        "/etc/wsmand".to_owned(),
        "/var/lib/wsmand".to_owned(),
    ];
    for (command, section) in [
        ("wsmand", "8"),
        ("wsmand-mgmt", "8"),
        ("winrm", "1"),
        ("winrs", "1"),
        ("wevtutil", "1"),
    ] {
        expected.push(format!("/usr/bin/{command}"));
        expected.push(format!(
            "/usr/share/man/man{section}/{command}.{section}.gz"
        ));
        expected.push(format!("/usr/share/bash-completion/completions/{command}"));
        expected.push(format!("/usr/share/zsh/site-functions/_{command}"));
        expected.push(format!(
            "/usr/share/fish/vendor_completions.d/{command}.fish"
        ));
    }
    let missing: Vec<&String> = expected.iter().filter(|f| !listed.contains(*f)).collect();
    assert!(missing.is_empty(), "{variant}: missing {missing:?}");
    let page = payload_file(rpm, "./usr/share/man/man1/winrm.1.gz");
    assert!(!page.is_empty(), "{variant}: an empty man page");
}

#[test]
fn rpmlint_reports_no_error_and_only_the_waived_warnings() {
    if !tools_present() {
        return;
    }
    let root = workspace_root();
    let mut args = vec![
        "-c".to_owned(),
        "dist/rpm/rpmlint.toml".to_owned(),
        "-r".to_owned(),
        "dist/rpm/wsmand.rpmlintrc".to_owned(),
    ];
    for (_, rpm, selinux) in &all_variants().rpms {
        args.push(path_str(rpm).to_owned());
        args.push(path_str(selinux).to_owned());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let linted = run("rpmlint", &args, Some(&root));
    eprintln!("{}", linted.stdout);
    assert!(
        linted.status.success() && linted.stdout.contains(" 0 errors, 0 warnings"),
        "rpmlint: {}",
        linted.describe()
    );
}

/// `restart_on_upgrade` of the installed `%post` (the rpm's own text, from el9's package), run
/// by `sh` on `settings` in place of `/etc/sysconfig/wsmand`: "yes" or "no".
fn restart_on_upgrade(post: &str, settings: &Path) -> String {
    let start = post
        .find("restart_on_upgrade() {")
        .expect("%post defines restart_on_upgrade");
    let end = start + post[start..].find("\n}\n").expect("its end") + 3;
    let function = post[start..end].replace("/etc/sysconfig/wsmand", "\"$SETTINGS\"");
    let script = format!("{function}if restart_on_upgrade; then echo yes; else echo no; fi\n");
    let mut sh = Command::new("sh");
    sh.args(["-c", &script]).env("SETTINGS", settings);
    let ran = process::run(&mut sh, None, Duration::from_secs(30));
    assert!(ran.status.success(), "{}", ran.describe());
    ran.stdout.trim().to_owned()
}

#[test]
fn restart_on_upgrade_is_read_with_sed_and_nothing_in_the_file_runs() {
    if !tools_present() {
        return;
    }
    let (_, rpm, _) = &all_variants().rpms[0];
    let scripts = query(rpm, &["--scripts"]).join("\n");
    let post = scripts
        .split("postinstall scriptlet (using /bin/sh):\n")
        .nth(1)
        .expect("a %post");
    let dir = wsman_test::scratch_dir("wsman-sysconfig-", "the settings");
    let settings = dir.path().join("wsmand");
    let ran = dir.path().join("ran");
    assert_eq!(restart_on_upgrade(post, &settings), "yes", "no file");
    let cases = [
        ("RESTART_ON_UPGRADE=yes\n", "yes"),
        ("RESTART_ON_UPGRADE=no\n", "no"),
        ("  RESTART_ON_UPGRADE=\"no\"  # the quiet hours\n", "no"),
        ("RESTART_ON_UPGRADE='false'\n", "no"),
        ("RESTART_ON_UPGRADE=0\n", "no"),
        ("RESTART_ON_UPGRADE=no\nRESTART_ON_UPGRADE=yes\n", "yes"),
        ("#RESTART_ON_UPGRADE=no\n", "yes"),
        ("RESTART_ON_UPGRADE=maybe\n", "yes"),
    ];
    for (text, want) in cases {
        std::fs::write(&settings, text).expect("write the settings");
        assert_eq!(restart_on_upgrade(post, &settings), want, "{text:?}");
    }
    // Never sourced: what would run, were it, does not.
    for text in [
        format!("RESTART_ON_UPGRADE=$(touch {})\n", ran.display()),
        format!("RESTART_ON_UPGRADE=no; touch {}\n", ran.display()),
        format!("touch {}\n", ran.display()),
    ] {
        std::fs::write(&settings, &text).expect("write the settings");
        restart_on_upgrade(post, &settings);
        assert!(!ran.exists(), "{text:?} ran");
    }
}

/// The ports firewalld's own reader (Debian's python3-firewall, the code of firewalld 1.3)
/// finds in the service file `name` of `dir`, or its error.
fn firewalld_ports(dir: &Path, name: &str) -> Finished {
    let script = "import sys\n\
        from firewall.core.io.service import service_reader\n\
        s = service_reader(sys.argv[1], sys.argv[2])\n\
        print(' '.join(p + '/' + proto for p, proto in s.ports))\n";
    run(
        "/usr/bin/python3",
        &["-c", script, name, path_str(dir)],
        None,
    )
}

#[test]
fn the_firewalld_services_read_as_firewalld_reads_them() {
    if !tools_present() {
        return;
    }
    let dist = workspace_root().join("dist/firewalld");
    for (name, ports) in [
        ("wsmand.xml", "5985/tcp 5986/tcp"),
        ("wsmand-mgmt.xml", "8172/tcp"),
    ] {
        let read = firewalld_ports(&dist, name);
        assert!(read.status.success(), "{name}: {}", read.describe());
        assert_eq!(read.stdout.trim(), ports, "{name}");
        for (_, rpm, _) in &all_variants().rpms {
            let shipped = payload_file(rpm, &format!("./usr/lib/firewalld/services/{name}"));
            let source = std::fs::read_to_string(dist.join(name)).expect("the service file");
            assert_eq!(shipped, source, "{name} in {}", rpm.display());
        }
    }
    // The reader refuses what firewalld would: a port past 65535.
    let dir = wsman_test::scratch_dir("wsman-firewalld-", "a bad service");
    let bad = std::fs::read_to_string(dist.join("wsmand.xml"))
        .expect("the service file")
        .replace("port=\"5986\"", "port=\"70000\"");
    std::fs::write(dir.path().join("bad.xml"), bad).expect("write the bad service");
    let refused = firewalld_ports(dir.path(), "bad.xml");
    assert!(!refused.status.success(), "{}", refused.describe());
}

/// Every variant's rpms.
fn all_variants() -> &'static Built {
    built(&["el9", "el10", "sles16"])
}
