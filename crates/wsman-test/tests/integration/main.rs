//! Integration tests: the real `wsmand` on 127.0.0.1 free ports, driven by the real `winrm`
//! CLI, curl, and raw HTTP for the inputs curl cannot produce. One test binary (the modules
//! below), so the daemon and CLI are located once and tests run in parallel.
//!
//! Build the binaries first: `cargo build --workspace --bins` (scripts/test.sh does).

/// Runs a test's body with its collector's bookmarks and event store in PostgreSQL (skipped
/// where it is not installed, as [`wsman_test::postgres::Postgres::start`] says); the same
/// body's SQLite run passes `None`.
fn on_postgres(body: fn(Option<&wsman_test::postgres::Postgres>)) {
    if let Some(server) = wsman_test::postgres::Postgres::start() {
        body(Some(&server));
    }
}

mod access;
mod access_table;
mod audit;
mod auth;
mod bad_input;
mod budgets;
mod certificates;
mod cim;
mod cim_corpus;
mod cim_load;
mod cim_microsoft_prefix;
mod cim_put;
mod cim_server_2012;
mod cim_windows;
mod cim_xml;
mod class_metadata;
mod client_auth_cli;
mod collector;
mod collector_computer;
mod collector_faults;
mod collector_fleet;
mod collector_gates;
mod collector_nodes;
mod collector_offers;
mod collector_paging;
mod collector_postgres;
mod collector_reload;
mod collector_silent;
mod collector_sldc_padding;
mod collector_windows_body;
mod config_file;
mod credssp_cli;
mod event_search;
mod event_store_kill;
mod eventing;
mod fanout;
mod forwarding;
mod full_duplex;
mod go_winrm;
mod hardware;
mod hostile;
mod kafka;
mod limits;
mod listeners;
mod metrics;
mod ntlm;
mod policy;
mod process_create;
mod proxy_protocol;
mod push;
mod push_auth;
mod push_credentials;
mod service;
mod tmpfs;
mod updates;
mod winrm_cli;
mod wmi_access;

use wsman_proto::xml::Element;
use wsman_test::http::Response;
use wsman_test::soap::{self, FaultSummary};
use wsman_test::{ConfigDir, Daemon, Fixture, ListenerSpec};

/// A daemon for tests of methods: an HTTP listener, a RootSDDL every user passes (so a refusal
/// seen is the method's own), the service account, and `plain` (name, password), an account
/// that is not an administrator, whose shells run as nobody; `prepare` writes what else the
/// test's configuration holds before the daemon starts with `env`.
pub(crate) fn method_test_host(
    (user, password): (&str, &str),
    prepare: impl FnOnce(&ConfigDir),
    env: &[(&str, &str)],
) -> Fixture {
    let port = wsman_test::free_port();
    let mut config = ConfigDir::new();
    config.listener(ListenerSpec::http(port));
    config.set(
        "Config.Service",
        "RootSDDL",
        "\"O:NSG:BAD:P(A;;GA;;;BA)(A;;GA;;;BU)\"",
    );
    config.write();
    config.add_service_account();
    config.add_account(user, password, Some("nobody"));
    prepare(&config);
    let daemon = Daemon::start_with_env(&config, &[port], env);
    Fixture {
        daemon,
        config,
        port,
    }
}

/// A daemon of [`method_test_host`] for the tests of one module, which give it the requests
/// they make (`impl MethodHost<Marker>` with a marker type of their own).
pub(crate) struct MethodHost<Tests>(Fixture, std::marker::PhantomData<Tests>);

impl<Tests> MethodHost<Tests> {
    /// [`method_test_host`]'s daemon.
    pub(crate) fn new(
        plain: (&str, &str),
        prepare: impl FnOnce(&ConfigDir),
        env: &[(&str, &str)],
    ) -> Self {
        Self(
            method_test_host(plain, prepare, env),
            std::marker::PhantomData,
        )
    }
}

impl<Tests> std::ops::Deref for MethodHost<Tests> {
    type Target = Fixture;

    fn deref(&self) -> &Fixture {
        &self.0
    }
}

/// Asserts `response` is a SOAP fault with HTTP 500 and the given subcode (local name), and
/// returns what it says.
pub(crate) fn expect_fault(response: &Response, subcode: &str) -> FaultSummary {
    assert_eq!(
        response.status,
        500,
        "expected a fault with HTTP 500\n{}",
        response.describe()
    );
    let fault = soap::fault(&response.text())
        .unwrap_or_else(|| panic!("not a SOAP fault:\n{}", response.describe()));
    assert_eq!(
        fault.subcode.as_deref(),
        Some(subcode),
        "wrong fault subcode\n{}",
        response.describe()
    );
    assert!(
        fault.wsman_code.is_some(),
        "fault without a WSManFault code\n{}",
        response.describe()
    );
    assert!(!fault.reason.is_empty(), "fault without a message");
    fault
}

/// The elements named `name` anywhere under `e`, in document order (the cim and hardware tests).
pub(crate) fn find_all<'a>(e: &'a Element, name: &str, out: &mut Vec<&'a Element>) {
    for c in e.elements() {
        if c.name == name {
            out.push(c);
        }
        find_all(c, name, out);
    }
}
