//! The Updates page's facts and actions: each host's pending and security updates, its reboot
//! flag and its last scan and install, read through Windows Update's own classes
//! (`MSFT_WUOperations`, `MSFT_WUSettings` in `root/Microsoft/Windows/WindowsUpdate`), which a
//! Windows host and a wsmand host (through PackageKit) both serve, so the console needs no
//! second way for Linux. What the console knows of a host is what its last action on it read
//! ([`UpdateStates`]): the page reads nothing from the hosts while it is answered, as the
//! fleet page reads nothing. The actions run as jobs of `bulk` (its bounds, its pages, its
//! audit); an install on several hosts goes to a canary first (`bulk::Jobs::start`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;
use wsman_client::{ClientError, Element, Resource};
use wsman_config::mgmt::Action;

use crate::hosts::{bounded_by, micros, property, Host, HostError};
pub use crate::reboot_time::LocalTime;
use crate::update_store::Kept;

/// The namespace of Windows Update's classes (under the WMI prefix of its resource URIs).
const WU_CLI: &str = "wmi/root/Microsoft/Windows/WindowsUpdate";
/// What a scan asks for: every update not installed (what Windows Update's own scan asks).
pub const SCAN_CRITERIA: &str = "IsInstalled=0";
/// WU_E_INSTALL_NOT_ALLOWED: an install is still running on the host.
const INSTALL_RUNNING: u32 = 0x8024_0016;
/// How long a scan may take (PackageKit refreshes its lists first).
const SCAN_DEADLINE: Duration = Duration::from_secs(120);
/// How long an install may take, its progress read every [`POLL`] once the host's own
/// operation timeout has passed.
const INSTALL_DEADLINE: Duration = Duration::from_secs(30 * 60);
/// How often a running install's progress is read.
const POLL: Duration = Duration::from_secs(2);

/// The resource URI of one of Windows Update's classes.
pub fn wu_class(name: &str) -> String {
    format!(
        "{}{}/{name}",
        wsman_proto::ns::WMI_PREFIX,
        &WU_CLI["wmi/".len()..]
    )
}

/// What the page's buttons do on each chosen host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateAction {
    /// `ScanForUpdates`, then the reboot flag and the dates.
    Scan,
    /// A scan, then `InstallUpdates` of the security updates only (`MsrcSeverity` set).
    InstallSecurity,
    /// A scan, then `InstallUpdates` of every pending update.
    InstallAll,
    /// `Win32_OperatingSystem.Reboot`.
    Reboot,
    /// The same when the host's own clock next shows this time.
    RebootAt(LocalTime),
}

impl UpdateAction {
    /// Every action, in the page's order.
    pub const ALL: [Self; 4] = [
        Self::Scan,
        Self::InstallSecurity,
        Self::InstallAll,
        Self::Reboot,
    ];

    /// The word in the form and the audit.
    pub fn name(self) -> &'static str {
        match self {
            Self::Scan => "scan",
            Self::InstallSecurity => "install-security",
            Self::InstallAll => "install-all",
            Self::Reboot | Self::RebootAt(_) => "reboot",
        }
    }

    /// What the job's page and the audit say it does.
    pub fn describe(self) -> String {
        match self {
            Self::RebootAt(at) => format!("reboot at {} host time", at.text()),
            other => other.name().to_owned(),
        }
    }

    /// The button's words.
    pub fn label(self) -> &'static str {
        match self {
            Self::Scan => "Scan for updates",
            Self::InstallSecurity => "Install security updates",
            Self::InstallAll => "Install all updates",
            Self::Reboot | Self::RebootAt(_) => "Reboot",
        }
    }

    /// The action named `word` in a form.
    pub fn parse(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == word)
    }

    /// The delegated right it needs, and on which resource: `update` of `MSFT_WUOperations`,
    /// `reboot` of `Win32_OperatingSystem`.
    pub fn right(self) -> (String, Action) {
        match self {
            Self::Reboot | Self::RebootAt(_) => (
                crate::delegation::cim_class("Win32_OperatingSystem"),
                Action::Reboot,
            ),
            _ => (wu_class("MSFT_WUOperations"), Action::Update),
        }
    }

    /// Whether a selection of several hosts goes to a canary first.
    pub fn canary_first(self) -> bool {
        matches!(self, Self::InstallSecurity | Self::InstallAll)
    }

    /// The `winrm` command that does the same on a host reached with `switches`.
    pub fn command(self, switches: &str) -> String {
        let scan = format!(
            "winrm invoke ScanForUpdates {WU_CLI}/MSFT_WUOperations @{{SearchCriteria=\"{SCAN_CRITERIA}\"}} {switches}"
        );
        match self {
            Self::Scan => scan,
            Self::InstallSecurity | Self::InstallAll => format!(
                "{scan}; winrm invoke InstallUpdates {WU_CLI}/MSFT_WUOperations -file:install.xml {switches}"
            ),
            Self::Reboot | Self::RebootAt(_) => format!("winrm invoke Reboot wmicimv2/Win32_OperatingSystem @{{}} {switches}"),
        }
    }
}

