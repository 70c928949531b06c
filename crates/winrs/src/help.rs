//! `winrs -?` and `winrs --generate man`: the text around the switch tables of
//! [`crate::switches`], in one order for both, so help and the man page list the same
//! switches.

use wsman_cli::switches::{docs, help_text, ManPage, ManSection, SwitchDoc};

use crate::switches::{CONNECTION, DETACHED, FAN_OUT, SHELL};

/// The first line of help, and the man page's NAME.
const SUMMARY: &str = "run a command on a remote host over WinRM (WS-Management)";

const USAGE: &str = r#"    winrs -r:HOST|URL [-SWITCH[:VALUE]]... COMMAND [ARGS]...
    winrs -r:HOST|URL [-SWITCH[:VALUE]]... -detach [-idletimeout:MS] COMMAND [ARGS]...
    winrs -r:HOST|URL [-SWITCH[:VALUE]]... -attach:SHELLID | -list
    winrs -r:HOST|URL [-SWITCH[:VALUE]]... -ps SCRIPT...
"#;
const DESCRIPTION: &str = r#"    Opens a remote shell on HOST (a wsmand server or Windows), runs COMMAND in it and
    connects it to this terminal: the remote standard output and standard error are
    written to winrs's own, as they are produced and byte for byte; winrs's standard
    input is forwarded to the command (end of input closes the command's stdin); Ctrl-C
    is sent to the command as a ctrl_c signal. When the command ends, winrs deletes the
    shell and exits with the command's exit code.

    On wsmand, COMMAND and ARGS are joined with spaces and run as `/bin/sh -c "..."`
    (cmd.exe /c on Windows), so quote for the remote shell:
        winrs -r:host 'echo "$HOME"; exit 3'
    With -skipcmdshell, COMMAND is executed directly and each ARG is passed unchanged.

    Switches come before COMMAND; everything from COMMAND on belongs to the command.
    `--` ends the switches. Switch names are case-insensitive. Unlike Windows, only the
    `-` form is accepted (`/r:` would be ambiguous with Linux paths).
"#;
const CLIENT_SETTINGS: &str = r#"    Like Windows, winrs obeys this machine's WinRM client configuration
    (winrm/config/client in $WSMAND_CONFIG_DIR, default /etc/wsmand; set it with
    `winrm set winrm/config/client @{...}`):
    TrustedHosts      Any authentication over plain HTTP but -a:Kerberos needs the host
                      in this list (comma-separated names or addresses, * wildcards, *
                      for all, <local> for names without a dot): without Kerberos, HTTP
                      does not prove who the server is. Empty by default: use HTTPS, or
                      add the host.
    AllowUnencrypted  Must be true for -unencrypted (default false).
"#;
const MANY_HOSTS: &str = r#"    When -r: names several hosts, COMMAND runs on each in a shell of its own, at
    most -parallel: hosts at once, with the same switches and credentials. When
    stdin is not a terminal it is read to its end first (at most 16 MiB, else winrs
    fails with 254 before contacting any host) and every command gets all of it,
    then end of input; from a terminal each command gets end of input at once (use
    </dev/null in scripts whose stdin stays open). Each host's result is written
    when it is done, in the order they finish (see -output:), a host that failed
    with "HOST: error: ..." and a non-zero exit code with "HOST: exit code N" on
    stderr, and at the end one summary line on stderr. On a terminal, stderr shows
    a progress line (done, failed, running, elapsed); not when stderr is a file or
    a pipe. One unreachable or slow host does not hold up the others: it fails
    after the time of -connecttimeout: or of -hosttimeout:.
"#;
const CTRL_C: &str = r#"    The first Ctrl-C sends ctrl_c to the command (SIGINT to its process group on
    wsmand); the command decides what to do, and its exit code is reported as usual
    (130 when SIGINT ended it). A second Ctrl-C terminates the command and ends winrs
    with exit code 130. SIGTERM or SIGHUP (the terminal closed) terminate the command,
    delete the shell and end winrs with 143 or 129.
"#;
const EXIT_STATUS: &str = r#"    0-255   The remote command's exit code. A code outside 0-255 (Windows NTSTATUS
            values such as 3221225786, negative values) is reported as 255, so that a
            failure can never look like success.
    130     Terminated by a second Ctrl-C (also what a command killed by ctrl_c returns).
    129/143 winrs got SIGHUP/SIGTERM; the remote command was terminated.
    250     Usage error: unknown switch, missing value, bad endpoint.
    251     Authentication failed (HTTP 401).
    252     Connection, TLS or HTTP error, or no answer in time.
    253     The server answered with a WS-Management fault (remote shells not allowed,
            quota exceeded, ...) or with a message that is not valid WS-Management.
    254     Local I/O error (reading stdin or the password, writing output).
    With several hosts: 0 when every host ran the command and it exited with 0;
    248     some hosts failed (an error, or an exit code other than 0);
    249     every host failed.
    Errors are printed to stderr the way Windows' tools print them:
        WSManFault
            Message = ...

        Error number:  -2144108526 0x80338012
        ...
