//! One Linux user's budget of buffered command output, shared by all of that user's commands.
//!
//! Each command's streams are bounded on their own ([`crate::ShellLimits::output_buffer_bytes`]),
//! but a user may run many commands at once and leave their output unread: without a shared
//! bound that is about a MiB per stream and command, hundreds of MiB per user. A command's
//! pump reads its pipe only while both its stream and its user have room, so past the user's
//! budget the user's commands block on their pipes, as one command does when its own buffer
//! is full, and the daemon's memory stops growing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::Notify;

use crate::lock;

/// The output bytes one user's commands hold, and the most they may.
#[derive(Debug)]
pub(crate) struct UserOutput {
    limit: usize,
    used: Mutex<usize>,
    /// Wakes the user's pumps: some of the user's output was freed.
    pub(crate) space: Notify,
}

impl UserOutput {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit: limit.max(1),
            used: Mutex::new(0),
            space: Notify::new(),
        }
    }

    /// Bytes the user's commands may still buffer.
    pub(crate) fn room(&self) -> usize {
        self.limit.saturating_sub(*lock(&self.used))
    }

    /// Bytes the user's commands buffer now.
    #[cfg(test)]
    pub(crate) fn used(&self) -> usize {
        *lock(&self.used)
    }

    /// A command's buffers went from `before` to `after` bytes.
    pub(crate) fn moved(&self, before: usize, after: usize) {
        let mut used = lock(&self.used);
        *used = used.saturating_add(after).saturating_sub(before);
        drop(used);
        if after < before {
            self.space.notify_waiters();
        }
    }
}

/// The users' budgets, each alive while one of its commands is.
#[derive(Debug, Default)]
pub(crate) struct UserOutputs {
    users: Mutex<HashMap<String, Weak<UserOutput>>>,
}

impl UserOutputs {
    /// `user`'s budget (made with `limit` when none of the user's commands is running).
    pub(crate) fn for_user(&self, user: &str, limit: usize) -> Arc<UserOutput> {
        let mut users = lock(&self.users);
        if let Some(budget) = users.get(user).and_then(Weak::upgrade) {
            return budget;
        }
        users.retain(|_, budget| budget.strong_count() > 0);
        let budget = Arc::new(UserOutput::new(limit));
        users.insert(user.to_owned(), Arc::downgrade(&budget));
        budget
    }
}
