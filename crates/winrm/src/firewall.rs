//! `winrm quickconfig`'s firewall exception: open the listener's TCP port in the host firewall
//! that is active, as Windows' quickconfig enables its "Windows Remote Management" rule.
//!
//! Which firewall: firewalld when `firewall-cmd --state` says it runs, else ufw when `ufw
//! status` says it is active, else nftables when the ruleset has a filter chain on the input
//! hook that drops or rejects (policy or a rule). firewalld and ufw come first because they
//! keep their own nftables or iptables tables: a rule added under them would be lost at their
//! next reload, and the operator manages the firewall through them.
//!
//! Idempotent: a port the firewall already accepts is reported and left alone (firewalld
//! `--query-port`, ufw's own duplicate check, in nftables an accept rule for `tcp dport PORT`
//! in the chain), so running quickconfig twice leaves one rule.

use std::process::{Command, Stdio};

use serde_json::Value;

/// The comment on the nftables rule we add, so an operator sees where it came from.
const NFT_COMMENT: &str = "\"wsmand WinRM listener\"";

/// An nftables base chain that filters input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct InputChain {
    pub(crate) family: String,
    pub(crate) table: String,
    pub(crate) name: String,
}

impl std::fmt::Display for InputChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} {}", self.family, self.table, self.name)
    }
}

/// What quickconfig has to do for `port`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Inspection {
    /// No firewall is active: nothing to open.
    NoFirewall,
    /// The active firewall already accepts the port.
    AlreadyOpen { firewall: &'static str },
    /// firewalld runs and does not accept the port yet.
    Firewalld,
    /// ufw is active and does not accept the port yet.
    Ufw,
    /// These nftables chains drop input and accept nothing for the port yet.
    Nftables { chains: Vec<InputChain> },
    /// The firewall could not be read (not root, a tool failed).
    Unknown { reason: String },
}

/// Runs `program args`: `Some((success, stdout))`, `None` when it is not installed.
fn output(program: &str, args: &[&str]) -> Option<(bool, String)> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .ok()?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        text.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    Some((out.status.success(), text))
}

/// Looks at the host firewall for TCP `port`.
pub(crate) fn inspect(port: u16) -> Inspection {
    let tcp = format!("{port}/tcp");
    if let Some((true, state)) = output("firewall-cmd", &["--state"]) {
        if state.trim() == "running" {
            let query = format!("--query-port={tcp}");
            return match output("firewall-cmd", &[query.as_str()]) {
                Some((true, _)) => Inspection::AlreadyOpen {
                    firewall: "firewalld",
                },
                _ => Inspection::Firewalld,
            };
        }
    }
    if let Some((success, status)) = output("ufw", &["status"]) {
        if success && status.lines().next() == Some("Status: active") {
            let open = status.lines().any(|line| {
                let mut words = line.split_whitespace();
                matches!(
                    (words.next(), words.next()),
                    (Some(what), Some("ALLOW")) if what == tcp || what == port.to_string()
                )
            });
            return if open {
                Inspection::AlreadyOpen { firewall: "ufw" }
            } else {
                Inspection::Ufw
            };
        }
    }
    match output("nft", &["-j", "list", "ruleset"]) {
        None => Inspection::NoFirewall,
        Some((false, error)) => Inspection::Unknown {
            reason: format!("nft list ruleset failed: {}", error.trim()),
        },
        Some((true, json)) => match serde_json::from_str::<Value>(&json) {
            Ok(ruleset) => nftables_inspection(&ruleset, port),
            Err(e) => Inspection::Unknown {
                reason: format!("nft printed no JSON ruleset: {e}"),
            },
        },
    }
}

