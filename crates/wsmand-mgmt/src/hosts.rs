//! The managed hosts, reached only through `wsman-client` (the local host too): one client per
//! host of the admin's configuration, and what the console shows of each host, read from
//! Identify and the CIM classes with a deadline per host. Everything a host returns is
//! untrusted text: it is only ever rendered through the autoescaping templates or JSON.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use wsman_client::{Client, Element, EnumerateOptions, Resource};
use wsman_config::mgmt::ManagedHost;

use wsman_client::shell::{Command, CommandOptions, Shell, ShellOptions, Terminal};

use crate::password_files::Preloaded;
use crate::route::ServiceAction;
use crate::terminal_proto::WindowSize;

/// WMI's root/cimv2 as a resource URI prefix.
mod rows;
pub use rows::{
    ActionResult, ConfigRow, EventRow, HostSummary, ProcessRow, ServiceRow, SetRefused,
};

const CIMV2: &str = wsman_proto::ns::WMI_CIMV2_PREFIX;
/// How long one host may take for one page (connect, every call).
pub const HOST_DEADLINE: Duration = Duration::from_secs(8);
/// Most instances read from one enumeration (services, processes).
const MAX_ITEMS: usize = 20_000;
/// The `winrm/config` resource.
const CONFIG_URI: &str = wsman_proto::ns::CONFIG;
/// Most event log records the events page reads (the newest).
pub const MAX_EVENTS: usize = 100;
/// Deepest `winrm/config` nesting shown.
const MAX_CONFIG_DEPTH: usize = 8;
/// Most `winrm/config` settings shown.
const MAX_CONFIG_ROWS: usize = 2000;

/// `TERM` of a terminal page's shell: what xterm.js emulates.
const TERMINAL_TYPE: &str = "xterm-256color";

/// A terminal's shell and the command running in it.
pub struct OpenTerminal {
    /// The WinRS shell (deleted when the terminal ends).
    pub shell: Shell,
    /// Its one command, the interactive shell.
    pub command: Command,
    /// On a pseudo-terminal (a wsmand host), or on pipes.
    pub pty: bool,
    /// The `winrs` command that opens the same.
    pub command_line: String,
}

/// One configured host and its client.
pub struct Host {
    /// The admin's entry.
    pub config: ManagedHost,
    client: Client,
    /// Held by the sampler while it reads the host (a sample, or the facts read beside the
    /// rounds), so that its reads never overlap and share the one kept connection.
    pub(crate) sampling: tokio::sync::Mutex<()>,
}

/// The hosts, by name, and the same hosts through their run-as accounts. Each host is shared
/// (`Arc`): a page or terminal that has one keeps it while the fleet is replaced.
pub struct Fleet {
    hosts: BTreeMap<String, Arc<Host>>,
    run_as: BTreeMap<(String, String), Arc<Host>>,
}

/// A host reached as `config.username` with the password in `config.password_file`.
pub fn connect(config: ManagedHost) -> anyhow::Result<Host> {
    connect_preloaded(config, &Preloaded::default())
}

/// The same, the password taken from `preloaded` when root read it at start.
fn connect_preloaded(config: ManagedHost, preloaded: &Preloaded) -> anyhow::Result<Host> {
    let password = preloaded.password(&config.password_file)?;
    connect_with(config, password)
}

/// A host reached as `config.username` with `password`.
pub fn connect_with(config: ManagedHost, password: String) -> anyhow::Result<Host> {
    let client = crate::host_client::client_for(&config, password)?;
    Ok(Host {
        config,
        client,
        sampling: tokio::sync::Mutex::new(()),
    })
}

impl Fleet {
    /// A client per configured host and per run-as account (passwords read now, while the
    /// files are readable).
    pub fn new(hosts: &[ManagedHost]) -> anyhow::Result<Self> {
        Self::empty().reload(hosts)
    }

    /// The fleet at start: each password from `preloaded` (read by root) or else read now,
    /// by the serving user.
    pub fn start(hosts: &[ManagedHost], preloaded: &Preloaded) -> anyhow::Result<Self> {
        Self::empty().reload_with(hosts, preloaded)
    }

    /// No hosts.
    pub fn empty() -> Self {
        Self {
            hosts: BTreeMap::new(),
            run_as: BTreeMap::new(),
        }
    }

