//! One `[[Host]]` or `[[Role]]` entry of `DIR/mgmt.toml` added, changed or removed in place,
//! as the console's manager pages do while the service runs: the file's text is edited with
//! `toml_edit`, so every comment, blank line and key order a person wrote stays, and of a
//! changed entry only the keys whose value changed are rewritten (each keeping its comments).

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Serialize;
use toml_edit::{ArrayOfTables, DocumentMut, Item, Table};

use super::file::{bare, read_bounded};
use super::{invalid, ManagedHost, MgmtError, MgmtSettings, Role, MAX_SETTINGS_FILE_LEN};
use crate::fsutil::write_atomic;

/// One change to the hosts or roles of the file.
#[derive(Clone, Debug)]
pub enum EntryChange {
    /// Adds `entry` (`was: None`: its name must be new) or replaces the host called `was`
    /// (which may rename it).
    PutHost {
        /// The name of the host replaced; none: a new host.
        was: Option<String>,
        /// The host as it is to be.
        entry: ManagedHost,
    },
    /// Removes the host of that name.
    RemoveHost(String),
    /// Adds or replaces a role, as [`EntryChange::PutHost`] does a host.
    PutRole {
        /// The name of the role replaced; none: a new role.
        was: Option<String>,
        /// The role as it is to be.
        entry: Role,
    },
    /// Removes the role of that name.
    RemoveRole(String),
}

impl EntryChange {
    /// The array of tables it changes (`Host` or `Role`) and the entry's name (the new one).
    fn target(&self) -> (&'static str, &str) {
        match self {
            Self::PutHost { entry, .. } => ("Host", &entry.name),
            Self::RemoveHost(name) => ("Host", name),
            Self::PutRole { entry, .. } => ("Role", &entry.name),
            Self::RemoveRole(name) => ("Role", name),
        }
    }
}

impl MgmtSettings {
    /// Applies `change` to `DIR/mgmt.toml` (read now, so a change made meanwhile by hand is
    /// kept), checks the whole result as [`MgmtSettings::load`] would, then writes it
    /// atomically; returns the settings now in the file. On any error the file is unchanged.
    /// Callers serialise their changes (the console holds one lock for them).
    pub fn change_entry(config_dir: &Path, change: &EntryChange) -> Result<Self, MgmtError> {
        let path = Self::path_in(config_dir);
        let text = read_bounded(&path, MAX_SETTINGS_FILE_LEN)
            .map_err(|source| MgmtError::Io {
                path: path.clone(),
                source,
            })?
            .unwrap_or_default();
        let edited = edit_entries(&text, change)?;
        let settings = Self::parse(&path, &edited)?;
        write_atomic(&path, edited.as_bytes(), 0o644)
            .map_err(|source| MgmtError::Io { path, source })?;
        Ok(settings)
    }
}

/// `text` with `change` applied, every other byte kept.
pub fn edit_entries(text: &str, change: &EntryChange) -> Result<String, MgmtError> {
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| invalid("mgmt.toml", e.to_string()))?;
    let (key, name) = change.target();
    let name = name.to_owned();
    if !doc.contains_key(key) {
        doc.insert(key, Item::ArrayOfTables(ArrayOfTables::new()));
    }
    let entries = doc[key].as_array_of_tables_mut().ok_or_else(|| {
        invalid(
            key,
            "written as an inline array: only [[Host]] / [[Role]] tables are edited here",
        )
    })?;
    let index_of = |entries: &ArrayOfTables, wanted: &str| {
        entries
            .iter()
            .position(|t| t.get("Name").and_then(Item::as_str) == Some(wanted))
    };
    let kind = if key == "Host" { "host" } else { "role" };
    match change {
        EntryChange::RemoveHost(_) | EntryChange::RemoveRole(_) => {
            let index = index_of(entries, &name)
                .ok_or_else(|| invalid(key, format!("no {kind} {name:?}")))?;
            entries.remove(index);
            if entries.is_empty() {
                doc.remove(key);
            }
        }
        EntryChange::PutHost { was, entry } => put(entries, kind, was.as_deref(), entry)?,
        EntryChange::PutRole { was, entry } => put(entries, kind, was.as_deref(), entry)?,
    }
    Ok(doc.to_string())
}

