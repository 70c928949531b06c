//! A sealed reply opened: decrypted where it was read when the connection's sealer can
//! (NTLM), into a pooled buffer otherwise.

use bytes::Bytes;
use wsman_auth::sealing::{self, MessageSealer, UnsealedLabels};

use super::{Transport, POOLED_BODY_MIN};
use crate::error::ClientError;

/// A reply's body: shared bytes, or a pooled buffer of this client's own, kept writable so
/// that a sealed answer is decrypted where it was read (see [`Transport::open`]).
#[derive(Debug)]
pub(crate) enum ReplyBody {
    Shared(Bytes),
    Pooled(Vec<u8>),
}

impl std::ops::Deref for ReplyBody {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Self::Shared(bytes) => bytes,
            Self::Pooled(buffer) => buffer,
        }
    }
}

impl Transport {
    /// A sealed reply decrypted where it was read (a pooled buffer for a Receive answer):
    /// the body is the only copy of the plaintext.
    pub(super) fn unseal_in_place(
        &self,
        sealer: &mut dyn MessageSealer,
        content_type: &str,
        body: &mut ReplyBody,
    ) -> Result<(UnsealedLabels, Bytes), ClientError> {
        let mut buffer = match std::mem::replace(body, ReplyBody::Pooled(Vec::new())) {
            ReplyBody::Pooled(buffer) => buffer,
            ReplyBody::Shared(bytes) => bytes.to_vec(),
        };
        match sealing::unseal_body_in_place(
            sealer,
            content_type,
            &mut buffer,
            self.max_response_bytes,
        ) {
            Ok((labels, plain)) => Ok((labels, self.bodies.lend(buffer).slice(plain))),
            Err(e) => {
                self.bodies.give_back(buffer);
                Err(Self::undecryptable(&e))
            }
        }
    }

    /// A sealed reply decrypted into a pooled buffer, for sealers that decrypt through a
    /// buffer of their own: a Receive answer costs no fresh memory either way.
    pub(super) fn unseal_into_pooled(
        &self,
        sealer: &mut dyn MessageSealer,
        content_type: &str,
        body: &[u8],
    ) -> Result<(UnsealedLabels, Bytes), ClientError> {
        let mut plain = if body.len() >= POOLED_BODY_MIN {
            self.bodies.take(body.len())
        } else {
            Vec::new()
        };
        let labels = sealing::unseal_body_into(
            sealer,
            content_type,
            body,
            self.max_response_bytes,
            &mut plain,
        )
        .map_err(|e| Self::undecryptable(&e))?;
        let plain = if plain.len() >= POOLED_BODY_MIN {
            self.bodies.lend(plain)
        } else {
            Bytes::from(plain)
        };
        Ok((labels, plain))
    }

    fn undecryptable(error: &sealing::SealError) -> ClientError {
        ClientError::protocol(format!("cannot decrypt the response: {error}"))
    }
}
