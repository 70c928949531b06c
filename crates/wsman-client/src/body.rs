//! Request bodies built from name/value pairs (`@{Key="value"}`): Put, Create and Invoke input.
//!
//! Names become element names, so they are checked to be plain XML names: a key can never
//! inject markup. Values are escaped.

use wsman_proto::xml::{escape_attr, escape_text};

use crate::error::ClientError;

/// True for names made of ASCII letters, digits, `_`, `-`, `.`, not starting with a digit,
/// `-` or `.` (every name the WinRM schemas use).
pub fn is_xml_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn check(name: &str) -> Result<(), ClientError> {
    if is_xml_name(name) {
        Ok(())
    } else {
        Err(ClientError::configuration(format!(
            "{name:?} is not a valid property name"
        )))
    }
}

/// `<prefix:root xmlns:prefix="namespace"><prefix:k>v</prefix:k>...</prefix:root>`.
pub fn instance_body(
    prefix: &str,
    root: &str,
    namespace: &str,
    leaves: &[(String, String)],
) -> Result<String, ClientError> {
    check(prefix)?;
    check(root)?;
    let mut out = format!(
        "<{prefix}:{root} xmlns:{prefix}=\"{}\">",
        escape_attr(namespace)
    );
    for (k, v) in leaves {
        check(k)?;
        out.push_str(&format!("<{prefix}:{k}>{}</{prefix}:{k}>", escape_text(v)));
    }
    out.push_str(&format!("</{prefix}:{root}>"));
    Ok(out)
}

/// The Invoke input body: `<p:Method_INPUT xmlns:p="resource URI">` with one child per parameter.
pub fn invoke_body(
    resource_uri: &str,
    method: &str,
    parameters: &[(String, String)],
) -> Result<String, ClientError> {
    check(method)?;
    instance_body("p", &format!("{method}_INPUT"), resource_uri, parameters)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_the_minimal_put_body() {
        let b = instance_body(
            "cfg",
            "Service",
            "http://schemas.microsoft.com/wbem/wsman/1/config/service",
            &[("AllowUnencrypted".to_owned(), "true".to_owned())],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            b,
            "<cfg:Service xmlns:cfg=\"http://schemas.microsoft.com/wbem/wsman/1/config/service\"><cfg:AllowUnencrypted>true</cfg:AllowUnencrypted></cfg:Service>"
        );
    }

    #[test]
    fn invoke_input_and_escaping() {
        let b = invoke_body(
            "urn:x",
            "Create",
            &[("CommandLine".to_owned(), "a & <b>".to_owned())],
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            b,
            "<p:Create_INPUT xmlns:p=\"urn:x\"><p:CommandLine>a &amp; &lt;b&gt;</p:CommandLine></p:Create_INPUT>"
        );
    }

    #[test]
    fn refuses_markup_in_names() {
        for bad in ["", "a b", "a><x", "1a", "a:b", "-a"] {
            assert!(
                instance_body("p", "R", "urn:x", &[(bad.to_owned(), "v".to_owned())]).is_err(),
                "{bad:?}"
            );
        }
        assert!(invoke_body("urn:x", "M/x", &[]).is_err());
    }
}
