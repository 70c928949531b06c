//! The forwarder's warning at start when the `Computer` its events carry is not the name of the
//! account it delivers as: a collector takes events only for the sender's own name or a name
//! its subscription maps to that sender, so such a forwarder is refused batch after batch until
//! the collector maps it. Said once, when the configuration is applied, with both fixes.

use super::{CollectorAuth, ForwardingConfig};

/// One warning per collector reached with a Basic account whose name is not `computer` (the
/// `Computer` of the forwarded events: `forwarding.toml`'s `computer`, else this host's name).
pub(super) fn warnings(config: &ForwardingConfig, computer: &str) -> Vec<String> {
    let computer = computer.trim_end_matches('.');
    config
        .collectors
        .iter()
        .filter_map(|collector| match &collector.auth {
            CollectorAuth::Basic { user, .. } if !user.eq_ignore_ascii_case(computer) => Some(format!(
                "forwarding.toml: the events carry Computer {computer:?}, but the collector at {server} knows this forwarder as its account {user:?}: it refuses events for another computer unless its subscription maps it ([computers] \"{user}\" = [\"{computer}\"]); or set computer = \"{user}\" in forwarding.toml",
                server = collector.server,
            )),
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
        assert!(said[0].contains("computer = \"bench\""), "{}", said[0]);
        // The account's own name (any case, a trailing dot): nothing to say.
        assert!(warnings(&config, "BENCH.").is_empty());
    }
}
