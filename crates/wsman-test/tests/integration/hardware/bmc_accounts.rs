//! BMC accounts below Administrator, each usable for what its privilege allows: an Operator
//! account reads every sensor and clears the SEL, a User account reads every sensor and its
//! ClearLog is refused by the BMC. The RMCP+ session is wsmand's own (`wsman_ipmi::lanplus`);
//! its key exchange, keys and packet protection are checked against the BMC itself: a real
//! BMC (`ipmi_sim`) only answers a session whose RAKP 3 code, integrity codes and
//! encryption are right, and its RAKP 2 and 4 codes are checked against ours.

use std::time::Duration;

use wsman_ipmi::lanplus::rakp::RakpError;
use wsman_ipmi::lanplus::{LanError, LanSession};
use wsman_ipmi::{Bmc, BmcConfig, Error, Privilege};
use wsman_test::ipmi::{IpmiSim, BMC_OPERATOR, BMC_PASSWORD, BMC_READER, BMC_USER};

use super::*;

const TIMEOUT: Duration = Duration::from_secs(2);

/// A session of `user` asking `privilege` with wsmand's own RMCP+ code.
fn session(
    sim: &IpmiSim,
    user: &str,
    password: &str,
    privilege: Privilege,
) -> Result<LanSession, LanError> {
    LanSession::open(
        &format!("127.0.0.1:{}", sim.port()),
        user,
        password,
        privilege,
        TIMEOUT,
    )
}

/// Every account opens a session at its own privilege: the BMC took our RAKP 3 code (HMAC
/// under the password), we took its RAKP 2 and RAKP 4 codes (so both derived the same SIK),
/// and it answered Set Session Privilege Level sent encrypted under K2 and authenticated
/// under K1 with an answer that passed our integrity check and decrypted. A wrong password
/// is refused, so the acceptance is not unconditional. (`ipmi_sim` grants a session any
/// level up to its channel's limit whatever the account's own, as it does to ipmitool; the
/// session's level is enforced per command, which the tests below show.)
#[test]
fn the_bmc_accepts_our_session_keys_at_each_accounts_privilege() {
    let Some(sim) = IpmiSim::start() else {
        return;
    };
    for (user, password, privilege) in [
        (BMC_USER, BMC_PASSWORD, Privilege::Administrator),
        (BMC_OPERATOR.0, BMC_OPERATOR.1, Privilege::Operator),
        (BMC_READER.0, BMC_READER.1, Privilege::User),
    ] {
        session(&sim, user, password, privilege)
            .unwrap_or_else(|e| panic!("{user} at {privilege:?}: {e}"));
    }
    match session(
        &sim,
        BMC_OPERATOR.0,
        "not-the-password",
        Privilege::Operator,
    ) {
        Err(LanError::Rakp(RakpError::AuthCode { message: "RAKP 2" })) => {}
        Err(e) => panic!("a wrong password failed otherwise: {e}"),
        Ok(_) => panic!("a wrong password was accepted"),
    }
    // An account the BMC does not have: its refusal, RMCP+ status 0Dh "unauthorized name".
    match session(&sim, "nobody-here", "p", Privilege::User) {
        Err(LanError::Rakp(RakpError::Status { status: 0x0D, .. })) => {}
        Err(e) => panic!("an unknown account failed otherwise: {e}"),
        Ok(_) => panic!("an unknown account was accepted"),
    }
}

/// The library's own view: an Operator clears the SEL; a User's clear is the BMC's refusal
/// of its privilege (a typed error the provider maps), and the SEL is as it was.
#[test]
fn a_user_accounts_clear_is_refused_for_its_privilege() {
    let Some(sim) = IpmiSim::start() else {
        return;
    };
    sim.add_sel_events(SEL_EVENTS);
    let bmc = |account| Bmc::new(BmcConfig::parse(&sim.bmc_toml_as(account)).expect("bmc.toml"));
    let reader = bmc(BMC_READER);
    let entries = reader.sel().expect("a User reads the SEL").entries.len();
    assert_eq!(entries, SEL_EVENTS.lines().count());
    match reader.clear_sel() {
        Err(Error::InsufficientPrivilege { privilege, .. }) => {
            assert_eq!(privilege, Some(Privilege::User))
        }
        other => panic!("a User's clear: {other:?}"),
    }
    assert_eq!(sel_entries(&sim), entries as u64);
    bmc(BMC_OPERATOR)
        .clear_sel()
        .expect("an Operator clears the SEL");
    assert_eq!(sel_entries(&sim), 0);
}

/// wsmand with `bmc.toml` naming `account`: every sensor ipmitool lists, each with the
/// reading ipmitool gives.
fn reads_every_sensor(sim: &IpmiSim, host: &Host) {
    let lines = sensor_lines(sim);
    let sensors = host.instances("CIM_Sensor");
    let ipmi: Vec<&Element> = sensors
        .iter()
        .filter(|i| prop(i, "DeviceID").is_some_and(|d| d.starts_with("IPMI:")))
        .collect();
    assert_eq!(ipmi.len(), lines.len(), "{lines:?}");
    let numeric = host.instances("CIM_NumericSensor");
    for f in lines.iter().filter(|f| f.len() >= 10 && f[2] != "discrete") {
        let item = by_name(&numeric, &f[0]);
        assert!(
            same(scaled(item, "CurrentReading"), column(&f[1])),
            "{} reading: {item:?} vs {f:?}",
            f[0]
        );
    }
}

/// An Operator account of the BMC: wsmand reads every sensor and ClearLog empties the SEL,
/// as ipmitool sees.
#[test]
fn an_operator_account_reads_every_sensor_and_clears_the_sel() {
    let Some((sim, host)) = sim_with_sel_events(Some(BMC_OPERATOR)) else {
        return;
    };
    reads_every_sensor(&sim, &host);
    let records = host.instances("CIM_LogRecord");
    assert_eq!(records.len(), SEL_EVENTS.lines().count());
    assert_eq!(host.clear_log_as((SERVICE_ACCOUNT, SERVICE_PASSWORD)), "0");
    assert_eq!(sel_entries(&sim), 0);
}

/// A User account of the BMC: wsmand reads every sensor and the SEL; ClearLog, even by a
/// wsmand administrator, answers ReturnValue 2 (the BMC refused it to the account's
/// privilege), the refusal is logged, and the SEL is as it was.
#[test]
fn a_user_account_reads_sensors_and_its_clear_log_is_refused() {
    let Some((sim, host)) = sim_with_sel_events(Some(BMC_READER)) else {
        return;
    };
    reads_every_sensor(&sim, &host);
    let ids = sel_ids(&sim);
    let records = host.instances("CIM_LogRecord");
    assert_eq!(records.len(), ids.len());
    assert_eq!(host.clear_log_as((SERVICE_ACCOUNT, SERVICE_PASSWORD)), "2");
    assert_eq!(sel_ids(&sim), ids);
    let log = std::fs::read_to_string(host.daemon.stderr_path()).expect("daemon log");
    assert!(
        log.contains("ClearLog: the BMC refused") && log.contains("User"),
        "{log}"
    );
    // The session was not taken for broken: the sensors are still read on it.
    reads_every_sensor(&sim, &host);
}
