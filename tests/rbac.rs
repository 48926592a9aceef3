//! The Helm chart's RBAC is sufficient and minimal: the operator runs against the real control
//! plane authenticated as a user holding only the rules `helm template` renders (its ClusterRole,
//! and the leader-election Role), and takes a LunaVM from creation through Ready to deletion
//! without a single `forbidden`; with the `lunavms/status` right removed it never gets there.
//!
//! Both tests bind the one limited user of the control plane (`support::LIMITED_USER`), so they
//! take turns, and each starts by removing the bindings any earlier test left behind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use k8s_openapi::api::{
    authorization::v1::{ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec},
    coordination::v1::Lease,
    core::v1::Secret,
    rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding, RoleRef, Subject},
};
use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, ListParams, ObjectMeta, PostParams},
};
use lunanode_operator::api::{
    common::{CREDENTIALS_FINALIZER, ConnectionSecretRef, is_condition_true},
    vm::{LunaVM, LunaVMSpec},
};
use serde::Deserialize;
use serde_json::{Value, json};
use support::{World, processes::Operator, wait, world::CREDENTIALS};

const CHART: &str = "deploy/helm/lunanode-operator";
const IMAGE: &str = "Ubuntu 22.04 64-bit (template)";
const WAIT: Duration = Duration::from_secs(90);
/// Marks every RBAC object these tests create, so that the next test can remove them.
const TEST_LABEL: &str = "lunanode.com/rbac-test";

/// The limited user is shared: one test at a time.
static LIMITED_USER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// What the chart renders for a release in `namespace`.
struct Chart {
    cluster_role: ClusterRole,
    /// The leader-election Role (in `namespace`).
    leader: Role,
    /// The operator's arguments in the Deployment.
    args: Vec<String>,
    /// Its environment variables.
    env: Vec<Value>,
}

