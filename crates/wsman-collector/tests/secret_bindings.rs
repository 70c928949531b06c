//! A secret goes only where root bound it (`[secrets.NAME]` of `collector.toml`): a
//! subscription, a file or a stored row alike, whose output would send a node's secret to
//! another destination, or in clear where the binding asks for TLS, does not start its output,
//! with the reason; an unbound secret is sent nowhere.

mod common;

use std::path::Path;

use wsman_collector::store::check_subscription;
use wsman_collector::store::config::secret_bindings;
use wsman_collector::subscription_outputs::Outputs;
use wsman_collector::subscriptions::{self, SubscriptionSet};
use wsman_outputs::output_policy::OutputsPolicy;
use wsman_outputs::secrets::SecretBindings;

/// The node's `collector.toml`: the HEC token to one HTTPS endpoint, the Kafka password to its
/// bootstrap brokers over TLS, the Redis password to one server in clear (Redis is spoken
/// without TLS here, so its binding says so).
const BINDINGS: &str = r#"
[secrets.hec-prod]
destinations = ["hec.example.com:8088"]

[secrets.kafka-prod]
destinations = ["kafka1.example.com:9093", "kafka2.example.com:9093"]
require_tls = true

[secrets.redis-prod]
destinations = ["redis.example.com:6379"]
require_tls = false

[secrets.redis-tls-only]
destinations = ["redis.example.com:6379"]
"#;

/// A node directory: `collector.toml` with `bindings`, and the secret files (0600).
fn node(bindings: &str) -> (tempfile::TempDir, SecretBindings) {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("collector.toml"), bindings).expect("collector.toml");
    let secrets = dir.path().join("secrets");
    std::fs::create_dir(&secrets).expect("secrets");
    for name in [
        "hec-prod",
        "kafka-prod",
        "redis-prod",
        "redis-tls-only",
        "unbound",
    ] {
        let path = secrets.join(name);
        std::fs::write(&path, "s3cr3t-value\n").expect("secret");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("mode");
    }
    let bindings = secret_bindings(dir.path()).expect("bindings");
    (dir, bindings)
}

/// Why the outputs of `output` (one `[[outputs]]` table) did not start on `dir`'s node, as a
/// subscription file; and a stored row of the same text (checked against a policy listing its
/// destination, so only the binding can refuse it) must be refused for the same reason, or
/// admitted and started when the file's output started. Empty when it started.
fn refusals(dir: &Path, bindings: &SecretBindings, output: &str) -> String {
    let text = format!("{}\n[[outputs]]\n{output}", common::QUERY);
    let file = subscriptions::parse(Path::new("/etc/wsmand/subscriptions/sec.toml"), &text)
        .expect("the file parses");
    let policy = OutputsPolicy {
        destinations: [
            "hec.example.com:8088",
            "evil.example.com:8088",
            "evil.example.com:9093",
            "kafka1.example.com:9093",
            "redis.example.com:6379",
            "evil.example.com:6379",
        ]
        .map(str::to_owned)
        .to_vec(),
        secrets: bindings.clone(),
        ..OutputsPolicy::default()
    };
    let started = |subscription| {
        let set = SubscriptionSet {
            subscriptions: vec![subscription],
            errors: Vec::new(),
        };
        let outputs = Outputs::with_secrets(dir.join("secrets"), bindings.clone());
        let problems = outputs.configure(&set).join("\n");
        outputs.stop();
        problems
    };
    let as_file = started(file);
    assert!(!as_file.contains("s3cr3t"), "{as_file}");
    match check_subscription("sec", &text, &policy) {
        Ok(row) => {
            assert_eq!(as_file, "", "the row was admitted, the file refused");
            assert_eq!(started(row), "", "an admitted row starts");
        }
        Err(refused) => {
            let reason = as_file
                .find("secret \"")
                .map(|at| &as_file[at..])
                .unwrap_or_else(|| panic!("the row refused, the file started: {refused}"));
            let refused = refused.to_string();
            assert!(refused.contains(reason), "{refused} / {reason}");
        }
    }
    as_file
}

#[test]
fn a_hec_token_goes_only_to_its_https_destination() {
    let (dir, bindings) = node(BINDINGS);
    let hec = |url: &str| {
        format!("type = \"http\"\npreset = \"splunk_hec\"\nurl = \"{url}\"\ntoken_secret = \"hec-prod\"\n")
    };
    let clear = refusals(dir.path(), &bindings, &hec("http://hec.example.com:8088"));
    assert!(
        clear.contains("\"hec-prod\" may not be sent to hec.example.com:8088 in clear"),
        "{clear}"
    );
    let elsewhere = refusals(dir.path(), &bindings, &hec("https://evil.example.com:8088"));
    assert!(
        elsewhere.contains("evil.example.com:8088")
            && elsewhere.contains("not in [secrets.hec-prod] destinations"),
        "{elsewhere}"
    );
    let listed = refusals(dir.path(), &bindings, &hec("https://hec.example.com:8088"));
    assert_eq!(listed, "", "the bound destination over TLS");
}

