//! `parse_price`, one test per reading rule (see the rules in its documentation).
//!
//! Each case: (input, expected amount or `None` for no price, expected ISO currency or `None`).

use pricetrack_extract::parse_price;

mod price_cases;

use price_cases::check;

/// Every ISO 4217 code (funds and special units such as `XAU` aside) is read as its currency, in
/// capitals and, unless it is also a word (`all`, `top`, `pen`), in lower case; a number beside
/// a code that is also a common word is still read.
#[test]
fn every_iso_4217_code_is_a_currency() {
    let words = ["ALL", "AMD", "ARS", "BAM", "BOB", "CAD", "COP", "CUP", "DOP", "GEL", "ILS", "KES", "LAK", "MAD"];
    let mut failures = Vec::new();
    let mut codes = 0;
    for a in b'A'..=b'Z' {
        for b in b'A'..=b'Z' {
            for c in b'A'..=b'Z' {
                let code: String = [a, b, c].iter().map(|&x| char::from(x)).collect();
                let Some(iso) = iso_currency::Currency::from_code(&code) else { continue };
                if iso.is_fund() || iso.is_special() {
                    continue;
                }
                codes += 1;
                for text in [format!("{code} 1.234,50"), format!("12.50 {code}")] {
                    let got = parse_price(&text).and_then(|m| m.currency).map(|c| c.to_string());
                    if got.as_deref() != Some(code.as_str()) {
                        failures.push(format!("{text:?} -> {got:?}"));
                    }
                }
                let lower = code.to_ascii_lowercase();
                let got = parse_price(&format!("12.50 {lower}")).and_then(|m| m.currency).map(|c| c.to_string());
                if !words.contains(&code.as_str()) && got.is_some() && got.as_deref() != Some(code.as_str()) {
                    failures.push(format!("{lower:?} -> {got:?}"));
                }
            }
        }
    }
    assert!(codes >= 150, "only {codes} ISO codes known");
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
    check(&[
        ("12.50 eur", Some("12.50"), Some("EUR")),
        ("12.50 Huf", Some("12.50"), Some("HUF")),
        ("49.90 mkd", Some("49.90"), Some("MKD")),
        ("TRY 149,90", Some("149.90"), Some("TRY")),
        // `try` and `pen` in lower case are words, not currencies.
        ("try 149,90", Some("149.90"), None),
        ("pen 12.50 £", Some("12.50"), Some("GBP")),
        // Capital words that are also codes decide only when nothing else does.
        ("TOP 10 under $50", Some("50"), Some("USD")),
        ("AMD 5600 $199.00", Some("199.00"), Some("USD")),
        ("ALL 1.200", Some("1200"), Some("ALL")),
    ]);
}

