//! Connect to a disconnected PowerShell shell from another client (MS-PSRP 3.1.4.9,
//! MS-WSMV 3.1.4.17).
//!
//! The client's `connectXml` holds SESSION_CAPABILITY and CONNECT_RUNSPACEPOOL; on Windows
//! the plug-in hands them to PowerShell, which answers SESSION_CAPABILITY and
//! RUNSPACEPOOL_INIT_DATA in `connectResponseXml`, then sends APPLICATION_PRIVATE_DATA as the
//! pool's next output. `pwsh -s`'s out-of-process transport (SSH remoting's) has no connect:
//! the pool there never leaves its client. So the bridge answers itself, from what pwsh said
//! when the pool opened (its SESSION_CAPABILITY and APPLICATION_PRIVATE_DATA, kept as sent)
//! and the MinRunspaces/MaxRunspaces of the pool's creation; pwsh sees nothing of it and goes
//! on serving the same pool, whose held output the new client receives.
//!
//! A Connect with a `CommandId` (a pipeline of a pool already connected) only checks that
//! the pipeline exists: its output is held for whoever receives it.

use base64::Engine as _;
use wsman_proto::shell::psrp::{message_type, FragmentScanner};
use wsman_proto::shell::{self, Connect, ConnectResponse};
use wsman_proto::Fault;

use super::{decode, shell_id, Answer, Op, PowerShellBridge, PSRP_NS};
use crate::error::shell_fault;

impl PowerShellBridge {
    /// Connect: the pool (with `connectXml`) or one of its pipelines (with a CommandId).
    pub(super) fn connect(&self, op: &Op<'_>) -> Result<Answer, Fault> {
        let (manager, request, caller) = (op.manager, op.request, op.caller);
        let id = shell_id(&request.selectors)?;
        let body = Connect::parse(request.body.as_ref())?;
        // Another user's shell is refused as such, before anything else is looked at.
        manager
            .check_owner(&caller.owner_key(), &id)
            .map_err(shell_fault)?;
        let session = self.session(caller, request)?;
        let mut response = ConnectResponse::new(
            vec!["stdin".to_owned(), "pr".to_owned()],
            vec!["stdout".to_owned()],
        );
        if let Some(command_id) = &body.command_id {
            manager
                .ensure_connected(&caller.owner_key(), &id)
                .map_err(shell_fault)?;
            self.known_pipeline(&session, command_id)?;
            return Ok((shell::action::CONNECT_RESPONSE, response.to_xml()));
        }
        check_connect_xml(body.open_content)?;
        let reply = session.connect_reply().ok_or_else(|| {
            Fault::internal_error(
                "The PowerShell host of this shell did not open its runspace pool: there is nothing to connect to. ",
            )
        })?;
        manager
            .connect(&caller.owner_key(), &id, request.session_id.as_deref())
            .map_err(shell_fault)?;
        session.replay_private_data();
        response.connect_response_xml =
            Some(base64::engine::general_purpose::STANDARD.encode(reply));
        Ok((shell::action::CONNECT_RESPONSE, response.to_xml()))
    }
}

/// The `connectXml` must be whole PSRP fragments holding a CONNECT_RUNSPACEPOOL.
fn check_connect_xml(open_content: Option<(String, Option<String>, String)>) -> Result<(), Fault> {
    let bad = || {
        Fault::invalid_parameter(
            "A PowerShell shell's Connect must carry the runspace pool's connectXml: PSRP fragments of SESSION_CAPABILITY and CONNECT_RUNSPACEPOOL. ",
        )
    };
    let (_, _, text) = open_content
        .filter(|(name, ns, _)| name == "connectXml" && ns.as_deref() == Some(PSRP_NS))
        .ok_or_else(bad)?;
    let data = decode(&text)?;
    let mut scanner = FragmentScanner::default();
    let fragments = scanner.feed(&data).map_err(|_| bad())?;
    let connects = fragments
        .iter()
        .any(|f| f.message_type == Some(message_type::CONNECT_RUNSPACEPOOL));
    if scanner.pending() != 0 || !connects {
        return Err(bad());
    }
    Ok(())
}
