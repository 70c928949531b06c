//! The service's own accounts (`DIR/accounts.toml`), the analogue of the IIS
//! management service's "manager credentials".
//!
//! Passwords are stored as argon2id PHC strings. The file holds password
//! hashes, so it must be mode 0600: it is created so, every write goes
//! through a 0600 temporary file that is fsynced and renamed over the old
//! one, and a file that group or others can read or write is refused.
//!
//! File format:
//!
//! ```toml
//! [[account]]
//! name = "deploy"
//! password_hash = "$argon2id$v=19$m=19456,t=2,p=1$..."
//! run_as = "deploy"        # optional: the Linux user this account acts as
//! nt_hash = "8846f7ea..."  # optional (`--ntlm`): hex MD4(UTF-16LE(password)) for NTLM
//! ```
//!
//! NTLM cannot work from the argon2id hash: the server needs the NT hash itself, which is
//! password-equivalent for NTLM. It is therefore stored only for accounts that opt in
//! (`wsmand account add NAME --ntlm`), kept current by `passwd`, and dropped by `--no-ntlm`.
//!
//! This module is the accounts as data: the file's text parsed and checked, hashing and
//! verification, and each change applied to the text. Reading and replacing the file (its
//! mode, its size bound, the writers' lock, the atomic write) is I/O, done behind
//! [`AccountFile`] by `wsman_config::accounts`, so this crate stays pure.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, Zeroizing};

/// Name of the accounts file inside the configuration directory.
pub const ACCOUNTS_FILE_NAME: &str = "accounts.toml";

/// Longest account name accepted (the Linux `LOGIN_NAME_MAX` is 256, but
/// `useradd` caps names at 32; staying at 32 keeps names printable in
/// `account list` columns and logs).
pub const MAX_ACCOUNT_NAME_LEN: usize = 32;

/// Longest password accepted by `add`/`passwd`. Hashing cost does not depend
/// on it much, but an upper bound keeps memory use predictable.
pub const MAX_PASSWORD_LEN: usize = 1024;

/// Largest accounts file read (1 MiB, several thousand accounts): the file
/// is read on every authentication, so its size is bounded.
pub const MAX_ACCOUNTS_FILE_LEN: u64 = 1024 * 1024;

/// argon2id memory cost in KiB (19 MiB), time cost 2, parallelism 1: the
/// OWASP Password Storage Cheat Sheet's first recommended argon2id setting.
/// One verification takes a few tens of milliseconds on a small server,
/// which is affordable because authentication is paid once per TCP
/// connection, and the memory cost makes GPU guessing of a stolen file
/// expensive. Parallelism 1 keeps a verification on one core, so a burst
/// of logins cannot take every core of a 2-core machine.
const ARGON2_M_COST_KIB: u32 = 19_456;
const ARGON2_T_COST: u32 = 2;
const ARGON2_P_COST: u32 = 1;

/// A well-formed hash with the same parameters as real hashes, whose
/// password nobody knows. Verifying an unknown name against it costs as much as verifying
/// a known one, so response time does not reveal which names exist.
const DUMMY_PASSWORD_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$K9VSe0Vbp6NzzGRqOu5YFw$tTqkF2ALmjXNhV3HvdE3WOvYhZrkD4YqYlbEe5S8TSY";

/// A service account as shown to callers: never includes the hash.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Account {
    /// The account name clients log in with.
    pub name: String,
    /// The Linux user this account acts as, if any. Without one the account
    /// can authenticate but is never an administrator.
    pub run_as: Option<String>,
    /// Whether the account may log in with NTLM (an NT hash is stored).
    pub ntlm: bool,
}

