//! Which engine an initial `Negotiate` (or `Kerberos`) token belongs to: NTLM (our own
//! acceptor) or Kerberos (the system's GSS-API in `wsman-os`), decided from the token's first
//! bytes and, for SPNEGO, its mechanism list and optimistic token. Pure and bounded; it only
//! reads, never answers.
//!
//! Rules (protocol reference §1.4 and the Kerberos notes):
//! - `NTLMSSP\0` → NTLM;
//! - a GSS InitialContextToken for krb5 or MS-KRB5 → Kerberos (pywinrm, pypsrp `kerberos`);
//! - a SPNEGO NegTokenInit: the optimistic token decides when there is one (NTLMSSP → NTLM,
//!   krb5 → Kerberos); otherwise the first mechanism we know, where an unknown one (NEGOEX)
//!   is skipped;
//! - anything else (including a NegTokenResp, which continues the context the connection
//!   already has) → `None`.

use crate::ntlm::der;

/// DER contents of the Kerberos 5 mechanism OID 1.2.840.113554.1.2.2.
const KRB5_OID: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02];
/// DER contents of Microsoft's Kerberos OID 1.2.840.48018.1.2.2 (Windows lists it first).
const MS_KRB5_OID: &[u8] = &[0x2a, 0x86, 0x48, 0x82, 0xf7, 0x12, 0x01, 0x02, 0x02];
/// DER contents of the SPNEGO OID 1.3.6.1.5.5.2.
const SPNEGO_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x02];
/// DER contents of the NTLMSSP OID 1.3.6.1.4.1.311.2.2.10.
const NTLM_OID: &[u8] = &[0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x02, 0x0a];
/// Raw NTLM messages start with this.
const NTLM_SIGNATURE: &[u8] = b"NTLMSSP\0";
/// The most mechanisms or NegTokenInit fields read.
const MAX_ITEMS: usize = 16;

/// The engine for a connection's first token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NegotiateMechanism {
    /// Raw NTLMSSP, or SPNEGO choosing NTLM.
    Ntlm,
    /// Raw Kerberos, or SPNEGO choosing Kerberos.
    Kerberos,
}

/// Whether the token is wrapped in SPNEGO (answer in SPNEGO) or raw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// Which engine handles it.
    pub mechanism: NegotiateMechanism,
    /// `true` for a SPNEGO NegTokenInit, `false` for a raw NTLMSSP or Kerberos token.
    pub spnego: bool,
}

impl Route {
    /// A token of `mechanism` given raw.
    pub const fn raw(mechanism: NegotiateMechanism) -> Self {
        Self {
            mechanism,
            spnego: false,
        }
    }

    /// A token of `mechanism` inside a SPNEGO NegTokenInit.
    pub const fn spnego(mechanism: NegotiateMechanism) -> Self {
        Self {
            mechanism,
            spnego: true,
        }
    }
}

/// Route an initial token; `None` when it is none of the forms above.
pub fn route_initial_token(token: &[u8]) -> Option<Route> {
    if token.starts_with(NTLM_SIGNATURE) {
        return Some(Route::raw(NegotiateMechanism::Ntlm));
    }
    let (oid, rest) = gss_framing(token)?;
    if is_kerberos(oid) {
        return Some(Route::raw(NegotiateMechanism::Kerberos));
    }
    if oid != SPNEGO_OID {
        return None;
    }
    route_neg_token_init(rest).map(Route::spnego)
}

/// `[APPLICATION 0] { thisMech OID, innerToken }`: the OID and what follows it.
fn gss_framing(token: &[u8]) -> Option<(&[u8], &[u8])> {
    let outer = der::read_only(token, 0x60)?;
    let (oid, rest) = der::read(outer.value)?;
    (oid.tag == 0x06).then_some((oid.value, rest))
}

fn is_kerberos(oid: &[u8]) -> bool {
    oid == KRB5_OID || oid == MS_KRB5_OID
}

/// `[0] NegTokenInit ::= SEQUENCE { [0] mechTypes, [1] reqFlags, [2] mechToken, [3] mechListMIC }`.
fn route_neg_token_init(inner: &[u8]) -> Option<NegotiateMechanism> {
    let init = der::read_only(inner, 0xa0)?;
    let sequence = der::read_only(init.value, 0x30)?;
    let mut mechanisms = Vec::new();
    let mut optimistic = None;
    for field in der::children(sequence.value, MAX_ITEMS)? {
        match field.tag {
            0xa0 => {
                let list = der::read_only(field.value, 0x30)?;
                for mech in der::children(list.value, MAX_ITEMS)? {
                    if mech.tag != 0x06 {
                        return None;
                    }
                    mechanisms.push(mech.value);
                }
            }
            0xa2 => optimistic = Some(der::read_only(field.value, 0x04)?.value),
            _ => {}
        }
    }
    if let Some(token) = optimistic {
        if token.starts_with(NTLM_SIGNATURE) {
            return Some(NegotiateMechanism::Ntlm);
        }
        if gss_framing(token).is_some_and(|(oid, _)| is_kerberos(oid)) {
            return Some(NegotiateMechanism::Kerberos);
        }
    }
    mechanisms.into_iter().find_map(|oid| {
        if is_kerberos(oid) {
            Some(NegotiateMechanism::Kerberos)
        } else if oid == NTLM_OID {
            Some(NegotiateMechanism::Ntlm)
        } else {
            None
        }
    })
}

#[cfg(test)]
#[path = "negotiate_route_tests.rs"]
mod tests;
