//! Proves that the test control plane is a real kube-apiserver backed by etcd: a CRD generated
//! from a Rust type is accepted and established, objects are created, watched and status-patched,
//! the OpenAPI schema is enforced by the server, and a CEL transition rule rejects an illegal
//! update.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use kube::{
    Api, CustomResource, CustomResourceExt, KubeSchema,
    api::{Patch, PatchParams, PostParams},
    runtime::{WatchStreamExt, watcher},
};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// A throwaway kind used only to exercise the control plane.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug)]
#[kube(
    group = "smoke.lunanode.com",
    version = "v1",
    kind = "Widget",
    namespaced,
    status = "WidgetStatus"
)]
pub struct WidgetSpec {
    /// Where the widget lives; it can never move.
    #[x_kube(validation = Rule::new("self == oldSelf").message("region is immutable"))]
    pub region: String,
    /// How many parts; at least one.
    #[schemars(range(min = 1, max = 100))]
    pub parts: i32,
}

/// What the widget reports.
#[derive(Serialize, Deserialize, Clone, Debug, Default, schemars::JsonSchema)]
pub struct WidgetStatus {
    /// A message from the (imaginary) controller.
    pub phase: String,
}

#[tokio::test]
async fn control_plane_is_real() {
    let client = support::client().await;
    support::apply_crd(&client, &Widget::crd(), "smoke-test").await;
    let ns = support::namespace(&client, "smoke").await;
    let widgets: Api<Widget> = Api::namespaced(client.clone(), &ns);

    // Watch the namespace before writing, so that the update below must arrive as an event.
    let mut events = watcher(widgets.clone(), watcher::Config::default())
        .applied_objects()
        .boxed();

    let created = widgets
        .create(
            &PostParams::default(),
            &Widget::new(
                "w1",
                WidgetSpec {
                    region: "toronto".into(),
                    parts: 2,
                },
            ),
        )
        .await
        .expect("create widget");
    assert!(created.metadata.uid.is_some(), "the server assigns a uid");

    // A legal update, seen through the watch.
    widgets
        .patch(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"parts": 5}})),
        )
        .await
        .expect("legal update");
    let seen = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(widget) = events.try_next().await.expect("watch") {
            if widget.spec.parts == 5 {
                return widget;
            }
        }
        panic!("watch ended");
    })
    .await
    .expect("the change is watched");
    assert_eq!(seen.spec.region, "toronto");

    // The status subresource.
    widgets
        .patch_status(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"phase": "Ready"}})),
        )
        .await
        .expect("patch status");
    let fetched = widgets.get("w1").await.expect("get");
    assert_eq!(fetched.status.unwrap().phase, "Ready");
    assert_eq!(fetched.spec.parts, 5, "status patch leaves spec alone");

    // Server-side schema validation: out of range, and wrong type.
    let error = widgets
        .create(
            &PostParams::default(),
            &Widget::new(
                "w2",
                WidgetSpec {
                    region: "toronto".into(),
                    parts: 0,
                },
            ),
        )
        .await
        .expect_err("parts = 0 must be rejected");
    assert_invalid(&error, "spec.parts");
    let raw: Api<kube::api::DynamicObject> = Api::namespaced_with(
        client.clone(),
        &ns,
        &kube::api::ApiResource::erase::<Widget>(&()),
    );
    let error = raw
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "smoke.lunanode.com/v1", "kind": "Widget",
                "metadata": {"name": "w3"},
                "spec": {"region": "toronto", "parts": "many"}
            }))
            .unwrap(),
        )
        .await
        .expect_err("a string for an integer must be rejected");
    assert_invalid(&error, "spec.parts");

    // The CEL transition rule, evaluated by the server.
    let error = widgets
        .patch(
            "w1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"region": "montreal"}})),
        )
        .await
        .expect_err("changing the region must be rejected");
    assert_invalid(&error, "region is immutable");
    assert_eq!(widgets.get("w1").await.unwrap().spec.region, "toronto");
}

fn assert_invalid(error: &kube::Error, needle: &str) {
    match error {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 422, "{status:?}");
            assert!(status.message.contains(needle), "{}", status.message);
        }
        other => panic!("expected an API rejection, got {other}"),
    }
}
