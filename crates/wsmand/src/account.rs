//! `wsmand account ...`: manage the service's own accounts in
//! `DIR/accounts.toml` (the server checks credentials against them, then
//! PAM, in `wsman_server::auth`).
//!
//! Passwords are only ever read from standard input (`--password-stdin`):
//! a password on the command line would be visible in `ps` and in shell
//! history.

use std::fs::DirBuilder;
use std::io::{self, BufRead, IsTerminal, Read, Write};
use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use anyhow::{bail, Context};
use wsman_auth::accounts::MAX_PASSWORD_LEN;
use zeroize::Zeroizing;

/// `wsmand account` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum AccountCommand {
    /// Add a service account; the password is read from standard input.
    Add {
        /// Account name (letters, digits, '.', '_', '-'; at most 32).
        name: String,
        /// Read the password from standard input (required).
        #[arg(long)]
        password_stdin: bool,
        /// Linux user this account acts as (for authorization and shells).
        /// Without it the account can only Identify.
        #[arg(long, value_name = "LINUXUSER")]
        run_as: Option<String>,
        /// Also store the NT hash so the account can log in with Negotiate/NTLM (the hash is
        /// password-equivalent for NTLM; it is kept in accounts.toml, mode 0600).
        #[arg(long)]
        ntlm: bool,
    },
    /// List service accounts and their run-as users.
    List,
    /// Remove a service account.
    Remove {
        /// Account name.
        name: String,
    },
    /// Change a service account's password, read from standard input.
    Passwd {
        /// Account name.
        name: String,
        /// Read the password from standard input (required).
        #[arg(long)]
        password_stdin: bool,
        /// Start storing the NT hash (NTLM logins). An account that has one keeps it current
        /// without this flag.
        #[arg(long, conflicts_with = "no_ntlm")]
        ntlm: bool,
        /// Drop the NT hash: the account can no longer log in with NTLM.
        #[arg(long)]
        no_ntlm: bool,
    },
}

/// Runs an account subcommand against `config_dir`, reading the password
/// from standard input and reporting on standard output.
pub(crate) fn run(command: AccountCommand, config_dir: &Path) -> anyhow::Result<()> {
    let stdin = io::stdin();
    if stdin.is_terminal() && needs_password(&command) {
        eprintln!(
            "Reading the password from standard input (it is echoed); end with Enter, then Ctrl-D."
        );
    }
    run_with(
        command,
        config_dir,
        &mut stdin.lock(),
        &mut io::stdout().lock(),
    )
}

fn needs_password(command: &AccountCommand) -> bool {
    matches!(
        command,
        AccountCommand::Add {
            password_stdin: true,
            ..
        } | AccountCommand::Passwd {
            password_stdin: true,
            ..
        }
    )
}

fn run_with(
    command: AccountCommand,
    config_dir: &Path,
    input: &mut dyn BufRead,
    output: &mut dyn Write,
) -> anyhow::Result<()> {
    match command {
        AccountCommand::Add {
            name,
            password_stdin,
            run_as,
            ntlm,
        } => add(
            &name,
            password_stdin,
            run_as,
            ntlm,
            config_dir,
            input,
            output,
        )?,
        AccountCommand::List => list(config_dir, output)?,
        AccountCommand::Remove { name } => {
            let mut store = wsman_config::accounts::load(config_dir)?;
            let account = store.remove(&name)?;
            writeln!(output, "Removed service account '{}'.", account.name)?;
        }
        AccountCommand::Passwd {
            name,
            password_stdin,
            ntlm,
            no_ntlm,
        } => {
            require_password_stdin(password_stdin)?;
            let mut store = wsman_config::accounts::load(config_dir)?;
            if !store.contains(&name) {
                bail!("service account '{name}' does not exist");
            }
            let password = read_password(input)?;
            let mut account = store.passwd(&name, &password)?;
            if ntlm {
                account = store.enable_ntlm(&name, &password)?;
            } else if no_ntlm {
                account = store.disable_ntlm(&name)?;
            }
            writeln!(
                output,
                "Changed the password of service account '{}' (NTLM logins {}).",
                account.name,
                if account.ntlm { "enabled" } else { "disabled" }
            )?;
        }
    }
    Ok(())
}

