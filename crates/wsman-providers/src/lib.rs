//! Resource providers: the handlers behind (Action, ResourceURI) dispatch.
//!
//! A provider serves a set of resource URIs with the WS-Transfer and WS-Enumeration operations.
//! It receives the parsed request and returns body XML (or a typed [`Fault`]); it knows nothing
//! of HTTP, authentication or envelopes, which the server owns. Providers are synchronous: the
//! server runs the ones that block (writes with fsync) on the blocking pool.
#![forbid(unsafe_code)]

pub mod config;

use wsman_proto::{Fault, Request};

/// What a provider gets besides the request.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Context<'a> {
    pub request: &'a Request,
    /// The URL the client addressed (`scheme://host[:port]/path`), for EPR addresses.
    pub address: &'a str,
}

impl<'a> Context<'a> {
    pub fn new(request: &'a Request, address: &'a str) -> Self {
        Self { request, address }
    }

    /// The request's ResourceURI (empty when absent).
    pub fn resource_uri(&self) -> &'a str {
        self.request.resource_uri.as_deref().unwrap_or("")
    }
}

/// A created instance: its resource URI and key selectors, for `x:ResourceCreated`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Created {
    pub resource_uri: String,
    pub selectors: Vec<(String, String)>,
}

/// One enumerated instance: its XML and the selectors that address it (for EPR modes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub xml: String,
    pub resource_uri: String,
    pub selectors: Vec<(String, String)>,
}

/// A resource provider. Every operation defaults to `a:ActionNotSupported`.
pub trait Provider: Send + Sync + 'static {
    /// Whether this provider serves `resource_uri` (exact URI as sent by the client).
    fn handles(&self, resource_uri: &str) -> bool;

    fn get(&self, ctx: &Context<'_>) -> Result<String, Fault> {
        Err(Fault::action_not_supported(action_of(ctx)))
    }

    /// Returns the PutResponse body (Windows returns the whole updated container).
    fn put(&self, ctx: &Context<'_>) -> Result<String, Fault> {
        Err(Fault::action_not_supported(action_of(ctx)))
    }

    fn create(&self, ctx: &Context<'_>) -> Result<Created, Fault> {
        Err(Fault::action_not_supported(action_of(ctx)))
    }

    fn delete(&self, ctx: &Context<'_>) -> Result<(), Fault> {
        Err(Fault::action_not_supported(action_of(ctx)))
    }

    /// All instances matching the request (the server pages them).
    fn enumerate(&self, ctx: &Context<'_>) -> Result<Vec<Item>, Fault> {
        Err(Fault::action_not_supported(action_of(ctx)))
    }
}

fn action_of<'a>(ctx: &Context<'a>) -> &'a str {
    ctx.request.action.as_deref().unwrap_or("")
}

/// The providers of a server, looked up by ResourceURI.
#[derive(Default)]
pub struct Registry {
    providers: Vec<Box<dyn Provider>>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn register(&mut self, provider: Box<dyn Provider>) {
        self.providers.push(provider);
    }

    /// The provider serving `resource_uri`, if any.
    pub fn find(&self, resource_uri: &str) -> Option<&dyn Provider> {
        self.providers
            .iter()
            .find(|p| p.handles(resource_uri))
            .map(|p| p.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;

    impl Provider for Fixed {
        fn handles(&self, uri: &str) -> bool {
            uri == "urn:fixed"
        }
        fn get(&self, _ctx: &Context<'_>) -> Result<String, Fault> {
            Ok("<x/>".to_owned())
        }
    }

    #[test]
    fn lookup_and_default_refusals() {
        let mut r = Registry::new();
        r.register(Box::new(Fixed));
        assert!(r.find("urn:other").is_none());
        let p = r.find("urn:fixed");
        assert!(p.is_some());
        let req = Request::default();
        let ctx = Context::new(&req, "http://h/wsman");
        if let Some(p) = p {
            assert_eq!(p.get(&ctx).ok().as_deref(), Some("<x/>"));
            assert!(p.delete(&ctx).is_err());
            assert!(p.enumerate(&ctx).is_err());
        }
    }
}
