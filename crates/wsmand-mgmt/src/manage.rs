//! The hosts and roles as they are now, replaced while the service runs: the manager pages
//! change `DIR/mgmt.toml` (one entry at a time, comments kept, written atomically by
//! `wsman_config::mgmt::EntryChange`) and then swap in the fleet and the policy read from
//! what was written. A request takes the current pair once ([`Live::now`]); a host it holds
//! (a page being read, an open terminal) stays usable after a swap, and an unchanged host
//! keeps its client, so sessions and terminals go on as they were.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use wsman_config::mgmt::{Action, DelegationRule, Effect, EntryChange, MgmtError, MgmtSettings};

use crate::delegation::{Decision, Policy, Subject};
use crate::hosts::Fleet;

/// The resource URI a `manage` rule names: the console's own settings.
pub const MANAGE_RESOURCE: &str = "wsmand:mgmt.toml";
/// The host a `manage` decision is asked for: only a rule whose `Hosts` holds `*` matches it
/// (a rule for some hosts cannot grant editing the roles, which would grant every host).
pub use crate::delegation::EVERY_HOST;
pub use crate::password_files::PASSWORDS_DIR;

/// The configured hosts and the roles, as one unit (a host's groups are the policy's too).
pub struct Managed {
    /// A client per host.
    pub fleet: Fleet,
    /// The roles.
    pub policy: Policy,
    /// The settings they were made from (the manager pages show the entries).
    pub settings: MgmtSettings,
}

/// The current [`Managed`], replaced whole by each change.
pub struct Live {
    current: RwLock<Arc<Managed>>,
    /// Where `mgmt.toml` is.
    config_dir: PathBuf,
    /// One change at a time (read, edit, write, swap).
    writer: tokio::sync::Mutex<()>,
}

/// Why a change was not made: shown in place in the form.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// The file refused it (a value not valid, a name taken) or could not be written.
    #[error("{0}")]
    Settings(#[from] MgmtError),
    /// Written, but a host could not be set up (its password file not readable by the
    /// service): the file is put back.
    #[error("{0:#}")]
    Host(anyhow::Error),
    /// A typed password could not be stored.
    #[error("store the password: {0}")]
    Password(std::io::Error),
}

impl Live {
    /// The hosts and roles of `settings`, read from `config_dir`.
    pub fn new(settings: MgmtSettings, fleet: Fleet, config_dir: PathBuf) -> Self {
        Self {
            current: RwLock::new(Arc::new(Managed {
                fleet,
                policy: Policy::new(&settings),
                settings,
            })),
            config_dir,
            writer: tokio::sync::Mutex::new(()),
        }
    }

    /// The hosts and roles now.
    pub fn now(&self) -> Arc<Managed> {
        Arc::clone(
            &self
                .current
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// The config directory.
    pub fn config_dir(&self) -> &Path {
        &self.config_dir
    }

    /// Makes `change` in the file, then swaps in the fleet and policy it gives. A host whose
    /// client cannot be made (its password not readable) puts the file back as it was.
    pub async fn change(&self, change: &EntryChange) -> Result<Arc<Managed>, ChangeError> {
        let _turn = self.writer.lock().await;
        let path = MgmtSettings::path_in(&self.config_dir);
        let before = std::fs::read(&path).ok();
        let settings = MgmtSettings::change_entry(&self.config_dir, change)?;
        let all_hosts: Vec<_> = settings.all_hosts().cloned().collect();
        let fleet = match self.now().fleet.reload(&all_hosts) {
            Ok(fleet) => fleet,
            Err(error) => {
                if let Some(before) = before {
                    let _ = wsman_config::fsutil::write_atomic(&path, &before, 0o644);
                }
                return Err(ChangeError::Host(error));
            }
        };
        let next = Arc::new(Managed {
            fleet,
            policy: Policy::new(&settings),
            settings,
        });
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::clone(&next);
        let gone = match change {
            EntryChange::RemoveHost(name) => Some(name),
            EntryChange::PutHost {
                was: Some(old),
                entry,
            } if *old != entry.name => Some(old),
            _ => None,
        };
        if let Some(name) = gone {
            self.forget_password(name, &next.settings);
        }
        Ok(next)
    }

    /// Where the host form stores the password of `host`.
    pub fn password_path(&self, host: &str) -> PathBuf {
        self.config_dir.join(PASSWORDS_DIR).join(host)
    }

    /// Deletes the stored password of `host`, removed or renamed, unless an entry of
    /// `settings` still names the file: a password is kept only while a host uses it.
    fn forget_password(&self, host: &str, settings: &MgmtSettings) {
        let path = self.password_path(host);
        let used = settings
            .all_hosts()
            .any(|h| h.password_file == path || h.run_as.iter().any(|a| a.password_file == path));
        if used {
            return;
        }
        match std::fs::remove_file(&path) {
            Ok(()) => tracing::info!(host, "deleted the host's stored password"),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => {
                tracing::warn!(host, %error, "could not delete the host's stored password");
            }
        }
    }

    /// Stores a password typed into the host form as `DIR/mgmt-passwords/HOST` (mode 0600,
    /// owned by the serving user, who reads it back when the fleet is made) and returns its
    /// path, for the host's `PasswordFile`.
    pub fn store_password(&self, host: &str, password: &str) -> Result<PathBuf, ChangeError> {
        use std::os::unix::fs::DirBuilderExt as _;
        let dir = self.config_dir.join(PASSWORDS_DIR);
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(ChangeError::Password)?;
        let path = self.password_path(host);
        wsman_config::fsutil::write_atomic(&path, password.as_bytes(), 0o600)
            .map_err(ChangeError::Password)?;
        Ok(path)
    }
}

/// May `subject` change the hosts and roles? Asked of the policy now in force, for every
/// host with every Deny applied (editing the roles would grant any host).
pub fn may_manage(policy: &Policy, subject: Subject<'_>) -> Decision {
    policy.everywhere(subject, MANAGE_RESOURCE, Action::Manage)
}

/// Comma-separated items, trimmed, empty ones dropped (the forms' lists).
pub fn comma_list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Why a line of the role form's rules was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RuleLineError {
    /// Not four words.
    #[error(
        "Rules line {line}: expected 4 words (Allow|Deny ACTIONS HOSTS RESOURCES), got {words}"
    )]
    Words {
        /// The line's number, from 1.
        line: usize,
        /// How many it has.
        words: usize,
    },
    /// The first word is not an effect.
    #[error("Rules line {line}: {word:?} is not Allow or Deny")]
    Effect {
        /// The line's number, from 1.
        line: usize,
        /// The word.
        word: String,
    },
    /// An action that does not exist.
    #[error("Rules line {line}: {word:?} is not read, change, shell or manage")]
    Action {
        /// The line's number, from 1.
        line: usize,
        /// The word.
        word: String,
    },
}

