//! `wevtutil /?`, `wevtutil COMMAND /?` and `wevtutil --generate man|bash|zsh|fish`: help, the
//! man page and the completions come from the same texts (and the completions from the option
//! table of [`crate::args`]), so they cannot disagree.

use wsman_cli::switches::{completion_script, CompletionShell, ManPage, ManSection};

/// The first line of help, and the man page's NAME.
const SUMMARY: &str = "query the systemd journal as Windows event logs";

const USAGE: &str = "\
  wevtutil el                      list the event logs
  wevtutil gl LOG                  show a log's configuration
  wevtutil qe LOG [/OPTION:VALUE]...
                                   query events of a log
  wevtutil COMMAND /?              help on one command
";

const DESCRIPTION: &str = "\
The journal is shown as Windows' logs: Security (authentication and audit: sshd, sudo, login,
the audit subsystem, syslog's auth facilities), System (the kernel and system services),
Application (everything else) and Linux/Journal (every entry). Each entry becomes a Windows
event: provider from SYSLOG_IDENTIFIER, level from PRIORITY, record id from the journal's
sequence number, user as S-1-22-1-UID; the full table is in docs/events.md.

Options are written /name:value or -name:value, in short or long form, without case.
";

const EXIT_STATUS: &str = "\
0 success; 1 the query failed (unknown log, unreadable journal); 2 a wrong command line.
";

const HELP_QE: &str = "\
wevtutil qe LOG [/OPTION:VALUE]...   (query-events)

Print the events of LOG (Application, Security, System or Linux/Journal), oldest first.

Options:
  /lf:true               LOG is a journal directory (logfile), read as Linux/Journal
  /q:XPATH               only events the XPath selects (query); Windows' event-query subset:
                         *[System[(Level=1 or Level=2)]], *[System[Provider[@Name='sshd']]],
                         *[System[TimeCreated[timediff(@SystemTime) <= 86400000]]],
                         *[EventData[Data[@Name='_UID']='1000']] ...
  /c:N                   at most N events (count)
  /rd:true               newest first (reversedirection)
  /f:xml|RenderedXml|text
                         event XML (the default), event XML with the rendered message, or
                         readable text (format)
  /e:NAME                wrap the XML output in <NAME>...</NAME> (element)
  /l:LOCALE              accepted and ignored: messages are the journal's own (locale)
  /j:DIR                 read the journal in DIR instead of the host's (journal; a Linux
                         extension: another root's or a copied journal, shown as logs)

Examples:
  wevtutil qe System /c:10 /rd:true /f:text
  wevtutil qe Security /q:\"*[System[Provider[@Name='sshd'] and Level<=3]]\"
  wevtutil qe /var/log/journal /lf:true /c:1 /e:Events
";

const HELP_EL: &str = "\
wevtutil el   (enum-logs)

List the event logs the journal is shown as: Application, Linux/Journal, Security, System.
";

const HELP_GL: &str = "\
wevtutil gl LOG   (get-log)

Show how LOG is made from the journal: which entries it holds and where they are stored.
";

/// The commands' names, short and long, as completions offer them.
const COMMANDS: &[&str] = &["el", "gl", "qe", "enum-logs", "get-log", "query-events"];

/// The help of one command (`el`, `gl`, `qe`), or of them all.
pub(crate) fn topic(topic: Option<&str>) -> String {
    match topic {
        Some("qe") => HELP_QE.to_owned(),
        Some("el") => HELP_EL.to_owned(),
        Some("gl") => HELP_GL.to_owned(),
        _ => format!(
            "wevtutil - {SUMMARY}\n\nUsage:\n{USAGE}\n{DESCRIPTION}\nExit status: {EXIT_STATUS}"
        ),
    }
}

/// A command's help without its first line (the heading the man page's section replaces),
/// and one level (two spaces) less indented: a man page indents its sections itself.
fn body(help: &'static str) -> String {
    dedent(help.split_once("\n\n").map_or(help, |(_, rest)| rest))
}

fn dedent(text: &str) -> String {
    text.lines()
        .map(|line| line.strip_prefix("  ").unwrap_or(line))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `wevtutil(1)` in roff, from the texts of [`topic`].
pub(crate) fn man_page() -> String {
    let (commands, el, gl, qe) = (dedent(USAGE), body(HELP_EL), body(HELP_GL), body(HELP_QE));
    ManPage {
        name: "wevtutil",
        section: 1,
        summary: SUMMARY,
        synopsis: "wevtutil el\nwevtutil gl LOG\nwevtutil qe LOG [/OPTION:VALUE]...\n\
                   wevtutil [COMMAND] /?\nwevtutil --generate man|bash|zsh|fish",
        sections: vec![
            ManSection::Text {
                title: "DESCRIPTION",
                body: DESCRIPTION,
            },
            ManSection::Text {
                title: "COMMANDS",
                body: &commands,
            },
            ManSection::Text {
                title: "EL (ENUM-LOGS)",
                body: &el,
            },
            ManSection::Text {
                title: "GL LOG (GET-LOG)",
                body: &gl,
            },
            ManSection::Text {
                title: "QE LOG (QUERY-EVENTS)",
                body: &qe,
            },
            ManSection::Text {
                title: "EXIT STATUS",
                body: EXIT_STATUS,
            },
        ],
    }
    .to_roff()
}

/// A completion script for `shell`: the commands, and `qe`'s options this host supports.
pub(crate) fn completion(shell: CompletionShell) -> String {
    let options: Vec<String> = crate::args::QE_OPTIONS
        .iter()
        .filter(|(_, long)| !crate::args::WINDOWS_ONLY.contains(long))
        .flat_map(|(short, long)| [format!("/{short}:"), format!("/{long}:")])
        .collect();
    completion_script(shell, "wevtutil", COMMANDS, &options)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_man_page_has_every_option_help_names() {
        let page = man_page();
        let names = crate::args::QE_OPTIONS
            .iter()
            .filter(|(_, long)| !crate::args::WINDOWS_ONLY.contains(long))
            .map(|(short, _)| std::slice::from_ref(short));
        let gaps = wsman_cli::switches::man_page_gaps(
            &topic(Some("qe")).replace('/', "-"),
            &page,
            names,
            "WEVTUTIL 1",
            &[".SH DESCRIPTION", ".SH COMMANDS"],
        );
        assert!(gaps.is_empty(), "{gaps:?}\n{page}");
        for option in ["/lf:", "/query:", "/rd:", "/journal:"] {
            for shell in [
                CompletionShell::Bash,
                CompletionShell::Zsh,
                CompletionShell::Fish,
            ] {
                assert!(completion(shell).contains(option), "{shell:?} {option}");
            }
        }
        assert!(!completion(CompletionShell::Bash).contains("/bm:"));
    }
}
