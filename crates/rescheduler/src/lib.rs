//! pricetrack-rescheduler (work in progress).