/// Why an accounts operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccountError {
    /// Reading or writing the file (or its lock or temporary file) failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// The file can be read or written by group or others.
    #[error(
        "{}: mode {mode:04o} lets other users read or change password hashes; \
         run `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    InsecurePermissions {
        /// The file involved.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The file is larger than [`MAX_ACCOUNTS_FILE_LEN`].
    #[error("{}: larger than {max} bytes", path.display())]
    TooLarge {
        /// The file involved.
        path: PathBuf,
        /// The limit.
        max: u64,
    },
    /// The file is not valid TOML of the expected shape (the message
    /// includes line and column).
    #[error("{}: {source}", path.display())]
    Parse {
        /// The file involved.
        path: PathBuf,
        /// The TOML error.
        source: toml::de::Error,
    },
    /// An entry's `password_hash` is not a PHC string we can verify.
    #[error("{}: account '{name}' has an invalid password_hash", path.display())]
    InvalidHash {
        /// The file involved.
        path: PathBuf,
        /// The account whose hash is bad.
        name: String,
    },
    /// The same name appears twice in the file, or an entry's name breaks the
    /// naming rules.
    #[error("{}: account '{name}': {problem}", path.display())]
    InvalidEntry {
        /// The file involved.
        path: PathBuf,
        /// The offending name.
        name: String,
        /// What is wrong with it.
        problem: &'static str,
    },
    /// A new account name breaks the naming rules.
    #[error("invalid account name '{name}': {problem}")]
    InvalidName {
        /// The name given (printable: control characters are refused
        /// before this name is shown).
        name: String,
        /// Which rule it breaks.
        problem: &'static str,
    },
    /// A run-as user name is not a plausible Linux login name.
    #[error("invalid run-as user '{name}': {problem}")]
    InvalidRunAs {
        /// The name given (escaped for printing).
        name: String,
        /// Which rule it breaks.
        problem: &'static str,
    },
    /// `add` of a name that already exists.
    #[error("account '{name}' already exists")]
    AlreadyExists {
        /// The name.
        name: String,
    },
    /// `remove`/`passwd` of a name that does not exist.
    #[error("account '{name}' does not exist")]
    NotFound {
        /// The name.
        name: String,
    },
    /// A new password is empty or longer than [`MAX_PASSWORD_LEN`].
    #[error("password must be 1 to {max} bytes long")]
    InvalidPassword {
        /// The limit.
        max: usize,
    },
    /// The accounts could not be encoded as TOML (should not happen: every
    /// field is a plain string).
    #[error("encoding the accounts file failed: {message}")]
    Encode {
        /// The TOML error text.
        message: String,
    },
    /// argon2 refused to hash (should not happen with our fixed parameters).
    #[error("password hashing failed: {message}")]
    Hash {
        /// The argon2 error text.
        message: String,
    },
}

/// Where an [`AccountStore`]'s accounts are kept: `DIR/accounts.toml` behind the file I/O of
/// `wsman_config::accounts`. The text it hands over holds password hashes and NT hashes, so it
/// comes and goes as [`Zeroizing`] strings.
pub trait AccountFile: std::fmt::Debug + Send + Sync {
    /// The file, for messages.
    fn path(&self) -> &Path;

    /// The file's text, `None` when there is no file (no accounts yet). Refuses a file that
    /// group or others may read or write, and one larger than [`MAX_ACCOUNTS_FILE_LEN`].
    fn read(&self) -> Result<Option<Zeroizing<String>>, AccountError>;

