//! Enumerate+Pull throughput through the client library, without the command line's output
//! formatting: every item of a class, Enumerate then Pull until EndOfSequence, parsed into
//! elements and counted. Run against wsmand and against `bare-responder --replay` serving
//! the responses wsmand gave (recorded in the same run), alternating; printed: items/s of each
//! and the ratio (wsmand / bare), that is how much of pure transport and parsing wsmand keeps.
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
    for run in 1..=args.runs.max(1) {
        let (took, items) = enumerate(&wsmand, &resource).await?;
        if items != args.expect {
            bail!("wsmand answered {items} items, {} expected", args.expect);
        }
        ours.push(took);
        let mut line = format!("  run {run}: wsmand {:.0} ms", took.as_secs_f64() * 1000.0);
        if let Some(baseline) = &baseline {
            let (took, items) = enumerate(baseline, &resource).await?;
            if items != args.expect {
                bail!(
                    "the bare responder answered {items} items, {} expected",
                    args.expect
                );
            }
            bare.push(took);
            line.push_str(&format!(
                ", bare responder {:.0} ms",
                took.as_secs_f64() * 1000.0
            ));
        }
        println!("{line}");
    }
    let rate = |d: Duration| args.expect as f64 / d.as_secs_f64();
    let ours = median(&mut ours);
    println!(
        "wsmand Enumerate+Pull median        : {:.0} ms ({:.0} items/s; goal >= 200000: {})",
        ours.as_secs_f64() * 1000.0,
        rate(ours),
        if rate(ours) >= 200_000.0 {
            "met"
        } else {
            "MISSED"
        }
    );
    if !bare.is_empty() {
        let bare = median(&mut bare);
        println!(
            "bare responder (same bytes) median  : {:.0} ms ({:.0} items/s)",
            bare.as_secs_f64() * 1000.0,
            rate(bare)
        );
        println!(
            "ratio (wsmand items/s / bare)       : {:.2}",
            rate(ours) / rate(bare)
        );
    }
    Ok(())
}
