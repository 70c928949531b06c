//! winrs on several hosts (`-r:` a list, `@FILE` or a group): the command on every host
//! through the client library's fan-out, each host's result written when it is done (lines
//! prefixed with the host, or one JSON object per host), a progress line while waiting when
//! stderr is a terminal, a summary line, and the exit code of the whole run. stdin, when it
//! is not a terminal, is read once (at most [`MAX_FAN_OUT_STDIN`] bytes) and every host's
//! command gets all of it.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::signal::unix::{signal, SignalKind};
use tokio::time::Instant;
use wsman_client::fanout::{
    self, FanOutOptions, HostOutput, HostResult, Progress, Target, MAX_FAN_OUT_STDIN,
};
use wsman_client::{ClientError, ClientOptions};

use crate::args::Invocation;
use crate::failure::{Failure, EXIT_ALL_FAILED, EXIT_INTERRUPTED, EXIT_SOME_FAILED};
use crate::session::{command_options, shell_options};
use crate::switches::OutputForm;

/// How often the progress line is redrawn.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

/// Every host of `hosts` as a target with the same switches and `options`; an address that
/// does not parse is a usage error before anything runs.
fn targets(
    inv: &Invocation,
    hosts: Vec<String>,
    options: &ClientOptions,
) -> Result<Vec<Target>, Failure> {
    hosts
        .into_iter()
        .map(|host| {
            let endpoint = inv.switches.connection.endpoint(&host)?;
            Ok(Target::new(host, endpoint, options.clone()))
        })
        .collect()
}

/// stdin for every host: nothing when it is a terminal (there is no end to wait for: each
/// command gets end of input, as before), else all of it, read once. More than
/// [`MAX_FAN_OUT_STDIN`] bytes is a local error before any host is contacted: it is held in
/// memory whole, and cutting it would give every host a silently different input.
async fn read_stdin_once() -> Result<Vec<u8>, Failure> {
    if std::io::stdin().is_terminal() {
        return Ok(Vec::new());
    }
    let limit = u64::try_from(MAX_FAN_OUT_STDIN).unwrap_or(u64::MAX);
    let mut data = Vec::new();
    tokio::io::stdin()
        .take(limit + 1)
        .read_to_end(&mut data)
        .await
        .map_err(|e| Failure::local(format!("cannot read stdin: {e}")))?;
    if data.len() > MAX_FAN_OUT_STDIN {
        return Err(Failure::local(format!(
            "stdin is larger than {MAX_FAN_OUT_STDIN} bytes, the most sent to several hosts"
        )));
    }
    Ok(data)
}

fn fan_out_options(inv: &Invocation, stdin: Vec<u8>) -> FanOutOptions {
    let s = &inv.switches.fan_out;
    let mut o = FanOutOptions::default();
    o.stdin = stdin.into();
    if let Some(n) = s.parallel {
        o.parallel = n;
    }
    if let Some(ms) = s.connect_timeout_ms {
        o.connect_timeout = Duration::from_millis(ms);
    }
    o.host_timeout = s.host_timeout_ms.map(Duration::from_millis);
    o
}

/// Counts for the summary line.
#[derive(Default)]
struct Tally {
    succeeded: usize,
    errors: usize,
    nonzero: usize,
}

impl Tally {
    fn failed(&self) -> usize {
        self.errors + self.nonzero
    }

    fn exit_code(&self) -> u8 {
        match (self.succeeded, self.failed()) {
            (_, 0) => 0,
            (0, _) => EXIT_ALL_FAILED,
            _ => EXIT_SOME_FAILED,
        }
    }
}

/// The progress line on stderr, when stderr is a terminal.
struct ProgressLine {
    shown: bool,
    enabled: bool,
}

impl ProgressLine {
    fn draw(&mut self, progress: Progress, start: Instant) {
        if !self.enabled {
            return;
        }
        let line = format!(
            "\r\x1b[Kwinrs: {}/{} done, {} failed, {} running, {:.1} s",
            progress.done,
            progress.total,
            progress.failed,
            progress.running,
            start.elapsed().as_secs_f64()
        );
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(line.as_bytes());
        let _ = err.flush();
        self.shown = true;
    }

    fn clear(&mut self) {
        if self.shown {
            let mut err = std::io::stderr().lock();
            let _ = err.write_all(b"\r\x1b[K");
            let _ = err.flush();
            self.shown = false;
        }
    }
}

