//! The price parser's currency table: which ISO 4217 codes exist (from the `iso_currency`
//! crate), the symbols and local abbreviations shops write instead, and how each currency writes
//! its amounts.

use std::collections::HashMap;
use std::sync::LazyLock;

use super::{Convention, Strength};

use Strength::{Ambiguous, Generic, Symbol};

/// Which side of the number a marker may stand on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Side {
    Either,
    /// `R199` (South African rand): before the number only.
    Before,
}

/// A currency symbol or word, as written on pages.
#[derive(Debug)]
pub(super) struct SymbolDef {
    pub(super) text: &'static str,
    pub(super) code: Option<&'static str>,
    pub(super) strength: Strength,
    /// Decides only when nothing else does: a number next to it is not preferred to a later
    /// number next to a real marker (`R`, `KD`, `ALL`, `TOP` are also plain letters and words).
    pub(super) weak: bool,
    /// Must touch the number, no space between (`R199`, `200Q`).
    pub(super) touching: bool,
    pub(super) side: Side,
    /// A letter at either end of the marker must not touch another letter (`kr` in `kraft` is no
    /// marker). Off for CJK signs, which are written inside words (`1,980円（税込）`).
    pub(super) letter_boundary: bool,
    /// ASCII letters match in any case (`nis`, `NIS`, `Nis`).
    pub(super) any_case: bool,
    /// Currencies the marker may stand for, which an ISO code elsewhere in the text or a hint
    /// picks from (`$` with `CAD`, `kr` with `SEK`).
    pub(super) family: Option<&'static [&'static str]>,
}

const fn def(text: &'static str, code: Option<&'static str>, strength: Strength) -> SymbolDef {
    SymbolDef {
        text,
        code,
        strength,
        weak: false,
        touching: false,
        side: Side::Either,
        letter_boundary: true,
        any_case: false,
        family: None,
    }
}

/// The symbol of one currency.
const fn sym(text: &'static str, code: &'static str) -> SymbolDef {
    def(text, Some(code), Symbol)
}

/// A symbol several currencies use, one of which is assumed.
const fn generic(text: &'static str, code: &'static str, family: &'static [&'static str]) -> SymbolDef {
    SymbolDef { family: Some(family), ..def(text, Some(code), Generic) }
}

