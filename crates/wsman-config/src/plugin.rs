//! `winrm/config/plugin?Name=WMI Provider`: the WMI plug-in's configuration as Windows shows it
//! (a `PlugInConfiguration` document, "WinRM Service Plug-in Configuration"), whose `Security`
//! entries are the descriptors that decide requests for the CIM classes instead of RootSDDL:
//! `Uri=""` for the whole plug-in, `Uri=".../wmi/root/cimv2"` for one namespace. Get shows them
//! (the default one computed, see [`crate::security::default_wmi_sddl`]); Put replaces them
//! with the body's `Security` entries; the rest of the document describes wsmand's CIM engine
//! and cannot be changed. They are stored as `[Security] WmiSDDL` in `config.toml`. This module
//! holds the names; the operations are in `plugin_ops`.

use wsman_proto::ns;
use wsman_proto::operation::WMI_PREFIX;

use crate::security::WMI_PLUGIN_KEY;

/// `winrm/config/plugin`.
pub const PLUGIN_URI: &str = ns::config::PLUGIN;
/// The namespace of a `PlugInConfiguration` document.
pub const PLUGIN_CONFIG_NS: &str = ns::config::PLUGIN_CONFIGURATION;
/// Windows' name of the WMI plug-in (the `Name` selector).
pub const WMI_PLUGIN_NAME: &str = "WMI Provider";
/// Windows' name of the PowerShell plug-in (served by the PowerShell bridge to `pwsh -s`).
pub const POWERSHELL_PLUGIN_NAME: &str = "microsoft.powershell";
/// Windows Server's other default PowerShell session configurations (`Get-PSSessionConfiguration`
/// on 2012 R2 and 2016). Listed, as Windows lists them, so that tools enumerating plug-ins see
/// the same names; `Enabled="false"` because wsmand serves none of them (a Create for one is
/// refused), and they cannot be changed.
pub const UNSERVED_POWERSHELL_CONFIGURATIONS: [&str; 3] = [
    "microsoft.powershell.workflow",
    "microsoft.powershell32",
    "microsoft.windows.servermanagerworkflows",
];
/// The resource of the PowerShell plug-in, as Windows' entry spells it.
pub const POWERSHELL_RESOURCE_URI: &str = ns::POWERSHELL_PLUGIN;
/// The URI `winrm configSDDL` takes for the whole WMI plug-in.
pub const WMI_NAMESPACE_URI: &str = ns::WMI_NAMESPACE;
/// The resource the WMI plug-in serves (its URIs are prefixes, as on Windows).
pub(crate) const WMI_RESOURCE_URI: &str = ns::WMI;
/// The capabilities Windows' WMI plug-in declares.
pub(crate) const CAPABILITIES: &[(&str, Option<&str>)] = &[
    ("Identify", None),
    ("Get", Some("SupportsFragment")),
    ("Put", Some("SupportsFragment")),
    ("Invoke", None),
    ("Create", None),
    ("Delete", None),
    ("Enumerate", Some("SupportsFiltering")),
    ("Subscribe", Some("SupportsFiltering")),
];

/// The `WmiSDDL` key a `Security` entry's `Uri` stands for: `""` and the WmiNamespace URI are
/// the whole plug-in, `.../wmi/<namespace>` one namespace. Also what `winrm configSDDL URI`
/// edits.
pub fn wmi_key_of_uri(uri: &str) -> Option<String> {
    let uri = uri.trim();
    if uri.is_empty() || uri.eq_ignore_ascii_case(WMI_NAMESPACE_URI) {
        return Some(WMI_PLUGIN_KEY.to_owned());
    }
    let head = uri.get(..WMI_PREFIX.len())?;
    if !head.eq_ignore_ascii_case(WMI_PREFIX) {
        return None;
    }
    crate::security::wmi_key(&uri[WMI_PREFIX.len()..]).ok()
}

/// The `Uri` of the `Security` entry for a `WmiSDDL` key.
pub fn uri_of_wmi_key(key: &str) -> String {
    if key == WMI_PLUGIN_KEY {
        String::new()
    } else {
        format!("{WMI_PREFIX}{key}")
    }
}

#[cfg(test)]
#[path = "plugin_tests.rs"]
mod tests;
