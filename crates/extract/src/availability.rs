//! Availability words: schema.org values and the text shops show.

use pricetrack_domain::Availability;

/// Reads a schema.org `ItemAvailability` (`https://schema.org/InStock`, `http://schema.org/
/// OutOfStock`, `InStock`, `schema:PreOrder`) or an Open Graph / Facebook catalog value
/// (`instock`, `in stock`, `oos`, `preorder`, `available for order`).
///
/// `BackOrder`, `PreSale` and `MadeToOrder` map to [`Availability::PreOrder`] (can be ordered now,
/// ships later); `LimitedAvailability` and `OnlineOnly` to [`Availability::InStock`];
/// `SoldOut`, `Discontinued` and `Reserved` to [`Availability::OutOfStock`]. `InStoreOnly` and
/// unknown values give `None`.
pub(crate) fn from_schema(raw: &str) -> Option<Availability> {
    let trimmed = raw.trim().trim_end_matches('/');
    let last = trimmed.rsplit(['/', '#', ':']).next().unwrap_or(trimmed);
    let key: String = last.chars().filter(char::is_ascii_alphanumeric).collect::<String>().to_ascii_lowercase();
    match key.as_str() {
        "instock" | "limitedavailability" | "onlineonly" | "available" | "instockonline" => Some(Availability::InStock),
        "outofstock" | "soldout" | "discontinued" | "reserved" | "oos" | "unavailable" => {
            Some(Availability::OutOfStock)
        }
        "preorder" | "presale" | "backorder" | "madetoorder" | "availablefororder" | "pending" => {
            Some(Availability::PreOrder)
        }
        _ => None,
    }
}

/// Phrases that say a product cannot be bought now. Checked before the positive ones, as several
/// contain them (`no disponible`, `nicht auf Lager`).
const OUT_OF_STOCK: &[&str] = &[
    "currently unavailable",
    "out of stock",
    "sold out",
    "unavailable",
    "no disponible",
    "agotado",
    "sin stock",
    "sin existencias",
    "no está disponible",
    "nicht verfügbar",
    "nicht auf lager",
    "ausverkauft",
    "indisponible",
    "épuisé",
    "rupture de stock",
    "non disponibile",
    "esaurito",
    "niet op voorraad",
    "uitverkocht",
    "niet leverbaar",
    "indisponível",
    "esgotado",
    "niedostępny",
    "brak w magazynie",
    "slutsåld",
    "ej i lager",
    "在庫切れ",
];

/// Phrases that say a product can be ordered now but ships later.
const PRE_ORDER: &[&str] = &[
    "pre-order",
    "preorder",
    "pre order",
    "reserva",
    "vorbestell",
    "précommande",
    "pré-commande",
    "preordina",
    "pre-ordine",
    "pré-venda",
    "pre-venta",
    "preventa",
    "予約",
];

/// Phrases that say a product can be bought now.
const IN_STOCK: &[&str] = &[
    "in stock",
    "en stock",
    "auf lager",
    "sofort lieferbar",
    "lieferbar",
    "disponible",
    "disponibile",
    "disponível",
    "op voorraad",
    "na magazynie",
    "dostępny",
    "i lager",
    "på lager",
    "en existencia",
    "available",
    "only ",
    "在庫あり",
];

/// Reads the availability line shops show (`In stock`, `Currently unavailable.`,
/// `No disponible.`, `Auf Lager`, `Disponible`...), in English, Spanish, German, French,
/// Italian, Dutch, Portuguese, Polish, Swedish and Japanese.
pub(crate) fn from_text(raw: &str) -> Option<Availability> {
    let text = raw.to_lowercase();
    if text.trim().is_empty() {
        return None;
    }
    if OUT_OF_STOCK.iter().any(|p| text.contains(p)) {
        return Some(Availability::OutOfStock);
    }
    if PRE_ORDER.iter().any(|p| text.contains(p)) {
        return Some(Availability::PreOrder);
    }
    if IN_STOCK.iter().any(|p| text.contains(p)) {
        return Some(Availability::InStock);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_values() {
        assert_eq!(from_schema("https://schema.org/InStock"), Some(Availability::InStock));
        assert_eq!(from_schema("http://schema.org/OutOfStock"), Some(Availability::OutOfStock));
        assert_eq!(from_schema("InStock"), Some(Availability::InStock));
        assert_eq!(from_schema("schema:PreOrder"), Some(Availability::PreOrder));
        assert_eq!(from_schema("BackOrder"), Some(Availability::PreOrder));
        assert_eq!(from_schema("in stock"), Some(Availability::InStock));
        assert_eq!(from_schema("https://schema.org/InStoreOnly"), None);
        assert_eq!(from_schema(""), None);
    }

    #[test]
    fn shop_text() {
        assert_eq!(from_text(" In stock. "), Some(Availability::InStock));
        assert_eq!(from_text("Only 3 left in stock - order soon."), Some(Availability::InStock));
        assert_eq!(from_text("Currently unavailable."), Some(Availability::OutOfStock));
        assert_eq!(from_text("No disponible."), Some(Availability::OutOfStock));
        assert_eq!(from_text("Disponible."), Some(Availability::InStock));
        assert_eq!(from_text("Derzeit nicht verfügbar."), Some(Availability::OutOfStock));
        assert_eq!(from_text("Auf Lager."), Some(Availability::InStock));
        assert_eq!(from_text("Pre-order now"), Some(Availability::PreOrder));
        assert_eq!(from_text("Ships soon"), None);
    }
}
