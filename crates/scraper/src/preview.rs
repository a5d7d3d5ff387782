//! The page preview (`POST /api/v1/preview`) over the checks' own reader: the page is fetched
//! once exactly as a check fetches it (address guard, politeness, User-Agent, limits, and the
//! browser fallback when the reader has one), then every candidate price is listed.

use std::sync::Arc;

use async_trait::async_trait;
use pricetrack_domain::preview::{PagePreview, PagePreviewer, PreviewCandidate, PreviewFailed};
use pricetrack_domain::{CheckOutcome, ProductUrl};

use crate::PageReader;

/// Previews pages through a [`PageReader`].
pub struct ReaderPreviewer {
    reader: Arc<PageReader>,
}

impl ReaderPreviewer {
    /// A previewer over the checks' reader.
    pub fn new(reader: PageReader) -> Self {
        Self { reader: Arc::new(reader) }
    }
}

#[async_trait]
impl PagePreviewer for ReaderPreviewer {
    async fn preview(&self, url: &ProductUrl) -> Result<PagePreview, PreviewFailed> {
        let read = self.reader.read(url, None).await;
        let page = match (read.page, &read.outcome) {
            (Some(page), _) => page,
            (None, CheckOutcome::Failed(failure)) => return Err(PreviewFailed(failure.to_string())),
            (None, _) => return Err(PreviewFailed("no page was read".to_owned())),
        };
        let offer = read.offer;
        let body = page.body;
        let final_url = page.final_url;
        // HTML parsing is CPU work: off the async worker threads.
        let candidates =
            tokio::task::spawn_blocking(move || pricetrack_extract::price_candidates(&body, Some(&final_url)))
                .await
                .map_err(|_| PreviewFailed("reading the page failed".to_owned()))?
                .map_err(|e| PreviewFailed(e.to_string()))?;
        if candidates.is_empty()
            && let CheckOutcome::Failed(failure) = &read.outcome
        {
            return Err(PreviewFailed(failure.to_string()));
        }
        let price = offer.as_ref().and_then(|o| o.price);
        Ok(PagePreview {
            title: offer.as_ref().and_then(|o| o.title.clone()),
            price: price.map(|p| p.amount.to_string()),
            currency: price.and_then(|p| p.currency).map(|c| c.to_string()),
            availability: offer.as_ref().and_then(|o| o.availability).map(|a| a.as_str().to_owned()),
            candidates: candidates
                .iter()
                .map(|c| PreviewCandidate {
                    price: c.price.amount.to_string(),
                    currency: c.price.currency.map(|c| c.to_string()),
                    source: c.source.as_str().to_owned(),
                    selector: c.selector.clone(),
                    context: c.context.clone(),
                    excluded: c.excluded.map(str::to_owned),
                })
                .collect(),
        })
    }
}
