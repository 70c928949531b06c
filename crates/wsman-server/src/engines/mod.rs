//! The engines, one wing: each engine's adapter ([`crate::engine::Engine`]: the keys it
//! serves, the access its requests need from the live settings, its answer) and its
//! implementation, side by side: the transfer engine over one provider ([`transfer`], for the
//! configuration tree and the CIM classes), the WinRS and PowerShell shells ([`shells`]),
//! WS-Eventing on the event logs ([`eventing`]) and the collector's adapter ([`collector`]).
//! What they share to answer: enumeration [`paging`] and the response [`envelope`]. The
//! daemon binary builds the catalog from them in one function.

pub mod collector;
pub mod envelope;
pub mod eventing;
pub mod paging;
pub mod shells;
pub mod transfer;

#[cfg(test)]
mod tests;
