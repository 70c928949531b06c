//! The authenticated IdentifyResponse of one connection, rendered once per configuration, and
//! the last Identify request parsed on it. A client that polls Identify on a kept-alive
//! connection (load balancers, monitoring) sends the same bytes every time: a body equal to the
//! one that parsed as an Identify before (with the same Content-Type) is answered without
//! parsing it again, as parsing is a function of those two alone, and the answer, which
//! changes only with the configuration, is never rendered twice.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use wsman_proto::charset::Encoding;
use wsman_proto::identify::{self, IdentifyInfo};

use crate::response::encode_body;
use crate::settings::ServiceSettings;

/// The largest Identify request kept for [`IdentifyCache::repeated_request`]: Windows' own is
/// under 1 KiB; a larger one is parsed every time.
const MAX_KEPT_REQUEST: usize = 4 * 1024;

/// The last IdentifyResponse sent on a connection, rendered and encoded, and the last request
/// that parsed as an Identify.
#[derive(Default)]
pub struct IdentifyCache {
    last: Mutex<Option<RenderedIdentify>>,
    request: Mutex<Option<KeptRequest>>,
}

/// A request body that parsed as an Identify, its Content-Type and the encoding it was read in.
struct KeptRequest {
    body: Box<[u8]>,
    content_type: Box<str>,
    encoding: Encoding,
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

    /// The encoding of the Identify this exact request (body and Content-Type) parsed as
    /// earlier on this connection, or None: parse it.
    pub fn repeated_request(&self, body: &[u8], content_type: &str) -> Option<Encoding> {
        let kept = self.request.lock().unwrap_or_else(|p| p.into_inner());
        kept.as_ref()
            .filter(|k| *k.body == *body && *k.content_type == *content_type)
            .map(|k| k.encoding)
    }

    /// Remember that `body` with `content_type` parsed as an Identify in `encoding` (bodies
    /// over [`MAX_KEPT_REQUEST`] are not kept).
    pub fn remember_request(&self, body: &[u8], content_type: &str, encoding: Encoding) {
        if body.len() > MAX_KEPT_REQUEST {
            return;
        }
        let mut kept = self.request.lock().unwrap_or_else(|p| p.into_inner());
        if kept
            .as_ref()
            .is_some_and(|k| *k.body == *body && *k.content_type == *content_type)
        {
            return;
        }
        *kept = Some(KeptRequest {
            body: body.into(),
            content_type: content_type.into(),
            encoding,
        });
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

    #[test]
    fn only_the_same_bytes_with_the_same_content_type_skip_the_parse() {
        let cache = IdentifyCache::default();
        let request = wsman_proto::identify::request();
        let utf8 = "application/soap+xml;charset=UTF-8";
        assert_eq!(cache.repeated_request(request.as_bytes(), utf8), None);
        // What the pipeline remembers is what the parser said of these bytes.
        let parsed = wsman_proto::parse_request(&request, &Default::default())
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(parsed.is_identify());
        cache.remember_request(request.as_bytes(), utf8, Encoding::Utf8);
        assert_eq!(
            cache.repeated_request(request.as_bytes(), utf8),
            Some(Encoding::Utf8)
        );
        let mut changed = request.clone().into_bytes();
        let last = changed.len() - 1;
        changed[last] = b' ';
        assert_eq!(cache.repeated_request(&changed, utf8), None);
        assert_eq!(
            cache.repeated_request(request.as_bytes(), "application/soap+xml;charset=UTF-16"),
            None
        );
        assert_eq!(cache.repeated_request(b"", utf8), None);

        // A body too large to keep is parsed every time, and does not evict the kept one.
        let mut large = request.clone();
        large.insert_str(
            request.find("<s:Body>").unwrap_or(0),
            &" ".repeat(MAX_KEPT_REQUEST),
        );
        cache.remember_request(large.as_bytes(), utf8, Encoding::Utf8);
        assert_eq!(cache.repeated_request(large.as_bytes(), utf8), None);
        assert_eq!(
            cache.repeated_request(request.as_bytes(), utf8),
            Some(Encoding::Utf8)
        );
    }
}
