//! Resource providers: what answers WS-Transfer, WS-Enumeration and Invoke for a set of
//! resource URIs.
//!
//! A provider receives the parsed request and the caller ([`Context`]) and returns a typed
//! result or a typed [`Fault`]; it knows nothing of HTTP, authentication or envelopes, which
//! the server owns. Instances of CIM/WMI classes are returned as the one instance model
//! ([`wsman_proto::cim::Instance`]), so selectors, filters, fragments, EPR modes and paging are
//! done once by the server's transfer engine, not by each class. A [`Provider`] is synchronous,
//! run off the async workers in the work pool's interactive lane (config writes fsync, /proc
//! reads, D-Bus calls), within the request's deadline.
//!
//! A provider is served by the server's transfer engine for one family of resources (CIM,
//! configuration), as one entry of the server's catalog of engines, which the daemon binary
//! builds.
#![forbid(unsafe_code)]

pub mod cim;
pub mod config;
pub mod faults;

use std::net::IpAddr;
use std::sync::Arc;

use wsman_config::Sid;
use wsman_proto::cim::Instance;
use wsman_proto::envelope::SelectorSet;
use wsman_proto::{Fault, Operation, Request};

/// Who is asking: the authenticated name, the Linux user it maps to (processes run as it;
/// none = nothing runs), its SIDs and whether it is an administrator, and its address.
#[derive(Clone, Debug, Default)]
pub struct Caller {
    /// The authenticated name (logs; what Windows shows as the owner's name).
    pub user: String,
    /// Who it is: ownership and per-caller quotas are compared on this
    /// ([`Caller::owner_key`]), never on `user`.
    pub principal: wsman_principal::Principal,
    pub linux_user: Option<String>,
    pub sids: Arc<[Sid]>,
    /// Windows' BA: uid 0 or a member of `wsmand-admins`.
    pub is_administrator: bool,
    pub client_ip: Option<IpAddr>,
    /// The name is a Linux account (checked by PAM or mapped from Kerberos/NTLM), not a
    /// service account: its commands run inside a PAM session, as a login's would.
    pub linux_account: bool,
}

impl Caller {
    /// The key of what this caller owns.
    pub fn owner_key(&self) -> wsman_principal::OwnerKey {
        self.principal.owner_key()
    }
}

/// What a provider gets besides its own state.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Context<'a> {
    pub request: &'a Request,
    /// The URL the client addressed (`scheme://host[:port]/path`), for EPR addresses.
    pub address: &'a str,
    /// The authenticated caller; `None` only in tests of providers that need none.
    pub caller: Option<&'a Caller>,
    /// Starts processes for methods that run programs (`Win32_Process.Create`); `None` where
    /// the daemon serves no shells.
    pub launcher: Option<&'a dyn Launcher>,
    /// When the request's OperationTimeout runs out: a provider whose own reading can take
    /// long (the event log) stops there instead of finishing unseen in the background.
    pub deadline: Option<std::time::Instant>,
    /// Which CIM namespaces the caller may read (see [`Context::may_read_namespace`]).
    pub namespaces: Option<&'a dyn NamespaceAccess>,
}

/// Whether the caller may read the classes of a CIM namespace: the WMI plug-in's descriptor of
/// that namespace, as the server holds it. The server checks the namespace a request's URI
/// names before the provider runs; an answer that draws from other namespaces too (an
/// association's object, its association classes and their targets; `wscim/1/*` and the class
/// metadata, which name theirs in a filter or selector) asks for each, so that no namespace's
/// descriptor is bypassed through another's.
pub trait NamespaceAccess: Send + Sync + std::fmt::Debug {
    fn may_read(&self, namespace: &str) -> bool;
}

