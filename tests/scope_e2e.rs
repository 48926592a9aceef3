//! An operator that serves a list of namespaces (`--namespace a,b`, as the chart's
//! `watchNamespaces` passes it): one watch per namespace, one object cache per kind. The objects
//! of both namespaces converge, and are deleted; an object in a third namespace is never seen:
//! the cache holds exactly the two served ones (the managed-objects gauge says 2, not 3), and
//! the third gets no finalizer, no status and no cloud object.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use kube::{Api, api::PostParams};
use lunanode_operator::api::network::{LunaNetwork, LunaNetworkSpec};
use support::{World, processes::Operator, wait, world::CREDENTIALS};

const WAIT: Duration = Duration::from_secs(90);

/// The managed-objects gauge of LunaNetworks, as (ready, not ready).
async fn networks_gauge(operator: &Operator) -> Option<(u64, u64)> {
    let series =
        |ready: &str| format!("lunanode_managed_objects{{kind=\"LunaNetwork\",ready=\"{ready}\"}}");
    Some((
        operator.metric(&series("true")).await?,
        operator.metric(&series("false")).await?,
    ))
}

#[tokio::test]
async fn a_list_of_namespaces_is_served_and_nothing_else() {
    let world = World::setup("scope", 'q')
        .all_namespaces()
        .without_operator()
        .start()
        .await;
    let client = &world.client;
    let second = support::namespace(client, "scope-second").await;
    let outside = support::namespace(client, "scope-outside").await;
    for namespace in [&second, &outside] {
        let (id, key) = &world.account;
        support::credentials_secret(client, namespace, CREDENTIALS, id, key).await;
    }
    let served = format!("{},{second}", world.ns);
    let operator = world.start_operator(&["--namespace", &served]);

    let apis: Vec<(Api<LunaNetwork>, &str)> = [
        (world.ns.as_str(), "10.93.1.0/24"),
        (second.as_str(), "10.93.2.0/24"),
        (outside.as_str(), "10.93.3.0/24"),
    ]
    .into_iter()
    .map(|(namespace, subnet)| (Api::namespaced(client.clone(), namespace), subnet))
    .collect();
    for (index, (api, subnet)) in apis.iter().enumerate() {
        let spec = LunaNetworkSpec::new(format!("scope-net-{index}"), *subnet);
        api.create(&PostParams::default(), &LunaNetwork::new("net", spec))
            .await
            .expect("create LunaNetwork");
    }
    wait::ready(&apis[0].0, "net", WAIT).await;
    wait::ready(&apis[1].0, "net", WAIT).await;

    // Proof that the operator has looked at all it serves: its cache holds the two served
    // networks, both Ready, and nothing else.
    let operator = &operator;
    support::eventually(WAIT, "the gauge of two Ready networks", || async move {
        (networks_gauge(operator).await? == (2, 0)).then_some(())
    })
    .await;
    let unseen = apis[2].0.get("net").await.unwrap();
    assert!(
        unseen.metadata.finalizers.is_none() && unseen.status.is_none(),
        "the network of a namespace not served is never touched: {unseen:?}"
    );
    let networks = world.sim.objects("networks").await;
    assert_eq!(
        networks.len(),
        2,
        "one cloud network per served object: {networks:?}"
    );

    // Deleting in the second namespace deletes in the cloud: the merged cache follows both.
    apis[1]
        .0
        .delete("net", &Default::default())
        .await
        .expect("delete");
    wait::gone(&apis[1].0, "net", WAIT).await;
    support::eventually(WAIT, "one cloud network left", || async {
        (world.sim.objects("networks").await.len() == 1).then_some(())
    })
    .await;
    support::eventually(WAIT, "the gauge of one network", || async move {
        (networks_gauge(operator).await? == (1, 0)).then_some(())
    })
    .await;
}
