//! The authenticated Identify, prepared once per configuration and shared by every
//! connection: the IdentifyResponse rendered and encoded, and the few request bodies that
//! parsed as an Identify. Clients that poll Identify (load balancers, monitoring, WinRM's own
//! `Test-WSMan`) send the same bytes every time, as an Identify carries no MessageID: such a
//! request, authenticated and bounded like any other, is answered without parsing it again,
//! since what the parse decides of it (an Identify, and its encoding) is a function of its
//! bytes and Content-Type alone. A new configuration is a new `Arc` and starts afresh.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use wsman_proto::charset::Encoding;
use wsman_proto::identify::{self, IdentifyInfo};

use crate::response::encode_body;
use crate::settings::ServiceSettings;

/// The largest Identify request kept: Windows' own is under 1 KiB; a larger one is parsed
/// every time.
const MAX_KEPT_REQUEST: usize = 4 * 1024;
/// Distinct Identify requests kept per configuration (different clients word it
/// differently); a further one replaces the oldest. Bounds what a client can make us keep to
/// `MAX_KEPT_REQUESTS * MAX_KEPT_REQUEST` bytes.
const MAX_KEPT_REQUESTS: usize = 4;

/// The Identify of the current configuration, shared by every connection.
#[derive(Default)]
pub struct IdentifyCache {
    prepared: Mutex<Option<Prepared>>,
}

/// What was prepared for one configuration snapshot.
struct Prepared {
    settings: Arc<ServiceSettings>,
    /// The encoded IdentifyResponse, per encoding asked for (at most the three there are).
    responses: Vec<(Encoding, Bytes)>,
    /// Requests that parsed as an Identify, oldest first.
    requests: Vec<KeptRequest>,
}

impl Prepared {
    /// The answer in `encoding`, rendered once per configuration and encoding.
    fn response(&mut self, encoding: Encoding) -> Bytes {
        if let Some((_, body)) = self.responses.iter().find(|(e, _)| *e == encoding) {
            return body.clone();
        }
        let info = IdentifyInfo {
            product_vendor: self.settings.product_vendor.clone(),
            product_version: self.settings.product_version.clone(),
            security_profiles: crate::auth::security_profiles(&self.settings),
        };
        let body = encode_body(identify::response(&info), encoding);
        self.responses.push((encoding, body.clone()));
        body
    }
}

/// A request body that parsed as an Identify, its Content-Type and the encoding it was read in.
struct KeptRequest {
    body: Box<[u8]>,
    content_type: Box<str>,
    encoding: Encoding,
}

impl KeptRequest {
    fn is(&self, body: &[u8], content_type: &str) -> bool {
        *self.body == *body && *self.content_type == *content_type
    }
}