/// A role's rules from the form's lines, `EFFECT ACTIONS HOSTS RESOURCES` (lists
/// comma-separated; blank lines skipped): what [`rule_line`](crate::manage_pages::rule_line)
/// writes. Untrusted input (a form): property-tested and fuzzed.
pub fn parse_rules(text: &str) -> Result<Vec<DelegationRule>, RuleLineError> {
    let mut rules = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line_number = index + 1;
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.is_empty() {
            continue;
        }
        let [effect, actions, hosts, resources] = words[..] else {
            return Err(RuleLineError::Words {
                line: line_number,
                words: words.len(),
            });
        };
        let effect = match effect.to_ascii_lowercase().as_str() {
            "allow" => Effect::Allow,
            "deny" => Effect::Deny,
            _ => {
                return Err(RuleLineError::Effect {
                    line: line_number,
                    word: effect.to_owned(),
                })
            }
        };
        let actions = comma_list(actions)
            .into_iter()
            .map(|word| {
                [
                    Action::Read,
                    Action::Change,
                    Action::Shell,
                    Action::Manage,
                    Action::Update,
                    Action::Reboot,
                ]
                .into_iter()
                .find(|known| known.name() == word)
                .ok_or(RuleLineError::Action {
                    line: line_number,
                    word,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        rules.push(DelegationRule {
            effect,
            hosts: comma_list(hosts),
            resources: comma_list(resources),
            actions,
        });
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manage_pages::rule_line;
    use proptest::prelude::*;

    #[test]
    fn rule_lines_read_back_as_the_form_shows_them() {
        let rules = parse_rules("Allow read,change group:web,db1 *\n\n deny shell * x ").unwrap();
        assert_eq!(rules.len(), 2);
        assert_eq!(rules[0].actions, vec![Action::Read, Action::Change]);
        assert_eq!(rules[0].hosts, vec!["group:web", "db1"]);
        assert_eq!(rules[1].effect, Effect::Deny);
        let shown: Vec<String> = rules.iter().map(rule_line).collect();
        assert_eq!(
            shown,
            ["Allow read,change group:web,db1 *", "Deny shell * x"]
        );
        assert_eq!(
            parse_rules("Allow read *"),
            Err(RuleLineError::Words { line: 1, words: 3 })
        );
        assert!(matches!(
            parse_rules("\nPermit read * *"),
            Err(RuleLineError::Effect { line: 2, .. })
        ));
        assert!(matches!(
            parse_rules("Allow write * *"),
            Err(RuleLineError::Action { line: 1, .. })
        ));
        // The Updates page's rights, written on the form as in mgmt.toml.
        let patch = parse_rules("Allow update,reboot group:web *").unwrap();
        assert_eq!(patch[0].actions, vec![Action::Update, Action::Reboot]);
        assert_eq!(rule_line(&patch[0]), "Allow update,reboot group:web *");
    }

    proptest! {
        #[test]
        fn any_text_parses_or_is_refused_and_what_parses_reads_back(text in "\\PC{0,300}") {
            if let Ok(rules) = parse_rules(&text) {
                let lines: Vec<String> = rules.iter().map(rule_line).collect();
                // A rule with an empty list has no line of four words to read back.
                if rules.iter().all(|r| !r.actions.is_empty() && !r.hosts.is_empty() && !r.resources.is_empty()) {
                    prop_assert_eq!(parse_rules(&lines.join("\n")), Ok(rules));
                }
            }
        }
    }
}
