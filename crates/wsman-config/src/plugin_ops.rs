//! Get, Put and Enumerate of `winrm/config/plugin` on [`ConfigStore`] (see [`crate::plugin`]).

use wsman_proto::envelope::SelectorSet;
use wsman_proto::fault::SelectorProblem;
use wsman_proto::xml::{Element, Writer};
use wsman_proto::Fault;

use crate::plugin::{
    uri_of_wmi_key, wmi_key_of_uri, CAPABILITIES, PLUGIN_CONFIG_NS, POWERSHELL_PLUGIN_NAME,
    UNSERVED_POWERSHELL_CONFIGURATIONS, WMI_PLUGIN_NAME, WMI_RESOURCE_URI,
};
use crate::resource::{
    invalid_value, plugin_sddl_fault, unknown_element, unreadable_fault, wmi_sddl_fault, EnumItem,
};
use crate::schema::{Container, SettingKey};
use crate::security::{check_wmi_entries, default_wmi_sddl, WMI_PLUGIN_KEY};
use crate::store::ConfigStore;

/// The plug-ins `winrm/config/plugin` shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Plugin {
    Wmi,
    /// `microsoft.powershell`, bridged to `pwsh -s`; its descriptor is `[Security]
    /// PowerShellSDDL`.
    PowerShell,
    /// One of Windows' other PowerShell configurations: listed, disabled, read-only.
    Unserved(&'static str),
}

/// The plug-in a request names: the WMI plug-in or `microsoft.powershell`.
fn check_name(selectors: &SelectorSet) -> Result<Plugin, Fault> {
    let mut name = None;
    for s in &selectors.0 {
        if !s.name.eq_ignore_ascii_case("Name") {
            return Err(Fault::invalid_selectors(
                SelectorProblem::Unexpected,
                format!("The selector {:?} is not valid for a plug-in. ", s.name),
            ));
        }
        name = Some(match &s.value {
            wsman_proto::envelope::SelectorValue::Text(t) => t.trim().to_owned(),
            wsman_proto::envelope::SelectorValue::Epr(_) => String::new(),
        });
    }
    match name {
        None => Err(Fault::invalid_selectors(
            SelectorProblem::Insufficient,
            "A plug-in is named by the selector Name. ",
        )),
        Some(n) if n.eq_ignore_ascii_case(WMI_PLUGIN_NAME) => Ok(Plugin::Wmi),
        Some(n) if n.eq_ignore_ascii_case(POWERSHELL_PLUGIN_NAME) => Ok(Plugin::PowerShell),
        Some(n) => match UNSERVED_POWERSHELL_CONFIGURATIONS
            .into_iter()
            .find(|u| n.eq_ignore_ascii_case(u))
        {
            Some(unserved) => Ok(Plugin::Unserved(unserved)),
            None => Err(Fault::invalid_selectors(
            SelectorProblem::InvalidValue,
            format!("There is no plug-in {n:?} here: wsmand's plug-ins are {WMI_PLUGIN_NAME:?} and {POWERSHELL_PLUGIN_NAME:?}. "),
            )),
        },
    }
}

impl ConfigStore {
    fn root_sddl(&self) -> String {
        let key = SettingKey {
            container: Container::Service,
            name: "RootSDDL",
        };
        self.value(key)
            .map(|(v, _)| v.to_string())
            .unwrap_or_default()
    }

    /// The document of the WMI plug-in.
    fn render_wmi_plugin(&self) -> String {
        let security = &self.config().security;
        let mut entries: Vec<(String, String)> = security
            .wmi_sddl
            .iter()
            .map(|(k, v)| (uri_of_wmi_key(k), v.clone()))
            .collect();
        if !security.wmi_sddl.contains_key(WMI_PLUGIN_KEY) {
            let default = default_wmi_sddl(&self.root_sddl(), security.wmi_users_gid);
            entries.insert(0, (String::new(), default));
        }
        let mut w = Writer::new();
        w.start(
            "PlugInConfiguration",
            &[
                ("xmlns", PLUGIN_CONFIG_NS),
                ("Name", WMI_PLUGIN_NAME),
                ("Filename", "wsmand"),
                ("SDKVersion", "1"),
                ("XmlRenderingType", "text"),
                ("Enabled", "true"),
            ],
        );
        w.start("Resources", &[]);
        w.start(
            "Resource",
            &[
                ("ResourceUri", WMI_RESOURCE_URI),
                ("SupportsOptions", "true"),
                ("ExactMatch", "false"),
            ],
        );
        for (uri, sddl) in &entries {
            w.start(
                "Security",
                &[("Uri", uri), ("ExactMatch", "false"), ("Sddl", sddl)],
            );
            w.end();
        }
        for (kind, support) in CAPABILITIES {
            match support {
                Some(s) => w.start("Capability", &[("Type", kind), (s, "true")]),
                None => w.start("Capability", &[("Type", kind)]),
            };
            w.end();
        }
        w.finish()
    }

