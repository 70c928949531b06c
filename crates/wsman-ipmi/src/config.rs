//! `DIR/bmc.toml`: which BMC to read. The file holds a password when the BMC is on the
//! network, so it is read only when no one but its owner can read it (mode 0600), as the
//! keytab is.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use wsman_safe::PrivateFileError;
use zeroize::Zeroizing;

/// The file's name in the config dir.
pub const FILE_NAME: &str = "bmc.toml";
/// The local BMC's device (the kernel's `ipmi_devintf`).
pub const LOCAL_DEVICE: &str = "/dev/ipmi0";
/// Longest wait for one answer of the BMC unless `timeout_ms` says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);
/// The file is a few lines; anything longer is not ours.
const MAX_FILE_BYTES: u64 = 16 * 1024;

/// Where the BMC is.
#[derive(Clone)]
pub enum Target {
    /// The local BMC through the kernel's IPMI device.
    Local(PathBuf),
    /// A BMC on the network, over RMCP+ (IPMI 2.0 "lanplus").
    Lan {
        /// `host:port` (port 623 when the file gives none).
        address: String,
        user: String,
        password: Zeroizing<String>,
        /// The session's privilege: the BMC account's own level or lower.
        privilege: Privilege,
    },
}

/// An RMCP+ session's privilege level (IPMI 2.0 6.8 and 22.18, Set Session Privilege Level):
/// what the BMC lets the session do. Reading sensors and the SEL needs User; clearing the
/// SEL needs Operator. The BMC refuses a session asking more than the account's own limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Privilege {
    User = 2,
    Operator = 3,
    Administrator = 4,
}

impl Privilege {
    /// The level's number on the wire.
    pub fn level(self) -> u8 {
        self as u8
    }

    /// `privilege` as `bmc.toml` gives it, in any case.
    fn parse(name: &str) -> Option<Self> {
        [Self::User, Self::Operator, Self::Administrator]
            .into_iter()
            .find(|p| format!("{p:?}").eq_ignore_ascii_case(name))
    }
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Local(path) => write!(f, "Local({})", path.display()),
            // Never the password.
            Target::Lan {
                address,
                user,
                privilege,
                ..
            } => write!(f, "Lan({user}@{address}, {privilege:?})"),
        }
    }
}

/// The BMC to read and how long to wait for each of its answers.
#[derive(Clone, Debug)]
pub struct BmcConfig {
    pub target: Target,
    pub timeout: Duration,
}

/// Why `bmc.toml` was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} has mode {mode:04o}: it holds a password and must not be accessible to group or others (chmod 0600)")]
    Mode { path: PathBuf, mode: u32 },
    #[error("{path} is larger than {MAX_FILE_BYTES} bytes")]
    TooLarge { path: PathBuf },
    #[error("{path} holds a password and {source}")]
    NotPrivate {
        path: PathBuf,
        source: PrivateFileError,
    },
    #[error("{path}: {source}")]
    Invalid { path: PathBuf, source: ParseError },
}

/// Why the text of `bmc.toml` is not a BMC's settings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not TOML, or a key the file does not have (toml's message).
    #[error("{0}")]
    Toml(String),
    #[error("timeout_ms {0} is outside 1..=60000")]
    Timeout(u64),
    #[error("give either device or address, not both")]
    DeviceAndAddress,
    #[error("user, password and privilege belong to a network BMC (address)")]
    CredentialsForDevice,
    #[error("a network BMC needs user")]
    NoUser,
    #[error("a network BMC needs password")]
    NoPassword,
    #[error("privilege {0:?} is not one of User, Operator, Administrator")]
    Privilege(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    device: Option<PathBuf>,
    address: Option<String>,
    user: Option<String>,
    password: Option<String>,
    privilege: Option<String>,
    timeout_ms: Option<u64>,
}

