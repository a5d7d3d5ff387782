//! `extract_offer`, `price_candidates` and `extract_with_selector` never panic, and an `Ok` offer
//! has a positive price, or (from `extract_offer` only) no price and `out_of_stock`; every
//! disagreeing source has a positive price of its own; the first candidate is the offer's price.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rust_decimal::Decimal;

const URLS: &[&str] = &[
    "https://shop.example/product",
    "https://www.amazon.es/dp/B000000001",
    "https://www.amazon.com/dp/B000000002",
    "https://www.pccomponentes.com/producto",
];

fuzz_target!(|data: &[u8]| {
    // The first byte picks the page URL (or none) and whether a selector is tried.
    let Some((&choice, rest)) = data.split_first() else { return };
    let html = String::from_utf8_lossy(rest);
    let url = URLS.get(usize::from(choice % 5)).and_then(|u| url::Url::parse(u).ok());
    let checked = |result: Result<pricetrack_extract::Offer, pricetrack_extract::ExtractError>, may_be_unpriced| {
        let Ok(offer) = result else { return };
        match offer.price {
            Some(price) => assert!(price.amount > Decimal::ZERO, "{offer:?}"),
            None => assert!(
                may_be_unpriced && offer.availability.map(|a| a.as_str()) == Some("out_of_stock"),
                "an Ok offer without a price must be out of stock: {offer:?}"
            ),
        }
        for other in &offer.disagreements {
            assert!(other.price.amount > Decimal::ZERO, "{offer:?}");
            assert!(offer.price.is_some(), "disagreements need a price: {offer:?}");
        }
    };
    let offer = pricetrack_extract::extract_offer(&html, url.as_ref());
    if let (Ok(Some(price)), Ok(candidates)) = (
        offer.as_ref().map(|o| o.price),
        pricetrack_extract::price_candidates(&html, url.as_ref()),
    ) {
        assert_eq!(candidates.first().map(|c| c.price.amount), Some(price.amount), "{offer:?}");
    }
    checked(offer, true);
    if choice & 0x80 != 0 {
        checked(pricetrack_extract::extract_with_selector(&html, "[itemprop=price], .price, #price"), false);
    }
});
