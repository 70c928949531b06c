//! RFC 5424 syslog messages and RFC 5425/6587 octet-counted framing, written from any input:
//! header fields outside their grammar become `-` or lose their bad characters, structured
//! data values are escaped, so what we write always parses as RFC 5424 (the tests parse it
//! back, and rsyslog and syslog-ng read it in `tests/syslog.rs`).
//!
//! Pure functions: the transports (TCP, TLS, UDP, RELP) are in the parent module.

/// The longest HOSTNAME (RFC 5424 §6.2.4).
pub const MAX_HOSTNAME: usize = 255;
/// The longest APP-NAME.
pub const MAX_APP_NAME: usize = 48;
/// The longest PROCID.
pub const MAX_PROCID: usize = 128;
/// The longest MSGID.
pub const MAX_MSGID: usize = 32;
/// The longest SD-NAME (an SD-ID or a PARAM-NAME).
pub const MAX_SD_NAME: usize = 32;

/// The header of one message. Fields are written as given when they fit their grammar;
/// [`format()`] makes them fit otherwise.
#[derive(Clone, Copy, Debug)]
pub struct Header<'a> {
    /// 0 to 23.
    pub facility: u8,
    /// 0 (emergency) to 7 (debug).
    pub severity: u8,
    /// An RFC 5424 TIMESTAMP (see [`timestamp`]) or `-`.
    pub timestamp: &'a str,
    pub hostname: &'a str,
    pub app_name: &'a str,
    pub procid: &'a str,
    pub msgid: &'a str,
}

/// One SD-ELEMENT: its SD-ID and its parameters (names and values).
#[derive(Clone, Copy, Debug)]
pub struct SdElement<'a> {
    pub id: &'a str,
    pub params: &'a [(&'a str, &'a str)],
}

/// Whether `byte` is PRINTUSASCII (`%d33-126`).
fn printable(byte: u8) -> bool {
    (33..=126).contains(&byte)
}

/// Whether `name` is an SD-NAME: 1 to 32 PRINTUSASCII except `=`, space, `]` and `"`.
pub fn is_sd_name(name: &str) -> bool {
    (1..=MAX_SD_NAME).contains(&name.len())
        && name
            .bytes()
            .all(|b| printable(b) && !matches!(b, b'=' | b']' | b'"'))
}

/// Whether `id` is a private SD-ID, `name@number` (RFC 5424 §7.2.2: an IANA enterprise
/// number after the `@`).
pub fn is_private_sd_id(id: &str) -> bool {
    is_sd_name(id)
        && id.split_once('@').is_some_and(|(name, number)| {
            !name.is_empty()
                && !name.contains('@')
                && !number.is_empty()
                && number
                    .split('.')
                    .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
        })
}

/// A header field: its PRINTUSASCII characters, at most `max` of them; `-` when none is.
fn header_field(out: &mut Vec<u8>, value: &str, max: usize) {
    let start = out.len();
    out.extend(value.bytes().filter(|b| printable(*b)).take(max));
    if out.len() == start {
        out.push(b'-');
    }
}

/// An SD-NAME we write: its allowed characters only (never empty: `_`).
fn sd_name(out: &mut Vec<u8>, name: &str) {
    let start = out.len();
    out.extend(
        name.bytes()
            .filter(|b| printable(*b) && !matches!(b, b'=' | b']' | b'"'))
            .take(MAX_SD_NAME),
    );
    if out.len() == start {
        out.push(b'_');
    }
}

/// A PARAM-VALUE: `"`, `\` and `]` escaped with `\` (§6.3.3), control characters written
/// as spaces (so that no message holds a line feed).
fn param_value(out: &mut Vec<u8>, value: &str) {
    for byte in value.bytes() {
        if matches!(byte, b'"' | b'\\' | b']') {
            out.push(b'\\');
        }
        out.push(if byte < 0x20 || byte == 0x7f {
            b' '
        } else {
            byte
        });
    }
}

