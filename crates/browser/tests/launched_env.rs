//! A Chromium the fetcher launches itself (single-process mode, `PRICETRACK_BROWSER_URL`
//! unset) gets none of the process's credentials: no AWS_* variables, no PRICETRACK_* settings
//! (the JWT secret, a database URL). The outer test runs the inner one in a child process whose
//! environment holds such credentials, so that no test has to change its own environment.

use pricetrack_browser::{BrowserFetcher, BrowserSettings};

/// A value that must not appear in the browser's environment.
const SENTINEL: &str = "sentinel-credential-5f0c2a";

#[test]
fn a_launched_browser_gets_none_of_the_scrapers_credentials() {
    let status = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "inner_the_launched_browser_environment", "--ignored", "--nocapture"])
        .env("AWS_ACCESS_KEY_ID", SENTINEL)
        .env("AWS_SECRET_ACCESS_KEY", SENTINEL)
        .env("AWS_WEB_IDENTITY_TOKEN_FILE", format!("/var/run/secrets/eks.amazonaws.com/{SENTINEL}"))
        .env("AWS_ROLE_ARN", format!("arn:aws:iam::000000000000:role/{SENTINEL}"))
        .env("PRICETRACK_JWT_SECRET", SENTINEL)
        .status()
        .expect("run the inner test");
    assert!(status.success(), "the inner test failed: see its output above");
}

/// Run by the test above, in an environment full of credentials.
#[tokio::test]
#[ignore = "run by a_launched_browser_gets_none_of_the_scrapers_credentials"]
async fn inner_the_launched_browser_environment() {
    assert_eq!(std::env::var("AWS_SECRET_ACCESS_KEY").as_deref(), Ok(SENTINEL), "run through the outer test");
    let browser = BrowserFetcher::new(BrowserSettings::default()).expect("chromium at /usr/bin/chromium");
    browser.warm_up().await.expect("browser started");
    let pid = browser.browser_pid().await.expect("launched by us");
    // The browser process and every process under it (zygotes, renderers, utilities).
    let processes = with_descendants(pid);
    assert!(!processes.is_empty());
    for process in &processes {
        let Ok(environ) = std::fs::read(format!("/proc/{process}/environ")) else { continue };
        for variable in environ.split(|b| *b == 0).filter(|v| !v.is_empty()) {
            let variable = String::from_utf8_lossy(variable);
            assert!(
                !variable.starts_with("AWS_") && !variable.starts_with("PRICETRACK_") && !variable.contains(SENTINEL),
                "process {process} of the browser has {}",
                variable.split('=').next().unwrap_or_default()
            );
        }
    }
    browser.shut_down().await;
}

/// `pid` and all its descendants, from /proc.
fn with_descendants(pid: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|p| {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).ok()?;
            // The parent is the second field after the command, which is in parentheses.
            let ppid = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()?;
            Some((p, ppid))
        })
        .collect();
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(parents.iter().filter(|(_, pp)| *pp == parent).map(|(p, _)| *p));
        i += 1;
    }
    found
}