/// Symbols and local abbreviations, before or after the number.
#[test]
fn symbols_and_local_abbreviations() {
    check(&[
        ("24 990 Ft", Some("24990"), Some("HUF")),
        ("3 499 Kč", Some("3499"), Some("CZK")),
        ("89,99 zł", Some("89.99"), Some("PLN")),
        ("2 390 руб.", Some("2390"), Some("RUB")),
        ("2 390 р.", Some("2390"), Some("RUB")),
        ("4 500 рублей", Some("4500"), Some("RUB")),
        ("1 290 Р", Some("1290"), Some("RUB")),
        ("459.000₫", Some("459000"), Some("VND")),
        ("459.000 đ", Some("459000"), Some("VND")),
        ("129,99 Lei", Some("129.99"), Some("RON")),
        ("129,99 LEI", Some("129.99"), Some("RON")),
        ("549,00 TL", Some("549.00"), Some("TRY")),
        ("৳ 1,250", Some("1250"), Some("BDT")),
        ("₹ 2,499", Some("2499"), Some("INR")),
        ("₩ 39,000", Some("39000"), Some("KRW")),
        ("Rp 249.000", Some("249000"), Some("IDR")),
        ("RM 59.90", Some("59.90"), Some("MYR")),
        ("45,50 KM", Some("45.50"), Some("BAM")),
        ("19,90 лв.", Some("19.90"), Some("BGN")),
        ("1 299 грн", Some("1299"), Some("UAH")),
        ("₸ 12 500", Some("12500"), Some("KZT")),
        ("2.999 din", Some("2999"), Some("RSD")),
        ("350 ден", Some("350"), Some("MKD")),
        ("85 Lek", Some("85"), Some("ALL")),
        ("₾ 45", Some("45"), Some("GEL")),
        ("249 kn", Some("249"), Some("HRK")),
        ("₼ 12.40", Some("12.40"), Some("AZN")),
        ("֏ 9,900", Some("9900"), Some("AMD")),
        ("12.500 KD", Some("12.500"), Some("KWD")),
        ("150 د.إ", Some("150"), Some("AED")),
        ("99 ر.س", Some("99"), Some("SAR")),
        ("250 ج.م", Some("250"), Some("EGP")),
        ("E£ 250", Some("250"), Some("EGP")),
        ("₪ 89.90", Some("89.90"), Some("ILS")),
        ("89.90 ש״ח", Some("89.90"), Some("ILS")),
        ("KSh 1,500", Some("1500"), Some("KES")),
        ("USh 25,000", Some("25000"), Some("UGX")),
        ("₦ 4,500", Some("4500"), Some("NGN")),
        ("GH₵ 120.00", Some("120.00"), Some("GHS")),
        ("R199.99", Some("199.99"), Some("ZAR")),
        ("R 1 299.00", Some("1299.00"), Some("ZAR")),
        ("Grade R", None, None),
        ("Q1,250.00", Some("1250.00"), Some("GTQ")),
        ("S/ 79.90", Some("79.90"), Some("PEN")),
        ("B/. 12.00", Some("12.00"), Some("PAB")),
        ("RD$ 1,450", Some("1450"), Some("DOP")),
        ("J$ 2,300", Some("2300"), Some("JMD")),
        ("TT$ 99.00", Some("99.00"), Some("TTD")),
        ("CAN$ 24.99", Some("24.99"), Some("CAD")),
        ("AU $ 24.99", Some("24.99"), Some("AUD")),
        ("US $24.99", Some("24.99"), Some("USD")),
        ("₲ 150.000", Some("150000"), Some("PYG")),
        ("1.980円", Some("1980"), Some("JPY")),
        ("1980yen", Some("1980"), Some("JPY")),
        ("88.00元/件", Some("88.00"), Some("CNY")),
        ("88 人民币", Some("88"), Some("CNY")),
        ("590 บาท", Some("590"), Some("THB")),
        ("₿ 0.0025", Some("0.0025"), Some("BTC")),
        ("25 francs", Some("25"), Some("CHF")),
        ("25 francs CFA XOF", Some("25"), Some("XOF")),
        ("9.99 pounds", Some("9.99"), Some("GBP")),
        // `kr` is four currencies: none is guessed, an ISO code in the text decides.
        ("499 kr", Some("499"), None),
        ("499 kr NOK", Some("499"), Some("NOK")),
        // Letters glued to letters are no marker.
        ("Ftxx 12", Some("12"), None),
        ("12 Kraft", None, None),
    ]);
}

/// Currencies without minor units read `1,234` and `1.234` as thousands, like every currency
/// now; currencies with three decimals read their decimal separator before three digits as
/// decimal.
#[test]
fn minor_units_decide_the_three_digit_case() {
    check(&[
        ("¥1,234", Some("1234"), Some("JPY")),
        ("JPY 1.234", Some("1234"), Some("JPY")),
        ("₩1.234", Some("1234"), Some("KRW")),
        ("1,234₫", Some("1234"), Some("VND")),
        ("1.234 Ft", Some("1234"), Some("HUF")),
        ("1,234 Ft", Some("1234"), Some("HUF")),
        ("CLP 1,234", Some("1234"), Some("CLP")),
        ("ISK 1,234", Some("1234"), Some("ISK")),
        ("Rp 1,234", Some("1234"), Some("IDR")),
        ("KWD 12.500", Some("12.500"), Some("KWD")),
        ("1,250.750 BHD", Some("1250.750"), Some("BHD")),
        ("OMR 3.250", Some("3.250"), Some("OMR")),
        ("JOD 1.234", Some("1.234"), Some("JOD")),
        // Tunisia writes a decimal comma.
        ("12,500 DT", Some("12.500"), Some("TND")),
        // A comma is not the Kuwaiti decimal separator: thousands.
        ("KWD 1,234", Some("1234"), Some("KWD")),
    ]);
}

/// A lone `.` or `,` before exactly three digits groups thousands, whatever the currency; a
/// leading zero or a long integer part make it decimal.
#[test]
fn three_digits_after_a_lone_separator_are_thousands() {
    check(&[
        ("12,345 €", Some("12345"), Some("EUR")),
        ("€ 1,500", Some("1500"), Some("EUR")),
        ("2.500 zł", Some("2500"), Some("PLN")),
        ("$2.500", Some("2500"), Some("USD")),
        ("£2,500", Some("2500"), Some("GBP")),
        ("R$ 3.999", Some("3999"), Some("BRL")),
        ("6,490", Some("6490"), None),
        ("0,125 €", Some("0.125"), Some("EUR")),
        ("2500.125", Some("2500.125"), None),
        ("2,50 €", Some("2.50"), Some("EUR")),
        ("2.5 €", Some("2.5"), Some("EUR")),
    ]);
}

