//! Windows Update's classes in `root/Microsoft/Windows/WindowsUpdate` (Windows 10 1709 and
//! Server 2019 on), served from PackageKit ([`super::update_jobs`]): `MSFT_WUOperations`
//! (`ScanForUpdates`, `InstallUpdates`), `MSFT_WUSettings` (`IsPendingReboot`,
//! `GetLastScanSuccessDate`, `GetLastUpdateInstallationDate`, `GetWUAVersion`) and
//! `MSFT_WUUpdate`, the embedded instances ScanForUpdates answers and InstallUpdates takes.
//!
//! How PackageKit's answers become Windows' values, and what Windows does that could not be
//! checked without a Windows host, is in `docs/updates.md` and `docs/windows-quirks.md`.

use std::sync::Arc;

use wsman_packagekit::{Info, Update};
use wsman_proto::cim::{CimDateTime, Instance, MethodInput, Value};
use wsman_proto::operation::{Action, Operation, Resource};
use wsman_proto::Fault;

use super::schema::{ClassSchema, Declaration, Method};
use super::update_jobs::{hresult, wait_until, Starter, UpdateManager};
use super::{Answer, Class, Instances};
use crate::{Context, Filter};

/// The namespace of the classes.
pub const NAMESPACE: &str = "root/Microsoft/Windows/WindowsUpdate";
/// Most updates one InstallUpdates takes, and longest UpdateID.
const MAX_INSTALL: usize = 10_000;
const MAX_ID: usize = 1024;

/// Whether `operation` changes the host through these classes (InstallUpdates): it needs Write
/// besides Execute in the namespace's descriptor, as a method that starts a process does.
pub fn changes_host(operation: &Operation) -> bool {
    matches!(&operation.resource, Resource::Wmi { namespace, class } | Resource::Cim { namespace, class }
        if namespace.eq_ignore_ascii_case(NAMESPACE)
            && matches!(class, wsman_proto::operation::ClassRef::Named(c) if c.eq_ignore_ascii_case("MSFT_WUOperations")))
        && matches!(&operation.action, Action::Invoke(m) if m.eq_ignore_ascii_case("InstallUpdates"))
}

/// The forms of SearchCriteria understood (compared without case and spacing): what Windows'
/// own clients send. `AutoSelectOnWebSites=1` leaves out what Windows Update would not select
/// by itself (low-priority and enhancement updates).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Criteria {
    NotInstalled,
    AutoSelected,
}

fn parse_criteria(text: Option<&str>) -> Result<Criteria, Fault> {
    let Some(text) = text else {
        return Ok(Criteria::NotInstalled);
    };
    let squeezed: String = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase()
        .replace('"', "'");
    match squeezed.as_str() {
        "isinstalled=0" | "isinstalled=0andtype='software'" => Ok(Criteria::NotInstalled),
        "autoselectonwebsites=1" | "isinstalled=0andautoselectonwebsites=1" => {
            Ok(Criteria::AutoSelected)
        }
        _ => Err(Fault::internal_error(format!(
            "The search criteria {:?} are not understood here: wsmand understands \
             IsInstalled=0, IsInstalled=0 AND Type='Software' and AutoSelectOnWebSites=1 \
             (WU_E_INVALID_CRITERIA). ",
            text.chars().take(200).collect::<String>()
        ))
        .with_code(hresult::INVALID_CRITERIA)),
    }
}

/// MsrcSeverity from the advisory's own grade when PackageKit gives one, else from the
/// update's kind; `None` (nil) for an update that is no security fix, as Windows leaves it.
fn msrc_severity(update: &Update) -> Option<&'static str> {
    match (update.severity, update.info) {
        (Some(Info::Critical), _) | (None, Info::Critical) => Some("Critical"),
        (Some(Info::Important), _) => Some("Important"),
        (Some(Info::Normal), Info::Security) => Some("Moderate"),
        (Some(Info::Low), Info::Security) => Some("Low"),
        (_, Info::Security) => Some("Important"),
        _ => None,
    }
}

