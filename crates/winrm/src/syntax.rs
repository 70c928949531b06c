//! The pieces of winrm.cmd syntax that are not switches: resource URIs with aliases and
//! `?Key=value+Key2=value` selectors, and `@{Key="value";Key2="value"}` hash tables.

/// An error in what the user typed (exit code 2): the one both commands report.
pub(crate) use wsman_cli::SwitchError as UsageError;
use wsman_proto::ns;

pub(crate) fn usage(msg: impl Into<String>) -> UsageError {
    UsageError::new(msg)
}

/// The CLI's URI aliases (reference §6.1); they never reach the wire.
pub(crate) const ALIASES: &[(&str, &str)] = &[
    ("winrm", ns::RESOURCE_ROOT),
    ("wsman", ns::RESOURCE_ROOT),
    ("wmi", ns::WMI),
    ("wmicimv2", ns::WMI_CIMV2),
    ("cimv2", ns::CIM_SCHEMA),
    ("shell", ns::SHELL),
];

/// A resource URI with its selectors, as typed on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ResourceArg {
    /// Full resource URI, alias expanded, query string removed.
    pub(crate) uri: String,
    pub(crate) selectors: Vec<(String, String)>,
}

/// Expand aliases and split off `?k=v+k2=v2` into selectors.
pub(crate) fn parse_resource(text: &str) -> Result<ResourceArg, UsageError> {
    let text = text.trim();
    let (path, query) = match text.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (text, None),
    };
    let path = path.trim_end_matches('/');
    if path.is_empty() {
        return Err(usage("missing resource URI"));
    }
    if path.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(usage(format!(
            "invalid resource URI {text:?}: contains white space"
        )));
    }
    let uri = if path.contains("://") {
        path.to_owned()
    } else {
        let (head, rest) = match path.split_once('/') {
            Some((h, r)) => (h, Some(r)),
            None => (path, None),
        };
        let Some((_, base)) = ALIASES.iter().find(|(a, _)| a.eq_ignore_ascii_case(head)) else {
            return Err(usage(format!(
                "invalid resource URI {text:?}: use a full URI or start with one of the aliases \
                 winrm, wsman, wmi, wmicimv2, cimv2, shell (see `winrm help aliases`)"
            )));
        };
        match rest {
            Some(r) if !r.is_empty() => format!("{base}/{r}"),
            _ => (*base).to_owned(),
        }
    };
    let mut selectors = Vec::new();
    if let Some(q) = query {
        if q.is_empty() {
            return Err(usage(format!("empty selector list after '?' in {text:?}")));
        }
        for pair in q.split('+') {
            let Some((k, v)) = pair.split_once('=') else {
                return Err(usage(format!("selector {pair:?} is not Key=value")));
            };
            let k = k.trim();
            if k.is_empty() {
                return Err(usage(format!("selector {pair:?} has no name")));
            }
            if selectors
                .iter()
                .any(|(n, _): &(String, String)| n.eq_ignore_ascii_case(k))
            {
                return Err(usage(format!("selector {k:?} given twice")));
            }
            selectors.push((k.to_owned(), unquote(v.trim()).to_owned()));
        }
    }
    Ok(ResourceArg { uri, selectors })
}

fn unquote(v: &str) -> &str {
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return &v[1..v.len() - 1];
        }
    }
    v
}

/// Parse `@{Key="value";Key2="value 2"}`. Quotes (double or single) protect `;`, `}` and spaces;
/// unquoted values are accepted too, because a Unix shell strips the double quotes before
/// winrm sees them. Keys must be unique (compared without case).
pub(crate) fn parse_hash(text: &str) -> Result<Vec<(String, String)>, UsageError> {
    let t = text.trim();
    let inner = t
        .strip_prefix("@{")
        .and_then(|r| r.strip_suffix('}'))
        .ok_or_else(|| usage(format!("{text:?} is not a @{{Key=\"value\";...}} table")))?;
    let mut out: Vec<(String, String)> = Vec::new();
    let mut chars = inner.chars().peekable();
    loop {
        // key
        let mut key = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ';' {
                break;
            }
            key.push(c);
            chars.next();
        }
        let key = key.trim().to_owned();
        match chars.next() {
            None if key.is_empty() => break,
            Some(';') if key.is_empty() => continue,
            Some('=') => {}
            _ => return Err(usage(format!("{key:?} in {text:?} has no =\"value\""))),
        }
        if key.is_empty() {
            return Err(usage(format!("an entry of {text:?} has no name")));
        }
        // value
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        match chars.peek().copied() {
            Some(q @ ('"' | '\'')) => {
                chars.next();
                let mut closed = false;
                for c in chars.by_ref() {
                    if c == q {
                        closed = true;
                        break;
                    }
                    value.push(c);
                }
                if !closed {
                    return Err(usage(format!("unterminated quote in the value of {key:?}")));
                }
                while chars.peek().is_some_and(|c| c.is_whitespace()) {
                    chars.next();
                }
                match chars.next() {
                    None | Some(';') => {}
                    Some(c) => {
                        return Err(usage(format!(
                            "unexpected {c:?} after the quoted value of {key:?} (separate entries with ';')"
                        )))
                    }
                }
            }
            _ => {
                for c in chars.by_ref() {
                    if c == ';' {
                        break;
                    }
                    value.push(c);
                }
                value = value.trim().to_owned();
            }
        }
        if out.iter().any(|(k, _)| k.eq_ignore_ascii_case(&key)) {
            return Err(usage(format!("{key:?} given twice in {text:?}")));
        }
        out.push((key, value));
    }
    Ok(out)
}