/// `wsmand account add`: the account stored (with its NT hash when `ntlm`), and what an
/// operator should know of it: whether it is an administrator, and that a Linux user of the
/// same name is a different caller.
fn add(
    name: &str,
    password_stdin: bool,
    run_as: Option<String>,
    ntlm: bool,
    config_dir: &Path,
    input: &mut dyn BufRead,
    output: &mut dyn Write,
) -> anyhow::Result<()> {
    wsman_auth::validate_account_name(name)?;
    require_password_stdin(password_stdin)?;
    if let Some(linux_user) = &run_as {
        require_linux_user(linux_user)?;
    }
    let password = read_password(input)?;
    create_config_dir(config_dir)?;
    let mut store = wsman_config::accounts::load(config_dir)?;
    let mut account = store.add(name, &password, run_as)?;
    if ntlm {
        account = store.enable_ntlm(name, &password)?;
    }
    match &account.run_as {
        Some(linux_user) => writeln!(
            output,
            "Added service account '{}' (runs as Linux user '{linux_user}').",
            account.name
        )?,
        None => writeln!(
            output,
            "Added service account '{}' (no run-as user: it can authenticate \
             but is not an administrator).",
            account.name
        )?,
    }
    if account.ntlm {
        writeln!(output, "NTLM logins are enabled for '{}'.", account.name)?;
    }
    if wsman_os::lookup_user(&account.name)
        .ok()
        .flatten()
        .is_some()
    {
        writeln!(
            output,
            "Note: a Linux user '{}' exists; WinRM logins as '{}' now use this \
             account's password, not the Linux one.",
            account.name, account.name
        )?;
        writeln!(
            output,
            "Note: the service account '{name}' and the Linux user '{name}' (by Kerberos \
             as {name}@REALM, or by a certificate) are different callers: neither \
             lists, uses, connects to or ends the other's shells, PowerShell pools, \
             enumerations or subscriptions.",
            name = account.name
        )?;
    }
    Ok(())
}

/// `wsmand account list`: a table of the accounts, their run-as users and NTLM.
fn list(config_dir: &Path, output: &mut dyn Write) -> anyhow::Result<()> {
    let store = wsman_config::accounts::load(config_dir)?;
    let accounts = store.list();
    if accounts.is_empty() {
        writeln!(output, "No service accounts in {}.", store.path().display())?;
        return Ok(());
    }
    let width = accounts
        .iter()
        .map(|account| account.name.len())
        .max()
        .unwrap_or(0)
        .max("NAME".len());
    let run_as_width = accounts
        .iter()
        .map(|account| account.run_as.as_deref().unwrap_or("-").len())
        .max()
        .unwrap_or(0)
        .max("RUN-AS".len());
    writeln!(
        output,
        "{:<width$}  {:<run_as_width$}  NTLM",
        "NAME", "RUN-AS"
    )?;
    for account in accounts {
        let run_as = account.run_as.as_deref().unwrap_or("-");
        let ntlm = if account.ntlm { "yes" } else { "no" };
        writeln!(
            output,
            "{:<width$}  {run_as:<run_as_width$}  {ntlm}",
            account.name
        )?;
    }
    Ok(())
}

pub(crate) fn require_password_stdin(password_stdin: bool) -> anyhow::Result<()> {
    if !password_stdin {
        bail!(
            "pass --password-stdin and write the password to standard input \
             (passwords are never taken from the command line)"
        );
    }
    Ok(())
}

fn require_linux_user(linux_user: &str) -> anyhow::Result<()> {
    let found = wsman_os::lookup_user(linux_user)
        .with_context(|| format!("looking up run-as user '{linux_user}'"))?;
    if found.is_none() {
        bail!("run-as user '{linux_user}' is not a Linux user on this host");
    }
    Ok(())
}

