//! Where the runtime files of a configuration directory go: the daemon's control socket and
//! the writers' lock files, which last only while a process holds them and so belong under
//! `/run`, not among the configuration in `/etc`.
//!
//! The rule is a function of the configuration directory alone, so the daemon and a local
//! `winrm --config-dir DIR` or `wsmand account` (run by hand, without the unit's environment)
//! always agree: the default `/etc/wsmand` has `/run/wsmand` (the unit's
//! `RuntimeDirectory=wsmand`, made here too when the daemon runs without systemd); any other
//! directory (a test's, a second instance's) keeps its runtime files inside itself, so two
//! instances never share a socket or a lock.

use std::fs::DirBuilder;
use std::io;
use std::os::unix::fs::DirBuilderExt as _;
use std::path::{Path, PathBuf};

/// The configuration directory of a packaged install.
pub const DEFAULT_CONFIG_DIR: &str = "/etc/wsmand";
/// The runtime directory of [`DEFAULT_CONFIG_DIR`].
pub const DEFAULT_RUNTIME_DIR: &str = "/run/wsmand";

/// The runtime directory of `config_dir`.
pub fn dir(config_dir: &Path) -> PathBuf {
    if config_dir == Path::new(DEFAULT_CONFIG_DIR) {
        PathBuf::from(DEFAULT_RUNTIME_DIR)
    } else {
        config_dir.to_owned()
    }
}

/// [`dir`], made (mode 0755, as systemd makes it) when missing.
pub fn ensure_dir(config_dir: &Path) -> io::Result<PathBuf> {
    let dir = dir(config_dir);
    DirBuilder::new().recursive(true).mode(0o755).create(&dir)?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_directory_has_its_runtime_files_under_run() {
        assert_eq!(dir(Path::new("/etc/wsmand")), Path::new("/run/wsmand"));
        assert_eq!(dir(Path::new("/etc/wsmand/")), Path::new("/run/wsmand"));
        assert_eq!(dir(Path::new("/srv/w")), Path::new("/srv/w"));
    }
}