/// Re-join a hash table a shell split at spaces: `@{a="x"; b="y"}` unquoted arrives as
/// `@{a=x;` and `b=y}`.
pub(crate) fn join_split_hashes(args: Vec<String>) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut pending: Option<String> = None;
    for a in args {
        match pending.as_mut() {
            Some(p) => {
                p.push(' ');
                p.push_str(&a);
                if a.trim_end().ends_with('}') {
                    out.extend(pending.take());
                }
            }
            None if a.starts_with("@{") && !a.trim_end().ends_with('}') => pending = Some(a),
            None => out.push(a),
        }
    }
    out.extend(pending);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    #[test]
    fn aliases_expand() {
        for (resource, uri) in [
            (
                "winrm/config/service",
                "http://schemas.microsoft.com/wbem/wsman/1/config/service",
            ),
            (
                "WSMAN/config",
                "http://schemas.microsoft.com/wbem/wsman/1/config",
            ),
            (
                "wmicimv2/Win32_Service",
                "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/cimv2/Win32_Service",
            ),
            (
                "cimv2/CIM_Foo",
                "http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_Foo",
            ),
            (
                "shell",
                "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
            ),
            (
                "wmi/root/default/StdRegProv",
                "http://schemas.microsoft.com/wbem/wsman/1/wmi/root/default/StdRegProv",
            ),
        ] {
            assert_eq!(
                parse_resource(resource).map(|r| r.uri),
                Ok(uri.to_owned()),
                "{resource}"
            );
        }
        assert!(parse_resource("nosuchalias/x").is_err());
        assert!(parse_resource("").is_err());
    }

    #[test]
    fn full_uris_are_kept() {
        let u = "http://schemas.microsoft.com/wbem/wsman/1/config/Listener";
        assert_eq!(parse_resource(u).map(|r| r.uri), Ok(u.to_owned()));
    }

    #[test]
    fn query_becomes_selectors_never_part_of_uri() {
        let r = parse_resource("winrm/config/Listener?Address=*+Transport=HTTP")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            r.uri,
            "http://schemas.microsoft.com/wbem/wsman/1/config/Listener"
        );
        assert_eq!(
            r.selectors,
            pairs(&[("Address", "*"), ("Transport", "HTTP")])
        );
        let r = parse_resource("winrm/config/listener?Address=IP:10.0.0.1+Transport=\"HTTPS\"")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            r.selectors,
            pairs(&[("Address", "IP:10.0.0.1"), ("Transport", "HTTPS")])
        );
        for bad in [
            "winrm/config/listener?",
            "winrm/config/listener?Address",
            "x?=1",
            "winrm/config/listener?a=1+A=2",
        ] {
            assert!(parse_resource(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hash_tables() {
        assert_eq!(
            parse_hash("@{AllowUnencrypted=\"true\"}"),
            Ok(pairs(&[("AllowUnencrypted", "true")]))
        );
        assert_eq!(
            parse_hash("@{ Hostname = \"my host; x}\" ; Port=\"5986\" }"),
            Ok(pairs(&[("Hostname", "my host; x}"), ("Port", "5986")]))
        );
        // What bash leaves of @{AllowUnencrypted="true";Basic="true"}.
        assert_eq!(
            parse_hash("@{AllowUnencrypted=true;Basic=true}"),
            Ok(pairs(&[("AllowUnencrypted", "true"), ("Basic", "true")]))
        );
        assert_eq!(
            parse_hash("@{a='x y';b=\"\"}"),
            Ok(pairs(&[("a", "x y"), ("b", "")]))
        );
        assert_eq!(parse_hash("@{a=1;}"), Ok(pairs(&[("a", "1")])));
        assert_eq!(parse_hash("@{}"), Ok(vec![]));
        assert_eq!(
            parse_hash("@{TrustedHosts=\"a=b,c\"}"),
            Ok(pairs(&[("TrustedHosts", "a=b,c")]))
        );
        for bad in [
            "{a=1}",
            "@{a=1",
            "@{a}",
            "@{=1}",
            "@{a=\"1}",
            "@{a=\"1\"x}",
            "@{a=1;A=2}",
        ] {
            assert!(parse_hash(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rejoins_hashes_split_by_the_shell() {
        let args: Vec<String> = ["set", "winrm/config", "@{a=1;", "b=2}", "-r:x"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        assert_eq!(
            join_split_hashes(args),
            vec!["set", "winrm/config", "@{a=1; b=2}", "-r:x"]
        );
    }
}
