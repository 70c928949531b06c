//! A corrupted config file: the daemon refuses to start and names the file and the line.

use std::time::Duration;

use wsman_test::process::Finished;
use wsman_test::{free_port, ConfigDir, Daemon, ListenerSpec};

const EXIT_DEADLINE: Duration = Duration::from_secs(30);

/// Runs the daemon on `config` and checks that it refuses to start.
fn refused_startup(config: &ConfigDir) -> Finished {
    let finished = Daemon::run_to_exit(config, EXIT_DEADLINE);
    assert_ne!(finished.code(), 0, "{}", finished.describe());
    finished
}

/// Checks that the startup error on stderr contains one of `any_of`.
fn assert_error_names(finished: &Finished, any_of: &[&str], what: &str) {
    assert!(
        any_of.iter().any(|text| finished.stderr.contains(text)),
        "the error must name {what}: {}",
        finished.describe()
    );
}

#[test]
fn corrupted_config_toml_stops_startup_naming_file_and_line() {
    let config = ConfigDir::new();
    config.write_raw(
        "config.toml",
        "[Config]\nMaxEnvelopeSizekb = 500\nMaxTimeoutms = = nonsense\n",
    );
    let finished = refused_startup(&config);
    assert_error_names(&finished, &["config.toml"], "the file");
    assert_error_names(&finished, &["line 3", ":3:"], "the line (3)");
}

#[test]
fn invalid_value_in_config_toml_stops_startup() {
    let mut config = ConfigDir::new();
    config.set("Config", "MaxEnvelopeSizekb", "\"lots\"");
    config.listener(ListenerSpec::http(free_port()));
    config.write();
    let finished = refused_startup(&config);
    assert_error_names(&finished, &["config.toml"], "the file");
    assert_error_names(&finished, &["MaxEnvelopeSizekb"], "the setting");
}

#[test]
fn corrupted_policy_file_stops_startup_naming_it() {
    let mut config = ConfigDir::new();
    config.listener(ListenerSpec::http(free_port()));
    config.write();
    config.write_policy("10-broken", "[Config.Service]\nAllowUnencrypted = maybe\n");
    let finished = refused_startup(&config);
    assert_error_names(&finished, &["10-broken.toml"], "the policy file");
    assert_error_names(&finished, &["line 2", ":2:"], "the line (2)");
}
