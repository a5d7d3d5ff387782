//! The price a shopper sees: the buy box next to the product's title and its add-to-cart button.
//!
//! Every short piece of text in the page's body that reads as a price is a candidate. A
//! candidate is dropped when the page marks it as not the price to pay: struck through
//! (`<del>`, `<s>`, `old`/`was`/`compare`/`rrp` classes, a "was"/"UVP"/"List Price" label), a
//! saving (`You save`, `-20 %`, `$40 OFF`), a per-unit price (`/ kg`, `Grundpreis`), an
//! instalment (`/ month`), a shipping threshold (`free shipping over`), hidden, inside the
//! navigation, header, footer or a carousel of other products, or one of at least three
//! similar boxes that each hold a price (a product grid, the other sellers' offers). The rest are
//! scored by how close they stand to the product's `<h1>` and to its add-to-cart button, with a
//! bonus for the price boxes of the common shop platforms (Magento, WooCommerce, Shopify,
//! Salesforce Commerce Cloud, PrestaShop, BigCommerce), for classes that say "price", "sale" or
//! "final", and for a tax-included price beside a tax-excluded one.

use std::collections::{HashMap, HashSet};

use ego_tree::NodeId;
use pricetrack_domain::{Availability, Currency, Money};
use scraper::node::Node;
use scraper::{ElementRef, Selector};

use crate::availability;
use crate::html;
use crate::page::Page;
use crate::price::{self, Strength};

/// Longest text (in characters) that is read as one price label.
const MAX_PRICE_TEXT: usize = 48;
/// How far (in elements, document order) from the title or the add-to-cart button a price may
/// stand and still be the buy box's.
const BUY_BOX_REACH: usize = 400;
/// At most this many candidates are kept per page.
const MAX_VISIBLE: usize = 400;

/// One price seen on the page.
#[derive(Debug, Clone)]
pub(crate) struct Seen<'a> {
    /// The element whose text is the price.
    pub(crate) element: ElementRef<'a>,
    /// The price read.
    pub(crate) price: Money,
    /// The label and the text around it, whitespace collapsed (for people and for the rules).
    pub(crate) context: String,
    /// Why it is not the price to pay, if it is not.
    pub(crate) excluded: Option<&'static str>,
    /// It is an old / list / struck-through price (a sign that a structured price equal to it
    /// is stale).
    pub(crate) old: bool,
    /// The buy-box score; higher is more likely the price to pay.
    pub(crate) score: i32,
    /// It came from a platform's price box in the product's main column.
    pub(crate) platform: bool,
    /// The page says the price includes tax (`Some(true)`) or excludes it (`Some(false)`).
    pub(crate) tax_included: Option<bool>,
}

/// What the visible pass found.
#[derive(Debug, Default)]
pub(crate) struct Visible<'a> {
    /// Every price seen, best first among those not excluded, then the excluded ones.
    pub(crate) seen: Vec<Seen<'a>>,
    /// The buy box's availability, when the page shows it near the product.
    pub(crate) availability: Option<Availability>,
}

impl<'a> Visible<'a> {
    /// The buy box's price: the best candidate, when it is confident enough.
    pub(crate) fn pick(&self) -> Option<&Seen<'a>> {
        self.seen.first().filter(|s| s.excluded.is_none() && s.score > 0)
    }
}

/// Tag names whose content is never shown as a price.
fn never_shown(name: &str) -> bool {
    matches!(
        name,
        "script" | "style" | "noscript" | "template" | "head" | "title" | "option" | "select" | "textarea" | "svg"
    )
}

/// Zones of other content: navigation, page chrome, carousels of other products.
fn other_zone(name: &str) -> bool {
    matches!(name, "nav" | "header" | "footer" | "aside")
}

/// The words of an element's class and id: `price__original` → `price`, `original`;
/// `TaxIncluded` → `tax`, `included`; `prc-org` → `prc`, `org`.
fn words_of(el: &scraper::node::Element) -> Vec<String> {
    let mut words = Vec::new();
    let mut push_words = |raw: &str| {
        let mut word = String::new();
        let mut prev_lower = false;
        for c in raw.chars() {
            if c.is_ascii_alphanumeric() {
                if c.is_ascii_uppercase() && prev_lower && !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
                word.push(c.to_ascii_lowercase());
            } else {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                prev_lower = false;
            }
        }
        if !word.is_empty() {
            words.push(word);
        }
    };
    for class in el.classes() {
        // `with-org-prc`, `has-sale`: a box that *holds* an old or sale price, not that price.
        let lower = class.to_ascii_lowercase();
        if ["with-", "with_", "has-", "has_"].iter().any(|p| lower.starts_with(p)) {
            continue;
        }
        push_words(class);
    }
    if let Some(id) = el.id() {
        push_words(id);
    }
    words
}

/// Class / id words of an old (struck, list, recommended) price.
const OLD_WORDS: &[&str] = &[
    "old",
    "was",
    "compare",
    "strike",
    "strikethrough",
    "striked",
    "crossed",
    "rrp",
    "msrp",
    "uvp",
    "avp",
    "original",
    "org",
    "before",
    "listprice",
    "nonsale",
    "retail",
    "reference",
    "standard",
    "tachado",
    "barre",
    "barrato",
    "streichpreis",
    "durchgestrichen",
];

