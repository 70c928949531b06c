//! The WS-Management header values a request is addressed and tuned by: `w:SelectorSet`,
//! `w:OptionSet` and the booleans clients write in them.
//!
//! They sit below [`crate::envelope`] because the typed operation ([`crate::operation`]) and
//! the shell messages ([`crate::shell`]) read them too, and the envelope holds both of those.

use crate::fault::{Fault, SelectorProblem};
use crate::ns;
use crate::xml::Element;

/// A selector value: text, or an endpoint reference (CIM reference keys).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SelectorValue {
    Text(String),
    Epr(Element),
}

/// One `w:Selector`. The name is kept as the client spelled it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selector {
    pub name: String,
    pub value: SelectorValue,
}

/// `w:SelectorSet`: names compared without case.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SelectorSet(pub Vec<Selector>);

impl SelectorSet {
    /// The text value of the selector named `name` (any case).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find_map(|s| match &s.value {
            SelectorValue::Text(t) if s.name.eq_ignore_ascii_case(name) => Some(t.as_str()),
            _ => None,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Parse a `w:SelectorSet` element; duplicate names are refused.
    pub fn from_element(e: &Element) -> Result<Self, Fault> {
        let mut out: Vec<Selector> = Vec::new();
        for s in e.children_named(ns::WSMAN, "Selector") {
            let Some(name) = s.attr("Name") else {
                return Err(Fault::invalid_selectors(
                    SelectorProblem::InvalidValue,
                    "A selector has no Name attribute. ",
                ));
            };
            if out.iter().any(|o| o.name.eq_ignore_ascii_case(name)) {
                return Err(Fault::invalid_selectors(
                    SelectorProblem::Duplicate,
                    format!("The selector {name:?} appears more than once. "),
                ));
            }
            let value = match s.child(ns::ADDRESSING, "EndpointReference") {
                Some(epr) => SelectorValue::Epr(epr.clone()),
                None => SelectorValue::Text(s.trimmed_text()),
            };
            out.push(Selector {
                name: name.to_owned(),
                value,
            });
        }
        Ok(Self(out))
    }
}

/// One `w:Option`. A nil option has no value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WsOption {
    pub name: String,
    pub value: Option<String>,
    pub must_comply: bool,
}

/// `w:OptionSet`: names compared without case.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OptionSet {
    pub must_understand: bool,
    pub options: Vec<WsOption>,
}

impl OptionSet {
    pub fn get(&self, name: &str) -> Option<&WsOption> {
        self.options
            .iter()
            .find(|o| o.name.eq_ignore_ascii_case(name))
    }

    /// Boolean option value, compared without case (`TRUE`, `True`, `true`).
    pub fn get_bool(&self, name: &str) -> Result<Option<bool>, Fault> {
        match self.get(name).and_then(|o| o.value.as_deref()) {
            None => Ok(None),
            Some(v) => parse_bool(v)
                .map(Some)
                .ok_or_else(|| Fault::invalid_options_value(name)),
        }
    }

    /// Fault for an option the handler does not know, following the reference §2.4 rule:
    /// unknown options fault only under `MustComply="true"` (pypsrp marks every OptionSet
    /// mustUnderstand, so faulting on that alone would break it).
    pub fn check_known(&self, known: &[&str]) -> Result<(), Fault> {
        for o in &self.options {
            if o.must_comply && !known.iter().any(|k| k.eq_ignore_ascii_case(&o.name)) {
                return Err(Fault::invalid_options_not_supported(&o.name));
            }
        }
        Ok(())
    }
}

/// Booleans as clients write them: `true`/`false`/`1`/`0` in any case.
pub fn parse_bool(v: &str) -> Option<bool> {
    let v = v.trim();
    if v.eq_ignore_ascii_case("true") || v == "1" {
        Some(true)
    } else if v.eq_ignore_ascii_case("false") || v == "0" {
        Some(false)
    } else {
        None
    }
}
