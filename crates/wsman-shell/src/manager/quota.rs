//! The manager's registry and its quotas: shells per Linux user (the account their processes
//! run as: MaxShellsPerUser bounds that account's resources, whoever authenticated), operations
//! per principal (MaxConcurrentOperationsPerUser: a caller's requests in flight, so that one
//! caller cannot use up another's).

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use wsman_principal::OwnerKey;

use super::{Inner, ShellManager};
use crate::error::ShellError;
use crate::lock;
use crate::shell::Shell;
use crate::types::ShellLimits;

#[derive(Debug, Default)]
pub(super) struct Registry {
    pub(super) shells: HashMap<String, Arc<Shell>>,
    /// Shells (and launched process trees) per Linux user name.
    pub(super) users: HashMap<String, u32>,
    /// Operations in flight per principal.
    operations: HashMap<OwnerKey, u32>,
}

/// Holds one of a principal's MaxConcurrentOperationsPerUser slots.
pub(super) struct OperationSlot {
    inner: Weak<Inner>,
    caller: OwnerKey,
}

impl Drop for OperationSlot {
    fn drop(&mut self) {
        if let Some(inner) = self.inner.upgrade() {
            let mut registry = lock(&inner.registry);
            if let Some(count) = registry.operations.get_mut(&self.caller) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    registry.operations.remove(&self.caller);
                }
            }
        }
    }
}

impl ShellManager {
    /// One more operation of `caller`, or [`ShellError::TooManyOperations`].
    pub(super) fn acquire_operation(&self, caller: &OwnerKey) -> Result<OperationSlot, ShellError> {
        let limit = self.limits().max_concurrent_operations_per_user;
        let mut registry = lock(&self.inner.registry);
        let count = registry.operations.entry(caller.clone()).or_default();
        if limit > 0 && *count >= limit {
            return Err(ShellError::TooManyOperations {
                user: caller.principal().name().to_owned(),
                limit,
            });
        }
        *count += 1;
        Ok(OperationSlot {
            inner: Arc::downgrade(&self.inner),
            caller: caller.clone(),
        })
    }
}

/// Counts one more shell of Linux user `user` (a shell, or a process a method started: both
/// run commands), after MaxConcurrentUsers and MaxShellsPerUser. A service account run as
/// that user shares its quota.
pub(super) fn take_shell_slot(
    registry: &mut Registry,
    user: &str,
    limits: &ShellLimits,
) -> Result<(), ShellError> {
    let current = registry.users.get(user).copied().unwrap_or(0);
    let users_with_shells = registry.users.values().filter(|&&n| n > 0).count();
    if current == 0
        && limits.max_concurrent_users > 0
        && users_with_shells >= limits.max_concurrent_users as usize
    {
        return Err(ShellError::TooManyUsers {
            limit: limits.max_concurrent_users,
        });
    }
    if limits.max_shells_per_user > 0 && current >= limits.max_shells_per_user {
        return Err(ShellError::TooManyShells {
            user: user.to_owned(),
            limit: limits.max_shells_per_user,
        });
    }
    *registry.users.entry(user.to_owned()).or_default() += 1;
    Ok(())
}

/// Gives back what [`take_shell_slot`] counted.
pub(super) fn release_shell_slot(registry: &mut Registry, user: &str) {
    if let Some(count) = registry.users.get_mut(user) {
        *count = count.saturating_sub(1);
        if *count == 0 {
            registry.users.remove(user);
        }
    }
}
