//! Price history: run-length points, the buckets a chart draws and the statistics shown beside
//! it. Pure functions over the points a store hands back; no I/O.
//!
//! Storage does not grow with every check: a check that finds the same price, currency and
//! availability as the newest point only moves that point's `last_seen_at` and bumps its
//! `checks`; anything else starts a new point. A year of unchanged prices is one point.

use std::collections::BTreeMap;

use chrono::{DurationRound, TimeDelta};
use rust_decimal::Decimal;

use crate::{Availability, Currency, Money, Observation, Timestamp};

/// How long history is kept when the operator does not say (`PRICETRACK_HISTORY_RETENTION_DAYS`).
pub const DEFAULT_RETENTION_DAYS: u32 = 730;

/// One run of identical checks: the same price (or none: out of stock) and availability from
/// `first_seen_at` to `last_seen_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricePoint {
    /// The first check of the run.
    pub first_seen_at: Timestamp,
    /// The last check of the run.
    pub last_seen_at: Timestamp,
    /// The price seen; `None` when the page showed none (out of stock): a chart draws a gap.
    pub price: Option<Money>,
    /// Availability seen, if the page said.
    pub availability: Option<Availability>,
    /// How many checks the run holds.
    pub checks: u64,
}

impl PricePoint {
    /// A new run holding one observation.
    pub fn starting(observation: &Observation) -> Self {
        Self {
            first_seen_at: observation.observed_at,
            last_seen_at: observation.observed_at,
            price: observation.price,
            availability: observation.availability,
            checks: 1,
        }
    }

    /// Whether `observation` extends this run rather than starting a new one: same amount,
    /// currency and availability, and not older than the run's end.
    pub fn continues_with(&self, observation: &Observation) -> bool {
        observation.observed_at >= self.last_seen_at
            && same_price(self.price, observation.price)
            && self.availability == observation.availability
    }

    /// This run extended by `observation` (which [`PricePoint::continues_with`] accepted).
    pub fn extended(&self, observation: &Observation) -> Self {
        Self { last_seen_at: observation.observed_at, checks: self.checks.saturating_add(1), ..self.clone() }
    }
}

fn same_price(a: Option<Money>, b: Option<Money>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.amount == b.amount && a.currency == b.currency,
        (None, None) => true,
        _ => false,
    }
}

/// Which part of a job's history to read, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HistoryQuery {
    /// Only points still seen at or after this time.
    pub from: Option<Timestamp>,
    /// Only points first seen at or before this time.
    pub to: Option<Timestamp>,
    /// At most this many points (1 to [`HistoryQuery::MAX_LIMIT`]).
    pub limit: u32,
    /// Where the previous page ended (opaque, from the store); `None` for the newest page.
    pub cursor: Option<String>,
}

impl HistoryQuery {
    /// Largest page.
    pub const MAX_LIMIT: u32 = 1000;
}

/// How finely a chart's points are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// The stored points themselves.
    Raw,
    /// One point per UTC hour.
    Hour,
    /// One point per UTC day.
    Day,
}

impl Resolution {
    /// Parses `raw`, `hour` or `day`.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "raw" => Some(Self::Raw),
            "hour" => Some(Self::Hour),
            "day" => Some(Self::Day),
            _ => None,
        }
    }

    fn width(self) -> Option<TimeDelta> {
        match self {
            Self::Raw => None,
            Self::Hour => Some(TimeDelta::hours(1)),
            Self::Day => Some(TimeDelta::days(1)),
        }
    }
}

/// One bucket of a chart: the prices seen during `[start, start + width)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bucket {
    /// Start of the bucket (UTC hour or day).
    pub start: Timestamp,
    /// Lowest price seen in the bucket; `None` when every check in it found no price (a gap).
    pub min: Option<Money>,
    /// Highest price seen in the bucket.
    pub max: Option<Money>,
    /// The price of the latest run that reached into the bucket (`None`: out of stock then).
    pub last: Option<Money>,
    /// Availability of that latest run.
    pub availability: Option<Availability>,
}

