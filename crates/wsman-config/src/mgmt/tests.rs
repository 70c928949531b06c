//! The settings' tests.

use std::net::IpAddr;
use std::path::Path;

use super::*;

#[test]
fn defaults_are_wmsvc_as_installed() {
    let s = MgmtSettings::default();
    assert!(!s.enable_remote_management);
    assert_eq!(s.port, 8172);
    assert_eq!(s.credentials, Credentials::Os);
    s.validate().unwrap();
}

#[test]
fn settings_round_trip_through_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = MgmtSettings::default();
    s.set("Port", "9443").unwrap();
    s.set("DeniedClients", "10.0.0.0/8, ::1").unwrap();
    s.set("Credentials", "os+manager").unwrap();
    s.save(dir.path()).unwrap();
    assert_eq!(MgmtSettings::load(dir.path()).unwrap(), s);
    assert!(s.set("Port", "0").is_err());
    assert!(s.set("DeniedClients", "10.0.0.0/33").is_err());
    assert!(s.set("Nope", "1").is_err());
}

#[test]
fn os_login_settings_default_to_the_admin_group_and_stay_plain_names() {
    let mut s = MgmtSettings::default();
    assert_eq!(s.get("PamService").as_deref(), Some("wsmand"));
    assert_eq!(s.get("OsLoginGroup").as_deref(), Some("wsmand-admins"));
    // A file from before these settings existed reads with the defaults.
    let old = "EnableRemoteManagement = false\nPort = 8172\nBindAddresses = [\"*\"]\n\
               Certificate = \"auto\"\nCredentials = \"os\"\nUnspecifiedClients = \"Allow\"\n\
               AllowedClients = []\nDeniedClients = []\nRequestLog = \"journal\"\n\
               SessionIdleMinutes = 15\nSessionLifetimeHours = 8\n";
    let parsed = MgmtSettings::parse(Path::new("mgmt.toml"), old).unwrap();
    assert_eq!(parsed.os_login_group, "wsmand-admins");
    s.set("OsLoginGroup", "").unwrap();
    assert_eq!(s.get("OsLoginGroup").as_deref(), Some(""));
    for bad in ["../etc", "a b", "-x", "a/b"] {
        assert!(s.set("OsLoginGroup", bad).is_err(), "{bad}");
        assert!(s.set("PamService", bad).is_err(), "{bad}");
    }
    assert!(s.set("PamService", "").is_err());
    assert_eq!(
        s.get("OsLoginGroup").as_deref(),
        Some(""),
        "unchanged by refusals"
    );
    assert_eq!(s.get("PamService").as_deref(), Some("wsmand"));
}

/// Asserts that `decide` allows (`true`) or denies (`false`) each client as its case says.
fn assert_decisions(decide: impl Fn(&str) -> ClientDecision, cases: &[(&str, bool)]) {
    for &(client, allowed) in cases {
        let accepted = match decide(client) {
            ClientDecision::Allowed(_) => true,
            ClientDecision::Denied(_) => false,
        };
        assert_eq!(accepted, allowed, "{client}");
    }
}

#[test]
fn deny_wins_then_allow_then_unspecified() {
    let mut s = MgmtSettings::default();
    s.set("AllowedClients", "10.0.0.0/8,fd00::/8").unwrap();
    s.set("DeniedClients", "10.1.0.0/16").unwrap();
    s.set("UnspecifiedClients", "Deny").unwrap();
    let rules = ClientRules::from_settings(&s).unwrap();
    let ip = |t: &str| t.parse::<IpAddr>().unwrap();
    assert_decisions(
        |client| rules.decide(ip(client)),
        &[
            ("10.2.3.4", true),
            ("10.1.3.4", false),
            ("::ffff:10.1.3.4", false),
            ("fd12::1", true),
            ("192.0.2.1", false),
        ],
    );
    assert!(ClientNet::parse("0.0.0.0/0")
        .unwrap()
        .contains(ip("8.8.8.8")));
}

