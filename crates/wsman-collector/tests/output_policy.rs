//! The node's outputs policy (`[outputs]`) on subscriptions as their text gives them, the
//! Kafka property allow list every subscription passes, and the secret files outputs name.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use wsman_collector::store::config::read_secret_file;
use wsman_collector::subscriptions::{parse, OutputConfig, OutputSettingError, SubscriptionError};
use wsman_outputs::output_policy::{OutputsPolicy, PolicyError};
use wsman_outputs::secrets::{read_secret, SecretBinding, SecretBindings, SecretError};

const QUERY: &str =
    r#"query = '<QueryList><Query Id="0"><Select Path="Security">*</Select></Query></QueryList>'"#;

fn outputs(text: &str) -> Vec<OutputConfig> {
    parse(Path::new("s.toml"), &format!("{QUERY}\n{text}"))
        .expect("parses")
        .outputs
}

fn policy() -> OutputsPolicy {
    OutputsPolicy {
        file_directories: vec!["/var/log/wec".into()],
        destinations: vec![
            "kafka1.example.com:9093".to_owned(),
            "siem.example.com:6514".to_owned(),
            "Redis.Example.com:6379".to_owned(),
            "[::1]:7000".to_owned(),
        ],
        tls_directories: vec!["/etc/wsmand/tls".into()],
        // Where the secrets the rows name may go: Kafka's over TLS, Redis' in clear.
        secrets: SecretBindings(BTreeMap::from([
            (
                "kafka-prod".to_owned(),
                SecretBinding {
                    destinations: vec!["kafka1.example.com:9093".to_owned()],
                    require_tls: true,
                },
            ),
            (
                "redis-prod".to_owned(),
                SecretBinding {
                    destinations: vec!["redis.example.com:6379".to_owned()],
                    require_tls: false,
                },
            ),
        ])),
    }
}

fn file(path: &str) -> String {
    format!("[[outputs]]\ntype = \"file\"\npath = \"{path}\"\nformat = \"raw\"\n")
}

#[test]
fn file_outputs_only_under_a_listed_directory() {
    let policy = policy();
    for allowed in [
        "/var/log/wec/{subscription}/{client}.log",
        "/var/log/wec/all.log",
        "/var/log//wec/./x.log",
    ] {
        assert!(policy.admit(&outputs(&file(allowed))).is_ok(), "{allowed}");
    }
    for refused in [
        "/etc/cron.d/wec",
        "/var/log/wec2/x.log",
        "/var/log/wec",
        "/var/log/{subscription}/x.log",
    ] {
        let error = policy.admit(&outputs(&file(refused))).expect_err(refused);
        assert!(
            matches!(error, PolicyError::FileOutside(_)),
            "{refused}: {error}"
        );
        assert!(error.to_string().contains("file_directories"), "{error}");
    }
    // Nothing listed: no file output at all.
    assert!(OutputsPolicy::default()
        .admit(&outputs(&file("/var/log/wec/x.log")))
        .is_err());
}

#[test]
fn network_outputs_only_to_listed_destinations() {
    let policy = policy();
    let tcp = |address: &str| format!("[[outputs]]\ntype = \"tcp\"\naddress = \"{address}\"\n");
    let kafka = |brokers: &str| {
        format!("[[outputs]]\ntype = \"kafka\"\nbrokers = [{brokers}]\ntopic = \"wec\"\n")
    };
    let redis =
        |url: &str| format!("[[outputs]]\ntype = \"redis\"\nurl = \"{url}\"\nkey = \"k\"\n");
    for allowed in [
        tcp("siem.example.com:6514"),
        tcp("SIEM.example.com:6514"),
        tcp("[::1]:7000"),
        kafka("\"kafka1.example.com:9093\""),
        redis("redis://redis.example.com:6379/2"),
        redis("redis://redis.example.com"),
    ] {
        assert!(policy.admit(&outputs(&allowed)).is_ok(), "{allowed}");
    }
    for refused in [
        tcp("siem.example.com:6515"),
        tcp("attacker.example.net:6514"),
        kafka("\"kafka1.example.com:9093\", \"kafka9.example.net:9093\""),
        redis("redis://127.0.0.1:6379"),
    ] {
        let error = policy.admit(&outputs(&refused)).expect_err(&refused);
        assert!(
            matches!(error, PolicyError::Destination { .. }),
            "{refused}: {error}"
        );
        assert!(error.to_string().contains("destinations"), "{error}");
    }
}

