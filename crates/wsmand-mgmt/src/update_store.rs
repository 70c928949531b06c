//! The Updates page's figures kept across a restart of the console: each host's pending and
//! security counts, reboot flag and last scan and install, in `DIR/mgmt-update-state.json`
//! beside `mgmt.toml` (as the Events page's saved views), written whole by the serving user (the atomic writer of `wsman-safe`) when
//! a figure changes and read back at start. What a host is doing now is not kept: a restart
//! ends the console's jobs. The file is bounded ([`MAX_FILE_BYTES`], [`MAX_HOSTS`]); one that
//! is larger, or not such a map, is ignored (logged) and replaced at the next change, since the
//! next scan finds the figures again.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The file's name in the configuration directory.
pub const FILE_NAME: &str = "mgmt-update-state.json";
/// Largest file read.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;
/// Most hosts kept (a host's entry is about 150 bytes).
pub const MAX_HOSTS: usize = 20_000;

/// What is kept of one host: the figures of its `updates::UpdateState`, which holds one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Kept {
    /// Updates pending at the last scan.
    pub pending: Option<usize>,
    /// Of those, security updates (`MsrcSeverity` set, as Windows sets it only for them).
    pub security: Option<usize>,
    /// `IsPendingReboot`, or an install's `RebootRequired`.
    pub reboot_needed: Option<bool>,
    /// `GetLastScanSuccessDate`, seconds since 1970.
    pub last_scan: Option<i64>,
    /// `GetLastUpdateInstallationDate`, seconds since 1970.
    pub last_install: Option<i64>,
}

/// The figures kept at `path`: none when there is no file, or when it cannot be read, is
/// larger than [`MAX_FILE_BYTES`] or is not a map of host names to figures (each logged).
pub fn read(path: &Path) -> BTreeMap<String, Kept> {
    let bytes = match crate::event_views::read_bounded(path, MAX_FILE_BYTES) {
        Ok(None) => return BTreeMap::new(),
        Ok(Some(bytes)) if bytes.len() as u64 > MAX_FILE_BYTES => {
            tracing::warn!(path = %path.display(), "the kept update figures are larger than {MAX_FILE_BYTES} bytes: ignored");
            return BTreeMap::new();
        }
        Ok(Some(bytes)) => bytes,
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "the kept update figures cannot be read: ignored");
            return BTreeMap::new();
        }
    };
    match serde_json::from_slice::<BTreeMap<String, Kept>>(&bytes) {
        Ok(kept) => kept.into_iter().take(MAX_HOSTS).collect(),
        Err(error) => {
            tracing::warn!(path = %path.display(), %error, "the kept update figures are not a map of hosts' figures: ignored");
            BTreeMap::new()
        }
    }
}

/// Writes `figures` (the first [`MAX_HOSTS`] hosts with any) to `path`.
pub fn write<'a>(
    path: &Path,
    figures: impl Iterator<Item = (&'a str, Kept)>,
) -> std::io::Result<()> {
    let kept: BTreeMap<&str, Kept> = figures
        .filter(|(_, kept)| *kept != Kept::default())
        .take(MAX_HOSTS)
        .collect();
    let bytes = serde_json::to_vec(&kept).map_err(std::io::Error::other)?;
    wsman_safe::write_atomic(path, &bytes, 0o600)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_or_oversized_file_is_ignored_and_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(FILE_NAME);
        assert!(read(&path).is_empty(), "no file yet");
        for bad in [
            b"[1,2]".to_vec(),
            br#"{"web1":{"pending":"three"}}"#.to_vec(),
            br#"{"web1":{"script":1}}"#.to_vec(),
            vec![b' '; MAX_FILE_BYTES as usize + 1],
        ] {
            std::fs::write(&path, &bad).expect("write");
            assert!(read(&path).is_empty());
        }
        let figures = Kept {
            pending: Some(0),
            ..Kept::default()
        };
        write(
            &path,
            [("web1", figures), ("web2", Kept::default())].into_iter(),
        )
        .expect("write");
        let again = read(&path);
        assert_eq!(again.get("web1"), Some(&figures));
        assert!(
            !again.contains_key("web2"),
            "a host with no figures is not written"
        );
    }
}
