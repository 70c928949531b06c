//! wsman-proto's errors table's rows: each variant to its fault, subcode and number written
//! out (so a wrong constant fails here), and the reason text a client reads.

use super::*;

fn row(fault: &Fault) -> (Option<String>, Option<&'static str>, u32) {
    (
        fault.subcode.map(|s| s.qname()),
        fault.detail,
        fault.wsman_code,
    )
}

#[test]
fn numbers_that_do_not_parse_answer_the_fault_of_where_they_stand() {
    let element = Fault::from(NumberError::Element("MaxElements"));
    assert_eq!(
        row(&element),
        (Some("w:SchemaValidationError".to_owned()), None, 2150858817)
    );
    assert_eq!(
        element.message,
        "The value of MaxElements is not a valid number. "
    );
    let header = Fault::from(NumberError::MaxEnvelopeSize("lots".to_owned()));
    assert_eq!(
        row(&header).0.as_deref(),
        Some("a:InvalidMessageInformationHeader")
    );
    assert_eq!(
        header.message,
        "The WS-Management service cannot process the request. The MaxEnvelopeSize header value \"lots\" is not a number. "
    );
    let codepage = Fault::from(NumberError::ShellOption("WINRS_CODEPAGE"));
    assert_eq!(
        row(&codepage),
        (
            Some("w:InvalidOptions".to_owned()),
            Some("InvalidValue"),
            2150858835
        )
    );
    assert!(
        codepage.message.contains("WINRS_CODEPAGE"),
        "{}",
        codepage.message
    );
}

#[test]
fn a_refused_query_cannot_be_processed_saying_why() {
    let refused = crate::wql::parse("SELECT FROM").expect_err("no class");
    let why = refused.to_string();
    let fault = Fault::from(refused);
    assert_eq!(
        row(&fault),
        (Some("n:CannotProcessFilter".to_owned()), None, 2150858778)
    );
    assert_eq!(
        fault.message,
        format!("The data source could not process the filter: {why}. ")
    );
}
