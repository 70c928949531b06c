#![allow(clippy::unwrap_used)]
//! Negotiate (raw NTLM and SPNEGO) from the client library against the real wsmand (spawned by
//! the wsman-test harness on a free loopback port; needs `target/debug/wsmand`): Identify, a
//! config Get, a shell command with large output and stdin, all over a sealed connection, with
//! a recording TCP proxy in between proving the bytes on the wire are not the plaintext.

use std::time::Duration;

use wsman_client::{
    Auth, BlockingClient, Client, ClientError, ClientOptions, Endpoint, NegotiateAuth, TokenForm,
};
use wsman_test::{Fixture, SERVICE_ACCOUNT, SERVICE_PASSWORD};

mod common;
use common::{run_to_end, spy_proxy};
mod streaming;

use common::get_config;

const NTLM_USER: &str = "ntlmuser";
const NTLM_PASSWORD: &str = "Ntlm-Test-Pass1";

/// wsmand with Negotiate on and an NTLM-enabled account acting as root.
fn fixture() -> Fixture {
    let fx = Fixture::http_with(|c| {
        c.set("Config.Service.Auth", "Negotiate", "true");
    });
    add_ntlm_account(&fx);
    fx
}

/// Adds the NTLM-enabled account, acting as root, through `wsmand account add`.
fn add_ntlm_account(fx: &Fixture) {
    fx.config.add_ntlm_account(NTLM_USER, NTLM_PASSWORD, "root");
}

