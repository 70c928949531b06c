//! Clients of many hosts sharing what they can ([`Client::new_like`], a given buffer pool).

use std::sync::Arc;

use crate::{Auth, Client, ClientOptions, Credentials, Endpoint};

fn options(user: &str, skip_ca_check: bool) -> ClientOptions {
    ClientOptions {
        auth: Auth::Basic(Credentials::new(user, "pw".to_owned())),
        tls: crate::tls::TlsOptions {
            skip_ca_check,
            ..Default::default()
        },
        ..ClientOptions::default()
    }
}

fn endpoint(host: &str) -> Endpoint {
    Endpoint::parse(&format!("https://{host}:5986/wsman"), false).expect("endpoint")
}

/// Clients of many hosts share one TLS configuration when their certificate checks are
/// the same (each its own account), and a pool of reply buffers when given one.
#[test]
fn clients_alike_share_their_tls_configuration_and_a_given_buffer_pool() {
    let pool = Arc::new(wsman_buffers::BufferPool::new(2, 0, 1024));
    let mut first = options("a", true);
    first.reply_buffers = Some(Arc::clone(&pool));
    let a = Client::new(endpoint("h1"), first).expect("a");
    let b = Client::new_like(endpoint("h2"), options("b", true), &a).expect("b");
    let c = Client::new_like(endpoint("h3"), options("c", false), &a).expect("c");
    let tls = |client: &Client| client.transport.tls().expect("TLS");
    assert!(Arc::ptr_eq(&tls(&a), &tls(&b)), "the same checks: shared");
    assert!(!Arc::ptr_eq(&tls(&a), &tls(&c)), "other checks: its own");
    assert!(Arc::ptr_eq(&a.transport.bodies, &pool));
    assert!(
        !Arc::ptr_eq(&b.transport.bodies, &pool),
        "no pool given: its own"
    );
}