/// Class / id words of amounts that are not the price: savings, unit prices, instalments,
/// shipping.
const NOT_PRICE_WORDS: &[&str] = &[
    "saving",
    "savings",
    "save",
    "yousave",
    "unitprice",
    "baseprice",
    "basis",
    "grundpreis",
    "ppu",
    "per",
    "installment",
    "installments",
    "instalment",
    "monthly",
    "financing",
    "klarna",
    "shipping",
    "coupon",
    "badge",
    "loyalty",
    "points",
    "cashback",
    "percentage",
];

/// Class / id words of boxes of other products or other sellers.
const OTHER_PRODUCT_WORDS: &[&str] = &[
    "carousel",
    "slider",
    "swiper",
    "slick",
    "recommend",
    "recommendation",
    "recommendations",
    "reco",
    "recs",
    "related",
    "similar",
    "upsell",
    "upsells",
    "crosssell",
    "cross",
    "sponsored",
    "sims",
    "rhf",
    "p13n",
    "also",
    "bought",
    "viewed",
    "menu",
    "megamenu",
    "flyout",
    "minicart",
    "merchant",
    "merchants",
    "sellers",
    "widget",
    "bundle",
    "accessories",
    "teaser",
    "teasers",
    "nav",
    "navbar",
    "navigation",
    "shopnav",
    "mainnav",
    "topnav",
    "thumbnail",
    "tile",
    "card",
];

/// Class / id words of the price to pay.
const PAY_WORDS: &[&str] =
    &["sale", "special", "final", "current", "now", "our", "deal", "dsc", "promo", "offer", "actual", "selling"];

/// Labels of old prices, lower case; matched in the text before the amount.
const OLD_LABELS: &[&str] = &[
    "was ",
    "was:",
    "list price",
    "listenpreis",
    "rrp",
    "msrp",
    "uvp",
    "avp",
    "statt",
    "instead of",
    "au lieu de",
    "prix barré",
    "antes",
    "precio anterior",
    "prezzo consigliato",
    "ursprünglicher preis",
    "original price",
    "regular price",
    "compare at",
    "reg.",
    "参考",
    "定価",
    "希望小売",
    "通常価格",
];

/// Labels before (or in) an amount that is not the price, lower case: savings, thresholds,
/// other offers.
const NOT_PRICE_BEFORE: &[&str] = &[
    "you save",
    "save ",
    "save:",
    "sparen",
    "ersparnis",
    "du sparst",
    "ahorra",
    "économisez",
    "risparmi",
    "free shipping",
    "versandkostenfrei",
    "livraison gratuite",
    "envío gratis",
    " over ",
    "open box",
    " used ",
    "refurbished",
    "gebraucht",
    "under $",
    "under £",
    "under €",
    " unter ",
    " up to ",
];

/// Labels around an amount that is not the price, lower case: per-unit prices, instalments,
/// thresholds written after the amount.
const NOT_PRICE_LABELS: &[&str] = &[
    " off",
    "payments of",
    "instalments",
    "installments",
    "raten",
    "cuotas",
    "rate da",
    "grundpreis",
    "per kg",
    "per 100",
    "per l",
    "/ kg",
    "/kg",
    "/ 100",
    "/100",
    "/ l",
    "/l ",
    "/ 1 l",
    "/ 1 kg",
    "/ luna",
    "/month",
    "/ month",
    "/mo",
    "a month",
    "per month",
    "monatlich",
    "/ monat",
    "al mes",
    "par mois",
    "taksit",
    "free shipping",
    "versandkostenfrei",
    "livraison gratuite",
    "envío gratis",
    "üzeri",
    "以上",
    "送料",
    "配送料",
];

/// Labels of a tax-included price.
const TAX_INCLUDED: &[&str] =
    &["税込", "inkl", "incl", "ttc", "iva incl", "iva inclu", "inc. vat", "inc vat", "with tax", "kdv dahil", "brutto"];

/// Labels of a tax-excluded price.
const TAX_EXCLUDED: &[&str] = &[
    "税別",
    "税抜",
    "excl",
    "exkl",
    "zzgl",
    " ht",
    "ex. vat",
    "ex vat",
    "without tax",
    "netto",
    "sin iva",
    "+ iva",
    "kdv hariç",
];

