//! The errors table's rows for the errors the engines meet on their way to an answer (the
//! event store's search, the blocking pool, a deadline, a batch that does not fit, a Renew, an
//! access refusal), with where each expected fault comes from; the helpers are `tests.rs`'.

use super::tests::{access_denied, check, internal_error, invalid_parameter, want};
use super::*;

/// `w:EncodingLimit` MaxEnvelopeSizeExceeded (reference §5.2, DSP0226 §6.2).
fn envelope_exceeded() -> super::tests::Expected {
    want(
        "s:Sender",
        "w:EncodingLimit",
        Some("MaxEnvelopeSizeExceeded"),
        2150858824,
    )
}

#[test]
fn event_store_search_errors_map_to_the_filter_fault_or_an_internal_error() {
    // Reference §5.2: n:CannotProcessFilter (the store's dialect is ours).
    let filter = want("s:Sender", "n:CannotProcessFilter", None, 2150858778);
    check("filter", filter_fault(FilterError::EmptyRange), &filter);
    let error = StoreQueryError::Filter(FilterError::NoSearch);
    check("store: filter", store_query_fault(error), &filter);
    let fault = store_query_fault(StoreQueryError::Filter(FilterError::EmptyRange));
    assert_eq!(
        fault.message, "From must be before To",
        "the reason is the filter's"
    );
}

#[tokio::test]
async fn a_failed_blocking_task_is_an_internal_error_saying_what_failed() {
    let works = [
        (
            BlockingWork::EventStoreSearch,
            "The event store could not be read. ",
        ),
        (
            BlockingWork::SubscribeParse,
            "parsing the Subscribe failed: ",
        ),
        (
            BlockingWork::NextItems,
            "The provider failed while making the next items: ",
        ),
        (BlockingWork::UserLookup, "The user lookup failed: "),
    ];
    for (work, text) in works {
        let join = tokio::task::spawn_blocking(|| panic!("planted"))
            .await
            .expect_err("the task panicked");
        let fault = blocking_fault(join, work);
        assert!(
            fault.message.starts_with(text),
            "{work:?}: {}",
            fault.message
        );
        check(&format!("{work:?}"), fault, &internal_error());
    }
}

#[tokio::test]
async fn a_deadline_passed_is_timed_out() {
    let elapsed = tokio::time::timeout(std::time::Duration::ZERO, std::future::pending::<()>())
        .await
        .expect_err("nothing finishes");
    // Recording: the OperationTimeout fault (w:TimedOut 2150858793).
    let timed_out = super::tests::recorded("fault.receive-timeout.xml");
    check("elapsed", elapsed_fault(elapsed), &timed_out);
    check(
        "unfit: expired",
        unfit_fault(Unfit::Expired, 0, 1),
        &timed_out,
    );
}

#[test]
fn an_item_that_does_not_fit_names_its_size_with_the_overhead() {
    let fault = unfit_fault(Unfit::TooLarge(100), 20, 8192);
    assert!(fault.message.contains("(120)"), "{}", fault.message);
    assert!(fault.message.contains("(8192)"), "{}", fault.message);
    check("unfit: too large", fault, &envelope_exceeded());
    let pulled = pull_fault(SourceError::EventTooLarge(9000), 1200, 8192);
    assert!(pulled.message.contains("(10200)"), "{}", pulled.message);
    check("pull: event too large", pulled, &envelope_exceeded());
    // The rest as the source decides for a context: reference §5.2.
    let unknown = pull_fault(SourceError::UnknownSubscription, 1200, 8192);
    let context = want(
        "s:Receiver",
        "n:InvalidEnumerationContext",
        None,
        2150858779,
    );
    check("pull: unknown", unknown, &context);
}

#[test]
fn a_renew_is_never_granted_and_refused_access_says_so() {
    // Reference §5.2: e:UnableToRenew, whatever the subscription's state.
    let unable = want("s:Receiver", "e:UnableToRenew", None, 2150858788);
    check("renew: alive", renew_fault(None), &unable);
    let unknown = Some(SourceError::UnknownSubscription);
    check("renew: unknown", renew_fault(unknown), &unable);
    let denied = Some(SourceError::AccessDenied("x".into()));
    check("renew: denied", renew_fault(denied), &access_denied());
}

#[test]
fn access_refusals_are_access_denied_with_the_service_code_where_the_service_refuses() {
    let remote = denial_fault(Denial::RemoteAccessDisabled);
    assert!(
        remote.message.contains("AllowRemoteAccess"),
        "{}",
        remote.message
    );
    check(
        "remote access disabled",
        remote,
        &want("s:Sender", "w:AccessDenied", None, 2150859229),
    );
    let shell = denial_fault(Denial::RemoteShellAccessDisabled);
    assert!(
        shell.message.contains("AllowRemoteShellAccess"),
        "{}",
        shell.message
    );
    check("remote shells disabled", shell, &access_denied());
    for denial in [Denial::Descriptor, Denial::ShellDescriptor] {
        check(
            &format!("{denial:?}"),
            denial_fault(denial),
            &access_denied(),
        );
    }
}

#[test]
fn psrp_data_that_is_not_base64_and_an_account_not_looked_up() {
    use base64::Engine as _;
    let not_base64 = base64::engine::general_purpose::STANDARD
        .decode("!")
        .expect_err("not base64");
    check(
        "base64",
        psrp_base64_fault(not_base64),
        &invalid_parameter(),
    );
    // A failure of this host: the generic server failure (reference §5.2, §5.3).
    let lookup = user_lookup_fault(UserError::NulByte);
    assert!(lookup.message.contains("NUL"), "{}", lookup.message);
    check("user lookup", lookup, &internal_error());
}
