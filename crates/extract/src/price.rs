//! Price text parsing: `"1.299,99 €"` → `1299.99 EUR`.
//!
//! The text is scanned once for *currency markers* (symbols such as `€`, `US$`, `zł`, `kr` and
//! ISO 4217 codes such as `EUR`) and for *number runs* (digits joined by `.`, `,`, spaces and
//! apostrophes, optionally ending in a `,-` dash). Each run is then read with the decimal
//! convention of the currency written next to it. See [`parse_price`] for the rules.

use std::str::FromStr;

use pricetrack_domain::{Currency, Money};
use rust_decimal::Decimal;

/// Only the first bytes of a text are looked at: a price label is short, and this bounds the work
/// done on hostile input.
const MAX_INPUT_BYTES: usize = 4096;
/// More integer digits than this is not a shop price (and would not fit every store).
const MAX_INTEGER_DIGITS: usize = 15;
/// More decimals than this is not a shop price.
const MAX_FRACTION_DIGITS: usize = 6;
/// How many whitespace characters may stand between a number and its currency marker.
const MAX_GAP: usize = 3;

/// Which character a locale uses as the decimal separator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Convention {
    /// `1,234.56`: en-US, en-GB, en-IN, ja-JP, de-CH (with `'` for thousands)...
    DotDecimal,
    /// `1.234,56` or `1 234,56`: de-DE, fr-FR, es-ES, it-IT, nl-NL, pt-BR, pl-PL, sv-SE...
    CommaDecimal,
}

/// How much a currency marker says about the currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Strength {
    /// Used by several currencies and none is assumed (`kr`): no currency unless an ISO code
    /// appears in the text.
    Ambiguous,
    /// Used by several currencies, one is assumed (`$` → USD, `¥` → JPY).
    Generic,
    /// A symbol of one currency (`€`, `£`, `US$`, `zł`).
    Symbol,
    /// An ISO 4217 code (`EUR`).
    Iso,
}

/// A currency symbol or word, as written on pages.
struct SymbolDef {
    text: &'static str,
    code: Option<&'static str>,
    strength: Strength,
    /// Made of letters: must not touch other letters (`kr` in `kraft` is no marker).
    word: bool,
    /// Convention when the code says nothing (ambiguous markers).
    convention: Option<Convention>,
}

const fn sym(text: &'static str, code: &'static str, strength: Strength, word: bool) -> SymbolDef {
    SymbolDef { text, code: Some(code), strength, word, convention: None }
}

use Strength::{Ambiguous, Generic, Iso, Symbol};

