//! pricetrack-api (work in progress).
