//! How the forwarder authenticates to its collector: a client certificate from the issuer the
//! collector names, Kerberos from the credential cache over sealed HTTP.

use super::*;

#[test]
fn a_client_certificate_from_the_issuer_the_collector_names_is_used_and_another_is_not() {
    use wsman_test::client_certs::{ClientSpec, TestCa};
    let Some(scene) = Scene::boot("wef-cert") else {
        return;
    };
    let Scene {
        systemd,
        journal,
        state,
        output,
        database,
        tag,
    } = scene;
    let host = "linux01.forwarder.test";
    let ca = TestCa::new("forwarders CA");
    let files = ca.issue(
        &ClientSpec::new(host),
        &state.path().join("client"),
        "linux01",
    );
    let subscription = subscription(
        &tag,
        &output,
        "max_latency_seconds = 1\nread_existing_events = true\n",
        "forwarded.xml",
    );
    let https_port = free_port();
    let mut thumbprint = String::new();
    let collector_env = [(
        "WSMAND_WEC_DATABASE",
        database.to_str().expect("utf-8 path"),
    )];
    let mut collector = Fixture::http_with_env(
        |config| {
            thumbprint = config.add_certificate();
            config.listener(ListenerSpec::https(https_port, &thumbprint));
            config.set("Config.Service.Auth", "Certificate", "true");
            ca.install(config);
            config.write_raw("subscriptions/linux.toml", &subscription);
        },
        &collector_env,
    );
    collector.daemon.wait_for_port(https_port);
    let mapped = collector.winrm_remote(&[
        "create",
        &format!(
            "winrm/config/service/certmapping?Issuer={}+Subject={host}+URI=*",
            ca.thumbprint
        ),
        "@{UserName=\"wsmanuser\";Enabled=\"true\"}",
    ]);
    assert_eq!(mapped.code(), 0, "{}", mapped.describe());
    let collector_certificate = collector
        .config
        .path()
        .join(format!("certs/{thumbprint}.crt"));
    log_entries(&systemd, &tag, 0..5);
    let expected = journal_records(&systemd, &tag, 5);

    let port = free_port();
    let mut config = ConfigDir::new();
    config.listener(ListenerSpec::http(port));
    config.write();
    let forwarding = |issuer: &str| {
        format!(
            "computer = \"{host}\"\nstate_directory = \"{}\"\n[[collector]]\nserver = \"Server=https://127.0.0.1:{https_port}/wsman/SubscriptionManager/WEC,Refresh=1,IssuerCA={issuer}\"\nauthentication = \"certificate\"\ncertificate = \"{}\"\nkey = \"{}\"\nca_file = \"{}\"\n",
            state.path().join("cursors").display(),
            files.certificate.display(),
            files.key.display(),
            collector_certificate.display()
        )
    };
    let env = [("WSMAND_JOURNAL_DIRECTORY", journal.to_str().expect("utf-8"))];

    // IssuerCA names a CA the collector does not list for our certificate: not delivered.
    config.write_raw("forwarding.toml", &forwarding(&"0".repeat(40)));
    let mut forwarder = Daemon::start_with_env(&config, &[port], &env);
    let log = forwarder.stderr_path();
    forwarder.wait_until("the policy refusal in the log", || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("accepts none of our authentication")
    });
    forwarder.stop();
    let file = output.join("forwarded.xml");
    assert!(collected(&file, &tag).is_empty());

    // The CA that issued our certificate, as the collector's mapping names it.
    config.write_raw("forwarding.toml", &forwarding(&ca.thumbprint));
    let forwarder = Daemon::start_with_env(&config, &[port], &env);
    wait_for(
        "the entries at the collector with the client certificate",
        || collected(&file, &tag).len() >= 5,
        || format!("{}\n{}", forwarder.stderr(), collector.daemon.stderr()),
    );
    assert_eq!(collected(&file, &tag), expected);
}

#[test]
fn kerberos_from_the_credential_cache_reaches_a_collector_over_sealed_http() {
    let Some(kdc) = wsman_test::kdc::Kdc::start() else {
        return;
    };
    let Some(scene) = Scene::boot("wef-krb") else {
        return;
    };
    let Scene {
        systemd,
        journal,
        state,
        output,
        database,
        tag,
    } = scene;
    // The test principal's name is the Computer's first label (the collector's rule for a
    // principal that is neither a machine nor a service).
    let computer = format!("{}.forwarder.test", kdc.user());
    let subscription = subscription(
        &tag,
        &output,
        "max_latency_seconds = 1\nread_existing_events = true\n",
        "forwarded.xml",
    );
    let mut collector_env: Vec<(&str, &str)> = kdc
        .env()
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    collector_env.push((
        "WSMAND_WEC_DATABASE",
        database.to_str().expect("utf-8 path"),
    ));
    let collector = Fixture::http_with_env(
        |config| {
            use std::os::unix::fs::PermissionsExt;
            config.set("Config.Service", "AllowUnencrypted", "false");
            let keytab = config.path().join("krb5.keytab");
            std::fs::copy(kdc.keytab(), &keytab).expect("the realm's keytab");
            std::fs::set_permissions(&keytab, std::fs::Permissions::from_mode(0o600))
                .expect("keytab mode");
            config.write_raw("subscriptions/linux.toml", &subscription);
        },
        &collector_env,
    );
    log_entries(&systemd, &tag, 0..5);
    let expected = journal_records(&systemd, &tag, 5);

    let port = free_port();
    let mut config = ConfigDir::new();
    config.listener(ListenerSpec::http(port));
    config.write();
    config.write_raw(
        "forwarding.toml",
        &format!(
            "computer = \"{computer}\"\nstate_directory = \"{}\"\n[[collector]]\nserver = \"Server=http://{}:{}/wsman/SubscriptionManager/WEC,Refresh=1\"\nauthentication = \"kerberos\"\n",
            state.path().join("cursors").display(),
            kdc.host(),
            collector.port
        ),
    );
    let mut env = collector_env.clone();
    env.retain(|(k, _)| *k != "WSMAND_WEC_DATABASE");
    env.push(("WSMAND_JOURNAL_DIRECTORY", journal.to_str().expect("utf-8")));
    let forwarder = Daemon::start_with_env(&config, &[port], &env);
    let file = output.join("forwarded.xml");
    wait_for(
        "the entries at the collector with Kerberos",
        || collected(&file, &tag).len() >= 5,
        || format!("{}\n{}", forwarder.stderr(), collector.daemon.stderr()),
    );
    assert_eq!(collected(&file, &tag), expected);
    assert!(std::fs::read_to_string(&file)
        .unwrap_or_default()
        .contains(&format!("<Computer>{computer}</Computer>")));
}