/// The first CVE name in the update's CVE links, Linux's nearest to a KB article.
fn cve(update: &Update) -> Option<String> {
    let urls = &update.detail.as_ref()?.cve_urls;
    urls.iter().find_map(|url| {
        let start = url.find("CVE-")?;
        let name: String = url[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        (name.len() > 8).then_some(name)
    })
}

/// One update as Windows' MSFT_WUUpdate.
fn update_instance(update: &Update) -> Instance {
    let title = if update.summary.is_empty() {
        format!("{} {}", update.name(), update.version())
    } else {
        format!("{} {}: {}", update.name(), update.version(), update.summary)
    };
    let description = update
        .detail
        .as_ref()
        .map(|d| d.update_text.clone())
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| update.summary.clone());
    Instance::new("MSFT_WUUpdate", NAMESPACE)
        .with("Description", description)
        .with("KBArticleID", cve(update))
        .with("MsrcSeverity", msrc_severity(update).map(str::to_owned))
        .with("RevisionNumber", 0u32)
        .with("Title", title)
        .with("UpdateID", update.package_id.clone())
}

/// The UpdateIDs of InstallUpdates' Updates: each an embedded MSFT_WUUpdate (its UpdateID
/// child), or the id as text.
fn update_ids(body: Option<&wsman_proto::xml::Element>) -> Result<Vec<String>, Fault> {
    let Some(root) = body else {
        return Err(Fault::invalid_parameter(
            "The InstallUpdates method needs the parameter Updates. ",
        ));
    };
    let mut ids = Vec::new();
    for element in root
        .elements()
        .filter(|e| e.name.eq_ignore_ascii_case("Updates"))
    {
        let id = match element.child_ignore_case("UpdateID") {
            Some(child) => child.trimmed_text(),
            None => element.trimmed_text(),
        };
        let fields = id.split(';').count();
        if id.len() > MAX_ID || fields != 4 || id.chars().any(char::is_control) {
            return Err(Fault::invalid_parameter(format!(
                "An UpdateID of Updates is not one ScanForUpdates answered: {:?}. ",
                id.chars().take(100).collect::<String>()
            )));
        }
        if ids.len() == MAX_INSTALL {
            return Err(Fault::invalid_parameter(format!(
                "InstallUpdates takes at most {MAX_INSTALL} updates. "
            )));
        }
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    if ids.is_empty() {
        return Err(Fault::invalid_parameter(
            "The InstallUpdates method needs the parameter Updates. ",
        ));
    }
    Ok(ids)
}

fn datetime(time: Option<std::time::SystemTime>) -> Value {
    time.and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(Value::Null, |d| {
            Value::DateTime(CimDateTime::utc(
                i64::try_from(d.as_micros()).unwrap_or(i64::MAX),
            ))
        })
}

const OPERATIONS: ClassSchema = ClassSchema {
    name: "MSFT_WUOperations",
    namespace: NAMESPACE,
    keys: &[],
    singleton: false,
    references: &[],
    declaration: Declaration {
        superclass: None,
        properties: &[],
        methods: &[
            Method {
                name: "ScanForUpdates",
                is_static: true,
                inputs: &[("SearchCriteria", "string")],
                outputs: &[("Updates", "instance:MSFT_WUUpdate[]")],
            },
            Method {
                name: "InstallUpdates",
                is_static: true,
                inputs: &[
                    ("Updates", "instance:MSFT_WUUpdate[]"),
                    ("DownloadOnly", "boolean"),
                ],
                outputs: &[("RebootRequired", "boolean")],
            },
        ],
    },
};

/// `MSFT_WUOperations`: no instances, two static methods.
pub struct Operations {
    manager: Arc<UpdateManager>,
}

impl Operations {
    pub fn new(manager: Arc<UpdateManager>) -> Self {
        Self { manager }
    }

    fn scan(&self, ctx: &Context<'_>) -> Answer {
        let input = MethodInput::read(ctx.request.body.as_ref(), "ScanForUpdates")?;
        let criteria = parse_criteria(input.text("SearchCriteria"))?;
        if let Some(report) = self.manager.job_report() {
            return Err(report);
        }
        let updates = self.manager.scan(wait_until(ctx.deadline))?;
        let selected: Vec<Value> = updates
            .iter()
            .filter(|u| {
                criteria == Criteria::NotInstalled
                    || !matches!(u.info, Info::Low | Info::Enhancement)
            })
            .map(|u| Value::Instance(Box::new(update_instance(u))))
            .collect();
        Ok(super::method_output(self, "ScanForUpdates", super::SUCCESS)
            .with("Updates", Value::Array(selected)))
    }

    fn install(&self, ctx: &Context<'_>) -> Answer {
        let body = ctx.request.body.as_ref();
        let input = MethodInput::read(body, "InstallUpdates")?;
        let ids = update_ids(body)?;
        let download_only = match input.text("DownloadOnly") {
            None => false,
            Some(v) => wsman_proto::headers::parse_bool(v)
                .ok_or_else(|| Fault::invalid_parameter("DownloadOnly must be true or false. "))?,
        };
        let caller = ctx.caller;
        if !super::is_administrator(ctx) {
            tracing::warn!(
                user = caller.map_or("", |c| c.user.as_str()),
                "InstallUpdates refused: not an administrator"
            );
            return Err(Fault::access_denied());
        }
        let starter = Starter {
            user: caller.map_or_else(String::new, |c| c.user.clone()),
            principal: caller.map_or_else(String::new, |c| c.principal.to_string()),
            remote_address: caller
                .and_then(|c| c.client_ip)
                .map_or_else(|| "-".to_owned(), |ip| ip.to_string()),
        };
        let reboot =
            self.manager
                .install(ids, download_only, &starter, wait_until(ctx.deadline))?;
        Ok(super::method_output(self, "InstallUpdates", super::SUCCESS)
            .with("RebootRequired", reboot))
    }
}

impl Class for Operations {
    schema!(OPERATIONS);
    fn instances(&self, _ctx: &Context<'_>, _filter: Option<&Filter>) -> Instances {
        Ok(Vec::new())
    }

    fn invoke(&self, ctx: &Context<'_>, _keys: &[(&str, &str)], method: &str) -> Answer {
        if method.eq_ignore_ascii_case("ScanForUpdates") {
            self.scan(ctx)
        } else if method.eq_ignore_ascii_case("InstallUpdates") {
            self.install(ctx)
        } else {
            Err(crate::not_supported(ctx))
        }
    }
}

const SETTINGS: ClassSchema = ClassSchema {
    name: "MSFT_WUSettings",
    namespace: NAMESPACE,
    keys: &[],
    singleton: false,
    references: &[],
    declaration: Declaration {
        superclass: None,
        properties: &[],
        methods: &[
            Method {
                name: "IsPendingReboot",
                is_static: true,
                inputs: &[],
                outputs: &[("PendingReboot", "boolean")],
            },
            Method {
                name: "GetLastScanSuccessDate",
                is_static: true,
                inputs: &[],
                outputs: &[("LastScanSuccessDate", "datetime")],
            },
            Method {
                name: "GetLastUpdateInstallationDate",
                is_static: true,
                inputs: &[],
                outputs: &[("LastUpdateInstallationDate", "datetime")],
            },
            Method {
                name: "GetWUAVersion",
                is_static: true,
                inputs: &[],
                outputs: &[("WUAVersion", "string")],
            },
        ],
    },
};

/// `MSFT_WUSettings`: no instances, four static methods that read.
pub struct Settings {
    manager: Arc<UpdateManager>,
}

impl Settings {
    pub fn new(manager: Arc<UpdateManager>) -> Self {
        Self { manager }
    }
}

impl Class for Settings {
    schema!(SETTINGS);
    fn instances(&self, _ctx: &Context<'_>, _filter: Option<&Filter>) -> Instances {
        Ok(Vec::new())
    }

    fn invoke(&self, ctx: &Context<'_>, _keys: &[(&str, &str)], method: &str) -> Answer {
        let Some(declared) = SETTINGS
            .declaration
            .methods
            .iter()
            .find(|m| m.name.eq_ignore_ascii_case(method))
        else {
            return Err(crate::not_supported(ctx));
        };
        MethodInput::read(ctx.request.body.as_ref(), declared.name)?;
        // A job that outlived its request is reported on here, while it runs and once failed.
        if let Some(report) = self.manager.job_report() {
            return Err(report);
        }
        let value = match declared.name {
            "IsPendingReboot" => Value::Bool(self.manager.reboot_pending()),
            "GetLastScanSuccessDate" => datetime(self.manager.last_scan()),
            "GetLastUpdateInstallationDate" => datetime(self.manager.last_install()),
            _ => Value::Text(self.manager.version(wait_until(ctx.deadline))?),
        };
        let output = declared.outputs.first().map_or("", |o| o.0);
        Ok(super::method_output(self, declared.name, super::SUCCESS).with(output, value))
    }
}

const UPDATE: ClassSchema = ClassSchema {
    name: "MSFT_WUUpdate",
    namespace: NAMESPACE,
    keys: &[],
    singleton: false,
    references: &[],
    declaration: Declaration {
        superclass: None,
        properties: &[
            ("Description", "string"),
            ("KBArticleID", "string"),
            ("MsrcSeverity", "string"),
            ("RevisionNumber", "uint32"),
            ("Title", "string"),
            ("UpdateID", "string"),
        ],
        methods: &[],
    },
};

/// `MSFT_WUUpdate`: only ever embedded in the methods' parameters; no instances of its own.
pub struct UpdateClass;

impl Class for UpdateClass {
    schema!(UPDATE);
    fn instances(&self, _ctx: &Context<'_>, _filter: Option<&Filter>) -> Instances {
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wsman_packagekit::{Detail, Restart};

    fn update(info: Info, severity: Option<Info>) -> Update {
        Update {
            package_id: "kernel;2.6.23;i386;installed".into(),
            info,
            severity,
            summary: "The Linux kernel".into(),
            detail: Some(Detail {
                restart: Restart::System,
                update_text: "Update to newest upstream version.".into(),
                vendor_urls: vec![],
                bugzilla_urls: vec![],
                cve_urls: vec![
                    "http://nvd.nist.gov/nvd.cfm?cvename=CVE-2007-3381;CVE-2007-3381".into(),
                ],
                issued: String::new(),
                updated: String::new(),
            }),
        }
    }

    #[test]
    fn severity_follows_the_advisory_then_the_kind() {
        let cases = [
            (Info::Security, None, Some("Important")),
            (Info::Security, Some(Info::Critical), Some("Critical")),
            (Info::Security, Some(Info::Normal), Some("Moderate")),
            (Info::Security, Some(Info::Low), Some("Low")),
            (Info::Critical, None, Some("Critical")),
            (Info::Bugfix, Some(Info::Important), Some("Important")),
            (Info::Bugfix, None, None),
            (Info::Enhancement, Some(Info::Low), None),
        ];
        for (info, severity, want) in cases {
            assert_eq!(
                msrc_severity(&update(info, severity)),
                want,
                "{info:?} {severity:?}"
            );
        }
    }

    #[test]
    fn an_update_becomes_msft_wuupdate() {
        let instance = update_instance(&update(Info::Security, None));
        assert_eq!(
            instance.get("KBArticleID"),
            Some(&Value::Text("CVE-2007-3381".into()))
        );
        assert_eq!(
            instance.get("UpdateID"),
            Some(&Value::Text("kernel;2.6.23;i386;installed".into()))
        );
        assert_eq!(
            instance.get("Title"),
            Some(&Value::Text("kernel 2.6.23: The Linux kernel".into()))
        );
    }

    #[test]
    fn only_the_criteria_windows_clients_send_are_understood() {
        for accepted in [
            "IsInstalled=0",
            " isinstalled = 0 and Type = 'Software' ",
            "IsInstalled=0 AND Type=\"Software\"",
        ] {
            assert_eq!(
                parse_criteria(Some(accepted)).unwrap(),
                Criteria::NotInstalled
            );
        }
        assert_eq!(
            parse_criteria(Some("AutoSelectOnWebSites=1")).unwrap(),
            Criteria::AutoSelected
        );
        for refused in ["IsInstalled=1", "Type='Driver'", "IsInstalled=0 OR 1=1", ""] {
            let fault = parse_criteria(Some(refused)).unwrap_err();
            assert_eq!(fault.wsman_code, hresult::INVALID_CRITERIA, "{refused}");
        }
    }

    #[test]
    fn install_takes_embedded_updates_or_ids_and_refuses_anything_else() {
        let parse = |xml: &str| {
            let root = wsman_proto::xml::parse(xml, &wsman_proto::xml::Limits::default()).unwrap();
            update_ids(Some(&root))
        };
        let ids = parse(
            "<p:InstallUpdates_INPUT xmlns:p=\"u\"><p:Updates><q:UpdateID xmlns:q=\"v\">a;1;x;r</q:UpdateID></p:Updates>\
             <p:Updates>b;2;x;r</p:Updates><p:Updates>a;1;x;r</p:Updates></p:InstallUpdates_INPUT>",
        )
        .unwrap();
        assert_eq!(ids, ["a;1;x;r", "b;2;x;r"]);
        assert!(parse("<p:InstallUpdates_INPUT xmlns:p=\"u\"/>").is_err());
        assert!(parse("<p:InstallUpdates_INPUT xmlns:p=\"u\"><p:Updates>rm -rf</p:Updates></p:InstallUpdates_INPUT>").is_err());
    }
}
