//! The metrics endpoint: `GET /metrics` on its own address, plain HTTP, no authentication,
//! so it is meant for a local scraper. A non-loopback address is refused unless the operator
//! says so explicitly ([`check_address`]). Everything else answers 404 or 405. It is served
//! through the front door of the other HTTP services (`wsman_front`): accept failures backed
//! off, request heads bounded in time and size, and at most [`MAX_CONNECTIONS`] scrapes at once
//! (more are closed unanswered); bodies are never read.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper::{Method, Response, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use wsman_front::http::HeadLimits;
use wsman_front::refusals::{IntervalLog, REFUSAL_LOG_INTERVAL};
use wsman_front::slots::ConnectionSlots;

/// The path the text is served on.
pub const PATH: &str = "/metrics";
/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Scrapes served at once.
pub const MAX_CONNECTIONS: usize = 8;
/// The bounds of a scrape's request head: ten seconds to send it (and so the idle limit of a
/// kept-alive scraper), 16 KiB (a scrape's head is a few hundred bytes).
const HEAD_LIMITS: HeadLimits = HeadLimits {
    read_timeout: Duration::from_secs(10),
    max_bytes: 16 * 1024,
    max_headers: None,
    too_large: None,
};

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
    let slots = Arc::new(ConnectionSlots::default());
    let accept_failed = IntervalLog::new(REFUSAL_LOG_INTERVAL);
    tokio::spawn(async move {
        // Never turned: the endpoint ends when its task is aborted.
        let (_keep, stop) = watch::channel(false);
        loop {
            let (stream, remote) = wsman_front::accept::next(&listener, &accept_failed).await;
            let Ok(slot) = slots.take(remote.ip(), MAX_CONNECTIONS) else {
                tracing::debug!(%remote, "metrics endpoint: too many scrapes at once; closed");
                continue;
            };
            let render = Arc::clone(&render);
            let stop = stop.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let answer = answer(request.method(), request.uri().path(), &*render);
                    async move { Ok::<_, Infallible>(answer) }
                });
                wsman_front::http::serve(stream, remote, None, HEAD_LIMITS, stop, |_| service)
                    .await;
                drop(slot);
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
