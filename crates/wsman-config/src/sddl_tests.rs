#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use super::*;
use crate::schema::DEFAULT_ROOT_SDDL;

fn sids(list: &[&str]) -> Vec<Sid> {
    list.iter().map(|s| Sid::parse(s).unwrap()).collect()
}

#[test]
fn windows_default_root_sddl() {
    let sd = SecurityDescriptor::parse(DEFAULT_ROOT_SDDL).unwrap();
    assert_eq!(sd.owner, Some(Sid::new(5, &[20])));
    assert_eq!(sd.group, Some(Sid::builtin_administrators()));
    assert_eq!(sd.dacl.len(), 2);
    assert_eq!(sd.sacl_entries, 2);
    let admin = sids(&["BA", "AU", "NU", "WD"]);
    let user = sids(&["BU", "AU", "NU", "WD"]);
    let interactive = sids(&["IU"]);
    for access in [Access::Read, Access::Write, Access::Execute] {
        assert!(sd.allows(&admin, access));
        assert!(!sd.allows(&user, access));
    }
    assert!(sd.allows(&interactive, Access::Read));
    assert!(!sd.allows(&interactive, Access::Write));
    // The schema default without the IU entry parses too.
    SecurityDescriptor::parse("O:NSG:BAD:P(A;;GA;;;BA)S:P(AU;FA;GA;;;WD)(AU;SA;GWGX;;;WD)")
        .unwrap();
}

#[test]
fn deny_wins_wherever_it_is_written() {
    let sd = SecurityDescriptor::parse(
        "O:NSG:BAD:P(A;;GA;;;BU)(D;;GX;;;S-1-22-2-1005)(A;;GR;;;S-1-22-1-1001)",
    )
    .unwrap();
    let member = vec![Sid::builtin_users(), Sid::unix_group(1005)];
    assert!(sd.allows(&member, Access::Read));
    assert!(!sd.allows(&member, Access::Execute));
    assert!(sd.allows(&[Sid::builtin_users()], Access::Execute));
    // A deny of GA denies every access.
    let sd = SecurityDescriptor::parse("D:(A;;GA;;;WD)(D;;GA;;;S-1-22-1-0)").unwrap();
    assert!(!sd.allows(&[Sid::everyone(), Sid::unix_user(0)], Access::Read));
    assert!(sd.allows(&[Sid::everyone()], Access::Read));
}

#[test]
fn numeric_masks_inherit_only_and_empty_dacl() {
    let sd = SecurityDescriptor::parse("D:(A;;0x80000000;;;AU)(A;IO;GA;;;BU)").unwrap();
    let au = [Sid::authenticated_users(), Sid::builtin_users()];
    assert!(sd.allows(&au, Access::Read));
    assert!(!sd.allows(&au, Access::Write), "IO entries do not apply");
    let sd = SecurityDescriptor::parse("D:(A;;1073741824;;;AU)").unwrap();
    assert!(sd.allows(&au, Access::Write));
    // Non-generic rights parse but grant no WinRM operation.
    let sd = SecurityDescriptor::parse("D:(A;;FA;;;AU)").unwrap();
    assert!(!sd.allows(&au, Access::Read));
    let sd = SecurityDescriptor::parse("O:NSG:BAD:P").unwrap();
    assert!(!sd.allows(&[Sid::builtin_administrators()], Access::Read));
}

