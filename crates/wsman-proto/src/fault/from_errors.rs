//! wsman-proto's errors table: each error of this crate that a request is answered with, to
//! its fault, by a `From` per error type with a match arm per variant, so the code that meets
//! one writes `?` (the providers too, below the server). Errors of other crates map in their
//! own tables (CONTRIBUTING.md, "Errors and faults"). The rows' tests are `from_errors_tests.rs`.

use crate::fault::Fault;

/// Why a WQL query was refused (`wql`'s; defined here so this table imports no parser).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct QueryError(String);

impl QueryError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// A number of a request that does not parse, by where it stands (each place has its fault).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NumberError {
    /// A count in an enumeration's body (`MaxElements`, `MaxCharacters`).
    #[error("The value of {0} is not a valid number")]
    Element(&'static str),
    /// The `w:MaxEnvelopeSize` header, as it was sent.
    #[error("The MaxEnvelopeSize header value {0:?} is not a number")]
    MaxEnvelopeSize(String),
    /// A WinRS shell's option (`WINRS_CODEPAGE`), by its name.
    #[error("The {0} option is not a number")]
    ShellOption(&'static str),
}

impl From<NumberError> for Fault {
    fn from(error: NumberError) -> Self {
        match error {
            // A body that breaks its schema: `w:SchemaValidationError`.
            NumberError::Element(_) => Fault::schema_validation_error(format!("{error}. ")),
            // A header that cannot be read: `a:InvalidMessageInformationHeader`, as for an
            // OperationTimeout that cannot be read (`envelope.rs`).
            NumberError::MaxEnvelopeSize(_) => Fault::invalid_message_information_header(format!(
                "The WS-Management service cannot process the request. {error}. "
            )),
            // The Shell plug-in's fault for an option value it cannot read: `w:InvalidOptions`
            // InvalidValue, naming the option.
            NumberError::ShellOption(name) => Fault::invalid_options_value(name),
        }
    }
}

/// A WQL query the data source refuses: `n:CannotProcessFilter`, saying why.
impl From<QueryError> for Fault {
    fn from(error: QueryError) -> Self {
        Fault::cannot_process_filter(format!(
            "The data source could not process the filter: {error}. "
        ))
    }
}

#[cfg(test)]
#[path = "from_errors_tests.rs"]
mod tests;
