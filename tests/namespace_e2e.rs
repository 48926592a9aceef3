//! Deleting a whole namespace (the namespace controller and the garbage collector of the test
//! control plane at work): its objects, their credentials Secret and their connection Secrets
//! go, the operator is killed half-way and restarted, and in the end the namespace is gone and
//! nothing is left in the cloud.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::{
    Api, ResourceExt,
    api::{DeleteParams, PostParams},
};
use lunanode_operator::api::{
    common::{CREDENTIALS_FINALIZER, ConnectionSecretRef, LocalObjectReference, is_condition_true},
    network::{LunaNetwork, LunaNetworkSpec},
    vm::{LunaVM, LunaVMSpec},
    volume::{LunaVolume, LunaVolumeSpec, VolumeAttachment},
};
use support::processes::{Operator, Simulator, test_account};

const IMAGE: &str = "Ubuntu 22.04 64-bit (template)";
const WAIT: Duration = Duration::from_secs(180);

async fn ready<K>(api: &Api<K>, name: &str)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    support::eventually(WAIT, &format!("{name} Ready"), || {
        let api = api.clone();
        async move {
            let object = api.get(name).await.ok()?;
            let value = serde_json::to_value(&object).ok()?;
            let conditions: Vec<lunanode_operator::api::common::Condition> =
                serde_json::from_value(value.pointer("/status/conditions")?.clone())
                    .unwrap_or_default();
            is_condition_true(&conditions, "Ready").then_some(())
        }
    })
    .await;
}

#[tokio::test]
async fn a_deleted_namespace_leaves_nothing_even_across_a_restart() {
    let client = support::client().await;
    support::install_crds(&client).await;
    let ns = support::namespace(&client, "ns-delete").await;
    let account = test_account('n');
    let sim = Simulator::start(&account, &["--build-seconds", "2"]);
    support::credentials_secret(&client, &ns, "lunanode-credentials", &account.0, &account.1).await;
    let mut operator = Operator::start(
        &support::control_plane().kubeconfig,
        &sim.endpoint(),
        &["--namespace", &ns],
    );

    let networks: Api<LunaNetwork> = Api::namespaced(client.clone(), &ns);
    let vms: Api<LunaVM> = Api::namespaced(client.clone(), &ns);
    let volumes: Api<LunaVolume> = Api::namespaced(client.clone(), &ns);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    networks
        .create(
            &PostParams::default(),
            &LunaNetwork::new("net", LunaNetworkSpec::new("ns-net", "10.55.0.0/24")),
        )
        .await
        .unwrap();
    let mut spec = LunaVMSpec::new("ns-web", "m.1", IMAGE);
    spec.network_ref = Some(LocalObjectReference::new("net"));
    spec.write_connection_secret_to_ref = Some(ConnectionSecretRef {
        name: "web-connection".into(),
    });
    vms.create(&PostParams::default(), &LunaVM::new("web", spec))
        .await
        .unwrap();
    let mut volume = LunaVolumeSpec::new("ns-data", 10);
    volume.attach_to = Some(VolumeAttachment::vm_ref("web"));
    volumes
        .create(&PostParams::default(), &LunaVolume::new("data", volume))
        .await
        .unwrap();
    ready(&networks, "net").await;
    ready(&vms, "web").await;
    ready(&volumes, "data").await;
    // Proof the operator took the Secrets in hand before anything is deleted.
    support::eventually(WAIT, "credentials finalizer and connection Secret", || {
        let secrets = secrets.clone();
        async move {
            let credentials = secrets.get("lunanode-credentials").await.ok()?;
            secrets.get_opt("web-connection").await.ok()??;
            credentials
                .finalizers()
                .iter()
                .any(|f| f == CREDENTIALS_FINALIZER)
                .then_some(())
        }
    })
    .await;
    assert_eq!(sim.vms().await.len(), 1);
    assert_eq!(sim.objects("volumes").await.len(), 1);
    assert_eq!(sim.objects("networks").await.len(), 1);

    // Delete the namespace; kill the operator as soon as the deletion reached the objects.
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .delete(&ns, &DeleteParams::default())
        .await
        .unwrap();
    support::eventually(WAIT, "the objects are being deleted", || {
        let vms = vms.clone();
        async move {
            vms.get("web")
                .await
                .ok()?
                .metadata
                .deletion_timestamp
                .map(|_| ())
        }
    })
    .await;
    operator.kill();
    // The Secret is still there, held by its finalizer, while the operator is down.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let held = secrets.get("lunanode-credentials").await.unwrap();
    assert!(
        held.metadata.deletion_timestamp.is_some(),
        "the namespace deletes it"
    );
    operator.restart();

    support::eventually(WAIT, "the namespace is gone", || {
        let namespaces = namespaces.clone();
        let ns = ns.clone();
        async move { matches!(namespaces.get_opt(&ns).await, Ok(None)).then_some(()) }
    })
    .await;
    assert!(sim.vms().await.is_empty(), "no VM left");
    assert!(sim.objects("volumes").await.is_empty(), "no volume left");
    assert!(sim.objects("networks").await.is_empty(), "no network left");
}