/// Most buckets [`buckets`] returns: a year of hours is 8,784.
pub const MAX_BUCKETS: usize = 10_000;

/// Groups run-length points (any order) into UTC hour or day buckets between `from` and `to`,
/// oldest first. A run reaches every bucket between its first and last check, so a year of one
/// unchanged price is a point per day. Buckets no run reaches are left out. At most
/// [`MAX_BUCKETS`] (the newest). Empty for [`Resolution::Raw`].
pub fn buckets(points: &[PricePoint], resolution: Resolution, from: Timestamp, to: Timestamp) -> Vec<Bucket> {
    let Some(width) = resolution.width() else {
        return Vec::new();
    };
    let mut sorted: Vec<&PricePoint> = points.iter().collect();
    sorted.sort_by_key(|p| p.first_seen_at);
    let floor = |t: Timestamp| t.duration_trunc(width).unwrap_or(t);
    let mut out: BTreeMap<Timestamp, Bucket> = BTreeMap::new();
    for point in sorted {
        let start = floor(point.first_seen_at.max(from));
        let end = point.last_seen_at.min(to);
        if end < start || point.last_seen_at < from || point.first_seen_at > to {
            continue;
        }
        let mut at = start;
        // Only the newest MAX_BUCKETS matter: skip what would fall off anyway.
        let newest_first = floor(end) - width * i32::try_from(MAX_BUCKETS).unwrap_or(i32::MAX);
        if at < newest_first {
            at = newest_first;
        }
        while at <= end {
            let bucket =
                out.entry(at).or_insert(Bucket { start: at, min: None, max: None, last: None, availability: None });
            if let Some(price) = point.price {
                if bucket.min.is_none_or(|m| price.amount < m.amount) {
                    bucket.min = Some(price);
                }
                if bucket.max.is_none_or(|m| price.amount > m.amount) {
                    bucket.max = Some(price);
                }
            }
            bucket.last = point.price;
            bucket.availability = point.availability;
            at += width;
        }
    }
    let mut all: Vec<Bucket> = out.into_values().collect();
    if all.len() > MAX_BUCKETS {
        all.drain(..all.len() - MAX_BUCKETS);
    }
    all
}

/// A price and when it was first seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriceAt {
    /// The price.
    pub price: Money,
    /// When it was first seen.
    pub at: Timestamp,
}

/// What the history says at a glance.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PriceStats {
    /// The newest point's price (`None` when the newest check found none).
    pub current: Option<Money>,
    /// The lowest price, first time seen.
    pub lowest: Option<PriceAt>,
    /// The highest price, first time seen.
    pub highest: Option<PriceAt>,
    /// Time-weighted average over the last 30 days.
    pub average_30d: Option<Money>,
    /// Time-weighted average over the last 90 days.
    pub average_90d: Option<Money>,
    /// Time-weighted average since tracking began (within retention).
    pub average_all: Option<Money>,
    /// `(current - lowest) / lowest` in percent, two decimals.
    pub change_pct_vs_lowest: Option<Decimal>,
    /// `(current - first) / first` in percent, two decimals: against the first price tracked.
    pub change_pct_vs_first: Option<Decimal>,
}

