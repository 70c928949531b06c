//! `HostInventory`: the hosts an admin's inventory tool writes, beside `mgmt.toml`. A file of
//! `[[Host]]` tables as `mgmt.toml` holds them, or a directory of such files, one per group:
//! every host of `NAME.toml` is in group `NAME` (besides its own `Groups`), so a role's rule
//! names `group:NAME` for all of them.
//!
//! Who may write it decides which hosts the console reaches with which account's password,
//! so it is read only when no one but root or the service's own account can change it
//! ([`wsman_safe::read_protected`]: not a link, owned by root or the service, not writable by
//! group or others; a directory checked the same way, its files opened relative to it).

use std::path::Path;

use serde::Deserialize;

use super::{is_plain_name, ManagedHost, MgmtError, MAX_SETTINGS_FILE_LEN};

/// One inventory file: `[[Host]]` tables and nothing else.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InventoryFile {
    #[serde(rename = "Host", default)]
    hosts: Vec<ManagedHost>,
}

/// Every host of `path` (a file, or a directory of `*.toml` files), at most `max_hosts` files
/// read; the count of hosts is checked with `mgmt.toml`'s by `validate`.
pub(super) fn read(path: &Path, max_hosts: u32) -> Result<Vec<ManagedHost>, MgmtError> {
    let refused = |source: wsman_safe::PrivateFileError| MgmtError::Io {
        path: path.to_owned(),
        source: source.into_io(),
    };
    let is_dir = std::fs::symlink_metadata(path)
        .map_err(|source| MgmtError::Io {
            path: path.to_owned(),
            source,
        })?
        .is_dir();
    if !is_dir {
        let bytes = wsman_safe::read_protected(path, MAX_SETTINGS_FILE_LEN).map_err(refused)?;
        return parse(path, &bytes, None);
    }
    let files =
        wsman_safe::read_protected_dir(path, ".toml", max_hosts as usize, MAX_SETTINGS_FILE_LEN)
            .map_err(refused)?;
    let mut hosts = Vec::new();
    for (name, bytes) in files {
        let group = name.trim_end_matches(".toml");
        if !is_plain_name(group) {
            return Err(MgmtError::Parse {
                path: path.join(&name),
                message: "a group file is named GROUP.toml, GROUP letters, digits, '-', '_' or '.'"
                    .to_owned(),
            });
        }
        hosts.extend(parse(&path.join(&name), &bytes, Some(group))?);
    }
    Ok(hosts)
}

/// The hosts of one file, each in `group` when given.
fn parse(path: &Path, bytes: &[u8], group: Option<&str>) -> Result<Vec<ManagedHost>, MgmtError> {
    let text = std::str::from_utf8(bytes).map_err(|_| MgmtError::Parse {
        path: path.to_owned(),
        message: "not UTF-8 text".to_owned(),
    })?;
    let file: InventoryFile = toml::from_str(text).map_err(|e| MgmtError::Parse {
        path: path.to_owned(),
        message: e.to_string(),
    })?;
    let mut hosts = file.hosts;
    if let Some(group) = group {
        for host in &mut hosts {
            if !host.groups.iter().any(|g| g == group) {
                host.groups.push(group.to_owned());
            }
        }
    }
    Ok(hosts)
}
