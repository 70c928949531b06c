//! The hosts a `-r:` names: one host (`-r:HOST`, as Windows' tools take it), a comma list
//! (`-r:h1,h2`), a file (`-r:@hosts.txt`: one host or URL per line, `#` comments and blank
//! lines ignored) or a host group of the client configuration (`-r:web`, a name of the
//! `[groups]` table of `DIR/groups.toml`):
//!
//! ```toml
//! [groups]
//! web = ["web1.example.com", "https://web2.example.com:5986"]
//! db = ["db1", "db2:5985"]
//! ```
//!
//! A group or a file may name files and groups too (`"@more.txt"`, `"db"`), up to
//! [`MAX_DEPTH`] deep; each host appears once, in the order first named. Why a file of its own
//! next to `config.toml` rather than a table in it: `config.toml` is the service's
//! `winrm/config` tree, rewritten by `winrm set`; host groups are the client's, edited by hand.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::SwitchError;

/// The file of host groups in the configuration directory.
pub const GROUPS_FILE: &str = "groups.toml";
/// Most hosts one `-r:` may name: a bound on what a hosts file can make this process hold.
pub const MAX_TARGETS: usize = 10_000;
/// Largest hosts or groups file read.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// How deep files and groups may name other files and groups.
pub const MAX_DEPTH: usize = 4;

/// What a `-r:` value names.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Remote {
    /// One host, given as such: the tools behave exactly as with Windows' `-r:`.
    Single(String),
    /// A list, a file or a group (even of one host): the fan-out form, every host's result
    /// labelled with the host as written.
    Many(Vec<String>),
}

/// Host groups by name (`[groups]` of [`GROUPS_FILE`]).
pub type Groups = BTreeMap<String, Vec<String>>;

/// Parse the text of a groups file.
pub fn parse_groups(text: &str) -> Result<Groups, SwitchError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        #[serde(default)]
        groups: Groups,
    }
    let file: File = toml::from_str(text)
        .map_err(|e| SwitchError::new(format!("{GROUPS_FILE}: {}", e.message())))?;
    Ok(file.groups)
}

/// The groups of `dir/groups.toml`; none when the file does not exist.
pub fn read_groups(dir: &Path) -> Result<Groups, SwitchError> {
    let path = dir.join(GROUPS_FILE);
    match read_bounded(&path) {
        Ok(text) => parse_groups(&text)
            .map_err(|e| SwitchError::new(format!("{}: {}", path.display(), e.message))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Groups::new()),
        Err(e) => Err(SwitchError::new(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

fn read_bounded(path: &Path) -> std::io::Result<String> {
    let file = std::fs::File::open(path)?;
    let mut text = String::new();
    file.take(MAX_FILE_BYTES + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "larger than {MAX_FILE_BYTES} bytes"
        )));
    }
    Ok(text)
}

/// The entries of a hosts file's text with their line numbers (from 1).
fn numbered_hosts(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(index, line)| {
            let entry = line.split_once('#').map_or(line, |(before, _)| before);
            (index + 1, entry.trim())
        })
        .filter(|(_, entry)| !entry.is_empty())
}

/// Whether a hosts file's entry can name anything: another file, a group, or a host or URL
/// the client parses. Checked as the file is read, so that a file that is no hosts file
/// (`-r:@/etc/shadow`) is refused by its line number, and no error shows its content.
fn is_host_entry(entry: &str, groups: &Groups) -> bool {
    entry.starts_with('@')
        || groups.contains_key(entry)
        || wsman_client::Endpoint::parse(entry, false).is_ok()
}

/// What `-r:VALUE` names. `groups` are the client's host groups ([`read_groups`]); a file
/// named `@PATH` is read relative to the current directory.
pub fn resolve(value: &str, groups: &Groups) -> Result<Remote, SwitchError> {
    let value = value.trim();
    let many = value.contains(',') || value.starts_with('@') || groups.contains_key(value);
    if !many {
        return Ok(Remote::Single(value.to_owned()));
    }
    let mut hosts = Vec::new();
    expand(value, groups, 0, &mut hosts)?;
    if hosts.is_empty() {
        return Err(SwitchError::new(format!("-r:{value} names no host")));
    }
    Ok(Remote::Many(hosts))
}