/// Starts a program for a method, through the spawn, user switch and limits of the daemon's
/// WinRS shells, so that a method that runs programs is no way around them. The server
/// supplies it (the shell engine); providers do not spawn processes themselves.
pub trait Launcher: Send + Sync + std::fmt::Debug {
    /// Runs `/bin/sh -c command_line` as the caller's Linux user in `working_directory` (the
    /// user's home when `None`), detached: it outlives the request and is reaped by the
    /// daemon. Blocks until the program has started; answers its process id.
    fn launch(
        &self,
        caller: &Caller,
        command_line: &str,
        working_directory: Option<&std::path::Path>,
    ) -> Result<u32, LaunchError>;

    /// Ends the process `launch` started as `pid` with everything it started, what left its
    /// session (`setsid`) included, when `pid` still names it: `Some` with whether that
    /// worked. `None` for any other process, which the caller ends alone. Blocks briefly.
    fn terminate_launched(&self, pid: u32) -> Option<Result<(), LaunchError>>;
}

/// Why [`Launcher::launch`] did not start the program.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LaunchError {
    /// The caller maps to no Linux user, or may not enter the working directory.
    #[error("access denied: {0}")]
    AccessDenied(String),
    /// The daemon cannot run programs as that user (it is not root).
    #[error("insufficient privilege: {0}")]
    InsufficientPrivilege(String),
    /// The working directory does not exist or is not a directory.
    #[error("path not found: {0}")]
    PathNotFound(String),
    /// The command line cannot be run (empty, or a NUL byte).
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),
    /// Refused with a fault of the launcher's own (a shell quota, `w:QuotaLimit`), answered
    /// as it is instead of a ReturnValue, as Windows answers a quota.
    #[error("{0}")]
    Refused(Box<Fault>),
    /// Anything else (the service is shutting down, a system call failed).
    #[error("{0}")]
    Failed(String),
}

impl<'a> Context<'a> {
    pub fn new(request: &'a Request, address: &'a str) -> Self {
        Self {
            request,
            address,
            caller: None,
            launcher: None,
            deadline: None,
            namespaces: None,
        }
    }

    /// Builder: which CIM namespaces the caller may read.
    pub fn with_namespace_access(mut self, namespaces: Option<&'a dyn NamespaceAccess>) -> Self {
        self.namespaces = namespaces;
        self
    }

    /// Whether the caller may read the CIM `namespace` ([`NamespaceAccess`]). Without an
    /// answer from the server, only a provider test without a caller may: deny by default.
    pub fn may_read_namespace(&self, namespace: &str) -> bool {
        match self.namespaces {
            Some(access) => access.may_read(namespace),
            None => self.caller.is_none(),
        }
    }

    /// Builder: the request's deadline.
    pub fn with_deadline(mut self, deadline: std::time::Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Builder: the process launcher (see [`Launcher`]).
    pub fn with_launcher(mut self, launcher: Option<&'a dyn Launcher>) -> Self {
        self.launcher = launcher;
        self
    }

    /// Builder: the authenticated caller.
    pub fn with_caller(mut self, caller: Option<&'a Caller>) -> Self {
        self.caller = caller;
        self
    }

    /// The request's ResourceURI (empty when absent).
    pub fn resource_uri(&self) -> &'a str {
        self.request.resource_uri.as_deref().unwrap_or("")
    }

    /// The typed operation (action and what the ResourceURI addresses).
    pub fn operation(&self) -> &'a Operation {
        &self.request.operation
    }
}

/// A created instance: its resource URI and key selectors, for `x:ResourceCreated`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Created {
    pub resource_uri: String,
    pub selectors: Vec<(String, String)>,
}

/// The answer of Get, Put or Invoke: XML the provider wrote itself (configuration, shells),
/// or an instance the server renders.
#[derive(Clone, Debug, PartialEq)]
pub enum Body {
    Xml(String),
    Instance(Instance),
}

/// One enumerated item: XML with the selectors that address it (for EPR modes), or an
/// instance (its keys are its selectors).
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Xml {
        xml: String,
        resource_uri: String,
        selectors: Vec<(String, String)>,
    },
    Instance(Instance),
}

