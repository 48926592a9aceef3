//! The secrets grep: everything the operator shows to the outside world (its logs, the Events
//! of both APIs, its objects with their status, `/metrics`), and where any secret — or any 32
//! characters of one, or as many as a test asks — appears in it.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use k8s_openapi::api::{
    core::v1::{Event as CoreEvent, Secret},
    events::v1::Event,
};
use kube::{
    Api, Client,
    api::{ApiResource, DynamicObject, ListParams},
};

use super::processes::Operator;

/// One thing the operator shows.
pub struct Shown {
    /// Where it is shown.
    pub what: String,
    /// What it says.
    pub text: String,
}

impl Shown {
    /// `text`, shown in `what`.
    pub fn new(what: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            text: text.into(),
        }
    }
}

/// Everything the operator shows: its logs, the Events (both APIs) and every object of
/// `resources` (status included) in `namespaces`, and its `/metrics` text.
pub async fn shown_by_operator(
    client: &Client,
    namespaces: &[String],
    resources: &[ApiResource],
    operator: &Operator,
) -> Vec<Shown> {
    let mut shown = vec![Shown::new("operator logs", operator.logs())];
    for namespace in namespaces {
        let events: Api<Event> = Api::namespaced(client.clone(), namespace);
        let list = events.list(&ListParams::default()).await.unwrap();
        shown.push(Shown::new(
            format!("events.k8s.io Events in {namespace}"),
            serde_json::to_string(&list.items).unwrap(),
        ));
        let core: Api<CoreEvent> = Api::namespaced(client.clone(), namespace);
        let list = core.list(&ListParams::default()).await.unwrap();
        shown.push(Shown::new(
            format!("core Events in {namespace}"),
            serde_json::to_string(&list.items).unwrap(),
        ));
        for resource in resources {
            let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, resource);
            let list = api.list(&ListParams::default()).await.unwrap();
            shown.push(Shown::new(
                format!("{} objects in {namespace}", resource.kind),
                serde_json::to_string(&list.items).unwrap(),
            ));
        }
    }
    let address = operator.metrics_address().await;
    let metrics = reqwest::get(format!("http://{address}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    shown.push(Shown::new("/metrics", metrics));
    shown
}

/// How many consecutive characters of a secret [`find_secrets`] counts as a leak of it.
pub const WINDOW: usize = 32;

/// Where any secret (labelled), or any [`WINDOW`] characters of one, shows; empty when nowhere.
pub fn find_secrets(shown: &[Shown], secrets: &[(String, String)]) -> Vec<String> {
    find_secrets_with_window(shown, secrets, WINDOW)
}

/// Where any secret (labelled), or any `window` characters of one, shows; empty when nowhere.
pub fn find_secrets_with_window(
    shown: &[Shown],
    secrets: &[(String, String)],
    window: usize,
) -> Vec<String> {
    assert!(window > 0, "a window of at least one character");
    let mut found = Vec::new();
    for (label, secret) in secrets {
        let chars: Vec<char> = secret.chars().collect();
        let needles: BTreeSet<String> = if chars.len() > window {
            (0..=chars.len() - window)
                .map(|start| chars[start..start + window].iter().collect())
                .collect()
        } else {
            BTreeSet::from([secret.clone()])
        };
        for place in shown {
            if let Some(needle) = needles
                .iter()
                .find(|needle| place.text.contains(needle.as_str()))
            {
                found.push(format!("{label} shows in {} ({needle:?})", place.what));
            }
        }
    }
    found
}

/// The passwords in the Secrets (connection Secrets) of `namespaces`.
pub async fn connection_passwords(client: &Client, namespaces: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    for namespace in namespaces {
        let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
        for secret in secrets.list(&ListParams::default()).await.unwrap() {
            if let Some(password) = secret.data.as_ref().and_then(|data| data.get("password")) {
                found.push(String::from_utf8_lossy(&password.0).into_owned());
            }
        }
    }
    found
}