/// Run the invocation's command on `hosts`; the exit code of the run.
pub(crate) async fn run(
    inv: &Invocation,
    hosts: Vec<String>,
    options: ClientOptions,
) -> Result<u8, Failure> {
    let targets = targets(inv, hosts, &options)?;
    let stdin = read_stdin_once().await?;
    let form = inv.switches.fan_out.output.unwrap_or_default();
    let mut interrupt = signal(SignalKind::interrupt())
        .map_err(|e| Failure::local(format!("cannot handle signals: {e}")))?;
    let start = Instant::now();
    let total = targets.len();
    let mut results = fanout::run_command(
        targets,
        &inv.command,
        &inv.arguments,
        &shell_options(&inv.switches.shell),
        &command_options(&inv.switches.shell),
        &fan_out_options(inv, stdin),
    );
    let mut progress = ProgressLine {
        shown: false,
        enabled: std::io::stderr().is_terminal(),
    };
    let mut ticks = tokio::time::interval(PROGRESS_EVERY);
    let mut tally = Tally::default();
    let interrupted = loop {
        tokio::select! {
            next = results.next() => match next {
                Some(host) => {
                    progress.clear();
                    match &host.outcome {
                        Ok(out) if out.exit_code == 0 => tally.succeeded += 1,
                        Ok(_) => tally.nonzero += 1,
                        Err(_) => tally.errors += 1,
                    }
                    write_result(&host, form, inv.switches.fan_out.raw_output)?;
                    progress.draw(results.progress(), start);
                }
                None => break false,
            },
            _ = ticks.tick() => progress.draw(results.progress(), start),
            _ = interrupt.recv() => break true,
        }
    };
    progress.clear();
    let left = total - tally.succeeded - tally.failed();
    // Dropping the fan-out stops the hosts still running; their shells end with the
    // server's idle timeout.
    drop(results);
    eprintln!(
        "winrs: {total} hosts: {} succeeded, {} failed ({} with an error, {} with an exit code other than 0){}, {:.2} s",
        tally.succeeded,
        tally.failed(),
        tally.errors,
        tally.nonzero,
        if interrupted { format!(", {left} interrupted") } else { String::new() },
        start.elapsed().as_secs_f64()
    );
    Ok(if interrupted {
        EXIT_INTERRUPTED
    } else {
        tally.exit_code()
    })
}

/// One line of an error: the client error's text without line breaks.
fn one_line(e: &ClientError) -> String {
    e.to_string()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn write_result(host: &HostResult<HostOutput>, form: OutputForm, raw: bool) -> Result<(), Failure> {
    let written = match form {
        OutputForm::Text => write_text(host, raw),
        OutputForm::Json => write_json(host),
    };
    written.map_err(|e| Failure::local(format!("cannot write the output: {e}")))
}

/// `bytes` as lines, each prefixed with `name: ` (a last line without a newline gets one);
/// unless `raw`, with the control characters of each line escaped (see [`escape_controls`]).
fn prefixed(name: &str, bytes: &[u8], raw: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 16);
    for line in bytes.split_inclusive(|b| *b == b'\n') {
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        if raw {
            out.extend_from_slice(line);
        } else {
            escape_controls(line, &mut out);
        }
        if !line.ends_with(b"\n") {
            out.push(b'\n');
        }
    }
    out
}

/// Appends `line` with what a terminal would act on written as text instead: C0 controls
/// and DEL as `\xHH`, C1 controls (U+0080..U+009F, CSI among them) as `\u{HH}`, and bytes
/// that are not UTF-8 as `\xHH` (a terminal in an 8-bit mode reads 0x9B as CSI). Newline and
/// tab stay, and a carriage return just before the newline (a Windows host's line end). One
/// host's output so cannot move the cursor, clear the screen or retitle the terminal, and
/// so cannot overwrite another host's result.
fn escape_controls(line: &[u8], out: &mut Vec<u8>) {
    use std::fmt::Write as _;
    let crlf_at = line.strip_suffix(b"\r\n").map(<[u8]>::len);
    let mut text = String::new();
    let mut offset = 0;
    for chunk in line.utf8_chunks() {
        for c in chunk.valid().chars() {
            let kept_cr = c == '\r' && crlf_at == Some(offset);
            match c {
                '\n' | '\t' => text.push(c),
                _ if kept_cr => text.push(c),
                '\0'..='\x1f' | '\x7f' => {
                    let _ = write!(text, "\\x{:02x}", u32::from(c));
                }
                '\u{80}'..='\u{9f}' => {
                    let _ = write!(text, "\\u{{{:x}}}", u32::from(c));
                }
                _ => text.push(c),
            }
            offset += c.len_utf8();
        }
        for byte in chunk.invalid() {
            let _ = write!(text, "\\x{byte:02x}");
            offset += 1;
        }
    }
    out.extend_from_slice(text.as_bytes());
}