#[test]
fn domains_match_confirmed_names_at_and_below_them() {
    let mut s = MgmtSettings::default();
    s.set("AllowedDomains", "Example.COM.").unwrap();
    s.set("DeniedDomains", "bad.example.com").unwrap();
    s.set("UnspecifiedClients", "Deny").unwrap();
    assert_eq!(s.get("AllowedDomains").as_deref(), Some("Example.COM."));
    let rules = ClientRules::from_settings(&s).unwrap();
    assert!(rules.needs_name());
    let ip: IpAddr = "192.0.2.9".parse().unwrap();
    let decide = |name: Option<&str>| rules.decide_named(ip, name);
    assert_decisions(
        |name| decide(Some(name)),
        &[
            ("example.com", true),
            ("www.example.com", true),
            ("notexample.com", false),
        ],
    );
    assert_eq!(
        decide(Some("x.bad.example.com")),
        ClientDecision::Denied("DeniedDomains bad.example.com (x.bad.example.com)".into())
    );
    assert!(matches!(decide(None), ClientDecision::Denied(r) if r == "UnspecifiedClients Deny"));
    for bad in ["a b", "-x.com", "a..b", "x/y"] {
        assert!(s.set("DeniedDomains", bad).is_err(), "{bad}");
    }
    assert!(!ClientRules::from_settings(&MgmtSettings::default())
        .unwrap()
        .needs_name());
}

#[test]
fn the_run_lock_shows_a_running_service() {
    let dir = tempfile::tempdir().unwrap();
    assert!(!is_running(dir.path()).unwrap());
    let lock = take_run_lock(dir.path()).unwrap().expect("free");
    assert!(is_running(dir.path()).unwrap());
    drop(lock);
    assert!(!is_running(dir.path()).unwrap());
}

/// The `[[Host]]` example of `docs/management-service.md`, as a newcomer pastes it.
const DOCS_HOST_EXAMPLE: &str = r#"[[Host]]
Name = "web1"                                  # the name in the console's URLs
Url = "https://web1.example.com:5986/wsman"    # wsmand or Windows
Username = "svc-console"                       # the account used on that host
PasswordFile = "/etc/wsmand/hosts/web1.pass"    # mode 0600
AllowUnencrypted = false                       # Basic over plain HTTP (lab only)
SkipCaCheck = false
"#;

#[test]
fn a_file_holding_only_the_docs_host_example_loads_with_every_default() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(MgmtSettings::path_in(dir.path()), DOCS_HOST_EXAMPLE).unwrap();
    let loaded = MgmtSettings::load(dir.path()).unwrap();
    assert_eq!(loaded.hosts.len(), 1);
    assert_eq!(loaded.hosts[0].name, "web1");
    let defaults = MgmtSettings {
        hosts: loaded.hosts.clone(),
        ..MgmtSettings::default()
    };
    assert_eq!(loaded, defaults);
    // An unknown key is still an error, not a silent default.
    let typo = format!("Prot = 8172\n{DOCS_HOST_EXAMPLE}");
    assert!(MgmtSettings::parse(Path::new("mgmt.toml"), &typo).is_err());
}

