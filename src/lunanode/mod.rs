//! The Luna Node Dynamic API client: signing, transport, retries, rate limiting, error classes
//! and typed actions.
//!
//! - [`Client::request`] calls any action of the [`actions`] catalog and returns the JSON;
//!   [`types`] adds typed requests, responses and methods (`client.vm_list()`, ...) for what the
//!   operator manages.
//! - [`Error`] classifies failures (API refusal, auth, throttled, transient, decode); the caller
//!   decides what to do from the class.
//! - [`decode`] holds the lenient decoders for the PHP server's quirks.
//! - [`cli`] is the `lunanode-operator api` command.

pub mod actions;
pub mod cli;
mod client;
mod config;
mod credentials;
pub mod decode;
mod error;
pub mod response;
pub mod sign;
mod transport;
pub mod types;

#[cfg(test)]
mod decode_tests;
#[cfg(test)]
mod retry_tests;
#[cfg(test)]
mod test_server;
#[cfg(test)]
mod transport_tests;

pub use client::{Client, Planned, PlannedCall, check_parameters, decode_response, should_retry};
pub use config::{
    Attempt, ClientConfig, DEFAULT_ENDPOINT, MAX_RESPONSE_BYTES, Observer, RetryPolicy,
};
pub use credentials::Credentials;
pub use error::{Error, SNIPPET_LEN, decode_reason};
pub use transport::NonceCounter;

/// The body of a hand-written `Debug` impl: `$name`'s fields in the order listed, each shown
/// as itself or, written `field: expr`, as `expr` instead (a secret redacted, a list reduced to
/// its names).
///
/// ```ignore
/// debug_fields!(f, self, "Args" { endpoint, api_key: "[redacted]" })
/// ```
macro_rules! debug_fields {
    (@shown $this:ident, $field:ident) => {
        &$this.$field
    };
    (@shown $this:ident, $field:ident, $shown:expr) => {
        &$shown
    };
    ($f:expr, $this:ident, $name:literal { $($field:ident $(: $shown:expr)?),* $(,)? }) => {
        $f.debug_struct($name)
            $(.field(
                stringify!($field),
                $crate::lunanode::debug_fields!(@shown $this, $field $(, $shown)?),
            ))*
            .finish()
    };
}

pub(crate) use debug_fields;
