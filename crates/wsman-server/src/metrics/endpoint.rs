//! The metrics endpoint: `GET /metrics` on its own address, plain HTTP, no authentication,
//! so it is meant for a local scraper. A non-loopback address is refused unless the operator
//! says so explicitly ([`check_address`]). Everything else answers 404 or 405; request heads
//! are bounded in time and size by hyper, bodies are never read, and at most
//! [`MAX_CONNECTIONS`] scrapes are served at once (more are closed unanswered).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

/// The path the text is served on.
pub const PATH: &str = "/metrics";
/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Scrapes served at once.
pub const MAX_CONNECTIONS: usize = 8;
/// How long a scraper has to send its request head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the endpoint cannot start.
#[derive(Debug, thiserror::Error)]
pub enum EndpointError {
    #[error("metrics address {0} is not a loopback address: the endpoint has no authentication; allow it explicitly (Metrics.AllowRemote = true, or --metrics-allow-remote)")]
    NotLoopback(SocketAddr),
    #[error("cannot listen on metrics address {address}: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
}

/// Refuse an address other hosts can reach unless `allow_remote`.
pub fn check_address(address: SocketAddr, allow_remote: bool) -> Result<(), EndpointError> {
    if address.ip().is_loopback() || allow_remote {
        Ok(())
    } else {
        Err(EndpointError::NotLoopback(address))
    }
}

/// Check and bind `address`.
pub async fn bind(address: SocketAddr, allow_remote: bool) -> Result<TcpListener, EndpointError> {
    check_address(address, allow_remote)?;
    TcpListener::bind(address)
        .await
        .map_err(|source| EndpointError::Bind { address, source })
}

/// Serve `render()` on `listener` until the task is aborted.
pub fn spawn(
    listener: TcpListener,
    render: Arc<dyn Fn() -> String + Send + Sync>,
) -> JoinHandle<()> {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::spawn(async move {
        loop {
            let (stream, remote) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics endpoint: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
                tracing::debug!(%remote, "metrics endpoint: too many scrapes at once; closed");
                continue;
            };
            let render = Arc::clone(&render);
            tokio::spawn(async move {
                let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let render = Arc::clone(&render);
                    async move {
                        Ok::<_, Infallible>(answer(
                            request.method(),
                            request.uri().path(),
                            &*render,
                        ))
                    }
                });
                let mut builder = http1::Builder::new();
                builder
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_READ_TIMEOUT)
                    .keep_alive(false);
                let _ = builder
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
                drop(permit);
            });
        }
    })
}

fn answer(method: &Method, path: &str, render: &dyn Fn() -> String) -> Response<Full<Bytes>> {
    let (status, body, content_type) = if path != PATH {
        (StatusCode::NOT_FOUND, String::new(), "text/plain")
    } else if method != Method::GET && method != Method::HEAD {
        (StatusCode::METHOD_NOT_ALLOWED, String::new(), "text/plain")
    } else {
        (StatusCode::OK, render(), CONTENT_TYPE)
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = hyper::header::HeaderValue::from_str(content_type) {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_unless_allowed() {
        let local: SocketAddr = "127.0.0.1:9101".parse().unwrap_or_else(|e| panic!("{e}"));
        let local6: SocketAddr = "[::1]:9101".parse().unwrap_or_else(|e| panic!("{e}"));
        let any: SocketAddr = "0.0.0.0:9101".parse().unwrap_or_else(|e| panic!("{e}"));
        assert!(check_address(local, false).is_ok());
        assert!(check_address(local6, false).is_ok());
        assert!(matches!(
            check_address(any, false),
            Err(EndpointError::NotLoopback(_))
        ));
        assert!(check_address(any, true).is_ok());
    }

    #[test]
    fn only_get_of_the_path() {
        let render = || "x 1\n".to_owned();
        assert_eq!(answer(&Method::GET, PATH, &render).status(), StatusCode::OK);
        assert_eq!(
            answer(&Method::POST, PATH, &render).status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
        assert_eq!(
            answer(&Method::GET, "/wsman", &render).status(),
            StatusCode::NOT_FOUND
        );
    }
}
