//! One parsed page and what several readers need from it, computed once: the elements in
//! document order, how often each `id` occurs, the page's locale.

use std::collections::HashMap;

use ego_tree::NodeId;
use pricetrack_domain::Currency;
use scraper::{ElementRef, Html};

use crate::html;

/// A parsed page. The HTML is parsed once per extraction and every reader works on this.
pub(crate) struct Page<'a> {
    /// The DOM.
    pub(crate) doc: &'a Html,
    /// The address the page came from, if known.
    pub(crate) url: Option<&'a url::Url>,
    /// Every element of `<body>` (or of the document when it has none), in document order.
    pub(crate) elements: Vec<ElementRef<'a>>,
    /// Position of each element in `elements`.
    pub(crate) position: HashMap<NodeId, usize>,
    /// How many elements carry each `id`.
    ids: HashMap<&'a str, u32>,
}

impl<'a> Page<'a> {
    /// Indexes a parsed page.
    pub(crate) fn new(doc: &'a Html, url: Option<&'a url::Url>) -> Self {
        let root = doc.root_element();
        let mut elements = Vec::new();
        let mut position = HashMap::new();
        let mut ids: HashMap<&'a str, u32> = HashMap::new();
        for node in root.descendants() {
            let Some(el) = ElementRef::wrap(node) else { continue };
            if let Some(id) = el.value().id() {
                *ids.entry(id).or_default() += 1;
            }
            position.insert(el.id(), elements.len());
            elements.push(el);
        }
        Self { doc, url, elements, position, ids }
    }

    /// The element's position in document order (0 for an element not indexed).
    pub(crate) fn pos(&self, el: ElementRef<'_>) -> usize {
        self.position.get(&el.id()).copied().unwrap_or(0)
    }

    /// True when exactly one element of the page has this `id`.
    pub(crate) fn unique_id(&self, id: &str) -> bool {
        self.ids.get(id) == Some(&1)
    }

    /// A CSS selector that matches `el` and nothing else: `#id` when it has a unique, plain
    /// `id`, else a child path (`tag:nth-child(n) > …`) from the nearest such ancestor or from
    /// `html`.
    pub(crate) fn selector_of(&self, el: ElementRef<'_>) -> String {
        let mut steps: Vec<String> = Vec::new();
        for current in html::self_and_ancestors(el) {
            let value = current.value();
            if let Some(id) = value.id().filter(|id| plain_ident(id) && self.unique_id(id)) {
                steps.push(format!("#{id}"));
                break;
            }
            let name = value.name();
            if current.parent().and_then(ElementRef::wrap).is_none() {
                steps.push(if plain_ident(name) { name.to_owned() } else { "*".to_owned() });
                break;
            }
            let index = current.prev_siblings().filter(|n| n.value().is_element()).count() + 1;
            let tag = if plain_ident(name) { name } else { "*" };
            steps.push(format!("{tag}:nth-child({index})"));
        }
        steps.reverse();
        steps.join(" > ")
    }

    /// The currency the shop's locale implies: the region of `<html lang>` (`de-CH` → CHF,
    /// `ja` → JPY) and the country domain of the page (`.ro` → RON). `None` when neither says,
    /// or when they say different things.
    pub(crate) fn locale_currency(&self) -> Option<Currency> {
        let lang = self.doc.root_element().attr("lang").and_then(currency_of_lang);
        let domain = self.url.and_then(url::Url::host_str).and_then(currency_of_host);
        match (lang, domain) {
            (Some(a), Some(b)) if a != b => None,
            (a, b) => a.or(b),
        }
    }
}

