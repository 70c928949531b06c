#![allow(clippy::unwrap_used)]
//! The event source against a real journal (journald of a systemd booted as PID 1 of its own
//! namespaces): subscriptions, pulls in order with nothing twice, who may read what, limits,
//! ownership, expiry, bookmarks.

use std::time::Duration;

use wsman_events::subscribe::{Expires, StartAt};
use wsman_events::{
    BookmarkList, ContentFormat, DeliveryMode, Mapping, QueryList, SubscribeRequest, Timestamp,
};
use wsman_eventsource::{Caller, EventSource, Limits, Pulled, SourceError};
use wsman_journal::Journal;
use wsman_test::systemd::BootedSystemd;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn now() -> Timestamp {
    Timestamp::from_system_time(std::time::SystemTime::now())
}

/// A pull that brought the second application error alone.
fn assert_only_app_error_two(pulled: &Pulled) {
    assert_eq!(pulled.events.len(), 1);
    assert!(pulled.events[0].xml.contains("app error two"));
}

fn request(filter: Option<&str>) -> SubscribeRequest {
    SubscribeRequest {
        mode: DeliveryMode::Pull,
        notify_to: None,
        end_to: None,
        authentication: Vec::new(),
        heartbeats: None,
        connection_retry: None,
        max_elements: None,
        max_time: None,
        max_envelope_size: None,
        utf16: false,
        expires: None,
        filter: filter
            .map(|f| std::sync::Arc::new(QueryList::parse(f).expect("the filter parses"))),
        start_at: None,
        send_bookmarks: true,
        content_format: ContentFormat::Raw,
        read_existing_events: false,
        ignore_channel_error: false,
        compress_sldc: false,
        name: None,
    }
}

fn admin() -> Caller {
    Caller {
        user: "root".to_owned(),
        owner: wsman_principal::Principal::linux_user("root").owner_key(),
        administrator: true,
        uid: Some(0),
    }
}

fn user(name: &str) -> Caller {
    Caller {
        user: name.to_owned(),
        owner: wsman_principal::Principal::linux_user(name).owner_key(),
        administrator: false,
        uid: None,
    }
}

fn log(systemd: &BootedSystemd, tag: &str, priority: &str, message: &str) {
    systemd.exec_ok(&["logger", "-t", tag, "-p", priority, message]);
}

fn sync(systemd: &BootedSystemd, marker: &str) {
    systemd.journal_until(&["-o", "cat", "-n", "50"], |out| out.contains(marker));
}

const ERRORS: &str = r#"<QueryList><Query Id="0"><Select Path="Application">*[System[Level=2]]</Select><Select Path="Security">*[System[Level=2]]</Select></Query></QueryList>"#;

#[test]
fn subscriptions_pull_in_order_within_their_rights_and_bounds() {
    let Some(systemd) = BootedSystemd::boot() else {
        return;
    };
    let journal = Journal::Directory(systemd.root().join("var/log/journal"));
    let source = EventSource::new(
        journal,
        Mapping {
            computer: "linux.example.test".to_owned(),
            ..Mapping::default()
        },
        Limits {
            max_total: 5,
            max_per_user: 3,
            ..Limits::default()
        },
    );
    runtime().block_on(async {
        let (sub_id, security_record) = in_order_within_rights(&source, &systemd).await;
        unknown_logs_push_and_limits(&source).await;
        renew_expiry_and_resume(&source, &sub_id, security_record).await;
    });
}

/// Events pulled in journal order, each once, filtered; Security for administrators only;
/// another user's subscription refused. The administrator's subscription id and the record
/// id of the Security event it got.
async fn in_order_within_rights(source: &EventSource, systemd: &BootedSystemd) -> (String, u64) {
    // Subscribed before the events: it sees them, and nothing older.
    let sub = source
        .subscribe(&admin(), &request(Some(ERRORS)), "sub-1".to_owned(), now())
        .await
        .expect("an administrator subscribes to Application and Security");
    let plain = source
        .subscribe(&user("alice"), &request(None), "sub-2".to_owned(), now())
        .await
        .expect("a user subscribes to what users may read");

    log(systemd, "wsman-src", "user.err", "app error one");
    log(systemd, "wsman-src", "user.info", "app info");
    log(systemd, "sshd", "authpriv.err", "sshd error");
    log(systemd, "wsman-src", "user.err", "app error two");
    sync(systemd, "app error two");

    let first = source
        .pull(&admin(), &sub.id, 2, Duration::from_millis(100), now())
        .await
        .unwrap();
    let texts: Vec<&str> = first
        .events
        .iter()
        .map(|e| {
            if e.xml.contains("app error one") {
                "one"
            } else if e.xml.contains("sshd error") {
                "sshd"
            } else {
                "other"
            }
        })
        .collect();
    assert_eq!(texts, ["one", "sshd"], "in journal order, info left out");
    let bookmark = first.bookmark.expect("bookmarks were asked for");
    assert_eq!(
        bookmark.position("Security"),
        Some(first.events[1].record_id)
    );

    let second = source
        .pull(&admin(), &sub.id, 10, Duration::from_millis(100), now())
        .await
        .unwrap();
    assert_only_app_error_two(&second);
    let third = source
        .pull(&admin(), &sub.id, 10, Duration::from_millis(200), now())
        .await
        .unwrap();
    assert!(third.events.is_empty(), "nothing is delivered twice");

    // The user's subscription without a filter: Application and System, never Security.
    let mine = source
        .pull(
            &user("alice"),
            &plain.id,
            100,
            Duration::from_millis(100),
            now(),
        )
        .await
        .unwrap();
    assert!(mine.events.iter().any(|e| e.xml.contains("app info")));
    assert!(mine.events.iter().all(|e| !e.xml.contains("sshd error")));
    assert!(mine
        .events
        .iter()
        .all(|e| e.channel == "Application" || e.channel == "System"));

    // Rights: Security is for administrators; another user's subscription is not yours.
    assert!(matches!(
        source
            .subscribe(
                &user("alice"),
                &request(Some(ERRORS)),
                "x".to_owned(),
                now()
            )
            .await,
        Err(SourceError::AccessDenied(_))
    ));
    assert!(matches!(
        source
            .pull(&user("bob"), &sub.id, 1, Duration::ZERO, now())
            .await,
        Err(SourceError::AccessDenied(_))
    ));
    assert!(matches!(
        source.unsubscribe(&user("bob"), &sub.id),
        Err(SourceError::AccessDenied(_))
    ));
    (sub.id, first.events[1].record_id)
}

