//! The `pricetrack` binary: parses the command line and hands over to the library.

/// mimalloc: the request path allocates many small short-lived buffers across threads, where it
/// measured faster than the system allocator (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

use clap::Parser;
use pricetrack::{Cli, Command, allow_private_targets_from_env, config::ServeConfig, serve, tools};
use pricetrack_settings::Env;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let log_format = match Env::process().log_format() {
        Ok(format) => format,
        Err(error) => return fail(&anyhow::Error::new(error)),
    };
    // The tracker logs its work; the tools only their warnings (stdout is their JSON).
    let default_filter = if matches!(cli.command, Command::Serve) { "info" } else { "warn" };
    let _telemetry = match pricetrack_telemetry::init("pricetrack", log_format, default_filter) {
        Ok(telemetry) => telemetry,
        Err(error) => return fail(&anyhow::Error::new(error)),
    };
    match run(cli.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error),
    }
}

#[allow(clippy::print_stderr, reason = "the command line's error channel")]
fn fail(error: &anyhow::Error) -> ExitCode {
    eprintln!("error: {error:#}");
    ExitCode::FAILURE
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve => serve::run(ServeConfig::from_env()?).await,
        Command::Extract { url, file, page_url, selector, browser, candidates } => {
            let source = match file {
                Some(path) => tools::PageSource::File { path, url: page_url },
                None => tools::PageSource::Url(url.unwrap_or_default()),
            };
            let env = Env::process();
            let fetch = tools::FetchOptions {
                allow_private_targets: allow_private_targets_from_env()?,
                scrape: env.scrape_settings()?,
                user_agent: env.user_agent(),
                force_browser: browser,
            };
            match tools::extract(source, &fetch, selector.as_deref(), candidates).await? {
                tools::Reading::Offer(output) => print_json(&output),
                tools::Reading::Candidates(output) => print_json(&output),
            }
        }
        Command::Backup { file } => {
            let data_dir = Env::process()
                .string("PRICETRACK_DATA_DIR")
                .map_or_else(|| std::path::PathBuf::from("./pricetrack-data"), std::path::PathBuf::from);
            let source = data_dir.join("pricetrack.db");
            pricetrack_embedded::backup_database(&source, &file)
                .await
                .map_err(|e| anyhow::Error::new(e).context(format!("backing up {}", source.display())))?;
            print_json(&serde_json::json!({"backup": file.display().to_string()}))
        }
        Command::ParsePrice { text } => print_json(&tools::parse_price(&text)?),
        #[cfg(feature = "aws")]
        Command::Aws { command: pricetrack::AwsCommand::Bootstrap { prefix } } => {
            let exports = pricetrack::aws::bootstrap_resources(&prefix).await?;
            print_line(&exports);
            Ok(())
        }
    }
}

#[allow(clippy::print_stdout, reason = "the tools' output is their JSON on stdout")]
fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string(value)?);
    Ok(())
}

#[cfg(feature = "aws")]
#[allow(clippy::print_stdout, reason = "the export line is the command's output, for `eval`")]
fn print_line(line: &str) {
    println!("{line}");
}