/// Adds `entry` to `entries` or merges it into the one called `was`.
fn put<T: Serialize + DeserializeOwned + PartialEq>(
    entries: &mut ArrayOfTables,
    kind: &str,
    was: Option<&str>,
    entry: &T,
) -> Result<(), MgmtError> {
    let fresh = as_table(entry)?;
    let new_name = fresh.get("Name").and_then(Item::as_str).unwrap_or_default();
    let position = |wanted: &str| {
        entries
            .iter()
            .position(|t| t.get("Name").and_then(Item::as_str) == Some(wanted))
    };
    let taken = position(new_name);
    match was {
        None => {
            if taken.is_some() {
                return Err(invalid(
                    "Name",
                    format!("a {kind} {new_name:?} exists already"),
                ));
            }
            let mut table = fresh;
            table.decor_mut().set_prefix("\n");
            entries.push(table);
        }
        Some(old_name) => {
            let index = position(old_name)
                .ok_or_else(|| invalid("Name", format!("no {kind} {old_name:?}")))?;
            if taken.is_some_and(|other| other != index) {
                return Err(invalid(
                    "Name",
                    format!("a {kind} {new_name:?} exists already"),
                ));
            }
            let table = entries
                .get_mut(index)
                .ok_or_else(|| invalid("Name", format!("no {kind} {old_name:?}")))?;
            // A key left out of the file (a default) stays out, and one written out with
            // its default stays in, as long as the entry still reads as `entry`.
            let fits = |table: &Table| {
                let text = DocumentMut::from(table.clone()).to_string();
                toml::from_str::<T>(&text).is_ok_and(|read| read == *entry)
            };
            merge(table, &fresh, &fits);
        }
    }
    Ok(())
}

/// `entry` as a table of its own, with no position in any document (so it is written where
/// it is put, after its neighbours).
fn as_table<T: Serialize>(entry: &T) -> Result<Table, MgmtError> {
    let text = toml::to_string(entry).map_err(|e| invalid("mgmt.toml", e.to_string()))?;
    let doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| invalid("mgmt.toml", e.to_string()))?;
    Ok(detached(doc.as_table()))
}

/// A copy of `table` without decor or positions.
fn detached(table: &Table) -> Table {
    let mut out = Table::new();
    for (key, item) in table.iter() {
        out.insert(key, detached_item(item));
    }
    out
}

fn detached_item(item: &Item) -> Item {
    match item {
        Item::Value(value) => {
            let mut value = value.clone();
            value.decor_mut().clear();
            Item::Value(value)
        }
        Item::Table(table) => Item::Table(detached(table)),
        Item::ArrayOfTables(array) => {
            let mut out = ArrayOfTables::new();
            for table in array.iter() {
                out.push(detached(table));
            }
            Item::ArrayOfTables(out)
        }
        Item::None => Item::None,
    }
}

/// Makes `old` hold what `new` holds, rewriting only what differs: a changed value keeps
/// the comments around it, a new key is appended, a key no longer set is removed; but a key
/// whose adding or removing `fits` says changes nothing (a default) is left as it was.
fn merge(old: &mut Table, new: &Table, fits: &dyn Fn(&Table) -> bool) {
    let had: Vec<String> = old.iter().map(|(key, _)| key.to_owned()).collect();
    for (key, item) in new.iter() {
        match (old.get_mut(key), item) {
            (Some(Item::Value(was)), Item::Value(now)) => {
                if bare(was) != bare(now) {
                    let decor = was.decor().clone();
                    *was = now.clone();
                    *was.decor_mut() = decor;
                }
            }
            (Some(Item::ArrayOfTables(was)), Item::ArrayOfTables(now)) => {
                // Element by element (a role's rules): an unchanged rule keeps its comments.
                while was.len() > now.len() {
                    was.remove(was.len() - 1);
                }
                for (index, table) in now.iter().enumerate() {
                    match was.get_mut(index) {
                        Some(old_table) => merge(old_table, table, &|_| false),
                        None => {
                            let mut table = detached(table);
                            table.decor_mut().set_prefix("\n");
                            was.push(table);
                        }
                    }
                }
            }
            (Some(slot), _) => {
                if !same(slot, item) {
                    *slot = detached_item(item);
                }
            }
            (None, _) => {
                old.insert(key, detached_item(item));
            }
        }
    }
    let gone: Vec<String> = old
        .iter()
        .map(|(key, _)| key.to_owned())
        .filter(|key| !new.contains_key(key))
        .collect();
    for key in &gone {
        let mut without_others = old.clone();
        for other in gone.iter().filter(|other| *other != key) {
            without_others.remove(other);
        }
        if !fits(&without_others) {
            old.remove(key);
        }
    }
    for key in new
        .iter()
        .map(|(key, _)| key)
        .filter(|key| !had.iter().any(|h| h == key))
    {
        let mut trial = old.clone();
        trial.remove(key);
        if fits(&trial) {
            *old = trial;
        }
    }
}

