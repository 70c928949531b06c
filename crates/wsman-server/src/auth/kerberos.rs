//! Kerberos on a connection, under `Negotiate` (raw Kerberos or SPNEGO-wrapped) and under
//! `Kerberos`: the acceptor loaded at start, one `wsman-gss` context per connection as a
//! [`Handshake`] (stepped on the blocking pool by [`super::leg`], which also routes a first
//! `Negotiate` token here or to NTLM), the principal-to-Linux-user mapping, and the MS-WSMV
//! sealer over the established context.
//!
//! Inert unless configured: without `DIR/krb5.keytab` (or with `Service/Auth/Kerberos` false,
//! read live) no Kerberos challenge is advertised and no Kerberos token is accepted.
//!
//! Files, read at start and again on SIGHUP (a new file that is wrong is refused with the
//! reason logged, and the acceptor in force kept; a removed keytab turns Kerberos off):
//! - `DIR/krb5.keytab`: exactly the `HTTP/<fqdn>` and `WSMAN/<fqdn>` keys; mode 0600, owned by
//!   the daemon's user or root (refused otherwise: Kerberos stays off, with the reason logged);
//!   other principals are accepted too, so they are warned about.
//! - `DIR/kerberos.toml` (optional): `Realms` (realms whose `user@REALM` maps to the Linux
//!   user `user`, besides what krb5.conf's `auth_to_local` maps: by default the default
//!   realm), `[PrincipalMap]` (explicit `"principal@REALM" = "linuxuser"`, winning over the
//!   rules) and `ReplayCacheDir` (default `$STATE_DIRECTORY`, which systemd's
//!   `StateDirectory=wsmand` sets, else `DIR/rcache`).

use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use wsman_auth::authorization::TokenScheme;
use wsman_auth::sealing::{MessageSealer, KERBEROS_PROTOCOL, SPNEGO_PROTOCOL};
use wsman_auth::Identity;
use wsman_gss::{AcceptStep, AcceptorOptions, KerberosAcceptor, KerberosContext};

use super::accounts::AccountCache;
use super::{Channel, Completed, Detail, Handshake, Mechanism, Proof, Refusal, RefusalKind, Step};
use crate::settings::{ServiceSettings, Transport};

/// The keytab, under the config dir.
pub const KEYTAB_FILE: &str = "krb5.keytab";
/// The mapping and replay cache settings, under the config dir.
pub const CONFIG_FILE: &str = "kerberos.toml";
/// The replay cache file inside the replay cache directory.
const REPLAY_CACHE_FILE: &str = "krb5_wsmand.rcache2";
/// The services the keytab should hold (pywinrm asks for HTTP, pypsrp and Windows for WSMAN).
const SERVED_SERVICES: [&str; 2] = ["HTTP", "WSMAN"];
/// Largest `kerberos.toml` read.
const MAX_CONFIG_LEN: u64 = 256 * 1024;