    /// The fleet of `hosts`, keeping this fleet's client of every host whose entry is
    /// unchanged (its password was read at start, perhaps before the service dropped its
    /// privileges, and its connections stay open); a new or changed entry is connected anew.
    pub fn reload(&self, hosts: &[ManagedHost]) -> anyhow::Result<Self> {
        self.reload_with(hosts, &Preloaded::default())
    }

    fn reload_with(&self, hosts: &[ManagedHost], preloaded: &Preloaded) -> anyhow::Result<Self> {
        let mut out = BTreeMap::new();
        let mut run_as = BTreeMap::new();
        for host in hosts {
            let same = self.hosts.get(&host.name).filter(|h| h.config == *host);
            for account in &host.run_as {
                let key = (host.name.clone(), account.username.clone());
                let kept = same.and(self.run_as.get(&key)).cloned();
                let client = match kept {
                    Some(client) => client,
                    None => {
                        let mut config = host.clone();
                        config.username.clone_from(&account.username);
                        config.password_file.clone_from(&account.password_file);
                        Arc::new(connect_preloaded(config, preloaded)?)
                    }
                };
                run_as.insert(key, client);
            }
            let client = match same {
                Some(client) => Arc::clone(client),
                None => Arc::new(connect_preloaded(host.clone(), preloaded)?),
            };
            out.insert(host.name.clone(), client);
        }
        Ok(Self { hosts: out, run_as })
    }

    /// The host called `name` in the configuration (the only hosts ever contacted).
    pub fn get(&self, name: &str) -> Option<&Arc<Host>> {
        self.hosts.get(name)
    }

    /// The host called `name`, reached as `run_as` (one of its `RunAs` accounts) or, when
    /// `None`, as its own account. `None` also when the host has no such account: a role's
    /// run-as account is never replaced by the host's own.
    pub fn get_as(&self, name: &str, run_as: Option<&str>) -> Option<&Arc<Host>> {
        match run_as {
            None => self.hosts.get(name),
            Some(account) => self.run_as.get(&(name.to_owned(), account.to_owned())),
        }
    }

    /// Every host, in name order.
    pub fn hosts(&self) -> impl Iterator<Item = &Arc<Host>> {
        self.hosts.values()
    }
}

/// A property's text: the child element of that name (any namespace), or the text of its
/// `cim:Datetime` child; `None` when absent, nil or empty.
pub fn property(instance: &Element, name: &str) -> Option<String> {
    let element = instance.child_ignore_case(name)?;
    let text = match element.elements().next() {
        Some(inner) => inner.trimmed_text(),
        None => element.trimmed_text(),
    };
    (!text.is_empty()).then_some(text)
}

/// A CIM datetime as microseconds since 1970; none for an interval.
pub(crate) fn micros(text: &str) -> Option<i64> {
    match wsman_proto::cim::CimDateTime::parse(text)? {
        wsman_proto::cim::CimDateTime::Instant { micros, .. } => Some(micros),
        wsman_proto::cim::CimDateTime::Interval { .. } => None,
    }
}

fn class(name: &str) -> Resource {
    Resource::new(format!("{CIMV2}{name}"))
}

fn enumerate_options() -> EnumerateOptions {
    let mut options = EnumerateOptions::default();
    options.max_items = MAX_ITEMS;
    options
}

/// Why one read of a host failed.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error(transparent)]
    Client(#[from] wsman_client::ClientError),
    #[error("no answer within {} s", HOST_DEADLINE.as_secs())]
    NoAnswer,
    /// A command of [`Host::run_bounded`] outlived its deadline (of that many seconds).
    #[error("no end within {0} s: ended")]
    Ended(u64),
    /// A command of [`Host::run_bounded`] was cancelled (its job dropped, or no longer
    /// allowed): ended.
    #[error("cancelled: ended")]
    Cancelled,
}

impl HostError {
    /// The host refused the account (not the request, not the network).
    fn access_denied(&self) -> bool {
        matches!(self, HostError::Client(error) if is_access_denied(error))
    }
}

/// `future`, given up after [`HOST_DEADLINE`].
pub(crate) async fn bounded<T>(
    future: impl std::future::Future<Output = Result<T, wsman_client::ClientError>>,
) -> Result<T, HostError> {
    bounded_by(HOST_DEADLINE, future).await
}

/// `future`, given up after `deadline` (an operation that outlasts a page's request: an update
/// scan or install).
pub(crate) async fn bounded_by<T>(
    deadline: Duration,
    future: impl std::future::Future<Output = Result<T, wsman_client::ClientError>>,
) -> Result<T, HostError> {
    match tokio::time::timeout(deadline, future).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(HostError::NoAnswer),
    }
}

