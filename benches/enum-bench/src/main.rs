//! Enumerate+Pull throughput through the client library, without the command line's output
//! formatting: every item of a class, Enumerate then Pull until EndOfSequence, parsed into
//! elements and counted. Run against wsmand and against `bare-responder --replay` serving
//! the responses wsmand gave (recorded in the same run), alternating; printed: items/s of each
//! and the ratio (wsmand / bare), that is how much of pure transport and parsing wsmand keeps.
//!
//! Also timed, in the same runs: the client library's one-pass reader
//! (`Client::enumerate_each`, what `winrm enumerate` prints from), which reads each page into a
//! flat arena instead of a tree per item.
//!
//! `--raw` adds the same loop without the client library's parsing: each response is scanned
//! for its EnumerationContext, EndOfSequence and item count only, so wsmand's own rate shows
//! when the client's XML tree is the bottleneck.
//!
//! Started by `benches/cim-synthetic.sh`. The password comes from the environment
//! (`WSMAN_BENCH_PASSWORD`), never from argv.
#![forbid(unsafe_code)]

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use wsman_client::{
    Auth, Client, ClientOptions, Credentials, Endpoint, EnumerateOptions, Resource,
};

/// Command-line switches.
#[derive(Parser, Debug)]
#[command(about = "Enumerate+Pull throughput against wsmand and a replaying bare responder")]
struct Args {
    /// wsmand's URL, e.g. http://127.0.0.1:5985/wsman.
    #[arg(long)]
    endpoint: String,
    /// The bare responder's URL (replaying wsmand's responses); none: wsmand only.
    #[arg(long)]
    baseline: Option<String>,
    /// The account to authenticate as (Basic); its password is in WSMAN_BENCH_PASSWORD.
    #[arg(long)]
    user: String,
    /// The resource URI to enumerate.
    #[arg(long)]
    resource: String,
    /// Items the enumeration must return (a short answer is an error, not a figure).
    #[arg(long)]
    expect: usize,
    /// Runs of each side, alternating; the medians are compared.
    #[arg(long, default_value_t = 3)]
    runs: u32,
    /// Also time the raw loop (no XML tree; responses scanned for the context and items).
    #[arg(long)]
    raw: bool,
    /// The element name of one item in the raw loop's count (`<p:NAME `).
    #[arg(long, default_value = "Wsman_BenchSynthetic")]
    item: String,
}

/// One HTTP/1.1 connection for the raw loop.
struct RawConnection {
    sender: hyper::client::conn::http1::SendRequest<http_body_util::Full<bytes::Bytes>>,
    url: String,
    authorization: String,
}

impl RawConnection {
    async fn open(url: &str, user: &str, password: &str) -> anyhow::Result<Self> {
        use base64::Engine as _;
        let address = url
            .strip_prefix("http://")
            .and_then(|rest| rest.split('/').next())
            .context("the raw loop takes http:// URLs")?;
        let stream = tokio::net::TcpStream::connect(address).await?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        let credentials =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        Ok(Self {
            sender,
            url: url.to_owned(),
            authorization: format!("Basic {credentials}"),
        })
    }