#[test]
fn sid_strings_and_aliases() {
    assert_eq!(
        Sid::parse("S-1-5-32-544").unwrap(),
        Sid::parse("ba").unwrap()
    );
    assert_eq!(Sid::parse("S-1-22-1-1000").unwrap(), Sid::unix_user(1000));
    assert_eq!(Sid::unix_group(27).to_string(), "S-1-22-2-27");
    assert_eq!(Sid::parse("S-1-0x000000000005-2").unwrap(), Sid::network());
    assert_eq!(
        Sid::new(1 << 40, &[1]).to_string(),
        "S-1-0x010000000000-1",
        "large authorities print in hex"
    );
    for bad in [
        "",
        "S-1-",
        "S-1-5-",
        "S-2-5",
        "S-1-x",
        "S-1-5-4294967296",
        "S-1-5-1-2-3-4-5-6-7-8-9-10-11-12-13-14-15-16",
        "DA",
        "ZZ",
    ] {
        assert!(Sid::parse(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn refused_descriptors() {
    for bad in [
        "garbage",
        "",
        "O:NSG:BA",
        "D:NO_ACCESS_CONTROL",
        "D:P(A;;GA;;;BA",
        "D:P(A;;GA;;;BA))",
        "D:P(X;;GA;;;BA)",
        "D:P(OA;;GA;;;BA)",
        "D:P(A;;GA;bf967aba-0de6-11d0-a285-00aa003049e2;;BA)",
        "D:P(A;;ZZ;;;BA)",
        "D:P(A;QQ;GA;;;BA)",
        "D:P(A;;GA;;BA)",
        "D:P(A;;GA;;;BA)D:P",
        "O:BAO:BAD:",
        "D:Q(A;;GA;;;BA)",
        "S:(A;;GA;;;BA)D:",
        "D:(AU;;GA;;;BA)",
        "X:BA",
        "D:(A;;GA;;;BA)junk",
        "(A;;GA;;;BA)",
    ] {
        assert!(SecurityDescriptor::parse(bad).is_err(), "{bad:?}");
    }
    assert_eq!(
        SecurityDescriptor::parse(&"D:".repeat(MAX_SDDL_LEN)),
        Err(SddlError::TooLong)
    );
    let many = format!("D:{}", "(A;;GA;;;BA)".repeat(MAX_ACES + 1));
    assert_eq!(
        SecurityDescriptor::parse(&many),
        Err(SddlError::TooManyAces)
    );
}

#[test]
fn whitespace_case_and_order() {
    let sd = SecurityDescriptor::parse(" d:p ( a ; ; gr ; ; ; au ) o:ns\n").unwrap();
    assert_eq!(sd.owner, Some(Sid::new(5, &[20])));
    assert!(sd.allows(&[Sid::authenticated_users()], Access::Read));
}

fn arb_sid() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec!["BA", "BU", "AU", "WD", "NU", "IU", "SY", "RM"])
            .prop_map(str::to_owned),
        (0u32..3, 0u32..100_000).prop_map(|(k, id)| format!("S-1-22-{}-{id}", k + 1)),
    ]
}

fn arb_ace() -> impl Strategy<Value = (bool, String, String)> {
    (
        any::<bool>(),
        prop::sample::select(vec!["GA", "GR", "GW", "GX", "GRGX", "0x20000000", "RC"]),
        arb_sid(),
    )
        .prop_map(|(allow, r, s)| (allow, r.to_owned(), s))
}

proptest! {
    /// Any text: a result or an error, never a panic.
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = SecurityDescriptor::parse(&text);
    }

    /// Near-valid text (SDDL alphabet): never panics either.
    #[test]
    fn sddl_alphabet_never_panics(text in "[OGDSPAIRUXWN:;()0-9a-fx\\-]{0,120}") {
        let _ = SecurityDescriptor::parse(&text);
    }

    /// The evaluator agrees with the rule stated in words: refused if a matching deny covers
    /// the right, else granted if a matching allow covers it.
    #[test]
    fn evaluator_matches_the_rule(
        aces in prop::collection::vec(arb_ace(), 0..8),
        caller in prop::collection::vec(arb_sid(), 0..4),
        which in 0usize..3,
    ) {
        let text = format!(
            "O:NSG:BAD:P{}",
            aces.iter()
                .map(|(a, r, s)| format!("({};;{r};;;{s})", if *a { "A" } else { "D" }))
                .collect::<String>()
        );
        let sd = SecurityDescriptor::parse(&text).unwrap();
        let caller: Vec<Sid> = caller.iter().map(|s| Sid::parse(s).unwrap()).collect();
        let access = [Access::Read, Access::Write, Access::Execute][which];
        let covers = |r: &str| r == "GA" || parse_rights(r).unwrap() & access.right() != 0;
        let applies = |s: &str| caller.contains(&Sid::parse(s).unwrap());
        let denied = aces.iter().any(|(a, r, s)| !a && covers(r) && applies(s));
        let granted = aces.iter().any(|(a, r, s)| *a && covers(r) && applies(s));
        prop_assert_eq!(sd.allows(&caller, access), !denied && granted);
    }
}
