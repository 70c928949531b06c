//! The part of PackageKit's D-Bus API this crate calls (`org.freedesktop.PackageKit` and
//! `org.freedesktop.PackageKit.Transaction`, PackageKit 1.x).

use zbus::zvariant::OwnedObjectPath;

#[zbus::proxy(
    interface = "org.freedesktop.PackageKit",
    default_service = "org.freedesktop.PackageKit",
    default_path = "/org/freedesktop/PackageKit",
    gen_blocking = false
)]
pub(crate) trait PackageKit {
    fn create_transaction(&self) -> zbus::Result<OwnedObjectPath>;

    #[zbus(property)]
    fn version_major(&self) -> zbus::Result<u32>;
    #[zbus(property)]
    fn version_minor(&self) -> zbus::Result<u32>;
    #[zbus(property)]
    fn version_micro(&self) -> zbus::Result<u32>;
    #[zbus(property)]
    fn backend_name(&self) -> zbus::Result<String>;
}

#[zbus::proxy(
    interface = "org.freedesktop.PackageKit.Transaction",
    default_service = "org.freedesktop.PackageKit",
    gen_blocking = false
)]
pub(crate) trait Transaction {
    fn set_hints(&self, hints: &[&str]) -> zbus::Result<()>;

    fn get_updates(&self, filter: u64) -> zbus::Result<()>;

    fn get_update_detail(&self, package_ids: &[&str]) -> zbus::Result<()>;

    fn update_packages(&self, transaction_flags: u64, package_ids: &[&str]) -> zbus::Result<()>;

    #[zbus(property)]
    fn percentage(&self) -> zbus::Result<u32>;

    #[zbus(signal)]
    fn package(&self, info: u32, package_id: &str, summary: &str) -> zbus::Result<()>;

    #[zbus(signal)]
    fn finished(&self, exit: u32, runtime: u32) -> zbus::Result<()>;

    #[zbus(signal)]
    fn error_code(&self, code: u32, details: &str) -> zbus::Result<()>;

    #[zbus(signal)]
    fn require_restart(&self, kind: u32, package_id: &str) -> zbus::Result<()>;

    #[allow(clippy::too_many_arguments)]
    #[zbus(signal)]
    fn update_detail(
        &self,
        package_id: &str,
        updates: Vec<&str>,
        obsoletes: Vec<&str>,
        vendor_urls: Vec<&str>,
        bugzilla_urls: Vec<&str>,
        cve_urls: Vec<&str>,
        restart: u32,
        update_text: &str,
        changelog: &str,
        state: u32,
        issued: &str,
        updated: &str,
    ) -> zbus::Result<()>;
}
