//! The trace a message continues: a W3C Trace Context (`traceparent`, and `tracestate` when
//! there is one), carried beside a queued message so that one check is one trace from the API
//! request that queued it to the alert it sent (issue 13).
//!
//! It arrives from outside (queue message attributes, HTTP headers), so it is parsed, never
//! trusted: a malformed one is dropped and the message goes on without it. A bad trace header
//! must never cost a check.

use std::fmt;

/// Longest `tracestate` kept (the W3C limit is 32 entries; 512 characters is what the
/// specification asks every vendor to be able to propagate).
const MAX_TRACESTATE_LEN: usize = 512;

/// A parsed W3C Trace Context: which trace a piece of work belongs to and which span caused it.
#[derive(Clone, PartialEq, Eq)]
pub struct TraceContext {
    traceparent: String,
    tracestate: Option<String>,
}

impl TraceContext {
    /// Parses a `traceparent` (`00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`, or a later
    /// version with the same first four fields) and an optional `tracestate`. `None` when the
    /// `traceparent` is malformed or names the invalid (all-zero) trace or span; a malformed
    /// `tracestate` alone is dropped, as the specification says.
    pub fn parse(traceparent: &str, tracestate: Option<&str>) -> Option<Self> {
        let traceparent = traceparent.trim();
        if !valid_traceparent(traceparent) {
            return None;
        }
        let tracestate = tracestate.map(str::trim).filter(|state| valid_tracestate(state)).map(str::to_owned);
        Some(Self { traceparent: traceparent.to_owned(), tracestate })
    }

    /// The `traceparent` header value.
    pub fn traceparent(&self) -> &str {
        &self.traceparent
    }

    /// The `tracestate` header value, if any.
    pub fn tracestate(&self) -> Option<&str> {
        self.tracestate.as_deref()
    }

    /// The trace id: 32 lowercase hex digits.
    pub fn trace_id(&self) -> &str {
        // Checked by `parse`: version, '-', then 32 hex digits.
        &self.traceparent[3..35]
    }
}

impl fmt::Debug for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Vendor state may carry anything; the trace id is what a reader needs.
        f.debug_struct("TraceContext").field("traceparent", &self.traceparent).finish_non_exhaustive()
    }
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn valid_traceparent(value: &str) -> bool {
    let mut fields = value.split('-');
    let (Some(version), Some(trace_id), Some(span_id), Some(flags)) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return false;
    };
    let rest: Vec<&str> = fields.collect();
    let well_formed = version.len() == 2
        && is_lower_hex(version)
        && version != "ff"
        && trace_id.len() == 32
        && is_lower_hex(trace_id)
        && trace_id.bytes().any(|b| b != b'0')
        && span_id.len() == 16
        && is_lower_hex(span_id)
        && span_id.bytes().any(|b| b != b'0')
        && flags.len() == 2
        && is_lower_hex(flags);
    // Version 00 has exactly four fields; a later version may append more, which we ignore.
    well_formed && (rest.is_empty() || version != "00")
}

fn valid_tracestate(value: &str) -> bool {
    !value.is_empty() && value.len() <= MAX_TRACESTATE_LEN && value.bytes().all(|b| (0x20..0x7f).contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_w3c_traceparent_is_kept_with_its_trace_id() {
        let trace = TraceContext::parse(GOOD, Some("congo=t61rcWkgMzE")).expect("valid");
        assert_eq!(trace.traceparent(), GOOD);
        assert_eq!(trace.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(trace.tracestate(), Some("congo=t61rcWkgMzE"));
    }

    #[test]
    fn malformed_or_invalid_traceparents_are_dropped() {
        for bad in [
            "",
            "00",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
        ] {
            assert!(TraceContext::parse(bad, None).is_none(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn a_later_version_may_carry_more_fields() {
        let later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-comes-next";
        assert!(TraceContext::parse(later, None).is_some());
    }

    proptest::proptest! {
        /// Whatever arrives in a message attribute or a header, parsing never panics, and what
        /// it keeps is a well-formed version-00 context or a later version's.
        #[test]
        fn any_input_is_parsed_without_panic(parent in "\\PC{0,80}", state in proptest::option::of("\\PC{0,600}")) {
            if let Some(trace) = TraceContext::parse(&parent, state.as_deref()) {
                proptest::prop_assert_eq!(trace.trace_id().len(), 32);
                proptest::prop_assert!(trace.tracestate().is_none_or(|s| s.len() <= MAX_TRACESTATE_LEN));
            }
        }

        /// Every valid version-00 context is kept as sent, with its trace id.
        #[test]
        fn valid_contexts_are_kept(trace_id in "[0-9a-f]{32}", span_id in "[0-9a-f]{16}", flags in "[0-9a-f]{2}") {
            proptest::prop_assume!(trace_id.bytes().any(|b| b != b'0') && span_id.bytes().any(|b| b != b'0'));
            let parent = format!("00-{trace_id}-{span_id}-{flags}");
            let trace = TraceContext::parse(&parent, None);
            proptest::prop_assert!(trace.is_some(), "{} refused", parent);
            let trace = trace.expect("checked");
            proptest::prop_assert_eq!(trace.traceparent(), parent.as_str());
            proptest::prop_assert_eq!(trace.trace_id(), trace_id.as_str());
        }
    }

    #[test]
    fn a_bad_tracestate_is_dropped_but_the_trace_kept() {
        let long = "a=".to_owned() + &"b".repeat(600);
        for bad in ["", "caf\u{e9}=1", "a=1\nb=2", long.as_str()] {
            let trace = TraceContext::parse(GOOD, Some(bad)).expect("the traceparent is good");
            assert_eq!(trace.tracestate(), None, "{bad:?} must be dropped");
        }
    }
}
