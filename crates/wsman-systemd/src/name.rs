//! Checked service unit names: the only way a name reaches systemd.

use std::fmt;

/// Longest unit name systemd accepts (`UNIT_NAME_MAX`).
const MAX_LEN: usize = 255;

/// A syntactically valid `.service` unit name: `[A-Za-z0-9:_.\\-]` with at most one `@`, at
/// most 255 bytes, ending in `.service`. Names come from untrusted selectors and filters, so
/// anything else (a path, a glob, another unit type) is refused here rather than left to the bus.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnitName(String);

/// Why a name is not a service unit name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a service unit name: {reason}")]
pub struct InvalidUnitName {
    reason: &'static str,
}

impl UnitName {
    /// `name` as given, or with `.service` appended when it has no unit suffix (`ssh` ->
    /// `ssh.service`, as `systemctl` does).
    pub fn service(name: &str) -> Result<UnitName, InvalidUnitName> {
        let refuse = |reason| Err(InvalidUnitName { reason });
        let full = if name.ends_with(".service") {
            name.to_owned()
        } else {
            format!("{name}.service")
        };
        let prefix = &full[..full.len() - ".service".len()];
        if prefix.is_empty() {
            return refuse("empty name");
        }
        if full.len() > MAX_LEN {
            return refuse("longer than 255 bytes");
        }
        if prefix.starts_with('@') {
            return refuse("starts with @");
        }
        if prefix.bytes().filter(|&b| b == b'@').count() > 1 {
            return refuse("more than one @");
        }
        let allowed = |b: u8| b.is_ascii_alphanumeric() || b":_.\\-@".contains(&b);
        if !prefix.bytes().all(allowed) {
            return refuse("a character systemd does not allow in unit names");
        }
        Ok(UnitName(full))
    }

    /// The unit name, `ssh.service`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name without `.service`, as Windows tools address a service (`ssh`).
    pub fn short(&self) -> &str {
        self.0.strip_suffix(".service").unwrap_or(&self.0)
    }

    /// A template (`getty@.service`): a pattern for instances, not a service of its own.
    pub fn is_template(&self) -> bool {
        self.short().ends_with('@')
    }
}

impl fmt::Display for UnitName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_service_names_with_or_without_suffix() {
        assert_eq!(UnitName::service("ssh").unwrap().as_str(), "ssh.service");
        assert_eq!(
            UnitName::service("getty@tty1.service").unwrap().short(),
            "getty@tty1"
        );
        assert!(UnitName::service("getty@.service").unwrap().is_template());
        assert!(!UnitName::service("dbus").unwrap().is_template());
        assert_eq!(
            UnitName::service(r"systemd-fsck@dev-disk-by\x2duuid-1.service")
                .unwrap()
                .short(),
            r"systemd-fsck@dev-disk-by\x2duuid-1"
        );
    }

    #[test]
    fn refuses_what_is_not_a_service_name() {
        for bad in [
            "",
            ".service",
            "../etc/passwd",
            "a/b",
            "*.service",
            "ssh service",
            "@x",
            "a@b@c",
            "x\u{e9}",
            "ssh.socket\n",
        ] {
            assert!(UnitName::service(bad).is_err(), "{bad:?} must be refused");
        }
        assert!(UnitName::service(&"a".repeat(300)).is_err());
        // Another unit type gets .service appended and so cannot name the socket unit.
        assert_eq!(
            UnitName::service("ssh.socket").unwrap().as_str(),
            "ssh.socket.service"
        );
    }
}
