//! The transfer engine (`engine`): WS-Transfer, WS-Enumeration and Invoke over one provider,
//! served for one family of resources each, by the configuration tree's engine ([`config`])
//! and the CIM engine ([`cim`]), each with the access it states.

pub mod cim;
pub mod config;
pub(crate) mod engine;
#[cfg(test)]
mod tests;

use engine::TransferEngine;
