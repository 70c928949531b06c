//! A pool belongs to the principal that created it: every request on a pool (Command, Send,
//! Receive, Signal, Delete, a pipeline's Connect) finds its session only for that principal,
//! never for another caller of the same name.

use std::sync::Arc;

use wsman_principal::Principal;
use wsman_proto::headers::{Selector, SelectorValue};
use wsman_proto::Request;

use super::session::Session;
use super::{Caller, PowerShellBridge};

const POOL: &str = "1B3F6A2C-0000-4000-8000-00000000A11C";

fn caller(principal: Principal) -> Caller {
    Caller {
        user: principal.name().to_owned(),
        principal,
        ..Caller::default()
    }
}

#[test]
fn a_pool_is_found_only_for_the_principal_that_owns_it() {
    let bridge = PowerShellBridge::default();
    let owner = Principal::service_account("wsmbar");
    let session = Session::new(
        POOL.to_owned(),
        owner.owner_key(),
        "host".to_owned(),
        1024,
        super::Compression::default(),
    );
    bridge.lock().insert(POOL.to_owned(), Arc::new(session));
    let mut request = Request::default();
    request.selectors.0.push(Selector {
        name: "ShellId".to_owned(),
        value: SelectorValue::Text(POOL.to_ascii_lowercase()),
    });
    assert!(bridge.session(&caller(owner), &request).is_ok());
    for other in [
        Principal::kerberos("wsmbar@EXAMPLE.TEST"),
        Principal::linux_user("wsmbar"),
        Principal::certificate("00AA", "wsmbar"),
    ] {
        let refused = bridge.session(&caller(other.clone()), &request);
        assert!(
            refused.is_err(),
            "{other} reached the pool of account:wsmbar"
        );
    }
}