/// A symbol several currencies use, none of which is assumed.
const fn ambiguous(text: &'static str, family: &'static [&'static str]) -> SymbolDef {
    SymbolDef { family: Some(family), ..def(text, None, Ambiguous) }
}

impl SymbolDef {
    const fn weak(self) -> Self {
        SymbolDef { weak: true, ..self }
    }
    const fn touching(self) -> Self {
        SymbolDef { touching: true, ..self }
    }
    const fn before(self) -> Self {
        SymbolDef { side: Side::Before, ..self }
    }
    const fn glyph(self) -> Self {
        SymbolDef { letter_boundary: false, ..self }
    }
    const fn any_case(self) -> Self {
        SymbolDef { any_case: true, ..self }
    }
}

pub(super) const DOLLARS: &[&str] = &[
    "USD", "CAD", "AUD", "NZD", "MXN", "HKD", "SGD", "TWD", "ARS", "CLP", "COP", "UYU", "BRL", "BSD", "BBD", "BZD",
    "BMD", "BND", "KYD", "FJD", "GYD", "JMD", "LRD", "NAD", "SBD", "SRD", "TTD", "XCD", "ZWL", "DOP", "CUP", "NIO",
];
const YENS: &[&str] = &["JPY", "CNY"];
const CROWNS: &[&str] = &["SEK", "NOK", "DKK", "ISK"];
const RUPEES: &[&str] = &["INR", "PKR", "NPR", "LKR", "MUR", "SCR"];
const POUNDS: &[&str] = &["GBP", "EGP", "FKP", "GIP", "SHP", "SYP", "LBP", "SDG", "SSP"];
const FRANCS: &[&str] = &["CHF", "XOF", "XAF", "XPF", "CDF", "GNF", "RWF", "BIF", "DJF", "KMF"];
const CFA_FRANCS: &[&str] = &["XOF", "XAF"];
const DINARS: &[&str] = &["RSD", "DZD", "BHD", "IQD", "JOD", "KWD", "LYD", "MKD", "TND"];
const DIRHAMS: &[&str] = &["AED", "MAD"];
const RIALS: &[&str] = &["SAR", "IRR", "OMR", "QAR", "YER"];
const FLORINS: &[&str] = &["AWG", "ANG", "XCG"];
const RUBLES: &[&str] = &["RUB", "BYN"];
const BIRRS: &[&str] = &["BYN", "ETB"];
const BOLIVIANOS: &[&str] = &["BOB", "VES", "VED"];
const SOMS: &[&str] = &["UZS", "KGS"];
const LEI: &[&str] = &["RON", "MDL"];
const LIRAS: &[&str] = &["TRY", "ITL", "GBP"];
const CORDOBAS: &[&str] = &["CAD", "NIO"];

/// Currency symbols and words. The longest match at a position wins; an ISO code is recognised
/// apart from this table ([`iso_code`]).
pub(super) const SYMBOLS: &[SymbolDef] = &[
    // --- dollars ---------------------------------------------------------------------------
    generic("$", "USD", DOLLARS),
    sym("US$", "USD"),
    sym("US $", "USD"),
    sym("U$S", "USD"),
    sym("U$", "USD"),
    generic("C$", "CAD", CORDOBAS),
    sym("CA$", "CAD"),
    sym("CA $", "CAD"),
    sym("CAN$", "CAD"),
    sym("CND", "CAD").any_case(),
    sym("CDN", "CAD"),
    sym("CDN$", "CAD"),
    sym("A$", "AUD"),
    sym("AU$", "AUD"),
    sym("AU $", "AUD"),
    sym("NZ$", "NZD"),
    sym("NZ $", "NZD"),
    sym("R$", "BRL"),
    sym("MX$", "MXN"),
    sym("HK$", "HKD"),
    sym("HK $", "HKD"),
    sym("S$", "SGD"),
    sym("SG$", "SGD"),
    sym("NT$", "TWD"),
    sym("NT", "TWD").weak(),
    sym("NTD", "TWD").any_case(),
    sym("COL$", "COP"),
    sym("BZ$", "BZD"),
    sym("Bds$", "BBD"),
    sym("BDS$", "BBD"),
    sym("B$", "BND"),
    sym("CI$", "KYD"),
    sym("CUC$", "CUC"),
    sym("EC$", "XCD"),
    sym("FJ$", "FJD"),
    sym("G$", "GYD"),
    sym("GY$", "GYD"),
    sym("J$", "JMD"),
    sym("L$", "LRD"),
    sym("MOP$", "MOP"),
    sym("N$", "NAD"),
    sym("RD$", "DOP"),
    sym("T$", "TOP"),
    sym("TT$", "TTD"),
    sym("WS$", "WST"),
    sym("SI$", "SBD"),
    sym("Z$", "ZWL"),
    sym("$U", "UYU"),
    sym("$b", "BOB"),
    // --- euro, pound, franc ------------------------------------------------------------------
    sym("€", "EUR"),
    sym("euro", "EUR").any_case(),
    sym("euros", "EUR").any_case(),
    sym("£", "GBP"),
    sym("￡", "GBP"),
    sym("stg", "GBP").any_case(),
    generic("pound", "GBP", POUNDS).any_case(),
    generic("pounds", "GBP", POUNDS).any_case(),
    sym("E£", "EGP"),
    sym("LE", "EGP").weak(),
    sym("L.E.", "EGP"),
    ambiguous("₤", LIRAS),
    sym("Fr.", "CHF"),
    sym("SFr.", "CHF"),
    sym("SFr", "CHF"),
    generic("franc", "CHF", FRANCS).any_case(),
    generic("francs", "CHF", FRANCS).any_case(),
    ambiguous("₣", FRANCS),
    ambiguous("CFA", CFA_FRANCS),
    ambiguous("FCFA", CFA_FRANCS),
    ambiguous("F CFA", CFA_FRANCS),
    sym("FBu", "BIF").any_case(),
    sym("Fdj", "DJF"),
    sym("FG", "GNF").weak(),
    sym("GFr", "GNF"),
    sym("FRw", "RWF").any_case(),
    sym("RF", "RWF").weak(),
    sym("R₣", "RWF"),
    // --- yen, yuan, won, Asia ------------------------------------------------------------------
    generic("¥", "JPY", YENS),
    generic("￥", "JPY", YENS),
    sym("JP¥", "JPY"),
    sym("円", "JPY").glyph(),
    sym("yen", "JPY").any_case(),
    sym("CN¥", "CNY"),
    sym("元", "CNY").glyph(),
    sym("圆", "CNY").glyph(),
    sym("圓", "CNY").glyph(),
    sym("人民币", "CNY").glyph(),
    sym("RMB", "CNY").any_case(),
    sym("yuan", "CNY").any_case(),
    sym("₩", "KRW"),
    sym("원", "KRW").glyph(),
    sym("₹", "INR"),
    generic("Rs.", "INR", RUPEES),
    generic("Rs", "INR", RUPEES),
    generic("Re", "INR", RUPEES),
    generic("₨", "PKR", RUPEES),
    sym("र", "INR"),
    sym("रु", "INR"),
    sym("रू", "NPR"),
    sym("ரூ", "LKR"),
    sym("රු", "LKR"),
    sym("SRe", "SCR"),
    sym("৳", "BDT"),
    sym("Tk", "BDT").weak(),
    sym("Tk.", "BDT").weak(),
    sym("฿", "THB"),
    sym("บาท", "THB"),
    sym("₫", "VND"),
    sym("đ", "VND"),
    sym("Đ", "VND"),
    sym("VNĐ", "VND"),
    sym("vnđ", "VND"),
    sym("đồng", "VND"),
    sym("₱", "PHP"),
    sym("RM", "MYR"),
    sym("Rp", "IDR"),
    sym("Rp.", "IDR"),
    sym("៛", "KHR"),
    sym("₭", "LAK"),
    sym("₮", "MNT"),
    sym("Ks", "MMK").weak(),
    sym("Nu", "BTN").weak(),
    sym("Nu.", "BTN"),
    sym("Rf", "MVR").weak(),
    sym("Rf.", "MVR"),
    sym("MRf", "MVR"),
    sym("؋", "AFN"),
    // --- Europe and Central Asia -----------------------------------------------------------
    sym("₽", "RUB"),
    generic("руб", "RUB", RUBLES),
    generic("руб.", "RUB", RUBLES),
    generic("Руб", "RUB", RUBLES),
    generic("Руб.", "RUB", RUBLES),
    sym("рубль", "RUB"),
    sym("рубля", "RUB"),
    sym("рублей", "RUB"),
    sym("р", "RUB"),
    sym("р.", "RUB"),
    sym("Р", "RUB"),
    sym("RUR", "RUB").any_case(),
    generic("Rbl", "RUB", RUBLES),
    generic("Br", "BYN", BIRRS),
    sym("ብር", "ETB"),
    sym("zł", "PLN"),
    sym("Zł", "PLN"),
    sym("ZŁ", "PLN"),
    sym("zl", "PLN"),
    sym("Kč", "CZK"),
    sym("kč", "CZK"),
    sym("KČ", "CZK"),
    sym("Ft", "HUF"),
    sym("FT", "HUF"),
    generic("lei", "RON", LEI),
    generic("Lei", "RON", LEI),
    generic("LEI", "RON", LEI),
    sym("Lek", "ALL"),
    sym("Lekë", "ALL"),
    sym("лв", "BGN"),
    sym("лв.", "BGN"),
    sym("ден", "MKD"),
    sym("ДЕН", "MKD"),
    sym("Ден", "MKD"),
    sym("дин", "RSD"),
    sym("дин.", "RSD"),
    sym("Дин", "RSD"),
    sym("Дин.", "RSD"),
    sym("din", "RSD"),
    sym("din.", "RSD"),
    sym("Din", "RSD"),
    sym("dinara", "RSD").any_case(),
    sym("динара", "RSD"),
    sym("KM", "BAM"),
    sym("км", "BAM"),
    sym("КМ", "BAM"),
    sym("kn", "HRK"),
    sym("Kn", "HRK"),
    sym("₺", "TRY"),
    sym("TL", "TRY"),
    sym("₴", "UAH"),
    sym("грн", "UAH"),
    sym("грн.", "UAH"),
    sym("Грн", "UAH"),
    sym("Грн.", "UAH"),
    sym("hrn", "UAH").any_case(),
    sym("₾", "GEL"),
    sym("ლ", "GEL"),
    sym("ლარი", "GEL"),
    sym("lari", "GEL").any_case(),
    sym("֏", "AMD"),
    sym("₼", "AZN"),
    sym("₸", "KZT"),
    sym("тг", "KZT"),
    sym("тенге", "KZT"),
    generic("som", "UZS", SOMS),
    generic("сом", "KGS", SOMS),
    sym("so'm", "UZS"),
    sym("soʻm", "UZS"),
    sym("so‘m", "UZS"),
    sym("so’m", "UZS"),
    sym("сўм", "UZS"),
    sym("сум", "UZS"),
    sym("S'", "UZS"),
    sym("Sʻ", "UZS"),
    sym("\u{405}M", "TJS"),
    ambiguous("kr", CROWNS),
    ambiguous("kr.", CROWNS),
    ambiguous("Kr", CROWNS),
    ambiguous("Kr.", CROWNS),
    ambiguous("KR", CROWNS),
    // --- Middle East and Africa -------------------------------------------------------------
    sym("₪", "ILS"),
    sym("nis", "ILS").any_case(),
    sym("ש״ח", "ILS"),
    sym("ש\"ח", "ILS"),
    sym("ש'ח", "ILS"),
    sym("ש.ח", "ILS"),
    sym("ش.ج", "ILS"),
    sym("ج.م", "EGP"),
    sym("ج.م.", "EGP"),
    sym("جنيه", "EGP"),
    sym("جن", "EGP"),
    generic("درهم", "AED", DIRHAMS),
    sym("د.إ", "AED"),
    generic("Dh", "AED", DIRHAMS),
    generic("Dhs", "AED", DIRHAMS),
    generic("DH", "MAD", DIRHAMS),
    sym("د.م", "MAD"),
    sym("د.م.", "MAD"),
    generic("ريال", "SAR", RIALS),
    sym("ر.س", "SAR"),
    sym("SR", "SAR").weak(),
    sym("ریال", "IRR"),
    generic("﷼", "IRR", RIALS),
    ambiguous("تومان", &[]),
    sym("ر.ع", "OMR"),
    sym("ر.ع.", "OMR"),
    sym("ر.ق", "QAR"),
    sym("QR", "QAR").weak(),
    sym("ر.ي", "YER"),
    ambiguous("دينار", DINARS),
    ambiguous("د.", DINARS),
    sym("دينار أردني", "JOD"),
    sym("د.أ", "JOD"),
    sym("د.ا", "JOD"),
    sym("JD", "JOD").weak(),
    sym("دينار كويتي", "KWD"),
    sym("د.ك", "KWD"),
    sym("KD", "KWD").weak(),
    sym(".د.ب", "BHD"),
    sym("د.ب", "BHD"),
    sym("BD", "BHD").weak(),
    sym("دج", "DZD"),
    sym("د.ج", "DZD"),
    sym("ع.د", "IQD"),
    sym("د.ع", "IQD"),
    sym("ل.د", "LYD"),
    sym("د.ل", "LYD"),
    sym("LD", "LYD").weak(),
    sym("د.ت", "TND"),
    sym("DT", "TND").weak(),
    sym("ل.س", "SYP"),
    sym("ل.ل", "LBP"),
    sym("ج.س", "SDG"),
    sym("ج.س.", "SDG"),
    sym("ش.ص", "SOS"),
    sym("₦", "NGN"),
    sym("₵", "GHS"),
    sym("GH₵", "GHS"),
    sym("KSh", "KES").any_case(),
    sym("KShs", "KES").any_case(),
    sym("TSh", "TZS").any_case(),
    sym("TShs", "TZS").any_case(),
    sym("USh", "UGX").any_case(),
    sym("UShs", "UGX").any_case(),
    sym("Nfk", "ERN"),
    sym("ናቕፋ", "ERN"),
    sym("نافكا", "ERN"),
    sym("Db", "STN").weak(),
    sym("UM", "MRU").weak(),
    sym("MT", "MZN").weak(),
    sym("MTn", "MZN"),
    sym("Ar", "MGA").weak(),
    sym("Esc", "CVE"),
    sym("MK", "MWK").weak(),
    sym("ZK", "ZMW").weak(),
    sym("Kz", "AOA").weak(),
    sym("kwz", "AOA").any_case(),
    sym("R", "ZAR").weak().before(),
    sym("VT", "VUV").weak(),
    sym("Vt", "VUV").weak(),
    // --- the Americas ------------------------------------------------------------------------
    sym("S/", "PEN"),
    sym("S/.", "PEN"),
    sym("B/.", "PAB"),
    generic("Bs", "BOB", BOLIVIANOS),
    generic("Bs.", "BOB", BOLIVIANOS),
    sym("Bs.S", "VES"),
    sym("Bs.F", "VES"),
    sym("₡", "CRC"),
    sym("₲", "PYG"),
    sym("Gs", "PYG").weak(),
    sym("Gs.", "PYG"),
    sym("Q", "GTQ").weak().touching(),
    sym("q", "GTQ").weak().touching(),
    ambiguous("ƒ", FLORINS),
    // --- crypto --------------------------------------------------------------------------------
    sym("₿", "BTC"),
    sym("Ƀ", "BTC"),
    sym("BTC", "BTC").any_case(),
    sym("XBT", "BTC"),
];

/// The symbols by their first character (both cases for those matched in any case), longest
/// first.
pub(super) static SYMBOLS_BY_FIRST_CHAR: LazyLock<HashMap<char, Vec<&'static SymbolDef>>> = LazyLock::new(|| {
    let mut index: HashMap<char, Vec<&'static SymbolDef>> = HashMap::new();
    for symbol in SYMBOLS {
        let Some(first) = symbol.text.chars().next() else { continue };
        let mut keys = vec![first];
        if symbol.any_case {
            keys.push(first.to_ascii_lowercase());
            keys.push(first.to_ascii_uppercase());
            keys.dedup();
            keys.sort_unstable();
            keys.dedup();
        }
        for key in keys {
            index.entry(key).or_default().push(symbol);
        }
    }
    for symbols in index.values_mut() {
        symbols.sort_by_key(|s| std::cmp::Reverse(s.text.chars().count()));
    }
    index
});

