//! The checks a settings file passes before it is used or written.

use super::{invalid, is_plain_name, MgmtError, MgmtSettings};

impl MgmtSettings {
    /// Checks every value: the scalar settings by their table, then the hosts and roles.
    pub fn validate(&self) -> Result<(), MgmtError> {
        self.check_rows()?;
        let count = self.hosts.len() + self.inventory.len();
        if count > self.max_hosts as usize {
            return Err(invalid(
                "Host",
                format!(
                    "{count} hosts (mgmt.toml and HostInventory): at most MaxHosts = {}",
                    self.max_hosts
                ),
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for host in self.all_hosts() {
            let name_ok = !host.name.is_empty()
                && host.name.len() <= 64
                && host
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
            if !name_ok {
                return Err(invalid(
                    "Host.Name",
                    format!("{:?}: 1 to 64 letters, digits, '-', '_' or '.'", host.name),
                ));
            }
            insert_unique(&mut names, "Host.Name", &host.name)?;
            if !(host.url.starts_with("http://") || host.url.starts_with("https://")) {
                return Err(invalid(
                    "Host.Url",
                    format!("{:?}: expected http:// or https://", host.url),
                ));
            }
            for group in &host.groups {
                if group.is_empty() || !is_plain_name(group) {
                    return Err(invalid(
                        "Host.Groups",
                        format!("{group:?}: letters, digits, '-', '_' or '.'"),
                    ));
                }
            }
        }
        self.validate_roles()
    }

    /// Roles name only hosts, groups and run-as accounts that exist (a typo would otherwise
    /// grant or refuse nothing, silently).
    fn validate_roles(&self) -> Result<(), MgmtError> {
        let mut names = std::collections::BTreeSet::new();
        for role in &self.roles {
            if role.name.is_empty() || !is_plain_name(&role.name) {
                return Err(invalid(
                    "Role.Name",
                    format!("{:?}: letters, digits, '-', '_' or '.'", role.name),
                ));
            }
            insert_unique(&mut names, "Role.Name", &role.name)?;
            for member in &role.members {
                let (name, wildcard) = match member.strip_prefix("os-group:") {
                    Some(group) => (group, false),
                    None => (member.strip_prefix("os:").unwrap_or(member), true),
                };
                if name.is_empty()
                    || !((wildcard && name == "*") || is_plain_name(name))
                    || name.len() > 64
                {
                    return Err(invalid(
                        "Role.Members",
                        format!("{member:?}: a manager user, os:NAME, os:* or os-group:NAME"),
                    ));
                }
            }
            if let Some(account) = &role.run_as {
                let known = self
                    .all_hosts()
                    .any(|h| h.run_as.iter().any(|a| &a.username == account));
                if !known {
                    return Err(invalid(
                        "Role.RunAs",
                        format!("{account:?} is no host's RunAs account"),
                    ));
                }
            }
            for rule in &role.rules {
                if rule.hosts.is_empty() || rule.resources.is_empty() || rule.actions.is_empty() {
                    return Err(invalid(
                        "Role.Rule",
                        format!(
                            "role {:?}: Hosts, Resources and Actions may not be empty",
                            role.name
                        ),
                    ));
                }
                for host in &rule.hosts {
                    let known = match host.strip_prefix("group:") {
                        _ if host == "*" => true,
                        Some(group) => self
                            .all_hosts()
                            .any(|h| h.groups.iter().any(|g| g == group)),
                        None => self.all_hosts().any(|h| &h.name == host),
                    };
                    if !known {
                        return Err(invalid(
                            "Role.Rule.Hosts",
                            format!("{host:?}: no such host or group"),
                        ));
                    }
                }
                // A URN names a resource of wsmand's own (the event store's
                // `urn:wsmand:event-store/...`).
                for resource in &rule.resources {
                    if resource != "*"
                        && !["http://", "https://", "urn:"]
                            .iter()
                            .any(|scheme| resource.starts_with(scheme))
                    {
                        return Err(invalid(
                            "Role.Rule.Resources",
                            format!("{resource:?}: a resource URI prefix or *"),
                        ));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Adds `name` to `names`, refusing one already there: entries are found by their name.
fn insert_unique<'a>(
    names: &mut std::collections::BTreeSet<&'a str>,
    key: &str,
    name: &'a str,
) -> Result<(), MgmtError> {
    if names.insert(name) {
        Ok(())
    } else {
        Err(invalid(key, format!("{name:?} appears twice")))
    }
}
