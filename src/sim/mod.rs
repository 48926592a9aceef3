//! The Luna Node API simulator: an HTTP server with state, lifecycles, faults and counters.

pub mod cli;