#[test]
fn set_keeps_the_comments_and_layout_of_hand_written_tables() {
    let dir = tempfile::tempdir().unwrap();
    let path = MgmtSettings::path_in(dir.path());
    let text = format!(
        "# The console of the lab.\nPort = 8172 # WMSVC's\n\n{DOCS_HOST_EXAMPLE}\n\
         # Who may do what.\n[[Role]]\nName = \"ops\"   # the operators\n\
         Members = [\"alice\"]\n\n[[Role.Rule]]\nEffect = \"Allow\"\nHosts = [\"web1\"]\n\
         Resources = [\"*\"]\nActions = [\"read\"]   # read only\n"
    );
    std::fs::write(&path, &text).unwrap();
    let mut settings = MgmtSettings::load(dir.path()).unwrap();
    settings.set("Port", "9443").unwrap();
    settings.set("EnableRemoteManagement", "true").unwrap();
    settings.save(dir.path()).unwrap();
    let saved = std::fs::read_to_string(&path).unwrap();
    for kept in [
        "# The console of the lab.",
        "Port = 9443 # WMSVC's",
        "Name = \"web1\"                                  # the name in the console's URLs",
        "PasswordFile = \"/etc/wsmand/hosts/web1.pass\"    # mode 0600",
        "# Who may do what.",
        "Name = \"ops\"   # the operators",
        "Actions = [\"read\"]   # read only",
    ] {
        assert!(saved.contains(kept), "{kept:?} lost:\n{saved}");
    }
    assert_eq!(MgmtSettings::load(dir.path()).unwrap(), settings);
    // Saving again changes nothing.
    settings.save(dir.path()).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), saved);
}

/// A bad value of each setting: its command-line text and, when the file can hold the same
/// value with the right type, its TOML form. The two must be refused with one error.
const BAD_VALUES: &[(&str, &str, Option<&str>)] = &[
    ("EnableRemoteManagement", "maybe", None),
    ("Port", "0", Some("0")),
    ("Port", "70000", None),
    ("BindAddresses", "", Some("[]")),
    ("BindAddresses", "1.2.3.999", Some("[\"1.2.3.999\"]")),
    ("Certificate", "manual", Some("\"manual\"")),
    ("Certificate", "file", Some("\"file\"")),
    ("Credentials", "OS", None),
    ("UnspecifiedClients", "maybe", None),
    ("AllowedClients", "10.0.0.0/33", Some("[\"10.0.0.0/33\"]")),
    ("DeniedClients", "nothost", Some("[\"nothost\"]")),
    ("AllowedDomains", "a..b", Some("[\"a..b\"]")),
    ("DeniedDomains", "-x.com", Some("[\"-x.com\"]")),
    ("RequestLog", "OFF", None),
    ("RequestLogDirectory", "relative", Some("\"relative\"")),
    ("SessionIdleMinutes", "0", Some("0")),
    ("SessionLifetimeHours", "10001", Some("10001")),
    ("SampleIntervalSeconds", "3601", Some("3601")),
    ("SampleIntervalSeconds", "x", None),
    ("MaxHosts", "0", Some("0")),
    ("MaxHosts", "100001", Some("100001")),
    (
        "HostInventory",
        "relative/hosts.d",
        Some("\"relative/hosts.d\""),
    ),
    ("PamService", "", Some("\"\"")),
    ("OsLoginGroup", "a/b", Some("\"a/b\"")),
];

#[test]
fn a_bad_value_is_refused_alike_by_set_and_by_the_file_and_changes_nothing() {
    let path = Path::new("mgmt.toml");
    for &(name, text, in_file) in BAD_VALUES {
        let mut settings = MgmtSettings::default();
        let refused = settings.set(name, text).expect_err(name).to_string();
        assert!(refused.starts_with(&format!("{name}: ")), "{refused}");
        assert_eq!(settings, MgmtSettings::default(), "{name} {text:?} changed");
        if let Some(value) = in_file {
            let file = MgmtSettings::parse(path, &format!("{name} = {value}\n"));
            assert_eq!(file.expect_err(name).to_string(), refused, "{name} {value}");
        }
    }
    for row in SETTINGS {
        let tested = BAD_VALUES.iter().any(|(name, ..)| *name == row.name);
        let takes_any_path = ["CertificateFile", "KeyFile"].contains(&row.name);
        assert!(
            tested || takes_any_path,
            "{}: no bad value tested",
            row.name
        );
    }
}

