//! What the `winrm` and `winrs` command lines share, kept out of the client library (which
//! knows no terminal): the connection switches (`-r:`, `-u:`,
//! `-p:`, `-a:`, `-unencrypted`, `-usessl`, `-skipCAcheck`, `-skipCNcheck`, `-cacert:`,
//! `-timeout:`), turning them into [`ClientOptions`], reading a password without echo, and
//! printing errors the way Windows' tools do:
//!
//! ```text
//! WSManFault
//!     Message = <text>
//!
//! Error number:  -2144108526 0x80338012
//! <text>
//! ```

#![forbid(unsafe_code)]

pub mod failure;
pub mod machine;
pub mod switches;
pub mod targets;
mod text;
pub use text::{windows_text, windows_text_of_item, TextElement};

use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use nix::sys::termios::{self, LocalFlags, SetArg};

use wsman_client::negotiate::NegotiateAuth;
use wsman_client::tls::TlsOptions;
use wsman_client::{Auth, ClientError, ClientOptions, Credentials, Endpoint, TlsFailure};

/// A switch that is misspelt, lacks its value or contradicts another (a usage error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
#[non_exhaustive]
pub struct SwitchError {
    /// What is wrong, for the user.
    pub message: String,
}

impl SwitchError {
    /// A usage error with `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

/// `-a:` values implemented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthChoice {
    /// No authentication (Identify only).
    None,
    /// HTTP Basic.
    Basic,
    /// Negotiate (NTLM inside SPNEGO; `-a:Default` means the same here: use `-a:Kerberos`
    /// for Kerberos). Windows' default when `-u:` is given without `-a:`.
    Negotiate,
    /// A TLS client certificate (`-certificate:`), HTTPS only.
    Certificate,
    /// Kerberos: the caller's credential cache, or a ticket got with `-u:`/`-p:`.
    Kerberos,
    /// CredSSP: NTLM inside TLS, then `-u:`'s password is delegated to the server.
    CredSsp,
}

/// The machine's WinRM client settings (`winrm/config/client`) that decide what a connection
/// may do, as the tools read them from the configuration directory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientSettings {
    /// `Client/AllowUnencrypted`: required, with `-unencrypted`, for unencrypted traffic.
    pub allow_unencrypted: bool,
    /// `Client/TrustedHosts`: hosts this client authenticates to over plain HTTP.
    pub trusted_hosts: String,
    /// Where `-certificate:THUMBPRINT` is looked up (`DIR/certs`).
    pub certs_dir: Option<PathBuf>,
}

/// The connection switches, as given.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConnectionSwitches {
    /// `-r:` / `-remote:`.
    pub remote: Option<String>,
    /// `-u:` / `-username:`.
    pub username: Option<String>,
    /// `-p:` / `-password:` (may be empty).
    pub password: Option<String>,
    /// `-a:` / `-auth:` / `-authentication:`.
    pub auth: Option<AuthChoice>,
    /// `-unencrypted` (`-un`).
    pub unencrypted: bool,
    /// `-usessl` (`-ssl`).
    pub use_ssl: bool,
    /// `-skipCAcheck`.
    pub skip_ca_check: bool,
    /// `-skipCNcheck`.
    pub skip_cn_check: bool,
    /// `-cacert:` / `-cafile:`.
    pub ca_file: Option<PathBuf>,
    /// `-timeout:` in milliseconds.
    pub timeout_ms: Option<u64>,
    /// `-certificate:`: a thumbprint (in the config dir's `certs/`) or a PEM file.
    pub certificate: Option<String>,
    /// `-spn:SERVICE`: the service part of the Kerberos SPN (`HTTP`, the default, or `WSMAN`).
    pub spn: Option<String>,
}