/// What a host is doing now, as far as the console knows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum Activity {
    /// Nothing the console started.
    #[default]
    Idle,
    /// A scan is running.
    Scanning,
    /// An install is running; the host's own words on its progress, once it gives them.
    Installing {
        /// PackageKit's percentage and package, as the host's fault says them.
        progress: Option<String>,
    },
    /// A reboot was asked for.
    Rebooting,
    /// A reboot waits for a time on the host's clock.
    #[serde(rename = "reboot-scheduled")]
    RebootScheduled {
        /// The time as the host's clock shows it, with its offset (`03:30 UTC+05:30`).
        at: String,
        /// When, in seconds since 1970.
        due: i64,
    },
}

/// What the console knows of one host's updates, from its last action there.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct UpdateState {
    /// The figures of the last scan and install: what a restart keeps.
    #[serde(flatten)]
    pub figures: Kept,
    /// Now.
    pub activity: Activity,
    /// The last action's failure, if it failed.
    pub error: Option<String>,
}

impl UpdateState {
    /// Security updates pending or a reboot needed: what the fleet's attention count counts.
    pub fn needs_attention(&self) -> bool {
        self.figures.security.is_some_and(|n| n > 0) || self.figures.reboot_needed == Some(true)
    }
}

/// Every host's [`UpdateState`], by name; a host never acted on has the default (unknown).
/// Its figures are kept in a file across restarts of the console when it was loaded from one
/// ([`Self::load`]).
#[derive(Default)]
pub struct UpdateStates {
    by_host: Mutex<BTreeMap<String, UpdateState>>,
    /// Where the figures are kept (none: in memory only).
    file: Option<PathBuf>,
    /// A failure to keep them was logged (once: the next scans would say the same).
    unkept: std::sync::atomic::AtomicBool,
}

