//! Waiting for an object: until a predicate holds on it, until it is Ready for its current
//! generation, until it has a condition, until it is gone; and for anything else to come true
//! ([`eventually`]). A timeout panics with what was awaited and, for an object, how it was last
//! seen (its generation, observed generation and conditions). All of them poll through [`poll`].
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::{
    fmt::Debug,
    time::{Duration, Instant},
};

use k8s_openapi::api::events::v1::Event;
use kube::{Api, Resource, api::ListParams};
use lunanode_operator::api::common::{Condition, is_condition_true};
use serde::{Serialize, de::DeserializeOwned};

/// How long the end-to-end tests wait for the operator by default.
pub const WAIT: Duration = Duration::from_secs(120);

/// What the wait helpers need of a kind.
pub trait Object:
    Resource<DynamicType = ()> + Clone + Debug + Serialize + DeserializeOwned + Send + Sync + 'static
{
}

impl<K> Object for K where
    K: Resource<DynamicType = ()>
        + Clone
        + Debug
        + Serialize
        + DeserializeOwned
        + Send
        + Sync
        + 'static
{
}

/// `status.conditions` of any object (none when it has no status yet).
pub fn conditions<K: Serialize>(object: &K) -> Vec<Condition> {
    serde_json::to_value(object)
        .ok()
        .and_then(|value| value.pointer("/status/conditions").cloned())
        .and_then(|conditions| serde_json::from_value(conditions).ok())
        .unwrap_or_default()
}

/// The condition of type `type_`, if the object has one.
pub fn condition<K: Serialize>(object: &K, type_: &str) -> Option<Condition> {
    conditions(object).into_iter().find(|c| c.type_ == type_)
}

/// `status.observedGeneration`.
pub fn observed_generation<K: Serialize>(object: &K) -> Option<i64> {
    serde_json::to_value(object)
        .ok()?
        .pointer("/status/observedGeneration")?
        .as_i64()
}

/// Whether the operator has seen the object's current generation.
pub fn generation_observed<K: Resource + Serialize>(object: &K) -> bool {
    observed_generation(object) == object.meta().generation
}

/// Ready, for the current generation.
pub fn is_ready<K: Resource + Serialize>(object: &K) -> bool {
    is_condition_true(&conditions(object), "Ready") && generation_observed(object)
}

/// Whether the object carries `finalizer`.
pub fn has_finalizer<K: Resource>(object: &K, finalizer: &str) -> bool {
    object
        .meta()
        .finalizers
        .iter()
        .flatten()
        .any(|f| f == finalizer)
}

/// A short form of the object's state, for failure messages: generation, observed generation
/// and every condition.
pub fn describe<K: Resource + Serialize>(object: &K) -> String {
    let conditions = conditions(object);
    let conditions = if conditions.is_empty() {
        "no conditions".to_owned()
    } else {
        conditions
            .iter()
            .map(|c| format!("{}={} {}: {}", c.type_, c.status, c.reason, c.message))
            .collect::<Vec<_>>()
            .join("; ")
    };
    format!(
        "generation {:?}, observedGeneration {:?}, {conditions}",
        object.meta().generation,
        observed_generation(object),
    )
}

/// Calls `attempt` every `interval` until it gives `Ok`, and returns that value. Once `timeout`
/// has passed, gives the last `Err` instead: what was seen, for the caller's failure message.
/// Every wait helper polls through this.
pub async fn poll<T, E>(
    timeout: Duration,
    interval: Duration,
    mut attempt: impl AsyncFnMut() -> Result<T, E>,
) -> Result<T, E> {
    let deadline = Instant::now() + timeout;
    loop {
        match attempt().await {
            Ok(value) => return Ok(value),
            Err(last) if Instant::now() >= deadline => return Err(last),
            Err(_) => tokio::time::sleep(interval).await,
        }
    }
}

/// Polls `check` every 100 ms until it returns `Some` or `timeout` passes.
pub async fn eventually<T, F, Fut>(timeout: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    poll(timeout, Duration::from_millis(100), async || {
        check().await.ok_or(())
    })
    .await
    .unwrap_or_else(|()| panic!("timed out waiting for {what}"))
}

