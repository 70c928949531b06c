use std::sync::Arc;

use wsman_proto::ns::action;
use wsman_proto::xml::Limits;
use wsman_providers::{Body, Context, Created, Filter, Item, Provider};

use wsman_proto::{Fault, Request};

use super::config::ConfigEngine;
use crate::catalog::{Arrival, Catalog, Endpoint, EndpointKind, Family, Target};
use crate::engine::{Answer, Call, Engine, Exchange, Reply, ReplyFuture};
use crate::engines::Services;
use crate::settings::ServiceSettings;

/// Resources of the configuration family the test providers serve.
const TEST: &str = "http://schemas.microsoft.com/wbem/wsman/1/config/Test";
const BIG: &str = "http://schemas.microsoft.com/wbem/wsman/1/config/Big";
const LATER: &str = "http://schemas.microsoft.com/wbem/wsman/1/config/Later";

/// Serves [`TEST`] with three enumerable items of ~100 bytes each.
struct TestProvider;

impl Provider for TestProvider {
    fn handles(&self, uri: &str) -> bool {
        uri == TEST
    }
    fn get(&self, _ctx: &Context<'_>) -> Result<Body, Fault> {
        Ok(Body::Xml(
            "<t:Thing xmlns:t=\"urn:test\">1</t:Thing>".to_owned(),
        ))
    }
    fn create(&self, ctx: &Context<'_>) -> Result<Created, Fault> {
        Ok(Created {
            resource_uri: ctx.resource_uri().to_owned(),
            selectors: vec![("Name".to_owned(), "n1".to_owned())],
        })
    }
    fn enumerate(&self, _ctx: &Context<'_>, _filter: Option<&Filter>) -> Result<Vec<Item>, Fault> {
        Ok((0..3)
            .map(|i| Item::Xml {
                xml: format!(
                    "<t:Thing xmlns:t=\"urn:test\">{i}{}</t:Thing>",
                    "x".repeat(60)
                ),
                resource_uri: TEST.to_owned(),
                selectors: vec![("Name".to_owned(), format!("n{i}"))],
            })
            .collect())
    }
}

/// A catalog serving the configuration family with `provider`, over `services`.
fn serving_over(provider: impl Provider, services: &Services) -> Catalog {
    let mut catalog = Catalog::new();
    catalog.insert(ConfigEngine::new(provider, services));
    catalog
}

/// [`serving_over`] services of its own.
fn serving(provider: impl Provider) -> Catalog {
    serving_over(provider, &Services::default())
}

fn dispatcher() -> Arc<Catalog> {
    Arc::new(serving(TestProvider))
}

fn request(action: &str, uri: &str, extra_headers: &str, body: &str) -> Arc<Request> {
    let xml = format!(
        "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" \
         xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" \
         xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\" \
         xmlns:n=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\"><s:Header>\
         <a:Action>{action}</a:Action><a:MessageID>uuid:Mixed-Case-1</a:MessageID>\
         <w:ResourceURI>{uri}</w:ResourceURI>{extra_headers}</s:Header><s:Body>{body}</s:Body></s:Envelope>"
    );
    match wsman_proto::parse_request(&xml, &Limits::default()) {
        Ok(r) => Arc::new(r),
        Err(e) => panic!("test request does not parse: {e}"),
    }
}

fn exchange(settings: &ServiceSettings) -> Exchange<'_> {
    Exchange {
        settings,
        address: "http://host:5985/wsman",
    }
}

/// Route and dispatch `req` at the WS-Management endpoint as the pipeline does, for a caller
/// of no privilege (no access is checked).
async fn dispatch(d: &Catalog, req: Arc<Request>, s: &ServiceSettings) -> Result<Reply, Fault> {
    let caller = wsman_providers::Caller::default();
    let arrival = Arrival {
        endpoint: &Endpoint::WsMan,
        caller: &caller,
        proof: None,
        wire_length: 0,
    };
    let routed = d.route(arrival.endpoint, &req, s);
    routed.serve(req, exchange(s), arrival).await
}