    /// Under the writers' lock: reads the text again, hands it to `change`, and replaces the
    /// file (mode 0600, atomically) with what `change` returns.
    fn update(&self, change: AccountsChange<'_>) -> Result<(), AccountError>;
}

/// One change to the accounts' text: the text as read (`None`: no file) to the text to write.
pub type AccountsChange<'a> =
    Box<dyn FnOnce(Option<Zeroizing<String>>) -> Result<Zeroizing<String>, AccountError> + 'a>;

/// The accounts in `DIR/accounts.toml`, as loaded.
///
/// `open` takes a snapshot; `add`, `remove` and `passwd` lock the file,
/// re-read it, apply the change, write it atomically and update the
/// snapshot, so two concurrent `wsmand account` commands cannot lose each
/// other's changes.
#[derive(Debug)]
pub struct AccountStore {
    file: Arc<dyn AccountFile>,
    accounts: Vec<StoredAccount>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountsFile {
    #[serde(default, rename = "account")]
    accounts: Vec<StoredAccount>,
}

#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredAccount {
    name: String,
    password_hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    run_as: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    nt_hash: Option<NtHashHex>,
}

/// An NT hash as `accounts.toml` stores it (32 hex digits). It is as good as the password to
/// NTLM (pass-the-hash), so its memory is wiped when it is dropped, like `ntlm::NtHash`.
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
struct NtHashHex(String);

impl NtHashHex {
    fn as_str(&self) -> &str {
        &self.0
    }
}

impl Drop for NtHashHex {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl zeroize::ZeroizeOnDrop for NtHashHex {}

/// Hashes stay out of debug output and logs: they are what an attacker
/// would brute-force offline.
impl std::fmt::Debug for StoredAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredAccount")
            .field("name", &self.name)
            .field("password_hash", &"<redacted>")
            .field("run_as", &self.run_as)
            .field("nt_hash", &self.nt_hash.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl StoredAccount {
    fn to_account(&self) -> Account {
        Account {
            name: self.name.clone(),
            run_as: self.run_as.clone(),
            ntlm: self.nt_hash.is_some(),
        }
    }
}

impl AccountStore {
    /// Path of the accounts file inside `config_dir`.
    pub fn path_in(config_dir: &Path) -> PathBuf {
        config_dir.join(ACCOUNTS_FILE_NAME)
    }

    /// Reads the accounts from `file`. A missing file is an empty store (no service accounts
    /// yet); an unsafe or malformed one is an error.
    pub fn open(file: Arc<dyn AccountFile>) -> Result<Self, AccountError> {
        let text = file.read()?;
        let accounts = parse_accounts(file.path(), text.as_deref().map(String::as_str))?;
        Ok(Self { file, accounts })
    }

    /// The file this store reads and writes.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Whether `name` is a service account.
    pub fn contains(&self, name: &str) -> bool {
        self.find(name).is_some()
    }

    /// The account called `name`, if any.
    pub fn get(&self, name: &str) -> Option<Account> {
        self.find(name).map(StoredAccount::to_account)
    }

    /// All accounts, in file order.
    pub fn list(&self) -> Vec<Account> {
        self.accounts
            .iter()
            .map(StoredAccount::to_account)
            .collect()
    }

    /// Checks `password` for `name`. Unknown names are verified against a
    /// dummy hash first, so they take as long as a wrong password.
    pub fn verify(&self, name: &str, password: &str) -> Option<Account> {
        let Some(stored) = self.find(name) else {
            let _ = verify_password(DUMMY_PASSWORD_HASH, password);
            return None;
        };
        verify_password(&stored.password_hash, password).then(|| stored.to_account())
    }

    /// Adds an account with a freshly salted hash of `password`.
    pub fn add(
        &mut self,
        name: &str,
        password: &str,
        run_as: Option<String>,
    ) -> Result<Account, AccountError> {
        validate_account_name(name)?;
        if let Some(linux_user) = &run_as {
            validate_run_as(linux_user)?;
        }
        let password_hash = hash_password(password)?;
        let name = name.to_owned();
        self.modify(|accounts| {
            if accounts.iter().any(|account| account.name == name) {
                return Err(AccountError::AlreadyExists { name: name.clone() });
            }
            let added = StoredAccount {
                name: name.clone(),
                password_hash: password_hash.to_string(),
                run_as: run_as.clone(),
                nt_hash: None,
            };
            accounts.push(added.clone());
            Ok(added.to_account())
        })
    }

    /// Removes an account.
    pub fn remove(&mut self, name: &str) -> Result<Account, AccountError> {
        self.modify(|accounts| {
            let index = accounts
                .iter()
                .position(|account| account.name == name)
                .ok_or_else(|| AccountError::NotFound {
                    name: name.to_owned(),
                })?;
            Ok(accounts.remove(index).to_account())
        })
    }

    /// Replaces an account's password with a hash under a new salt and the
    /// current parameters.
    pub fn passwd(&mut self, name: &str, password: &str) -> Result<Account, AccountError> {
        let password_hash = hash_password(password)?;
        self.modify(|accounts| {
            let account = stored_mut(accounts, name)?;
            account.password_hash = password_hash.to_string();
            if account.nt_hash.is_some() {
                account.nt_hash = Some(nt_hash_hex(password));
            }
            Ok(account.to_account())
        })
    }

    /// Stores (or replaces) the NT hash of `password` for `name`, letting it log in with
    /// NTLM. The caller passes the account's password (for `add --ntlm` and `passwd --ntlm`).
    pub fn enable_ntlm(&mut self, name: &str, password: &str) -> Result<Account, AccountError> {
        if password.is_empty() || password.len() > MAX_PASSWORD_LEN {
            return Err(AccountError::InvalidPassword {
                max: MAX_PASSWORD_LEN,
            });
        }
        self.modify(|accounts| {
            let account = stored_mut(accounts, name)?;
            account.nt_hash = Some(nt_hash_hex(password));
            Ok(account.to_account())
        })
    }

    /// Drops the NT hash: the account can no longer log in with NTLM.
    pub fn disable_ntlm(&mut self, name: &str) -> Result<Account, AccountError> {
        self.modify(|accounts| {
            let account = stored_mut(accounts, name)?;
            account.nt_hash = None;
            Ok(account.to_account())
        })
    }

    /// The stored name of the account a client's user name means, under every scheme (Basic,
    /// NTLM, CredSSP): the exact name first, else the one account whose name differs only in
    /// ASCII case, as Windows treats user names. Two accounts that differ only in case are
    /// reached by their exact names alone.
    pub fn login_name(&self, user: &str) -> Option<&str> {
        self.find_login(user).map(|account| account.name.as_str())
    }

    fn find_login(&self, user: &str) -> Option<&StoredAccount> {
        self.find(user).or_else(|| {
            let mut folded = self
                .accounts
                .iter()
                .filter(|a| a.name.eq_ignore_ascii_case(user));
            let only = folded.next()?;
            folded.next().is_none().then_some(only)
        })
    }

    /// The account a client's NTLM user name means ([`Self::login_name`]) and its NT hash,
    /// when it has one.
    fn ntlm_account(&self, user: &str) -> Option<crate::ntlm::NtlmAccount> {
        let stored = self.find_login(user)?;
        let hash = crate::ntlm::NtHash::from_hex(stored.nt_hash.as_ref()?.as_str())?;
        Some(crate::ntlm::NtlmAccount {
            name: stored.name.clone(),
            hash,
        })
    }

    fn find(&self, name: &str) -> Option<&StoredAccount> {
        self.accounts.iter().find(|account| account.name == name)
    }

    /// Lock, re-read, change, write atomically, then adopt the new state.
    fn modify<T>(
        &mut self,
        change: impl FnOnce(&mut Vec<StoredAccount>) -> Result<T, AccountError>,
    ) -> Result<T, AccountError> {
        let path = self.file.path().to_owned();
        let mut outcome = None;
        self.file.update(Box::new(|text| {
            let mut accounts = parse_accounts(&path, text.as_deref().map(String::as_str))?;
            let result = change(&mut accounts)?;
            let text = encode_accounts(&accounts)?;
            outcome = Some((result, accounts));
            Ok(text)
        }))?;
        let (result, accounts) = outcome.ok_or_else(|| AccountError::Encode {
            message: "the accounts file was not updated".to_owned(),
        })?;
        self.accounts = accounts;
        Ok(result)
    }
}

/// Checks the naming rules: 1 to [`MAX_ACCOUNT_NAME_LEN`] characters from
/// `A-Z a-z 0-9 . _ -`, starting with a letter, digit or `_`. This excludes
/// `\` and `@` (which clients use for domains), whitespace, and anything that
/// could confuse a log line or a TOML reader.
pub fn validate_account_name(name: &str) -> Result<(), AccountError> {
    let problem = if name.is_empty() {
        Some("must not be empty")
    } else if name.len() > MAX_ACCOUNT_NAME_LEN {
        Some("must be at most 32 characters")
    } else if !name
        .bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-'))
    {
        Some("may contain only letters, digits, '.', '_' and '-'")
    } else if !name
        .bytes()
        .next()
        .is_some_and(|byte| byte.is_ascii_alphanumeric() || byte == b'_')
    {
        Some("must start with a letter, digit or '_'")
    } else {
        None
    };
    refuse(problem, name, |name, problem| AccountError::InvalidName {
        name,
        problem,
    })
}

/// A run-as name must be a plausible Linux login: non-empty, at most 256
/// bytes (`LOGIN_NAME_MAX`), no whitespace or control characters. Whether
/// the user exists is the caller's check (this crate does not query NSS);
/// directory names such as `alice@example.com` are allowed.
fn validate_run_as(linux_user: &str) -> Result<(), AccountError> {
    let problem = if linux_user.is_empty() {
        Some("must not be empty")
    } else if linux_user.len() > 256 {
        Some("must be at most 256 bytes")
    } else if linux_user
        .chars()
        .any(|character| character.is_control() || character.is_whitespace() || character == ':')
    {
        Some("may not contain whitespace, control characters or ':'")
    } else {
        None
    };
    refuse(problem, linux_user, |name, problem| {
        AccountError::InvalidRunAs { name, problem }
    })
}

/// The rule `name` breaks, if any, as the error `invalid` makes of it with the name escaped
/// for printing.
fn refuse(
    problem: Option<&'static str>,
    name: &str,
    invalid: fn(String, &'static str) -> AccountError,
) -> Result<(), AccountError> {
    problem.map_or(Ok(()), |problem| {
        Err(invalid(name.escape_debug().to_string(), problem))
    })
}

/// The stored account named exactly `name`, for a change to it.
fn stored_mut<'a>(
    accounts: &'a mut [StoredAccount],
    name: &str,
) -> Result<&'a mut StoredAccount, AccountError> {
    accounts
        .iter_mut()
        .find(|account| account.name == name)
        .ok_or_else(|| AccountError::NotFound {
            name: name.to_owned(),
        })
}

fn argon2() -> Result<Argon2<'static>, AccountError> {
    let params =
        Params::new(ARGON2_M_COST_KIB, ARGON2_T_COST, ARGON2_P_COST, None).map_err(|error| {
            AccountError::Hash {
                message: error.to_string(),
            }
        })?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

fn hash_password(password: &str) -> Result<Zeroizing<String>, AccountError> {
    if password.is_empty() || password.len() > MAX_PASSWORD_LEN {
        return Err(AccountError::InvalidPassword {
            max: MAX_PASSWORD_LEN,
        });
    }
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    let hash = argon2()?
        .hash_password(password.as_bytes(), &salt)
        .map_err(|error| AccountError::Hash {
            message: error.to_string(),
        })?;
    Ok(Zeroizing::new(hash.to_string()))
}

/// Verifies with the parameters recorded in the hash itself, so hashes
/// made under older parameters keep working.
fn verify_password(phc: &str, password: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

fn nt_hash_hex(password: &str) -> NtHashHex {
    NtHashHex(
        crate::ntlm::nt_hash_of_password(password)
            .to_hex()
            .to_string(),
    )
}

/// NTLM looks users up here (the server reloads the store per handshake).
impl crate::ntlm::NtHashLookup for AccountStore {
    fn lookup(&self, user: &str) -> Option<crate::ntlm::NtlmAccount> {
        self.ntlm_account(user)
    }

    fn all(&self) -> Vec<crate::ntlm::NtlmAccount> {
        self.accounts
            .iter()
            .filter_map(|account| self.ntlm_account(&account.name))
            .collect()
    }
}

/// The accounts in the file's text (`None`: no file), each entry checked: names, duplicates,
/// run-as users, NT hashes and password hashes.
fn parse_accounts(path: &Path, text: Option<&str>) -> Result<Vec<StoredAccount>, AccountError> {
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    let parsed: AccountsFile = toml::from_str(text).map_err(|source| AccountError::Parse {
        path: path.to_owned(),
        source,
    })?;
    for (index, account) in parsed.accounts.iter().enumerate() {
        let invalid = |problem| AccountError::InvalidEntry {
            path: path.to_owned(),
            name: account.name.escape_debug().to_string(),
            problem,
        };
        if let Err(AccountError::InvalidName { problem, .. }) = validate_account_name(&account.name)
        {
            return Err(invalid(problem));
        }
        if parsed.accounts[..index]
            .iter()
            .any(|earlier| earlier.name == account.name)
        {
            return Err(invalid("appears more than once"));
        }
        if let Some(Err(AccountError::InvalidRunAs { problem, .. })) =
            account.run_as.as_deref().map(validate_run_as)
        {
            return Err(invalid(problem));
        }
        if account
            .nt_hash
            .as_ref()
            .is_some_and(|hex| crate::ntlm::NtHash::from_hex(hex.as_str()).is_none())
        {
            return Err(invalid("nt_hash must be 32 hex digits"));
        }
        if PasswordHash::new(&account.password_hash).is_err() {
            return Err(AccountError::InvalidHash {
                path: path.to_owned(),
                name: account.name.clone(),
            });
        }
    }
    Ok(parsed.accounts)
}

/// The file's new text. It holds the hashes, so it is wiped when dropped.
fn encode_accounts(accounts: &[StoredAccount]) -> Result<Zeroizing<String>, AccountError> {
    let file = AccountsFile {
        accounts: accounts.to_vec(),
    };
    toml::to_string(&file)
        .map(Zeroizing::new)
        .map_err(|error| AccountError::Encode {
            message: error.to_string(),
        })
}

#[cfg(test)]
#[path = "accounts_tests.rs"]
mod tests;