/// Spaces inside a number: thousands groups, and cents cut off by a line break.
#[test]
fn spaces_inside_a_number() {
    check(&[
        ("2 499,00 €", Some("2499.00"), Some("EUR")),
        ("2\u{a0}499,00\u{a0}€", Some("2499.00"), Some("EUR")),
        ("$ 12. 99", Some("12.99"), Some("USD")),
        ("12. 99", Some("12.99"), None),
        ("49, 95 €", Some("49.95"), Some("EUR")),
        ("2.499, 95 €", Some("2499.95"), Some("EUR")),
        ("12€ 99", Some("12.99"), Some("EUR")),
        ("1299€ 99", Some("1299.99"), Some("EUR")),
        // A comma and a space without a currency is a list.
        ("Sizes 10, 12", Some("10"), None),
        // Cents are two digits; a word after them makes them a count.
        ("12€ 999", Some("12"), Some("EUR")),
        ("20€ 15 pieces", Some("20"), Some("EUR")),
    ]);
}

/// `Free` where it stands for the price is zero; beside other words it is no price.
#[test]
fn free_is_zero_where_it_is_the_price() {
    check(&[
        ("Free", Some("0"), None),
        ("FREE!", Some("0"), None),
        ("Gratis", Some("0"), None),
        ("Kostenlos", Some("0"), None),
        ("Price: Free", Some("0"), None),
        ("免费", Some("0"), None),
        ("Free €", Some("0"), Some("EUR")),
        ("Free shipping", None, None),
        ("Gratis verzending", None, None),
        ("Free delivery over £40", None, None),
        ("Free shipping on orders $35+", None, None),
        // A price beside the word wins.
        ("Free shipping, now $12.99", Some("12.99"), Some("USD")),
    ]);
}

/// With several prices and nothing to tell them apart, the first one that is not marked as
/// old, saved or recommended.
#[test]
fn held_back_old_saved_and_recommended_prices() {
    check(&[
        ("129.00 RRP: £159.00", Some("129.00"), Some("GBP")),
        ("$79.99 List price: $99.99", Some("79.99"), Some("USD")),
        ("List price: $99.99 $79.99", Some("79.99"), Some("USD")),
        ("UVP 99,00 € 79,00 €", Some("79.00"), Some("EUR")),
        ("You save $20.00 $79.99", Some("79.99"), Some("USD")),
        ("19.90 Savings: $5.00", Some("19.90"), Some("USD")),
        ("Was: $45.00 Now: $29.00", Some("29.00"), Some("USD")),
        ("M.R.P.: ₹1,999.00 ₹1,499.00", Some("1499.00"), Some("INR")),
        ("Prix barré 59,99 € 39,99 €", Some("39.99"), Some("EUR")),
        ("Antes 59,99 € Ahora 39,99 €", Some("39.99"), Some("EUR")),
        ("Было 2 990 ₽ 1 990 ₽", Some("1990"), Some("RUB")),
        // Nothing marks either: the first.
        ("$19.99 $24.99", Some("19.99"), Some("USD")),
        ("19,99 € 24,99 €", Some("19.99"), Some("EUR")),
        // Only a marked price: it is still the price shown.
        ("RRP £49.99", Some("49.99"), Some("GBP")),
        // A zero beside a real price is a placeholder.
        ("0,00 € 12,50 €", Some("12.50"), Some("EUR")),
        ("0,00 €", Some("0"), Some("EUR")),
    ]);
}

/// Which number is the price: ranges, quantities, dates, units, ratings.
#[test]
fn numbers_that_are_not_the_price() {
    check(&[
        ("Von 10 bis 20 €", Some("10"), Some("EUR")),
        ("15 to 25 USD", Some("15"), Some("USD")),
        ("Qty: 2 $19.99", Some("19.99"), Some("USD")),
        ("Qty 3", None, None),
        ("Menge: 5", None, None),
        ("May 2024", None, None),
        ("October, 2023", None, None),
        ("12.5 oz", None, None),
        ("12.5 oz $4.99", Some("4.99"), Some("USD")),
        ("2.5 kg 14,99 €", Some("14.99"), Some("EUR")),
        ("4.5 stars $19.99", Some("19.99"), Some("USD")),
        ("$5 off", None, None),
        ("$5 off $49.99", Some("49.99"), Some("USD")),
        ("1.11000000000000001", Some("1.11000000000000001"), None),
        ("or 4 payments of $7.50 with Afterpay $29.99", Some("29.99"), Some("USD")),
        ("In stock: 5", None, None),
        ("Art.-Nr. 12.345 Preis 19,99 €", Some("19.99"), Some("EUR")),
        ("SKU: 12345 $19.99", Some("19.99"), Some("USD")),
        ("Model 2000", None, None),
    ]);
}

/// Digits of other scripts read as digits.
#[test]
fn full_width_and_arabic_indic_digits() {
    check(&[
        ("１，９８０円", Some("1980"), Some("JPY")),
        ("￥１２，８００（税込）", Some("12800"), Some("JPY")),
        ("٣٥٠ ر.س", Some("350"), Some("SAR")),
        ("١٢٫٥٠ د.إ", Some("12.50"), Some("AED")),
        ("۱۲۰٬۰۰۰ ریال", Some("120000"), Some("IRR")),
    ]);
}