async fn run(d: &Arc<Catalog>, req: Arc<Request>, s: &ServiceSettings) -> Result<String, Fault> {
    match dispatch(d, req, s).await? {
        Reply::Envelope(x) => Ok(x),
        Reply::Pieces(pieces) => Ok(String::from_utf8(pieces.concat()).expect("UTF-8 pieces")),
        Reply::Empty { .. } => Ok(String::new()),
        Reply::Refused(refused) => panic!("refused: {refused:?}"),
    }
}

/// The test dispatcher's answer to `action` on `uri` without a body, default settings; a fault
/// fails the test.
async fn answer(action: &str, uri: &str) -> String {
    let s = ServiceSettings::default();
    let out = run(&dispatcher(), request(action, uri, "", ""), &s).await;
    out.unwrap_or_else(|f| panic!("{f}"))
}

/// The subcode of the fault `req` is answered with (empty when it is not refused).
async fn refused_with(d: &Arc<Catalog>, req: Arc<Request>, s: &ServiceSettings) -> String {
    run(d, req, s)
        .await
        .err()
        .as_ref()
        .map(subcode)
        .unwrap_or_default()
}

fn subcode(f: &Fault) -> String {
    f.subcode.as_ref().map(|s| s.qname()).unwrap_or_default()
}

#[tokio::test]
async fn get_relates_to_the_request_byte_for_byte() {
    let out = answer(action::GET, TEST).await;
    assert!(out.contains("<a:RelatesTo>uuid:Mixed-Case-1</a:RelatesTo>"));
    assert!(out.contains(action::GET_RESPONSE));
    assert!(out.contains("<t:Thing"));
}

#[tokio::test]
async fn unknown_uri_unknown_action_and_shell_uris() {
    let s = ServiceSettings::default();
    let d = dispatcher();
    assert_eq!(
        refused_with(&d, request(action::GET, "urn:nothing", "", ""), &s).await,
        "a:DestinationUnreachable"
    );
    assert_eq!(
        refused_with(&d, request("urn:bogus-action", TEST, "", ""), &s).await,
        "a:ActionNotSupported"
    );
    // a provider that does not implement the operation
    assert_eq!(
        refused_with(&d, request(action::DELETE, TEST, "", ""), &s).await,
        "a:ActionNotSupported"
    );
    for uri in [
        "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd",
        "http://schemas.microsoft.com/powershell/Microsoft.PowerShell",
    ] {
        assert_eq!(
            refused_with(&d, request(action::CREATE, uri, "", ""), &s).await,
            "a:DestinationUnreachable"
        );
    }
}

#[tokio::test]
async fn end_is_an_empty_answer_closing_the_connection() {
    let s = ServiceSettings::default();
    let end = request(
        action::END,
        "http://schemas.microsoft.com/wbem/wsman/1/wsman/FullDuplex",
        "",
        "",
    );
    let r = dispatch(&dispatcher(), end, &s).await;
    assert_eq!(r.ok(), Some(Reply::Empty { close: true }));
}

#[tokio::test]
async fn create_returns_resource_created_from_the_address() {
    let out = answer(action::CREATE, TEST).await;
    assert!(out.contains("<x:ResourceCreated><a:Address>http://host:5985/wsman</a:Address>"));
    assert!(out.contains("<w:Selector Name=\"Name\">n1</w:Selector>"));
}

#[tokio::test]
async fn optimized_enumeration_in_one_response() {
    let s = ServiceSettings::default();
    let body =
        "<n:Enumerate><w:OptimizeEnumeration/><w:MaxElements>32000</w:MaxElements></n:Enumerate>";
    let out = run(
        &dispatcher(),
        request(
            action::ENUMERATE,
            TEST,
            "<w:RequestTotalItemsCountEstimate/>",
            body,
        ),
        &s,
    )
    .await
    .unwrap_or_else(|f| panic!("{f}"));
    assert!(out.contains("<w:EndOfSequence/>"));
    assert!(out.contains("<w:TotalItemsCountEstimate>3</w:TotalItemsCountEstimate>"));
    assert_eq!(out.matches("<t:Thing").count(), 3);
}