/// Statistics of run-length points (any order) at `now`.
///
/// Only priced points in the currency of the newest priced point count (a shop that changed
/// currency would mix amounts otherwise). Averages are **time-weighted**: each price counts for
/// as long as it was the shop's price, from its run's first check to the next run's first check
/// (the newest run until `now`), so a price that held for a week weighs seven times one that
/// held for a day, however often the job was checked. Out-of-stock runs add no weight. Averages
/// are rounded to four decimals.
pub fn stats(points: &[PricePoint], now: Timestamp) -> PriceStats {
    let mut sorted: Vec<&PricePoint> = points.iter().collect();
    sorted.sort_by_key(|p| p.first_seen_at);
    let Some(newest) = sorted.last() else {
        return PriceStats::default();
    };
    let currency: Option<Currency> = sorted.iter().rev().find_map(|p| p.price).and_then(|m| m.currency);
    let counts = |m: &Money| m.currency == currency;

    let mut lowest: Option<PriceAt> = None;
    let mut highest: Option<PriceAt> = None;
    let mut first: Option<Money> = None;
    for point in &sorted {
        let Some(price) = point.price.filter(counts) else { continue };
        first.get_or_insert(price);
        if lowest.is_none_or(|l| price.amount < l.price.amount) {
            lowest = Some(PriceAt { price, at: point.first_seen_at });
        }
        if highest.is_none_or(|h| price.amount > h.price.amount) {
            highest = Some(PriceAt { price, at: point.first_seen_at });
        }
    }

    // Each run holds from its first check until the next run's first check (the newest: now).
    let spans: Vec<(Timestamp, Timestamp, Option<Money>)> = sorted
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let end = sorted.get(i + 1).map_or(now.max(p.last_seen_at), |next| next.first_seen_at);
            (p.first_seen_at, end, p.price.filter(counts))
        })
        .collect();
    let average_since = |since: Option<Timestamp>| -> Option<Money> {
        let mut weighted = Decimal::ZERO;
        let mut total = Decimal::ZERO;
        for &(start, end, price) in &spans {
            let Some(price) = price else { continue };
            let start = since.map_or(start, |s| start.max(s));
            if end < start {
                continue;
            }
            // A run of one check at `now` still counts: at least a millisecond.
            let weight = Decimal::from((end - start).num_milliseconds().max(1));
            weighted += price.amount * weight;
            total += weight;
        }
        (total > Decimal::ZERO).then(|| Money::new((weighted / total).round_dp(4).normalize(), currency))
    };

    let current = newest.price;
    let pct = |base: Option<Money>| -> Option<Decimal> {
        let (current, base) = (current.filter(counts)?, base?);
        (base.amount > Decimal::ZERO)
            .then(|| ((current.amount - base.amount) * Decimal::ONE_HUNDRED / base.amount).round_dp(2).normalize())
    };
    PriceStats {
        current,
        lowest,
        highest,
        average_30d: average_since(Some(now - TimeDelta::days(30))),
        average_90d: average_since(Some(now - TimeDelta::days(90))),
        average_all: average_since(None),
        change_pct_vs_lowest: pct(lowest.map(|l| l.price)),
        change_pct_vs_first: pct(first),
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;
    use crate::JobId;

    fn t(hours: i64) -> Timestamp {
        chrono::DateTime::from_timestamp(1_767_225_600, 0).expect("time") + TimeDelta::hours(hours)
    }

    fn eur(raw: &str) -> Money {
        Money::new(Decimal::from_str(raw).expect("decimal"), Some(Currency::EUR))
    }

    fn point(first: i64, last: i64, price: Option<&str>) -> PricePoint {
        PricePoint {
            first_seen_at: t(first),
            last_seen_at: t(last),
            price: price.map(eur),
            availability: Some(if price.is_some() { Availability::InStock } else { Availability::OutOfStock }),
            checks: 1,
        }
    }

    fn obs(hours: i64, price: Option<&str>) -> Observation {
        Observation {
            job_id: JobId::new(),
            observed_at: t(hours),
            price: price.map(eur),
            availability: Some(if price.is_some() { Availability::InStock } else { Availability::OutOfStock }),
        }
    }

    #[test]
    fn run_length_extends_same_price_only() {
        let run = PricePoint::starting(&obs(0, Some("90")));
        assert!(run.continues_with(&obs(1, Some("90.00"))), "same amount, other scale");
        assert!(!run.continues_with(&obs(1, Some("95"))));
        assert!(!run.continues_with(&obs(1, None)), "out of stock starts a run");
        assert!(!run.continues_with(&obs(-1, Some("90"))), "older than the run");
        let longer = run.extended(&obs(5, Some("90")));
        assert_eq!((longer.first_seen_at, longer.last_seen_at, longer.checks), (t(0), t(5), 2));
    }

    #[test]
    fn stats_lowest_highest_current_and_changes() {
        // 100 -> 90 (twice, one run) -> 95 -> 80.
        let points =
            vec![point(0, 0, Some("100")), point(1, 2, Some("90")), point(3, 3, Some("95")), point(4, 4, Some("80"))];
        let s = stats(&points, t(4));
        assert_eq!(s.current, Some(eur("80")));
        assert_eq!(s.lowest, Some(PriceAt { price: eur("80"), at: t(4) }));
        assert_eq!(s.highest, Some(PriceAt { price: eur("100"), at: t(0) }));
        assert_eq!(s.change_pct_vs_lowest, Some(Decimal::ZERO));
        assert_eq!(s.change_pct_vs_first, Some(Decimal::from(-20)));
        // Time-weighted: 100 for 1 h, 90 for 2 h, 95 for 1 h, 80 for 1 ms.
        let avg = s.average_all.expect("average").amount;
        assert!(avg > Decimal::from(93) && avg < Decimal::from(94), "{avg}");
    }

    #[test]
    fn stats_skip_out_of_stock_and_time_weight() {
        // 100 for 10 h, out of stock 10 h, 50 for 1 h then now.
        let points = vec![point(0, 9, Some("100")), point(10, 19, None), point(20, 20, Some("50"))];
        let s = stats(&points, t(21));
        let avg = s.average_all.expect("average").amount;
        // (100*10 + 50*1) / 11
        assert_eq!(avg, Decimal::from_str("95.4545").expect("decimal"));
        assert_eq!(s.lowest.map(|l| l.at), Some(t(20)));
        // Newest is out of stock: no current, no change.
        let s = stats(&points[..2], t(21));
        assert_eq!(s.current, None);
        assert_eq!(s.change_pct_vs_first, None);
        assert!(s.lowest.is_some());
    }

    #[test]
    fn stats_windows_only_count_their_days() {
        let days = |d: i64| d * 24;
        let points = vec![point(0, days(60), Some("200")), point(days(80), days(100), Some("100"))];
        let s = stats(&points, t(days(100)));
        // 200 holds until 100 is first seen (day 80): 10 of the last 30 days.
        assert_eq!(s.average_30d.map(|m| m.amount), Some(Decimal::from_str("133.3333").expect("decimal")));
        assert!(s.average_90d.expect("90d").amount > Decimal::from(100));
        assert_eq!(stats(&[], t(0)), PriceStats::default());
    }

    #[test]
    fn a_year_of_one_price_is_a_point_per_day() {
        let points = vec![point(0, 365 * 24, Some("42"))];
        let days = buckets(&points, Resolution::Day, t(0), t(365 * 24));
        assert_eq!(days.len(), 366);
        assert!(days.iter().all(|b| b.last == Some(eur("42"))));
        assert!(buckets(&points, Resolution::Raw, t(0), t(1)).is_empty());
    }

    #[test]
    fn hour_buckets_hold_min_max_last_and_gaps() {
        let mut a = point(0, 0, Some("100"));
        a.last_seen_at += TimeDelta::minutes(10);
        let mut b = point(0, 0, Some("80"));
        b.first_seen_at += TimeDelta::minutes(20);
        b.last_seen_at = b.first_seen_at;
        let mut c = point(0, 0, Some("90"));
        c.first_seen_at += TimeDelta::minutes(40);
        c.last_seen_at = c.first_seen_at;
        let gap = point(2, 2, None);
        let hours = buckets(&[c, gap, a, b], Resolution::Hour, t(0), t(3));
        assert_eq!(hours.len(), 2, "hour 1 has no check");
        assert_eq!((hours[0].min, hours[0].max, hours[0].last), (Some(eur("80")), Some(eur("100")), Some(eur("90"))));
        assert_eq!(hours[1].start, t(2));
        assert_eq!((hours[1].min, hours[1].last), (None, None));
        assert_eq!(hours[1].availability, Some(Availability::OutOfStock));
    }

    #[test]
    fn resolutions_parse() {
        assert_eq!(Resolution::parse("day"), Some(Resolution::Day));
        assert_eq!(Resolution::parse("week"), None);
    }
}