/// Reads the whole of `input` as the password, dropping one trailing
/// newline (`\n` or `\r\n`). The buffer is sized up front so it never
/// reallocates (which would leave an unwiped copy behind).
pub(crate) fn read_password(input: &mut dyn BufRead) -> anyhow::Result<Zeroizing<String>> {
    // Room for the longest password, a CRLF, and one byte to detect overflow.
    let limit = MAX_PASSWORD_LEN + 3;
    let mut bytes = Zeroizing::new(Vec::with_capacity(limit));
    input
        .take(limit as u64)
        .read_to_end(&mut bytes)
        .context("reading the password from standard input")?;
    // Truncating leaves the newline in spare capacity, which `Zeroizing`
    // wipes along with the rest on drop.
    let newline_len = if bytes.ends_with(b"\r\n") {
        2
    } else {
        usize::from(bytes.ends_with(b"\n"))
    };
    let password_len = bytes.len() - newline_len;
    bytes.truncate(password_len);
    if bytes.is_empty() {
        bail!("the password read from standard input is empty");
    }
    if bytes.len() > MAX_PASSWORD_LEN {
        bail!("the password is longer than {MAX_PASSWORD_LEN} bytes");
    }
    if bytes.iter().any(|&byte| matches!(byte, b'\n' | b'\r' | 0)) {
        bail!(
            "the password contains a line break or NUL byte (only one trailing newline is removed)"
        );
    }
    let text = std::str::from_utf8(&bytes).context("the password is not valid UTF-8")?;
    Ok(Zeroizing::new(text.to_owned()))
}