#[test]
fn a_stored_subscription_holds_no_password() {
    let policy = policy();
    let literal_kafka = "[[outputs]]\ntype = \"kafka\"\nbrokers = [\"kafka1.example.com:9093\"]\ntopic = \"wec\"\n[outputs.properties]\n\"sasl.password\" = \"hunter2\"\n";
    let literal_redis =
        "[[outputs]]\ntype = \"redis\"\nurl = \"redis://:hunter2@redis.example.com:6379\"\nkey = \"k\"\n";
    for refused in [literal_kafka, literal_redis] {
        let error = policy.admit(&outputs(refused)).expect_err(refused);
        assert!(matches!(error, PolicyError::LiteralSecret(_)), "{error}");
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }
    // Named and bound to where the row sends them, they pass: the value is the node's own file.
    let named_kafka = "[[outputs]]\ntype = \"kafka\"\nbrokers = [\"kafka1.example.com:9093\"]\ntopic = \"wec\"\n[outputs.properties]\n\"sasl.username\" = \"wec\"\n\"security.protocol\" = \"SASL_SSL\"\n[outputs.secrets]\n\"sasl.password\" = \"kafka-prod\"\n";
    let named_redis = "[[outputs]]\ntype = \"redis\"\nurl = \"redis://redis.example.com:6379\"\npassword_secret = \"redis-prod\"\nkey = \"k\"\n";
    for allowed in [named_kafka, named_redis] {
        assert!(policy.admit(&outputs(allowed)).is_ok(), "{allowed}");
    }
}

#[test]
fn tls_files_only_under_a_listed_directory_and_the_journal_on_its_socket() {
    let policy = policy();
    let tcp = |key: &str| {
        format!("[[outputs]]\ntype = \"tcp\"\naddress = \"siem.example.com:6514\"\ntls = true\nca_file = \"{key}\"\n")
    };
    let kafka = |path: &str| {
        format!("[[outputs]]\ntype = \"kafka\"\nbrokers = [\"kafka1.example.com:9093\"]\ntopic = \"wec\"\n[outputs.properties]\n\"ssl.key.location\" = \"{path}\"\n")
    };
    for (inside, outside) in [
        (tcp("/etc/wsmand/tls/ca.pem"), tcp("/etc/shadow")),
        (
            kafka("/etc/wsmand/tls/k.pem"),
            kafka("/root/.ssh/id_ed25519"),
        ),
    ] {
        assert!(policy.admit(&outputs(&inside)).is_ok(), "{inside}");
        assert!(
            matches!(
                policy.admit(&outputs(&outside)),
                Err(PolicyError::TlsFileOutside { .. })
            ),
            "{outside}"
        );
    }
    let journal =
        |socket: &str| format!("[[outputs]]\ntype = \"journal\"\nsocket = \"{socket}\"\n");
    assert!(OutputsPolicy::default()
        .admit(&outputs("[[outputs]]\ntype = \"journal\"\n"))
        .is_ok());
    assert!(matches!(
        policy.admit(&outputs(&journal("/run/other.sock"))),
        Err(PolicyError::JournalSocket(_))
    ));
}

