//! What the steps of a shell request share, WinRS and PowerShell alike: its budget, its
//! ShellId, the account its shells run as, a Receive's room, the refusals of either kind of
//! shell, and Disconnect and Reconnect, which act on both kinds the same way.

use std::time::{Duration, Instant};

use wsman_proto::envelope::SelectorSet;
use wsman_proto::fault::SelectorProblem;
use wsman_proto::shell::responses::{CommandStateValue, ReceiveResponse};
use wsman_proto::shell::{self, BufferMode, Disconnect, Reconnect};
use wsman_proto::{Fault, Request};
use wsman_providers::Caller;
use wsman_shell::ShellManager;

use crate::error::shell_fault;

/// Per-request limits of a shell operation.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// The call's deadline (OperationTimeout capped by MaxTimeoutms, from its routing).
    pub deadline: Instant,
    /// The request's MaxEnvelopeSize capped by the service's.
    pub max_envelope: u64,
}

impl Budget {
    /// The time left until the deadline.
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }
}

/// Disconnect (MS-WSMV 3.1.4.15), of a cmd or a PowerShell shell: the engine keeps the shell
/// and its output until the Disconnect's IdleTimeOut.
pub(super) fn disconnect(
    manager: &ShellManager,
    request: &Request,
    caller: &Caller,
) -> Result<(&'static str, String), Fault> {
    let id = shell_id(&request.selectors)?;
    let body = Disconnect::parse(request.body.as_ref())?;
    if body.buffer_mode == Some(BufferMode::Drop) {
        return Err(Fault::invalid_parameter(
            "BufferMode Drop is not supported: a disconnected shell keeps its output and its commands wait while the buffer is full. ",
        ));
    }
    manager
        .disconnect(&caller.owner_key(), &id, body.idle_timeout)
        .map_err(shell_fault)?;
    Ok((shell::action::DISCONNECT_RESPONSE, String::new()))
}

/// Reconnect (MS-WSMV 3.1.4.16) by the client that disconnected, of either kind of shell.
pub(super) fn reconnect(
    manager: &ShellManager,
    request: &Request,
    caller: &Caller,
) -> Result<(&'static str, String), Fault> {
    let id = shell_id(&request.selectors)?;
    Reconnect::parse(request.body.as_ref())?;
    manager
        .reconnect(&caller.owner_key(), &id, request.session_id.as_deref())
        .map_err(shell_fault)?;
    Ok((shell::action::RECONNECT_RESPONSE, String::new()))
}

/// `a:ActionNotSupported` for the request's action (as the client sent it).
pub(super) fn not_supported(request: &Request) -> Fault {
    Fault::action_not_supported(request.action.as_deref().unwrap_or(""))
}

/// The ShellId selector; without it the request addresses no shell.
pub(super) fn shell_id(selectors: &SelectorSet) -> Result<String, Fault> {
    selectors.get("ShellId").map(str::to_owned).ok_or_else(|| {
        Fault::invalid_selectors(
            SelectorProblem::Insufficient,
            "The WS-Management service cannot process the request because the ShellId selector is missing. ",
        )
    })
}

/// A cmd shell has no shell-level streams: Windows' cmd plugin answers `InvalidParameter`/87.
pub(super) fn no_command_id() -> Fault {
    Fault::invalid_parameter("The parameter is incorrect. ")
}

/// The Linux account the caller's shells run as (NSS lookup on the blocking pool).
pub(super) async fn run_as_user(caller: &Caller) -> Result<wsman_os::LinuxUser, Fault> {
    let name = caller.linux_user.clone().ok_or_else(|| {
        tracing::warn!(user = %caller.user, "shell refused: the identity maps to no Linux user");
        Fault::access_denied()
    })?;
    let looked_up = tokio::task::spawn_blocking(move || wsman_os::lookup_user(&name)).await;
    match looked_up {
        Ok(Ok(Some(user))) => Ok(user),
        Ok(Ok(None)) => {
            tracing::warn!(user = %caller.user, "shell refused: the Linux user does not exist");
            Err(Fault::access_denied())
        }
        Ok(Err(e)) => Err(crate::error::user_lookup_fault(e)),
        Err(e) => Err(crate::error::blocking_fault(
            e,
            crate::error::BlockingWork::UserLookup,
        )),
    }
}

/// Stream bytes (before base64) that fit in one ReceiveResponse to `request`: what
/// MaxEnvelopeSize leaves after the envelope and the stream markup (`taken`, returned first),
/// times 3/4 for base64.
pub(super) fn receive_capacity(
    request: &Request,
    budget: Budget,
    streams: &[String],
    command_id: &str,
) -> Result<(usize, usize), Fault> {
    let names: Vec<&str> = if streams.is_empty() {
        vec!["stdout", "stderr"]
    } else {
        streams.iter().map(String::as_str).collect()
    };
    // Per stream: a data chunk and an end marker, twice over for interleaving.
    let markup: usize = names
        .iter()
        .map(|n| 4 * ReceiveResponse::stream_overhead(n, Some(command_id)))
        .sum();
    // The envelope around an empty ReceiveResponse with the longest CommandState a Receive
    // can carry.
    let longest = CommandStateValue::Done {
        exit_code: Some(i64::from(i32::MIN)),
    };
    let empty = ReceiveResponse::new(Vec::new(), Some((Some(String::new()), longest))).to_xml();
    let answer = (shell::action::RECEIVE_RESPONSE, "", empty.as_str());
    let (taken, space) = crate::render::room(request, answer, markup + 64, budget.max_envelope)?;
    (space >= 8)
        .then_some((taken, space / 4 * 3))
        .ok_or_else(|| Fault::max_envelope_size_exceeded(taken, budget.max_envelope))
}
