//! What a request's credentials proved, in the terms of the engines that check more than the
//! caller's SIDs (the collector: a forwarder's certificate names, Kerberos principal or
//! account, and how its deliveries must authenticate).

use std::sync::Arc;

use wsman_collector::ingest::Sender;
use wsman_collector::manager::DeliveryAuth;

use crate::principal::Principal;

/// Who a request's credentials proved, as the collector sees it.
#[derive(Clone, Debug)]
pub struct Proof {
    pub sender: Sender,
    pub auth: DeliveryAuth,
    /// The principal it was proved of.
    pub principal: Arc<Principal>,
    /// The client's address: behind a trusted balancer, the one its PROXY header carried
    /// (what a subscription's `allowed_addresses` decide on and the logs name).
    pub remote: Option<std::net::IpAddr>,
}

impl Proof {
    /// From the principal and, on HTTPS, the certificate that may have proved it.
    pub fn of(
        principal: &Arc<Principal>,
        certificate: Option<&crate::auth::certificate::PeerCertificate>,
        https: bool,
        remote: Option<std::net::IpAddr>,
    ) -> Proof {
        if let Some((names, issuers)) = certificate.and_then(|c| c.proof_of(principal)) {
            return Proof {
                sender: Sender::Certificate(names),
                auth: DeliveryAuth::Certificate { issuers },
                principal: Arc::clone(principal),
                remote,
            };
        }
        if let Some(kerberos) = &principal.kerberos_principal {
            return Proof {
                sender: Sender::Kerberos(kerberos.clone()),
                auth: DeliveryAuth::Kerberos,
                principal: Arc::clone(principal),
                remote,
            };
        }
        Proof {
            sender: Sender::Account(principal.identity.name.clone()),
            auth: DeliveryAuth::Basic { https },
            principal: Arc::clone(principal),
            remote,
        }
    }
}
