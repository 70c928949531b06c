//! Delegation: which user may do what (read, change, open a shell) with which resource URIs on
//! which hosts, and as which account on the host. Deny by default: a user no role names, or a
//! request no Allow rule matches, is refused; a matching Deny rule of any of the user's roles
//! wins over every Allow. Each answer names the rule that decided, for the audit line.

use std::collections::BTreeMap;

use wsman_config::mgmt::{Action, DelegationRule, Effect, MgmtSettings, Role};
use wsman_principal::{Principal, PrincipalKind};

use crate::sessions::{manager_account, Session};

/// The host a decision for "every host" is asked for: only a rule whose `Hosts` holds `*`
/// matches it. Never asked alone: [`Policy::everywhere`] adds every Deny of the subject's roles.
pub const EVERY_HOST: &str = "*";

/// WMI's root/cimv2 as a resource URI prefix.
pub const CIMV2: &str = wsman_proto::ns::WMI_CIMV2_PREFIX;
/// The `winrm/config` resource.
pub const CONFIG_URI: &str = wsman_proto::ns::CONFIG;

/// The resource URI of a CIM class in root/cimv2.
pub fn cim_class(class: &str) -> String {
    format!("{CIMV2}{class}")
}

/// Who asks: the logged-in principal (a console manager account or a Linux user).
#[derive(Clone, Copy, Debug)]
pub struct Subject<'a> {
    /// The principal that logged in.
    pub principal: &'a Principal,
    /// An OS user's Linux groups by name, as the OS reported them at login.
    pub groups: &'a [String],
}

/// The answer, with the rule that decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Allowed by `rule`, done on the host as `run_as` (none: the host's own account).
    Allowed {
        /// The deciding rule, as log lines show it.
        rule: String,
        /// The allowing role's run-as account.
        run_as: Option<String>,
    },
    /// Refused by `rule`.
    Denied {
        /// The deciding rule, or that none allowed it.
        rule: String,
    },
}

impl Session {
    /// The user as the delegation rules see them.
    pub fn subject(&self) -> Subject<'_> {
        Subject {
            principal: self.owner.principal(),
            groups: &self.groups,
        }
    }
}

impl Decision {
    /// Whether the answer allows (the pages only ask yes or no).
    pub fn is_allowed(&self) -> bool {
        matches!(self, Decision::Allowed { .. })
    }
}

/// The roles, read once at start, with each host's groups.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    roles: Vec<Role>,
    groups: BTreeMap<String, Vec<String>>,
}

/// Whether `subject` is one of `role`'s members: `os-group:NAME`, `os:*` and `os:NAME` name
/// Linux users, a bare name a console manager account; compared on the principal, so a member
/// of one kind never matches the other kind's user of that name.
fn member(role: &Role, subject: Subject<'_>) -> bool {
    let os = subject.principal.kind() == PrincipalKind::LinuxUser;
    role.members.iter().any(|m| {
        if let Some(group) = m.strip_prefix("os-group:") {
            return os && subject.groups.iter().any(|g| g == group);
        }
        match m.strip_prefix("os:") {
            Some("*") => os,
            Some(name) => *subject.principal == Principal::linux_user(name),
            None => *subject.principal == manager_account(m),
        }
    })
}

/// Whether `rule` is about `action` on `resource` (a URI prefix, or `*`), on whichever hosts.
fn names(rule: &DelegationRule, resource: &str, action: Action) -> bool {
    rule.actions.contains(&action)
        && rule
            .resources
            .iter()
            .any(|r| r == "*" || resource.starts_with(r.as_str()))
}

fn describe(role: &Role, index: usize, rule: &DelegationRule) -> String {
    let (actions, hosts, resources) = rule_lists(rule);
    format!(
        "role {} rule {} ({:?} {actions} on {hosts} for {resources})",
        role.name,
        index + 1,
        rule.effect,
    )
}

/// A rule's actions, hosts and resources, each list comma-separated, as decisions and the
/// role form show them.
pub(crate) fn rule_lists(rule: &DelegationRule) -> (String, String, String) {
    let actions: Vec<&str> = rule.actions.iter().map(|a| a.name()).collect();
    (
        actions.join(","),
        rule.hosts.join(","),
        rule.resources.join(","),
    )
}

