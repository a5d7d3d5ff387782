//! The Prometheus metrics of every pricetrack program, in one place.
//!
//! - [`names`] and [`CATALOG`]: every metric's name, kind, labels, help text and (for
//!   histograms) buckets. Crates record through the [`metrics`] facade with these names; the
//!   deployment checks compare the alert rules and the dashboard with this catalogue, so a
//!   renamed metric cannot silently leave an alert that never fires.
//! - With the `exporter` feature: [`install`] (the process's Prometheus recorder, idempotent),
//!   [`render`], the axum [`handler`] for `GET /metrics`, and [`serve`] for a program whose only
//!   HTTP endpoint is its metrics (the scraper).
//!
//! Label values are always from small closed sets (outcome kinds, route templates, channel
//! kinds, dependency names): never a URL, a host, a user id or a raw request path, so the number
//! of series stays bounded however many jobs and users there are.
//!
//! A library that records metrics in a process where nobody installed a recorder costs next to
//! nothing: the facade's macros do nothing then.

#[cfg(feature = "exporter")]
mod exporter;

#[cfg(feature = "exporter")]
pub use exporter::{CONTENT_TYPE, handler, install, render, router, serve};

/// The metric names, as recorded and as Prometheus shows them.
pub mod names {
    /// Counter: HTTP requests answered by the API, by method, route template and status.
    pub const HTTP_REQUESTS: &str = "pricetrack_http_requests_total";
    /// Histogram: time to answer an API request, by method and route template.
    pub const HTTP_REQUEST_DURATION: &str = "pricetrack_http_request_duration_seconds";
    /// Counter: checks of product pages, by outcome, failure kind and method.
    pub const CHECKS: &str = "pricetrack_checks_total";
    /// Counter: check requests taken from the queue, by how handling them ended.
    pub const CHECK_REQUESTS: &str = "pricetrack_check_requests_total";
    /// Histogram: time to handle one check request, from the job read to the outcome written.
    pub const CHECK_DURATION: &str = "pricetrack_check_duration_seconds";
    /// Histogram: time since a job's previous check, in multiples of its interval (freshness).
    pub const CHECK_GAP: &str = "pricetrack_check_gap_intervals";
    /// Histogram: time to fetch one page, by method and result (politeness waits excluded).
    pub const FETCH_DURATION: &str = "pricetrack_fetch_duration_seconds";
    /// Gauge: browser tabs lent to checks right now.
    pub const BROWSER_TABS_BUSY: &str = "pricetrack_browser_tabs_busy";
    /// Gauge: the most browser tabs the pool lends at once.
    pub const BROWSER_TABS_MAX: &str = "pricetrack_browser_tabs_max";
    /// Counter: browsers started.
    pub const BROWSER_LAUNCHES: &str = "pricetrack_browser_launches_total";
    /// Counter: browsers replaced, by reason.
    pub const BROWSER_RESTARTS: &str = "pricetrack_browser_restarts_total";
    /// Histogram: time a fetch waited for its host's turn, by reason.
    pub const POLITENESS_WAIT: &str = "pricetrack_politeness_wait_seconds";
    /// Counter: shop hosts backed off after they asked to slow down, by reason.
    pub const POLITENESS_BACKOFFS: &str = "pricetrack_politeness_backoffs_total";
    /// Counter: fetches not made because their host was backed off.
    pub const POLITENESS_THROTTLED: &str = "pricetrack_politeness_throttled_total";
    /// Counter: checks put back on the queue because their host was busy elsewhere in the fleet.
    pub const POLITENESS_DEFERRALS: &str = "pricetrack_politeness_deferrals_total";
    /// Counter: queue operations, by queue, operation and result.
    pub const QUEUE_OPERATIONS: &str = "pricetrack_queue_operations_total";
    /// Counter: messages received from a queue.
    pub const QUEUE_MESSAGES_RECEIVED: &str = "pricetrack_queue_messages_received_total";
    /// Counter: alerts decided by checks, by rule.
    pub const ALERTS_DECIDED: &str = "pricetrack_alerts_decided_total";
    /// Counter: alerts handed to the delivery stage, by result.
    pub const ALERT_HANDOVERS: &str = "pricetrack_alert_handovers_total";
    /// Counter: delivery attempts, by channel kind and outcome.
    pub const DELIVERIES: &str = "pricetrack_deliveries_total";
    /// Histogram: from the check that saw the price to the alert delivered, by channel kind.
    pub const ALERT_DELIVERY_LATENCY: &str = "pricetrack_alert_delivery_latency_seconds";
    /// Counter: rescheduler runs, by result.
    pub const RESCHEDULER_RUNS: &str = "pricetrack_rescheduler_runs_total";
    /// Counter: due jobs claimed (leased) by the rescheduler.
    pub const RESCHEDULER_CLAIMED: &str = "pricetrack_rescheduler_claimed_total";
    /// Counter: check requests the rescheduler queued.
    pub const RESCHEDULER_SENT: &str = "pricetrack_rescheduler_sent_total";
    /// Counter: check requests the rescheduler could not queue.
    pub const RESCHEDULER_SEND_FAILED: &str = "pricetrack_rescheduler_send_failed_total";
    /// Counter: job-store items read while claiming due jobs.
    pub const RESCHEDULER_ITEMS_READ: &str = "pricetrack_rescheduler_items_read_total";
    /// Gauge: 1 while a dependency answers, 0 while it is down, by dependency.
    pub const DEPENDENCY_UP: &str = "pricetrack_dependency_up";
    /// Counter: failed calls to a dependency seen by the workers' back-off, by dependency.
    pub const DEPENDENCY_FAILURES: &str = "pricetrack_dependency_failures_total";
}

