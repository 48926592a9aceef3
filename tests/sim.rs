//! The simulator over HTTP: signing and nonce checks, PHP-style encoding, lifecycles on the
//! simulated clock, consistency between related objects, every action of the catalog, fault
//! injection seen at the HTTP level, malformed input, counters and account isolation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/sim_process.rs"]
mod sim_process;

#[path = "sim/admin.rs"]
mod admin;
#[path = "sim/catalog.rs"]
mod catalog;
#[path = "sim/objects.rs"]
mod objects;
#[path = "sim/wire.rs"]
mod wire;

use std::{
    collections::{BTreeMap, HashSet},
    time::{Duration, Instant},
};

use lunanode_operator::{
    lunanode::{actions::ACTIONS, sign},
    sim::SimConfig,
};
use serde_json::{Value, json};
use sim_process::{API_ID, InProcess, SignedClient, SimProcess, api_key, config, nonce};

const AUTH_FAILURE: &str = "authentication failure; common reasons: bad nonce (computer time off), source IP mismatch, invalid API id/key";

async fn start() -> InProcess {
    InProcess::start(config()).await
}

/// Creates a VM and returns its ID.
async fn create_vm(client: &SignedClient, hostname: &str) -> String {
    let answer = client
        .ok(
            "vm",
            "create",
            &[
                ("hostname", hostname),
                ("plan_id", "m.1"),
                ("image_id", "1001"),
            ],
        )
        .await;
    answer["vm_id"].as_str().unwrap().to_owned()
}

/// Fetches an own image into Toronto (`image fetch`) with `extra` parameters; returns its ID.
async fn fetch_image(client: &SignedClient, name: &str, extra: &[(&str, &str)]) -> String {
    let mut params = vec![
        ("region", "toronto"),
        ("name", name),
        ("location", "https://images.example.com/a.qcow2"),
        ("format", "qcow2"),
    ];
    params.extend_from_slice(extra);
    client.ok("image", "fetch", &params).await["image_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn vm_info(client: &SignedClient, vm_id: &str) -> Value {
    client.ok("vm", "info", &[("vm_id", vm_id)]).await
}