impl IdentifyCache {
    /// What was prepared for `settings`, started afresh when the configuration changed.
    fn prepared<'a>(
        slot: &'a mut Option<Prepared>,
        settings: &Arc<ServiceSettings>,
    ) -> &'a mut Prepared {
        if !slot
            .as_ref()
            .is_some_and(|p| Arc::ptr_eq(&p.settings, settings))
        {
            *slot = None;
        }
        slot.get_or_insert_with(|| Prepared {
            settings: Arc::clone(settings),
            responses: Vec::new(),
            requests: Vec::new(),
        })
    }

    /// The authenticated IdentifyResponse for `settings` in `encoding`: the one rendered
    /// earlier when neither changed since, else rendered now and kept.
    pub fn response(&self, settings: &Arc<ServiceSettings>, encoding: Encoding) -> Bytes {
        let mut slot = self.prepared.lock().unwrap_or_else(|p| p.into_inner());
        Self::prepared(&mut slot, settings).response(encoding)
    }

    /// The encoding of the Identify this exact request (body and Content-Type) parsed as
    /// earlier under `settings`, with the answer to it (one look under one lock), or None:
    /// parse it.
    pub fn known_request(
        &self,
        settings: &Arc<ServiceSettings>,
        body: &[u8],
        content_type: &str,
    ) -> Option<(Encoding, Bytes)> {
        let mut slot = self.prepared.lock().unwrap_or_else(|p| p.into_inner());
        let prepared = slot
            .as_mut()
            .filter(|p| Arc::ptr_eq(&p.settings, settings))?;
        let encoding = prepared
            .requests
            .iter()
            .find(|k| k.is(body, content_type))?
            .encoding;
        Some((encoding, prepared.response(encoding)))
    }

    /// Remember that `body` with `content_type` parsed as an Identify in `encoding` (bodies
    /// over `MAX_KEPT_REQUEST` bytes are not kept; beyond `MAX_KEPT_REQUESTS` the oldest goes).
    pub fn remember_request(
        &self,
        settings: &Arc<ServiceSettings>,
        body: &[u8],
        content_type: &str,
        encoding: Encoding,
    ) {
        if body.len() > MAX_KEPT_REQUEST {
            return;
        }
        let mut slot = self.prepared.lock().unwrap_or_else(|p| p.into_inner());
        let prepared = Self::prepared(&mut slot, settings);
        if prepared.requests.iter().any(|k| k.is(body, content_type)) {
            return;
        }
        if prepared.requests.len() == MAX_KEPT_REQUESTS {
            prepared.requests.remove(0);
        }
        prepared.requests.push(KeptRequest {
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
        assert_eq!(
            cache.response(&first, Encoding::Utf8).as_ptr(),
            a.as_ptr(),
            "both encodings are kept"
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
    fn only_the_same_bytes_with_the_same_content_type_under_the_same_settings_skip_the_parse() {
        let cache = IdentifyCache::default();
        let settings = Arc::new(ServiceSettings::default());
        let request = wsman_proto::identify::request();
        let utf8 = "application/soap+xml;charset=UTF-8";
        assert_eq!(
            cache.known_request(&settings, request.as_bytes(), utf8),
            None
        );
        cache.remember_request(&settings, request.as_bytes(), utf8, Encoding::Utf8);
        assert_eq!(
            cache
                .known_request(&settings, request.as_bytes(), utf8)
                .map(|(encoding, _)| encoding),
            Some(Encoding::Utf8)
        );
        let mut changed = request.clone().into_bytes();
        let last = changed.len() - 1;
        changed[last] = b' ';
        assert_eq!(cache.known_request(&settings, &changed, utf8), None);
        assert_eq!(
            cache.known_request(
                &settings,
                request.as_bytes(),
                "application/soap+xml;charset=UTF-16"
            ),
            None
        );
        assert_eq!(cache.known_request(&settings, b"", utf8), None);

        // A body too large to keep is parsed every time, and evicts nothing.
        let mut large = request.clone();
        large.insert_str(
            request.find("<s:Body>").unwrap_or(0),
            &" ".repeat(MAX_KEPT_REQUEST),
        );
        cache.remember_request(&settings, large.as_bytes(), utf8, Encoding::Utf8);
        assert_eq!(cache.known_request(&settings, large.as_bytes(), utf8), None);
        assert!(cache
            .known_request(&settings, request.as_bytes(), utf8)
            .is_some());

        // At most MAX_KEPT_REQUESTS are kept: the oldest goes first.
        let variants: Vec<String> = (0..MAX_KEPT_REQUESTS)
            .map(|i| request.replacen("<s:Body>", &format!("{}<s:Body>", " ".repeat(i + 1)), 1))
            .collect();
        for variant in &variants {
            cache.remember_request(&settings, variant.as_bytes(), utf8, Encoding::Utf8);
        }
        assert_eq!(
            cache.known_request(&settings, request.as_bytes(), utf8),
            None
        );
        for variant in &variants {
            assert!(cache
                .known_request(&settings, variant.as_bytes(), utf8)
                .is_some());
        }

        // Another configuration starts afresh.
        let other = Arc::new(ServiceSettings::default());
        assert_eq!(
            cache.known_request(&other, variants[0].as_bytes(), utf8),
            None
        );
    }
}