impl BmcConfig {
    /// The BMC of the config dir `dir`: `bmc.toml` when it exists, else the local BMC when
    /// `/dev/ipmi0` exists, else none (`Ok(None)`: a host without a BMC).
    pub fn load(dir: &Path) -> Result<Option<Self>, ConfigError> {
        let path = dir.join(FILE_NAME);
        match std::fs::metadata(&path) {
            Ok(_) => Self::read(&path).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Ok(Path::new(LOCAL_DEVICE).exists().then(|| Self {
                    target: Target::Local(PathBuf::from(LOCAL_DEVICE)),
                    timeout: DEFAULT_TIMEOUT,
                }))
            }
            Err(source) => Err(ConfigError::Io { path, source }),
        }
    }

    /// Read and check one `bmc.toml`.
    pub fn read(path: &Path) -> Result<Self, ConfigError> {
        let path_ = || path.to_owned();
        let text =
            wsman_safe::read_private_text(path, MAX_FILE_BYTES).map_err(|error| match error {
                PrivateFileError::Mode { mode } => ConfigError::Mode {
                    path: path_(),
                    mode,
                },
                PrivateFileError::TooLarge { .. } => ConfigError::TooLarge { path: path_() },
                PrivateFileError::Io(source) => ConfigError::Io {
                    path: path_(),
                    source,
                },
                source => ConfigError::NotPrivate {
                    path: path_(),
                    source,
                },
            })?;
        Self::parse(&text).map_err(|source| ConfigError::Invalid {
            path: path.to_owned(),
            source,
        })
    }

    /// The settings of the file's text.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let file: File =
            toml::from_str(text).map_err(|e| ParseError::Toml(e.message().to_owned()))?;
        let timeout = match file.timeout_ms {
            None => DEFAULT_TIMEOUT,
            Some(ms @ 1..=60_000) => Duration::from_millis(ms),
            Some(ms) => return Err(ParseError::Timeout(ms)),
        };
        let target = match (file.device, file.address) {
            (Some(_), Some(_)) => return Err(ParseError::DeviceAndAddress),
            (Some(device), None) => {
                if file.user.is_some() || file.password.is_some() || file.privilege.is_some() {
                    return Err(ParseError::CredentialsForDevice);
                }
                Target::Local(device)
            }
            (None, Some(address)) => {
                let address = if address
                    .rsplit_once(':')
                    .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
                {
                    address
                } else {
                    format!("{address}:623")
                };
                Target::Lan {
                    address,
                    user: file.user.ok_or(ParseError::NoUser)?,
                    password: Zeroizing::new(file.password.ok_or(ParseError::NoPassword)?),
                    privilege: match file.privilege {
                        None => Privilege::Administrator,
                        Some(name) => Privilege::parse(&name).ok_or(ParseError::Privilege(name))?,
                    },
                }
            }
            (None, None) => Target::Local(PathBuf::from(LOCAL_DEVICE)),
        };
        Ok(Self { target, timeout })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn network_bmc_with_default_port() {
        let c = BmcConfig::parse("address = \"10.0.0.5\"\nuser = \"admin\"\npassword = \"pw\"\n")
            .expect("valid");
        match c.target {
            Target::Lan { address, user, .. } => {
                assert_eq!(address, "10.0.0.5:623");
                assert_eq!(user, "admin");
            }
            Target::Local(_) => panic!("expected a network BMC"),
        }
        assert_eq!(c.timeout, DEFAULT_TIMEOUT);
    }

    #[test]
    fn the_privilege_is_administrator_unless_given() {
        let privilege = |extra: &str| {
            let text = format!("address = \"h\"\nuser = \"u\"\npassword = \"p\"\n{extra}");
            match BmcConfig::parse(&text).map(|c| c.target) {
                Ok(Target::Lan { privilege, .. }) => Ok(privilege),
                Ok(Target::Local(_)) => panic!("expected a network BMC"),
                Err(e) => Err(e),
            }
        };
        assert_eq!(privilege(""), Ok(Privilege::Administrator));
        assert_eq!(
            privilege("privilege = \"Operator\""),
            Ok(Privilege::Operator)
        );
        assert_eq!(privilege("privilege = \"user\""), Ok(Privilege::User));
        assert!(privilege("privilege = \"Callback\"").is_err());
    }

    #[test]
    fn refuses_contradictions_and_unknown_keys() {
        for bad in [
            "device = \"/dev/ipmi0\"\naddress = \"h:623\"\n",
            "address = \"h\"\nuser = \"u\"\n",
            "device = \"/dev/ipmi0\"\nuser = \"u\"\n",
            "device = \"/dev/ipmi0\"\nprivilege = \"User\"\n",
            "timeout_ms = 0\n",
            "colour = \"blue\"\n",
        ] {
            assert!(BmcConfig::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_password_is_not_in_debug_output() {
        let c = BmcConfig::parse("address = \"h:1\"\nuser = \"u\"\npassword = \"s3cret\"\n")
            .expect("valid");
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[test]
    fn a_file_readable_by_others_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, "address = \"h\"\nuser = \"u\"\npassword = \"p\"\n").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(matches!(
            BmcConfig::load(dir.path()),
            Err(ConfigError::Mode { mode: 0o644, .. })
        ));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        assert!(BmcConfig::load(dir.path()).expect("valid").is_some());
    }

    /// `bmc.toml` as a link to a private file is refused: the check is the opened file's, and
    /// a link is not opened (whoever may replace it chooses the BMC and its password).
    #[test]
    fn a_link_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let real = dir.path().join("real.toml");
        std::fs::write(&real, "address = \"h\"\nuser = \"u\"\npassword = \"p\"\n").expect("write");
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        std::os::unix::fs::symlink(&real, dir.path().join(FILE_NAME)).expect("symlink");
        assert!(BmcConfig::read(&real).is_ok());
        assert!(matches!(
            BmcConfig::load(dir.path()),
            Err(ConfigError::NotPrivate { .. })
        ));
    }
}
