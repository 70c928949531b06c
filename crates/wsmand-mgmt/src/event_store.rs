//! The Events page's reach: which collector's event store a viewer searches and which hosts'
//! events they may see (the console's roles), and the requests to that collector over
//! WS-Management (`docs/event-search.md`), made as any host is reached, through its client as
//! the allowing role's account, so the collector's own descriptor has the last word.
//!
//! The store is the host (or hosts) of the group [`STORE_GROUP`]: the first of them, in name
//! order, whose store the viewer's roles let them read (`read` on
//! `urn:wsmand:event-store/Event`). A host's events are those whose `System/Computer` is the
//! host's name or the host name of its URL (case-insensitively); a viewer sees the events of
//! the hosts their roles let them `read` the EventLog resource of, and of every computer the
//! store holds only when a rule lets them read it on every host (`Hosts = ["*"]`). The store's
//! answers are checked again here: an event of another computer is dropped, whatever the store
//! sent.

use std::collections::BTreeSet;
use std::sync::Arc;

use wsman_client::enumerate::{Filter, FilterBody};
use wsman_client::{EnumerateOptions, Resource};
use wsman_config::mgmt::Action;
use wsman_proto::ns::event_store;
use wsman_proto::xml::Element;

use crate::delegation::{Decision, Subject};
use crate::event_search::{self, Bucket, Search, StoredEvent, PAGE_SIZE};
use crate::hosts::{bounded, Host, HostError};
use crate::manage::Managed;

/// The host group whose members serve the event store the Events page searches.
pub const STORE_GROUP: &str = "event-store";
/// The resource a viewer needs `read` on, on a host, to see that host's stored events (the
/// same as the host's own events page's live stream).
pub const EVENT_LOG_URI: &str = crate::event_stream::EVENT_LOG_URI;
/// Most buckets read of a histogram (the dialect's own bound).
const MAX_BUCKETS: usize = 1000;
/// Most events one live tail's poll reads.
pub const MAX_TAIL: usize = 200;

/// Where a viewer's search goes and what it may cover.
pub struct Scope {
    /// The collector's configured name.
    pub collector_name: String,
    /// Its client, as the allowing role's account.
    pub collector: Arc<Host>,
    /// The console hosts whose events the viewer may read, in name order, with their groups.
    pub hosts: Vec<(String, Vec<String>)>,
    /// Whether a rule lets the viewer read the events of every host (and so of every computer
    /// the store holds, configured here or not).
    pub whole_fleet: bool,
}

/// Why a viewer has no store to search.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// No host is in the group [`STORE_GROUP`].
    #[error("no host is in the group {STORE_GROUP}: add the collector as a host with Groups = [\"{STORE_GROUP}\"]")]
    NoStore,
    /// The roles let the viewer read no collector's store.
    #[error("not allowed: read {} on {host} ({rule})", event_store::EVENTS)]
    Denied {
        /// The first collector.
        host: String,
        /// The rule that decided.
        rule: String,
    },
}

/// The viewer's [`Scope`] under the hosts and roles of `managed`.
pub fn scope(managed: &Managed, subject: Subject<'_>) -> Result<Scope, ScopeError> {
    let policy = &managed.policy;
    let mut refused = None;
    let mut collector = None;
    for host in managed.fleet.hosts() {
        let name = &host.config.name;
        if !host.config.groups.iter().any(|g| g == STORE_GROUP) {
            continue;
        }
        match policy.decide(subject, name, event_store::EVENTS, Action::Read) {
            Decision::Allowed { run_as, rule } => {
                match managed.fleet.get_as(name, run_as.as_deref()) {
                    Some(client) => {
                        collector = Some((name.clone(), Arc::clone(client)));
                        break;
                    }
                    None => {
                        refused.get_or_insert((
                            name.clone(),
                            format!("{rule}: this host has no RunAs account"),
                        ));
                    }
                }
            }
            Decision::Denied { rule } => {
                refused.get_or_insert((name.clone(), rule));
            }
        }
    }
    let Some((collector_name, collector)) = collector else {
        return Err(match refused {
            Some((host, rule)) => ScopeError::Denied { host, rule },
            None => ScopeError::NoStore,
        });
    };
    let hosts = managed
        .fleet
        .hosts()
        .filter(|h| {
            policy
                .decide(subject, &h.config.name, EVENT_LOG_URI, Action::Read)
                .is_allowed()
        })
        .map(|h| (h.config.name.clone(), h.config.groups.clone()))
        .collect();
    let whole_fleet = policy
        .everywhere(subject, EVENT_LOG_URI, Action::Read)
        .is_allowed();
    Ok(Scope {
        collector_name,
        collector,
        hosts,
        whole_fleet,
    })
}

