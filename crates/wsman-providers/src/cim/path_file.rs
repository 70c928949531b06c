//! The small TOML files of the configuration directory that name one path in place of the
//! machine's own (`hardware.toml`'s `sysfs_root`, `host.toml`'s `machine_info`): bounded,
//! their one key checked; the daemon logs a refusal and keeps the default.

use std::path::{Path, PathBuf};

/// Why such a file was refused.
#[derive(Debug, thiserror::Error)]
pub enum PathFileError {
    #[error("{}: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: larger than {limit} bytes", .path.display())]
    TooLarge { path: PathBuf, limit: u64 },
    #[error("{}: {source}", .path.display())]
    Toml {
        path: PathBuf,
        source: toml::de::Error,
    },
    #[error("{}: {key} {} is not {wanted}", .path.display(), .named.display())]
    Unusable {
        path: PathBuf,
        key: &'static str,
        named: PathBuf,
        wanted: &'static str,
    },
}

/// One such file: its name, its key, its size bound and what the path it names must be.
pub(super) struct PathFile {
    pub(super) name: &'static str,
    pub(super) key: &'static str,
    pub(super) limit: u64,
    /// What `usable` checks, for the refusal.
    pub(super) wanted: &'static str,
    pub(super) usable: fn(&Path) -> bool,
}

impl PathFile {
    /// The path `config_dir/NAME` names (read as `T`, whose `named` it is), or `default`
    /// without the file.
    pub(super) fn read<T: serde::de::DeserializeOwned>(
        &self,
        config_dir: &Path,
        default: &str,
        named: fn(T) -> PathBuf,
    ) -> Result<PathBuf, PathFileError> {
        let path = config_dir.join(self.name);
        let read = |source| PathFileError::Read {
            path: path.clone(),
            source,
        };
        let text = match std::fs::metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(default.into()),
            Err(e) => return Err(read(e)),
            Ok(meta) if meta.len() > self.limit => {
                let limit = self.limit;
                return Err(PathFileError::TooLarge { path, limit });
            }
            Ok(_) => std::fs::read_to_string(&path).map_err(read)?,
        };
        let named = match toml::from_str(&text) {
            Ok(file) => named(file),
            Err(source) => return Err(PathFileError::Toml { path, source }),
        };
        if !(self.usable)(&named) {
            let (key, wanted) = (self.key, self.wanted);
            return Err(PathFileError::Unusable {
                path,
                key,
                named,
                wanted,
            });
        }
        Ok(named)
    }
}