/// Whether `error` is the host refusing the account: `w:AccessDenied` (WinRM's fault for an
/// account without the rights, whatever its prefix) or HTTP 401.
fn is_access_denied(error: &wsman_client::ClientError) -> bool {
    match error {
        wsman_client::ClientError::Unauthorized { .. } => true,
        wsman_client::ClientError::Fault { subcode, .. } => subcode
            .as_deref()
            .is_some_and(|s| s.rsplit(':').next() == Some("AccessDenied")),
        _ => false,
    }
}

/// Windows' ERROR_SERVICE_NEVER_STARTED: a trigger-start service nothing has triggered yet.
const NEVER_STARTED: u32 = 1077;

/// Failed: the host says so (Status Error), or an automatic service stopped with an error.
/// An automatic service stopped with exit code 0 (or never started) ended normally or was
/// skipped by its start condition (an enabled oneshot, a trigger-start service on Windows).
fn is_failed(row: &ServiceRow) -> bool {
    row.status == "Error"
        || (row.start_mode == "Auto"
            && row.state == "Stopped"
            && row.exit_code != 0
            && row.exit_code != NEVER_STARTED)
}

impl Host {
    /// The client of the host's own account (the sampler's).
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// The endpoint as configured.
    pub fn url(&self) -> &str {
        &self.config.url
    }

    /// The `winrm` switches that reach this host as the console does.
    pub fn switches(&self) -> String {
        let mut out = format!("-r:{} -u:{}", self.config.url, self.config.username);
        if self.config.allow_unencrypted {
            out.push_str(" -a:Basic -unencrypted");
        }
        if self.config.skip_ca_check {
            out.push_str(" -skipCAcheck");
        }
        out
    }

    /// Identify, bounded in time: the host's ProductVendor and ProductVersion (the manager
    /// page's test of a host: reached, and the account accepted).
    pub async fn identify(&self) -> Result<String, HostError> {
        let identify = bounded(self.client.identify()).await?;
        let vendor = property(&identify, "ProductVendor").unwrap_or_default();
        let version = property(&identify, "ProductVersion").unwrap_or_default();
        Ok(format!("{vendor} {version}").trim().to_owned())
    }

    /// Identify, the operating system, the load and the failed services, each bounded in time,
    /// read one after another.
    pub async fn summary(&self) -> HostSummary {
        let mut out = HostSummary {
            name: self.config.name.clone(),
            url: self.config.url.clone(),
            username: self.config.username.clone(),
            ..HostSummary::default()
        };
        match bounded(self.client.identify()).await {
            Ok(identify) => {
                out.reachable = true;
                out.product_vendor = property(&identify, "ProductVendor");
                out.product_version = property(&identify, "ProductVersion");
            }
            Err(error) => {
                out.error = Some(error.to_string());
                return out;
            }
        }
        let (os_class, cpu_class, options) = (
            class("Win32_OperatingSystem"),
            class("Win32_Processor"),
            enumerate_options(),
        );
        // One after another, not together: on one kept connection, so that a host costs the
        // console one connection (and the host one session) however many hosts it samples.
        let os = bounded(self.client.enumerate(&os_class, &options)).await;
        let cpu = bounded(self.client.enumerate(&cpu_class, &options)).await;
        let services = self.services().await;
        out.access_denied = [&os, &cpu]
            .iter()
            .any(|read| read.as_ref().err().is_some_and(HostError::access_denied));
        let mut errors = Vec::new();
        match os {
            Ok(items) => {
                if let Some(os) = items.first() {
                    out.os = property(os, "Caption");
                    out.os_version = property(os, "Version");
                    let boot = property(os, "LastBootUpTime").and_then(|t| micros(&t));
                    let now = property(os, "LocalDateTime").and_then(|t| micros(&t));
                    if let (Some(boot), Some(now)) = (boot, now) {
                        out.uptime_seconds = u64::try_from((now - boot) / 1_000_000).ok();
                    }
                }
            }
            Err(error) => errors.push(format!("Win32_OperatingSystem: {error}")),
        }
        match cpu {
            Ok(items) => {
                out.load_percentage = items
                    .first()
                    .and_then(|p| property(p, "LoadPercentage"))
                    .and_then(|t| t.parse().ok());
            }
            Err(error) => errors.push(format!("Win32_Processor: {error}")),
        }
        match services {
            Ok(rows) => {
                let mut failed: Vec<String> = rows
                    .into_iter()
                    .filter(is_failed)
                    .map(|row| row.name)
                    .collect();
                // The collect reuses the whole service list's allocation (about 14 KB for
                // 150 services), which the console keeps for as long as it knows the host;
                // only the failed names are worth keeping.
                failed.shrink_to_fit();
                out.failed_services = Some(failed);
            }
            Err(error) => errors.push(format!("Win32_Service: {error}")),
        }
        if !errors.is_empty() {
            out.error = Some(errors.join("; "));
        }
        out
    }

