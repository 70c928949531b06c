//! The client the console makes for each host: its account, its deadlines, and what every
//! host's client shares so that a host costs the console little (the buffers of large answers,
//! the TLS configuration), since the console keeps one client per host for as long as the
//! host is configured.

use std::sync::{Arc, LazyLock, Mutex, PoisonError};
use std::time::Duration;

use anyhow::Context as _;
use wsman_client::{Auth, BufferPool, Client, ClientOptions, Credentials, Endpoint};
use wsman_config::mgmt::ManagedHost;

/// Free buffers of large answers kept for all hosts together: a host's service list (about
/// 200 KB from a Windows host) is read into one and the buffer goes back here, so memory
/// follows the hosts being read at once, not every host ever read (a pool per host kept up to
/// three such buffers for each of them: most of the console's memory over a large fleet).
static REPLY_BUFFERS: LazyLock<Arc<BufferPool>> =
    LazyLock::new(|| Arc::new(BufferPool::new(16, 0, 1024 * 1024)));

/// The last HTTPS client made for each certificate check (CA checked or not): the next host
/// with the same check shares its TLS configuration ([`Client::new_like`]) rather than
/// parsing the system's roots once per host.
static TLS_LIKE: Mutex<[Option<Client>; 2]> = Mutex::new([None, None]);

/// The client of a host reached as `config.username` with `password`.
pub(crate) fn client_for(config: &ManagedHost, password: String) -> anyhow::Result<Client> {
    let endpoint = Endpoint::parse(&config.url, false)
        .with_context(|| format!("host {}: {}", config.name, config.url))?;
    let mut options = ClientOptions::default();
    options.auth = Auth::Basic(Credentials::new(&config.username, password));
    options.allow_unencrypted = config.allow_unencrypted;
    options.tls.skip_ca_check = config.skip_ca_check;
    options.connect_timeout = Some(Duration::from_secs(3));
    options.operation_timeout = Duration::from_secs(6);
    options.network_delay = Duration::from_secs(1);
    options.reply_buffers = Some(Arc::clone(&REPLY_BUFFERS));
    // A kept connection's read buffer otherwise stays as large as the largest answer read
    // (up to about 400 KiB): per host, more than everything else it costs.
    options.max_read_buffer = Some(16 * 1024);
    shared_tls_client(endpoint, options).with_context(|| format!("host {}", config.name))
}

fn shared_tls_client(endpoint: Endpoint, options: ClientOptions) -> anyhow::Result<Client> {
    let https = endpoint.scheme == wsman_client::Scheme::Https;
    let slot = usize::from(options.tls.skip_ca_check);
    let mut like = TLS_LIKE.lock().unwrap_or_else(PoisonError::into_inner);
    let client = match &like[slot] {
        Some(model) if https => Client::new_like(endpoint, options, model)?,
        _ => Client::new(endpoint, options)?,
    };
    if https {
        like[slot] = Some(client.fork()?);
    }
    Ok(client)
}
