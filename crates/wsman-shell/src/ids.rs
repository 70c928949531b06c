//! ShellId and CommandId: upper-case hyphenated GUIDs, as Windows sends.

use uuid::Uuid;

/// A fresh id.
pub(crate) fn new_id() -> String {
    Uuid::new_v4().hyphenated().to_string().to_ascii_uppercase()
}

/// The canonical (upper-case) form of a client-chosen or looked-up id;
/// `None` if it is not a GUID. Accepts the forms `uuid` parses (plain,
/// braced, `urn:uuid:`), any case.
pub(crate) fn canonical_id(value: &str) -> Option<String> {
    let value = value.trim();
    let value = value.strip_prefix("uuid:").unwrap_or(value);
    Uuid::try_parse(value)
        .ok()
        .map(|id| id.hyphenated().to_string().to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_upper_case_guids() {
        let id = new_id();
        assert_eq!(id.len(), 36);
        assert_eq!(id, id.to_ascii_uppercase());
        assert_eq!(canonical_id(&id.to_ascii_lowercase()), Some(id));
        assert_eq!(canonical_id("not-a-guid"), None);
        assert_eq!(canonical_id(""), None);
        assert_eq!(
            canonical_id("uuid:0d7e5c11-0000-4000-8000-00000000000a").as_deref(),
            Some("0D7E5C11-0000-4000-8000-00000000000A")
        );
    }
}
