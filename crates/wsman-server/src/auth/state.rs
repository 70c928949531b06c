//! What one connection has proved so far, in one place: nothing, a verified Basic value, a
//! handshake under way, or an established security context with the sealer of its MS-WSMV
//! bodies. Any new Authorization value replaces the state; a failed unseal drops it.

use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use bytes::Bytes;
use wsman_auth::sealing::{self, MessageSealer, SealError, UnsealedBody};
use wsman_buffers::BufferPool;

use super::basic::VerifiedConnection;
use super::{Handshake, Mechanism, Principal};

/// The authentication state of one connection.
#[derive(Default)]
pub enum AuthState {
    /// Nothing proved (yet, or any more).
    #[default]
    Anonymous,
    /// Basic: the verified Authorization value, compared in constant time per request.
    Basic(VerifiedConnection),
    /// A Negotiate/NTLM, Kerberos or CredSSP handshake waiting for its next leg.
    Handshake(Box<dyn Handshake>),
    /// A completed handshake: later requests carry no Authorization header.
    Established {
        principal: Arc<Principal>,
        sealer: Box<dyn MessageSealer>,
    },
}

impl std::fmt::Debug for AuthState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Anonymous => f.write_str("Anonymous"),
            Self::Basic(_) => f.write_str("Basic"),
            Self::Handshake(handshake) => write!(f, "Handshake({:?})", handshake.mechanism()),
            Self::Established { principal, .. } => write!(f, "Established({principal})"),
        }
    }
}

impl AuthState {
    /// A connection's state, locked. A panic while it was held cannot leave it half-changed
    /// (every change is one assignment), so a poisoned lock is still usable.
    pub fn lock(state: &Mutex<Self>) -> MutexGuard<'_, Self> {
        state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Forget everything (a failed unseal, or a new Authorization value).
    pub fn reset(&mut self) {
        *self = Self::Anonymous;
    }

    /// The engine of the handshake under way, if any.
    pub fn pending(&self) -> Option<Mechanism> {
        match self {
            Self::Handshake(handshake) => Some(handshake.mechanism()),
            _ => None,
        }
    }

    /// Take the handshake under way for its next leg if it is `mechanism`'s; the state is
    /// empty afterwards either way (a leg that continues puts its handshake back).
    pub fn take_handshake(&mut self, mechanism: Mechanism) -> Option<Box<dyn Handshake>> {
        match std::mem::take(self) {
            Self::Handshake(handshake) if handshake.mechanism() == mechanism => Some(handshake),
            _ => None,
        }
    }

    /// The principal of an established context.
    pub fn context_principal(&self) -> Option<Arc<Principal>> {
        match self {
            Self::Established { principal, .. } => Some(Arc::clone(principal)),
            _ => None,
        }
    }

    /// The Basic principal if `authorization` is byte-for-byte the verified value.
    pub fn basic_principal(&self, authorization: &[u8]) -> Option<Arc<Principal>> {
        match self {
            Self::Basic(verified) => verified.principal_for(authorization),
            _ => None,
        }
    }

    fn sealer(&mut self) -> Option<&mut (dyn MessageSealer + 'static)> {
        match self {
            Self::Established { sealer, .. } => Some(sealer.as_mut()),
            _ => None,
        }
    }

    /// Decrypt an MS-WSMV body with this connection's context.
    pub fn unseal(
        &mut self,
        content_type: &str,
        body: &[u8],
        max_plain: usize,
    ) -> Result<UnsealedBody, SealError> {
        let Some(sealer) = self.sealer() else {
            return Err(SealError::Unwrap(
                "no security context on this connection".to_owned(),
            ));
        };
        sealing::unseal_body(sealer, content_type, body, max_plain)
    }

    /// Encrypt a response body given as the pieces it was rendered in, without joining them,
    /// into a buffer of `sealed_bodies`: the Content-Type and the body to send.
    pub fn seal_parts(
        &mut self,
        original_content_type: &str,
        parts: &[&[u8]],
    ) -> Result<(String, Bytes), SealError> {
        let Some(sealer) = self.sealer() else {
            return Err(SealError::Wrap(
                "no security context on this connection".to_owned(),
            ));
        };
        let pool = sealed_bodies();
        let total: usize = parts.iter().map(|part| part.len()).sum();
        let mut body = pool.take(total + 512);
        let content_type =
            sealing::seal_body_parts_into(sealer, original_content_type, parts, &mut body)?;
        Ok((content_type, pool.lend(body)))
    }
}

/// Sealed response bodies are one Receive answer of up to MaxEnvelopeSize after another while
/// output streams: fresh memory that large is page faults and zeroing every time (under the
/// service's `MALLOC_MMAP_THRESHOLD_` each one is its own mapping), so they come from a pool
/// and go back to it once hyper has written them. Bounded: 4 free buffers of 64 KiB to 2 MiB.
fn sealed_bodies() -> &'static Arc<BufferPool> {
    static POOL: OnceLock<Arc<BufferPool>> = OnceLock::new();
    POOL.get_or_init(|| Arc::new(BufferPool::new(4, 64 * 1024, 2 * 1024 * 1024)))
}
