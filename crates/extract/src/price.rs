//! Price text parsing: `"1.299,99 €"` → `1299.99 EUR`.
//!
//! The text is scanned once for *currency markers* (symbols such as `€`, `US$`, `zł`, `kr`, local
//! abbreviations such as `руб.` or `KM`, and ISO 4217 codes such as `EUR`; the table is in
//! [`currencies`]) and for *number runs* (digits joined by `.`, `,`, spaces and apostrophes,
//! optionally ending in a `,-` dash). Each run is read with the conventions of the currency
//! written next to it, and the runs are weighed against each other (a marked old price, a
//! quantity, a date) to pick the price. See [`parse_price`] for the rules.

mod currencies;

use std::str::FromStr;

use pricetrack_domain::{Currency, Money};
use rust_decimal::Decimal;

use currencies::{SYMBOLS_BY_FIRST_CHAR, Side, SymbolDef};

/// Only the first bytes of a text are looked at: a price label is short, and this bounds the work
/// done on hostile input.
const MAX_INPUT_BYTES: usize = 4096;
/// More integer digits than this is not a shop price (and would not fit every store).
const MAX_INTEGER_DIGITS: usize = 15;
/// More decimals than this is not a price. Structured data sometimes carries a float printed in
/// full (`1.11000000000000009770`), which is still that amount.
const MAX_FRACTION_DIGITS: usize = 20;
/// What a `Decimal` holds exactly.
const MAX_DIGITS: usize = 28;
/// How many whitespace characters may stand between a number and its currency marker.
const MAX_GAP: usize = 3;
/// How far back (in characters) a label such as `was` or `Qty` is looked for.
const LABEL_WINDOW: usize = 40;

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

use Strength::{Ambiguous, Generic, Iso};

/// The decimal convention usually used with a currency.
pub(crate) fn convention_of(currency: Currency) -> Convention {
    currencies::convention_of(currency.as_str())
}

/// A currency marker found in the text, in char positions `[start, end)`.
#[derive(Debug, Clone, Copy)]
struct Marker {
    start: usize,
    end: usize,
    currency: Option<Currency>,
    strength: Strength,
    /// Currencies an ISO code elsewhere in the text (or a hint) may pick from.
    family: Option<&'static [&'static str]>,
    /// Decides only when nothing else does (see [`SymbolDef::weak`]).
    weak: bool,
    /// Must touch the number.
    touching: bool,
    side: Side,
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
/// * **Currency.** Every ISO 4217 code (`EUR`, `usd`, `Sek`, `KMF`: any letter case, except codes
///   that are also words such as `TRY`, `PEN` or `ALL`, which must be upper case), the symbols
///   (`€ £ ₹ ₩ ₽ ₫ ৳ ₺ ₪ R$ US$ C$ A$ Fr. …`) and local abbreviations (`Ft`, `Kč`, `zł`,
///   `руб.`, `р.`, `Lei`, `TL`, `Rp`, `RM`, `KM`, `лв`, `грн`, `KD`, `د.إ`, `円`, `元`, `yen` …)
///   are recognised before or after the number, with up to three spaces (any Unicode space)
///   between. A bare `$` is taken as **USD** and a bare `¥` as **JPY**, unless a matching ISO
///   code (`CAD`, `MXN`, `CNY`…) appears in the same text. `kr` (SEK, NOK, DKK, ISK) gives
///   **no currency** unless an ISO code appears in the text. `Rs.` is taken as INR.
/// * **Separators.** Spaces (normal, U+00A0, U+202F, thin) and apostrophes (`'`, `’`) only group
///   thousands. When both `.` and `,` appear, the last one is the decimal separator. Indian
///   grouping (`1,23,456.00`) is accepted. `1.299,-`, `12,-`, `49.–` and `199:-` mean no cents,
///   and `19€99` (or `19€ 99`) is 19.99 EUR. A separator followed by a space and two digits
///   (`$ 8. 94`, `118, 99 TL`) is a decimal separator cut by a line break; after a comma, only
///   when a currency is written next to the number (`sizes 10, 12` is a list).
/// * **The three-digit case.** A single `.` or `,` followed by exactly three digits (`1.234`,
///   `1,234`, `73,460 €`, `$1.234`) groups thousands: shop prices rarely have three decimals, and
///   currencies without minor units (JPY, KRW, VND, CLP, ISK, and in practice HUF and IDR) never
///   do. The exceptions: a leading `0` (`0,125`) or more than three digits before it
///   (`1234.567`) make it decimal, and so does the decimal separator of a currency with three
///   decimals (`423.923 KD`, Bahraini, Iraqi, Jordanian, Kuwaiti, Libyan, Omani and Tunisian
///   dinars and rials).
/// * **Which number.** The first number that is a price wins: one next to a currency marker, a
///   number written like a price (`499.80`, `1 299,00`), or the start of a range (`26 to 50 €`).
///   A number marked as an old, saved or recommended price (`was`, `MSRP`, `RRP`, `UVP`,
///   `statt`, `Save`, `You save` …) is taken only when there is no other: `499.80 MSRP: $588.00`
///   is 499.80, `Was $120.00 Now $60.00` is 60.00. A plain integer without a currency
///   (`kraft 12`) is taken only when nothing better is found. Skipped: numbers glued to letters
///   (`4K`, `iPhone15`, `99p`), followed by `%`, `+` (`orders $49+`) or a unit (`16.00 ft`,
///   `12.5 oz`), part of a date or a time (`12/05`, `10:30`, `July, 2004`), after a quantity
///   label (`Qty: 2`), or plain integers followed by a word (`3 left`, `128 GB`).
/// * **Free.** A text that only says it is free (`Free!`, `Gratis`, `Kostenlos`, `無料`) is a
///   zero price; `Free shipping` is not a price.
/// * **Refused.** Negative amounts (`-5,00 €`, `$-5`) are skipped, as are amounts with more than
///   15 integer digits or more than 20 decimals. A zero amount (`0,00 €`) is returned as zero:
///   callers that need a real price must check for it.
/// * Only the first 4 KiB of the text are read.
pub fn parse_price(text: &str) -> Option<Money> {
    parse_price_detailed(text, None).map(|parsed| parsed.money)
}