/// Currency symbols and words. The longest match at a position wins.
const SYMBOLS: &[SymbolDef] = &[
    sym("$", "USD", Generic, false),
    sym("US$", "USD", Symbol, true),
    sym("U$S", "USD", Symbol, true),
    sym("C$", "CAD", Symbol, true),
    sym("CA$", "CAD", Symbol, true),
    sym("A$", "AUD", Symbol, true),
    sym("AU$", "AUD", Symbol, true),
    sym("NZ$", "NZD", Symbol, true),
    sym("R$", "BRL", Symbol, true),
    sym("MX$", "MXN", Symbol, true),
    sym("HK$", "HKD", Symbol, true),
    sym("S$", "SGD", Symbol, true),
    sym("SG$", "SGD", Symbol, true),
    sym("NT$", "TWD", Symbol, true),
    sym("COL$", "COP", Symbol, true),
    sym("€", "EUR", Symbol, false),
    sym("euro", "EUR", Symbol, true),
    sym("euros", "EUR", Symbol, true),
    sym("Euro", "EUR", Symbol, true),
    sym("Euros", "EUR", Symbol, true),
    sym("£", "GBP", Symbol, false),
    sym("¥", "JPY", Generic, false),
    sym("￥", "JPY", Generic, false),
    sym("JP¥", "JPY", Symbol, true),
    sym("円", "JPY", Symbol, false),
    sym("CN¥", "CNY", Symbol, true),
    sym("元", "CNY", Symbol, false),
    sym("₹", "INR", Symbol, false),
    sym("Rs.", "INR", Generic, true),
    sym("Rs", "INR", Generic, true),
    sym("₩", "KRW", Symbol, false),
    sym("원", "KRW", Symbol, false),
    sym("₽", "RUB", Symbol, false),
    sym("руб.", "RUB", Symbol, true),
    sym("руб", "RUB", Symbol, true),
    sym("zł", "PLN", Symbol, true),
    sym("zl", "PLN", Symbol, true),
    sym("Kč", "CZK", Symbol, true),
    sym("Ft", "HUF", Symbol, true),
    sym("lei", "RON", Symbol, true),
    sym("Lei", "RON", Symbol, true),
    sym("₺", "TRY", Symbol, false),
    sym("TL", "TRY", Symbol, true),
    sym("₴", "UAH", Symbol, false),
    sym("грн", "UAH", Symbol, true),
    sym("грн.", "UAH", Symbol, true),
    sym("₪", "ILS", Symbol, false),
    sym("฿", "THB", Symbol, false),
    sym("₫", "VND", Symbol, false),
    sym("₱", "PHP", Symbol, false),
    sym("лв", "BGN", Symbol, true),
    sym("лв.", "BGN", Symbol, true),
    sym("RM", "MYR", Symbol, true),
    sym("Rp", "IDR", Symbol, true),
    sym("Rp.", "IDR", Symbol, true),
    sym("Fr.", "CHF", Symbol, true),
    sym("SFr.", "CHF", Symbol, true),
    sym("S/", "PEN", Symbol, true),
    sym("S/.", "PEN", Symbol, true),
    sym("₦", "NGN", Symbol, false),
    sym("₡", "CRC", Symbol, false),
    SymbolDef { text: "kr", code: None, strength: Ambiguous, word: true, convention: Some(Convention::CommaDecimal) },
    SymbolDef { text: "kr.", code: None, strength: Ambiguous, word: true, convention: Some(Convention::CommaDecimal) },
    SymbolDef { text: "Kr", code: None, strength: Ambiguous, word: true, convention: Some(Convention::CommaDecimal) },
    SymbolDef { text: "Kr.", code: None, strength: Ambiguous, word: true, convention: Some(Convention::CommaDecimal) },
];

/// ISO codes recognised in any letter case when standing alone (`eur`, `Eur`, `EUR`).
const ISO_ANY_CASE: &[&str] = &[
    "EUR", "USD", "GBP", "CHF", "PLN", "SEK", "NOK", "DKK", "ISK", "CZK", "HUF", "BGN", "RUB", "UAH", "JPY", "CNY",
    "RMB", "KRW", "INR", "IDR", "MYR", "SGD", "HKD", "TWD", "THB", "VND", "AUD", "NZD", "CAD", "MXN", "BRL", "ARS",
    "CLP", "UYU", "ZAR", "ILS", "AED", "SAR", "QAR", "EGP", "NGN", "KES", "PKR", "RSD", "HRK", "BYN", "KZT",
];

/// ISO codes that are also common words (`try`, `pen`, `mad`, `php`...): recognised in upper case
/// only.
const ISO_UPPER_ONLY: &[&str] = &["TRY", "PEN", "MAD", "PHP", "RON", "COP", "GEL"];

/// Currencies written `1,234.56`. Any other known currency is written `1.234,56`.
const DOT_DECIMAL: &[&str] = &[
    "USD", "GBP", "JPY", "CNY", "KRW", "INR", "CAD", "AUD", "NZD", "HKD", "SGD", "TWD", "MXN", "CHF", "THB", "PHP",
    "MYR", "ILS", "AED", "SAR", "QAR", "EGP", "NGN", "KES", "PKR", "ZAR", "PEN", "CRC",
];

/// Currencies that also write their amounts with a bare `$`.
const DOLLAR_FAMILY: &[&str] =
    &["USD", "CAD", "AUD", "NZD", "MXN", "HKD", "SGD", "TWD", "ARS", "CLP", "COP", "UYU", "BRL"];