    /// Every service, by name.
    pub async fn services(&self) -> Result<Vec<ServiceRow>, HostError> {
        let items = bounded(
            self.client
                .enumerate(&class("Win32_Service"), &enumerate_options()),
        )
        .await?;
        let text = |item: &Element, name: &str| property(item, name).unwrap_or_default();
        let mut rows: Vec<ServiceRow> = items
            .iter()
            .map(|item| ServiceRow {
                name: text(item, "Name"),
                display_name: text(item, "DisplayName"),
                state: text(item, "State"),
                start_mode: text(item, "StartMode"),
                status: text(item, "Status"),
                exit_code: text(item, "ExitCode").parse().unwrap_or(0),
            })
            .collect();
        rows.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(rows)
    }

    /// Every process, largest working set first.
    pub async fn processes(&self) -> Result<Vec<ProcessRow>, HostError> {
        let items = bounded(
            self.client
                .enumerate(&class("Win32_Process"), &enumerate_options()),
        )
        .await?;
        let mut rows: Vec<ProcessRow> = items
            .iter()
            .filter_map(|item| {
                Some(ProcessRow {
                    pid: property(item, "ProcessId")?.parse().ok()?,
                    name: property(item, "Name").unwrap_or_default(),
                    working_set: property(item, "WorkingSetSize")
                        .and_then(|t| t.parse().ok())
                        .unwrap_or(0),
                    command_line: property(item, "CommandLine").unwrap_or_default(),
                })
            })
            .collect();
        rows.sort_by(|a, b| b.working_set.cmp(&a.working_set).then(a.pid.cmp(&b.pid)));
        Ok(rows)
    }

    /// The `winrm` command that runs `method` with `parameters` on the instance
    /// `class?key=value` of this host.
    pub fn invoke_command(
        &self,
        method: &str,
        class: &str,
        (key, value): (&str, &str),
        parameters: &[(String, String)],
    ) -> String {
        let parameters: Vec<String> = parameters
            .iter()
            .map(|(name, value)| format!("{name}=\"{value}\""))
            .collect();
        format!(
            "winrm invoke {method} wmicimv2/{class}?{key}={value} {} @{{{}}}",
            self.switches(),
            parameters.join(";")
        )
    }

    async fn invoke(
        &self,
        class_name: &str,
        (key, value): (&str, &str),
        method: &str,
        parameters: &[(String, String)],
    ) -> ActionResult {
        let command = self.invoke_command(method, class_name, (key, value), parameters);
        let resource = class(class_name).with_selector(key, value);
        match bounded(self.client.invoke(&resource, method, parameters)).await {
            Ok(output) => ActionResult {
                return_value: property(&output, "ReturnValue").and_then(|t| t.parse().ok()),
                error: None,
                command,
            },
            Err(error) => ActionResult {
                return_value: None,
                error: Some(error.to_string()),
                command,
            },
        }
    }

    /// Starts, stops, restarts, enables or disables a service through `Win32_Service`'s
    /// methods (restart: `StopService`, then `StartService` unless the stop failed; a service
    /// that was not running, ReturnValue 5, is started all the same).
    pub async fn service_action(&self, service: &str, action: ServiceAction) -> ActionResult {
        let key = ("Name", service);
        let start_mode = |mode: &str| vec![("StartMode".to_owned(), mode.to_owned())];
        match action {
            ServiceAction::Start => self.invoke("Win32_Service", key, "StartService", &[]).await,
            ServiceAction::Stop => self.invoke("Win32_Service", key, "StopService", &[]).await,
            ServiceAction::Enable => {
                self.invoke(
                    "Win32_Service",
                    key,
                    "ChangeStartMode",
                    &start_mode("Automatic"),
                )
                .await
            }
            ServiceAction::Disable => {
                self.invoke(
                    "Win32_Service",
                    key,
                    "ChangeStartMode",
                    &start_mode("Disabled"),
                )
                .await
            }
            ServiceAction::Restart => {
                let stop = self.invoke("Win32_Service", key, "StopService", &[]).await;
                if stop.error.is_some() || !matches!(stop.return_value, Some(0 | 5)) {
                    return stop;
                }
                let start = self.invoke("Win32_Service", key, "StartService", &[]).await;
                ActionResult {
                    command: format!("{}; {}", stop.command, start.command),
                    ..start
                }
            }
        }
    }

