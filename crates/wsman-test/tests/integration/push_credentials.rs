//! Push delivery with the daemon's own credentials (here the Kerberos profile: the machine's
//! credentials to `HTTP/<host>`) is for subscriptions made as root, or to a host `push.toml`
//! lists: a member of `wsmand-admins` that is not root asking for it to a loopback listener is
//! refused (`w:AccessDenied`, logged naming the user and the rule) before anything is opened,
//! and the listener sees no connection; without an authentication profile (no credentials)
//! the same member may push; root may name any host; a listed host is allowed to the member.

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::eventing::{source_with_env, Source};
use crate::expect_fault;
use crate::push::{push_subscribe, pushed_subscription, EVENTS_MODE};

const KERBEROS: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/spnego-kerberos";
/// A service account running as the Linux user `wsmantest`: in `wsmand-admins`, not root.
const ADMIN: &str = "pushadmin";
const ADMIN_PASSWORD: &str = "Push-Admin-Pass-7";
const ADMIN_LINUX_USER: &str = "wsmantest";

/// A loopback listener that counts the connections it is offered (and closes each).
fn counting_listener() -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let port = listener.local_addr().expect("address").port();
    let count = Arc::new(AtomicUsize::new(0));
    let counted = count.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            counted.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    (port, count)
}

/// A push Subscribe to `notify_to` whose policy asks for the Kerberos profile.
fn kerberos_subscribe(notify_to: &str) -> String {
    let policy = format!(
        r#"<c:Policy xmlns:c="http://schemas.xmlsoap.org/ws/2002/12/policy" xmlns:auth="http://schemas.microsoft.com/wbem/wsman/1/authentication"><c:ExactlyOne><c:All><auth:Authentication Profile="{KERBEROS}"/></c:All></c:ExactlyOne></c:Policy></e:NotifyTo>"#
    );
    push_subscribe(EVENTS_MODE, notify_to, "", "").replacen("</e:NotifyTo>", &policy, 1)
}

/// The event source with the non-root administrator's account, `push.toml` as given.
fn source_with_push_file(push_file: Option<String>) -> Option<Source> {
    let known = std::process::Command::new("id")
        .arg(ADMIN_LINUX_USER)
        .output()
        .is_ok_and(|o| o.status.success());
    if !known {
        eprintln!("skipped: no Linux user {ADMIN_LINUX_USER} (scripts/test.sh creates it)");
        return None;
    }
    let source = source_with_env(
        false,
        |config| {
            if let Some(text) = &push_file {
                config.write_raw("push.toml", text);
            }
        },
        &[],
    )?;
    source
        .config
        .add_account(ADMIN, ADMIN_PASSWORD, Some(ADMIN_LINUX_USER));
    Some(source)
}

#[test]
fn the_daemons_credentials_go_only_where_root_or_push_toml_says() {
    let (port, connections) = counting_listener();
    let notify_to = format!("http://127.0.0.1:{port}/events");
    let Some(source) = source_with_push_file(None) else {
        return;
    };

    // A non-root administrator: refused, logged, nothing opened.
    let refused = source.post_as(ADMIN, ADMIN_PASSWORD, &kerberos_subscribe(&notify_to));
    expect_fault(&refused, "AccessDenied");
    let log = source.daemon.stderr();
    assert!(
        log.lines()
            .any(|l| l.contains(ADMIN_LINUX_USER) && l.contains("push.toml")),
        "{log}"
    );
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "nothing reached the subscriber"
    );

    // Root (the service account runs as root) may name any host.
    let root = source.post(&kerberos_subscribe(&notify_to));
    pushed_subscription(&root);
    // Without an authentication profile no credentials are sent: the administrator may push.
    let plain = source.post_as(
        ADMIN,
        ADMIN_PASSWORD,
        &push_subscribe(EVENTS_MODE, &notify_to, "", ""),
    );
    pushed_subscription(&plain);
    drop(source);

    // A host push.toml lists: the administrator's push with credentials is taken.
    let listed = format!("credential_subscribers = [\"127.0.0.1:{port}\"]\n");
    let Some(source) = source_with_push_file(Some(listed)) else {
        return;
    };
    let taken = source.post_as(ADMIN, ADMIN_PASSWORD, &kerberos_subscribe(&notify_to));
    pushed_subscription(&taken);
    // Another port of the same host is not listed.
    let other = source.post_as(
        ADMIN,
        ADMIN_PASSWORD,
        &kerberos_subscribe(&format!("http://127.0.0.1:{}/events", port + 1)),
    );
    expect_fault(&other, "AccessDenied");
}