/// Why `kerberos.toml` was refused: each variant names the key that is wrong.
#[derive(Debug, thiserror::Error)]
pub enum KerberosConfigError {
    #[error("not TOML: {0}")]
    NotToml(#[from] toml::de::Error),
    #[error("Realms must be a list of strings")]
    RealmsNotStrings,
    #[error("Realms: {0:?} is not a realm name")]
    NotARealm(String),
    #[error("ReplayCacheDir must be a string")]
    ReplayCacheDirNotString,
    #[error("ReplayCacheDir must be an absolute path")]
    ReplayCacheDirRelative,
    #[error("PrincipalMap must be a table of \"principal@REALM\" = \"user\"")]
    PrincipalMapNotTable,
    #[error("PrincipalMap.{0:?} must be a string")]
    MappedUserNotString(String),
    #[error("PrincipalMap: {0:?} must be a full principal, name@REALM")]
    NotAFullPrincipal(String),
    #[error("PrincipalMap.{principal:?}: {user:?} is not a Linux user name")]
    NotAUserName { principal: String, user: String },
    #[error("unknown key {0:?}")]
    UnknownKey(String),
}

/// Why Kerberos could not be turned on, or its files not reloaded.
#[derive(Debug, thiserror::Error)]
pub enum KerberosLoadError {
    #[error("this build has no Kerberos (cargo feature `kerberos`)")]
    NotBuilt,
    #[error("{}: {source}", path.display())]
    ReadConfig {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Config {
        path: PathBuf,
        source: KerberosConfigError,
    },
    #[error(transparent)]
    Keytab(#[from] wsman_auth::keytab::KeytabFileError),
    #[error("replay cache directory {}: {source}", path.display())]
    ReplayCacheDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Acceptor(#[from] wsman_gss::GssError),
    #[error("reading the Kerberos files stopped: {0}")]
    Stopped(#[from] tokio::task::JoinError),
}

/// `DIR/kerberos.toml`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KerberosConfig {
    /// Realms (upper case) whose single-component principals map to the same-named user.
    pub realms: Vec<String>,
    /// Explicit principal -> Linux user mappings.
    pub principal_map: BTreeMap<String, String>,
    /// Where the replay cache lives.
    pub replay_cache_dir: Option<PathBuf>,
}

impl KerberosConfig {
    /// Parse the file's text; the error says which key is wrong.
    pub fn parse(text: &str) -> Result<Self, KerberosConfigError> {
        let table: toml::Table = text.parse()?;
        let mut config = Self::default();
        for (key, value) in &table {
            match key.as_str() {
                "Realms" => {
                    let list = value
                        .as_array()
                        .ok_or(KerberosConfigError::RealmsNotStrings)?;
                    for realm in list {
                        let realm = realm
                            .as_str()
                            .ok_or(KerberosConfigError::RealmsNotStrings)?;
                        if realm.is_empty() || realm.contains(['@', '/']) {
                            return Err(KerberosConfigError::NotARealm(realm.to_owned()));
                        }
                        config.realms.push(realm.to_ascii_uppercase());
                    }
                }
                "ReplayCacheDir" => {
                    let dir = value
                        .as_str()
                        .ok_or(KerberosConfigError::ReplayCacheDirNotString)?;
                    if !dir.starts_with('/') {
                        return Err(KerberosConfigError::ReplayCacheDirRelative);
                    }
                    config.replay_cache_dir = Some(PathBuf::from(dir));
                }
                "PrincipalMap" => {
                    let map = value
                        .as_table()
                        .ok_or(KerberosConfigError::PrincipalMapNotTable)?;
                    for (principal, user) in map {
                        let user = user.as_str().ok_or_else(|| {
                            KerberosConfigError::MappedUserNotString(principal.clone())
                        })?;
                        if !principal.contains('@') {
                            return Err(KerberosConfigError::NotAFullPrincipal(principal.clone()));
                        }
                        if !is_plain_user_name(user) {
                            return Err(KerberosConfigError::NotAUserName {
                                principal: principal.clone(),
                                user: user.to_owned(),
                            });
                        }
                        config
                            .principal_map
                            .insert(principal.clone(), user.to_owned());
                    }
                }
                other => return Err(KerberosConfigError::UnknownKey(other.to_owned())),
            }
        }
        Ok(config)
    }

    /// The Linux user `principal` maps to: the explicit map, then `user@REALM` for a listed
    /// realm, then libkrb5's `auth_to_local` answer (`local_name`; by default `user` for the
    /// default realm). `None`: no mapping, the login is refused.
    pub fn map_principal(&self, principal: &str, local_name: Option<&str>) -> Option<String> {
        if let Some(user) = self.principal_map.get(principal) {
            return Some(user.clone());
        }
        if let Some((user, realm)) = principal.rsplit_once('@') {
            let listed = self.realms.iter().any(|r| r.eq_ignore_ascii_case(realm));
            if listed && is_plain_user_name(user) {
                return Some(user.to_owned());
            }
        }
        local_name
            .filter(|name| is_plain_user_name(name))
            .map(str::to_owned)
    }
}

/// A Linux user name as a mapping target: no realm, instance, path or control characters.
fn is_plain_user_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 256
        && !name.starts_with('-')
        && !name
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || matches!(c, '@' | '/' | ':' | '\\'))
}

/// The acceptor and the mapping, shared by every connection.
pub struct KerberosService {
    acceptor: KerberosAcceptor,
    config: KerberosConfig,
}

impl std::fmt::Debug for KerberosService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KerberosService")
            .field("acceptor", &self.acceptor)
            .field("config", &self.config)
            .finish()
    }
}

