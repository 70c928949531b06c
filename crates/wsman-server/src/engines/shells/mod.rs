//! The WinRS engine's adapter: every action on the shell resources, answered typed (a
//! Receive fills what MaxEnvelopeSize leaves around its markup). The shells follow
//! `[Security] ShellSDDL` instead of RootSDDL, as Windows' WinRS plug-in does.

use std::collections::VecDeque;
use std::sync::Arc;

use wsman_proto::enumeration::Enumerate;
use wsman_proto::operation::{Action, Resource, ShellResource};
use wsman_proto::{Fault, Request};

use crate::access::{access_for, Required};
use crate::engine::{Access, Answer, Call, EndpointKind, Engine, Family, Key, ReplyFuture, Target};
use crate::engines::{paging, Services};
use crate::enumeration::EnumerationStore;
use crate::settings::ServiceSettings;

mod describe;
mod launch;
pub(crate) mod psrp;
mod request;
mod service;

pub use describe::limits_from_config;
pub use psrp::PowerShellBridge;
pub use request::Budget;
pub use service::ShellService;

/// The shell resources as one engine.
pub struct ShellEngine {
    service: ShellService,
    enumerations: Arc<EnumerationStore>,
}

impl ShellEngine {
    /// The engine of the shared shells; `None` when they did not start (their resources are
    /// then served by no engine).
    pub fn new(services: &Services) -> Option<Self> {
        Some(Self {
            service: services.shells.clone()?,
            enumerations: Arc::clone(&services.enumerations),
        })
    }

    async fn serve(&self, call: Call<'_>) -> Result<Answer, Fault> {
        let request = call.request;
        let caller = call.caller;
        let budget = self.budget(call);
        unconfigured_powershell(request)?;
        match &request.operation.action {
            Action::Enumerate => {
                let parsed = Enumerate::parse(request.body.as_ref())?;
                let filter = match &parsed.filter {
                    Some(f) => Some(f.selector_set()?.ok_or_else(|| {
                        Fault::filter_dialect_unavailable(f.dialect.as_deref().unwrap_or(""))
                    })?),
                    None => None,
                };
                let items = self.service.enumerate(request, caller, filter)?;
                let rendered: VecDeque<String> = items
                    .iter()
                    .map(|i| {
                        paging::render_item(request, i, parsed.mode, call.exchange.address, None)
                    })
                    .collect();
                paging::enumerate_rendered(&self.enumerations, call, &parsed, rendered).await
            }
            Action::Pull => paging::pull(&self.enumerations, call).await,
            Action::Release => paging::release(&self.enumerations, call),
            // A cmd shell's Receive: its output as the engine holds it.
            Action::Receive
                if request.operation.resource == Resource::Shell(ShellResource::Cmd) =>
            {
                self.service.receive_answer(request, caller, budget).await
            }
            _ => {
                // A PowerShell Receive is answered whole (its output is PSRP fragments).
                let (response_action, body) = self
                    .service
                    .operate(request, caller, call.exchange.address, budget)
                    .await?;
                Ok(Answer::body(response_action, body))
            }
        }
    }

    fn budget(&self, call: Call<'_>) -> Budget {
        Budget {
            deadline: call.deadline,
            max_envelope: call.max_envelope,
        }
    }
}

impl Engine for ShellEngine {
    fn keys(&self) -> Vec<Key> {
        vec![(EndpointKind::WsMan, Target::Family(Family::Shell))]
    }

    fn access(&self, request: &Request, settings: &ServiceSettings) -> Access {
        access(request, settings)
    }

    fn handle<'a>(&'a self, call: Call<'a>) -> ReplyFuture<'a> {
        Box::pin(self.serve(call))
    }
}

/// A PowerShell session configuration other than `microsoft.powershell` (Windows registers
/// `microsoft.powershell32`, `microsoft.powershell.workflow`, ...): none is configured here, so
/// it is not served (`docs/windows-quirks.md`).
pub(crate) fn unconfigured_powershell(request: &Request) -> Result<(), Fault> {
    let uri = request.resource_uri.as_deref().unwrap_or("");
    let powershell = request.operation.resource == Resource::Shell(ShellResource::PowerShell);
    if powershell && !uri.eq_ignore_ascii_case(wsman_config::plugin::POWERSHELL_RESOURCE_URI) {
        Err(Fault::destination_unreachable(uri))
    } else {
        Ok(())
    }
}

/// The shells' descriptor grants the operation's right, never RootSDDL: ShellSDDL for WinRS
/// (open to users; each shell's owner is checked by the shell service), the
/// `microsoft.powershell` plug-in's own for PowerShell, as on Windows.
pub fn access(request: &Request, settings: &ServiceSettings) -> Access {
    let policy = &settings.access;
    let descriptor = match request.operation.resource {
        Resource::Shell(ShellResource::PowerShell) => policy.powershell_sddl.as_ref(),
        _ => policy.shell_sddl.as_ref(),
    };
    let right = access_for(&request.operation.action);
    Access::Descriptor(Required::one(descriptor, right))
}