    /// The document of `microsoft.powershell`, in the shape of Windows' entry: its one
    /// `Security` is the descriptor PowerShell shells are checked against (`PowerShellSDDL`,
    /// else its default: Windows' own with the remote users group), its Filename the pwsh it
    /// runs.
    fn render_powershell_plugin(&self) -> String {
        let config = self.config();
        let pwsh = config
            .powershell
            .path
            .as_ref()
            .map_or_else(|| "pwsh".to_owned(), |p| p.display().to_string());
        let sddl = config.security.powershell_sddl();
        render_powershell_entry(POWERSHELL_PLUGIN_NAME, &pwsh, true, &sddl)
    }

    fn render_plugin(&self, plugin: Plugin) -> String {
        match plugin {
            Plugin::Wmi => self.render_wmi_plugin(),
            Plugin::PowerShell => self.render_powershell_plugin(),
            Plugin::Unserved(name) => {
                let sddl = self.config().security.powershell_sddl();
                render_powershell_entry(name, "", false, &sddl)
            }
        }
    }

    pub(crate) fn get_plugin(&self, selectors: &SelectorSet) -> Result<String, Fault> {
        Ok(self.render_plugin(check_name(selectors)?))
    }

    pub(crate) fn enumerate_plugins(&self) -> Vec<EnumItem> {
        [
            (Plugin::Wmi, WMI_PLUGIN_NAME),
            (Plugin::PowerShell, POWERSHELL_PLUGIN_NAME),
        ]
        .into_iter()
        .chain(
            UNSERVED_POWERSHELL_CONFIGURATIONS
                .into_iter()
                .map(|name| (Plugin::Unserved(name), name)),
        )
        .map(|(plugin, name)| EnumItem {
            xml: self.render_plugin(plugin),
            selectors: vec![("Name".to_owned(), name.to_owned())],
        })
        .collect()
    }

    /// Put of `microsoft.powershell`: its one `Security` entry becomes `PowerShellSDDL` (not
    /// stored when it is the default, which follows the remote users group).
    fn put_powershell_plugin(&mut self, body: &Element) -> Result<String, Fault> {
        let mut sddls = Vec::new();
        collect_powershell_security(body, &mut sddls);
        let [sddl] = sddls.as_slice() else {
            return Err(Fault::schema_validation_error(
                "The WS-Management service cannot process the request because the PowerShell plug-in takes exactly one Security entry. ",
            ));
        };
        crate::sddl::validate(sddl).map_err(plugin_sddl_fault)?;
        let sddl = sddl.trim().to_owned();
        if let Some(pinned) = &self.policy.security.powershell_sddl {
            if *pinned != sddl {
                return Err(Fault::config_gpo_controlled("PowerShellSDDL"));
            }
            return Ok(self.render_powershell_plugin());
        }
        let default = crate::default_powershell_sddl(self.config().security.remote_users_gid);
        let mut next = self.stored.clone();
        next.layer.security.powershell_sddl = (sddl != default).then_some(sddl);
        if next != self.stored {
            self.commit(next).map_err(crate::resource::save_fault)?;
        }
        Ok(self.render_powershell_plugin())
    }