impl KerberosService {
    /// Load `DIR/krb5.keytab` and `DIR/kerberos.toml`. `None` when there is no keytab
    /// (Kerberos is then off) or when anything is wrong (logged at error: Kerberos stays off,
    /// the other schemes serve). Blocking (file I/O), called once at start.
    pub fn load(config_dir: &Path) -> Option<Arc<Self>> {
        match Self::read(config_dir) {
            Ok(service) => service,
            Err(reason) => {
                let keytab = config_dir.join(KEYTAB_FILE);
                tracing::error!(keytab = %keytab.display(), %reason, "Kerberos off");
                None
            }
        }
    }

    /// Read both files again (SIGHUP): `Ok(None)` when there is no keytab (Kerberos off),
    /// `Err` with the reason when either file is wrong (the caller keeps the acceptor in
    /// force). Blocking (file I/O).
    pub fn read(config_dir: &Path) -> Result<Option<Arc<Self>>, KerberosLoadError> {
        let keytab_path = config_dir.join(KEYTAB_FILE);
        if !keytab_path.exists() {
            tracing::info!(keytab = %keytab_path.display(), "Kerberos off: no keytab");
            return Ok(None);
        }
        Self::try_load(config_dir, &keytab_path).map(|service| Some(Arc::new(service)))
    }

    /// A fresh context without channel binding, for Kerberos inside CredSSP (whose
    /// public-key binding plays that part).
    pub(crate) fn unbound_context(&self) -> KerberosContext {
        self.acceptor.context(None)
    }

    /// The Linux user for `principal`, by the same rules as the `Kerberos` scheme.
    pub(crate) fn map_principal(
        &self,
        principal: &str,
        local_name: Option<&str>,
    ) -> Option<String> {
        self.config.map_principal(principal, local_name)
    }

    fn try_load(config_dir: &Path, keytab_path: &Path) -> Result<Self, KerberosLoadError> {
        if !wsman_gss::AVAILABLE {
            return Err(KerberosLoadError::NotBuilt);
        }
        let config = read_config(&config_dir.join(CONFIG_FILE))?;
        let keytab =
            wsman_auth::keytab::read_keytab_file(keytab_path, wsman_os::process::daemon_uid())?;
        for principal in keytab.unexpected_principals(&SERVED_SERVICES) {
            tracing::warn!(keytab = %keytab_path.display(), %principal, "the keytab holds a key for another service: tickets for it are accepted too; keep only HTTP/<fqdn> and WSMAN/<fqdn>");
        }
        let served: Vec<String> = SERVED_SERVICES
            .iter()
            .flat_map(|service| {
                keytab
                    .hosts_for(service)
                    .into_iter()
                    .map(move |host| format!("{service}/{host}"))
            })
            .collect();
        if served.is_empty() {
            tracing::warn!(keytab = %keytab_path.display(), "the keytab holds neither HTTP/ nor WSMAN/ keys: WinRM clients will not find this service");
        }
        let rcache_dir = replay_cache_dir(config_dir, &config);
        ensure_private_dir(&rcache_dir)?;
        let replay_cache = rcache_dir.join(REPLAY_CACHE_FILE);
        let acceptor = KerberosAcceptor::new(&AcceptorOptions {
            keytab: keytab_path.to_owned(),
            replay_cache: Some(replay_cache.clone()),
        })?;
        tracing::info!(keytab = %keytab_path.display(), services = ?served, replay_cache = %replay_cache.display(), "Kerberos on");
        Ok(Self { acceptor, config })
    }
}

fn read_config(path: &Path) -> Result<KerberosConfig, KerberosLoadError> {
    use std::io::Read;
    let read_error = |source| KerberosLoadError::ReadConfig {
        path: path.to_owned(),
        source,
    };
    let file = match std::fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(KerberosConfig::default()),
        Err(e) => return Err(read_error(e)),
    };
    let mut text = String::new();
    file.take(MAX_CONFIG_LEN)
        .read_to_string(&mut text)
        .map_err(read_error)?;
    KerberosConfig::parse(&text).map_err(|source| KerberosLoadError::Config {
        path: path.to_owned(),
        source,
    })
}