/// [`parse_price`] with a currency known from elsewhere on the page: it is used for the
/// decimal convention, as the currency when the text names none, and to pick among the
/// currencies of an ambiguous marker (`kr` with a Swedish page).
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

/// Full-width (`１２`), Arabic-Indic (`٣٥٠`) and Persian (`۳۵۰`) digits and the separators
/// written with them, as ASCII: one character for one, so positions do not move.
fn ascii_digit(c: char) -> char {
    let offset = match c {
        '０'..='９' => '０',
        '\u{660}'..='\u{669}' => '\u{660}',
        '\u{6f0}'..='\u{6f9}' => '\u{6f0}',
        '，' | '\u{66c}' => return ',',
        '．' | '\u{66b}' => return '.',
        _ => return c,
    };
    char::from_digit(u32::from(c) - u32::from(offset), 10).unwrap_or(c)
}

fn is_letter_at(chars: &[char], index: Option<usize>) -> bool {
    index.and_then(|i| chars.get(i)).is_some_and(|c| c.is_alphabetic())
}

/// Whether `def` is written at `at`, and stands on its own there.
fn symbol_at(chars: &[char], at: usize, def: &SymbolDef) -> Option<usize> {
    let mut i = at;
    for expected in def.text.chars() {
        let found = *chars.get(i)?;
        let same = if def.any_case { found.eq_ignore_ascii_case(&expected) } else { found == expected };
        if !same {
            return None;
        }
        i += 1;
    }
    // A letter code glued to a dash and what follows (`DH-900`, `TL-WR841N`) names a model, not
    // a currency beside its amount.
    if def.text.chars().last().is_some_and(char::is_alphabetic)
        && chars.get(i).is_some_and(|c| is_dash(*c))
        && chars.get(i + 1).is_some_and(|c| c.is_alphanumeric())
    {
        return None;
    }
    if def.letter_boundary {
        let starts_with_letter = def.text.chars().next().is_some_and(char::is_alphabetic);
        let ends_with_letter = def.text.chars().last().is_some_and(char::is_alphabetic);
        if (starts_with_letter && is_letter_at(chars, at.checked_sub(1)))
            || (ends_with_letter && is_letter_at(chars, Some(i)))
        {
            return None;
        }
    }
    Some(i)
}

