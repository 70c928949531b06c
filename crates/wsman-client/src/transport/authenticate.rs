//! A new connection's authentication legs, apart from the requests that use it: the one place
//! a connection-oriented scheme's tokens are sent and its context established.

use super::*;

impl Transport {
    /// The handshake of a connection-oriented scheme on a new connection: empty-body POSTs
    /// carrying the tokens (encrypting clients cannot encrypt the real body before the
    /// context exists), stepped by the scheme's [`Initiator`] until it is established. Does
    /// nothing for per-request schemes.
    pub(super) async fn authenticate(
        &self,
        connection: &mut Connection,
    ) -> Result<(), ClientError> {
        const MAX_LEGS: usize = 8;
        let bindings = |wanted: bool| match (&connection.peer_certificate, wanted) {
            (Some(certificate), true) => {
                wsman_auth::channel_binding::tls_server_end_point(certificate)
            }
            _ => None,
        };
        let host = &self.endpoint.host;
        let (mut initiator, encrypt): (Box<dyn Initiator>, bool) = match &self.auth {
            ConnectionAuth::PerRequest => return Ok(()),
            ConnectionAuth::Negotiate(auth) => (
                Box::new(NtlmHandshake::new(
                    auth,
                    host,
                    bindings(auth.channel_binding),
                )?),
                auth.encrypt,
            ),
            ConnectionAuth::Kerberos(auth) => (
                Box::new(KerberosHandshake::new(auth, host, bindings(auth.channel_binding)).await?),
                auth.encrypt,
            ),
            ConnectionAuth::CredSsp(auth) => {
                (Box::new(CredSspHandshake::new(auth, host)?), auth.encrypt)
            }
        };
        let scheme = initiator.scheme();
        let mut answer: Option<LegAnswer> = None;
        for _ in 0..MAX_LEGS {
            let next = if initiator.blocks() {
                let job = tokio::task::spawn_blocking(move || {
                    let next = initiator.step(answer.as_ref());
                    (initiator, next)
                });
                let (stepped, next) = job.await.map_err(|e| ClientError::Authentication {
                    reason: format!("the {scheme} step failed: {e}"),
                })?;
                initiator = stepped;
                next
            } else {
                initiator.step(answer.as_ref())
            };
            match next? {
                Next::Send(authorization) => {
                    let reply = self
                        .authorization_leg(connection, authorization, scheme)
                        .await?;
                    answer = Some(LegAnswer {
                        status: reply.status,
                        www_authenticate: reply.www_authenticate,
                    });
                }
                Next::Established(sealer) => {
                    let seal = self.endpoint.scheme == Scheme::Http && encrypt;
                    connection.security = Security::Negotiated(seal.then_some(sealer));
                    return connection
                        .sender
                        .ready()
                        .await
                        .map_err(|e| self.hyper_error(e));
                }
            }
        }
        Err(ClientError::Authentication {
            reason: format!("the {scheme} handshake did not complete"),
        })
    }

    /// One handshake request with `authorization` as its header (empty body).
    async fn authorization_leg(
        &self,
        connection: &mut Connection,
        authorization: String,
        scheme: &str,
    ) -> Result<HttpReply, ClientError> {
        let mut value = HeaderValue::from_str(&authorization).map_err(|_| {
            ClientError::protocol(format!("the {scheme} token is not a header value"))
        })?;
        value.set_sensitive(true);
        let headers = [(hyper::header::AUTHORIZATION, value)];
        let request = self.request(SOAP_CONTENT_TYPE, &Bytes::new(), &headers)?;
        // The previous leg's answer was read, but the connection task may not have seen the
        // exchange end yet: wait until it takes the next request.
        connection
            .sender
            .ready()
            .await
            .map_err(|e| self.hyper_error(e))?;
        let response = connection
            .sender
            .send_request(request)
            .await
            .map_err(|e| self.hyper_error(e))?;
        let (reply, reusable) = self.read_reply(response).await?;
        if !reusable && reply.status == 401 {
            return Err(ClientError::protocol(format!(
                "the server closed the connection in the middle of the {scheme} handshake"
            )));
        }
        Ok(reply)
    }
}
