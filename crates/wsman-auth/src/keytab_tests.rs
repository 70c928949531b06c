#![allow(clippy::unwrap_used)]

use super::*;
use proptest::prelude::*;

/// One entry to encode (the tests' own writer; the product only reads keytabs).
#[derive(Debug, Clone)]
struct Spec {
    components: Vec<String>,
    realm: String,
    name_type: u32,
    timestamp: u32,
    kvno: u32,
    enctype: u16,
    key: Vec<u8>,
    /// Write the 32-bit kvno after the key.
    kvno32: bool,
    /// Heimdal-style trailing bytes after the 32-bit kvno.
    trailer: Vec<u8>,
}

fn spec(components: &[&str], kvno: u32, enctype: u16) -> Spec {
    Spec {
        components: components.iter().map(|s| (*s).to_owned()).collect(),
        realm: "WSMAN.TEST".into(),
        name_type: 1,
        timestamp: 1_700_000_000,
        kvno,
        enctype,
        key: vec![0x5a; 32],
        kvno32: true,
        trailer: Vec::new(),
    }
}

fn counted(out: &mut Vec<u8>, bytes: &[u8], little: bool) {
    let len = u16::try_from(bytes.len()).unwrap();
    out.extend_from_slice(&if little {
        len.to_le_bytes()
    } else {
        len.to_be_bytes()
    });
    out.extend_from_slice(bytes);
}

fn encode_entry(entry: &Spec, version: u8) -> Vec<u8> {
    let little = version == 1;
    let u16b = |v: u16| {
        if little {
            v.to_le_bytes()
        } else {
            v.to_be_bytes()
        }
    };
    let u32b = |v: u32| {
        if little {
            v.to_le_bytes()
        } else {
            v.to_be_bytes()
        }
    };
    let mut body = Vec::new();
    let count = u16::try_from(entry.components.len()).unwrap() + u16::from(version == 1);
    body.extend_from_slice(&u16b(count));
    counted(&mut body, entry.realm.as_bytes(), little);
    for component in &entry.components {
        counted(&mut body, component.as_bytes(), little);
    }
    if version == 2 {
        body.extend_from_slice(&u32b(entry.name_type));
    }
    body.extend_from_slice(&u32b(entry.timestamp));
    body.push(u8::try_from(entry.kvno).unwrap_or(0));
    body.extend_from_slice(&u16b(entry.enctype));
    counted(&mut body, &entry.key, little);
    if entry.kvno32 {
        body.extend_from_slice(&u32b(entry.kvno));
        body.extend_from_slice(&entry.trailer);
    }
    let size = i32::try_from(body.len()).unwrap();
    let mut out = if little {
        size.to_le_bytes().to_vec()
    } else {
        size.to_be_bytes().to_vec()
    };
    out.extend_from_slice(&body);
    out
}

fn encode(entries: &[Spec], version: u8) -> Vec<u8> {
    let mut out = vec![5, version];
    for entry in entries {
        out.extend_from_slice(&encode_entry(entry, version));
    }
    out
}

fn hole(len: usize) -> Vec<u8> {
    let mut out = (-i32::try_from(len).unwrap()).to_be_bytes().to_vec();
    out.extend(std::iter::repeat_n(0xee, len));
    out
}

#[test]
fn parses_a_service_keytab() {
    let data = encode(
        &[
            spec(&["HTTP", "host.wsman.test"], 2, 18),
            spec(&["HTTP", "host.wsman.test"], 2, 17),
            spec(&["WSMAN", "host.wsman.test"], 3, 18),
        ],
        2,
    );
    let keytab = parse_keytab(&data).unwrap();
    assert_eq!(keytab.version, 2);
    assert_eq!(keytab.entries.len(), 3);
    let first = &keytab.entries[0];
    assert_eq!(
        first.principal.to_string(),
        "HTTP/host.wsman.test@WSMAN.TEST"
    );
    assert_eq!(first.name_type, Some(1));
    assert_eq!(first.kvno, 2);
    assert_eq!(first.enctype_name(), Some("aes256-cts-hmac-sha1-96"));
    assert_eq!(first.key_len, 32);
    assert!(keytab.serves("http", "HOST.wsman.test"));
    assert!(keytab.serves("WSMAN", "host.wsman.test"));
    assert!(!keytab.serves("host", "host.wsman.test"));
    assert_eq!(keytab.hosts_for("HTTP"), vec!["host.wsman.test".to_owned()]);
    let summary = keytab.principals();
    assert_eq!(summary.len(), 2);
    assert_eq!(summary[0].principal.service(), Some("HTTP"));
    assert_eq!(summary[0].kvnos, vec![2]);
    assert_eq!(summary[0].enctypes, vec![18, 17]);
    assert_eq!(summary[1].kvnos, vec![3]);
}

