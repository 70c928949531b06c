//! A method's parameters, read from its `<Method>_INPUT` body.

/// The parameters of an Invoke, read from its `<Method>_INPUT` body: each child element is
/// one parameter, by local name; `xsi:nil="true"` is an absent value.
///
/// Why text only: the methods served take strings and numbers, and each method parses and
/// range-checks its own parameters, answering `w:InvalidParameter` by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MethodInput {
    parameters: Vec<(String, Option<String>)>,
}

impl MethodInput {
    /// Read the body of an Invoke of `method`. No body is a method called without parameters;
    /// a body whose root is not `<method>_INPUT` is refused.
    pub fn read(body: Option<&crate::xml::Element>, method: &str) -> Result<Self, crate::Fault> {
        let Some(root) = body else {
            return Ok(Self::default());
        };
        let expected = format!("{method}_INPUT");
        if !root.name.eq_ignore_ascii_case(&expected) {
            return Err(crate::Fault::invalid_parameter(format!(
                "The body of the {method} method must be {expected}, not {}. ",
                root.name
            )));
        }
        let parameters = root
            .elements()
            .map(|e| {
                let nil = e
                    .attr_ns(crate::ns::XSI, "nil")
                    .is_some_and(|v| v.trim() == "true" || v.trim() == "1");
                (e.name.clone(), (!nil).then(|| e.trimmed_text()))
            })
            .collect();
        Ok(Self { parameters })
    }

    /// The value of parameter `name` (compared without case, as WMI does); `None` when absent
    /// or nil.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.parameters
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_deref())
    }

    /// The value of a parameter the method cannot run without.
    pub fn required(&self, method: &str, name: &str) -> Result<&str, crate::Fault> {
        self.text(name).ok_or_else(|| {
            crate::Fault::invalid_parameter(format!(
                "The {method} method needs the parameter {name}. "
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_input_reads_parameters_by_name_and_refuses_another_body() {
        let limits = crate::xml::Limits::default();
        let body = crate::xml::parse(
            r#"<p:ChangeStartMode_INPUT xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_Service" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><p:StartMode> Manual </p:StartMode><p:Other xsi:nil="true"/></p:ChangeStartMode_INPUT>"#,
            &limits,
        )
        .unwrap();
        let input = MethodInput::read(Some(&body), "ChangeStartMode").unwrap();
        assert_eq!(input.text("startmode"), Some("Manual"));
        assert_eq!(input.text("Other"), None);
        assert_eq!(
            input.required("ChangeStartMode", "StartMode").unwrap(),
            "Manual"
        );
        let missing = input.required("ChangeStartMode", "Missing").unwrap_err();
        assert!(missing.to_string().contains("Missing"), "{missing}");
        let wrong = MethodInput::read(Some(&body), "StartService").unwrap_err();
        assert!(wrong.to_string().contains("StartService_INPUT"), "{wrong}");
        assert_eq!(
            MethodInput::read(None, "StartService").unwrap(),
            MethodInput::default()
        );
    }
}
