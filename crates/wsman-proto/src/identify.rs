//! Identify (DSP0226 §11, reference §8): no addressing headers, empty `s:Header`.

use crate::ns;
use crate::xml::Writer;

/// What an Identify response reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdentifyInfo {
    pub product_vendor: String,
    pub product_version: String,
    /// Security profile URIs; empty (and omitted) for the unauthenticated form.
    pub security_profiles: Vec<String>,
}

/// The IdentifyResponse envelope.
pub fn response(info: &IdentifyInfo) -> String {
    let mut w = Writer::new();
    w.start("s:Envelope", &[("xmlns:s", ns::SOAP)]);
    w.start("s:Header", &[]).end();
    w.start("s:Body", &[]);
    w.start("wsmid:IdentifyResponse", &[("xmlns:wsmid", ns::IDENTITY)]);
    w.leaf("wsmid:ProtocolVersion", &[], ns::WSMAN);
    w.leaf("wsmid:ProductVendor", &[], &info.product_vendor);
    w.leaf("wsmid:ProductVersion", &[], &info.product_version);
    if !info.security_profiles.is_empty() {
        w.start("wsmid:SecurityProfiles", &[]);
        for p in &info.security_profiles {
            w.leaf("wsmid:SecurityProfileName", &[], p);
        }
    }
    w.finish()
}

/// The Identify request a client sends.
pub fn request() -> String {
    format!(
        "<s:Envelope xmlns:s=\"{}\" xmlns:wsmid=\"{}\"><s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>",
        ns::SOAP,
        ns::IDENTITY
    )
}
