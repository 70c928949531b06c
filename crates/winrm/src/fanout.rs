//! winrm's read operations (identify, get, enumerate, invoke) on several hosts (`-r:` a list,
//! `@FILE` or a group): through the client library's fan-out, each host's answer rendered as
//! for one host and written when it is done with every line prefixed `HOST: `, failures as
//! `HOST: error: ...` on stderr, a summary line, and [`Failure::Hosts`] when any failed.

use std::io::Write;
use std::sync::Arc;

use wsman_cli::targets::{self, Remote};
use wsman_client::fanout::{self, FanOutOptions, Target};
use wsman_client::{ClientOptions, Endpoint, EnumerateOptions, Resource};

use crate::args::{QuickTransport, Switches};
use crate::backend;
use crate::failure::Failure;
use crate::switches::Format;
use crate::syntax::usage;

/// What runs on each host.
pub(crate) enum Operation {
    Identify,
    Get(Resource),
    Enumerate(Resource, EnumerateOptions),
    /// The resource, the method, and the body.
    Invoke(Resource, String, String),
}

/// The hosts when `-r:` names several (a list, a file or a group), else `None`.
pub(crate) fn hosts(s: &Switches) -> Result<Option<Vec<String>>, Failure> {
    let Some(remote) = &s.connection.remote else {
        return Ok(None);
    };
    let dir = backend::config_dir(s.config_dir.as_deref());
    let groups = targets::read_groups(&dir).map_err(|e| usage(e.message))?;
    Ok(
        match targets::resolve(remote, &groups).map_err(|e| usage(e.message))? {
            Remote::Many(hosts) => Some(hosts),
            _ => None,
        },
    )
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `text` with every line prefixed `name: ` (a last line without a newline gets one).
fn prefixed(name: &str, text: &str) -> String {
    text.split_inclusive('\n')
        .map(|line| {
            let end = if line.ends_with('\n') { "" } else { "\n" };
            format!("{name}: {line}{end}")
        })
        .collect()
}

/// Run `operation` on `hosts` with the switches' connection settings and `options`.
pub(crate) fn run(
    s: &Switches,
    hosts: Vec<String>,
    options: ClientOptions,
    operation: Operation,
    out: &mut dyn Write,
) -> Result<(), Failure> {
    let https = s.connection.use_ssl || s.transport == QuickTransport::Https;
    let targets = hosts
        .into_iter()
        .map(|host| {
            let endpoint = Endpoint::parse(&host, https)?;
            Ok(Target::new(host, endpoint, options.clone()))
        })
        .collect::<Result<Vec<_>, Failure>>()?;
    let total = targets.len();
    let mut fan_options = FanOutOptions::default();
    if let Some(n) = s.parallel {
        fan_options.parallel = n;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::local(format!("cannot start the runtime: {e}")))?;
    let operation = Arc::new(operation);
    let format = s.format;
    let start = std::time::Instant::now();
    let failed = runtime.block_on(async {
        let mut results = fanout::fan_out(targets, &fan_options, move |client, _| {
            let operation = operation.clone();
            async move { render(&client, &operation, format).await }
        });
        let mut failed = 0;
        while let Some(host) = results.next().await {
            match host.outcome {
                Ok(text) => {
                    let _ = out.write_all(prefixed(&host.name, &text).as_bytes());
                    let _ = out.flush();
                }
                Err(e) => {
                    failed += 1;
                    eprintln!("{}: error: {}", host.name, one_line(&e.to_string()));
                }
            }
        }
        failed
    });
    runtime.shutdown_background();
    eprintln!(
        "winrm: {total} hosts: {} succeeded, {failed} failed, {:.2} s",
        total - failed,
        start.elapsed().as_secs_f64()
    );
    if failed > 0 {
        return Err(Failure::Hosts { failed, total });
    }
    Ok(())
}

async fn render(
    client: &wsman_client::Client,
    operation: &Operation,
    format: Format,
) -> Result<String, wsman_client::ClientError> {
    Ok(match operation {
        Operation::Identify => crate::render::render(&client.identify().await?, format),
        Operation::Get(r) => crate::render::render(&client.get(r).await?, format),
        Operation::Enumerate(r, o) => {
            crate::render::render_items(&client.enumerate(r, o).await?, format)
        }
        Operation::Invoke(r, method, body) => {
            crate::render::render(&client.invoke_raw(r, method, body).await?, format)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_is_prefixed() {
        assert_eq!(prefixed("h", ""), "");
        assert_eq!(prefixed("h", "a\nb"), "h: a\nh: b\n");
        assert_eq!(prefixed("h", "a\n\n"), "h: a\nh: \n");
    }
}