#[test]
fn lists_principals_outside_the_served_services() {
    let data = encode(
        &[
            spec(&["HTTP", "h"], 2, 18),
            spec(&["wsman", "h"], 2, 18),
            spec(&["host", "h"], 2, 18),
            spec(&["host", "h"], 2, 17),
            spec(&["alice"], 1, 18),
            spec(&["HTTP", "h", "extra"], 1, 18),
        ],
        2,
    );
    let keytab = parse_keytab(&data).unwrap();
    let unexpected: Vec<String> = keytab
        .unexpected_principals(&["HTTP", "WSMAN"])
        .iter()
        .map(|p| p.to_string())
        .collect();
    assert_eq!(
        unexpected,
        vec![
            "HTTP/h/extra@WSMAN.TEST",
            "alice@WSMAN.TEST",
            "host/h@WSMAN.TEST"
        ]
    );
    assert!(keytab.unexpected_principals(&[]).len() == 5);
}

#[test]
fn summary_lists_every_kvno_and_the_newest_enctypes() {
    let data = encode(
        &[
            spec(&["HTTP", "h"], 4, 23),
            spec(&["HTTP", "h"], 5, 18),
            spec(&["HTTP", "h"], 5, 17),
        ],
        2,
    );
    let summary = parse_keytab(&data).unwrap().principals();
    assert_eq!(summary.len(), 1);
    assert_eq!(summary[0].kvnos, vec![4, 5]);
    assert_eq!(summary[0].enctypes, vec![18, 17]);
}

#[test]
fn kvno32_overrides_kvno8_unless_zero_or_absent() {
    let mut big = spec(&["HTTP", "h"], 300, 18);
    big.trailer = vec![0, 0, 0, 1]; // Heimdal flags: ignored
    let mut zero = spec(&["HTTP", "h"], 7, 18);
    zero.kvno32 = true;
    let mut absent = spec(&["HTTP", "h"], 9, 18);
    absent.kvno32 = false;
    let mut data = encode(&[big], 2);
    // kvno32 == 0 falls back to kvno8: write kvno8 = 7, then patch the trailing u32 to 0.
    let mut zero_entry = encode_entry(&zero, 2);
    let len = zero_entry.len();
    zero_entry[len - 4..].copy_from_slice(&[0, 0, 0, 0]);
    data.extend_from_slice(&zero_entry);
    data.extend_from_slice(&encode_entry(&absent, 2));
    let keytab = parse_keytab(&data).unwrap();
    let kvnos: Vec<u32> = keytab.entries.iter().map(|e| e.kvno).collect();
    assert_eq!(kvnos, vec![300, 7, 9]);
}

#[test]
fn holes_are_skipped_and_zero_size_ends_the_file() {
    let mut data = vec![5, 2];
    data.extend_from_slice(&hole(40));
    data.extend_from_slice(&encode_entry(&spec(&["HTTP", "h"], 2, 18), 2));
    data.extend_from_slice(&hole(3));
    data.extend_from_slice(&0i32.to_be_bytes());
    data.extend_from_slice(b"garbage after the end marker");
    let keytab = parse_keytab(&data).unwrap();
    assert_eq!(keytab.entries.len(), 1);
}

#[test]
fn parses_version_1() {
    let data = encode(&[spec(&["HTTP", "h"], 2, 18)], 1);
    let keytab = parse_keytab(&data).unwrap();
    assert_eq!(keytab.version, 1);
    assert_eq!(keytab.entries[0].principal.to_string(), "HTTP/h@WSMAN.TEST");
    assert_eq!(keytab.entries[0].name_type, None);
    assert_eq!(keytab.entries[0].kvno, 2);
}