fn scan_markers(chars: &[char]) -> Vec<Marker> {
    let mut markers = Vec::new();
    let mut i = 0;
    while let Some(c) = chars.get(i) {
        let symbol = SYMBOLS_BY_FIRST_CHAR
            .get(c)
            .and_then(|defs| defs.iter().find_map(|def| symbol_at(chars, i, def).map(|end| (*def, end))));
        let iso = iso_at(chars, i);
        let marker = match (symbol, iso) {
            (Some((_, end)), Some(iso)) if iso.end >= end => Some(iso),
            (Some((def, end)), _) => Some(marker_of(def, i, end)),
            (None, iso) => iso,
        };
        match marker {
            Some(marker) => {
                i = marker.end;
                markers.push(marker);
            }
            None => i += 1,
        }
    }
    markers
}

fn marker_of(def: &SymbolDef, start: usize, end: usize) -> Marker {
    Marker {
        start,
        end,
        currency: def.code.and_then(|code| Currency::parse(code).ok()),
        strength: def.strength,
        family: def.family,
        weak: def.weak,
        touching: def.touching,
        side: def.side,
    }
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
    let (code, weak) = currencies::iso_code(&raw)?;
    Some(Marker {
        start: i,
        end: i + 3,
        currency: Some(Currency::parse(&code).ok()?),
        strength: Iso,
        family: None,
        weak,
        touching: false,
        side: Side::Either,
    })
}

/// Where markers start and end, for looking them up next to a number.
struct MarkerIndex<'a> {
    markers: &'a [Marker],
    ending_at: Vec<Option<usize>>,
    starting_at: Vec<Option<usize>>,
}

impl<'a> MarkerIndex<'a> {
    fn new(markers: &'a [Marker], len: usize) -> Self {
        let mut ending_at = vec![None; len + 1];
        let mut starting_at = vec![None; len + 1];
        for (index, marker) in markers.iter().enumerate() {
            if let Some(slot) = ending_at.get_mut(marker.end) {
                *slot = Some(index);
            }
            if let Some(slot) = starting_at.get_mut(marker.start) {
                *slot = Some(index);
            }
        }
        Self { markers, ending_at, starting_at }
    }

    fn ending(&self, at: usize) -> Option<&Marker> {
        self.ending_at.get(at).copied().flatten().and_then(|i| self.markers.get(i))
    }

    fn starting(&self, at: usize) -> Option<&Marker> {
        self.starting_at.get(at).copied().flatten().and_then(|i| self.markers.get(i))
    }