/// `ReplayCacheDir`, else `$STATE_DIRECTORY` (systemd), else `DIR/rcache`.
fn replay_cache_dir(config_dir: &Path, config: &KerberosConfig) -> PathBuf {
    if let Some(dir) = &config.replay_cache_dir {
        return dir.clone();
    }
    match std::env::var_os("STATE_DIRECTORY") {
        // systemd may list several directories, colon-separated: the first is ours.
        Some(dirs) if !dirs.is_empty() => {
            let dirs = dirs.to_string_lossy().into_owned();
            PathBuf::from(dirs.split(':').next().unwrap_or(&dirs))
        }
        _ => config_dir.join("rcache"),
    }
}

fn ensure_private_dir(dir: &Path) -> Result<(), KerberosLoadError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| KerberosLoadError::ReplayCacheDir {
            path: dir.to_owned(),
            source,
        })
}

/// One Kerberos handshake (multi-leg SPNEGO possible), under `Negotiate` or `Kerberos`.
pub struct KerberosHandshake {
    service: Arc<KerberosService>,
    context: Option<KerberosContext>,
    /// The sealing label of the scheme the client authenticates with.
    label: &'static str,
    /// HTTPS with CbtHardeningLevel Strict: a context without channel binding is refused.
    binding_required: bool,
}

impl KerberosHandshake {
    /// A new context on `channel`, bound to the listener's certificate over HTTPS (unless
    /// CbtHardeningLevel is None: then no binding is checked).
    pub fn new(
        service: Arc<KerberosService>,
        channel: &Channel,
        settings: &ServiceSettings,
        scheme: TokenScheme,
    ) -> Self {
        let https = channel.transport == Transport::Https;
        let bindings = (https && settings.cbt_hardening != wsman_auth::ntlm::CbtHardening::None)
            .then(|| channel.end_point_binding.as_deref().map(<[u8]>::to_vec))
            .flatten();
        let context = service.acceptor.context(bindings);
        Self {
            service,
            context: Some(context),
            label: match scheme {
                TokenScheme::Kerberos => KERBEROS_PROTOCOL,
                _ => SPNEGO_PROTOCOL,
            },
            binding_required: https
                && settings.cbt_hardening == wsman_auth::ntlm::CbtHardening::Strict,
        }
    }
}

impl Handshake for KerberosHandshake {
    fn mechanism(&self) -> Mechanism {
        Mechanism::Kerberos
    }

    fn first_leg_proves(&self) -> bool {
        true
    }

    /// Blocking: the GSS step (keytab, replay cache) and the Linux user lookup (NSS).
    fn step(&mut self, token: &[u8], _accounts: &AccountCache) -> Step {
        let Some(context) = self.context.as_mut() else {
            return Step::Refused(Refusal::backend("the Kerberos context is gone"));
        };
        let established = match context.step(token) {
            Ok(AcceptStep::Continue(out)) => return Step::Continue(out),
            Ok(AcceptStep::Complete(established)) => established,
            Err(error) => {
                return Step::Refused(Refusal::new(
                    "",
                    error.to_string(),
                    RefusalKind::Credentials,
                ))
            }
        };
        let refused = |reason: String| {
            Step::Refused(Refusal::new(
                established.principal.clone(),
                reason,
                RefusalKind::Credentials,
            ))
        };
        if self.binding_required && !established.channel_bound {
            return refused(
                "no channel binding (Service/Auth/CbtHardeningLevel is Strict)".to_owned(),
            );
        }
        let Some(user) = self
            .service
            .config
            .map_principal(&established.principal, established.local_name.as_deref())
        else {
            return refused(format!(
                "no Linux user for principal {} (not in the default realm or kerberos.toml Realms, no PrincipalMap entry)",
                established.principal
            ));
        };
        match wsman_os::lookup_user(&user) {
            Ok(Some(_)) => {}
            Ok(None) => {
                return refused(format!(
                    "principal {} maps to Linux user {user}, which does not exist",
                    established.principal
                ))
            }
            Err(e) => return Step::Refused(Refusal::backend(format!("user lookup: {e}"))),
        }
        let principal = match crate::access::resolve_principal(Identity::linux_user(user)) {
            Ok(principal) => principal.via_kerberos(&established.principal),
            Err(e) => return Step::Refused(Refusal::backend(format!("user lookup: {e}"))),
        };
        let Some(context) = self.context.take() else {
            return Step::Refused(Refusal::backend("the Kerberos context is gone"));
        };
        Step::Complete(Completed {
            proof: Proof::Principal(principal),
            sealer: Box::new(KerberosSealer {
                context,
                label: Cell::new(self.label),
            }),
            final_token: established.token,
            detail: Detail::Kerberos {
                principal: established.principal,
                channel_bound: established.channel_bound,
            },
        })
    }
}