fn options(form: TokenForm, password: &str) -> ClientOptions {
    let mut o = ClientOptions::default();
    o.auth = Auth::Negotiate(NegotiateAuth::new(NTLM_USER, password).with_form(form));
    o.operation_timeout = Duration::from_secs(20);
    o
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn sealed_identify_get_and_shell_in_both_forms() {
    let fx = fixture();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for form in [TokenForm::RawNtlm, TokenForm::Spnego] {
        let (proxy_port, recorded, _) = runtime.block_on(spy_proxy(fx.port));
        let endpoint =
            Endpoint::parse(&format!("http://127.0.0.1:{proxy_port}/wsman"), false).unwrap();
        let client = BlockingClient::new(endpoint, options(form, NTLM_PASSWORD)).unwrap();
        let identify = client.identify().unwrap();
        assert_eq!(identify.name, "IdentifyResponse");
        let config = get_config(&client).unwrap();
        assert_eq!(config.name, "Config");
        // Large output (about 300 KB) and stdin through the sealed connection.
        let out = run_to_end(
            &client,
            "read line; echo \"marker-$line\"; head -c 300000 /dev/zero | tr '\\0' x",
            b"from-stdin\n",
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.starts_with("marker-from-stdin\n"), "{form:?}");
        assert_eq!(out.stdout.len(), "marker-from-stdin\n".len() + 300_000);
        assert_eq!(out.exit_code, 0);
        // The spy: what came over the wire never held the plaintext.
        let wire = recorded.lock().unwrap();
        assert!(contains(&wire, b"multipart/encrypted"), "{form:?}");
        for plain in [
            &b"IdentifyResponse"[..],
            b"MaxEnvelopeSizekb",
            b"ReceiveResponse",
        ] {
            assert!(!contains(&wire, plain), "{form:?}: plaintext on the wire");
        }
        // The output is base64 inside the envelope: its encoding must not be on the wire.
        assert!(!contains(&wire, b"eHh4eHh4eHh4eHh4"), "{form:?}");
    }
}

#[test]
fn wrong_password_and_basic_user_are_refused() {
    let fx = fixture();
    let endpoint = Endpoint::parse(&fx.url(), false).unwrap();
    for form in [TokenForm::RawNtlm, TokenForm::Spnego] {
        let client = BlockingClient::new(endpoint.clone(), options(form, "wrong")).unwrap();
        let err = client.identify().unwrap_err();
        assert!(
            matches!(err, ClientError::Unauthorized { .. }),
            "{form:?}: {err:?}"
        );
    }
    // An account without --ntlm cannot use Negotiate.
    let mut o = ClientOptions::default();
    o.auth = Auth::Negotiate(NegotiateAuth::new(SERVICE_ACCOUNT, SERVICE_PASSWORD));
    let err = BlockingClient::new(endpoint, o)
        .unwrap()
        .identify()
        .unwrap_err();
    assert!(matches!(err, ClientError::Unauthorized { .. }), "{err:?}");
}

#[test]
fn concurrent_sealed_connections() {
    let fx = fixture();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let endpoint = Endpoint::parse(&fx.url(), false).unwrap();
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for i in 0..10 {
            let form = if i % 2 == 0 {
                TokenForm::RawNtlm
            } else {
                TokenForm::Spnego
            };
            let client = Client::new(endpoint.clone(), options(form, NTLM_PASSWORD)).unwrap();
            tasks.push(tokio::spawn(async move {
                for _ in 0..3 {
                    client.identify().await.unwrap();
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
    });
}

/// Over HTTPS nothing is sealed, but the context is bound to the TLS channel: with
/// CbtHardeningLevel=Strict the server requires our tls-server-end-point binding.
#[test]
fn https_with_channel_binding_under_strict_hardening() {
    use wsman_client::tls::TlsOptions;
    use wsman_test::{free_port, ConfigDir, Daemon};

    let port = free_port();
    let mut config = ConfigDir::new();
    config.set("Config.Service", "AllowUnencrypted", "false");
    config.set("Config.Service.Auth", "Negotiate", "true");
    config.set("Config.Service.Auth", "CbtHardeningLevel", "\"Strict\"");
    let thumbprint = config.add_https_listener(port);
    config.write();
    config.add_ntlm_account(NTLM_USER, NTLM_PASSWORD, "root");
    let _daemon = Daemon::start(&config, &[port]);
    let endpoint = Endpoint::parse(&format!("https://127.0.0.1:{port}/wsman"), false).unwrap();
    let mut tls = TlsOptions::default();
    tls.ca_file = Some(config.path().join(format!("certs/{thumbprint}.crt")));
    for form in [TokenForm::RawNtlm, TokenForm::Spnego] {
        let mut o = options(form, NTLM_PASSWORD);
        o.tls = tls.clone();
        let client = BlockingClient::new(endpoint.clone(), o.clone()).unwrap();
        assert_eq!(client.identify().unwrap().name, "IdentifyResponse");
        let config = get_config(&client).unwrap();
        assert_eq!(config.name, "Config");
        // Without the binding a Strict server refuses.
        let Auth::Negotiate(negotiate) = &mut o.auth else {
            unreachable!()
        };
        negotiate.channel_binding = false;
        let err = BlockingClient::new(endpoint.clone(), o)
            .unwrap()
            .identify()
            .unwrap_err();
        assert!(
            matches!(err, ClientError::Unauthorized { .. }),
            "{form:?}: {err:?}"
        );
    }
}

/// Output streamed over sealed HTTP (the next Receive goes out before a large answer is
/// unsealed) and over HTTPS is what `sh` prints here, for outputs ending around the edge of
/// a full answer, tiny and large, with the exit code.
#[test]
fn streamed_output_over_sealed_http_and_https_is_the_commands_output() {
    use wsman_client::tls::TlsOptions;
    use wsman_test::{free_port, ListenerSpec};

    let https_port = free_port();
    let mut thumbprint = String::new();
    let mut fx = Fixture::http_with(|c| {
        c.set("Config.Service.Auth", "Negotiate", "true");
        thumbprint = c.add_certificate();
        c.listener(ListenerSpec::https(https_port, &thumbprint));
    });
    fx.daemon.wait_for_port(https_port);
    add_ntlm_account(&fx);
    let http = Endpoint::parse(&format!("http://127.0.0.1:{}/wsman", fx.port), false).unwrap();
    streaming::check(
        "NTLM sealed over HTTP",
        http,
        options(TokenForm::Spnego, NTLM_PASSWORD),
    );
    let https = Endpoint::parse(&format!("https://127.0.0.1:{https_port}/wsman"), false).unwrap();
    let mut o = options(TokenForm::Spnego, NTLM_PASSWORD);
    let mut tls = TlsOptions::default();
    tls.ca_file = Some(fx.config.path().join(format!("certs/{thumbprint}.crt")));
    o.tls = tls;
    streaming::check("Negotiate over HTTPS", https, o);
}