    /// A marker ends at `start` or starts at `end`, with at most [`MAX_GAP`] spaces between.
    fn near(&self, chars: &[char], start: usize, end: usize) -> bool {
        let mut p = start;
        for _ in 0..=MAX_GAP {
            if self.ending(p).is_some() {
                return true;
            }
            match p.checked_sub(1) {
                Some(q) if chars.get(q).is_some_and(|c| is_space(*c)) => p = q,
                _ => break,
            }
        }
        for p in end..=end + MAX_GAP {
            if self.starting(p).is_some() {
                return true;
            }
            if !chars.get(p).is_some_and(|c| is_space(*c)) {
                break;
            }
        }
        false
    }
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

/// Exactly two digits at `i`, then no digit.
fn two_digits_at(chars: &[char], i: usize) -> bool {
    digit_at(chars, i) && digit_at(chars, i + 1) && !digit_at(chars, i + 2)
}

/// After two cents digits ending at `end`: the amount is over (no other number glued on with a
/// separator, as in a list `10, 12, 14`).
fn number_ends_at(chars: &[char], end: usize) -> bool {
    match chars.get(end) {
        Some('.' | ',') => {
            !(digit_at(chars, end + 1) || chars.get(end + 1).is_some_and(|c| is_space(*c)) && digit_at(chars, end + 2))
        }
        _ => true,
    }
}

/// What follows the cents of `19€ 99` is not a word (`20€ 15 pieces` is no 20.15).
fn no_word_after(chars: &[char], mut i: usize) -> bool {
    while chars.get(i).is_some_and(|c| is_space(*c)) {
        i += 1;
    }
    !chars.get(i).is_some_and(|c| c.is_alphabetic() || *c == '%')
}

fn scan_run(chars: &[char], start: usize, markers: &MarkerIndex<'_>) -> Run {
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
        let spaced_cents = chars.get(i + 1).is_some_and(|c| is_group_space(*c))
            && two_digits_at(chars, i + 2)
            && number_ends_at(chars, i + 4);
        match sep {
            Some(kind @ (Sep::Dot | Sep::Comma)) if digit_at(chars, i + 1) => {
                seps.push(kind);
            }
            // `$ 8. 94`, `118, 99 TL`: the cents after a line break. After a comma only with a
            // currency next to the number, or `sizes 10, 12` would read as 10.12.
            Some(kind @ (Sep::Dot | Sep::Comma))
                if spaced_cents && (kind == Sep::Dot || markers.near(chars, start, i + 4)) =>
            {
                seps.push(kind);
                groups.push(std::mem::take(&mut group));
                i = take_digits(chars, i + 2, &mut group);
                break;
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
            None if c == '€' && seps.iter().all(|s| matches!(s, Sep::Space | Sep::Dot | Sep::Apostrophe)) => {
                // `19€99`, and `19€ 99` when no word follows.
                let at = if two_digits_at(chars, i + 1) {
                    Some(i + 1)
                } else if chars.get(i + 1).is_some_and(|c| is_group_space(*c))
                    && two_digits_at(chars, i + 2)
                    && no_word_after(chars, i + 4)
                {
                    Some(i + 2)
                } else {
                    None
                };
                if let Some(at) = at {
                    let mut cents = String::new();
                    i = take_digits(chars, at, &mut cents);
                    euro_cents = Some(cents);
                }
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

fn scan_runs(chars: &[char], markers: &MarkerIndex<'_>) -> Vec<Run> {
    let mut runs = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !digit_at(chars, i) {
            i += 1;
            continue;
        }
        let mut run = scan_run(chars, i, markers);
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

/// A number read from a run.
struct Reading {
    integer: String,
    fraction: String,
    /// Digits only, no separator: `12`, not `12.00` or `1 200`.
    plain_integer: bool,
}

impl Reading {
    fn new(integer: String, fraction: String) -> Self {
        Self { integer, fraction, plain_integer: false }
    }
}

/// Reads a run. `three_decimals` is the decimal separator of a currency with three decimals
/// (`423.923 KD`), for which a lone separator before three digits is decimal.
fn interpret(run: &Run, three_decimals: Option<Sep>) -> Option<Reading> {
    if run.leading_fraction {
        return Some(Reading::new("0".to_owned(), run.groups.first()?.clone()));
    }
    if let Some(cents) = &run.euro_cents {
        let grouping_ok =
            run.seps.is_empty() || run.seps.windows(2).all(|w| w[0] == w[1]) && valid_grouping(&run.groups);
        return grouping_ok.then(|| Reading::new(run.groups.concat(), cents.clone()));
    }
    if let Some(dash_kind) = run.dash {
        // Every separator before the `,-` groups thousands.
        let grouping_ok = match run.seps.first() {
            None => true,
            Some(kind) => *kind != dash_kind && run.seps.iter().all(|s| s == kind) && valid_grouping(&run.groups),
        };
        return grouping_ok.then(|| Reading::new(run.groups.concat(), String::new()));
    }
    let Some(&last) = run.seps.last() else {
        return Some(Reading { integer: run.groups.first()?.clone(), fraction: String::new(), plain_integer: true });
    };
    let all_grouping = |groups: &[String]| valid_grouping(groups).then(|| Reading::new(groups.concat(), String::new()));
    if matches!(last, Sep::Space | Sep::Apostrophe | Sep::Colon) {
        return all_grouping(&run.groups);
    }
    let (fraction, integer_groups) = run.groups.split_last()?;
    let earlier = &run.seps[..run.seps.len() - 1];
    let decimal = || -> Option<Reading> {
        if integer_groups.len() > 1 && !valid_grouping(integer_groups) {
            return None;
        }
        Some(Reading::new(integer_groups.concat(), fraction.clone()))
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
    // A single `.` or `,`: decimal, unless exactly three digits follow a short integer part.
    let integer = integer_groups.first()?;
    if fraction.len() != 3 || integer.chars().all(|c| c == '0') || integer.len() > 3 || three_decimals == Some(last) {
        return decimal();
    }
    all_grouping(&run.groups)
}

fn to_decimal(integer: &str, fraction: &str) -> Option<Decimal> {
    let integer = integer.trim_start_matches('0');
    if integer.len() > MAX_INTEGER_DIGITS
        || fraction.len() > MAX_FRACTION_DIGITS
        || integer.len() + fraction.len() > MAX_DIGITS
    {
        return None;
    }
    let integer = if integer.is_empty() { "0" } else { integer };
    let text = if fraction.is_empty() { integer.to_owned() } else { format!("{integer}.{fraction}") };
    Decimal::from_str(&text).ok()
}

/// The markers attached to a run: touching it, or separated by a few spaces, on either side,
/// chained at most two deep (`CAD $ 5`).
struct Attached {
    /// Indexes into the markers.
    found: Vec<usize>,
    /// Where the run and the markers before it start.
    outer_start: usize,
    /// Where the run and the markers after it end.
    outer_end: usize,
    /// A marker stands before the run.
    prefixed: bool,
    /// A marker stands after the run.
    suffixed: bool,
}

fn attached(chars: &[char], run: &Run, index: &MarkerIndex<'_>) -> Attached {
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
        let Some(&Some(i)) = index.ending_at.get(p) else { break };
        let Some(marker) = index.markers.get(i) else { break };
        if marker.touching && (gap > 0 || pos != run.start) {
            break;
        }
        found.push(i);
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
        let Some(&Some(i)) = index.starting_at.get(p) else { break };
        let Some(marker) = index.markers.get(i) else { break };
        if marker.side == Side::Before || (marker.touching && (gap > 0 || pos != run.end)) {
            break;
        }
        // `2 $19.99`: a marker closer to the next number is that number's.
        let mut next = marker.end;
        while next < marker.end + gap && chars.get(next).is_some_and(|c| is_space(*c)) {
            next += 1;
        }
        if next < marker.end + gap && digit_at(chars, next) {
            break;
        }
        found.push(i);
        pos = marker.end;
    }
    let suffixed = found.len() > prefix_count;
    Attached { found, outer_start, outer_end: pos, prefixed: prefix_count > 0, suffixed }
}

fn is_negative(chars: &[char], run: &Run, outer_start: usize) -> bool {
    [run.start, outer_start].iter().any(|&s| {
        s >= 1
            && chars.get(s - 1).is_some_and(|c| is_minus(*c))
            && (s < 2 || chars.get(s - 2).is_none_or(|c| !c.is_alphanumeric()))
    })
}

/// The word (letters only, lower case) starting at `i` after any spaces, and where it ends.
fn word_after(chars: &[char], mut i: usize) -> (String, usize) {
    while chars.get(i).is_some_and(|c| is_space(*c)) {
        i += 1;
    }
    let mut word = String::new();
    while let Some(c) = chars.get(i).filter(|c| c.is_alphabetic()) {
        word.extend(c.to_lowercase());
        i += 1;
    }
    (word, i)
}

/// The text before a run, back to the previous run (at most [`LABEL_WINDOW`] characters), in
/// lower case with trailing spaces and punctuation removed: where a label such as `was:` sits.
fn text_before(chars: &[char], from: usize, to: usize) -> String {
    let from = from.max(to.saturating_sub(LABEL_WINDOW));
    let mut text = String::new();
    for c in chars.get(from..to).unwrap_or_default() {
        text.extend(c.to_lowercase());
    }
    let trimmed = text.trim_end_matches(|c: char| {
        c.is_whitespace() || matches!(c, ':' | '-' | '–' | '—' | '(' | '*' | '|' | '=' | '.')
    });
    trimmed.to_owned()
}

/// `text` ends with one of `labels`, as a whole word.
fn ends_with_label(text: &str, labels: &[&str]) -> bool {
    labels.iter().any(|label| {
        text.strip_suffix(label).is_some_and(|head| head.chars().next_back().is_none_or(|c| !c.is_alphanumeric()))
    })
}

/// Labels of a price that is not the one to pay: old, list, recommended, saved.
const OLD_PRICE_LABELS: &[&str] = &[
    "was",
    "msrp",
    "rrp",
    "srp",
    "uvp",
    "list price",
    "list",
    "reg",
    "regular price",
    "regular",
    "compare at",
    "compare at price",
    "originally",
    "original price",
    "orig",
    "before",
    "instead of",
    "save",
    "you save",
    "savings",
    "saving",
    "mrp",
    "m.r.p",
    "retail price",
    "market price",
    "typical price",
    "statt",
    "anstatt",
    "bisher",
    "vorher",
    "streichpreis",
    "unverbindliche preisempfehlung",
    "sie sparen",
    "du sparst",
    "sparen",
    "ersparnis",
    "au lieu de",
    "prix barré",
    "ancien prix",
    "prix de référence",
    "économisez",
    "economisez",
    "antes",
    "ahorra",
    "ahorras",
    "ahorro",
    "pvpr",
    "precio anterior",
    "precio de referencia",
    "invece di",
    "prezzo consigliato",
    "risparmi",
    "risparmio",
    "van",
    "adviesprijs",
    "bespaar",
    "normalpris",
    "ordinarie pris",
    "spara",
    "spar",
    "было",
    "старая цена",
    "экономия",
    "eski fiyat",
    "stara cena",
    "oszczędzasz",
    "sparen sie",
    // Instalments: `4 payments of $7.50`.
    "payments of",
    "payment of",
    "installments of",
    "instalments of",
    "raten à",
    "cuotas de",
    "x de",
];

/// Labels after which a number, even with its currency, is a threshold
/// (`Free delivery over £40`), not a price.
const THRESHOLD_LABELS: &[&str] =
    &["over", "above", "spend", "orders of", "order of", "bestellwert", "bestellwert von"];

/// Labels after which a number is a quantity or an identifier, not a price.
const QUANTITY_LABELS: &[&str] = &[
    "qty",
    "quantity",
    "menge",
    "anzahl",
    "cantidad",
    "quantité",
    "quantita",
    "quantità",
    "заказ",
    "количество",
    "кол-во",
    "in stock",
    "stock",
    // Identifiers: `Art.-Nr. 12.345`, `SKU: 12345`.
    "art.-nr",
    "art-nr",
    "art.nr",
    "artikelnummer",
    "artikel-nr",
    "sku",
    "item no",
    "item number",
    "model",
    "modell",
    "mpn",
    "ean",
    "gtin",
    "isbn",
    "pzn",
    "ref",
    "réf",
    "référence",
    "referencia",
    "código",
    "codice",
    "код",
    "код товара",
    "артикул",
    "nr",
];

const MONTHS: &[&str] = &[
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
    "januar",
    "februar",
    "märz",
    "mai",
    "juni",
    "juli",
    "oktober",
    "dezember",
    "janvier",
    "février",
    "mars",
    "avril",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
];

/// Units a measured quantity is written in (`16.00 ft`, `12.5 oz`, `2 l`).
const UNITS: &[&str] = &[
    "oz", "fl", "g", "gr", "kg", "mg", "lb", "lbs", "ml", "cl", "dl", "l", "ltr", "litre", "liter", "litres", "liters",
    "m", "cm", "mm", "km", "in", "inch", "inches", "ft", "feet", "yd", "gb", "tb", "mb", "kb", "ghz", "mhz", "hz", "w",
    "kw", "kwh", "v", "mah", "mp", "px", "x", "pcs", "pc", "pieces", "st", "stk", "stück", "units", "items",
];

/// Words after which a number is a rating or a score (`4.5 stars`, `4.8 out of 5`).
const NOT_PRICE_WORDS: &[&str] = &[
    "star",
    "stars",
    "sterne",
    "stern",
    "étoiles",
    "estrellas",
    "stelle",
    "out",
    "of",
    "von",
    "sur",
    "reviews",
    "review",
    "ratings",
    "rating",
    "bewertungen",
    "avis",
];

/// Words between the two ends of a range (`26 to 50 €`).
const RANGE_WORDS: &[&str] = &["to", "bis", "à", "a", "al", "hasta", "até", "tot", "до"];

/// Words that say a price is free when they stand alone.
const FREE_WORDS: &[&str] = &[
    "free",
    "gratis",
    "gratuit",
    "gratuite",
    "gratuito",
    "gratuita",
    "grátis",
    "kostenlos",
    "umsonst",
    "zdarma",
    "darmowy",
    "darmowa",
    "bezpłatnie",
    "ingyenes",
    "ücretsiz",
    "бесплатно",
    "безкоштовно",
    "ilmainen",
    "δωρεάν",
    "無料",
    "免费",
    "무료",
];

/// Words that may stand beside `Free` in a price label.
const PRICE_WORDS: &[&str] = &[
    "price",
    "prix",
    "preis",
    "precio",
    "prezzo",
    "preço",
    "pris",
    "prijs",
    "cena",
    "цена",
    "fiyat",
    "only",
    "now",
    "just",
    "nur",
    "jetzt",
    "seulement",
    "solo",
    "sólo",
];

/// A range start: a number followed by `to`/`bis`/`à` and another number (or its currency).
fn starts_range(chars: &[char], end: usize, index: &MarkerIndex<'_>) -> bool {
    let (word, mut i) = word_after(chars, end);
    if !RANGE_WORDS.contains(&word.as_str()) {
        return false;
    }
    while chars.get(i).is_some_and(|c| is_space(*c)) {
        i += 1;
    }
    digit_at(chars, i) || index.starting(i).is_some()
}

/// What a run is, once read, for choosing among the runs of a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Rank {
    /// Zero (`Now: $0.00` beside `Was: $124.95`): a placeholder more often than a price.
    Zero,
    /// Marked as an old, list or saved price: only when there is nothing else.
    Held,
    /// A plain integer without a currency of its own, or a number followed by a word that
    /// makes it a rating: when there is nothing better.
    Fallback,
    /// A price: the first one wins.
    Price,
}

/// Context that makes a run no price at all.
struct Context<'a> {
    chars: &'a [char],
    run: &'a Run,
    attached: &'a Attached,
    /// The attached markers include one that is not weak.
    strong: bool,
    plain_integer: bool,
    /// Where the text before this run starts (the end of the previous run).
    previous_end: usize,
}

impl Context<'_> {
    fn rejected(&self, index: &MarkerIndex<'_>) -> bool {
        let (chars, run) = (self.chars, self.run);
        let marker_before = index.ending(run.start).is_some();
        let marker_after = index.starting(run.end).is_some() || run.euro_cents.is_some();
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
        if prev == Some('#') || next == Some('+') {
            return true;
        }
        let (word, word_end) = word_after(chars, run.end);
        let mut i = run.end;
        while chars.get(i).is_some_and(|c| is_space(*c)) {
            i += 1;
        }
        if matches!(chars.get(i), Some('%' | '‰')) {
            return true;
        }
        let word_is_marker = index.starting(i).is_some();
        let whole_word = !chars.get(word_end).is_some_and(|c| c.is_alphanumeric());
        if !self.attached.suffixed && !word_is_marker && !word.is_empty() {
            if self.strong && self.attached.prefixed {
                // `$5 off` is a discount.
                if word == "off" {
                    return true;
                }
            } else {
                if whole_word && UNITS.contains(&word.as_str()) {
                    return true;
                }
                // `3 left`, `128 GB`: a bare integer followed by a word is a count, not a price.
                if self.plain_integer && i > run.end && !starts_range(chars, run.end, index) {
                    return true;
                }
            }
        }
        let before = text_before(chars, self.previous_end, self.attached.outer_start);
        if ends_with_label(&before, THRESHOLD_LABELS) {
            return true;
        }
        if !self.strong {
            if ends_with_label(&before, QUANTITY_LABELS) {
                return true;
            }
            if self.plain_integer && ends_with_label(before.trim_end_matches(','), MONTHS) {
                return true;
            }
        }
        false
    }

    fn rank(&self, index: &MarkerIndex<'_>, amount: Decimal) -> Rank {
        if amount.is_zero() {
            return Rank::Zero;
        }
        let before = text_before(self.chars, self.previous_end, self.attached.outer_start);
        if ends_with_label(&before, OLD_PRICE_LABELS) {
            return Rank::Held;
        }
        if self.strong || starts_range(self.chars, self.run.end, index) {
            return Rank::Price;
        }
        let (word, _) = word_after(self.chars, self.attached.outer_end);
        // A plain integer waits for a number with a currency, if the text has any currency.
        if self.plain_integer && !index.markers.is_empty() || NOT_PRICE_WORDS.contains(&word.as_str()) {
            return Rank::Fallback;
        }
        Rank::Price
    }
}

/// A text that only says the price is free (`Free!`, `Gratis`): zero.
fn free_price(chars: &[char], markers: &[Marker], hint: Option<Currency>) -> Option<ParsedPrice> {
    let mut free = false;
    let mut i = 0;
    // Markers are in text order and do not overlap.
    let mut upcoming = markers.iter().peekable();
    while let Some(c) = chars.get(i) {
        while upcoming.next_if(|m| m.start < i).is_some() {}
        if let Some(marker) = upcoming.next_if(|m| m.start == i) {
            i = marker.end.max(i + 1);
            continue;
        }
        if !c.is_alphabetic() {
            i += 1;
            continue;
        }
        let (word, end) = word_after(chars, i);
        if FREE_WORDS.contains(&word.as_str()) {
            free = true;
        } else if !PRICE_WORDS.contains(&word.as_str()) {
            return None;
        }
        i = end.max(i + 1);
    }
    if !free {
        return None;
    }
    let marker = markers.iter().max_by_key(|m| m.strength);
    let currency = marker.and_then(|m| m.currency).or(hint);
    Some(ParsedPrice { money: Money::new(Decimal::ZERO, currency), strength: marker.map(|m| m.strength) })
}

pub(crate) fn parse_price_detailed(text: &str, hint: Option<Currency>) -> Option<ParsedPrice> {
    let chars: Vec<char> = truncate(text).chars().map(ascii_digit).collect();
    let markers = scan_markers(&chars);
    if !chars.iter().any(char::is_ascii_digit) {
        return free_price(&chars, &markers, hint);
    }
    let index = MarkerIndex::new(&markers, chars.len());
    let first_iso = markers.iter().find(|m| m.strength == Iso && !m.weak);
    // The marker that speaks for the whole text when a number has none of its own.
    let global = first_iso
        .or_else(|| markers.iter().filter(|m| !m.weak).max_by_key(|m| m.strength))
        .or_else(|| markers.iter().max_by_key(|m| m.strength));

    let mut best: Option<(Rank, ParsedPrice)> = None;
    let mut previous_end = 0;
    for run in scan_runs(&chars, &index) {
        let text_start = previous_end;
        previous_end = run.end;
        let attached = attached(&chars, &run, &index);
        let mut own: Vec<Marker> = attached.found.iter().filter_map(|i| markers.get(*i).copied()).collect();
        if run.euro_cents.is_some() {
            own.extend(markers.iter().find(|m| m.start > run.start && m.end <= run.end).copied());
        }
        let strong = own.iter().any(|m| !m.weak);
        // The strongest; of equals, the nearest (`11,13 € £` is in euros).
        let own_marker = own.iter().rev().filter(|m| m.weak != strong).max_by_key(|m| m.strength).copied();
        let marker = own_marker.or_else(|| global.copied());

        // Resolve the currency and the convention.
        let (currency, strength) = match marker {
            Some(m) => match (m.strength, m.family, first_iso) {
                (Ambiguous | Generic, Some(family), Some(iso))
                    if iso.currency.is_some_and(|c| family.contains(&c.as_str())) =>
                {
                    (iso.currency, Some(Iso))
                }
                (Ambiguous, Some(family), _) if hint.is_some_and(|h| family.contains(&h.as_str())) => {
                    (hint, Some(Ambiguous))
                }
                (Ambiguous, _, _) => (None, Some(Ambiguous)),
                _ => (m.currency, Some(m.strength)),
            },
            None => (None, None),
        };
        let convention = currency
            .map(convention_of)
            .or_else(|| {
                marker.and_then(|m| m.family).and_then(|f| f.first()).map(|code| currencies::convention_of(code))
            })
            .or(hint.map(convention_of));
        let three_decimals =
            currency.or(hint).filter(|c| currencies::has_three_decimals(c.as_str())).and(convention).map(
                |convention| match convention {
                    Convention::DotDecimal => Sep::Dot,
                    Convention::CommaDecimal => Sep::Comma,
                },
            );
        let currency = currency.or(if marker.is_none() { hint } else { None });

        let Some(reading) = interpret(&run, three_decimals) else { continue };
        let context = Context {
            chars: &chars,
            run: &run,
            attached: &attached,
            strong,
            plain_integer: reading.plain_integer,
            previous_end: text_start,
        };
        if context.rejected(&index) || is_negative(&chars, &run, attached.outer_start) {
            continue;
        }
        let Some(amount) = to_decimal(&reading.integer, &reading.fraction) else { continue };
        let parsed = ParsedPrice { money: Money::new(amount, currency), strength };
        let rank = context.rank(&index, amount);
        if rank == Rank::Price {
            return Some(parsed);
        }
        if best.is_none_or(|(best_rank, _)| rank > best_rank) {
            best = Some((rank, parsed));
        }
    }
    best.map(|(_, parsed)| parsed)
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
        assert_eq!(currency_from_marker("zł"), Currency::parse("PLN").ok());
    }

    #[test]
    fn an_ambiguous_marker_takes_the_hint_of_its_family() {
        let sek = Currency::parse("SEK").ok();
        assert_eq!(parse_price_hinted("1 299 kr", sek).and_then(|m| m.currency), sek);
        // A hint outside the family is no reading of `kr`.
        assert_eq!(parse_price_hinted("1 299 kr", Some(Currency::EUR)).and_then(|m| m.currency), None);
    }

    #[test]
    fn every_symbol_names_a_valid_currency() {
        for def in currencies::SYMBOLS {
            if let Some(code) = def.code {
                assert!(Currency::parse(code).is_ok(), "{}: {code}", def.text);
            }
            assert!(!def.text.is_empty());
        }
    }
}