fn chart(namespace: &str) -> Chart {
    let output = Command::new(support::helm())
        .current_dir(support::repo_root())
        .args([
            "template",
            "lunanode-operator",
            CHART,
            "--namespace",
            namespace,
        ])
        .output()
        .expect("run helm template");
    assert!(
        output.status.success(),
        "helm template failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let yaml = String::from_utf8(output.stdout).unwrap();
    let documents: Vec<Value> = serde_norway::Deserializer::from_str(&yaml)
        .map(|document| Value::deserialize(document).unwrap())
        .filter(|value| !value.is_null())
        .collect();
    let pick = |kind: &str| -> Value {
        let found: Vec<&Value> = documents.iter().filter(|d| d["kind"] == kind).collect();
        assert_eq!(found.len(), 1, "one {kind} in the chart");
        found[0].clone()
    };
    let container = pick("Deployment")["spec"]["template"]["spec"]["containers"][0].clone();
    Chart {
        cluster_role: serde_json::from_value(pick("ClusterRole")).unwrap(),
        leader: serde_json::from_value(pick("Role")).unwrap(),
        args: serde_json::from_value(container["args"].clone()).unwrap(),
        env: serde_json::from_value(container["env"].clone()).unwrap(),
    }
}

/// The chart's arguments for `lunanode-operator run`, as a test process takes them: the test
/// harness chooses the metrics address, and the pod's namespace (POD_NAMESPACE in the chart,
/// where the Lease lives) becomes `--lease-namespace`.
fn operator_args(chart: &Chart, namespace: &str) -> Vec<String> {
    assert!(
        chart.env.iter().any(|var| var["name"] == "POD_NAMESPACE"
            && var["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"),
        "the chart tells the operator its namespace"
    );
    let mut args = Vec::new();
    let mut given = chart.args.iter();
    assert_eq!(given.next().map(String::as_str), Some("run"));
    while let Some(arg) = given.next() {
        if arg == "--metrics-addr" {
            given.next();
        } else {
            args.push(arg.clone());
        }
    }
    assert!(args.contains(&"--leader-elect".to_owned()), "{args:?}");
    args.extend(["--namespace", namespace, "--lease-namespace", namespace].map(String::from));
    args
}

fn test_meta(name: &str, namespace: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: namespace.map(str::to_owned),
        labels: Some([(TEST_LABEL.to_owned(), "true".to_owned())].into()),
        ..ObjectMeta::default()
    }
}

fn limited_user() -> Vec<Subject> {
    vec![Subject {
        kind: "User".into(),
        api_group: Some("rbac.authorization.k8s.io".into()),
        name: support::LIMITED_USER.into(),
        namespace: None,
    }]
}

/// Removes every binding and role an earlier test of this file created.
async fn unbind_everything(client: &Client) {
    let selector = ListParams::default().labels(&format!("{TEST_LABEL}=true"));
    let bindings: Api<ClusterRoleBinding> = Api::all(client.clone());
    for binding in bindings.list(&selector).await.unwrap() {
        let _ = bindings
            .delete(&binding.name_any(), &DeleteParams::default())
            .await;
    }
    let roles: Api<ClusterRole> = Api::all(client.clone());
    for role in roles.list(&selector).await.unwrap() {
        let _ = roles
            .delete(&role.name_any(), &DeleteParams::default())
            .await;
    }
    for binding in Api::<RoleBinding>::all(client.clone())
        .list(&selector)
        .await
        .unwrap()
    {
        let namespaced: Api<RoleBinding> =
            Api::namespaced(client.clone(), &binding.namespace().unwrap());
        let _ = namespaced
            .delete(&binding.name_any(), &DeleteParams::default())
            .await;
    }
}

/// Grants the limited user `cluster_role`'s rules cluster-wide and `leader`'s in `namespace`.
async fn bind(client: &Client, namespace: &str, mut cluster_role: ClusterRole, mut leader: Role) {
    let name = format!("rbac-test-{namespace}");
    cluster_role.metadata = test_meta(&name, None);
    Api::<ClusterRole>::all(client.clone())
        .create(&PostParams::default(), &cluster_role)
        .await
        .expect("create ClusterRole");
    Api::<ClusterRoleBinding>::all(client.clone())
        .create(
            &PostParams::default(),
            &ClusterRoleBinding {
                metadata: test_meta(&name, None),
                role_ref: RoleRef {
                    api_group: Some("rbac.authorization.k8s.io".into()),
                    kind: "ClusterRole".into(),
                    name: name.clone(),
                },
                subjects: Some(limited_user()),
            },
        )
        .await
        .expect("create ClusterRoleBinding");
    leader.metadata = test_meta(&name, Some(namespace));
    Api::<Role>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &leader)
        .await
        .expect("create Role");
    Api::<RoleBinding>::namespaced(client.clone(), namespace)
        .create(
            &PostParams::default(),
            &RoleBinding {
                metadata: test_meta(&name, Some(namespace)),
                role_ref: RoleRef {
                    api_group: Some("rbac.authorization.k8s.io".into()),
                    kind: "Role".into(),
                    name,
                },
                subjects: Some(limited_user()),
            },
        )
        .await
        .expect("create RoleBinding");
}

/// A kubeconfig for the limited user: the admin kubeconfig's cluster (server and CA), the
/// limited user's token, and `namespace` as the default namespace.
fn limited_kubeconfig(dir: &Path, namespace: &str) -> PathBuf {
    let admin: Value = serde_norway::from_str(
        &std::fs::read_to_string(&support::control_plane().kubeconfig).unwrap(),
    )
    .unwrap();
    let current = admin["current-context"].as_str().unwrap();
    let context = admin["contexts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|context| context["name"] == current)
        .expect("the current context");
    let cluster_name = context["context"]["cluster"].as_str().unwrap();
    let cluster = admin["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|cluster| cluster["name"] == cluster_name)
        .expect("the current cluster")["cluster"]
        .clone();
    let kubeconfig = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "testenv", "cluster": cluster}],
        "users": [{"name": support::LIMITED_USER, "user": {"token": support::LIMITED_USER_TOKEN}}],
        "contexts": [{"name": "limited", "context": {
            "cluster": "testenv", "user": support::LIMITED_USER, "namespace": namespace,
        }}],
        "current-context": "limited",
    });
    let path = dir.join("kubeconfig");
    std::fs::write(&path, serde_norway::to_string(&kubeconfig).unwrap()).unwrap();
    path
}

