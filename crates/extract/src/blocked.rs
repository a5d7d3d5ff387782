//! Pages a shop shows instead of the product to a client it takes for a robot: captchas and bot
//! walls. Such a page has no price because the shop did not show the page, which is not the
//! same as a page without a price.

use serde::Serialize;

/// Which kind of robot check a shop showed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BlockKind {
    /// Amazon's "Robot Check" / "Enter the characters you see below" page.
    AmazonRobotCheck,
    /// A Cloudflare challenge ("Just a moment...", "Attention Required!").
    Cloudflare,
    /// Akamai's "Access Denied" page or its bot-manager challenge.
    Akamai,
    /// A DataDome captcha.
    DataDome,
    /// A PerimeterX / HUMAN "Press & Hold" challenge.
    PerimeterX,
    /// Any other captcha standing in for the page.
    Captcha,
}

impl BlockKind {
    /// The kind's name, e.g. `cloudflare`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::AmazonRobotCheck => "amazon-robot-check",
            Self::Cloudflare => "cloudflare",
            Self::Akamai => "akamai",
            Self::DataDome => "datadome",
            Self::PerimeterX => "perimeterx",
            Self::Captcha => "captcha",
        }
    }
}

impl std::fmt::Display for BlockKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Only the start of a page is looked at: bot walls are small pages, and their tell-tale marks
/// sit in the head and the first screen.
const LOOK_AT: usize = 64 * 1024;

/// Says whether `html` is a robot check rather than the page asked for.
///
/// Only call it on a page where no price was found: a product page with a newsletter captcha is
/// still a product page.
pub fn detect_block(html: &str) -> Option<BlockKind> {
    let mut end = html.len().min(LOOK_AT);
    while !html.is_char_boundary(end) {
        end -= 1;
    }
    let head = html[..end].to_lowercase();
    let has = |needle: &str| head.contains(needle);
    let title = head
        .split_once("<title")
        .and_then(|(_, rest)| rest.split_once('>'))
        .and_then(|(_, rest)| rest.split_once("</title>"))
        .map(|(title, _)| title.trim().to_owned())
        .unwrap_or_default();

    if has("/errors/validatecaptcha")
        || (title.contains("robot check") && has("amazon"))
        || has("type the characters you see in this image")
        || has("enter the characters you see below")
    {
        return Some(BlockKind::AmazonRobotCheck);
    }
    if has("cdn-cgi/challenge-platform")
        || has("cf-browser-verification")
        || has("cf_chl_opt")
        || has("id=\"challenge-form\"")
        || title == "just a moment..."
        || title.starts_with("attention required! | cloudflare")
    {
        return Some(BlockKind::Cloudflare);
    }
    if has("captcha-delivery.com") || (has("datadome") && has("captcha")) {
        return Some(BlockKind::DataDome);
    }
    if has("px-captcha") || has("_pxcaptcha") || (has("perimeterx") && has("press & hold")) {
        return Some(BlockKind::PerimeterX);
    }
    if (title == "access denied" && (has("edgesuite.net") || has("reference #") || has("reference&#32;&#35;")))
        || has("sec-if-cpt-container")
        || has("akamai bot manager")
    {
        return Some(BlockKind::Akamai);
    }
    let captcha_widget = has("g-recaptcha") || has("h-captcha") || has("hcaptcha.com") || has("recaptcha/api.js");
    let captcha_words =
        ["captcha", "are you a robot", "are you human", "verify you are human", "unusual traffic", "bot protection"];
    if (captcha_widget
        && (title.contains("captcha") || title.contains("robot") || title.contains("verif") || html.len() < 30_000))
        || (html.len() < 30_000 && captcha_words.iter().filter(|w| head.contains(*w)).count() >= 2)
    {
        return Some(BlockKind::Captcha);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_product_page_is_not_blocked() {
        assert_eq!(
            detect_block("<html><head><title>Kettle</title></head><body><h1>Kettle</h1>19,99 €</body></html>"),
            None
        );
        assert_eq!(detect_block(""), None);
        assert_eq!(detect_block("<title>"), None);
    }
}
