//! Throughput and memory of checks against a shop on 127.0.0.1 (results in BENCHMARKS.md):
//!
//! - static checks per second (plain HTTP and extraction, no politeness delay: one local host);
//! - browser checks per second through the tab pool, against a fresh browser per check;
//! - the peak memory of this process and its Chromium processes while the pool is loaded.
//!
//! ```sh
//! cargo run --release -p pricetrack-browser --example browser_bench
//! ```

#![allow(clippy::print_stdout, clippy::float_arithmetic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::response::Html;
use axum::routing::get;
use futures::StreamExt;
use pricetrack_browser::{BrowserFetcher, BrowserSettings};
use pricetrack_domain::ProductUrl;
use pricetrack_scraper::{PageFetcher, StaticFetcher, StaticFetcherSettings};

const STATIC_PAGE: &str = include_str!("../../extract/tests/fixtures/shopify.html");

const JS_PAGE: &str = include_str!("../tests/js_price.html");

async fn shop() -> String {
    let router = Router::new()
        .route("/static", get(|| async { Html(STATIC_PAGE) }))
        .route("/js", get(|| async { Html(JS_PAGE) }))
        .route("/api/price", get(|| async { r#"{"amount":"24.99"}"# }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, router).await.expect("serve") });
    format!("http://{addr}")
}

/// Runs `count` checks, `concurrency` at a time; returns checks per second.
async fn run<F, Fut>(count: usize, concurrency: usize, check: F) -> f64
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    let ok = futures::stream::iter(0..count)
        .map(|_| check())
        .buffer_unordered(concurrency)
        .filter(|ok| futures::future::ready(*ok))
        .count()
        .await;
    assert_eq!(ok, count, "every check must find the price");
    count as f64 / started.elapsed().as_secs_f64()
}

/// Resident and proportional memory (kB) of this process and all its descendants.
fn tree_memory_kb() -> (u64, u64) {
    let me = std::process::id();
    let mut parents = std::collections::HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        // The fields after the command name (which may hold spaces) start after the last ')'.
        let Some(rest) = stat.rsplit_once(')').map(|(_, rest)| rest) else { continue };
        let ppid = rest.split_whitespace().nth(1).and_then(|p| p.parse::<u32>().ok()).unwrap_or(0);
        parents.insert(pid, ppid);
    }
    let in_tree = |mut pid: u32| {
        for _ in 0..64 {
            if pid == me {
                return true;
            }
            match parents.get(&pid) {
                Some(&parent) if parent != 0 => pid = parent,
                _ => return false,
            }
        }
        false
    };
    let (mut rss, mut pss) = (0, 0);
    for &pid in parents.keys().filter(|&&pid| in_tree(pid)) {
        let Ok(rollup) = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) else { continue };
        for line in rollup.lines() {
            let value = || line.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            if line.starts_with("Rss:") {
                rss += value();
            } else if line.starts_with("Pss:") {
                pss += value();
            }
        }
    }
    (rss, pss)
}

/// Samples the tree's memory every 100 ms until stopped; returns the peaks (kB).
fn sample_memory(
    stop: Arc<AtomicBool>,
    peak_rss: Arc<AtomicU64>,
    peak_pss: Arc<AtomicU64>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            let (rss, pss) = tree_memory_kb();
            peak_rss.fetch_max(rss, Ordering::SeqCst);
            peak_pss.fetch_max(pss, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(100));
        }
    })
}

fn settings(tabs: usize) -> BrowserSettings {
    BrowserSettings { max_tabs: tabs, allow_private_targets: true, ..BrowserSettings::default() }
}

#[tokio::main]
async fn main() {
    let base = shop().await;
    let static_url = ProductUrl::parse(&format!("{base}/static")).expect("url");
    let js_url = ProductUrl::parse(&format!("{base}/js")).expect("url");

    // `browser_bench 4 8`: only the pools of those sizes.
    let only_pools: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    if only_pools.is_empty() {
        static_checks(&static_url).await;
        fresh_browser_checks(&js_url).await;
    }
    let pools = if only_pools.is_empty() { vec![1, 4, 8] } else { only_pools };
    for tabs in pools {
        pooled_browser_checks(&js_url, tabs).await;
    }
}

/// Static checks: fetch and extract, as the checker does.
async fn static_checks(static_url: &ProductUrl) {
    let fetcher = Arc::new(
        StaticFetcher::new(StaticFetcherSettings { allow_private_targets: true, ..StaticFetcherSettings::default() })
            .expect("client"),
    );
    for concurrency in [1, 16] {
        let rate = run(2000, concurrency, || {
            let fetcher = Arc::clone(&fetcher);
            let url = static_url.clone();
            async move {
                let page = fetcher.fetch(&url).await.expect("fetched");
                tokio::task::spawn_blocking(move || {
                    pricetrack_extract::extract_offer(&page.body, Some(&page.final_url))
                })
                .await
                .expect("joined")
                .is_ok_and(|offer| offer.price.is_some())
            }
        })
        .await;
        println!("static   concurrency {concurrency:>2}: {rate:>8.1} checks/s ({} B page)", STATIC_PAGE.len());
    }
}

/// A fresh browser per check: what the original design did.
async fn fresh_browser_checks(js_url: &ProductUrl) {
    let fresh = run(10, 1, || {
        let url = js_url.clone();
        async move {
            let browser = BrowserFetcher::new(settings(1)).expect("chromium");
            let ok = browser_check(browser.clone(), url).await;
            browser.shut_down().await;
            ok
        }
    })
    .await;
    println!("browser  fresh browser per check, 1 at a time: {fresh:>6.2} checks/s");
}

async fn browser_check(browser: BrowserFetcher, url: ProductUrl) -> bool {
    let page = browser.fetch(&url).await.expect("rendered");
    pricetrack_extract::extract_offer(&page.body, Some(&page.final_url)).is_ok_and(|offer| offer.price.is_some())
}

/// The pool under load: `tabs` checks at a time, with the memory of the process tree sampled.
async fn pooled_browser_checks(js_url: &ProductUrl, tabs: usize) {
    let browser = BrowserFetcher::new(settings(tabs)).expect("chromium");
    browser.warm_up().await.expect("launched");
    let (stop, peak_rss, peak_pss) =
        (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let sampler = sample_memory(Arc::clone(&stop), Arc::clone(&peak_rss), Arc::clone(&peak_pss));
    let count = 60 * tabs;
    let rate = run(count, tabs, || browser_check(browser.clone(), js_url.clone())).await;
    stop.store(true, Ordering::SeqCst);
    sampler.join().expect("sampler");
    let stats = browser.stats();
    println!(
        "browser  pool of {tabs} tab(s), {count} checks: {rate:>6.2} checks/s; tabs opened {}; peak memory \
         RSS {} MiB, PSS {} MiB (this process + Chromium)",
        stats.tabs_opened,
        peak_rss.load(Ordering::SeqCst) / 1024,
        peak_pss.load(Ordering::SeqCst) / 1024,
    );
    browser.shut_down().await;
}