/// Whether the client's own user may `verb` `resource` (`resource/subresource`) in `namespace`.
async fn can(client: &Client, verb: &str, group: &str, resource: &str, namespace: &str) -> bool {
    let (resource, subresource) = match resource.split_once('/') {
        Some((resource, subresource)) => (resource, Some(subresource.to_owned())),
        None => (resource, None),
    };
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                group: Some(group.into()),
                resource: Some(resource.into()),
                subresource,
                verb: Some(verb.into()),
                namespace: Some(namespace.into()),
                ..ResourceAttributes::default()
            }),
            ..SelfSubjectAccessReviewSpec::default()
        },
        ..SelfSubjectAccessReview::default()
    };
    Api::<SelfSubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .expect("SelfSubjectAccessReview")
        .status
        .expect("review status")
        .allowed
}

/// One run: the shared world (a namespace, a simulator, credentials) without its operator, the
/// limited user bound to `cluster_role` (+ the chart's leader-election Role), and the operator
/// running as the limited user with the chart's arguments.
struct RbacWorld {
    world: World,
    vms: Api<LunaVM>,
    operator: Operator,
    _dir: tempfile::TempDir,
}

impl std::ops::Deref for RbacWorld {
    type Target = World;

    fn deref(&self) -> &World {
        &self.world
    }
}

async fn world(tag: char, edit: impl FnOnce(&mut ClusterRole), expect_status: bool) -> RbacWorld {
    // The chart's arguments carry `--namespace`.
    let world = World::setup("rbac", tag)
        .all_namespaces()
        .without_operator()
        .start()
        .await;
    let (admin, ns) = (&world.client, world.ns.clone());
    unbind_everything(admin).await;
    let mut chart = chart(&ns);
    let args = operator_args(&chart, &ns);
    edit(&mut chart.cluster_role);
    bind(admin, &ns, chart.cluster_role, chart.leader).await;

    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = limited_kubeconfig(dir.path(), &ns);
    // RBAC changes reach the authorizer within moments; wait until they have.
    let limited = support::client_for(&kubeconfig).await;
    support::eventually(Duration::from_secs(20), "the bindings to apply", || {
        let limited = limited.clone();
        let ns = ns.clone();
        async move {
            let status = can(&limited, "update", "lunanode.com", "lunavms/status", &ns).await;
            let patch = can(&limited, "patch", "lunanode.com", "lunavms", &ns).await;
            (patch && status == expect_status).then_some(())
        }
    })
    .await;
    assert!(
        !can(&limited, "delete", "lunanode.com", "lunavms", &ns).await,
        "the limited user holds only the chart's rules"
    );

    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let operator = world.start_operator_as(&kubeconfig, &args);
    RbacWorld {
        vms: world.api(),
        world,
        operator,
        _dir: dir,
    }
}

fn is_ready(vm: &LunaVM) -> bool {
    vm.status
        .as_ref()
        .is_some_and(|status| is_condition_true(&status.managed.conditions, "Ready"))
}