/// Polls `name` every 100 ms until `check` holds on it, and returns it. After `timeout`,
/// panics with `what` and the object as last seen.
pub async fn until<K: Object>(
    api: &Api<K>,
    name: &str,
    what: &str,
    timeout: Duration,
    mut check: impl FnMut(&K) -> bool,
) -> K {
    poll(timeout, Duration::from_millis(100), async || {
        match api.get_opt(name).await {
            Ok(Some(object)) => {
                if check(&object) {
                    Ok(object)
                } else {
                    Err(describe(&object))
                }
            }
            Ok(None) => Err("not found".to_owned()),
            Err(error) => Err(format!("get failed: {error}")),
        }
    })
    .await
    .unwrap_or_else(|last| {
        panic!(
            "timed out after {timeout:?} waiting for {} {name}: {what}\n  last seen: {last}",
            K::kind(&())
        )
    })
}

/// Waits until `name` is Ready for its current generation.
pub async fn ready<K: Object>(api: &Api<K>, name: &str, timeout: Duration) -> K {
    until(api, name, "Ready", timeout, is_ready).await
}

/// Waits until `name` has a condition for which `check` holds, and returns that condition.
pub async fn condition_where<K: Object>(
    api: &Api<K>,
    name: &str,
    what: &str,
    timeout: Duration,
    check: impl Fn(&Condition) -> bool,
) -> Condition {
    let object = until(api, name, what, timeout, |object| {
        conditions(object).iter().any(&check)
    })
    .await;
    conditions(&object).into_iter().find(check).unwrap()
}

/// Waits until `name` no longer exists.
pub async fn gone<K: Object>(api: &Api<K>, name: &str, timeout: Duration) {
    poll(timeout, Duration::from_millis(100), async || {
        match api.get_opt(name).await {
            Ok(None) => Ok(()),
            Ok(Some(object)) => Err(format!(
                "still there (deletionTimestamp {:?}, finalizers {:?}), {}",
                object.meta().deletion_timestamp.as_ref().map(|t| &t.0),
                object.meta().finalizers,
                describe(&object)
            )),
            Err(error) => Err(format!("get failed: {error}")),
        }
    })
    .await
    .unwrap_or_else(|last| {
        panic!(
            "timed out after {timeout:?} waiting for {} {name} to be gone\n  last seen: {last}",
            K::kind(&())
        )
    });
}

/// The Events (events.k8s.io) of `api` about the object `name`, oldest first.
pub async fn events_about(api: &Api<Event>, name: &str) -> Vec<Event> {
    let mut events: Vec<Event> = api
        .list(&ListParams::default())
        .await
        .expect("list Events")
        .items
        .into_iter()
        .filter(|event| event.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
        .collect();
    events.sort_by_key(|event| event.metadata.creation_timestamp.clone().map(|t| t.0));
    events
}

/// Waits until an Event about the object `name` matches `check`, and returns it. After
/// `timeout`, panics with `what` and the Events about the object.
pub async fn event(
    api: &Api<Event>,
    name: &str,
    what: &str,
    timeout: Duration,
    check: impl Fn(&Event) -> bool,
) -> Event {
    poll(timeout, Duration::from_millis(200), async || {
        let events = events_about(api, name).await;
        if let Some(event) = events.iter().find(|event| check(event)) {
            return Ok(event.clone());
        }
        let seen: Vec<String> = events
            .iter()
            .map(|event| {
                format!(
                    "{} {} ({}): {}",
                    event.type_.as_deref().unwrap_or("?"),
                    event.reason.as_deref().unwrap_or("?"),
                    event.reporting_controller.as_deref().unwrap_or("?"),
                    event.note.as_deref().unwrap_or("")
                )
            })
            .collect();
        Err(seen)
    })
    .await
    .unwrap_or_else(|seen| {
        panic!(
            "timed out after {timeout:?} waiting for an Event about {name}: {what}\n  its Events: {seen:#?}"
        )
    })
}