/// An Enumerate filter, compiled once by the server from the request's `w:Filter`.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Filter {
    /// `SelectorFilter`: key values an item must have.
    Selector(SelectorSet),
    /// A WQL or CQL query (`SELECT ... FROM Class WHERE ...`).
    Query(wsman_proto::wql::Query),
    /// DSP0227's association filter: the instances associated with an object, or the
    /// association instances that refer to it. The provider answers it whole.
    Association(wsman_proto::enumeration::AssociationFilter),
}

impl Filter {
    /// The value a filter pins `key` to: a selector of that name, or `key = literal` at the
    /// top of a query's AND chain. Classes use it to read one instance instead of all; the
    /// server still applies the whole filter.
    pub fn pinned(&self, key: &str) -> Option<String> {
        use wsman_proto::wql::{CompareOp, Condition, Literal};
        fn find(c: &Condition, key: &str) -> Option<String> {
            match c {
                Condition::And(a, b) => find(a, key).or_else(|| find(b, key)),
                Condition::Compare {
                    property,
                    op: CompareOp::Eq,
                    literal,
                } if property.eq_ignore_ascii_case(key) => match literal {
                    Literal::Text(t) => Some(t.clone()),
                    Literal::Integer(i) => Some(i.to_string()),
                    _ => None,
                },
                _ => None,
            }
        }
        match self {
            Self::Query(q) => find(q.condition.as_ref()?, key),
            Self::Selector(s) => s.get(key).map(str::to_owned),
            Self::Association(_) => None,
        }
    }
}

/// One call into a provider (the typed form of what [`Provider`]'s methods take).
#[derive(Clone, Copy, Debug)]
pub enum Call<'a> {
    Get,
    Put,
    Create,
    Delete,
    Enumerate(Option<&'a Filter>),
    Invoke(&'a str),
}

/// What a [`Call`] returns.
#[derive(Debug)]
pub enum Answer {
    Body(Body),
    Created(Created),
    Deleted,
    Items(Vec<Item>),
    /// Items made as the client pulls them (see [`ItemSource`]).
    Stream(ItemStream),
}

/// Items made one at a time, as the server pages them: an enumeration of thousands of
/// instances then holds one page in memory, not all of them rendered, and a source that
/// reads the host (a process) reads it when its page is sent. Every item the source yields is
/// filtered again by the server, like [`Provider::enumerate`]'s.
pub trait ItemSource: Send {
    /// The next item; `None` at the end (and after it).
    fn next_item(&mut self) -> Option<Item>;
    /// How many items the whole enumeration has, as far as known when it starts (for
    /// `w:TotalItemsCountEstimate`).
    fn estimate(&self) -> usize;
    /// Bytes the source keeps for the items still to come (0 for one that reads the host as it
    /// goes): counted against the enumeration contexts' memory budget. Required, not
    /// defaulted: a source that wraps another must pass its count on, or the budget is blind.
    fn held_bytes(&self) -> usize;
}

/// An [`ItemSource`] in an [`Answer`].
pub struct ItemStream(pub Box<dyn ItemSource>);

impl std::fmt::Debug for ItemStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ItemStream(estimate {})", self.0.estimate())
    }
}

/// The [`ItemSource`] of an iterator whose length is known up front and that makes its items
/// as it goes (a number of synthetic instances): it holds nothing for the budget.
pub struct CountedItems<I> {
    items: I,
    estimate: usize,
}

impl<I: Iterator<Item = Item> + Send> CountedItems<I> {
    pub fn new(items: I, estimate: usize) -> Self {
        Self { items, estimate }
    }
}

impl<I: Iterator<Item = Item> + Send> ItemSource for CountedItems<I> {
    fn next_item(&mut self) -> Option<Item> {
        self.items.next()
    }
    fn estimate(&self) -> usize {
        self.estimate
    }
    fn held_bytes(&self) -> usize {
        0
    }
}