/// The computers a search covers: `None` for every computer the store holds; the names of the
/// hosts chosen (or of every host the viewer may read), lower-cased, otherwise. A chosen host
/// or group the viewer may not read is left out, and named in the problems returned.
pub fn computers(
    scope: &Scope,
    managed: &Managed,
    search: &Search,
) -> (Option<Vec<String>>, Vec<String>) {
    let mut problems = Vec::new();
    if search.hosts.is_empty() && scope.whole_fleet {
        return (None, problems);
    }
    let mut chosen: BTreeSet<&str> = BTreeSet::new();
    if search.hosts.is_empty() {
        chosen.extend(scope.hosts.iter().map(|(name, _)| name.as_str()));
    }
    for wanted in &search.hosts {
        let before = chosen.len();
        match wanted.strip_prefix("group:") {
            Some(group) => chosen.extend(
                scope
                    .hosts
                    .iter()
                    .filter(|(_, groups)| groups.iter().any(|g| g == group))
                    .map(|(name, _)| name.as_str()),
            ),
            None => chosen.extend(
                scope
                    .hosts
                    .iter()
                    .filter(|(name, _)| name == wanted)
                    .map(|(name, _)| name.as_str()),
            ),
        }
        if chosen.len() == before && !scope.hosts.iter().any(|(name, _)| name == wanted) {
            problems.push(format!(
                "{wanted:?} is no host or group of hosts whose events you may read; it is left out."
            ));
        }
    }
    let mut names = BTreeSet::new();
    for name in chosen {
        names.insert(name.to_lowercase());
        if let Some(url_host) = managed
            .fleet
            .get(name)
            .and_then(|h| url_host(&h.config.url))
        {
            names.insert(url_host);
        }
    }
    let names = names
        .into_iter()
        .take(event_search::MAX_COMPUTERS)
        .collect();
    (Some(names), problems)
}

/// The host name of an endpoint URL, lower-cased (what a forwarder there most often calls
/// itself in `System/Computer`), read by the parser the host's client connects with.
fn url_host(url: &str) -> Option<String> {
    let address = wsman_safe::http::HttpAddress::parse(url, false).ok()?;
    Some(address.host.to_lowercase())
}

/// Whether an event of `computer` is one `computers` covers.
pub fn covers(computers: Option<&[String]>, computer: &str) -> bool {
    computers.is_none_or(|names| names.iter().any(|n| n.eq_ignore_ascii_case(computer)))
}

/// An empty list of computers covers nothing: never sent (a `q:Search` without `q:Computer`
/// would match every computer).
fn nothing(computers: Option<&[String]>) -> bool {
    computers.is_some_and(<[String]>::is_empty)
}

fn options(filter: String, max_items: usize) -> EnumerateOptions {
    let mut options = EnumerateOptions::default();
    options.max_items = max_items;
    options.max_elements = u32::try_from(PAGE_SIZE).unwrap_or(50);
    options.filter = Some(Filter {
        dialect: event_store::DIALECT.to_owned(),
        body: FilterBody::Xml(filter),
    });
    options
}

/// The page `search.page` of the matching events, newest first (the pages before it are
/// pulled through and dropped), each checked against `computers`, and whether a page follows.
pub async fn search(
    collector: &Host,
    search: &Search,
    computers: Option<&[String]>,
) -> Result<(Vec<StoredEvent>, bool), HostError> {
    if nothing(computers) {
        return Ok((Vec::new(), false));
    }
    let wanted = search.page * PAGE_SIZE + 1;
    let options = options(search.filter_xml(computers, None), wanted);
    let items = bounded(collector.client().enumerate_first(
        &Resource::new(event_store::EVENTS),
        &options,
        wanted,
    ))
    .await?;
    let more = items.len() == wanted;
    let events = items
        .iter()
        .skip((search.page - 1) * PAGE_SIZE)
        .take(PAGE_SIZE)
        .filter_map(event_search::stored_event)
        .filter(|e| covers(computers, &e.computer))
        .collect();
    Ok((events, more))
}

/// The histogram of the matches, oldest bucket first.
pub async fn histogram(
    collector: &Host,
    search: &Search,
    computers: Option<&[String]>,
) -> Result<Vec<Bucket>, HostError> {
    if nothing(computers) {
        return Ok(Vec::new());
    }
    let mut options = options(search.filter_xml(computers, None), MAX_BUCKETS);
    options.max_elements = u32::try_from(MAX_BUCKETS).unwrap_or(1000);
    let items = bounded(collector.client().enumerate_first(
        &Resource::new(event_store::HISTOGRAM),
        &options,
        MAX_BUCKETS,
    ))
    .await?;
    Ok(items.iter().filter_map(event_search::bucket).collect())
}