/// The command line after the program's name; an argument that is not UTF-8 is read lossily
/// rather than refused.
pub fn arguments() -> Vec<String> {
    std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

/// The value of `-name:VALUE`, required and non-empty.
pub fn required_value(name: &str, value: Option<&str>) -> Result<String, SwitchError> {
    match value {
        Some(v) if !v.is_empty() => Ok(v.to_owned()),
        _ => Err(SwitchError::new(format!(
            "the switch -{name} needs a value: -{name}:VALUE"
        ))),
    }
}

/// Refuse a value on a flag switch.
pub fn no_value(name: &str, value: Option<&str>) -> Result<(), SwitchError> {
    match value {
        None => Ok(()),
        Some(_) => Err(SwitchError::new(format!(
            "the switch -{name} takes no value"
        ))),
    }
}

/// The value of `-name:VALUE` among `choices` (names compared without case); otherwise the
/// usage error `refusal` writes for the value as typed. Each tool words its own refusal.
pub fn choice<T: Copy>(
    name: &str,
    value: Option<&str>,
    choices: &[(&str, T)],
    refusal: impl FnOnce(&str) -> String,
) -> Result<T, SwitchError> {
    let v = required_value(name, value)?;
    choices
        .iter()
        .find(|(word, _)| word.eq_ignore_ascii_case(&v))
        .map(|(_, chosen)| *chosen)
        .ok_or_else(|| SwitchError::new(refusal(&v)))
}

/// One switch function (for [`switches::Switch::apply`]) with `body` over the state `s`, the
/// switch's `name` as typed and its `value`: the signature the switch macros share.
#[doc(hidden)]
#[macro_export]
macro_rules! switch_function {
    ($state:ty, $function:ident, |$s:ident, $name:ident, $value:ident| $body:block) => {
        fn $function(
            $s: &mut $state,
            $name: &str,
            $value: Option<&str>,
        ) -> Result<(), $crate::SwitchError> {
            $body
        }
    };
}

/// Defines switch functions (for [`switches::Switch::apply`]) that refuse a value and set a
/// `bool` of the parsed state: the flag switches every tool's table has.
///
/// `flag_switches!(State: quiet => quiet, no_echo => shell.no_echo);`
#[macro_export]
macro_rules! flag_switches {
    ($state:ty: $($function:ident => $($field:ident).+),+ $(,)?) => {
        $(
            $crate::switch_function!($state, $function, |s, name, value| {
                $crate::no_value(name, value)?;
                s.$($field).+ = true;
                Ok(())
            });
        )+
    };
}

/// Defines switch functions that take a required value into an `Option` of the parsed state
/// (a `String`, a `PathBuf`: anything `From<String>`), the last given winning.
///
/// `value_switches!(State: filter => filter, directory => shell.directory);`
#[macro_export]
macro_rules! value_switches {
    ($state:ty: $($function:ident => $($field:ident).+),+ $(,)?) => {
        $(
            $crate::switch_function!($state, $function, |s, name, value| {
                s.$($field).+ = Some(From::from($crate::required_value(name, value)?));
                Ok(())
            });
        )+
    };
}

impl ConnectionSwitches {
    /// Apply `-name[:value]` when it is a connection switch (names case-insensitive, as on
    /// Windows). `Ok(false)`: not a connection switch, the caller handles it.
    pub fn apply(&mut self, name: &str, value: Option<&str>) -> Result<bool, SwitchError> {
        match name.to_ascii_lowercase().as_str() {
            "r" | "remote" => self.remote = Some(required_value(name, value)?),
            "u" | "username" => self.username = Some(required_value(name, value)?),
            // An empty password is legitimate.
            "p" | "password" => {
                let v = value
                    .ok_or_else(|| SwitchError::new("the switch -p needs a value: -p:PASSWORD"))?;
                self.password = Some(v.to_owned());
            }
            "a" | "auth" | "authentication" => {
                let v = required_value(name, value)?;
                self.auth = Some(match v.to_ascii_lowercase().as_str() {
                    "none" => AuthChoice::None,
                    "basic" => AuthChoice::Basic,
                    "default" | "negotiate" => AuthChoice::Negotiate,
                    "certificate" => AuthChoice::Certificate,
                    "kerberos" => AuthChoice::Kerberos,
                    "credssp" => AuthChoice::CredSsp,
                    "digest" => {
                        return Err(SwitchError::new(format!(
                            "-a:{v} is not supported; use -a:Negotiate, -a:Kerberos, \
                             -a:CredSSP, -a:Basic, -a:Certificate or -a:None"
                        )))
                    }
                    _ => {
                        return Err(SwitchError::new(format!(
                            "unknown authentication mechanism -a:{v}"
                        )))
                    }
                });
            }
            "un" | "unencrypted" => {
                no_value(name, value)?;
                self.unencrypted = true;
            }
            "ssl" | "usessl" => {
                no_value(name, value)?;
                self.use_ssl = true;
            }
            "skipcacheck" => {
                no_value(name, value)?;
                self.skip_ca_check = true;
            }
            "skipcncheck" => {
                no_value(name, value)?;
                self.skip_cn_check = true;
            }
            "cacert" | "cafile" => self.ca_file = Some(PathBuf::from(required_value(name, value)?)),
            "certificate" => self.certificate = Some(required_value(name, value)?),
            "spn" => {
                let v = required_value(name, value)?;
                if !(v.eq_ignore_ascii_case("HTTP") || v.eq_ignore_ascii_case("WSMAN")) {
                    return Err(SwitchError::new(format!(
                        "-spn:{v}: the Kerberos service must be HTTP or WSMAN"
                    )));
                }
                self.spn = Some(v.to_ascii_uppercase());
            }
            "t" | "timeout" => {
                let v = required_value(name, value)?;
                let ms: u64 = v.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                    SwitchError::new(format!(
                        "-timeout:{v} is not a positive number of milliseconds"
                    ))
                })?;
                self.timeout_ms = Some(ms);
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// [`apply`](Self::apply) for a table row only connection switches reach: any other name
    /// is unknown, and the error points the user at `help` (the tool's help command).
    pub fn apply_known(
        &mut self,
        name: &str,
        value: Option<&str>,
        help: &str,
    ) -> Result<(), SwitchError> {
        if self.apply(name, value)? {
            Ok(())
        } else {
            Err(SwitchError::new(format!(
                "unknown switch -{name} (see `{help}`)"
            )))
        }
    }

    /// The combinations both tools refuse.
    pub fn check(&self) -> Result<(), SwitchError> {
        if self.password.is_some() && self.username.is_none() {
            return Err(SwitchError::new("-p: needs -u:"));
        }
        if self.auth == Some(AuthChoice::None) && self.username.is_some() {
            return Err(SwitchError::new("-a:None cannot be combined with -u:"));
        }
        if self.auth == Some(AuthChoice::Basic) && self.username.is_none() {
            return Err(SwitchError::new("-a:Basic needs -u:USER"));
        }
        if self.auth == Some(AuthChoice::Negotiate) && self.username.is_none() {
            return Err(SwitchError::new(
                "-a:Negotiate needs -u:USER (this client has no logon session to use)",
            ));
        }
        if self.auth == Some(AuthChoice::CredSsp) && self.username.is_none() {
            return Err(SwitchError::new(
                "-a:CredSSP needs -u:USER (the credentials to delegate)",
            ));
        }
        if self.spn.is_some() && self.auth != Some(AuthChoice::Kerberos) {
            return Err(SwitchError::new("-spn: can only be used with -a:Kerberos"));
        }
        let certificate = self.auth == Some(AuthChoice::Certificate);
        if certificate && self.certificate.is_none() {
            return Err(SwitchError::new(
                "-a:Certificate needs -certificate:THUMBPRINT or -certificate:FILE.pem",
            ));
        }
        if self.certificate.is_some() && self.auth.is_some_and(|a| a != AuthChoice::Certificate) {
            return Err(SwitchError::new(
                "-certificate: can only be used with -a:Certificate",
            ));
        }
        if (certificate || self.certificate.is_some()) && self.username.is_some() {
            return Err(SwitchError::new(
                "-a:Certificate cannot be combined with -u:",
            ));
        }
        Ok(())
    }

    /// The scheme these switches select: `-a:` as given, else a client certificate when
    /// `-certificate:` is given, else Negotiate with `-u:` (Windows' default), else none.
    pub fn effective_auth(&self) -> AuthChoice {
        match (self.auth, &self.certificate, &self.username) {
            (Some(auth), _, _) => auth,
            (None, Some(_), _) => AuthChoice::Certificate,
            (None, None, Some(_)) => AuthChoice::Negotiate,
            (None, None, None) => AuthChoice::None,
        }
    }

    /// The endpoint of `-r:` (with `-usessl`).
    // The client library's own error, passed on as every client call returns it.
    #[allow(clippy::result_large_err)]
    pub fn endpoint(&self, remote: &str) -> Result<Endpoint, ClientError> {
        Endpoint::parse(remote, self.use_ssl)
    }

    /// Client settings for these switches under the machine's client `settings`. `password`
    /// is asked for a user given without `-p:` (see [`read_password`]); `user_agent` names the
    /// tool. Windows' rules: `-unencrypted` needs Client/AllowUnencrypted; Basic over HTTP needs
    /// `-unencrypted`; any authentication over HTTP needs the host in Client/TrustedHosts
    /// (checked when the client is made, see [`wsman_client::Client::new`]).
    pub fn client_options(
        &self,
        user_agent: &str,
        settings: &ClientSettings,
        password: impl FnOnce(&str) -> std::io::Result<String>,
    ) -> Result<ClientOptions, CliError> {
        self.check()?;
        if self.unencrypted && !settings.allow_unencrypted {
            return Err(CliError::Usage(SwitchError::new(
                "The WinRM client cannot process the request. Unencrypted traffic is currently \
                 disabled in the client configuration. Change the client configuration \
                 (winrm set winrm/config/client @{AllowUnencrypted=\"true\"}) and try the \
                 request again.",
            )));
        }
        let mut tls = TlsOptions::default();
        tls.ca_file = self.ca_file.clone();
        tls.skip_ca_check = self.skip_ca_check;
        tls.skip_cn_check = self.skip_cn_check;
        let ask = |user: &str| match &self.password {
            Some(p) => Ok(p.clone()),
            None => password(user).map_err(|e| CliError::Password { source: e }),
        };
        let auth = match (self.effective_auth(), &self.username) {
            (AuthChoice::None, _) => Auth::None,
            (AuthChoice::Basic, Some(user)) => {
                Auth::Basic(Credentials::new(user.clone(), ask(user)?))
            }
            (AuthChoice::Negotiate, Some(user)) => {
                let mut negotiate = NegotiateAuth::new(user, &ask(user)?);
                // -unencrypted with Negotiate over HTTP: authenticate, but send plaintext
                // (the server must allow unencrypted traffic too).
                negotiate.encrypt = !self.unencrypted;
                Auth::Negotiate(negotiate)
            }
            (AuthChoice::CredSsp, Some(user)) => {
                let mut credssp = wsman_client::credssp::CredSspAuth::new(user, &ask(user)?);
                credssp.encrypt = !self.unencrypted;
                Auth::CredSsp(credssp)
            }
            (AuthChoice::Kerberos, user) => {
                let mut kerberos = match user {
                    Some(user) => {
                        wsman_client::kerberos::KerberosAuth::with_password(user, &ask(user)?)
                    }
                    None => wsman_client::kerberos::KerberosAuth::from_ccache(),
                };
                if let Some(service) = &self.spn {
                    kerberos = kerberos.with_service(service);
                }
                kerberos.encrypt = !self.unencrypted;
                Auth::Kerberos(kerberos)
            }
            (AuthChoice::Certificate, _) => {
                let given = self.certificate.as_deref().unwrap_or_default();
                let certs_dir = settings
                    .certs_dir
                    .clone()
                    .unwrap_or_else(|| PathBuf::from("/etc/wsmand/certs"));
                tls.client_certificate = Some(
                    wsman_client::tls::ClientCertificate::from_argument(given, &certs_dir)
                        .map_err(|e| CliError::Usage(SwitchError::new(e.to_string())))?,
                );
                Auth::Certificate
            }
            (_, None) => return Err(CliError::Usage(SwitchError::new("this -a: needs -u:USER"))),
        };
        let mut options = ClientOptions::default();
        options.auth = auth;
        options.allow_unencrypted = self.unencrypted && settings.allow_unencrypted;
        options.trusted_hosts = Some(settings.trusted_hosts.clone());
        options.tls = tls;
        if let Some(millis) = self.timeout_ms {
            options.operation_timeout = Duration::from_millis(millis);
        }
        options.user_agent = user_agent.to_owned();
        Ok(options)
    }
}

/// Why client settings could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CliError {
    /// The switches are wrong.
    #[error(transparent)]
    Usage(#[from] SwitchError),
    /// The password could not be read.
    #[error("cannot read the password: {source}")]
    Password {
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Longest password line accepted.
const MAX_PASSWORD_LINE: usize = 4096;

fn read_line() -> std::io::Result<String> {
    let mut line = String::new();
    let stdin = std::io::stdin();
    let mut handle = stdin.lock().take(MAX_PASSWORD_LINE as u64 + 1);
    handle.read_line(&mut line)?;
    if line.len() > MAX_PASSWORD_LINE {
        return Err(std::io::Error::other("the password line is too long"));
    }
    while line.ends_with(['\n', '\r']) {
        line.pop();
    }
    Ok(line)
}

/// Echo off for the lifetime of the guard; restored on drop (also on errors).
struct EchoOff {
    saved: termios::Termios,
}

impl EchoOff {
    fn new() -> Option<Self> {
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(&stdin).ok()?;
        let mut quiet = saved.clone();
        quiet.local_flags.remove(LocalFlags::ECHO);
        quiet.local_flags.insert(LocalFlags::ECHONL);
        termios::tcsetattr(&stdin, SetArg::TCSANOW, &quiet).ok()?;
        Some(Self { saved })
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin(), SetArg::TCSANOW, &self.saved);
    }
}

/// The password for `user`: asked on the terminal without echo when stdin is one, else one
/// line of standard input (for scripts: `printf '%s\n' "$PW" | winrm ... -u:admin`).
pub fn read_password(user: &str) -> std::io::Result<String> {
    if std::io::stdin().is_terminal() {
        // Echo goes off before the prompt shows: whatever is typed once the prompt is visible
        // (also by a fast typist or an `expect` script) must never be echoed.
        let guard = EchoOff::new();
        eprint!("Enter the password for '{user}': ");
        let _ = std::io::stderr().flush();
        let line = read_line();
        if guard.is_none() {
            eprintln!();
        }
        drop(guard);
        line
    } else {
        read_line()
    }
}

/// Windows prints Win32 codes as HRESULTs (0x8007xxxx).
fn hresult(code: u32) -> u32 {
    if code != 0 && code <= 0xFFFF {
        0x8007_0000 | code
    } else {
        code
    }
}

/// `Error number:  -2144108526 0x80338012`, as Windows prints a WSManFault code.
pub fn error_number(code: u32) -> String {
    let h = hresult(code);
    format!("Error number:  {} 0x{h:08X}", h as i32)
}

/// `WSManFault\n    Message = TEXT\n`.
pub fn fault_block(message: &str) -> String {
    format!("WSManFault\n    Message = {message}\n")
}

/// A fault block, the error number when there is one, and the message again.
pub fn with_number(message: &str, code: Option<u32>) -> String {
    match code {
        Some(c) => format!("{}\n{}\n{message}\n", fault_block(message), error_number(c)),
        None => format!("{}\n{message}\n", fault_block(message)),
    }
}

const CONNECT_MESSAGE: &str = "WinRM cannot complete the operation. Verify that the specified computer name is valid, \
that the computer is accessible over the network, and that a firewall exception for the WinRM service is enabled \
and allows access from this computer.";

/// The text Windows' tools print to stderr for a failed operation.
pub fn describe_error(c: &ClientError) -> String {
    match c {
        ClientError::Fault {
            wsman_code,
            message,
            detail,
            ..
        } => {
            let block = match detail {
                Some(d) => windows_text(d),
                None => fault_block(message),
            };
            match wsman_code {
                Some(code) => format!("{block}\n{}\n{message}\n", error_number(*code)),
                None => format!("{block}\n{message}\n"),
            }
        }
        ClientError::Unauthorized { offered } => with_number(
            &format!(
                "Access is denied. (The server refused the credentials: check -u:/-p:, and \
                 that the scheme chosen with -a: is enabled on the server; Negotiate needs an \
                 account with NTLM enabled on wsmand. The server offers: {}.)",
                if offered.is_empty() {
                    "nothing".to_owned()
                } else {
                    offered
                        .iter()
                        .map(|o| o.split_whitespace().next().unwrap_or_default())
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ),
            Some(5),
        ),
        ClientError::Authentication { reason } => with_number(
            &format!("The WinRM client cannot complete the authentication: {reason}"),
            Some(5),
        ),
        ClientError::Http { status: 413 } => with_number(
            "The WinRM client sent a request to the remote WS-Management service and was notified \
             that the request size exceeded the configured MaxEnvelopeSize quota.",
            Some(2150859025),
        ),
        ClientError::Http { status } => with_number(
            &format!("The WinRM client received an HTTP status code of {status} from the remote WS-Management service."),
            None,
        ),
        ClientError::Tls { message, kind } => {
            let (what, code) = match kind {
                TlsFailure::UnknownIssuer => (
                    "The SSL certificate is signed by an unknown certificate authority \
                     (use -skipCAcheck only for test hosts)",
                    Some(0x8007_2F0D),
                ),
                TlsFailure::NameMismatch => (
                    "The SSL certificate contains a common name (CN) that does not match the host name \
                     (use -skipCNcheck only for test hosts)",
                    Some(0x8007_2F06),
                ),
                TlsFailure::Expired => ("The SSL certificate is expired or not yet valid", Some(0x8007_2F05)),
                _ => ("The TLS handshake failed", Some(0x8007_2F8F)),
            };
            with_number(
                &format!("The server certificate on the destination computer has the following errors: {what}. ({message})"),
                code,
            )
        }
        ClientError::Io { target, source } => with_number(
            &format!("{CONNECT_MESSAGE} ({target}: {source})"),
            Some(2150858770),
        ),
        ClientError::Timeout { millis } => with_number(
            &format!("The WS-Management service did not answer within {millis} ms. {CONNECT_MESSAGE}"),
            Some(2150858793),
        ),
        other => with_number(&other.to_string(), None),
    }
}

/// What kind of failure a client error is. Both commands decide their exit code on this, each
/// with its own numbers (winrs keeps clear of the codes remote commands return).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureKind {
    /// The server answered with a WS-Management fault.
    Fault,
    /// The server's answer is not valid WS-Management.
    Protocol,
    /// The server refused the credentials (HTTP 401).
    Unauthorized,
    /// The endpoint given on the command line is wrong.
    InvalidEndpoint,
    /// This machine's client settings refuse the request (unencrypted traffic, TrustedHosts,
    /// an unreadable CA file).
    Configuration,
    /// Network, TLS, HTTP or no answer in time.
    Connection,
}

/// The kind of `error`.
pub fn failure_kind(error: &ClientError) -> FailureKind {
    match error {
        ClientError::Fault { .. } => FailureKind::Fault,
        ClientError::Protocol { .. } => FailureKind::Protocol,
        ClientError::Unauthorized { .. } => FailureKind::Unauthorized,
        ClientError::InvalidEndpoint { .. } => FailureKind::InvalidEndpoint,
        ClientError::Configuration { .. } => FailureKind::Configuration,
        _ => FailureKind::Connection,
    }
}

#[cfg(test)]
#[path = "lib_tests.rs"]
mod tests;
