//! A host's failure in words an administrator acts on: what failed and what to do, from the
//! raw text the client, the network or the host gave (a WS-Management fault, a D-Bus socket
//! path, a refused connection). The pages show this line with the raw text one click away.
//! Pure: text in, words out.

/// What failed and what to do about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Explanation {
    /// What failed, in one sentence.
    pub what: &'static str,
    /// What to do about it, in one sentence.
    pub advice: &'static str,
}

/// The kinds of failure told apart, most specific first: the first whose marker the raw
/// text holds (ignoring case) explains it.
const KINDS: [(&[&str], Explanation); 9] = [
    (
        &["accessdenied", "access denied"],
        Explanation {
            what: "The host refused the console's account access to this.",
            advice: "Make the [[Host]]'s account an administrator on the host, or grant it in the host's RootSDDL.",
        },
    ),
    (
        &["http 401", "refused the credentials", "authentication failed"],
        Explanation {
            what: "The host did not accept the console's user name or password.",
            advice: "Check the [[Host]]'s Username and PasswordFile in mgmt.toml, and that the account may log on to the host.",
        },
    ),
    (
        &["dbus", "d-bus", "system_bus_socket", "org.freedesktop"],
        Explanation {
            what: "The host could not reach its service manager (systemd, over D-Bus).",
            advice: "On the host, check that systemd and D-Bus run (systemctl status dbus); services and their logs need them.",
        },
    ),
    (
        &["journal"],
        Explanation {
            what: "The host could not read its journal.",
            advice: "On the host, check that systemd-journald runs and that wsmand may read the journal.",
        },
    ),
    (
        &["no answer within", "timed out", "timeout"],
        Explanation {
            what: "The host did not answer in time.",
            advice: "Check that the host is up and not overloaded, then reload the page.",
        },
    ),
    (
        &["tls", "certificate", "handshake"],
        Explanation {
            what: "The secure (TLS) connection to the host failed.",
            advice: "Check the host's certificate and the [[Host]]'s Url; for a self-signed certificate set SkipCACheck.",
        },
    ),
    (
        &["failed to lookup", "name or service not known", "name resolution", "dns"],
        Explanation {
            what: "The host's name does not resolve.",
            advice: "Check the host name in the [[Host]]'s Url, and the console machine's DNS.",
        },
    ),
    (
        &["connection to", "connection refused", "unreachable", "connection reset"],
        Explanation {
            what: "Nothing answered at the host's address.",
            advice: "Check that wsmand (or WinRM) runs on the host and that the [[Host]]'s Url and port are right and open.",
        },
    ),
    (
        &["ws-management fault", "http status", "invalid response"],
        Explanation {
            what: "The host refused or could not serve the request.",
            advice: "The detail names the host's fault; the same winrm command shows it on the host.",
        },
    ),
];

/// The explanation of `raw`; a failure of no known kind gets a general one.
pub fn explain(raw: &str) -> Explanation {
    let lowered = raw.to_lowercase();
    KINDS
        .iter()
        .find(|(markers, _)| markers.iter().any(|m| lowered.contains(m)))
        .map_or(
            Explanation {
                what: "Reading the host failed.",
                advice: "The detail is what the host or the network said; reload the page to try again.",
            },
            |(_, explanation)| *explanation,
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_failure_is_named() {
        let cases = [
            ("WS-Management fault w:AccessDenied: Access is denied.", "refused the console's account"),
            ("the server refused the credentials (HTTP 401)", "user name or password"),
            (
                "Win32_Service: WS-Management fault wsman:InternalError: Failed to connect to socket /run/dbus/system_bus_socket: No such file or directory",
                "service manager",
            ),
            ("no answer within 10 s", "did not answer in time"),
            ("TLS error: invalid peer certificate: UnknownIssuer", "TLS"),
            ("connection to 127.0.0.1:9 failed: Connection refused (os error 111)", "Nothing answered"),
            ("the server answered with HTTP status 500", "could not serve"),
            ("something new", "Reading the host failed"),
        ];
        for (raw, words) in cases {
            let explained = explain(raw);
            assert!(explained.what.contains(words), "{raw}: {explained:?}");
        }
    }
}
