//! This machine's WinRM client settings (`winrm/config/client`), read by both tools from the
//! configuration directory the service uses, so that they obey AllowUnencrypted and
//! TrustedHosts like Windows' tools do.

use std::path::{Path, PathBuf};

use crate::failure::Failure;
use crate::ClientSettings;

/// The configuration directory: `flag` (`winrm --config-dir`), else `WSMAND_CONFIG_DIR`, else
/// `/etc/wsmand`.
pub fn config_dir(flag: Option<&Path>) -> PathBuf {
    if let Some(dir) = flag {
        return dir.to_owned();
    }
    match std::env::var_os("WSMAND_CONFIG_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from("/etc/wsmand"),
    }
}

/// The client settings in `dir` (Windows' defaults when there is no config.toml).
pub fn client_settings(dir: &Path) -> Result<ClientSettings, Failure> {
    let store = wsman_config::ConfigStore::open(dir).map_err(|e| {
        Failure::local(format!(
            "cannot read the WinRM client configuration in {}: {e}",
            dir.display()
        ))
    })?;
    let client = &store.config().client;
    Ok(ClientSettings {
        allow_unencrypted: client.allow_unencrypted,
        trusted_hosts: client.trusted_hosts.clone(),
        certs_dir: Some(store.certs_dir()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_come_from_the_client_container() {
        let dir = tempfile::tempdir().unwrap();
        let defaults = client_settings(dir.path()).unwrap();
        assert!(!defaults.allow_unencrypted);
        assert_eq!(defaults.certs_dir, Some(dir.path().join("certs")));
        std::fs::write(
            dir.path().join("config.toml"),
            "[Config.Client]\nAllowUnencrypted = true\nTrustedHosts = \"*.lab\"\n",
        )
        .unwrap();
        let set = client_settings(dir.path()).unwrap();
        assert!(set.allow_unencrypted);
        assert_eq!(set.trusted_hosts, "*.lab");
        std::fs::write(dir.path().join("config.toml"), "[Config.Client\n").unwrap();
        let Err(Failure::Local { message }) = client_settings(dir.path()) else {
            panic!("an unreadable config.toml is a local failure")
        };
        assert!(message.contains("config.toml"), "{message}");
    }

    #[test]
    fn the_flag_wins() {
        assert_eq!(config_dir(Some(Path::new("/x"))), PathBuf::from("/x"));
    }
}
