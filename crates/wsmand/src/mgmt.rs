//! `wsmand mgmt ...`: the management service's settings (`DIR/mgmt.toml`, WMSVC's meaning and
//! names), its startup type and state through systemd (`wsmand-mgmt.service`), and its
//! manager users (`DIR/mgmt-users.toml`). As WMSVC, it is configured only while stopped.

use std::io::{self, Write as _};
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context as _};
use wsman_config::mgmt::{self, MgmtSettings, SETTINGS};

use crate::account::{create_config_dir, read_password, require_password_stdin};

/// The service's systemd unit.
const UNIT: &str = "wsmand-mgmt.service";

/// `wsmand mgmt` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum MgmtCommand {
    /// Show the settings, each with its WMSVC name (or one setting's value).
    Get {
        /// One setting (as `get` lists them).
        name: Option<String>,
    },
    /// Change a setting. Refused while the service runs (WMSVC is configured only while
    /// stopped) unless --restart, which restarts it with the new value.
    Set {
        /// The setting (one of those `get` lists).
        #[arg(help = format!("The setting ({})", mgmt::setting_names()))]
        name: String,
        /// The new value.
        value: String,
        /// Restart a running service with the new value.
        #[arg(long)]
        restart: bool,
    },
    /// Start the service at boot (WMSVC's Startup Type Automatic).
    Enable,
    /// Start the service only by hand (Startup Type Manual, as installed).
    Disable,
    /// Start the service now.
    Start,
    /// Stop the service.
    Stop,
    /// Whether the service runs, its startup type and where it listens.
    Status,
    /// Manager users (not Linux accounts) for Credentials = os+manager.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
}

/// `wsmand mgmt user` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum UserCommand {
    /// Add a manager user; the password is read from standard input.
    Add {
        /// User name (letters, digits, '.', '_', '-'; at most 32).
        name: String,
        /// Read the password from standard input (required).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Remove a manager user.
    Del {
        /// User name.
        name: String,
    },
    /// List the manager users.
    List,
}

fn systemctl(args: &[&str]) -> anyhow::Result<()> {
    let status = Command::new("systemctl")
        .args(args)
        .status()
        .context("run systemctl")?;
    if !status.success() {
        bail!("systemctl {} failed ({status})", args.join(" "));
    }
    Ok(())
}

fn startup_type() -> String {
    match Command::new("systemctl")
        .args(["is-enabled", UNIT])
        .output()
    {
        Ok(output) => match String::from_utf8_lossy(&output.stdout).trim() {
            "enabled" => "Automatic".to_owned(),
            "disabled" => "Manual".to_owned(),
            "" => "unknown (unit not installed)".to_owned(),
            other => other.to_owned(),
        },
        Err(_) => "unknown (no systemctl)".to_owned(),
    }
}

/// `wsmand mgmt get` without a name: every setting with its value and WMSVC's name, then
/// how many hosts and roles are configured (with none, nobody may see any host).
fn list_settings(
    settings: &MgmtSettings,
    config_dir: &Path,
    stdout: &mut dyn io::Write,
) -> anyhow::Result<()> {
    writeln!(
        stdout,
        "{:<24} {:<24} {:<52} MEANING",
        "SETTING", "VALUE", "WMSVC NAME"
    )?;
    for setting in SETTINGS {
        let value = settings.get(setting.name).unwrap_or_default();
        writeln!(
            stdout,
            "{:<24} {:<24} {:<52} {}",
            setting.name, value, setting.windows_name, setting.meaning
        )?;
    }
    writeln!(
        stdout,
        "Hosts: {} configured ([[Host]] tables in {}), {} from HostInventory, at most MaxHosts = {}",
        settings.hosts.len(),
        MgmtSettings::path_in(config_dir).display(),
        settings.inventory.len(),
        settings.max_hosts
    )?;
    writeln!(
        stdout,
        "Roles: {} configured ([[Role]] tables in the same file){}",
        settings.roles.len(),
        if settings.roles.is_empty() {
            "; with none, nobody may see or change any host (deny by default)"
        } else {
            ""
        }
    )?;
    Ok(())
}