#[test]
fn the_table_names_every_scalar_setting_of_the_file_and_nothing_else() {
    let mut all = MgmtSettings::default();
    for (name, text) in [
        ("CertificateFile", "/c.pem"),
        ("KeyFile", "/k.pem"),
        ("AllowedDomains", "example.com"),
        ("DeniedDomains", "example.org"),
        ("RequestLogDirectory", "/var/log/wsmand-mgmt"),
    ] {
        all.set(name, text).unwrap();
        assert_eq!(all.get(name).as_deref(), Some(text));
    }
    all.host_inventory = Some("/etc/wsmand/hosts.d".into());
    let file = toml::Table::try_from(&all).unwrap();
    let mut keys: Vec<&str> = file.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut rows: Vec<&str> = SETTINGS.iter().map(|s| s.name).collect();
    rows.sort_unstable();
    assert_eq!(keys, rows);
}

/// A host table as an inventory tool writes it.
fn host_table(name: &str) -> String {
    format!(
        "[[Host]]\nName = \"{name}\"\nUrl = \"https://{name}:5986/wsman\"\nUsername = \"svc\"\n\
         PasswordFile = \"/etc/wsmand/svc.pass\"\n\n"
    )
}

/// The inventory's hosts join the file's (each in its file's group, which a role may name),
/// are never written back into `mgmt.toml`, and count against `MaxHosts` with the file's.
#[test]
fn inventory_hosts_join_the_file_in_their_group_and_count_against_max_hosts() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let inventory = dir.path().join("hosts.d");
    std::fs::create_dir(&inventory).unwrap();
    std::fs::set_permissions(&inventory, std::fs::Permissions::from_mode(0o755)).unwrap();
    let write = |name: &str, text: &str, mode: u32| {
        let path = inventory.join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    write(
        "web.toml",
        &(host_table("web1") + &host_table("web2")),
        0o644,
    );
    write("db.toml", &host_table("db1"), 0o644);
    let file = format!(
        "HostInventory = \"{}\"\n\n{}[[Role]]\nName = \"web-readers\"\nMembers = [\"os:*\"]\n\
         [[Role.Rule]]\nEffect = \"Allow\"\nHosts = [\"group:web\"]\nResources = [\"*\"]\n\
         Actions = [\"read\"]\n",
        inventory.display(),
        host_table("local")
    );
    std::fs::write(dir.path().join(SETTINGS_FILE_NAME), &file).unwrap();
    let settings = MgmtSettings::load(dir.path()).unwrap();
    assert_eq!(settings.hosts.len(), 1);
    let names: Vec<&str> = settings.all_hosts().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["local", "db1", "web1", "web2"]);
    assert_eq!(settings.inventory[1].groups, ["web"]);
    // Saving a scalar setting writes no inventory host into the file.
    let mut changed = settings.clone();
    changed.set("SessionIdleMinutes", "20").unwrap();
    changed.save(dir.path()).unwrap();
    let text = std::fs::read_to_string(dir.path().join(SETTINGS_FILE_NAME)).unwrap();
    assert!(!text.contains("web1") && text.contains("local"), "{text}");
    // MaxHosts counts both: four hosts are refused at 3.
    std::fs::write(
        dir.path().join(SETTINGS_FILE_NAME),
        format!("MaxHosts = 3\n{file}"),
    )
    .unwrap();
    let refused = MgmtSettings::load(dir.path()).unwrap_err().to_string();
    assert!(refused.contains("MaxHosts = 3"), "{refused}");
    // A host in the inventory and the file both is refused, as twice in the file.
    write("dup.toml", &host_table("local"), 0o644);
    std::fs::write(dir.path().join(SETTINGS_FILE_NAME), &file).unwrap();
    assert!(MgmtSettings::load(dir.path()).is_err());
    std::fs::remove_file(inventory.join("dup.toml")).unwrap();
    // A group file anyone may write is refused, and the hosts are not read.
    write("db.toml", &host_table("db1"), 0o666);
    let refused = MgmtSettings::load(dir.path()).unwrap_err().to_string();
    assert!(refused.contains("write"), "{refused}");
}