#[tokio::test]
async fn enumerate_then_pull_in_batches_then_release_fails() {
    let s = ServiceSettings::default();
    let services = Services::default();
    let d = Arc::new(serving_over(TestProvider, &services));
    let body =
        "<n:Enumerate><w:EnumerationMode>EnumerateObjectAndEPR</w:EnumerationMode></n:Enumerate>";
    let out = run(&d, request(action::ENUMERATE, TEST, "", body), &s)
        .await
        .unwrap_or_else(|f| panic!("{f}"));
    let start = out
        .find("<n:EnumerationContext>")
        .map(|i| i + 22)
        .unwrap_or(0);
    let end = out.find("</n:EnumerationContext>").unwrap_or(0);
    let context = &out[start..end];
    assert!(context.starts_with("uuid:"));
    let pull = |n: u32| {
        format!("<n:Pull><n:EnumerationContext>{context}</n:EnumerationContext><n:MaxElements>{n}</n:MaxElements></n:Pull>")
    };
    let first = run(&d, request(action::PULL, TEST, "", &pull(2)), &s)
        .await
        .unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(first.matches("<w:Item>").count(), 2);
    assert!(first.contains("<a:EndpointReference>"));
    assert!(!first.contains("EndOfSequence"));
    let second = run(&d, request(action::PULL, TEST, "", &pull(2)), &s)
        .await
        .unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(second.matches("<w:Item>").count(), 1);
    assert!(second.contains("<n:EndOfSequence/>"));
    assert_eq!(services.enumerations.len(), 0);
    let release =
        format!("<n:Release><n:EnumerationContext>{context}</n:EnumerationContext></n:Release>");
    assert_eq!(
        refused_with(&d, request(action::RELEASE, TEST, "", &release), &s).await,
        "n:InvalidEnumerationContext"
    );
}

#[tokio::test]
async fn batches_shrink_to_fit_the_envelope() {
    let s = ServiceSettings::default();
    let d = dispatcher();
    // Room for the envelope and about one item only.
    let small = "<w:MaxEnvelopeSize>8192</w:MaxEnvelopeSize>";
    let body =
        "<n:Enumerate><w:OptimizeEnumeration/><w:MaxElements>10</w:MaxElements></n:Enumerate>";
    let out = run(&d, request(action::ENUMERATE, TEST, small, body), &s).await;
    let out = out.unwrap_or_else(|f| panic!("{f}"));
    // 8192 is plenty for three ~100-byte items: all in one batch
    assert_eq!(out.matches("<t:Thing").count(), 3);
    let mut q = crate::enumeration::Pending::Rendered((0..5).map(|_| "x".repeat(100)).collect());
    assert_eq!(
        crate::enumeration::take_fitting(&mut q, 10, 250).map(|v| v.len()),
        Ok(2)
    );
}

#[tokio::test]
async fn oversized_response_is_an_encoding_limit_fault() {
    let s = ServiceSettings {
        max_envelope_size_kb: 1,
        ..ServiceSettings::default()
    };
    // The service limit (1 KiB) is below the response size of a Get with a big body.
    struct Big;
    impl Provider for Big {
        fn handles(&self, uri: &str) -> bool {
            uri == BIG
        }
        fn get(&self, _ctx: &Context<'_>) -> Result<Body, Fault> {
            Ok(Body::Xml(format!("<b>{}</b>", "y".repeat(4096))))
        }
    }
    let d = Arc::new(serving(Big));
    assert_eq!(
        refused_with(&d, request(action::GET, BIG, "", ""), &s).await,
        "w:EncodingLimit"
    );
}

/// Answers at once, or for a URI ending in `/slow` only when the test lets it go (drops the
/// sending end of `release`), holding its turn of the work pool until then.
struct Later {
    release: std::sync::Mutex<std::sync::mpsc::Receiver<()>>,
}