impl UpdateStates {
    /// The figures an earlier run kept in `dir` (none when there are none, or when they
    /// cannot be read: logged), kept there from now on.
    pub fn load(dir: &Path) -> Self {
        let file = dir.join(crate::update_store::FILE_NAME);
        let kept = crate::update_store::read(&file);
        let by_host = kept.into_iter().map(|(host, figures)| {
            (
                host,
                UpdateState {
                    figures,
                    ..UpdateState::default()
                },
            )
        });
        Self {
            by_host: Mutex::new(by_host.collect()),
            file: Some(file),
            unkept: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// What is known of `host`.
    pub fn get(&self, host: &str) -> UpdateState {
        self.lock().get(host).cloned().unwrap_or_default()
    }

    /// Changes what is known of `host`; the file is written again when a figure changed (not
    /// for what the host is doing now, which a restart forgets with its job).
    pub fn change(&self, host: &str, change: impl FnOnce(&mut UpdateState)) {
        let mut all = self.lock();
        let state = all.entry(host.to_owned()).or_default();
        let before = state.figures;
        change(state);
        let changed = state.figures != before;
        let Some(file) = self.file.as_ref().filter(|_| changed) else {
            return;
        };
        let figures = all
            .iter()
            .map(|(host, state)| (host.as_str(), state.figures));
        if let Err(error) = crate::update_store::write(file, figures) {
            if !self.unkept.swap(true, std::sync::atomic::Ordering::Relaxed) {
                tracing::warn!(path = %file.display(), %error, "the Updates page's figures cannot be kept across a restart (they stay in memory)");
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, UpdateState>> {
        self.by_host
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One pending update of a scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pending {
    /// `UpdateID`, which `InstallUpdates` takes back.
    pub id: String,
    /// `MsrcSeverity` set.
    pub security: bool,
}

/// The pending updates of a `ScanForUpdates_OUTPUT`: each embedded `MSFT_WUUpdate`. How
/// Windows writes an embedded instance is not recorded (docs/windows-quirks.md#updates), so
/// both forms are read: an `Updates` element holding the instance's properties (DSP0230's,
/// which wsmand writes), or an `Updates` element holding one element per instance that holds
/// them; properties by local name in any namespace.
pub fn pending_of(output: &Element) -> Vec<Pending> {
    let of = |instance: &Element| {
        Some(Pending {
            id: property(instance, "UpdateID")?,
            security: property(instance, "MsrcSeverity").is_some(),
        })
    };
    output
        .elements()
        .filter(|e| e.name.eq_ignore_ascii_case("Updates"))
        .flat_map(|updates| match of(updates) {
            Some(one) => vec![one],
            None => updates.elements().filter_map(of).collect(),
        })
        .collect()
}

/// A CIM datetime property as seconds since 1970.
fn seconds_of(output: &Element, name: &str) -> Option<i64> {
    micros(&property(output, name)?).map(|micros| micros / 1_000_000)
}

/// `InstallUpdates`' input: the updates as a scan answered them (their `UpdateID`).
fn install_body(ids: &[String]) -> String {
    let uri = wu_class("MSFT_WUOperations");
    let updates: String = ids
        .iter()
        .map(|id| {
            format!(
                "<p:Updates><q:UpdateID xmlns:q=\"{uri}\">{}</q:UpdateID></p:Updates>",
                wsman_proto::xml::escape_text(id)
            )
        })
        .collect();
    format!(
        "<p:InstallUpdates_INPUT xmlns:p=\"{uri}\">{updates}<p:DownloadOnly>false</p:DownloadOnly></p:InstallUpdates_INPUT>"
    )
}

/// A fault's WSManFault code and subcode, if `error` is one.
fn fault_of(error: &HostError) -> Option<(Option<u32>, &str, &str)> {
    match error {
        HostError::Client(ClientError::Fault {
            wsman_code,
            subcode,
            message,
            ..
        }) => Some((*wsman_code, subcode.as_deref().unwrap_or(""), message)),
        _ => None,
    }
}

/// What one host's scan found, and the settings read after it.
struct Scanned {
    pending: Vec<Pending>,
}

/// `ScanForUpdates`, then the reboot flag and the dates, each written into `states`.
async fn scan(host: &Host, states: &UpdateStates) -> Result<Scanned, HostError> {
    let name = &host.config.name;
    let operations = Resource::new(wu_class("MSFT_WUOperations"));
    let criteria = [("SearchCriteria".to_owned(), SCAN_CRITERIA.to_owned())];
    let output = bounded_by(
        SCAN_DEADLINE,
        host.client()
            .invoke(&operations, "ScanForUpdates", &criteria),
    )
    .await?;
    let pending = pending_of(&output);
    let security = pending.iter().filter(|p| p.security).count();
    states.change(name, |s| {
        s.figures.pending = Some(pending.len());
        s.figures.security = Some(security);
    });
    read_settings(host, states).await?;
    Ok(Scanned { pending })
}

/// `IsPendingReboot`, `GetLastScanSuccessDate` and `GetLastUpdateInstallationDate`.
async fn read_settings(host: &Host, states: &UpdateStates) -> Result<(), HostError> {
    let settings = Resource::new(wu_class("MSFT_WUSettings"));
    let call = |method: &'static str| {
        let settings = settings.clone();
        async move { bounded_by(SCAN_DEADLINE, host.client().invoke(&settings, method, &[])).await }
    };
    let reboot = call("IsPendingReboot").await?;
    let scanned = call("GetLastScanSuccessDate").await?;
    let installed = call("GetLastUpdateInstallationDate").await?;
    states.change(&host.config.name, |s| {
        s.figures.reboot_needed = property(&reboot, "PendingReboot").map(|v| v == "true");
        s.figures.last_scan = seconds_of(&scanned, "LastScanSuccessDate");
        s.figures.last_install = seconds_of(&installed, "LastUpdateInstallationDate");
    });
    Ok(())
}

/// `InstallUpdates` of `ids`; past the host's operation timeout, the install's progress read
/// from the host's refusal of the next call until it ends. Returns `RebootRequired`.
async fn install(host: &Host, ids: &[String], states: &UpdateStates) -> Result<bool, HostError> {
    let name = &host.config.name;
    let operations = Resource::new(wu_class("MSFT_WUOperations"));
    let body = install_body(ids);
    let first = bounded_by(
        INSTALL_DEADLINE,
        host.client()
            .invoke_raw(&operations, "InstallUpdates", &body),
    )
    .await;
    match first {
        Ok(output) => return Ok(property(&output, "RebootRequired").as_deref() == Some("true")),
        Err(error) if fault_of(&error).is_some_and(|(_, sub, _)| sub.ends_with("TimedOut")) => {}
        Err(error) => return Err(error),
    }
    let settings = Resource::new(wu_class("MSFT_WUSettings"));
    let started = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(POLL).await;
        let asked = bounded_by(
            SCAN_DEADLINE,
            host.client().invoke(&settings, "IsPendingReboot", &[]),
        )
        .await;
        match asked {
            Ok(output) => {
                return Ok(property(&output, "PendingReboot").as_deref() == Some("true"));
            }
            Err(error) => match fault_of(&error) {
                Some((Some(INSTALL_RUNNING), _, message))
                    if started.elapsed() < INSTALL_DEADLINE =>
                {
                    let progress = Some(message.chars().take(300).collect());
                    states.change(name, |s| s.activity = Activity::Installing { progress });
                }
                _ => return Err(error),
            },
        }
    }
}

/// `Win32_OperatingSystem.Reboot`: its ReturnValue (0: the host accepted it).
async fn reboot(host: &Host) -> Result<Option<i64>, HostError> {
    let os = Resource::new(crate::delegation::cim_class("Win32_OperatingSystem"));
    let output = bounded_by(SCAN_DEADLINE, host.client().invoke(&os, "Reboot", &[])).await?;
    Ok(property(&output, "ReturnValue").and_then(|v| v.parse().ok()))
}

/// What an action did on one host: its ReturnValue, and its words (the figures found, then
/// the `winrm` command that does the same).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Done {
    /// 0, or the host's ReturnValue (a reboot).
    pub code: i64,
    /// What the job's page shows.
    pub output: String,
}

/// Runs `action` on `host`, keeping `states` up to date.
pub async fn run(
    host: &Host,
    action: UpdateAction,
    states: &UpdateStates,
) -> Result<Done, HostError> {
    let name = &host.config.name;
    states.change(name, |s| {
        s.error = None;
        s.activity = match action {
            UpdateAction::Reboot | UpdateAction::RebootAt(_) => Activity::Rebooting,
            _ => Activity::Scanning,
        };
    });
    let outcome = outcome(host, action, states).await;
    states.change(name, |s| {
        let rebooting = matches!(action, UpdateAction::Reboot | UpdateAction::RebootAt(_));
        if !rebooting || outcome.is_err() {
            s.activity = Activity::Idle;
        }
        s.error = outcome.as_ref().err().map(ToString::to_string);
    });
    // The command of what was done: a scan alone when there was nothing to install.
    outcome.map(|(code, words, done)| Done {
        code,
        output: format!("{words}\n{}", done.command(&host.switches())),
    })
}

/// The action's ReturnValue, its words and what was done (a scan alone when an install
/// found nothing), or the host's failure.
async fn outcome(
    host: &Host,
    action: UpdateAction,
    states: &UpdateStates,
) -> Result<(i64, String, UpdateAction), HostError> {
    let counted = |scanned: &Scanned| {
        let security = scanned.pending.iter().filter(|p| p.security).count();
        format!("{} pending, {security} security", scanned.pending.len())
    };
    match action {
        UpdateAction::Scan => {
            let scanned = scan(host, states).await?;
            Ok((0, counted(&scanned), action))
        }
        UpdateAction::InstallSecurity | UpdateAction::InstallAll => {
            let scanned = scan(host, states).await?;
            let ids: Vec<String> = scanned
                .pending
                .iter()
                .filter(|p| action == UpdateAction::InstallAll || p.security)
                .map(|p| p.id.clone())
                .collect();
            if ids.is_empty() {
                return Ok((
                    0,
                    format!("{}; nothing to install", counted(&scanned)),
                    UpdateAction::Scan,
                ));
            }
            states.change(&host.config.name, |s| {
                s.activity = Activity::Installing { progress: None }
            });
            let reboot = install(host, &ids, states).await?;
            scan(host, states).await?;
            states.change(&host.config.name, |s| {
                s.figures.reboot_needed = Some(s.figures.reboot_needed == Some(true) || reboot)
            });
            let after = states.get(&host.config.name);
            Ok((
                0,
                format!(
                    "installed {}; {} pending now; reboot {}",
                    ids.len(),
                    after.figures.pending.unwrap_or(0),
                    if reboot { "needed" } else { "not needed" }
                ),
                action,
            ))
        }
        UpdateAction::RebootAt(at) => {
            let offset = crate::reboot_time::host_offset(host).await?;
            let wait =
                crate::reboot_time::seconds_until(crate::samples::seconds_now() as i64, offset, at);
            let shown = format!("{} {}", at.text(), crate::reboot_time::offset_text(offset));
            let due = crate::samples::seconds_now() as i64 + wait as i64;
            states.change(&host.config.name, |s| {
                s.activity = Activity::RebootScheduled {
                    at: shown.clone(),
                    due,
                }
            });
            tokio::time::sleep(Duration::from_secs(wait)).await;
            states.change(&host.config.name, |s| s.activity = Activity::Rebooting);
            let code = reboot(host).await?.unwrap_or(-1);
            Ok((
                code,
                format!("Reboot asked at {shown}: ReturnValue {code}"),
                action,
            ))
        }
        UpdateAction::Reboot => {
            let code = reboot(host).await?.unwrap_or(-1);
            Ok((code, format!("Reboot asked: ReturnValue {code}"), action))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scan_output_is_read_as_windows_answers_it() {
        let xml = format!(
            "<p:ScanForUpdates_OUTPUT xmlns:p=\"{uri}\"><p:ReturnValue>0</p:ReturnValue>\
             <p:Updates><q:UpdateID xmlns:q=\"{uri}\">kernel;2.6;i386;installed</q:UpdateID>\
             <q:MsrcSeverity xmlns:q=\"{uri}\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:nil=\"true\"/></p:Updates>\
             <p:Updates><q:UpdateID xmlns:q=\"{uri}\">gtkhtml2;2.19;i386;fedora</q:UpdateID>\
             <q:MsrcSeverity xmlns:q=\"{uri}\">Important</q:MsrcSeverity></p:Updates>\
             </p:ScanForUpdates_OUTPUT>",
            uri = wu_class("MSFT_WUOperations")
        );
        let output =
            wsman_proto::xml::parse(&xml, &wsman_proto::xml::Limits::default()).expect("XML");
        let pending = pending_of(&output);
        assert_eq!(
            pending,
            vec![
                Pending {
                    id: "kernel;2.6;i386;installed".into(),
                    security: false
                },
                Pending {
                    id: "gtkhtml2;2.19;i386;fedora".into(),
                    security: true
                },
            ]
        );
    }

    /// The body's first element of a SOAP envelope: a method's output.
    fn output_of(envelope: &str) -> Element {
        let root =
            wsman_proto::xml::parse(envelope, &wsman_proto::xml::Limits::default()).expect("XML");
        let body = root.child_ignore_case("Body").expect("a Body");
        let output = body.elements().next().expect("an output").clone();
        output
    }

    /// The answers built from Microsoft's documentation of the classes (not recorded; their
    /// README says from what), as the Windows-shaped hosts of the browser test serve them.
    const DOCUMENTED: &str = "../wsman-proto/tests/fixtures/windows-documented/updates";

    fn documented(name: &str) -> Element {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join(DOCUMENTED)
            .join(name);
        output_of(&std::fs::read_to_string(&path).expect("the documented-shape answer"))
    }

    #[test]
    fn windows_documented_answers_are_read() {
        let pending = pending_of(&documented("scan-for-updates.response.xml"));
        let ids: Vec<&str> = pending.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "00000000-0000-4000-8000-000000000001",
                "00000000-0000-4000-8000-000000000002",
                "00000000-0000-4000-8000-000000000003"
            ]
        );
        // Critical and Important are security updates; a nil MsrcSeverity is none.
        assert_eq!(
            pending.iter().map(|p| p.security).collect::<Vec<_>>(),
            [true, true, false]
        );
        let reboot = documented("is-pending-reboot.response.xml");
        assert_eq!(property(&reboot, "PendingReboot").as_deref(), Some("true"));
        let scanned = documented("get-last-scan-success-date.response.xml");
        // 2024-01-10T03:12:45Z, written as a cim:Datetime.
        assert_eq!(
            seconds_of(&scanned, "LastScanSuccessDate"),
            Some(1_704_856_365)
        );
        let installed = documented("get-last-update-installation-date.response.xml");
        assert_eq!(
            seconds_of(&installed, "LastUpdateInstallationDate"),
            Some(1_702_440_300)
        );
        let install = documented("install-updates.response.xml");
        assert_eq!(
            property(&install, "RebootRequired").as_deref(),
            Some("true")
        );
    }

    #[test]
    fn an_update_wrapped_in_an_element_of_its_class_is_read_too() {
        let xml = "<p:ScanForUpdates_OUTPUT xmlns:p=\"u\"><p:Updates>\
             <q:MSFT_WUUpdate xmlns:q=\"v\"><q:UpdateID>a</q:UpdateID><q:MsrcSeverity>Low</q:MsrcSeverity></q:MSFT_WUUpdate>\
             <q:MSFT_WUUpdate xmlns:q=\"v\"><q:UpdateID>b</q:UpdateID></q:MSFT_WUUpdate>\
             </p:Updates><p:Updates><q:Title xmlns:q=\"v\">no id</q:Title></p:Updates><p:ReturnValue>0</p:ReturnValue>\
             </p:ScanForUpdates_OUTPUT>";
        let output =
            wsman_proto::xml::parse(xml, &wsman_proto::xml::Limits::default()).expect("XML");
        assert_eq!(
            pending_of(&output),
            vec![
                Pending {
                    id: "a".into(),
                    security: true
                },
                Pending {
                    id: "b".into(),
                    security: false
                },
            ]
        );
    }

    #[test]
    fn install_input_escapes_the_ids() {
        let body = install_body(&["a<b;1".to_owned()]);
        assert!(body.contains(">a&lt;b;1</q:UpdateID>"), "{body}");
        assert!(!body.contains("a<b"), "{body}");
    }

    #[test]
    fn the_figures_survive_a_restart_and_what_runs_does_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join(crate::update_store::FILE_NAME);
        let states = UpdateStates::load(dir.path());
        assert_eq!(states.get("web1"), UpdateState::default());
        // What a host is doing alone is not written.
        states.change("web1", |s| s.activity = Activity::Scanning);
        assert!(!file.exists());
        states.change("web1", |s| {
            s.figures.pending = Some(3);
            s.figures.security = Some(1);
            s.figures.reboot_needed = Some(true);
            s.figures.last_scan = Some(1_704_856_365);
        });
        states.change("win1", |s| s.figures.last_install = Some(1_702_440_300));
        // A second console on the same directory: the figures, and nothing running.
        let again = UpdateStates::load(dir.path());
        let web1 = again.get("web1");
        assert_eq!(
            (
                web1.figures.pending,
                web1.figures.security,
                web1.figures.reboot_needed,
                web1.figures.last_scan
            ),
            (Some(3), Some(1), Some(true), Some(1_704_856_365))
        );
        assert_eq!(web1.activity, Activity::Idle);
        assert_eq!(again.get("win1").figures.last_install, Some(1_702_440_300));
    }

    #[test]
    fn attention_is_security_pending_or_a_reboot() {
        let mut state = UpdateState::default();
        assert!(!state.needs_attention());
        state.figures.security = Some(0);
        state.figures.reboot_needed = Some(false);
        assert!(!state.needs_attention());
        state.figures.reboot_needed = Some(true);
        assert!(state.needs_attention());
        state.figures.reboot_needed = None;
        state.figures.security = Some(1);
        assert!(state.needs_attention());
    }
}
