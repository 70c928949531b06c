//! The login form and the action forms: `application/x-www-form-urlencoded`, read from a body
//! that is already bounded, with a bound on the fields too. Untrusted input: fuzzed
//! (`fuzz/fuzz_targets/mgmt_http.rs`) and property-tested.

/// Largest form body accepted (a login form is a few hundred bytes).
pub const MAX_FORM_BYTES: usize = 4096;
/// Most fields in one form.
pub const MAX_FORM_FIELDS: usize = 16;

/// Why a form was refused (answered 400).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    /// The body is longer than [`MAX_FORM_BYTES`].
    #[error("the form is larger than {MAX_FORM_BYTES} bytes")]
    TooLarge,
    /// More fields than [`MAX_FORM_FIELDS`].
    #[error("the form has more than {MAX_FORM_FIELDS} fields")]
    TooManyFields,
    /// A `%` not followed by two hex digits.
    #[error("bad percent-encoding")]
    BadEscape,
    /// The decoded bytes are not UTF-8.
    #[error("the form is not UTF-8")]
    NotUtf8,
    /// The same field twice (ambiguous: refused rather than guessed).
    #[error("field {0:?} appears twice")]
    Duplicate(String),
}

/// A parsed form: field names and values, decoded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Form {
    fields: Vec<(String, String)>,
}

impl Form {
    /// Parses `a=1&b=two+words&c=%2F`.
    pub fn parse(body: &[u8]) -> Result<Self, FormError> {
        if body.len() > MAX_FORM_BYTES {
            return Err(FormError::TooLarge);
        }
        let mut fields: Vec<(String, String)> = Vec::new();
        for pair in body.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
            if fields.len() == MAX_FORM_FIELDS {
                return Err(FormError::TooManyFields);
            }
            let (name, value) = match pair.iter().position(|b| *b == b'=') {
                Some(at) => (&pair[..at], &pair[at + 1..]),
                None => (pair, &[][..]),
            };
            let name = decode(name)?;
            if fields.iter().any(|(n, _)| *n == name) {
                return Err(FormError::Duplicate(name));
            }
            fields.push((name, decode(value)?));
        }
        Ok(Self { fields })
    }

    /// The value of `name`, if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The fields of a page's query that are set (`values` in the order of `names`), each with
/// its name: what a page's links keep.
pub fn set_fields<const N: usize>(
    names: [&'static str; N],
    values: [Option<String>; N],
) -> Vec<(&'static str, String)> {
    names
        .into_iter()
        .zip(values)
        .filter_map(|(name, value)| value.map(|v| (name, v)))
        .collect()
}

fn hex(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

fn decode(input: &[u8]) -> Result<String, FormError> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        match input[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let high = input.get(i + 1).copied().and_then(hex);
                let low = input.get(i + 2).copied().and_then(hex);
                match (high, low) {
                    (Some(h), Some(l)) => out.push(h << 4 | l),
                    _ => return Err(FormError::BadEscape),
                }
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| FormError::NotUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decodes_fields() {
        let f = Form::parse(b"user=a+b&password=p%26ss%3D&x").unwrap();
        assert_eq!(f.get("user"), Some("a b"));
        assert_eq!(f.get("password"), Some("p&ss="));
        assert_eq!(f.get("x"), Some(""));
        assert_eq!(Form::parse(b"a=%4"), Err(FormError::BadEscape));
        assert_eq!(Form::parse(b"a=%ff"), Err(FormError::NotUtf8));
        assert!(matches!(
            Form::parse(b"a=1&a=2"),
            Err(FormError::Duplicate(_))
        ));
    }

    /// An independent encoder: every byte as %XX.
    fn encode(text: &str) -> String {
        text.bytes().map(|b| format!("%{b:02X}")).collect()
    }

    proptest! {
        #[test]
        fn any_bytes_parse_or_fail_cleanly(body in proptest::collection::vec(any::<u8>(), 0..6000)) {
            let _ = Form::parse(&body);
        }

        #[test]
        fn encoded_values_come_back(user in "\\PC{0,40}", password in "\\PC{0,80}") {
            let body = format!("user={}&password={}", encode(&user), encode(&password));
            let form = Form::parse(body.as_bytes()).unwrap();
            prop_assert_eq!(form.get("user"), Some(user.as_str()));
            prop_assert_eq!(form.get("password"), Some(password.as_str()));
        }
    }
}