impl Provider for Later {
    fn get(&self, ctx: &Context<'_>) -> Result<Body, Fault> {
        if ctx.resource_uri().ends_with("/slow") {
            let release = self.release.lock().unwrap_or_else(|p| p.into_inner());
            let _ = release.recv_timeout(std::time::Duration::from_secs(30));
        }
        Ok(Body::Xml(format!(
            "<t:Later xmlns:t=\"urn:later\">{}</t:Later>",
            ctx.resource_uri()
        )))
    }
}

#[tokio::test]
async fn providers_are_answered_within_the_operation_timeout() {
    let s = ServiceSettings::default();
    let (release, waiting) = std::sync::mpsc::channel::<()>();
    let later = Later {
        release: std::sync::Mutex::new(waiting),
    };
    let d = Arc::new(serving(later));
    let quick = format!("{LATER}/quick");
    let out = run(&d, request(action::GET, &quick, "", ""), &s).await;
    assert!(out.unwrap_or_else(|f| panic!("{f}")).contains("<t:Later"));
    let out = run(&d, request(action::DELETE, &quick, "", ""), &s).await;
    assert_eq!(
        out.err().as_ref().map(subcode).as_deref(),
        Some("a:ActionNotSupported")
    );
    let timeout = "<w:OperationTimeout>PT0.200S</w:OperationTimeout>";
    let slow = format!("{LATER}/slow");
    let out = run(&d, request(action::GET, &slow, timeout, ""), &s).await;
    assert_eq!(
        out.err().as_ref().map(subcode).as_deref(),
        Some("w:TimedOut")
    );
    drop(release);
}

/// Answers every request it is routed with an empty envelope of the given action.
struct Eventing;

impl Engine for Eventing {
    fn keys(&self) -> Vec<crate::catalog::Key> {
        vec![
            (EndpointKind::WsMan, Target::Family(Family::EventLog)),
            (EndpointKind::WsMan, Target::Subscriptions),
        ]
    }

    fn handle<'a>(&'a self, _call: Call<'a>) -> ReplyFuture<'a> {
        Box::pin(async move { Ok(Answer::body("urn:routed-to-eventing", "")) })
    }
}

#[tokio::test]
async fn eventing_actions_go_to_the_eventing_engine_when_there_is_one() {
    let s = ServiceSettings::default();
    let subscribe = "http://schemas.xmlsoap.org/ws/2004/08/eventing/Subscribe";
    let out = run(&dispatcher(), request(subscribe, TEST, "", ""), &s).await;
    assert_eq!(
        out.err().as_ref().map(subcode).as_deref(),
        Some("a:ActionNotSupported")
    );
    let mut catalog = serving(TestProvider);
    catalog.insert(Eventing);
    let d = Arc::new(catalog);
    let out = run(&d, request(subscribe, TEST, "", ""), &s).await;
    assert!(out
        .unwrap_or_else(|f| panic!("{f}"))
        .contains("urn:routed-to-eventing"));
    // Other actions still go to the resource's engine.
    let out = run(&d, request(action::GET, TEST, "", ""), &s).await;
    assert!(out.unwrap_or_else(|f| panic!("{f}")).contains("<t:Thing"));
}

#[tokio::test]
async fn every_action_on_the_event_logs_goes_to_the_eventing_engine() {
    let s = ServiceSettings::default();
    let log = wsman_proto::eventing::EVENT_LOG_URI;
    let pull = "<n:Pull><n:EnumerationContext>uuid:X</n:EnumerationContext></n:Pull>";
    // Without an eventing engine the event logs are not served.
    let out = run(&dispatcher(), request(action::PULL, log, "", pull), &s).await;
    assert_eq!(
        out.err().as_ref().map(subcode).as_deref(),
        Some("a:DestinationUnreachable")
    );
    let mut catalog = Catalog::new();
    catalog.insert(Eventing);
    let d = Arc::new(catalog);
    for act in [action::PULL, action::RELEASE, action::GET] {
        let out = run(&d, request(act, log, "", pull), &s).await;
        assert!(
            out.unwrap_or_else(|f| panic!("{act}: {f}"))
                .contains("urn:routed-to-eventing"),
            "{act}"
        );
    }
}
