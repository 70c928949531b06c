//! What the client's tests against the real daemon share.
#![allow(dead_code)] // each test file uses a part

use wsman_client::{BlockingClient, ClientError, Resource};
use wsman_proto::xml::Element;

/// `winrm/config` as the client at hand may read it: administrators only.
#[allow(clippy::result_large_err)] // the client's own error, as its `get` returns it
pub(crate) fn get_config(client: &BlockingClient) -> Result<Element, ClientError> {
    client.get(&Resource::new(
        "http://schemas.microsoft.com/wbem/wsman/1/config",
    ))
}
