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
    common::{CREDENTIALS_FINALIZER, ConnectionSecretRef, LocalObjectReference},
    network::{LunaNetwork, LunaNetworkSpec},
    vm::{LunaVM, LunaVMSpec},
    volume::{LunaVolume, LunaVolumeSpec, VolumeAttachment},
};
use support::{World, wait, world::CREDENTIALS};

const IMAGE: &str = "Ubuntu 22.04 64-bit (template)";
const WAIT: Duration = Duration::from_secs(180);

#[tokio::test]
async fn a_deleted_namespace_leaves_nothing_even_across_a_restart() {
    let mut world = World::setup("ns-delete", 'n').wait(WAIT).start().await;
    let (client, ns) = (world.client.clone(), world.ns.clone());
    let networks: Api<LunaNetwork> = world.api();
    let vms: Api<LunaVM> = world.api();
    let volumes: Api<LunaVolume> = world.api();
    let secrets: Api<Secret> = world.api();
    networks
        .create(
            &PostParams::default(),
            &LunaNetwork::new("net", LunaNetworkSpec::new("ns-net", "10.55.0.0/24")),
        )
        .await
        .unwrap();
    let mut spec = LunaVMSpec::new("ns-web", "m.1", IMAGE);
    spec.placement.network_ref = Some(LocalObjectReference::new("net"));
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
    wait::ready(&networks, "net", WAIT).await;
    wait::ready(&vms, "web", WAIT).await;
    wait::ready(&volumes, "data", WAIT).await;
    // Proof the operator took the Secrets in hand before anything is deleted.
    world
        .until::<Secret>("web-connection", "the connection Secret", |_| true)
        .await;
    world
        .until::<Secret>(CREDENTIALS, "the credentials finalizer", |secret| {
            wait::has_finalizer(secret, CREDENTIALS_FINALIZER)
        })
        .await;
    assert_eq!(world.sim.vms().await.len(), 1);
    assert_eq!(world.sim.objects("volumes").await.len(), 1);
    assert_eq!(world.sim.objects("networks").await.len(), 1);

    // Delete the namespace; kill the operator as soon as the deletion reached the objects.
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces
        .delete(&ns, &DeleteParams::default())
        .await
        .unwrap();
    world
        .until::<LunaVM>("web", "the objects are being deleted", |vm| {
            vm.metadata.deletion_timestamp.is_some()
        })
        .await;
    world.operator_mut().kill();
    // The namespace controller deletes the Secret; with the operator down it stays, held by
    // its finalizer.
    let held = wait::until(
        &secrets,
        "lunanode-credentials",
        "the namespace deleting the Secret",
        WAIT,
        |secret| secret.metadata.deletion_timestamp.is_some(),
    )
    .await;
    assert!(
        held.finalizers()
            .contains(&CREDENTIALS_FINALIZER.to_owned()),
        "held by the credentials finalizer: {:?}",
        held.metadata.finalizers
    );
    world.operator_mut().restart();

    wait::gone(&namespaces, &ns, WAIT).await;
    assert!(world.sim.vms().await.is_empty(), "no VM left");
    assert!(
        world.sim.objects("volumes").await.is_empty(),
        "no volume left"
    );
    assert!(
        world.sim.objects("networks").await.is_empty(),
        "no network left"
    );
}
