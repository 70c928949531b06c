//! How the forwarder authenticates to its collector: a client certificate from the issuer the
//! collector names, Kerberos from the credential cache over sealed HTTP.

use super::*;

#[test]
fn a_client_certificate_from_the_issuer_the_collector_names_is_used_and_another_is_not() {
    use wsman_test::client_certs::{ClientSpec, TestCa};
    let Some(scene) = Scene::boot("wef-cert") else {
        return;
    };
    let host = "linux01.forwarder.test";
    let ca = TestCa::new("forwarders CA");
    let files = ca.issue(
        &ClientSpec::new(host),
        &scene.state.path().join("client"),
        "linux01",
    );
    let subscription = scene.prompt_subscription("forwarded.xml");
    let (collector, https_port, collector_certificate) =
        scene.https_collector(&subscription, |config| {
            config.set("Config.Service.Auth", "Certificate", "true");
            ca.install(config);
        });
    collector.map_certificates(
        &ca.thumbprint,
        host,
        "*",
        "@{UserName=\"wsmanuser\";Enabled=\"true\"}",
    );
    log_entries(&scene.systemd, &scene.tag, 0..5);
    let expected = journal_records(&scene.systemd, &scene.tag, 5);

    let forwarding = |issuer: &str| {
        format!(
            "computer = \"{host}\"\nstate_directory = \"{}\"\n[[collector]]\nserver = \"Server=https://127.0.0.1:{https_port}/wsman/SubscriptionManager/WEC,Refresh=1,IssuerCA={issuer}\"\nauthentication = \"certificate\"\ncertificate = \"{}\"\nkey = \"{}\"\nca_file = \"{}\"\n",
            scene.cursors().display(),
            files.certificate.display(),
            files.key.display(),
            collector_certificate.display()
        )
    };
    let env = scene.forwarder_env();

    // IssuerCA names a CA the collector does not list for our certificate: not delivered.
    let (config, port) = forwarder_config(&forwarding(&"0".repeat(40)));
    let mut forwarder = Daemon::start_with_env(&config, &[port], &env);
    forwarder.wait_for_log("accepts none of our authentication");
    forwarder.stop();
    let file = scene.output.join("forwarded.xml");
    assert!(collected(&file, &scene.tag).is_empty());

    // The CA that issued our certificate, as the collector's mapping names it.
    config.write_raw("forwarding.toml", &forwarding(&ca.thumbprint));
    let forwarder = Daemon::start_with_env(&config, &[port], &env);
    wait_for(
        "the entries at the collector with the client certificate",
        || collected(&file, &scene.tag).len() >= 5,
        || format!("{}\n{}", forwarder.stderr(), collector.daemon.stderr()),
    );
    assert_eq!(collected(&file, &scene.tag), expected);
}

#[test]
fn kerberos_from_the_credential_cache_reaches_a_collector_over_sealed_http() {
    let Some(kdc) = wsman_test::kdc::Kdc::start() else {
        return;
    };
    let Some(scene) = Scene::boot("wef-krb") else {
        return;
    };
    // A user principal speaks for no host of its own: the subscription's explicit map lets it
    // speak for this Computer (the collector matches full names only).
    let computer = format!("{}.forwarder.test", kdc.user());
    let subscription = scene.prompt_subscription("forwarded.xml").replace(
        "[computers]\n",
        &format!(
            "[computers]\n\"{}@{}\" = [\"{computer}\"]\n",
            kdc.user(),
            kdc.realm()
        ),
    );
    let realm_env: Vec<(&str, &str)> = kdc
        .env()
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let collector = scene.collector(&subscription, &realm_env, |config| {
        use std::os::unix::fs::PermissionsExt;
        config.set("Config.Service", "AllowUnencrypted", "false");
        let keytab = config.path().join("krb5.keytab");
        std::fs::copy(kdc.keytab(), &keytab).expect("the realm's keytab");
        std::fs::set_permissions(&keytab, std::fs::Permissions::from_mode(0o600))
            .expect("keytab mode");
    });
    log_entries(&scene.systemd, &scene.tag, 0..5);
    let expected = journal_records(&scene.systemd, &scene.tag, 5);

    let (config, port) = forwarder_config(&format!(
        "computer = \"{computer}\"\nstate_directory = \"{}\"\n[[collector]]\nserver = \"Server=http://{}:{}/wsman/SubscriptionManager/WEC,Refresh=1\"\nauthentication = \"kerberos\"\n",
        scene.cursors().display(),
        kdc.host(),
        collector.port
    ));
    let mut env = realm_env;
    env.extend(scene.forwarder_env());
    let forwarder = Daemon::start_with_env(&config, &[port], &env);
    let file = scene.output.join("forwarded.xml");
    wait_for(
        "the entries at the collector with Kerberos",
        || collected(&file, &scene.tag).len() >= 5,
        || format!("{}\n{}", forwarder.stderr(), collector.daemon.stderr()),
    );
    assert_eq!(collected(&file, &scene.tag), expected);
    assert!(std::fs::read_to_string(&file)
        .unwrap_or_default()
        .contains(&format!("<Computer>{computer}</Computer>")));
}