#[test]
fn kafka_properties_pass_an_allow_list_from_files_and_rows_alike() {
    let kafka = |key: &str| {
        format!("[[outputs]]\ntype = \"kafka\"\nbrokers = [\"kafka1.example.com:9093\"]\ntopic = \"wec\"\n[outputs.properties]\n\"{key}\" = \"x\"\n")
    };
    for refused in [
        "plugin.library.paths",
        "ssl.engine.location",
        "sasl.kerberos.kinit.cmd",
        "sasl.oauthbearer.token.endpoint.url",
        "debug",
        "no.such.property",
    ] {
        let error =
            parse(Path::new("s.toml"), &format!("{QUERY}\n{}", kafka(refused))).expect_err(refused);
        assert!(
            matches!(
                &error,
                SubscriptionError::Output(_, OutputSettingError::PropertyNotAllowed(k)) if k == refused
            ),
            "{refused}: {error}"
        );
    }
    for allowed in [
        "linger.ms",
        "compression.type",
        "security.protocol",
        "sasl.mechanism",
    ] {
        assert!(
            parse(Path::new("s.toml"), &format!("{QUERY}\n{}", kafka(allowed))).is_ok(),
            "{allowed}"
        );
    }
    // A secret is named only for a secret property, and by a name, never a path.
    let secret = |key: &str, name: &str| {
        format!("[[outputs]]\ntype = \"kafka\"\nbrokers = [\"kafka1.example.com:9093\"]\ntopic = \"wec\"\n[outputs.secrets]\n\"{key}\" = \"{name}\"\n")
    };
    assert!(parse(
        Path::new("s.toml"),
        &format!("{QUERY}\n{}", secret("linger.ms", "x"))
    )
    .is_err());
    assert!(parse(
        Path::new("s.toml"),
        &format!("{QUERY}\n{}", secret("sasl.password", "../shadow"))
    )
    .is_err());
}

#[test]
fn the_policy_names_absolute_directories_and_host_ports() {
    assert!(policy().check().is_ok());
    for bad in [
        OutputsPolicy {
            file_directories: vec!["var/log".into()],
            ..OutputsPolicy::default()
        },
        OutputsPolicy {
            tls_directories: vec!["/etc/../root".into()],
            ..OutputsPolicy::default()
        },
        OutputsPolicy {
            destinations: vec!["kafka1.example.com".to_owned()],
            ..OutputsPolicy::default()
        },
    ] {
        assert!(bad.check().is_err(), "{bad:?}");
    }
}

#[test]
fn a_secret_is_a_private_file_of_the_secrets_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: &str, mode: u32| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    };
    write("kafka-prod", "s3cret\n", 0o600);
    write("readable", "s3cret\n", 0o644);
    write("empty", "\n", 0o600);
    assert_eq!(
        read_secret(Some(dir.path()), "kafka-prod", read_secret_file).expect("read"),
        "s3cret"
    );
    let readable = read_secret(Some(dir.path()), "readable", read_secret_file)
        .expect_err("readable by others");
    assert!(readable.to_string().contains("chmod 600"), "{readable}");
    assert!(!readable.to_string().contains("s3cret"));
    assert!(matches!(
        read_secret(Some(dir.path()), "empty", read_secret_file),
        Err(SecretError::Empty(_))
    ));
    assert!(matches!(
        read_secret(Some(dir.path()), "../kafka-prod", read_secret_file),
        Err(SecretError::Name(_))
    ));
    assert!(matches!(
        read_secret(None, "kafka-prod", read_secret_file),
        Err(SecretError::NoDirectory(_))
    ));
}

#[test]
fn syslog_outputs_only_to_listed_destinations_with_tls_files_under_a_listed_directory() {
    let policy = policy();
    let syslog = |address: &str, more: &str| {
        format!("[[outputs]]\ntype = \"syslog\"\naddress = \"{address}\"\n{more}")
    };
    for allowed in [
        syslog("siem.example.com:6514", ""),
        syslog(
            "siem.example.com:6514",
            "transport = \"relp\"\ntls = true\nca_file = \"/etc/wsmand/tls/ca.pem\"\n",
        ),
    ] {
        assert!(policy.admit(&outputs(&allowed)).is_ok(), "{allowed}");
    }
    for refused in [
        syslog("attacker.example.net:514", "transport = \"udp\"\n"),
        syslog("siem.example.com:6515", "transport = \"relp\"\n"),
    ] {
        let error = policy.admit(&outputs(&refused)).expect_err(&refused);
        assert!(
            matches!(error, PolicyError::Destination { kind: "syslog", .. }),
            "{refused}: {error}"
        );
    }
    let key = syslog(
        "siem.example.com:6514",
        "tls = true\nclient_certificate = \"/etc/wsmand/tls/c.pem\"\nclient_key = \"/root/.ssh/id_ed25519\"\n",
    );
    assert!(matches!(
        policy.admit(&outputs(&key)),
        Err(PolicyError::TlsFileOutside { .. })
    ));
}
