//! The CIM engine (WMI and DMTF class URIs, `wscim/1/*`, class metadata) over the CIM
//! provider. Its requests follow the WMI plug-in's descriptors (`[Security] WmiSDDL`,
//! `winrm configSDDL wmi/<namespace>`), as a plug-in's `Sddl` does on Windows: the descriptor
//! of the namespace the request names, `wscim/1/*` and class metadata resolved to the
//! namespace their answer draws from (never the plug-in's, which would bypass the
//! namespace's), and, for the namespaces an answer reaches besides (associations and their
//! targets), the provider asks [`crate::access::NamespaceReader`] per namespace while it answers. A method
//! that starts a process is a shell by another name: it needs what a shell needs.

use wsman_config::Access as Right;
use wsman_proto::operation::Resource;
use wsman_proto::Request;
use wsman_providers::cim::CIM_ALL_NAMESPACE;
use wsman_providers::Provider;

use super::TransferEngine;
use crate::access::{access_for, Denial, Required};
use crate::engine::{Access, Call, EndpointKind, Engine, Family, Key, ReplyFuture, Target};
use crate::engines::Services;
use crate::settings::ServiceSettings;

/// The CIM engine: the transfer engine over the CIM provider, whose methods start programs
/// through the shells' spawn when the shells started.
pub struct CimEngine(TransferEngine);

impl CimEngine {
    pub fn new(provider: impl Provider, services: &Services) -> Self {
        Self(TransferEngine::new(provider, services, services.launcher()))
    }
}

impl Engine for CimEngine {
    fn keys(&self) -> Vec<Key> {
        vec![(EndpointKind::WsMan, Target::Family(Family::Cim))]
    }

    fn access(&self, request: &Request, settings: &ServiceSettings) -> Access {
        access(request, settings)
    }

    fn handle<'a>(&'a self, call: Call<'a>) -> ReplyFuture<'a> {
        Box::pin(self.0.serve(call))
    }
}

/// The WMI descriptor of the request's namespace grants the operation's right; a method that
/// starts a process needs besides what creating a shell and running a command in it need
/// (AllowRemoteShellAccess, Write and Execute in ShellSDDL), and Write besides Execute in the
/// namespace's descriptor, as it creates an instance (the WMI users group's default grant,
/// Read and Execute, therefore runs no command). Installing updates
/// (`MSFT_WUOperations.InstallUpdates`) needs Write besides Execute too; the class then admits
/// administrators only.
pub fn access(request: &Request, settings: &ServiceSettings) -> Access {
    let policy = &settings.access;
    let operation = &request.operation;
    let namespace = match &operation.resource {
        Resource::Wmi { namespace, .. } | Resource::Cim { namespace, .. } => namespace.as_str(),
        Resource::CimAll => CIM_ALL_NAMESPACE,
        Resource::ClassMetadata(_) => metadata_namespace(request),
        // A subscription action routed here without an eventing engine: refused by the
        // engine, after RootSDDL.
        _ => return Access::Service,
    };
    let descriptor = policy.wmi.for_namespace(namespace);
    let mut required = Required::one(descriptor, access_for(&operation.action));
    if wsman_providers::cim::process::starts_processes(operation) {
        let both = [Right::Write, Right::Execute];
        required = required.and(descriptor, &both, Denial::Descriptor).and(
            policy.shell_sddl.as_ref(),
            &both,
            Denial::ShellDescriptor,
        );
        required.remote_shell = true;
    } else if wsman_providers::cim::windows_update::changes_host(operation) {
        required = required.and(
            descriptor,
            &[Right::Write, Right::Execute],
            Denial::Descriptor,
        );
    }
    Access::Descriptor(required)
}

/// The namespace of a class-metadata request: its `__cimnamespace` selector, else the default.
fn metadata_namespace(request: &Request) -> &str {
    request
        .selectors
        .get(wsman_proto::operation::CIM_NAMESPACE_SELECTOR)
        .unwrap_or(CIM_ALL_NAMESPACE)
}
