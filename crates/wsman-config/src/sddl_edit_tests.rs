#![allow(clippy::unwrap_used)]

use proptest::prelude::*;

use super::*;
use crate::sddl::Access;

const ROOT: &str = "O:NSG:BAD:P(A;;GA;;;BA)(A;;GR;;;IU)S:P(AU;FA;GA;;;WD)(AU;SA;GXGW;;;WD)";

fn table(text: &str) -> Vec<(String, Vec<Right>, Vec<Right>)> {
    rights_table(&SecurityDescriptor::parse(text).unwrap())
        .into_iter()
        .map(|r| (r.sid.to_string(), r.allowed, r.denied))
        .collect()
}

#[test]
fn the_table_of_windows_root_sddl() {
    use Right::*;
    assert_eq!(
        table(ROOT),
        vec![
            (
                "S-1-5-32-544".to_owned(),
                vec![Full, Read, Write, Execute],
                vec![]
            ),
            ("S-1-5-4".to_owned(), vec![Read], vec![]),
        ]
    );
    // A deny entry takes the right out of the allowed ones, wherever it is written.
    assert_eq!(
        table("D:(A;;GA;;;S-1-22-1-5)(D;;GX;;;S-1-22-1-5)(A;IO;GA;;;BU)"),
        vec![("S-1-22-1-5".to_owned(), vec![Read, Write], vec![Execute])]
    );
}

#[test]
fn grant_and_revoke_keep_the_rest_of_the_text() {
    let alice = Sid::unix_user(1001);
    let granted = edit(ROOT, &alice, Edit::Grant(Right::Read)).unwrap();
    assert_eq!(
        granted,
        "O:NSG:BAD:P(A;;GA;;;BA)(A;;GR;;;IU)(A;;GR;;;S-1-22-1-1001)S:P(AU;FA;GA;;;WD)(AU;SA;GXGW;;;WD)"
    );
    let sd = SecurityDescriptor::parse(&granted).unwrap();
    assert!(sd.allows(std::slice::from_ref(&alice), Access::Read));
    assert!(!sd.allows(std::slice::from_ref(&alice), Access::Write));
    let more = edit(&granted, &alice, Edit::Grant(Right::Execute)).unwrap();
    assert!(more.contains("(A;;GRGX;;;S-1-22-1-1001)"), "{more}");
    let back = edit(&more, &alice, Edit::Revoke(Right::Execute)).unwrap();
    assert_eq!(back, granted);
    assert_eq!(
        edit(&back, &alice, Edit::Revoke(Right::Read)).unwrap(),
        ROOT
    );
}

#[test]
fn revoking_one_right_of_full_control_keeps_the_others() {
    let ba = Sid::builtin_administrators();
    let out = edit(ROOT, &ba, Edit::Revoke(Right::Write)).unwrap();
    assert!(out.starts_with("O:NSG:BAD:P(A;;GRGX;;;BA)"), "{out}");
    let out = edit(ROOT, &ba, Edit::Revoke(Right::Full)).unwrap();
    assert!(out.starts_with("O:NSG:BAD:P(A;;GR;;;IU)S:"), "{out}");
}

#[test]
fn grant_lifts_a_deny_of_that_right_and_keeps_other_bits() {
    let g = Sid::unix_group(7);
    let text = "D:P(D;CI;GXGR;;;S-1-22-2-7)(A;;0x1F0000;;;S-1-22-2-7)";
    let out = edit(text, &g, Edit::Grant(Right::Read)).unwrap();
    assert_eq!(out, "D:P(D;CI;GX;;;S-1-22-2-7)(A;;0x801F0000;;;S-1-22-2-7)");
}

#[test]
fn bad_input_is_refused() {
    let g = Sid::unix_group(7);
    assert!(edit("not a descriptor", &g, Edit::Grant(Right::Read)).is_err());
    assert!(Right::parse("Delete").is_err());
    assert_eq!(Right::parse("fullcontrol").unwrap(), Right::Full);
    assert_eq!(Right::parse(" GR ").unwrap(), Right::Read);
}

proptest! {
    /// Any edit of any descriptor the parser accepts gives a descriptor that parses, and
    /// grants (or no longer grants) exactly the right edited to that account.
    #[test]
    fn edits_do_what_they_say(
        aces in proptest::collection::vec((0..2u8, 0..16u32, 0..3u32), 0..6),
        right in 0..3usize,
        grant in any::<bool>(),
    ) {
        let mut text = "O:NSG:BAD:P".to_owned();
        for (kind, mask, uid) in &aces {
            let kind = if *kind == 0 { "A" } else { "D" };
            let mask = mask << 28;
            if mask != 0 {
                text.push_str(&format!("({kind};;0x{mask:X};;;S-1-22-1-{uid})"));
            }
        }
        let sid = Sid::unix_user(1);
        let right = [Right::Read, Right::Write, Right::Execute][right];
        let access = [Access::Read, Access::Write, Access::Execute];
        let change = if grant { Edit::Grant(right) } else { Edit::Revoke(right) };
        let out = edit(&text, &sid, change).unwrap();
        let sd = SecurityDescriptor::parse(&out).unwrap();
        let idx = [Right::Read, Right::Write, Right::Execute].iter().position(|r| *r == right).unwrap();
        prop_assert_eq!(sd.allows(std::slice::from_ref(&sid), access[idx]), grant);
        // Other accounts keep exactly what they had.
        let other = Sid::unix_user(2);
        let before = SecurityDescriptor::parse(&text).unwrap();
        for a in access {
            prop_assert_eq!(sd.allows(std::slice::from_ref(&other), a), before.allows(std::slice::from_ref(&other), a));
        }
    }
}
