//! Proves that the test control plane runs kube-controller-manager's garbage collector and
//! namespace controller (see `tools/testenv/up.sh`): a ConfigMap owned by another one is
//! deleted once its owner is, and a deleted namespace goes away with its content.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use k8s_openapi::{
    api::core::v1::{ConfigMap, Namespace},
    apimachinery::pkg::apis::meta::v1::OwnerReference,
};
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, ObjectMeta, PostParams},
};

/// How long the controllers may take. Both act within a second or two; this only bounds a
/// failure.
const WAIT: Duration = Duration::from_secs(60);

fn config_map(name: &str, owner: Option<&ConfigMap>) -> ConfigMap {
    ConfigMap {
        metadata: ObjectMeta {
            name: Some(name.into()),
            owner_references: owner.map(|owner| {
                vec![OwnerReference {
                    api_version: "v1".into(),
                    kind: "ConfigMap".into(),
                    name: owner.name_any(),
                    uid: owner.uid().expect("the owner has a uid"),
                    ..OwnerReference::default()
                }]
            }),
            ..ObjectMeta::default()
        },
        data: Some([("key".to_owned(), "value".to_owned())].into()),
        ..ConfigMap::default()
    }
}

#[tokio::test]
async fn garbage_collector_deletes_dependents_of_a_deleted_owner() {
    let client = support::client().await;
    let ns = support::namespace(&client, "testenv-gc").await;
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);

    let owner = config_maps
        .create(&PostParams::default(), &config_map("owner", None))
        .await
        .expect("create the owner");
    let dependent = config_maps
        .create(
            &PostParams::default(),
            &config_map("dependent", Some(&owner)),
        )
        .await
        .expect("create the dependent");
    assert_eq!(dependent.owner_references().len(), 1);

    // The default propagation for a ConfigMap is background: the owner goes at once and the
    // garbage collector deletes the dependent afterwards.
    config_maps
        .delete("owner", &DeleteParams::default())
        .await
        .expect("delete the owner");
    support::eventually(WAIT, "the owner to be deleted", || {
        let config_maps = config_maps.clone();
        async move {
            config_maps
                .get_opt("owner")
                .await
                .expect("get the owner")
                .is_none()
                .then_some(())
        }
    })
    .await;
    support::eventually(
        WAIT,
        "the garbage collector to delete the dependent",
        || {
            let config_maps = config_maps.clone();
            async move {
                config_maps
                    .get_opt("dependent")
                    .await
                    .expect("get the dependent")
                    .is_none()
                    .then_some(())
            }
        },
    )
    .await;
}

#[tokio::test]
async fn a_deleted_namespace_disappears_with_its_content() {
    let client = support::client().await;
    let ns = support::namespace(&client, "testenv-ns").await;
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    config_maps
        .create(&PostParams::default(), &config_map("content", None))
        .await
        .expect("create a ConfigMap in the namespace");

    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .delete(&ns, &DeleteParams::default())
        .await
        .expect("delete the namespace");
    // The namespace stays (Terminating) until the namespace controller has deleted everything in
    // it and removed its `kubernetes` finalizer; then a GET answers 404.
    support::eventually(WAIT, "the namespace to disappear", || {
        let namespaces = namespaces.clone();
        let ns = ns.clone();
        async move {
            match namespaces.get(&ns).await {
                Err(kube::Error::Api(status)) if status.code == 404 => Some(()),
                Err(error) => panic!("get the namespace: {error}"),
                Ok(_) => None,
            }
        }
    })
    .await;
    assert!(
        config_maps
            .list(&Default::default())
            .await
            .expect("list ConfigMaps in the deleted namespace")
            .items
            .is_empty(),
        "the namespace's ConfigMaps went with it"
    );
}
