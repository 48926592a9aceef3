//! Connection Secrets: the login details and addresses of a VM, written where
//! `spec.writeConnectionSecretToRef` says, owned by the object so they go with it.

use std::collections::BTreeMap;

use k8s_openapi::{ByteString, api::core::v1::Secret};
use kube::{
    Api, Resource, ResourceExt,
    api::{ObjectMeta, Patch, PatchParams},
};

use crate::api::common::FIELD_MANAGER;

/// Writes `data` into the Secret `name` in the object's namespace (server-side apply), with an
/// owner reference to the object. The values are never logged.
pub async fn write<K>(
    kube: &kube::Client,
    owner: &K,
    name: &str,
    data: BTreeMap<String, String>,
) -> Result<(), kube::Error>
where
    K: Resource<DynamicType = ()>,
{
    let namespace = owner.namespace().unwrap_or_default();
    let api: Api<Secret> = Api::namespaced(kube.clone(), &namespace);
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(namespace),
            owner_references: owner.controller_owner_ref(&()).map(|owner| vec![owner]),
            labels: Some(BTreeMap::from([(
                "app.kubernetes.io/managed-by".to_owned(),
                "lunanode-operator".to_owned(),
            )])),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".into()),
        data: Some(
            data.into_iter()
                .map(|(key, value)| (key, ByteString(value.into_bytes())))
                .collect(),
        ),
        ..Secret::default()
    };
    let mut value = serde_json::to_value(&secret).map_err(kube::Error::SerdeError)?;
    value["apiVersion"] = "v1".into();
    value["kind"] = "Secret".into();
    api.patch(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&value),
    )
    .await?;
    Ok(())
}
