//! The engines' adapters, one file each and each in one shape: what the engine serves
//! ([`crate::engine::Engine::keys`]), the access its requests need, stated from the live
//! settings ([`crate::engine::Engine::access`]: which descriptors, which rights), and its
//! answer (delegated to the engine's implementation module: [`crate::dispatch::transfer`],
//! [`crate::winrs`], [`crate::eventing`], [`crate::collector`]). The daemon binary builds the
//! catalog from them in one function.

pub mod cim;
pub mod collector;
pub mod config;
pub mod event_store;
pub mod eventing;
pub mod shells;
pub mod transfer;

#[cfg(test)]
mod tests;
