//! The `[PowerShell]` extension of `config.toml` (not part of winrm/config; `winrm` does not see
//! it): where the PowerShell plug-in (`microsoft.powershell`) finds `pwsh`, which it runs in
//! server mode (`pwsh -s`) for each PowerShell shell. Unset, `pwsh` is looked up on the
//! service's PATH at each Create; a Create without a pwsh fails with a fault naming it.
//!
//! ```toml
//! [PowerShell]
//! Path = "/opt/microsoft/powershell/7/pwsh"
//! ```

use std::fmt::Write as _;
use std::path::PathBuf;

/// The effective `[PowerShell]` values.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PowerShellConfig {
    /// The pwsh to run; `None`: `pwsh` on PATH.
    pub path: Option<PathBuf>,
}

/// Why a `[PowerShell]` key of config.toml is refused (the caller adds file and line).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PowerShellValueError {
    #[error("PowerShell.Path must be an absolute path")]
    Path,
    #[error("unknown key {key:?} in [PowerShell] (expected Path)")]
    UnknownKey { key: String },
}

/// `[PowerShell]` as one file sets it (unset keys are `None`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct PowerShellLayer {
    pub(crate) path: Option<String>,
}

impl PowerShellLayer {
    /// Values of `other` win.
    pub(crate) fn overlay(&mut self, other: &PowerShellLayer) {
        overlay_fields!(self, other: path);
    }

    /// Set one key from its TOML value; the error is the reason (the caller adds file/line).
    pub(crate) fn set(
        &mut self,
        key: &str,
        value: &toml_edit::Value,
    ) -> Result<(), PowerShellValueError> {
        match key {
            "Path" => {
                let path = value
                    .as_str()
                    .filter(|p| p.starts_with('/') && !p.contains('\0'))
                    .ok_or(PowerShellValueError::Path)?;
                self.path = Some(path.to_owned());
            }
            other => {
                return Err(PowerShellValueError::UnknownKey {
                    key: other.to_owned(),
                })
            }
        }
        Ok(())
    }

    pub(crate) fn resolve(&self) -> PowerShellConfig {
        PowerShellConfig {
            path: self.path.as_ref().map(PathBuf::from),
        }
    }

    /// The `[PowerShell]` table as written back to `config.toml` (nothing when nothing is set).
    pub(crate) fn render(&self, out: &mut String, quote: impl Fn(&str) -> String) {
        if let Some(path) = &self.path {
            let _ = write!(out, "\n[PowerShell]\nPath = {}\n", quote(path));
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::toml_value as value;

    #[test]
    fn path_is_checked_and_rendered_back() {
        let mut layer = PowerShellLayer::default();
        assert_eq!(layer.resolve().path, None);
        for bad in ["\"pwsh\"", "1", "\"\""] {
            assert!(layer.set("Path", &value(bad)).is_err(), "{bad}");
        }
        assert!(layer.set("Other", &value("\"/x\"")).is_err());
        layer.set("Path", &value("\"/opt/pwsh\"")).unwrap();
        assert_eq!(layer.resolve().path, Some(PathBuf::from("/opt/pwsh")));
        let mut out = String::new();
        layer.render(&mut out, |s| format!("{s:?}"));
        assert_eq!(out, "\n[PowerShell]\nPath = \"/opt/pwsh\"\n");
    }
}
