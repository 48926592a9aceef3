//! Writing what a reconcile found: status (only when it changed) and Events.

use kube::{
    Api, Resource, ResourceExt,
    api::PostParams,
    runtime::events::{Event, EventType, Recorder},
};
use serde::{Serialize, de::DeserializeOwned};

use super::{error::Error, reason::Reason};

/// Writes `status` unless it equals what the object already has; returns the updated object
/// when a write happened (later writes in the same reconcile must start from it). The write replaces the whole status and is conditional on the object's
/// `resourceVersion`: a reconcile working from a stale copy gets a conflict (and retries with
/// the fresh object) instead of overwriting newer status — the cloud ID above all.
pub async fn write_status<K, S>(
    api: &Api<K>,
    object: &K,
    current: Option<&S>,
    status: &S,
) -> Result<Option<K>, Error>
where
    K: Resource<DynamicType = ()> + Clone + Serialize + DeserializeOwned + std::fmt::Debug,
    S: Serialize + PartialEq,
{
    if current == Some(status) {
        return Ok(None);
    }
    let failed = Error::kube("write status", key(object));
    let mut body = serde_json::to_value(object).map_err(|e| failed(kube::Error::SerdeError(e)))?;
    body["status"] =
        serde_json::to_value(status).map_err(|e| failed(kube::Error::SerdeError(e)))?;
    let updated: K =
        serde_json::from_value(body).map_err(|e| failed(kube::Error::SerdeError(e)))?;
    let written = api
        .replace_status(&object.name_any(), &PostParams::default(), &updated)
        .await
        .map_err(failed)?;
    Ok(Some(written))
}

/// Publishes an Event about `object`. Failing to publish is logged, never fatal: an Event is a
/// courtesy to the user, not part of the cloud's state.
pub async fn event<K>(
    recorder: &Recorder,
    object: &K,
    warning: bool,
    reason: &str,
    action: &str,
    note: String,
) where
    K: Resource<DynamicType = ()>,
{
    let mut note = note;
    if note.len() > 1000 {
        let mut cut = 1000;
        while !note.is_char_boundary(cut) {
            cut -= 1;
        }
        note.truncate(cut);
    }
    let event = Event {
        type_: if warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: reason.into(),
        note: Some(note),
        action: action.into(),
        secondary: None,
    };
    if let Err(error) = recorder.publish(&event, &object.object_ref(&())).await {
        tracing::warn!(%error, reason, "unable to publish an event");
    }
}

/// Publishes a Warning Event about `object` whose reason is the condition reason `reason`.
pub async fn warn<K>(recorder: &Recorder, object: &K, reason: Reason, action: &str, note: String)
where
    K: Resource<DynamicType = ()>,
{
    event(recorder, object, true, reason.as_str(), action, note).await;
}

/// `namespace/name` of an object, for logs and errors.
pub fn key<K: Resource>(object: &K) -> String {
    format!(
        "{}/{}",
        object.meta().namespace.as_deref().unwrap_or_default(),
        object.meta().name.as_deref().unwrap_or_default()
    )
}
