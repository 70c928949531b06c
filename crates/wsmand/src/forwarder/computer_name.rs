//! The forwarder's warning at start when the `Computer` its events carry is not one its Basic
//! account may speak for: a collector takes events only for the sender's own full name (a bare
//! account name speaks for no Computer) or a name its subscription maps to that sender, so
//! such a forwarder is refused batch after batch until the collector maps it. Decided by the
//! collector's own rule ([`Sender::may_send_for`]); said once, when the configuration is
//! applied, with both fixes.

use wsman_collector::ingest::Sender;

use super::{CollectorAuth, ForwardingConfig};

/// One warning per collector reached with a Basic account that may not send for `computer` (the
/// `Computer` of the forwarded events: `forwarding.toml`'s `computer`, else this host's name).
pub(super) fn warnings(config: &ForwardingConfig, computer: &str) -> Vec<String> {
    let computer = computer.trim_end_matches('.');
    config
        .collectors
        .iter()
        .filter_map(|collector| match &collector.auth {
            CollectorAuth::Basic { user, .. }
                if !Sender::Account(user.clone()).may_send_for(computer) =>
            {
                Some(format!(
                "forwarding.toml: the events carry Computer {computer:?}, but the collector at {server} knows this forwarder as its account {user:?}, which speaks for no such Computer: the collector refuses its events unless its subscription maps it ([computers] \"{user}\" = [\"{computer}\"]); or name the account after this host's full name and set computer to it in forwarding.toml",
                server = collector.server,
            ))
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_basic_account_named_otherwise_than_the_computer_is_warned_with_both_fixes() {
        let config = super::super::parse(
            "computer = \"bench.bench.test\"\n[[collector]]\nserver = \"Server=https://c/wsman\"\nauthentication = \"basic\"\nusername = \"bench\"\npassword_file = \"/p\"",
        )
        .unwrap();
        let said = warnings(&config, config.computer.as_deref().unwrap());
        assert_eq!(said.len(), 1, "{said:?}");
        assert!(said[0].contains("\"bench.bench.test\""), "{}", said[0]);
        assert!(
            said[0].contains("[computers] \"bench\" = [\"bench.bench.test\"]"),
            "{}",
            said[0]
        );
        // A bare account name speaks for no Computer, not even its own name.
        assert_eq!(warnings(&config, "bench").len(), 1);
        // An account named with the host's full name, the same Computer (any case, a trailing
        // dot): nothing to say.
        let full = super::super::parse(
            "[[collector]]\nserver = \"Server=https://c/wsman\"\nauthentication = \"basic\"\nusername = \"bench.bench.test\"\npassword_file = \"/p\"",
        )
        .unwrap();
        assert!(warnings(&full, "BENCH.bench.test.").is_empty());
    }
}
