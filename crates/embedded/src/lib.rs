//! pricetrack-embedded (work in progress).
