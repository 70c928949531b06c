//! The transfer engine's adapter ([`crate::dispatch::transfer`]): WS-Transfer,
//! WS-Enumeration and Invoke over one provider, for the family it was made for, with the
//! access that family's engine states ([`super::cim`], [`super::config`]).

use wsman_proto::Request;

use crate::dispatch::transfer::TransferEngine;
use crate::engine::{Access, Call, EndpointKind, Engine, Key, ReplyFuture, Target};
use crate::settings::ServiceSettings;

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
