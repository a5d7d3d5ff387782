//! pricetrack-scraper (work in progress).
