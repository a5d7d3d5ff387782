//! `TraceContext::parse` (a W3C `traceparent` and `tracestate` from a queue message's attributes
//! or a request header) never panics, and what it keeps is well formed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pricetrack_domain::TraceContext;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // The first line is the traceparent, the rest (if any) the tracestate.
    let (parent, state) = match text.split_once('\n') {
        Some((parent, state)) => (parent, Some(state)),
        None => (text.as_ref(), None),
    };
    if let Some(trace) = TraceContext::parse(parent, state) {
        let id = trace.trace_id();
        assert_eq!(id.len(), 32, "{parent:?}");
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{parent:?}");
        assert!(trace.tracestate().is_none_or(|s| s.len() <= 512 && !s.contains('\n')), "{state:?}");
        // What was kept parses again to itself.
        assert_eq!(TraceContext::parse(trace.traceparent(), trace.tracestate()).as_ref(), Some(&trace));
    }
});