/// An established Kerberos context as an MS-WSMV sealer. Accepts bodies labelled SPNEGO or
/// Kerberos (pywinrm says SPNEGO even for raw Kerberos) and answers with the label of the
/// last body it accepted (first: the one matching the scheme the client authenticated with).
struct KerberosSealer {
    context: KerberosContext,
    label: Cell<&'static str>,
}

impl MessageSealer for KerberosSealer {
    fn protocol(&self) -> &str {
        self.label.get()
    }

    fn accepts_protocol(&self, protocol: &str) -> bool {
        for label in [SPNEGO_PROTOCOL, KERBEROS_PROTOCOL] {
            if protocol.eq_ignore_ascii_case(label) {
                self.label.set(label);
                return true;
            }
        }
        false
    }

    wsman_auth::gss_context_sealing!(context);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_parses_and_maps() {
        let config = KerberosConfig::parse(
            "Realms = [\"corp.example.com\"]\nReplayCacheDir = \"/var/lib/wsmand\"\n\
             [PrincipalMap]\n\"Administrator@CORP.EXAMPLE.COM\" = \"root\"\n",
        )
        .unwrap();
        assert_eq!(config.realms, vec!["CORP.EXAMPLE.COM"]);
        assert_eq!(
            config.map_principal("Administrator@CORP.EXAMPLE.COM", None),
            Some("root".into())
        );
        assert_eq!(
            config.map_principal("alice@CORP.EXAMPLE.COM", None),
            Some("alice".into())
        );
        // Instance principals never map by rule.
        assert_eq!(
            config.map_principal("alice/admin@CORP.EXAMPLE.COM", None),
            None
        );
        // Another realm: only through auth_to_local.
        assert_eq!(config.map_principal("bob@OTHER.TEST", None), None);
        assert_eq!(
            config.map_principal("bob@OTHER.TEST", Some("bob")),
            Some("bob".into())
        );
        assert_eq!(config.map_principal("bob@OTHER.TEST", Some("../x y")), None);
    }

    #[test]
    fn config_errors_name_the_key() {
        for (text, needle) in [
            ("Realms = \"X\"", "Realms"),
            ("ReplayCacheDir = \"relative\"", "absolute"),
            ("[PrincipalMap]\nalice = \"alice\"", "full principal"),
            ("[PrincipalMap]\n\"a@B\" = \"bad/user\"", "not a Linux user"),
            ("Bogus = 1", "unknown key"),
            ("[[", "not TOML"),
        ] {
            let error = KerberosConfig::parse(text).unwrap_err().to_string();
            assert!(error.contains(needle), "{text:?}: {error}");
        }
        assert_eq!(
            KerberosConfig::parse("").unwrap(),
            KerberosConfig::default()
        );
    }

    #[test]
    fn kerberos_is_offered_only_with_the_switch_and_a_keytab() {
        let mut settings = ServiceSettings {
            auth_kerberos: true,
            ..ServiceSettings::default()
        };
        assert!(!settings.kerberos_enabled());
        assert!(crate::auth::security_profiles(&settings).is_empty());
        assert!(settings
            .challenge_config(Transport::Http)
            .challenges()
            .is_empty());
        settings.kerberos_keytab = true;
        assert!(crate::auth::security_profiles(&settings)
            .contains(&wsman_proto::ns::secprofile::HTTP_SPNEGO_KERBEROS.to_owned()));
        assert_eq!(
            settings.challenge_config(Transport::Https).challenges(),
            vec!["Negotiate", "Kerberos"]
        );
        settings.auth_kerberos = false;
        assert!(!settings.kerberos_enabled());
    }

    #[test]
    fn the_state_directory_holds_the_replay_cache_unless_configured() {
        let config = KerberosConfig {
            replay_cache_dir: Some(PathBuf::from("/srv/rc")),
            ..KerberosConfig::default()
        };
        assert_eq!(
            replay_cache_dir(Path::new("/etc/wsmand"), &config),
            PathBuf::from("/srv/rc")
        );
    }
}
