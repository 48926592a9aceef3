//! The Luna Node Dynamic API client: signing, transport, retries, rate limiting, error classes
//! and typed actions.

pub mod actions;
pub mod cli;
pub mod sign;
