//! Host facts for Identify: the host name and the kernel release
//! (`ProductVersion` reads `OS: <kernel release> SP: 0.0 Stack: 3.0`).

use std::ffi::CStr;
use std::mem::MaybeUninit;

/// Why a host fact could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// The system call failed.
    #[error("{call} failed: {errno}")]
    Call {
        /// `gethostname` or `uname`.
        call: &'static str,
        /// The system error.
        errno: nix::errno::Errno,
    },
}

/// The host name (`gethostname`), lossily converted to UTF-8.
pub fn host_name() -> Result<String, HostError> {
    let name = nix::unistd::gethostname().map_err(|errno| HostError::Call {
        call: "gethostname",
        errno,
    })?;
    Ok(name.to_string_lossy().into_owned())
}

/// The kernel release (`uname -r`), e.g. `6.1.0-18-amd64`.
pub fn kernel_release() -> Result<String, HostError> {
    let mut uts = MaybeUninit::<libc::utsname>::zeroed();
    // SAFETY: `uts` points at writable memory of the right size and type;
    // uname fills it on success and we read it only then. (nix wraps uname
    // only behind a feature the workspace does not enable.)
    let result = unsafe { libc::uname(uts.as_mut_ptr()) };
    if result != 0 {
        return Err(HostError::Call {
            call: "uname",
            errno: nix::errno::Errno::last(),
        });
    }
    // SAFETY: uname returned 0, so the structure is initialised.
    let uts = unsafe { uts.assume_init() };
    // The field is NUL-terminated by uname; if it somehow were not, fall
    // back to an empty string instead of reading past it.
    let release: Vec<u8> = uts.release.iter().map(|&byte| byte as u8).collect();
    Ok(CStr::from_bytes_until_nul(&release)
        .map(|text| text.to_string_lossy().into_owned())
        .unwrap_or_default())
}

/// Identify's `ProductVersion` for this host, in Windows' shape:
/// `OS: <kernel release> SP: 0.0 Stack: 3.0` (Stack 3.0 is WS-Management
/// 1.1 / WinRM 3.0, what current Windows reports).
pub fn identify_product_version() -> Result<String, HostError> {
    Ok(format!("OS: {} SP: 0.0 Stack: 3.0", kernel_release()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_version_has_windows_shape() {
        let version = identify_product_version().unwrap();
        assert!(version.starts_with("OS: "), "{version}");
        assert!(version.ends_with(" SP: 0.0 Stack: 3.0"), "{version}");
        assert!(version.contains(&kernel_release().unwrap()));
    }

    #[test]
    fn host_name_is_not_empty() {
        assert!(!host_name().unwrap().is_empty());
    }

    #[test]
    fn kernel_release_matches_proc() {
        let release = kernel_release().unwrap();
        assert!(!release.is_empty());
        if let Ok(proc) = std::fs::read_to_string("/proc/sys/kernel/osrelease") {
            assert_eq!(release, proc.trim());
        }
    }
}