/// What kind of Prometheus metric a name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (rates of events).
    Counter,
    /// Goes up and down (a level).
    Gauge,
    /// Observations in buckets (`_bucket`, `_sum`, `_count` series).
    Histogram,
}

impl Kind {
    /// `counter`, `gauge` or `histogram`, as Prometheus' `# TYPE` line says.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

/// One metric of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metric {
    /// The name, as Prometheus shows it (histograms add `_bucket`, `_sum` and `_count`).
    pub name: &'static str,
    /// Counter, gauge or histogram.
    pub kind: Kind,
    /// The label names it is recorded with (every value from a small closed set).
    pub labels: &'static [&'static str],
    /// The `# HELP` text.
    pub help: &'static str,
    /// Histogram bucket bounds (empty for counters and gauges).
    pub buckets: &'static [f64],
}

/// Request latencies: a few milliseconds to the API's 30 s deadline.
const HTTP_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0];
/// Page fetches: tens of milliseconds to the fetch deadline (30 s) and a little past it.
const FETCH_BUCKETS: &[f64] = &[0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0];
/// Whole check requests: as fetches, plus the browser fallback and a lease's worth (300 s).
const CHECK_BUCKETS: &[f64] = &[0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0];
/// Politeness waits: none, the spacing (about 1 s), up to a long queue at one host.
const WAIT_BUCKETS: &[f64] = &[0.001, 0.01, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0];
/// Alert latency: the SLO's bounds (60 s, 5 min) are bucket edges.
const DELIVERY_BUCKETS: &[f64] = &[1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0, 3600.0];
/// Check gaps in intervals: the freshness SLO's bound (2 intervals) is a bucket edge.
const GAP_BUCKETS: &[f64] = &[0.5, 1.0, 1.1, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0];