"#;
const EXAMPLES: &str = r#"    winrs -r:https://server:5986 -u:alice uname -a
    winrs -r:winhost -u:alice -p:secret whoami       (Negotiate, encrypted over HTTP;
                                                      winhost in Client/TrustedHosts)
    winrs -r:https://server:5986 -a:Certificate -certificate:alice.pem id
    kinit alice@EXAMPLE.COM && winrs -r:server.example.com -a:Kerberos id
    winrs -r:server -a:Basic -un -u:alice -p:secret 'ls -l /var/log | head'
    winrs -r:https://server:5986 -a:CredSSP -u:alice -p:secret 'ssh other id'
    tar cf - dir | winrs -r:server -u:alice -p:secret 'tar xf - -C /tmp'
    winrs -r:server -u:alice /bin/sh              (interactive, line by line)
    winrs -r:@hosts.txt -u:alice -parallel:50 uptime
    winrs -r:web,db1 -u:alice -output:json 'df -h /' | jq -r .stdout
    id=$(winrs -r:server -u:alice -p:secret -detach 'make -C /src 2>&1')
    winrs -r:server -u:alice -p:secret -list
    winrs -r:server -u:alice -p:secret -attach:$id  (from any host, as alice)
"#;

/// One section of help and of the man page.
enum Part {
    Text(&'static str, &'static str),
    Switches(&'static str, Vec<SwitchDoc>),
}

fn parts() -> Vec<Part> {
    vec![
        Part::Text("USAGE", USAGE),
        Part::Text("DESCRIPTION", DESCRIPTION),
        Part::Switches("CONNECTION", docs(CONNECTION)),
        Part::Text("CLIENT SETTINGS", CLIENT_SETTINGS),
        Part::Switches("SHELL", docs(SHELL)),
        Part::Switches("MANY HOSTS", docs(FAN_OUT)),
        Part::Text("RUNNING ON MANY HOSTS", MANY_HOSTS),
        Part::Switches("DETACHED SHELLS", docs(DETACHED)),
        Part::Text("CTRL-C", CTRL_C),
        Part::Text("EXIT STATUS", EXIT_STATUS),
        Part::Text("EXAMPLES", EXAMPLES),
    ]
}

/// The help text (stdout for `-?`, stderr when no command is given).
pub(crate) fn help() -> String {
    let sections: Vec<String> = parts()
        .into_iter()
        .map(|part| match part {
            Part::Text(title, body) => format!("{title}\n{body}"),
            Part::Switches(title, rows) => format!("{title}\n{}", help_text(&rows)),
        })
        .collect();
    format!("winrs - {SUMMARY}\n\n{}", sections.join("\n"))
}

/// A completion script for `shell`, from the same switch tables as [`help`].
pub(crate) fn completion(shell: wsman_cli::switches::CompletionShell) -> String {
    use wsman_cli::switches::{completion_script, completion_words};
    let mut words = completion_words(crate::switches::CONNECTION);
    words.extend(completion_words(crate::switches::SHELL));
    completion_script(shell, "winrs", &[], &words)
}

/// `winrs(1)` in roff, from the same parts as [`help`].
pub(crate) fn man_page() -> String {
    let sections = parts()
        .into_iter()
        .filter(|part| !matches!(part, Part::Text("USAGE", _)))
        .map(|part| match part {
            Part::Text(title, body) => ManSection::Text { title, body },
            Part::Switches(title, rows) => ManSection::Switches { title, rows },
        })
        .collect();
    ManPage {
        name: "winrs",
        section: 1,
        summary: SUMMARY,
        synopsis: USAGE,
        sections,
    }
    .to_roff()
}

#[cfg(test)]
mod tests {
    use super::*;
    use wsman_cli::switches::man_switch_headings;

    #[test]
    fn help_names_every_switch_and_exit_code() {
        let help = help();
        for needle in [
            "-r:",
            "-u:",
            "-p:",
            "-a:Basic",
            "-a:Negotiate",
            "-a:Kerberos",
            "-a:CredSSP",
            "-spn:",
            "-a:Certificate",
            "-certificate:",
            "-transport:",
            "TrustedHosts",
            "AllowUnencrypted",
            "-unencrypted",
            "-usessl",
            "-skipCAcheck",
            "-skipCNcheck",
            "-directory:",
            "-d:",
            "-env:",
            "-noprofile",
            "-nop",
            "-codepage:",
            "-cp:",
            "-skipcmdshell",
            "-timeout:",
            "250",
            "251",
            "252",
            "253",
            "254",
            "130",
            "-parallel:",
            "-output:json",
            "-connecttimeout:",
            "-hosttimeout:",
            "248",
            "249",
        ] {
            assert!(help.contains(needle), "help lacks {needle}");
        }
        assert!(
            help.lines().all(|l| l.chars().count() <= 92),
            "help lines too long"
        );
    }

    #[test]
    fn man_page_and_help_list_the_same_switches() {
        let help = help();
        let page = man_page();
        // Every heading of a switch help shows (four spaces, then `-` or a continuation `|`)...
        let mut in_help: Vec<String> = Vec::new();
        for line in help.lines() {
            if let Some(rest) = line.strip_prefix("    ") {
                if rest.starts_with('|') {
                    if let Some(last) = in_help.last_mut() {
                        last.push(' ');
                        last.push_str(rest);
                    }
                } else if rest.starts_with('-') && !rest.starts_with(' ') {
                    in_help.push(rest.to_owned());
                }
            }
        }
        // ...is a `.TP` heading of the man page, and the other way round.
        assert_eq!(in_help, man_switch_headings(&page), "{page}");
        // Every name the parser answers to is on both.
        let names = CONNECTION
            .iter()
            .chain(FAN_OUT)
            .chain(SHELL)
            .map(|row| row.names);
        let sections = [".SH DESCRIPTION"];
        let gaps = wsman_cli::switches::man_page_gaps(&help, &page, names, "WINRS 1", &sections);
        assert!(gaps.is_empty(), "{gaps:?}");
    }
}
