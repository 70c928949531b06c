//! A collector's offers to a forwarder: the `m:Subscription` items of a SubscriptionManager
//! EnumerateResponse. The well-formed answer is the collector crate's golden fixture (the shape
//! openwec's `doc/protocol.md` records from a Windows collector); the bad ones are built here.
//! Checked: every field the forwarder acts on is read, one bad item does not spoil the others,
//! and no input panics or takes unbounded work.

use proptest::prelude::*;
use wsman_events::offer::{parse_enumerate_response, OfferError, MAX_OFFERS};
use wsman_events::subscribe::StartAt;
use wsman_events::{ContentFormat, DeliveryMode};
use wsman_proto::xml::{self, Element, Limits};

const NAMESPACES: &str = r#"xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:m="http://schemas.microsoft.com/wbem/wsman/1/subscription""#;

fn golden_body() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../wsman-collector/tests/fixtures/enumerate-response-body.xml"
    );
    std::fs::read_to_string(path).expect("the collector's fixture")
}

/// The body element with the prefixes its envelope would declare.
fn body(text: &str) -> Element {
    let declared = text.replacen(
        "<n:EnumerateResponse",
        &format!("<n:EnumerateResponse {NAMESPACES}"),
        1,
    );
    let mut limits = Limits::default();
    limits.max_elements = 1_000_000;
    xml::parse(&declared, &limits).expect("XML")
}

fn with_items(items: &str) -> Element {
    body(&format!(
        "<n:EnumerateResponse><n:EnumerationContext/><w:Items>{items}</w:Items><w:EndOfSequence/></n:EnumerateResponse>"
    ))
}

fn golden_item() -> String {
    let text = golden_body();
    let start = text.find("<m:Subscription").expect("an item");
    let end = text.rfind("</m:Subscription>").expect("its end") + "</m:Subscription>".len();
    text[start..end].to_owned()
}

#[test]
fn the_collectors_answer_is_read_in_full() {
    let (offers, errors) = parse_enumerate_response(&body(&golden_body()));
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(offers.len(), 1);
    let offer = &offers[0];
    assert_eq!(offer.version, "VERSION");
    assert_eq!(offer.key(), "security");
    let s = &offer.subscribe;
    assert_eq!(s.mode, DeliveryMode::Events);
    let notify = s.notify_to.as_ref().expect("NotifyTo");
    assert_eq!(
        notify.address,
        "http://collector.example.com:5985/wsman/subscriptions/IDENTIFIER/1"
    );
    assert_eq!(notify.reference_parameters.len(), 1);
    assert_eq!(notify.reference_parameters[0].trimmed_text(), "VERSION");
    assert!(s.end_to.is_some());
    assert_eq!(s.max_elements, Some(50));
    assert_eq!(s.max_time, Some(std::time::Duration::from_secs(10)));
    assert_eq!(s.heartbeats, Some(std::time::Duration::from_secs(60)));
    assert_eq!(
        s.connection_retry,
        Some((5, std::time::Duration::from_secs(60)))
    );
    assert!(s.utf16);
    assert_eq!(s.content_format, ContentFormat::RenderedText);
    assert!(s.ignore_channel_error);
    assert!(s.send_bookmarks);
    assert_eq!(s.authentication.len(), 1);
    assert!(s.authentication[0]
        .profile
        .ends_with("/http/spnego-kerberos"));
    let Some(StartAt::After(bookmark)) = &s.start_at else {
        panic!("the bookmark: {:?}", s.start_at);
    };
    assert_eq!(bookmark.position("Security"), Some(4711));
    let channels = s.filter.as_ref().expect("the query").channels();
    assert!(channels.contains("Security") && channels.contains("Application"));
}

#[test]
fn a_bad_item_is_reported_and_the_others_are_taken() {
    let good = golden_item();
    let no_version = good.replacen("<m:Version>uuid:VERSION</m:Version>", "", 1);
    let pull = good.replace(
        "Mode=\"http://schemas.dmtf.org/wbem/wsman/1/wsman/Events\"",
        "Mode=\"http://schemas.dmtf.org/wbem/wsman/1/wsman/Pull\"",
    );
    let bad_dialect = good.replace(
        "http://schemas.microsoft.com/win/2004/08/events/eventquery",
        "urn:unknown-dialect",
    );
    let bad_retry = good.replace("Total=\"5\"", "Total=\"many\"");
    let items = format!(
        "<m:Other/>{no_version}<m:Subscription><m:Version>v</m:Version></m:Subscription>{pull}{bad_dialect}{bad_retry}{good}"
    );
    let (offers, errors) = parse_enumerate_response(&with_items(&items));
    assert_eq!(offers.len(), 1, "{errors:?}");
    assert_eq!(offers[0].version, "VERSION");
    assert!(matches!(errors[0], OfferError::NotSubscription(_)));
    assert_eq!(errors[1], OfferError::NoVersion);
    assert_eq!(errors[2], OfferError::NoEnvelope);
    assert!(
        matches!(errors[3], OfferError::NotEvents(_)),
        "{:?}",
        errors[3]
    );
    assert!(
        matches!(errors[4], OfferError::Subscribe(_)),
        "{:?}",
        errors[4]
    );
    assert!(
        matches!(errors[5], OfferError::Subscribe(_)),
        "{:?}",
        errors[5]
    );
    assert_eq!(errors.len(), 6);
}