/// The decimal convention usually used with a currency.
pub(crate) fn convention_of(currency: Currency) -> Convention {
    if DOT_DECIMAL.contains(&currency.as_str()) { Convention::DotDecimal } else { Convention::CommaDecimal }
}

/// A currency marker found in the text, in char positions `[start, end)`.
#[derive(Debug, Clone, Copy)]
struct Marker {
    start: usize,
    end: usize,
    currency: Option<Currency>,
    strength: Strength,
    convention: Option<Convention>,
    /// The symbol was `$` or `¥`, which an ISO code elsewhere in the text may refine.
    family: Option<&'static [&'static str]>,
}

/// How a currency was determined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ParsedPrice {
    /// The amount and currency.
    pub(crate) money: Money,
    /// How sure the currency is: `None` when the text had no marker at all.
    pub(crate) strength: Option<Strength>,
}

/// Parses a price out of a short text such as a price label.
///
/// Returns `None` when the text holds no number that reads as a price, and never panics.
///
/// # How the text is read
///
/// * **Currency.** Symbols (`€ £ ₹ ₩ ₽ zł Kč R$ US$ C$ A$ CHF Fr. …`) and standalone ISO 4217
///   codes (`EUR`, `usd`, `Sek` — case-insensitive, except codes that are also words such as
///   `TRY` or `PEN`, which must be upper case) are recognised before or after the number, with
///   up to three spaces (any Unicode space) between. A bare `$` is taken as **USD** and a bare
///   `¥` as **JPY**, unless a matching ISO code (`CAD`, `MXN`, `CNY`…) appears in the same text.
///   `kr` (SEK, NOK, DKK, ISK) gives **no currency** unless an ISO code appears in the text.
///   `Rs.` is taken as INR.
/// * **Separators.** Spaces (normal, U+00A0, U+202F, thin) and apostrophes (`'`, `’`) only group
///   thousands. When both `.` and `,` appear, the last one is the decimal separator. Indian
///   grouping (`1,23,456.00`) is accepted. `1.299,-`, `12,-`, `49.–` and `199:-` mean no cents,
///   and `19€99` is 19.99 EUR.
/// * **The ambiguous case.** A single `.` or `,` followed by exactly three digits (`1.234`,
///   `1,234`) is read with the currency's usual convention: with `$`, `£`, `¥`, `₹`, `CHF`… a
///   `.` is decimal and a `,` groups thousands (`$1.234` = 1.234, `$1,234` = 1234); with `€`,
///   `zł`, `kr`, `R$`… it is the other way round (`1.234 €` = 1234, `1,234 €` = 1.234). With no
///   currency at all, it groups thousands (`1.234` = 1234), as shop prices rarely have three
///   decimals. A leading `0` (`0,125`) is always decimal.
/// * **Which number.** The first number attached to a currency marker wins; when no number is
///   attached to one, the first number that reads as a price does, with the currency written
///   elsewhere in the text if any. Numbers glued to letters (`4K`, `iPhone15`, `99p`), followed
///   by `%`, part of a date or a time (`12/05`, `10:30`), or plain integers followed by a word
///   (`3 left`, `128 GB`) are skipped.
/// * **Refused.** Negative amounts (`-5,00 €`, `$-5`) are skipped, as are amounts with more than
///   15 integer digits or more than 6 decimals. A zero amount (`0,00 €`) is returned as zero:
///   callers that need a real price must check for it.
/// * Only the first 4 KiB of the text are read.
pub fn parse_price(text: &str) -> Option<Money> {
    parse_price_detailed(text, None).map(|parsed| parsed.money)
}

/// [`parse_price`] with a currency known from elsewhere on the page: it is used for the
/// decimal convention and as the currency when the text names none.
pub(crate) fn parse_price_hinted(text: &str, hint: Option<Currency>) -> Option<Money> {
    parse_price_detailed(text, hint).map(|parsed| parsed.money)
}