/// The same values, whatever the comments and layout.
fn same(a: &Item, b: &Item) -> bool {
    match (a, b) {
        (Item::Value(x), Item::Value(y)) => bare(x) == bare(y),
        (Item::Table(x), Item::Table(y)) => same_table(x, y),
        (Item::ArrayOfTables(x), Item::ArrayOfTables(y)) => {
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| same_table(p, q))
        }
        (Item::None, Item::None) => true,
        _ => false,
    }
}

fn same_table(x: &Table, y: &Table) -> bool {
    x.len() == y.len()
        && x.iter()
            .all(|(key, item)| y.get(key).is_some_and(|other| same(item, other)))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::mgmt::{Action, DelegationRule, Effect};

    /// A file as a person writes it: comments above, beside and between the entries.
    const COMMENTED: &str = r#"# The console of the lab.
Port = 9443 # not the default

# The web servers.
[[Host]]
Name = "web1" # the first
Url = "https://web1:5986/wsman"
Username = "admin"
PasswordFile = "/etc/wsmand/web1.pw"
Groups = ["web"]

# The database.
[[Host]]
Name = "db1"
Url = "https://db1:5986/wsman"
Username = "admin"
PasswordFile = "/etc/wsmand/db1.pw"

# Who may do what.
[[Role]]
Name = "ops" # operations
Members = ["alice"]

[[Role.Rule]]
Effect = "Allow" # everything
Hosts = ["*"]
Resources = ["*"]
Actions = ["read"]
"#;

    fn host(name: &str, url: &str) -> ManagedHost {
        ManagedHost {
            name: name.to_owned(),
            url: url.to_owned(),
            username: "admin".to_owned(),
            password_file: PathBuf::from(format!("/etc/wsmand/{name}.pw")),
            allow_unencrypted: false,
            skip_ca_check: false,
            groups: Vec::new(),
            run_as: Vec::new(),
        }
    }

    /// `entry` in place of the host named `was` (`None`: a new host).
    fn put_host(was: Option<&str>, entry: ManagedHost) -> EntryChange {
        let was = was.map(str::to_owned);
        EntryChange::PutHost { was, entry }
    }

    /// `entry` in place of the role named `was`.
    fn put_role(was: Option<&str>, entry: Role) -> EntryChange {
        let was = was.map(str::to_owned);
        EntryChange::PutRole { was, entry }
    }

    fn settings(text: &str) -> MgmtSettings {
        MgmtSettings::parse(Path::new("mgmt.toml"), text).expect("valid")
    }

    #[test]
    fn a_new_host_is_appended_after_the_hosts_and_nothing_else_moves() {
        let change = put_host(None, host("app1", "http://app1:5985/wsman"));
        let edited = edit_entries(COMMENTED, &change).unwrap();
        let added = "\n[[Host]]\nName = \"app1\"\nUrl = \"http://app1:5985/wsman\"\n\
                     Username = \"admin\"\nPasswordFile = \"/etc/wsmand/app1.pw\"\n\
                     AllowUnencrypted = false\nSkipCaCheck = false\n";
        let at = COMMENTED.find("\n# Who may do what.").unwrap();
        let expected = format!("{}{added}{}", &COMMENTED[..at], &COMMENTED[at..]);
        assert_eq!(edited, expected);
        assert_eq!(settings(&edited).hosts.len(), 3);
    }

    #[test]
    fn a_changed_host_rewrites_only_its_changed_values() {
        let mut web1 = settings(COMMENTED).hosts[0].clone();
        web1.url = "https://web1.lab:5986/wsman".to_owned();
        let change = put_host(Some("web1"), web1);
        let edited = edit_entries(COMMENTED, &change).unwrap();
        let expected = COMMENTED.replace(
            "Url = \"https://web1:5986/wsman\"",
            "Url = \"https://web1.lab:5986/wsman\"",
        );
        assert_eq!(edited, expected);
    }

    #[test]
    fn a_renamed_host_keeps_its_comment_and_a_taken_name_is_refused() {
        let mut web1 = settings(COMMENTED).hosts[0].clone();
        web1.name = "web9".to_owned();
        let change = put_host(Some("web1"), web1.clone());
        let edited = edit_entries(COMMENTED, &change).unwrap();
        assert_eq!(
            edited,
            COMMENTED.replace("Name = \"web1\" # the first", "Name = \"web9\" # the first")
        );
        web1.name = "db1".to_owned();
        let taken = put_host(Some("web1"), web1);
        assert!(edit_entries(COMMENTED, &taken).is_err());
        let added_twice = put_host(None, host("db1", "https://x/wsman"));
        assert!(edit_entries(COMMENTED, &added_twice).is_err());
    }

    #[test]
    fn a_removed_host_takes_only_its_own_lines() {
        let edited = edit_entries(COMMENTED, &EntryChange::RemoveHost("db1".to_owned())).unwrap();
        let start = COMMENTED.find("\n# The database.").unwrap();
        let end = COMMENTED.find("\n# Who may do what.").unwrap();
        // The comment above an entry belongs to it (toml_edit keeps it as the table's prefix).
        let expected = format!("{}{}", &COMMENTED[..start + 1], &COMMENTED[end + 1..]);
        assert_eq!(edited, expected);
        assert!(edit_entries(COMMENTED, &EntryChange::RemoveHost("nope".to_owned())).is_err());
    }

    #[test]
    fn a_role_edit_keeps_the_rules_comments_when_only_members_change() {
        let mut ops = settings(COMMENTED).roles[0].clone();
        ops.members.push("os:bob".to_owned());
        let change = put_role(Some("ops"), ops.clone());
        let edited = edit_entries(COMMENTED, &change).unwrap();
        assert_eq!(
            edited,
            COMMENTED.replace("Members = [\"alice\"]", "Members = [\"alice\", \"os:bob\"]")
        );
        ops.rules.push(DelegationRule {
            effect: Effect::Deny,
            hosts: vec!["db1".to_owned()],
            resources: vec!["*".to_owned()],
            actions: vec![Action::Change],
        });
        let change = put_role(Some("ops"), ops.clone());
        let members_changed = edited;
        let edited = edit_entries(COMMENTED, &change).unwrap();
        assert_eq!(
            edited,
            format!(
                "{members_changed}\n[[Role.Rule]]\nEffect = \"Deny\"\nHosts = [\"db1\"]\n\
                 Resources = [\"*\"]\nActions = [\"change\"]\n"
            )
        );
        assert_eq!(settings(&edited).roles, vec![ops]);
        let removed = edit_entries(COMMENTED, &EntryChange::RemoveRole("ops".to_owned())).unwrap();
        assert_eq!(
            removed,
            COMMENTED[..COMMENTED.find("\n# Who may do what.").unwrap()]
        );
    }

    #[test]
    fn the_first_entry_of_an_empty_file_and_the_file_written_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = MgmtSettings::path_in(dir.path());
        std::fs::write(&path, "# mine\nPort = 9443\n").unwrap();
        let change = put_host(None, host("web1", "https://web1:5986/wsman"));
        let now = MgmtSettings::change_entry(dir.path(), &change).unwrap();
        assert_eq!(now.hosts.len(), 1);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("# mine\nPort = 9443\n\n[[Host]]\nName = \"web1\"\n"),
            "{text}"
        );
        // A change the whole would refuse leaves the file as it was.
        let bad = put_host(None, host("web 2", "https://x/wsman"));
        assert!(MgmtSettings::change_entry(dir.path(), &bad).is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }
}
