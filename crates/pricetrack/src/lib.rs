//! The `pricetrack` program: the whole tracker in one process on SQLite (`serve`), and the
//! command-line tools (`extract`, `parse-price`; with the `aws` feature, `aws bootstrap`).
//! `main.rs` only parses the command line.

#[cfg(feature = "aws")]
pub mod aws;
pub mod config;
pub mod serve;
pub mod tools;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// Command line.
#[derive(Debug, Parser)]
#[command(
    name = "pricetrack",
    version,
    about = "Watches product pages and tells you when a price reaches your target."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Sub-commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs the tracker (API, scraper workers, rescheduler) in one process on SQLite.
    /// Configured through PRICETRACK_* environment variables (see README.md).
    Serve,
    /// Prints the offer found on a product page as JSON; exits non-zero when there is no price.
    Extract {
        /// A product page URL to fetch (omit with --file).
        #[arg(required_unless_present = "file", conflicts_with = "file")]
        url: Option<String>,
        /// Read a saved HTML page instead of fetching.
        #[arg(long)]
        file: Option<PathBuf>,
        /// With --file: the URL the page came from (shop rules key on its host).
        #[arg(long = "url", requires = "file")]
        page_url: Option<String>,
        /// A CSS selector that overrides price detection.
        #[arg(long)]
        selector: Option<String>,
        /// Render the page in headless Chromium straight away (by default the page is fetched
        /// over plain HTTP first and rendered only when that shows no price). With --file, the
        /// saved page is rendered (served to the browser from a temporary loopback address).
        #[arg(long)]
        browser: bool,
        /// List every price found on the page (source, a CSS selector for `price_selector`, the
        /// text around it, a score), the one extraction picks first.
        #[arg(long)]
        candidates: bool,
    },
    /// Copies the database of PRICETRACK_DATA_DIR to FILE, consistently, while `serve` runs
    /// (SQLite's VACUUM INTO; the copy is integrity-checked). Restore: stop serve, put FILE in
    /// place of <data dir>/pricetrack.db, start serve.
    Backup {
        /// The new backup file; an existing file is never overwritten.
        file: PathBuf,
    },
    /// Parses a price out of text and prints {"amount","currency"}; exits non-zero when none.
    ParsePrice {
        /// The text, e.g. "1.299,99 €".
        text: String,
    },
    /// AWS resources for the separate services (built with the `aws` feature).
    #[cfg(feature = "aws")]
    Aws {
        /// What to do.
        #[command(subcommand)]
        command: AwsCommand,
    },
}

/// `pricetrack aws` sub-commands.
#[cfg(feature = "aws")]
#[derive(Debug, Subcommand)]
pub enum AwsCommand {
    /// Creates the DynamoDB table (with its due index), the check queue, its dead-letter queue and
    /// the alert topic if they do not exist, on the endpoint of the AWS SDK's default chain
    /// (AWS_ENDPOINT_URL, AWS_REGION, credentials); then prints `export PRICETRACK_TABLE=…
    /// PRICETRACK_QUEUE_URL=… PRICETRACK_TOPIC_ARN=…` for `eval`. Running it again changes nothing.
    Bootstrap {
        /// Resource names are <prefix>-jobs, <prefix>-checks, <prefix>-checks-dlq and <prefix>-alerts.
        #[arg(long, default_value = "pricetrack", value_parser = aws::parse_prefix)]
        prefix: String,
    },
}

/// Whether private targets are allowed for the command-line fetch (the same switch as `serve`);
/// a value that is not a boolean is an error rather than a silent `false`.
pub fn allow_private_targets_from_env() -> Result<bool, config::ConfigError> {
    pricetrack_settings::Env::process().allow_private_targets()
}
