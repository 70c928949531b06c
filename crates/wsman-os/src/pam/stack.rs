//! Whether a PAM service has a session stack: what decides, by default, if wsmand opens a
//! PAM session for each command (a service file without `session` lines would only run
//! `other`'s, or nothing, at the cost of a helper process per command).

#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

/// Where Linux-PAM looks for a service's file: the administrator's, then the vendor's.
const SERVICE_DIRECTORIES: [&str; 2] = ["/etc/pam.d", "/usr/lib/pam.d"];
/// `@include` nesting followed before giving up (Linux-PAM itself stops at a few levels).
const MAX_INCLUDE_DEPTH: usize = 8;
/// A PAM file longer than this is not read further (they are a few KiB).
const MAX_FILE_BYTES: u64 = 256 * 1024;

/// The file PAM reads for `service`, if it has one of its own.
pub fn service_file(service: &str) -> Option<PathBuf> {
    if service.is_empty() || service.contains('/') || service.starts_with('.') {
        return None;
    }
    SERVICE_DIRECTORIES
        .iter()
        .map(|directory| Path::new(directory).join(service))
        .find(|path| path.is_file())
}

/// True when `service`'s own file has a `session` line (`session` or `-session`, directly
/// or through `@include`).
pub fn has_session_stack(service: &str) -> bool {
    service_file(service).is_some_and(|path| file_has_session_lines(&path, 0))
}

fn file_has_session_lines(path: &Path, depth: usize) -> bool {
    if depth > MAX_INCLUDE_DEPTH {
        return false;
    }
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let mut text = String::new();
    if std::io::Read::read_to_string(&mut std::io::Read::take(file, MAX_FILE_BYTES), &mut text)
        .is_err()
    {
        return false;
    }
    let directory = path.parent().unwrap_or(Path::new("/etc/pam.d"));
    text.lines().any(|line| {
        let line = line.split('#').next().unwrap_or("");
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("session" | "-session"), _) => true,
            (Some("@include"), Some(name)) => {
                file_has_session_lines(&directory.join(name), depth + 1)
            }
            _ => false,
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn finds_session_lines_directly_and_through_includes() {
        let dir = std::env::temp_dir().join(format!("wsman-pam-stack-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, text: &str| std::fs::write(dir.join(name), text).unwrap();
        write("common-session", "session required pam_unix.so\n");
        write(
            "auth-only",
            "@include common-auth\naccount required pam_unix.so\n",
        );
        write(
            "with-include",
            "auth required pam_unix.so\n@include common-session\n",
        );
        write(
            "optional",
            "# session required pam_env.so\n-session optional pam_systemd.so\n",
        );
        write(
            "commented",
            "auth required pam_unix.so # session\n#session x\n",
        );
        write("loop", "@include loop\n");
        let has = |name: &str| file_has_session_lines(&dir.join(name), 0);
        let found = [
            has("auth-only"),
            has("with-include"),
            has("optional"),
            has("commented"),
            has("loop"),
            has("missing"),
        ];
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(found, [false, true, true, false, false, false]);
    }

    #[test]
    fn service_names_are_plain_file_names() {
        assert_eq!(service_file("../etc/passwd"), None);
        assert_eq!(service_file(""), None);
        assert_eq!(service_file(".hidden"), None);
    }
}
