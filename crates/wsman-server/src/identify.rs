//! The authenticated IdentifyResponse of one connection, rendered once per configuration. A
//! client that polls Identify on a kept-alive connection (load balancers, monitoring) then
//! pays for the parse of its request only, never again for the rendering of an answer that
//! changes only with the configuration.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use wsman_proto::charset::Encoding;
use wsman_proto::identify::{self, IdentifyInfo};

use crate::response::encode_body;
use crate::settings::ServiceSettings;

/// The last IdentifyResponse sent on a connection, rendered and encoded.
#[derive(Default)]
pub struct IdentifyCache {
    last: Mutex<Option<RenderedIdentify>>,
}

/// An encoded IdentifyResponse and what it was rendered from.
struct RenderedIdentify {
    settings: Arc<ServiceSettings>,
    encoding: Encoding,
    body: Bytes,
}

impl IdentifyCache {
    /// The authenticated IdentifyResponse for `settings` in `encoding`: the one rendered
    /// earlier on this connection when neither changed since (a new configuration is a new
    /// `Arc`), else rendered now and kept.
    pub fn response(&self, settings: &Arc<ServiceSettings>, encoding: Encoding) -> Bytes {
        let mut cached = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(hit) = cached.as_ref() {
            if hit.encoding == encoding && Arc::ptr_eq(&hit.settings, settings) {
                return hit.body.clone();
            }
        }
        let info = IdentifyInfo {
            product_vendor: settings.product_vendor.clone(),
            product_version: settings.product_version.clone(),
            security_profiles: crate::auth::security_profiles(settings),
        };
        let body = encode_body(identify::response(&info), encoding);
        *cached = Some(RenderedIdentify {
            settings: Arc::clone(settings),
            encoding,
            body: body.clone(),
        });
        body
    }
}

#[cfg(test)]
mod tests {
    use wsman_proto::charset;

    use super::*;

    #[test]
    fn identify_answer_is_reused_only_for_the_same_settings_and_encoding() {
        let cache = IdentifyCache::default();
        let first = Arc::new(ServiceSettings {
            product_vendor: "Vendor A".into(),
            auth_basic: true,
            ..ServiceSettings::default()
        });
        let a = cache.response(&first, Encoding::Utf8);
        let again = cache.response(&first, Encoding::Utf8);
        assert_eq!(
            a.as_ptr(),
            again.as_ptr(),
            "same settings: the rendered answer"
        );
        let text = String::from_utf8(a.to_vec()).unwrap();
        assert!(text.contains("<wsmid:ProductVendor>Vendor A</wsmid:ProductVendor>"));
        assert!(text.contains("SecurityProfileName"));

        let utf16 = cache.response(&first, Encoding::Utf16Le);
        assert_eq!(
            utf16,
            Bytes::from(charset::encode(&text, Encoding::Utf16Le)),
            "another encoding: rendered again"
        );

        // A configuration change is a new snapshot, even with equal values.
        let second = Arc::new(ServiceSettings {
            product_vendor: "Vendor B".into(),
            ..ServiceSettings::default()
        });
        let b = String::from_utf8(cache.response(&second, Encoding::Utf8).to_vec()).unwrap();
        assert!(b.contains("<wsmid:ProductVendor>Vendor B</wsmid:ProductVendor>"));
        assert!(!b.contains("SecurityProfileName"));
    }
}