/// Looks up a bare currency marker such as `€`, `US$` or `eur` (the whole text, trimmed).
pub(crate) fn currency_from_marker(text: &str) -> Option<Currency> {
    let trimmed = text.trim();
    if let Ok(currency) = Currency::parse(trimmed) {
        return Some(currency);
    }
    let chars: Vec<char> = trimmed.chars().collect();
    let markers = scan_markers(&chars);
    match markers.as_slice() {
        [only] if only.start == 0 && only.end == chars.len() => only.currency,
        _ => None,
    }
}

fn truncate(text: &str) -> &str {
    if text.len() <= MAX_INPUT_BYTES {
        return text;
    }
    let mut end = MAX_INPUT_BYTES;
    while end > 0 && !text.is_char_boundary(end) {
        end -= 1;
    }
    text.get(..end).unwrap_or("")
}

fn is_space(c: char) -> bool {
    c.is_whitespace()
}

/// Spaces that may group thousands.
fn is_group_space(c: char) -> bool {
    matches!(c, ' ' | '\u{a0}' | '\u{202f}' | '\u{2009}' | '\u{2007}' | '\u{2008}')
}

fn is_apostrophe(c: char) -> bool {
    matches!(c, '\'' | '\u{2019}' | '\u{2bc}' | '\u{b4}')
}

fn is_dash(c: char) -> bool {
    matches!(c, '-' | '\u{2013}' | '\u{2014}' | '\u{2212}')
}

fn is_minus(c: char) -> bool {
    matches!(c, '-' | '\u{2212}' | '\u{2013}')
}

fn code_to_currency(code: &str) -> Option<Currency> {
    if code == "RMB" {
        return Currency::parse("CNY").ok();
    }
    Currency::parse(code).ok()
}

fn family_of(def: &SymbolDef) -> Option<&'static [&'static str]> {
    const YEN_FAMILY: &[&str] = &["JPY", "CNY", "RMB"];
    match def.text {
        "$" => Some(DOLLAR_FAMILY),
        "¥" | "￥" => Some(YEN_FAMILY),
        "kr" | "kr." | "Kr" | "Kr." => Some(&["SEK", "NOK", "DKK", "ISK"]),
        "Rs." | "Rs" => Some(&["INR", "PKR"]),
        _ => None,
    }
}

fn starts_with_at(chars: &[char], at: usize, needle: &str) -> bool {
    let mut i = at;
    for n in needle.chars() {
        match chars.get(i) {
            Some(&c) if c == n => i += 1,
            _ => return false,
        }
    }
    true
}

fn is_letter_at(chars: &[char], index: Option<usize>) -> bool {
    index.and_then(|i| chars.get(i)).is_some_and(|c| c.is_alphabetic())
}

fn scan_markers(chars: &[char]) -> Vec<Marker> {
    let mut markers = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let before = i.checked_sub(1);
        // Longest symbol first.
        let mut best: Option<(&SymbolDef, usize)> = None;
        for def in SYMBOLS {
            if !starts_with_at(chars, i, def.text) {
                continue;
            }
            let len = def.text.chars().count();
            if def.word && (is_letter_at(chars, before) || is_letter_at(chars, Some(i + len))) {
                continue;
            }
            if best.is_none_or(|(_, best_len)| len > best_len) {
                best = Some((def, len));
            }
        }
        if let Some((def, len)) = best {
            let currency = def.code.and_then(code_to_currency);
            markers.push(Marker {
                start: i,
                end: i + len,
                currency,
                strength: def.strength,
                convention: def.convention.or(currency.map(convention_of)),
                family: family_of(def),
            });
            i += len;
            continue;
        }
        if let Some(marker) = iso_at(chars, i) {
            i = marker.end;
            markers.push(marker);
            continue;
        }
        i += 1;
    }
    markers
}