#[test]
fn a_kafka_password_goes_only_to_its_brokers_over_tls() {
    let (dir, bindings) = node(BINDINGS);
    let kafka = |broker: &str, protocol: &str| {
        format!("type = \"kafka\"\nbrokers = [\"{broker}\"]\ntopic = \"wec\"\n[outputs.properties]\n\"sasl.username\" = \"wec\"\n\"sasl.mechanism\" = \"PLAIN\"\n\"security.protocol\" = \"{protocol}\"\n[outputs.secrets]\n\"sasl.password\" = \"kafka-prod\"\n")
    };
    let clear = refusals(
        dir.path(),
        &bindings,
        &kafka("kafka1.example.com:9093", "SASL_PLAINTEXT"),
    );
    assert!(clear.contains("in clear (kafka output"), "{clear}");
    let elsewhere = refusals(
        dir.path(),
        &bindings,
        &kafka("evil.example.com:9093", "SASL_SSL"),
    );
    assert!(
        elsewhere.contains("evil.example.com:9093") && elsewhere.contains("[secrets.kafka-prod]"),
        "{elsewhere}"
    );
    let listed = refusals(
        dir.path(),
        &bindings,
        &kafka("kafka1.example.com:9093", "SASL_SSL"),
    );
    assert_eq!(listed, "", "a bound broker over TLS");
}

#[test]
fn a_redis_password_goes_only_to_its_server_and_in_clear_only_if_bound_so() {
    let (dir, bindings) = node(BINDINGS);
    let redis = |host: &str, secret: &str| {
        format!("type = \"redis\"\nurl = \"redis://{host}:6379\"\npassword_secret = \"{secret}\"\nkey = \"wec\"\n")
    };
    let elsewhere = refusals(
        dir.path(),
        &bindings,
        &redis("evil.example.com", "redis-prod"),
    );
    assert!(
        elsewhere.contains("evil.example.com:6379") && elsewhere.contains("[secrets.redis-prod]"),
        "{elsewhere}"
    );
    let clear = refusals(
        dir.path(),
        &bindings,
        &redis("redis.example.com", "redis-tls-only"),
    );
    assert!(clear.contains("in clear (redis output"), "{clear}");
    let listed = refusals(
        dir.path(),
        &bindings,
        &redis("redis.example.com", "redis-prod"),
    );
    assert_eq!(listed, "", "bound to this server, in clear by choice");
}

#[test]
fn an_unbound_secret_is_sent_nowhere_and_the_reason_says_how_to_bind_it() {
    let (dir, bindings) = node(BINDINGS);
    let refused = refusals(
        dir.path(),
        &bindings,
        "type = \"http\"\npreset = \"splunk_hec\"\nurl = \"https://hec.example.com:8088\"\ntoken_secret = \"unbound\"\n",
    );
    assert!(
        refused.contains("\"unbound\" is bound to no destination")
            && refused.contains("[secrets.unbound] destinations"),
        "{refused}"
    );
    // No [secrets] at all: nothing is sent.
    let (dir, bindings) = node("");
    let refused = refusals(
        dir.path(),
        &bindings,
        "type = \"http\"\npreset = \"splunk_hec\"\nurl = \"https://hec.example.com:8088\"\ntoken_secret = \"hec-prod\"\n",
    );
    assert!(refused.contains("bound to no destination"), "{refused}");
}

#[test]
fn bad_bindings_stop_the_start_with_the_reason() {
    for (text, reason) in [
        (
            "[secrets.hec]\ndestinations = [\"hec.example.com\"]\n",
            "is not host:port",
        ),
        ("[secrets.hec]\ndestinations = []\n", "none listed"),
        (
            "[secrets.\"../x\"]\ndestinations = [\"h:1\"]\n",
            "not a secret name",
        ),
        (
            "[secrets.hec]\ndestinations = [\"h:1\"]\nrequire_tls = \"no\"\n",
            "require_tls",
        ),
        ("[secrets.hec]\nurls = [\"https://h\"]\n", "unknown field"),
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("collector.toml"), text).expect("collector.toml");
        let error = secret_bindings(dir.path()).expect_err(text).to_string();
        assert!(error.contains(reason), "{text}: {error}");
    }
}
