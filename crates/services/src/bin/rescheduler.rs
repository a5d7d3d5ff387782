//! `rescheduler`: claims due jobs and queues their check requests. With no arguments it is a
//! Lambda function (an EventBridge schedule invokes it); `--once` runs once and prints the report
//! as JSON; `--every 30s` runs in a loop until SIGTERM.

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use pricetrack_services::{
    Rescheduler, ReschedulerConfig, ReschedulerMode, cancel_on_shutdown, exit_code, init_tracing,
};

/// Command line.
#[derive(Debug, Parser)]
#[command(
    name = "rescheduler",
    version,
    about = "Queues a check request for every due pricetrack job. Without arguments it runs as an AWS Lambda function."
)]
struct Cli {
    /// Run once, print the report ({"claimed","sent","failed","stopped_early"}) and exit.
    #[arg(long, conflicts_with = "every")]
    once: bool,
    /// Run every DURATION (e.g. 30s, 1m) until SIGTERM or Ctrl-C.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    every: Option<Duration>,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    pricetrack_settings::parse_duration(text)
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let mode = match (cli.once, cli.every) {
        (true, _) => ReschedulerMode::Once,
        (false, Some(every)) => ReschedulerMode::Every(every),
        (false, None) => ReschedulerMode::Lambda,
    };
    exit_code(run(mode).await)
}

async fn run(mode: ReschedulerMode) -> anyhow::Result<()> {
    let _telemetry = init_tracing("pricetrack-rescheduler")?;
    let config = ReschedulerConfig::from_env()?;
    let rescheduler = Rescheduler::from_config(&config).await;
    match mode {
        ReschedulerMode::Lambda => rescheduler.serve_lambda().await,
        ReschedulerMode::Once => {
            let report = rescheduler.run_once().await?;
            print_json(&serde_json::to_string(&report)?);
            if report.failed > 0 {
                anyhow::bail!(
                    "{} claimed jobs could not be queued; they are due again after their lease",
                    report.failed
                );
            }
            Ok(())
        }
        ReschedulerMode::Every(every) => {
            rescheduler.run_every(every, cancel_on_shutdown()).await;
            Ok(())
        }
    }
}

#[allow(clippy::print_stdout, reason = "--once prints its report on stdout")]
fn print_json(json: &str) {
    println!("{json}");
}