fn write_text(host: &HostResult<HostOutput>, raw: bool) -> std::io::Result<()> {
    let name = host.name.as_str();
    let mut stdout = std::io::stdout().lock();
    let mut stderr = std::io::stderr().lock();
    match &host.outcome {
        Ok(out) => {
            stdout.write_all(&prefixed(name, &out.stdout, raw))?;
            stdout.flush()?;
            stderr.write_all(&prefixed(name, &out.stderr, raw))?;
            if out.truncated {
                writeln!(stderr, "{name}: (output truncated)")?;
            }
            if out.exit_code != 0 {
                writeln!(stderr, "{name}: exit code {}", out.exit_code)?;
            }
        }
        Err(e) => {
            // A host's fault text is the host's too.
            let mut line = format!("{name}: error: ").into_bytes();
            escape_controls(one_line(e).as_bytes(), &mut line);
            line.push(b'\n');
            stderr.write_all(&line)?;
        }
    }
    stderr.flush()
}

fn write_json(host: &HostResult<HostOutput>) -> std::io::Result<()> {
    let (exit_code, stdout, stderr, error, truncated) = match &host.outcome {
        Ok(out) => (
            Some(out.exit_code),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            None,
            out.truncated,
        ),
        Err(e) => (None, String::new(), String::new(), Some(one_line(e)), false),
    };
    let object = serde_json::json!({
        "host": host.name,
        "exit_code": exit_code,
        "stdout": stdout,
        "stderr": stderr,
        "error": error,
        "duration_ms": u64::try_from(host.duration.as_millis()).unwrap_or(u64::MAX),
        "truncated": truncated,
    });
    let mut line = object.to_string();
    line.push('\n');
    let mut out = std::io::stdout().lock();
    out.write_all(line.as_bytes())?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_is_prefixed_and_ends() {
        for raw in [false, true] {
            assert_eq!(prefixed("h", b"", raw), b"");
            assert_eq!(prefixed("h", b"a\nb\n", raw), b"h: a\nh: b\n");
            assert_eq!(prefixed("h", b"a\n\nlast", raw), b"h: a\nh: \nh: last\n");
        }
    }

    #[test]
    fn control_characters_are_escaped_unless_raw() {
        let hostile = "red\x1b[31m\x1b]0;title\x07\rover\u{9b}2J\x7f\tok\r\n".as_bytes();
        assert_eq!(
            String::from_utf8(prefixed("h", hostile, false)).unwrap(),
            "h: red\\x1b[31m\\x1b]0;title\\x07\\x0dover\\u{9b}2J\\x7f\tok\r\n"
        );
        assert_eq!(prefixed("h", hostile, true), [b"h: ", hostile].concat());
        // Not UTF-8: each byte that is not, escaped; text around it kept.
        assert_eq!(
            prefixed("h", b"caf\xe9 \x9b1m \xc3\xa9", false),
            "h: caf\\xe9 \\x9b1m é\n".as_bytes()
        );
    }

    proptest::proptest! {
        /// Whatever a host sends, the escaped text has no control character but newline and
        /// tab (and CR before a newline), and every line starts with the host's label.
        #[test]
        fn no_control_character_gets_through(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let out = prefixed("h", &bytes, false);
            let text = String::from_utf8(out).expect("escaped output is UTF-8");
            for line in text.split_inclusive('\n') {
                proptest::prop_assert!(line.starts_with("h: "));
                let body = line.strip_suffix('\n').unwrap_or(line);
                let body = body.strip_suffix('\r').unwrap_or(body);
                proptest::prop_assert!(
                    !body.chars().any(|c| c.is_control() && c != '\t'),
                    "{:?}", line
                );
            }
        }
    }

    #[test]
    fn exit_codes_tell_some_from_all() {
        let t = |succeeded, errors, nonzero| {
            Tally {
                succeeded,
                errors,
                nonzero,
            }
            .exit_code()
        };
        assert_eq!(t(3, 0, 0), 0);
        assert_eq!(t(2, 1, 0), EXIT_SOME_FAILED);
        assert_eq!(t(2, 0, 1), EXIT_SOME_FAILED);
        assert_eq!(t(0, 1, 1), EXIT_ALL_FAILED);
    }
}
