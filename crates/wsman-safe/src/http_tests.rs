use super::*;
use proptest::prelude::*;

fn ok(input: &str) -> HttpAddress {
    HttpAddress::parse(input, false).unwrap_or_else(|e| panic!("{input}: {e}"))
}

#[test]
fn defaults_are_winrm_s() {
    let a = ok("http://siem.example.com/events");
    assert_eq!(
        (a.scheme, a.host.as_str(), a.port),
        (Scheme::Http, "siem.example.com", 5985)
    );
    assert_eq!(ok("https://h").port, 5986);
    assert_eq!(ok("h").scheme, Scheme::Http);
    assert_eq!(
        HttpAddress::parse("h", true).expect("parses").scheme,
        Scheme::Https
    );
    assert_eq!(ok("http://[::1]:8080/x").to_string(), "http://[::1]:8080/x");
    assert_eq!(ok("HTTPS://h").to_string(), "https://h:5986/wsman");
}

#[test]
fn refusals() {
    for bad in [
        "",
        "h:0",
        "h:70000",
        "[::1",
        "[zz]:1",
        "ftp://h",
        "http://u@h",
        "https://user@siem.example.com/",
        "a b",
        "http://h/p?x=1",
        "https://other.example.com?siem.example.com",
        "http://",
    ] {
        assert!(HttpAddress::parse(bad, false).is_err(), "{bad:?} accepted");
    }
    assert!(HttpAddress::parse("http://h", true).is_err());
}

#[test]
fn named_by_host_or_host_and_the_port_connected_to() {
    let a = ok("https://SIEM.example.com/wsman");
    assert!(a.is_named_by("siem.example.com"));
    assert!(a.is_named_by("siem.example.com:5986"));
    // The port the connection uses is WinRM's default, not HTTPS's.
    assert!(!a.is_named_by("siem.example.com:443"));
    assert!(!a.is_named_by("siem.example.com.evil.test"));
    let v6 = ok("http://[::1]:8080/x");
    assert!(v6.is_named_by("::1"));
    assert!(v6.is_named_by("[::1]:8080"));
    assert!(!v6.is_named_by("[::1]:8081"));
}

proptest! {
    /// Any text: parsed or refused, never a panic; what a parsed address prints parses back
    /// to the same address.
    #[test]
    fn any_text(text in "\\PC{0,64}", tls in any::<bool>()) {
        if let Ok(address) = HttpAddress::parse(&text, tls) {
            prop_assert!(!address.host.is_empty() && address.port != 0);
            prop_assert!(address.path.starts_with('/'));
            prop_assert_eq!(HttpAddress::parse(&address.to_string(), false), Ok(address));
        }
    }

    /// An address made of a host name or IP, a port and a path parses to those parts, and is
    /// named by its host and by host:port with that port only.
    #[test]
    fn parts(
        host in "[a-z][a-z0-9-]{0,20}(\\.[a-z0-9-]{1,10}){0,3}",
        v6 in any::<u128>(),
        use_v6 in any::<bool>(),
        port in 1u16..,
        other in 1u16..,
        path in "(/[a-zA-Z0-9._-]{1,8}){1,3}",
        https in any::<bool>(),
    ) {
        let host = if use_v6 { std::net::Ipv6Addr::from(v6).to_string() } else { host };
        let bracketed = if use_v6 { format!("[{host}]") } else { host.clone() };
        let scheme = if https { "https" } else { "http" };
        let address = ok(&format!("{scheme}://{bracketed}:{port}{path}"));
        prop_assert_eq!(&address.host, &host);
        prop_assert_eq!(address.port, port);
        prop_assert_eq!(&address.path, &path);
        prop_assert!(address.is_named_by(&host));
        let with_port = format!("{bracketed}:{port}");
        prop_assert!(address.is_named_by(&with_port));
        prop_assert_eq!(address.is_named_by(&format!("{bracketed}:{other}")), other == port);
    }
}

#[test]
fn the_web_s_defaults_are_a_parameter() {
    let web = |text| HttpAddress::parse_with(text, false, Defaults::WEB);
    let a = web("https://hec.example.com").expect("parses");
    assert_eq!((a.port, a.path.as_str()), (443, "/"));
    let b = web("http://[::1]/services/collector/").expect("parses");
    assert_eq!((b.host.as_str(), b.port), ("::1", 80));
    assert_eq!(b.path, "/services/collector/");
    assert_eq!(web("http://h:9200").expect("parses").port, 9200);
    // A URL names its scheme; user names, queries and fragments are refused as with WinRM's.
    for bad in [
        "hec.example.com",
        "h:8088",
        "http://u:p@h/",
        "http://h/?a",
        "http://h/#f",
    ] {
        assert!(web(bad).is_err(), "{bad:?} accepted");
    }
    assert!(HttpAddress::parse("http://a<b/", false).is_err());
}