fn iso_at(chars: &[char], i: usize) -> Option<Marker> {
    if is_letter_at(chars, i.checked_sub(1)) || is_letter_at(chars, Some(i + 3)) {
        return None;
    }
    let letters = chars.get(i..i + 3)?;
    if !letters.iter().all(char::is_ascii_alphabetic) {
        return None;
    }
    let raw: String = letters.iter().collect();
    let upper = raw.to_ascii_uppercase();
    let known = ISO_ANY_CASE.contains(&upper.as_str()) || (raw == upper && ISO_UPPER_ONLY.contains(&upper.as_str()));
    if !known {
        return None;
    }
    let currency = code_to_currency(&upper)?;
    Some(Marker {
        start: i,
        end: i + 3,
        currency: Some(currency),
        strength: Iso,
        convention: Some(convention_of(currency)),
        family: None,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sep {
    Dot,
    Comma,
    Space,
    Apostrophe,
    Colon,
}

/// A run of digits and separators, not yet interpreted.
#[derive(Debug, Clone)]
struct Run {
    /// Char positions `[start, end)`, including a trailing dash.
    start: usize,
    end: usize,
    /// Digit groups, in order.
    groups: Vec<String>,
    /// `seps[i]` stands between `groups[i]` and `groups[i + 1]`.
    seps: Vec<Sep>,
    /// `,-` / `.–` / `:-`: the separator before the dash is the decimal one; no cents.
    dash: Option<Sep>,
    /// `19€99`: the cents follow the euro sign.
    euro_cents: Option<String>,
    /// `.99` / `,99` with nothing before: less than one unit.
    leading_fraction: bool,
}

fn take_digits(chars: &[char], mut i: usize, out: &mut String) -> usize {
    while let Some(c) = chars.get(i).filter(|c| c.is_ascii_digit()) {
        out.push(*c);
        i += 1;
    }
    i
}

fn digit_at(chars: &[char], i: usize) -> bool {
    chars.get(i).is_some_and(char::is_ascii_digit)
}

/// Exactly three digits at `i`, then no digit.
fn three_digits_at(chars: &[char], i: usize) -> bool {
    digit_at(chars, i) && digit_at(chars, i + 1) && digit_at(chars, i + 2) && !digit_at(chars, i + 3)
}

fn scan_run(chars: &[char], start: usize) -> Run {
    let mut groups = Vec::new();
    let mut seps: Vec<Sep> = Vec::new();
    let mut dash = None;
    let mut euro_cents = None;
    let mut group = String::new();
    let mut i = take_digits(chars, start, &mut group);
    while let Some(&c) = chars.get(i) {
        let only = |kind: Sep| seps.iter().all(|s| *s == kind);
        let group_ok = if groups.is_empty() { group.len() <= 3 } else { group.len() == 3 };
        let sep = match c {
            '.' => Some(Sep::Dot),
            ',' => Some(Sep::Comma),
            ':' => Some(Sep::Colon),
            c if is_group_space(c) => Some(Sep::Space),
            c if is_apostrophe(c) => Some(Sep::Apostrophe),
            _ => None,
        };
        match sep {
            Some(kind @ (Sep::Dot | Sep::Comma)) if digit_at(chars, i + 1) => {
                seps.push(kind);
            }
            Some(kind @ (Sep::Dot | Sep::Comma | Sep::Colon))
                if chars.get(i + 1).is_some_and(|c| is_dash(*c)) && !digit_at(chars, i + 2) =>
            {
                dash = Some(kind);
                i += 2;
                // `--` counts as one dash.
                if chars.get(i).is_some_and(|c| is_dash(*c)) {
                    i += 1;
                }
                break;
            }
            Some(kind @ (Sep::Space | Sep::Apostrophe)) if only(kind) && group_ok && three_digits_at(chars, i + 1) => {
                seps.push(kind);
            }
            None if c == '€' && seps.iter().all(|s| matches!(s, Sep::Space | Sep::Dot | Sep::Apostrophe)) && {
                digit_at(chars, i + 1) && digit_at(chars, i + 2) && !digit_at(chars, i + 3)
            } =>
            {
                let mut cents = String::new();
                i = take_digits(chars, i + 1, &mut cents);
                euro_cents = Some(cents);
                break;
            }
            _ => break,
        }
        groups.push(std::mem::take(&mut group));
        i = take_digits(chars, i + 1, &mut group);
    }
    groups.push(group);
    Run { start, end: i, groups, seps, dash, euro_cents, leading_fraction: false }
}

fn scan_runs(chars: &[char]) -> Vec<Run> {
    let mut runs = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !digit_at(chars, i) {
            i += 1;
            continue;
        }
        let mut run = scan_run(chars, i);
        // `.99` standing alone (`$.99`).
        if run.seps.is_empty()
            && run.dash.is_none()
            && run.euro_cents.is_none()
            && run.groups.first().is_some_and(|g| g.len() <= 2)
            && i >= 1
            && matches!(chars.get(i - 1), Some('.' | ','))
            && (i < 2 || chars.get(i - 2).is_some_and(|c| !c.is_alphanumeric()))
        {
            run.start = i - 1;
            run.leading_fraction = true;
        }
        i = run.end.max(i + 1);
        runs.push(run);
    }
    runs
}

/// Thousands grouping: `1` `234` `567`, or Indian `1` `23` `45` `678`.
fn valid_grouping(groups: &[String]) -> bool {
    let Some((first, rest)) = groups.split_first() else { return false };
    if first.is_empty() || first.len() > 3 || (first.starts_with('0') && !rest.is_empty()) {
        return false;
    }
    if rest.iter().all(|g| g.len() == 3) {
        return true;
    }
    // Indian: first 1-2 digits, then pairs, then a final group of three.
    match rest.split_last() {
        Some((last, middle)) => {
            first.len() <= 2 && last.len() == 3 && !middle.is_empty() && middle.iter().all(|g| g.len() == 2)
        }
        None => true,
    }
}

/// Reads a run as `(integer digits, fraction digits, is_plain_integer)`.
fn interpret(run: &Run, convention: Option<Convention>) -> Option<(String, String, bool)> {
    if run.leading_fraction {
        return Some(("0".to_owned(), run.groups.first()?.clone(), false));
    }
    if let Some(cents) = &run.euro_cents {
        let grouping_ok = run.seps.windows(2).all(|w| w[0] == w[1]) && valid_grouping(&run.groups);
        return grouping_ok.then(|| (run.groups.concat(), cents.clone(), false));
    }
    if let Some(dash_kind) = run.dash {
        // Every separator before the `,-` groups thousands.
        let grouping_ok = match run.seps.first() {
            None => true,
            Some(kind) => *kind != dash_kind && run.seps.iter().all(|s| s == kind) && valid_grouping(&run.groups),
        };
        return grouping_ok.then(|| (run.groups.concat(), String::new(), false));
    }
    let Some(&last) = run.seps.last() else {
        return Some((run.groups.first()?.clone(), String::new(), true));
    };
    let all_grouping = |groups: &[String]| valid_grouping(groups).then(|| (groups.concat(), String::new(), false));
    if matches!(last, Sep::Space | Sep::Apostrophe | Sep::Colon) {
        return all_grouping(&run.groups);
    }
    let (fraction, integer_groups) = run.groups.split_last()?;
    let earlier = &run.seps[..run.seps.len() - 1];
    let decimal = || -> Option<(String, String, bool)> {
        if integer_groups.len() > 1 && !valid_grouping(integer_groups) {
            return None;
        }
        Some((integer_groups.concat(), fraction.clone(), false))
    };
    if let Some(&first) = earlier.first() {
        if first != last {
            // `1.299,99`, `1 299,99`, `1'299.90`, `1,23,456.00`: the last one is decimal.
            let consistent = earlier.iter().all(|s| *s == first);
            return if consistent { decimal() } else { None };
        }
        if earlier.iter().all(|s| *s == last) {
            // The same separator repeated only groups thousands: `1.234.567`.
            return all_grouping(&run.groups);
        }
        return None;
    }
    // A single `.` or `,`.
    let integer = integer_groups.first()?;
    if fraction.len() != 3 || integer.chars().all(|c| c == '0') || integer.len() > 3 {
        return decimal();
    }
    let decimal_sep = match convention {
        Some(Convention::DotDecimal) => Sep::Dot,
        Some(Convention::CommaDecimal) => Sep::Comma,
        None => return all_grouping(&run.groups),
    };
    if last == decimal_sep { decimal() } else { all_grouping(&run.groups) }
}

fn to_decimal(integer: &str, fraction: &str) -> Option<Decimal> {
    let integer = integer.trim_start_matches('0');
    if integer.len() > MAX_INTEGER_DIGITS || fraction.len() > MAX_FRACTION_DIGITS {
        return None;
    }
    let integer = if integer.is_empty() { "0" } else { integer };
    let text = if fraction.is_empty() { integer.to_owned() } else { format!("{integer}.{fraction}") };
    Decimal::from_str(&text).ok()
}

/// The markers attached to a run: touching it, or separated by a few spaces, on either side,
/// chained at most two deep (`CAD $ 5`). Also returns where the run and its prefix markers start,
/// and whether a marker follows the run.
fn attached(
    chars: &[char],
    run: &Run,
    markers: &[Marker],
    ending_at: &[Option<usize>],
    starting_at: &[Option<usize>],
) -> (Vec<usize>, usize, bool) {
    let mut found = Vec::new();
    let mut outer_start = run.start;
    let mut pos = run.start;
    for _ in 0..2 {
        let mut p = pos;
        let mut gap = 0;
        while gap < MAX_GAP && p > 0 && chars.get(p - 1).is_some_and(|c| is_space(*c)) {
            p -= 1;
            gap += 1;
        }
        let Some(&Some(index)) = ending_at.get(p) else { break };
        let Some(marker) = markers.get(index) else { break };
        found.push(index);
        pos = marker.start;
        outer_start = pos;
    }
    let prefix_count = found.len();
    let mut pos = run.end;
    for _ in 0..2 {
        let mut p = pos;
        let mut gap = 0;
        while gap < MAX_GAP && chars.get(p).is_some_and(|c| is_space(*c)) {
            p += 1;
            gap += 1;
        }
        let Some(&Some(index)) = starting_at.get(p) else { break };
        let Some(marker) = markers.get(index) else { break };
        found.push(index);
        pos = marker.end;
    }
    let suffixed = found.len() > prefix_count;
    (found, outer_start, suffixed)
}

fn is_negative(chars: &[char], run: &Run, outer_start: usize) -> bool {
    [run.start, outer_start].iter().any(|&s| {
        s >= 1
            && chars.get(s - 1).is_some_and(|c| is_minus(*c))
            && (s < 2 || chars.get(s - 2).is_none_or(|c| !c.is_alphanumeric()))
    })
}

/// Context that makes a run no price at all.
fn rejected(chars: &[char], run: &Run, touching: (bool, bool), suffixed: bool, plain_integer: bool) -> bool {
    let (marker_before, marker_after) = touching;
    let prev = run.start.checked_sub(1).and_then(|i| chars.get(i)).copied();
    let prev2 = run.start.checked_sub(2).and_then(|i| chars.get(i)).copied();
    let next = chars.get(run.end).copied();
    let next2 = chars.get(run.end + 1).copied();
    let digit = |c: Option<char>| c.is_some_and(|c| c.is_ascii_digit());
    if prev.is_some_and(char::is_alphabetic) && !marker_before {
        return true;
    }
    if next.is_some_and(char::is_alphabetic) && !marker_after {
        return true;
    }
    if matches!(prev, Some('/' | ':')) && digit(prev2) || matches!(next, Some('/' | ':')) && digit(next2) {
        return true;
    }
    if prev == Some('#') {
        return true;
    }
    let mut i = run.end;
    while chars.get(i).is_some_and(|c| is_space(*c)) {
        i += 1;
    }
    let after = chars.get(i).copied();
    if matches!(after, Some('%' | '‰')) {
        return true;
    }
    // `3 left`, `128 GB`: a bare integer followed by a word is a count, not a price.
    plain_integer && !suffixed && i > run.end && after.is_some_and(char::is_alphabetic)
}

pub(crate) fn parse_price_detailed(text: &str, hint: Option<Currency>) -> Option<ParsedPrice> {
    let chars: Vec<char> = truncate(text).chars().collect();
    if !chars.iter().any(char::is_ascii_digit) {
        return None;
    }
    let markers = scan_markers(&chars);
    let mut ending_at = vec![None; chars.len() + 1];
    let mut starting_at = vec![None; chars.len() + 1];
    for (index, marker) in markers.iter().enumerate() {
        if let Some(slot) = ending_at.get_mut(marker.end) {
            *slot = Some(index);
        }
        if let Some(slot) = starting_at.get_mut(marker.start) {
            *slot = Some(index);
        }
    }
    let first_iso = markers.iter().find(|m| m.strength == Iso);
    // The marker that speaks for the whole text when a number has none of its own.
    let global = first_iso.or_else(|| markers.iter().max_by_key(|m| m.strength));

    let mut plain: Option<ParsedPrice> = None;
    for run in scan_runs(&chars) {
        let (attached_markers, outer_start, suffixed) = attached(&chars, &run, &markers, &ending_at, &starting_at);
        let mut best: Option<Marker> =
            attached_markers.iter().filter_map(|i| markers.get(*i).copied()).max_by_key(|m| m.strength);
        if run.euro_cents.is_some() {
            best = markers.iter().find(|m| m.start > run.start && m.end <= run.end).copied().or(best);
        }
        let marker_before = ending_at.get(run.start).is_some_and(Option::is_some);
        let marker_after = starting_at.get(run.end).is_some_and(Option::is_some);
        let is_attached = best.is_some();
        let marker = best.or_else(|| global.copied());

        // Resolve the currency and the convention.
        let (currency, strength) = match marker {
            Some(m) => match (m.strength, m.family, first_iso) {
                (Ambiguous | Generic, Some(family), Some(iso))
                    if iso.currency.is_some_and(|c| family.contains(&c.as_str())) =>
                {
                    (iso.currency, Some(Iso))
                }
                (Ambiguous, _, _) => (None, Some(Ambiguous)),
                _ => (m.currency, Some(m.strength)),
            },
            None => (None, None),
        };
        let convention = currency.map(convention_of).or(marker.and_then(|m| m.convention)).or(hint.map(convention_of));
        let currency = currency.or(if marker.is_none() { hint } else { None });

        let Some((integer, fraction, plain_integer)) = interpret(&run, convention) else { continue };
        let touching = (marker_before, marker_after || run.euro_cents.is_some());
        if rejected(&chars, &run, touching, suffixed, plain_integer) {
            continue;
        }
        if is_negative(&chars, &run, outer_start) {
            continue;
        }
        let Some(amount) = to_decimal(&integer, &fraction) else { continue };
        let parsed = ParsedPrice { money: Money::new(amount, currency), strength };
        if is_attached {
            return Some(parsed);
        }
        if plain.is_none() {
            plain = Some(parsed);
        }
    }
    plain
}

#[cfg(test)]
mod tests {
    use super::*;

    fn money(text: &str) -> Option<(String, Option<String>)> {
        parse_price(text).map(|m| (m.amount.normalize().to_string(), m.currency.map(|c| c.to_string())))
    }

    #[test]
    fn basics() {
        assert_eq!(money("1.299,99 €"), Some(("1299.99".into(), Some("EUR".into()))));
        assert_eq!(money("$1,299.99"), Some(("1299.99".into(), Some("USD".into()))));
        assert_eq!(money("Sold out"), None);
        assert_eq!(money("-5,00 €"), None);
    }

    #[test]
    fn marker_lookup() {
        assert_eq!(currency_from_marker("€"), Some(Currency::EUR));
        assert_eq!(currency_from_marker(" usd "), Some(Currency::USD));
        assert_eq!(currency_from_marker("US$"), Some(Currency::USD));
        assert_eq!(currency_from_marker("kr"), None);
        assert_eq!(currency_from_marker("€ €"), None);
    }
}