/// Platform price boxes: (selector of the price to pay, bonus). Old prices in the same boxes are
/// dropped by the general rules (`old-price`, `del`, `compare`, `price--rrp`…).
const PLATFORM_BOXES: &[(&str, i32)] = &[
    // Magento 2 (final price; the old price sits in `.old-price` / `data-price-type="oldPrice"`).
    (".product-info-main .price-box [data-price-type=\"finalPrice\"] .price", 60),
    (".product-info-main .price-box .special-price .price", 60),
    ("[data-price-type=\"finalPrice\"] .price", 30),
    (".price-box .special-price .price", 30),
    // WooCommerce (the sale price in `<ins>`, the regular one in `<del>`).
    (".summary .price ins .woocommerce-Price-amount", 60),
    (".summary p.price > .woocommerce-Price-amount", 60),
    (".summary .price .woocommerce-Price-amount", 40),
    // Shopify themes.
    (".product__info-container .price-item--sale", 50),
    (".product__info-container .price-item--regular", 30),
    (".product-single__price", 40),
    ("[data-product-price]", 35),
    ("#ProductPrice", 40),
    (".product__price .money", 30),
    // Salesforce Commerce Cloud (Demandware).
    (".product-detail .prices .sales .value", 60),
    (".product-price .price-sales", 50),
    (".prices .sales .value", 30),
    // PrestaShop.
    (".product-prices .current-price-value", 60),
    (".product-prices .current-price [itemprop=\"price\"]", 60),
    ("#our_price_display", 60),
    // BigCommerce (the tax-included price wins: see the tax labels).
    (".productView-price [data-product-price-with-tax]", 60),
    (".productView-price [data-product-price-without-tax]", 50),
    (".productView-price .price--withTax", 60),
    (".productView-price .price--withoutTax", 50),
];

/// Add-to-cart words, lower case (button text, classes, ids, names).
const CART_WORDS: &[&str] = &[
    "add to cart",
    "add to bag",
    "add to basket",
    "add-to-cart",
    "addtocart",
    "add_to_cart",
    "add-to-basket",
    "add-to-bag",
    "buy now",
    "buy-now",
    "in den warenkorb",
    "warenkorb",
    "ajouter au panier",
    "añadir al carrito",
    "aggiungi al carrello",
    "in winkelwagen",
    "do koszyka",
    "sepete ekle",
    "adaugă în coș",
    "adauga in cos",
    "カートに入れる",
    "買い物かごに入れる",
    "atc-button",
    "product-form",
    "buybox",
    "buy-box",
];

/// The text of a price element as a shopper reads it: cents in a `<sup>` (`2.999<sup>99</sup>`)
/// or a `cents`/`fraction`/`decimals` element get their decimal separator back; text in
/// `<script>`, `<style>` and the like is left out. Bounded to 8 KiB.
pub(crate) fn price_text(el: ElementRef<'_>) -> String {
    let mut out = String::new();
    let mut skip_until: Option<NodeId> = None;
    // Between two elements, `90.00` and `inkl. MwSt.` are two words; `459` and `.95` are not.
    let mut boundary = false;
    for edge in el.traverse() {
        match edge {
            ego_tree::iter::Edge::Open(node) => {
                if skip_until.is_some() {
                    continue;
                }
                match node.value() {
                    Node::Text(text) => {
                        let last = out.chars().next_back();
                        let first = text.chars().next();
                        if boundary
                            && let (Some(a), Some(b)) = (last, first)
                            && a.is_alphanumeric()
                            && b.is_alphanumeric()
                            && !(a.is_ascii_digit() && b.is_ascii_digit())
                        {
                            out.push(' ');
                        }
                        boundary = false;
                        out.push_str(text);
                    }
                    Node::Element(element) => {
                        boundary = true;
                        if (never_shown(element.name()) || hidden(element)) && node.id() != el.id() {
                            skip_until = Some(node.id());
                            continue;
                        }
                        let cents_box = element.name() == "sup"
                            || element.classes().any(|c| {
                                let c = c.to_ascii_lowercase();
                                c.contains("cent") || c.contains("fraction") || c.contains("decimal")
                            });
                        if cents_box
                            && node.id() != el.id()
                            && let Some(sub) = ElementRef::wrap(node)
                        {
                            let sub_text: String = sub.text().collect();
                            let digits = sub_text.trim().trim_end_matches('*');
                            let trimmed = out.trim_end();
                            if (1..=2).contains(&digits.len())
                                && digits.bytes().all(|b| b.is_ascii_digit())
                                && trimmed.ends_with(|c: char| c.is_ascii_digit())
                            {
                                let integer_part: String = trimmed
                                    .chars()
                                    .rev()
                                    .take_while(|c| c.is_ascii_digit() || matches!(c, '.' | ',' | ' ' | '\u{a0}'))
                                    .collect();
                                let separator = if integer_part.contains('.') { ',' } else { '.' };
                                out.truncate(trimmed.len());
                                out.push(separator);
                            }
                        }
                    }
                    _ => {}
                }
            }
            ego_tree::iter::Edge::Close(node) => {
                boundary = true;
                if skip_until == Some(node.id()) {
                    skip_until = None;
                }
            }
        }
        if out.len() > 8192 {
            break;
        }
    }
    html::collapse(&out)
}

/// Whether an element is hidden by its own markup (`hidden`, `display:none`,
/// `visibility:hidden`).
fn hidden(el: &scraper::node::Element) -> bool {
    el.attr("hidden").is_some()
        || el.attr("style").is_some_and(|s| {
            let s: String = s.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase();
            s.contains("display:none") || s.contains("visibility:hidden")
        })
}

fn contains_any(text: &str, needles: &[&str]) -> bool {
    needles.iter().any(|n| text.contains(n))
}

