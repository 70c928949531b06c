//! The state the request pipeline works with: what every connection shares ([`Shared`]) and
//! what one TCP (or TLS) connection keeps between its requests ([`Connection`]).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;
use wsman_front::http::Activity;

use crate::auth::certificate::PeerCertificate;
use crate::auth::services::AuthServices;
use crate::auth::state::AuthState;
use crate::auth::Channel;
use crate::catalog::Catalog;
use crate::identify::IdentifyCache;
use crate::settings::{ServiceSettings, Transport};

/// State shared by every connection of the service.
pub struct Shared {
    pub settings: watch::Receiver<Arc<ServiceSettings>>,
    /// Every engine, by key: the router.
    pub catalog: Arc<Catalog>,
    /// What authentication needs: verifier, permits, throttle, Kerberos, accounts.
    pub auth: Arc<AuthServices>,
    /// What the pipeline counts for the metrics endpoint.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// The authenticated Identify of the current configuration ([`IdentifyCache`]).
    pub identify: IdentifyCache,
}

/// State of one TCP (or TLS) connection.
pub struct Connection {
    /// The client's address: the socket's peer, or the one a trusted load balancer's PROXY
    /// protocol header named.
    pub remote: SocketAddr,
    /// The load balancer that relayed the connection (`remote` came from its header).
    pub forwarded_by: Option<SocketAddr>,
    pub local: SocketAddr,
    pub transport: Transport,
    /// `/` + URLPrefix of the listener that accepted it.
    pub path: Arc<str>,
    /// What this connection has proved ([`AuthState`]).
    pub auth: Mutex<AuthState>,
    /// The client certificate presented in the TLS handshake, if any (HTTPS).
    pub peer_certificate: Option<PeerCertificate>,
    /// MsvAvChannelBindings a Negotiate client must send here (HTTPS: from our certificate).
    pub channel_binding: Option<[u8; 16]>,
    /// RFC 5929 channel binding application data a Kerberos client binds to (HTTPS).
    pub end_point_binding: Option<Arc<[u8]>>,
    /// Each request from its head to its answer, for the front door's idle limit
    /// ([`wsman_front::http::serve_watched`]).
    pub activity: Arc<Activity>,
}

impl Connection {
    pub fn new(
        remote: SocketAddr,
        local: SocketAddr,
        transport: Transport,
        path: Arc<str>,
    ) -> Self {
        Self {
            remote,
            forwarded_by: None,
            local,
            transport,
            path,
            auth: Mutex::new(AuthState::default()),
            peer_certificate: None,
            channel_binding: None,
            end_point_binding: None,
            activity: Arc::default(),
        }
    }

    /// Builder-style: the front door's watch of this connection's requests.
    pub fn with_activity(mut self, activity: &Arc<Activity>) -> Self {
        self.activity = Arc::clone(activity);
        self
    }

    /// Builder-style: the client certificate of the TLS handshake.
    pub fn with_peer_certificate(mut self, peer: Option<PeerCertificate>) -> Self {
        self.peer_certificate = peer;
        self
    }

    /// Builder-style: the load balancer whose PROXY protocol header named `remote`.
    pub fn with_forwarded_by(mut self, balancer: Option<SocketAddr>) -> Self {
        self.forwarded_by = balancer;
        self
    }

    /// Builder-style: the channel binding expected from Negotiate clients.
    pub fn with_channel_binding(mut self, channel_binding: Option<[u8; 16]>) -> Self {
        self.channel_binding = channel_binding;
        self
    }

    /// Builder-style: the channel binding expected from Kerberos clients.
    pub fn with_end_point_binding(mut self, binding: Option<Arc<[u8]>>) -> Self {
        self.end_point_binding = binding;
        self
    }

    /// The authentication state, locked.
    pub fn auth_state(&self) -> MutexGuard<'_, AuthState> {
        AuthState::lock(&self.auth)
    }

    /// What a handshake may know of this connection.
    pub fn channel(&self) -> Channel {
        Channel {
            remote: self.remote,
            transport: self.transport,
            channel_binding: self.channel_binding,
            end_point_binding: self.end_point_binding.clone(),
        }
    }
}