    /// Opens a terminal's shell on this host as its configured account: on a wsmand host
    /// (Identify's ProductVendor) a login `bash` on a pseudo-terminal of `size`, elsewhere
    /// (Windows) `cmd.exe` on pipes. The shell is deleted again if its command cannot start.
    pub async fn open_terminal(&self, size: WindowSize) -> Result<OpenTerminal, HostError> {
        let identify = bounded(self.client.identify()).await?;
        let wsmand = property(&identify, "ProductVendor").as_deref() == Some("wsmand");
        let mut options = ShellOptions::default();
        if wsmand {
            options.terminal = Some(Terminal::new(TERMINAL_TYPE, size.rows, size.cols));
        }
        let shell = bounded(Shell::open(&self.client, &options)).await?;
        let (program, arguments): (&str, &[&str]) = if wsmand {
            ("bash", &["-l"])
        } else {
            ("cmd.exe", &[])
        };
        let arguments: Vec<String> = arguments.iter().map(|a| (*a).to_owned()).collect();
        match bounded(shell.run(program, &arguments, &CommandOptions::default())).await {
            Ok(command) => Ok(OpenTerminal {
                shell,
                command,
                pty: wsmand,
                command_line: format!(
                    "winrs {}{} {program} {}",
                    self.switches(),
                    if wsmand { " -pty" } else { "" },
                    arguments.join(" ")
                )
                .trim_end()
                .to_owned(),
            }),
            Err(error) => {
                let _ = tokio::time::timeout(HOST_DEADLINE, shell.close()).await;
                Err(error)
            }
        }
    }

    /// Runs `line` in a shell of its own as `winrs -r:HOST "LINE"` does (the host's command
    /// shell reads the line: `/bin/sh -c` on wsmand, `cmd.exe /c` on Windows), keeping at most
    /// `max_output` bytes of its output (as it comes): past that, or past `deadline`, the
    /// command is ended. The shell is always deleted. Returns the exit code (none when it was
    /// ended), the output and whether it was cut.
    pub async fn run_bounded(
        &self,
        line: &str,
        max_output: usize,
        deadline: Duration,
        cancel: impl std::future::Future<Output = ()>,
    ) -> Result<(Option<i64>, String, bool), HostError> {
        use wsman_client::shell::{Output, Signal};
        let shell = bounded(Shell::open(&self.client, &ShellOptions::default())).await?;
        let read = async {
            let command = shell.run(line, &[], &CommandOptions::default()).await?;
            let mut reader = command.output()?;
            let mut output = Vec::new();
            let mut code = None;
            let mut truncated = false;
            while let Some(event) = reader.next().await? {
                match event {
                    Output::Data { data, .. } => {
                        let room = max_output.saturating_sub(output.len());
                        output.extend_from_slice(&data[..data.len().min(room)]);
                        if data.len() > room {
                            truncated = true;
                            let _ = command.signal(Signal::Terminate).await;
                            break;
                        }
                    }
                    Output::Exited { exit_code } => code = Some(exit_code),
                    _ => {}
                }
            }
            Ok::<_, HostError>((
                code,
                String::from_utf8_lossy(&output).into_owned(),
                truncated,
            ))
        };
        // Cancelled or past the deadline, the shell is still closed (its command ended).
        let result = tokio::select! {
            result = tokio::time::timeout(deadline, read) => match result {
                Ok(result) => result,
                Err(_) => Err(HostError::Ended(deadline.as_secs())),
            },
            () = cancel => Err(HostError::Cancelled),
        };
        let _ = tokio::time::timeout(HOST_DEADLINE, shell.close()).await;
        result
    }

    /// Ends a process (`Win32_Process.Terminate`).
    pub async fn terminate(&self, pid: u32) -> ActionResult {
        self.invoke(
            "Win32_Process",
            ("Handle", &pid.to_string()),
            "Terminate",
            &[],
        )
        .await
    }

    /// The `winrm/config` tree, flattened to one row per setting in document order.
    pub async fn config(&self) -> Result<Vec<ConfigRow>, HostError> {
        let config = bounded(self.client.get(&Resource::new(CONFIG_URI))).await?;
        let mut rows = Vec::new();
        flatten_config(&config, "", 0, &mut rows);
        Ok(rows)
    }