/// The newest stored event's id: where a live tail starts.
pub async fn cursor(collector: &Host) -> Result<u64, HostError> {
    let answer = bounded(collector.client().get(&Resource::new(event_store::CURSOR))).await?;
    Ok(event_search::cursor(&answer).unwrap_or(0))
}

/// The matching events stored after `after`, oldest first, and the greatest id the store
/// answered (the next cursor, moved past events dropped here too).
pub async fn tail(
    collector: &Host,
    search: &Search,
    computers: Option<&[String]>,
    after: u64,
) -> Result<(Vec<StoredEvent>, u64), HostError> {
    if nothing(computers) {
        return Ok((Vec::new(), after));
    }
    let options = options(search.filter_xml(computers, Some(after)), MAX_TAIL);
    let items = bounded(collector.client().enumerate_first(
        &Resource::new(event_store::EVENTS),
        &options,
        MAX_TAIL,
    ))
    .await?;
    let read: Vec<StoredEvent> = items
        .iter()
        .filter_map(event_search::stored_event)
        .collect();
    let next = read.iter().map(|e| e.id).max().unwrap_or(after).max(after);
    let shown = read
        .into_iter()
        .filter(|e| covers(computers, &e.computer))
        .collect();
    Ok((shown, next))
}

/// One stored event's full XML (the store's Get by `Id`).
pub async fn full_event(collector: &Host, id: u64) -> Result<Element, HostError> {
    let resource =
        Resource::new(event_store::EVENTS).with_selector(event_store::ID_SELECTOR, id.to_string());
    bounded(collector.client().get(&resource)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use wsman_config::mgmt::MgmtSettings;

    /// Three hosts (web1 in the group web, db1, the collector coll) and two roles: an
    /// administrator of every host, and a viewer of the group web's events and coll's store.
    fn managed(password: &std::path::Path) -> Managed {
        let host = |name: &str, url: &str, groups: &str| {
            format!(
                "[[Host]]\nName = \"{name}\"\nUrl = \"{url}\"\nUsername = \"u\"\n\
                 PasswordFile = \"{}\"\nAllowUnencrypted = true\nGroups = [{groups}]\n",
                password.display()
            )
        };
        let text = format!(
            "EnableRemoteManagement = false\nPort = 8172\nBindAddresses = [\"*\"]\n\
             Certificate = \"auto\"\nCredentials = \"os+manager\"\n\
             UnspecifiedClients = \"Allow\"\nAllowedClients = []\nDeniedClients = []\n\
             RequestLog = \"journal\"\nSessionIdleMinutes = 15\nSessionLifetimeHours = 8\n\
             {}{}{}\
             [[Role]]\nName = \"admins\"\nMembers = [\"admin\"]\n[[Role.Rule]]\n\
             Effect = \"Allow\"\nHosts = [\"*\"]\nResources = [\"*\"]\nActions = [\"read\"]\n\
             [[Role]]\nName = \"viewers\"\nMembers = [\"viewer\"]\n[[Role.Rule]]\n\
             Effect = \"Allow\"\nHosts = [\"group:web\"]\nResources = [\"{EVENT_LOG_URI}\"]\n\
             Actions = [\"read\"]\n[[Role.Rule]]\nEffect = \"Allow\"\nHosts = [\"coll\"]\n\
             Resources = [\"urn:wsmand:event-store\"]\nActions = [\"read\"]\n\
             [[Role]]\nName = \"all-but-db\"\nMembers = [\"almost\"]\n[[Role.Rule]]\n\
             Effect = \"Allow\"\nHosts = [\"*\"]\nResources = [\"*\"]\nActions = [\"read\"]\n\
             [[Role.Rule]]\nEffect = \"Deny\"\nHosts = [\"db1\"]\nResources = [\"{EVENT_LOG_URI}\"]\n\
             Actions = [\"read\"]\n",
            host("web1", "http://WEB1.example.com:5985/wsman", "\"web\""),
            host("db1", "http://db1.example.com:5985/wsman", ""),
            host(
                "coll",
                "http://coll.example.com:5985/wsman",
                "\"event-store\""
            ),
        );
        let settings =
            MgmtSettings::parse(std::path::Path::new("mgmt.toml"), &text).expect("settings");
        Managed {
            fleet: crate::hosts::Fleet::new(&settings.hosts).expect("fleet"),
            policy: crate::delegation::Policy::new(&settings),
            settings,
        }
    }

    /// The viewer's search covers the hosts of the group web only (their names and their URLs'
    /// hosts), a host outside it is named and left out, and nothing left means nothing
    /// searched; the administrator searches every computer; a user of no role reaches no
    /// store.
    #[test]
    fn the_roles_decide_the_store_and_the_computers_searched() {
        let dir = tempfile::tempdir().expect("tempdir");
        let managed = managed_in(dir.path());
        let viewer = crate::sessions::manager_account("viewer");
        let subject = Subject {
            principal: &viewer,
            groups: &[],
        };
        let viewers = scope(&managed, subject).expect("the viewer's store");
        assert_eq!(viewers.collector_name, "coll");
        assert!(!viewers.whole_fleet);
        assert_eq!(viewers.hosts, [("web1".to_owned(), vec!["web".to_owned()])]);
        let (covered, problems) = computers(&viewers, &managed, &Search::parse(""));
        assert_eq!(
            covered,
            Some(vec!["web1".to_owned(), "web1.example.com".to_owned()])
        );
        assert!(problems.is_empty());
        let (covered, problems) = computers_of(&viewers, &managed, "hosts=db1%2Cgroup%3Aweb");
        assert_eq!(covered.map(|c| c.len()), Some(2));
        assert_eq!(problems.len(), 1, "{problems:?}");
        let (covered, problems) = computers_of(&viewers, &managed, "hosts=db1");
        assert_eq!(covered, Some(Vec::new()));
        assert_eq!(problems.len(), 1);

        let admin = crate::sessions::manager_account("admin");
        let subject = Subject {
            principal: &admin,
            groups: &[],
        };
        let scope_of_admin = scope(&managed, subject).expect("the administrator's store");
        assert!(scope_of_admin.whole_fleet);
        assert_eq!(
            computers(&scope_of_admin, &managed, &Search::parse("")).0,
            None
        );
        assert_eq!(
            computers_of(&scope_of_admin, &managed, "hosts=db1").0,
            Some(vec!["db1".to_owned(), "db1.example.com".to_owned()])
        );

        let nobody = crate::sessions::manager_account("nobody");
        let subject = Subject {
            principal: &nobody,
            groups: &[],
        };
        assert!(matches!(
            scope(&managed, subject),
            Err(ScopeError::Denied { host, .. }) if host == "coll"
        ));
    }

    /// A role allowed every host's events but denied db1's: "the whole fleet" is every host
    /// but db1, never every computer the store holds (db1's events would come back under its
    /// own name or its URL's host).
    #[test]
    fn a_deny_on_one_host_narrows_the_whole_fleet() {
        let dir = tempfile::tempdir().expect("tempdir");
        let managed = managed_in(dir.path());
        let almost = crate::sessions::manager_account("almost");
        let subject = Subject {
            principal: &almost,
            groups: &[],
        };
        let scope = scope(&managed, subject).expect("a store");
        assert!(!scope.whole_fleet, "a Deny on db1 leaves no whole fleet");
        let names: Vec<&str> = scope.hosts.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["coll", "web1"]);
        for query in ["", "hosts=db1", "hosts=group%3Aweb%2Cdb1"] {
            let (covered, _) = computers_of(&scope, &managed, query);
            let covered = covered.expect("a list of computers, not every one");
            assert!(
                !covered.iter().any(|c| c.starts_with("db1")),
                "{query}: {covered:?}"
            );
            assert!(!covers(Some(&covered), "DB1.example.com"), "{query}");
        }
    }

    /// [`managed`] with its hosts' password file written in `dir` (0600, as the fleet reads it).
    fn managed_in(dir: &std::path::Path) -> Managed {
        let password = dir.join("password");
        std::fs::write(&password, "secret").expect("password");
        std::fs::set_permissions(
            &password,
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        )
        .expect("chmod");
        managed(&password)
    }

    fn computers_of(
        scope: &Scope,
        managed: &Managed,
        query: &str,
    ) -> (Option<Vec<String>>, Vec<String>) {
        computers(scope, managed, &Search::parse(query))
    }

    #[test]
    fn a_hosts_computer_names_are_its_name_and_its_urls_host() {
        assert_eq!(
            url_host("https://WEB01.example.com:5986/wsman").as_deref(),
            Some("web01.example.com")
        );
        assert_eq!(url_host("http://[::1]:5985/wsman").as_deref(), Some("::1"));
        assert_eq!(url_host("not a url"), None);
        let names = vec!["web01.example.com".to_owned()];
        assert!(covers(Some(&names), "WEB01.example.com"));
        assert!(!covers(Some(&names), "web02.example.com"));
        assert!(!covers(Some(&[]), "web01.example.com"));
        assert!(covers(None, "anything"));
    }
}
