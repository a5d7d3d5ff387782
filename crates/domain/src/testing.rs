//! Contract suites, one per port. An adapter crate runs them from its tests; see the macros.
