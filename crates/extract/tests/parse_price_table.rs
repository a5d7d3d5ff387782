//! `parse_price` against a table of price texts from many locales.
//!
//! Each case: (input, expected amount or `None` for no price, expected ISO currency or `None`).

use pricetrack_extract::parse_price;

mod price_cases;

use price_cases::Case;

const CASES: &[Case] = &[
    // --- en-US -------------------------------------------------------------------------------
    ("$1,299.99", Some("1299.99"), Some("USD")),
    ("$19.99", Some("19.99"), Some("USD")),
    ("$0.99", Some("0.99"), Some("USD")),
    ("$.99", Some("0.99"), Some("USD")),
    ("$5", Some("5"), Some("USD")),
    ("$1,234", Some("1234"), Some("USD")),
    ("$1.234", Some("1234"), Some("USD")), // three digits after a lone separator: thousands
    ("$1,234,567.89", Some("1234567.89"), Some("USD")),
    ("From $19.99", Some("19.99"), Some("USD")),
    ("Now $24.99 (was $39.99)", Some("24.99"), Some("USD")),
    ("Price: $ 49.00", Some("49.00"), Some("USD")),
    ("US$ 1,299.00", Some("1299.00"), Some("USD")),
    ("US$49.95", Some("49.95"), Some("USD")),
    ("USD 15.50", Some("15.50"), Some("USD")),
    ("15.50 usd", Some("15.50"), Some("USD")),
    ("19.99 USD", Some("19.99"), Some("USD")),
    ("$19.99 - $29.99", Some("19.99"), Some("USD")),
    ("2 for $10", Some("10"), Some("USD")),
    ("Save 20% - now $79.99", Some("79.99"), Some("USD")),
    ("$1,299.99\u{a0}", Some("1299.99"), Some("USD")),
    ("  $ 1,000  ", Some("1000"), Some("USD")),
    ("-$5.00", None, None),
    ("$-5.00", None, None),
    ("−$12.00", None, None),
    ("You save: -$10.00 Now: $40.00", Some("40.00"), Some("USD")),
    ("$19.99 CAD", Some("19.99"), Some("CAD")),
    // --- en-CA / en-AU / en-NZ / other dollars ------------------------------------------------
    ("C$ 24.99", Some("24.99"), Some("CAD")),
    ("CA$1,099.00", Some("1099.00"), Some("CAD")),
    ("CAD 1,234.56", Some("1234.56"), Some("CAD")),
    ("A$ 89.95", Some("89.95"), Some("AUD")),
    ("AU$1,499", Some("1499"), Some("AUD")),
    ("NZ$ 59.90", Some("59.90"), Some("NZD")),
    ("HK$ 1,280", Some("1280"), Some("HKD")),
    ("S$ 29.90", Some("29.90"), Some("SGD")),
    ("NT$ 12,900", Some("12900"), Some("TWD")),
    ("MX$ 1,299.00", Some("1299.00"), Some("MXN")),
    ("$1,299.00 MXN", Some("1299.00"), Some("MXN")),
    // --- en-GB / en-IE ------------------------------------------------------------------------
    ("£1,299.99", Some("1299.99"), Some("GBP")),
    ("£12", Some("12"), Some("GBP")),
    ("£0.50", Some("0.50"), Some("GBP")),
    ("Only £49.99 inc. VAT", Some("49.99"), Some("GBP")),
    ("GBP 249.00", Some("249.00"), Some("GBP")),
    ("£1.234", Some("1234"), Some("GBP")),
    ("Was £30, now £25", Some("25"), Some("GBP")), // `was` marks the old price
    ("€19.99", Some("19.99"), Some("EUR")),
    ("99p", None, None),
    // --- en-IN --------------------------------------------------------------------------------
    ("₹1,23,456.00", Some("123456.00"), Some("INR")),
    ("₹ 12,34,567", Some("1234567"), Some("INR")),
    ("₹499", Some("499"), Some("INR")),
    ("Rs. 1,299", Some("1299"), Some("INR")),
    ("Rs 2,49,999.50", Some("249999.50"), Some("INR")),
    ("INR 1,00,000", Some("100000"), Some("INR")),
    ("M.R.P.: ₹1,999.00", Some("1999.00"), Some("INR")),
    // --- de-DE / de-AT ------------------------------------------------------------------------
    ("1.299,99 €", Some("1299.99"), Some("EUR")),
    ("1.299,99\u{a0}€", Some("1299.99"), Some("EUR")),
    ("19,99 €", Some("19.99"), Some("EUR")),
    ("19,99€", Some("19.99"), Some("EUR")),
    ("€ 19,99", Some("19.99"), Some("EUR")),
    ("1.234 €", Some("1234"), Some("EUR")),
    ("1.234.567,00 €", Some("1234567.00"), Some("EUR")),
    ("1.299,- €", Some("1299"), Some("EUR")),
    ("1.299,–", Some("1299"), None),
    ("1.299,-", Some("1299"), None),
    ("12,-", Some("12"), None),
    ("12,– €", Some("12"), Some("EUR")),
    ("Preis: 45,00 EUR", Some("45.00"), Some("EUR")),
    ("EUR 1.234,56", Some("1234.56"), Some("EUR")),
    ("ab 9,99 €", Some("9.99"), Some("EUR")),
    ("Statt 59,99 € nur 49,99 €", Some("49.99"), Some("EUR")),
    ("UVP: 129,00 €", Some("129.00"), Some("EUR")),
    ("0,99 €", Some("0.99"), Some("EUR")),
    ("1,23 €", Some("1.23"), Some("EUR")),
    ("1,5 €", Some("1.5"), Some("EUR")),
    ("-19,99 €", None, None),
    ("45 Euro", Some("45"), Some("EUR")),
    ("129 eur", Some("129"), Some("EUR")),
    ("inkl. MwSt. 24,90 €", Some("24.90"), Some("EUR")),
    // --- fr-FR / fr-BE ------------------------------------------------------------------------
    ("1 299,99 €", Some("1299.99"), Some("EUR")),
    ("1\u{a0}299,99\u{a0}€", Some("1299.99"), Some("EUR")),
    ("1\u{202f}299,99\u{202f}€", Some("1299.99"), Some("EUR")),
    ("1\u{2009}299,99 €", Some("1299.99"), Some("EUR")),
    ("12 345 678,90 €", Some("12345678.90"), Some("EUR")),
    ("19€99", Some("19.99"), Some("EUR")),
    ("1 299€99", Some("1299.99"), Some("EUR")),
    ("1.299€99", Some("1299.99"), Some("EUR")),
    ("19€", Some("19"), Some("EUR")),
    ("à partir de 29,90 €", Some("29.90"), Some("EUR")),
    ("Prix : 1 049,00 € TTC", Some("1049.00"), Some("EUR")),
    ("-20 % 39,99 €", Some("39.99"), Some("EUR")),
    ("45,50 euros", Some("45.50"), Some("EUR")),
    ("1 299 €", Some("1299"), Some("EUR")),
    // --- es-ES --------------------------------------------------------------------------------
    ("Ahora 29,95€ IVA incl.", Some("29.95"), Some("EUR")),
    ("1.299,00 €", Some("1299.00"), Some("EUR")),
    ("PVPR: 1.499 €", Some("1499"), Some("EUR")),
    ("Precio: 9,95 €", Some("9.95"), Some("EUR")),
    ("Desde 199 €", Some("199"), Some("EUR")),
    ("Agotado", None, None),
    ("Consultar precio", None, None),
    // --- it-IT --------------------------------------------------------------------------------
    ("€ 1.299,00", Some("1299.00"), Some("EUR")),
    ("1.299,00 € IVA inclusa", Some("1299.00"), Some("EUR")),
    ("Prezzo: 24,99€", Some("24.99"), Some("EUR")),
    ("€2.499", Some("2499"), Some("EUR")),
    ("Non disponibile", None, None),
    // --- nl-NL / nl-BE ------------------------------------------------------------------------
    ("€ 1.299,-", Some("1299"), Some("EUR")),
    ("€ 49,95", Some("49.95"), Some("EUR")),
    ("€ 12,-", Some("12"), Some("EUR")),
    ("Van €59,99 voor €39,99", Some("39.99"), Some("EUR")),
    ("EUR 9,99", Some("9.99"), Some("EUR")),
    // --- pt-BR / pt-PT ------------------------------------------------------------------------
    ("R$ 1.299,90", Some("1299.90"), Some("BRL")),
    ("R$99,90", Some("99.90"), Some("BRL")),
    ("R$ 1.234", Some("1234"), Some("BRL")),
    ("por R$ 2.499,00 à vista", Some("2499.00"), Some("BRL")),
    ("BRL 349,00", Some("349.00"), Some("BRL")),
    ("10x de R$ 129,99", Some("129.99"), Some("BRL")),
    ("29,99 €", Some("29.99"), Some("EUR")),
    // --- pl-PL --------------------------------------------------------------------------------
    ("1 299,99 zł", Some("1299.99"), Some("PLN")),
    ("1299,99 zł", Some("1299.99"), Some("PLN")),
    ("49,00 zł", Some("49.00"), Some("PLN")),
    ("Cena: 2.499,00 zł", Some("2499.00"), Some("PLN")),
    ("PLN 199,99", Some("199.99"), Some("PLN")),
    ("1 234 zł", Some("1234"), Some("PLN")),
    ("99 zl", Some("99"), Some("PLN")),
    // --- sv-SE / da-DK / nb-NO / is-IS --------------------------------------------------------
    ("1 299 kr", Some("1299"), None),
    ("1 299,00 kr", Some("1299.00"), None),
    ("199:-", Some("199"), None),
    ("1 299:-", Some("1299"), None),
    ("SEK 1 299", Some("1299"), Some("SEK")),
    ("1 299 kr SEK", Some("1299"), Some("SEK")),
    ("kr. 1.299,95", Some("1299.95"), None),
    ("1.299,- kr.", Some("1299"), None),
    ("DKK 499,00", Some("499.00"), Some("DKK")),
    ("NOK 1 490,-", Some("1490"), Some("NOK")),
    ("kr 1.234", Some("1234"), None),
    ("ISK 12.990", Some("12990"), Some("ISK")),
    // --- de-CH / fr-CH ------------------------------------------------------------------------
    ("CHF 1'299.90", Some("1299.90"), Some("CHF")),
    ("CHF 1’299.90", Some("1299.90"), Some("CHF")),
    ("CHF 49.–", Some("49"), Some("CHF")),
    ("Fr. 12.50", Some("12.50"), Some("CHF")),
    ("12.50 Fr.", Some("12.50"), Some("CHF")),
    ("1'234.- CHF", Some("1234"), Some("CHF")),
    ("chf 99.00", Some("99.00"), Some("CHF")),
    ("CHF 1'299", Some("1299"), Some("CHF")),
    ("CHF 1.234", Some("1234"), Some("CHF")),
    // --- ja-JP / zh-CN / ko-KR ----------------------------------------------------------------
    ("¥1,980", Some("1980"), Some("JPY")),
    ("￥12,800（税込）", Some("12800"), Some("JPY")),
    ("1,980円", Some("1980"), Some("JPY")),
    ("税込 3,300円", Some("3300"), Some("JPY")),
    ("JPY 5,000", Some("5000"), Some("JPY")),
    ("¥ 199 CNY", Some("199"), Some("CNY")),
    ("CN¥ 1,299.00", Some("1299.00"), Some("CNY")),
    ("299元", Some("299"), Some("CNY")),
    ("RMB 88.00", Some("88.00"), Some("CNY")),
    ("₩1,234,000", Some("1234000"), Some("KRW")),
    ("12,900원", Some("12900"), Some("KRW")),
    ("KRW 59,000", Some("59000"), Some("KRW")),
    // --- other currencies ---------------------------------------------------------------------
    ("1 299 ₽", Some("1299"), Some("RUB")),
    ("1 299,50 руб.", Some("1299.50"), Some("RUB")),
    ("RUB 4 990", Some("4990"), Some("RUB")),
    ("1 299,00 Kč", Some("1299.00"), Some("CZK")),
    ("CZK 2.490", Some("2490"), Some("CZK")),
    ("12 990 Ft", Some("12990"), Some("HUF")),
    ("HUF 12.990", Some("12990"), Some("HUF")),
    ("249,99 lei", Some("249.99"), Some("RON")),
    ("₺1.299,00", Some("1299.00"), Some("TRY")),
    ("1.299,00 TL", Some("1299.00"), Some("TRY")),
    ("TRY 1.299,00", Some("1299.00"), Some("TRY")),
    ("1 299 грн", Some("1299"), Some("UAH")),
    ("₪ 1,299.90", Some("1299.90"), Some("ILS")),
    ("฿1,290", Some("1290"), Some("THB")),
    ("1.290.000 ₫", Some("1290000"), Some("VND")),
    ("₱1,299.00", Some("1299.00"), Some("PHP")),
    ("RM 129.90", Some("129.90"), Some("MYR")),
    ("Rp 1.299.000", Some("1299000"), Some("IDR")),
    ("Rp1.299", Some("1299"), Some("IDR")),
    ("S/ 99.90", Some("99.90"), Some("PEN")),
    ("AED 1,299", Some("1299"), Some("AED")),
    ("ZAR 1 299.00", Some("1299.00"), Some("ZAR")),
    ("49,90 лв.", Some("49.90"), Some("BGN")),
    // --- no currency --------------------------------------------------------------------------
    ("0,99", Some("0.99"), None),
    ("19.99", Some("19.99"), None),
    ("1299", Some("1299"), None),
    ("1.299,99", Some("1299.99"), None),
    ("1,299.99", Some("1299.99"), None),
    ("1.234", Some("1234"), None),
    ("1,234", Some("1234"), None),
    ("0.125", Some("0.125"), None),
    ("1234.567", Some("1234.567"), None),
    ("Price: 45", Some("45"), None),
    ("Price: 45,00", Some("45.00"), None),
    ("1 234 567", Some("1234567"), None),
    // --- no price -----------------------------------------------------------------------------
    ("", None, None),
    ("   ", None, None),
    ("Sold out", None, None),
    ("Call for price", None, None),
    ("Out of stock", None, None),
    ("Ausverkauft", None, None),
    ("€", None, None),
    ("EUR", None, None),
    ("Only 3 left", None, None),
    ("128 GB", None, None),
    ("Save 20%", None, None),
    ("4K UHD TV", None, None),
    ("iPhone15 Pro", None, None),
    ("12/05/2024", None, None),
    ("10:30", None, None),
    ("Item #12345", None, None),
    ("1.2.3", None, None),
    ("12345678901234567890 €", None, None),
    ("-5", None, None),
    ("€ -", None, None),
    // --- degenerate but safe ------------------------------------------------------------------
    ("0,00 €", Some("0"), Some("EUR")),
    ("999999999999999 €", Some("999999999999999"), Some("EUR")),
    ("kraft 12", Some("12"), None),
    ("12 kraft", None, None),
    ("3 x 19,99 €", Some("19.99"), Some("EUR")),
];

#[test]
fn table() {
    assert!(CASES.len() >= 150, "only {} cases", CASES.len());
    price_cases::check(CASES);
}

#[test]
fn amounts_keep_their_scale() {
    let money = parse_price("1.299,90 €").expect("price");
    assert_eq!(money.amount.to_string(), "1299.90");
    assert_eq!(money.to_string(), "1299.9 EUR");
}

#[test]
fn long_and_odd_inputs_do_not_panic() {
    let long = "9".repeat(100_000);
    assert_eq!(parse_price(&long), None);
    let many = "1,".repeat(50_000);
    let _ = parse_price(&many);
    let _ = parse_price(&"€".repeat(10_000));
    let _ = parse_price("\u{0}\u{202f}1\u{202f}");
    let _ = parse_price(&format!("{}€ 5", "é".repeat(5000)));
}