/// Every metric any pricetrack program records.
pub const CATALOG: &[Metric] = &[
    Metric {
        name: names::HTTP_REQUESTS,
        kind: Kind::Counter,
        labels: &["method", "route", "status"],
        help: "HTTP requests answered by the API, by method, route template (never the raw path) and status.",
        buckets: &[],
    },
    Metric {
        name: names::HTTP_REQUEST_DURATION,
        kind: Kind::Histogram,
        labels: &["method", "route"],
        help: "Seconds to answer an API request, by method and route template.",
        buckets: HTTP_BUCKETS,
    },
    Metric {
        name: names::CHECKS,
        kind: Kind::Counter,
        labels: &["outcome", "kind", "method"],
        help: "Checks of product pages: outcome priced, unpriced, failed or blocked; kind of failure (fetch, forbidden, no_price, currency_mismatch; none otherwise); method static or browser.",
        buckets: &[],
    },
    Metric {
        name: names::CHECK_REQUESTS,
        kind: Kind::Counter,
        labels: &["result"],
        help: "Check requests taken from the queue, by how handling ended: recorded, job_gone, stale, discarded, deferred, error, timeout, malformed.",
        buckets: &[],
    },
    Metric {
        name: names::CHECK_DURATION,
        kind: Kind::Histogram,
        labels: &[],
        help: "Seconds to handle one check request, from the job read to the outcome written.",
        buckets: CHECK_BUCKETS,
    },
    Metric {
        name: names::CHECK_GAP,
        kind: Kind::Histogram,
        labels: &[],
        help: "Time between a job's previous check and this one, in multiples of the job's interval (freshness: at most 2).",
        buckets: GAP_BUCKETS,
    },
    Metric {
        name: names::FETCH_DURATION,
        kind: Kind::Histogram,
        labels: &["method", "result"],
        help: "Seconds to fetch one page (politeness waits excluded), by method (static, browser) and result (ok or the kind of failure).",
        buckets: FETCH_BUCKETS,
    },
    Metric {
        name: names::BROWSER_TABS_BUSY,
        kind: Kind::Gauge,
        labels: &[],
        help: "Browser tabs lent to checks right now.",
        buckets: &[],
    },
    Metric {
        name: names::BROWSER_TABS_MAX,
        kind: Kind::Gauge,
        labels: &[],
        help: "The most browser tabs the pool lends at once (PRICETRACK_BROWSER_TABS).",
        buckets: &[],
    },
    Metric {
        name: names::BROWSER_LAUNCHES,
        kind: Kind::Counter,
        labels: &[],
        help: "Headless browsers started.",
        buckets: &[],
    },
    Metric {
        name: names::BROWSER_RESTARTS,
        kind: Kind::Counter,
        labels: &["reason"],
        help: "Headless browsers replaced: reason died (found dead) or failed (stopped answering during a check).",
        buckets: &[],
    },
    Metric {
        name: names::POLITENESS_WAIT,
        kind: Kind::Histogram,
        labels: &["reason"],
        help: "Seconds a fetch waited for its shop host: reason host_concurrency (a free slot), host_spacing (the delay between starts) or fleet_turn (the fleet-wide turn).",
        buckets: WAIT_BUCKETS,
    },
    Metric {
        name: names::POLITENESS_BACKOFFS,
        kind: Kind::Counter,
        labels: &["reason"],
        help: "Shop hosts backed off after answering http_429 or http_503.",
        buckets: &[],
    },
    Metric {
        name: names::POLITENESS_THROTTLED,
        kind: Kind::Counter,
        labels: &[],
        help: "Fetches not made because their shop host was backed off.",
        buckets: &[],
    },
    Metric {
        name: names::POLITENESS_DEFERRALS,
        kind: Kind::Counter,
        labels: &["reason"],
        help: "Checks put back on the queue: reason host_busy (the host is at its fleet-wide limit) or missed_turn.",
        buckets: &[],
    },
    Metric {
        name: names::QUEUE_OPERATIONS,
        kind: Kind::Counter,
        labels: &["queue", "operation", "result"],
        help: "Queue operations: queue check or delivery; operation receive, delete, heartbeat, defer or put_off; result ok, stale (an expired receipt) or error.",
        buckets: &[],
    },
    Metric {
        name: names::QUEUE_MESSAGES_RECEIVED,
        kind: Kind::Counter,
        labels: &["queue"],
        help: "Messages received from a queue (check or delivery).",
        buckets: &[],
    },
    Metric {
        name: names::ALERTS_DECIDED,
        kind: Kind::Counter,
        labels: &["rule"],
        help: "Alerts decided by checks, by the rule that fired.",
        buckets: &[],
    },
    Metric {
        name: names::ALERT_HANDOVERS,
        kind: Kind::Counter,
        labels: &["result"],
        help: "Alerts handed to the delivery stage: result ok, or failed (the alert stays in the job's outbox).",
        buckets: &[],
    },
    Metric {
        name: names::DELIVERIES,
        kind: Kind::Counter,
        labels: &["channel_kind", "outcome"],
        help: "Delivery attempts by channel kind (webhook, ntfy, ..., operator) and outcome: delivered, retry, failed (refused for good), given_up, channel_failing.",
        buckets: &[],
    },
    Metric {
        name: names::ALERT_DELIVERY_LATENCY,
        kind: Kind::Histogram,
        labels: &["channel_kind"],
        help: "Seconds from the check that saw the price to the alert delivered, by channel kind.",
        buckets: DELIVERY_BUCKETS,
    },
    Metric {
        name: names::RESCHEDULER_RUNS,
        kind: Kind::Counter,
        labels: &["result"],
        help: "Rescheduler runs: result ok or failed.",
        buckets: &[],
    },
    Metric {
        name: names::RESCHEDULER_CLAIMED,
        kind: Kind::Counter,
        labels: &[],
        help: "Due jobs the rescheduler claimed (leased).",
        buckets: &[],
    },
    Metric {
        name: names::RESCHEDULER_SENT,
        kind: Kind::Counter,
        labels: &[],
        help: "Check requests the rescheduler queued.",
        buckets: &[],
    },
    Metric {
        name: names::RESCHEDULER_SEND_FAILED,
        kind: Kind::Counter,
        labels: &[],
        help: "Check requests the rescheduler could not queue (their jobs are due again after the lease).",
        buckets: &[],
    },
    Metric {
        name: names::RESCHEDULER_ITEMS_READ,
        kind: Kind::Counter,
        labels: &[],
        help: "Job-store items read while claiming due jobs (DynamoDB; cost grows with this).",
        buckets: &[],
    },
    Metric {
        name: names::DEPENDENCY_UP,
        kind: Kind::Gauge,
        labels: &["dependency"],
        help: "1 while a dependency answers, 0 while it is down.",
        buckets: &[],
    },
    Metric {
        name: names::DEPENDENCY_FAILURES,
        kind: Kind::Counter,
        labels: &["dependency"],
        help: "Failed calls to a dependency seen by the workers' back-off.",
        buckets: &[],
    },
];