/// Creates the configuration directory (owner-only) if it is missing, so
/// that `account add` works on a fresh host.
pub(crate) fn create_config_dir(config_dir: &Path) -> anyhow::Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(config_dir)
        .with_context(|| format!("creating {}", config_dir.display()))
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use clap::Parser;

    use super::*;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        command: AccountCommand,
    }

    fn run_text(dir: &Path, args: &[&str], stdin: &str) -> anyhow::Result<String> {
        let command =
            Cli::try_parse_from(std::iter::once("account").chain(args.iter().copied()))?.command;
        let mut output = Vec::new();
        run_with(
            command,
            dir,
            &mut Cursor::new(stdin.as_bytes()),
            &mut output,
        )?;
        Ok(String::from_utf8(output)?)
    }

    /// An account named after a Linux user says that the two are different callers (what
    /// one opens, the other cannot see or use), not only whose password a login checks.
    #[test]
    fn adding_an_account_named_after_a_linux_user_says_they_are_different_callers() {
        let dir = tempfile::tempdir().unwrap();
        let said = run_text(dir.path(), &["add", "root", "--password-stdin"], "pw\n").unwrap();
        assert!(said.contains("a Linux user 'root' exists"), "{said}");
        assert!(said.contains("are different callers"), "{said}");
        assert!(said.contains("root@REALM"), "{said}");
        let unrelated = run_text(
            dir.path(),
            &["add", "wsmand-no-such-user-7", "--password-stdin"],
            "pw\n",
        )
        .unwrap();
        assert!(!unrelated.contains("different callers"), "{unrelated}");
    }

    #[test]
    fn add_list_passwd_remove() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("etc-wsmand");
        let said = run_text(
            &config,
            &["add", "deploy", "--password-stdin", "--run-as", "root"],
            "s3cret:with:colons\n",
        )
        .unwrap();
        assert!(said.contains("Added service account 'deploy'"), "{said}");
        assert!(said.contains("'root'"), "{said}");
        let store = wsman_config::accounts::load(&config).unwrap();
        assert!(store.verify("deploy", "s3cret:with:colons").is_some());

        run_text(&config, &["add", "bare", "--password-stdin"], "pw\r\n").unwrap();
        assert!(wsman_config::accounts::load(&config)
            .unwrap()
            .verify("bare", "pw")
            .is_some());

        let listed = run_text(&config, &["list"], "").unwrap();
        assert_eq!(
            listed,
            "NAME    RUN-AS  NTLM\ndeploy  root    no\nbare    -       no\n"
        );
        assert!(!listed.contains("argon2"));

        let said = run_text(&config, &["passwd", "deploy", "--password-stdin"], "new\n").unwrap();
        assert!(said.contains("Changed the password"), "{said}");
        let store = wsman_config::accounts::load(&config).unwrap();
        assert!(store.verify("deploy", "s3cret:with:colons").is_none());
        assert!(store.verify("deploy", "new").is_some());

        let said = run_text(&config, &["remove", "deploy"], "").unwrap();
        assert!(said.contains("Removed service account 'deploy'"), "{said}");
        assert!(run_text(&config, &["remove", "deploy"], "").is_err());
        assert_eq!(
            run_text(&config, &["list"], "").unwrap(),
            "NAME  RUN-AS  NTLM\nbare  -       no\n"
        );
    }

    #[test]
    fn ntlm_opt_in_add_passwd_and_drop() {
        use wsman_auth::ntlm::{nt_hash_of_password, NtHashLookup};
        let dir = tempfile::tempdir().unwrap();
        let said = run_text(
            dir.path(),
            &["add", "svc", "--password-stdin", "--ntlm"],
            "pw1\n",
        )
        .unwrap();
        assert!(said.contains("NTLM logins are enabled"), "{said}");
        let hash = |dir: &Path| {
            wsman_config::accounts::load(dir)
                .unwrap()
                .lookup("svc")
                .map(|a| a.hash)
        };
        assert_eq!(hash(dir.path()), Some(nt_hash_of_password("pw1")));
        assert!(!said.contains(&*nt_hash_of_password("pw1").to_hex()));
        run_text(dir.path(), &["passwd", "svc", "--password-stdin"], "pw2\n").unwrap();
        assert_eq!(hash(dir.path()), Some(nt_hash_of_password("pw2")));
        let listed = run_text(dir.path(), &["list"], "").unwrap();
        assert!(listed.contains("svc   -       yes"), "{listed}");
        let passwd = |ntlm: &str, password: &str| {
            let args = ["passwd", "svc", "--password-stdin", ntlm];
            run_text(dir.path(), &args, password).unwrap()
        };
        let said = passwd("--no-ntlm", "pw3\n");
        assert!(said.contains("NTLM logins disabled"), "{said}");
        assert_eq!(hash(dir.path()), None);
        passwd("--ntlm", "pw4\n");
        assert_eq!(hash(dir.path()), Some(nt_hash_of_password("pw4")));
    }

    #[test]
    fn list_of_missing_store_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let said = run_text(dir.path(), &["list"], "").unwrap();
        assert!(said.starts_with("No service accounts"), "{said}");
    }

    #[test]
    fn refuses_passwords_not_from_stdin_and_bad_passwords() {
        let dir = tempfile::tempdir().unwrap();
        let error = run_text(dir.path(), &["add", "svc"], "pw\n").unwrap_err();
        assert!(error.to_string().contains("--password-stdin"), "{error}");
        // A password given as an extra argument is not accepted either.
        assert!(run_text(dir.path(), &["add", "svc", "pw", "--password-stdin"], "").is_err());
        for bad in ["", "\n", "\r\n", "two\nlines\n", "nul\0byte"] {
            assert!(
                run_text(dir.path(), &["add", "svc", "--password-stdin"], bad).is_err(),
                "{bad:?}"
            );
        }
        let long = "x".repeat(MAX_PASSWORD_LEN + 1);
        assert!(run_text(dir.path(), &["add", "svc", "--password-stdin"], &long).is_err());
        assert!(wsman_config::accounts::load(dir.path())
            .unwrap()
            .list()
            .is_empty());
        let error = run_text(dir.path(), &["passwd", "svc", "--password-stdin"], "pw").unwrap_err();
        assert!(error.to_string().contains("does not exist"), "{error}");
    }

    #[test]
    fn refuses_unknown_run_as_user_and_bad_names() {
        let dir = tempfile::tempdir().unwrap();
        let error = run_text(
            dir.path(),
            &[
                "add",
                "svc",
                "--password-stdin",
                "--run-as",
                "wsmand-no-such-user-x7",
            ],
            "pw\n",
        )
        .unwrap_err();
        assert!(error.to_string().contains("not a Linux user"), "{error}");
        let error =
            run_text(dir.path(), &["add", "DOM\\svc", "--password-stdin"], "pw\n").unwrap_err();
        assert!(
            error.to_string().contains("invalid account name"),
            "{error}"
        );
        assert!(wsman_config::accounts::load(dir.path())
            .unwrap()
            .list()
            .is_empty());
    }
}