/// Unknown logs refused unless ignored, push not served here, three subscriptions per user
/// and five in all.
async fn unknown_logs_push_and_limits(source: &EventSource) {
    // Unknown logs, unless the subscriber said to ignore them; push is not served yet.
    let setup = r#"<QueryList><Query Id="0"><Select Path="Setup">*</Select><Select Path="System">*</Select></Query></QueryList>"#;
    assert!(matches!(
        source
            .subscribe(&admin(), &request(Some(setup)), "x".to_owned(), now())
            .await,
        Err(SourceError::UnknownChannel(c)) if c == "Setup"
    ));
    let ignoring = SubscribeRequest {
        ignore_channel_error: true,
        ..request(Some(setup))
    };
    source
        .subscribe(&admin(), &ignoring, "sub-3".to_owned(), now())
        .await
        .expect("unknown logs ignored when asked");
    let push = SubscribeRequest {
        mode: DeliveryMode::Events,
        ..request(None)
    };
    assert!(matches!(
        source
            .subscribe(&admin(), &push, "x".to_owned(), now())
            .await,
        Err(SourceError::DeliveryModeUnavailable(_))
    ));

    // Limits: three per user, five in all.
    source
        .subscribe(&admin(), &request(None), "sub-4".to_owned(), now())
        .await
        .unwrap();
    assert!(matches!(
        source
            .subscribe(&admin(), &request(None), "x".to_owned(), now())
            .await,
        Err(SourceError::TooManySubscriptions(_))
    ));
    source
        .subscribe(&user("carol"), &request(None), "sub-5".to_owned(), now())
        .await
        .unwrap();
    assert_eq!(source.count(), 5);
    assert!(matches!(
        source
            .subscribe(&user("dave"), &request(None), "x".to_owned(), now())
            .await,
        Err(SourceError::TooManySubscriptions(_))
    ));
}

/// Renew refused as on Windows, unsubscribe and expiry end a subscription, a bookmark
/// resumes after its record.
async fn renew_expiry_and_resume(source: &EventSource, sub_id: &str, security_record: u64) {
    // Renew is refused as on Windows; unsubscribe ends it.
    assert!(matches!(
        source.renew(&admin(), sub_id),
        Err(SourceError::UnableToRenew)
    ));
    source.unsubscribe(&admin(), sub_id).unwrap();
    assert!(matches!(
        source
            .pull(&admin(), sub_id, 1, Duration::ZERO, now())
            .await,
        Err(SourceError::UnknownSubscription)
    ));

    // Expiry: the source ends it, and a pull after that finds nothing.
    for id in ["sub-3", "sub-4"] {
        source.unsubscribe(&admin(), id).unwrap();
    }
    let short = SubscribeRequest {
        expires: Some(Expires::After(Duration::from_secs(1))),
        ..request(None)
    };
    let started = now();
    source
        .subscribe(&admin(), &short, "short".to_owned(), started)
        .await
        .unwrap();
    let later = Timestamp::from_unix_micros(started.unix_micros() + 2_000_000);
    assert_eq!(source.expire(later), ["short"]);
    assert!(matches!(
        source
            .pull(&admin(), "short", 1, Duration::ZERO, later)
            .await,
        Err(SourceError::UnknownSubscription)
    ));

    // A bookmark resumes after its record: the second app error comes again, the first not.
    let mut resume = BookmarkList::new();
    resume.advance("Security", security_record);
    let from_bookmark = SubscribeRequest {
        start_at: Some(StartAt::After(resume)),
        ..request(Some(ERRORS))
    };
    let resumed = source
        .subscribe(&admin(), &from_bookmark, "resumed".to_owned(), now())
        .await
        .unwrap();
    let again = source
        .pull(&admin(), &resumed.id, 10, Duration::from_millis(100), now())
        .await
        .unwrap();
    assert_only_app_error_two(&again);
}
