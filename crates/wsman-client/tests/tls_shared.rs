#![allow(clippy::unwrap_used)]
//! What a client for another address of the same server costs in memory: a forwarder makes
//! one for every subscription's delivery address on its collector, and an idle subscription's
//! memory is mostly what it keeps. Counted with the C allocator's statistics.

use wsman_client::{Auth, Client, ClientOptions, Credentials, Endpoint};

/// Bytes on the C heap now (the allocator's own statistics, the whole process: this file has
/// one test, so nothing else of the binary allocates meanwhile).
fn held() -> isize {
    wsman_os::allocator::heap_in_use().unwrap_or_else(|| panic!("no heap statistics")) as isize
}

/// A collector's options as a forwarder configures them: Basic over HTTPS, its CA file.
fn collector_options(ca_file: &std::path::Path) -> ClientOptions {
    let mut options = ClientOptions::default();
    options.auth = Auth::Basic(Credentials::new("forwarder", "secret"));
    options.tls.ca_file = Some(ca_file.to_owned());
    options
}

fn endpoint(n: usize) -> Endpoint {
    Endpoint::parse(
        &format!("https://collector.example:5986/wsman/subscriptions/{n}"),
        false,
    )
    .unwrap()
}

/// Bytes held per client of `clients` made by `make`, all kept alive until counted.
fn held_per_client(clients: usize, make: impl Fn(usize) -> Client) -> isize {
    let before = held();
    let made: Vec<Client> = (0..clients).map(make).collect();
    let per_client = (held() - before) / clients as isize;
    drop(made);
    per_client
}

/// Subscriptions' clients made from the collector's client share its TLS configuration: the
/// parsed roots and the 256-entry session cache are not built again for each. One made with
/// `Client::new` (what each of a subscription's three clients was) holds about 17 KiB; one made
/// for another address a few KiB (its pool, endpoint and options).
#[test]
fn a_client_for_another_address_of_the_collector_holds_no_tls_configuration_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let certificate = rcgen::CertificateParams::new(vec!["collector.example".to_owned()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let ca_file = dir.path().join("collector.crt");
    std::fs::write(&ca_file, certificate.pem()).unwrap();
    let options = collector_options(&ca_file);
    let collector = Client::new(endpoint(0), options.clone()).unwrap();

    let built_each = held_per_client(20, |n| Client::new(endpoint(n), options.clone()).unwrap());
    let shared = held_per_client(20, |n| collector.for_endpoint(endpoint(n)).unwrap());
    assert!(
        shared <= 8 * 1024,
        "a subscription's client holds {shared} bytes (one with a TLS configuration of its own: {built_each})"
    );
    assert!(
        shared * 4 <= built_each,
        "sharing the TLS configuration saves little: {shared} against {built_each} bytes"
    );
    // The policy of the client it is made from holds for the new address: Basic is not sent
    // over plain HTTP unless allowed.
    let http =
        Endpoint::parse("http://collector.example:5985/wsman/subscriptions/1", false).unwrap();
    assert!(collector.for_endpoint(http).is_err());
}