    async fn post(
        &mut self,
        action: &str,
        resource: &str,
        body: &str,
    ) -> anyhow::Result<bytes::Bytes> {
        use http_body_util::BodyExt as _;
        let envelope = format!(
            "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" \
             xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" \
             xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\" \
             xmlns:n=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\"><s:Header>\
             <a:To>{}</a:To><w:ResourceURI s:mustUnderstand=\"true\">{resource}</w:ResourceURI>\
             <a:ReplyTo><a:Address s:mustUnderstand=\"true\">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>\
             <a:Action s:mustUnderstand=\"true\">http://schemas.xmlsoap.org/ws/2004/09/enumeration/{action}</a:Action>\
             <w:MaxEnvelopeSize s:mustUnderstand=\"true\">512000</w:MaxEnvelopeSize>\
             <a:MessageID>uuid:00000000-0000-4000-8000-{:012}</a:MessageID>\
             <w:OperationTimeout>PT60S</w:OperationTimeout></s:Header><s:Body>{body}</s:Body></s:Envelope>",
            self.url,
            std::process::id()
        );
        let request = hyper::Request::post(self.url.as_str())
            .header(
                hyper::header::CONTENT_TYPE,
                "application/soap+xml;charset=UTF-8",
            )
            .header(hyper::header::AUTHORIZATION, self.authorization.as_str())
            .header(hyper::header::HOST, "127.0.0.1")
            .body(http_body_util::Full::new(bytes::Bytes::from(envelope)))?;
        let response = self.sender.send_request(request).await?;
        if !response.status().is_success() {
            bail!("HTTP {}", response.status());
        }
        Ok(response.into_body().collect().await?.to_bytes())
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The raw loop: Enumerate, then Pull until EndOfSequence, counting `<p:ITEM ` openings.
async fn enumerate_raw(
    connection: &mut RawConnection,
    resource: &str,
    item: &str,
) -> anyhow::Result<(Duration, usize)> {
    let start = Instant::now();
    let opening = format!("<p:{item} ");
    let mut reply = connection
        .post(
            "Enumerate",
            resource,
            "<n:Enumerate><w:OptimizeEnumeration/><w:MaxElements>32000</w:MaxElements></n:Enumerate>",
        )
        .await?;
    let mut items = 0usize;
    loop {
        items += reply
            .windows(opening.len())
            .filter(|w| *w == opening.as_bytes())
            .count();
        if find(&reply, b"EndOfSequence").is_some() {
            break;
        }
        let start_at = find(&reply, b"EnumerationContext>").context("no context")? + 19;
        let length = find(&reply[start_at..], b"<").context("no context end")?;
        let context = String::from_utf8_lossy(&reply[start_at..start_at + length]).into_owned();
        reply = connection
            .post(
                "Pull",
                resource,
                &format!(
                    "<n:Pull><n:EnumerationContext>{context}</n:EnumerationContext><n:MaxElements>32000</n:MaxElements></n:Pull>"
                ),
            )
            .await?;
    }
    Ok((start.elapsed(), items))
}

fn client(endpoint: &str, user: &str, password: &str) -> anyhow::Result<Client> {
    let endpoint = Endpoint::parse(endpoint, false)?;
    let mut options = ClientOptions::default();
    options.auth = Auth::Basic(Credentials::new(user.to_owned(), password.to_owned()));
    options.allow_unencrypted = true;
    Ok(Client::new(endpoint, options)?)
}

/// One whole enumeration: its wall time and item count.
async fn enumerate(client: &Client, resource: &Resource) -> anyhow::Result<(Duration, usize)> {
    let start = Instant::now();
    let items = client
        .enumerate(resource, &EnumerateOptions::default())
        .await
        .context("enumerate")?;
    Ok((start.elapsed(), items.len()))
}

/// One whole enumeration through the one-pass reader: its wall time and item count.
async fn enumerate_each(client: &Client, resource: &Resource) -> anyhow::Result<(Duration, usize)> {
    let start = Instant::now();
    let mut seen = 0usize;
    let total = client
        .enumerate_each(resource, &EnumerateOptions::default(), |_item| seen += 1)
        .await
        .context("enumerate_each")?;
    if seen != total {
        bail!("enumerate_each reported {total} items but handed out {seen}");
    }
    Ok((start.elapsed(), total))
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let password = std::env::var("WSMAN_BENCH_PASSWORD").context("WSMAN_BENCH_PASSWORD")?;
    let resource = Resource::new(args.resource.clone());
    let wsmand = client(&args.endpoint, &args.user, &password)?;
    let baseline = args
        .baseline
        .as_deref()
        .map(|b| client(b, &args.user, &password))
        .transpose()?;
    let mut ours = Vec::new();
    let mut bare = Vec::new();
    let mut ours_each = Vec::new();
    let mut bare_each = Vec::new();
    for run in 1..=args.runs.max(1) {
        let mut line = format!("  run {run}:");
        let (took, items) = enumerate(&wsmand, &resource).await?;
        expect_items(items, args.expect, "wsmand")?;
        ours.push(took);
        line.push_str(&format!(" wsmand {:.0} ms", millis(took)));
        if let Some(baseline) = &baseline {
            let (took, items) = enumerate(baseline, &resource).await?;
            expect_items(items, args.expect, "the bare responder")?;
            bare.push(took);
            line.push_str(&format!(", bare responder {:.0} ms", millis(took)));
        }
        let (took, items) = enumerate_each(&wsmand, &resource).await?;
        expect_items(items, args.expect, "one pass: wsmand")?;
        ours_each.push(took);
        line.push_str(&format!("; one pass: wsmand {:.0} ms", millis(took)));
        if let Some(baseline) = &baseline {
            let (took, items) = enumerate_each(baseline, &resource).await?;
            expect_items(items, args.expect, "one pass: the bare responder")?;
            bare_each.push(took);
            line.push_str(&format!(", bare responder {:.0} ms", millis(took)));
        }
        println!("{line}");
    }
    report(
        [
            "one pass (enumerate_each), wsmand    :",
            "one pass, bare responder median     :",
            "one pass ratio (wsmand / bare)      :",
        ],
        &mut ours_each,
        &mut bare_each,
        args.expect,
    );
    if args.raw {
        raw_loop(&args, &password).await?;
    }
    report(
        [
            "tree (Client::enumerate), wsmand     :",
            "bare responder (same bytes) median  :",
            "ratio (wsmand items/s / bare)       :",
        ],
        &mut ours,
        &mut bare,
        args.expect,
    );
    Ok(())
}

/// The raw loop: one kept connection each, our request bytes and item counting without the
/// client library, to show what the daemon alone costs.
async fn raw_loop(args: &Args, password: &str) -> anyhow::Result<()> {
    let mut ours = Vec::new();
    let mut bare = Vec::new();
    let mut ours_connection = RawConnection::open(&args.endpoint, &args.user, password).await?;
    let mut bare_connection = match &args.baseline {
        Some(b) => Some(RawConnection::open(b, &args.user, password).await?),
        None => None,
    };
    for run in 1..=args.runs.max(1) {
        let (took, items) = enumerate_raw(&mut ours_connection, &args.resource, &args.item).await?;
        expect_items(items, args.expect, "raw loop: wsmand")?;
        ours.push(took);
        let mut line = format!("  raw run {run}: wsmand {:.0} ms", millis(took));
        if let Some(connection) = bare_connection.as_mut() {
            let (took, items) = enumerate_raw(connection, &args.resource, &args.item).await?;
            expect_items(items, args.expect, "raw loop: the bare responder")?;
            bare.push(took);
            line.push_str(&format!(", bare responder {:.0} ms", millis(took)));
        }
        println!("{line}");
    }
    report(
        [
            "raw loop, wsmand median             :",
            "raw loop, bare responder median     :",
            "raw loop ratio (wsmand / bare)      :",
        ],
        &mut ours,
        &mut bare,
        args.expect,
    );
    Ok(())
}

/// Fails unless `who` answered the number of items the bench expects.
fn expect_items(items: usize, expect: usize, who: &str) -> anyhow::Result<()> {
    if items != expect {
        bail!("{who} answered {items} items, {expect} expected");
    }
    Ok(())
}

fn millis(took: Duration) -> f64 {
    took.as_secs_f64() * 1000.0
}

/// Prints wsmand's median against the 200,000 items/s goal and, when the bare responder ran,
/// its median and the ratio; `labels` name the three lines.
fn report(labels: [&str; 3], ours: &mut [Duration], bare: &mut [Duration], expect: usize) {
    let rate = |d: Duration| expect as f64 / d.as_secs_f64();
    let ours = median(ours);
    println!(
        "{} {:.0} ms ({:.0} items/s; goal >= 200000: {})",
        labels[0],
        millis(ours),
        rate(ours),
        if rate(ours) >= 200_000.0 {
            "met"
        } else {
            "MISSED"
        }
    );
    if bare.is_empty() {
        return;
    }
    let bare = median(bare);
    println!(
        "{} {:.0} ms ({:.0} items/s)",
        labels[1],
        millis(bare),
        rate(bare)
    );
    println!("{} {:.2}", labels[2], rate(ours) / rate(bare));
}