/// The text of the header cell above a table cell, when `cell` is a `<td>`.
fn column_header(cell: ElementRef<'_>) -> Option<String> {
    if cell.value().name() != "td" {
        return None;
    }
    let column =
        cell.prev_siblings().filter_map(ElementRef::wrap).filter(|e| matches!(e.value().name(), "td" | "th")).count();
    let table = cell.ancestors().filter_map(ElementRef::wrap).find(|e| e.value().name() == "table")?;
    let head_row = html::select_within(table, "tr").into_iter().find(|row| {
        row.children().filter_map(ElementRef::wrap).any(|c| c.value().name() == "th")
            && row.children().filter_map(ElementRef::wrap).all(|c| c.value().name() != "td")
    })?;
    let header = head_row.children().filter_map(ElementRef::wrap).filter(|e| e.value().name() == "th").nth(column)?;
    Some(html::text_of(header))
}

/// The label before a price: the text of the previous siblings (up to 60 characters back), and
/// for a price inside a small element, its parent's text before it.
fn label_before(el: ElementRef<'_>) -> String {
    let mut label = String::new();
    let mut current = el;
    for _ in 0..3 {
        for sibling in current.prev_siblings() {
            let text = match sibling.value() {
                Node::Text(t) => t.to_string(),
                Node::Element(e) if !never_shown(e.name()) => {
                    ElementRef::wrap(sibling).map(html::text_of).unwrap_or_default()
                }
                _ => String::new(),
            };
            label = format!("{text} {label}");
            if label.trim().chars().count() >= 40 {
                return html::collapse(&label);
            }
        }
        match current.parent().and_then(ElementRef::wrap) {
            Some(parent) => current = parent,
            None => break,
        }
    }
    html::collapse(&label)
}

/// The text right after a price (its next siblings, up to 40 characters): `/ kg`, `(税込)`,
/// `a month`.
fn text_after(el: ElementRef<'_>) -> String {
    let mut after = String::new();
    let mut current = el;
    for _ in 0..2 {
        for sibling in current.next_siblings() {
            let text = match sibling.value() {
                Node::Text(t) => t.to_string(),
                Node::Element(e) if !never_shown(e.name()) => {
                    ElementRef::wrap(sibling).map(html::text_of).unwrap_or_default()
                }
                _ => String::new(),
            };
            after.push(' ');
            after.push_str(&text);
            if after.trim().chars().count() >= 30 {
                return html::collapse(&after);
            }
        }
        // The text after a table cell or a list item belongs to the next one.
        if matches!(current.value().name(), "td" | "th" | "li") {
            break;
        }
        match current.parent().and_then(ElementRef::wrap) {
            Some(parent) if html::text_of(parent).chars().count() <= MAX_PRICE_TEXT * 2 => current = parent,
            _ => break,
        }
    }
    html::collapse(&after)
}

/// The element holding a whole price around a text node's element: itself when its text reads
/// as a price with a currency, else the nearest ancestor (up to three levels) whose short text
/// does, else itself when it reads as a price inside a price-classed box.
fn price_box(el: ElementRef<'_>) -> Option<(ElementRef<'_>, String)> {
    let mut current = el;
    let mut fallback = None;
    for _ in 0..4 {
        let text = price_text(current);
        if text.chars().count() > MAX_PRICE_TEXT {
            break;
        }
        if let Some(parsed) = price::parse_price_detailed(&text, None)
            && parsed.money.amount > rust_decimal::Decimal::ZERO
        {
            if parsed.strength.is_some() {
                return Some((current, text));
            }
            if fallback.is_none()
                && html::self_and_ancestors(current)
                    .take(3)
                    .any(|e| words_of(e.value()).iter().any(|w| w.contains("price") || w == "prc" || w == "amount"))
            {
                fallback = Some((current, text));
            }
        }
        // A price box is small: a parent with many children is a container of several things.
        match current.parent().and_then(ElementRef::wrap) {
            Some(parent)
                if parent.value().name() != "body"
                    && parent.children().filter(|c| c.value().is_element()).count() <= 4 =>
            {
                current = parent;
            }
            _ => break,
        }
    }
    fallback
}

/// Whether a text may name a currency: a symbol (`$`, `€`, `￥`, `₺`…), a code or abbreviation
/// in capitals (`CHF`, `TL`, `RON`), or a common lower-case one (`lei`, `kr`, `zł`, `руб`).
fn has_currency_hint(text: &str) -> bool {
    let mut capitals = 0;
    for c in text.chars() {
        if c == '$' || (!c.is_ascii() && !c.is_alphanumeric() && !c.is_whitespace()) {
            return true;
        }
        if c.is_ascii_uppercase() {
            capitals += 1;
            if capitals >= 2 {
                return true;
            }
        } else {
            capitals = 0;
        }
    }
    let lower = text.to_lowercase();
    ["lei", "kr", "zł", "kč", "ft", "rs", "tl", "руб", "грн", "円", "元", "원", "lv", "din", "eur", "usd"]
        .iter()
        .any(|w| lower.contains(w))
}

