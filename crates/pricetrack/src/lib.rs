//! The `pricetrack` program: the whole tracker in one process on SQLite (`serve`), and the
//! command-line tools (`extract`, `parse-price`). `main.rs` only parses the command line.

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
    },
    /// Parses a price out of text and prints {"amount","currency"}; exits non-zero when none.
    ParsePrice {
        /// The text, e.g. "1.299,99 €".
        text: String,
    },
}

/// Whether private targets are allowed for the command-line fetch (the same switch as `serve`).
pub fn allow_private_targets_from_env() -> bool {
    std::env::var("PRICETRACK_ALLOW_PRIVATE_TARGETS")
        .map(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on"))
        .unwrap_or(false)
}