/// Runs a `wsmand mgmt` subcommand against `config_dir`.
pub(crate) fn run(command: MgmtCommand, config_dir: &Path) -> anyhow::Result<()> {
    let stdout = &mut io::stdout().lock();
    match command {
        MgmtCommand::Get { name } => {
            let settings = MgmtSettings::load(config_dir)?;
            match name {
                Some(name) => match settings.get(&name) {
                    Some(value) => writeln!(stdout, "{value}")?,
                    None => bail!("no setting {name:?}; `wsmand mgmt get` lists them"),
                },
                None => list_settings(&settings, config_dir, stdout)?,
            }
        }
        MgmtCommand::Set {
            name,
            value,
            restart,
        } => {
            let running = mgmt::is_running(config_dir)?;
            if running && !restart {
                bail!(
                    "the management service is running: like WMSVC it is configured only while \
                     stopped. Stop it first (`wsmand mgmt stop`), or pass --restart to restart \
                     it with the new value"
                );
            }
            let mut settings = MgmtSettings::load(config_dir)?;
            settings.set(&name, &value)?;
            create_config_dir(config_dir)?;
            settings.save(config_dir)?;
            writeln!(
                stdout,
                "{name} = {}",
                settings.get(&name).unwrap_or_default()
            )?;
            if running {
                systemctl(&["restart", UNIT])?;
                writeln!(stdout, "Restarted {UNIT}.")?;
            }
        }
        MgmtCommand::Enable => {
            systemctl(&["enable", UNIT])?;
            writeln!(stdout, "Startup type: Automatic.")?;
        }
        MgmtCommand::Disable => {
            systemctl(&["disable", UNIT])?;
            writeln!(stdout, "Startup type: Manual.")?;
        }
        MgmtCommand::Start => systemctl(&["start", UNIT])?,
        MgmtCommand::Stop => systemctl(&["stop", UNIT])?,
        MgmtCommand::Status => {
            let settings = MgmtSettings::load(config_dir)?;
            let state = if mgmt::is_running(config_dir)? {
                "Started"
            } else {
                "Stopped"
            };
            writeln!(stdout, "Status: {state}")?;
            writeln!(stdout, "Startup type: {}", startup_type())?;
            let scope = if settings.enable_remote_management {
                format!(
                    "{} (remote management enabled)",
                    settings.bind_addresses.join(",")
                )
            } else {
                "loopback only (EnableRemoteManagement = false)".to_owned()
            };
            writeln!(stdout, "Listens: port {} on {scope}", settings.port)?;
        }
        MgmtCommand::User { command } => user(command, config_dir, stdout)?,
    }
    Ok(())
}

fn user(command: UserCommand, config_dir: &Path, stdout: &mut dyn io::Write) -> anyhow::Result<()> {
    match command {
        UserCommand::Add {
            name,
            password_stdin,
        } => {
            wsman_auth::validate_account_name(&name)?;
            require_password_stdin(password_stdin)?;
            let password = read_password(&mut io::stdin().lock())?;
            create_config_dir(config_dir)?;
            let mut store = mgmt::manager_users(config_dir)?;
            store.add(&name, &password, None)?;
            writeln!(stdout, "Added manager user '{name}'.")?;
            if mgmt::is_running(config_dir)? {
                writeln!(
                    stdout,
                    "The running service reads its users at start: restart it to use this one."
                )?;
            }
        }
        UserCommand::Del { name } => {
            let mut store = mgmt::manager_users(config_dir)?;
            store.remove(&name)?;
            writeln!(stdout, "Removed manager user '{name}'.")?;
        }
        UserCommand::List => {
            let store = mgmt::manager_users(config_dir)?;
            for account in store.list() {
                writeln!(stdout, "{}", account.name)?;
            }
        }
    }
    Ok(())
}