/// ISO codes that are also words in lower case (`all`, `top`, `pen`, `try`, French `ils`): in
/// lower or mixed case they are words, not codes.
const CODES_THAT_ARE_WORDS: &[&str] = &[
    "ALL", "AMD", "ARS", "BAM", "BOB", "CAD", "COP", "CUP", "DOP", "GEL", "ILS", "KES", "LAK", "MAD", "MOP", "MNT",
    "NAD", "PEN", "PHP", "RON", "RUB", "SAR", "SOS", "SVC", "TOP", "TRY", "VES", "ZAR",
];

/// ISO codes that, even in capitals, are more often something else (`ALL PRICES`, `TOP 10`,
/// `AMD Ryzen`, `PHP 8`): they decide only when nothing else does.
const WEAK_CODES: &[&str] = &["ALL", "AMD", "BOB", "CUP", "MOP", "PHP", "SOS", "SVC", "TOP"];

/// How a three-letter word reads as an ISO 4217 code: `None` when it is none (or is a word in
/// that case), else whether it is weak ([`WEAK_CODES`]).
pub(super) fn iso_code(letters: &str) -> Option<(String, bool)> {
    let upper = letters.to_ascii_uppercase();
    let currency = iso_currency::Currency::from_code(&upper)?;
    if currency.is_fund() || currency.is_special() {
        return None;
    }
    let word = CODES_THAT_ARE_WORDS.contains(&upper.as_str());
    if word && letters != upper {
        return None;
    }
    let weak = WEAK_CODES.contains(&upper.as_str());
    Some((upper, weak))
}

