//! A corrupted config file: the daemon refuses to start and names the file and the line.

use std::time::Duration;

use wsman_test::{free_port, ConfigDir, Daemon, ListenerSpec};

const EXIT_DEADLINE: Duration = Duration::from_secs(30);

#[test]
fn corrupted_config_toml_stops_startup_naming_file_and_line() {
    let config = ConfigDir::new();
    config.write_raw(
        "config.toml",
        "[Config]\nMaxEnvelopeSizekb = 500\nMaxTimeoutms = = nonsense\n",
    );
    let finished = Daemon::run_to_exit(&config, EXIT_DEADLINE);
    assert_ne!(finished.code(), 0, "{}", finished.describe());
    assert!(
        finished.stderr.contains("config.toml"),
        "the error must name the file: {}",
        finished.describe()
    );
    assert!(
        finished.stderr.contains("line 3") || finished.stderr.contains(":3:"),
        "the error must name the line (3): {}",
        finished.describe()
    );
}

#[test]
fn invalid_value_in_config_toml_stops_startup() {
    let mut config = ConfigDir::new();
    config.set("Config", "MaxEnvelopeSizekb", "\"lots\"");
    config.listener(ListenerSpec::http(free_port()));
    config.write();
    let finished = Daemon::run_to_exit(&config, EXIT_DEADLINE);
    assert_ne!(finished.code(), 0, "{}", finished.describe());
    assert!(
        finished.stderr.contains("config.toml"),
        "{}",
        finished.describe()
    );
    assert!(
        finished.stderr.contains("MaxEnvelopeSizekb"),
        "the error should name the setting: {}",
        finished.describe()
    );
}

#[test]
fn corrupted_policy_file_stops_startup_naming_it() {
    let mut config = ConfigDir::new();
    config.listener(ListenerSpec::http(free_port()));
    config.write();
    config.write_policy("10-broken", "[Config.Service]\nAllowUnencrypted = maybe\n");
    let finished = Daemon::run_to_exit(&config, EXIT_DEADLINE);
    assert_ne!(finished.code(), 0, "{}", finished.describe());
    assert!(
        finished.stderr.contains("10-broken.toml"),
        "the error must name the policy file: {}",
        finished.describe()
    );
    assert!(
        finished.stderr.contains("line 2") || finished.stderr.contains(":2:"),
        "the error must name the line (2): {}",
        finished.describe()
    );
}
