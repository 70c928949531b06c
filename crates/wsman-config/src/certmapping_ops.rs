//! The cfg XML of `winrm/config/service/certmapping` (Get, Put, Create, Delete, Enumerate on
//! [`ConfigStore`]): selectors, bodies and faults. The mapping itself, its rules and its
//! matching are in [`crate::certmapping`], which the TOML reader shares; this module sits
//! above both, beside `listener_ops`.

use wsman_proto::envelope::SelectorSet;
use wsman_proto::fault::SelectorProblem;
use wsman_proto::xml::{Element, Writer};
use wsman_proto::Fault;

use crate::certmapping::{
    check_subject, check_uri, check_user_name, issuer_path, load_issuer, CertMapping,
    CERTMAPPING_URI,
};
use crate::certs;
use crate::resource::{
    check_body_root, invalid_selector_value, invalid_value, is_config_ns, issuer_fault, leaf_text,
    save_fault, unknown_element, unreadable_fault, EnumItem,
};
use crate::schema::ValueType;
use crate::store::ConfigStore;

/// One mapping as `cfg:CertMapping`, elements in the MS-WSMV schema order (Password, which
/// is write-only, is left out).
pub fn render_cert_mapping(m: &CertMapping) -> String {
    let mut w = Writer::new();
    w.start(
        "cfg:CertMapping",
        &[("xmlns:cfg", CERTMAPPING_URI), ("xml:lang", "en-US")],
    );
    w.leaf("cfg:URI", &[], &m.uri);
    w.leaf("cfg:Subject", &[], &m.subject);
    w.leaf("cfg:Issuer", &[], &m.issuer);
    w.leaf("cfg:UserName", &[], &m.user_name);
    w.leaf("cfg:Enabled", &[], if m.enabled { "true" } else { "false" });
    w.finish()
}

/// The Issuer, Subject and URI selectors, validated.
fn mapping_keys(selectors: &SelectorSet) -> Result<(String, String, String), Fault> {
    for s in &selectors.0 {
        let known = ["Issuer", "Subject", "URI"]
            .iter()
            .any(|k| s.name.eq_ignore_ascii_case(k));
        if !known {
            return Err(Fault::invalid_selectors(
                SelectorProblem::Unexpected,
                format!(
                    "The WS-Management service cannot process the request because the selector {:?} is not valid for a certificate mapping. ",
                    s.name
                ),
            ));
        }
    }
    let (Some(issuer), Some(subject), Some(uri)) = (
        selectors.get("Issuer"),
        selectors.get("Subject"),
        selectors.get("URI"),
    ) else {
        return Err(Fault::invalid_selectors(
            SelectorProblem::Insufficient,
            "The WS-Management service cannot process the request because a certificate mapping is addressed by the selectors Issuer, Subject and URI. ",
        ));
    };
    let issuer = certs::normalize_thumbprint(issuer);
    if !certs::is_valid_thumbprint(&issuer) {
        return Err(invalid_selector_value(format!(
            "Issuer {issuer:?} is not a certificate thumbprint (40 hexadecimal digits)"
        )));
    }
    let subject = subject.trim().to_owned();
    check_subject(&subject).map_err(invalid_selector_value)?;
    let uri = uri.trim().to_owned();
    check_uri(&uri).map_err(invalid_selector_value)?;
    Ok((issuer, subject, uri))
}

fn no_such_mapping(issuer: &str, subject: &str, uri: &str) -> Fault {
    Fault::invalid_selectors(
        SelectorProblem::Unexpected,
        format!(
            "The WS-Management service cannot find the certificate mapping Issuer={issuer} Subject={subject} URI={uri}. "
        ),
    )
}

#[derive(Default)]
struct MappingChanges {
    user_name: Option<String>,
    enabled: Option<bool>,
}

fn parse_body(body: &Element, keys: (&str, &str, &str)) -> Result<MappingChanges, Fault> {
    let mut out = MappingChanges::default();
    for child in body.elements() {
        if !is_config_ns(child) {
            return Err(unknown_element(&child.name, "CertMapping"));
        }
        let what = format!("CertMapping/{}", child.name);
        let text = leaf_text(child, &what)?;
        let key_kept = |key: &str, same: bool| {
            if same {
                Ok(())
            } else {
                Err(invalid_value(
                    &what,
                    &text,
                    format!("the {key} key cannot be changed"),
                ))
            }
        };
        match child.name.to_ascii_lowercase().as_str() {
            "issuer" => key_kept("Issuer", certs::normalize_thumbprint(&text) == keys.0)?,
            "subject" => key_kept("Subject", text.eq_ignore_ascii_case(keys.1))?,
            "uri" => key_kept("URI", text.eq_ignore_ascii_case(keys.2))?,
            "username" => {
                check_user_name(&text).map_err(|r| invalid_value(&what, &text, &r))?;
                out.user_name = Some(text);
            }
            "enabled" => {
                let v = ValueType::Bool
                    .parse(&text)
                    .map_err(|r| invalid_value(&what, &text, &r))?;
                out.enabled = v.as_bool();
            }
            "password" if text.is_empty() => {}
            "password" => {
                return Err(Fault::invalid_parameter(
                    "wsmand does not store passwords for certificate mappings: the mapped account's processes are started without one. Leave Password out. ",
                ))
            }
            _ => return Err(unknown_element(&child.name, "CertMapping")),
        }
    }
    Ok(out)
}

