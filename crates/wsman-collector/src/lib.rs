//! The Windows Event Collector side of wsmand: what a collector of Windows Event Forwarding
//! must never lose.
//!
//! [`bookmarks`]: where each forwarder has got to in each subscription, per log, stored durably
//! (SQLite, synchronous writes) and merged so that a position never moves backwards, whatever
//! order batches arrive in. A collector acknowledges a batch only after its bookmark is stored,
//! so a restart resumes exactly there.
#![forbid(unsafe_code)]

pub mod bookmarks;
