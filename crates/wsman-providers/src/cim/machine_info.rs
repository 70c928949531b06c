//! Where Linux keeps a machine's description: `PRETTY_HOSTNAME` in `/etc/machine-info`, the
//! file `hostnamectl set-hostname --pretty` writes (through systemd-hostnamed, which reads the
//! file again on every request, so a change written here is what it answers next).
//! Windows' `Win32_OperatingSystem.Description` (the computer description) is read from and
//! written to it. The daemon writes the file itself, atomically (temp file, fsync, rename),
//! keeping its other lines: no bus or polkit is needed, and a host without systemd-hostnamed is
//! served the same. `DIR/host.toml` may name another file (`machine_info = "/path"`): the
//! tests' own, never the machine's.

use std::path::{Path, PathBuf};

use wsman_proto::Fault;

use super::path_file::{PathFile, PathFileError};

/// The file hostnamectl writes.
pub const MACHINE_INFO: &str = "/etc/machine-info";

/// The key of the machine's description in it.
const PRETTY_HOSTNAME: &str = "PRETTY_HOSTNAME";

/// Longest description accepted, in characters: Windows' limit of a computer description
/// (`srvcomment`) is 256 characters.
pub const MAX_DESCRIPTION: usize = 256;

/// Longest `host.toml` and `machine-info` read (both are a few lines).
const MAX_FILE: u64 = 64 * 1024;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct HostFile {
    machine_info: PathBuf,
}

/// `host.toml`: a relative path is refused.
const HOST_FILE: PathFile = PathFile {
    name: "host.toml",
    key: "machine_info",
    limit: MAX_FILE,
    wanted: "an absolute path",
    usable: Path::is_absolute,
};

/// The machine-info file `config_dir/host.toml` names, `/etc/machine-info` without the file.
pub fn machine_info_path(config_dir: &Path) -> Result<PathBuf, PathFileError> {
    HOST_FILE.read(config_dir, MACHINE_INFO, |file: HostFile| file.machine_info)
}

/// The file's text; empty when it does not exist (a machine without a description).
fn read_text(path: &Path) -> std::io::Result<String> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(e),
        Ok(meta) if meta.len() > MAX_FILE => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "larger than 64 KiB",
        )),
        Ok(_) => std::fs::read_to_string(path),
    }
}

/// The machine's description (`None`: none set, or the file unreadable).
pub fn description(path: &Path) -> Option<String> {
    let text = read_text(path).ok()?;
    text.lines().rev().find_map(|line| {
        let value = line
            .trim_start()
            .strip_prefix(PRETTY_HOSTNAME)?
            .strip_prefix('=')?;
        Some(unquote(value.trim_end())).filter(|v| !v.is_empty())
    })
}

/// Whether `value` may be a description: at most [`MAX_DESCRIPTION`] characters and no
/// control character (a line break would add a line, another key, to the file).
pub fn check_description(value: &str) -> Result<(), Fault> {
    if value.chars().count() > MAX_DESCRIPTION {
        return Err(invalid(format!(
            "The Description is longer than {MAX_DESCRIPTION} characters. "
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(invalid(
            "The Description may not contain control characters. ".to_owned(),
        ));
    }
    Ok(())
}

fn invalid(message: String) -> Fault {
    Fault::invalid_representation("InvalidValues", message)
}

/// Replace the description (an empty one removes the line, as hostnamectl does), keeping the
/// file's other lines; written atomically, mode 0644 as hostnamectl leaves it.
pub fn set_description(path: &Path, value: &str) -> std::io::Result<()> {
    let text = read_text(path)?;
    let mut out = String::with_capacity(text.len() + value.len() + 20);
    for line in text.lines() {
        let key = line.trim_start().split('=').next().unwrap_or("");
        if key != PRETTY_HOSTNAME {
            out.push_str(line);
            out.push('\n');
        }
    }
    if !value.is_empty() {
        out.push_str(&format!("{PRETTY_HOSTNAME}={}\n", quote(value)));
    }
    wsman_config::fsutil::write_atomic(path, out.as_bytes(), 0o644)
}

/// A value as systemd's environment files quote it: in double quotes, with `\`, `"`, `` ` ``
/// and `$` escaped.
fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        if matches!(c, '\\' | '"' | '`' | '$') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// A value read back: double or single quotes removed, escapes undone in double quotes.
fn unquote(value: &str) -> String {
    if let Some(inner) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        return inner.to_owned();
    }
    let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
        return value.to_owned();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match (c, chars.clone().next()) {
            ('\\', Some(next)) => {
                out.push(next);
                chars.next();
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_description_is_written_beside_the_other_keys_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("machine-info");
        std::fs::write(
            &path,
            "CHASSIS=vm\nPRETTY_HOSTNAME=\"old\"\nLOCATION=rack 4\n",
        )
        .unwrap();
        let value = "Web \"front\" $HOME \\ `x`";
        set_description(&path, value).unwrap();
        assert_eq!(description(&path).as_deref(), Some(value));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("CHASSIS=vm\nLOCATION=rack 4\nPRETTY_HOSTNAME="),
            "{text}"
        );
        set_description(&path, "").unwrap();
        assert_eq!(description(&path), None);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "CHASSIS=vm\nLOCATION=rack 4\n"
        );
    }

    #[test]
    fn line_breaks_and_long_descriptions_are_refused() {
        assert!(check_description("a\nCHASSIS=server").is_err());
        assert!(check_description(&"x".repeat(MAX_DESCRIPTION + 1)).is_err());
        assert!(check_description(&"é".repeat(MAX_DESCRIPTION)).is_ok());
    }

    #[test]
    fn host_toml_names_an_absolute_file() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            machine_info_path(dir.path()).unwrap(),
            PathBuf::from(MACHINE_INFO)
        );
        std::fs::write(dir.path().join("host.toml"), "machine_info = \"rel\"\n").unwrap();
        assert!(machine_info_path(dir.path()).is_err());
        std::fs::write(dir.path().join("host.toml"), "machine_info = \"/x/mi\"\n").unwrap();
        assert_eq!(
            machine_info_path(dir.path()).unwrap(),
            PathBuf::from("/x/mi")
        );
    }
}
