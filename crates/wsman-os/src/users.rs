//! Linux user and group lookup through NSS (nix's safe wrappers over
//! `getpwnam_r`, `getgrnam_r`, `getgrouplist`), and the administrator rule.

#![forbid(unsafe_code)]

use std::ffi::CString;
use std::path::PathBuf;

use nix::unistd::{getgrouplist, Group, User};

/// Members of this Linux group are administrators (Windows' BUILTIN\
/// Administrators), as is uid 0.
pub const ADMIN_GROUP: &str = "wsmand-admins";

/// A Linux account as NSS reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LinuxUser {
    /// Login name.
    pub name: String,
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Home directory.
    pub home: PathBuf,
    /// Login shell.
    pub shell: PathBuf,
    /// Every group the user is in: the primary group first, then the
    /// supplementary groups.
    pub groups: Vec<u32>,
}

/// Why a lookup failed (not finding the user is `Ok(None)`, not an error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UserError {
    /// The name contains a NUL byte.
    #[error("name contains a NUL byte")]
    NulByte,
    /// NSS failed (e.g. an unreachable directory server).
    #[error("looking up {what} '{name}' failed: {errno}")]
    Lookup {
        /// `user`, `group` or `group list`.
        what: &'static str,
        /// The name looked up.
        name: String,
        /// The system error.
        errno: nix::errno::Errno,
    },
}

/// Looks `name` up in NSS with `from_name` (a user or a group), refusing a NUL byte first.
fn lookup<T>(
    what: &'static str,
    name: &str,
    from_name: fn(&str) -> nix::Result<Option<T>>,
) -> Result<Option<T>, UserError> {
    if name.contains('\0') {
        return Err(UserError::NulByte);
    }
    from_name(name).map_err(|errno| UserError::Lookup {
        what,
        name: name.to_owned(),
        errno,
    })
}

/// Looks up `name`. `Ok(None)` if there is no such user.
pub fn lookup_user(name: &str) -> Result<Option<LinuxUser>, UserError> {
    let Some(user) = lookup("user", name, User::from_name)? else {
        return Ok(None);
    };
    let c_name = CString::new(user.name.as_str()).map_err(|_| UserError::NulByte)?;
    let groups = getgrouplist(&c_name, user.gid).map_err(|errno| UserError::Lookup {
        what: "group list",
        name: name.to_owned(),
        errno,
    })?;
    let mut group_ids = vec![user.gid.as_raw()];
    for gid in groups.iter().map(|gid| gid.as_raw()) {
        if !group_ids.contains(&gid) {
            group_ids.push(gid);
        }
    }
    Ok(Some(LinuxUser {
        name: user.name,
        uid: user.uid.as_raw(),
        gid: user.gid.as_raw(),
        home: user.dir,
        shell: user.shell,
        groups: group_ids,
    }))
}

/// Whether `user` belongs to the group called `group_name` (as primary or
/// supplementary group). A group that does not exist has no members.
pub fn is_member_of_group(user: &LinuxUser, group_name: &str) -> Result<bool, UserError> {
    Ok(group_id(group_name)?.is_some_and(|gid| user.groups.contains(&gid)))
}

/// The gid of the group called `name`; `Ok(None)` if there is no such group.
pub fn group_id(name: &str) -> Result<Option<u32>, UserError> {
    let group = lookup("group", name, Group::from_name)?;
    Ok(group.map(|g| g.gid.as_raw()))
}

/// Windows' administrator test: uid 0, or a member of [`ADMIN_GROUP`].
pub fn is_administrator(user: &LinuxUser) -> Result<bool, UserError> {
    if user.uid == 0 {
        return Ok(true);
    }
    is_member_of_group(user, ADMIN_GROUP)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_exists_and_is_administrator() {
        let root = lookup_user("root").unwrap().unwrap();
        assert_eq!(root.uid, 0);
        assert_eq!(root.gid, 0);
        assert_eq!(root.groups.first(), Some(&0));
        assert!(root.home.is_absolute());
        assert!(is_administrator(&root).unwrap());
        assert!(is_member_of_group(&root, "root").unwrap());
        assert_eq!(group_id("root").unwrap(), Some(0));
        assert_eq!(group_id("wsmand-no-such-group-x7").unwrap(), None);
    }

    #[test]
    fn unknown_user_is_none() {
        assert_eq!(lookup_user("wsmand-no-such-user-x7").unwrap(), None);
        assert_eq!(lookup_user("a\0b"), Err(UserError::NulByte));
    }

    #[test]
    fn non_root_outside_admin_group_is_not_administrator() {
        // `nobody` exists on every Debian system and is in no admin group.
        let Some(nobody) = lookup_user("nobody").unwrap() else {
            eprintln!("skipped: no 'nobody' user on this system");
            return;
        };
        assert_ne!(nobody.uid, 0);
        assert!(!is_member_of_group(&nobody, "wsmand-no-such-group-x7").unwrap());
        assert!(!is_member_of_group(&nobody, "root").unwrap());
        if Group::from_name(ADMIN_GROUP).unwrap().is_none() {
            assert!(!is_administrator(&nobody).unwrap());
        }
    }
}
