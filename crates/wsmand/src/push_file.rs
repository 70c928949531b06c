//! `DIR/push.toml`: the hosts a push subscription not made as root may have the daemon
//! authenticate to with its own credentials (the machine's Kerberos credentials, a client
//! certificate of `certs/`). Absent: none (root only). Read at start; a file that does not
//! check stops the start, as `forwarding.toml` does.
//!
//! ```toml
//! credential_subscribers = ["siem.example.com", "collector.example.com:5986"]
//! ```

use std::path::Path;

use anyhow::{bail, Context};
use serde::Deserialize;
use wsman_eventsource::CredentialSubscribers;

pub(crate) const FILE: &str = "push.toml";
/// Larger is not a list of hosts.
const MAX_FILE: u64 = 64 * 1024;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PushFile {
    #[serde(default)]
    credential_subscribers: Vec<String>,
}

/// The list of `DIR/push.toml`; empty when there is no file.
pub(crate) fn load(config_dir: &Path) -> anyhow::Result<CredentialSubscribers> {
    let path = config_dir.join(FILE);
    let text = match std::fs::File::open(&path) {
        Ok(file) => {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::Read::take(file, MAX_FILE), &mut text)
                .with_context(|| format!("cannot read {}", path.display()))?;
            text
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(CredentialSubscribers::default())
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    parse(&text).with_context(|| format!("{} refused", path.display()))
}

fn parse(text: &str) -> anyhow::Result<CredentialSubscribers> {
    let file: PushFile = toml::from_str(text)?;
    for host in &file.credential_subscribers {
        let bad = host.is_empty()
            || host.len() > 262
            || host.contains(|c: char| c.is_whitespace() || "/@?#*".contains(c));
        if bad {
            bail!("credential_subscribers: {host:?} is not a host or host:port");
        }
    }
    Ok(CredentialSubscribers::new(file.credential_subscribers))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_read_and_anything_else_refused() {
        let list = parse("credential_subscribers = [\"siem.example.com\", \"c.example.com:5986\"]")
            .expect("valid");
        assert!(list.names("https://siem.example.com/x"));
        assert!(list.names("https://c.example.com:5986/x"));
        assert!(!list.names("https://other.example.com/x"));
        assert_eq!(parse("").expect("empty"), CredentialSubscribers::default());
        for bad in [
            "credential_subscribers = [\"https://siem.example.com/\"]",
            "credential_subscribers = [\"*.example.com\"]",
            "credential_subscribers = [\"\"]",
            "subscribers = []",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
