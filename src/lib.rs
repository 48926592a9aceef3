//! lunanode-operator: a Kubernetes operator for the Luna Node cloud, with a complete API client
//! (and CLI) and a local simulator of the API.
//!
//! - [`lunanode`]: the API client (signing, transport, retries, error classes, typed actions).
//! - [`sim`]: the simulator, an HTTP server with state, lifecycles, faults and counters.
//! - [`api`]: the custom resource types of the `lunanode.com` group.
//! - [`controller`]: one controller per kind and the machinery they share.
//! - [`telemetry`]: logging, metrics and health endpoints.

pub mod api;
pub mod controller;
pub mod export;
pub mod kubectl;
pub mod lunanode;
pub mod sim;
pub mod telemetry;