/// Append the message `header`, `sd` (none: `-`) and `msg` (none: no MSG part) to `out`.
/// `bom`: the MSG is marked UTF-8 by a byte order mark (§6.4). The message holds no line
/// feed or carriage return (one in `msg` is written as a space), so a receiver that reads
/// lines (RFC 6587's non-transparent framing) gets it whole.
pub fn format(
    header: &Header<'_>,
    sd: &[SdElement<'_>],
    msg: Option<&[u8]>,
    bom: bool,
    out: &mut Vec<u8>,
) {
    let pri = u16::from(header.facility.min(23)) * 8 + u16::from(header.severity.min(7));
    out.extend_from_slice(format!("<{pri}>1 ").as_bytes());
    match timestamp(header.timestamp) {
        Some(stamp) => out.extend_from_slice(stamp.as_bytes()),
        None => out.push(b'-'),
    }
    for (value, max) in [
        (header.hostname, MAX_HOSTNAME),
        (header.app_name, MAX_APP_NAME),
        (header.procid, MAX_PROCID),
        (header.msgid, MAX_MSGID),
    ] {
        out.push(b' ');
        header_field(out, value, max);
    }
    out.push(b' ');
    if sd.is_empty() {
        out.push(b'-');
    }
    for element in sd {
        out.push(b'[');
        sd_name(out, element.id);
        for (name, value) in element.params {
            out.push(b' ');
            sd_name(out, name);
            out.extend_from_slice(b"=\"");
            param_value(out, value);
            out.push(b'"');
        }
        out.push(b']');
    }
    if let Some(msg) = msg {
        out.push(b' ');
        if bom {
            out.extend_from_slice("\u{feff}".as_bytes());
        }
        out.extend(
            msg.iter()
                .map(|b| if matches!(b, b'\n' | b'\r') { b' ' } else { *b }),
        );
    }
}

/// `msg` framed by octet counting (RFC 5425 §4.3, RFC 6587 §3.4.1): its length in bytes, a
/// space, the message.
pub fn octet_counted(msg: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(msg.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(msg);
}

/// `stamp` (an xs:dateTime such as Windows' `TimeCreated/@SystemTime`,
/// `2026-11-24T10:00:00.1234567Z`) as an RFC 5424 TIMESTAMP: at most 6 fraction digits
/// (Windows writes 7: the rest are cut), `Z` or `±hh:mm`. `None` when it is not such a time.
pub fn timestamp(stamp: &str) -> Option<String> {
    let bytes = stamp.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        bytes
            .get(range)
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    };
    let shape = digits(0..4)
        && bytes.get(4) == Some(&b'-')
        && digits(5..7)
        && bytes.get(7) == Some(&b'-')
        && digits(8..10)
        && bytes.get(10) == Some(&b'T')
        && digits(11..13)
        && bytes.get(13) == Some(&b':')
        && digits(14..16)
        && bytes.get(16) == Some(&b':')
        && digits(17..19);
    if !shape {
        return None;
    }
    let number = |range: std::ops::Range<usize>| stamp[range].parse::<u8>().unwrap_or(99);
    if !(1..=12).contains(&number(5..7))
        || !(1..=31).contains(&number(8..10))
        || number(11..13) > 23
        || number(14..16) > 59
        || number(17..19) > 60
    {
        return None;
    }
    let mut rest = &stamp[19..];
    let mut out = stamp[..19].to_owned();
    if let Some(fraction) = rest.strip_prefix('.') {
        let count = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if count == 0 {
            return None;
        }
        out.push('.');
        out.push_str(&fraction[..count.min(6)]);
        rest = &fraction[count..];
    }
    let zone = rest.as_bytes();
    let offset = zone.len() == 6
        && matches!(zone[0], b'+' | b'-')
        && zone[1..3].iter().all(u8::is_ascii_digit)
        && zone[3] == b':'
        && zone[4..6].iter().all(u8::is_ascii_digit)
        && rest[1..3].parse::<u8>().is_ok_and(|h| h <= 23)
        && rest[4..6].parse::<u8>().is_ok_and(|m| m <= 59);
    if rest != "Z" && !offset {
        return None;
    }
    out.push_str(rest);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The examples of RFC 5424 §6.5 (the BOM written as its UTF-8 bytes): the oracle.
    #[test]
    fn the_rfcs_examples_are_written_byte_for_byte() {
        let bom = "\u{feff}";
        let su = Header {
            facility: 4,
            severity: 2,
            timestamp: "2003-10-11T22:14:15.003Z",
            hostname: "mymachine.example.com",
            app_name: "su",
            procid: "-",
            msgid: "ID47",
        };
        let myproc = Header {
            facility: 20,
            severity: 5,
            timestamp: "2003-08-24T05:14:15.000003-07:00",
            hostname: "192.0.2.1",
            app_name: "myproc",
            procid: "8710",
            msgid: "",
        };
        let evntslog = Header {
            facility: 20,
            severity: 5,
            timestamp: "2003-10-11T22:14:15.003Z",
            hostname: "mymachine.example.com",
            app_name: "evntslog",
            procid: "-",
            msgid: "ID47",
        };
        let example = SdElement {
            id: "exampleSDID@32473",
            params: &[
                ("iut", "3"),
                ("eventSource", "Application"),
                ("eventID", "1011"),
            ],
        };
        let priority = SdElement {
            id: "examplePriority@32473",
            params: &[("class", "high")],
        };
        /// An example: its header, structured data, MSG, whether the MSG has a BOM, the text.
        type Example<'a> = (
            &'a Header<'a>,
            &'a [SdElement<'a>],
            Option<&'a [u8]>,
            bool,
            String,
        );
        let examples: [Example; 4] = [
            (
                &su,
                &[],
                Some(b"'su root' failed for lonvick on /dev/pts/8"),
                true,
                format!("<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - {bom}'su root' failed for lonvick on /dev/pts/8"),
            ),
            (
                &myproc,
                &[],
                Some(b"%% It's time to make the do-nuts."),
                false,
                "<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.".to_owned(),
            ),
            (
                &evntslog,
                &[example],
                Some(b"An application event log entry..."),
                true,
                format!("<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"] {bom}An application event log entry..."),
            ),
            (
                &evntslog,
                &[example, priority],
                None,
                false,
                "<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut=\"3\" eventSource=\"Application\" eventID=\"1011\"][examplePriority@32473 class=\"high\"]".to_owned(),
            ),
        ];
        for (header, sd, msg, bom, expected) in examples {
            let mut out = Vec::new();
            format(header, sd, msg, bom, &mut out);
            assert_eq!(String::from_utf8(out).expect("utf-8"), expected);
        }
    }

    /// §6.3.3's escapes, and RFC 5425 §4.3's frame: the length in octets, not characters.
    #[test]
    fn values_are_escaped_and_frames_count_octets() {
        let mut out = Vec::new();
        format(
            &Header {
                facility: 16,
                severity: 6,
                timestamp: "-",
                hostname: "h",
                app_name: "a",
                procid: "-",
                msgid: "-",
            },
            &[SdElement {
                id: "wec@32473",
                params: &[("v", "a\"b\\c]d")],
            }],
            Some("é".as_bytes()),
            false,
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out.clone()).expect("utf-8"),
            "<134>1 - h a - - [wec@32473 v=\"a\\\"b\\\\c\\]d\"] é"
        );
        let mut frame = Vec::new();
        octet_counted(&out, &mut frame);
        assert!(frame.starts_with(format!("{} <134>", out.len()).as_bytes()));
        // The one "é" is two octets: the count is of octets, not characters.
        let characters = String::from_utf8(out.clone())
            .expect("utf-8")
            .chars()
            .count();
        assert_eq!(out.len(), characters + 1);
    }

    #[test]
    fn windows_times_become_rfc5424_timestamps() {
        for (given, expected) in [
            (
                "2026-11-24T10:00:00.1234567Z",
                Some("2026-11-24T10:00:00.123456Z"),
            ),
            ("2026-11-24T10:00:00Z", Some("2026-11-24T10:00:00Z")),
            (
                "2026-11-24T10:00:00.5+01:00",
                Some("2026-11-24T10:00:00.5+01:00"),
            ),
            ("2026-11-24T10:00:00", None),
            ("2026-11-24 10:00:00Z", None),
            ("2026-13-24T10:00:00Z", None),
            ("2026-11-24T10:00:00.Z", None),
            ("2026-11-24T10:00:00+1:00", None),
            ("", None),
            ("-", None),
        ] {
            assert_eq!(timestamp(given).as_deref(), expected, "{given}");
        }
    }

    #[test]
    fn private_sd_ids_need_an_enterprise_number() {
        assert!(is_private_sd_id("wec@32473"));
        assert!(is_private_sd_id("wec@32473.1.2"));
        for bad in [
            "wec", "wec@", "@32473", "w c@1", "wec@x", "a@1@2", "w\"@1", "w]@1",
        ] {
            assert!(!is_private_sd_id(bad), "{bad}");
        }
    }

    /// A reader of RFC 5424's grammar (§6), for the property below: the header fields, the
    /// structured data with its escapes, the message; `None` where the text breaks it.
    /// What [`parse`] reads: PRI, the header fields, the SD elements, the MSG.
    type Parsed = (
        u16,
        Vec<String>,
        Vec<(String, Vec<(String, String)>)>,
        Option<Vec<u8>>,
    );

    fn parse(text: &[u8]) -> Option<Parsed> {
        let close = text.iter().position(|b| *b == b'>')?;
        if text.first() != Some(&b'<') {
            return None;
        }
        let pri: u16 = std::str::from_utf8(&text[1..close]).ok()?.parse().ok()?;
        let mut rest = text[close + 1..].strip_prefix(b"1 ")?;
        let mut fields = Vec::new();
        for max in [
            usize::MAX,
            MAX_HOSTNAME,
            MAX_APP_NAME,
            MAX_PROCID,
            MAX_MSGID,
        ] {
            let end = rest.iter().position(|b| *b == b' ')?;
            let field = &rest[..end];
            if field.is_empty() || field.len() > max || !field.iter().all(|b| printable(*b)) {
                return None;
            }
            fields.push(String::from_utf8(field.to_vec()).ok()?);
            rest = &rest[end + 1..];
        }
        let mut sd = Vec::new();
        if let Some(after) = rest.strip_prefix(b"-") {
            rest = after;
        } else {
            while let Some(after) = rest.strip_prefix(b"[") {
                let end = after.iter().position(|b| matches!(b, b' ' | b']'))?;
                let id = String::from_utf8(after[..end].to_vec()).ok()?;
                if !is_sd_name(&id) {
                    return None;
                }
                rest = &after[end..];
                let mut params = Vec::new();
                while let Some(after) = rest.strip_prefix(b" ") {
                    let eq = after.iter().position(|b| *b == b'=')?;
                    let name = String::from_utf8(after[..eq].to_vec()).ok()?;
                    if !is_sd_name(&name) {
                        return None;
                    }
                    let mut value = Vec::new();
                    let mut i = eq + 1;
                    if after.get(i) != Some(&b'"') {
                        return None;
                    }
                    i += 1;
                    loop {
                        match after.get(i)? {
                            b'\\' if matches!(after.get(i + 1), Some(b'"' | b'\\' | b']')) => {
                                value.push(after[i + 1]);
                                i += 2;
                            }
                            b'"' => break,
                            b']' => return None,
                            byte => {
                                value.push(*byte);
                                i += 1;
                            }
                        }
                    }
                    params.push((name, String::from_utf8(value).ok()?));
                    rest = &after[i + 1..];
                }
                rest = rest.strip_prefix(b"]")?;
                sd.push((id, params));
            }
            if sd.is_empty() {
                return None;
            }
        }
        let msg = match rest {
            [] => None,
            [b' ', msg @ ..] => Some(msg.to_vec()),
            _ => return None,
        };
        Some((pri, fields, sd, msg))
    }

    proptest! {
        /// Whatever the fields hold, the message parses as RFC 5424, keeps the values of its
        /// structured data and its message as given, and its frame's count is its length.
        #[test]
        fn any_fields_make_a_message_that_parses_back(
            facility in 0u8..40, severity in 0u8..12,
            hostname in "\\PC{0,300}", app in "\\PC{0,60}", msgid in "\\PC{0,40}",
            stamp in "\\PC{0,40}",
            id in "[a-z]{1,10}@[0-9]{1,6}",
            values in proptest::collection::vec("\\PC{0,40}", 0..5),
            msg in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..200)),
        ) {
            let names: Vec<String> = (0..values.len()).map(|i| format!("p{i}")).collect();
            let params: Vec<(&str, &str)> = names.iter().map(String::as_str).zip(values.iter().map(String::as_str)).collect();
            let mut out = Vec::new();
            format(
                &Header { facility, severity, timestamp: &stamp, hostname: &hostname, app_name: &app, procid: "-", msgid: &msgid },
                &[SdElement { id: &id, params: &params }],
                msg.as_deref(),
                false,
                &mut out,
            );
            let (pri, fields, sd, body) = parse(&out).expect("parses as RFC 5424");
            prop_assert_eq!(pri, u16::from(facility.min(23)) * 8 + u16::from(severity.min(7)));
            prop_assert_eq!(&fields[0], &timestamp(&stamp).unwrap_or_else(|| "-".to_owned()));
            prop_assert_eq!(&sd[0].0, &id);
            let read: Vec<&str> = sd[0].1.iter().map(|(_, v)| v.as_str()).collect();
            let spaced = |v: &String| v.chars().map(|c| if c < ' ' || c == '\u{7f}' { ' ' } else { c }).collect::<String>();
            prop_assert_eq!(read, values.iter().map(spaced).collect::<Vec<_>>());
            let flat = msg.map(|m| m.iter().map(|b| if matches!(b, b'\n' | b'\r') { b' ' } else { *b }).collect::<Vec<u8>>());
            prop_assert!(!out.contains(&b'\n'));
            prop_assert_eq!(body, flat);
            let mut frame = Vec::new();
            octet_counted(&out, &mut frame);
            let space = frame.iter().position(|b| *b == b' ').expect("a space");
            let count: usize = std::str::from_utf8(&frame[..space]).expect("digits").parse().expect("a number");
            prop_assert_eq!(&frame[space + 1..], &out[..]);
            prop_assert_eq!(count, out.len());
        }
    }
}