#[test]
fn empty_keytab_has_no_entries() {
    assert_eq!(parse_keytab(&[5, 2]).unwrap().entries, vec![]);
}

#[test]
fn refuses_bad_input() {
    assert_eq!(parse_keytab(&[]), Err(KeytabError::Truncated(0)));
    assert_eq!(parse_keytab(&[5]), Err(KeytabError::Truncated(0)));
    assert_eq!(parse_keytab(&[5, 3]), Err(KeytabError::BadVersion(0x0503)));
    assert_eq!(
        parse_keytab(b"\x04\x02"),
        Err(KeytabError::BadVersion(0x0402))
    );
    // A size that runs past the end.
    let mut data = vec![5, 2];
    data.extend_from_slice(&100i32.to_be_bytes());
    data.extend_from_slice(&[0; 10]);
    assert!(matches!(
        parse_keytab(&data),
        Err(KeytabError::Truncated(_))
    ));
    // A hole that runs past the end, including i32::MIN.
    let mut data = vec![5, 2];
    data.extend_from_slice(&i32::MIN.to_be_bytes());
    assert!(matches!(
        parse_keytab(&data),
        Err(KeytabError::Truncated(_))
    ));
    // Half a size field.
    assert!(matches!(
        parse_keytab(&[5, 2, 0, 0]),
        Err(KeytabError::Truncated(2))
    ));
}

#[test]
fn refuses_fields_past_the_entry() {
    let good = encode(&[spec(&["HTTP", "h"], 2, 18)], 2);
    // Shrink the declared entry size so the key no longer fits.
    for cut in 1..good.len() - 6 {
        let mut data = good.clone();
        let size = i32::from_be_bytes(data[2..6].try_into().unwrap());
        let shrunk = size - i32::try_from(cut).unwrap();
        data[2..6].copy_from_slice(&shrunk.to_be_bytes());
        // Keep the file consistent: drop the bytes the size no longer covers.
        data.truncate(data.len() - cut);
        let result = parse_keytab(&data);
        if cut <= 4 {
            // Only the optional 32-bit kvno was cut: still a valid entry.
            assert!(result.is_ok(), "cut {cut}: {result:?}");
        } else {
            assert!(
                matches!(result, Err(KeytabError::Malformed { offset: 2, .. })),
                "cut {cut}: {result:?}"
            );
        }
    }
}

#[test]
fn refuses_component_counts_out_of_range() {
    let mut zero = encode(&[spec(&["HTTP", "h"], 2, 18)], 2);
    zero[6..8].copy_from_slice(&0u16.to_be_bytes());
    assert!(matches!(
        parse_keytab(&zero),
        Err(KeytabError::Malformed { .. })
    ));
    let many: Vec<String> = (0..=MAX_COMPONENTS).map(|i| i.to_string()).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    assert!(matches!(
        parse_keytab(&encode(&[spec(&many, 2, 18)], 2)),
        Err(KeytabError::Malformed { .. })
    ));
    let long = "x".repeat(MAX_COMPONENT_BYTES + 1);
    assert!(matches!(
        parse_keytab(&encode(&[spec(&["HTTP", &long], 2, 18)], 2)),
        Err(KeytabError::Malformed { .. })
    ));
}

#[test]
fn refuses_oversized_input() {
    let data = vec![0u8; MAX_KEYTAB_BYTES + 1];
    assert_eq!(
        parse_keytab(&data),
        Err(KeytabError::TooLarge(MAX_KEYTAB_BYTES))
    );
    let mut small = spec(&["a"], 1, 18);
    small.key = Vec::new();
    small.realm = String::new();
    let data = encode(&vec![small; MAX_ENTRIES + 1], 2);
    assert!(data.len() <= MAX_KEYTAB_BYTES);
    assert_eq!(parse_keytab(&data), Err(KeytabError::TooLarge(MAX_ENTRIES)));
}

/// Writes a good one-entry keytab at `dir/name`, mode 0600; returns its path and owner.
fn good_keytab_file(dir: &std::path::Path, name: &str) -> (std::path::PathBuf, u32) {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let path = dir.join(name);
    std::fs::write(&path, encode(&[spec(&["HTTP", "h"], 2, 18)], 2)).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let owner = std::fs::metadata(&path).unwrap().uid();
    (path, owner)
}