    /// Put: the body's `Security` entries become the plug-in's descriptors, all checked before
    /// anything is written. An entry for the whole plug-in equal to the default is not stored
    /// (it would pin RootSDDL's value of today).
    pub(crate) fn put_plugin(
        &mut self,
        selectors: &SelectorSet,
        body: Option<&Element>,
    ) -> Result<String, Fault> {
        let plugin = check_name(selectors)?;
        if let Plugin::Unserved(name) = plugin {
            return Err(Fault::config_readonly(&format!(
                "of the plug-in {name} (wsmand serves no such configuration)"
            )));
        }
        let _writers = self.sync_before_write().map_err(unreadable_fault)?;
        let body = body
            .filter(|b| b.name.eq_ignore_ascii_case("PlugInConfiguration"))
            .ok_or_else(|| unknown_element("(missing PlugInConfiguration)", "the body"))?;
        if plugin == Plugin::PowerShell {
            return self.put_powershell_plugin(body);
        }
        let mut entries = Vec::new();
        collect_security(body, &mut entries)?;
        let refs = entries.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        let mut table = check_wmi_entries(refs).map_err(wmi_sddl_fault)?;
        let default = default_wmi_sddl(&self.root_sddl(), self.config().security.wmi_users_gid);
        if table.get(WMI_PLUGIN_KEY) == Some(&default) {
            table.remove(WMI_PLUGIN_KEY);
        }
        if let Some(pinned) = &self.policy.security.wmi_sddl {
            if *pinned != table {
                return Err(Fault::config_gpo_controlled("WmiSDDL"));
            }
            return Ok(self.render_wmi_plugin());
        }
        let mut next = self.stored.clone();
        next.layer.security.wmi_sddl = (!table.is_empty()).then_some(table);
        if next != self.stored {
            self.commit(next).map_err(crate::resource::save_fault)?;
        }
        Ok(self.render_wmi_plugin())
    }
}

/// A PowerShell configuration's entry, in the shape of Windows' (`Filename` is the program
/// that serves it, empty for one that is not served).
fn render_powershell_entry(name: &str, filename: &str, enabled: bool, sddl: &str) -> String {
    let uri = format!("{}{name}", wsman_proto::ns::POWERSHELL_PREFIX);
    let mut w = Writer::new();
    w.start(
        "PlugInConfiguration",
        &[
            ("xmlns", PLUGIN_CONFIG_NS),
            ("Name", name),
            ("Filename", filename),
            ("SDKVersion", "2"),
            ("XmlRenderingType", "text"),
            ("Enabled", if enabled { "true" } else { "false" }),
            ("OutputBufferingMode", "Block"),
        ],
    );
    w.start("Resources", &[]);
    w.start(
        "Resource",
        &[
            ("ResourceUri", &uri),
            ("SupportsOptions", "true"),
            ("ExactMatch", "true"),
        ],
    );
    w.start(
        "Security",
        &[("Uri", &uri), ("ExactMatch", "true"), ("Sddl", sddl)],
    );
    w.end();
    w.start("Capability", &[("Type", "Shell")]);
    w.end();
    w.finish()
}

/// The `Sddl` of every `Security` entry anywhere in the document.
fn collect_powershell_security(e: &Element, out: &mut Vec<String>) {
    for child in e.elements() {
        if child.name.eq_ignore_ascii_case("Security") {
            out.push(child.attr_ignore_case("Sddl").unwrap_or("").to_owned());
        } else {
            collect_powershell_security(child, out);
        }
    }
}

/// The `Security` entries anywhere in the document, as (`WmiSDDL` key, descriptor).
fn collect_security(e: &Element, out: &mut Vec<(String, String)>) -> Result<(), Fault> {
    for child in e.elements() {
        if child.name.eq_ignore_ascii_case("Security") {
            let uri = child.attr_ignore_case("Uri").unwrap_or("");
            let key = wmi_key_of_uri(uri).ok_or_else(|| {
                invalid_value(
                    "Security Uri",
                    uri,
                    "not a WMI namespace of this plug-in (.../wsman/1/wmi/<namespace>)",
                )
            })?;
            let sddl = child
                .attr_ignore_case("Sddl")
                .ok_or_else(|| invalid_value("Security Sddl", "", "missing"))?;
            out.push((key, sddl.to_owned()));
        } else {
            collect_security(child, out)?;
        }
    }
    Ok(())
}