fn expand(
    value: &str,
    groups: &Groups,
    depth: usize,
    hosts: &mut Vec<String>,
) -> Result<(), SwitchError> {
    if depth > MAX_DEPTH {
        return Err(SwitchError::new(format!(
            "-r: files and groups nest deeper than {MAX_DEPTH} (a loop?)"
        )));
    }
    for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        if let Some(path) = item.strip_prefix('@') {
            let path = PathBuf::from(path);
            let text = read_bounded(&path).map_err(|e| {
                SwitchError::new(format!("-r:@{}: cannot read it: {e}", path.display()))
            })?;
            for (number, entry) in numbered_hosts(&text) {
                if !is_host_entry(entry, groups) {
                    return Err(SwitchError::new(format!(
                        "-r:@{}: line {number} is not a host name or URL",
                        path.display()
                    )));
                }
                expand(entry, groups, depth + 1, hosts)?;
            }
        } else if let Some(members) = groups.get(item) {
            for member in members {
                expand(member, groups, depth + 1, hosts)?;
            }
        } else if !hosts.iter().any(|h| h == item) {
            if hosts.len() == MAX_TARGETS {
                return Err(SwitchError::new(format!(
                    "-r: names more than {MAX_TARGETS} hosts"
                )));
            }
            hosts.push(item.to_owned());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn many(list: &[&str]) -> Remote {
        Remote::Many(list.iter().map(|s| (*s).to_owned()).collect())
    }

    #[test]
    fn a_single_host_stays_single() {
        for value in ["host", "https://h:5986/wsman", "[::1]:5985", "10.0.0.1"] {
            assert_eq!(
                resolve(value, &Groups::new()),
                Ok(Remote::Single(value.to_owned()))
            );
        }
    }

    #[test]
    fn comma_lists_keep_order_and_drop_repeats() {
        assert_eq!(
            resolve("b, a,,http://c:1/wsman,b", &Groups::new()),
            Ok(many(&["b", "a", "http://c:1/wsman"]))
        );
        assert!(resolve(",", &Groups::new()).is_err());
    }

    /// Writes `text` as `dir/name`; returns the `-r:@FILE` value naming it.
    fn hosts_file(dir: &std::path::Path, name: &str, text: &str) -> String {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        format!("@{}", path.display())
    }

    #[test]
    fn hosts_files_skip_comments_and_blank_lines() {
        let dir = tempfile::tempdir().unwrap();
        let text = "# the web tier\nweb1\n\n  web2:5985  # second\r\nhttps://web3\n   \n#web4\n";
        let value = hosts_file(dir.path(), "hosts.txt", text);
        assert_eq!(
            resolve(&value, &Groups::new()),
            Ok(many(&["web1", "web2:5985", "https://web3"]))
        );
        assert!(resolve("@/nonexistent/hosts.txt", &Groups::new()).is_err());
    }

    /// A file that is no hosts file is refused by line number; no error carries a byte of it
    /// (`-r:@/etc/shadow` once printed root's hash), nested or not.
    #[test]
    fn errors_about_a_hosts_file_never_show_its_content() {
        let dir = tempfile::tempdir().unwrap();
        let shadow = "web1\nroot:$6$s4lt$h4sh:19000:0:99999:7:::\nbin:*:19000::::::\n";
        let secret = hosts_file(dir.path(), "shadow", shadow);
        let outer = hosts_file(dir.path(), "outer.txt", &format!("web0\n{secret}\n"));
        let loop_file = dir.path().join("loop.txt");
        std::fs::write(&loop_file, format!("@{}\n", loop_file.display())).unwrap();
        for (value, expected) in [
            (secret, "line 2 is not a host name or URL"),
            (outer, "line 2 is not a host name or URL"),
            (format!("@{}", loop_file.display()), "nest deeper"),
        ] {
            let error = resolve(&value, &Groups::new()).unwrap_err().message;
            assert!(error.contains(expected), "{error}");
            for fragment in ["root:", "s4lt", "h4sh", "bin:", "19000"] {
                assert!(!error.contains(fragment), "{error}");
            }
        }
        // The system's own: whatever its first line, the error does not show it.
        if let Ok(text) = std::fs::read_to_string("/etc/shadow") {
            let first = text.lines().next().unwrap_or_default();
            if let Err(error) = resolve("@/etc/shadow", &Groups::new()) {
                assert!(
                    first.is_empty() || !error.message.contains(first),
                    "{error:?}"
                );
                assert!(!error.message.contains("root:"), "{error:?}");
            }
        }
    }

    #[test]
    fn groups_expand_and_nest_but_not_forever() {
        let groups = parse_groups(
            "[groups]\nweb = [\"w1\", \"w2\"]\nall = [\"web\", \"db1\", \"w1\"]\nloop = [\"loop\"]\n",
        )
        .unwrap();
        assert_eq!(resolve("web", &groups), Ok(many(&["w1", "w2"])));
        assert_eq!(resolve("all", &groups), Ok(many(&["w1", "w2", "db1"])));
        assert_eq!(
            resolve("all,x", &groups),
            Ok(many(&["w1", "w2", "db1", "x"]))
        );
        assert!(resolve("loop", &groups).is_err());
        assert_eq!(
            resolve("other", &groups),
            Ok(Remote::Single("other".to_owned()))
        );
    }

    #[test]
    fn bad_groups_files_are_refused() {
        assert!(parse_groups("[groups]\nweb = \"w1\"\n").is_err());
        assert!(parse_groups("[grups]\nweb = [\"w1\"]\n").is_err());
        assert_eq!(parse_groups("").unwrap(), Groups::new());
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_groups(dir.path()).unwrap(), Groups::new());
        std::fs::write(dir.path().join(GROUPS_FILE), "[groups]\nweb = [\"w1\"]\n").unwrap();
        assert_eq!(
            read_groups(dir.path()).unwrap()["web"],
            vec!["w1".to_owned()]
        );
    }

    #[test]
    fn the_number_of_hosts_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hosts.txt");
        let text: String = (0..=MAX_TARGETS).map(|i| format!("h{i}\n")).collect();
        std::fs::write(&path, text).unwrap();
        assert!(resolve(&format!("@{}", path.display()), &Groups::new()).is_err());
    }
}