/// Whether an element sits in a price box: a class or id word of price (`price`, `prc`,
/// `amount`, `money`, `preis`, `prix`, `precio`, `fiyat`) on it or its two nearest ancestors, or
/// a currency in its siblings' short text (`<span>€</span><b>49</b>`).
fn near_price_hint(el: ElementRef<'_>) -> bool {
    let price_word = |w: &String| {
        ["price", "prc", "amount", "money", "preis", "prix", "precio", "prezzo", "fiyat", "cost"]
            .iter()
            .any(|p| w.contains(p))
    };
    if html::self_and_ancestors(el).take(3).any(|e| words_of(e.value()).iter().any(price_word)) {
        return true;
    }
    el.parent().and_then(ElementRef::wrap).is_some_and(|parent| {
        parent.children().filter(|c| c.value().is_element()).count() <= 4 && {
            let text = price_text(parent);
            text.chars().count() <= MAX_PRICE_TEXT && has_currency_hint(&text)
        }
    })
}

/// Reads the visible prices of a page and the buy box's availability.
pub(crate) fn read<'a>(page: &Page<'a>) -> Visible<'a> {
    let Some(body) = page.elements.iter().find(|e| e.value().name() == "body").copied() else {
        return Visible::default();
    };
    let title = main_title(page, body);
    let carts = cart_positions(page);
    let locale = page.locale_currency();

    // 1. Candidates: the boxes around text that holds digits.
    let mut boxes: Vec<(ElementRef<'a>, String, i32)> = Vec::new();
    let mut known: HashSet<NodeId> = HashSet::new();
    let mut skip_until: Option<NodeId> = None;
    for edge in body.traverse() {
        let node = match edge {
            ego_tree::iter::Edge::Open(node) => node,
            ego_tree::iter::Edge::Close(node) => {
                if skip_until == Some(node.id()) {
                    skip_until = None;
                }
                continue;
            }
        };
        if skip_until.is_some() {
            continue;
        }
        match node.value() {
            Node::Element(e) if never_shown(e.name()) || hidden(e) => skip_until = Some(node.id()),
            Node::Text(text) if text.bytes().any(|b| b.is_ascii_digit()) && text.len() < 200 => {
                let Some(parent) = node.parent().and_then(ElementRef::wrap) else { continue };
                // Most digits on a page are no price ("12 people found this helpful"): reading
                // a price costs far more than this look for a currency or a price box.
                if !has_currency_hint(text) && !near_price_hint(parent) {
                    continue;
                }
                if let Some((el, text)) = price_box(parent)
                    && known.insert(el.id())
                {
                    // A box inside a box already taken is the same price read closer (the wider
                    // box also held other text): keep the closer one. A box inside a box
                    // of the same price is the digits of a split price: keep the wider one.
                    let amount = price::parse_price_detailed(&text, None).map(|p| p.money.amount);
                    let wider = html::self_and_ancestors(el)
                        .skip(1)
                        .take(3)
                        .find_map(|a| boxes.iter().position(|(b, _, _)| b.id() == a.id()));
                    match wider {
                        Some(index) => {
                            let (wide, wide_text, bonus) = &boxes[index];
                            let same = price::parse_price_detailed(wide_text, None).map(|p| p.money.amount) == amount;
                            if same && *bonus == 0 && price_text(*wide).chars().count() > text.chars().count() + 3 {
                                boxes[index] = (el, text, 0);
                            }
                        }
                        None => {
                            // A wider box around a price already taken, reading the same price:
                            // the narrower one is the price.
                            let inner = boxes.iter().any(|(b, t, _)| {
                                html::self_and_ancestors(*b).skip(1).take(4).any(|a| a.id() == el.id())
                                    && price::parse_price_detailed(t, None).map(|p| p.money.amount) == amount
                            });
                            if !inner {
                                boxes.push((el, text, 0));
                            }
                        }
                    }
                }
                if boxes.len() >= MAX_VISIBLE {
                    break;
                }
            }
            _ => {}
        }
    }

    // 2. Each candidate read, labelled and judged; a platform's price box (the box itself or
    //    one of its three nearest ancestors matching) gets its head start. The platform
    //    selectors are matched against the candidates only: running them over the whole page
    //    would cost more than the rest of the visible pass.
    let platforms: Vec<(Selector, i32)> =
        PLATFORM_BOXES.iter().filter_map(|(css, bonus)| Selector::parse(css).ok().map(|sel| (sel, *bonus))).collect();
    let mut seen: Vec<Seen<'a>> = boxes
        .into_iter()
        .filter_map(|(el, text, _)| {
            let bonus = platforms
                .iter()
                .filter(|(sel, _)| html::self_and_ancestors(el).take(4).any(|e| sel.matches(&e)))
                .map(|(_, bonus)| *bonus)
                .max()
                .unwrap_or(0);
            judge(page, el, &text, bonus, title, &carts, locale)
        })
        .collect();

    // 3. Prices in three or more similar boxes under one parent are a list of other products
    //    or offers, not the product's price.
    drop_repeated(&mut seen);

    // Where the page shows a tax-included and a tax-excluded price, the tax-included one is the
    // price to pay.
    let shows_both =
        [true, false].iter().all(|tax| seen.iter().any(|s| s.excluded.is_none() && s.tax_included == Some(*tax)));
    if shows_both {
        for s in &mut seen {
            match s.tax_included {
                Some(true) => s.score += 20,
                Some(false) => s.score -= 40,
                None => {}
            }
        }
    }

    seen.sort_by_key(|s| (s.excluded.is_some(), -s.score, page.pos(s.element)));
    let availability = buy_box_availability(page, body, title, &carts);
    Visible { seen, availability }
}

