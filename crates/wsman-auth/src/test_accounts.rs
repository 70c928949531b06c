//! NT hashes by user name, for the acceptors' unit tests.

use std::collections::HashMap;

use crate::ntlm::{NtHash, NtHashLookup, NtlmAccount};

/// Accounts by name, found without regard to case as Windows finds them.
pub(crate) struct Accounts(pub(crate) HashMap<String, NtHash>);

impl NtHashLookup for Accounts {
    fn lookup(&self, user: &str) -> Option<NtlmAccount> {
        self.0
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(user))
            .map(|(name, hash)| NtlmAccount {
                name: name.clone(),
                hash: hash.clone(),
            })
    }
    fn all(&self) -> Vec<NtlmAccount> {
        self.0
            .iter()
            .map(|(name, hash)| NtlmAccount {
                name: name.clone(),
                hash: hash.clone(),
            })
            .collect()
    }
}
