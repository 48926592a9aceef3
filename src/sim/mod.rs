//! The Luna Node API simulator: a stateful HTTP server that answers like the real Dynamic API,
//! with lifecycles on an injectable clock, fault injection, counters and a state dump.
//!
//! Start it in-process with [`Simulator::new`] and [`serve`] (or [`serve_with_shutdown`]), or
//! as a process with `lunanode-operator sim` ([`cli`]). The wire format follows the project's
//! API reference; where the reference is silent, the shapes chosen here are listed in
//! `docs/simulator.md`.
//!
//! Where things live:
//! - `server` routes HTTP, `auth` checks signatures and nonces, `admin` serves `/_sim/`;
//! - `simulator` holds the shared state, `state` the per-account objects and allocators,
//!   `clock` the simulated time, `faults` and `stats` the test knobs and counters,
//!   `list_faults` where the entries of each list answer are;
//! - `dispatch` maps `category/action` to one file per area (`vm`, `volume`, `image`, ...);
//! - `encode` writes responses the way the PHP server does.

mod admin;
mod auth;
mod call;
mod catalog;
pub mod cli;
mod clock;
mod config;
mod dispatch;
mod dns;
mod email;
mod encode;
mod faults;
mod floating;
mod image;
mod lb;
mod list_faults;
mod misc;
mod monitor;
mod network;
mod securitygroup;
mod server;
mod simulator;
mod state;
mod stats;
mod vm;
mod vm_misc;
mod vm_net;
mod vm_status;
mod volume;

pub use config::{SimConfig, Timing};
pub use faults::{Faults, FaultsError, ThrottleBurst};
pub use server::{MAX_BODY_BYTES, router, serve, serve_with_shutdown};
pub use simulator::Simulator;