/// Judges one candidate: reads its price, its label and the text around it, and scores it.
fn judge<'a>(
    page: &Page<'a>,
    el: ElementRef<'a>,
    text: &str,
    bonus: i32,
    title: Option<usize>,
    carts: &[usize],
    locale: Option<Currency>,
) -> Option<Seen<'a>> {
    let parsed = price::parse_price_detailed(text, locale)?;
    let amount = html::valid_amount(parsed.money.amount)?;
    // A weak symbol (`$`, `¥`, `kr`) is the locale's currency when the shop's locale says one.
    let currency = match (parsed.strength, locale) {
        (Some(Strength::Symbol | Strength::Iso), _) => parsed.money.currency,
        (_, Some(locale)) => Some(locale),
        _ => parsed.money.currency,
    };
    let price = Money::new(amount, currency);
    let before = label_before(el);
    let after = text_after(el);
    let header = el.ancestors().filter_map(ElementRef::wrap).take(4).find_map(column_header).unwrap_or_default();
    let context = html::collapse(&format!("{header} {before} [{text}] {after}"));
    // The label of this price, not of the one before or after it: the text before stops at the
    // previous number, the text after at the next one (unless it is a unit: `/ 100 g`).
    let label_start = before.rfind(|c: char| c.is_ascii_digit()).map_or(0, |i| i + 1);
    let own_before = tail_chars(&before[label_start..], 24);
    let after_trimmed = after.trim_start();
    let own_after = if ["/", "per ", "pro ", "je "].iter().any(|p| after_trimmed.starts_with(p)) {
        head_chars(after_trimmed, 16)
    } else {
        head_chars(after_trimmed.split(|c: char| c.is_ascii_digit()).next().unwrap_or_default(), 16)
    };
    let near_before = format!(" {own_before} {text} ").to_lowercase();
    let near_label = format!(" {own_before} {text} {own_after} ").to_lowercase();
    let header_lower = header.to_lowercase();

    let mut excluded = None;
    let mut old = false;
    let mut score = bonus;
    let mut exclude = |why: &'static str| {
        if excluded.is_none() {
            excluded = Some(why);
        }
    };

    // The element and its ancestors.
    for (depth, ancestor) in html::self_and_ancestors(el).enumerate() {
        let value = ancestor.value();
        let name = value.name();
        if name == "body" {
            break;
        }
        let struck_style = value.attr("style").is_some_and(|s| s.to_ascii_lowercase().contains("line-through"));
        let struck_attr = value.attrs().any(|(k, v)| k.contains("strike") && v.eq_ignore_ascii_case("true"));
        if matches!(name, "del" | "s" | "strike") || struck_style || struck_attr {
            old = true;
            exclude("struck through");
        }
        if other_zone(name) || value.attr("role").is_some_and(|r| r == "navigation") {
            exclude("page navigation");
        }
        if hidden(value) {
            exclude("hidden");
        }
        let words = words_of(value);
        if depth <= 4 {
            if words.iter().any(|w| OLD_WORDS.contains(&w.as_str()))
                || words.windows(2).any(|pair| pair[0] == "list" && pair[1] == "price")
            {
                old = true;
                exclude("old price");
            }
            if words.iter().any(|w| NOT_PRICE_WORDS.contains(&w.as_str())) {
                exclude("not a price to pay");
            }
            if words.iter().any(|w| PAY_WORDS.contains(&w.as_str())) {
                score += 8;
            }
            if depth <= 2 && words.iter().any(|w| w.contains("price") || w == "prc" || w == "amount") {
                score += 10;
            }
        }
        if words.iter().any(|w| OTHER_PRODUCT_WORDS.contains(&w.as_str())) {
            exclude("another product's box");
        }
    }

    // The labels.
    if contains_any(&near_before, OLD_LABELS) || contains_any(&header_lower, OLD_LABELS) {
        old = true;
        exclude("old price label");
    }
    if contains_any(&near_before, NOT_PRICE_BEFORE)
        || contains_any(&near_label, NOT_PRICE_LABELS)
        || contains_any(&header_lower, NOT_PRICE_LABELS)
        || text.contains('%')
    {
        exclude("not a price to pay");
    }
    // Tax, from the labels (`（税込）`, `inkl. MwSt.`) and the classes (`TaxIncluded`,
    // `price--withoutTax`).
    let tax_text = format!("{header_lower} {near_label}");
    let class_words: Vec<String> = html::self_and_ancestors(el).take(3).flat_map(|e| words_of(e.value())).collect();
    let pair = |a: &str, b: &[&str]| class_words.windows(2).any(|w| w[0] == a && b.contains(&w[1].as_str()));
    let tax_included = if contains_any(&tax_text, TAX_INCLUDED)
        || pair("tax", &["included", "incl", "inc"])
        || pair("with", &["tax", "vat"])
    {
        Some(true)
    } else if contains_any(&tax_text, TAX_EXCLUDED)
        || pair("tax", &["excluded", "excl", "ex"])
        || pair("without", &["tax", "vat"])
    {
        Some(false)
    } else {
        None
    };
    let lower_text = text.to_lowercase();
    if ["from ", "ab ", "desde ", "à partir de", "starting at", "dès "]
        .iter()
        .any(|w| near_label.contains(w) || lower_text.starts_with(w.trim()))
    {
        score -= 30;
    }
    // A price inside running text (a paragraph of a blog post, a review) is no buy box.
    if let Some(parent) = el.parent().and_then(ElementRef::wrap)
        && matches!(el.value().name(), "strong" | "b" | "em" | "i" | "a" | "span")
        && matches!(parent.value().name(), "p" | "li" | "blockquote" | "td")
        && html::text_of(parent).chars().count() > 160
    {
        exclude("running text");
    }
    if parsed.strength.is_some() {
        score += 5;
    }
    for ancestor in html::self_and_ancestors(el).take(6) {
        let name = ancestor.value().name();
        // A price inside a longer heading is part of a title ("… under $100").
        if matches!(name, "h1" | "h2" | "h3" | "h4")
            && html::text_of(ancestor).chars().count() > text.chars().count() + 12
        {
            exclude("part of a title");
        }
        // A list item or article beside others like it, that links elsewhere and shows a
        // price, is another product's card.
        if matches!(name, "li" | "article")
            && ancestor
                .prev_siblings()
                .chain(ancestor.next_siblings())
                .filter_map(ElementRef::wrap)
                .any(|sib| sib.value().name() == name)
            && html::select_within(ancestor, "a[href]").into_iter().any(|a| {
                let t = html::text_of(a);
                t.chars().filter(|c| c.is_alphabetic()).count() > 3
                    && price::parse_price(&t).is_none_or(|_| t.len() > 20)
            })
        {
            exclude("another product's card");
        }
    }

    // Where it stands.
    let position = page.pos(el);
    let distance = |anchor: usize| if position >= anchor { position - anchor } else { 2 * (anchor - position) };
    let nearest = title.into_iter().chain(carts.iter().copied()).map(distance).min();
    match nearest {
        Some(d) if d <= BUY_BOX_REACH => score += 100 - i32::try_from(d / 4).unwrap_or(100),
        Some(_) => score -= 50,
        // No title and no cart: a page with no recognisable product.
        None => score -= 20,
    }
    // Only the boxes scoped to a product's main column (bonus 50 and up) are surely the product's
    // own; a bare `.price-box .special-price` also sits in grids of other products.
    Some(Seen { element: el, price, context, excluded, old, score, platform: bonus >= 50, tax_included })
}

