//! The LunaStartupScript controller: create, adopt, update in place and delete boot scripts.
//! The content comes from the spec or from a key of a Secret or ConfigMap, read again on every look (after a
//! change of the object, and every slow poll), and compared with Luna Node's by its SHA-256: the
//! content is never held in the status, an Event or a log.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;

use super::cloud::{self, ObservedScript, content_sha256};
use crate::api::{
    common::KeyRef,
    startupscript::{LunaStartupScript, ScriptAtProvider},
};
use crate::controller::prelude::*;

/// How soon a script whose Secret is missing looks again.
const SOURCE_RETRY: Duration = Duration::from_secs(30);

impl LunaStartupScript {
    /// The script's content, or why it cannot be read (a Secret, ConfigMap or key missing, not
    /// text).
    async fn content(&self, ctx: &Context, object: &str) -> Result<Result<String, String>, Error> {
        if let Some(content) = &self.spec.content {
            return Ok(Ok(content.clone()));
        }
        let namespace = self.namespace().unwrap_or_default();
        let source = self.spec.content_from.as_ref();
        if let Some(reference) = source.and_then(|source| source.secret_key_ref.as_ref()) {
            let read = Source::<Secret>::new("read the script's Secret", "Secret");
            return read
                .key(ctx, &namespace, reference, object, |secret, key| {
                    secret.data?.remove(key).map(|bytes| bytes.0)
                })
                .await;
        }
        if let Some(reference) = source.and_then(|source| source.config_map_key_ref.as_ref()) {
            let read = Source::<ConfigMap>::new("read the script's ConfigMap", "ConfigMap");
            return read
                .key(ctx, &namespace, reference, object, |map, key| {
                    let text = map.data.and_then(|mut data| data.remove(key));
                    text.map(String::into_bytes)
                        .or_else(|| map.binary_data?.remove(key).map(|bytes| bytes.0))
                })
                .await;
        }
        Ok(Err(
            "spec.content and spec.contentFrom are both empty".into()
        ))
    }
}

/// Where a script's content is read: a Secret or a ConfigMap, with the action named in errors.
struct Source<K> {
    action: &'static str,
    kind: &'static str,
    _kind: std::marker::PhantomData<K>,
}

impl<K> Source<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    fn new(action: &'static str, kind: &'static str) -> Self {
        Self {
            action,
            kind,
            _kind: std::marker::PhantomData,
        }
    }

    /// The text at `reference`'s key, found in the object by `pick`; or why there is none.
    async fn key(
        &self,
        ctx: &Context,
        namespace: &str,
        reference: &KeyRef,
        object: &str,
        pick: impl FnOnce(K, &str) -> Option<Vec<u8>>,
    ) -> Result<Result<String, String>, Error> {
        let api: Api<K> = Api::namespaced(ctx.kube.clone(), namespace);
        let found = api
            .get_opt(&reference.name)
            .await
            .map_err(Error::kube(self.action, object))?;
        let value = found.map(|found| pick(found, &reference.key));
        Ok(text(value, self.kind, reference))
    }
}

/// The text at a key of a Secret or ConfigMap: `None` for an object that does not exist,
/// `Some(None)` for a key it lacks.
fn text(value: Option<Option<Vec<u8>>>, kind: &str, reference: &KeyRef) -> Result<String, String> {
    let KeyRef { name, key } = reference;
    match value {
        None => Err(format!("{kind} {name} does not exist")),
        Some(None) => Err(format!("{kind} {name} has no key {key}")),
        Some(Some(bytes)) => String::from_utf8(bytes)
            .map_err(|_| format!("key {key} of {kind} {name} is not UTF-8 text")),
    }
}

impl External for LunaStartupScript {
    type Observed = ObservedScript;
    type Plan = String;

    managed::found_by!(cloud::scripts, name, name);

    async fn plan(&self, cx: &CloudCx<'_, Self>) -> Result<Result<String, Blocked>, Error> {
        Ok(self
            .content(cx.ctx, &cx.object)
            .await?
            .map_err(|why| Blocked::waiting(Reason::ScriptSourceNotFound, why).retry(SOURCE_RETRY)))
    }

    async fn create(&self, content: &String, client: &Client) -> Result<String, lunanode::Error> {
        client.script_create(&self.spec.name, content).await
    }

    fn report(&self, status: &mut Self::Status, observed: &ObservedScript) {
        status.at_provider = Some(ScriptAtProvider {
            name: non_empty(&observed.name),
            content_sha256: non_empty(&observed.sha256),
        });
    }

    async fn sync(&self, SyncCx(status, observed, cx): SyncCx<'_, Self>) -> Result<Action, Error> {
        let content = match self.content(cx.ctx, &cx.object).await? {
            Ok(content) => content,
            Err(why) => {
                // The script on Luna Node stays as it is until its source is back.
                mark(status, self).not_ready(Reason::ScriptSourceNotFound, &why);
                return Ok(Action::requeue(SOURCE_RETRY));
            }
        };
        let wanted = content_sha256(&content);
        if observed.name == self.spec.name && observed.sha256 == wanted {
            let message = format!("script {} has the content of the manifest", observed.id);
            mark(status, self).ready(Reason::Available, &message);
            // Looked at again every slow poll: a change of the Secret is picked up then.
            return Ok(Action::requeue(cx.ctx.accounts.timing().slow_interval));
        }
        let update = managed::Update {
            reason: "ScriptUpdated",
            note: format!(
                "updated script {} (content sha256 {})",
                observed.id,
                &wanted[..12]
            ),
            action: "update script",
        };
        let call = cx
            .client()
            .script_update(&observed.id, &self.spec.name, &content);
        managed::update(self, status, cx, update, call).await
    }

    async fn delete(&self, observed: &ObservedScript, cx: &CloudCx<'_, Self>) -> Result<(), Error> {
        let call = cx.client().script_delete(&observed.id);
        cx.remove(self, "delete script", &observed.id, call).await
    }
}