impl ConfigStore {
    fn find_mapping(&self, issuer: &str, subject: &str, uri: &str) -> Option<&CertMapping> {
        self.config()
            .cert_mappings
            .iter()
            .find(|m| m.same_keys(issuer, subject, uri))
    }

    pub(crate) fn get_cert_mapping(&self, selectors: &SelectorSet) -> Result<String, Fault> {
        let (issuer, subject, uri) = mapping_keys(selectors)?;
        self.find_mapping(&issuer, &subject, &uri)
            .map(render_cert_mapping)
            .ok_or_else(|| no_such_mapping(&issuer, &subject, &uri))
    }

    pub(crate) fn put_cert_mapping(
        &mut self,
        selectors: &SelectorSet,
        body: Option<&Element>,
    ) -> Result<String, Fault> {
        let (issuer, subject, uri) = mapping_keys(selectors)?;
        let _writers = self.sync_before_write().map_err(unreadable_fault)?;
        let body = check_body_root(body, "CertMapping", CERTMAPPING_URI)?;
        let changes = parse_body(body, (&issuer, &subject, &uri))?;
        let mut next = self.stored.clone();
        let entry = next
            .cert_mappings
            .iter_mut()
            .find(|m| m.same_keys(&issuer, &subject, &uri))
            .ok_or_else(|| no_such_mapping(&issuer, &subject, &uri))?;
        if let Some(u) = changes.user_name {
            entry.user_name = u;
        }
        if let Some(e) = changes.enabled {
            entry.enabled = e;
        }
        if next != self.stored {
            self.commit(next).map_err(save_fault)?;
        }
        self.get_cert_mapping(selectors)
    }

    pub(crate) fn create_cert_mapping(
        &mut self,
        selectors: &SelectorSet,
        body: Option<&Element>,
    ) -> Result<Vec<(String, String)>, Fault> {
        let (issuer, subject, uri) = mapping_keys(selectors)?;
        let _writers = self.sync_before_write().map_err(unreadable_fault)?;
        if self
            .stored
            .cert_mappings
            .iter()
            .any(|m| m.same_keys(&issuer, &subject, &uri))
        {
            return Err(Fault::already_exists());
        }
        let body = check_body_root(body, "CertMapping", CERTMAPPING_URI)?;
        let changes = parse_body(body, (&issuer, &subject, &uri))?;
        let user_name = changes.user_name.ok_or_else(|| {
            Fault::invalid_parameter(
                "A certificate mapping needs a UserName: the account the certificate authenticates as. ",
            )
        })?;
        load_issuer(&self.certs_dir(), &issuer)
            .map_err(|e| issuer_fault(e, &issuer, &issuer_path(&self.certs_dir(), &issuer)))?;
        let mut mapping = CertMapping::new(issuer, subject, uri, user_name);
        mapping.enabled = changes.enabled.unwrap_or(true);
        let keys = mapping.selectors();
        let mut next = self.stored.clone();
        next.cert_mappings.push(mapping);
        self.commit(next).map_err(save_fault)?;
        Ok(keys)
    }

    pub(crate) fn delete_cert_mapping(&mut self, selectors: &SelectorSet) -> Result<(), Fault> {
        let (issuer, subject, uri) = mapping_keys(selectors)?;
        let _writers = self.sync_before_write().map_err(unreadable_fault)?;
        let mut next = self.stored.clone();
        let before = next.cert_mappings.len();
        next.cert_mappings
            .retain(|m| !m.same_keys(&issuer, &subject, &uri));
        if next.cert_mappings.len() == before {
            return Err(no_such_mapping(&issuer, &subject, &uri));
        }
        self.commit(next).map_err(save_fault)
    }

    pub(crate) fn enumerate_cert_mappings(&self) -> Vec<EnumItem> {
        self.config()
            .cert_mappings
            .iter()
            .map(|m| EnumItem {
                xml: render_cert_mapping(m),
                selectors: m.selectors(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn rendering_is_in_schema_order_without_password() {
        let m = CertMapping::new("AB".repeat(20), "u@e", "*", "wsmanuser");
        let xml = render_cert_mapping(&m);
        let order = ["URI", "Subject", "Issuer", "UserName", "Enabled"];
        let positions: Vec<usize> = order
            .iter()
            .map(|n| xml.find(&format!("<cfg:{n}>")).unwrap())
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{xml}");
        assert!(!xml.contains("Password"));
        assert!(xml.contains(CERTMAPPING_URI));
    }
}