fn tail_chars(text: &str, n: usize) -> String {
    let chars: Vec<char> = text.chars().collect();
    chars[chars.len().saturating_sub(n)..].iter().collect()
}

fn head_chars(text: &str, n: usize) -> String {
    text.chars().take(n).collect()
}

/// Drops the prices that stand in three or more similar sibling boxes (same tag and class under
/// one parent), each holding a price: a grid of products, a carousel, the other sellers.
fn drop_repeated(seen: &mut [Seen<'_>]) {
    let mut groups: HashMap<(NodeId, String), HashSet<NodeId>> = HashMap::new();
    let mut chains: Vec<Vec<(NodeId, String)>> = Vec::with_capacity(seen.len());
    for s in seen.iter() {
        let mut chain = Vec::new();
        if s.excluded != Some("hidden") {
            for ancestor in html::self_and_ancestors(s.element).take(8) {
                let value = ancestor.value();
                if matches!(value.name(), "body" | "html" | "td" | "th" | "tbody" | "thead" | "table") {
                    break;
                }
                let Some(parent) = ancestor.parent() else { break };
                let key = (parent.id(), format!("{}.{}", value.name(), value.attr("class").unwrap_or_default()));
                groups.entry(key.clone()).or_default().insert(ancestor.id());
                chain.push(key);
            }
        }
        chains.push(chain);
    }
    for (s, chain) in seen.iter_mut().zip(chains) {
        if chain.iter().any(|key| groups.get(key).is_some_and(|members| members.len() >= 3)) && !s.platform {
            s.excluded = s.excluded.or(Some("one of a list of products or offers"));
        }
    }
}

/// The product's title: the first `<h1>` outside the page's navigation and carousels.
fn main_title(page: &Page<'_>, body: ElementRef<'_>) -> Option<usize> {
    let h1 = html::select_within(body, "h1").into_iter().find(|h| {
        !html::self_and_ancestors(*h).any(|a| {
            other_zone(a.value().name())
                || words_of(a.value()).iter().any(|w| OTHER_PRODUCT_WORDS.contains(&w.as_str()))
        }) && !html::text_of(*h).is_empty()
    });
    h1.or_else(|| {
        html::select_within(body, "[itemprop=\"name\"], .product-title, .product-name, .product_title")
            .into_iter()
            .next()
    })
    .map(|h| page.pos(h))
}

/// Positions of the add-to-cart controls outside the navigation and carousels.
fn cart_positions(page: &Page<'_>) -> Vec<usize> {
    // Every control of the page (not only the first hundred: a big page has many buttons before
    // its buy box).
    page.elements
        .iter()
        .copied()
        .filter(|el| {
            let value = el.value();
            match value.name() {
                "button" | "form" => true,
                "input" => matches!(value.attr("type"), Some("submit" | "button" | "image")),
                "a" => value.attr("role") == Some("button"),
                _ => false,
            }
        })
        .filter(|el| {
            let value = el.value();
            let mut probe = words_of(value).join("-");
            probe.push(' ');
            probe.push_str(&value.attr("name").unwrap_or_default().to_lowercase());
            probe.push(' ');
            probe.push_str(&value.attr("value").unwrap_or_default().to_lowercase());
            if value.name() == "form" {
                let action = value.attr("action").unwrap_or_default().to_lowercase();
                if ["cart", "basket", "warenkorb", "panier", "carrito", "carrello", "sepet"]
                    .iter()
                    .any(|w| action.contains(w))
                {
                    probe.push_str(" add-to-cart");
                }
            } else {
                probe.push(' ');
                probe.push_str(&html::text_of(*el).to_lowercase());
            }
            let probe = probe.replace(['_'], "-");
            contains_any(&probe, CART_WORDS)
                || contains_any(&probe.replace('-', ""), &["addtocart", "addtobasket", "addtobag"])
        })
        .filter(|el| {
            !html::self_and_ancestors(*el).any(|a| {
                other_zone(a.value().name())
                    || words_of(a.value()).iter().any(|w| OTHER_PRODUCT_WORDS.contains(&w.as_str()) || w == "thumb")
            })
        })
        .map(|el| page.pos(el))
        .take(8)
        .collect()
}

/// Phrases of an out-of-stock buy box beyond the general availability words.
const BUY_BOX_OUT: &[&str] = &[
    "notify me when available",
    "notify me",
    "email me when available",
    "temporarily out of stock",
    "nicht im sortiment",
    "benachrichtigen",
    "tükendi",
    "stokta yok",
    "m'avertir",
    "avísame",
    "avvisami",
    "入荷待ち",
    "在庫なし",
    "販売終了",
];

/// The buy box's availability: the add-to-cart button (disabled, or saying "sold out"), and the
/// short availability lines near the title.
fn buy_box_availability(
    page: &Page<'_>,
    body: ElementRef<'_>,
    title: Option<usize>,
    carts: &[usize],
) -> Option<Availability> {
    let anchor = title.or_else(|| carts.first().copied())?;
    let near = |el: ElementRef<'_>| {
        let p = page.pos(el);
        p + 60 >= anchor && p <= anchor + BUY_BOX_REACH
    };
    let outside = |el: ElementRef<'_>| {
        html::self_and_ancestors(el).any(|a| {
            other_zone(a.value().name())
                || hidden(a.value())
                || words_of(a.value()).iter().any(|w| OTHER_PRODUCT_WORDS.contains(&w.as_str()))
        })
    };
    let mut verdict = None;
    let start = anchor.saturating_sub(60);
    let end = (anchor + BUY_BOX_REACH).min(page.elements.len());
    for el in page
        .elements
        .get(start..end)
        .unwrap_or_default()
        .iter()
        .copied()
        .filter(|e| near(*e) && e.ancestors().any(|a| a.id() == body.id()))
    {
        let value = el.value();
        let name = value.name();
        let is_control = matches!(name, "button" | "input");
        let words = words_of(value);
        let is_signal = is_control
            || words.iter().any(|w| {
                w.contains("availab")
                    || w.contains("stock")
                    || w == "sold"
                    || w == "soldout"
                    || w == "badge"
                    || w == "inform"
            });
        if !is_signal || outside(el) {
            continue;
        }
        let text = html::text_of(el);
        if text.chars().count() > 120 {
            continue;
        }
        let lower = text.to_lowercase();
        let says_out = contains_any(&lower, BUY_BOX_OUT)
            || availability::from_text(&text) == Some(Availability::OutOfStock)
            || (is_control && words.iter().any(|w| w == "soldout" || w == "sold"))
            || (is_control && value.attr("disabled").is_some() && lower_is_cart(&lower));
        if says_out {
            return Some(Availability::OutOfStock);
        }
        if verdict.is_none() && !is_control {
            verdict = availability::from_text(&text).filter(|a| *a != Availability::OutOfStock);
        }
        if verdict.is_none() && is_control && lower_is_cart(&lower) && value.attr("disabled").is_none() {
            verdict = Some(Availability::InStock);
        }
    }
    verdict
}

fn lower_is_cart(lower: &str) -> bool {
    contains_any(lower, CART_WORDS)
}