/// The catalogue entry of `name`, if it is one.
pub fn find(name: &str) -> Option<&'static Metric> {
    CATALOG.iter().find(|metric| metric.name == name)
}

/// Registers every metric's help text (and unit) with the installed recorder, so that `# HELP`
/// lines appear from the first scrape on. Does nothing without a recorder.
pub fn describe_all() {
    for metric in CATALOG {
        let unit = if metric.name.ends_with("_seconds") { Some(metrics::Unit::Seconds) } else { None };
        match (metric.kind, unit) {
            (Kind::Counter, _) => metrics::describe_counter!(metric.name, metric.help),
            (Kind::Gauge, _) => metrics::describe_gauge!(metric.name, metric.help),
            (Kind::Histogram, Some(unit)) => metrics::describe_histogram!(metric.name, unit, metric.help),
            (Kind::Histogram, None) => metrics::describe_histogram!(metric.name, metric.help),
        }
    }
}

/// The statuses the API answers with, each its own label value; any other falls into its class.
const STATUSES: &[&str] = &[
    "200", "201", "202", "204", "301", "302", "303", "304", "400", "401", "403", "404", "405", "408", "409", "410",
    "412", "413", "415", "422", "429", "500", "502", "503", "504",
];

/// The label value for an HTTP status code (`"200"`); a fixed set of a few dozen values: the
/// statuses the API answers with by name, any other by its class (`"4xx"`).
pub fn status_label(status: u16) -> &'static str {
    let text = status.to_string();
    if let Some(known) = STATUSES.iter().find(|known| **known == text) {
        return known;
    }
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn names_are_unique_and_follow_prometheus_conventions() {
        let mut seen = HashSet::new();
        for metric in CATALOG {
            assert!(seen.insert(metric.name), "{} twice", metric.name);
            assert!(metric.name.starts_with("pricetrack_"), "{}", metric.name);
            assert!(metric.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
            match metric.kind {
                Kind::Counter => assert!(metric.name.ends_with("_total"), "{}", metric.name),
                Kind::Histogram => {
                    assert!(!metric.buckets.is_empty(), "{} has no buckets", metric.name);
                    assert!(metric.buckets.windows(2).all(|w| w[0] < w[1]), "{} buckets not increasing", metric.name);
                }
                Kind::Gauge => assert!(!metric.name.ends_with("_total"), "{}", metric.name),
            }
            if metric.kind != Kind::Histogram {
                assert!(metric.buckets.is_empty(), "{}", metric.name);
            }
            assert!(!metric.help.is_empty());
            for label in metric.labels {
                // Anything naming a user, a job, a URL or a host would make series unbounded.
                assert!(!["url", "host", "user", "user_id", "job_id", "path", "email"].contains(label), "{label}");
            }
        }
    }

    #[test]
    fn status_labels_are_bounded() {
        let labels: HashSet<&str> = (0..1000).map(status_label).collect();
        assert!(labels.len() <= 30, "{labels:?}");
        assert_eq!(status_label(201), "201");
        assert_eq!(status_label(599), "5xx");
    }
}