/// Currencies written `1,234.56`. Any other known currency is written `1.234,56`.
const DOT_DECIMAL: &[&str] = &[
    "USD", "GBP", "JPY", "CNY", "KRW", "INR", "CAD", "AUD", "NZD", "HKD", "SGD", "TWD", "MXN", "CHF", "THB", "PHP",
    "MYR", "ILS", "AED", "SAR", "QAR", "EGP", "NGN", "KES", "PKR", "ZAR", "PEN", "CRC", "BHD", "IQD", "JOD", "KWD",
    "LYD", "OMR", "LKR", "NPR", "BDT", "GHS", "UGX", "TZS", "JMD", "TTD", "BZD", "BSD", "BBD", "KYD", "XCD", "DOP",
    "GTQ", "HNL", "NIO", "PAB", "SCR", "MUR", "MVR", "BTN", "MMK", "LAK", "KHR", "MNT", "YER", "IRR", "AFN",
];

/// The decimal convention usually used with a currency.
pub(super) fn convention_of(code: &str) -> Convention {
    if DOT_DECIMAL.contains(&code) { Convention::DotDecimal } else { Convention::CommaDecimal }
}

/// Whether amounts in this currency have three decimals (`423.923 KD`): the Gulf and North
/// African dinars and rials, from ISO 4217.
pub(super) fn has_three_decimals(code: &str) -> bool {
    iso_currency::Currency::from_code(code).and_then(iso_currency::Currency::exponent) == Some(3)
}