/// A synchronous resource provider. Every operation defaults to `a:ActionNotSupported`.
pub trait Provider: Send + Sync + 'static {
    /// Whether this provider serves `resource_uri`, among the URIs of the family it is
    /// served for (default: all of them).
    fn handles(&self, _resource_uri: &str) -> bool {
        true
    }

    /// Whether Enumerate takes a filter. When false, a filtered Enumerate is refused with
    /// `w:FilteringNotSupported` before the provider is called.
    fn filtering(&self) -> bool {
        false
    }

    fn get(&self, ctx: &Context<'_>) -> Result<Body, Fault> {
        Err(not_supported(ctx))
    }

    /// Returns the PutResponse body (Windows returns the whole updated container).
    fn put(&self, ctx: &Context<'_>) -> Result<Body, Fault> {
        Err(not_supported(ctx))
    }

    fn create(&self, ctx: &Context<'_>) -> Result<Created, Fault> {
        Err(not_supported(ctx))
    }

    fn delete(&self, ctx: &Context<'_>) -> Result<(), Fault> {
        Err(not_supported(ctx))
    }

    /// The instances matching the request (the server pages them). Instance items are
    /// filtered again by the server, so a provider may use `filter` only to narrow its work.
    fn enumerate(&self, ctx: &Context<'_>, _filter: Option<&Filter>) -> Result<Vec<Item>, Fault> {
        Err(not_supported(ctx))
    }

    /// Like [`Provider::enumerate`], but the items are made as the client pulls them; `None`
    /// (the default): this request is answered by [`Provider::enumerate`]. For enumerations
    /// too large to hold whole (every process of a host).
    fn enumerate_lazily(
        &self,
        _ctx: &Context<'_>,
        _filter: Option<&Filter>,
    ) -> Result<Option<Box<dyn ItemSource>>, Fault> {
        Ok(None)
    }

    /// Run `method` of the addressed class or instance. Its input is the request body
    /// (`<Method>_INPUT`); the answer is `<Method>_OUTPUT`. A method that fails answers its
    /// non-zero ReturnValue, not a fault.
    fn invoke(&self, ctx: &Context<'_>, _method: &str) -> Result<Body, Fault> {
        Err(not_supported(ctx))
    }

    /// Dispatch a typed call to the methods above.
    fn call(&self, ctx: &Context<'_>, call: Call<'_>) -> Result<Answer, Fault> {
        Ok(match call {
            Call::Get => Answer::Body(self.get(ctx)?),
            Call::Put => Answer::Body(self.put(ctx)?),
            Call::Create => Answer::Created(self.create(ctx)?),
            Call::Delete => {
                self.delete(ctx)?;
                Answer::Deleted
            }
            Call::Enumerate(filter) => match self.enumerate_lazily(ctx, filter)? {
                Some(source) => Answer::Stream(ItemStream(source)),
                None => Answer::Items(self.enumerate(ctx, filter)?),
            },
            Call::Invoke(method) => Answer::Body(self.invoke(ctx, method)?),
        })
    }
}

/// `a:ActionNotSupported` for the request's action.
pub fn not_supported(ctx: &Context<'_>) -> Fault {
    Fault::action_not_supported(ctx.request.action.as_deref().unwrap_or(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(&'static str);

    impl Provider for Fixed {
        fn handles(&self, uri: &str) -> bool {
            !uri.ends_with("/refused")
        }
        fn get(&self, _ctx: &Context<'_>) -> Result<Body, Fault> {
            Ok(Body::Xml(self.0.to_owned()))
        }
    }

    #[test]
    fn a_provider_may_decline_uris_and_refuses_what_it_does_not_serve() {
        let served: Arc<dyn Provider> = Arc::new(Fixed("<x/>"));
        assert!(served.handles("urn:a/b"));
        assert!(!served.handles("urn:a/b/refused"));
        assert!(!served.filtering());
        let req = Request::default();
        let ctx = Context::new(&req, "http://h/wsman");
        let p = Fixed("<x/>");
        assert!(matches!(
            p.call(&ctx, Call::Get),
            Ok(Answer::Body(Body::Xml(x))) if x == "<x/>"
        ));
        assert!(p.delete(&ctx).is_err());
        assert!(p.enumerate(&ctx, None).is_err());
        assert!(p.invoke(&ctx, "M").is_err());
    }
}
