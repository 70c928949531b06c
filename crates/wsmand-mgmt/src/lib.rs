//! The management service (`wsmand-mgmt`, port 8172): the Linux analogue of IIS' Web
//! Management Service, and a web console that manages wsmand and Windows hosts alike over
//! WS-Management, reaching every host (the local one too) only through `wsman-client`.
//!
//! A request passes, in order: the client address rules when the TCP connection is accepted
//! (`server`), the connection cap, TLS 1.2/1.3, the bounded request head (one too large answered
//! with a page; all three through the front door, `wsman_front`), the route
//! (`route`), the session (`sessions`), for a change the Origin and the CSRF token and the
//! bounded form (`form`), then the page or action over the configured hosts (`hosts`),
//! rendered by autoescaping templates (`pages`; long tables paged by `table`, the events
//! filter read by `event_filter`, a host's failure put in words by `fault`) or as JSON. Logins go through `login`, with
//! `backoff` per address and per user, and OS accounts through the privileged `pam_helper`; hosts' passwords are read by
//! `password_files`. Settings are `wsman_config::mgmt`'s.
#![forbid(unsafe_code)]

pub mod access;
pub mod audit;
pub mod backoff;
pub mod bulk;
pub mod bulk_pages;
pub mod config_edit;
pub mod delegation;
pub mod event_filter;
pub mod event_pages;
pub mod event_search;
pub mod event_store;
pub mod event_stream;
pub mod event_views;
pub mod fault;
pub mod fleet_health;
pub mod form;
pub mod graphs;
mod host_client;
pub mod hosts;
pub mod http;
pub mod login;
pub mod manage;
pub mod manage_pages;
pub mod pages;
pub mod pam_helper;
pub mod password_files;
pub mod reboot_time;
pub mod request_log;
pub mod route;
pub mod samples;
pub mod server;
pub mod sessions;
pub mod socket_bounds;
pub mod socket_slots;
pub mod table;
pub mod table_html;
pub mod terminal;
pub mod terminal_proto;
pub mod tls;
pub mod update_pages;
pub mod update_store;
pub mod updates;
