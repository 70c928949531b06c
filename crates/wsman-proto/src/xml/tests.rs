use super::*;

fn p(s: &str) -> Result<Element, XmlError> {
    parse(s, &Limits::default())
}

#[test]
fn resolves_namespaces_not_prefixes() {
    let a = p(r#"<x:E xmlns:x="urn:a"><x:c>1</x:c></x:E>"#).unwrap();
    let b = p(r#"<E xmlns="urn:a"><c>1</c></E>"#).unwrap();
    assert!(a.is("urn:a", "E") && b.is("urn:a", "E"));
    assert_eq!(a.child("urn:a", "c").map(|c| c.text()), Some("1".into()));
    assert_eq!(b.child("urn:a", "c").map(|c| c.text()), Some("1".into()));
}

#[test]
fn attributes_qualified_and_not() {
    let e = p(r#"<E xmlns:s="urn:s" s:mu="true" mu="x" xml:lang="en"/>"#).unwrap();
    assert_eq!(e.attr_ns("urn:s", "mu"), Some("true"));
    assert_eq!(e.attr("mu"), Some("x"));
    assert_eq!(e.attr_ns(XML_NS, "lang"), Some("en"));
}

#[test]
fn entities_and_cdata() {
    let e = p("<E>a&amp;b&lt;<![CDATA[<raw>]]>&#65;</E>").unwrap();
    assert_eq!(e.text(), "a&b<<raw>A");
}

#[test]
fn refusals() {
    assert!(matches!(
        p("<!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>"),
        Err(XmlError::Doctype)
    ));
    assert!(matches!(p("<a><b></a>"), Err(XmlError::Malformed { .. })));
    assert!(matches!(p("<p:a/>"), Err(XmlError::UnboundPrefix { .. })));
    assert!(matches!(p("<a/><b/>"), Err(XmlError::NoRoot)));
    assert!(matches!(p(""), Err(XmlError::NoRoot)));
    assert!(matches!(p("text"), Err(XmlError::NoRoot)));
    assert!(p("<a>").is_err());
    assert!(matches!(
        p("<a>&unknown;</a>"),
        Err(XmlError::Malformed { .. })
    ));
}

#[test]
fn depth_is_bounded() {
    let deep = "<a>".repeat(100) + &"</a>".repeat(100);
    assert!(matches!(p(&deep), Err(XmlError::TooDeep { limit: 64 })));
    let ok = "<a>".repeat(60) + &"</a>".repeat(60);
    assert!(p(&ok).is_ok());
}

#[test]
fn attributes_and_elements_are_bounded() {
    let attrs: String = (0..100).map(|i| format!(" a{i}=\"v\"")).collect();
    assert!(matches!(
        p(&format!("<a{attrs}/>")),
        Err(XmlError::TooManyAttributes { .. })
    ));
    let limits = Limits {
        max_elements: 10,
        ..Limits::default()
    };
    let many = format!("<a>{}</a>", "<b/>".repeat(20));
    assert!(matches!(
        parse(&many, &limits),
        Err(XmlError::TooManyElements { limit: 10 })
    ));
    // Duplicate attributes are malformed.
    assert!(p(r#"<a x="1" x="2"/>"#).is_err());
}

#[test]
fn writer_balances_and_escapes() {
    let mut w = Writer::new();
    w.start("a:x", &[("k", "\"<&>")])
        .leaf("a:y", &[], "1<2")
        .leaf("a:z", &[], "")
        .start("a:e", &[])
        .end();
    assert_eq!(
        w.finish(),
        r#"<a:x k="&quot;&lt;&amp;&gt;"><a:y>1&lt;2</a:y><a:z></a:z><a:e/></a:x>"#
    );
}

mod props {
    use super::*;
    use proptest::prelude::*;

    fn name() -> impl Strategy<Value = String> {
        "[a-zA-Z][a-zA-Z0-9_]{0,8}"
    }

    fn element(depth: u32) -> BoxedStrategy<Element> {
        let leaf = (
            proptest::option::of(prop_oneof![
                Just("urn:a".to_owned()),
                Just("urn:b".to_owned())
            ]),
            name(),
            proptest::collection::vec((name(), "[ -~éü€😀\t\n]{0,12}"), 0..3),
            "[ -~éü€😀]{0,16}",
        )
            .prop_map(|(ns, n, attrs, text)| {
                let mut e = Element::new(ns.as_deref(), &n);
                let mut seen = std::collections::HashSet::new();
                for (k, v) in attrs {
                    if seen.insert(k.clone()) {
                        e.attributes.push(Attribute {
                            ns: None,
                            name: k,
                            value: v,
                        });
                    }
                }
                if !text.is_empty() {
                    e.children.push(Node::Text(text));
                }
                e
            });
        if depth == 0 {
            return leaf.boxed();
        }
        (leaf, proptest::collection::vec(element(depth - 1), 0..3))
            .prop_map(|(mut e, kids)| {
                for k in kids {
                    e.children.push(Node::Element(k));
                }
                e
            })
            .boxed()
    }

    fn normalise(mut e: Element) -> Element {
        e.prefix = None;
        // Adjacent text runs merge on re-parse; CR normalises to LF per XML end-of-line rules.
        let mut kids: Vec<Node> = Vec::new();
        for c in e.children {
            match c {
                Node::Element(x) => kids.push(Node::Element(normalise(x))),
                Node::Text(t) => {
                    if let Some(Node::Text(prev)) = kids.last_mut() {
                        prev.push_str(&t);
                    } else {
                        kids.push(Node::Text(t));
                    }
                }
            }
        }
        e.children = kids;
        e
    }

    proptest! {
        #[test]
        fn write_then_parse_is_identity(e in element(3)) {
            let xml = e.to_xml();
            let back = parse(&xml, &Limits::default()).map_err(|err| TestCaseError::fail(format!("{err}: {xml}")))?;
            prop_assert_eq!(normalise(back), normalise(e));
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,200}") {
            let _ = parse(&s, &Limits::default());
        }

        #[test]
        fn parse_never_panics_on_xmlish(s in "[<>/a-c:=\"' &;!\\[\\]?x-]{0,120}") {
            let _ = parse(&s, &Limits::default());
        }
    }
}

#[test]
fn non_ascii_names_and_prefixes_are_kept_exactly() {
    let e =
        p(r#"<ñs:Élément xmlns:ñs="urn:ñ" ñs:clé="v" été="w"><ñs:enfant/></ñs:Élément>"#).unwrap();
    assert!(e.is("urn:ñ", "Élément"));
    assert_eq!(e.prefix.as_deref(), Some("ñs"));
    assert_eq!(e.attr_ns("urn:ñ", "clé"), Some("v"));
    assert_eq!(e.attr("été"), Some("w"));
    assert!(e.child("urn:ñ", "enfant").is_some());
}

#[test]
fn names_taken_from_the_input_match_input_text() {
    let input = "<a:b xmlns:a=\"urn:x\"/>";
    assert_eq!(input_text(input, &input.as_bytes()[1..2]), "a");
    // A slice that is not part of the input is still converted.
    assert_eq!(input_text(input, b"other"), "other");
    assert_eq!(input_text(input, b"caf\xc3\xa9"), "café");
}

#[test]
fn namespace_declarations_count_as_attributes() {
    let decls: String = (0..100).map(|i| format!(" xmlns:a{i}=\"{i}\"")).collect();
    assert!(matches!(
        p(&format!("<e{decls}/>")),
        Err(XmlError::TooManyAttributes { limit: 64 })
    ));
    let decls: String = (0..64).map(|i| format!(" xmlns:a{i}=\"{i}\"")).collect();
    assert!(p(&format!("<e{decls}/>")).is_ok());
}

#[test]
fn namespace_declarations_in_scope_are_bounded() {
    // Three open elements of 50 declarations each: 150 in scope, over the 128 allowed.
    let level = |l: usize| -> String {
        let decls: String = (0..50).map(|i| format!(" xmlns:l{l}n{i}=\"u\"")).collect();
        format!("<e{decls}>")
    };
    let doc = format!("{}{}{}", level(0), level(1), level(2)) + &"</e>".repeat(3);
    assert!(matches!(
        p(&doc),
        Err(XmlError::TooManyNamespaces { limit: 128 })
    ));
    // Siblings do not add up: each one's declarations leave scope with it.
    let siblings = format!("<r>{}</r>", format!("{}</e>", level(0)).repeat(10));
    assert!(p(&siblings).is_ok());
}

#[test]
fn the_issue_repro_is_refused_in_linear_time() {
    // 25,000 declarations on one element (half a megabyte): refused after one pass. Cost
    // is checked by counting, never timing: the refusal happens before any name lookup.
    let decls: String = (0..25_000)
        .map(|i| format!(" xmlns:a{i}=\"{i}\""))
        .collect();
    let doc = format!(
        "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Header><e{decls}/></s:Header><s:Body/></s:Envelope>"
    );
    assert!(matches!(
        p(&doc),
        Err(XmlError::TooManyAttributes { limit: 64 })
    ));
}

#[test]
fn characters_xml_forbids_are_refused() {
    for doc in [
        "<a>x\u{0}y</a>",
        "<a>a&#1;b</a>",
        "<a>a&#x1F;b</a>",
        "<a v=\"&#0;\"/>",
        "<a v=\"\u{1}\"/>",
        "<a>\u{FFFE}</a>",
        "<a>&#xFFFF;</a>",
        "<a\u{7}/>",
    ] {
        // `&#0;` the reader refuses itself (Malformed); the rest are ours.
        assert!(
            matches!(
                p(doc),
                Err(XmlError::ForbiddenCharacter { .. } | XmlError::Malformed { .. })
            ),
            "{doc:?}: {:?}",
            p(doc)
        );
    }
    let ok =
        p("<a v=\"&#9;&#10;&#13;\">\t\r\n&#x20;&#xD7FF;&#xE000;&#xFFFD;&#x10000;</a>").unwrap();
    assert_eq!(ok.attr("v"), Some("\t\n\r"));
}

/// XML 1.0 `Char` read one character at a time, as the specification states it: the
/// reference the block-wise [`check_chars`] is held to.
fn first_forbidden_char(text: &str) -> Option<u32> {
    text.chars()
        .find(|&c| {
            (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{FFFE}' | '\u{FFFF}')
        })
        .map(u32::from)
}

#[test]
fn forbidden_characters_are_found_in_every_position_of_a_block() {
    for len in [0usize, 1, 31, 32, 33, 64, 100] {
        for at in 0..len {
            for bad in ['\u{1}', '\u{1F}', '\u{FFFE}', '\u{FFFF}'] {
                let mut text: String = "a".repeat(at);
                text.push(bad);
                text.push_str(&"b".repeat(len - at));
                assert_eq!(
                    check_chars(&text),
                    Err(XmlError::ForbiddenCharacter {
                        code: u32::from(bad)
                    }),
                    "{bad:?} at {at} of {len}"
                );
            }
        }
        // The characters next to the forbidden ones pass.
        let fine = format!("{}\t\n\r\u{FFFD}\u{EFFF}\u{FEFF}", "x".repeat(len));
        assert_eq!(check_chars(&fine), Ok(()));
    }
}

mod check_chars_properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn agrees_with_the_specification(
            text in "[a-z<>\"=/ \t\n\r\u{1}-\u{1F}\u{7F}é€\u{FFFD}\u{FFFE}\u{FFFF}\u{EFBF}😀]{0,120}",
        ) {
            let expected = first_forbidden_char(&text)
                .map(|code| XmlError::ForbiddenCharacter { code });
            prop_assert_eq!(check_chars(&text).err(), expected);
        }
    }
}

#[test]
fn a_start_tag_with_only_whitespace_after_its_name_has_no_attributes() {
    let e = p("<a \n\t><b\r\n/></a>").unwrap();
    assert!(e.attributes.is_empty());
    assert!(e.child_ignore_case("b").unwrap().attributes.is_empty());
    // Anything else after the name is read as attributes, and refused when it is not one.
    assert!(matches!(p("<a b/>"), Err(XmlError::Malformed { .. })));
    assert!(matches!(
        p("<a x=\"1\" x=\"2\"/>"),
        Err(XmlError::Malformed { .. })
    ));
}

/// What we write is read by other parsers: roxmltree (independent of ours) accepts any text and
/// attribute value escaped by `escape_text`/`escape_attr`, controls included, and reads back the
/// value with each control XML forbids replaced by U+FFFD.
mod escaped_values_are_well_formed {
    use super::*;
    use proptest::prelude::*;

    fn expected(value: &str) -> String {
        value
            .chars()
            .map(|c| match c {
                '\t' | '\n' | '\r' => c,
                c if (c as u32) < 0x20 => '\u{FFFD}',
                '\u{FFFE}' | '\u{FFFF}' => '\u{FFFD}',
                c => c,
            })
            .collect()
    }

    proptest! {
        #[test]
        fn for_another_parser(value in "[a-z<>&\"' \t\n\r\u{0}-\u{1F}\u{7F}é€\u{FFFD}\u{FFFE}\u{FFFF}\u{F000}😀]{0,80}") {
            let document = format!(
                "<a x=\"{}\">{}</a>",
                escape_attr(&value),
                escape_text(&value)
            );
            let parsed = roxmltree::Document::parse(&document);
            prop_assert!(parsed.is_ok(), "{:?}: {:?}", document, parsed.err());
            let parsed = parsed.unwrap();
            let root = parsed.root_element();
            // Element content: parsers may turn a literal CR (CRLF) into LF; compare both so.
            let lf = |text: &str| text.replace("\r\n", "\n").replace('\r', "\n");
            prop_assert_eq!(lf(root.text().unwrap_or("")), lf(&expected(&value)));
            let attribute_expected = expected(&value);
            prop_assert_eq!(root.attribute("x"), Some(attribute_expected.as_str()));
        }
    }
}

#[test]
fn an_escape_in_a_command_line_is_replaced_not_written() {
    assert_eq!(escape_text("a\u{1b}[31mb"), "a\u{FFFD}[31mb");
    assert_eq!(escape_attr("\u{0}"), "\u{FFFD}");
    // U+FFFF from a query string: found by the management fuzz target in the Events search.
    assert_eq!(escape_text("5\u{FFFF}xt"), "5\u{FFFD}xt");
    // U+FFFD (EF BF BD) and U+F000 (EF 80 80) share the lead byte of U+FFFE and U+FFFF: kept.
    assert_eq!(
        escape_attr("\u{FFFE}\"\u{FFFD}\u{F000}"),
        "\u{FFFD}&quot;\u{FFFD}\u{F000}"
    );
}

/// An element is written with the prefixes it came with (a reference parameter echoed as
/// Windows echoes it: `<e:Identifier xmlns:e=...>`), and a kept prefix bound to another
/// namespace in scope, or one a generated prefix would take, is never reused.
#[test]
fn to_xml_keeps_the_source_prefixes_and_never_rebinds_one() {
    let p = |s: &str| parse(s, &Limits::default()).expect("parses");
    let echoed = "<e:Identifier xmlns:e=\"urn:eventing\">7D3C</e:Identifier>";
    assert_eq!(p(echoed).to_xml(), echoed);
    let clash = p("<a:x xmlns:a=\"urn:one\"><b:y xmlns:b=\"urn:two\"><a:z xmlns:a=\"urn:three\"/></b:y></a:x>");
    assert_eq!(
        clash.to_xml(),
        "<a:x xmlns:a=\"urn:one\"><b:y xmlns:b=\"urn:two\"><ns2:z xmlns:ns2=\"urn:three\"/></b:y></a:x>"
    );
    let generated = p("<ns1:x xmlns:ns1=\"urn:one\"><y xmlns=\"urn:two\"/></ns1:x>");
    assert_eq!(
        generated.to_xml(),
        "<ns1:x xmlns:ns1=\"urn:one\"><ns2:y xmlns:ns2=\"urn:two\"/></ns1:x>"
    );
}

/// A tag's refusals come in one order however its attributes are read (in one pass when the
/// tag declares no namespace, in two when it does): its shape first (a repeated attribute,
/// too many, then too many declarations in scope), then the first name refused. A pass that
/// refused names as it met them would answer `UnboundPrefix` in each of these.
#[test]
fn the_first_refusal_of_a_tag_is_its_shape_then_its_names() {
    let repeated = |doc: &str| match p(doc) {
        Err(XmlError::Malformed { reason, .. }) => reason.contains("duplicated attribute"),
        _ => false,
    };
    assert!(repeated(r#"<a p:x="1" y="2" y="3"/>"#));
    assert!(repeated(r#"<a xmlns:q="urn:q" p:x="1" y="2" y="3"/>"#));
    let many: String = (0..64).map(|i| format!(" a{i}=\"{i}\"")).collect();
    assert!(matches!(
        p(&format!("<a p:x=\"1\"{many}/>")),
        Err(XmlError::TooManyAttributes { limit: 64 })
    ));
    let level =
        |l: usize| -> String { (0..50).map(|i| format!(" xmlns:l{l}n{i}=\"u\"")).collect() };
    let doc = format!(
        "<e{}><e{}><e{} p:x=\"1\"/></e></e>",
        level(0),
        level(1),
        level(2)
    );
    assert!(matches!(
        p(&doc),
        Err(XmlError::TooManyNamespaces { limit: 128 })
    ));
    // Without a problem of shape, the name is what is refused, read in one pass or two.
    for doc in [r#"<a y="1" p:x="1"/>"#, r#"<a xmlns:q="urn:q" p:x="1"/>"#] {
        assert!(matches!(p(doc), Err(XmlError::UnboundPrefix { prefix }) if prefix == "p"));
    }
}

/// Every element's and attribute's namespace is the one another parser (roxmltree) resolves,
/// with more URIs in a document than the parser keeps as text (it keeps a few and checks the
/// others again), in any order of use, redeclared below the root, as prefixes and as the
/// default namespace.
mod namespaces_agree_with_another_parser {
    use super::*;
    use proptest::prelude::*;

    /// `(element URI, attribute URI, redeclare the default namespace)` per child: URIs by
    /// number, of twelve.
    fn document(children: &[(usize, usize, bool)]) -> String {
        let declarations: String = (0..12)
            .map(|i| format!(" xmlns:p{i}=\"urn:u{i}\""))
            .collect();
        let mut doc = format!("<p0:root{declarations}>");
        for (index, &(element, attribute, default)) in children.iter().enumerate() {
            if default {
                doc += &format!(
                    "<c{index} xmlns=\"urn:d{element}\" p{attribute}:a=\"{index}\" b=\"x\"><p{element}:in/></c{index}>"
                );
            } else {
                doc += &format!("<p{element}:c{index} p{attribute}:a=\"{index}\"/>");
            }
        }
        doc + "</p0:root>"
    }

    fn ours(element: &Element, out: &mut Vec<String>) {
        out.push(format!("{:?} {}", element.ns, element.name));
        for a in &element.attributes {
            out.push(format!("@{:?} {}={}", a.ns, a.name, a.value));
        }
        for child in element.elements() {
            ours(child, out);
        }
    }

    fn theirs(node: roxmltree::Node<'_, '_>, out: &mut Vec<String>) {
        let tag = node.tag_name();
        out.push(format!(
            "{:?} {}",
            tag.namespace().map(str::to_owned),
            tag.name()
        ));
        for a in node.attributes() {
            out.push(format!(
                "@{:?} {}={}",
                a.namespace().map(str::to_owned),
                a.name(),
                a.value()
            ));
        }
        for child in node.children().filter(roxmltree::Node::is_element) {
            theirs(child, out);
        }
    }

    proptest! {
        #[test]
        fn for_any_order_of_use(children in proptest::collection::vec((0..12usize, 0..12usize, any::<bool>()), 0..40)) {
            let doc = document(&children);
            let (mut a, mut b) = (Vec::new(), Vec::new());
            ours(&p(&doc).map_err(|e| TestCaseError::fail(format!("{e}: {doc}")))?, &mut a);
            theirs(roxmltree::Document::parse(&doc).map_err(|e| TestCaseError::fail(e.to_string()))?.root_element(), &mut b);
            prop_assert_eq!(a, b);
        }
    }
}

/// Text and attribute values are unescaped from the input's own text, without the reader's
/// decoding step: every reference the reader's unescaping refuses is refused, in its words.
#[test]
fn references_are_refused_as_the_readers_unescaping_refuses_them() {
    for reference in ["&bogus;", "&amp", "&#xZZ;", "&#;", "&#1114112;", "&;"] {
        let expected = quick_xml::events::BytesText::from_escaped(format!("x{reference}"))
            .unescape()
            .unwrap_err()
            .to_string();
        for doc in [
            format!("<a>x{reference}</a>"),
            format!("<a v=\"x{reference}\"/>"),
        ] {
            match p(&doc) {
                Err(XmlError::Malformed { reason, .. }) => assert_eq!(reason, expected, "{doc}"),
                other => panic!("{doc}: {other:?}"),
            }
        }
    }
    // And what it accepts reads the same.
    let e = p("<a v=\"&lt;&#65;&#x42;&quot;\">&gt;&#233;&amp;</a>").unwrap();
    assert_eq!((e.attr("v"), e.text().as_str()), (Some("<AB\""), ">é&"));
}

/// A repeated attribute is refused with the reader's own error (its `with_checks(true)`), at
/// the same positions, wherever the repeat is and however many attributes come before it (in
/// place, and past the first sixteen, which the pass keeps in a list).
#[test]
fn a_repeated_attribute_is_the_readers_own_refusal() {
    for before in [0usize, 1, 5, 14, 15, 16, 17, 30, 62] {
        let others: String = (0..before).map(|i| format!(" a{i}=\"{i}\"")).collect();
        for doc in [
            format!("<e x=\"1\"{others} x=\"2\"/>"),
            format!("<e{others} x=\"1\" x='2'>t</e>"),
            format!("<e{others} p:x=\"1\" a0=\"2\" p:x=\"3\"/>"),
        ] {
            let mut reader = quick_xml::Reader::from_str(&doc);
            let start = match reader.read_event().unwrap() {
                Event::Start(start) | Event::Empty(start) => start,
                other => panic!("{other:?}"),
            };
            let expected = start
                .attributes()
                .with_checks(true)
                .find_map(Result::err)
                .expect("the reader refuses it")
                .to_string();
            match parse(&doc, &Limits::default()) {
                Err(XmlError::Malformed { reason, .. }) => assert_eq!(reason, expected, "{doc}"),
                other => panic!("{doc}: {other:?}"),
            }
        }
    }
    let distinct: String = (0..40).map(|i| format!(" a{i}=\"{i}\"")).collect();
    assert!(parse(&format!("<e{distinct}/>"), &Limits::default()).is_ok());
}
