//! One persistent HTTP/1.1 connection (plain TCP or TLS) with reconnect-on-close.
//!
//! Why own the connection instead of a pooled HTTP client: connection-oriented authentication
//! schemes (Negotiate, Kerberos, CredSSP) bind their context to one TCP connection, and WinRM
//! servers expect a client to keep using it.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderName, HeaderValue};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;

use crate::endpoint::{Endpoint, Scheme};
use crate::error::ClientError;
use crate::tls;

/// What came back: status, the headers the client looks at, and the (bounded) body.
#[derive(Debug)]
pub(crate) struct HttpReply {
    pub(crate) status: u16,
    pub(crate) content_type: Option<String>,
    pub(crate) www_authenticate: Vec<String>,
    pub(crate) body: Bytes,
}

struct Connection {
    sender: SendRequest<Full<Bytes>>,
    driver: JoinHandle<()>,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// The connection owner.
pub(crate) struct Transport {
    endpoint: Endpoint,
    tls: Option<Arc<rustls::ClientConfig>>,
    user_agent: HeaderValue,
    max_response_bytes: usize,
    connection: Option<Connection>,
}

impl Transport {
    pub(crate) fn new(
        endpoint: Endpoint,
        tls: Option<Arc<rustls::ClientConfig>>,
        user_agent: &str,
        max_response_bytes: usize,
    ) -> Result<Self, ClientError> {
        let user_agent = HeaderValue::from_str(user_agent).map_err(|_| {
            ClientError::configuration("the User-Agent is not a valid header value")
        })?;
        if endpoint.scheme == Scheme::Https && tls.is_none() {
            return Err(ClientError::configuration(
                "HTTPS endpoint without TLS configuration",
            ));
        }
        Ok(Self {
            endpoint,
            tls,
            user_agent,
            max_response_bytes,
            connection: None,
        })
    }

    /// Drop the current connection; the next request opens a new one.
    pub(crate) fn disconnect(&mut self) {
        self.connection = None;
    }

    fn io_error(&self, source: std::io::Error) -> ClientError {
        ClientError::Io {
            target: self.endpoint.authority(),
            source,
        }
    }

    async fn connect(&mut self) -> Result<(), ClientError> {
        self.connection = None;
        let tcp = TcpStream::connect((self.endpoint.host.as_str(), self.endpoint.port))
            .await
            .map_err(|e| self.io_error(e))?;
        let _ = tcp.set_nodelay(true);
        let (sender, driver) = match &self.tls {
            Some(config) if self.endpoint.scheme == Scheme::Https => {
                let name = ServerName::try_from(self.endpoint.host.clone()).map_err(|_| {
                    ClientError::InvalidEndpoint {
                        input: self.endpoint.host.clone(),
                        reason: "not a valid TLS server name".to_owned(),
                    }
                })?;
                let stream = TlsConnector::from(config.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(|e| self.tls_error(e))?;
                handshake(stream).await.map_err(|e| self.hyper_error(e))?
            }
            _ => handshake(tcp).await.map_err(|e| self.hyper_error(e))?,
        };
        self.connection = Some(Connection { sender, driver });
        Ok(())
    }

    fn tls_error(&self, e: std::io::Error) -> ClientError {
        match e
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            Some(tls_err) => ClientError::Tls {
                message: tls_err.to_string(),
                kind: tls::classify(tls_err),
            },
            None => self.io_error(e),
        }
    }

    fn hyper_error(&self, e: hyper::Error) -> ClientError {
        self.io_error(std::io::Error::other(e))
    }

    fn request(
        &self,
        body: &Bytes,
        headers: &[(HeaderName, HeaderValue)],
    ) -> Result<hyper::Request<Full<Bytes>>, ClientError> {
        let mut builder = hyper::Request::post(self.endpoint.path.as_str())
            .header(hyper::header::HOST, self.endpoint.authority())
            .header(hyper::header::CONNECTION, "Keep-Alive")
            .header(
                hyper::header::CONTENT_TYPE,
                "application/soap+xml;charset=UTF-8",
            )
            .header(hyper::header::USER_AGENT, self.user_agent.clone())
            .header(hyper::header::CONTENT_LENGTH, body.len());
        for (name, value) in headers {
            builder = builder.header(name, value);
        }
        builder
            .body(Full::new(body.clone()))
            .map_err(|e| ClientError::configuration(format!("cannot build the HTTP request: {e}")))
    }

    /// POST `body` to the endpoint on the kept connection, reconnecting once when the server
    /// closed it before the request was written (idle keep-alive timeout).
    pub(crate) async fn post(
        &mut self,
        body: Bytes,
        headers: &[(HeaderName, HeaderValue)],
    ) -> Result<HttpReply, ClientError> {
        let mut request = self.request(&body, headers)?;
        let mut attempts = 0;
        let response = loop {
            attempts += 1;
            let mut fresh = false;
            if self.connection.is_some() {
                // Give the connection task a chance to see a close the server sent while we
                // were idle (keep-alive timeout): then we reconnect instead of writing into it.
                tokio::task::yield_now().await;
            }
            let usable = match self.connection.as_mut() {
                Some(c) => !c.sender.is_closed() && c.sender.ready().await.is_ok(),
                None => false,
            };
            if !usable {
                self.connect().await?;
                fresh = true;
            }
            let Some(conn) = self.connection.as_mut() else {
                return Err(ClientError::protocol("no connection"));
            };
            match conn.sender.try_send_request(request).await {
                Ok(r) => break r,
                Err(mut e) => {
                    let unsent = e.take_message();
                    let error = e.into_error();
                    self.connection = None;
                    // Retry once on a new connection when the request never left, or when a
                    // kept connection was closed by the server without an answer (it closed
                    // it idle, before our request arrived).
                    let idle_close = !fresh && error.is_incomplete_message();
                    match unsent {
                        Some(r) if attempts < 2 => request = r,
                        None if attempts < 2 && idle_close => {
                            request = self.request(&body, headers)?
                        }
                        _ => return Err(self.hyper_error(error)),
                    }
                }
            }
        };
        let status = response.status().as_u16();
        let header_text = |name: HeaderName| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header_text(hyper::header::CONTENT_TYPE);
        let closes =
            header_text(hyper::header::CONNECTION).is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let www_authenticate = response
            .headers()
            .get_all(hyper::header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_owned))
            .collect();
        let declared =
            header_text(hyper::header::CONTENT_LENGTH).and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.max_response_bytes as u64) {
            self.connection = None;
            return Err(self.too_large());
        }
        let body = match Limited::new(response.into_body(), self.max_response_bytes)
            .collect()
            .await
        {
            Ok(collected) => collected.to_bytes(),
            Err(e) => {
                self.connection = None;
                if e.is::<http_body_util::LengthLimitError>() {
                    return Err(self.too_large());
                }
                return Err(self.io_error(std::io::Error::other(e)));
            }
        };
        if closes {
            self.connection = None;
        }
        Ok(HttpReply {
            status,
            content_type,
            www_authenticate,
            body,
        })
    }

    fn too_large(&self) -> ClientError {
        ClientError::protocol(format!(
            "the response is larger than the {} bytes this client accepts",
            self.max_response_bytes
        ))
    }
}

type Handshake = (SendRequest<Full<Bytes>>, JoinHandle<()>);

async fn handshake<S>(stream: S) -> Result<Handshake, hyper::Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    let driver = tokio::spawn(async move {
        // The connection ends when the server closes it or the sender is dropped; either way
        // the next request notices through `is_closed` and reconnects.
        let _ = connection.await;
    });
    Ok((sender, driver))
}