#[tokio::test]
async fn the_charts_rbac_is_enough_for_the_whole_lifecycle() {
    let _turn = LIMITED_USER.lock().await;
    let world = world('r', |_| {}, true).await;
    let mut spec = LunaVMSpec::new("rbac-web", "m.1", IMAGE);
    spec.write_connection_secret_to_ref = Some(ConnectionSecretRef {
        name: "rbac-web-connection".into(),
    });
    world
        .vms
        .create(&PostParams::default(), &LunaVM::new("web", spec))
        .await
        .expect("create LunaVM");
    let vms = world.vms.clone();
    let operator = &world.operator;
    support::eventually(WAIT, "web Ready", || {
        let vms = vms.clone();
        async move {
            // A missing rule shows at once: stop there rather than time out.
            let logs = operator.logs();
            assert!(
                !logs.contains("forbidden"),
                "a request was refused:\n{logs}"
            );
            is_ready(&vms.get("web").await.ok()?).then_some(())
        }
    })
    .await;
    let held = world.sim.vms().await;
    assert_eq!(held.len(), 1, "exactly one VM: {held:?}");
    assert_eq!(world.sim.calls("vm/create").await, 1);
    // It reconciles as the leader, holding the Lease in its own namespace.
    let lease = world
        .api::<Lease>()
        .get("lunanode-operator")
        .await
        .expect("the Lease");
    assert!(lease.spec.and_then(|spec| spec.holder_identity).is_some());

    // What the other rules are for: the connection Secret, the credentials Secret's finalizer,
    // and Events.
    world
        .until::<Secret>("rbac-web-connection", "the connection Secret", |_| true)
        .await;
    let held = |present: bool| {
        world.until::<Secret>(CREDENTIALS, "the credentials finalizer", move |secret| {
            wait::has_finalizer(secret, CREDENTIALS_FINALIZER) == present
        })
    };
    held(true).await;
    world
        .event("web", "an Event from the operator", |event| {
            event.reporting_controller.as_deref() == Some("lunanode-operator")
        })
        .await;

    world
        .vms
        .delete("web", &DeleteParams::default())
        .await
        .unwrap();
    wait::gone(&vms, "web", WAIT).await;
    assert!(world.sim.vms().await.is_empty(), "the VM is deleted");
    held(false).await;
    let logs = world.operator.logs();
    assert!(
        !logs.to_lowercase().contains("forbidden"),
        "no request was refused:\n{logs}"
    );
    unbind_everything(&world.client).await;
}

#[tokio::test]
async fn without_the_status_right_nothing_is_created() {
    let _turn = LIMITED_USER.lock().await;
    let world = world(
        's',
        |role| {
            let rules = role.rules.as_mut().expect("rules");
            for rule in rules.iter_mut() {
                if let Some(resources) = rule.resources.as_mut() {
                    resources.retain(|resource| resource != "lunavms/status");
                }
            }
            rules.retain(|rule| rule.resources.as_ref().is_some_and(|r| !r.is_empty()));
        },
        false,
    )
    .await;
    world
        .vms
        .create(
            &PostParams::default(),
            &LunaVM::new("web", LunaVMSpec::new("rbac-denied", "m.1", IMAGE)),
        )
        .await
        .expect("create LunaVM");
    let operator = &world.operator;
    support::eventually(WAIT, "a forbidden status write in the log", || async move {
        let logs = operator.logs();
        (logs.contains("forbidden") && logs.contains("cannot update resource \"lunavms/status\""))
            .then_some(())
    })
    .await;
    // Let it retry: it must still never get anywhere.
    support::eventually(
        WAIT,
        "a retried status write, forbidden again",
        || async move {
            let logs = operator.logs();
            (logs
                .matches("cannot update resource \"lunavms/status\"")
                .count()
                >= 2)
                .then_some(())
        },
    )
    .await;
    let vm = world.vms.get("web").await.unwrap();
    assert!(!is_ready(&vm), "not Ready without status rights: {vm:?}");
    // The pending create is recorded in status before any create call, so no VM is made.
    assert_eq!(world.sim.calls("vm/create").await, 0);
    assert!(world.sim.vms().await.is_empty());
    unbind_everything(&world.client).await;
}