impl Policy {
    /// The roles of `settings`, each `os:NAME` member under the account's canonical name from
    /// NSS (where NSS ignores case, `os:ALICE` is the account `alice`, whom a login as `ALICE`
    /// becomes too); a name NSS does not know is kept as written.
    pub fn new(settings: &MgmtSettings) -> Self {
        let mut roles = settings.roles.clone();
        for member in roles.iter_mut().flat_map(|role| role.members.iter_mut()) {
            let Some(name) = member.strip_prefix("os:").filter(|n| *n != "*") else {
                continue;
            };
            if let Ok(Some(account)) = wsman_os::lookup_user(name) {
                if account.name != name {
                    *member = format!("os:{}", account.name);
                }
            }
        }
        Self {
            roles,
            groups: settings
                .all_hosts()
                .map(|h| (h.name.clone(), h.groups.clone()))
                .collect(),
        }
    }

    fn host_matches(&self, pattern: &str, host: &str) -> bool {
        match pattern.strip_prefix("group:") {
            _ if pattern == "*" => true,
            Some(group) => self
                .groups
                .get(host)
                .is_some_and(|groups| groups.iter().any(|g| g == group)),
            None => pattern == host,
        }
    }

    fn matches(&self, rule: &DelegationRule, host: &str, resource: &str, action: Action) -> bool {
        names(rule, resource, action) && rule.hosts.iter().any(|h| self.host_matches(h, host))
    }

    /// May `subject` do `action` with `resource` on `host`? Deny rules of every role the
    /// subject holds are checked first, then Allow rules in file order.
    pub fn decide(
        &self,
        subject: Subject<'_>,
        host: &str,
        resource: &str,
        action: Action,
    ) -> Decision {
        let roles: Vec<&Role> = self.roles.iter().filter(|r| member(r, subject)).collect();
        for effect in [Effect::Deny, Effect::Allow] {
            for role in &roles {
                for (index, rule) in role.rules.iter().enumerate() {
                    if rule.effect == effect && self.matches(rule, host, resource, action) {
                        let rule = describe(role, index, rule);
                        return match effect {
                            Effect::Deny => Decision::Denied { rule },
                            Effect::Allow => Decision::Allowed {
                                rule,
                                run_as: role.run_as.clone(),
                            },
                        };
                    }
                }
            }
        }
        Decision::Denied {
            rule: if roles.is_empty() {
                "default (no role names this user)".to_owned()
            } else {
                "default (no rule allows it)".to_owned()
            },
        }
    }

    /// May `subject` do `action` with `resource` on every host, configured or not (the whole
    /// fleet: every computer of the event store, the console's own records, its settings)?
    /// Only when a rule allows it on `*` and no Deny of any of the subject's roles names the
    /// resource and action on any host or group: a Deny on one host leaves no whole fleet,
    /// only the hosts each decided one by one. The one answer to "everywhere": a decision on
    /// [`EVERY_HOST`] alone would miss a Deny on `db1`.
    pub fn everywhere(&self, subject: Subject<'_>, resource: &str, action: Action) -> Decision {
        let roles = self.roles.iter().filter(|r| member(r, subject));
        for role in roles {
            for (index, rule) in role.rules.iter().enumerate() {
                if rule.effect == Effect::Deny && names(rule, resource, action) {
                    return Decision::Denied {
                        rule: format!(
                            "{} (a Deny leaves no whole fleet)",
                            describe(role, index, rule)
                        ),
                    };
                }
            }
        }
        self.decide(subject, EVERY_HOST, resource, action)
    }

