//! A tmpfs mounted for one test: a disk that fills up for real (the collector's full-disk
//! tests, the event store's bound). Mounting needs root: `None` otherwise, the test skipped
//! saying why (`scripts/test.sh` runs as root, so there they run).

use std::io::Write;

/// A tmpfs mounted for one test and unmounted when dropped.
pub struct Tmpfs(pub std::path::PathBuf);

impl Tmpfs {
    /// `None` when not root (mounting needs it).
    pub fn mount(dir: &std::path::Path, size: &str) -> Option<Tmpfs> {
        let uid = std::process::Command::new("id")
            .arg("-u")
            .output()
            .expect("id -u");
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            eprintln!("skipped: mounting a tmpfs needs root");
            return None;
        }
        std::fs::create_dir_all(dir).expect("mount point");
        let status = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(dir)
            .status()
            .expect("mount");
        assert!(status.success(), "mount -t tmpfs failed");
        Some(Tmpfs(dir.to_owned()))
    }

    /// Where it is mounted.
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }

    /// Write a file of zeros until the file system is full.
    pub fn fill(&self, name: &str) -> std::path::PathBuf {
        let path = self.0.join(name);
        let mut file = std::fs::File::create(&path).expect("filler");
        let chunk = vec![0u8; 4096];
        loop {
            match file.write(&chunk) {
                Ok(0) => break,
                Ok(_) => continue,
                Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
                Err(e) => panic!("filling the tmpfs: {e}"),
            }
        }
        let _ = file.sync_all();
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}