#[test]
fn not_an_enumerate_response_and_too_many_items_are_bounded() {
    // No Items: nothing offered (a collector with no subscription for us), and no error.
    let (offers, errors) = parse_enumerate_response(&body(
        "<n:EnumerateResponse><n:Other/></n:EnumerateResponse>",
    ));
    assert!(offers.is_empty() && errors.is_empty(), "{errors:?}");
    let fault = xml::parse(
        "<s:Fault xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"/>",
        &Limits::default(),
    )
    .expect("XML");
    assert_eq!(
        parse_enumerate_response(&fault).1,
        vec![OfferError::NotEnumerateResponse]
    );

    let many = "<m:Subscription/>".repeat(MAX_OFFERS + 50);
    let (offers, errors) = parse_enumerate_response(&with_items(&many));
    assert!(offers.is_empty());
    assert_eq!(
        errors.len(),
        MAX_OFFERS + 1,
        "each of the first {MAX_OFFERS}, then one TooMany"
    );
    assert_eq!(errors.last(), Some(&OfferError::TooMany));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Any text in the version and in any element of the embedded Subscribe: an offer or an
    /// error, never a panic; a taken offer keeps the version it was given.
    #[test]
    fn any_version_and_values_are_answered(version in "[ -~]{0,200}", value in "[ -~]{0,64}", which in 0usize..6) {
        let targets = ["PT60.000S", "50", "PT10.000S", "512000", "UTF-16", "VERSION</e:Identifier>"];
        let escaped = xml::escape_text(&value).into_owned();
        // The value first: put in after the version, a target such as "50" could match the
        // version's own text instead of the element it stands for.
        let item = golden_item()
            .replacen(targets[which], &escaped, 1)
            .replacen("uuid:VERSION", &xml::escape_text(&version), 1);
        let parsed = xml::parse(&format!("<n:EnumerateResponse {NAMESPACES}><w:Items>{item}</w:Items></n:EnumerateResponse>"), &Limits::default());
        if let Ok(root) = parsed {
            let (offers, errors) = parse_enumerate_response(&root);
            prop_assert_eq!(offers.len() + errors.len(), 1);
            if let Some(offer) = offers.first() {
                let trimmed = version.trim();
                prop_assert_eq!(offer.version.as_str(), trimmed.strip_prefix("uuid:").unwrap_or(trimmed));
            }
        }
    }
}

/// A paged answer: the EnumerateResponse gives a context, each PullResponse the next one, the
/// last ends the sequence; the offers of every page are kept, and a collector that pages
/// forever is followed for at most MAX_OFFERS pages.
#[test]
fn a_paged_answer_is_read_page_by_page_and_bounded() {
    use wsman_events::offer::OfferPages;
    let item = golden_item();
    let pull = |context: Option<&str>, items: &str| {
        let context = context
            .map(|c| format!("<n:EnumerationContext>{c}</n:EnumerationContext>"))
            .unwrap_or_default();
        let end = if context.is_empty() {
            "<n:EndOfSequence/>"
        } else {
            ""
        };
        xml::parse(
            &format!("<n:PullResponse {NAMESPACES}>{context}<n:Items>{items}</n:Items>{end}</n:PullResponse>"),
            &Limits::default(),
        )
        .expect("XML")
    };
    let mut pages = OfferPages::default();
    let first = body(&format!(
        "<n:EnumerateResponse><n:EnumerationContext>uuid:A</n:EnumerationContext><w:Items>{item}</w:Items></n:EnumerateResponse>"
    ));
    assert_eq!(pages.read(&first).as_deref(), Some("uuid:A"));
    assert_eq!(
        pages.read(&pull(Some("uuid:B"), &item)).as_deref(),
        Some("uuid:B")
    );
    assert_eq!(pages.read(&pull(None, &item)), None);
    assert_eq!(pages.offers.len(), 3);
    assert!(pages.errors.is_empty(), "{:?}", pages.errors);
    // One page, ended: no Pull.
    assert_eq!(OfferPages::default().read(&with_items(&item)), None);
    // Pages without end, without items: followed MAX_OFFERS times, then given up.
    let mut endless = OfferPages::default();
    let empty = pull(Some("uuid:C"), "");
    let followed = (0..MAX_OFFERS * 2)
        .take_while(|_| endless.read(&empty).is_some())
        .count();
    assert_eq!(followed, MAX_OFFERS - 1);
    assert_eq!(endless.errors, vec![OfferError::TooMany]);
}