/// The nftables part of [`inspect`] over `nft -j list ruleset`.
pub(crate) fn nftables_inspection(ruleset: &Value, port: u16) -> Inspection {
    let items: &[Value] = ruleset
        .get("nftables")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    let mut filtering = Vec::new();
    for chain in items.iter().filter_map(|item| item.get("chain")) {
        let text = |key: &str| chain.get(key).and_then(Value::as_str).unwrap_or_default();
        let family = text("family");
        if text("hook") != "input"
            || text("type") != "filter"
            || !matches!(family, "inet" | "ip" | "ip6")
        {
            continue;
        }
        let input = InputChain {
            family: family.to_owned(),
            table: text("table").to_owned(),
            name: text("name").to_owned(),
        };
        let rules: Vec<&Value> = items
            .iter()
            .filter_map(|item| item.get("rule"))
            .filter(|rule| {
                let of = |key: &str| rule.get(key).and_then(Value::as_str).unwrap_or_default();
                of("family") == input.family
                    && of("table") == input.table
                    && of("chain") == input.name
            })
            .collect();
        let drops = text("policy") == "drop"
            || rules.iter().any(|rule| {
                rule.get("expr")
                    .and_then(Value::as_array)
                    .is_some_and(|exprs| {
                        exprs
                            .iter()
                            .any(|e| e.get("drop").is_some() || e.get("reject").is_some())
                    })
            });
        if drops {
            filtering.push((input, rules.iter().any(|rule| accepts_port(rule, port))));
        }
    }
    if filtering.is_empty() {
        return Inspection::NoFirewall;
    }
    let chains: Vec<InputChain> = filtering
        .into_iter()
        .filter(|(_, open)| !open)
        .map(|(chain, _)| chain)
        .collect();
    if chains.is_empty() {
        Inspection::AlreadyOpen {
            firewall: "nftables",
        }
    } else {
        Inspection::Nftables { chains }
    }
}

/// An nftables rule that accepts TCP to `port` with no other condition than the protocol (a
/// counter or comment aside).
fn accepts_port(rule: &Value, port: u16) -> bool {
    let Some(exprs) = rule.get("expr").and_then(Value::as_array) else {
        return false;
    };
    let mut port_matched = false;
    let mut accepted = false;
    for expr in exprs {
        if expr.get("accept").is_some() {
            accepted = true;
        } else if let Some(condition) = expr.get("match") {
            let payload = condition.pointer("/left/payload");
            let field = |key: &str| payload.and_then(|p| p.get(key)).and_then(Value::as_str);
            let is_tcp_dport = field("protocol") == Some("tcp") && field("field") == Some("dport");
            let equal = condition.get("op").and_then(Value::as_str) == Some("==");
            if is_tcp_dport && equal && condition.get("right") == Some(&Value::from(port)) {
                port_matched = true;
            } else {
                return false;
            }
        } else if expr.get("counter").is_none() {
            return false;
        }
    }
    port_matched && accepted
}

/// Why the firewall could not be opened.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FirewallError {
    /// The tool ran and said no.
    #[error("{program} {arguments} failed: {error}")]
    Failed {
        program: String,
        arguments: String,
        /// What it wrote on stderr, trimmed.
        error: String,
    },
    /// The tool could not be run.
    #[error("cannot run {program}")]
    NotRun { program: String },
}