/// Letters, digits, `-` and `_`, starting with a letter: usable in a selector as written.
fn plain_ident(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// The currency of a country (ISO 3166 alpha-2, lower case), for the countries whose shops
/// sell in one currency.
fn currency_of_country(country: &str) -> Option<Currency> {
    let code = match country {
        "us" => "USD",
        "ca" => "CAD",
        "mx" => "MXN",
        "br" => "BRL",
        "ar" => "ARS",
        "cl" => "CLP",
        "co" => "COP",
        "pe" => "PEN",
        "uk" | "gb" => "GBP",
        "ie" | "de" | "at" | "fr" | "be" | "nl" | "lu" | "es" | "pt" | "it" | "fi" | "gr" | "sk" | "si" | "ee"
        | "lv" | "lt" | "mt" | "cy" | "hr" => "EUR",
        "ch" | "li" => "CHF",
        "pl" => "PLN",
        "cz" => "CZK",
        "hu" => "HUF",
        "ro" => "RON",
        "bg" => "BGN",
        "se" => "SEK",
        "no" => "NOK",
        "dk" => "DKK",
        "is" => "ISK",
        "tr" => "TRY",
        "ru" => "RUB",
        "ua" => "UAH",
        "jp" => "JPY",
        "kr" => "KRW",
        "cn" => "CNY",
        "tw" => "TWD",
        "hk" => "HKD",
        "sg" => "SGD",
        "in" => "INR",
        "id" => "IDR",
        "th" => "THB",
        "vn" => "VND",
        "my" => "MYR",
        "ph" => "PHP",
        "au" => "AUD",
        "nz" => "NZD",
        "za" => "ZAR",
        "ae" => "AED",
        "sa" => "SAR",
        "il" => "ILS",
        "eg" => "EGP",
        _ => return None,
    };
    Currency::parse(code).ok()
}

/// The currency of `<html lang>`: its region when it has one (`en-GB`, `tr-TR`), else the
/// languages spoken in one currency's country only (`ja`, `tr`, `pl`, `ro`…). `en`, `de`, `es`
/// or `fr` alone say nothing.
fn currency_of_lang(lang: &str) -> Option<Currency> {
    let lang = lang.trim().to_ascii_lowercase().replace('_', "-");
    let mut parts = lang.split('-');
    let language = parts.next().unwrap_or_default();
    if let Some(region) = parts.find(|p| p.len() == 2) {
        return currency_of_country(region);
    }
    let country = match language {
        "ja" => "jp",
        "tr" => "tr",
        "pl" => "pl",
        "ro" => "ro",
        "hu" => "hu",
        "cs" => "cz",
        "sv" => "se",
        "da" => "dk",
        "nb" | "nn" | "no" => "no",
        "is" => "is",
        "ko" => "kr",
        "th" => "th",
        "vi" => "vn",
        "uk" => "ua",
        "bg" => "bg",
        "he" => "il",
        "id" => "id",
        _ => return None,
    };
    currency_of_country(country)
}

/// The currency of a host's country domain (`www.emag.ro`, `amazon.co.uk`, `shop.com.tr`).
fn currency_of_host(host: &str) -> Option<Currency> {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let top = host.rsplit('.').next()?;
    if top.len() != 2 || host.parse::<std::net::Ipv4Addr>().is_ok() {
        return None;
    }
    currency_of_country(top)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(c: Option<Currency>) -> Option<String> {
        c.map(|c| c.to_string())
    }

    #[test]
    fn locales() {
        assert_eq!(code(currency_of_lang("de-CH")), Some("CHF".into()));
        assert_eq!(code(currency_of_lang("tr-TR")), Some("TRY".into()));
        assert_eq!(code(currency_of_lang("ja")), Some("JPY".into()));
        assert_eq!(currency_of_lang("en"), None);
        assert_eq!(currency_of_lang("de"), None);
        assert_eq!(code(currency_of_host("www.emag.ro")), Some("RON".into()));
        assert_eq!(code(currency_of_host("amazon.co.uk")), Some("GBP".into()));
        assert_eq!(currency_of_host("shop.example"), None);
        assert_eq!(currency_of_host("www.example.com"), None);
    }
}
