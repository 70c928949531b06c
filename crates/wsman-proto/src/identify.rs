//! Identify (DSP0226 §11, reference §8): no addressing headers, empty `s:Header`.

use std::fmt::Write as _;

use crate::ns;
use crate::xml::escape_text;

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
    let mut out = String::with_capacity(1024);
    let _ = write!(
        out,
        "<s:Envelope xmlns:s=\"{}\"><s:Header/><s:Body><wsmid:IdentifyResponse xmlns:wsmid=\"{}\">",
        ns::SOAP,
        ns::IDENTITY
    );
    let _ = write!(
        out,
        "<wsmid:ProtocolVersion>{}</wsmid:ProtocolVersion>",
        ns::WSMAN
    );
    let _ = write!(
        out,
        "<wsmid:ProductVendor>{}</wsmid:ProductVendor>",
        escape_text(&info.product_vendor)
    );
    let _ = write!(
        out,
        "<wsmid:ProductVersion>{}</wsmid:ProductVersion>",
        escape_text(&info.product_version)
    );
    if !info.security_profiles.is_empty() {
        out.push_str("<wsmid:SecurityProfiles>");
        for p in &info.security_profiles {
            let _ = write!(
                out,
                "<wsmid:SecurityProfileName>{}</wsmid:SecurityProfileName>",
                escape_text(p)
            );
        }
        out.push_str("</wsmid:SecurityProfiles>");
    }
    out.push_str("</wsmid:IdentifyResponse></s:Body></s:Envelope>");
    out
}

/// The Identify request a client sends.
pub fn request() -> String {
    format!(
        "<s:Envelope xmlns:s=\"{}\" xmlns:wsmid=\"{}\"><s:Header/><s:Body><wsmid:Identify/></s:Body></s:Envelope>",
        ns::SOAP,
        ns::IDENTITY
    )
}
