//! The transfer engine's adapter ([`engine`]): WS-Transfer, WS-Enumeration and Invoke over one
//! provider, for the family it was made for, with the access that family's engine states
//! ([`cim`], [`config`]).

pub mod cim;
pub mod config;
pub mod engine;
#[cfg(test)]
mod tests;

use wsman_proto::Request;

use crate::engine::{Access, Call, EndpointKind, Engine, Key, ReplyFuture, Target};
use crate::settings::ServiceSettings;
pub use engine::TransferEngine;

impl Engine for TransferEngine {
    fn keys(&self) -> Vec<Key> {
        vec![(EndpointKind::WsMan, Target::Family(self.family))]
    }

    fn access(&self, request: &Request, settings: &ServiceSettings) -> Access {
        (self.access)(request, settings)
    }

    fn handle<'a>(&'a self, call: Call<'a>) -> ReplyFuture<'a> {
        Box::pin(self.serve(call))
    }
}
