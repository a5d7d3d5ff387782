//! `scraper`: the pricetrack check workers, fed by SQS. Configured through the environment (see
//! the crate's README); SIGTERM stops receiving, lets checks in flight finish, and exits 0.

/// mimalloc: page parsing allocates many small short-lived buffers across threads, where mimalloc
/// measured faster than the system allocator on the API (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

use clap::Parser;
use pricetrack_services::{ScraperConfig, cancel_on_shutdown, exit_code, init_tracing, run_scraper};

/// Command line.
#[derive(Debug, Parser)]
#[command(name = "scraper", version, about = "The pricetrack check workers, fed by the SQS check queue.")]
struct Cli {}

#[tokio::main]
async fn main() -> ExitCode {
    let Cli {} = Cli::parse();
    exit_code(run().await)
}

async fn run() -> anyhow::Result<()> {
    let _telemetry = init_tracing("pricetrack-scraper")?;
    let config = ScraperConfig::from_env()?;
    run_scraper(config, cancel_on_shutdown()).await
}
