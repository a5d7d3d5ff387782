//! `deploy-facts`: prints the facts of [`pricetrack_deploy_checks::facts`] as JSON on stdout.

use std::process::ExitCode;

#[allow(clippy::print_stdout, clippy::print_stderr, reason = "a command-line tool: JSON out, errors on stderr")]
fn main() -> ExitCode {
    match pricetrack_deploy_checks::facts() {
        Ok(facts) => {
            println!("{facts:#}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