    /// `winrm set` of one `winrm/config` setting: a Put of its container holding only that
    /// value, as
    /// Windows' winrm sends it. A refusal is the host's own words (its fault's message: for a
    /// bad value, the host's validation error), with the whole error for the details.
    pub async fn set_config(
        &self,
        container: wsman_config::schema::Container,
        leaf: &str,
        value: &str,
    ) -> Result<(), SetRefused> {
        let body = wsman_client::body::instance_body(
            "cfg",
            container.element_name(),
            container.resource_uri(),
            &[(leaf.to_owned(), value.to_owned())],
        )
        .map_err(|error| SetRefused {
            message: error.to_string(),
            whole: error.to_string(),
        })?;
        let resource = Resource::new(container.resource_uri());
        match tokio::time::timeout(HOST_DEADLINE, self.client.put(&resource, &body)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) => Err(SetRefused {
                message: match &error {
                    wsman_client::ClientError::Fault { message, .. } => message.clone(),
                    other => other.to_string(),
                },
                whole: error.to_string(),
            }),
            Err(_) => Err(SetRefused {
                message: format!("no answer within {} s", HOST_DEADLINE.as_secs()),
                whole: format!("no answer within {} s", HOST_DEADLINE.as_secs()),
            }),
        }
    }

    /// A Pull subscription to `logs` from now on, for the events page's live stream, on a
    /// client of its own (sharing this host's connection pool) that the stream keeps.
    pub async fn subscribe_events(
        &self,
        logs: &[crate::event_stream::Log],
    ) -> Result<crate::event_stream::Subscribed, HostError> {
        let client = self.client.fork()?;
        let options = crate::event_stream::subscribe_options(logs);
        let subscription = bounded(client.subscribe_pull(&options)).await?;
        Ok(crate::event_stream::Subscribed {
            client,
            subscription,
        })
    }

    /// The newest [`MAX_EVENTS`] event log records, newest first; only those `wql` selects
    /// when given (the host filters: the newest matching, however old).
    pub async fn events(&self, wql: Option<&str>) -> Result<Vec<EventRow>, HostError> {
        let mut options = enumerate_options();
        options.filter = wql.map(|query| wsman_client::enumerate::Filter {
            dialect: wsman_client::enumerate::dialect::WQL.to_owned(),
            body: wsman_client::enumerate::FilterBody::Text(query.to_owned()),
        });
        // A WQL filter goes to `cimv2/*`, as Windows requires (wsmand takes either).
        let resource = class(if wql.is_some() {
            "*"
        } else {
            "Win32_NTLogEvent"
        });
        let items = bounded(self.client.enumerate_first(&resource, &options, MAX_EVENTS)).await?;
        let text = |item: &Element, name: &str| property(item, name).unwrap_or_default();
        let mut rows: Vec<EventRow> = items
            .iter()
            .map(|item| {
                let time_generated = text(item, "TimeGenerated");
                EventRow {
                    logfile: text(item, "Logfile"),
                    record_number: text(item, "RecordNumber").parse().unwrap_or(0),
                    micros: micros(&time_generated).unwrap_or(i64::MIN),
                    time_generated,
                    source: text(item, "SourceName"),
                    event_type: text(item, "Type"),
                    event_code: text(item, "EventCode"),
                    message: text(item, "Message"),
                }
            })
            .collect();
        rows.sort_by(|a, b| {
            b.micros
                .cmp(&a.micros)
                .then(b.record_number.cmp(&a.record_number))
        });
        Ok(rows)
    }
}

/// Appends `element`'s leaves under `prefix` (bounded in depth and count).
fn flatten_config(element: &Element, prefix: &str, depth: usize, rows: &mut Vec<ConfigRow>) {
    for child in element.elements() {
        if rows.len() >= MAX_CONFIG_ROWS {
            return;
        }
        let path = if prefix.is_empty() {
            child.name.clone()
        } else {
            format!("{prefix}/{}", child.name)
        };
        if child.elements().next().is_some() && depth < MAX_CONFIG_DEPTH {
            flatten_config(child, &path, depth + 1, rows);
        } else {
            let source = child.attr("Source").map(str::to_owned);
            rows.push(ConfigRow {
                path,
                value: child.trimmed_text(),
                locked: source.as_deref() == Some("GPO"),
                source,
            });
        }
    }
}

#[cfg(test)]
mod tests;
