//! What the rpm tests share (`rpm_package.rs`, `rpm_selinux.rs`): the tools they need, running
//! them, building the rpms once, and reading what an rpm holds.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use wsman_test::binaries::workspace_root;
use wsman_test::process::{self, Finished};

/// The variants and the PAM file each installs as /etc/pam.d/wsmand.
pub(crate) const VARIANTS: [(&str, &str); 3] = [
    ("el9", "dist/pam/rhel"),
    ("el10", "dist/pam/rhel"),
    ("sles16", "dist/pam/suse"),
];

/// The tools the checks run, and the Debian package of each.
const TOOLS: [(&str, &str); 11] = [
    ("semodule", "policycoreutils"),
    ("matchpathcon", "selinux-utils"),
    ("rpmbuild", "rpm"),
    ("rpm2cpio", "rpm"),
    ("rpmlint", "rpmlint"),
    ("readelf", "binutils"),
    ("gcc", "gcc"),
    ("checkmodule", "checkpolicy"),
    ("semodule_link", "semodule-utils"),
    ("sesearch", "setools"),
    ("cpio", "cpio"),
];

/// Whether the tools are here; prints why not (a failure with `WSMAN_TEST_REQUIRE_RPM=1`).
pub(crate) fn tools_present() -> bool {
    let missing: Vec<String> = TOOLS
        .iter()
        .filter(|(tool, _)| {
            !std::env::var_os("PATH")
                .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(tool).is_file()))
        })
        .map(|(tool, package)| format!("{tool} (Debian: {package})"))
        .collect();
    let makefile = Path::new("/usr/share/selinux/devel/Makefile");
    let mut reasons = missing;
    if !makefile.is_file() {
        reasons.push(format!(
            "{} (Debian: selinux-policy-dev)",
            makefile.display()
        ));
    }
    let firewalld = Path::new("/usr/lib/python3/dist-packages/firewall/core/io/service.py");
    if !firewalld.is_file() {
        reasons.push(format!(
            "{} (Debian: python3-firewall)",
            firewalld.display()
        ));
    }
    if !Path::new(REFPOLICY).join("base.pp.bz2").is_file() {
        reasons.push(format!(
            "{REFPOLICY}/base.pp.bz2 (Debian: selinux-policy-default)"
        ));
    }
    if reasons.is_empty() {
        return true;
    }
    wsman_test::skipped(
        "WSMAN_TEST_REQUIRE_RPM",
        format!("missing: {}", reasons.join(", ")),
    );
    false
}

/// The reference policy's compiled modules.
pub(crate) const REFPOLICY: &str = "/usr/share/selinux/default";

pub(crate) fn run(program: &str, args: &[&str], cwd: Option<&Path>) -> Finished {
    let mut command = Command::new(program);
    command.args(args);
    if let Some(dir) = cwd {
        command.current_dir(dir);
    }
    process::run(&mut command, None, Duration::from_secs(300))
}

pub(crate) fn run_ok(program: &str, args: &[&str], cwd: Option<&Path>) -> Finished {
    let finished = run(program, args, cwd);
    assert!(
        finished.status.success(),
        "{program} {args:?}: {}",
        finished.describe()
    );
    finished
}

/// The rpms of each variant, built once for the whole test run.
pub(crate) struct Built {
    /// (variant, wsmand's rpm, wsmand-selinux's rpm)
    pub(crate) rpms: Vec<(&'static str, PathBuf, PathBuf)>,
}

/// `scripts/rpm.sh --no-build --no-compress --variant VARIANT` into `out`: wsmand's rpm and
/// wsmand-selinux's.
pub(crate) fn build_variant(out: &Path, variant: &str) -> (PathBuf, PathBuf) {
    let root = workspace_root();
    let out = out.join(variant);
    let script = root.join("scripts/rpm.sh");
    let args = [
        path_str(&script),
        "--no-build",
        "--no-compress",
        "--variant",
        variant,
        "--output",
        path_str(&out),
    ];
    let made = run_ok("bash", &args, Some(&root));
    let paths: Vec<PathBuf> = made.stdout.lines().map(PathBuf::from).collect();
    assert_eq!(paths.len(), 2, "rpm.sh printed {:?}", made.stdout);
    (root.join(&paths[0]), root.join(&paths[1]))
}

/// The rpms of `variants`, built once for the whole run by the first test that asks. Why not
/// once per process: nextest runs each test in a process of its own, so that built them for
/// every test that asked (five times a run), and a static's directory is never dropped, so
/// each stayed in /tmp (360 MB a build). They are built under `CARGO_TARGET_TMPDIR`, in a
/// directory of the run (`NEXTEST_RUN_ID`; under `cargo test`, of the process), each variant
/// under a lock the other tests wait on; a run's directory goes once it is a day old.
pub(crate) fn built(variants: &[&'static str]) -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = run_dir();
        let rpms = variants
            .iter()
            .map(|variant| {
                let (wsmand, selinux) = built_once(&dir, variant);
                (*variant, wsmand, selinux)
            })
            .collect();
        Built { rpms }
    })
}

/// This run's directory, the runs' directories of a day ago removed.
fn run_dir() -> PathBuf {
    let run = std::env::var("NEXTEST_RUN_ID")
        .unwrap_or_else(|_| format!("process-{}", std::process::id()));
    let runs = Path::new(env!("CARGO_TARGET_TMPDIR")).join("rpm-runs");
    std::fs::create_dir_all(&runs).expect("create the rpm runs' directory");
    let day_old = |entry: &std::fs::DirEntry| {
        entry.metadata().and_then(|m| m.modified()).is_ok_and(|at| {
            at.elapsed()
                .is_ok_and(|age| age > Duration::from_secs(86_400))
        })
    };
    for entry in std::fs::read_dir(&runs)
        .expect("read the rpm runs' directory")
        .flatten()
    {
        if entry.file_name() != run.as_str() && day_old(&entry) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    runs.join(run)
}

/// `variant`'s rpms in `dir`, built there by the first caller (the others wait on its lock).
fn built_once(dir: &Path, variant: &str) -> (PathBuf, PathBuf) {
    let out = dir.join(variant);
    std::fs::create_dir_all(&out).expect("create the variant's directory");
    let lock = std::fs::File::create(out.join("lock")).expect("create the variant's lock");
    lock.lock().expect("lock the variant's directory");
    let done = out.join("built");
    if let Ok(paths) = std::fs::read_to_string(&done) {
        if let [wsmand, selinux] = paths.lines().collect::<Vec<_>>()[..] {
            return (PathBuf::from(wsmand), PathBuf::from(selinux));
        }
    }
    let (wsmand, selinux) = build_variant(&out, variant);
    let paths = format!("{}\n{}\n", wsmand.display(), selinux.display());
    std::fs::write(&done, paths).expect("record the variant's rpms");
    (wsmand, selinux)
}

pub(crate) fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// `rpm -qp QUERY rpm`'s lines.
pub(crate) fn query(rpm: &Path, query: &[&str]) -> Vec<String> {
    let mut args = vec!["-qp"];
    args.extend_from_slice(query);
    args.push(path_str(rpm));
    let queried = run_ok("rpm", &args, None);
    queried.stdout.lines().map(str::to_owned).collect()
}

/// A file of the rpm's payload (`./etc/pam.d/wsmand`).
pub(crate) fn payload_file(rpm: &Path, path: &str) -> String {
    let script = "rpm2cpio \"$1\" | cpio --quiet -i --to-stdout \"$2\"";
    let read = run_ok("sh", &["-c", script, "sh", path_str(rpm), path], None);
    read.stdout
}
