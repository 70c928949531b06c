//! The subscription manager's answer honours the forwarder's MaxEnvelopeSize: an answer larger
//! than the 512,000 bytes a Windows forwarder allows is paged with an enumeration context, as
//! every Enumerate of wsmand is, and the forwarder's Pulls on the subscription manager's path
//! get the rest, every subscription once. A context is its forwarder's: another account's
//! Pull of it is answered as for an unknown context.

use std::collections::BTreeSet;
use std::path::Path;

use wsman_test::{wec_database_env, Fixture};

use crate::collector::{post, post_as, text, ENUMERATE};

const MANAGER: &str = "/wsman/SubscriptionManager/WEC";
/// What a Windows forwarder allows (its Enumerate's `w:MaxEnvelopeSize`).
const FORWARDER_MAX_ENVELOPE: usize = 512_000;
/// Subscriptions of about 25 KB each (a query of 250 Selects): about 750 KB in all.
const SUBSCRIPTIONS: usize = 30;
/// A second forwarder's account.
const OTHER_FORWARDER: &str = "forwarder-two";
const OTHER_PASSWORD: &str = "Forwarder-Two-Pass-2!";

/// A subscription whose query selects 250 providers of the Application log (Windows queries
/// of that size are common: one Select per source of interest).
fn large_subscription(tag: &str, output: &std::path::Path) -> String {
    let selects: String = (0..250)
        .map(|n| {
            format!(
                "<Select Path=\"Application\">*[System[Provider[@Name=\"{tag}-{n:03}\"]]]</Select>"
            )
        })
        .collect();
    format!(
        "query = '<QueryList><Query Id=\"0\">{selects}</Query></QueryList>'\n[[outputs]]\ntype = \"file\"\npath = \"{}/{{subscription}}/{{client}}.xml\"\nformat = \"raw\"\n",
        output.display()
    )
}

/// A collector (its output and database under `state`) with [`SUBSCRIPTIONS`] large
/// subscriptions, whose whole answer is larger than a forwarder's MaxEnvelopeSize, and their
/// names; [`OTHER_FORWARDER`] is an account of it too.
pub(crate) fn collector_of_large_subscriptions(state: &Path) -> (Fixture, BTreeSet<String>) {
    let output = state.join("out");
    let database = state.join("wec.sqlite");
    let env = wec_database_env(&database);
    let fixture = Fixture::http_with_env(
        |config| {
            config.add_account(OTHER_FORWARDER, OTHER_PASSWORD, Some("nobody"));
            for n in 0..SUBSCRIPTIONS {
                config.write_raw(
                    &format!("subscriptions/s{n:02}.toml"),
                    &large_subscription(&format!("paged{n:02}"), &output),
                );
            }
        },
        &env,
    );
    let names = (0..SUBSCRIPTIONS).map(|n| format!("s{n:02}")).collect();
    (fixture, names)
}

/// The names of the subscriptions an answer offers.
fn names(answer: &str) -> Vec<String> {
    answer
        .split("<w:Option Name=\"SubscriptionName\">")
        .skip(1)
        .filter_map(|rest| rest.split('<').next())
        .map(str::to_owned)
        .collect()
}

/// The enumeration context an answer gives for the next Pull, if any.
fn context(answer: &str) -> Option<String> {
    let end = answer.contains("EndOfSequence");
    answer
        .split("<n:EnumerationContext>")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .filter(|c| !c.is_empty() && !end)
        .map(str::to_owned)
}

fn pull(context: &str, message: u32) -> String {
    format!(
        r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"><s:Header><a:To>http://127.0.0.1/wsman/SubscriptionManager/WEC</a:To><w:ResourceURI s:mustUnderstand="true">http://schemas.microsoft.com/wbem/wsman/1/SubscriptionManager/Subscription</w:ResourceURI><a:ReplyTo><a:Address s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo><a:Action s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/09/enumeration/Pull</a:Action><w:MaxEnvelopeSize s:mustUnderstand="true">512000</w:MaxEnvelopeSize><a:MessageID>uuid:2E6B2E9C-2222-4A4B-9C1D-{message:012}</a:MessageID><w:OperationTimeout>PT60.000S</w:OperationTimeout></s:Header><s:Body><n:Pull><n:EnumerationContext>{context}</n:EnumerationContext><n:MaxElements>32000</n:MaxElements></n:Pull></s:Body></s:Envelope>"#
    )
}

#[test]
fn an_answer_over_the_forwarders_max_envelope_size_is_paged_and_pulled_whole() {
    let state = tempfile::tempdir().expect("tempdir");
    let (fixture, expected) = collector_of_large_subscriptions(state.path());
    let port = fixture.port;

    let first = post(port, MANAGER, ENUMERATE.as_bytes(), &[]);
    assert_eq!(first.status, 200, "{}", text(&first.body));
    assert!(
        first.body.len() <= FORWARDER_MAX_ENVELOPE,
        "the first page is {} bytes",
        first.body.len()
    );
    let answer = text(&first.body);
    let mut offered = names(&answer);
    assert!(
        !offered.is_empty() && offered.len() < SUBSCRIPTIONS,
        "the first page offers {} of {SUBSCRIPTIONS}",
        offered.len()
    );
    let mut next = context(&answer).expect("a context for the rest");

    // Another account cannot read this forwarder's context.
    let stranger = post_as(
        port,
        OTHER_FORWARDER,
        OTHER_PASSWORD,
        MANAGER,
        pull(&next, 1).as_bytes(),
        &[],
    );
    let refused = text(&stranger.body);
    assert_eq!(stranger.status, 500, "{refused}");
    assert!(refused.contains("InvalidEnumerationContext"), "{refused}");

    let mut pages = 1;
    for message in 2.. {
        let page = post(port, MANAGER, pull(&next, message).as_bytes(), &[]);
        assert_eq!(page.status, 200, "{}", text(&page.body));
        assert!(page.body.len() <= FORWARDER_MAX_ENVELOPE);
        let answer = text(&page.body);
        assert!(answer.contains("PullResponse"), "{answer}");
        offered.extend(names(&answer));
        pages += 1;
        match context(&answer) {
            Some(context) => next = context,
            None => break,
        }
        assert!(pages <= SUBSCRIPTIONS, "the collector pages forever");
    }
    assert!(pages >= 2);
    assert_eq!(offered.len(), SUBSCRIPTIONS, "each subscription once");
    assert_eq!(offered.into_iter().collect::<BTreeSet<_>>(), expected);
}