#[test]
fn file_checks_mode_owner_and_content() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (path, owner) = good_keytab_file(dir.path(), "wsman.keytab");
    let keytab = read_keytab_file(&path, owner).unwrap();
    assert_eq!(keytab.entries.len(), 1);

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    assert!(matches!(
        read_keytab_file(&path, owner),
        Err(KeytabFileError::TooOpen { mode: 0o640, .. })
    ));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    if owner == 0 {
        // Root may chown: a keytab owned by somebody else is refused.
        std::os::unix::fs::chown(&path, Some(54321), None).unwrap();
        assert!(matches!(
            read_keytab_file(&path, 0),
            Err(KeytabFileError::WrongOwner { owner: 54321, .. })
        ));
        std::os::unix::fs::chown(&path, Some(0), None).unwrap();
    } else {
        assert!(matches!(
            read_keytab_file(&path, owner + 1),
            Err(KeytabFileError::WrongOwner { .. })
        ));
    }
    std::fs::write(&path, b"not a keytab").unwrap();
    assert!(matches!(
        read_keytab_file(&path, owner),
        Err(KeytabFileError::Format { .. })
    ));
    assert!(matches!(
        read_keytab_file(&dir.path().join("missing"), owner),
        Err(KeytabFileError::Read { .. })
    ));
    assert!(matches!(
        read_keytab_file(dir.path(), owner),
        Err(KeytabFileError::NotAFile(_))
    ));
}

/// A link to a good keytab is refused: whoever may replace the link chooses the keys.
#[test]
fn a_keytab_that_is_a_link_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (path, owner) = good_keytab_file(dir.path(), "real.keytab");
    let link = dir.path().join("wsman.keytab");
    std::os::unix::fs::symlink(&path, &link).unwrap();
    assert!(read_keytab_file(&path, owner).is_ok());
    assert!(matches!(
        read_keytab_file(&link, owner),
        Err(KeytabFileError::NotAFile(_))
    ));
}

fn arb_spec() -> impl Strategy<Value = Spec> {
    (
        proptest::collection::vec("[A-Za-z0-9.-]{0,20}", 1..4),
        "[A-Z.]{0,20}",
        any::<u32>(),
        any::<u32>(),
        1u32..1_000_000,
        any::<u16>(),
        proptest::collection::vec(any::<u8>(), 0..64),
        any::<bool>(),
    )
        .prop_map(
            |(components, realm, name_type, timestamp, kvno, enctype, key, kvno32)| Spec {
                components,
                realm,
                name_type,
                timestamp,
                // Without the 32-bit field only the low byte survives (and 0 is what it is).
                kvno: if kvno32 { kvno } else { kvno % 256 },
                enctype,
                key,
                kvno32,
                trailer: Vec::new(),
            },
        )
}

proptest! {
    #[test]
    fn written_entries_read_back(entries in proptest::collection::vec(arb_spec(), 0..8), v1 in any::<bool>()) {
        let version = if v1 { 1 } else { 2 };
        let keytab = parse_keytab(&encode(&entries, version)).unwrap();
        prop_assert_eq!(keytab.entries.len(), entries.len());
        for (got, want) in keytab.entries.iter().zip(&entries) {
            prop_assert_eq!(&got.principal.components, &want.components);
            prop_assert_eq!(&got.principal.realm, &want.realm);
            prop_assert_eq!(got.name_type, (version == 2).then_some(want.name_type));
            prop_assert_eq!(got.timestamp, want.timestamp);
            prop_assert_eq!(got.kvno, want.kvno);
            prop_assert_eq!(got.enctype, want.enctype);
            prop_assert_eq!(got.key_len, want.key.len());
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse_keytab(&data);
    }

    #[test]
    fn damaged_keytabs_never_panic(
        entries in proptest::collection::vec(arb_spec(), 1..4),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in any::<usize>(),
    ) {
        let mut data = encode(&entries, 2);
        for (at, byte) in flips {
            let at = at % data.len();
            data[at] ^= byte;
        }
        data.truncate(cut % (data.len() + 1));
        if let Ok(keytab) = parse_keytab(&data) {
            prop_assert!(keytab.entries.len() <= entries.len() + data.len() / 16);
        }
    }
}