    /// Whether the fleet shows `host` to `subject`: it may read the host's operating system
    /// (what the fleet row and the overview show).
    pub fn sees_host(&self, subject: Subject<'_>, host: &str) -> Decision {
        self.decide(
            subject,
            host,
            &cim_class("Win32_OperatingSystem"),
            Action::Read,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(text: &str) -> Result<MgmtSettings, wsman_config::mgmt::MgmtError> {
        let base = "EnableRemoteManagement = false\nPort = 8172\nBindAddresses = [\"*\"]\n\
                    Certificate = \"auto\"\nCredentials = \"os+manager\"\n\
                    UnspecifiedClients = \"Allow\"\nAllowedClients = []\nDeniedClients = []\n\
                    RequestLog = \"journal\"\nSessionIdleMinutes = 15\nSessionLifetimeHours = 8\n\
                    [[Host]]\nName = \"web1\"\nUrl = \"http://a/wsman\"\nUsername = \"u\"\n\
                    PasswordFile = \"/p\"\nGroups = [\"web\"]\n\
                    RunAs = [{ Username = \"ops\", PasswordFile = \"/q\" }]\n\
                    [[Host]]\nName = \"db1\"\nUrl = \"http://b/wsman\"\nUsername = \"u\"\n\
                    PasswordFile = \"/p\"\n";
        MgmtSettings::parse(std::path::Path::new("mgmt.toml"), &format!("{base}{text}"))
    }

    fn settings(text: &str) -> MgmtSettings {
        parse(text).expect("settings")
    }

    /// The principal `user` of `kind` (`manager` or `os`).
    fn who(user: &str, kind: &str) -> Principal {
        match kind {
            "os" => Principal::linux_user(user),
            _ => manager_account(user),
        }
    }

    /// A subject in no OS group.
    const fn ungrouped(principal: &Principal) -> Subject<'_> {
        Subject {
            principal,
            groups: &[],
        }
    }

    #[test]
    fn deny_by_default_then_deny_wins_over_allow() {
        let policy = Policy::new(&settings(
            "[[Role]]\nName = \"web-readers\"\nMembers = [\"alice\", \"os:*\"]\nRunAs = \"ops\"\n\
             [[Role.Rule]]\nEffect = \"Allow\"\nHosts = [\"group:web\"]\nResources = [\"*\"]\n\
             Actions = [\"read\", \"change\"]\n\
             [[Role.Rule]]\nEffect = \"Deny\"\nHosts = [\"*\"]\n\
             Resources = [\"http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_Service\"]\n\
             Actions = [\"change\"]\n",
        ));
        let service = cim_class("Win32_Service");
        let alice = who("alice", "manager");
        let manager = ungrouped(&alice);
        assert_eq!(
            policy.decide(manager, "web1", &service, Action::Read),
            Decision::Allowed {
                rule: "role web-readers rule 1 (Allow read,change on group:web for *)".into(),
                run_as: Some("ops".into())
            }
        );
        assert!(matches!(
            policy.decide(manager, "web1", &service, Action::Change),
            Decision::Denied { rule } if rule.starts_with("role web-readers rule 2 (Deny")
        ));
        assert!(policy
            .decide(manager, "web1", &cim_class("Win32_Process"), Action::Change)
            .is_allowed());
        assert!(matches!(
            policy.decide(manager, "db1", &service, Action::Read),
            Decision::Denied { rule } if rule == "default (no rule allows it)"
        ));
        assert!(matches!(
            policy.decide(manager, "web1", CONFIG_URI, Action::Shell),
            Decision::Denied { .. }
        ));
        // A manager user no role names, and an OS user of the same name, are different people.
        let bob = who("bob", "manager");
        let bob = ungrouped(&bob);
        assert!(matches!(
            policy.sees_host(bob, "web1"),
            Decision::Denied { rule } if rule.contains("no role")
        ));
        let os_alice = who("alice", "os");
        let os_alice = ungrouped(&os_alice);
        assert!(policy.sees_host(os_alice, "web1").is_allowed());
        // os-group:NAME: OS users whose login groups include NAME, never a manager user.
        let policy_with_group = Policy::new(
            &parse(
                "[[Role]]\nName = \"ops\"\nMembers = [\"os-group:web-ops\"]\n[[Role.Rule]]\n\
                 Effect = \"Allow\"\nHosts = [\"db1\"]\nResources = [\"*\"]\nActions = [\"read\"]\n",
            )
            .expect("parses"),
        );
        let in_group = ["users".to_owned(), "web-ops".to_owned()];
        for (kind, groups, allowed) in [
            ("os", &in_group[..], true),
            ("os", &in_group[..1], false),
            ("manager", &in_group[..], false),
        ] {
            let carol = who("carol", kind);
            let subject = Subject {
                principal: &carol,
                groups,
            };
            assert_eq!(
                policy_with_group.sees_host(subject, "db1").is_allowed(),
                allowed,
                "{kind} {groups:?}"
            );
        }
        let manager_named_like_os = who("os:*", "manager");
        let manager_named_like_os = ungrouped(&manager_named_like_os);
        assert!(matches!(
            policy.sees_host(manager_named_like_os, "web1"),
            Decision::Denied { .. }
        ));
    }

    #[test]
    fn roles_naming_unknown_hosts_groups_or_accounts_are_refused() {
        let role = |rule_hosts: &str, run_as: &str| {
            format!(
                "[[Role]]\nName = \"r\"\nMembers = [\"alice\"]\n{run_as}\n[[Role.Rule]]\n\
                 Effect = \"Allow\"\nHosts = [{rule_hosts}]\nResources = [\"*\"]\nActions = [\"read\"]\n"
            )
        };
        let base = parse;
        assert!(base(&role("\"web1\"", "")).is_ok());
        assert!(base(&role("\"group:web\"", "RunAs = \"ops\"")).is_ok());
        assert!(base(&role("\"web2\"", "")).is_err());
        assert!(base(&role("\"group:nope\"", "")).is_err());
        assert!(base(&role("\"web1\"", "RunAs = \"root\"")).is_err());
    }

    /// "Everywhere" holds only while no Deny of the subject's roles names the resource and
    /// action on any host or group; a Deny of another resource or action leaves it.
    #[test]
    fn a_deny_anywhere_leaves_no_whole_fleet() {
        let allow_all = "[[Role]]\nName = \"r\"\nMembers = [\"alice\"]\n[[Role.Rule]]\n\
                         Effect = \"Allow\"\nHosts = [\"*\"]\nResources = [\"*\"]\n\
                         Actions = [\"read\", \"change\"]\n";
        let deny = |hosts: &str, resource: &str, action: &str| {
            format!(
                "{allow_all}[[Role.Rule]]\nEffect = \"Deny\"\nHosts = [\"{hosts}\"]\n\
                 Resources = [\"{resource}\"]\nActions = [\"{action}\"]\n"
            )
        };
        let service = cim_class("Win32_Service");
        let alice = who("alice", "manager");
        let alice = ungrouped(&alice);
        for (text, everywhere) in [
            (allow_all.to_owned(), true),
            (deny("db1", &service, "read"), false),
            (deny("group:web", "*", "read"), false),
            (deny("db1", &service, "change"), true),
            (deny("db1", CONFIG_URI, "read"), true),
        ] {
            let policy = Policy::new(&settings(&text));
            assert_eq!(
                policy
                    .everywhere(alice, &service, Action::Read)
                    .is_allowed(),
                everywhere,
                "{text}"
            );
            // Host by host, the same policy still allows web1.
            assert!(
                policy
                    .decide(alice, "web1", &service, Action::Read)
                    .is_allowed()
                    || text.contains("group:web")
            );
        }
    }

    /// `update` and `reboot` come only from a rule that names them: a role of `read`,
    /// `change` and `shell` (an operator, a viewer) gets neither, and a patching role may
    /// update without rebooting.
    #[test]
    fn update_and_reboot_are_granted_only_by_rules_naming_them() {
        let policy = Policy::new(&settings(
            "[[Role]]\nName = \"ops\"\nMembers = [\"alice\"]\n[[Role.Rule]]\n\
             Effect = \"Allow\"\nHosts = [\"*\"]\nResources = [\"*\"]\n\
             Actions = [\"read\", \"change\", \"shell\"]\n\
             [[Role]]\nName = \"patch\"\nMembers = [\"bob\"]\n[[Role.Rule]]\n\
             Effect = \"Allow\"\nHosts = [\"*\"]\nResources = [\"*\"]\n\
             Actions = [\"read\", \"update\"]\n",
        ));
        let wu = crate::updates::wu_class("MSFT_WUOperations");
        let os = cim_class("Win32_OperatingSystem");
        let allowed = |user: &str, resource: &str, action: Action| {
            let principal = who(user, "manager");
            policy
                .decide(ungrouped(&principal), "web1", resource, action)
                .is_allowed()
        };
        assert!(!allowed("alice", &wu, Action::Update));
        assert!(!allowed("alice", &os, Action::Reboot));
        assert!(allowed("bob", &wu, Action::Update));
        assert!(!allowed("bob", &os, Action::Reboot));
        assert!(!allowed("bob", &cim_class("Win32_Service"), Action::Change));
    }

    proptest! {
        /// Whatever the request, a user no role names is refused.
        #[test]
        fn nobody_without_a_role_is_allowed(host in "[a-z0-9.]{0,12}", resource in "\\PC{0,60}", user in "[a-z]{1,8}") {
            let policy = Policy::new(&settings(
                "[[Role]]\nName = \"all\"\nMembers = [\"root-admin\"]\n[[Role.Rule]]\n\
                 Effect = \"Allow\"\nHosts = [\"*\"]\nResources = [\"*\"]\n\
                 Actions = [\"read\", \"change\", \"shell\"]\n",
            ));
            for action in [Action::Read, Action::Change, Action::Shell, Action::Update, Action::Reboot] {
                for kind in ["manager", "os"] {
                    let principal = who(&user, kind);
                    let subject = ungrouped(&principal);
                    let denied = matches!(
                        policy.decide(subject, &host, &resource, action),
                        Decision::Denied { .. }
                    );
                    prop_assert!(denied);
                }
            }
        }
    }
}
