//! `wsmand wec clients`: a subscription's forwarders as the bookmark store has them, or only
//! those silent for more than N heartbeat intervals (the hosts that stopped sending), and the
//! forwarders whose deliveries are refused, with why.

use wsman_collector::fleet;
use wsman_collector::store::{self, RefusedDelivery, Store};
use wsman_collector::subscriptions::Subscription;
use wsman_events::Timestamp;

fn show_time(t: Option<Timestamp>) -> String {
    t.map_or("-".to_owned(), Timestamp::to_system_time)
}

/// The forwarders of `subscription` whose latest refusal is newer than their latest stored
/// event (one that was refused, then mended, is not named).
pub(super) fn refused_now(
    store: &dyn Store,
    subscription: &str,
    clients: &[store::ClientState],
) -> anyhow::Result<Vec<RefusedDelivery>> {
    let mut refused = store.refusals(subscription)?;
    refused.retain(|r| {
        !clients
            .iter()
            .any(|c| c.client == r.client && c.last_event.is_some_and(|e| e >= r.at))
    });
    Ok(refused)
}

/// What to do about a refusal, when its reason is one we know how to mend.
pub(super) fn fix_for(reason: &str) -> &'static str {
    if reason.contains("claims Computer") {
        "map the Computer to the forwarder in the subscription's [computers] table, or have the forwarder deliver as an account named after its full host name, the Computer its events carry"
    } else if reason.contains("is at version") {
        "none needed: the forwarder subscribes again at its next refresh"
    } else if reason.contains("allow list") {
        "add the forwarder to the subscription's allowed_principals or allowed_groups, if it should deliver"
    } else {
        "see the collector's log for the delivery"
    }
}

/// The refused forwarders, after the table: who, when, why and what to do.
pub(super) fn print_refused(refused: &[RefusedDelivery]) {
    if refused.is_empty() {
        return;
    }
    println!();
    println!("REFUSED (deliveries refused since the forwarder's last stored event):");
    for r in refused {
        println!(
            "{:<40} {:<30} {}; fix: {}",
            r.client,
            r.at.to_system_time(),
            r.reason.escape_debug(),
            fix_for(&r.reason)
        );
    }
}

pub(super) fn print_clients(s: &Subscription, clients: &[store::ClientState], now: Timestamp) {
    println!(
        "{:<40} {:<30} {:<30} STATE",
        "CLIENT", "LAST EVENT", "LAST HEARTBEAT"
    );
    for client in clients {
        let state = client.liveness(s.heartbeat, now).as_str();
        println!(
            "{:<40} {:<30} {:<30} {state}",
            client.client,
            show_time(client.last_event),
            show_time(client.last_heartbeat)
        );
    }
}

/// The forwarders silent for more than `after` heartbeat intervals, the longest first.
pub(super) fn print_silent(
    s: &Subscription,
    clients: Vec<store::ClientState>,
    after: u32,
    now: Timestamp,
) {
    let mut silent: Vec<_> = clients
        .into_iter()
        .map(|c| (fleet::last_seen(c.last_event, c.last_heartbeat), c))
        .filter(|(seen, _)| fleet::is_silent(*seen, s.heartbeat, after, now))
        .collect();
    silent.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.client.cmp(&b.1.client)));
    println!(
        "{:<40} {:<30} {:<30} SILENT FOR",
        "CLIENT", "LAST EVENT", "LAST HEARTBEAT"
    );
    for (seen, client) in &silent {
        let silent_for = seen.map_or("never heard".to_owned(), |seen| {
            silence(now.saturating_duration_since(seen))
        });
        println!(
            "{:<40} {:<30} {:<30} {silent_for}",
            client.client,
            show_time(client.last_event),
            show_time(client.last_heartbeat)
        );
    }
}

/// `45s`, `12m05s`, `3h12m`, `2d04h`: how long, to the unit that matters.
fn silence(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86_400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86_400, s % 86_400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::silence;
    use std::time::Duration;

    #[test]
    fn silence_is_shown_to_the_unit_that_matters() {
        let s = Duration::from_secs;
        assert_eq!(silence(s(45)), "45s");
        assert_eq!(silence(s(12 * 60 + 5)), "12m05s");
        assert_eq!(silence(s(3 * 3600 + 12 * 60 + 7)), "3h12m");
        assert_eq!(silence(s(2 * 86_400 + 4 * 3600 + 1)), "2d04h");
    }
}
