//! `api`: the pricetrack HTTP API on PostgreSQL, DynamoDB, SQS and SNS. Configured through the
//! environment (see the crate's README); `api migrate` only applies the database migrations.

/// mimalloc: the request path allocates many small short-lived buffers across threads, where it
/// measured faster than the system allocator (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use pricetrack_services::{
    ApiConfig, MigrateConfig, exit_code, init_tracing, migrate_database, run_api, shutdown_signal,
};

/// Command line.
#[derive(Debug, Parser)]
#[command(name = "api", version, about = "The pricetrack HTTP API (PostgreSQL, DynamoDB, SQS, SNS).")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Applies the database migrations (DATABASE_URL) and exits; `api` alone applies them too.
    Migrate,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    exit_code(run(cli).await)
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let _telemetry = init_tracing("pricetrack-api")?;
    match cli.command {
        None => run_api(ApiConfig::from_env()?, shutdown_signal()).await,
        Some(Command::Migrate) => migrate_database(MigrateConfig::from_env()?).await,
    }
}