/// Opens TCP `port` as `inspection` says; what was done, in a sentence.
pub(crate) fn open(inspection: &Inspection, port: u16) -> Result<String, FirewallError> {
    let tcp = format!("{port}/tcp");
    let run = |program: &str, args: &[&str]| -> Result<(), FirewallError> {
        match output(program, args) {
            Some((true, _)) => Ok(()),
            Some((false, error)) => Err(FirewallError::Failed {
                program: program.to_owned(),
                arguments: args.join(" "),
                error: error.trim().to_owned(),
            }),
            None => Err(FirewallError::NotRun {
                program: program.to_owned(),
            }),
        }
    };
    match inspection {
        Inspection::Firewalld => {
            let add = format!("--add-port={tcp}");
            run("firewall-cmd", &[add.as_str()])?;
            run("firewall-cmd", &["--permanent", add.as_str()])?;
            Ok(format!(
                "WinRM firewall exception enabled: firewalld accepts TCP port {port} (runtime and permanent, default zone)."
            ))
        }
        Inspection::Ufw => {
            run(
                "ufw",
                &["allow", tcp.as_str(), "comment", "wsmand WinRM listener"],
            )?;
            Ok(format!(
                "WinRM firewall exception enabled: ufw allows TCP port {port}."
            ))
        }
        Inspection::Nftables { chains } => {
            let port_text = port.to_string();
            for chain in chains {
                run(
                    "nft",
                    &[
                        "insert",
                        "rule",
                        &chain.family,
                        &chain.table,
                        &chain.name,
                        "tcp",
                        "dport",
                        &port_text,
                        "accept",
                        "comment",
                        NFT_COMMENT,
                    ],
                )?;
            }
            let names: Vec<String> = chains.iter().map(ToString::to_string).collect();
            Ok(format!(
                "WinRM firewall exception enabled: nftables accepts TCP port {port} in {} (the running ruleset: save it, e.g. in /etc/nftables.conf, to keep it after a reboot).",
                names.join(", ")
            ))
        }
        Inspection::NoFirewall | Inspection::AlreadyOpen { .. } | Inspection::Unknown { .. } => {
            Ok(String::new())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ruleset(chain_policy: &str, rules: &[Value]) -> Value {
        let mut items = vec![
            serde_json::json!({"metainfo": {"json_schema_version": 1}}),
            serde_json::json!({"table": {"family": "inet", "name": "filter"}}),
            serde_json::json!({"chain": {"family": "inet", "table": "filter", "name": "input",
                "type": "filter", "hook": "input", "prio": 0, "policy": chain_policy}}),
        ];
        items.extend(rules.iter().cloned());
        serde_json::json!({ "nftables": items })
    }

    fn rule(exprs: Value) -> Value {
        serde_json::json!({"rule": {"family": "inet", "table": "filter", "chain": "input",
            "handle": 3, "expr": exprs}})
    }

    fn dport(port: u16) -> Value {
        serde_json::json!({"match": {"op": "==",
            "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": port}})
    }

    #[test]
    fn a_dropping_input_chain_needs_the_port_once() {
        let input = InputChain {
            family: "inet".into(),
            table: "filter".into(),
            name: "input".into(),
        };
        assert_eq!(
            nftables_inspection(&ruleset("drop", &[]), 5985),
            Inspection::Nftables {
                chains: vec![input]
            }
        );
        let open = rule(serde_json::json!([dport(5985), {"counter": {}}, {"accept": null}]));
        let inspection = nftables_inspection(&ruleset("drop", std::slice::from_ref(&open)), 5985);
        assert_eq!(
            inspection,
            Inspection::AlreadyOpen {
                firewall: "nftables"
            }
        );
        // Another port, or a further condition (a source address), does not count.
        assert!(matches!(
            nftables_inspection(&ruleset("drop", &[open]), 5986),
            Inspection::Nftables { .. }
        ));
        let narrower = rule(serde_json::json!([
            {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}},
                "right": "10.0.0.1"}},
            dport(5985), {"accept": null}]));
        assert!(matches!(
            nftables_inspection(&ruleset("drop", &[narrower]), 5985),
            Inspection::Nftables { .. }
        ));
    }

    #[test]
    fn an_accepting_chain_or_no_chain_is_no_firewall() {
        assert_eq!(
            nftables_inspection(&ruleset("accept", &[]), 5985),
            Inspection::NoFirewall
        );
        let reject_rule = rule(serde_json::json!([{"reject": null}]));
        assert!(matches!(
            nftables_inspection(&ruleset("accept", &[reject_rule]), 5985),
            Inspection::Nftables { .. }
        ));
        assert_eq!(
            nftables_inspection(&serde_json::json!({"nftables": []}), 5985),
            Inspection::NoFirewall
        );
        assert_eq!(
            nftables_inspection(&serde_json::json!("garbage"), 5985),
            Inspection::NoFirewall
        );
    }
}
