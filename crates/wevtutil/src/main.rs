//! `wevtutil`: the systemd journal as Windows event logs, with Windows' wevtutil syntax.
//!
//! People who run Windows hosts know `wevtutil qe System /q:"*[System[Level=2]]" /c:10
//! /rd:true /f:text`. This command answers the same on a Linux host, from the journal, through
//! the mapping and the XPath subset that wsmand's eventing uses (`docs/events.md`), so what a
//! query selects here is what a subscription with the same query would deliver.
#![forbid(unsafe_code)]

mod args;
mod help;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use args::{Command, Format, QueryEvents, UsageError};
use wsman_events::journal::{APPLICATION, LINUX_JOURNAL, SECURITY, SYSTEM};
use wsman_events::{ContentFormat, Event, ExportLimits, Mapping, Timestamp, XPath};
use wsman_journal::{Journal, Query, Reader, Start};

/// Exit codes: 0 success, 1 the query failed (unknown log, unreadable journal), 2 the command
/// line is wrong.
const EXIT_FAILED: u8 = 1;
const EXIT_USAGE: u8 = 2;

/// The logs a Linux host has, in the order `el` lists them.
const LOGS: [&str; 4] = [APPLICATION, LINUX_JOURNAL, SECURITY, SYSTEM];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match args::parse(&args) {
        Ok(command) => command,
        Err(UsageError(message)) => {
            eprintln!("wevtutil: {message}");
            eprintln!("Run 'wevtutil /?' for usage.");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let result = match command {
        Command::Help(topic) => {
            print!("{}", help::topic(topic));
            Ok(())
        }
        Command::Man => {
            print!("{}", help::man_page());
            Ok(())
        }
        Command::Completion(shell) => {
            print!("{}", help::completion(shell));
            Ok(())
        }
        Command::EnumLogs => {
            for log in LOGS {
                println!("{log}");
            }
            Ok(())
        }
        Command::GetLog(log) => get_log(&log),
        Command::QueryEvents(query) => query_events(&query),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("wevtutil: {message}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

/// Why a command failed; printed after `wevtutil: `.
#[derive(Debug, thiserror::Error)]
enum Failure {
    #[error(
        "failed to read events of {name:?}: the specified channel could not be found \
         (wevtutil el lists the logs)"
    )]
    UnknownLog { name: String },
    #[error("the query is not valid: {source}")]
    InvalidQuery { source: wsman_events::QueryError },
    #[error("cannot start: {source}")]
    Runtime { source: std::io::Error },
    #[error("failed to read the journal: {source}")]
    Journal { source: wsman_journal::Error },
    #[error("cannot write: {source}")]
    Write { source: std::io::Error },
}

/// The log's canonical name, or why there is none.
fn known_log(name: &str) -> Result<&'static str, Failure> {
    LOGS.iter()
        .find(|log| log.eq_ignore_ascii_case(name))
        .copied()
        .ok_or_else(|| Failure::UnknownLog {
            name: name.to_owned(),
        })
}

fn get_log(name: &str) -> Result<(), Failure> {
    let log = known_log(name)?;
    let holds = match log {
        SECURITY => "authentication and audit entries (sshd, sudo, su, login, audit, syslog auth and authpriv)",
        SYSTEM => "the kernel's and system services' entries",
        APPLICATION => "entries of user services and programs",
        _ => "every journal entry",
    };
    println!("name: {log}");
    println!("enabled: true");
    println!("type: Admin");
    println!("owningPublisher: systemd-journald");
    println!("holds: {holds}");
    println!("logging:");
    println!("  logFileName: /var/log/journal (or /run/log/journal when volatile)");
    println!("  retention: journald.conf (SystemMaxUse=, MaxRetentionSec=)");
    Ok(())
}

fn query_events(request: &QueryEvents) -> Result<(), Failure> {
    let (journal, log) = if request.log_file {
        (
            Journal::Directory(PathBuf::from(&request.log)),
            LINUX_JOURNAL,
        )
    } else {
        let journal = match &request.journal {
            Some(dir) => Journal::Directory(PathBuf::from(dir)),
            None => Journal::System,
        };
        (journal, known_log(&request.log)?)
    };
    let xpath = request
        .query
        .as_deref()
        .map(XPath::parse)
        .transpose()
        .map_err(|source| Failure::InvalidQuery { source })?;
    let query = Query {
        journal,
        start: if request.reverse {
            Start::NewestFirst
        } else {
            Start::Oldest
        },
        ..Query::system()
    };
    let mapping = Mapping {
        computer: host_name(),
        ..Mapping::default()
    };
    let now = Timestamp::from_system_time(SystemTime::now());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(|source| Failure::Runtime { source })?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let users = Users::read();
    runtime.block_on(async {
        let mut reader = Reader::spawn(&query, ExportLimits::default())
            .map_err(|source| Failure::Journal { source })?;
        if let Some(element) = &request.element {
            write(&mut out, &format!("<{element}>"))?;
        }
        let mut printed = 0u64;
        while request.count.is_none_or(|count| printed < count) {
            let Some(entry) = reader
                .next()
                .await
                .map_err(|source| Failure::Journal { source })?
            else {
                break;
            };
            let event = mapping.event(&entry);
            if log != LINUX_JOURNAL && !event.channel.eq_ignore_ascii_case(log) {
                continue;
            }
            if let Some(xpath) = &xpath {
                if !xpath.matches(&event.tree(ContentFormat::Raw), now) {
                    continue;
                }
            }
            let text = match request.format {
                Format::Xml => event.to_xml(ContentFormat::Raw),
                Format::RenderedXml => event.to_xml(ContentFormat::RenderedText),
                Format::Text => text(&event, printed, &users),
            };
            write(&mut out, &text)?;
            printed += 1;
        }
        if let Some(element) = &request.element {
            write(&mut out, &format!("</{element}>"))?;
        }
        out.flush().map_err(|source| Failure::Write { source })
    })
}

fn write(out: &mut impl std::io::Write, text: &str) -> Result<(), Failure> {
    writeln!(out, "{text}").map_err(|source| Failure::Write { source })
}

/// The block Windows' `wevtutil qe /f:text` prints for one event.
fn text(event: &Event, index: u64, users: &Users) -> String {
    let user = event.user_sid.as_deref().unwrap_or("N/A");
    let user_name = event
        .user_sid
        .as_deref()
        .and_then(|sid| sid.strip_prefix("S-1-22-1-"))
        .and_then(|uid| users.name(uid))
        .unwrap_or("N/A");
    format!(
        "Event[{index}]:\n  Log Name: {}\n  Source: {}\n  Date: {}\n  Event ID: {}\n  Task: N/A\n  \
         Level: {}\n  Opcode: Info\n  Keyword: Classic\n  User: {user}\n  User Name: {user_name}\n  \
         Computer: {}\n  Description: \n{}\n",
        event.channel,
        event.provider.name,
        event.time_created.to_system_time(),
        event.event_id,
        event.level.display_name(),
        event.computer,
        event.message
    )
}

/// The host name `Computer` carries.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_default()
}

/// User names by uid, from /etc/passwd, for `User Name`.
struct Users(Vec<(String, String)>);

impl Users {
    fn read() -> Users {
        let text = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        Users(
            text.lines()
                .filter_map(|line| {
                    let mut fields = line.split(':');
                    let name = fields.next()?;
                    let uid = fields.nth(1)?;
                    Some((uid.to_owned(), name.to_owned()))
                })
                .collect(),
        )
    }

    fn name(&self, uid: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(u, _)| u == uid)
            .map(|(_, n)| n.as_str())
    }
}
